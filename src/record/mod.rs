//! Recording a run (`run --record DIR`): a cassette and a shape per case, every secret and
//! token replaced by a placeholder of its shape; comparing two recordings (`tokenconf diff`).
//! The format is in docs/recording.md.

pub mod cassette;
pub mod compare;
pub mod mask;
pub mod shape;

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::outcome::{CaseOutcome, Exchange};
use crate::report::escape::escape_control;
use crate::run::Recorded;

use cassette::{
    ApiCapabilities, CaseShape, Cassette, Entry, FindingShape, Index, RequestShape, Response, Step,
};
use mask::Masker;

/// Collects the cases of a run as they finish, already masked, and writes the folder at the end.
pub struct Recorder {
    dir: PathBuf,
    base: Masker,
    cases: Vec<(Entry, String, String)>,
    fixtures: Vec<(Entry, String)>,
    taken: HashSet<String>,
    origins: Vec<String>,
    mock_profile: Option<String>,
    capabilities: BTreeMap<String, ApiCapabilities>,
}

impl Recorder {
    /// Before anything is sent: `dir` is absent, empty, or an earlier recording (which this one
    /// replaces), and a folder can be made beside it. An error means exit 2.
    pub fn check(dir: &Path) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::File {
            path: dir.to_path_buf(),
            message,
        };
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(bad(e.to_string())),
            Ok(m) if !m.is_dir() => return Err(bad("is not a folder".into())),
            Ok(_) => {
                let empty = std::fs::read_dir(dir)
                    .map_err(|e| bad(e.to_string()))?
                    .next()
                    .is_none();
                if !empty && !dir.join(cassette::INDEX).is_file() {
                    return Err(bad(format!(
                        "is not empty and holds no {}: not a recording to replace",
                        cassette::INDEX
                    )));
                }
            }
        }
        let parent = parent_of(dir);
        std::fs::create_dir_all(&parent).map_err(|e| bad(e.to_string()))?;
        let probe = tempfile::Builder::new()
            .prefix(".tokenconf-")
            .tempdir_in(&parent)
            .map_err(|e| bad(format!("cannot write beside it: {e}")))?;
        probe.close().map_err(|e| bad(e.to_string()))
    }

    /// `secrets` are the target's, which `redactor` masks.
    pub fn new(dir: &Path, secrets: &[String], redactor: crate::redact::Redactor) -> Recorder {
        let mut key = [0u8; 32];
        for b in &mut key {
            *b = fastrand::u8(..);
        }
        Recorder {
            dir: dir.to_path_buf(),
            base: Masker::new(key, secrets, redactor),
            cases: Vec::new(),
            fixtures: Vec::new(),
            taken: HashSet::new(),
            origins: Vec::new(),
            mock_profile: None,
            capabilities: BTreeMap::new(),
        }
    }

    /// What the recorded target declares it does, per API and profile (names only), and the
    /// embedded mock's profile when it is the mock: a replay runs as the recorded target did.
    pub fn runs_as(
        mut self,
        target: &crate::target::Target,
        mock_profile: Option<&str>,
    ) -> Recorder {
        self.capabilities = target
            .apis
            .iter()
            .map(|(api, a)| {
                let profiles = a
                    .profiles
                    .iter()
                    .map(|p| (p.name.clone(), p.capabilities.clone()))
                    .collect();
                let declared = ApiCapabilities {
                    capabilities: a.capabilities.clone(),
                    profiles,
                };
                (api.clone(), declared)
            })
            .collect();
        self.mock_profile = mock_profile.map(str::to_string);
        self
    }

    /// The origins of the recorded target, written to the index for replays.
    pub fn origins(mut self, origins: Vec<String>) -> Recorder {
        self.origins = origins;
        self
    }

    /// Records a finished case, before the session masks it and drops its tokens.
    pub fn case(&mut self, o: &CaseOutcome, recorded: Option<Recorded>) {
        let recorded = recorded.unwrap_or_default();
        let mut tokens = o.sensitive.clone();
        tokens.extend(recorded.sensitive.iter().cloned());
        let masker = self.base.with_tokens(&tokens);
        let cassette = cassette_of(&o.test, &recorded.exchanges, &masker);
        let shape = CaseShape {
            format: cassette::FORMAT,
            test: o.test.clone(),
            suite: o.suite.clone(),
            case: o.case.clone(),
            outcome: o.status.name().into(),
            steps: recorded
                .exchanges
                .iter()
                .map(|e| {
                    let (path, _) = path_and_query(&e.sent.url);
                    shape::of_step(&e.step, &e.sent.method, &path, &e.received)
                })
                .collect(),
            findings: {
                let mut f: Vec<FindingShape> = o
                    .findings
                    .iter()
                    .map(|f| FindingShape {
                        rule: f.rule.clone(),
                        level: f.level.name().into(),
                    })
                    .collect();
                f.sort();
                f.dedup();
                f
            },
        };
        let stem = self.stem("cases", &o.test);
        let entry = Entry {
            test: o.test.clone(),
            cassette: format!("{stem}.cassette.json"),
            shape: Some(format!("{stem}.shape.json")),
        };
        let cassette_text = masker.last_pass(&pretty(&cassette));
        let shape_text = masker.last_pass(&pretty(&shape));
        self.cases.push((entry, cassette_text, shape_text));
    }

    /// Records a fixture's exchanges (once per run, whichever case ran it first).
    pub fn fixture(&mut self, tag: &str, recorded: Recorded) {
        let masker = self.base.with_tokens(&recorded.sensitive);
        let cassette = cassette_of(tag, &recorded.exchanges, &masker);
        let stem = self.stem("fixtures", tag.trim_start_matches("fixture:"));
        let entry = Entry {
            test: tag.to_string(),
            cassette: format!("{stem}.cassette.json"),
            shape: None,
        };
        self.fixtures
            .push((entry, masker.last_pass(&pretty(&cassette))));
    }

    /// A file name stem under `folder` for `test`, unique without regard to case.
    fn stem(&mut self, folder: &str, test: &str) -> String {
        let (suite, slug) = test.split_once("::").unwrap_or(("", test));
        let mut base = folder.to_string();
        for part in suite.split('/').filter(|p| !p.is_empty()) {
            base.push('/');
            base.push_str(&clean(part));
        }
        base.push('/');
        base.push_str(&clean(slug));
        let mut stem = base.clone();
        let mut n = 2;
        while !self.taken.insert(stem.to_lowercase()) {
            stem = format!("{base}-{n}");
            n += 1;
        }
        stem
    }

    /// Writes the folder: every file into a fresh folder beside `dir`, then renamed over it,
    /// so a reader never sees half a recording. An earlier recording there loses only the
    /// files its index lists that are names this build writes, reached without a link; what
    /// it keeps is said in [`Written::kept`].
    pub fn write(mut self, target: &str, started_ms: u128) -> io::Result<Written> {
        self.cases.sort_by(|a, b| a.0.test.cmp(&b.0.test));
        self.fixtures.sort_by(|a, b| a.0.test.cmp(&b.0.test));
        let index = Index {
            format: cassette::FORMAT,
            tool: "tokenconf".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            target: target.to_string(),
            recorded: crate::report::summary::rfc3339(started_ms),
            origins: self.origins.clone(),
            mock_profile: self.mock_profile.clone(),
            capabilities: self.capabilities.clone(),
            cases: self.cases.iter().map(|(e, _, _)| e.clone()).collect(),
            fixtures: self.fixtures.iter().map(|(e, _)| e.clone()).collect(),
        };
        let parent = parent_of(&self.dir);
        std::fs::create_dir_all(&parent)?;
        let tmp = tempfile::Builder::new()
            .prefix(".tokenconf-recording-")
            .tempdir_in(&parent)?;
        let put = |rel: &str, text: &str| -> io::Result<()> {
            let path = tmp.path().join(rel);
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder)?;
            }
            std::fs::write(path, text)
        };
        for (entry, cassette, shape) in &self.cases {
            put(&entry.cassette, cassette)?;
            if let Some(file) = &entry.shape {
                put(file, shape)?;
            }
        }
        for (entry, cassette) in &self.fixtures {
            put(&entry.cassette, cassette)?;
        }
        put(cassette::INDEX, &self.base.last_pass(&pretty(&index)))?;
        let old = if self.dir.exists() {
            let old = parent.join(format!(".tokenconf-old-{}", fastrand::u64(..)));
            std::fs::rename(&self.dir, &old)?;
            Some(old)
        } else {
            None
        };
        let made = tmp.keep();
        if let Err(e) = std::fs::rename(&made, &self.dir) {
            if let Some(old) = &old {
                let _ = std::fs::rename(old, &self.dir);
            }
            return Err(e);
        }
        let kept = match old {
            Some(old) => remove_recording(&old),
            None => Vec::new(),
        };
        Ok(Written {
            index: self.dir.join(cassette::INDEX),
            kept,
        })
    }
}

/// What [`Recorder::write`] did.
#[derive(Debug)]
pub struct Written {
    /// The new recording's index file.
    pub index: PathBuf,
    /// What the earlier recording kept, one line each for a person (escaped): names its index
    /// listed that this build does not write or that pass through a link, and the folder that
    /// still holds them or other files.
    pub kept: Vec<String>,
}

/// Removes the files an earlier recording's index lists, then its folders if empty: never a
/// recursive delete of what a user may have put there. Only names the recorder writes are
/// removed, each inside `dir` and reached through real folders, never a link: an index is text
/// anyone may have edited (`../`, an absolute path, a linked folder). Returns what it kept.
fn remove_recording(dir: &Path) -> Vec<String> {
    let mut kept = Vec::new();
    let index = load_index(dir);
    if let Ok(index) = &index {
        let names = index
            .cases
            .iter()
            .chain(&index.fixtures)
            .flat_map(|e| std::iter::once(e.cassette.as_str()).chain(e.shape.as_deref()));
        let mut refused = Vec::new();
        let mut removed = HashSet::new();
        for rel in names {
            if removed.contains(rel) {
                continue;
            }
            if is_recorder_name(rel) && remove_plain_file(dir, rel) {
                removed.insert(rel);
            } else {
                refused.push(rel);
            }
        }
        if !refused.is_empty() {
            kept.push(format!(
                "the earlier recording listed {} file(s) that are not names tokenconf writes there \
                 or pass through a link, left alone: {}",
                refused.len(),
                shown_names(&refused)
            ));
        }
    }
    remove_plain_file(dir, cassette::INDEX);
    remove_empty_dirs(dir);
    if std::fs::symlink_metadata(dir).is_ok() {
        kept.push(format!(
            "the earlier recording's other files are kept in {}",
            escape_control(&dir.display().to_string())
        ));
    }
    if let Err(e) = index {
        kept.push(format!("the earlier recording's index was not read: {e}"));
    }
    kept
}

/// Up to five names, quoted and escaped.
fn shown_names(names: &[&str]) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(5)
        .map(|n| format!("{:?}", crate::redact::shorten(n, 120)))
        .collect();
    if names.len() > 5 {
        shown.push(format!("and {} more", names.len() - 5));
    }
    shown.join(", ")
}

/// Whether `rel` is a name this build writes in a recording: `cases/…/<stem>.cassette.json`,
/// `cases/…/<stem>.shape.json` or `fixtures/…/<stem>.cassette.json`, every folder and stem as
/// [`Recorder::stem`] makes them (so no `..`, no absolute path, no other file).
fn is_recorder_name(rel: &str) -> bool {
    let mut parts: Vec<&str> = rel.split('/').collect();
    let Some(file) = parts.pop() else {
        return false;
    };
    let stem = match parts.first().copied() {
        Some("cases") => file
            .strip_suffix(".cassette.json")
            .or_else(|| file.strip_suffix(".shape.json")),
        Some("fixtures") => file.strip_suffix(".cassette.json"),
        _ => None,
    };
    let Some(stem) = stem else {
        return false;
    };
    parts[1..]
        .iter()
        .chain(std::iter::once(&stem))
        .all(|p| is_clean(p))
}

/// A folder or stem as [`clean`] makes it (a stem may end in `-N` when names collide).
fn is_clean(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 120
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Removes `dir/rel` when each folder on the way is a real folder and the file a regular file:
/// never through a link. False when something on the way is not plain; true when it is gone
/// (or was never there).
fn remove_plain_file(dir: &Path, rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut at = dir.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(meta) => meta,
            Err(e) => return e.kind() == io::ErrorKind::NotFound,
        };
        let last = i + 1 == parts.len();
        let plain = if last {
            meta.file_type().is_file()
        } else {
            meta.file_type().is_dir()
        };
        if !plain {
            return false;
        }
    }
    std::fs::remove_file(&at).is_ok()
}

fn remove_empty_dirs(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn clean(part: &str) -> String {
    let cleaned: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// The path and the sorted query parameter names of a URL.
pub fn path_and_query(url: &str) -> (String, Vec<String>) {
    match url::Url::parse(url) {
        Ok(u) => {
            let mut keys: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
            keys.sort();
            keys.dedup();
            (u.path().to_string(), keys)
        }
        Err(_) => (String::new(), Vec::new()),
    }
}

fn cassette_of(test: &str, exchanges: &[Exchange], masker: &Masker) -> Cassette {
    Cassette {
        format: cassette::FORMAT,
        test: test.to_string(),
        steps: exchanges
            .iter()
            .map(|e| Step {
                step: e.step.clone(),
                request: request_shape(e),
                response: response_of(e, masker),
            })
            .collect(),
    }
}

fn request_shape(e: &Exchange) -> RequestShape {
    let (path, query) = path_and_query(&e.sent.url);
    let body = if e.sent.json.is_some() {
        "json"
    } else if !e.sent.form.is_empty() {
        "form"
    } else if e.sent.headers.iter().any(|(h, _)| h == "content-type") {
        "raw"
    } else {
        "none"
    };
    let mut form: Vec<String> = e.sent.form.iter().map(|(k, _)| k.clone()).collect();
    form.sort();
    form.dedup();
    let values = e
        .sent
        .form
        .iter()
        .filter(|(k, _)| cassette::ENUM_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), crate::redact::shorten(v, 200)))
        .collect();
    RequestShape {
        method: e.sent.method.clone(),
        path,
        query,
        headers: e.sent.header_names(),
        body: body.into(),
        form,
        json: e.sent.json.as_ref().map(cassette::json_shape),
        values,
    }
}

fn response_of(e: &Exchange, masker: &Masker) -> Response {
    let r = &e.received;
    let headers = r
        .headers
        .iter()
        .map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            let v = if crate::redact::is_sensitive_key(&lower) {
                masker.opaque(v)
            } else {
                masker.text(v).into_owned()
            };
            (lower, v)
        })
        .collect();
    let (json, text) = match &r.json {
        Some(v) => (Some(masker.json(v)), None),
        None if r.body.is_empty() => (None, None),
        None => (
            None,
            Some(
                masker
                    .text(&crate::redact::decode_text(&r.body))
                    .into_owned(),
            ),
        ),
    };
    Response {
        status: r.status,
        headers,
        json,
        text,
    }
}

pub use crate::cassette::{bad_file, file_in, load_cassette, load_index, read_json};

/// A shape file, checked.
pub fn load_shape(dir: &Path, rel: &str) -> Result<CaseShape, ConfigError> {
    let path = file_in(dir, rel)?;
    let s: CaseShape = read_json(&path)?;
    if s.format != cassette::FORMAT {
        return Err(bad_file(&path, format!("shape format {}", s.format)));
    }
    Ok(s)
}
