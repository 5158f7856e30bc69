//! Strings from a record made safe for the place they land. Step ids, runbook names and
//! observed values come from runbooks and from the fleet, so they may hold `<`, `&`, quotes or
//! an escape sequence meant for the terminal of whoever opens the report: every renderer passes
//! them through here, never around.

/// Stands in for a character that has no picture of its own.
const REPLACEMENT: char = '\u{fffd}';

/// Replaces every control character by a visible stand-in, so that nothing in a report moves
/// the cursor, clears a screen, breaks a table row or reorders the text around it.
pub fn neutralise(text: &str) -> String {
    text.chars().map(visible).collect()
}

fn visible(c: char) -> char {
    match c {
        // C0 controls have their pictures at U+2400 + code ("␛" for ESC), DEL at U+2421.
        '\0'..='\x1f' => char::from_u32(0x2400 + u32::from(c)).unwrap_or(REPLACEMENT),
        '\x7f' => '\u{2421}',
        c if c.is_control() => REPLACEMENT,
        // Bidirectional overrides and isolates reorder what is displayed around them (the
        // "Trojan Source" trick, CVE-2021-42574); line and paragraph separators break lines.
        '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{2028}'
        | '\u{2029}' => REPLACEMENT,
        c => c,
    }
}

/// Text for HTML and SVG, in element content and in quoted attribute values alike.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().map(visible) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text for Markdown, in a paragraph, a heading or a table cell: the characters that would
/// start markup, an HTML tag or an entity, or end a cell are backslash-escaped (`CommonMark`
/// 2.4: any ASCII punctuation may be), and nothing else, so the file still reads raw.
pub fn markdown(text: &str) -> String {
    let chars: Vec<char> = text.chars().map(visible).collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let escape = match c {
            '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '&' | '|' | '~' | '#' => true,
            // An underscore between two letters or digits cannot open or close emphasis
            // (`CommonMark` 6.2), so `timed_out` stays as it is.
            '_' => {
                let alnum = |j: Option<usize>| {
                    j.and_then(|j| chars.get(j))
                        .is_some_and(|c| c.is_alphanumeric())
                };
                !(alnum(i.checked_sub(1)) && alnum(Some(i + 1)))
            }
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Milliseconds as seconds. Exact: an `f64` holds every integer below 2^53 ms (285,000 years).
#[allow(clippy::cast_precision_loss)]
pub fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Seconds for people: one decimal, the unit spelled.
pub fn format_secs(secs: f64) -> String {
    format!("{secs:.1} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(
            neutralise("a\x1b[2Jb\n\u{9b}\u{202e}"),
            "a␛[2Jb␊\u{fffd}\u{fffd}"
        );
        assert_eq!(neutralise("\x7f\0"), "\u{2421}\u{2400}");
    }

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            html("<script>alert('x' & \"y\")</script>\x1b"),
            "&lt;script&gt;alert(&#39;x&#39; &amp; &quot;y&quot;)&lt;/script&gt;␛"
        );
    }

    #[test]
    fn markdown_escapes_only_what_would_be_markup() {
        assert_eq!(markdown("timed_out"), "timed_out");
        assert_eq!(markdown("_x_ a|b <i>"), "\\_x\\_ a\\|b \\<i\\>");
        assert_eq!(markdown("api-servers.block (2)"), "api-servers.block (2)");
    }
}
