//! A server that requires pushed authorization requests (RFC 9126 §5, capability `par_required`):
//! every case whose authorize request is not pushed skips with that reason, instead of failing
//! for what §5 allows; the case that tests exactly that refusal runs.

use std::process::Command;

use crate::support::{root, scratch, BIN};

const REASON: &str = "skipped (the server requires pushed authorization requests (RFC 9126 §5); this case's authorize request is not pushed)";

/// The console lines of a run of the authorize and PAR suites against a target with
/// `capabilities` on a closed loopback port (skips are decided before anything is sent).
fn run(capabilities: &str) -> String {
    let dir = scratch(module_path!(), capabilities);
    let targets = dir.join("targets.yaml");
    std::fs::write(
        &targets,
        format!(
            "targets:\n  t:\n    oauth2:\n      base_url: http://127.0.0.1:9\n      vars: {{ client_id: c, auto_authorize_path: /authorize, redirect_uri: \"http://127.0.0.1:9/cb\", authorize_scope: openid, par_path: /par, pkce_plain_unsupported: \"true\" }}\n      secrets: {{ client_secret: \"${{TC_PAR_REQUIRED_SECRET}}\" }}\n      capabilities: [{capabilities}]\n"
        ),
    )
    .unwrap();
    let o = Command::new(BIN)
        .args([
            "run",
            "suites/oauth2/authorize.yaml",
            "suites/oauth2/par.yaml",
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
            "--report-dir",
            dir.join("reports").to_str().unwrap(),
        ])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("TC_PAR_REQUIRED_SECRET", "par-required-secret")
        .output()
        .expect("the binary runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn line<'a>(out: &'a str, test: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("test {test} ...")))
        .unwrap_or_else(|| panic!("no line for {test}: {out}"))
}

#[test]
fn unpushed_authorize_cases_skip_on_a_par_required_server_and_its_refusal_case_runs() {
    let out = run("par, par_required");
    let skipped: Vec<&str> = out.lines().filter(|l| l.ends_with(REASON)).collect();
    // Every authorize.yaml case sends an authorize request that is not pushed.
    let authorize = skipped
        .iter()
        .filter(|l| l.starts_with("test oauth2/authorize::"))
        .count();
    assert!(authorize >= 3, "{authorize} authorize cases skipped: {out}");
    // A pushed flow (request_uri at authorize) and the refusal case are not skipped for it.
    for test in [
        "oauth2/par::a-request-uri-authorizes-once",
        "oauth2/par::a-server-that-requires-par-refuses-an-authorization-request-not-pushed",
    ] {
        let l = line(&out, test);
        assert!(!l.contains("skipped"), "{l}");
    }
}

#[test]
fn without_par_required_the_same_cases_are_not_skipped_for_it() {
    let out = run("par");
    assert!(!out.contains("RFC 9126 §5"), "{out}");
}
