//! Independent-server tests that mostly wait, here so that they start among the first: libtest
//! starts tests in the order of their names, as many at a time as there are cores, so a test
//! that spends a minute waiting on a timer it cannot shorten waits beside the rest of the run
//! instead of alone at its end. The module's name still matches `servers::`.

use crate::servers::{check, OIDC_PROVIDER_STRICT};

/// oidc-provider's strict profile against suites/oauth2 (tests/it/servers.rs). 1.5 s of CPU in a
/// minute: the PAR expiry case waits out the server's request_uri, which lives a fixed 60 s in
/// oidc-provider 9.13.3 (MAX_TTL, no option), so the strict target (its `max_wait_seconds: 70`)
/// is the only one where RFC 9126 §4's expiry is held against a server nobody here wrote.
#[test]
fn oidc_provider_strict_requires_dpop_nonces_and_par_and_issues_jwts_and_passes_but_for_its_deviations(
) {
    check(OIDC_PROVIDER_STRICT, "oidc-provider-strict");
}
