//! What the test modules share.

use std::path::{Path, PathBuf};

pub const BIN: &str = env!("CARGO_BIN_EXE_tokenconf");

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch root per test module under cargo's temporary folder, so modules that pick the same
/// folder names never share one.
pub fn tmp(module: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(module.replace("::", "-"));
    std::fs::create_dir_all(&dir).expect("cargo's temporary folder is writable");
    dir
}

/// A fresh folder `name` under the module's scratch root, removed and recreated per test.
pub fn scratch(module: &str, name: &str) -> PathBuf {
    let dir = tmp(module).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch folder can be made");
    dir
}
