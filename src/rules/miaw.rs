//! Salesforce Messaging for In-App and Web (MIAW) authorization API: access tokens for guests and
//! verified users, continuation tokens, and errors (api-contracts.md §1).

use serde_json::Value;

use super::jwt;
use super::read::{body_member, describe, success, token_summary};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;
use crate::http::Received;

const MIAW_REF: &str = "https://developer.salesforce.com/docs/service/messaging-api/references/miaw-api-reference?meta=generateAccessTokenForAuthenticatedUser";
const MIAW_GUIDE: &str =
    "https://developer.salesforce.com/docs/service/messaging-api/guide/authorization.html";
const MIAW_SAMPLE: &str =
    "https://github.com/Salesforce-Async-Messaging/messaging-web-api-sample-app";

pub static ACCESS_TOKEN_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "miaw.access-token-response",
    summary:
        "a MIAW access-token answer: a JWS accessToken, lastEventId and context; errors as JSON",
    rules: &[
        &ACCESS_TOKEN_JWT,
        &ACCESS_TOKEN_CLAIMS,
        &LAST_EVENT_ID,
        &CONTEXT_CONFIGURATION,
        &DEPLOYMENT_TYPE,
        &ERROR_JSON,
    ],
};

pub static AUTHENTICATED_ACCESS_TOKEN: RuleSet = RuleSet {
    includes: &[],
    name: "miaw.authenticated-access-token",
    summary: "miaw.access-token-response for a verified user, never silently an anonymous subject",
    rules: &[
        &ACCESS_TOKEN_JWT,
        &ACCESS_TOKEN_CLAIMS,
        &LAST_EVENT_ID,
        &CONTEXT_CONFIGURATION,
        &DEPLOYMENT_TYPE,
        &AUTH_NOT_ANON,
        &ERROR_JSON,
    ],
};

pub static CONTINUATION_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "miaw.continuation-response",
    summary: "a MIAW continuation token: a JWS with the sub and exp of the token it continues, and a new clientId",
    rules: &[
        &ACCESS_TOKEN_JWT,
        &ACCESS_TOKEN_CLAIMS,
        &LAST_EVENT_ID,
        &CONTINUATION_KEEPS_SUB_EXP,
        &CONTINUATION_NEW_CLIENT_ID,
        &ERROR_JSON,
        &super::oauth2_probes::BEARER_401_CHALLENGE,
        &super::oauth2_probes::BEARER_ERROR_STATUS,
    ],
};

pub static ERROR_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "miaw.error-response",
    summary: "a MIAW 4xx is a JSON object",
    rules: &[&ERROR_JSON],
};

/// RFC 6750's challenge on a MIAW bearer request: held, but MIAW documents no challenge.
pub static BEARER_CHALLENGE: RuleSet = RuleSet {
    includes: &[&super::oauth2_probes::BEARER_CHALLENGE],
    name: "miaw.bearer-challenge",
    summary: "oauth2.bearer-challenge on MIAW, whose documents name no challenge: unconfirmed on a real target",
    rules: &[],
};

/// `(set, rule, why)`: rules these sets hold whose clause does not bind MIAW. Against a real
/// target their findings are unconfirmed, as an assumed expectation's are.
pub static NOT_BINDING: &[(&str, &str, &str)] = &[
    ("miaw.bearer-challenge", "RFC6750-3-challenge", NO_CHALLENGE),
    (
        "miaw.bearer-challenge",
        "RFC6750-3.1-error-status",
        NO_CHALLENGE,
    ),
    (
        "miaw.continuation-response",
        "RFC6750-3-challenge",
        NO_CHALLENGE,
    ),
    (
        "miaw.continuation-response",
        "RFC6750-3.1-error-status",
        NO_CHALLENGE,
    ),
    (
        "miaw.continuation-response",
        "MIAW-error-json",
        ERROR_BODY_UNDOCUMENTED,
    ),
    (
        "miaw.access-token-response",
        "MIAW-error-json",
        ERROR_BODY_UNDOCUMENTED,
    ),
    (
        "miaw.authenticated-access-token",
        "MIAW-error-json",
        ERROR_BODY_UNDOCUMENTED,
    ),
    (
        "miaw.error-response",
        "MIAW-error-json",
        ERROR_BODY_UNDOCUMENTED,
    ),
];

const NO_CHALLENGE: &str = "MIAW uses bearer tokens but documents no WWW-Authenticate challenge";
const ERROR_BODY_UNDOCUMENTED: &str =
    "MIAW documents no error body; the official sample falls back when it is not JSON";

fn access_token(r: &Received) -> Option<&Value> {
    body_member(r, "accessToken")
}

/// A successful continuation's two tokens, decoded: the bearer token that was sent (the token
/// being continued) and the accessToken received. `None` when either is not a JWT: the
/// comparison has nothing to read, and MIAW-access-token-jwt reports a received one.
fn continued_tokens(x: &super::Exchange) -> Option<(jwt::Jws, jwt::Jws)> {
    if !success(x.received) {
        return None;
    }
    let old = x
        .sent
        .bearer_token
        .as_deref()
        .and_then(|t| jwt::decode(t).ok())?;
    let new = access_token(x.received)
        .and_then(Value::as_str)
        .and_then(|t| jwt::decode(t).ok())?;
    Some((old, new))
}

pub static ACCESS_TOKEN_JWT: Rule = Rule {
    id: "MIAW-access-token-jwt",
    level: Level::Must,
    source: MIAW_REF,
    title: "accessToken is a three-part JWS",
    explain: "MIAW: accessToken is a JWT that the client sends as a bearer token to the messaging API; the \
              official sample app decodes it. It must be a compact JWS (header.payload.signature) whose \
              header and payload decode. Its claims are MIAW-access-token-claims.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let token = match access_token(r) {
            Some(Value::String(t)) => t,
            Some(other) => {
                return vec![Violation::new(format!("accessToken is {}, expected a JWT string", describe(other)))
                    .at("$.accessToken")]
            }
            None => {
                return vec![Violation::new("accessToken is missing")
                    .expected("a JWT")
                    .at("$.accessToken")]
            }
        };
        if let Err(why) = jwt::decode(token) {
            return vec![Violation::new(format!(
                "accessToken {} is not a JWT: {why}",
                token_summary(token)
            ))
            .expected("header.payload.signature (base64url JSON)")
            .at("$.accessToken")];
        }
        let mut out = Vec::new();
        if token.rsplit('.').next().is_none_or(str::is_empty) {
            out.push(Violation::new("accessToken has no signature part").at("$.accessToken"));
        }
        out
    },
};

// A SHOULD: the docs name no claim of accessToken (review 2026-11 item 7); sub and exp are what
// continuation compares and what the sample's expiry handling reads.
pub static ACCESS_TOKEN_CLAIMS: Rule = Rule {
    id: "MIAW-access-token-claims",
    level: Level::Should,
    source: MIAW_SAMPLE,
    title: "the accessToken payload has sub and exp",
    explain: "MIAW: the reference documents no claim of accessToken; the continuation endpoint keeps \"the \
              JWT expiration time\" and the subject, so a payload is expected to name both (sub, exp). A \
              SHOULD, because only the mock and third-party reports show them. Skipped when accessToken is \
              not a JWT (MIAW-access-token-jwt reports that).",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let Some(jws) = access_token(r).and_then(Value::as_str).and_then(|t| jwt::decode(t).ok()) else {
            return vec![];
        };
        let mut out = Vec::new();
        let absent: Vec<&str> = ["sub", "exp"]
            .into_iter()
            .filter(|c| jws.claim(c).is_none_or(Value::is_null))
            .collect();
        if !absent.is_empty() {
            out.push(
                Violation::new(format!("the accessToken payload lacks {}", absent.join(" and ")))
                    .expected("sub and exp claims")
                    .at("$.accessToken"),
            );
        }
        out
    },
};

pub static LAST_EVENT_ID: Rule = Rule {
    id: "MIAW-last-event-id",
    level: Level::Must,
    source: MIAW_SAMPLE,
    title: "lastEventId is present, a string",
    explain: "MIAW: the token answer carries lastEventId, which the client sends as Last-Event-ID when it \
              opens the server-sent event stream; without it the client cannot resume without losing events.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        match body_member(r, "lastEventId") {
            Some(Value::String(_)) => vec![],
            Some(other) => vec![Violation::new(format!("lastEventId is {}; expected a string", describe(other)))
                .at("$.lastEventId")],
            None => vec![Violation::new("lastEventId is missing")
                .expected("a string")
                .at("$.lastEventId")],
        }
    },
};

fn context_member<'a>(r: &'a Received, name: &str) -> Option<&'a Value> {
    body_member(r, "context").and_then(|c| c.get(name))
}

pub static CONTEXT_CONFIGURATION: Rule = Rule {
    id: "MIAW-context-configuration",
    level: Level::Must,
    source: MIAW_GUIDE,
    title: "context.configuration is an object",
    explain: "MIAW: both token endpoints return context.configuration (with embeddedServiceConfig: forms, \
              choice lists) that the client renders the chat with.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        match context_member(r, "configuration") {
            Some(Value::Object(_)) => vec![],
            Some(other) => vec![Violation::new(format!(
                "context.configuration is {}; expected an object",
                describe(other)
            ))
            .at("$.context.configuration")],
            None => vec![Violation::new("context.configuration is missing")
                .expected("an object")
                .at("$.context.configuration")],
        }
    },
};

pub static DEPLOYMENT_TYPE: Rule = Rule {
    id: "MIAW-deployment-type",
    // The sources show `context.deploymentType` in no response (review 2026-11, item 7): a
    // warning until a vendor document says what the member holds.
    level: Level::Should,
    source: MIAW_REF,
    title: "context.deploymentType is \"api\"",
    explain: "MIAW: a Custom Client deployment, the only kind this API serves, is reported as deploymentType \
              \"api\" in the response. Any other value means the token belongs to another kind of deployment. A SHOULD: no Salesforce \
              document states the member, so it is our reading (assumed), not a documented requirement.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        match context_member(r, "deploymentType") {
            Some(Value::String(s)) if s == "api" => vec![],
            Some(other) => vec![Violation::new(format!(
                "context.deploymentType is {}; expected \"api\"",
                describe(other)
            ))
            .expected("api")
            .at("$.context.deploymentType")],
            None => vec![Violation::new("context.deploymentType is missing")
                .expected("api")
                .at("$.context.deploymentType")],
        }
    },
};

pub static AUTH_NOT_ANON: Rule = Rule {
    id: "MIAW-auth-not-anon",
    level: Level::Must,
    source: MIAW_REF,
    title: "a verified user's token has an /AUTH/ subject, never /ANON/",
    explain: "MIAW: context.endUser.subject names the user as v2/iamessage/AUTH/{keyset}/uid:{sub} for a \
              verified user and …/ANON/… for a guest. The authenticated endpoint is reported to answer a \
              failed verification with 200 and an anonymous token; a client that does not look would treat \
              a guest as the verified user. Apply to answers of POST …/authenticated/access-token.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let subject = body_member(r, "context")
            .and_then(|c| c.get("endUser"))
            .and_then(|u| u.get("subject"))
            .and_then(Value::as_str);
        match subject {
            Some(s) if s.contains("/AUTH/") && !s.contains("/ANON/") => vec![],
            Some(s) if s.contains("/ANON/") => vec![Violation::new(
                "the authenticated endpoint answered with an anonymous (/ANON/) subject: verification failed silently",
            )
            .expected("a subject containing /AUTH/")
            .actual(s.to_string())
            .at("$.context.endUser.subject")],
            Some(s) => vec![Violation::new("the subject is not a verified (/AUTH/) subject")
                .expected("a subject containing /AUTH/")
                .actual(s.to_string())
                .at("$.context.endUser.subject")],
            None => vec![Violation::new("context.endUser.subject is missing, so the token cannot be shown to be a verified user's")
                .expected("a subject containing /AUTH/")
                .at("$.context.endUser.subject")],
        }
    },
};

pub static CONTINUATION_KEEPS_SUB_EXP: Rule = Rule {
    id: "MIAW-continuation-keeps-sub-exp",
    level: Level::Must,
    source: MIAW_REF,
    title: "a continuation token keeps the sub and exp of the token it continues",
    explain: "MIAW: the continuation access token \"doesn't extend the JWT expiration time\" and keeps the \
              subject (it gets a new clientId). A later exp would let a token live for ever by continuing \
              it; another sub would hand the conversation to someone else. Compares the accessToken with \
              the bearer token that was sent; skipped if that one does not decode.",
    check: |x| {
        let Some((old, new)) = continued_tokens(x) else {
            return vec![];
        };
        let mut out = Vec::new();
        for claim in ["sub", "exp"] {
            let (a, b) = (old.claim(claim), new.claim(claim));
            if a != b {
                let show = |v: Option<&Value>| v.map_or("(none)".to_string(), Value::to_string);
                let msg = if claim == "exp" {
                    "the continuation token's exp differs from the original's: continuation must not extend the expiry"
                } else {
                    "the continuation token's sub differs from the original's: it names another user"
                };
                let mut v = Violation::new(msg).at("$.accessToken");
                // exp is a timestamp and safe to show; sub identifies a user, keep it out.
                if claim == "exp" {
                    v = v.expected(show(a)).actual(show(b));
                }
                out.push(v);
            }
        }
        out
    },
};

/// The claim the official sample names; no Salesforce page documents the claim itself.
const CLIENT_ID_CLAIM: &str = "clientId";

// A MUST on a secondary source: the sentence is Salesforce's own (the official sample app, the
// same sentence MIAW-continuation-keeps-sub-exp's sub rests on), stated as fact, not advice. What
// is not documented is the claim's name, so the rule judges only tokens that carry `clientId`.
pub static CONTINUATION_NEW_CLIENT_ID: Rule = Rule {
    id: "MIAW-continuation-new-client-id",
    level: Level::Must,
    source: MIAW_SAMPLE,
    title: "a continuation token has a new clientId",
    explain: "MIAW: the continuation endpoint returns \"a JWT with the same subjectId but new clientId as the \
              existing Messaging JWT\" (Salesforce's official sample app, getContinuityJwt, citing the \
              generateContinuationToken reference): each tab or reload is a client of its own in the same \
              conversation. A continuation token with the original's clientId cannot be told apart from \
              it. A MUST because the sentence is Salesforce's, stated as fact (the same one the sub check \
              of MIAW-continuation-keeps-sub-exp rests on); but the reference names no claim, so the \
              rule compares the clientId claim only when the continued token carries one, and is silent \
              otherwise. Compares the accessToken with the bearer token that was sent.",
    check: |x| {
        let Some((old, new)) = continued_tokens(x) else {
            return vec![];
        };
        let Some(before) = old.claim(CLIENT_ID_CLAIM).filter(|v| !v.is_null()) else {
            // The claim's name is undocumented: a token without it is no evidence either way.
            return vec![];
        };
        match new.claim(CLIENT_ID_CLAIM).filter(|v| !v.is_null()) {
            Some(after) if after != before => vec![],
            Some(_) => vec![Violation::new(
                "the continuation token's clientId is the original's: a continuation token gets a new clientId",
            )
            .expected("a clientId other than the continued token's")
            .at("$.accessToken")],
            None => vec![Violation::new(
                "the continuation token has no clientId, though the token it continues has one",
            )
            .expected("a new clientId claim")
            .at("$.accessToken")],
        }
    },
};

pub static ERROR_JSON: Rule = Rule {
    id: "MIAW-error-json",
    level: Level::Must,
    source: MIAW_SAMPLE,
    title: "a 4xx is a JSON object",
    explain: "MIAW: the official sample parses an error body as JSON (falling back to message). An HTML page \
              or plain text on a 4xx leaves the client without a reason to show.",
    check: |x| {
        let r = x.received;
        if !(400..500).contains(&r.status) || matches!(r.json, Some(Value::Object(_))) {
            return vec![];
        }
        vec![Violation::new(format!("the {} error body is not a JSON object", r.status))
            .expected("a JSON object")
            .actual(crate::redact::preview_body(&r.body))]
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::jwt::encode_for_test;
    use crate::rules::testutil::*;
    use serde_json::json;

    fn jws(sub: &str, exp: u64) -> String {
        encode_for_test(&json!({"alg": "RS256"}), &json!({"sub": sub, "exp": exp}))
    }

    fn jws_client(client_id: Value) -> String {
        encode_for_test(
            &json!({"alg": "RS256"}),
            &json!({"sub": "u", "exp": 9, "clientId": client_id}),
        )
    }

    fn token(at: &str, subject: &str) -> Received {
        json(
            200,
            json!({
                "accessToken": at,
                "lastEventId": "0",
                "context": {
                    "configuration": {"embeddedServiceConfig": {}},
                    "deploymentType": "api",
                    "endUser": {"subject": subject},
                },
            }),
        )
    }

    #[test]
    fn conforming_answers_pass_their_sets() {
        let s = sent(&[], false);
        let r = token(&jws("u", 9), "v2/iamessage/AUTH/k/uid:u");
        for rule in AUTHENTICATED_ACCESS_TOKEN
            .rules
            .iter()
            .chain(ACCESS_TOKEN_RESPONSE.rules)
        {
            passes(rule, &s, &r);
        }
        let s = bearer(&jws("u", 9));
        for rule in CONTINUATION_RESPONSE.rules {
            passes(rule, &s, &r);
        }
    }

    #[test]
    fn access_token_jwt() {
        let s = sent(&[], false);
        fails(&ACCESS_TOKEN_JWT, &s, &token("not-a-jwt", "x"));
        let no_exp = token(
            &encode_for_test(&json!({"alg": "RS256"}), &json!({"sub": "u"})),
            "x",
        );
        // A JWS without exp is a JWS: only the SHOULD rule on its claims objects.
        passes(&ACCESS_TOKEN_JWT, &s, &no_exp);
        fails(&ACCESS_TOKEN_CLAIMS, &s, &no_exp);
        assert_eq!(ACCESS_TOKEN_CLAIMS.level, Level::Should);
        passes(&ACCESS_TOKEN_CLAIMS, &s, &token(&jws("u", 9), "x"));
        // Not a JWT: MIAW-access-token-jwt's finding, not a second one.
        passes(&ACCESS_TOKEN_CLAIMS, &s, &token("not-a-jwt", "x"));
        fails(
            &ACCESS_TOKEN_JWT,
            &s,
            &json(200, json!({"lastEventId": "0"})),
        );
        let unsigned = jws("u", 9)
            .rsplit_once('.')
            .map(|(a, _)| format!("{a}."))
            .unwrap();
        fails(&ACCESS_TOKEN_JWT, &s, &token(&unsigned, "x"));
    }

    #[test]
    fn last_event_id_context_and_deployment() {
        let s = sent(&[], false);
        let bare = json(
            200,
            json!({"accessToken": jws("u", 1), "context": {"configuration": "x", "deploymentType": "web"}}),
        );
        fails(&LAST_EVENT_ID, &s, &bare);
        fails(&CONTEXT_CONFIGURATION, &s, &bare);
        fails(&DEPLOYMENT_TYPE, &s, &bare);
        fails(&LAST_EVENT_ID, &s, &json(200, json!({"lastEventId": 5})));
    }

    #[test]
    fn auth_not_anon() {
        let s = sent(&[], false);
        fails(
            &AUTH_NOT_ANON,
            &s,
            &token(&jws("u", 1), "v2/iamessage/ANON/k/uid:u"),
        );
        fails(&AUTH_NOT_ANON, &s, &json(200, json!({"accessToken": "x"})));
        passes(&AUTH_NOT_ANON, &s, &json(401, json!({"message": "no"})));
    }

    #[test]
    fn continuation_keeps_sub_and_exp() {
        let s = bearer(&jws("u", 100));
        fails(&CONTINUATION_KEEPS_SUB_EXP, &s, &token(&jws("u", 200), "x"));
        fails(&CONTINUATION_KEEPS_SUB_EXP, &s, &token(&jws("v", 100), "x"));
        passes(
            &CONTINUATION_KEEPS_SUB_EXP,
            &bearer("opaque"),
            &token(&jws("v", 100), "x"),
        );
    }

    #[test]
    fn continuation_new_client_id() {
        let rule = &CONTINUATION_NEW_CLIENT_ID;
        let s = bearer(&jws_client(json!("c-1")));
        passes(rule, &s, &token(&jws_client(json!("c-2")), "x"));
        fails(rule, &s, &token(&jws_client(json!("c-1")), "x"));
        // The original named a clientId and the continuation dropped it.
        fails(rule, &s, &token(&jws("u", 9), "x"));
        fails(rule, &s, &token(&jws_client(json!(null)), "x"));
        // No clientId on the continued token (the claim is undocumented) or no JWT: silent.
        passes(rule, &bearer(&jws("u", 9)), &token(&jws("u", 9), "x"));
        passes(
            rule,
            &bearer("opaque"),
            &token(&jws_client(json!("c-1")), "x"),
        );
        passes(rule, &s, &token("not-a-jwt", "x"));
        passes(rule, &s, &json(401, json!({"message": "no"})));
        assert!(CONTINUATION_RESPONSE.rules.iter().any(|r| r.id == rule.id));
    }

    #[test]
    fn error_json() {
        let s = sent(&[], false);
        passes(&ERROR_JSON, &s, &json(401, json!({"message": "no"})));
        let mut html = received(400, &[("content-type", "text/html")], json!(null));
        html.json = None;
        html.body = b"<html>".to_vec();
        fails(&ERROR_JSON, &s, &html);
        fails(&ERROR_JSON, &s, &json(400, json!(["x"])));
    }
}
