//! Rules for what a server must refuse (replays, the password grant, a wrong PKCE verifier),
//! refresh-token rotation, and RFC 6750 bearer challenges. A probe rule is applied by a suite to
//! the answer to a deliberately bad request; it reads the grant type from the request as sent.

use serde_json::Value;

use super::oauth2 as o;
use super::read::{body_member, error_code, success, token_summary};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;
use crate::http::{Received, Sent};

const RFC6749_4_1_2: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2";
const RFC9700_2_2_2: &str = "https://www.rfc-editor.org/rfc/rfc9700#section-2.2.2";
const RFC9700_2_4: &str = "https://www.rfc-editor.org/rfc/rfc9700#section-2.4";
const RFC9700_2_1_1: &str = "https://www.rfc-editor.org/rfc/rfc9700#section-2.1.1";
const RFC6750_3: &str = "https://www.rfc-editor.org/rfc/rfc6750#section-3";
const RFC6750_3_1: &str = "https://www.rfc-editor.org/rfc/rfc6750#section-3.1";

pub static REFRESH_RESPONSE: RuleSet = RuleSet {
    includes: &[&o::TOKEN_RESPONSE],
    name: "oauth2.refresh-response",
    summary: "a refresh_token grant's success: a token response that rotates the refresh token",
    rules: &[&RT_ROTATION, &super::oauth2_cross::REFRESH_SCOPE],
};

pub static REPLAY_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.replay-refused",
    summary: "probe: a used authorization code or a rotated refresh token, replayed, gets 400 invalid_grant",
    rules: &[&CODE_REUSE, &RT_REPLAY],
};

pub static PASSWORD_GRANT_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.password-grant-refused",
    summary: "probe: grant_type=password is not answered with a token (RFC 9700 §2.4)",
    rules: &[&NO_PASSWORD_GRANT],
};

pub static PKCE_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.pkce-refused",
    summary: "probe: a code redeemed with a wrong or missing code_verifier gets 400 invalid_grant",
    rules: &[&PKCE_VERIFIER],
};

pub static BEARER_CHALLENGE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.bearer-challenge",
    summary:
        "a refused bearer-authenticated request carries an RFC 6750 challenge with the right status",
    rules: &[
        &BEARER_401_CHALLENGE,
        &BEARER_ERROR_STATUS,
        &o::NO_TOKEN_IN_ERROR,
    ],
};

/// What came back, for a message: "200 with an access token", "401 invalid_client".
fn answered(r: &Received) -> String {
    if success(r) && body_member(r, "access_token").is_some() {
        return format!("{} with an access token", r.status);
    }
    match error_code(r) {
        Some(code) => format!("{} {code}", r.status),
        None => r.status.to_string(),
    }
}

/// The request carried client authentication (Basic, a form secret or an assertion): a confidential client.
fn authenticated(s: &Sent) -> bool {
    s.basic_auth
        || s.form_value("client_secret").is_some()
        || s.form_value("client_assertion").is_some()
}

/// A probe answer must be 400 with one of `codes`, the codes `named_by` gives. A denial with
/// another code is said to be one: the server refused, only with the wrong error.
fn refused_with(
    r: &Received,
    codes: &[&str],
    what: &str,
    clause: &str,
    named_by: &str,
) -> Vec<Violation> {
    if r.status == 400 && error_code(r).is_some_and(|c| codes.contains(&c)) {
        return vec![];
    }
    let want: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
    let refused = (400..500).contains(&r.status) && body_member(r, "access_token").is_none();
    let message = if refused {
        let got = match error_code(r) {
            Some(code) if r.status == 400 => code.to_string(),
            _ => answered(r),
        };
        format!(
            "{what} was refused, but with `{got}` where {named_by} says {}",
            want.join(" or ")
        )
    } else {
        format!("{what} was answered {}; {clause}", answered(r))
    };
    vec![Violation::new(message)
        .expected(format!("400 {}", codes.join(" or ")))
        .actual(answered(r))]
}

pub static RT_ROTATION: Rule = Rule {
    id: "RFC9700-2.2.2-rt-rotation",
    level: Level::Should,
    source: RFC9700_2_2_2,
    title: "a public client's refresh response returns a new refresh token",
    explain: "RFC 9700 §2.2.2: refresh tokens for public clients MUST be sender-constrained or use refresh \
              token rotation (§4.14.2): each refresh returns a new refresh token and invalidates the old one, \
              so a stolen refresh token is detected when both parties use it. Applied only when the refresh \
              request carried no client authentication (a public client): for confidential clients RFC 6749 \
              §6 leaves rotation to the server (MAY). A SHOULD, not a MUST, because a refresh token bound by \
              mutual TLS is sender-constrained in a way no response shows.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if !success(r) || s.grant_type() != Some("refresh_token") || authenticated(s) {
            return vec![];
        }
        match (body_member(r, "refresh_token"), s.form_value("refresh_token")) {
            (Some(Value::String(new)), Some(old)) if new == old => vec![Violation::new(
                "the refresh response returned the same refresh token that was sent: it was not rotated",
            )
            .expected("a new refresh_token")
            .actual(format!("the same token {}", token_summary(new)))
            .at("$.refresh_token")],
            (Some(Value::String(_)), _) => vec![],
            _ => vec![Violation::new(
                "the refresh response has no new refresh_token: the refresh token is not rotated",
            )
            .expected("a new refresh_token")
            .actual("no refresh_token")
            .at("$.refresh_token")],
        }
    },
};

pub static CODE_REUSE: Rule = Rule {
    id: "RFC6749-4.1.2-code-reuse",
    level: Level::Must,
    source: RFC6749_4_1_2,
    title: "probe: a second redemption of an authorization code gets 400 invalid_grant",
    explain: "RFC 6749 §4.1.2: the client MUST NOT use the authorization code more than once; if it is used \
              more than once, the server MUST deny the request (and SHOULD revoke the tokens issued on it). \
              §5.2 names the error: invalid_grant. A server that redeems a code twice lets an intercepted \
              code buy tokens. Applied to the answer to a second redemption.",
    check: |x| {
        if x.sent.grant_type() != Some("authorization_code") {
            return vec![];
        }
        refused_with(
            x.received,
            &["invalid_grant"],
            "a second redemption of the same authorization code",
            "RFC 6749 §4.1.2 requires the server to deny it",
            "RFC 6749 §5.2",
        )
    },
};

pub static RT_REPLAY: Rule = Rule {
    id: "RFC9700-2.2.2-rt-replay",
    level: Level::Must,
    source: RFC9700_2_2_2,
    title: "probe: a rotated (old) refresh token gets 400 invalid_grant",
    explain: "RFC 9700 §2.2.2 and §4.14.2: with refresh token rotation, a refresh token that was already \
              exchanged for a new one is invalid; replaying it gets invalid_grant (and the server revokes \
              the active refresh token). Applied to the answer to a replayed refresh token.",
    check: |x| {
        if x.sent.grant_type() != Some("refresh_token") {
            return vec![];
        }
        refused_with(
            x.received,
            &["invalid_grant"],
            "a replayed (already rotated) refresh token",
            "RFC 9700 §2.2.2 requires it to be refused",
            "RFC 6749 §5.2",
        )
    },
};

pub static NO_PASSWORD_GRANT: Rule = Rule {
    id: "RFC9700-2.4-no-password-grant",
    level: Level::Must,
    source: RFC9700_2_4,
    title: "probe: grant_type=password is not answered with a token",
    explain: "RFC 9700 §2.4: the resource owner password credentials grant MUST NOT be used; it exposes the \
              user's password to the client and cannot carry multi-factor authentication. A server that \
              answers it with a token keeps the grant alive. Any error answer passes.",
    check: |x| {
        let r = x.received;
        if !success(r) && body_member(r, "access_token").is_none() {
            return vec![];
        }
        vec![Violation::new(format!(
            "grant_type=password was answered {}; RFC 9700 §2.4 says the password grant MUST NOT be used",
            answered(r)
        ))
        .expected("an error such as 400 unsupported_grant_type or unauthorized_client")
        .actual(answered(r))]
    },
};

pub static PKCE_VERIFIER: Rule = Rule {
    id: "RFC9700-2.1.1-pkce-verifier",
    level: Level::Must,
    source: RFC9700_2_1_1,
    title: "probe: a wrong or missing code_verifier gets 400 invalid_grant",
    explain: "RFC 9700 §2.1.1 requires PKCE; RFC 7636 §4.6 has the server compare the code_verifier with \
              the code_challenge and answer invalid_grant when they differ. A code issued with a challenge \
              and redeemed without a verifier is refused too (invalid_request is accepted for a missing one). \
              Otherwise PKCE protects nothing against a stolen code.",
    check: |x| {
        let codes: &[&str] = if x.sent.form_value("code_verifier").is_some() {
            &["invalid_grant"]
        } else {
            &["invalid_grant", "invalid_request"]
        };
        refused_with(
            x.received,
            codes,
            "a code redeemed with a wrong or missing code_verifier",
            "RFC 7636 §4.6 requires the server to refuse it",
            "RFC 7636 §4.6",
        )
    },
};

/// The auth-params of a `Bearer` challenge, if `h` is one (names lower-cased, quotes removed).
/// Good enough for one challenge per header value, which is what token servers send.
pub(super) fn bearer_params(h: &str) -> Option<Vec<(String, String)>> {
    let h = h.trim_start();
    let scheme = h.get(..6)?;
    if !scheme.eq_ignore_ascii_case("bearer")
        || h[6..].chars().next().is_some_and(|c| c != ' ' && c != ',')
    {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = &h[6..];
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            value = q[..end].to_string();
            rest = q.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        out.push((name, value));
    }
    Some(out)
}

fn bearer_challenge(r: &Received) -> Option<Vec<(String, String)>> {
    r.header_all("www-authenticate")
        .into_iter()
        .find_map(bearer_params)
}

pub static BEARER_401_CHALLENGE: Rule = Rule {
    id: "RFC6750-3-challenge",
    level: Level::Must,
    source: RFC6750_3,
    title: "a 401 answering a Bearer-authenticated request carries WWW-Authenticate: Bearer",
    explain: "RFC 6750 §3: if the protected resource request does not include authentication credentials or \
              does not contain an access token that enables access, the resource server MUST include the \
              HTTP WWW-Authenticate response header field with the Bearer scheme. Clients use it to tell an \
              expired token from other failures.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if s.bearer_token.is_none() || r.status != 401 || bearer_challenge(r).is_some() {
            return vec![];
        }
        let actual = r.header("www-authenticate").unwrap_or("(no WWW-Authenticate header)");
        vec![Violation::new(
            "a 401 answering a Bearer-authenticated request has no Bearer challenge; RFC 6750 §3 requires one",
        )
        .expected("WWW-Authenticate: Bearer error=\"invalid_token\"")
        .actual(actual)]
    },
};

pub static BEARER_ERROR_STATUS: Rule = Rule {
    id: "RFC6750-3.1-error-status",
    level: Level::Should,
    source: RFC6750_3_1,
    title: "a Bearer challenge's error matches the status (400, 401, 403)",
    explain: "RFC 6750 §3.1: for invalid_request the resource server SHOULD respond with 400, for \
              invalid_token with 401 and for insufficient_scope with 403; a SHOULD, so a warning. A mismatch makes clients retry what cannot succeed, or \
              give up on what a new token would fix.",
    check: |x| {
        let r = x.received;
        let Some(params) = bearer_challenge(r) else {
            return vec![];
        };
        let Some((_, code)) = params.iter().find(|(k, _)| k == "error") else {
            return vec![];
        };
        let want = match code.as_str() {
            "invalid_request" => 400,
            "invalid_token" => 401,
            "insufficient_scope" => 403,
            _ => return vec![],
        };
        if r.status == want {
            return vec![];
        }
        vec![Violation::new(format!(
            "WWW-Authenticate says error=\"{code}\" but the status is {}; RFC 6750 §3.1 pairs it with {want}",
            r.status
        ))
        .expected(want.to_string())
        .actual(r.status.to_string())]
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;
    use serde_json::json;

    fn token(rt: &str) -> Received {
        received(
            200,
            &[
                ("content-type", "application/json"),
                ("cache-control", "no-store"),
                ("pragma", "no-cache"),
            ],
            json!({"access_token": "abcdefghijklmnopqrstuvwxyz", "token_type": "Bearer", "expires_in": 600, "refresh_token": rt}),
        )
    }

    #[test]
    fn rotation() {
        // A public client: no client authentication.
        let s = sent(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "old-refresh-token"),
                ("client_id", "public-app"),
            ],
            false,
        );
        passes(&RT_ROTATION, &s, &token("new-refresh-token"));
        fails(&RT_ROTATION, &s, &token("old-refresh-token"));
        fails(&RT_ROTATION, &s, &json(200, json!({"access_token": "x"})));
        // Not a refresh: not applicable.
        passes(
            &RT_ROTATION,
            &sent(&[("grant_type", "client_credentials")], true),
            &json(200, json!({})),
        );
        for rule in REFRESH_RESPONSE.members() {
            passes(rule, &s, &token("new-refresh-token"));
        }
        // RFC 6749 §6: a confidential client's refresh token may stay the same.
        let confidential = sent(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "old-refresh-token"),
            ],
            true,
        );
        passes(&RT_ROTATION, &confidential, &token("old-refresh-token"));
    }

    #[test]
    fn replays() {
        let code = sent(&[("grant_type", "authorization_code"), ("code", "c")], true);
        let rt = sent(
            &[("grant_type", "refresh_token"), ("refresh_token", "r")],
            true,
        );
        let refused = json(400, json!({"error": "invalid_grant"}));
        passes(&CODE_REUSE, &code, &refused);
        passes(&RT_REPLAY, &rt, &refused);
        fails(&CODE_REUSE, &code, &token("r2"));
        fails(&RT_REPLAY, &rt, &token("r2"));
        fails(
            &RT_REPLAY,
            &rt,
            &json(400, json!({"error": "invalid_request"})),
        );
        // A denial with the wrong code is called a denial, not a missing one.
        let wrong_code = run(
            &CODE_REUSE,
            &code,
            &json(400, json!({"error": "invalid_request"})),
        );
        assert_eq!(
            wrong_code[0].message,
            "a second redemption of the same authorization code was refused, but with \
             `invalid_request` where RFC 6749 §5.2 says `invalid_grant`"
        );
        let unauthorized = run(
            &RT_REPLAY,
            &rt,
            &json(401, json!({"error": "invalid_client"})),
        );
        assert!(
            unauthorized[0]
                .message
                .contains("refused, but with `401 invalid_client` where RFC 6749 §5.2"),
            "{}",
            unauthorized[0].message
        );
        let granted = run(&RT_REPLAY, &rt, &token("r2"));
        assert!(granted[0]
            .message
            .contains("was answered 200 with an access token; RFC 9700"));
        // Each applies only to its own grant type.
        passes(&CODE_REUSE, &rt, &token("r2"));
        passes(&RT_REPLAY, &code, &token("r2"));
    }

    #[test]
    fn password_grant() {
        let s = sent(
            &[
                ("grant_type", "password"),
                ("username", "u"),
                ("password", "p"),
            ],
            true,
        );
        passes(
            &NO_PASSWORD_GRANT,
            &s,
            &json(400, json!({"error": "unsupported_grant_type"})),
        );
        passes(
            &NO_PASSWORD_GRANT,
            &s,
            &json(401, json!({"error": "invalid_client"})),
        );
        fails(&NO_PASSWORD_GRANT, &s, &token("r"));
    }

    #[test]
    fn pkce() {
        let wrong = sent(
            &[("grant_type", "authorization_code"), ("code_verifier", "x")],
            true,
        );
        let missing = sent(&[("grant_type", "authorization_code")], true);
        passes(
            &PKCE_VERIFIER,
            &wrong,
            &json(400, json!({"error": "invalid_grant"})),
        );
        passes(
            &PKCE_VERIFIER,
            &missing,
            &json(400, json!({"error": "invalid_request"})),
        );
        fails(
            &PKCE_VERIFIER,
            &wrong,
            &json(400, json!({"error": "invalid_request"})),
        );
        fails(&PKCE_VERIFIER, &wrong, &token("r"));
    }

    #[test]
    fn bearer_challenge_on_401() {
        let s = bearer("some-access-token");
        let ok = received(
            401,
            &[(
                "www-authenticate",
                "Bearer realm=\"x\", error=\"invalid_token\"",
            )],
            json!({}),
        );
        passes(&BEARER_401_CHALLENGE, &s, &ok);
        fails(
            &BEARER_401_CHALLENGE,
            &s,
            &json(401, json!({"message": "no"})),
        );
        let basic = received(401, &[("www-authenticate", "Basic realm=\"x\"")], json!({}));
        fails(&BEARER_401_CHALLENGE, &s, &basic);
        // No bearer sent: not this rule's business.
        passes(
            &BEARER_401_CHALLENGE,
            &sent(&[], true),
            &json(401, json!({})),
        );
    }

    #[test]
    fn bearer_error_status() {
        let s = bearer("t");
        let h = |v: &str, status| received(status, &[("www-authenticate", v)], json!({}));
        passes(
            &BEARER_ERROR_STATUS,
            &s,
            &h("Bearer error=\"invalid_token\"", 401),
        );
        passes(
            &BEARER_ERROR_STATUS,
            &s,
            &h("Bearer realm=\"r\",error=insufficient_scope", 403),
        );
        passes(&BEARER_ERROR_STATUS, &s, &h("Bearer realm=\"r\"", 401));
        fails(
            &BEARER_ERROR_STATUS,
            &s,
            &h("Bearer error=\"invalid_token\"", 400),
        );
        fails(
            &BEARER_ERROR_STATUS,
            &s,
            &h("bearer realm=\"a,b\", error=\"invalid_request\"", 401),
        );
    }

    #[test]
    fn bearer_params_never_panic() {
        for h in [
            "",
            "B",
            "Bearer",
            "Bearer=",
            "Bearer x=\"",
            "Bearer a=b=c,,",
            "Bearerx a=b",
            "Bé",
            "Beare\u{e9}",
        ] {
            let _ = bearer_params(h);
        }
        assert!(bearer_params("Bearerx a=b").is_none());
        assert_eq!(
            bearer_params("Bearer a=\"x, y\"").unwrap(),
            vec![("a".into(), "x, y".into())]
        );
    }
}
