//! Revocation (RFC 7009), introspection (RFC 7662) and token exchange (RFC 8693) responses.

use serde_json::Value;

use super::oauth2 as o;
use super::read::{
    body_member, describe, error_code, is_error, is_json_media_type, not_json_object, success,
    REGISTERED_ERRORS,
};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;
use crate::http::Received;

const RFC7009_2_2: &str = "https://www.rfc-editor.org/rfc/rfc7009#section-2.2";
const RFC7009_2_2_1: &str = "https://www.rfc-editor.org/rfc/rfc7009#section-2.2.1";
const RFC7662_2_1: &str = "https://www.rfc-editor.org/rfc/rfc7662#section-2.1";
const RFC7662_2_2: &str = "https://www.rfc-editor.org/rfc/rfc7662#section-2.2";
const RFC8693_2_2_1: &str = "https://www.rfc-editor.org/rfc/rfc8693#section-2.2.1";
const RFC8693_2_2_2: &str = "https://www.rfc-editor.org/rfc/rfc8693#section-2.2.2";

pub static REVOCATION_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.revocation-response",
    summary: "a successful revocation: 200; errors as RFC 7009 §2.2.1 defines them",
    rules: &[
        &REVOKED_200,
        &REVOCATION_ERROR,
        &super::oauth2_cross::REVOCATION_HINT,
    ],
};

pub static REVOCATION_INVALID_TOKEN: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.revocation-invalid-token",
    summary: "probe: revoking an invalid or unknown token is still 200 (RFC 7009 §2.2)",
    rules: &[&INVALID_TOKEN_200, &REVOCATION_ERROR],
};

pub static REVOCATION_ERROR_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.revocation-error",
    summary:
        "a revocation error (a bad request, not an unknown token) as RFC 7009 §2.2.1 defines it",
    rules: &[
        &REVOCATION_ERROR,
        &o::ERROR_CONTENT_TYPE,
        &o::ERROR_CHARSET,
        &o::NO_TOKEN_IN_ERROR,
    ],
};

pub static INTROSPECTION_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.introspection-response",
    summary: "an introspection answer as RFC 7662 §2.2 defines it",
    rules: &[
        &INTROSPECTION_ACTIVE,
        &INTROSPECTION_CONTENT_TYPE,
        &INTROSPECTION_INACTIVE_ONLY,
        &INTROSPECTION_CLAIM_TYPES,
        &o::ERROR_CONTENT_TYPE,
        &super::oauth2_cross::INTROSPECTION_LIFETIME,
        &super::oauth2_cross::INTROSPECTION_TOKEN_TYPE,
    ],
};

pub static INTROSPECTION_AUTH_REQUIRED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.introspection-auth-required",
    summary: "probe: an introspection call without client credentials is refused (400, 401 or 403)",
    rules: &[&INTROSPECTION_AUTHENTICATION, &o::NO_TOKEN_IN_ERROR],
};

pub static TOKEN_EXCHANGE_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.token-exchange-response",
    summary: "a token exchange success as RFC 8693 §2.2.1 defines it",
    rules: &[
        &o::CONTENT_TYPE,
        &o::NO_STORE,
        &o::EXPIRES_IN,
        &o::SCOPE,
        &o::TOKEN_CHARSET,
        &TX_ACCESS_TOKEN,
        &TX_ISSUED_TOKEN_TYPE,
        &TX_TOKEN_TYPE,
    ],
};

pub static TOKEN_EXCHANGE_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.token-exchange-refused",
    summary: "probe: an invalid subject_token gets 400 invalid_request (RFC 8693 §2.2.2)",
    rules: &[
        &TX_INVALID_REQUEST,
        &o::ERROR_CONTENT_TYPE,
        &o::ERROR_CODE,
        &o::ERROR_CHARSET,
        &o::NO_TOKEN_IN_ERROR,
    ],
};

pub static REVOKED_200: Rule = Rule {
    id: "RFC7009-2.2-revoked-200",
    level: Level::Must,
    source: RFC7009_2_2,
    title: "a successful revocation is 200",
    explain: "RFC 7009 §2.2: the authorization server responds with HTTP status code 200 if the token has \
              been revoked successfully (the body is ignored). 204 or a redirect is not what clients expect.",
    check: |x| {
        let r = x.received;
        if r.status == 200 {
            return vec![];
        }
        vec![Violation::new(format!(
            "the revocation was answered {}; RFC 7009 §2.2 answers a successful revocation with 200",
            r.status
        ))
        .expected("200")
        .actual(r.status.to_string())]
    },
};

pub static INVALID_TOKEN_200: Rule = Rule {
    id: "RFC7009-2.2-invalid-token-200",
    level: Level::Must,
    source: RFC7009_2_2,
    title: "probe: revoking an invalid or unknown token is still 200",
    explain: "RFC 7009 §2.2: invalid tokens do not cause an error response, since the client cannot handle \
              such an error in a reasonable way and the purpose of the revocation request, invalidating \
              the token, is already achieved. Answering 400 leaks which tokens exist.",
    check: |x| {
        let r = x.received;
        if r.status == 200 {
            return vec![];
        }
        let got = match error_code(r) {
            Some(c) => format!("{} {c}", r.status),
            None => r.status.to_string(),
        };
        vec![Violation::new(format!(
            "revoking an unknown token was answered {got}; RFC 7009 §2.2 answers it with 200"
        ))
        .expected("200")
        .actual(got)]
    },
};

pub static REVOCATION_ERROR: Rule = Rule {
    id: "RFC7009-2.2.1-error",
    level: Level::Must,
    source: RFC7009_2_2_1,
    title: "a revocation error is 400 with a registered code (401 for invalid_client), or 503",
    explain: "RFC 7009 §2.2.1: the error presentation conforms to RFC 6749 §5.2 (400, or 401 for \
              invalid_client), with the extra code unsupported_token_type; a server that is temporarily \
              unable to revoke answers 503, and \"may include a Retry-After header\" (a choice, so its \
              absence is not a finding).",
    check: |x| {
        let r = x.received;
        if !is_error(r) || r.status == 503 {
            return vec![];
        }
        let code = error_code(r);
        let status_ok = r.status == 400 || (r.status == 401 && code == Some("invalid_client"));
        let code_ok = code.is_some_and(|c| REGISTERED_ERRORS.contains(&c));
        if status_ok && code_ok {
            return vec![];
        }
        let got = format!("{} {}", r.status, code.unwrap_or("(no error code)"));
        vec![Violation::new(format!(
            "the revocation error is {got}; RFC 7009 §2.2.1 wants 400 with unsupported_token_type or an RFC 6749 code"
        ))
        .expected("400 unsupported_token_type, invalid_request, ... (401 invalid_client), or 503")
        .actual(got)]
    },
};

fn active(r: &Received) -> Option<&Value> {
    body_member(r, "active")
}

pub static INTROSPECTION_CONTENT_TYPE: Rule = Rule {
    id: "RFC7662-2.2-content-type",
    level: Level::Must,
    source: RFC7662_2_2,
    title: "a successful introspection answer is application/json",
    explain:
        "RFC 7662 §2.2: the server responds with a JSON object in \"application/json\" format. A \
              resource server that parses by content type cannot read a text/plain answer, and may \
              take it for an inactive token.",
    check: |x| {
        let r = x.received;
        if !success(r) || is_json_media_type(r) {
            return vec![];
        }
        vec![
            Violation::new("the introspection answer is not served as application/json")
                .expected("application/json")
                .actual(r.header("content-type").unwrap_or("(no content-type)")),
        ]
    },
};

pub static INTROSPECTION_ACTIVE: Rule = Rule {
    id: "RFC7662-2.2-active",
    level: Level::Must,
    source: RFC7662_2_2,
    title: "an introspection answer has a boolean active",
    explain: "RFC 7662 §2.2: active is REQUIRED, a boolean indicator of whether the token is currently \
              active. \"true\" as a string, or no active at all, is read as inactive by careful clients \
              and as active by careless ones.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        if let Some(v) = not_json_object(r) {
            return vec![v];
        }
        match active(r) {
            Some(Value::Bool(_)) => vec![],
            Some(other) => vec![Violation::new(format!(
                "active is {}; RFC 7662 §2.2 requires a boolean",
                describe(other)
            ))
            .expected("true or false")
            .at("$.active")],
            None => vec![Violation::new("active is missing; RFC 7662 §2.2 requires it")
                .expected("true or false")
                .at("$.active")],
        }
    },
};

pub static INTROSPECTION_INACTIVE_ONLY: Rule = Rule {
    id: "RFC7662-2.2-inactive-only",
    level: Level::Should,
    source: RFC7662_2_2,
    title: "an inactive answer has no members besides active",
    explain: "RFC 7662 §2.2: if the token is not active, the server SHOULD NOT include any other information \
              about it, so introspection does not tell a caller anything about tokens it may not use.",
    check: |x| {
        let r = x.received;
        if !success(r) || active(r) != Some(&Value::Bool(false)) {
            return vec![];
        }
        let Some(Value::Object(m)) = &r.json else {
            return vec![];
        };
        let others: Vec<&str> = m.keys().map(String::as_str).filter(|k| *k != "active").collect();
        if others.is_empty() {
            return vec![];
        }
        vec![Violation::new(format!(
            "an inactive token is described with {}; RFC 7662 §2.2 says to answer only active: false",
            others.join(", ")
        ))
        .expected("{\"active\": false}")
        .actual(format!("{} other members", others.len()))]
    },
};

pub static INTROSPECTION_CLAIM_TYPES: Rule = Rule {
    id: "RFC7662-2.2-claim-types",
    level: Level::Must,
    source: RFC7662_2_2,
    title: "exp, iat and nbf are integers; scope, client_id, username, token_type, sub, iss, jti strings",
    explain: "RFC 7662 §2.2: exp, iat and nbf are integer timestamps in seconds since the epoch; scope is a \
              space-separated string; client_id, username, token_type, sub, iss and jti are strings. A \
              resource server that reads exp as a string or in milliseconds makes the wrong decision.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let mut out = Vec::new();
        for name in ["exp", "iat", "nbf"] {
            match body_member(r, name) {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
                Some(other) => out.push(
                    Violation::new(format!(
                        "{name} is {}; RFC 7662 §2.2 requires an integer number of seconds",
                        describe(other)
                    ))
                    .expected("an integer")
                    .at(format!("$.{name}")),
                ),
            }
        }
        for name in ["scope", "client_id", "username", "token_type", "sub", "iss", "jti"] {
            match body_member(r, name) {
                None | Some(Value::String(_)) => {}
                Some(other) => out.push(
                    Violation::new(format!(
                        "{name} is {}; RFC 7662 §2.2 requires a string",
                        describe(other)
                    ))
                    .expected("a string")
                    .at(format!("$.{name}")),
                ),
            }
        }
        out
    },
};

pub static INTROSPECTION_AUTHENTICATION: Rule = Rule {
    id: "RFC7662-2.1-authentication",
    level: Level::Must,
    source: RFC7662_2_1,
    title: "probe: an unauthenticated introspection call is refused (400, 401 or 403)",
    explain: "RFC 7662 §2.1: to prevent token scanning attacks, the endpoint MUST also require some form \
              of authorization to access this endpoint. It does not fix how a caller without any is \
              refused: RFC 6749 §5.2 answers a client that sent no authentication with invalid_client \
              (400, or 401), and RFC 6750 §3.1 lets a protected resource answer 400, 401 or 403, with or \
              without a body. Any of those passes; an introspection answer (or any other status) fails, \
              because the endpoint then answers callers that did not authenticate.",
    check: |x| {
        let r = x.received;
        if matches!(r.status, 400 | 401 | 403) && active(r).is_none() {
            return vec![];
        }
        let what = if active(r).is_some() {
            format!("{} with an introspection answer", r.status)
        } else {
            r.status.to_string()
        };
        vec![Violation::new(format!(
            "an introspection call without credentials was answered {what}; RFC 7662 §2.1 requires authorization"
        ))
        .expected("a refusal: 400, 401 or 403")
        .actual(what)]
    },
};

fn required_string(r: &Received, name: &str, clause: &str) -> Vec<Violation> {
    if !success(r) {
        return vec![];
    }
    match body_member(r, name) {
        Some(Value::String(s)) if !s.is_empty() => vec![],
        Some(other) => vec![Violation::new(format!(
            "{name} is {}; {clause} requires a non-empty string",
            describe(other)
        ))
        .at(format!("$.{name}"))],
        None => vec![
            Violation::new(format!("{name} is missing; {clause} requires it"))
                .expected("a string")
                .at(format!("$.{name}")),
        ],
    }
}

pub static TX_ACCESS_TOKEN: Rule = Rule {
    id: "RFC8693-2.2.1-access_token",
    level: Level::Must,
    source: RFC8693_2_2_1,
    title: "a token exchange answer has access_token",
    explain:
        "RFC 8693 §2.2.1: access_token is REQUIRED: the security token issued in response to the \
              request, whatever its type (the name is kept for compatibility with RFC 6749).",
    check: |x| required_string(x.received, "access_token", "RFC 8693 §2.2.1"),
};

pub static TX_ISSUED_TOKEN_TYPE: Rule = Rule {
    id: "RFC8693-2.2.1-issued_token_type",
    level: Level::Must,
    source: RFC8693_2_2_1,
    title: "a token exchange answer has issued_token_type, a URI",
    explain: "RFC 8693 §2.2.1: issued_token_type is REQUIRED: an identifier (a URI such as \
              urn:ietf:params:oauth:token-type:access_token) for the representation of the issued token.",
    check: |x| {
        let r = x.received;
        let mut out = required_string(r, "issued_token_type", "RFC 8693 §2.2.1");
        if let Some(Value::String(t)) = body_member(r, "issued_token_type") {
            let scheme_ok = t
                .split_once(':')
                .is_some_and(|(s, rest)| !s.is_empty() && !rest.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)));
            if success(r) && !t.is_empty() && !scheme_ok {
                out.push(
                    Violation::new(format!("issued_token_type {t:?} is not a URI"))
                        .expected("urn:ietf:params:oauth:token-type:access_token or another URI")
                        .actual(t.clone())
                        .at("$.issued_token_type"),
                );
            }
        }
        out
    },
};

pub static TX_TOKEN_TYPE: Rule = Rule {
    id: "RFC8693-2.2.1-token_type",
    level: Level::Must,
    source: RFC8693_2_2_1,
    title: "a token exchange answer has token_type (N_A when not an access token)",
    explain: "RFC 8693 §2.2.1: token_type is REQUIRED: Bearer for a bearer access token, or N_A when the \
              issued token is not an access token.",
    check: |x| required_string(x.received, "token_type", "RFC 8693 §2.2.1"),
};

pub static TX_INVALID_REQUEST: Rule = Rule {
    id: "RFC8693-2.2.2-invalid-request",
    level: Level::Must,
    source: RFC8693_2_2_2,
    title: "probe: an invalid subject_token gets 400 invalid_request",
    explain: "RFC 8693 §2.2.2: if the subject_token or actor_token is invalid for any reason, or unacceptable \
              by policy, the server MUST use invalid_request, in a 400 response as RFC 6749 §5.2 defines it.",
    check: |x| {
        let r = x.received;
        if r.status == 400 && error_code(r) == Some("invalid_request") {
            return vec![];
        }
        let got = if success(r) && body_member(r, "access_token").is_some() {
            format!("{} with a token", r.status)
        } else {
            format!("{} {}", r.status, error_code(r).unwrap_or("(no error code)"))
        };
        vec![Violation::new(format!(
            "an invalid subject_token was answered {got}; RFC 8693 §2.2.2 requires 400 invalid_request"
        ))
        .expected("400 invalid_request")
        .actual(got)]
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;
    use serde_json::json;

    #[test]
    fn revocation() {
        let s = sent(&[("token", "t")], true);
        passes(&REVOKED_200, &s, &received(200, &[], json!({})));
        fails(&REVOKED_200, &s, &received(204, &[], json!({})));
        passes(&INVALID_TOKEN_200, &s, &received(200, &[], json!({})));
        fails(
            &INVALID_TOKEN_200,
            &s,
            &json(400, json!({"error": "invalid_token"})),
        );
        passes(
            &REVOCATION_ERROR,
            &s,
            &json(400, json!({"error": "unsupported_token_type"})),
        );
        passes(
            &REVOCATION_ERROR,
            &s,
            &json(401, json!({"error": "invalid_client"})),
        );
        passes(
            &REVOCATION_ERROR,
            &s,
            &received(503, &[("retry-after", "5")], json!({})),
        );
        passes(&REVOCATION_ERROR, &s, &received(200, &[], json!({})));
        // RFC 7009 §2.2.1: the server "may" send Retry-After with a 503.
        passes(&REVOCATION_ERROR, &s, &received(503, &[], json!({})));
        fails(
            &REVOCATION_ERROR,
            &s,
            &json(404, json!({"error": "not_found"})),
        );
        fails(&REVOCATION_ERROR, &s, &json(400, json!({"message": "bad"})));
    }

    #[test]
    fn introspection_content_type() {
        let s = sent(&[("token", "t")], true);
        let body = json!({"active": true});
        passes(&INTROSPECTION_CONTENT_TYPE, &s, &json(200, body.clone()));
        let with_charset = [("content-type", "application/json; charset=utf-8")];
        passes(
            &INTROSPECTION_CONTENT_TYPE,
            &s,
            &received(200, &with_charset, body.clone()),
        );
        let plain = [("content-type", "text/plain;charset=UTF-8")];
        fails(
            &INTROSPECTION_CONTENT_TYPE,
            &s,
            &received(200, &plain, body.clone()),
        );
        fails(&INTROSPECTION_CONTENT_TYPE, &s, &received(200, &[], body));
        // An error is held to the error content-type rule instead.
        passes(
            &INTROSPECTION_CONTENT_TYPE,
            &s,
            &received(401, &plain, json!({"error": "invalid_client"})),
        );
    }

    #[test]
    fn introspection() {
        let s = sent(&[("token", "t")], true);
        let active = json(
            200,
            json!({"active": true, "exp": 2, "iat": 1, "scope": "a b", "sub": "u"}),
        );
        passes(&INTROSPECTION_ACTIVE, &s, &active);
        fails(
            &INTROSPECTION_ACTIVE,
            &s,
            &json(200, json!({"active": "true"})),
        );
        fails(&INTROSPECTION_ACTIVE, &s, &json(200, json!({"scope": "a"})));
        passes(
            &INTROSPECTION_INACTIVE_ONLY,
            &s,
            &json(200, json!({"active": false})),
        );
        passes(&INTROSPECTION_INACTIVE_ONLY, &s, &active);
        fails(
            &INTROSPECTION_INACTIVE_ONLY,
            &s,
            &json(200, json!({"active": false, "sub": "u"})),
        );
        passes(&INTROSPECTION_CLAIM_TYPES, &s, &active);
        fails(
            &INTROSPECTION_CLAIM_TYPES,
            &s,
            &json(200, json!({"active": true, "exp": "2"})),
        );
        fails(
            &INTROSPECTION_CLAIM_TYPES,
            &s,
            &json(200, json!({"active": true, "exp": 1.5})),
        );
        fails(
            &INTROSPECTION_CLAIM_TYPES,
            &s,
            &json(200, json!({"active": true, "scope": ["a"]})),
        );
        let anon = sent(&[("token", "t")], false);
        passes(
            &INTROSPECTION_AUTHENTICATION,
            &anon,
            &json(401, json!({"error": "invalid_client"})),
        );
        fails(
            &INTROSPECTION_AUTHENTICATION,
            &anon,
            &json(200, json!({"active": true})),
        );
        // Refusals RFC 6749 §5.2 and RFC 6750 §3.1 allow: 400 or 401 with JSON, 403 with no body.
        passes(
            &INTROSPECTION_AUTHENTICATION,
            &anon,
            &json(400, json!({"error": "invalid_client"})),
        );
        let empty_403 = Received {
            status: 403,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: Vec::new(),
            json: None,
            duplicate_names: None,
            elapsed: std::time::Duration::ZERO,
        };
        passes(&INTROSPECTION_AUTHENTICATION, &anon, &empty_403);
        fails(
            &INTROSPECTION_AUTHENTICATION,
            &anon,
            &json(200, json!({"active": false})),
        );
        fails(
            &INTROSPECTION_AUTHENTICATION,
            &anon,
            &json(404, json!({"error": "not_found"})),
        );
    }

    #[test]
    fn token_exchange() {
        let s = sent(
            &[(
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            )],
            true,
        );
        let good = json(
            200,
            json!({
                "access_token": "abcdefghijklmnopq",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "N_A",
            }),
        );
        for rule in [&TX_ACCESS_TOKEN, &TX_ISSUED_TOKEN_TYPE, &TX_TOKEN_TYPE] {
            passes(rule, &s, &good);
        }
        fails(
            &TX_ACCESS_TOKEN,
            &s,
            &json(200, json!({"token_type": "Bearer"})),
        );
        fails(
            &TX_ISSUED_TOKEN_TYPE,
            &s,
            &json(200, json!({"access_token": "a"})),
        );
        fails(
            &TX_ISSUED_TOKEN_TYPE,
            &s,
            &json(200, json!({"issued_token_type": "access_token"})),
        );
        fails(&TX_TOKEN_TYPE, &s, &json(200, json!({"access_token": "a"})));
        passes(
            &TX_INVALID_REQUEST,
            &s,
            &json(400, json!({"error": "invalid_request"})),
        );
        fails(
            &TX_INVALID_REQUEST,
            &s,
            &json(400, json!({"error": "invalid_grant"})),
        );
        fails(&TX_INVALID_REQUEST, &s, &good);
    }
}
