//! Making text safe for the Markdown and HTML reports. Packet bytes (HTTP targets, and the
//! finding sentences that quote them) reach these reports; nothing in them may become markup,
//! break a table, or drive a terminal that shows the file. Pure string functions; uses nothing
//! else in the crate.

/// Drops terminal escape sequences (`ESC [ ... final`, `ESC ] ... BEL`, `ESC x`) and turns
/// every other control character into a space (line breaks, tabs) or `?` (the rest), so a
/// string stays on one line and cannot steer a terminal.
pub(crate) fn strip_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \).
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                // A two-character sequence (or a lone ESC at the end).
                _ => {}
            },
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.push('?'),
            // Bidirectional overrides and isolates can make text read differently from its
            // bytes (Trojan Source).
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Text for HTML element content and quoted attribute values: controls stripped as in
/// [`strip_controls`], then `& < > " '` as character references.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in strip_controls(s).chars() {
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

/// Text for a Markdown paragraph, list item or table cell, read as literal text by CommonMark,
/// GitHub and the original Markdown alike: controls stripped as in [`strip_controls`] (so a
/// cell stays on its line); `\` `` ` `` `*` `_` `[` `]` `|` `#` escaped with a backslash; `&`
/// `<` `>` as character references, because the original Markdown does not honour `\<` and
/// would pass `<script>` through as HTML.
pub(crate) fn escape_md(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in strip_controls(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Splits finscope-authored text into plain and `` `code` `` parts: `(text, is_code)`. A
/// string with an odd number of backticks (a quoted target may carry one) is one plain part,
/// so a stray backtick cannot flip which parts are code.
pub(crate) fn code_spans(s: &str) -> Vec<(&str, bool)> {
    if s.matches('`').count() % 2 == 1 {
        return vec![(s, false)];
    }
    s.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| (part, i % 2 == 1))
        .collect()
}

/// A finding sentence as HTML: everything escaped, then its `` `snippets` `` as `<code>`.
pub(crate) fn html_with_code(s: &str) -> String {
    code_spans(s)
        .into_iter()
        .map(|(part, code)| {
            if code {
                format!("<code>{}</code>", escape_html(part))
            } else {
                escape_html(part)
            }
        })
        .collect()
}

/// A finding sentence as Markdown: plain parts escaped; a `` `snippet` `` stays a code span
/// when it holds nothing that could act outside one (no `<`, `>`, `&`, `|`, no control
/// characters), else it is escaped like the rest.
pub(crate) fn md_with_code(s: &str) -> String {
    code_spans(s)
        .into_iter()
        .map(|(part, code)| {
            let inert = !part
                .chars()
                .any(|c| matches!(c, '<' | '>' | '&' | '|') || c.is_control())
                && strip_controls(part) == part;
            if code && inert {
                format!("`{part}`")
            } else if code {
                format!("\\`{}\\`", escape_md(part))
            } else {
                escape_md(part)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_controls_drops_escape_sequences() {
        assert_eq!(strip_controls("a\x1b[31mred\x1b[0m"), "ared");
        assert_eq!(strip_controls("\x1b]0;title\x07x"), "x");
        assert_eq!(strip_controls("\x1b]0;t\x1b\\x"), "x");
        assert_eq!(strip_controls("a\r\nb\x00c\x7f"), "a  b?c?");
        assert_eq!(strip_controls("x\u{202e}y"), "x?y");
        assert_eq!(strip_controls("end\x1b"), "end");
    }

    #[test]
    fn html_escapes_the_five() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn markdown_escapes_markup_and_cells() {
        assert_eq!(
            escape_md("<script>| *a* _b_ [c](d) `e` \\ #"),
            "&lt;script&gt;\\| \\*a\\* \\_b\\_ \\[c\\](d) \\`e\\` \\\\ \\#"
        );
        assert_eq!(escape_md("a\nb"), "a b");
    }

    #[test]
    fn code_spans_pair_backticks() {
        assert_eq!(
            code_spans("set `keepalive 16;` now"),
            vec![("set ", false), ("keepalive 16;", true), (" now", false)]
        );
        assert_eq!(code_spans("odd ` one"), vec![("odd ` one", false)]);
    }

    #[test]
    fn finding_text_keeps_safe_snippets_only() {
        assert_eq!(
            md_with_code("use `proxy_http_version 1.1;`"),
            "use `proxy_http_version 1.1;`"
        );
        assert_eq!(md_with_code("`<b>|`"), "\\`&lt;b&gt;\\|\\`");
        assert_eq!(html_with_code("use `a<b`"), "use <code>a&lt;b</code>");
    }
}
