//! The built-in suites: `tokenconf run` from any folder, `suites export`, where specs are
//! found, and which suites a report says ran.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::streams;
use crate::support::{root, scratch, BIN};

const MODULE: &str = module_path!();

fn tokenconf(args: &[&str], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("the binary runs")
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// The test names of a run's summary, in order.
fn names(summary: &serde_json::Value) -> Vec<String> {
    summary["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["test"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn run_with_no_path_runs_every_built_in_suite_from_a_folder_without_suites() {
    let dir = scratch(MODULE, "empty");
    let o = tokenconf(&["run", "--report-dir", "r"], &dir);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let s = summary(&dir.join("r"));
    assert_eq!(s["suites"]["from"], "built-in");
    assert_eq!(s["suites"]["version"], env!("CARGO_PKG_VERSION"));
    // Every case of the checkout's suites/ ran, by the names a run of the folder gives.
    let listed = streams(&tokenconf(&["list", "suites"], root())).0;
    let listed: Vec<&str> = listed.lines().collect();
    assert!(listed.len() > 100, "{listed:?}");
    assert_eq!(names(&s), listed);
    assert_eq!(s["counts"]["passed"].as_u64(), Some(listed.len() as u64));
    let junit = std::fs::read_to_string(dir.join("r/junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<property name="tokenconf.suites" value="built-in"/>"#),
        "{junit}"
    );
    let digest = s["suites"]["digest"].as_str().unwrap();
    assert!(
        junit.contains(&format!(
            r#"<property name="tokenconf.suites.digest" value="{digest}"/>"#
        )),
        "{junit}"
    );
}

#[test]
fn an_exported_folder_runs_the_same_tests_with_the_same_digest() {
    let dir = scratch(MODULE, "export");
    let o = tokenconf(&["suites", "export", "d"], &dir);
    assert_eq!(o.status.code(), Some(0), "{:?}", streams(&o));
    assert!(dir.join("d/suites/talkdesk/token.yaml").is_file());
    assert!(dir
        .join("d/specs/talkdesk/token-response.schema.json")
        .is_file());
    assert!(dir
        .join("d/specs/salesforce/known-deviations.yaml")
        .is_file());

    let built_in = tokenconf(&["run", "--report-dir", "built-in"], &dir);
    let exported = tokenconf(&["run", "d", "--report-dir", "exported"], &dir);
    assert_eq!(built_in.status.code(), Some(0), "{:?}", streams(&built_in));
    assert_eq!(exported.status.code(), Some(0), "{:?}", streams(&exported));
    let (a, b) = (
        summary(&dir.join("built-in")),
        summary(&dir.join("exported")),
    );
    assert_eq!(names(&a), names(&b));
    assert_eq!(a["counts"], b["counts"]);
    assert_eq!(b["suites"]["from"], "files");
    assert!(b["suites"].get("version").is_none(), "{}", b["suites"]);
    assert_eq!(a["suites"]["digest"], b["suites"]["digest"]);

    // An edited suite is another digest.
    let token = dir.join("d/suites/talkdesk/token.yaml");
    let edited = std::fs::read_to_string(&token).unwrap() + "\n# edited\n";
    std::fs::write(&token, edited).unwrap();
    let o = tokenconf(&["run", "d", "--report-dir", "edited"], &dir);
    assert_eq!(o.status.code(), Some(0), "{:?}", streams(&o));
    assert_ne!(
        summary(&dir.join("edited"))["suites"]["digest"],
        a["suites"]["digest"]
    );
}

#[test]
fn export_never_overwrites_a_file_and_names_it() {
    let dir = scratch(MODULE, "no-overwrite");
    let mine = dir.join("d/suites/talkdesk/token.yaml");
    std::fs::create_dir_all(mine.parent().unwrap()).unwrap();
    std::fs::write(&mine, "my own suite\n").unwrap();
    let o = tokenconf(&["suites", "export", "d"], &dir);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("d/suites/talkdesk/token.yaml"), "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my own suite\n");
    // Checked before anything is written: no half export beside the user's file.
    assert!(!dir.join("d/specs").exists());
}

#[test]
fn schemas_resolve_beside_the_suites_folder_from_any_working_folder() {
    let dir = scratch(MODULE, "specs-beside");
    assert_eq!(
        tokenconf(&["suites", "export", "d"], &dir).status.code(),
        Some(0)
    );
    // From inside the suites folder, the specs beside it are found (not ./specs).
    let inside = dir.join("d/suites");
    let o = tokenconf(&["validate", "talkdesk"], &inside);
    assert_eq!(o.status.code(), Some(0), "{:?}", streams(&o));
    // A schema edited there is the one used: it is read, not the built-in copy.
    std::fs::write(
        dir.join("d/specs/talkdesk/token-response.schema.json"),
        "not json",
    )
    .unwrap();
    let o = tokenconf(&["validate", "talkdesk"], &inside);
    let (_, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("token-response.schema.json is not JSON"),
        "{err}"
    );
    // A suite of one's own, outside any suites folder, names the built-in schemas.
    let own = scratch(MODULE, "own-suite");
    let suite = std::fs::read_to_string(root().join("suites/talkdesk/token.yaml")).unwrap();
    std::fs::write(own.join("mine.yaml"), suite).unwrap();
    let o = tokenconf(&["validate", "mine.yaml"], &own);
    assert_eq!(o.status.code(), Some(0), "{:?}", streams(&o));
    // --specs still wins, over the built-in specs too.
    let o = tokenconf(&["validate", "--specs", "nowhere"], &own);
    let (_, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("nowhere/"), "{err}");
}

#[test]
fn list_says_where_each_suite_came_from() {
    let dir = scratch(MODULE, "origin");
    let built_in = streams(&tokenconf(&["list", "--origin"], &dir)).0;
    assert!(
        built_in.lines().any(|l| l.starts_with("talkdesk/token::")
            && l.ends_with("  built in: suites/talkdesk/token.yaml")),
        "{built_in}"
    );
    let files = streams(&tokenconf(
        &["list", "--origin", "suites/talkdesk/token.yaml"],
        root(),
    ))
    .0;
    assert!(
        files
            .lines()
            .all(|l| l.ends_with("  suites/talkdesk/token.yaml") && !l.contains("built in")),
        "{files}"
    );
}
