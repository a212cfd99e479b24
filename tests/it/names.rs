//! Test names do not depend on the command line: a suite under a folder named `suites` is
//! named by its path below it however it is reached, suites of several folders load together,
//! and `--filter` takes the case's name as the reports show it.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{root, BIN};

const TOKEN_TEST: &str =
    "talkdesk/token::client-credentials-with-basic-auth-returns-a-bearer-token";

fn tokenconf(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn a_test_is_named_the_same_whatever_path_loads_it() {
    let suites = root().join("suites");
    let ways: [(&Path, &[&str]); 5] = [
        (root(), &["list", "suites"]),
        (root(), &["list", "suites/talkdesk"]),
        (root(), &["list", "suites/talkdesk/token.yaml"]),
        (&suites, &["list", ".", "--specs", "../specs"]),
        (
            &suites,
            &[
                "list",
                "../suites/oauth2/../talkdesk",
                "--specs",
                "../specs",
            ],
        ),
    ];
    for (cwd, args) in ways {
        let o = tokenconf(cwd, args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let names = stdout(&o);
        assert!(
            names.lines().any(|l| l == TOKEN_TEST),
            "{args:?} in {}: no {TOKEN_TEST} in\n{names}",
            cwd.display()
        );
    }
}

#[test]
fn suites_of_several_folders_load_together() {
    // Both have a `refresh` suite; talkdesk, salesforce and miaw each have `authorization-code`
    // or share others.
    let o = tokenconf(root(), &["list", "suites/talkdesk", "suites/oauth2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names = stdout(&o);
    assert!(names.contains("talkdesk/refresh::"), "{names}");
    assert!(names.contains("oauth2/refresh::"), "{names}");
    let o = tokenconf(
        root(),
        &[
            "list",
            "suites/talkdesk",
            "suites/salesforce",
            "suites/miaw",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names = stdout(&o);
    assert!(names.contains("talkdesk/authorization-code::"), "{names}");
    assert!(names.contains("salesforce/authorization-code::"), "{names}");
    // A folder and a file inside it: the file once.
    let o = tokenconf(
        root(),
        &["list", "suites/talkdesk", "suites/talkdesk/token.yaml"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).matches(TOKEN_TEST).count(), 1);

    // The Talkdesk example target takes both folders.
    let o = Command::new(BIN)
        .args([
            "validate",
            "suites/talkdesk",
            "suites/oauth2",
            "--targets",
            "examples/targets.yaml",
            "--target",
            "talkdesk-sandbox",
        ])
        .current_dir(root())
        .env("TALKDESK_ACCOUNT", "acme")
        .env("TALKDESK_CLIENT_ID", "names-client")
        .env("TALKDESK_CLIENT_SECRET", "names-secret-value")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn both_folders_run_together_against_the_mock() {
    let reports = crate::support::scratch(module_path!(), "both");
    let o = tokenconf(
        root(),
        &[
            "run",
            "suites/talkdesk",
            "suites/oauth2",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("test oauth2/refresh::"), "{out}");
    assert!(out.contains("test talkdesk/refresh::"), "{out}");
}

#[test]
fn the_filter_takes_the_case_name_the_reports_show() {
    let reports = crate::support::scratch(module_path!(), "filter");
    let o = tokenconf(
        root(),
        &[
            "run",
            "suites/talkdesk/token.yaml",
            "--filter",
            "client credentials with basic auth returns a bearer token",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    let ran = out
        .lines()
        .filter(|l| l.starts_with("test ") && l.contains(" ... "));
    assert_eq!(ran.count(), 1, "{out}");
    assert!(out.contains(&format!("test {TOKEN_TEST} ... ok")), "{out}");
}
