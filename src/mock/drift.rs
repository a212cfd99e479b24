//! Drift modes: deliberate deviations of the mock, breaking or harmless, that prove the suites
//! catch what they must (tests/drift.rs). A mode changes nothing unless its name is in
//! `MockConfig::drifts`; with no mode active the post-processor is not even installed.
//!
//! Response-shape drifts (headers, members, content type) live in `post_process`, one place
//! for all APIs; drifts of behaviour (what a grant accepts, what is stored) live in the vendor
//! modules behind `config.drifting("name")`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

use super::MockConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftKind {
    Breaking,
    Benign,
}

#[derive(Debug)]
pub struct DriftMode {
    pub name: &'static str,
    /// One line.
    pub description: &'static str,
    pub kind: DriftKind,
    /// `talkdesk`, `salesforce`, `miaw`, `oauth2` or `all`.
    pub api: &'static str,
    /// Rule ids (rule-ids.md) the mode violates; empty for benign modes.
    pub rules: &'static [&'static str],
}

const fn breaking(
    name: &'static str,
    api: &'static str,
    rules: &'static [&'static str],
    description: &'static str,
) -> DriftMode {
    DriftMode {
        name,
        description,
        kind: DriftKind::Breaking,
        api,
        rules,
    }
}

const fn benign(name: &'static str, api: &'static str, description: &'static str) -> DriftMode {
    DriftMode {
        name,
        description,
        kind: DriftKind::Benign,
        api,
        rules: &[],
    }
}

static MODES: &[DriftMode] = &[
    // ---- every API ----
    breaking(
        "no-store-dropped",
        "all",
        &["RFC6749-5.1-no-store"],
        "responses carry no Cache-Control header, so tokens may be cached",
    ),
    breaking(
        "token-type-missing",
        "all",
        &["RFC6749-5.1-token_type"],
        "token responses leave out token_type",
    ),
    breaking(
        "token-type-unregistered",
        "all",
        &["RFC6749-8.1-token_type-registered", "RFC7662-2.2-token_type"],
        "token responses say token_type mac, a type never registered (introspection still says Bearer)",
    ),
    breaking(
        "json-as-text-plain",
        "all",
        &["RFC6749-5.1-content-type"],
        "successful JSON responses are served as text/plain",
    ),
    breaking(
        "html-error-page",
        "all",
        &["RFC6749-5.2-content-type", "MIAW-error-json"],
        "every 4xx is an HTML error page instead of a JSON error",
    ),
    // ---- Talkdesk ----
    breaking(
        "td-expires-in-string",
        "talkdesk",
        &["RFC6749-5.1-expires_in", "TALKDESK-token-expires_in"],
        "expires_in is the string \"600\" instead of a number",
    ),
    breaking(
        "td-expires-in-millis",
        "talkdesk",
        &["TALKDESK-token-lifetime"],
        "expires_in is 600000 (milliseconds); no MUST rule: under RFC6749-5.1-expires_in's one-year heuristic and the 600 s lifetime is a SHOULD, so the suites' expires_in max catches it",
    ),
    breaking(
        "td-refresh-token-on-client-credentials",
        "talkdesk",
        &["TALKDESK-refresh-token-grants", "RFC6749-4.4.3-no-refresh-token"],
        "client_credentials responses carry a refresh_token",
    ),
    breaking(
        "td-scope-missing",
        "talkdesk",
        &["TALKDESK-token-scope"],
        "token responses leave out scope, which Talkdesk always returns",
    ),
    breaking(
        "td-scope-wider",
        "talkdesk",
        &["RFC6749-3.3-scope-not-wider"],
        "client_credentials grants every scope of the client whatever was asked; no MUST rule: scope-not-wider is a SHOULD, so the suites' scope check catches it",
    ),
    breaking(
        "td-invalid-client-400",
        "talkdesk",
        // RFC6749-5.2-invalid_client-401 is a Talkdesk known deviation (no challenge documented),
        // and §5.2 allows 400: the suites' `status: 401` checks see it.
        &[],
        "a failed client authentication is 400 instead of 401",
    ),
    breaking(
        "td-www-authenticate-missing",
        "talkdesk",
        // Talkdesk documents no challenge (a known deviation); the suites' header check sees it.
        &[],
        "a 401 after failed Basic authentication carries no WWW-Authenticate",
    ),
    breaking(
        "td-nonstandard-error-code",
        "talkdesk",
        &["RFC6749-5.2-error-code"],
        "error codes are HTTP status names (bad_request, unauthorized) instead of RFC 6749 codes",
    ),
    breaking(
        "td-error-description-missing",
        "talkdesk",
        &["TALKDESK-error-body"],
        "errors leave out error_description, which Talkdesk documents",
    ),
    breaking(
        "td-refresh-not-rotated",
        "talkdesk",
        &["RFC9700-2.2.2-rt-rotation"],
        "a refresh returns the same refresh token; no MUST rule: rotation is a SHOULD for confidential clients, the suites' not_equals check catches it",
    ),
    breaking(
        "td-refresh-replay-accepted",
        "talkdesk",
        &["RFC9700-2.2.2-rt-replay"],
        "refresh tokens rotate but a rotated one still refreshes",
    ),
    breaking(
        "td-code-reuse",
        "talkdesk",
        &["RFC6749-4.1.2-code-reuse"],
        "an authorization code can be redeemed more than once",
    ),
    breaking(
        "td-pkce-ignored",
        "talkdesk",
        &["RFC9700-2.1.1-pkce-verifier"],
        "a wrong or missing code_verifier is not checked",
    ),
    breaking(
        "td-id-token-without-openid",
        "talkdesk",
        &["TALKDESK-id-token-openid"],
        "the code flow returns an id_token although openid was not requested",
    ),
    // ---- Salesforce ----
    breaking(
        "sf-wrong-signature",
        "salesforce",
        &["SF-signature"],
        "signature is an HMAC keyed with the client id instead of the client secret",
    ),
    breaking(
        "sf-issued-at-seconds",
        "salesforce",
        &["SF-issued_at"],
        "issued_at is in seconds (10 digits) instead of milliseconds",
    ),
    breaking(
        "sf-id-url-malformed",
        "salesforce",
        &["SF-id-url"],
        "the identity URL id lacks its user id (…/id/00D…)",
    ),
    breaking(
        "sf-nonstandard-error-code",
        "salesforce",
        &["SF-error-code", "RFC6749-5.2-error-code"],
        "every error code is unknown_error",
    ),
    breaking(
        "sf-refresh-replay-accepted",
        "salesforce",
        &["RFC9700-2.2.2-rt-replay"],
        "refresh tokens rotate but a rotated one still refreshes",
    ),
    breaking(
        "sf-password-grant-accepted",
        "salesforce",
        &["RFC9700-2.4-no-password-grant"],
        "grant_type=password is answered with a token",
    ),
    breaking(
        "sf-revoked-still-active",
        "salesforce",
        &[],
        "revocation answers 200 but the token stays active; no rule: one response cannot show it, the suites' introspection checks catch it",
    ),
    breaking(
        "sf-expired-assertion-accepted",
        "salesforce",
        &[],
        "an expired JWT bearer assertion gets a token; no rule: assertion validity is not visible in a response, the suites' status check catches it",
    ),
    breaking(
        "sf-introspection-fields-missing",
        "salesforce",
        &["SF-introspection-fields"],
        "an active introspection answer leaves out username and nbf",
    ),
    // ---- MIAW ----
    breaking(
        "miaw-token-not-jwt",
        "miaw",
        &["MIAW-access-token-jwt"],
        "accessToken is an opaque string, not a JWT",
    ),
    breaking(
        "miaw-last-event-id-missing",
        "miaw",
        &["MIAW-last-event-id"],
        "access-token responses leave out lastEventId",
    ),
    breaking(
        "miaw-configuration-not-object",
        "miaw",
        &["MIAW-context-configuration"],
        "context.configuration is a JSON-encoded string instead of an object",
    ),
    breaking(
        "miaw-deployment-type-wrong",
        "miaw",
        &["MIAW-deployment-type"],
        "context.deploymentType is \"Embedded\" instead of \"api\" (the rule is a SHOULD: the member is \
         undocumented; the suites' assumed json check catches it against the mock)",
    ),
    breaking(
        "miaw-auth-downgraded-to-anon",
        "miaw",
        &["MIAW-auth-not-anon"],
        "the authenticated endpoint answers with an ANON subject, even for a bad identity token",
    ),
    breaking(
        "miaw-continuation-later-exp",
        "miaw",
        &["MIAW-continuation-keeps-sub-exp"],
        "a continuation token expires later than the token it continues",
    ),
    breaking(
        "miaw-continuation-same-client-id",
        "miaw",
        &["MIAW-continuation-new-client-id"],
        "a continuation token keeps the clientId of the token it continues",
    ),
    breaking(
        "miaw-bearer-challenge-missing",
        "miaw",
        &["RFC6750-3-challenge"],
        "a 401 to a Bearer request carries no WWW-Authenticate",
    ),
    breaking(
        "miaw-bad-org-accepted",
        "miaw",
        &[],
        "any orgId is accepted; no rule: whether an org exists is not visible in a response, the suites' status checks catch it",
    ),
    // ---- generic OAuth 2.0 server ----
    breaking(
        "oauth2-introspection-unauthenticated",
        "oauth2",
        &["RFC7662-2.1-authentication"],
        "the introspection endpoint answers callers that send no client credentials",
    ),
    breaking(
        "oauth2-introspection-token-kind",
        "oauth2",
        &["RFC7662-2.2-token_type"],
        "introspection names the kind of token (token_type access_token) instead of its RFC 6749 type",
    ),
    breaking(
        "oauth2-pkce-optional",
        "oauth2",
        &["OAUTH21-4.1.3-pkce-required"],
        "authorize issues a code without a PKCE code_challenge although the server requires PKCE, and the token endpoint redeems it",
    ),
    breaking(
        "oauth2-dpop-token-type-bearer",
        "oauth2",
        &["RFC9449-5-token_type-dpop"],
        "a token bound to the request's DPoP key is announced as token_type Bearer",
    ),
    breaking(
        "oauth2-dpop-no-cnf",
        "oauth2",
        // The introspection case's assumed json check: RFC9449-6-cnf-jkt judges a cnf.jkt's value.
        &[],
        "introspection of a DPoP-bound access token leaves out cnf.jkt",
    ),
    breaking(
        "oauth2-dpop-refresh-unbound",
        "oauth2",
        &["RFC9449-5-refresh-bound"],
        "a public client's DPoP-bound refresh token is accepted with a proof of another key",
    ),
    breaking(
        "oauth2-dpop-proof-unchecked",
        "oauth2",
        &["RFC9449-4.3-proof-refused"],
        "any DPoP proof that decodes is accepted: no check of alg, signature, htm, htu or iat",
    ),
    breaking(
        "oauth2-dpop-jti-replay",
        "oauth2",
        &["RFC9449-11.1-jti-replay-refused"],
        "a DPoP proof whose jti was already used is accepted again",
    ),
    breaking(
        "oauth2-dpop-resource-ath-ignored",
        "oauth2",
        &["RFC9449-7.1-resource-proof-checked"],
        "the protected resource takes a DPoP-bound token with a proof of its key whatever the proof's ath (none, or another token's)",
    ),
    breaking(
        "oauth2-dpop-resource-bearer-accepted",
        "oauth2",
        &["RFC9449-7.2-bound-token-not-bearer"],
        "the protected resource takes a DPoP-bound access token under the Bearer scheme",
    ),
    breaking(
        "oauth2-dpop-resource-challenge-bare",
        "oauth2",
        &["RFC9449-7.1-challenge-error"],
        "the protected resource's DPoP challenge to a refused token names no error; no MUST rule: §7.1 makes it a SHOULD, the suites' www-authenticate check catches it",
    ),
    breaking(
        "oauth2-dpop-jkt-ignored",
        "oauth2",
        &["RFC9449-10-dpop-jkt-bound"],
        "a code requested with dpop_jkt is redeemed with a proof of another key",
    ),
    breaking(
        "oauth2-dpop-nonce-optional",
        "oauth2",
        &["RFC9449-11.3-nonce-required"],
        "the token endpoint accepts a DPoP proof without a nonce (it still hands its nonce out on each answer)",
    ),
    breaking(
        "oauth2-par-status-200",
        "oauth2",
        &["RFC9126-2.2-created"],
        "a pushed authorization request is answered 200 instead of 201 Created",
    ),
    breaking(
        "oauth2-par-request-uri-accepted",
        "oauth2",
        &["RFC9126-2.1-request-uri-refused"],
        "a pushed request that carries request_uri is accepted",
    ),
    breaking(
        "oauth2-par-reusable",
        "oauth2",
        &["RFC9126-4-request-uri-single-use"],
        "a request_uri issues a code each time it is used",
    ),
    breaking(
        "oauth2-par-expired-accepted",
        "oauth2",
        &["RFC9126-4-request-uri-expired"],
        "a request_uri used after its expires_in still issues a code",
    ),
    breaking(
        "oauth2-par-not-required",
        "oauth2",
        &["RFC9126-5-par-required"],
        "the PAR-only authorize endpoint issues a code for a request that was not pushed",
    ),
    breaking(
        "oauth2-introspection-text-plain",
        "oauth2",
        &["RFC7662-2.2-content-type"],
        "successful introspection answers are served as text/plain",
    ),
    breaking(
        "oauth2-revocation-unauthenticated",
        "oauth2",
        &[],
        "revocation with a wrong secret or no client credentials answers 200 (and revokes nothing); no rule: the suites' status checks catch it",
    ),
    breaking(
        "oauth2-revocation-any-client",
        "oauth2",
        &[],
        "a client may revoke a token issued to another client; no rule: the suites' status and introspection checks catch it",
    ),
    breaking(
        "oauth2-revocation-hint-binding",
        "oauth2",
        &[],
        "revocation searches only the hinted kind of token (access tokens without a hint), so a refresh token revoked without a hint stays valid; no rule: the suites' refresh check catches it",
    ),
    breaking(
        "oauth2-introspection-hint-binding",
        "oauth2",
        &[],
        "introspection finds a refresh token only with token_type_hint refresh_token; no rule: the suites' active checks catch it",
    ),
    breaking(
        "oauth2-redirect-mismatch-invalid-request",
        "oauth2",
        &[],
        "a redirect_uri at the token endpoint that differs from the authorize request's gets invalid_request instead of invalid_grant; no rule: the suites' error check catches it",
    ),
    breaking(
        "oauth2-authorize-error-json",
        "oauth2",
        &[],
        "authorize errors for a valid client and redirect URI are a 400 JSON body instead of a redirect with error and state; no rule: the suites' status and location checks catch it",
    ),
    breaking(
        "oauth2-scope-wider",
        "oauth2",
        &["RFC6749-3.3-scope-not-wider"],
        "client_credentials grants every scope of the client whatever was asked; no MUST rule: scope-not-wider is a SHOULD, so the suites' scope check catches it",
    ),
    breaking(
        "oauth2-code-scope-wider",
        "oauth2",
        &["RFC6749-3.3-code-scope-not-wider"],
        "a code redemption grants every scope of the client, not the scope asked for at authorize; no MUST rule: the rule is a SHOULD, the suites' scope check catches it",
    ),
    breaking(
        "oauth2-pkce-downgrade",
        "oauth2",
        &["RFC9700-2.1.1-pkce-downgrade"],
        "authorize issues a code without a code_challenge, and the token endpoint accepts a code_verifier for it",
    ),
    breaking(
        "oauth2-pkce-plain-accepted",
        "oauth2",
        &[],
        "authorize accepts code_challenge_method plain although the metadata offers only S256; no rule: the suites' location check catches it",
    ),
    breaking(
        "oauth2-authorize-no-iss",
        "oauth2",
        &["RFC9207-2-iss"],
        "authorization responses carry no iss although the metadata says authorization_response_iss_parameter_supported",
    ),
    breaking(
        "oauth2-implicit-grant",
        "oauth2",
        &["OAUTH21-10.1-no-implicit", "OAUTH21-10-omitted-grants"],
        "response_type=token redirects with an access token in the fragment, and the metadata offers implicit; no MUST rule: OAuth 2.1 omits the grant without a keyword, the suites' location check catches it",
    ),
    breaking(
        "oauth2-redirect-prefix-match",
        "oauth2",
        &["OAUTH21-2.3.1-exact-redirect"],
        "authorize accepts any redirect_uri that starts with a registered one",
    ),
    breaking(
        "oauth2-public-refresh-not-rotated",
        "oauth2",
        &["OAUTH21-4.3-public-refresh"],
        "a public client's refresh answers with the refresh token it was sent, which stays valid; no MUST rule: §4.3 is a SHOULD, the suites' refresh_token check catches it",
    ),
    breaking(
        "oauth2-query-token-accepted",
        "oauth2",
        &["OAUTH21-5.1-no-query-token"],
        "the protected resource accepts an access token given only as ?access_token= in the URI query",
    ),
    breaking(
        "oauth2-revoked-still-active",
        "oauth2",
        &[],
        "revocation answers 200 but the token stays active; no rule: one response cannot show it, the suites' introspection checks catch it",
    ),
    // ---- harmless ----
    benign(
        "token-type-lowercase",
        "talkdesk",
        "token_type is \"bearer\" (RFC 6749 §5.1: case-insensitive)",
    ),
    benign(
        "extra-fields",
        "all",
        "token and error bodies carry unknown extra members",
    ),
    benign(
        "keys-reordered",
        "all",
        "JSON object members come in reverse order",
    ),
    benign(
        "cache-control-variants",
        "all",
        "Cache-Control is \"no-cache, no-store, max-age=0\"",
    ),
    benign(
        "extra-headers",
        "all",
        "responses carry extra headers (X-Request-Id, Server, Vary, HSTS, nosniff)",
    ),
    benign(
        "pragma-dropped",
        "all",
        "no Pragma: no-cache (RFC 9111 deprecates Pragma: a warning only)",
    ),
    benign(
        "json-without-charset",
        "all",
        "Content-Type is application/json without a charset parameter",
    ),
];

pub fn modes() -> &'static [DriftMode] {
    MODES
}

pub fn find(name: &str) -> Option<&'static DriftMode> {
    MODES.iter().find(|m| m.name == name)
}

/// Which API a request path belongs to, by the prefixes the vendor modules route.
fn api_of(path: &str) -> Option<&'static str> {
    if path.starts_with("/oauth/") {
        Some("talkdesk")
    } else if path.starts_with("/services/oauth2/") {
        Some("salesforce")
    } else if path.starts_with("/iamessage/") {
        Some("miaw")
    } else if path.starts_with("/oauth2/") {
        Some("oauth2")
    } else {
        None
    }
}

/// Largest response body the post-processor rewrites; the mock's bodies are far smaller.
const MAX_REWRITE: usize = 1024 * 1024;

/// Applies the active response-shape drifts to every response. Installed only when a drift is active.
pub(crate) async fn post_process(
    State(config): State<Arc<MockConfig>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let api = api_of(&path);
    let response = next.run(request).await;
    let on = |name: &str| {
        config.drifting(name) && find(name).is_some_and(|m| m.api == "all" || Some(m.api) == api)
    };
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REWRITE).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let status = parts.status;
    parts.status = drifted_status(&on, status);
    let is_json = content_type(&parts.headers).contains("json");
    let mut body = bytes.to_vec();
    if is_json {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&bytes) {
            let mut value = Value::Object(map);
            rewrite_json(&on, status, &path, &mut value);
            body = if on("keys-reordered") {
                reversed(&value).into_bytes()
            } else {
                value.to_string().into_bytes()
            };
        }
    }
    let introspection = path.ends_with("/introspect");
    rewrite_headers(&on, status, is_json, introspection, &mut parts.headers);
    if on("html-error-page") && status.is_client_error() {
        let reason = status.canonical_reason().unwrap_or("Error");
        body = format!(
            "<!DOCTYPE html>\n<html><head><title>{} {reason}</title></head>\
             <body><h1>{reason}</h1><p>Something went wrong.</p></body></html>\n",
            status.as_u16()
        )
        .into_bytes();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    // The body changed length: let the server compute it again.
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn rewrite_json(on: &dyn Fn(&str) -> bool, status: StatusCode, path: &str, value: &mut Value) {
    let Some(body) = value.as_object_mut() else {
        return;
    };
    let is_token = body.contains_key("access_token");
    let is_miaw_token = body.contains_key("accessToken");
    if is_token {
        if on("token-type-missing") {
            body.remove("token_type");
        }
        if on("token-type-unregistered") && body.contains_key("token_type") {
            body.insert("token_type".into(), json!("mac"));
        }
        if on("token-type-lowercase") && body.get("token_type") == Some(&json!("Bearer")) {
            body.insert("token_type".into(), json!("bearer"));
        }
        if let Some(n) = body.get("expires_in").and_then(Value::as_u64) {
            if on("td-expires-in-string") {
                body.insert("expires_in".into(), json!(n.to_string()));
            } else if on("td-expires-in-millis") {
                body.insert("expires_in".into(), json!(n.saturating_mul(1000)));
            }
        }
        if on("td-scope-missing") {
            body.remove("scope");
        }
    }
    if body.get("error").is_some_and(Value::is_string) {
        if on("td-error-description-missing") {
            body.remove("error_description");
        }
        if on("td-nonstandard-error-code") {
            let name = match status {
                StatusCode::UNAUTHORIZED => "unauthorized",
                StatusCode::FORBIDDEN => "forbidden",
                s if s.is_server_error() => "internal_error",
                _ => "bad_request",
            };
            body.insert("error".into(), json!(name));
        }
        if on("sf-nonstandard-error-code") {
            body.insert("error".into(), json!("unknown_error"));
        }
    }
    if is_miaw_token {
        if on("miaw-token-not-jwt") {
            body.insert(
                "accessToken".into(),
                json!(super::new_token("miaw_opaque_")),
            );
        }
        if on("miaw-last-event-id-missing") {
            body.remove("lastEventId");
        }
        if let Some(context) = body.get_mut("context").and_then(Value::as_object_mut) {
            if on("miaw-configuration-not-object") {
                if let Some(c) = context.get("configuration").cloned() {
                    context.insert("configuration".into(), json!(c.to_string()));
                }
            }
            if on("miaw-deployment-type-wrong") {
                context.insert("deploymentType".into(), json!("Embedded"));
            }
        }
    }
    if on("sf-introspection-fields-missing")
        && path.ends_with("/introspect")
        && body.get("active") == Some(&json!(true))
    {
        body.remove("username");
        body.remove("nbf");
    }
    let is_error = body.contains_key("error") || body.contains_key("errorCode");
    if on("extra-fields") && (is_token || is_miaw_token || is_error) {
        body.insert("x_trace_id".into(), json!("drift-7f3a"));
        body.insert(
            "x_vendor".into(),
            json!({ "region": "eu-west-1", "build": 42 }),
        );
    }
}

fn rewrite_headers(
    on: &dyn Fn(&str) -> bool,
    status: StatusCode,
    is_json: bool,
    introspection: bool,
    headers: &mut HeaderMap,
) {
    if on("no-store-dropped") {
        headers.remove(header::CACHE_CONTROL);
    }
    if on("cache-control-variants")
        && headers.get(header::CACHE_CONTROL) == Some(&HeaderValue::from_static("no-store"))
    {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store, max-age=0"),
        );
    }
    if on("pragma-dropped") {
        headers.remove(header::PRAGMA);
    }
    if is_json && on("json-as-text-plain") && status.is_success() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain;charset=UTF-8"),
        );
    }
    if is_json && on("oauth2-introspection-text-plain") && status.is_success() && introspection {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain;charset=UTF-8"),
        );
    }
    if is_json && on("json-without-charset") {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if status == StatusCode::UNAUTHORIZED
        && (on("td-www-authenticate-missing") || on("miaw-bearer-challenge-missing"))
    {
        headers.remove(header::WWW_AUTHENTICATE);
    }
    if on("extra-headers") {
        for (name, value) in [
            ("x-request-id", "drift-0f9c2e7a"),
            ("server", "tokenconf-drift"),
            ("vary", "Accept-Encoding"),
            ("strict-transport-security", "max-age=31536000"),
            ("x-content-type-options", "nosniff"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// The status a drift answers with instead of `status`.
fn drifted_status(on: &dyn Fn(&str) -> bool, status: StatusCode) -> StatusCode {
    if status == StatusCode::UNAUTHORIZED && on("td-invalid-client-400") {
        StatusCode::BAD_REQUEST
    } else {
        status
    }
}

/// `value` serialized with the members of every object in reverse order (serde_json sorts them).
fn reversed(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let members: Vec<String> = map
                .iter()
                .rev()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), reversed(v)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(reversed).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_modes_well_formed() {
        let mut names: Vec<&str> = modes().iter().map(|m| m.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate drift names");
        for m in modes() {
            assert!(["talkdesk", "salesforce", "miaw", "oauth2", "all"].contains(&m.api));
            assert!(!m.description.contains('\n'), "{}", m.name);
            if m.kind == DriftKind::Benign {
                assert!(m.rules.is_empty(), "{}", m.name);
            }
        }
        assert!(find("no-store-dropped").is_some());
        assert!(find("no-such-mode").is_none());
    }

    #[test]
    fn reversed_keeps_the_value() {
        let v = json!({ "a": 1, "b": { "c": [1, { "d": "x\"y" }], "e": null } });
        let text = reversed(&v);
        assert!(text.starts_with("{\"b\":"));
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn paths_map_to_their_api() {
        assert_eq!(api_of("/oauth/token"), Some("talkdesk"));
        assert_eq!(api_of("/services/oauth2/revoke"), Some("salesforce"));
        assert_eq!(api_of("/iamessage/api/v2/x"), Some("miaw"));
        assert_eq!(api_of("/oauth2/token"), Some("oauth2"));
        assert_eq!(api_of("/nowhere"), None);
    }
}
