//! Errors that stop a run before any request is sent: all of them exit with code 2.

use std::fmt;
use std::path::PathBuf;

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
    #[error("{0}")]
    Other(String),
}

fn join(errors: &[SourceError]) -> String {
    errors
        .iter()
        .map(|e| e.rendered.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n\n")
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
