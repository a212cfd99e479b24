//! Talkdesk token endpoint: what its reference documents beyond RFC 6749
//! (<https://docs.talkdesk.com/reference/cc-basic>, /docs/authenticating-requests-and-authenticating-via-appconnect).

use serde_json::Value;

use super::oauth2 as o;
use super::read::{body_member, describe, is_error, scope_tokens, success};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;

const TD_TOKEN: &str = "https://docs.talkdesk.com/reference/cc-basic";
/// "For security purposes, access tokens are valid for 10 minutes": the Partner App Authentication page.
const TD_AUTH: &str =
    "https://docs.talkdesk.com/docs/authenticating-requests-and-authenticating-via-appconnect";

/// Seconds: "access tokens are valid for 10 minutes".
const TD_LIFETIME: u64 = 600;

pub static TOKEN_RESPONSE: RuleSet = RuleSet {
    includes: &[&o::TOKEN_RESPONSE],
    name: "talkdesk.token-response",
    summary: "a Talkdesk token response: RFC 6749 §5.1 plus scope, expires_in, refresh_token and id_token as documented",
    rules: &[
        &TOKEN_SCOPE,
        &TOKEN_EXPIRES_IN,
        &TOKEN_LIFETIME,
        &REFRESH_TOKEN_GRANTS,
        &ID_TOKEN_OPENID,
    ],
};

pub static REFRESH_RESPONSE: RuleSet = RuleSet {
    includes: &[&TOKEN_RESPONSE],
    name: "talkdesk.refresh-response",
    summary: "a Talkdesk refresh_token grant's success: talkdesk.token-response plus a rotated refresh token",
    rules: &[&super::oauth2_probes::RT_ROTATION],
};

pub static ERROR_RESPONSE: RuleSet = RuleSet {
    includes: &[&o::ERROR_RESPONSE],
    name: "talkdesk.error-response",
    summary:
        "a Talkdesk token error: RFC 6749 §5.2 plus a 400 or 401 with error and error_description",
    rules: &[&ERROR_BODY],
};

pub static AUTHORIZE_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "talkdesk.authorize-refused",
    summary: "an authorize request with an unknown client or an unregistered redirect_uri: an error page, or a redirect with error= that is not to that redirect_uri",
    rules: &[&super::salesforce::AUTHORIZE_NO_REDIRECT],
};

pub static TOKEN_SCOPE: Rule = Rule {
    id: "TALKDESK-token-scope",
    level: Level::Must,
    source: TD_TOKEN,
    title: "scope is present, a non-empty string",
    explain: "Talkdesk documents scope as a required member of every token response: the granted scopes, \
              or the client's scopes when none were requested. Talkdesk clients rely on it to know what \
              the token may do.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        match body_member(r, "scope") {
            Some(Value::String(s)) if !scope_tokens(s).is_empty() => vec![],
            Some(other) => vec![Violation::new(format!(
                "scope is {}; Talkdesk documents a non-empty space-separated string",
                describe(other)
            ))
            .at("$.scope")],
            None => vec![Violation::new("scope is missing; Talkdesk documents it as required")
                .expected("the granted scopes")
                .at("$.scope")],
        }
    },
};

pub static TOKEN_EXPIRES_IN: Rule = Rule {
    id: "TALKDESK-token-expires_in",
    level: Level::Must,
    source: TD_TOKEN,
    title: "expires_in is present and an integer",
    explain: "Talkdesk documents expires_in as a required integer, stricter than RFC 6749's RECOMMENDED: \
              Talkdesk integrations schedule their token refresh on it.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        match body_member(r, "expires_in") {
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => vec![],
            Some(other) => vec![Violation::new(format!(
                "expires_in is {}; Talkdesk documents an integer",
                describe(other)
            ))
            .expected("an integer number of seconds")
            .at("$.expires_in")],
            None => vec![Violation::new("expires_in is missing; Talkdesk documents it as required")
                .expected("an integer number of seconds")
                .at("$.expires_in")],
        }
    },
};

pub static TOKEN_LIFETIME: Rule = Rule {
    id: "TALKDESK-token-lifetime",
    level: Level::Should,
    source: TD_AUTH,
    title: "expires_in is at most 600 (access tokens are valid for 10 minutes)",
    explain:
        "Talkdesk: \"access tokens are valid for 10 minutes\". A longer lifetime is a change in \
              behaviour (or a unit mistake) that integrations tuned to 10 minutes will not expect.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        match body_member(r, "expires_in").and_then(Value::as_u64) {
            Some(s) if s > TD_LIFETIME => vec![Violation::new(format!(
                "expires_in is {s} seconds; Talkdesk documents 10 minutes (600)"
            ))
            .expected("at most 600")
            .actual(s.to_string())
            .at("$.expires_in")],
            _ => vec![],
        }
    },
};

pub static REFRESH_TOKEN_GRANTS: Rule = Rule {
    id: "TALKDESK-refresh-token-grants",
    level: Level::Must,
    source: TD_TOKEN,
    title: "refresh_token comes with authorization_code and refresh_token grants, and only with them",
    explain: "Talkdesk documents refresh_token as returned for the authorization_code and refresh_token \
              grants. A client_credentials token with a refresh token is a long-lived credential nobody \
              asked for; a user grant without one forces the user to log in again. sid (the session id) \
              is not checked: the reference lists it for the same grants but marks it \"Required: no\", \
              so neither its presence on client_credentials nor its absence is a fault.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if !success(r) {
            return vec![];
        }
        let Some(grant) = s.grant_type() else {
            return vec![];
        };
        let user_grant = matches!(grant, "authorization_code" | "refresh_token");
        let present = body_member(r, "refresh_token").is_some();
        let mut out = Vec::new();
        if user_grant && !present {
            out.push(
                Violation::new(format!(
                    "a {grant} response has no refresh_token; Talkdesk returns it for this grant"
                ))
                .expected("refresh_token present")
                .at("$.refresh_token"),
            );
        } else if !user_grant && present {
            out.push(
                Violation::new(format!(
                    "a {grant} response carries refresh_token; Talkdesk returns it only for authorization_code and refresh_token"
                ))
                .expected("no refresh_token")
                .at("$.refresh_token"),
            );
        }
        out
    },
};

pub static ID_TOKEN_OPENID: Rule = Rule {
    id: "TALKDESK-id-token-openid",
    level: Level::Must,
    source: TD_TOKEN,
    title: "id_token only when the openid scope was requested",
    explain: "Talkdesk returns an id_token for the authorization_code grant when the openid scope was \
              requested. An id_token elsewhere hands out identity data the client did not ask for. The \
              requested scope is read from the token request, or (for a code, whose scope was asked at \
              /oauth/authorize) from the granted scope.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if !success(r) || body_member(r, "id_token").is_none() {
            return vec![];
        }
        let has_openid = |v: Option<&str>| v.is_some_and(|v| scope_tokens(v).contains(&"openid"));
        let requested = has_openid(s.form_value("scope"));
        let granted = has_openid(body_member(r, "scope").and_then(Value::as_str));
        if s.grant_type() != Some("client_credentials") && (requested || granted) {
            return vec![];
        }
        vec![Violation::new(format!(
            "a {} response carries an id_token although openid was not requested",
            s.grant_type().unwrap_or("token")
        ))
        .expected("no id_token")
        .at("$.id_token")]
    },
};

pub static ERROR_BODY: Rule = Rule {
    id: "TALKDESK-error-body",
    level: Level::Must,
    source: TD_TOKEN,
    title: "an error is 400 or 401 with string error and error_description",
    explain: "Talkdesk documents its token errors as 400 or 401 with a JSON body of two required strings, \
              error and error_description. Integrations log and branch on both.",
    check: |x| {
        let r = x.received;
        if !is_error(r) {
            return vec![];
        }
        let mut out = Vec::new();
        if r.status != 400 && r.status != 401 {
            out.push(
                Violation::new(format!(
                    "the error status is {}; Talkdesk documents 400 and 401",
                    r.status
                ))
                .expected("400 or 401")
                .actual(r.status.to_string()),
            );
        }
        for name in ["error", "error_description"] {
            match body_member(r, name) {
                Some(Value::String(_)) => {}
                Some(other) => out.push(
                    Violation::new(format!(
                        "{name} is {}; Talkdesk documents a string",
                        describe(other)
                    ))
                    .at(format!("$.{name}")),
                ),
                None => out.push(
                    Violation::new(format!("{name} is missing; Talkdesk documents it as required"))
                        .expected("a string")
                        .at(format!("$.{name}")),
                ),
            }
        }
        out
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;
    use serde_json::json;

    fn cc() -> crate::http::Sent {
        sent(&[("grant_type", "client_credentials")], true)
    }

    fn token(extra: Value) -> crate::http::Received {
        let mut body = json!({"access_token": "abcdefghijklmnopqrstuvwxyz", "token_type": "Bearer", "expires_in": 600, "scope": "callbacks:write"});
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        received(
            200,
            &[
                ("content-type", "application/json"),
                ("cache-control", "no-store"),
                ("pragma", "no-cache"),
            ],
            body,
        )
    }

    #[test]
    fn a_conforming_response_passes_the_set() {
        for rule in TOKEN_RESPONSE.members() {
            passes(rule, &cc(), &token(json!({})));
        }
        let code = sent(&[("grant_type", "authorization_code"), ("code", "c")], true);
        for rule in TOKEN_RESPONSE.members() {
            passes(
                rule,
                &code,
                &token(json!({"refresh_token": "refresh-token-value", "sid": "s"})),
            );
        }
        let rt = sent(
            &[("grant_type", "refresh_token"), ("refresh_token", "old")],
            true,
        );
        for rule in REFRESH_RESPONSE.members() {
            passes(
                rule,
                &rt,
                &token(json!({"refresh_token": "refresh-token-value", "sid": "s"})),
            );
        }
    }

    #[test]
    fn scope() {
        fails(
            &TOKEN_SCOPE,
            &cc(),
            &json(200, json!({"access_token": "a"})),
        );
        fails(&TOKEN_SCOPE, &cc(), &token(json!({"scope": ""})));
        fails(&TOKEN_SCOPE, &cc(), &token(json!({"scope": ["a"]})));
    }

    #[test]
    fn expires_in_and_lifetime() {
        fails(
            &TOKEN_EXPIRES_IN,
            &cc(),
            &json(200, json!({"access_token": "a"})),
        );
        fails(
            &TOKEN_EXPIRES_IN,
            &cc(),
            &token(json!({"expires_in": "600"})),
        );
        passes(&TOKEN_LIFETIME, &cc(), &token(json!({"expires_in": 300})));
        fails(&TOKEN_LIFETIME, &cc(), &token(json!({"expires_in": 3600})));
    }

    #[test]
    fn refresh_token_grants() {
        fails(
            &REFRESH_TOKEN_GRANTS,
            &cc(),
            &token(json!({"refresh_token": "r"})),
        );
        // sid is "Required: no": a client_credentials answer may carry it (review item 11).
        passes(&REFRESH_TOKEN_GRANTS, &cc(), &token(json!({"sid": "s"})));
        let rt = sent(
            &[("grant_type", "refresh_token"), ("refresh_token", "r")],
            true,
        );
        fails(&REFRESH_TOKEN_GRANTS, &rt, &token(json!({"sid": "s"})));
        passes(
            &REFRESH_TOKEN_GRANTS,
            &rt,
            &token(json!({"refresh_token": "r2"})),
        );
        passes(
            &REFRESH_TOKEN_GRANTS,
            &rt,
            &token(json!({"refresh_token": "r2", "sid": "s"})),
        );
    }

    #[test]
    fn id_token_only_with_openid() {
        let code = sent(&[("grant_type", "authorization_code")], true);
        passes(
            &ID_TOKEN_OPENID,
            &code,
            &token(json!({"id_token": "x", "scope": "openid users:read"})),
        );
        fails(
            &ID_TOKEN_OPENID,
            &code,
            &token(json!({"id_token": "x", "scope": "users:read"})),
        );
        fails(
            &ID_TOKEN_OPENID,
            &cc(),
            &token(json!({"id_token": "x", "scope": "openid"})),
        );
    }

    #[test]
    fn error_body() {
        let s = cc();
        passes(
            &ERROR_BODY,
            &s,
            &json(
                401,
                json!({"error": "invalid_client", "error_description": "bad"}),
            ),
        );
        fails(
            &ERROR_BODY,
            &s,
            &json(400, json!({"error": "invalid_request"})),
        );
        fails(
            &ERROR_BODY,
            &s,
            &json(
                403,
                json!({"error": "invalid_request", "error_description": "d"}),
            ),
        );
        fails(
            &ERROR_BODY,
            &s,
            &received(500, &[("content-type", "text/html")], json!("<html>")),
        );
    }
}
