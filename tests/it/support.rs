//! What the test modules share.

use std::path::PathBuf;

/// A scratch root per test module under cargo's temporary folder, so modules that pick the same
/// folder names never share one.
pub fn tmp(module: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(module.replace("::", "-"));
    std::fs::create_dir_all(&dir).expect("cargo's temporary folder is writable");
    dir
}
