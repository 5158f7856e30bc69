//! Node-side scripts: how an action hands values to the fixed shell it runs on a node.
//!
//! The shell itself lives in `.sh` files next to the action that runs it (included with
//! `include_str!`, checked by `shellcheck` and `sh -n` in `.ci/run`), and is never edited by
//! Rust. Whatever varies (paths, ids, hashes, unit names) reaches it through input lines built
//! here and put in front of it: `NAME=VALUE` assignments and one `set -- VALUE...`, every value
//! shell-quoted, so no value is ever read as shell. Each `.sh` file lists the inputs it expects
//! in its header. Bulk data (rulesets, file contents) goes on stdin or in a quoted heredoc,
//! never into an input line.

use super::contract::ActionFailure;

/// `text` as one shell word (single quotes where needed); refused for text no shell word can
/// hold (a NUL byte).
pub fn quote(text: &str) -> Result<String, ActionFailure> {
    crate::runbook::shell_quote(text).map_err(ActionFailure::refused)
}

/// The input lines of a script, built in order: `NAME=VALUE` and `set -- VALUE...`.
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    text: String,
}

impl Inputs {
    pub fn new() -> Inputs {
        Inputs::default()
    }

    /// `NAME=VALUE`, the value quoted. Names are the scripts' own (lower-case identifiers).
    pub fn var(&mut self, name: &str, value: &str) -> Result<&mut Inputs, ActionFailure> {
        debug_assert!(
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "`{name}` is not a script variable name"
        );
        self.text.push_str(name);
        self.text.push('=');
        self.text.push_str(&quote(value)?);
        self.text.push('\n');
        Ok(self)
    }

    /// `set -- VALUE...`: the script's positional parameters, each value quoted.
    pub fn args<'a>(
        &mut self,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<&mut Inputs, ActionFailure> {
        self.text.push_str("set --");
        for v in values {
            self.text.push(' ');
            self.text.push_str(&quote(v)?);
        }
        self.text.push('\n');
        Ok(self)
    }

    /// The input lines followed by the scripts, in order.
    pub fn then(&self, scripts: &[&str]) -> String {
        let mut s = self.text.clone();
        for script in scripts {
            s.push_str(script);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_and_never_run() {
        let mut inputs = Inputs::new();
        inputs
            .var("f", "/etc/kubernetes/manifests/kube-apiserver.yaml")
            .expect("var")
            .var("conflict", "it's $(rm -rf /) `x`; y")
            .expect("var")
            .args(["kubelet", "", "a b"])
            .expect("args");
        let script = inputs.then(&["printf '%s|' \"$f\" \"$conflict\" \"$@\"\n"]);
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("sh");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "/etc/kubernetes/manifests/kube-apiserver.yaml|it's $(rm -rf /) `x`; y|kubelet||a b|"
        );
        assert!(Inputs::new().var("x", "a\0b").is_err());
    }
}
