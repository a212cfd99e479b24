//! Talkdesk `POST /oauth/token` and `GET /oauth/authorize` as documented at
//! <https://docs.talkdesk.com/reference/cc-basic>, /reference/cc-jwt, /reference/authorization-code-basic
//! and /reference/refresh-token-basic: client authentication by HTTP Basic or by a `private_key_jwt`
//! assertion (ES256 with `kid`), 600-second bearer tokens, `refresh_token` and `sid` for the
//! authorization_code and refresh_token grants, `id_token` with `openid`, `{error, error_description}`
//! errors.
//!
//! HTTP Basic is decoded as Talkdesk's reference builds it: base64 of the raw
//! `client_id:client_secret` (`echo -n '<client_id>:<client_secret>' | openssl base64`), with no
//! form-decoding, so a secret with `+` or `%` is read as it is.
//!
//! Choices where Talkdesk documents nothing:
//! - a failed client assertion is 401 `invalid_client` without `WWW-Authenticate` (RFC 6749 §5.2 asks
//!   for the challenge only when the client used the Authorization header); a failed Basic login, or
//!   no client authentication at all, carries `WWW-Authenticate: Basic`;
//! - Basic and an assertion together, or half an assertion, is 400 `invalid_request`;
//! - `/oauth/authorize` requires `redirect_uri` (exact match with a registered one) and honours PKCE
//!   with S256 only; a code lives 60 seconds and is spent by the first token request that carries it
//!   and a redirect_uri, even one that fails (wrong redirect_uri or code_verifier);
//! - refresh tokens rotate on every use (unless `rotate_refresh_tokens` is off) and do not expire; replaying a rotated one is `invalid_grant`
//!   (the session's current refresh token stays valid); a code_verifier sent for a code issued
//!   without a code_challenge is `invalid_grant` (RFC 9700 §4.8.2).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};

use super::store::Bounded;
use super::{
    bad_request, basic_credentials, constant_time_eq, error, field, form_fields, is_code_verifier,
    is_s256_challenge, keys, lock, new_token, non_empty, now, redirect, repeated, s256,
    scope_tokens, token_json, MockConfig,
};
use crate::basic::BasicEncoding;
use crate::target::ApiTarget;

pub const ENDPOINTS: &[(&str, &str)] = &[
    ("Talkdesk token", "/oauth/token"),
    ("Talkdesk authorize", "/oauth/authorize"),
];

/// Talkdesk documents access tokens valid for 10 minutes.
const EXPIRES_IN: u64 = 600;
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Talkdesk: `exp` = `iat` + 300 in a client assertion.
const MAX_ASSERTION_LIFETIME: u64 = 300;
/// How far in the future an assertion's `iat` may be (clock skew).
const MAX_IAT_SKEW: u64 = 60;
const CODE_LIFETIME: u64 = 60;
/// Longest `jti` or `nonce` the mock stores.
const MAX_STORED_VALUE: usize = 256;
/// Scopes the authorize endpoint accepts besides the client's API scopes.
const OIDC_SCOPE: &str = "openid";

/// The mock's single Talkdesk client registration. Every key and secret here is TEST-ONLY.
#[derive(Debug, Clone)]
pub struct Config {
    pub client_id: String,
    pub client_secret: String,
    /// Granted when a request names no scope; `openid` may be requested on top at `/oauth/authorize`.
    pub scopes: Vec<String>,
    /// Exact redirect URIs `/oauth/authorize` accepts; the mock never fetches them.
    pub redirect_uris: Vec<String>,
    /// `kid` a client assertion must carry.
    pub assertion_kid: String,
    /// The client's registered public key (ES256) that verifies its assertions.
    pub assertion_public_pem: String,
    /// The client's private key: `api_target` hands it to the suites, which sign their assertions.
    pub assertion_private_pem: String,
    /// `sub` of the id_token: the user who "approves" every authorization request at once.
    pub user_id: String,
    pub id_token_kid: String,
    /// Key the mock signs id_tokens with (ES256).
    pub id_token_private_pem: String,
    /// `/oauth/authorize` approves at once (302 with a code); otherwise a valid request gets the
    /// login page a real account shows.
    pub auto_approve: bool,
    /// Every refresh returns a new refresh token and retires the old one; otherwise the same
    /// refresh token comes back and stays valid (Talkdesk documents neither).
    pub rotate_refresh_tokens: bool,
    /// A client assertion's jti is refused the second time (RFC 7523 §3: MAY; Talkdesk documents
    /// neither way).
    pub refuses_jti_replay: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client_id: "conformance-client".into(),
            client_secret: "test-only-talkdesk-secret".into(),
            scopes: vec![
                "account:read".into(),
                "callbacks:write".into(),
                "users:read".into(),
            ],
            redirect_uris: vec!["https://app.example.test/callback".into()],
            assertion_kid: "conformance-client-es256".into(),
            assertion_public_pem: keys::EC_PUBLIC_PEM.into(),
            assertion_private_pem: keys::EC_PRIVATE_PEM.into(),
            user_id: "conformance-user".into(),
            id_token_kid: "tokenconf-mock-talkdesk".into(),
            id_token_private_pem: keys::EC_PRIVATE_PEM.into(),
            auto_approve: true,
            rotate_refresh_tokens: true,
            refuses_jti_replay: true,
        }
    }
}

/// Vars and secrets for suites. `signing_key` is the client's TEST-ONLY private key: the suites
/// sign their own assertions with it.
pub fn api_target(config: &Config, base_url: &str) -> ApiTarget {
    let redirect_uri = config.redirect_uris.first().map_or("", String::as_str);
    let vars = vec![
        ("client_id", config.client_id.as_str()),
        ("redirect_uri", redirect_uri),
        ("assertion_kid", &config.assertion_kid),
    ];
    let t = super::api_target(
        base_url,
        &vars,
        &[
            ("client_secret", &config.client_secret),
            ("signing_key", &config.assertion_private_pem),
        ],
    );
    let mut t = super::without_what_is_off(t, config.auto_approve, config.rotate_refresh_tokens);
    if !config.refuses_jti_replay {
        t.capabilities.remove("refuses_jti_replay");
    }
    if !config.auto_approve {
        t.login = Some(Arc::new(super::sandbox_login()));
    }
    t
}

pub fn routes(config: Arc<MockConfig>, base_url: &str) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/oauth/authorize", get(authorize))
        .with_state(Arc::new(Shared::new(config, base_url)))
}

/// Per-mock state: keys parsed once, and what clients were issued.
struct Shared {
    config: Arc<MockConfig>,
    issuer: String,
    token_url: String,
    /// `None` when the configured PEM does not parse: assertions are then refused.
    assertion_key: Option<DecodingKey>,
    id_token_key: Option<EncodingKey>,
    /// Each store evicts its oldest entries beyond `store::MAX_ENTRIES`.
    codes: Mutex<Bounded<String, Code>>,
    refresh_tokens: Mutex<Bounded<String, Session>>,
    used_jti: Mutex<Bounded<String, ()>>,
}

impl Shared {
    fn new(config: Arc<MockConfig>, base_url: &str) -> Self {
        let td = &config.talkdesk;
        let assertion_key = DecodingKey::from_ec_pem(td.assertion_public_pem.as_bytes()).ok();
        let id_token_key = EncodingKey::from_ec_pem(td.id_token_private_pem.as_bytes()).ok();
        Shared {
            issuer: base_url.to_string(),
            token_url: format!("{base_url}/oauth/token"),
            assertion_key,
            id_token_key,
            codes: Mutex::default(),
            refresh_tokens: Mutex::default(),
            used_jti: Mutex::default(),
            config,
        }
    }

    fn talkdesk(&self) -> &Config {
        &self.config.talkdesk
    }
}

/// An issued authorization code.
#[derive(Clone)]
struct Code {
    redirect_uri: String,
    scope: Vec<String>,
    code_challenge: Option<String>,
    nonce: Option<String>,
    sid: String,
    issued_at: u64,
}

/// What a refresh token stands for.
#[derive(Clone)]
struct Session {
    scope: Vec<String>,
    sid: String,
}

fn unauthorized(description: &str) -> Box<Response> {
    let mut r = error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"talkdesk\""),
    );
    Box::new(r)
}

async fn token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if let Err(r) = authenticate(&s, &headers, &form) {
        return *r;
    }
    match field(&form, "grant_type") {
        None | Some("") => bad_request("invalid_request", "grant_type is required"),
        Some("client_credentials") => client_credentials(&s, &form),
        Some("authorization_code") => authorization_code(&s, &form),
        Some("refresh_token") => refresh(&s, &form),
        Some(_) => bad_request("unsupported_grant_type", "the grant type is not supported"),
    }
}

/// HTTP Basic or a `private_key_jwt` assertion, exactly one of them.
fn authenticate(
    s: &Shared,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<(), Box<Response>> {
    let config = s.talkdesk();
    let basic = basic_credentials(headers, BasicEncoding::documented_for("talkdesk"));
    let assertion_type = field(form, "client_assertion_type");
    let assertion = field(form, "client_assertion");
    if assertion_type.is_some() || assertion.is_some() {
        if !matches!(basic, Ok(None)) {
            return Err(Box::new(bad_request(
                "invalid_request",
                "use either the Authorization header or a client assertion, not both",
            )));
        }
        return match (assertion_type, assertion) {
            (Some(ASSERTION_TYPE), Some(jwt)) => {
                verify_assertion(s, jwt, field(form, "client_id")).map_err(|why| {
                    Box::new(error(StatusCode::UNAUTHORIZED, "invalid_client", why))
                })
            }
            (Some(t), Some(_)) if !t.is_empty() => Err(Box::new(bad_request(
                "invalid_request",
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ))),
            _ => Err(Box::new(bad_request(
                "invalid_request",
                "client_assertion and client_assertion_type must be sent together",
            ))),
        };
    }
    match basic {
        Ok(Some((id, secret)))
            if id == config.client_id && constant_time_eq(&secret, &config.client_secret) =>
        {
            Ok(())
        }
        Ok(Some(_)) => Err(unauthorized("client authentication failed")),
        Ok(None) => Err(unauthorized("client authentication is required")),
        Err(_) => Err(unauthorized("malformed Authorization header")),
    }
}

/// RFC 7523 §3 as Talkdesk profiles it; the error is the `error_description` of a 401.
fn verify_assertion(s: &Shared, jwt: &str, client_id: Option<&str>) -> Result<(), &'static str> {
    let config = s.talkdesk();
    let header = jsonwebtoken::decode_header(jwt)
        .map_err(|_| "client_assertion is not a well-formed signed JWT")?;
    if header.alg != Algorithm::ES256 {
        return Err("client_assertion must be signed with ES256");
    }
    if header.kid.as_deref() != Some(config.assertion_kid.as_str()) {
        return Err("client_assertion kid does not name a key registered for the client");
    }
    let key = s
        .assertion_key
        .as_ref()
        .ok_or("no public key is registered for the client")?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_audience(&[&s.token_url]);
    validation.set_issuer(&[&config.client_id]);
    validation.sub = Some(config.client_id.clone());
    let claims = jsonwebtoken::decode::<Value>(jwt, key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => "client_assertion signature does not verify",
            ErrorKind::ExpiredSignature => "client_assertion has expired",
            ErrorKind::InvalidAudience => "client_assertion aud must be the token endpoint URL",
            ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => {
                "client_assertion iss and sub must both be the client_id of a registered client"
            }
            ErrorKind::MissingRequiredClaim(_) => {
                "client_assertion needs iss, sub, aud, exp, iat and jti"
            }
            _ => "client_assertion is not valid",
        })?
        .claims;
    let exp = claims.get("exp").and_then(Value::as_u64);
    let iat = claims.get("iat").and_then(Value::as_u64);
    let jti = claims.get("jti").and_then(Value::as_str);
    let (Some(exp), Some(iat), Some(jti)) = (exp, iat, jti.filter(|j| !j.is_empty())) else {
        return Err("client_assertion needs integer iat and exp and a jti");
    };
    if jti.len() > MAX_STORED_VALUE {
        return Err("client_assertion jti is too long");
    }
    if exp > iat.saturating_add(MAX_ASSERTION_LIFETIME) {
        return Err("client_assertion exp may be at most 300 seconds after iat");
    }
    if iat > now() + MAX_IAT_SKEW {
        return Err("client_assertion iat is in the future");
    }
    if client_id.is_some_and(|id| id != config.client_id) {
        return Err("client_id does not match the client_assertion issuer");
    }
    let mut used = lock(&s.used_jti);
    if used.get(jti).is_some() && s.config.talkdesk.refuses_jti_replay {
        return Err("client_assertion jti was already used");
    }
    used.insert(jti.to_string(), ());
    Ok(())
}

fn within(requested: &[String], allowed: &[&str]) -> bool {
    requested.iter().all(|t| allowed.contains(&t.as_str()))
}

fn client_credentials(s: &Shared, form: &[(String, String)]) -> Response {
    let config = s.talkdesk();
    let granted = match non_empty(form, "scope").map(scope_tokens) {
        Some(requested) if !requested.is_empty() => {
            if let Some(bad) = requested
                .iter()
                .find(|t| !config.scopes.iter().any(|c| c == *t))
            {
                // docs/scopes: a scope that is not (yet) effective for the app gives "a 401
                // error message ... when requesting a token"; the code is not documented.
                return error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_scope",
                    &format!("scope {bad} is not allowed for this client"),
                );
            }
            // Drift: grant the client's every scope, not the narrower one asked for.
            if s.config.drifting("td-scope-wider") {
                config.scopes.clone()
            } else {
                requested
            }
        }
        _ => config.scopes.clone(),
    };
    let mut body = json!({
        "access_token": new_token("td_at_"),
        "token_type": "Bearer",
        "expires_in": EXPIRES_IN,
        "scope": granted.join(" "),
    });
    if s.config.drifting("td-refresh-token-on-client-credentials") {
        let refresh_token = new_token("td_rt_");
        lock(&s.refresh_tokens).insert(
            refresh_token.clone(),
            Session {
                scope: granted,
                sid: new_token("td_sid_"),
            },
        );
        body["refresh_token"] = json!(refresh_token);
    }
    token_json(StatusCode::OK, body)
}

async fn authorize(State(s): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    let config = s.talkdesk();
    let params: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if repeated(&params).is_some() {
        return bad_request("invalid_request", "a parameter is repeated");
    }
    // Without a known client and one of its redirect URIs there is nowhere safe to redirect to.
    if field(&params, "client_id") != Some(config.client_id.as_str()) {
        return bad_request("invalid_request", "client_id is missing or unknown");
    }
    let Some(redirect_uri) =
        field(&params, "redirect_uri").filter(|r| config.redirect_uris.iter().any(|u| u == r))
    else {
        return bad_request(
            "invalid_request",
            "redirect_uri is missing or not registered for the client",
        );
    };
    let state = field(&params, "state");
    let redirect_error = |code: &str, description: &str| {
        redirect(
            redirect_uri,
            &[("error", code), ("error_description", description)],
            state,
        )
    };
    match field(&params, "response_type") {
        Some("code") => {}
        None | Some("") => return redirect_error("invalid_request", "response_type is required"),
        Some(_) => {
            return redirect_error(
                "unsupported_response_type",
                "only response_type=code is supported",
            )
        }
    }
    let scope = match non_empty(&params, "scope").map(scope_tokens) {
        Some(requested) if !requested.is_empty() => requested,
        _ => config.scopes.clone(),
    };
    let mut allowed: Vec<&str> = config.scopes.iter().map(String::as_str).collect();
    allowed.push(OIDC_SCOPE);
    if !within(&scope, &allowed) {
        return redirect_error(
            "invalid_scope",
            "a requested scope is not allowed for this client",
        );
    }
    let code_challenge = match (
        field(&params, "code_challenge"),
        field(&params, "code_challenge_method"),
    ) {
        (None, None) => None,
        (Some(c), Some("S256")) if is_s256_challenge(c) => Some(c.to_string()),
        (Some(_), Some("S256")) => {
            return redirect_error(
                "invalid_request",
                "code_challenge must be 43 base64url characters",
            )
        }
        _ => {
            return redirect_error(
                "invalid_request",
                "PKCE needs code_challenge with code_challenge_method=S256",
            )
        }
    };
    let nonce = field(&params, "nonce");
    if nonce.is_some_and(|n| n.len() > MAX_STORED_VALUE) {
        return redirect_error("invalid_request", "nonce is too long");
    }
    if !config.auto_approve {
        let query = uri.query().unwrap_or("");
        if let Some(page) = super::authorize_gate("Talkdesk", &headers, uri.path(), query) {
            return page;
        }
    }
    let code = new_token("td_code_");
    lock(&s.codes).insert(
        code.clone(),
        Code {
            redirect_uri: redirect_uri.to_string(),
            scope,
            code_challenge,
            nonce: nonce.map(str::to_string),
            sid: new_token("td_sid_"),
            issued_at: now(),
        },
    );
    redirect(redirect_uri, &[("code", &code)], state)
}

fn authorization_code(s: &Shared, form: &[(String, String)]) -> Response {
    let Some(code) = non_empty(form, "code") else {
        return bad_request("invalid_request", "code is required");
    };
    let Some(redirect_uri) = non_empty(form, "redirect_uri") else {
        return bad_request("invalid_request", "redirect_uri is required");
    };
    // Removed before any other check: a code is spent by its first redemption, good or bad.
    let grant = if s.config.drifting("td-code-reuse") {
        lock(&s.codes).get(code).cloned()
    } else {
        lock(&s.codes).remove(code)
    };
    let Some(grant) = grant else {
        return bad_request(
            "invalid_grant",
            "the authorization code is invalid, expired or already used",
        );
    };
    if now() > grant.issued_at + CODE_LIFETIME {
        return bad_request(
            "invalid_grant",
            "the authorization code is invalid, expired or already used",
        );
    }
    if redirect_uri != grant.redirect_uri {
        return bad_request(
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    let verifier = field(form, "code_verifier");
    let pkce_ignored = s.config.drifting("td-pkce-ignored");
    match (&grant.code_challenge, verifier) {
        _ if pkce_ignored => {}
        (None, None) => {}
        (Some(challenge), Some(v)) if is_code_verifier(v) && s256(v) == *challenge => {}
        (Some(_), Some(_)) => {
            return bad_request(
                "invalid_grant",
                "code_verifier does not match the code_challenge",
            )
        }
        (Some(_), None) => {
            return bad_request(
                "invalid_grant",
                "code_verifier is required: the authorization request had a code_challenge",
            )
        }
        (None, Some(_)) => {
            return bad_request(
                "invalid_grant",
                "code_verifier sent but the authorization request had no code_challenge",
            )
        }
    }
    let openid = grant.scope.iter().any(|t| t == OIDC_SCOPE);
    let id_token = if openid || s.config.drifting("td-id-token-without-openid") {
        match id_token(s, &grant) {
            Some(t) => Some(t),
            None => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the mock cannot sign an id_token with its configured key",
                )
            }
        }
    } else {
        None
    };
    session_tokens(
        s,
        grant.scope.clone(),
        grant.scope,
        grant.sid,
        id_token,
        None,
    )
}

fn id_token(s: &Shared, grant: &Code) -> Option<String> {
    let config = s.talkdesk();
    let key = s.id_token_key.as_ref()?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(config.id_token_kid.clone());
    let now = now();
    let mut claims = json!({
        "iss": s.issuer,
        "sub": config.user_id,
        "aud": config.client_id,
        "iat": now,
        "exp": now + EXPIRES_IN,
        "auth_time": grant.issued_at,
        "sid": grant.sid,
    });
    if let (Some(nonce), Some(map)) = (&grant.nonce, claims.as_object_mut()) {
        map.insert("nonce".into(), json!(nonce));
    }
    jsonwebtoken::encode(&header, &claims, key).ok()
}

/// The response of the authorization_code and refresh_token grants; stores a fresh refresh token
/// (or `reuse`, when a drift does not rotate) standing for `session_scope` (what was originally
/// granted, kept when a refresh narrows it).
fn session_tokens(
    s: &Shared,
    scope: Vec<String>,
    session_scope: Vec<String>,
    sid: String,
    id_token: Option<String>,
    reuse: Option<String>,
) -> Response {
    let refresh_token = reuse.unwrap_or_else(|| new_token("td_rt_"));
    lock(&s.refresh_tokens).insert(
        refresh_token.clone(),
        Session {
            scope: session_scope,
            sid: sid.clone(),
        },
    );
    let mut body = json!({
        "access_token": new_token("td_at_"),
        "token_type": "Bearer",
        "expires_in": EXPIRES_IN,
        "scope": scope.join(" "),
        "refresh_token": refresh_token,
        "sid": sid,
    });
    if let (Some(t), Some(map)) = (id_token, body.as_object_mut()) {
        map.insert("id_token".into(), json!(t));
    }
    token_json(StatusCode::OK, body)
}

fn refresh(s: &Shared, form: &[(String, String)]) -> Response {
    let Some(old) = non_empty(form, "refresh_token") else {
        return bad_request("invalid_request", "refresh_token is required");
    };
    let requested = non_empty(form, "scope")
        .map(scope_tokens)
        .filter(|r| !r.is_empty());
    let (session, reuse) = {
        // Checked and rotated under one lock: of two concurrent uses, only one wins.
        let mut store = lock(&s.refresh_tokens);
        let Some(session) = store.get(old).cloned() else {
            return bad_request(
                "invalid_grant",
                "the refresh token is invalid or was already used",
            );
        };
        let granted: Vec<&str> = session.scope.iter().map(String::as_str).collect();
        if requested.as_ref().is_some_and(|r| !within(r, &granted)) {
            return bad_request(
                "invalid_scope",
                "the requested scope exceeds the scope originally granted",
            );
        }
        // Drift: the same refresh token comes back and stays valid (a sandbox's choice too).
        if s.config.drifting("td-refresh-not-rotated") || !s.talkdesk().rotate_refresh_tokens {
            (session, Some(old.to_string()))
        } else {
            // Drift: a new refresh token, but the old one is kept.
            if !s.config.drifting("td-refresh-replay-accepted") {
                store.remove(old);
            }
            (session, None)
        }
    };
    let scope = requested.unwrap_or_else(|| session.scope.clone());
    session_tokens(s, scope, session.scope, session.sid, None, reuse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn shared() -> (Arc<Shared>, ApiTarget) {
        let base = "http://127.0.0.1:9";
        let config = Arc::new(MockConfig::default());
        let target = api_target(&config.talkdesk, base);
        (Arc::new(Shared::new(config, base)), target)
    }

    fn secret<'a>(t: &'a ApiTarget, name: &str) -> &'a str {
        t.secrets.get(name).map_or("", String::as_str)
    }

    async fn post(s: &Arc<Shared>, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let basic = base64::engine::general_purpose::STANDARD
            .encode("conformance-client:test-only-talkdesk-secret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
        );
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = token(State(s.clone()), headers, Bytes::from(body)).await;
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// An assertion signed with the client's key, as the suites mint it.
    fn assertion(kid: &str, aud: &str, iat: u64) -> String {
        let key = EncodingKey::from_ec_pem(keys::EC_PRIVATE_PEM.as_bytes()).unwrap();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        let claims = json!({
            "iss": "conformance-client", "sub": "conformance-client", "aud": aud,
            "jti": uuid::Uuid::new_v4().to_string(), "iat": iat, "exp": iat + MAX_ASSERTION_LIFETIME,
        });
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    #[test]
    fn a_valid_assertion_verifies_once_and_bad_ones_never() {
        let (s, t) = shared();
        assert_eq!(secret(&t, "signing_key"), keys::EC_PRIVATE_PEM);
        let token_url = "http://127.0.0.1:9/oauth/token";
        let now = now();
        let kid = "conformance-client-es256";
        let valid = assertion(kid, token_url, now);
        assert_eq!(
            verify_assertion(&s, &valid, Some("conformance-client")),
            Ok(())
        );
        assert_eq!(
            verify_assertion(&s, &valid, None),
            Err("client_assertion jti was already used")
        );
        for (jwt, why) in [
            (assertion(kid, "http://127.0.0.1:9", now), "aud must be"),
            (assertion(kid, token_url, now - 900), "expired"),
            (format!("{}AA", assertion(kid, token_url, now)), "signature"),
            (assertion("not-it", token_url, now), "kid"),
        ] {
            let err = verify_assertion(&s, &jwt, None).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
        assert!(verify_assertion(&s, "not.a.jwt", None).is_err());
        assert!(verify_assertion(&s, "", None).is_err());
    }

    #[test]
    fn an_assertion_for_another_client_id_is_refused() {
        let (s, _) = shared();
        let now = now();
        let jwt = assertion(
            "conformance-client-es256",
            "http://127.0.0.1:9/oauth/token",
            now,
        );
        assert_eq!(
            verify_assertion(&s, &jwt, Some("someone-else")),
            Err("client_id does not match the client_assertion issuer")
        );
    }

    fn code_for(s: &Shared, scope: &[&str], challenge: Option<&str>) -> String {
        let code = new_token("td_code_");
        lock(&s.codes).insert(
            code.clone(),
            Code {
                redirect_uri: "https://app.example.test/callback".into(),
                scope: scope.iter().map(|t| t.to_string()).collect(),
                code_challenge: challenge.map(str::to_string),
                nonce: Some("n-1".into()),
                sid: "sid-1".into(),
                issued_at: now(),
            },
        );
        code
    }

    #[tokio::test]
    async fn refresh_rotates_and_refuses_the_old_token_and_wider_scope() {
        let (s, _) = shared();
        let code = code_for(&s, &["users:read"], None);
        let cb = "https://app.example.test/callback";
        let (status, first) = post(
            &s,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", cb),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(first.get("id_token").is_none());
        let rt1 = first["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (status, again) = post(
            &s,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", cb),
            ],
        )
        .await;
        assert_eq!(
            (status, &again["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );
        let wider = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt1.as_str()),
            ("scope", "users:read account:read"),
        ];
        let (status, body) = post(&s, &wider).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_scope"))
        );
        let (status, second) = post(
            &s,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        assert_eq!(second["sid"], json!("sid-1"));
        let (status, replay) = post(
            &s,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
        assert_eq!(
            (status, &replay["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );
    }

    #[tokio::test]
    async fn pkce_and_openid_are_honoured() {
        let (s, _) = shared();
        let v = "tokenconf-talkdesk-pkce-verifier-0123456789abcdefghij";
        let cb = "https://app.example.test/callback";
        let code = code_for(&s, &["openid", "users:read"], Some(&s256(v)));
        let (status, _) = post(
            &s,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", cb),
                ("code_verifier", &format!("{v}x")),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let code = code_for(&s, &["openid", "users:read"], Some(&s256(v)));
        let (status, body) = post(
            &s,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", cb),
                ("code_verifier", v),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let id_token = body["id_token"].as_str().unwrap_or_default();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["conformance-client"]);
        let key = DecodingKey::from_ec_pem(keys::EC_PUBLIC_PEM.as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["nonce"], json!("n-1"));
        assert_eq!(claims["sid"], json!("sid-1"));
    }
}
