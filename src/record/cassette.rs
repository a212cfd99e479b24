//! The files of a recording (format 1, docs/recording.md): the index, a cassette and a shape
//! per case, a cassette per fixture.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::shape::StepShape;

/// The recording format this build writes and reads.
pub const FORMAT: u32 = 1;

/// The index file of a recording folder.
pub const INDEX: &str = "recording.json";

/// `recording.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub format: u32,
    pub tool: String,
    pub version: String,
    pub target: String,
    /// When the run started, RFC 3339 UTC.
    pub recorded: String,
    /// The origins the recorded target's URLs had (`http://127.0.0.1:8080`): a replay puts its
    /// own in their place in the answers (an issuer, a redirect's Location).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
    pub cases: Vec<Entry>,
    #[serde(default)]
    pub fixtures: Vec<Entry>,
}

/// A case (or fixture) and its files, relative to the recording folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The test name (`<suite>::<case slug>`), or `fixture:<suite>::<fixture>`.
    pub test: String,
    pub cassette: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
}

/// The exchanges of one case or fixture, in the order sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cassette {
    pub format: u32,
    pub test: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub step: String,
    pub request: RequestShape,
    pub response: Response,
}

/// A request without its values: what replay matches on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestShape {
    pub method: String,
    pub path: String,
    /// Query parameter names, sorted.
    pub query: Vec<String>,
    /// Header names sent, lower case, sorted.
    pub headers: Vec<String>,
    /// `none`, `form`, `json` or `raw`.
    pub body: String,
    /// Form field names, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<String>,
    /// A JSON body's shape: every leaf replaced by its type name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// Values of enum-like form fields (grant_type, response_type, scope, …): never secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
}

/// A response as recorded, every secret and token replaced by its placeholder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

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

/// Form fields whose values a cassette keeps.
pub const ENUM_FIELDS: &[&str] = &[
    "grant_type",
    "response_type",
    "token_type_hint",
    "scope",
    "code_challenge_method",
    "client_assertion_type",
    "subject_token_type",
    "requested_token_type",
];

/// Every leaf of `value` replaced by its type name.
pub fn json_shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_shape(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(json_shape).collect()),
        Value::Null => Value::String("null".into()),
        Value::Bool(_) => Value::String("boolean".into()),
        Value::Number(n) if n.is_f64() => Value::String("number".into()),
        Value::Number(_) => Value::String("integer".into()),
        Value::String(_) => Value::String("string".into()),
    }
}
