//! Where report files go, and writing them so that nothing planted in the report folder can
//! redirect a write.
//!
//! - Every name comes from the whole set of cases selected before anything is sent
//!   ([`ReportPlan`]; listed and worked out when the first diff is written): each part fits the
//!   filesystem's limit, and no two cases (of one suite or of two suites whose names clean up
//!   alike) share a diff file.
//! - Each file is first written to a temporary file created exclusively (`O_CREAT|O_EXCL`, so a
//!   link planted at its name makes the open fail instead of being followed) under a random
//!   name, then renamed over the report name (a link there is replaced, never written through).
//! - Folders under the report folder are never followed when they are links, and `diffs/` loses
//!   only the files its manifest says tokenconf wrote there: never a recursive delete.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::outcome::RunReport;

/// The longest file name part (ext4, XFS, btrfs, APFS and NTFS all stop at 255 bytes).
pub const NAME_MAX: usize = 255;

/// The folder of diff files, under the report folder.
pub const DIFFS: &str = "diffs";

/// In `diffs/`: the files tokenconf wrote there, one relative path a line. Only these are ever
/// removed; a `diffs/` folder without it is left alone.
pub const MANIFEST: &str = ".tokenconf-written";

/// The report files at the top of the report folder.
pub const TOP_FILES: [&str; 3] = ["junit.xml", "summary.json", "index.html"];

/// Temporary files start with this (then a random part): short, hidden, never a report name.
const TEMP_PREFIX: &str = ".tokenconf-";

/// A report that could not be written.
#[derive(Debug)]
pub struct ReportError {
    pub path: PathBuf,
    pub error: io::Error,
    /// The previous run's copies of the files this run could not write were removed, so none
    /// can pass for this run's.
    pub stale_removed: bool,
    /// Report files this run wrote completely, relative to the report folder (kept).
    pub written: Vec<String>,
    /// Report files this run could not write, relative to the report folder.
    pub not_written: Vec<String>,
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)?;
        if !self.not_written.is_empty() {
            write!(f, "; not written: {}", self.not_written.join(", "))?;
            if self.stale_removed {
                f.write_str(" (the previous run's copies removed)")?;
            }
        }
        if !self.written.is_empty() {
            write!(f, "; written completely: {}", self.written.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for ReportError {}

impl From<ReportError> for io::Error {
    fn from(e: ReportError) -> io::Error {
        io::Error::new(e.error.kind(), e)
    }
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> ReportError + '_ {
    move |error| ReportError {
        path: path.to_path_buf(),
        error,
        stale_removed: false,
        written: Vec::new(),
        not_written: Vec::new(),
    }
}

/// The report folder and the cases that may fail, known at load; their diff files are named
/// from that whole set when the first is needed.
#[derive(Debug, Clone)]
pub struct ReportPlan {
    dir: PathBuf,
    /// Each case's `(suite, test name)`.
    cases: Cases,
    /// Test name (`<suite>::<case slug>`) → `diffs/…/<name>.diff`, `/`-separated; named when
    /// first asked for (a run whose cases all pass never is: 3% of a 10,000-case run's CPU).
    diffs: std::sync::OnceLock<HashMap<String, String>>,
    /// `file` and `line` on each JUnit `<testcase>` (outside Jenkins' schema; opt-in).
    junit_file_attributes: bool,
}

/// A plan's cases: listed, or a way to list them.
#[derive(Clone)]
enum Cases {
    Listed(Vec<(String, String)>),
    Later(std::sync::Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>),
}

impl fmt::Debug for Cases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cases::Listed(cases) => f.debug_tuple("Listed").field(cases).finish(),
            Cases::Later(_) => f.write_str("Later"),
        }
    }
}

impl ReportPlan {
    /// Names for the diff of each `(suite, test name)`: the same set of cases always gets the
    /// same names, whatever order they come in.
    pub fn new<S, T>(dir: &Path, cases: impl IntoIterator<Item = (S, T)>) -> ReportPlan
    where
        S: Into<String>,
        T: Into<String>,
    {
        ReportPlan {
            dir: dir.to_path_buf(),
            cases: Cases::Listed(
                cases
                    .into_iter()
                    .map(|(s, t)| (s.into(), t.into()))
                    .collect(),
            ),
            diffs: std::sync::OnceLock::new(),
            junit_file_attributes: false,
        }
    }

    /// As [`ReportPlan::new`], with the cases listed by `cases` only when the first diff is
    /// named: listing 10,000 cases before the first request held up the run on one core.
    pub fn listed_later(
        dir: &Path,
        cases: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    ) -> ReportPlan {
        ReportPlan {
            dir: dir.to_path_buf(),
            cases: Cases::Later(std::sync::Arc::new(cases)),
            diffs: std::sync::OnceLock::new(),
            junit_file_attributes: false,
        }
    }

    fn diffs(&self) -> &HashMap<String, String> {
        self.diffs.get_or_init(|| {
            let later;
            let listed = match &self.cases {
                Cases::Listed(cases) => cases,
                Cases::Later(list) => {
                    later = list();
                    &later
                }
            };
            let mut cases: Vec<&(String, String)> = listed.iter().collect();
            cases.sort();
            cases.dedup();
            let mut taken = HashSet::new();
            let mut diffs = HashMap::new();
            for (suite, test) in cases {
                if let std::collections::hash_map::Entry::Vacant(slot) = diffs.entry(test.clone()) {
                    let path = unique_diff_path(suite, slot.key(), &mut taken);
                    slot.insert(path);
                }
            }
            diffs
        })
    }

    /// This plan, with `file` and `line` on each JUnit `<testcase>` when `on`.
    pub fn with_junit_file_attributes(mut self, on: bool) -> ReportPlan {
        self.junit_file_attributes = on;
        self
    }

    pub fn junit_file_attributes(&self) -> bool {
        self.junit_file_attributes
    }

    /// The plan for the cases of a finished run.
    pub fn for_report(dir: &Path, report: &RunReport) -> ReportPlan {
        ReportPlan::new(
            dir,
            report
                .outcomes
                .iter()
                .map(|o| (o.suite.as_str(), o.test.as_str())),
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The diff file planned for a test, relative to the report folder.
    pub fn diff_path(&self, test: &str) -> Option<&str> {
        self.diffs().get(test).map(String::as_str)
    }

    /// Before anything is sent: the report folder exists (it is created), a file can be
    /// written in it, and no folder stands where a report file goes, nor a file where `diffs/`
    /// goes. An error here means exit 2 with nothing sent.
    pub fn check(&self) -> Result<(), ReportError> {
        std::fs::create_dir_all(&self.dir).map_err(at(&self.dir))?;
        for name in TOP_FILES {
            let path = self.dir.join(name);
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                return Err(at(&path)(in_the_way("a folder")));
            }
        }
        let diffs = self.dir.join(DIFFS);
        if let Ok(m) = std::fs::symlink_metadata(&diffs) {
            if !m.is_dir() && !m.file_type().is_symlink() {
                return Err(at(&diffs)(in_the_way("a file")));
            }
        }
        let probe = temp_file(&self.dir).map_err(at(&self.dir))?;
        probe.close().map_err(at(&self.dir))
    }

    /// The diff file of each outcome that has one (a failed case with a response), in order:
    /// the planned name, or for a case the plan did not know, a name no other case has.
    pub fn diff_files(&self, report: &RunReport) -> Vec<Option<String>> {
        let mut reserved: Option<HashSet<String>> = None;
        let mut used: HashSet<String> = HashSet::new();
        report
            .outcomes
            .iter()
            .map(|o| {
                if !super::diff::has_diff(o) {
                    return None;
                }
                let path = match self.diffs().get(&o.test) {
                    Some(p) if used.insert(p.to_lowercase()) => p.clone(),
                    _ => {
                        let reserved = reserved.get_or_insert_with(|| {
                            self.diffs().values().map(|p| p.to_lowercase()).collect()
                        });
                        let p = unique_diff_path(&o.suite, &o.test, reserved);
                        used.insert(p.to_lowercase());
                        p
                    }
                };
                Some(path)
            })
            .collect()
    }
}

fn in_the_way(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{what} is in the way of a report"),
    )
}

/// `diffs/<suite parts>/<case slug>.diff`, made unique against `taken` (compared without
/// case, for case-insensitive filesystems), which it joins.
fn unique_diff_path(suite: &str, test: &str, taken: &mut HashSet<String>) -> String {
    let slug = test
        .strip_prefix(suite)
        .and_then(|rest| rest.strip_prefix("::"))
        .or_else(|| test.split_once("::").map(|(_, c)| c))
        .unwrap_or(test);
    let mut folder = String::from(DIFFS);
    for part in suite.split('/') {
        folder.push('/');
        folder.push_str(&folder_name(part));
    }
    let stem = clean(slug);
    let hash = short_hash(&format!("{suite}\n{test}"));
    let mut attempt = 0u32;
    loop {
        let extra = match attempt {
            0 => None,
            1 => Some(hash.clone()),
            n => Some(format!("{hash}-{n}")),
        };
        let path = format!("{folder}/{}", file_name(&stem, extra.as_deref(), &hash));
        if taken.insert(path.to_lowercase()) {
            return path;
        }
        attempt += 1;
    }
}

/// `<stem>[-<extra>].diff`, cut to [`NAME_MAX`] bytes with the hash of the whole name kept, so
/// two long names that start alike stay apart.
fn file_name(stem: &str, extra: Option<&str>, hash: &str) -> String {
    let tail = match extra {
        Some(e) => format!("-{e}.diff"),
        None => ".diff".to_string(),
    };
    if stem.len() + tail.len() <= NAME_MAX {
        return format!("{stem}{tail}");
    }
    let tail = match extra {
        Some(_) => tail,
        None => format!("-{hash}{tail}"),
    };
    format!("{}{tail}", cut(stem, NAME_MAX - tail.len()))
}

/// A suite's name part as a folder name: cleaned, cut to [`NAME_MAX`], and never ending in
/// `.diff`, so no folder can take the name of a case's diff file.
fn folder_name(part: &str) -> String {
    let mut name = clean(part);
    if name.to_ascii_lowercase().ends_with(".diff") {
        name.push('_');
    }
    if name.len() > NAME_MAX {
        let tail = format!("-{}", short_hash(part));
        name = format!("{}{tail}", cut(&name, NAME_MAX - tail.len()));
    }
    name
}

/// A name part that cannot climb out of the report folder, hide (a leading dot) or read as an
/// option to a shell command (a leading dash).
fn clean(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    match cleaned.trim_matches('.') {
        "" => "_".to_string(),
        c if c.starts_with('-') => format!("_{c}"),
        c => c.to_string(),
    }
}

/// The longest start of `s` of at most `max` bytes that ends on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// 16 hex digits of XXH3: stable across versions and platforms.
fn short_hash(s: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(s.as_bytes()))
}

/// A name written by [`ReportPlan`]: relative, every part cleaned, ending in `.diff`. What a
/// manifest lists is removed only when it passes this, so an edited manifest cannot point
/// outside `diffs/`.
fn is_diff_name(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    rel.ends_with(".diff")
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= NAME_MAX
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// A temporary file in `dir`: created exclusively under a random name, readable as a plain
/// write would make it (the umask applies).
fn temp_file(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Writes `text` to `path` through a temporary file in the same folder and a rename: a reader
/// never sees half a report, and a link at `path` is replaced, not followed.
pub fn write_file(path: &Path, text: &str) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = temp_file(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.flush()?;
    tmp.persist(path).map(|_| ()).map_err(|e| e.error)
}

/// `root/rel` as a real folder, each part under `root` created if missing. A link at any part
/// is removed (the link, never what it points to) and a folder made in its place, so no
/// write can be led out of `root`; a file there is an error.
pub fn real_dir(root: &Path, rel: &str) -> io::Result<PathBuf> {
    let mut path = root.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::remove_file(&path)?;
                std::fs::create_dir(&path)?;
            }
            Ok(_) => return Err(in_the_way("a file")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&path)?,
            Err(e) => return Err(e),
        }
    }
    Ok(path)
}

/// Whether every part of `root/rel` but the last is a real folder (no link to follow).
fn under_real_dirs(root: &Path, rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut path = root.to_path_buf();
    parts[..parts.len().saturating_sub(1)].iter().all(|p| {
        path.push(p);
        std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir())
    })
}

/// The files the last run recorded in `diffs/`'s manifest; none when `diffs/` or the manifest
/// is a link or not there.
pub fn recorded_diffs(report_dir: &Path) -> Vec<String> {
    let diffs = report_dir.join(DIFFS);
    if !std::fs::symlink_metadata(&diffs).is_ok_and(|m| m.is_dir()) {
        return Vec::new();
    }
    let manifest = diffs.join(MANIFEST);
    if !std::fs::symlink_metadata(&manifest).is_ok_and(|m| m.is_file()) {
        return Vec::new();
    }
    let text = std::fs::read_to_string(&manifest).unwrap_or_default();
    let mut names: Vec<String> = text
        .lines()
        .filter(|l| is_diff_name(l))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Removes the listed diff files (links themselves, never their targets; nothing under a
/// linked folder) and then the folders this left empty. Returns the names it could not remove.
pub fn remove_diffs(report_dir: &Path, names: &[String]) -> Vec<String> {
    let diffs = report_dir.join(DIFFS);
    let mut kept = Vec::new();
    let mut folders: HashSet<String> = HashSet::new();
    for name in names {
        if !is_diff_name(name) || !under_real_dirs(&diffs, name) {
            continue;
        }
        let path = diffs.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => {
                if std::fs::remove_file(&path).is_err() {
                    kept.push(name.clone());
                }
            }
            Err(_) => {}
        }
        let mut rel = name.as_str();
        while let Some((parent, _)) = rel.rsplit_once('/') {
            folders.insert(parent.to_string());
            rel = parent;
        }
    }
    let mut folders: Vec<String> = folders.into_iter().collect();
    // Deepest first; `remove_dir` fails on a folder that still holds anything, which is kept.
    folders.sort_by_key(|f| std::cmp::Reverse(f.matches('/').count()));
    for folder in folders {
        if under_real_dirs(&diffs, &format!("{folder}/x")) {
            let _ = std::fs::remove_dir(diffs.join(&folder));
        }
    }
    kept
}

/// Records `names` as written by tokenconf in `diffs/` (a real folder by now).
pub fn write_manifest(report_dir: &Path, names: &[String]) -> io::Result<()> {
    let mut text = String::from(
        "# Written by tokenconf: the files below are removed at the start of its next write.\n",
    );
    for n in names {
        text.push_str(n);
        text.push('\n');
    }
    write_file(&report_dir.join(DIFFS).join(MANIFEST), &text)
}

/// After a failed write: the top report files and every recorded diff are removed, so CI
/// cannot read an older run's passing junit.xml as this run's. True when nothing of them is left.
/// Removes the previous run's copy of each report file in `names` (relative to the folder:
/// top files, or diffs), which this run could not write; `false` if one stays.
pub fn remove_unwritten(report_dir: &Path, names: &[String]) -> bool {
    let mut clean = true;
    // The diffs folder could not be made: whatever is in its way is not ours to remove.
    for name in names.iter().filter(|n| *n != DIFFS) {
        let path = report_dir.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if !m.is_dir() => clean &= std::fs::remove_file(&path).is_ok(),
            Ok(_) => clean = false,
            Err(_) => {}
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_filesystem_and_stay_apart() {
        let long = "a".repeat(300);
        let plan = ReportPlan::new(
            Path::new("r"),
            [
                ("s", format!("s::{long}")),
                ("s", format!("s::{long}b")),
                ("talk desk/token", "talk desk/token::x".to_string()),
                ("talk-desk/token", "talk-desk/token::x".to_string()),
                ("Talk-desk/token", "Talk-desk/token::x".to_string()),
            ],
        );
        let paths: Vec<&str> = plan.diffs().values().map(String::as_str).collect();
        let lowered: HashSet<String> = paths.iter().map(|p| p.to_lowercase()).collect();
        assert_eq!(lowered.len(), 5, "{paths:?}");
        for p in &paths {
            assert!(p.split('/').all(|part| part.len() <= NAME_MAX), "{p}");
            assert!(is_diff_name(p.strip_prefix("diffs/").unwrap()), "{p}");
        }
        let a = plan.diff_path(&format!("s::{long}")).unwrap();
        assert!(a.starts_with("diffs/s/aaaa"), "{a}");
        assert_eq!(a.len(), "diffs/s/".len() + NAME_MAX, "{a}");
        // The first in sorted order keeps the plain name; the others get their hash.
        assert_eq!(
            plan.diff_path("Talk-desk/token::x"),
            Some("diffs/Talk-desk/token/x.diff")
        );
        let other = plan.diff_path("talk-desk/token::x").unwrap();
        assert!(other.starts_with("diffs/talk-desk/token/x-"), "{other}");
    }

    #[test]
    fn the_same_cases_get_the_same_names_in_any_order() {
        let cases = [("a b", "a b::x"), ("a-b", "a-b::x"), ("c", "c::y")];
        let mut reversed = cases;
        reversed.reverse();
        let one = ReportPlan::new(Path::new("r"), cases);
        let two = ReportPlan::new(Path::new("r"), reversed);
        assert_eq!(one.diffs, two.diffs);
    }

    #[test]
    fn a_folder_never_takes_a_diff_file_name() {
        let plan = ReportPlan::new(Path::new("r"), [("a", "a::x"), ("a/x.diff", "a/x.diff::y")]);
        assert_eq!(plan.diff_path("a::x"), Some("diffs/a/x.diff"));
        assert_eq!(
            plan.diff_path("a/x.diff::y"),
            Some("diffs/a/x.diff_/y.diff")
        );
    }

    #[test]
    fn names_that_could_leave_the_folder_are_cleaned() {
        let plan = ReportPlan::new(Path::new("r"), [("../..", "../..::-rf"), ("/", "/::.x")]);
        assert_eq!(plan.diff_path("../..::-rf"), Some("diffs/_/_/_-rf.diff"));
        assert_eq!(plan.diff_path("/::.x"), Some("diffs/_/_/x.diff"));
        for bad in [
            "../x.diff",
            "/etc/x.diff",
            "a/../../x.diff",
            ".tokenconf-written",
            "a/b",
        ] {
            assert!(!is_diff_name(bad), "{bad}");
        }
    }
}
