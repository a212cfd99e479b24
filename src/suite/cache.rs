//! The parse cache: each suite file's parsed model, kept under the user's cache folder and
//! keyed by the file's bytes, so an unchanged file is not parsed again. YAML parsing is most of
//! the time of `list`, `validate` and a run's start (10,000 cases: ~0.3 s parsing, ~25 ms
//! reading the cached model back). Nothing depends on it: a missing, unreadable or damaged
//! entry is a miss, and a folder that cannot be written is skipped without a word.
//!
//! Where: `$TOKENCONF_CACHE` if set (`off` turns the cache off), else `tokenconf` under the
//! platform's cache folder (`~/.cache` on Linux). One folder per build of tokenconf, since the
//! model's layout is the build's; the newest few are kept.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::model::SuiteFile;
use super::yaml;

/// Build folders kept besides the current one (a release and a test build alternate in a checkout).
const KEEP_BUILDS: usize = 3;
/// Entries in a build's folder before it is emptied: every edit of a suite adds one.
const MAX_ENTRIES: usize = 10_000;

/// The cache of one process, or none.
#[derive(Debug, Clone)]
pub struct ParseCache {
    dir: Option<PathBuf>,
}

impl ParseCache {
    /// The cache the environment names (see the module's doc).
    pub fn from_env() -> ParseCache {
        let root = match std::env::var_os("TOKENCONF_CACHE") {
            Some(v) if v == "off" => None,
            Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
            _ => dirs::cache_dir().map(|d| d.join("tokenconf")),
        };
        ParseCache {
            dir: root.and_then(|root| Some(root.join(build_id()?))),
        }
    }

    /// A cache kept in `dir` (used as given, no build folder), or none.
    #[cfg(test)]
    pub fn at(dir: Option<PathBuf>) -> ParseCache {
        ParseCache { dir }
    }

    /// The model cached for a file holding `text`.
    pub fn get(&self, text: &str) -> Option<SuiteFile> {
        let path = self.entry(text)?;
        if !private(path.parent()?) {
            return None;
        }
        let bytes = fs::read(path).ok()?;
        let (stored, model) = bytes.split_at_checked(TEXT_LEN)?;
        // The key is a 128-bit hash; the text's own length guards a collision too.
        if stored != (text.len() as u64).to_le_bytes() {
            return None;
        }
        yaml::reading_cache(|| serde_json::from_slice(model).ok())
    }

    /// Keeps `model`, parsed from `text`; best effort.
    pub fn put(&self, text: &str, model: &SuiteFile) {
        let (Some(dir), Some(path)) = (self.dir.as_deref(), self.entry(text)) else {
            return;
        };
        let _ = store(dir, &path, text.len(), model);
    }

    fn entry(&self, text: &str) -> Option<PathBuf> {
        let key = xxhash_rust::xxh3::xxh3_128(text.as_bytes());
        Some(self.dir.as_ref()?.join(format!("{key:032x}.json")))
    }
}

const TEXT_LEN: usize = 8;

fn store(dir: &Path, path: &Path, text_len: usize, model: &SuiteFile) -> std::io::Result<()> {
    if !dir.is_dir() {
        create_private_dir(dir)?;
        if let Some(root) = dir.parent() {
            prune_builds(root, dir);
        }
    }
    if !private(dir) {
        return Ok(());
    }
    if fs::read_dir(dir)?.take(MAX_ENTRIES + 1).count() > MAX_ENTRIES {
        for entry in fs::read_dir(dir)?.flatten() {
            let _ = fs::remove_file(entry.path());
        }
    }
    // Written aside and renamed into place: a reader sees a whole entry or none. The temporary
    // file is readable by its owner alone, as is the folder: suites are the user's files.
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(&(text_len as u64).to_le_bytes())?;
    serde_json::to_writer(std::io::BufWriter::new(&mut file), model)?;
    file.persist(path)?;
    Ok(())
}

/// Whether `dir` is ours and closed to everyone else: a model read from a folder others can write
/// could be anything (a cache folder named in a shared place, made there before us).
fn private(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::symlink_metadata(dir).is_ok_and(|m| {
            m.is_dir() && m.uid() == rustix::process::geteuid().as_raw() && m.mode() & 0o077 == 0
        })
    }
    #[cfg(not(unix))]
    {
        dir.is_dir()
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Removes the folders of older builds beyond the newest [`KEEP_BUILDS`].
fn prune_builds(root: &Path, current: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut builds: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(BUILD_PREFIX))
        .filter(|e| e.path() != current)
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    builds.sort_by_key(|b| std::cmp::Reverse(b.0));
    for (_, old) in builds.into_iter().skip(KEEP_BUILDS) {
        let _ = fs::remove_dir_all(old);
    }
}

const BUILD_PREFIX: &str = "model-";

/// This build of tokenconf: its version, and its executable's path, size and modification time
/// (any rebuild changes them, and with them perhaps the model's layout).
fn build_id() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let meta = fs::metadata(&exe).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let id = format!(
        "{}\0{}\0{}\0{}",
        env!("CARGO_PKG_VERSION"),
        exe.display(),
        meta.len(),
        modified.as_nanos()
    );
    Some(format!(
        "{BUILD_PREFIX}{:016x}",
        xxhash_rust::xxh3::xxh3_64(id.as_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SuiteFile {
        yaml::parse(text, Path::new("t.yaml")).expect("parses")
    }

    /// Every suite the project ships reads back from the cache as the parser made it, places
    /// included.
    #[test]
    fn every_shipped_suite_reads_back_from_the_cache_as_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ParseCache::at(Some(dir.path().join("build")));
        let mut seen = 0;
        for entry in walkdir::WalkDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/suites")) {
            let entry = entry.unwrap();
            if entry.path().extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = fs::read_to_string(entry.path()).unwrap();
            let parsed = parse(&text);
            assert!(cache.get(&text).is_none(), "{}", entry.path().display());
            cache.put(&text, &parsed);
            let cached = cache.get(&text).expect("a hit after a put");
            assert_eq!(
                format!("{cached:?}"),
                format!("{parsed:?}"),
                "{}",
                entry.path().display()
            );
            seen += 1;
        }
        assert!(seen >= 10, "only {seen} suites found");
    }

    #[test]
    fn every_shape_of_a_predicate_status_scalar_and_capture_reads_back() {
        let text = r#"
api: oauth2
vars: { n: 1, b: true, f: 1.5, s: "x" }
cases:
  - name: shapes
    request: { path: /t, form: { a: 1, b: "two" } }
    expect:
      status: [200, 4xx]
      headers: { a: absent, b: exists, c: "text", d: { contains: x, matches: "^y" } }
      json:
        $.a: 1
        $.b: -2
        $.c: 2.5
        $.d: true
        $.e: null
        $.f: { equals: { k: [1, "v"] }, one_of: [1, "a", null], min: 1, max: 2.25, type: integer }
        $.g: { exists: false, absent: true, not_equals: "absent" }
    capture:
      plain: $.a
      full: { header: location, regex: "code=([^&]+)" }
      json: { json: $.b }
  - name: one status
    request: { path: /t }
    expect: { status: 200 }
  - name: class
    request: { path: /t }
    expect: { status: 5xx }
"#;
        let dir = tempfile::tempdir().unwrap();
        let cache = ParseCache::at(Some(dir.path().join("build")));
        let parsed = parse(text);
        cache.put(text, &parsed);
        let cached = cache.get(text).expect("a hit");
        assert_eq!(format!("{cached:?}"), format!("{parsed:?}"));
    }

    #[test]
    fn a_damaged_or_foreign_entry_is_a_miss() {
        let text = "api: oauth2\ncases: []\n";
        let dir = tempfile::tempdir().unwrap();
        let cache = ParseCache::at(Some(dir.path().join("build")));
        cache.put(text, &parse(text));
        let entry = cache.entry(text).unwrap();
        let whole = fs::read(&entry).unwrap();
        fs::write(&entry, &whole[..whole.len() - 3]).unwrap();
        assert!(cache.get(text).is_none(), "a cut entry");
        let mut other_len = whole.clone();
        other_len[0] ^= 1;
        fs::write(&entry, &other_len).unwrap();
        assert!(
            cache.get(text).is_none(),
            "an entry for a text of another length"
        );
        fs::write(&entry, &whole).unwrap();
        assert!(cache.get(text).is_some());
    }

    #[test]
    fn no_folder_means_no_cache_and_no_error() {
        let text = "api: oauth2\ncases: []\n";
        let cache = ParseCache::at(None);
        cache.put(text, &parse(text));
        assert!(cache.get(text).is_none());
        let file = tempfile::NamedTempFile::new().unwrap();
        // A folder that cannot be made (a file is in the way): skipped.
        let cache = ParseCache::at(Some(file.path().join("sub")));
        cache.put(text, &parse(text));
        assert!(cache.get(text).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn entries_and_their_folder_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let text = "api: oauth2\ncases: []\n";
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("model-x");
        let cache = ParseCache::at(Some(dir.clone()));
        cache.put(text, &parse(text));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&cache.entry(text).unwrap()), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_others_can_write_is_not_read_or_written() {
        use std::os::unix::fs::PermissionsExt;
        let text = "api: oauth2\ncases: []\n";
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("model-x");
        let cache = ParseCache::at(Some(dir.clone()));
        cache.put(text, &parse(text));
        assert!(cache.get(text).is_some());
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(
            cache.get(text).is_none(),
            "read from a folder anyone can write"
        );
        let other = "api: oauth2\ncases: [] # other\n";
        cache.put(other, &parse(other));
        assert!(!cache.entry(other).unwrap().exists(), "written to it");
    }

    #[test]
    fn only_the_newest_builds_are_kept() {
        let root = tempfile::tempdir().unwrap();
        for i in 0..6 {
            fs::create_dir(root.path().join(format!("{BUILD_PREFIX}{i}"))).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
        fs::create_dir(root.path().join("unrelated")).unwrap();
        let text = "api: oauth2\ncases: []\n";
        let cache = ParseCache::at(Some(root.path().join(format!("{BUILD_PREFIX}new"))));
        cache.put(text, &parse(text));
        let mut left: Vec<String> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["model-3", "model-4", "model-5", "model-new", "unrelated"]
        );
    }
}
