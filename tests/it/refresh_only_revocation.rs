//! A server that revokes refresh tokens only (capability `refresh_only_revocation`, RFC 7009 §2:
//! revoking access tokens is a SHOULD): every case that expects an access token revoked skips
//! with that reason instead of failing for what §2.2.1 allows; refusal cases and the case that
//! tests the refusal itself still run.

use crate::support::{scratch, text, tokenconf};

const REASON: &str = "skipped (the server revokes refresh tokens only (RFC 7009 §2: revoking access tokens is a SHOULD; §2.2.1 unsupported_token_type); this case expects an access token revoked)";

/// The console lines of a run of the endpoints suite against a target with `capabilities` on a
/// closed loopback port (skips are decided before anything is sent).
fn run(capabilities: &str) -> String {
    let dir = scratch(
        module_path!(),
        if capabilities.is_empty() {
            "none"
        } else {
            capabilities
        },
    );
    let targets = dir.join("targets.yaml");
    std::fs::write(
        &targets,
        format!(
            "targets:\n  t:\n    http: {{ retries: 0, timeout_ms: 2000 }}\n    oauth2:\n      base_url: http://127.0.0.1:9\n      vars: {{ token_path: /token, revocation_path: /revoke, introspection_path: /introspect, client_id: c, second_client_id: d }}\n      secrets: {{ client_secret: \"${{TC_REVOKE_SECRET}}\", second_client_secret: \"${{TC_REVOKE_SECRET}}\" }}\n      capabilities: [{capabilities}]\n"
        ),
    )
    .unwrap();
    let reports = dir.join("reports");
    let o = tokenconf(
        &[
            "run",
            "suites/oauth2/endpoints.yaml",
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[("TC_REVOKE_SECRET", "refresh-only-secret")],
    );
    text(&o)
}

fn skipped(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.ends_with(REASON))
        .map(|l| {
            l.trim_start_matches("test oauth2/endpoints::")
                .split(" ...")
                .next()
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn cases_that_expect_an_access_token_revoked_skip_on_a_refresh_only_server() {
    let out = run("refresh_only_revocation");
    let mut skipped = skipped(&out);
    skipped.sort_unstable();
    assert_eq!(
        skipped,
        [
            "a-revoked-access-token-introspects-as-inactive",
            "a-wrong-token-type-hint-does-not-stop-revocation",
            "revoking-an-access-token-is-200",
        ],
        "{out}"
    );
    // The refusal case and the refused-revocation cases still run (and error: nothing listens).
    for case in [
        "a-server-that-revokes-only-refresh-tokens-answers-an-access-token-with-unsupported-token-type",
        "revocation-with-a-wrong-client-secret-is-refused-and-revokes-nothing",
        "revocation-without-client-credentials-is-refused-and-revokes-nothing",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("test oauth2/endpoints::{case} ...")))
            .unwrap_or_else(|| panic!("no line for {case}: {out}"));
        assert!(!line.contains("skipped"), "{line}");
    }
}

#[test]
fn without_the_capability_no_case_skips_for_it() {
    let out = run("");
    assert!(skipped(&out).is_empty(), "{out}");
}
