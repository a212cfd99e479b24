//! Text from servers and suites, made safe to print: a response must not be able to clear the
//! screen, retitle the terminal, or start a line of its own that reads like one of ours.

use std::borrow::Cow;

/// Every control character (C0, DEL, C1, so newlines and tabs too) and every invisible
/// reordering or line-breaking mark written as an escape: `\n`, `\r`, `\t`, `\x1b`, `\u{9b}`,
/// `\u{202e}`. The result is one line; text without such characters is returned as it is.
///
/// Backslashes are left alone, so a secret that contains one is still found by the redactor
/// after escaping. Escaping is idempotent: escaped text has nothing left to escape.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii() && needs_escape(c) => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Text for HTML and XML, text or attribute: control characters as [`escape_control`] shows
/// them, then `&`, `<`, `>`, `"` and `'` as entities. `'` is `&apos;`, as quick-junit writes
/// it and as the redactor looks for a secret's escaped form (`redact::markup_escaped`).
pub fn escape_markup(text: &str) -> Cow<'_, str> {
    let text = escape_control(text);
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional marks and overrides reorder what the reader sees; line and
            // paragraph separators start a new line in some viewers; BOM and zero-width
            // no-break space hide.
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}' | '\u{feff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(
            escape_control("a\x1b[2J\x07b\u{9b}31m\r\n\ttest result: ok\u{7f}"),
            "a\\x1b[2J\\x07b\\u{9b}31m\\r\\n\\ttest result: ok\\x7f"
        );
        assert_eq!(
            escape_control("\x1b]0;owned\x07"),
            "\\x1b]0;owned\\x07",
            "a title sequence"
        );
        assert_eq!(
            escape_control("evil\u{202e}txt.exe"),
            "evil\\u{202e}txt.exe"
        );
        assert_eq!(escape_control("a\u{2028}b"), "a\\u{2028}b");
    }

    #[test]
    fn markup_is_escaped_the_way_the_redactor_looks_for_it() {
        let secret = "it's <a> \"p&w\"";
        let escaped = escape_markup(secret).into_owned();
        assert_eq!(escaped, "it&apos;s &lt;a&gt; &quot;p&amp;w&quot;");
        let r = crate::redact::Redactor::new([secret]);
        let page = format!("<p>{escaped}</p>");
        assert!(!r.scrub(&page).contains("p&amp;w"), "{}", r.scrub(&page));
    }

    #[test]
    fn plain_text_is_borrowed_and_escaping_twice_changes_nothing() {
        let plain = "café: \"ok\" \\x1b ✓";
        assert!(matches!(escape_control(plain), Cow::Borrowed(_)));
        let once = escape_control("x\x1by\nz").into_owned();
        assert_eq!(escape_control(&once), once);
    }
}
