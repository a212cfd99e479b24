//! What users read, against committed files in tests/golden/: `[..]` stands for what varies
//! (times, paths); `SNAPSHOTS=overwrite cargo test --test golden` rewrites them after a change.

use std::path::Path;

use snapbox::cmd::Command;

fn tokenconf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tokenconf"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
}

#[test]
fn help() {
    tokenconf()
        .arg("--help")
        .assert()
        .code(0)
        .stdout_eq(snapbox::file!["golden/help.txt"]);
    tokenconf()
        .args(["run", "--help"])
        .assert()
        .code(0)
        .stdout_eq(snapbox::file!["golden/run-help.txt"]);
}

#[test]
fn a_failing_case_on_the_console() {
    tokenconf()
        .args([
            "run",
            "tests/fixtures/golden/failing.yaml",
            "--jobs",
            "1",
            "--report-dir",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/golden-failing"),
        ])
        .assert()
        .code(1)
        .stdout_eq(snapbox::file!["golden/failing.stdout"]);
}

#[test]
fn a_load_error() {
    tokenconf()
        .args(["validate", "tests/fixtures/broken/unknown-key.yaml"])
        .assert()
        .code(2)
        .stdout_eq("")
        .stderr_eq(snapbox::file!["golden/unknown-key.stderr"]);
}
