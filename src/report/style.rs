//! Colour as a value: which style each part of the console output takes. The renderers wrap
//! text they have already escaped (and that the session has already masked) in these styles, so
//! a colour code never splits a secret and nothing re-reads finished text to paint it.

use anstyle::{AnsiColor, Style};

use crate::finding::Level;

/// The styles of the console output. [`Styles::plain`] (the default) writes no escape codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Styles {
    /// The `ok` verdict of a case line.
    pub ok: Style,
    /// The `FAILED` verdict of a case line.
    pub failed: Style,
    /// The `ERROR (…)` verdict of a case line.
    pub error: Style,
    /// The `skipped (…)` verdict of a case line.
    pub skipped: Style,
    /// `[MUST]`.
    pub must: Style,
    /// `[SHOULD]`.
    pub should: Style,
    /// `[KNOWN-DEVIATION]`.
    pub known_deviation: Style,
    /// `[EXPECTED]`.
    pub expected: Style,
    /// The `--- expected` line of a diff.
    pub diff_old_header: Style,
    /// The `+++ actual` line of a diff.
    pub diff_new_header: Style,
    /// A `-` line of a diff (expected).
    pub diff_removed: Style,
    /// A `+` line of a diff (actual).
    pub diff_added: Style,
    /// A `@@` line of a diff.
    pub diff_hunk: Style,
    /// `test result: ok`.
    pub result_ok: Style,
    /// `test result: FAILED`.
    pub result_failed: Style,
    /// An `insecure:` line.
    pub insecure: Style,
}

fn fg(c: AnsiColor) -> Style {
    Style::new().fg_color(Some(c.into()))
}

impl Styles {
    /// No colour: the text a log, a pipe or `NO_COLOR` gets.
    pub fn plain() -> Self {
        Self::default()
    }

    /// Colour for a terminal, as `cargo test` uses it: green ok, red failures, yellow warnings.
    pub fn colored() -> Self {
        let (red, green, yellow, cyan) = (
            fg(AnsiColor::Red),
            fg(AnsiColor::Green),
            fg(AnsiColor::Yellow),
            fg(AnsiColor::Cyan),
        );
        Self {
            ok: green,
            failed: red,
            error: red,
            skipped: yellow,
            must: red,
            should: yellow,
            known_deviation: cyan,
            expected: cyan,
            diff_old_header: red.bold(),
            diff_new_header: green.bold(),
            diff_removed: red,
            diff_added: green,
            diff_hunk: cyan,
            result_ok: green,
            result_failed: red.bold(),
            insecure: red.bold(),
        }
    }

    /// [`Styles::colored`] when `colour` is true, else [`Styles::plain`].
    pub fn when(colour: bool) -> Self {
        if colour {
            Self::colored()
        } else {
            Self::plain()
        }
    }

    /// The style of a finding level's `[NAME]` tag.
    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Must => self.must,
            Level::Should => self.should,
            Level::KnownDeviation => self.known_deviation,
            Level::Expected => self.expected,
            Level::Unconfirmed => self.should,
            Level::Info => self.known_deviation,
        }
    }

    /// The style of one line of a unified diff, by its first character.
    pub fn diff_line(&self, line: &str) -> Style {
        if line.starts_with("--- ") {
            self.diff_old_header
        } else if line.starts_with("+++ ") {
            self.diff_new_header
        } else {
            match line.as_bytes().first() {
                Some(b'-') => self.diff_removed,
                Some(b'+') => self.diff_added,
                Some(b'@') => self.diff_hunk,
                _ => Style::new(),
            }
        }
    }
}

/// `text` between `style`'s codes; just `text` for a plain style.
pub fn paint(style: Style, text: &str) -> String {
    if style == Style::new() {
        text.to_string()
    } else {
        format!("{style}{text}{style:#}")
    }
}

/// A unified diff with each line in its style (newlines stay outside the codes).
pub fn paint_diff(styles: &Styles, unified: &str) -> String {
    let mut out = String::with_capacity(unified.len() + 64);
    for line in unified.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        out.push_str(&paint(styles.diff_line(body), body));
        out.push_str(&line[body.len()..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_writes_no_codes_and_colored_wraps_each_line() {
        let diff = "--- expected\n+++ actual\n@@ -1 +1 @@\n-a\n+b\n c\n";
        assert_eq!(paint_diff(&Styles::plain(), diff), diff);
        let c = paint_diff(&Styles::colored(), diff);
        assert!(c.contains("\x1b[31m-a\x1b[0m\n"), "{c:?}");
        assert!(c.contains("\x1b[32m+b\x1b[0m\n"), "{c:?}");
        assert!(c.ends_with("\n c\n"), "{c:?}");
        assert_eq!(paint(Styles::colored().ok, "ok"), "\x1b[32mok\x1b[0m");
    }
}
