//! `tokenconf explain`: rules, rule sets, plain checks, and a did-you-mean for anything else.

use crate::support::{root, BIN};
use std::process::{Command, Output};

fn explain(id: &str) -> (Option<i32>, String, String) {
    let o: Output = Command::new(BIN)
        .args(["explain", id])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_rule_id_suggests_the_close_one() {
    let (code, out, err) = explain("RFC6749-5.2-invalid-client-401");
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains("did you mean `RFC6749-5.2-invalid_client-401`?"),
        "{err}"
    );
}

#[test]
fn an_unknown_set_name_suggests_the_set() {
    let (code, _, err) = explain("oauth2.tokn-response");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("did you mean `oauth2.token-response`?"),
        "{err}"
    );
}

#[test]
fn nothing_close_is_exit_2_without_a_guess() {
    let (code, _, err) = explain("zzz-nothing-like-it");
    assert_eq!(code, Some(2));
    assert!(err.contains("no rule, rule set or check"), "{err}");
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn a_rule_set_lists_its_summary_and_rules() {
    let (code, out, err) = explain("oauth2.token-response");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("oauth2.token-response (rule set)\n"),
        "{out}"
    );
    assert!(
        out.contains("a successful token response as RFC 6749 §5.1 defines it"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l == "  RFC6749-5.1-no-store  MUST  Cache-Control contains no-store"),
        "{out}"
    );
}

#[test]
fn a_rule_set_lists_the_rules_of_the_sets_it_includes() {
    let (code, out, err) = explain("salesforce.token-response");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("includes: oauth2.token-response"), "{out}");
    // A rule of the included RFC 6749 set is listed under the vendor's set.
    assert!(out.contains("  RFC6749-5.1-no-store  MUST  "), "{out}");
}

#[test]
fn a_plain_check_id_says_what_the_check_is() {
    for (id, says) in [
        ("status", "HTTP status"),
        ("json $.expires_in", "JSONPath"),
        ("header cache-control", "response header"),
        ("schema", "JSON Schema"),
    ] {
        let (code, out, err) = explain(id);
        assert_eq!(code, Some(0), "{id}: {err}");
        assert!(out.contains("a check, not a rule"), "{id}: {out}");
        assert!(out.contains(says), "{id}: {out}");
    }
}
