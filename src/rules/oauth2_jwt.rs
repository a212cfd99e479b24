//! Tokens that are JWTs: RFC 9068 access tokens (only when they declare `at+jwt`) and OpenID
//! Connect id_tokens. Decoded without verifying: a conformance check, not a relying party.

use serde_json::Value;

use super::jwt::{self, Jws};
use super::read::{body_member, success, token_summary};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;
use crate::http::Received;

const RFC9068_2_1: &str = "https://www.rfc-editor.org/rfc/rfc9068#section-2.1";
const RFC9068_2_2: &str = "https://www.rfc-editor.org/rfc/rfc9068#section-2.2";
const OIDC_ID_TOKEN: &str = "https://openid.net/specs/openid-connect-core-1_0.html#IDToken";

pub static JWT_ACCESS_TOKEN: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.jwt-access-token",
    summary: "an access token that declares the RFC 9068 profile (typ at+jwt) follows it",
    rules: &[&AT_JWT_ALG, &AT_JWT_CLAIMS],
};

pub static ID_TOKEN: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.id-token",
    summary: "an id_token in a token response is a JWS with the OpenID Connect required claims",
    rules: &[&ID_TOKEN_CLAIMS],
};

/// The access token of a success response, decoded, when its header declares RFC 9068.
fn at_jwt(r: &Received) -> Option<Jws> {
    if !success(r) {
        return None;
    }
    let token = body_member(r, "access_token")?.as_str()?;
    let jws = jwt::decode(token).ok()?;
    matches!(jws.typ().as_deref(), Some("at+jwt" | "application/at+jwt")).then_some(jws)
}

fn missing_claims(jws: &Jws, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|n| jws.claim(n).is_none_or(Value::is_null))
        .map(|n| n.to_string())
        .collect()
}

/// `exp`, `iat` (and `nbf`) are NumericDate: a JSON number (RFC 7519 §2).
fn non_numeric_dates(jws: &Jws) -> Vec<String> {
    ["exp", "iat", "nbf"]
        .iter()
        .filter(|n| jws.claim(n).is_some_and(|v| !v.is_number()))
        .map(|n| n.to_string())
        .collect()
}

pub static AT_JWT_ALG: Rule = Rule {
    id: "RFC9068-2.1-typ",
    level: Level::Must,
    source: RFC9068_2_1,
    title: "an at+jwt access token is signed (alg is not none)",
    explain: "RFC 9068 §2.1: JWT access tokens MUST be signed and MUST NOT use alg \"none\"; the typ \
              header at+jwt (or application/at+jwt) says the token follows this profile. Checked only \
              when the token declares that typ: other JWT access tokens are not held to RFC 9068.",
    check: |x| {
        let Some(jws) = at_jwt(x.received) else {
            return vec![];
        };
        match jws.header.get("alg").and_then(Value::as_str) {
            Some(alg) if !alg.eq_ignore_ascii_case("none") => vec![],
            Some(_) => vec![Violation::new(
                "the at+jwt access token is unsigned (alg \"none\"); RFC 9068 §2.1 requires a signature",
            )
            .expected("a signing alg such as RS256")
            .actual("none")
            .at("$.access_token")],
            None => vec![Violation::new("the at+jwt access token's header has no alg")
                .expected("a signing alg such as RS256")
                .at("$.access_token")],
        }
    },
};

pub static AT_JWT_CLAIMS: Rule = Rule {
    id: "RFC9068-2.2-claims",
    level: Level::Must,
    source: RFC9068_2_2,
    title: "an at+jwt access token has iss, exp, aud, sub, client_id, iat and jti",
    explain: "RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat and jti are REQUIRED in a JWT access \
              token; exp and iat are NumericDate (numbers). Resource servers reject a token without them.",
    check: |x| {
        let Some(jws) = at_jwt(x.received) else {
            return vec![];
        };
        let mut out = Vec::new();
        let missing = missing_claims(
            &jws,
            &["iss", "exp", "aud", "sub", "client_id", "iat", "jti"],
        );
        if !missing.is_empty() {
            out.push(
                Violation::new(format!(
                    "the at+jwt access token lacks {}; RFC 9068 §2.2 requires them",
                    missing.join(", ")
                ))
                .expected("iss, exp, aud, sub, client_id, iat, jti")
                .at("$.access_token"),
            );
        }
        let bad = non_numeric_dates(&jws);
        if !bad.is_empty() {
            out.push(
                Violation::new(format!(
                    "{} in the at+jwt access token is not a number of seconds",
                    bad.join(", ")
                ))
                .expected("NumericDate (a JSON number)")
                .at("$.access_token"),
            );
        }
        out
    },
};

pub static ID_TOKEN_CLAIMS: Rule = Rule {
    id: "OIDC-2-id-token-claims",
    level: Level::Must,
    source: OIDC_ID_TOKEN,
    title: "an id_token is a JWS with iss, sub, aud, exp and iat",
    explain: "OpenID Connect Core §2: the ID Token is a JWT whose claims include iss, sub, aud, exp and iat \
              (all REQUIRED), and §3.1.3.7 has the client validate them. A token response whose id_token \
              does not decode, or lacks one of them, cannot be validated by any relying party. \
              (An encrypted, five-part id_token is not inspected.)",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let Some(v) = body_member(r, "id_token") else {
            return vec![];
        };
        let Some(token) = v.as_str() else {
            return vec![Violation::new("id_token is not a string").at("$.id_token")];
        };
        if token.split('.').count() == 5 {
            return vec![];
        }
        let jws = match jwt::decode(token) {
            Ok(j) => j,
            Err(why) => {
                return vec![Violation::new(format!(
                    "id_token {} is not a JWS: {why}",
                    token_summary(token)
                ))
                .expected("header.payload.signature (base64url JSON)")
                .at("$.id_token")]
            }
        };
        let mut out = Vec::new();
        let missing = missing_claims(&jws, &["iss", "sub", "aud", "exp", "iat"]);
        if !missing.is_empty() {
            out.push(
                Violation::new(format!(
                    "the id_token lacks {}; OpenID Connect Core §2 requires them",
                    missing.join(", ")
                ))
                .expected("iss, sub, aud, exp, iat")
                .at("$.id_token"),
            );
        }
        let bad = non_numeric_dates(&jws);
        if !bad.is_empty() {
            out.push(
                Violation::new(format!(
                    "{} in the id_token is not a number of seconds",
                    bad.join(", ")
                ))
                .expected("NumericDate (a JSON number)")
                .at("$.id_token"),
            );
        }
        out
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::jwt::encode_for_test;
    use crate::rules::testutil::*;
    use serde_json::json;

    fn with_token(field: &str, header: Value, payload: Value) -> Received {
        json(
            200,
            json!({ field: encode_for_test(&header, &payload), "token_type": "Bearer" }),
        )
    }

    fn at_claims() -> Value {
        json!({"iss": "https://as", "exp": 2, "aud": "api", "sub": "u", "client_id": "c", "iat": 1, "jti": "j"})
    }

    #[test]
    fn at_jwt_alg() {
        let s = sent(&[], true);
        let good = with_token(
            "access_token",
            json!({"alg": "RS256", "typ": "at+jwt"}),
            at_claims(),
        );
        passes(&AT_JWT_ALG, &s, &good);
        let none = with_token(
            "access_token",
            json!({"alg": "none", "typ": "application/at+jwt"}),
            at_claims(),
        );
        fails(&AT_JWT_ALG, &s, &none);
        // Not declared as RFC 9068: not held to it.
        let plain = with_token(
            "access_token",
            json!({"alg": "none", "typ": "JWT"}),
            json!({}),
        );
        passes(&AT_JWT_ALG, &s, &plain);
        passes(
            &AT_JWT_ALG,
            &s,
            &json(200, json!({"access_token": "opaque"})),
        );
    }

    #[test]
    fn at_jwt_claims() {
        let s = sent(&[], true);
        let h = json!({"alg": "ES256", "typ": "at+jwt"});
        passes(
            &AT_JWT_CLAIMS,
            &s,
            &with_token("access_token", h.clone(), at_claims()),
        );
        fails(
            &AT_JWT_CLAIMS,
            &s,
            &with_token("access_token", h.clone(), json!({"iss": "x", "sub": "u"})),
        );
        let mut c = at_claims();
        c["exp"] = json!("2");
        fails(&AT_JWT_CLAIMS, &s, &with_token("access_token", h, c));
    }

    #[test]
    fn id_token_claims() {
        let s = sent(&[("grant_type", "authorization_code")], true);
        let h = json!({"alg": "ES256"});
        let good = json!({"iss": "https://as", "sub": "u", "aud": "c", "exp": 2, "iat": 1});
        passes(
            &ID_TOKEN_CLAIMS,
            &s,
            &with_token("id_token", h.clone(), good),
        );
        passes(
            &ID_TOKEN_CLAIMS,
            &s,
            &json(200, json!({"access_token": "x"})),
        );
        fails(
            &ID_TOKEN_CLAIMS,
            &s,
            &with_token("id_token", h, json!({"iss": "https://as", "sub": "u"})),
        );
        fails(
            &ID_TOKEN_CLAIMS,
            &s,
            &json(200, json!({"id_token": "not-a-jwt"})),
        );
        fails(&ID_TOKEN_CLAIMS, &s, &json(200, json!({"id_token": 5})));
    }
}
