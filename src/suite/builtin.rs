//! The suites, specs and vendors' known deviations shipped with tokenconf, in the binary: an
//! installed `tokenconf run` needs no clone. Release builds (and `cargo install`) embed them; a
//! debug build (`cargo run`, `cargo test`) reads the checkout's `suites/` and `specs/` as they
//! are now, so editing a suite needs no rebuild.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

#[derive(rust_embed::Embed)]
#[folder = "suites/"]
struct Suites;

#[derive(rust_embed::Embed)]
#[folder = "specs/"]
struct Specs;

/// The folder names a built-in file's path starts with, as in the checkout and in an export.
pub const SUITES_DIR: &str = "suites";
pub const SPECS_DIR: &str = "specs";

/// A built-in suite: its path as shipped (`suites/talkdesk/token.yaml`), its default name
/// (`talkdesk/token`, as a folder run of `suites/` names it) and its text.
pub struct BuiltInSuite {
    pub file: PathBuf,
    pub name: String,
    pub text: Cow<'static, [u8]>,
}

/// Every built-in suite, in the order a run of the `suites/` folder loads them (sorted by path).
pub fn suites() -> Vec<BuiltInSuite> {
    let mut paths: Vec<Cow<'static, str>> = Suites::iter().filter(|p| is_yaml(p)).collect();
    paths.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    paths
        .into_iter()
        .filter_map(|path| {
            let text = Suites::get(&path)?.data;
            let name = path
                .strip_suffix(".yaml")
                .or_else(|| path.strip_suffix(".yml"))
                .unwrap_or(&path)
                .to_string();
            Some(BuiltInSuite {
                file: Path::new(SUITES_DIR).join(path.as_ref()),
                name,
                text,
            })
        })
        .collect()
}

/// A built-in suite's text by its path as shipped (`suites/talkdesk/token.yaml`).
pub fn suite_text(file: &Path) -> Option<Cow<'static, [u8]>> {
    let name = file.strip_prefix(SUITES_DIR).ok()?.to_str()?;
    Suites::get(&name.replace('\\', "/")).map(|f| f.data)
}

/// A built-in spec by its name under `specs/` (`talkdesk/token-response.schema.json`).
pub fn spec(name: &str) -> Option<Cow<'static, [u8]>> {
    Specs::get(name).map(|f| f.data)
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Every built-in file as `(path under dir, bytes)`: suites under `suites/`, specs (with the
/// known deviations and the editor schemas) under `specs/`.
fn files() -> Vec<(PathBuf, Cow<'static, [u8]>)> {
    let suites = Suites::iter().filter_map(|p| {
        let data = Suites::get(&p)?.data;
        Some((Path::new(SUITES_DIR).join(p.as_ref()), data))
    });
    let specs = Specs::iter().filter_map(|p| {
        let data = Specs::get(&p)?.data;
        Some((Path::new(SPECS_DIR).join(p.as_ref()), data))
    });
    let mut all: Vec<_> = suites.chain(specs).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Writes every built-in file under `dir` (`dir/suites/…`, `dir/specs/…`) for a user to edit
/// and run as a folder (`tokenconf run DIR`). Nothing is overwritten: if any file is already
/// there, nothing is written and the error names it.
pub fn export(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let files = files();
    for (rel, _) in &files {
        let path = dir.join(rel);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(ConfigError::File {
                path,
                message: "already exists; `suites export` never overwrites a file (name a new or empty folder)"
                    .into(),
            });
        }
    }
    let mut written = Vec::with_capacity(files.len());
    for (rel, data) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ConfigError::Write {
                file: parent.to_path_buf(),
                source,
            })?;
        }
        // create_new: a file that appeared since the check above is still not overwritten.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| ConfigError::Write {
                file: path.clone(),
                source,
            })?;
        std::io::Write::write_all(&mut file, &data).map_err(|source| ConfigError::Write {
            file: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_and_spec_of_the_checkout_is_built_in() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let on_disk = |dir: &str| -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = walkdir::WalkDir::new(root.join(dir))
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(|e| e.path().strip_prefix(root).unwrap().to_path_buf())
                .collect();
            v.sort();
            v
        };
        let mut expected = on_disk(SUITES_DIR);
        expected.extend(on_disk(SPECS_DIR));
        expected.sort();
        let built_in: Vec<PathBuf> = files().into_iter().map(|(p, _)| p).collect();
        assert_eq!(built_in, expected);
        let suites = suites();
        assert!(suites.iter().any(|s| s.name == "talkdesk/token"));
        assert!(spec("salesforce/known-deviations.yaml").is_some());
        assert!(spec("talkdesk/token-response.schema.json").is_some());
        assert!(spec("nope.json").is_none());
    }
}
