//! The manifest editor: [`edit_manifest`] changes flags in the kube-apiserver container's
//! `command:`/`args:` block list of a static pod manifest and leaves every other byte as it was
//! (comments, quoting, indentation, line endings), or refuses what it cannot edit safely.
//!
//! Text in, text out: it must not read or write files, nor know about nodes, snapshots or the
//! journal.

use std::collections::BTreeMap;

/// The result of [`edit_manifest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The whole new file.
    pub bytes: Vec<u8>,
    /// One entry per requested flag: `set --x=1 (was 2)`, `add --y=3`, `remove --z (was --z=4)`,
    /// or `--x=1 already set` / `--z already absent` for flags that needed nothing.
    pub changes: Vec<String>,
    changed: bool,
}

impl Edit {
    /// Whether the bytes differ from the input.
    pub fn changed(&self) -> bool {
        self.changed
    }
}

/// How a list item's scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

/// A scalar on an item line: its decoded value and where it sits in the line.
#[derive(Debug, Clone)]
struct Scalar {
    value: String,
    style: Style,
    start: usize,
    end: usize,
}

/// One item of a block list.
#[derive(Debug, Clone)]
struct Item {
    /// First and last line (continuation lines of a multi-line item included).
    first: usize,
    last: usize,
    /// Where the item's content starts on its first line (after `- `).
    content_start: usize,
    /// `None` for anything but a one-line scalar (nested structure, block or multi-line scalar).
    scalar: Option<Scalar>,
    /// The text of the first line's content, unquoted as far as possible: to recognise a flag
    /// even in an item this editor cannot rewrite.
    raw: String,
}

/// A block list under `command:` or `args:`.
#[derive(Debug, Clone)]
struct List {
    key: &'static str,
    key_line: usize,
    key_col: usize,
    items: Vec<Item>,
}

/// One line: its text and its line ending (`\n`, `\r\n` or none at the end of the file).
#[derive(Debug, Clone)]
struct Line<'a> {
    text: &'a str,
    eol: &'a str,
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|l| {
            let body = l.strip_suffix('\n').unwrap_or(l);
            let body_cr = body.strip_suffix('\r').unwrap_or(body);
            Line {
                text: body_cr,
                eol: &l[body_cr.len()..],
            }
        })
        .collect()
}

fn indent(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

fn is_blank_or_comment(text: &str) -> bool {
    let t = text.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// `command:` / `- command:` / `args:` with nothing but a comment after it: the key and the
/// column the key starts at.
fn list_key(text: &str) -> Option<(&'static str, usize)> {
    let mut col = indent(text);
    let mut rest = &text[col..];
    if let Some(after) = rest.strip_prefix("- ") {
        let spaces = after.len() - after.trim_start_matches(' ').len();
        col += 2 + spaces;
        rest = &after[spaces..];
    }
    for key in ["command", "args"] {
        if let Some(after) = rest.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            let after_trim = after.trim_start();
            if after_trim.is_empty() || (after_trim.starts_with('#') && after.starts_with(' ')) {
                return Some((key, col));
            }
        }
    }
    None
}

/// A `- ` item line at column `col`: where its content starts.
fn item_content(text: &str, col: usize) -> Option<usize> {
    if indent(text) != col {
        return None;
    }
    let rest = &text[col..];
    if rest == "-" {
        return Some(text.len());
    }
    let after = rest.strip_prefix("- ")?;
    Some(col + 2 + (after.len() - after.trim_start_matches(' ').len()))
}

/// Whether the rest of a line after a scalar is only blanks and maybe a comment.
fn only_comment_after(rest: &str) -> bool {
    let t = rest.trim_start();
    t.is_empty() || (t.starts_with('#') && rest.starts_with([' ', '\t']))
}

/// Parses a one-line scalar starting at byte `start` of `text`.
fn parse_scalar(text: &str, start: usize) -> Option<Scalar> {
    let s = &text[start..];
    let first = s.chars().next()?;
    match first {
        '\'' => {
            let mut value = String::new();
            let mut chars = s.char_indices().skip(1).peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|&(_, c)| c) == Some('\'') {
                        value.push('\'');
                        chars.next();
                        continue;
                    }
                    let end = start + i + 1;
                    return only_comment_after(&text[end..]).then_some(Scalar {
                        value,
                        style: Style::Single,
                        start,
                        end,
                    });
                }
                value.push(c);
            }
            None
        }
        '"' => {
            let mut value = String::new();
            let mut chars = s.char_indices().skip(1);
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        let (_, e) = chars.next()?;
                        value.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            '0' => '\0',
                            // Other escapes (\xNN, \uNNNN, ...) never occur in kubeadm's
                            // manifests; decoding them as the bare character only affects how
                            // a value is shown, not the bytes of untouched lines.
                            other => other,
                        });
                    }
                    '"' => {
                        let end = start + i + 1;
                        return only_comment_after(&text[end..]).then_some(Scalar {
                            value,
                            style: Style::Double,
                            start,
                            end,
                        });
                    }
                    other => value.push(other),
                }
            }
            None
        }
        // Flow collections, block scalars, anchors, aliases, tags, reserved indicators.
        '[' | '{' | '|' | '>' | '&' | '*' | '!' | '%' | '@' | '`' | '#' => None,
        _ => {
            let end_rel = s.find(" #").or_else(|| s.find("\t#")).unwrap_or(s.len());
            let value = s[..end_rel].trim_end();
            // `key: value` would be a mapping, not a scalar item.
            if value.contains(": ") || value.ends_with(':') {
                return None;
            }
            Some(Scalar {
                value: value.to_owned(),
                style: Style::Plain,
                start,
                end: start + value.len(),
            })
        }
    }
}

/// Every block list under `command:` or `args:`.
fn find_lists(lines: &[Line<'_>]) -> Vec<List> {
    let mut lists = Vec::new();
    for (k, line) in lines.iter().enumerate() {
        let Some((key, key_col)) = list_key(line.text) else {
            continue;
        };
        let Some(first) = (k + 1..lines.len()).find(|&i| !is_blank_or_comment(lines[i].text))
        else {
            continue;
        };
        let col = indent(lines[first].text);
        // Items may sit at the key's column (`- command:` then `- kube-apiserver` below `command`)
        // or deeper; shallower means the key has no list.
        if col < key_col || item_content(lines[first].text, col).is_none() {
            continue;
        }
        let mut items: Vec<Item> = Vec::new();
        let mut i = first;
        while i < lines.len() {
            let text = lines[i].text;
            if is_blank_or_comment(text) {
                i += 1;
                continue;
            }
            if let Some(content_start) = item_content(text, col) {
                let raw = text[content_start..].trim_end();
                let raw = raw.trim_start_matches(['\'', '"']).to_owned();
                items.push(Item {
                    first: i,
                    last: i,
                    content_start,
                    scalar: parse_scalar(text, content_start),
                    raw,
                });
            } else if indent(text) > col {
                if let Some(item) = items.last_mut() {
                    item.last = i;
                    item.scalar = None;
                }
            } else {
                break;
            }
            i += 1;
        }
        lists.push(List {
            key,
            key_line: k,
            key_col,
            items,
        });
    }
    lists
}

fn is_kube_apiserver(item: &Item) -> bool {
    item.scalar
        .as_ref()
        .is_some_and(|s| s.value.rsplit('/').next() == Some("kube-apiserver"))
}

/// Whether `args` belongs to the same mapping (container) as `command`: same key column, and
/// no line between them leaves that mapping.
fn siblings(lines: &[Line<'_>], command: &List, args: &List) -> bool {
    if args.key_col != command.key_col {
        return false;
    }
    let (a, b) = if args.key_line < command.key_line {
        (args.key_line, command.key_line)
    } else {
        (command.key_line, args.key_line)
    };
    lines[a + 1..b]
        .iter()
        .all(|l| is_blank_or_comment(l.text) || indent(l.text) >= command.key_col)
}

/// The flag name of an item's text (`--name` of `--name=value`), if it is a flag.
fn flag_name(text: &str) -> Option<&str> {
    if !text.starts_with("--") {
        return None;
    }
    let name = text.split('=').next().unwrap_or(text);
    let name = name.split([' ', '\t', '\'', '"']).next().unwrap_or(name);
    Some(name)
}

fn plain_safe(value: &str) -> bool {
    !value.is_empty()
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.ends_with(':')
        && value.trim() == value
        && !value.contains('\t')
}

/// `value` as a YAML scalar in `style` (falling back to double quotes where plain is unsafe).
fn render(value: &str, style: Style) -> String {
    match style {
        Style::Plain if plain_safe(value) => value.to_owned(),
        Style::Single => format!("'{}'", value.replace('\'', "''")),
        _ => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// Checks the requested flags before anything is parsed.
fn check_request(set: &BTreeMap<String, String>, remove: &[String]) -> Result<(), String> {
    for (flag, value) in set {
        if flag_name(flag) != Some(flag.as_str()) || flag.len() < 3 {
            return Err(format!(
                "`{flag}` is not a flag name such as `--max-requests-inflight`"
            ));
        }
        // A newline in a value would add lines to the manifest instead of setting one flag.
        if value.chars().any(char::is_control) {
            return Err(format!(
                "the value of `{flag}` contains a control character"
            ));
        }
    }
    for flag in remove {
        if flag_name(flag) != Some(flag.as_str()) || flag.len() < 3 {
            return Err(format!("`{flag}` is not a flag name such as `--profiling`"));
        }
    }
    Ok(())
}

/// The kube-apiserver `command:` list, and the `args:` list of the same container if any.
fn locate<'l>(
    lines: &[Line<'_>],
    lists: &'l [List],
) -> Result<(&'l List, Option<&'l List>), String> {
    let commands: Vec<&List> = lists
        .iter()
        .filter(|l| l.key == "command" && l.items.first().is_some_and(is_kube_apiserver))
        .collect();
    let command = match commands.as_slice() {
        [one] => *one,
        [] => {
            return Err(
                "no kube-apiserver command list found (expected a block list \
                 `command:` whose first item is `kube-apiserver`, as kubeadm writes it)"
                    .into(),
            );
        }
        several => {
            return Err(format!(
                "{} kube-apiserver command lists found (lines {}); edit it by hand",
                several.len(),
                several
                    .iter()
                    .map(|l| (l.key_line + 1).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let args = lists
        .iter()
        .find(|l| l.key == "args" && siblings(lines, command, l));
    Ok((command, args))
}

/// What to do to the lines.
#[derive(Default)]
struct LineEdits {
    /// Line index to its new text.
    replaced: BTreeMap<usize, String>,
    /// Inclusive line ranges to drop.
    deleted: Vec<(usize, usize)>,
    /// `--flag=value` entries to add.
    appended: Vec<String>,
    changes: Vec<String>,
}

/// Finds each requested flag among `entries` (items that may hold flags) and decides its edit.
fn plan_edits(
    lines: &[Line<'_>],
    entries: &[(&List, usize)],
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<LineEdits, String> {
    let mut edits = LineEdits::default();
    let wanted = set
        .iter()
        .map(|(k, v)| (k.as_str(), Some(v.as_str())))
        .chain(remove.iter().map(|k| (k.as_str(), None)));
    for (flag, value) in wanted {
        let found: Vec<&(&List, usize)> = entries
            .iter()
            .filter(|(list, i)| flag_name(&list.items[*i].raw) == Some(flag))
            .collect();
        let (list, index) = match found.as_slice() {
            [] => {
                if let Some(v) = value {
                    edits.appended.push(format!("{flag}={v}"));
                    edits.changes.push(format!("add {flag}={v}"));
                } else {
                    edits.changes.push(format!("{flag} already absent"));
                }
                continue;
            }
            [one] => **one,
            several => {
                return Err(format!(
                    "`{flag}` appears {} times (lines {}); edit it by hand",
                    several.len(),
                    several
                        .iter()
                        .map(|(l, i)| (l.items[*i].first + 1).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        };
        let item = &list.items[index];
        let line_no = item.first + 1;
        let Some(scalar) = &item.scalar else {
            return Err(format!(
                "`{flag}` on line {line_no} is not a one-line string; edit it by hand"
            ));
        };
        let next_is_value = list
            .items
            .get(index + 1)
            .is_some_and(|n| !n.raw.starts_with('-'));
        if !scalar.value.contains('=') && next_is_value {
            return Err(format!(
                "`{flag}` on line {line_no} takes its value from the next list item; \
                 edit it by hand"
            ));
        }
        let Some(v) = value else {
            edits.deleted.push((item.first, item.last));
            edits
                .changes
                .push(format!("remove {flag} (was {})", scalar.value));
            continue;
        };
        let desired = format!("{flag}={v}");
        if scalar.value == desired {
            edits.changes.push(format!("{desired} already set"));
            continue;
        }
        let was = scalar
            .value
            .split_once('=')
            .map_or("(no value)", |(_, v)| v);
        let line = lines[item.first].text;
        edits.replaced.insert(
            item.first,
            format!(
                "{}{}{}",
                &line[..scalar.start],
                render(&desired, scalar.style),
                &line[scalar.end..]
            ),
        );
        edits.changes.push(format!("set {desired} (was {was})"));
    }
    Ok(edits)
}

/// Where new flags go (after this line) and their lines: after the last flag of the list that
/// holds flags (the `args:` list if there is one), with its indentation and quoting.
fn insertion(
    lines: &[Line<'_>],
    command: &List,
    args: Option<&List>,
    appended: &[String],
) -> Result<(usize, Vec<String>), String> {
    let target = args.filter(|a| !a.items.is_empty()).unwrap_or(command);
    // The command list's first item is the program, not a flag.
    let skip = usize::from(std::ptr::eq(target, command));
    let reference = target
        .items
        .iter()
        .skip(skip)
        .rev()
        .find(|i| i.raw.starts_with("--"))
        .or_else(|| target.items.last())
        .ok_or("the kube-apiserver list has no items to add a flag after")?;
    let prefix = &lines[reference.first].text[..reference.content_start];
    let style = reference
        .scalar
        .as_ref()
        .filter(|s| s.value.starts_with("--"))
        .map_or(Style::Plain, |s| s.style);
    Ok((
        reference.last,
        appended
            .iter()
            .map(|f| format!("{prefix}{}", render(f, style)))
            .collect(),
    ))
}

/// The file with the edits applied; untouched lines keep their bytes and line endings.
fn render_lines(
    lines: &[Line<'_>],
    edits: &LineEdits,
    insert: Option<&(usize, Vec<String>)>,
) -> String {
    let default_eol = lines
        .iter()
        .map(|l| l.eol)
        .find(|e| !e.is_empty())
        .unwrap_or("\n");
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let gone = edits.deleted.iter().any(|&(a, b)| (a..=b).contains(&i));
        if !gone {
            out.push_str(edits.replaced.get(&i).map_or(line.text, String::as_str));
        }
        match insert {
            Some((after, new_lines)) if *after == i => {
                // The anchor may be the last line, without a line ending: the new lines then
                // get one between them and the file keeps its missing final newline.
                let eol = if line.eol.is_empty() {
                    default_eol
                } else {
                    line.eol
                };
                if !gone {
                    out.push_str(eol);
                }
                for (n, new) in new_lines.iter().enumerate() {
                    out.push_str(new);
                    if n + 1 < new_lines.len() || !line.eol.is_empty() {
                        out.push_str(eol);
                    }
                }
            }
            _ if !gone => out.push_str(line.eol),
            _ => {}
        }
    }
    out
}

/// Sets and removes kube-apiserver flags in a static pod manifest, changing only the lines of
/// the flags concerned: a replaced flag keeps its line's indentation, quoting and comment; a new
/// flag goes after the last flag with the same indentation and quoting; a removed flag loses
/// its line. With nothing to change the bytes come back identical.
///
/// The flags live in the block list under `command:` whose first item is `kube-apiserver` (or a
/// path ending in `/kube-apiserver`), plus an `args:` list of the same container if there is
/// one (new flags then go there). Refused: no such list or more than one, flow-style lists
/// (`command: [...]`), a requested flag that appears twice or spans several lines or is given
/// as two items (`--flag`, `value`), a file that is not UTF-8 or indents with tabs.
pub fn edit_manifest(
    original: &[u8],
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<Edit, String> {
    let text = std::str::from_utf8(original).map_err(|_| "the manifest is not UTF-8 text")?;
    check_request(set, remove)?;
    let lines = split_lines(text);
    if lines
        .iter()
        .any(|l| l.text[..l.text.len() - l.text.trim_start().len()].contains('\t'))
    {
        return Err("the manifest indents with tabs, which YAML does not allow".into());
    }
    let lists = find_lists(&lines);
    let (command, args) = locate(&lines, &lists)?;
    // Every item that may hold a flag, with its list.
    let mut entries: Vec<(&List, usize)> = (1..command.items.len()).map(|i| (command, i)).collect();
    if let Some(args) = args {
        entries.extend((0..args.items.len()).map(|i| (args, i)));
    }
    let edits = plan_edits(&lines, &entries, set, remove)?;
    let insert = if edits.appended.is_empty() {
        None
    } else {
        Some(insertion(&lines, command, args, &edits.appended)?)
    };
    if edits.replaced.is_empty() && edits.deleted.is_empty() && insert.is_none() {
        return Ok(Edit {
            bytes: original.to_vec(),
            changes: edits.changes,
            changed: false,
        });
    }
    let out = render_lines(&lines, &edits, insert.as_ref());
    Ok(Edit {
        bytes: out.into_bytes(),
        changes: edits.changes,
        changed: true,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// kubeadm's layout (trimmed): `- command:` compact under `containers:`.
    pub(in crate::actions::tune) const KUBEADM: &str = "apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 10.0.0.10:6443
  creationTimestamp: null
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=10.0.0.10
    - --allow-privileged=true
    - --authorization-mode=Node,RBAC
    - --enable-admission-plugins=NodeRestriction
    - --max-mutating-requests-inflight=200
    - --max-requests-inflight=400
    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
    image: registry.k8s.io/kube-apiserver:v1.30.4
    livenessProbe:
      httpGet:
        host: 10.0.0.10
        path: /livez
        port: 6443
    name: kube-apiserver
  hostNetwork: true
status: {}
";

    pub(in crate::actions::tune) fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn edit(text: &str, s: &[(&str, &str)], r: &[&str]) -> Result<(String, Vec<String>), String> {
        let remove: Vec<String> = r.iter().map(|s| (*s).to_owned()).collect();
        let e = edit_manifest(text.as_bytes(), &set(s), &remove)?;
        Ok((String::from_utf8(e.bytes).expect("utf8"), e.changes))
    }

    #[test]
    fn replaces_a_flag_in_place_and_nothing_else() {
        let (out, changes) =
            edit(KUBEADM, &[("--max-requests-inflight", "1200")], &[]).expect("edit");
        assert_eq!(
            out,
            KUBEADM.replace(
                "--max-requests-inflight=400",
                "--max-requests-inflight=1200"
            )
        );
        assert_eq!(changes, vec!["set --max-requests-inflight=1200 (was 400)"]);
    }

    #[test]
    fn appends_a_missing_flag_after_the_last_flag() {
        let (out, changes) = edit(KUBEADM, &[("--goaway-chance", "0.02")], &[]).expect("edit");
        assert_eq!(
            out,
            KUBEADM.replace(
                "    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n",
                "    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n    - --goaway-chance=0.02\n"
            )
        );
        assert_eq!(changes, vec!["add --goaway-chance=0.02"]);
    }

    #[test]
    fn removes_a_flag_line() {
        let (out, changes) =
            edit(KUBEADM, &[], &["--allow-privileged", "--profiling"]).expect("edit");
        assert_eq!(out, KUBEADM.replace("    - --allow-privileged=true\n", ""));
        assert_eq!(
            changes,
            vec![
                "remove --allow-privileged (was --allow-privileged=true)",
                "--profiling already absent"
            ]
        );
    }

    #[test]
    fn unchanged_input_round_trips_byte_for_byte() {
        let e = edit_manifest(
            KUBEADM.as_bytes(),
            &set(&[("--max-requests-inflight", "400")]),
            &["--nope".to_owned()],
        )
        .expect("edit");
        assert!(!e.changed());
        assert_eq!(e.bytes, KUBEADM.as_bytes());
        assert_eq!(
            e.changes,
            vec![
                "--max-requests-inflight=400 already set",
                "--nope already absent"
            ]
        );
        // Applying the same edit twice is the same as once.
        let once = edit(
            KUBEADM,
            &[("--max-requests-inflight", "9"), ("--new", "1")],
            &[],
        )
        .expect("once")
        .0;
        let twice = edit(
            &once,
            &[("--max-requests-inflight", "9"), ("--new", "1")],
            &[],
        )
        .expect("twice")
        .0;
        assert_eq!(once, twice);
    }

    #[test]
    fn keeps_comments_indentation_quotes_and_crlf() {
        let text = "# managed by kubeadm\r\nspec:\r\n  containers:\r\n    - name: kube-apiserver\r\n      \
                    command:   # the flags\r\n        - \"kube-apiserver\"\r\n        # limits below\r\n        \
                    - \"--max-requests-inflight=400\"  # raised in INC-42\r\n        - '--v=2'\r\n      image: x\r\n";
        let (out, _) = edit(
            text,
            &[
                ("--max-requests-inflight", "1200"),
                ("--audit-log-path", "/var/log/it's.log"),
            ],
            &[],
        )
        .expect("edit");
        let expected = text
            .replace(
                "\"--max-requests-inflight=400\"  # raised",
                "\"--max-requests-inflight=1200\"  # raised",
            )
            .replace(
                "        - '--v=2'\r\n",
                "        - '--v=2'\r\n        - '--audit-log-path=/var/log/it''s.log'\r\n",
            );
        assert_eq!(out, expected);
    }

    #[test]
    fn a_plain_value_that_would_break_yaml_is_quoted() {
        let (out, _) = edit(KUBEADM, &[("--x", "a: b #c")], &[]).expect("edit");
        assert!(out.contains("    - \"--x=a: b #c\"\n"), "{out}");
    }

    #[test]
    fn args_list_of_the_same_container_holds_the_flags() {
        let text = "spec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - /usr/local/bin/kube-apiserver\n    \
                    args:\n      - --max-requests-inflight=400\n      - --v=2\n    image: x\n  - name: sidecar\n    \
                    args:\n    - --max-requests-inflight=1\n";
        let (out, _) = edit(
            text,
            &[("--max-requests-inflight", "800"), ("--z", "1")],
            &[],
        )
        .expect("edit");
        assert_eq!(
            out,
            text.replacen(
                "--max-requests-inflight=400",
                "--max-requests-inflight=800",
                1
            )
            .replace("      - --v=2\n", "      - --v=2\n      - --z=1\n")
        );
    }

    #[test]
    fn missing_final_newline_is_kept() {
        let text = "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --a=1";
        let (out, _) = edit(text, &[("--b", "2")], &[]).expect("edit");
        assert_eq!(out, format!("{text}\n    - --b=2"));
        let (out, _) = edit(text, &[], &["--a"]).expect("edit");
        assert_eq!(
            out,
            "spec:\n  containers:\n  - command:\n    - kube-apiserver\n"
        );
    }

    #[test]
    fn refuses_what_it_cannot_edit_safely() {
        let dup = KUBEADM.replace(
            "    - --allow-privileged=true\n",
            "    - --allow-privileged=true\n    - --max-requests-inflight=500\n",
        );
        let err = edit(&dup, &[("--max-requests-inflight", "1")], &[]).expect_err("dup");
        assert!(err.contains("appears 2 times (lines 18, 22)"), "{err}");
        let err = edit(&dup, &[], &["--max-requests-inflight"]).expect_err("dup");
        assert!(err.contains("appears 2 times"), "{err}");

        let controller = KUBEADM.replace("- kube-apiserver\n", "- kube-controller-manager\n");
        let err = edit(&controller, &[("--v", "2")], &[]).expect_err("not apiserver");
        assert!(err.contains("no kube-apiserver command list"), "{err}");
        let err = edit("{\"kind\": \"Pod\"}", &[("--v", "2")], &[]).expect_err("json");
        assert!(err.contains("no kube-apiserver command list"), "{err}");
        let flow = "spec:\n  containers:\n  - command: [kube-apiserver, --v=1]\n";
        assert!(edit(flow, &[("--v", "2")], &[]).is_err());

        let two_items = KUBEADM.replace(
            "    - --max-requests-inflight=400\n",
            "    - --max-requests-inflight\n    - \"400\"\n",
        );
        let err = edit(&two_items, &[("--max-requests-inflight", "1")], &[]).expect_err("split");
        assert!(err.contains("next list item"), "{err}");

        let multi = KUBEADM.replace(
            "    - --max-requests-inflight=400\n",
            "    - --max-requests-inflight=\n      400\n",
        );
        let err = edit(&multi, &[("--max-requests-inflight", "1")], &[]).expect_err("multi");
        assert!(err.contains("not a one-line string"), "{err}");

        let twice = format!("{KUBEADM}---\n{KUBEADM}");
        assert!(
            edit(&twice, &[("--v", "2")], &[])
                .expect_err("two")
                .contains("2 kube-apiserver")
        );
        assert!(edit_manifest(b"\xff\xfe", &set(&[("--v", "1")]), &[]).is_err());
        assert!(edit(KUBEADM, &[("--v", "1\n- --evil=1")], &[]).is_err());
        assert!(edit(KUBEADM, &[("v", "1")], &[]).is_err());
        let tabs = KUBEADM.replace("    - --allow", "\t- --allow");
        assert!(
            edit(&tabs, &[("--v", "1")], &[])
                .expect_err("tabs")
                .contains("tabs")
        );
    }

    #[test]
    fn the_lab_manifest_is_editable() {
        let text = include_str!("../../lab/standins/kube-apiserver.yaml");
        let (out, changes) = edit(
            text,
            &[
                ("--max-requests-inflight", "1200"),
                ("--max-mutating-requests-inflight", "600"),
            ],
            &[],
        )
        .expect("edit");
        assert_eq!(changes.len(), 2);
        assert_eq!(
            out,
            text.replace("inflight=400", "inflight=1200")
                .replace("inflight=200", "inflight=600")
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::proptests::config())]

        /// Issue #11 point 6: whatever manifest the node holds, editing it never panics.
        #[test]
        fn any_manifest_is_edited_or_refused(
            at in 0usize..2000,
            insert in "(\\PC|[ \\t\\n:\\-\\[\\]'\"#]){0,12}",
            cut in 0usize..40,
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let set: BTreeMap<String, String> =
                [("--max-requests-inflight".to_owned(), "100".to_owned())].into();
            let remove = ["--profiling".to_owned()];
            let _ = edit_manifest(&bytes, &set, &remove);
            let mut text = KUBEADM.to_owned();
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let end = (at + cut).min(text.len());
            let end = (end..=text.len()).find(|&e| text.is_char_boundary(e)).unwrap_or(text.len());
            text.replace_range(at..end, &insert);
            let _ = edit_manifest(text.as_bytes(), &set, &remove);
        }
    }
}
