//! The YAML layer: the one place that knows which YAML crate parses suite and target files.

use std::path::Path;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use serde::de::DeserializeOwned;

pub use serde_saphyr::{Location, Spanned};

use crate::error::SourceError;

/// Parses `text` (read from `file`) into `T`, rendering any error with file:line:column and a caret.
pub fn parse<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, SourceError> {
    let name = file.display().to_string();
    serde_saphyr::from_str::<T>(text).map_err(|err| {
        let mut options = serde_saphyr::RenderOptions::default();
        options.source_name = Some(&name);
        options.formatter = &Plain;
        let (line, column) = err
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        SourceError {
            file: file.to_path_buf(),
            line,
            column,
            message: message_of(&err.render_with_options(options)),
            rendered: err.render_with_options(options),
        }
    })
}

/// The parser's messages, with those that name its own API (`DuplicateKeyPolicy`,
/// `from_str_multiple`, `Nodes { nodes: 250001 }`) said in the user's terms.
struct Plain;

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
            Error::Budget { breach, .. } => too_big(breach).into(),
            other => serde_saphyr::DefaultMessageFormatter.format_message(other),
        }
    }
}

/// What the user wrote too much of, and the limit.
fn too_big(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let limit = serde_saphyr::Budget::default();
    match breach {
        B::Nodes { .. } => format!(
            "the file has more than {} values, keys and list items; split it into several files",
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
    match first.find(": ") {
        Some(i) if first.starts_with("line ") => first[i + 2..].to_string(),
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
    let message = message.into();
    let (line, column) = (location.line(), location.column());
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
        None => format!("error: {message}\n --> {name}"),
    };
    SourceError {
        file: file.to_path_buf(),
        line,
        column,
        message,
        rendered,
    }
}

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
