//! Salesforce OAuth 2.0 (`/services/oauth2/*`) as documented on help.salesforce.com (client
//! credentials, web server, refresh token, JWT bearer and token exchange flows; revocation;
//! introspection). Salesforce's own quirks are kept on purpose: errors are 400 even for a failed
//! Basic authentication, `invalid_client_id` is not an RFC 6749 code, there is no `expires_in`,
//! and revoking an unknown token is 400 `invalid_token` instead of RFC 7009's 200. Also: JWT-based
//! access tokens when the app is set so, UserInfo (OpenID Connect Core §5.3) and the hybrid
//! user-agent token flow (`response_type=hybrid_token`, tokens in the redirect's fragment).

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use sha2::Sha256;

use super::store::{Family, Tokens};
use super::{
    bad_request, basic_credentials, constant_time_eq, error, field, form_fields, keys, lock,
    new_token, non_empty, now, s256, token_json, try_redirect, MockConfig,
};
use crate::basic::BasicEncoding;
use crate::target::ApiTarget;

pub const ENDPOINTS: &[(&str, &str)] = &[
    ("Salesforce token", "/services/oauth2/token"),
    ("Salesforce authorize", "/services/oauth2/authorize"),
    ("Salesforce revoke", "/services/oauth2/revoke"),
    ("Salesforce introspect", "/services/oauth2/introspect"),
    ("Salesforce UserInfo", USERINFO_PATH),
];

/// OpenID Connect UserInfo (Core §5.3), as Salesforce serves it.
const USERINFO_PATH: &str = "/services/oauth2/userinfo";

const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Salesforce's default session timeout (2 hours) bounds an access token.
const ACCESS_TTL: u64 = 7200;
/// The mock's refresh-token policy: "expire refresh token after 30 days".
const REFRESH_TTL: u64 = 30 * 24 * 3600;
/// Salesforce authorization codes are valid for 15 minutes.
const CODE_TTL: u64 = 15 * 60;
/// Latest `exp` accepted in a JWT bearer assertion, and the clock skew allowed.
const ASSERTION_MAX_LIFETIME: u64 = 300;
const CLOCK_SKEW: u64 = 30;
/// Scopes that ask for a refresh token in the web server flow.
const REFRESH_SCOPES: &[&str] = &["refresh_token", "offline_access"];

/// The mock's only connected app and user. TEST-ONLY values: they open nothing but this mock.
#[derive(Debug, Clone)]
pub struct Config {
    /// Consumer key of the connected app; also the `iss` of a JWT bearer assertion.
    pub client_id: String,
    /// Consumer secret; also the HMAC key of the response `signature`.
    pub client_secret: String,
    /// The only callback URL registered for the web server flow.
    pub redirect_uri: String,
    /// The only known user: the `sub` of a JWT bearer assertion and the run-as user of client credentials.
    pub username: String,
    /// 15-character org id (00D…) and user id (005…) of the identity URL `id`.
    pub org_id: String,
    pub user_id: String,
    /// The connected app's scopes: granted when a request names none.
    pub scopes: Vec<String>,
    /// Refresh-token rotation: every refresh returns a new refresh token and replaying a rotated
    /// one revokes the whole family. Without it a refresh returns no refresh token.
    pub rotate_refresh_tokens: bool,
    /// `/services/oauth2/authorize` approves at once; otherwise a valid request gets the login page.
    pub auto_approve: bool,
    /// Only the fields Salesforce's samples show per flow: `api_instance_url` only in the
    /// app-scoped answers (client credentials, JWT bearer; api-contracts §2).
    pub documented_fields_only: bool,
    /// The connected app issues JWT-based access tokens instead of opaque ones ("depending on
    /// your connected app or external client app settings", seed 002).
    pub jwt_access_tokens: bool,
    /// Token exchange is enabled with an Apex handler that accepts `external_subject_token`, a
    /// token of an external identity provider (seed 002); a fresh org has neither.
    pub token_exchange_handler: bool,
    pub external_subject_token: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client_id: "3MVG9TokenconfTestOnlyConsumerKey".into(),
            client_secret: "test-only-salesforce-secret".into(),
            redirect_uri: "https://client.tokenconf.invalid/oauth/callback".into(),
            username: "conformance@tokenconf.invalid".into(),
            org_id: "00D8c000007XYZa".into(),
            user_id: "0058c00000AbCdE".into(),
            scopes: vec!["api".into(), "id".into(), "refresh_token".into()],
            rotate_refresh_tokens: true,
            auto_approve: true,
            documented_fields_only: false,
            jwt_access_tokens: true,
            token_exchange_handler: true,
            external_subject_token: "test-only-external-idp-token".into(),
        }
    }
}

/// Vars and secrets for suites of the `salesforce` api. `signing_key` is the connected app's
/// TEST-ONLY private key: the suites sign their own JWT bearer assertions with it.
pub fn api_target(config: &Config, base_url: &str) -> ApiTarget {
    let vars = vec![
        ("client_id", config.client_id.as_str()),
        ("username", &config.username),
        ("redirect_uri", &config.redirect_uri),
        ("login_url", base_url),
    ];
    let t = super::api_target(
        base_url,
        &vars,
        &[
            ("client_secret", &config.client_secret),
            ("signing_key", keys::RSA_PRIVATE_PEM),
            ("external_subject_token", &config.external_subject_token),
        ],
    );
    let mut t = super::without_what_is_off(t, config.auto_approve, config.rotate_refresh_tokens);
    if !config.jwt_access_tokens {
        t.capabilities.remove("jwt_access_tokens");
    }
    if !config.token_exchange_handler {
        t.capabilities.remove("token_exchange_handler");
    }
    if !config.auto_approve {
        t.login = Some(Arc::new(super::sandbox_login()));
    }
    t
}

pub fn routes(config: Arc<MockConfig>, base_url: &str) -> Router {
    let app = Arc::new(App {
        config,
        base_url: base_url.trim_end_matches('/').to_string(),
        store: Mutex::new(Store::default()),
        signing: keys::rsa_signing_key(),
    });
    Router::new()
        .route("/services/oauth2/token", post(token))
        .route("/services/oauth2/authorize", get(authorize))
        .route("/services/oauth2/revoke", post(revoke))
        .route("/services/oauth2/introspect", post(introspect))
        .route(USERINFO_PATH, get(userinfo).post(userinfo))
        .with_state(app)
}

struct App {
    config: Arc<MockConfig>,
    /// The login URL: `aud` of assertions, `instance_url` and host of the identity URL.
    base_url: String,
    store: Mutex<Store>,
    /// Signs JWT-based access tokens (the checked-in TEST-ONLY RSA key).
    signing: EncodingKey,
}

/// `kid` of the mock's JWT-based access tokens.
const ACCESS_TOKEN_KID: &str = "tokenconf-salesforce-access";

impl App {
    fn cfg(&self) -> &Config {
        &self.config.salesforce
    }

    fn drifting(&self, name: &str) -> bool {
        self.config.drifting(name)
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// A new access token for `scope`: opaque (org id, `!`, random), or JWT-based when the app
    /// is set so. Salesforce documents no claim of its JWTs; these are the registered ones a
    /// resource server reads, and `scp`, the scopes.
    fn new_access_token(&self, scope: &str) -> String {
        let cfg = self.cfg();
        if !cfg.jwt_access_tokens {
            return new_token(&format!("{}!", cfg.org_id));
        }
        let iat = now();
        let claims = json!({
            "iss": self.base_url,
            "sub": cfg.user_id,
            "aud": self.base_url,
            "client_id": cfg.client_id,
            "scp": scope_list(scope),
            "iat": iat,
            "exp": iat + ACCESS_TTL,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(ACCESS_TOKEN_KID.into());
        // The key is the checked-in test key and the claims plain JSON: signing cannot fail, but
        // an opaque token is still a token.
        jsonwebtoken::encode(&header, &claims, &self.signing)
            .unwrap_or_else(|_| new_token(&format!("{}!", cfg.org_id)))
    }

    fn identity_url(&self) -> String {
        format!(
            "{}/id/{}/{}",
            self.base_url,
            self.cfg().org_id,
            self.cfg().user_id
        )
    }

    /// The Salesforce success body; `extra` members (refresh_token, token-exchange fields) are merged in.
    fn token_body(&self, access_token: &str, scope: &str, extra: Value) -> Response {
        token_json(
            StatusCode::OK,
            self.token_members(access_token, scope, extra),
        )
    }

    /// The members of a token response, for a JSON body or a redirect's fragment.
    fn token_members(&self, access_token: &str, scope: &str, extra: Value) -> Value {
        let cfg = self.cfg();
        let id = if self.drifting("sf-id-url-malformed") {
            format!("{}/id/{}", self.base_url, cfg.org_id)
        } else {
            self.identity_url()
        };
        let issued_at = if self.drifting("sf-issued-at-seconds") {
            now().to_string()
        } else {
            now_millis().to_string()
        };
        let key = if self.drifting("sf-wrong-signature") {
            &cfg.client_id
        } else {
            &cfg.client_secret
        };
        let mut body = json!({
            "access_token": access_token,
            "signature": signature(key, &id, &issued_at),
            "scope": scope,
            "instance_url": self.base_url,
            "id": id,
            "token_type": "Bearer",
            "issued_at": issued_at,
        });
        if !cfg.documented_fields_only {
            body["api_instance_url"] = json!(self.base_url);
        }
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        body
    }
}

/// `base64(HMAC-SHA256(key = client secret, message = id + issued_at))`.
fn signature(secret: &str, id: &str, issued_at: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

// ---- state ----

struct Code {
    scope: String,
    redirect_uri: String,
    /// S256 `code_challenge`, when the authorize request sent one.
    challenge: Option<String>,
    expires_at: u64,
    /// Set by the first redemption, so that a second one can revoke what the first issued.
    redeemed: Option<Family>,
}

/// Tokens stand for a scope.
type Store = Tokens<Code, String>;

impl Store {
    /// Stores `token` (`App::new_access_token`) as an access token for `scope`.
    fn issue_access(&mut self, token: String, scope: &str, family: Family) -> String {
        self.add_access(token, scope.to_string(), ACCESS_TTL, family)
    }

    fn issue_refresh(&mut self, scope: &str, family: Family) -> String {
        self.add_refresh(
            new_token("5Aep861"),
            scope.to_string(),
            Some(REFRESH_TTL),
            family,
        )
    }
}

// ---- helpers ----

type Form = Vec<(String, String)>;

fn invalid_grant(description: &str) -> Response {
    bad_request("invalid_grant", description)
}

fn scope_list(s: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for t in s.split_whitespace() {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The requested scope when it is a subset of `allowed`, else the name of the first stranger.
fn narrow_scope(requested: Option<&str>, allowed: &[&str]) -> Result<String, String> {
    match requested.map(scope_list) {
        Some(req) if !req.is_empty() => match req.iter().find(|t| !allowed.contains(t)) {
            Some(bad) => Err(bad.to_string()),
            None => Ok(req.join(" ")),
        },
        _ => Ok(allowed.join(" ")),
    }
}

/// The app's scopes without those that only ask for a refresh token (grants that issue none).
fn scopes_without_refresh(cfg: &Config) -> String {
    cfg.scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !REFRESH_SCOPES.contains(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The client as presented: `Authorization: Basic` wins over `client_id`/`client_secret` in the body.
fn presented_client(
    headers: &HeaderMap,
    form: &Form,
) -> Result<Option<(String, Option<String>)>, ()> {
    match basic_credentials(headers, BasicEncoding::documented_for("salesforce")) {
        Ok(Some((id, secret))) => Ok(Some((id, Some(secret)))),
        Ok(None) => Ok(non_empty(form, "client_id").map(|id| {
            (
                id.to_string(),
                non_empty(form, "client_secret").map(str::to_string),
            )
        })),
        Err(_) => Err(()),
    }
}

/// Salesforce's token-endpoint client check: an unknown (or missing) client is
/// `invalid_client_id`, a wrong (or missing, when required) secret `invalid_client`; both 400.
fn authenticate(
    cfg: &Config,
    headers: &HeaderMap,
    form: &Form,
    secret_required: bool,
) -> Result<(), Box<Response>> {
    let unknown = || {
        Box::new(bad_request(
            "invalid_client_id",
            "client identifier invalid",
        ))
    };
    let wrong = || Box::new(bad_request("invalid_client", "invalid client credentials"));
    match presented_client(headers, form) {
        Err(()) => Err(wrong()),
        Ok(None) => Err(unknown()),
        Ok(Some((id, _))) if id != cfg.client_id => Err(unknown()),
        Ok(Some((_, Some(secret)))) if !constant_time_eq(&secret, &cfg.client_secret) => {
            Err(wrong())
        }
        Ok(Some((_, None))) if secret_required => Err(wrong()),
        Ok(Some(_)) => Ok(()),
    }
}

// ---- token endpoint ----

async fn token(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    // Salesforce reads only form bodies: anything else looks like a request without grant_type.
    let form = form_fields(&headers, &body).unwrap_or_default();
    match field(&form, "grant_type") {
        Some("client_credentials") => client_credentials(&app, &headers, &form),
        Some("authorization_code") => authorization_code(&app, &headers, &form),
        Some("refresh_token") => refresh_token(&app, &headers, &form),
        Some(GRANT_JWT_BEARER) => jwt_bearer(&app, &form),
        Some(GRANT_TOKEN_EXCHANGE) => token_exchange(&app, &headers, &form),
        // Drift: the resource owner password grant answered like client credentials.
        Some("password") if app.drifting("sf-password-grant-accepted") => {
            client_credentials(&app, &headers, &form)
        }
        _ => bad_request("unsupported_grant_type", "grant type not supported"),
    }
}

fn client_credentials(app: &App, headers: &HeaderMap, form: &Form) -> Response {
    if let Err(r) = authenticate(app.cfg(), headers, form, true) {
        return *r;
    }
    app_scoped_token(app)
}

/// An access token of a new family for the connected app's scope, whatever the request says; no
/// refresh token.
fn app_scoped_token(app: &App) -> Response {
    let scope = scopes_without_refresh(app.cfg());
    let mut store = app.store();
    let family = store.families.create();
    let access = store.issue_access(app.new_access_token(&scope), &scope, family);
    drop(store);
    // The client credentials sample shows api_instance_url.
    app.token_body(&access, &scope, json!({ "api_instance_url": app.base_url }))
}

fn authorization_code(app: &App, headers: &HeaderMap, form: &Form) -> Response {
    let cfg = app.cfg();
    let Some(code) = non_empty(form, "code") else {
        return bad_request("invalid_request", "missing required code parameter");
    };
    let verifier = non_empty(form, "code_verifier");
    let mut store = app.store();
    let pkce = match store.codes.get(code) {
        Some(c) => c.challenge.is_some(),
        None => false,
    };
    // A public client proves itself with PKCE instead of the secret.
    if let Err(r) = authenticate(cfg, headers, form, !pkce) {
        return *r;
    }
    let Some(grant) = store.codes.get_mut(code) else {
        return invalid_grant("invalid authorization code");
    };
    if let Some(family) = grant.redeemed {
        // RFC 6749 §4.1.2: deny, and revoke what the first redemption issued.
        store.families.revoke(family);
        return invalid_grant("invalid authorization code");
    }
    if now() >= grant.expires_at {
        return invalid_grant("expired authorization code");
    }
    if field(form, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return invalid_grant("redirect_uri must match configuration");
    }
    match (&grant.challenge, verifier) {
        (None, None) => {}
        (Some(challenge), Some(v)) if s256(v) == *challenge => {}
        _ => return invalid_grant("invalid code verifier"),
    }
    let scope = grant.scope.clone();
    let family = store.families.create();
    if let Some(grant) = store.codes.get_mut(code) {
        grant.redeemed = Some(family);
    }
    let access = store.issue_access(app.new_access_token(&scope), &scope, family);
    let wants_refresh = scope_list(&scope)
        .iter()
        .any(|s| REFRESH_SCOPES.contains(s));
    let extra = if wants_refresh {
        json!({ "refresh_token": store.issue_refresh(&scope, family) })
    } else {
        json!({})
    };
    drop(store);
    app.token_body(&access, &scope, extra)
}

fn refresh_token(app: &App, headers: &HeaderMap, form: &Form) -> Response {
    let cfg = app.cfg();
    // The secret is checked when sent ("Require Secret for Refresh Token Flow" off).
    if let Err(r) = authenticate(cfg, headers, form, false) {
        return *r;
    }
    let Some(presented) = non_empty(form, "refresh_token") else {
        return bad_request(
            "invalid_request",
            "missing required refresh_token parameter",
        );
    };
    let mut store = app.store();
    let Some(old) = store.refresh.get(presented) else {
        return invalid_grant("expired access/refresh token");
    };
    let (family, rotated, scope) = (old.family, old.rotated, old.grant.clone());
    if rotated {
        // Replay of a rotated token: revoke the current refresh token and its access tokens.
        store.families.revoke(family);
        return invalid_grant("expired access/refresh token");
    }
    if store.active_refresh(presented).is_none() {
        return invalid_grant("expired access/refresh token");
    }
    let granted = scope_list(&scope);
    let scope = match narrow_scope(field(form, "scope"), &granted) {
        Ok(s) => s,
        Err(bad) => {
            return bad_request(
                "invalid_scope",
                &format!("the requested scope is not allowed: {bad}"),
            )
        }
    };
    let access = store.issue_access(app.new_access_token(&scope), &scope, family);
    let extra = if cfg.rotate_refresh_tokens {
        // Drift: a new refresh token is issued but the old one is never marked rotated.
        let keep_old = app.drifting("sf-refresh-replay-accepted");
        if let Some(old) = store.refresh.get_mut(presented) {
            old.rotated = !keep_old;
        }
        // The new refresh token keeps the original grant's scope (RFC 6749 §6).
        let original = granted.join(" ");
        json!({ "refresh_token": store.issue_refresh(&original, family) })
    } else {
        json!({})
    };
    drop(store);
    app.token_body(&access, &scope, extra)
}

/// Salesforce's wording for an expired assertion.
const EXPIRED: &str = "expired authorization code";

/// Why an assertion is refused, worded as Salesforce words it.
fn verify_assertion(cfg: &Config, login_url: &str, assertion: &str) -> Result<(), &'static str> {
    const INVALID: &str = "invalid assertion";
    let key = DecodingKey::from_rsa_pem(keys::RSA_PUBLIC_PEM.as_bytes()).map_err(|_| INVALID)?;
    // Claims are checked below, one by one, for Salesforce's distinct messages.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .map_err(|_| INVALID)?
        .claims;
    if claims.get("iss").and_then(Value::as_str) != Some(cfg.client_id.as_str()) {
        return Err("client identifier invalid");
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a.trim_end_matches('/') == login_url,
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| a.trim_end_matches('/') == login_url),
        _ => false,
    };
    if !aud_ok {
        return Err("audience is invalid");
    }
    let now = now();
    match claims.get("exp").and_then(Value::as_u64) {
        None => return Err(INVALID),
        Some(exp) if exp + CLOCK_SKEW <= now => return Err(EXPIRED),
        Some(exp) if exp > now + ASSERTION_MAX_LIFETIME + CLOCK_SKEW => return Err(INVALID),
        Some(_) => {}
    }
    if claims.get("sub").and_then(Value::as_str) != Some(cfg.username.as_str()) {
        return Err("user hasn't approved this consumer");
    }
    Ok(())
}

fn jwt_bearer(app: &App, form: &Form) -> Response {
    let Some(assertion) = non_empty(form, "assertion") else {
        return bad_request("invalid_request", "missing required assertion parameter");
    };
    match verify_assertion(app.cfg(), &app.base_url, assertion) {
        Ok(()) => {}
        Err(EXPIRED) if app.drifting("sf-expired-assertion-accepted") => {}
        Err(description) => return invalid_grant(description),
    }
    if !app.cfg().documented_fields_only {
        return app_scoped_token(app);
    }
    // The JWT-flow sample and Salesforce's Postman "SuccessfulJWTBearerTokenFlow" show
    // access_token, scope, instance_url, id and token_type only: no signature or issued_at.
    let scope = scopes_without_refresh(app.cfg());
    let mut store = app.store();
    let family = store.families.create();
    let access = store.issue_access(app.new_access_token(&scope), &scope, family);
    drop(store);
    let mut body = app.token_members(&access, &scope, json!({}));
    if let Some(members) = body.as_object_mut() {
        for name in ["signature", "issued_at", "api_instance_url"] {
            members.remove(name);
        }
    }
    token_json(StatusCode::OK, body)
}

fn token_exchange(app: &App, headers: &HeaderMap, form: &Form) -> Response {
    if let Err(r) = authenticate(app.cfg(), headers, form, true) {
        return *r;
    }
    let (Some(subject), Some(subject_type)) = (
        non_empty(form, "subject_token"),
        non_empty(form, "subject_token_type"),
    ) else {
        return bad_request(
            "invalid_request",
            "subject_token and subject_token_type are required",
        );
    };
    if subject_type != TOKEN_TYPE_ACCESS {
        return bad_request("invalid_request", "unsupported subject_token_type");
    }
    if field(form, "requested_token_type").is_some_and(|t| t != TOKEN_TYPE_ACCESS) {
        return bad_request("invalid_request", "unsupported requested_token_type");
    }
    if !app.cfg().token_exchange_handler {
        return bad_request("unsupported_grant_type", "grant type not supported");
    }
    let mut store = app.store();
    // The handler validates the external identity provider's token (seed 002); the mock's
    // handler also takes a token this org issued.
    let subject_scope = if subject == app.cfg().external_subject_token {
        scopes_without_refresh(app.cfg())
    } else {
        match store.active_access(subject) {
            Some(s) => s.grant.clone(),
            // RFC 8693 §2.2.2: an invalid subject token is invalid_request.
            None => return bad_request("invalid_request", "invalid subject token"),
        }
    };
    let scope = match narrow_scope(field(form, "scope"), &scope_list(&subject_scope)) {
        Ok(s) => s,
        Err(bad) => {
            return bad_request(
                "invalid_scope",
                &format!("the requested scope is not allowed: {bad}"),
            )
        }
    };
    let family = store.families.create();
    let access = store.issue_access(app.new_access_token(&scope), &scope, family);
    drop(store);
    app.token_body(
        &access,
        &scope,
        json!({ "issued_token_type": TOKEN_TYPE_ACCESS, "expires_in": ACCESS_TTL }),
    )
}

// ---- authorize ----

/// Approves at once (the user is always logged in and consenting) and redirects with a code;
/// without `auto_approve`, a valid request gets the login page instead.
async fn authorize(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let cfg = app.cfg();
    let query = query.unwrap_or_default();
    let q: Form = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if non_empty(&q, "client_id") != Some(cfg.client_id.as_str()) {
        return bad_request("invalid_client_id", "client identifier invalid");
    }
    // Without a registered redirect_uri there is nowhere safe to send an error.
    let Some(redirect_uri) = non_empty(&q, "redirect_uri").filter(|r| *r == cfg.redirect_uri)
    else {
        return bad_request(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        );
    };
    let state = field(&q, "state");
    let fail = |code: &str, description: &str| {
        redirect(
            redirect_uri,
            &[("error", code), ("error_description", description)],
            state,
        )
    };
    // hybrid_token: the hybrid user-agent token flow (seed 002), tokens in the fragment.
    let hybrid = match field(&q, "response_type") {
        Some("code") => false,
        Some("hybrid_token") => true,
        _ => return fail("unsupported_response_type", "response type not supported"),
    };
    // Salesforce only knows S256: the challenge is "the SHA256 hash value of the code_verifier".
    let challenge = non_empty(&q, "code_challenge");
    if challenge.is_some() && !matches!(field(&q, "code_challenge_method"), None | Some("S256")) {
        return fail("invalid_request", "unsupported code_challenge_method");
    }
    let allowed: Vec<&str> = cfg.scopes.iter().map(String::as_str).collect();
    let scope = match narrow_scope(field(&q, "scope"), &allowed) {
        Ok(s) => s,
        Err(_) => return fail("invalid_scope", "the requested scope is not allowed"),
    };
    if !cfg.auto_approve {
        let gate =
            super::authorize_gate("Salesforce", &headers, "/services/oauth2/authorize", &query);
        if let Some(page) = gate {
            return page;
        }
    }
    if hybrid {
        return hybrid_token(&app, redirect_uri, &scope, state);
    }
    let code = new_token("aPrx");
    app.store().codes.insert(
        code.clone(),
        Code {
            scope,
            redirect_uri: redirect_uri.to_string(),
            challenge: challenge.map(str::to_string),
            expires_at: now() + CODE_TTL,
            redeemed: None,
        },
    );
    redirect(redirect_uri, &[("code", &code)], state)
}

/// The user-agent flow's answer (RFC 6749 §4.2.2): a 302 whose fragment holds the token
/// response's members, a refresh token too when the scope asks for one.
fn hybrid_token(app: &App, redirect_uri: &str, scope: &str, state: Option<&str>) -> Response {
    let mut store = app.store();
    let family = store.families.create();
    let access = store.issue_access(app.new_access_token(scope), scope, family);
    let wants_refresh = scope_list(scope).iter().any(|s| REFRESH_SCOPES.contains(s));
    let extra = if wants_refresh {
        json!({ "refresh_token": store.issue_refresh(scope, family) })
    } else {
        json!({})
    };
    drop(store);
    let members = app.token_members(&access, scope, extra);
    let mut fragment = form_urlencoded::Serializer::new(String::new());
    for (k, v) in members.as_object().into_iter().flatten() {
        match v {
            Value::String(s) => fragment.append_pair(k, s),
            other => fragment.append_pair(k, &other.to_string()),
        };
    }
    if let Some(state) = state {
        fragment.append_pair("state", state);
    }
    super::found(&format!("{redirect_uri}#{}", fragment.finish()))
        .unwrap_or_else(|| bad_request("invalid_request", "redirect_uri is not a valid URL"))
}

/// The mock's 302; unlike the other vendors, Salesforce answers 400 when it cannot be sent.
fn redirect(uri: &str, params: &[(&str, &str)], state: Option<&str>) -> Response {
    try_redirect(uri, params, state)
        .unwrap_or_else(|| bad_request("invalid_request", "redirect_uri is not a valid URL"))
}

// ---- revoke and introspect ----

async fn revoke(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let Some(token) = non_empty(&form, "token") else {
        return bad_request("invalid_request", "missing required token parameter");
    };
    let mut store = app.store();
    if app.drifting("sf-revoked-still-active")
        && (store.active_access(token).is_some() || store.active_refresh(token).is_some())
    {
        // Drift: acknowledged, not done.
        return StatusCode::OK.into_response();
    }
    if store.active_access(token).is_some() {
        store.access.remove(token);
    } else if let Some(family) = store.active_refresh(token).map(|r| r.family) {
        // A refresh token takes its family's access tokens with it.
        store.families.revoke(family);
    } else {
        // Salesforce: 400 for every error condition, unlike RFC 7009 §2.2.
        return bad_request("invalid_token", "invalid token");
    }
    drop(store);
    // Salesforce answers a successful revocation with an empty 200.
    StatusCode::OK.into_response()
}

/// OpenID Connect Core §5.3: the user of an active access token, as Salesforce's UserInfo
/// names it (sub is the identity URL; user_id, organization_id). A missing or unknown token is
/// 403, as Salesforce's UserInfo page gives it (Salesforce's Mobile SDK, forcedotcom/
/// SalesforceMobileSDK-Android#2430: "It returns a 403 for an invalid access token", citing the
/// page), not RFC 6750's 401. The body is plain text on purpose: nothing documents a JSON error
/// body here, so no suite may rely on one.
async fn userinfo(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let cfg = app.cfg();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(super::bearer_token);
    let forbidden = |code: &'static str| {
        let mut r = (StatusCode::FORBIDDEN, code).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        // Plain text for real: the mock's JSON rewrite of its own rejections leaves it.
        r.extensions_mut().insert(super::PlainText);
        r
    };
    let Some(token) = token else {
        return forbidden("Missing_OAuth_Token");
    };
    if app.store().active_access(token).is_none() {
        return forbidden("Bad_OAuth_Token");
    }
    token_json(
        StatusCode::OK,
        json!({
            "sub": app.identity_url(),
            "user_id": cfg.user_id,
            "organization_id": cfg.org_id,
            "preferred_username": cfg.username,
            "email": cfg.username,
            "active": true,
        }),
    )
}

async fn introspect(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let cfg = app.cfg();
    let form = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    // RFC 7662 §2.1: the caller must authenticate.
    match presented_client(&headers, &form) {
        Ok(Some((id, Some(secret))))
            if id == cfg.client_id && constant_time_eq(&secret, &cfg.client_secret) => {}
        _ => {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication required",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"salesforce\""),
            );
            return r;
        }
    }
    let Some(token) = non_empty(&form, "token") else {
        return bad_request("invalid_request", "missing required token parameter");
    };
    let store = app.store();
    let found = if let Some(a) = store.active_access(token) {
        Some((a.grant.clone(), "access_token", a.iat, a.exp))
    } else {
        store
            .active_refresh(token)
            .map(|r| (r.grant.clone(), "refresh_token", r.iat, r.iat + REFRESH_TTL))
    };
    drop(store);
    let body = match found {
        Some((scope, kind, iat, exp)) => json!({
            "active": true,
            "scope": scope,
            "client_id": cfg.client_id,
            "username": cfg.username,
            "sub": app.identity_url(),
            "token_type": kind,
            "exp": exp,
            "iat": iat,
            "nbf": iat,
        }),
        None => json!({ "active": false }),
    };
    token_json(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &str = "http://127.0.0.1:9";

    #[test]
    fn signature_matches_an_independent_hmac() {
        // The Salesforce docs sample shape: base64 of a 32-byte HMAC is 44 characters.
        let sig = signature("secret", "https://h/id/00D/005", "1700000000000");
        assert_eq!(sig.len(), 44);
        assert_eq!(
            sig,
            signature("secret", "https://h/id/00D/005", "1700000000000")
        );
        assert_ne!(
            sig,
            signature("other", "https://h/id/00D/005", "1700000000000")
        );
        assert_ne!(
            sig,
            signature("secret", "https://h/id/00D/005", "1700000000001")
        );
    }

    #[test]
    fn signature_of_a_known_vector() {
        // RFC 4231 test case 2 (key "Jefe"), split across id and issued_at.
        assert_eq!(
            signature("Jefe", "what do ya want ", "for nothing?"),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
        );
    }

    fn sign_assertion(claims: &Value) -> String {
        use jsonwebtoken::{EncodingKey, Header};
        let key = EncodingKey::from_rsa_pem(keys::RSA_PRIVATE_PEM.as_bytes()).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
    }

    #[test]
    fn assertions_as_the_suites_mint_them_verify_as_intended() {
        let cfg = Config::default();
        let target = api_target(&cfg, LOGIN);
        assert_eq!(
            target.secrets.get("signing_key").map(String::as_str),
            Some(keys::RSA_PRIVATE_PEM)
        );
        let now = now();
        let claims = |aud: &str, exp: u64| json!({ "iss": cfg.client_id, "sub": cfg.username, "aud": aud, "exp": exp });
        let valid = sign_assertion(&claims(LOGIN, now + 170));
        assert_eq!(verify_assertion(&cfg, LOGIN, &valid), Ok(()));
        assert_eq!(
            verify_assertion(&cfg, LOGIN, &sign_assertion(&claims(LOGIN, now - 600))),
            Err("expired authorization code")
        );
        assert_eq!(
            verify_assertion(
                &cfg,
                LOGIN,
                &sign_assertion(&claims("https://audience.tokenconf.invalid", now + 170))
            ),
            Err("audience is invalid")
        );
        assert_eq!(
            verify_assertion(&cfg, LOGIN, &format!("{valid}AA")),
            Err("invalid assertion")
        );
    }

    #[test]
    fn assertion_checks_iss_sub_and_lifetime() {
        let cfg = Config::default();
        let now = now();
        let claims = |iss: &str, sub: &str, exp: u64| {
            sign_assertion(&json!({ "iss": iss, "sub": sub, "aud": LOGIN, "exp": exp }))
        };
        assert_eq!(
            verify_assertion(
                &cfg,
                LOGIN,
                &claims("someone-else", &cfg.username, now + 60)
            ),
            Err("client identifier invalid")
        );
        assert_eq!(
            verify_assertion(&cfg, LOGIN, &claims(&cfg.client_id, "nobody@x", now + 60)),
            Err("user hasn't approved this consumer")
        );
        assert_eq!(
            verify_assertion(
                &cfg,
                LOGIN,
                &claims(&cfg.client_id, &cfg.username, now + 3600)
            ),
            Err("invalid assertion")
        );
        for junk in ["", "a.b", "a.b.c", "....", "\u{0}.\u{0}.\u{0}"] {
            assert_eq!(
                verify_assertion(&cfg, LOGIN, junk),
                Err("invalid assertion")
            );
        }
    }

    fn app(rotate: bool) -> App {
        let mut config = MockConfig::default();
        config.salesforce.rotate_refresh_tokens = rotate;
        App {
            config: Arc::new(config),
            base_url: LOGIN.into(),
            store: Mutex::new(Store::default()),
            signing: keys::rsa_signing_key(),
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Form {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    async fn json_of(r: Response) -> (StatusCode, Value) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn seed_refresh(app: &App) -> String {
        let mut store = app.store();
        let family = store.families.create();
        store.issue_refresh("api refresh_token", family)
    }

    #[test]
    fn access_tokens_are_jwt_based_only_when_the_app_says_so() {
        let jwt_app = app(true);
        let token = jwt_app.new_access_token("api id");
        let key = DecodingKey::from_rsa_pem(keys::RSA_PUBLIC_PEM.as_bytes()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[LOGIN]);
        let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["client_id"], jwt_app.cfg().client_id);
        assert_eq!(claims["scp"], json!(["api", "id"]));
        let mut config = MockConfig::for_profile(crate::mock::Profile::Sandbox);
        config.salesforce.rotate_refresh_tokens = true;
        let opaque = App {
            config: Arc::new(config),
            base_url: LOGIN.into(),
            store: Mutex::new(Store::default()),
            signing: keys::rsa_signing_key(),
        };
        let token = opaque.new_access_token("api");
        assert!(
            token.starts_with(&format!("{}!", opaque.cfg().org_id)),
            "{token}"
        );
        assert!(!api_target(opaque.cfg(), LOGIN)
            .capabilities
            .contains("jwt_access_tokens"));
    }

    #[tokio::test]
    async fn userinfo_names_the_user_of_an_active_token_and_hybrid_token_puts_it_in_the_fragment() {
        let app = Arc::new(app(true));
        let cfg = app.cfg().clone();
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "hybrid_token"),
                ("client_id", cfg.client_id.as_str()),
                ("redirect_uri", cfg.redirect_uri.as_str()),
                ("state", "s"),
            ])
            .finish();
        let r = authorize(State(app.clone()), HeaderMap::new(), RawQuery(Some(query))).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        let location = r.headers()[header::LOCATION].to_str().unwrap().to_string();
        let (_, fragment) = location.split_once('#').expect("a fragment");
        let members: Form = form_urlencoded::parse(fragment.as_bytes())
            .into_owned()
            .collect();
        let access = field(&members, "access_token").unwrap().to_string();
        assert_eq!(field(&members, "state"), Some("s"));
        let bearer = |t: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            );
            h
        };
        let (status, body) = json_of(userinfo(State(app.clone()), bearer(&access)).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["sub"], app.identity_url());
        assert_eq!(body["user_id"], cfg.user_id);
        assert_eq!(body["organization_id"], cfg.org_id);
        for headers in [bearer("00DNoSuchToken"), HeaderMap::new()] {
            let r = userinfo(State(app.clone()), headers).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
        }
    }

    #[tokio::test]
    async fn rotation_then_replay_revokes_the_family() {
        let app = app(true);
        let cfg = app.cfg().clone();
        let first = seed_refresh(&app);
        let grant = |rt: &str| {
            form(&[
                ("grant_type", "refresh_token"),
                ("client_id", &cfg.client_id),
                ("refresh_token", rt),
            ])
        };
        let (status, body) = json_of(refresh_token(&app, &HeaderMap::new(), &grant(&first))).await;
        assert_eq!(status, StatusCode::OK);
        let second = body["refresh_token"].as_str().unwrap_or("").to_string();
        let access = body["access_token"].as_str().unwrap_or("").to_string();
        assert!(!second.is_empty() && second != first);
        assert!(app.store().active_access(&access).is_some());

        let (status, body) = json_of(refresh_token(&app, &HeaderMap::new(), &grant(&first))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_grant");
        // The replay killed the current refresh token and the access token it had produced.
        assert!(app.store().active_refresh(&second).is_none());
        assert!(app.store().active_access(&access).is_none());
    }

    #[tokio::test]
    async fn without_rotation_the_refresh_token_is_reusable() {
        let app = app(false);
        let cfg = app.cfg().clone();
        let rt = seed_refresh(&app);
        let grant = form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &cfg.client_id),
            ("refresh_token", &rt),
        ]);
        for _ in 0..2 {
            let (status, body) = json_of(refresh_token(&app, &HeaderMap::new(), &grant)).await;
            assert_eq!(status, StatusCode::OK);
            assert!(body.get("refresh_token").is_none());
        }
    }
}
