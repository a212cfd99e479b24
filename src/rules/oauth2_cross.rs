//! What one response cannot show on its own: a lifetime stated twice (expires_in against a JWT's
//! or introspection's exp − iat), a refreshed scope against the original grant, the revocation
//! hint, the RFC 8693 actor token pair, and RFC 9700 advice (level INFO, never failing).
//!
//! A cross-response rule reads the earlier steps of its case (`x.earlier`) and finds there the
//! response that issued the token this request carries; without one it does nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::jwt;
use super::read::{body_member, error_code, scope_tokens, success, token_type_problem};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;
use crate::http::{Received, Sent};

const RFC6749_5_1: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-5.1";
const RFC6749_6: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-6";
const RFC7662_2_2: &str = "https://www.rfc-editor.org/rfc/rfc7662#section-2.2";
const RFC7009_2_1: &str = "https://www.rfc-editor.org/rfc/rfc7009#section-2.1";
const RFC8693_2_1: &str = "https://www.rfc-editor.org/rfc/rfc8693#section-2.1";
const RFC9700_2_2_1: &str = "https://www.rfc-editor.org/rfc/rfc9700#section-2.2.1";
const RFC9700_2_5: &str = "https://www.rfc-editor.org/rfc/rfc9700#section-2.5";

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

pub static SECURITY_ADVICE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.security-advice",
    summary: "RFC 9700 recommendations a token response can show (INFO: shown, never failing)",
    rules: &[&SENDER_CONSTRAINED, &CLIENT_AUTH_STRENGTH],
};

pub static ACTOR_TOKEN_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.actor-token-refused",
    summary: "probe: a token exchange with actor_token but no actor_token_type (or the reverse) is refused",
    rules: &[&ACTOR_TOKEN_PAIR],
};

/// Seconds two statements of one lifetime may differ by: clock skew, rounding, the time between
/// two requests. A lifetime in milliseconds is off by a factor of 1000, far outside it.
fn lifetime_slack(lifetime: i64) -> i64 {
    (lifetime / 10).max(120)
}

fn as_seconds(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `expires_in` against a second statement of the same lifetime, or None when they agree.
fn disagreement(expires_in: i64, other: i64, what: &str) -> Option<Violation> {
    if (expires_in - other).abs() <= lifetime_slack(other.abs()) {
        return None;
    }
    let unit = if other > 0 && (expires_in / other) >= 500 {
        " (expires_in looks like milliseconds)"
    } else {
        ""
    };
    Some(
        Violation::new(format!(
            "expires_in is {expires_in} s but {what} is {other} s{unit}; RFC 6749 §5.1 defines expires_in as the lifetime in seconds"
        ))
        .expected(format!("expires_in ≈ {other}"))
        .actual(expires_in.to_string())
        .at("$.expires_in"),
    )
}

pub static LIFETIME_MATCHES_JWT: Rule = Rule {
    id: "RFC6749-5.1-expires_in-matches-jwt",
    level: Level::Must,
    source: RFC6749_5_1,
    title: "expires_in agrees with a JWT access token's own exp − iat",
    explain: "RFC 6749 §5.1: expires_in is \"the lifetime in seconds of the access token\". When the access \
              token is a JWT with exp and iat (RFC 7519 §4.1.4, §4.1.6: NumericDate, seconds), the token \
              states its lifetime a second time, as exp − iat. The two must agree (within 10% or 120 s, for \
              rounding and clock skew); a lifetime sent in milliseconds is off by a factor of 1000, which a \
              plausibility bound on expires_in alone cannot see below a year. Opaque tokens, and JWTs \
              without numeric exp and iat, are not checked.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let Some(expires_in) = body_member(r, "expires_in").and_then(as_seconds) else {
            return vec![];
        };
        let Some(Value::String(token)) = body_member(r, "access_token") else {
            return vec![];
        };
        let Ok(jws) = jwt::decode(token) else {
            return vec![];
        };
        let (Some(exp), Some(iat)) = (
            jws.claim("exp").and_then(as_seconds),
            jws.claim("iat").and_then(as_seconds),
        ) else {
            return vec![];
        };
        disagreement(
            expires_in,
            exp - iat,
            "the JWT access token's exp − iat",
        )
        .into_iter()
        .collect()
    },
};

pub static INTROSPECTION_LIFETIME: Rule = Rule {
    id: "RFC7662-2.2-exp-matches-expires_in",
    level: Level::Must,
    source: RFC7662_2_2,
    title: "introspection's exp agrees with the expires_in the token response stated",
    explain: "RFC 7662 §2.2: exp and iat are NumericDates (seconds) of when the token expires and was \
              issued; RFC 6749 §5.1: expires_in is the lifetime in seconds. Applied to an active \
              introspection answer about a token an earlier step of the case received, with the \
              expires_in that step stated: exp − iat (or, without iat, exp − now) must agree with it \
              within 10% or 120 s. Catches a lifetime sent in milliseconds \
              and tokens that live far longer or shorter than the client was told.",
    check: |x| {
        let r = x.received;
        if !success(r) || body_member(r, "active") != Some(&Value::Bool(true)) {
            return vec![];
        }
        let Some(token) = x.sent.form_value("token") else {
            return vec![];
        };
        let Some(expires_in) = issued(x.earlier, "access_token", token)
            .and_then(|(_, r)| body_member(r, "expires_in"))
            .and_then(as_seconds)
        else {
            return vec![];
        };
        let Some(exp) = body_member(r, "exp").and_then(as_seconds) else {
            return vec![];
        };
        match body_member(r, "iat").and_then(as_seconds) {
            Some(iat) => disagreement(expires_in, exp - iat, "introspection's exp − iat")
                .into_iter()
                .collect(),
            None => {
                let left = exp - now();
                // Without iat only an upper bound is known: the token cannot have more left
                // than it was issued with, and must not be far below it either (the steps run
                // within seconds of each other).
                disagreement(expires_in, left, "the time introspection's exp leaves")
                    .into_iter()
                    .collect()
            }
        }
    },
};

pub static INTROSPECTION_TOKEN_TYPE: Rule = Rule {
    id: "RFC7662-2.2-token_type",
    level: Level::Must,
    source: RFC7662_2_2,
    title: "introspection's token_type is an RFC 6749 token type, the one the token was issued as",
    explain: "RFC 7662 §2.2: token_type is the \"type of the token as defined in Section 5.1 of OAuth 2.0\": \
              a registered access token type (Bearer, DPoP, N_A, PoP; RFC 6749 §7.1, §11.1) or an absolute \
              URI, not a kind of token such as `access_token`. Where an earlier step of the case received \
              the introspected token, introspection must name the type that response stated (compared \
              case-insensitively, §5.1). Optional: an answer without token_type passes.",
    check: |x| {
        let r = x.received;
        if !success(r) || body_member(r, "active") != Some(&Value::Bool(true)) {
            return vec![];
        }
        let Some(said) = body_member(r, "token_type").and_then(Value::as_str) else {
            return vec![];
        };
        if let Some(why) = token_type_problem(said) {
            return vec![Violation::new(format!("introspection's {why}"))
                .expected("Bearer, DPoP, N_A, PoP (any case) or an absolute URI")
                .actual(said)
                .at("$.token_type")];
        }
        let issued_as = x
            .sent
            .form_value("token")
            .and_then(|token| issued(x.earlier, "access_token", token))
            .and_then(|(_, r)| body_member(r, "token_type"))
            .and_then(Value::as_str);
        match issued_as {
            Some(t) if !t.eq_ignore_ascii_case(said) => vec![Violation::new(format!(
                "introspection says token_type {said:?}, the token response issued it as {t:?}"
            ))
            .expected(t)
            .actual(said)
            .at("$.token_type")],
            _ => vec![],
        }
    },
};

pub static REFRESH_SCOPE: Rule = Rule {
    id: "RFC6749-6-scope-not-wider",
    // §6's MUST binds the client's request; §3.3 lets a server issue another scope than asked
    // (saying so in `scope`), so a widening is a warning, as RFC6749-3.3-scope-not-wider is.
    level: Level::Should,
    source: RFC6749_6,
    title: "a refreshed token's scope is not wider than the grant it refreshes",
    explain: "RFC 6749 §6: the requested scope \"MUST NOT include any scope not originally granted by the \
              resource owner, and if omitted is treated as equal to the scope originally granted\"; a new \
              access token with more scope than the original grant escalates privilege through refresh. \
              Applied to a refresh_token grant's success whose refresh token an earlier step of the case \
              received: the original scope is that response's scope (or its request's, §5.1); a refresh \
              response without scope is the original scope, so it passes. A SHOULD: §6's MUST binds the \
              client's request, and §3.3 lets a server issue a scope other than the one requested.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if !success(r) || s.grant_type() != Some("refresh_token") {
            return vec![];
        }
        let Some(Value::String(granted)) = body_member(r, "scope") else {
            return vec![];
        };
        let Some(rt) = s.form_value("refresh_token") else {
            return vec![];
        };
        // The original grant's scope: what the response that issued the refresh token said, or
        // (§5.1: omitted when identical) what its request asked for.
        let Some(original) = issued(x.earlier, "refresh_token", rt).and_then(|(s, r)| {
            match body_member(r, "scope") {
                Some(Value::String(scope)) => Some(scope.as_str()),
                _ => s.form_value("scope"),
            }
        }) else {
            return vec![];
        };
        let original = scope_tokens(original);
        let extra: Vec<&str> = scope_tokens(granted)
            .into_iter()
            .filter(|t| !original.contains(t))
            .collect();
        if extra.is_empty() {
            return vec![];
        }
        vec![Violation::new(format!(
            "the refreshed token has scope the original grant did not: {}",
            extra.join(" ")
        ))
        .expected(format!("within {:?}", original.join(" ")))
        .actual(granted.clone())
        .at("$.scope")]
    },
};

pub static REVOCATION_HINT: Rule = Rule {
    id: "RFC7009-2.1-hint-not-binding",
    level: Level::Must,
    source: RFC7009_2_1,
    title: "a token_type_hint does not stop revocation",
    explain: "RFC 7009 §2.1: token_type_hint is OPTIONAL; \"If the server is unable to locate the token \
              using the given hint, it MUST extend its search across all of its supported token types. An \
              authorization server MAY ignore this parameter\". A hint that names the wrong type must \
              therefore not turn a revocation into an error. Applied to a revocation that carried a hint: a \
              400 other than invalid_request/invalid_client fails (unsupported_token_type is for a token \
              type the server cannot revoke at all, which the suite's case does not send). Whether the \
              token was really revoked is for the case's next step (introspection) to show.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        let Some(hint) = s.form_value("token_type_hint") else {
            return vec![];
        };
        if s.form_value("token").is_none_or(str::is_empty) || r.status != 400 {
            return vec![];
        }
        let code = error_code(r).unwrap_or("(no error code)");
        if matches!(code, "invalid_request" | "invalid_client") {
            return vec![];
        }
        vec![Violation::new(format!(
            "revoking with token_type_hint={hint:?} was answered 400 {code}; RFC 7009 §2.1: a server that cannot find the token with the hint MUST search every type"
        ))
        .expected("200")
        .actual(format!("400 {code}"))]
    },
};

pub static ACTOR_TOKEN_PAIR: Rule = Rule {
    id: "RFC8693-2.1-actor-token-type",
    level: Level::Must,
    source: RFC8693_2_1,
    title: "probe: actor_token and actor_token_type come together, or the request is invalid_request",
    explain: "RFC 8693 §2.1: actor_token_type is \"REQUIRED when the actor_token parameter is present in the \
              request but MUST NOT be included otherwise\"; a request with only one of them is missing a \
              required parameter or includes one it must not, which RFC 6749 §5.2 names invalid_request. \
              Applied to a token exchange request with exactly one of the two: a token fails; an error \
              other than invalid_request fails, except unsupported_grant_type and unauthorized_client (a \
              server or client without token exchange at all, which RFC 6749 sets no order against).",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if s.grant_type() != Some(TOKEN_EXCHANGE) {
            return vec![];
        }
        let (token, kind) = (
            s.form_value("actor_token").is_some(),
            s.form_value("actor_token_type").is_some(),
        );
        if token == kind {
            return vec![];
        }
        let what = if token {
            "actor_token without actor_token_type"
        } else {
            "actor_token_type without actor_token"
        };
        if success(r) && body_member(r, "access_token").is_some() {
            return vec![Violation::new(format!(
                "a token exchange with {what} was answered {} with a token; RFC 8693 §2.1 makes it invalid",
                r.status
            ))
            .expected("400 invalid_request")
            .actual(format!("{} with a token", r.status))];
        }
        let code = error_code(r);
        if r.status == 400
            && matches!(
                code,
                Some("invalid_request" | "unsupported_grant_type" | "unauthorized_client")
            )
        {
            return vec![];
        }
        let got = format!("{} {}", r.status, code.unwrap_or("(no error code)"));
        vec![Violation::new(format!(
            "a token exchange with {what} was answered {got}; RFC 8693 §2.1 and RFC 6749 §5.2 want invalid_request"
        ))
        .expected("400 invalid_request")
        .actual(got)]
    },
};

/// The latest earlier exchange whose response issued `token` as its `member`.
pub(super) fn issued<'a>(
    earlier: &'a [(Sent, Received)],
    member: &str,
    token: &str,
) -> Option<&'a (Sent, Received)> {
    earlier
        .iter()
        .rev()
        .find(|(_, r)| success(r) && body_member(r, member).and_then(Value::as_str) == Some(token))
}

/// How the request authenticated the client, in RFC 7591 §2 / RFC 8414 names.
pub(crate) fn auth_method(s: &Sent) -> Option<&'static str> {
    if s.basic_auth {
        Some("client_secret_basic")
    } else if s.form_value("client_secret").is_some() {
        Some("client_secret_post")
    } else if s.form_value("client_assertion").is_some() {
        Some("private_key_jwt")
    } else {
        None
    }
}

fn token_success(r: &Received) -> bool {
    success(r) && body_member(r, "access_token").is_some()
}

pub static SENDER_CONSTRAINED: Rule = Rule {
    id: "RFC9700-2.2.1-sender-constrained",
    level: Level::Info,
    source: RFC9700_2_2_1,
    title: "advice: access tokens are sender-constrained (DPoP or mutual TLS)",
    explain: "RFC 9700 §2.2.1: \"Authorization and resource servers SHOULD use mechanisms for \
              sender-constraining access tokens, such as Mutual TLS for OAuth 2.0 [RFC8705] or OAuth 2.0 \
              Demonstrating Proof of Possession (DPoP) [RFC9449]\". A Bearer token works for whoever holds \
              it. INFO, not SHOULD: a token bound by mutual TLS still says token_type Bearer (RFC 8705 \
              §3), so one response cannot tell, and the harness does not send DPoP proofs.",
    check: |x| {
        let r = x.received;
        if !token_success(r) {
            return vec![];
        }
        match body_member(r, "token_type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("bearer") => vec![Violation::new(
                "the access token is a Bearer token; RFC 9700 §2.2.1 recommends sender-constrained tokens (DPoP, RFC 9449, or mutual TLS, RFC 8705)",
            )
            .expected("token_type DPoP, or a certificate-bound token")
            .actual(t.to_string())
            .at("$.token_type")],
            _ => vec![],
        }
    },
};

pub static CLIENT_AUTH_STRENGTH: Rule = Rule {
    id: "RFC9700-2.5-client-auth",
    level: Level::Info,
    source: RFC9700_2_5,
    title: "advice: confidential clients authenticate with asymmetric keys",
    explain: "RFC 9700 §2.5: \"It is RECOMMENDED to use asymmetric cryptography for client authentication, \
              such as mTLS [RFC8705] or signed JWTs (\\\"Private Key JWT\\\") in accordance with [RFC7521] \
              and [RFC7523]\"; the server then holds no secret that can leak. Reported when a token was \
              issued to a client that authenticated with a shared secret (client_secret_basic or \
              client_secret_post). INFO: a recommendation about the deployment, not a requirement a \
              response can break.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if !token_success(r) {
            return vec![];
        }
        match auth_method(s) {
            Some(m @ ("client_secret_basic" | "client_secret_post")) => vec![Violation::new(format!(
                "the client authenticated with {m} (a shared secret); RFC 9700 §2.5 recommends private_key_jwt or mutual TLS"
            ))
            .expected("private_key_jwt, tls_client_auth or self_signed_tls_client_auth")
            .actual(m)],
            _ => vec![],
        }
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;
    use serde_json::json;

    fn jwt_token(exp_minus_iat: i64) -> String {
        let iat = 1_700_000_000;
        jwt::encode_for_test(
            &json!({"alg": "RS256", "typ": "at+jwt"}),
            &json!({"iat": iat, "exp": iat + exp_minus_iat, "sub": "u"}),
        )
    }

    #[test]
    fn expires_in_must_agree_with_the_jwts_own_lifetime() {
        let s = sent(&[("grant_type", "client_credentials")], true);
        let body = |expires_in: i64| {
            json(
                200,
                json!({"access_token": jwt_token(3600), "token_type": "Bearer", "expires_in": expires_in}),
            )
        };
        passes(&LIFETIME_MATCHES_JWT, &s, &body(3600));
        passes(&LIFETIME_MATCHES_JWT, &s, &body(3599));
        fails(&LIFETIME_MATCHES_JWT, &s, &body(3_600_000));
        let v = run(&LIFETIME_MATCHES_JWT, &s, &body(3_600_000));
        assert!(v[0].message.contains("milliseconds"), "{v:?}");
        fails(&LIFETIME_MATCHES_JWT, &s, &body(86_400));
        // An opaque token states its lifetime once: nothing to compare.
        passes(
            &LIFETIME_MATCHES_JWT,
            &s,
            &json(
                200,
                json!({"access_token": "opaque-token-value", "expires_in": 3_600_000}),
            ),
        );
    }

    /// An earlier token response that issued `access_token` (and `refresh`) with `extra` members.
    fn issued_by(access: &str, extra: serde_json::Value) -> (Sent, Received) {
        let mut body = json!({"access_token": access, "token_type": "Bearer"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        (
            sent(&[("grant_type", "client_credentials")], true),
            json(200, body),
        )
    }

    #[test]
    fn introspection_lifetime_agrees_with_the_issuing_responses_expires_in() {
        let s = sent(&[("token", "at-1")], true);
        let answer =
            |iat: i64, exp: i64| json(200, json!({"active": true, "iat": iat, "exp": exp}));
        let t = now();
        let agree = answer(t, t + 3600);
        let seconds = [issued_by("at-1", json!({"expires_in": 3600}))];
        let millis = [issued_by("at-1", json!({"expires_in": 3_600_000}))];
        assert!(run_after(&INTROSPECTION_LIFETIME, &s, &agree, &seconds).is_empty());
        let v = run_after(&INTROSPECTION_LIFETIME, &s, &agree, &millis);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("milliseconds"));
        // Without iat: the time left must agree.
        let no_iat = json(200, json!({"active": true, "exp": t + 3590}));
        assert!(run_after(&INTROSPECTION_LIFETIME, &s, &no_iat, &seconds).is_empty());
        let short = [issued_by("at-1", json!({"expires_in": 600}))];
        assert_eq!(
            run_after(&INTROSPECTION_LIFETIME, &s, &no_iat, &short).len(),
            1
        );
        // Another token, no earlier step, or an inactive token: nothing to compare.
        let other = [issued_by("at-2", json!({"expires_in": 3_600_000}))];
        assert!(run_after(&INTROSPECTION_LIFETIME, &s, &agree, &other).is_empty());
        passes(&INTROSPECTION_LIFETIME, &s, &agree);
        let inactive = json(200, json!({"active": false}));
        assert!(run_after(&INTROSPECTION_LIFETIME, &s, &inactive, &millis).is_empty());
    }

    #[test]
    fn introspection_names_a_token_type_and_the_one_the_token_was_issued_as() {
        let s = sent(&[("token", "at-1")], true);
        let says = |t: &str| json(200, json!({"active": true, "token_type": t}));
        let bearer = [issued_by("at-1", json!({"token_type": "Bearer"}))];
        let mac = [issued_by("at-1", json!({"token_type": "mac"}))];
        assert!(run_after(&INTROSPECTION_TOKEN_TYPE, &s, &says("bearer"), &bearer).is_empty());
        // A kind of token is not a token type.
        let v = run_after(
            &INTROSPECTION_TOKEN_TYPE,
            &s,
            &says("access_token"),
            &bearer,
        );
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("registered"), "{v:?}");
        // The token response said mac, introspection says Bearer: one of them is wrong.
        let v = run_after(&INTROSPECTION_TOKEN_TYPE, &s, &says("Bearer"), &mac);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("issued it as \"mac\""), "{v:?}");
        // No token_type, an inactive token, or no earlier step: nothing to hold.
        passes(
            &INTROSPECTION_TOKEN_TYPE,
            &s,
            &json(200, json!({"active": true})),
        );
        passes(
            &INTROSPECTION_TOKEN_TYPE,
            &s,
            &json(200, json!({"active": false, "token_type": "x"})),
        );
        passes(&INTROSPECTION_TOKEN_TYPE, &s, &says("DPoP"));
    }

    #[test]
    fn a_refreshed_scope_stays_within_the_original_grant() {
        let s = sent(
            &[("grant_type", "refresh_token"), ("refresh_token", "rt-1")],
            true,
        );
        let r = |scope: &str| json(200, json!({"access_token": "a", "scope": scope}));
        let original = [issued_by(
            "at-1",
            json!({"refresh_token": "rt-1", "scope": "read write"}),
        )];
        assert!(run_after(&REFRESH_SCOPE, &s, &r("read"), &original).is_empty());
        assert!(run_after(&REFRESH_SCOPE, &s, &r("write read"), &original).is_empty());
        let v = run_after(&REFRESH_SCOPE, &s, &r("read admin"), &original);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("admin"));
        // The original response without scope: its request's scope is the grant (§5.1).
        let asked = [(
            sent(&[("grant_type", "password"), ("scope", "read")], true),
            json(
                200,
                json!({"access_token": "at-1", "refresh_token": "rt-1"}),
            ),
        )];
        assert_eq!(
            run_after(&REFRESH_SCOPE, &s, &r("read write"), &asked).len(),
            1
        );
        // No scope in the refresh response is the original scope (§5.1).
        let no_scope = json(200, json!({"access_token": "a"}));
        assert!(run_after(&REFRESH_SCOPE, &s, &no_scope, &original).is_empty());
        // A refresh token no earlier step received (the target's own): nothing to compare.
        passes(&REFRESH_SCOPE, &s, &r("read admin"));
    }

    #[test]
    fn a_wrong_revocation_hint_does_not_stop_revocation() {
        let hinted = sent(
            &[("token", "t"), ("token_type_hint", "refresh_token")],
            true,
        );
        passes(&REVOCATION_HINT, &hinted, &received(200, &[], json!({})));
        passes(
            &REVOCATION_HINT,
            &hinted,
            &json(400, json!({"error": "invalid_request"})),
        );
        fails(
            &REVOCATION_HINT,
            &hinted,
            &json(400, json!({"error": "unsupported_token_type"})),
        );
        let plain = sent(&[("token", "t")], true);
        passes(
            &REVOCATION_HINT,
            &plain,
            &json(400, json!({"error": "unsupported_token_type"})),
        );
    }

    #[test]
    fn actor_token_and_its_type_come_together() {
        let one = |name: &str| {
            sent(
                &[
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token", "s"),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:access_token",
                    ),
                    (name, "x"),
                ],
                true,
            )
        };
        let refused = json(400, json!({"error": "invalid_request"}));
        let token = json(
            200,
            json!({"access_token": "a", "issued_token_type": "x", "token_type": "N_A"}),
        );
        for name in ["actor_token", "actor_token_type"] {
            passes(&ACTOR_TOKEN_PAIR, &one(name), &refused);
            passes(
                &ACTOR_TOKEN_PAIR,
                &one(name),
                &json(400, json!({"error": "unsupported_grant_type"})),
            );
            fails(&ACTOR_TOKEN_PAIR, &one(name), &token);
            fails(
                &ACTOR_TOKEN_PAIR,
                &one(name),
                &json(400, json!({"error": "invalid_grant"})),
            );
        }
        // Both, or neither: the pairing is right, whatever the answer.
        let both = sent(
            &[
                ("grant_type", TOKEN_EXCHANGE),
                ("actor_token", "x"),
                ("actor_token_type", "y"),
            ],
            true,
        );
        passes(&ACTOR_TOKEN_PAIR, &both, &token);
    }

    #[test]
    fn advice_is_info_and_fires_on_bearer_tokens_and_shared_secrets() {
        assert_eq!(SENDER_CONSTRAINED.level, Level::Info);
        assert_eq!(CLIENT_AUTH_STRENGTH.level, Level::Info);
        let token = json(200, json!({"access_token": "a", "token_type": "Bearer"}));
        let basic = sent(&[("grant_type", "client_credentials")], true);
        fails(&SENDER_CONSTRAINED, &basic, &token);
        passes(
            &SENDER_CONSTRAINED,
            &basic,
            &json(200, json!({"access_token": "a", "token_type": "DPoP"})),
        );
        fails(&CLIENT_AUTH_STRENGTH, &basic, &token);
        let post = sent(&[("client_id", "c"), ("client_secret", "s")], false);
        fails(&CLIENT_AUTH_STRENGTH, &post, &token);
        let jwt = sent(&[("client_assertion", "eyJ…")], false);
        passes(&CLIENT_AUTH_STRENGTH, &jwt, &token);
        // An error is not a token issued to anyone.
        passes(
            &CLIENT_AUTH_STRENGTH,
            &basic,
            &json(401, json!({"error": "invalid_client"})),
        );
    }
}
