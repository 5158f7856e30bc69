//! `breakglass completions SHELL`, and the check that the committed scripts in `completions/`
//! match what the current command line would generate.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::Exit;

/// The committed scripts: (shell, file name under `completions/`).
pub const SCRIPTS: [(Shell, &str); 5] = [
    (Shell::Bash, "breakglass.bash"),
    (Shell::Zsh, "_breakglass"),
    (Shell::Fish, "breakglass.fish"),
    (Shell::PowerShell, "_breakglass.ps1"),
    (Shell::Elvish, "breakglass.elv"),
];

/// The completion script for `shell`.
pub fn generate(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "breakglass", &mut out);
    out
}

pub fn completions(shell: Shell) -> Exit {
    crate::output::stdout_raw(&String::from_utf8_lossy(&generate(shell)));
    Exit::Success
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when the committed scripts drift from the CLI. Refresh them with
    /// `for s in bash zsh fish powershell elvish; do ...` as printed below.
    #[test]
    fn committed_completions_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
        for (shell, file) in SCRIPTS {
            let path = dir.join(file);
            let committed = std::fs::read(&path).unwrap_or_default();
            assert!(
                committed == generate(shell),
                "{} is out of date or missing; refresh all scripts with:\n  .ci/refresh-completions",
                path.display()
            );
        }
    }
}
