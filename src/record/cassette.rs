//! The files of a recording that only `record` reads and writes: a case's shape, for
//! `tokenconf diff`. The index and cassettes are the format module's (`crate::cassette`).

use serde::{Deserialize, Serialize};

pub use crate::cassette::{
    json_shape, ApiCapabilities, Cassette, Entry, Index, RequestShape, Response, Step, ENUM_FIELDS,
    FORMAT, INDEX,
};

use super::shape::StepShape;

/// What `tokenconf diff` reads of a case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseShape {
    pub format: u32,
    pub test: String,
    pub suite: String,
    pub case: String,
    /// passed, failed, errored or skipped.
    pub outcome: String,
    pub steps: Vec<StepShape>,
    pub findings: Vec<FindingShape>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FindingShape {
    pub rule: String,
    pub level: String,
}
