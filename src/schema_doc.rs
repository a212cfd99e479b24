//! The JSON Schemas (draft 2020-12) of tokenconf's files, for editors and CI: generated from the
//! serde types that parse each file, so a schema cannot drift from what the loader accepts.

use schemars::{schema_for, Schema};

use crate::expected::EntryFile;
use crate::suite::model::SuiteFile;
use crate::target::TargetsFile;

/// A file format tokenconf reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// A suite (suites/**/*.yaml).
    Suite,
    /// A targets file (`--targets`).
    Targets,
    /// An expected-findings file (`--expected`).
    Expected,
}

impl FileFormat {
    pub const ALL: [FileFormat; 3] = [FileFormat::Suite, FileFormat::Targets, FileFormat::Expected];

    /// The file's name under specs/tokenconf/.
    pub fn file_name(self) -> &'static str {
        match self {
            FileFormat::Suite => "suite.schema.json",
            FileFormat::Targets => "targets.schema.json",
            FileFormat::Expected => "expected.schema.json",
        }
    }
}

/// The schema of one format.
pub fn schema(format: FileFormat) -> Schema {
    let mut s = match format {
        FileFormat::Suite => schema_for!(SuiteFile),
        FileFormat::Targets => schema_for!(TargetsFile),
        FileFormat::Expected => {
            // The file is a bare list (empty counts as none).
            let mut s = schema_for!(Option<Vec<EntryFile>>);
            s.insert("title".into(), "tokenconf expected findings".into());
            s.insert(
                "description".into(),
                "Findings you expect, each with a test glob, a rule id and a reason: reported as expected, never failing."
                    .into(),
            );
            s
        }
    };
    // Like every file under specs/: an `.invalid` id, so nothing is ever fetched.
    let id = format!(
        "https://tokenconf.invalid/specs/tokenconf/{}",
        format.file_name()
    );
    s.insert("$id".into(), id.into());
    s
}

/// The schema as pretty JSON with a final newline, as `tokenconf schema` prints it and
/// specs/tokenconf/ holds it.
pub fn to_json(format: FileFormat) -> String {
    let mut text = serde_json::to_string_pretty(&schema(format)).unwrap_or_default();
    text.push('\n');
    text
}
