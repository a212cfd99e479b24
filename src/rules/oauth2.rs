//! RFC 6749 token and error responses (§5.1, §5.2, §4.4.3).

use serde_json::Value;

use super::read::{
    body_member, describe, error_code, is_error, is_json_media_type, not_json_object, scope_tokens,
    success, token_summary, token_type_problem, REGISTERED_ERRORS,
};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;

const RFC6749_5_1: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-5.1";
const RFC6749_5_2: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-5.2";
const RFC6749_4_4_3: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-4.4.3";
const RFC6749_8_1: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-8.1";
const RFC6749_3_3: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-3.3";
const RFC6749_A_12: &str = "https://www.rfc-editor.org/rfc/rfc6749#appendix-A.12";
const RFC6749_10_10: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-10.10";
const RFC6749_10_3: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-10.3";

/// Seconds in a year: a larger `expires_in` is most likely milliseconds.
const ONE_YEAR: u64 = 31_536_000;

pub static TOKEN_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.token-response",
    summary: "a successful token response as RFC 6749 §5.1 defines it",
    rules: &[
        &CONTENT_TYPE,
        &ACCESS_TOKEN,
        &TOKEN_TYPE,
        &TOKEN_TYPE_REGISTERED,
        &EXPIRES_IN,
        &EXPIRES_IN_PLAUSIBLE,
        &EXPIRES_IN_PRESENT,
        &NO_STORE,
        &PRAGMA,
        &SCOPE,
        &SCOPE_NOT_WIDER,
        &super::oauth2_authorize::CODE_SCOPE_NOT_WIDER,
        &NO_REFRESH_TOKEN_ON_CLIENT_CREDENTIALS,
        &TOKEN_CHARSET,
        &TOKEN_ENTROPY,
        &super::oauth2_cross::LIFETIME_MATCHES_JWT,
        &super::oauth2_jwt::AT_JWT_ALG,
        &super::oauth2_jwt::AT_JWT_CLAIMS,
        &super::oauth2_jwt::ID_TOKEN_CLAIMS,
    ],
};

pub static ERROR_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.error-response",
    summary: "a token-endpoint error response as RFC 6749 §5.2 defines it",
    rules: &[
        &ERROR_CONTENT_TYPE,
        &ERROR_CODE,
        &ERROR_CHARSET,
        &ERROR_STATUS,
        &INVALID_CLIENT_401,
        &NO_TOKEN_IN_ERROR,
    ],
};

pub static CONTENT_TYPE: Rule = Rule {
    id: "RFC6749-5.1-content-type",
    level: Level::Must,
    source: RFC6749_5_1,
    title: "a token response is application/json",
    explain: "RFC 6749 §5.1: the parameters are included in the entity-body of the HTTP response using \
              the \"application/json\" media type. A client that parses by content type fails on anything else.",
    check: |x| {
        let r = x.received;
        if !success(r) || is_json_media_type(r) {
            return vec![];
        }
        vec![Violation::new("the token response is not served as application/json")
            .expected("application/json")
            .actual(r.header("content-type").unwrap_or("(no content-type)"))]
    },
};

pub static ACCESS_TOKEN: Rule = Rule {
    id: "RFC6749-5.1-access_token",
    level: Level::Must,
    source: RFC6749_5_1,
    title: "access_token is a non-empty string",
    explain: "RFC 6749 §5.1: access_token is REQUIRED: the access token issued by the authorization server.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        if let Some(v) = not_json_object(r) {
            return vec![v];
        }
        match body_member(r, "access_token") {
            Some(Value::String(s)) if !s.is_empty() => vec![],
            Some(Value::String(_)) => vec![Violation::new("access_token is empty").at("$.access_token")],
            Some(other) => vec![Violation::new(format!(
                "access_token is {}, RFC 6749 §5.1 requires a string",
                crate::suite::model::type_name(other)
            ))
            .at("$.access_token")],
            None => vec![Violation::new("access_token is missing; RFC 6749 §5.1 requires it")
                .expected("a string")
                .at("$.access_token")],
        }
    },
};

pub static TOKEN_TYPE: Rule = Rule {
    id: "RFC6749-5.1-token_type",
    level: Level::Must,
    source: RFC6749_5_1,
    title: "token_type is present (compared case-insensitively)",
    explain: "RFC 6749 §5.1: token_type is REQUIRED, and §7.1 says its value is case insensitive, \
              so `bearer` and `Bearer` are both right.",
    check: |x| {
        let r = x.received;
        if !success(r) || not_json_object(r).is_some() {
            return vec![];
        }
        match body_member(r, "token_type") {
            Some(Value::String(s)) if !s.is_empty() => vec![],
            Some(other) => vec![Violation::new(format!(
                "token_type is {}, expected a token type such as Bearer",
                describe(other)
            ))
            .at("$.token_type")],
            None => vec![
                Violation::new("token_type is missing; RFC 6749 §5.1 requires it")
                    .expected("Bearer (any case)")
                    .at("$.token_type"),
            ],
        }
    },
};

pub static TOKEN_TYPE_REGISTERED: Rule = Rule {
    id: "RFC6749-8.1-token_type-registered",
    level: Level::Must,
    source: RFC6749_8_1,
    title: "token_type is a registered access token type or an absolute URI",
    explain: "RFC 6749 §8.1: a token type is either a URI (vendor-specific) or a name that \"MUST be \
              registered\" in the OAuth Access Token Types registry (§11.1): Bearer, N_A, PoP, DPoP, compared \
              case-insensitively (§5.1). §7.1: the client \"MUST NOT use an access token if it does not \
              understand the token type\", so an unregistered name such as `mac` (a draft never \
              registered) leaves every client unable to use the token.",
    check: |x| {
        let r = x.received;
        if !success(r) || not_json_object(r).is_some() {
            return vec![];
        }
        match body_member(r, "token_type").and_then(Value::as_str) {
            Some(t) => token_type_problem(t)
                .map(|why| {
                    Violation::new(why)
                        .expected("Bearer, DPoP, N_A, PoP (any case) or an absolute URI")
                        .actual(t)
                        .at("$.token_type")
                })
                .into_iter()
                .collect(),
            None => vec![],
        }
    },
};

pub static EXPIRES_IN: Rule = Rule {
    id: "RFC6749-5.1-expires_in",
    level: Level::Must,
    source: RFC6749_5_1,
    title: "expires_in, when present, is a whole number of seconds (a JSON number)",
    explain: "RFC 6749 §5.1: expires_in is the lifetime in seconds of the access token, and numerical \
              values are included as JSON numbers; Appendix A.14 gives its syntax as 1*DIGIT. A string \
              (\"3600\"), a negative number or a fraction is not a lifetime in seconds. (Zero and values \
              over a year are legal: RFC6749-5.1-expires_in-plausible warns about them.)",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let Some(v) = body_member(r, "expires_in") else {
            return vec![];
        };
        let bad = |m: String| vec![Violation::new(m).expected("a non-negative integer number of seconds").actual(v.to_string()).at("$.expires_in")];
        match v {
            Value::Number(n) if n.is_u64() => vec![],
            Value::Number(n) => bad(format!("expires_in is {n}; RFC 6749 Appendix A.14 allows only digits (whole seconds)")),
            other => bad(format!("expires_in is {}; RFC 6749 §5.1 requires a JSON number of seconds", describe(other))),
        }
    },
};

pub static EXPIRES_IN_PLAUSIBLE: Rule = Rule {
    id: "RFC6749-5.1-expires_in-plausible",
    level: Level::Should,
    source: RFC6749_5_1,
    title: "expires_in is neither 0 nor over a year (a warning: probably not seconds)",
    explain: "RFC 6749 §5.1 gives expires_in in seconds and sets no bounds, so this is a warning only: \
              0 means the token is expired when issued, and a lifetime over one year (31,536,000) is \
              most likely milliseconds.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let Some(Value::Number(n)) = body_member(r, "expires_in") else {
            return vec![];
        };
        let why = match n.as_u64() {
            Some(0) => "expires_in is 0: the token is expired when issued".to_string(),
            Some(s) if s > ONE_YEAR => format!("expires_in is {s}: over a year, probably milliseconds"),
            _ => return vec![],
        };
        vec![Violation::new(why)
            .expected("a lifetime in seconds, 1 to 31536000")
            .actual(n.to_string())
            .at("$.expires_in")]
    },
};

pub static EXPIRES_IN_PRESENT: Rule = Rule {
    id: "RFC6749-5.1-expires_in-present",
    level: Level::Should,
    source: RFC6749_5_1,
    title: "expires_in is present (RECOMMENDED)",
    explain:
        "RFC 6749 §5.1: expires_in is RECOMMENDED; without it a client cannot know when to refresh \
              and must handle a 401 instead.",
    check: |x| {
        let r = x.received;
        if !success(r) || not_json_object(r).is_some() || body_member(r, "expires_in").is_some() {
            return vec![];
        }
        vec![
            Violation::new("expires_in is missing; RFC 6749 §5.1 recommends it").at("$.expires_in"),
        ]
    },
};

pub static NO_STORE: Rule = Rule {
    id: "RFC6749-5.1-no-store",
    level: Level::Must,
    source: RFC6749_5_1,
    title: "Cache-Control contains no-store",
    explain: "RFC 6749 §5.1: the authorization server MUST include the HTTP \"Cache-Control\" response header \
              field with a value of \"no-store\" in any response containing tokens, so no cache keeps them.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let values = r.header_all("cache-control").join(", ");
        let has = values
            .split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-store"));
        if has {
            return vec![];
        }
        let actual = if values.is_empty() { "(no Cache-Control header)".to_string() } else { values };
        vec![Violation::new("Cache-Control lacks no-store on a response that carries tokens")
            .expected("Cache-Control: no-store")
            .actual(actual)]
    },
};

pub static PRAGMA: Rule = Rule {
    id: "RFC6749-5.1-pragma",
    level: Level::Should,
    source: RFC6749_5_1,
    title: "Pragma: no-cache (a warning: RFC 9111 deprecates Pragma)",
    explain: "RFC 6749 §5.1 also asks for \"Pragma: no-cache\". RFC 9111 deprecated Pragma and OAuth 2.1 drops \
              the requirement, so a modern server without it is warned, not failed.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        match r.header("pragma") {
            Some(p) if p.to_ascii_lowercase().contains("no-cache") => vec![],
            other => vec![Violation::new("Pragma: no-cache is missing")
                .expected("Pragma: no-cache")
                .actual(other.unwrap_or("(no Pragma header)"))],
        }
    },
};

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
fn valid_scope_token(t: &str) -> bool {
    t.bytes()
        .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

pub static SCOPE: Rule = Rule {
    id: "RFC6749-5.1-scope",
    level: Level::Must,
    source: RFC6749_3_3,
    title: "scope, when present, is a space-delimited list of scope tokens",
    explain: "RFC 6749 §5.1 and §3.3: scope is OPTIONAL if identical to the scope requested, otherwise REQUIRED; \
              it is a string of space-delimited tokens made of printable ASCII without `\"` and `\\`. \
              A scope as a JSON array or with invalid characters breaks clients that split the string.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        match body_member(r, "scope") {
            None => vec![],
            Some(Value::String(s)) => {
                let bad: Vec<&str> = scope_tokens(s).into_iter().filter(|t| !valid_scope_token(t)).collect();
                if bad.is_empty() {
                    vec![]
                } else {
                    vec![Violation::new(format!("scope has tokens with characters RFC 6749 §3.3 forbids: {bad:?}"))
                        .actual(s.clone())
                        .at("$.scope")]
                }
            }
            Some(other) => vec![Violation::new(format!(
                "scope is {}; RFC 6749 §3.3 requires a space-delimited string",
                describe(other)
            ))
            .at("$.scope")],
        }
    },
};

pub static SCOPE_NOT_WIDER: Rule = Rule {
    id: "RFC6749-3.3-scope-not-wider",
    level: Level::Should,
    source: RFC6749_3_3,
    title: "the granted scope is not wider than the requested scope",
    explain:
        "RFC 6749 §3.3 lets a server grant less than requested (and then it MUST return scope), \
              but a token with scopes the client did not ask for breaks least privilege.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if !success(r) {
            return vec![];
        }
        let (Some(requested), Some(Value::String(granted))) =
            (s.form_value("scope"), body_member(r, "scope"))
        else {
            return vec![];
        };
        let requested = scope_tokens(requested);
        let extra: Vec<&str> = scope_tokens(granted)
            .into_iter()
            .filter(|t| !requested.contains(t))
            .collect();
        if extra.is_empty() {
            return vec![];
        }
        vec![Violation::new(format!(
            "granted scopes that were not requested: {}",
            extra.join(" ")
        ))
        .expected(requested.join(" "))
        .actual(granted.clone())
        .at("$.scope")]
    },
};

pub static NO_REFRESH_TOKEN_ON_CLIENT_CREDENTIALS: Rule = Rule {
    id: "RFC6749-4.4.3-no-refresh-token",
    level: Level::Should,
    source: RFC6749_4_4_3,
    title: "no refresh_token in a client_credentials response",
    explain: "RFC 6749 §4.4.3: a refresh token SHOULD NOT be included in a client credentials response: \
              the client can always ask again with its own credentials, and a long-lived token is only risk.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if !success(r) || s.grant_type() != Some("client_credentials") || body_member(r, "refresh_token").is_none() {
            return vec![];
        }
        vec![Violation::new("a client_credentials response carries a refresh_token")
            .expected("no refresh_token")
            .actual("refresh_token present")
            .at("$.refresh_token")]
    },
};

pub static TOKEN_CHARSET: Rule = Rule {
    id: "RFC6749-A.12-token-charset",
    level: Level::Must,
    source: RFC6749_A_12,
    title: "access_token and refresh_token use only printable ASCII (VSCHAR)",
    explain: "RFC 6749 Appendix A.12 and A.17: access-token and refresh-token = 1*VSCHAR, that is %x20-7E. \
              A token with control characters, line breaks or non-ASCII bytes breaks the Authorization \
              header and form encoding on the client.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let mut out = Vec::new();
        for name in ["access_token", "refresh_token"] {
            if let Some(Value::String(t)) = body_member(r, name) {
                if let Some(c) = t.chars().find(|c| !(' '..='~').contains(c)) {
                    out.push(
                        Violation::new(format!(
                            "{name} {} contains U+{:04X}; RFC 6749 Appendix A allows only %x20-7E",
                            token_summary(t),
                            c as u32
                        ))
                        .expected("printable ASCII (%x20-7E)")
                        .at(format!("$.{name}")),
                    );
                }
            }
        }
        out
    },
};

/// Below this an access token can hardly carry 128 bits, even as raw printable ASCII.
const MIN_TOKEN_CHARS: usize = 16;

pub static TOKEN_ENTROPY: Rule = Rule {
    id: "RFC6749-10.10-token-entropy",
    level: Level::Should,
    source: RFC6749_10_10,
    title: "the access token is long enough to be unguessable",
    explain: "RFC 6749 §10.10: the probability of an attacker guessing generated tokens MUST be less than \
              or equal to 2^(-128) and SHOULD be less than or equal to 2^(-160). A token shorter than 16 \
              characters cannot carry 128 bits of randomness, so it is guessable by construction.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        match body_member(r, "access_token") {
            Some(Value::String(t)) if !t.is_empty() && t.chars().count() < MIN_TOKEN_CHARS => {
                vec![Violation::new(format!(
                    "the access token is only {} characters long; it cannot carry 128 bits of randomness",
                    t.chars().count()
                ))
                .expected(format!("at least {MIN_TOKEN_CHARS} characters"))
                .actual(token_summary(t))
                .at("$.access_token")]
            }
            _ => vec![],
        }
    },
};

pub static ERROR_CONTENT_TYPE: Rule = Rule {
    id: "RFC6749-5.2-content-type",
    level: Level::Must,
    source: RFC6749_5_2,
    title: "an error response is application/json",
    explain: "RFC 6749 §5.2: the error parameters are included in the entity-body using the \
              \"application/json\" media type. An HTML error page is not an OAuth error.",
    check: |x| {
        let r = x.received;
        if !is_error(r) || is_json_media_type(r) {
            return vec![];
        }
        vec![
            Violation::new("the error response is not served as application/json")
                .expected("application/json")
                .actual(r.header("content-type").unwrap_or("(no content-type)")),
        ]
    },
};

pub static ERROR_CODE: Rule = Rule {
    id: "RFC6749-5.2-error-code",
    level: Level::Must,
    source: RFC6749_5_2,
    title: "error is present and a registered error code",
    explain: "RFC 6749 §5.2: error is REQUIRED and is one of invalid_request, invalid_client, invalid_grant, \
              unauthorized_client, unsupported_grant_type, invalid_scope, or a code registered as an extension \
              (§8.5), that is, in IANA's OAuth Extensions Error Registry (RFC 6750's invalid_token, RFC 9396's \
              invalid_authorization_details, RFC 9449's invalid_dpop_proof, OpenID Connect's login_required, …). \
              Clients branch on it; an unknown code is an unhandled case.",
    check: |x| {
        let r = x.received;
        // §5.2 is a 4xx answer; a 5xx (server_error, temporarily_unavailable) is not judged here.
        if !(400..500).contains(&r.status) {
            return vec![];
        }
        if let Some(v) = not_json_object(r) {
            return vec![v];
        }
        match body_member(r, "error") {
            Some(Value::String(code)) if REGISTERED_ERRORS.contains(&code.as_str()) => vec![],
            Some(Value::String(code)) => vec![Violation::new(format!("error {code:?} is not a registered OAuth error code"))
                .expected("an RFC 6749 code (invalid_request, invalid_client, invalid_grant, …) or one in IANA's OAuth Extensions Error Registry")
                .actual(code.clone())
                .at("$.error")],
            Some(other) => vec![Violation::new(format!("error is {}, expected a string code", describe(other))).at("$.error")],
            None => vec![Violation::new("error is missing; RFC 6749 §5.2 requires it").at("$.error")],
        }
    },
};

/// RFC 6749 §5.2: error and error_description use %x20-21 / %x23-5B / %x5D-7E; error_uri no space.
fn allowed_error_char(b: u8, allow_space: bool) -> bool {
    (allow_space && b == 0x20)
        || b == 0x21
        || (0x23..=0x5B).contains(&b)
        || (0x5D..=0x7E).contains(&b)
}

pub static ERROR_CHARSET: Rule = Rule {
    id: "RFC6749-5.2-charset",
    level: Level::Must,
    source: RFC6749_5_2,
    title: "error, error_description and error_uri use only the allowed characters",
    explain: "RFC 6749 §5.2: values for error and error_description MUST NOT include characters outside \
              %x20-21 / %x23-5B / %x5D-7E (printable ASCII without `\"` and `\\`); error_uri also excludes the space.",
    check: |x| {
        let r = x.received;
        if !is_error(r) {
            return vec![];
        }
        let mut out = Vec::new();
        for (name, allow_space) in [("error", true), ("error_description", true), ("error_uri", false)] {
            if let Some(Value::String(s)) = body_member(r, name) {
                if let Some(bad) = s.bytes().find(|b| !allowed_error_char(*b, allow_space)) {
                    out.push(
                        Violation::new(format!("{name} contains a character RFC 6749 §5.2 forbids (byte 0x{bad:02x})"))
                            .actual(s.clone())
                            .at(format!("$.{name}")),
                    );
                }
            }
        }
        out
    },
};

pub static ERROR_STATUS: Rule = Rule {
    id: "RFC6749-5.2-status",
    level: Level::Must,
    source: RFC6749_5_2,
    title: "an error response is 400, or 401 for invalid_client",
    explain: "RFC 6749 §5.2: the server responds with 400 (Bad Request) unless specified otherwise; \
              invalid_client may be 401 (and must be, when the client used the Authorization header).",
    check: |x| {
        let r = x.received;
        if !(400..500).contains(&r.status) || r.status == 400 {
            return vec![];
        }
        match (r.status, error_code(r)) {
            (401, Some("invalid_client" | "invalid_token")) | (403, Some("insufficient_scope")) => vec![],
            (_, Some(code)) => vec![Violation::new(format!("error {code} answered with status {}", r.status))
                .expected("400 (401 only for invalid_client)")
                .actual(r.status.to_string())],
            (_, None) => vec![],
        }
    },
};

pub static INVALID_CLIENT_401: Rule = Rule {
    id: "RFC6749-5.2-invalid_client-401",
    level: Level::Must,
    source: RFC6749_5_2,
    title: "a failed Basic client authentication gets 401 with WWW-Authenticate",
    explain: "RFC 6749 §5.2: if the client attempted to authenticate via the \"Authorization\" request header \
              field, the server MUST respond with 401 (Unauthorized) and include the WWW-Authenticate header \
              field matching the authentication scheme used by the client.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if !s.basic_auth || error_code(r) != Some("invalid_client") {
            return vec![];
        }
        let mut out = Vec::new();
        if r.status != 401 {
            out.push(
                Violation::new(format!("invalid_client after Basic authentication answered with {}", r.status))
                    .expected("401")
                    .actual(r.status.to_string()),
            );
        }
        match r.header("www-authenticate") {
            Some(h) if h.trim_start().to_ascii_lowercase().starts_with("basic") => {}
            other => out.push(
                Violation::new("WWW-Authenticate with the Basic scheme is missing")
                    .expected("WWW-Authenticate: Basic realm=...")
                    .actual(other.unwrap_or("(no WWW-Authenticate header)")),
            ),
        }
        out
    },
};

/// Form members whose values are credentials a request may send (RFC 6749, 7009, 7662, 7523, 8693).
const SENT_CREDENTIALS: &[&str] = &[
    "token",
    "refresh_token",
    "code",
    "code_verifier",
    "assertion",
    "client_assertion",
    "subject_token",
    "actor_token",
    "client_secret",
];

/// Shorter values ("code=1") would match by chance; real credentials are far longer.
const MIN_ECHO_CHARS: usize = 8;

pub static NO_TOKEN_IN_ERROR: Rule = Rule {
    id: "RFC6749-10.3-no-token-in-error",
    level: Level::Should,
    source: RFC6749_10_3,
    title: "an error response carries no token, and does not echo a credential the request sent",
    explain: "RFC 6749 §10.3: access token credentials (as well as any confidential access token \
              attributes) MUST be kept confidential in transit and storage. An error body is what \
              gateways, proxies and client logs record, so an error that carries access_token, \
              refresh_token or id_token, or repeats a token, code, assertion or secret the request sent \
              (\"token abc… is invalid\"), spreads it. No RFC sentence forbids the echo outright, so this \
              is a warning.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if !is_error(r) {
            return vec![];
        }
        let mut out = Vec::new();
        for name in ["access_token", "refresh_token", "id_token"] {
            if body_member(r, name).is_some() {
                out.push(
                    Violation::new(format!("an error response carries {name}"))
                        .expected(format!("no {name} in an error"))
                        .at(format!("$.{name}")),
                );
            }
        }
        let body = String::from_utf8_lossy(&r.body);
        let challenge = r.header_all("www-authenticate").join(", ");
        let sent = SENT_CREDENTIALS
            .iter()
            .filter_map(|n| s.form_value(n).map(|v| (*n, v)))
            .chain(s.bearer_token.as_deref().map(|t| ("the bearer token", t)));
        for (name, value) in sent {
            if value.chars().count() >= MIN_ECHO_CHARS
                && (body.contains(value) || challenge.contains(value))
            {
                out.push(
                    Violation::new(format!(
                        "the error response repeats the {name} the request sent {}",
                        token_summary(value)
                    ))
                    .expected("an error that does not repeat credentials"),
                );
            }
        }
        // Tokens an earlier step of the case received, which this request did not send: an
        // error must not hand them out either.
        let sent_values: Vec<&str> = s.form.iter().map(|(_, v)| v.as_str()).collect();
        for (_, earlier) in x.earlier {
            for name in ["access_token", "refresh_token", "id_token"] {
                let Some(Value::String(value)) = body_member(earlier, name) else {
                    continue;
                };
                if value.chars().count() < MIN_ECHO_CHARS
                    || sent_values.contains(&value.as_str())
                    || s.bearer_token.as_deref() == Some(value.as_str())
                {
                    continue;
                }
                if body.contains(value.as_str()) || challenge.contains(value.as_str()) {
                    out.push(
                        Violation::new(format!(
                            "the error response carries the {name} {} an earlier step of the case received",
                            token_summary(value)
                        ))
                        .expected("an error that carries no token"),
                    );
                }
            }
        }
        out
    },
};

#[cfg(test)]
mod tests {
    use super::super::testutil::{received, sent};
    use super::*;
    use crate::http::Received;
    use crate::http::Sent;

    fn good_token() -> Received {
        received(
            200,
            &[
                ("content-type", "application/json;charset=UTF-8"),
                ("cache-control", "no-store"),
                ("pragma", "no-cache"),
            ],
            serde_json::json!({"access_token": "abcdefghijklmnopqrstuvwxyz", "token_type": "Bearer", "expires_in": 600, "scope": "a b"}),
        )
    }

    fn ids(rule: &Rule, s: &Sent, r: &Received) -> usize {
        super::super::testutil::run(rule, s, r).len()
    }

    #[test]
    fn a_conforming_token_response_passes_every_rule() {
        let s = sent(
            &[("grant_type", "client_credentials"), ("scope", "a b")],
            true,
        );
        for rule in TOKEN_RESPONSE.members() {
            assert_eq!(ids(rule, &s, &good_token()), 0, "{} fired", rule.id);
        }
    }

    #[test]
    fn each_token_rule_fires_on_its_violation() {
        let s = sent(
            &[("grant_type", "client_credentials"), ("scope", "a")],
            true,
        );
        let with = |f: &dyn Fn(&mut Received)| {
            let mut r = good_token();
            f(&mut r);
            r
        };
        let set_body = |r: &mut Received, v: Value| {
            r.body = v.to_string().into_bytes();
            r.json = Some(v);
        };
        let cases: Vec<(&Rule, Received)> = vec![
            (
                &CONTENT_TYPE,
                with(&|r| r.headers[0].1 = "text/plain".into()),
            ),
            (
                &ACCESS_TOKEN,
                with(&|r| set_body(r, serde_json::json!({"token_type": "Bearer"}))),
            ),
            (
                &TOKEN_TYPE,
                with(&|r| set_body(r, serde_json::json!({"access_token": "a"}))),
            ),
            (
                &EXPIRES_IN,
                with(&|r| set_body(r, serde_json::json!({"expires_in": "3600"}))),
            ),
            (
                &EXPIRES_IN,
                with(&|r| set_body(r, serde_json::json!({"expires_in": 3600.5}))),
            ),
            (
                &EXPIRES_IN,
                with(&|r| set_body(r, serde_json::json!({"expires_in": -1}))),
            ),
            (
                &EXPIRES_IN_PLAUSIBLE,
                with(&|r| set_body(r, serde_json::json!({"expires_in": 3_600_000_000u64}))),
            ),
            (
                &EXPIRES_IN_PLAUSIBLE,
                with(&|r| set_body(r, serde_json::json!({"expires_in": 0}))),
            ),
            (
                &EXPIRES_IN_PRESENT,
                with(&|r| set_body(r, serde_json::json!({"access_token": "a"}))),
            ),
            (&NO_STORE, with(&|r| r.headers[1].1 = "no-cache".into())),
            (&PRAGMA, with(&|r| r.headers.truncate(2))),
            (
                &SCOPE,
                with(&|r| set_body(r, serde_json::json!({"scope": ["a"]}))),
            ),
            (&SCOPE_NOT_WIDER, good_token()),
            (
                &NO_REFRESH_TOKEN_ON_CLIENT_CREDENTIALS,
                with(&|r| set_body(r, serde_json::json!({"refresh_token": "r"}))),
            ),
            (
                &TOKEN_CHARSET,
                with(&|r| {
                    set_body(
                        r,
                        serde_json::json!({"access_token": "abc\ndefghijklmnopq"}),
                    )
                }),
            ),
            (
                &TOKEN_CHARSET,
                with(&|r| set_body(r, serde_json::json!({"refresh_token": "r\u{e9}"}))),
            ),
            (
                &TOKEN_ENTROPY,
                with(&|r| set_body(r, serde_json::json!({"access_token": "short"}))),
            ),
        ];
        for (rule, r) in cases {
            assert!(ids(rule, &s, &r) > 0, "{} did not fire", rule.id);
        }
    }

    #[test]
    fn zero_and_long_lifetimes_are_legal_seconds_and_only_warned() {
        let s = sent(&[("grant_type", "client_credentials")], true);
        for secs in [0u64, 2 * ONE_YEAR] {
            let r = received(
                200,
                &[("content-type", "application/json")],
                serde_json::json!({"access_token": "abcdefghijklmnopqrstuvwxyz", "expires_in": secs}),
            );
            assert_eq!(ids(&EXPIRES_IN, &s, &r), 0, "{secs}");
            assert_eq!(ids(&EXPIRES_IN_PLAUSIBLE, &s, &r), 1, "{secs}");
        }
    }

    #[test]
    fn token_rules_ignore_error_responses() {
        let s = sent(&[("grant_type", "client_credentials")], true);
        let r = received(400, &[], serde_json::json!({"error": "invalid_request"}));
        for rule in TOKEN_RESPONSE.members() {
            assert_eq!(ids(rule, &s, &r), 0, "{} fired on an error", rule.id);
        }
    }

    fn good_error() -> Received {
        received(
            401,
            &[
                ("content-type", "application/json"),
                ("www-authenticate", "Basic realm=\"x\""),
            ],
            serde_json::json!({"error": "invalid_client", "error_description": "bad secret"}),
        )
    }

    #[test]
    fn a_conforming_error_passes_every_rule() {
        let s = sent(&[("grant_type", "client_credentials")], true);
        for rule in ERROR_RESPONSE.members() {
            assert_eq!(ids(rule, &s, &good_error()), 0, "{} fired", rule.id);
        }
    }

    #[test]
    fn each_error_rule_fires_on_its_violation() {
        let s = sent(&[("grant_type", "client_credentials")], true);
        let mut html = good_error();
        html.headers[0].1 = "text/html".into();
        let code = received(
            400,
            &[("content-type", "application/json")],
            serde_json::json!({"error": "bad_thing"}),
        );
        let charset = received(
            400,
            &[("content-type", "application/json")],
            serde_json::json!({"error": "invalid_request", "error_description": "a \"quoted\" word"}),
        );
        let status = received(
            403,
            &[("content-type", "application/json")],
            serde_json::json!({"error": "invalid_request"}),
        );
        let mut no_challenge = good_error();
        no_challenge.headers.truncate(1);
        let mut as_400 = good_error();
        as_400.status = 400;
        let cases: Vec<(&Rule, Received)> = vec![
            (&ERROR_CONTENT_TYPE, html),
            (&ERROR_CODE, code),
            (&ERROR_CHARSET, charset),
            (&ERROR_STATUS, status),
            (&INVALID_CLIENT_401, no_challenge),
            (&INVALID_CLIENT_401, as_400),
        ];
        for (rule, r) in cases {
            assert!(ids(rule, &s, &r) > 0, "{} did not fire", rule.id);
        }
    }

    #[test]
    fn every_code_in_the_extensions_error_registry_passes_the_error_code_rule() {
        let s = sent(&[("grant_type", "authorization_code")], false);
        // A correct RAR server (RFC 9396 §5), a DPoP one (RFC 9449 §5), OpenID Connect, RFC 9470.
        for code in [
            "invalid_authorization_details",
            "invalid_dpop_proof",
            "use_dpop_nonce",
            "login_required",
            "insufficient_user_authentication",
        ] {
            let r = super::super::testutil::json(400, serde_json::json!({ "error": code }));
            assert_eq!(ids(&ERROR_CODE, &s, &r), 0, "{code} was refused");
        }
        for code in REGISTERED_ERRORS {
            let r = super::super::testutil::json(400, serde_json::json!({ "error": code }));
            assert_eq!(ids(&ERROR_CODE, &s, &r), 0, "{code} was refused");
        }
        // A RAR success carries authorization_details: no error rule applies to a 200.
        let rar = super::super::testutil::json(
            200,
            serde_json::json!({"access_token": "abcdefghijklmnopqrstuvwxyz", "token_type": "Bearer",
                               "authorization_details": [{"type": "payment_initiation"}]}),
        );
        for rule in ERROR_RESPONSE.members() {
            assert_eq!(ids(rule, &s, &rar), 0, "{} fired on a RAR success", rule.id);
        }
        for made_up in ["invalid_authorization", "server_error", "Invalid_Request"] {
            let r = super::super::testutil::json(400, serde_json::json!({ "error": made_up }));
            assert_eq!(ids(&ERROR_CODE, &s, &r), 1, "{made_up} passed");
        }
        // A 5xx is not a §5.2 answer: its code is not judged.
        let r = super::super::testutil::json(500, serde_json::json!({ "error": "server_error" }));
        assert_eq!(ids(&ERROR_CODE, &s, &r), 0);
    }

    #[test]
    fn token_type_is_a_registered_type_or_an_absolute_uri() {
        let s = sent(&[("grant_type", "client_credentials")], true);
        let with_type = |t: &str| {
            let mut r = good_token();
            let v =
                serde_json::json!({"access_token": "abcdefghijklmnopqrstuvwxyz", "token_type": t});
            r.body = v.to_string().into_bytes();
            r.json = Some(v);
            r
        };
        for ok in [
            "Bearer",
            "bearer",
            "DPoP",
            "N_A",
            "PoP",
            "urn:example:token-type:mac",
            "https://as.example/t",
        ] {
            assert_eq!(
                ids(&TOKEN_TYPE_REGISTERED, &s, &with_type(ok)),
                0,
                "{ok} failed"
            );
        }
        for bad in ["mac", "access_token", "Bearer2", "jwt"] {
            assert_eq!(
                ids(&TOKEN_TYPE_REGISTERED, &s, &with_type(bad)),
                1,
                "{bad} passed"
            );
        }
    }

    #[test]
    fn an_error_carries_no_token_and_echoes_no_credential() {
        let s = sent(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt-0123456789abcdef"),
            ],
            true,
        );
        let plain = received(
            400,
            &[("content-type", "application/json")],
            serde_json::json!({"error": "invalid_grant", "error_description": "refresh token is invalid"}),
        );
        assert_eq!(ids(&NO_TOKEN_IN_ERROR, &s, &plain), 0);
        let echo = received(
            400,
            &[("content-type", "application/json")],
            serde_json::json!({"error": "invalid_grant", "error_description": "rt-0123456789abcdef is invalid"}),
        );
        assert_eq!(ids(&NO_TOKEN_IN_ERROR, &s, &echo), 1);
        let carries = received(
            400,
            &[("content-type", "application/json")],
            serde_json::json!({"error": "invalid_grant", "access_token": "abcdefghijklmnopqrstuvwxyz"}),
        );
        assert_eq!(ids(&NO_TOKEN_IN_ERROR, &s, &carries), 1);
        let mut in_challenge = plain.clone();
        in_challenge.headers.push((
            "www-authenticate".into(),
            "Bearer error=\"invalid_token\", error_description=\"bearer-0123456789 expired\""
                .into(),
        ));
        in_challenge.status = 401;
        let b = super::super::testutil::bearer("bearer-0123456789");
        assert_eq!(ids(&NO_TOKEN_IN_ERROR, &b, &in_challenge), 1);
        // A success is not an error: it carries tokens by design.
        assert_eq!(ids(&NO_TOKEN_IN_ERROR, &s, &good_token()), 0);
    }

    #[test]
    fn an_error_carries_no_token_an_earlier_step_received() {
        use super::super::testutil::run_after;
        let s = sent(&[("grant_type", "authorization_code"), ("code", "c")], true);
        let earlier = [(
            sent(&[("grant_type", "authorization_code"), ("code", "c")], true),
            good_token(),
        )];
        let issued = good_token().json.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let leaks = received(
            400,
            &[("content-type", "application/json")],
            serde_json::json!({"error": "invalid_grant", "error_description": format!("code already gave {issued}")}),
        );
        let v = run_after(&NO_TOKEN_IN_ERROR, &s, &leaks, &earlier);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("earlier step"));
        let clean = received(
            400,
            &[("content-type", "application/json")],
            serde_json::json!({"error": "invalid_grant", "error_description": "the code was used"}),
        );
        assert!(run_after(&NO_TOKEN_IN_ERROR, &s, &clean, &earlier).is_empty());
    }
}
