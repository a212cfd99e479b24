//! `run --mock-profile sandbox`: the vendor suites against the mock behaving as a freshly
//! configured real org are green, and every case such an org cannot run is skipped with why.

use crate::support::sandbox_run;

#[test]
fn the_sandbox_profile_run_is_green_and_every_skip_says_why() {
    // The same run tests/it/rehearsal.rs holds to exit 0 with 0 failed: made once.
    let (o, reports) = sandbox_run();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("mock profile: sandbox"), "{out}");
    let text = std::fs::read_to_string(reports.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let counts = &summary["counts"];
    assert_eq!(counts["failed"], 0, "{counts}");
    assert_eq!(counts["errored"], 0, "{counts}");
    assert!(counts["passed"].as_u64().unwrap() >= 100, "{counts}");
    let cases = summary["cases"].as_array().unwrap();
    let skipped: Vec<&serde_json::Value> =
        cases.iter().filter(|c| c["status"] == "skipped").collect();
    // Code flows and rotation cannot run on a fresh org.
    assert!(!skipped.is_empty(), "{counts}");
    for case in &skipped {
        // An API without profiles "does not supply" it; one with profiles names what each lacks.
        let reason = case["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("does not supply capability") || reason.contains("lacks capability"),
            "{case}"
        );
    }
    // The code flows go through the sandbox's login form and consent page in headless
    // Chromium; without it they skip for `auto_authorize`.
    let browser = crate::support::chromium().is_some();
    for flow in [
        "talkdesk/authorization-code::the-code-flow-returns-access-and-refresh-tokens-and-a-session-id",
        "salesforce/authorization-code::authorization-code-redeems-for-tokens-with-a-refresh-token",
    ] {
        let want = if browser { "passed" } else { "skipped" };
        assert!(
            cases.iter().any(|c| c["test"] == flow && c["status"] == want),
            "{flow} not {want}"
        );
    }
    for gated in [
        "salesforce/refresh::replaying-a-rotated-refresh-token-fails-and-revokes-its-family",
        // A fresh org has no CAPTCHA deployment, and its app issues opaque access tokens.
        "miaw/unauthenticated::a-deployment-with-captcha-on-refuses-a-guest-token-without-a-captchatoken",
        "salesforce/jwt-access-tokens::the-access-token-is-a-jws-whose-header-and-claims-decode",
    ] {
        assert!(skipped.iter().any(|c| c["test"] == gated), "{gated} ran");
    }
    // Verified users run against the verification-on deployment, the MIAW API's second profile.
    let verified = "miaw/authenticated::a-verified-web-user-gets-an-auth-access-token";
    assert!(
        cases
            .iter()
            .any(|c| c["test"] == verified && c["status"] == "passed"),
        "{verified}"
    );
    // What a fresh org does answer: a verification-on deployment refuses a guest, a deployment
    // without CAPTCHA takes an empty captchaToken, and UserInfo names the user.
    for ran in [
        "miaw/unauthenticated::a-deployment-with-user-verification-on-refuses-a-guest-token",
        "miaw/unauthenticated::an-empty-captchatoken-is-accepted-by-a-deployment-without-captcha",
        "salesforce/userinfo::a-user-s-access-token-gets-the-user-s-claims-by-get-and-by-post",
    ] {
        assert!(
            cases
                .iter()
                .any(|c| c["test"] == ran && c["status"] == "passed"),
            "{ran}"
        );
    }
}
