//! What rules read from an exchange: the helpers every rule family shares, kept apart from the
//! rule tables so the `oauth2*` files need not import each other for them.

use serde_json::Value;

use super::Violation;
use crate::http::Received;

pub(crate) fn success(r: &Received) -> bool {
    (200..300).contains(&r.status)
}

pub(crate) fn is_json_media_type(r: &Received) -> bool {
    r.header("content-type")
        .map(|ct| {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json"
        })
        .unwrap_or(false)
}

pub(crate) fn body_member<'a>(r: &'a Received, name: &str) -> Option<&'a Value> {
    r.json.as_ref().and_then(|b| b.get(name))
}

pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?} (a string)"),
        Value::Number(n) => format!("{n} (a number)"),
        other => format!("{other} ({})", crate::suite::model::type_name(other)),
    }
}

pub(crate) fn not_json_object(r: &Received) -> Option<Violation> {
    match &r.json {
        Some(Value::Object(_)) => None,
        _ => Some(
            Violation::new("the body is not a JSON object")
                .expected("a JSON object")
                .actual(crate::redact::preview_body(&r.body)),
        ),
    }
}

pub(crate) fn scope_tokens(s: &str) -> Vec<&str> {
    s.split(' ').filter(|t| !t.is_empty()).collect()
}

/// "(a 43-character token)": how messages mention a token without showing it.
pub(crate) fn token_summary(t: &str) -> String {
    format!("(a {}-character token)", t.chars().count())
}

pub(crate) fn is_error(r: &Received) -> bool {
    (400..600).contains(&r.status)
}

pub(crate) fn error_code(r: &Received) -> Option<&str> {
    body_member(r, "error").and_then(Value::as_str)
}

pub(crate) const REGISTERED_ERRORS: &[&str] = &[
    // RFC 6749 §5.2
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    // RFC 7009 §2.2.1, RFC 8693 §2.2.2, RFC 8628 §3.5, RFC 9449 §5, RFC 6750 §3.1
    "unsupported_token_type",
    "invalid_target",
    "authorization_pending",
    "slow_down",
    "access_denied",
    "expired_token",
    "invalid_dpop_proof",
    "use_dpop_nonce",
    "invalid_token",
    "insufficient_scope",
];
