//! Issue 23 items 1 and 4: a suite's `api:` that names no API (a typo) is exit 2 at its
//! file:line:column with a did-you-mean, in `run` as in `validate`; before, its cases were
//! skipped and the run could go green. A vendor API the target simply does not configure is
//! still a skip with its reason.

use crate::support::{root, BIN};
use crate::support::{text, write};
use std::path::Path;
use std::process::{Command, Output};

fn tokenconf(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("the binary runs")
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

const CASES: &str = "cases:\n  - name: a token\n    request: { path: /oauth/token, form: { grant_type: client_credentials } }\n    expect: { status: 200 }\n";

/// A target with Talkdesk and an API of its own; nothing listens on port 9, and nothing is sent.
const TARGETS: &str = "targets:\n  t:\n    talkdesk:\n      base_url: http://127.0.0.1:9\n    apis:\n      acme: { base_url: http://127.0.0.1:9 }\n";

#[test]
fn an_api_name_that_is_a_typo_is_exit_2_at_its_line_with_a_suggestion_in_run_and_validate() {
    let dir = crate::support::scratch(module_path!(), "typo");
    let suite = write(
        &dir,
        "typo.yaml",
        &format!("# my suite\napi: talkdsk\n{CASES}"),
    );
    let targets = write(&dir, "targets.yaml", TARGETS);
    let reports = dir.join("reports");
    let at = format!("{}:2:6", suite.display());
    let against_mock = [
        "run",
        arg(&suite),
        "--report-dir",
        arg(&reports),
        "--allow-empty",
    ];
    let against_target = [
        "run",
        arg(&suite),
        "--targets",
        arg(&targets),
        "--target",
        "t",
        "--report-dir",
        arg(&reports),
        "--allow-empty",
    ];
    let validate = [
        "validate",
        arg(&suite),
        "--targets",
        arg(&targets),
        "--target",
        "t",
    ];
    for (args, listed) in [
        (&against_mock[..], "target mock lists none"),
        (&against_target[..], "target t lists acme"),
        (&validate[..], "target t lists acme"),
    ] {
        let o = tokenconf(args);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}");
        let expected = format!(
            "error: unknown api `talkdsk` (did you mean `talkdesk`?): an api is talkdesk, \
             salesforce, miaw, oauth2 or one the target lists under `apis:` ({listed})\n \
             --> {at}\n  |\n2 | api: talkdsk\n  |      ^^^^^^^\n"
        );
        assert!(
            out.contains(&expected),
            "{args:?}:\n{out}\nwanted:\n{expected}"
        );
        assert!(!out.contains("ok:"), "{args:?}: {out}");
    }
    assert!(!reports.exists(), "nothing was run, so no report");
}

#[test]
fn the_did_you_mean_knows_the_targets_own_apis() {
    let dir = crate::support::scratch(module_path!(), "own");
    let suite = write(&dir, "acm.yaml", &format!("api: acm\n{CASES}"));
    let targets = write(&dir, "targets.yaml", TARGETS);
    let o = tokenconf(&["validate", arg(&suite), "--targets", arg(&targets)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("unknown api `acm` (did you mean `acme`?)"),
        "{out}"
    );
    assert!(out.contains(&format!("{}:1:6", suite.display())), "{out}");
    // Spelled right, the target's own API is no error.
    let suite = write(&dir, "acme.yaml", &format!("api: acme\n{CASES}"));
    let o = tokenconf(&["validate", arg(&suite), "--targets", arg(&targets)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains("unknown api"), "{out}");
    assert!(out.contains("target t: can run 1 of 1 case"), "{out}");
}

#[test]
fn a_vendor_api_the_target_does_not_configure_is_still_skipped_with_the_reason() {
    let dir = crate::support::scratch(module_path!(), "unconfigured");
    let suite = write(&dir, "sf.yaml", &format!("api: salesforce\n{CASES}"));
    let targets = write(&dir, "targets.yaml", TARGETS);
    let o = tokenconf(&["validate", arg(&suite), "--targets", arg(&targets)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("skip sf (1 case): no `salesforce` api"),
        "{out}"
    );
    assert!(out.contains("target t can run 0 of 1"), "{out}");
    let reports = dir.join("reports");
    let o = tokenconf(&[
        "run",
        arg(&suite),
        "--targets",
        arg(&targets),
        "--target",
        "t",
        "--report-dir",
        arg(&reports),
        "--allow-empty",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("target t has no base URL for api `salesforce`"),
        "{out}"
    );
    assert!(!out.contains("unknown api"), "{out}");
}

#[test]
fn validate_without_targets_warns_of_an_api_no_vendor_has() {
    let dir = crate::support::scratch(module_path!(), "no-targets");
    let suite = write(&dir, "typo.yaml", &format!("api: talkdsk\n{CASES}"));
    let o = tokenconf(&["validate", arg(&suite)]);
    let out = text(&o);
    // No target to hold it against: a custom API is fine once a targets file lists it.
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "warning: {}:1:6: api `talkdsk` is none of talkdesk, salesforce, miaw, oauth2 \
             (did you mean `talkdesk`?); `run` needs a targets file that lists it under `apis:`",
            suite.display()
        )),
        "{out}"
    );
    let vendor = write(&dir, "talkdesk.yaml", &format!("api: talkdesk\n{CASES}"));
    let o = tokenconf(&["validate", arg(&vendor)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains("warning"), "{out}");
}
