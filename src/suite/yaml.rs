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
