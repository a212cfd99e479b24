//! The YAML layer: the one place that knows which YAML crate parses suite and target files.

use std::cell::Cell;
use std::path::Path;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::SourceError;

/// Where a value was written: 1-based line and column (characters), 0 when unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Location {
    line: u32,
    column: u32,
}

impl Location {
    /// For values no file holds.
    pub const UNKNOWN: Location = Location { line: 0, column: 0 };

    pub fn line(&self) -> u64 {
        self.line.into()
    }

    pub fn column(&self) -> u64 {
        self.column.into()
    }
}

impl From<serde_saphyr::Location> for Location {
    fn from(l: serde_saphyr::Location) -> Self {
        let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Location {
            line: narrow(l.line()),
            column: narrow(l.column()),
        }
    }
}

/// A value with the place it was written. Our own rather than the parser's, so a parsed model
/// can be written to the parse cache with its places and read back (see `suite::cache`); it is
/// also a tenth of the parser's size (which keeps two locations with spans).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    pub value: T,
    pub referenced: Location,
}

thread_local! {
    /// Set while this thread reads the parse cache: a [`Spanned`] is then `[line, column, value]`
    /// rather than the YAML parser's own protocol.
    static FROM_CACHE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `read` with [`Spanned`] values read in the parse cache's form.
pub fn reading_cache<R>(read: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            FROM_CACHE.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(FROM_CACHE.with(|c| c.replace(true)));
    read()
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !FROM_CACHE.with(Cell::get) {
            let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
            return Ok(Spanned {
                value: s.value,
                referenced: s.referenced.into(),
            });
        }
        let (line, column, value) = <(u32, u32, T)>::deserialize(d)?;
        Ok(Spanned {
            value,
            referenced: Location { line, column },
        })
    }
}

/// The parse cache's form, `[line, column, value]`.
impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.referenced.line, self.referenced.column, &self.value).serialize(s)
    }
}

/// Parses `text` (read from `file`) into `T`, rendering any error with file:line:column and a caret.
/// The parser's own rendering is kept only where its header names the error's location (for a
/// long line it crops, or a position past the end, header and caret could disagree) and its
/// message is short; otherwise [`error_at`]'s renderer draws both from the one location.
pub fn parse<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, SourceError> {
    parse_shown(text, None, file)
}

/// [`parse`], with any error drawn over `shown` when given: the same text, with the same
/// lines and columns, where values that must not be printed are masked (a targets file's
/// secrets). The parser's own rendering, which quotes `text`, is then never used.
pub fn parse_shown<T: DeserializeOwned>(
    text: &str,
    shown: Option<&str>,
    file: &Path,
) -> Result<T, SourceError> {
    if let Some((line, column)) = lone_carriage_return(text) {
        // YAML counts a lone CR as a line break and every reader of ours counts LF: one would
        // point at another line than the other. Old Mac line ends are refused, at their place.
        return Err(render_at(
            file,
            shown.unwrap_or(text),
            line,
            column,
            "a carriage return without a line feed: save the file with LF or CRLF line ends".into(),
        ));
    }
    let name = file.display().to_string();
    let budget = budget_for(text.len());
    let plain = Plain(budget.clone());
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    serde_saphyr::from_str_with_options::<T>(text, options).map_err(|err| {
        let mut options = serde_saphyr::RenderOptions::default();
        options.source_name = Some(&name);
        options.formatter = &plain;
        let rendered = err.render_with_options(options);
        let message = message_of(&rendered);
        let location = err
            .location()
            .map(|l| (l.line(), l.column()))
            .filter(|&(l, c)| l > 0 && c > 0);
        let source = shown.unwrap_or(text);
        match location {
            Some((line, column))
                if shown.is_none()
                    && message.chars().count() <= MAX_MESSAGE
                    && rendered.contains(&format!("{name}:{line}:{column}\n")) =>
            {
                SourceError {
                    file: file.to_path_buf(),
                    line,
                    column,
                    message,
                    rendered,
                }
            }
            Some((line, column)) => render_at(file, source, line, column, message),
            None => render_at(file, source, 1, 1, message),
        }
    })
}

/// The parser's limits for a text of `len` bytes. The node and event counts grow with the
/// file (a 100,000-case suite has millions of nodes), so only what the reader's byte cap
/// already allows gets through; alias and anchor limits stay fixed, since aliases are how a
/// small file expands into a huge one.
fn budget_for(len: usize) -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    // A node takes at least two bytes (`a:`, `- `, `1,`), an event at most two per node.
    budget.max_nodes = budget.max_nodes.max(len / 2 + 1);
    budget.max_events = budget.max_events.max(len + 1);
    budget
}

/// The parser's messages, with those that name its own API (`DuplicateKeyPolicy`,
/// `from_str_multiple`, `Nodes { nodes: 250001 }`) said in the user's terms.
struct Plain(serde_saphyr::Budget);

impl serde_saphyr::MessageFormatter for Plain {
    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> std::borrow::Cow<'a, str> {
        use serde_saphyr::Error;
        match err {
            Error::DuplicateMappingKey { key: Some(k), .. } => {
                format!("the key `{k}` appears twice in this mapping; keep one").into()
            }
            Error::DuplicateMappingKey { key: None, .. } => {
                "a key appears twice in this mapping; keep one".into()
            }
            Error::MultipleDocuments { .. } => {
                "the file holds more than one YAML document (a second `---`); write one per file"
                    .into()
            }
            Error::Budget { breach, .. } => too_big(breach, &self.0).into(),
            other => serde_saphyr::DefaultMessageFormatter.format_message(other),
        }
    }
}

/// What the user wrote too much of, and the limit.
fn too_big(breach: &serde_saphyr::budget::BudgetBreach, limit: &serde_saphyr::Budget) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Nodes { .. } | B::Events { .. } => format!(
            "the file has more than {} values, keys and list items (the limit for a file of its \
             size); split its cases over several files",
            limit.max_nodes
        ),
        B::Depth { .. } => format!(
            "the file nests mappings and lists more than {} levels deep",
            limit.max_depth
        ),
        B::Aliases { .. } | B::AliasAnchorRatio { .. } => format!(
            "the file uses YAML aliases (`*name`) too often (at most {}, and at most {} per anchor)",
            limit.max_aliases, limit.alias_anchor_ratio_multiplier
        ),
        B::Anchors { .. } => format!(
            "the file defines more than {} YAML anchors (`&name`)",
            limit.max_anchors
        ),
        B::Documents { .. } => "the file holds too many YAML documents (`---`)".to_string(),
        B::ScalarBytes { .. } => format!(
            "the file's values add up to more than {} MiB of text",
            limit.max_total_scalar_bytes >> 20
        ),
        B::MergeKeys { .. } => format!(
            "the file uses more than {} merge keys (`<<`)",
            limit.max_merge_keys
        ),
        _ => "the file is too large or too deeply nested for a suite or targets file".to_string(),
    }
}

/// The first line of a rendered parser error, without its "error: line N column M:" prefix.
fn message_of(rendered: &str) -> String {
    let first = rendered.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let first = match first.find(": ") {
        Some(i) if first.starts_with("line ") => &first[i + 2..],
        _ => first,
    };
    // "… at line 3, column 7": the location is rendered apart.
    match first.rfind(" at line ") {
        Some(i) if first[i..].contains(", column ") => first[..i].to_string(),
        _ => first.to_string(),
    }
}

/// An error found after parsing, pointed at `location` in the file's text.
pub fn error_at(
    file: &Path,
    text: &str,
    location: Location,
    message: impl Into<String>,
) -> SourceError {
    render_at(
        file,
        text,
        location.line(),
        location.column(),
        message.into(),
    )
}

/// Line and column (1-based, lines counted by LF) of the first CR not followed by LF.
fn lone_carriage_return(text: &str) -> Option<(u64, u64)> {
    let bytes = text.as_bytes();
    let at = (0..bytes.len()).find(|&i| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n'))?;
    let before = &text[..at];
    let line = before.matches('\n').count() as u64 + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    Some((line, text[start..at].chars().count() as u64 + 1))
}

fn render_at(file: &Path, text: &str, line: u64, column: u64, message: String) -> SourceError {
    let message = match message.char_indices().nth(MAX_MESSAGE) {
        // Cut as `redact::shorten` marks a cut, so the redactor knows the mark.
        Some((at, _)) => format!("{}\u{2026} ({} bytes)", &message[..at], message.len()),
        None => message,
    };
    // A parser may point past the last line (an error at the end of input): point at its end.
    let lines = text.split_inclusive('\n').count() as u64;
    let (line, column) = if line > lines && lines > 0 {
        let last = text.split_inclusive('\n').next_back().unwrap_or_default();
        (
            lines,
            last.trim_end_matches(['\n', '\r']).chars().count() as u64 + 1,
        )
    } else {
        (line, column)
    };
    let name = file.display().to_string();
    let rendered = match byte_range(text, line, column) {
        Some(range) => {
            let report = &[Level::ERROR.primary_title(&message).element(
                Snippet::source(text)
                    .path(&name)
                    .annotation(AnnotationKind::Primary.span(range)),
            )];
            Renderer::plain().render(report).to_string()
        }
        None => format!("error: {message}\n --> {name}:{line}:{column}"),
    };
    SourceError {
        file: file.to_path_buf(),
        line,
        column,
        message,
        rendered,
    }
}

/// Characters in an error message: a 1 MB key or value quoted back is not a 1 MB line.
const MAX_MESSAGE: usize = 500;

/// The byte range of the token that starts at 1-based `line` and `column` (characters).
fn byte_range(text: &str, line: u64, column: u64) -> Option<std::ops::Range<usize>> {
    if line == 0 {
        return None;
    }
    let mut offset = 0;
    for (n, l) in text.split_inclusive('\n').enumerate() {
        if n as u64 + 1 == line {
            let start = offset
                + l.char_indices()
                    .nth(column.saturating_sub(1) as usize)
                    .map(|(i, _)| i)
                    .unwrap_or(l.len());
            let rest = &text[start..];
            let len = rest
                .find(['\n', ',', '}', ']'])
                .unwrap_or(rest.len())
                .max(1)
                .min(rest.len().max(1));
            let end = (start + len).min(text.len());
            return Some(start..end.max(start));
        }
        offset += l.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only parsed")]
    struct Doc {
        a: Option<String>,
    }

    #[test]
    fn a_lone_carriage_return_is_refused_where_it_is_and_crlf_loads() {
        let e = parse::<serde_json::Value>("a: 1\nb: [x,\r y]\n", Path::new("f.yaml")).unwrap_err();
        assert!(e.rendered.contains("f.yaml:2:7"), "{}", e.rendered);
        assert!(e.message.contains("carriage return"), "{}", e.message);
        assert!(parse::<serde_json::Value>("a: 1\r\nb: 2\r\n", Path::new("f.yaml")).is_ok());
    }

    #[test]
    fn a_parse_error_has_one_location_in_its_header_its_caret_and_its_fields() {
        let long = format!("a: \"{}\" x\n", "\u{e9}".repeat(120));
        for text in [
            "a: [\n",
            "b: 1\n",
            "a: x\na: y\n",
            "%x\n",
            "[",
            long.as_str(),
        ] {
            let e = parse::<Doc>(text, Path::new("p.yaml")).unwrap_err();
            let at = format!("p.yaml:{}:{}", e.line, e.column);
            assert!(e.rendered.contains(&at), "{at} not in\n{}", e.rendered);
            assert!(!e.message.contains(" at line "), "{}", e.message);
            assert!(e.line >= 1 && e.column >= 1, "{}", e.rendered);
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Many {
        cases: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only parsed")]
    struct Item {
        name: String,
        expect: std::collections::BTreeMap<String, u16>,
    }

    #[test]
    fn a_file_of_100000_cases_is_within_the_parsers_limits() {
        let text: String = std::iter::once("cases:\n".to_string())
            .chain(
                (0..100_000)
                    .map(|i| format!("  - name: case {i}\n    expect: {{ status: 200 }}\n")),
            )
            .collect();
        let parsed = parse::<Many>(&text, Path::new("big.yaml")).expect("parses");
        assert_eq!(parsed.cases.len(), 100_000);
    }
}
