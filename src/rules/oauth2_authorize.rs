//! Rules about the authorization request and its response: the issuer in the redirect (RFC 9207),
//! and what a code redemption owes the authorize request that issued its code (the scope asked
//! for there, the PKCE challenge sent or not). A redemption finds its authorize step among the
//! case's earlier steps by the code in that step's `Location`; without one a rule does nothing.

use serde_json::Value;

use super::read::{body_member, scope_tokens, success};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;
use crate::http::{Received, Sent};

const RFC6749_3_3: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-3.3";
const RFC9700_2_1_1: &str = "https://www.rfc-editor.org/rfc/rfc9700#section-2.1.1";
const RFC9207_2: &str = "https://www.rfc-editor.org/rfc/rfc9207#section-2";

pub static AUTHORIZATION_RESPONSE_ISS: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.authorization-response-iss",
    summary: "an authorization response (code or error) carries iss, the issuer (RFC 9207), where metadata says it does",
    rules: &[&ISS],
};

pub static PKCE_DOWNGRADE_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.pkce-downgrade-refused",
    summary: "probe: a code_verifier on a code issued without a code_challenge is refused (RFC 9700 §2.1.1)",
    rules: &[&PKCE_DOWNGRADE],
};

/// The parameters of a URL's query and fragment, decoded (an implicit-style answer puts them in
/// the fragment).
pub(super) fn url_params(url: &str) -> Vec<(String, String)> {
    let (before, fragment) = url.split_once('#').unwrap_or((url, ""));
    let query = before.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .chain(form_urlencoded::parse(fragment.as_bytes()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The parameters of a response's `Location`, if it redirects.
pub(super) fn location_params(r: &Received) -> Option<Vec<(String, String)>> {
    if !(300..400).contains(&r.status) {
        return None;
    }
    r.header("location").map(url_params)
}

/// Whether the request authenticated a client (Basic, a posted secret or an assertion): a request
/// without is a public client's (RFC 6749 §2.1).
pub(super) fn sent_client_auth(s: &Sent) -> bool {
    s.basic_auth
        || s.form_value("client_secret").is_some()
        || s.form_value("client_assertion").is_some()
        || s.authorization.is_some()
}

/// The earlier authorize step whose redirect carried `code`: its request's parameters.
pub(super) fn authorize_request_of(
    earlier: &[(Sent, Received)],
    code: &str,
) -> Option<Vec<(String, String)>> {
    earlier.iter().rev().find_map(|(s, r)| {
        let params = location_params(r)?;
        (param(&params, "code") == Some(code)).then(|| url_params(&s.url))
    })
}

/// A token request for an authorization code, answered with a token: the authorize request that
/// issued the code, if an earlier step of the case sent it.
pub(super) fn redeemed_authorize(
    s: &Sent,
    r: &Received,
    earlier: &[(Sent, Received)],
) -> Option<Vec<(String, String)>> {
    if !success(r)
        || s.grant_type() != Some("authorization_code")
        || body_member(r, "access_token").is_none()
    {
        return None;
    }
    authorize_request_of(earlier, s.form_value("code")?)
}

pub static CODE_SCOPE_NOT_WIDER: Rule = Rule {
    id: "RFC6749-3.3-code-scope-not-wider",
    level: Level::Should,
    source: RFC6749_3_3,
    title: "a code redemption's scope is not wider than the scope asked for at authorize",
    explain: "RFC 6749 §3.3: the server may issue a scope other than the one the client requested, and says \
              so in `scope`; a token with scopes the client never asked for, at authorize, breaks least \
              privilege (RFC 9700 §2.3). Applied to an authorization_code grant answered with a token whose \
              code an earlier step of the case received: the scope in the answer must be within the scope \
              of that authorize request. An answer without scope is the scope requested (§5.1), so it \
              passes, as does an authorize request without scope. A SHOULD: §3.3 leaves the server free \
              to issue another scope than asked.",
    check: |x| {
        let Some(authorize) = redeemed_authorize(x.sent, x.received, x.earlier) else {
            return vec![];
        };
        let Some(Value::String(granted)) = body_member(x.received, "scope") else {
            return vec![];
        };
        let Some(asked) = param(&authorize, "scope") else {
            return vec![];
        };
        let asked = scope_tokens(asked);
        let extra: Vec<&str> = scope_tokens(granted)
            .into_iter()
            .filter(|t| !asked.contains(t))
            .collect();
        if extra.is_empty() {
            return vec![];
        }
        vec![Violation::new(format!(
            "the code was redeemed for scope the authorize request did not ask for: {}",
            extra.join(" ")
        ))
        .expected(format!("within {:?}", asked.join(" ")))
        .actual(granted.clone())
        .at("$.scope")]
    },
};

pub static PKCE_DOWNGRADE: Rule = Rule {
    id: "RFC9700-2.1.1-pkce-downgrade",
    level: Level::Must,
    source: RFC9700_2_1_1,
    title: "probe: a code_verifier on a code issued without a code_challenge is refused",
    explain: "RFC 9700 §2.1.1: \"Authorization servers MUST mitigate PKCE downgrade attacks by ensuring that \
              a token request containing a code_verifier parameter is accepted only if a code_challenge \
              parameter was present in the authorization request\" (§4.8.2 describes the attack: an \
              attacker strips the challenge and redeems a stolen code with any verifier). \
              draft-ietf-oauth-v2-1-16 §4.1.3 says the same (the verifier present if and only if the \
              challenge was). Applied to a token request that sends a code_verifier for a code an earlier \
              step of the case received from an authorize request without code_challenge: a token fails. \
              A server that refused the challenge-less authorize request leaves nothing to redeem, which \
              passes.",
    check: |x| {
        if x.sent.form_value("code_verifier").is_none() {
            return vec![];
        }
        let Some(authorize) = redeemed_authorize(x.sent, x.received, x.earlier) else {
            return vec![];
        };
        if param(&authorize, "code_challenge").is_some() {
            return vec![];
        }
        vec![Violation::new(format!(
            "a code issued without a code_challenge was redeemed with a code_verifier and answered {} with a token; RFC 9700 §2.1.1: a code_verifier is accepted only if the authorization request had a code_challenge",
            x.received.status
        ))
        .expected("400 invalid_grant")
        .actual(format!("{} with a token", x.received.status))]
    },
};

pub static ISS: Rule = Rule {
    id: "RFC9207-2-iss",
    level: Level::Must,
    source: RFC9207_2,
    title: "an authorization response carries iss, the issuer identifier",
    explain: "RFC 9207 §2: an authorization server that advertises authorization_response_iss_parameter_supported \
              (§3) MUST send `iss` in every authorization response, the error response of RFC 6749 §4.1.2.1 \
              included, and its value is the issuer identifier of its metadata (§2.4: compared by simple \
              string comparison), so a client can tell which server answered (mix-up attacks). Applied \
              to a redirect to the request's redirect_uri that carries code or error, with the case's \
              `issuer` var: iss missing or different fails. The suites use this set only where metadata \
              (or the target) says the parameter is supported.",
    check: |x| {
        let Some(params) = location_params(x.received) else {
            return vec![];
        };
        if param(&params, "code").is_none() && param(&params, "error").is_none() {
            return vec![];
        }
        let sent = url_params(&x.sent.url);
        let location = x.received.header("location").unwrap_or_default();
        if let Some(uri) = param(&sent, "redirect_uri").filter(|u| !u.is_empty()) {
            if !location.starts_with(uri) {
                return vec![];
            }
        }
        let Some(issuer) = x.values.get("issuer").filter(|i| !i.is_empty()) else {
            return vec![];
        };
        let what = if param(&params, "code").is_some() {
            "the authorization response"
        } else {
            "the authorization error response"
        };
        match param(&params, "iss") {
            None => vec![Violation::new(format!(
                "{what} carries no iss; RFC 9207 §2: a server that supports the parameter MUST send it"
            ))
            .expected(issuer)
            .actual("no iss")
            .at("Location")],
            Some(iss) if iss != issuer => vec![Violation::new(format!(
                "{what}'s iss is not the issuer identifier; RFC 9207 §2.4 compares them as strings"
            ))
            .expected(issuer)
            .actual(crate::redact::shorten(iss, 200))
            .at("Location")],
            Some(_) => vec![],
        }
    },
};

#[cfg(test)]
mod tests {
    use super::super::testutil::{json, received, run_after, run_with, sent};
    use super::*;
    use serde_json::json;

    fn authorize(query: &str, location: &str) -> (Sent, Received) {
        let s = Sent {
            method: "GET".into(),
            url: format!("https://as.example/authorize?{query}"),
            ..Default::default()
        };
        (s, received(302, &[("location", location)], json!(null)))
    }

    fn redeem(verifier: bool) -> Sent {
        let mut form = vec![("grant_type", "authorization_code"), ("code", "C1")];
        if verifier {
            form.push(("code_verifier", "v"));
        }
        sent(&form, true)
    }

    fn token(scope: Option<&str>) -> Received {
        let mut body = json!({"access_token": "a".repeat(32), "token_type": "Bearer"});
        if let Some(s) = scope {
            body["scope"] = json!(s);
        }
        json(200, body)
    }

    #[test]
    fn a_redemption_wider_than_the_authorize_scope_warns_and_within_it_passes() {
        let earlier = [authorize(
            "response_type=code&scope=read&redirect_uri=https%3A%2F%2Fc.example%2Fcb",
            "https://c.example/cb?code=C1&state=s",
        )];
        let wider = run_after(
            &CODE_SCOPE_NOT_WIDER,
            &redeem(true),
            &token(Some("read write")),
            &earlier,
        );
        assert_eq!(wider.len(), 1, "{wider:?}");
        assert!(wider[0].message.contains("write"));
        for scope in [Some("read"), None] {
            let v = run_after(
                &CODE_SCOPE_NOT_WIDER,
                &redeem(true),
                &token(scope),
                &earlier,
            );
            assert!(v.is_empty(), "{scope:?}: {v:?}");
        }
        // Another code, or no authorize step: nothing to compare with.
        let other = [authorize("scope=read", "https://c.example/cb?code=C2")];
        let v = run_after(
            &CODE_SCOPE_NOT_WIDER,
            &redeem(true),
            &token(Some("read write")),
            &other,
        );
        assert!(v.is_empty());
    }

    #[test]
    fn a_verifier_on_a_code_issued_without_a_challenge_fails_only_when_answered_with_a_token() {
        let without = [authorize(
            "response_type=code&scope=read",
            "https://c.example/cb?code=C1",
        )];
        let with = [authorize(
            "response_type=code&code_challenge=x&code_challenge_method=S256",
            "https://c.example/cb?code=C1",
        )];
        let v = run_after(&PKCE_DOWNGRADE, &redeem(true), &token(None), &without);
        assert_eq!(v.len(), 1, "{v:?}");
        let refused = json(400, json!({"error": "invalid_grant"}));
        assert!(run_after(&PKCE_DOWNGRADE, &redeem(true), &refused, &without).is_empty());
        assert!(run_after(&PKCE_DOWNGRADE, &redeem(true), &token(None), &with).is_empty());
        assert!(run_after(&PKCE_DOWNGRADE, &redeem(false), &token(None), &without).is_empty());
        // Authorize refused (no code): nothing was issued, nothing to judge.
        let refused_at_authorize = [authorize(
            "response_type=code",
            "https://c.example/cb?error=invalid_request",
        )];
        assert!(run_after(
            &PKCE_DOWNGRADE,
            &redeem(true),
            &token(None),
            &refused_at_authorize
        )
        .is_empty());
    }

    #[test]
    fn an_authorization_response_needs_the_issuer_as_iss_on_codes_and_errors() {
        let issuer = [("issuer", "https://as.example")];
        let q = "response_type=code&redirect_uri=https%3A%2F%2Fc.example%2Fcb";
        let check = |location: &str| {
            let (s, r) = authorize(q, location);
            run_with(&ISS, &s, &r, &issuer)
        };
        assert!(check("https://c.example/cb?code=C1&iss=https%3A%2F%2Fas.example").is_empty());
        assert!(check(
            "https://c.example/cb?error=access_denied&state=s&iss=https%3A%2F%2Fas.example"
        )
        .is_empty());
        assert_eq!(check("https://c.example/cb?code=C1").len(), 1);
        assert_eq!(check("https://c.example/cb?error=invalid_request").len(), 1);
        let wrong = check("https://c.example/cb?code=C1&iss=https%3A%2F%2Fas.example%2F");
        assert_eq!(wrong.len(), 1, "a trailing slash is another string");
        // A redirect elsewhere (an error page) is not an authorization response.
        assert!(check("https://as.example/error?error=invalid_request").is_empty());
        // Without the issuer there is nothing to compare with.
        let (s, r) = authorize(q, "https://c.example/cb?code=C1");
        assert!(run_with(&ISS, &s, &r, &[]).is_empty());
    }
}
