//! The recording format (format 1, docs/recording.md) as its readers need it: the index and
//! the cassettes, and reading them from a folder someone else may have written. Below both
//! `record`, which writes recordings, and `mock`, which replays them, so the mock does not
//! depend on the runner.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ConfigError;
use crate::report::escape::escape_control;
use crate::suite::input::FileKind;

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
    /// The embedded mock's profile (`full`, `sandbox`) when the recorded target was the mock: a
    /// replay behaves as that profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock_profile: Option<String>,
    /// What each API of the recorded target declared it does (`capabilities:`), and each of its
    /// profiles: a replay declares the same, so it skips what the recording skipped.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capabilities: BTreeMap<String, ApiCapabilities>,
    pub cases: Vec<Entry>,
    #[serde(default)]
    pub fixtures: Vec<Entry>,
}

/// The capabilities of one API of a recorded target: names only, never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCapabilities {
    pub capabilities: BTreeSet<String>,
    /// Each profile's own capabilities, by profile name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, BTreeSet<String>>,
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

/// A recording's file that cannot be used: exit 2, naming the file. Its name and the message
/// may hold a recording's text (a cassette name, a value quoted by the JSON parser): control
/// characters are shown escaped.
pub fn bad_file(path: &Path, message: impl Into<String>) -> ConfigError {
    ConfigError::File {
        path: PathBuf::from(escape_control(&path.to_string_lossy()).into_owned()),
        message: escape_control(&message.into()).into_owned(),
    }
}

/// Reads and checks `dir/recording.json`.
pub fn load_index(dir: &Path) -> Result<Index, ConfigError> {
    if !dir.is_dir() {
        return Err(bad_file(dir, "no such recording folder"));
    }
    if !dir.join(INDEX).exists() && dir.join("summary.json").is_file() {
        return Err(bad_file(
            dir,
            format!(
                "holds no {}: a run's report folder (--report-dir), not a recording (--record)",
                INDEX
            ),
        ));
    }
    let path = file_in(dir, INDEX)?;
    let mut index: Index = read_json(&path)?;
    if index.format != FORMAT {
        return Err(bad_file(
            &path,
            format!(
                "recording format {} (this tokenconf reads format {})",
                index.format, FORMAT
            ),
        ));
    }
    index.origins = checked_origins(&path, std::mem::take(&mut index.origins))?;
    check_capabilities(&path, &index.capabilities)?;
    Ok(index)
}

/// An index's `origins`: each exactly an origin (`http[s]://host[:port]`, nothing else), kept
/// once each. A replay puts its own URL in place of each, so anything else (an empty string
/// matches between every two characters) would rewrite every answer.
fn checked_origins(path: &Path, origins: Vec<String>) -> Result<Vec<String>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, origin) in origins.into_iter().enumerate() {
        let exact = crate::origin::of(&origin).is_ok_and(|o| o == origin)
            && (origin.starts_with("http://") || origin.starts_with("https://"));
        if !exact {
            return Err(bad_file(
                path,
                format!(
                    "origins[{i}]: {:?} is not an origin (scheme://host[:port], nothing else)",
                    crate::redact::shorten(&origin, 100)
                ),
            ));
        }
        if seen.insert(origin.clone()) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// Every capability an index names is one this build knows.
fn check_capabilities(
    path: &Path,
    apis: &BTreeMap<String, ApiCapabilities>,
) -> Result<(), ConfigError> {
    for (api, a) in apis {
        let named = a.capabilities.iter().map(|c| (None, c)).chain(
            a.profiles
                .iter()
                .flat_map(|(p, cs)| cs.iter().map(move |c| (Some(p), c))),
        );
        for (profile, c) in named {
            if !crate::capability::is_capability(c) {
                let at = match profile {
                    None => format!("capabilities.{api}"),
                    Some(p) => format!("capabilities.{api}.profiles.{p}"),
                };
                return Err(bad_file(
                    path,
                    format!(
                        "{}: unknown capability {:?}",
                        crate::redact::shorten(&at, 120),
                        crate::redact::shorten(c, 60)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A JSON file of a recording, parsed; a bad one is named with its line and column. Read
/// through the one capped reader: a regular file of at most 64 MiB.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = crate::suite::input::read_text(path, FileKind::Recording)
        .map_err(|e| bad_file(&e.path, e.reason))?;
    let value: T = serde_json::from_str(&text).map_err(|e| {
        bad_file(
            path,
            format!("line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    Ok(value)
}

/// A file an index names, kept inside the recording folder: a relative path of plain names,
/// and, where it is or passes through a link, one that resolves inside the folder.
pub fn file_in(dir: &Path, rel: &str) -> Result<PathBuf, ConfigError> {
    let p = Path::new(rel);
    let inside = !rel.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(bad_file(
            &dir.join(INDEX),
            format!(
                "{:?} is not a path inside the recording",
                crate::redact::shorten(rel, 200)
            ),
        ));
    }
    let path = dir.join(p);
    let folder = dir
        .canonicalize()
        .map_err(|e| bad_file(dir, format!("cannot read: {e}")))?;
    let resolved = path
        .canonicalize()
        .map_err(|e| bad_file(&path, format!("cannot read: {e}")))?;
    if !resolved.starts_with(&folder) {
        return Err(bad_file(
            &path,
            "is a link that leads out of the recording folder",
        ));
    }
    Ok(path)
}

/// A cassette file, checked.
pub fn load_cassette(dir: &Path, rel: &str) -> Result<Cassette, ConfigError> {
    let path = file_in(dir, rel)?;
    let c: Cassette = read_json(&path)?;
    if c.format != FORMAT {
        return Err(bad_file(&path, format!("cassette format {}", c.format)));
    }
    Ok(c)
}
