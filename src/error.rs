//! The exit-code table, and the errors that make a run unusable (all of them exit 2).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How the process ends: the contract CI scripts rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every selected case passed (skips included, unless every one was skipped).
    Passed = 0,
    /// A case failed or errored.
    Failed = 1,
    /// A suite, spec, target, flag or the report folder is unusable, or no case ran.
    Unusable = 2,
    /// Ctrl-C (SIGINT) stopped the run: 128 + 2, as shells report it, so CI tells a cancelled
    /// run from a failing one.
    Interrupted = 130,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// A problem at a spot in a user's file.
#[derive(Debug, Clone)]
pub struct SourceError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    /// One line, without the location.
    pub message: String,
    /// The message with the source line and a caret under the spot.
    pub rendered: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered)
    }
}

/// Everything that makes the suites, specs, targets or flags unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Source(SourceError),
    #[error("{} errors:\n\n{}", .0.len(), join(.0))]
    Many(Vec<SourceError>),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    /// Flags or options that do not fit together.
    #[error("{0}")]
    Usage(String),
    #[error("no case selected{}; --allow-empty accepts that", .0.as_deref().map(|why| format!(" ({why})")).unwrap_or_default())]
    NothingSelected(Option<String>),
    #[error("cannot start the embedded mock on {addr}")]
    Mock {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot write reports to {}", .dir.display())]
    Reports {
        dir: PathBuf,
        /// A report error inside (it names the file, and whether stale reports were removed).
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", .file.display())]
    Write {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl ConfigError {
    pub fn exit(&self) -> Exit {
        Exit::Unusable
    }

    /// The message and its causes on one line each, as the console shows them.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }
}

/// Errors with the same message are shown this many times, then counted: one wrong `--specs`
/// is not 10,000 screens of the same snippet.
const SAME_MESSAGE_SHOWN: usize = 3;

fn join(errors: &[SourceError]) -> String {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out: Vec<String> = Vec::new();
    for e in errors {
        let n = seen.entry(e.message.as_str()).or_default();
        *n += 1;
        if *n <= SAME_MESSAGE_SHOWN {
            out.push(e.rendered.trim_end().to_string());
        }
    }
    let mut more: Vec<(&str, usize)> = seen
        .into_iter()
        .filter(|(_, n)| *n > SAME_MESSAGE_SHOWN)
        .map(|(m, n)| (m, n - SAME_MESSAGE_SHOWN))
        .collect();
    more.sort();
    for (message, n) in more {
        out.push(format!("… and {n} more: {message}"));
    }
    out.join("\n\n")
}

impl From<SourceError> for ConfigError {
    fn from(e: SourceError) -> Self {
        ConfigError::Source(e)
    }
}

impl From<Vec<SourceError>> for ConfigError {
    fn from(mut errors: Vec<SourceError>) -> Self {
        if errors.len() == 1 {
            ConfigError::Source(errors.remove(0))
        } else {
            ConfigError::Many(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u64, message: &str) -> SourceError {
        SourceError {
            file: PathBuf::from("s.yaml"),
            line,
            column: 1,
            message: message.to_string(),
            rendered: format!("error: {message}\n --> s.yaml:{line}:1"),
        }
    }

    #[test]
    fn the_same_message_is_shown_three_times_then_counted() {
        let mut errors: Vec<SourceError> = (1..=10_000).map(|l| at(l, "no schema x")).collect();
        errors.push(at(20_000, "another"));
        let text = ConfigError::from(errors).to_string();
        assert!(text.starts_with("10001 errors:"), "{text}");
        assert_eq!(text.matches("error: no schema x").count(), 3, "{text}");
        assert!(
            text.contains("s.yaml:3:1") && !text.contains("s.yaml:4:1"),
            "{text}"
        );
        assert!(text.contains("error: another"), "{text}");
        assert!(text.contains("… and 9997 more: no schema x"), "{text}");
    }
}
