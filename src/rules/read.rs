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

/// The codes an OAuth error body may carry: RFC 6749 §5.2's own and every entry of IANA's "OAuth
/// Extensions Error Registry" (https://www.iana.org/assignments/oauth-parameters/, #extensions-error),
/// which §8.5 makes the list of extension codes. Any usage location: the rule holds the code, the
/// endpoint is another rule's business. §4.1.2.1's server_error and temporarily_unavailable are
/// authorize redirect codes, registered nowhere for a JSON body, so they are not here.
pub(crate) const REGISTERED_ERRORS: &[&str] = &[
    // RFC 6749 §5.2
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    // RFC 6750 §3.1
    "invalid_token",
    "insufficient_scope",
    // RFC 7009 §2.2.1
    "unsupported_token_type",
    // OpenID Connect Core 1.0 §3.1.2.6 (registered by its §18.3)
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
    // UMA 2.0 Grant §3.3.6
    "need_info",
    "request_denied",
    "request_submitted",
    // RFC 8628 §3.5 (access_denied is registered by its §7.3)
    "access_denied",
    "authorization_pending",
    "slow_down",
    "expired_token",
    // RFC 8707 §2, RFC 8693 §2.2.2
    "invalid_target",
    // RFC 9200 §5.8.3 (ACE)
    "unsupported_pop_key",
    "incompatible_ace_profiles",
    // RFC 9396 §5
    "invalid_authorization_details",
    // RFC 9449 §5, §8
    "invalid_dpop_proof",
    "use_dpop_nonce",
    // RFC 9470 §3
    "insufficient_user_authentication",
];

/// IANA's "OAuth Access Token Types" registry (RFC 6749 §11.1): Bearer (RFC 6750), N_A (RFC 8693
/// §2.2.1), PoP (RFC 9200), DPoP (RFC 9449).
pub(crate) const REGISTERED_TOKEN_TYPES: &[&str] = &["Bearer", "N_A", "PoP", "DPoP"];

/// Why `t` is not a token type RFC 6749 §8.1 allows: a registered name (compared
/// case-insensitively, §5.1) or an absolute URI; `None` when it is one.
pub(crate) fn token_type_problem(t: &str) -> Option<String> {
    if REGISTERED_TOKEN_TYPES
        .iter()
        .any(|known| known.eq_ignore_ascii_case(t))
    {
        return None;
    }
    // An absolute URI has a scheme (RFC 3986 §4.3); url parses exactly those.
    if url::Url::parse(t).is_ok() {
        return None;
    }
    Some(format!(
        "token_type {t:?} is neither a registered access token type ({}) nor an absolute URI",
        REGISTERED_TOKEN_TYPES.join(", ")
    ))
}
