//! The embedded mock: one axum server on one loopback port serving every vendor API, started
//! in-process for `run` and `cargo test`, or standalone with `tokenconf mock`.

pub mod drift;
pub mod keys;
mod miaw;
mod oauth2;
pub mod reading;
pub mod replay;
mod salesforce;
mod store;
mod talkdesk;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::basic::BasicEncoding;
use crate::http::HttpOptions;
use crate::target::{ApiTarget, Target};

/// Largest request body the mock reads; larger ones get 413.
const MAX_BODY: usize = 64 * 1024;

/// What one client may hold of the mock: a connection that has not sent a whole request head
/// within `header_read_timeout` (from when it opens, or from its last response) is dropped, and
/// at most `max_connections` are served at once; more wait in the listen queue until one ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 256,
        }
    }
}

/// What to warn about before the mock binds `ip`: `None` for loopback; otherwise the mock
/// (which hands out tokens for its published test credentials) is reachable from elsewhere.
pub fn bind_warning(ip: IpAddr) -> Option<String> {
    let ip = ip.to_canonical();
    if ip.is_loopback() {
        return None;
    }
    let what = if ip.is_unspecified() {
        "every network interface".to_string()
    } else {
        ip.to_string()
    };
    Some(format!(
        "the mock listens on {what}, not only on loopback: other machines can reach it, and its credentials are published test values"
    ))
}

/// How the embedded mock behaves (`run --mock-profile`, `mock --profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Every capability at once, so every case can run: authorize approves without a login,
    /// refresh tokens rotate, one MIAW deployment also serves guests and verified users alike.
    #[default]
    Full,
    /// A freshly configured real org, where the docs say so or are silent: authorize answers a
    /// login page, refresh tokens do not rotate, MIAW has a guest and a verified deployment and
    /// none that serves both, the password grant is refused, only documented fields come back.
    Sandbox,
    /// The sandbox, with every undocumented choice of the mock answered the other plausible way
    /// (`reading::choices`): what the suites assume must only warn there.
    OtherReading,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Full, Profile::Sandbox, Profile::OtherReading];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Full => "full",
            Profile::Sandbox => "sandbox",
            Profile::OtherReading => "other-reading",
        }
    }

    /// Whether the mock stands for a real org (a rehearsal): assumed expectations only warn.
    /// `full` is the embedded model the guesses were written from, where they stay strict.
    pub fn rehearsal(self) -> bool {
        self != Profile::Full
    }

    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Every client registration, secret and key of the mock. The defaults are test-only values,
/// published here on purpose: they open nothing but this mock.
#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    pub talkdesk: talkdesk::Config,
    pub salesforce: salesforce::Config,
    pub miaw: miaw::Config,
    /// The generic RFC 6749 server the `oauth2` suites run against.
    pub oauth2: oauth2::Config,
    /// Names of the active drift modes (see `drift::modes`); empty for the conformant mock.
    pub drifts: BTreeSet<&'static str>,
    pub limits: Limits,
    pub profile: Profile,
    /// The undocumented choices requests reached (`reading`), in every profile.
    pub reached: reading::Reached,
}

impl MockConfig {
    /// The registrations of `MockConfig::default()`, behaving as `profile` says.
    pub fn for_profile(profile: Profile) -> MockConfig {
        let mut c = MockConfig {
            profile,
            ..MockConfig::default()
        };
        if profile.rehearsal() {
            c.talkdesk.auto_approve = false;
            c.talkdesk.rotate_refresh_tokens = false;
            c.salesforce.auto_approve = false;
            // Rotation is an optional connected-app setting (api-contracts §2), off by default.
            c.salesforce.rotate_refresh_tokens = false;
            c.salesforce.documented_fields_only = true;
            // JWT-based access tokens are an app setting; a new app issues opaque ones.
            c.salesforce.jwt_access_tokens = false;
            // Token exchange needs the flow enabled and an Apex handler (seed 002).
            c.salesforce.token_exchange_handler = false;
            // RFC 7523 §3 makes jti replay detection a MAY; Talkdesk documents neither way.
            c.talkdesk.refuses_jti_replay = false;
            c.miaw = miaw::Config::sandbox();
        }
        c
    }

    /// Whether drift mode `name` is active.
    pub fn drifting(&self, name: &str) -> bool {
        self.drifts.contains(name)
    }
}

pub use miaw::Config as MiawConfig;
pub use oauth2::Config as OAuth2Config;
pub use salesforce::Config as SalesforceConfig;
pub use talkdesk::Config as TalkdeskConfig;

pub struct MockServer {
    pub addr: SocketAddr,
    pub config: Arc<MockConfig>,
    /// Shared with the router, so a target can carry a refresh token issued up front.
    oauth2: Arc<oauth2::Server>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// A replay's: what the recorded target's APIs declared, laid over [`MockServer::target`].
    recorded_capabilities: BTreeMap<String, crate::cassette::ApiCapabilities>,
}

impl MockServer {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The target that points every API at this mock, with its credentials.
    pub fn target(&self) -> Target {
        target_of(
            &self.config,
            &self.oauth2,
            &self.base_url(),
            &self.recorded_capabilities,
        )
    }

    /// `(what, URL)` for every endpoint, for the banner of `tokenconf mock`.
    pub fn endpoints(&self) -> Vec<(String, String)> {
        let base = self.base_url();
        [
            talkdesk::ENDPOINTS,
            salesforce::ENDPOINTS,
            miaw::ENDPOINTS,
            oauth2::ENDPOINTS,
        ]
        .iter()
        .flat_map(|e| e.iter())
        .map(|(what, path)| (what.to_string(), format!("{base}{path}")))
        .collect()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The target that points every API of the mock at `base_url`, with its credentials.
fn target_of(
    c: &MockConfig,
    oauth2: &oauth2::Server,
    base_url: &str,
    recorded_capabilities: &BTreeMap<String, crate::cassette::ApiCapabilities>,
) -> Target {
    let mut apis = BTreeMap::new();
    apis.insert(
        "talkdesk".to_string(),
        talkdesk::api_target(&c.talkdesk, base_url),
    );
    apis.insert(
        "salesforce".to_string(),
        salesforce::api_target(&c.salesforce, base_url),
    );
    apis.insert("miaw".to_string(), miaw::api_target(&c.miaw, base_url));
    apis.insert("oauth2".to_string(), oauth2::api_target(oauth2, base_url));
    let mut target = Target {
        name: "mock".into(),
        apis,
        http: HttpOptions {
            use_env_proxy: false,
            ..HttpOptions::default()
        },
        allow_origins: Vec::new(),
        allow_http: false,
        embedded_mock: !c.profile.rehearsal(),
    };
    replay::lay_over(&mut target, recorded_capabilities);
    target
}

/// Binds `addr` (port 0 for an ephemeral one) and serves until stopped or dropped with the runtime.
pub async fn start(config: MockConfig, addr: SocketAddr) -> std::io::Result<MockServer> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let config = Arc::new(config);
    let base_url = format!("http://{addr}");
    let oauth2 = Arc::new(oauth2::Server::new(config.clone(), &base_url));
    let app = build_router(config.clone(), &base_url, oauth2.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app, config.limits, rx));
    Ok(MockServer {
        addr,
        config,
        oauth2,
        shutdown: Some(tx),
        task: Some(task),
        recorded_capabilities: BTreeMap::new(),
    })
}

/// axum's own `serve` has neither a header-read timeout nor a connection cap: hyper's HTTP/1
/// connection builder has the timeout, a semaphore caps the connections.
async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    mut shutdown: oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        // A slot first: over the cap, clients wait in the listen queue, unanswered but unharmed.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: pause rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    // Idle connections close at once; one stuck in its headers ends at the timeout.
    let grace = limits.header_read_timeout + Duration::from_secs(1);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}

/// Every API on one router; `base_url` is where the mock is reached (for `aud`, `id` and redirects).
pub fn router(config: Arc<MockConfig>, base_url: &str) -> Router {
    let oauth2 = Arc::new(oauth2::Server::new(config.clone(), base_url));
    build_router(config, base_url, oauth2)
}

/// [`router`], with the target that points every API at it (what [`MockServer::target`] gives):
/// for a test that serves the mock behind a layer of its own. The target's credentials (an
/// issued refresh token) are this router's.
pub fn router_with_target(config: Arc<MockConfig>, base_url: &str) -> (Router, Target) {
    let oauth2 = Arc::new(oauth2::Server::new(config.clone(), base_url));
    let target = target_of(&config, &oauth2, base_url, &BTreeMap::new());
    (build_router(config, base_url, oauth2), target)
}

fn build_router(config: Arc<MockConfig>, base_url: &str, oauth2: Arc<oauth2::Server>) -> Router {
    let router = Router::new()
        .merge(talkdesk::routes(config.clone(), base_url))
        .merge(salesforce::routes(config.clone(), base_url))
        .merge(miaw::routes(config.clone(), base_url))
        .merge(oauth2::routes(oauth2))
        .route(LOGIN_PATH, axum::routing::post(login_post))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint on the tokenconf mock",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            config.clone(),
            reading::layer,
        ));
    if config.drifts.is_empty() {
        return router;
    }
    // Outermost, so that it sees every response as a client would, axum's rejections included.
    router.layer(axum::middleware::from_fn_with_state(
        config,
        drift::post_process,
    ))
}

/// Marks an answer that is plain text on purpose (UserInfo's refusal), which `json_errors` leaves.
#[derive(Clone, Copy)]
struct PlainText;

/// axum's own rejections (413 body too large, 405, 415, …) are plain text; a token endpoint's
/// errors are JSON, so rewrite them.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if response.extensions().get::<PlainText>().is_some() {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let description = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("the body is larger than {} KiB", MAX_BODY / 1024),
        other => other
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
    };
    let code = if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request"
    };
    error(status, code, &description)
}

/// A JSON response with the headers every token endpoint sends.
pub fn token_json(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

pub fn error(status: StatusCode, code: &str, description: &str) -> Response {
    token_json(
        status,
        json!({ "error": code, "error_description": description }),
    )
}

/// Form fields of a request body; a 400 `invalid_request` unless it is `application/x-www-form-urlencoded`.
pub fn form_fields(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, Box<Response>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )));
    }
    Ok(form_urlencoded::parse(body).into_owned().collect())
}

pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A field that is there and not empty.
fn non_empty<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    field(form, name).filter(|v| !v.is_empty())
}

/// The name of the first parameter that stands more than once.
fn repeated(form: &[(String, String)]) -> Option<&str> {
    let mut seen = HashSet::new();
    form.iter()
        .find(|(k, _)| !seen.insert(k.as_str()))
        .map(|(k, _)| k.as_str())
}

/// The tokens of a space-separated `scope`.
fn scope_tokens(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn bad_request(code: &str, description: &str) -> Response {
    error(StatusCode::BAD_REQUEST, code, description)
}

/// `(id, secret)` from `Authorization: Basic`, decoded as the vendor decodes it (`encoding`:
/// RFC 6749 §2.3.1 form-urldecoding, or the raw values); `Err` when the header is there but
/// malformed.
pub fn basic_credentials(
    headers: &HeaderMap,
    encoding: BasicEncoding,
) -> Result<Option<(String, String)>, MalformedAuth> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| MalformedAuth)?;
    crate::basic::decode_basic(encoding, value)
        .map(Some)
        .ok_or(MalformedAuth)
}

/// The token of an `Authorization: Bearer` value (RFC 6750 §2.1; the scheme's case is not
/// significant, RFC 9110 §11.1); `None` for another scheme or a value that is not text.
fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let v = value.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
}

/// An `Authorization` header that is not well-formed Basic credentials.
#[derive(Debug)]
pub struct MalformedAuth;

/// Whether two secrets are equal, in time that depends on their length only.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The current Unix time in seconds.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The guarded value, even when another thread panicked while holding the lock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// 302 to `uri` with `params` (and `state` when the client sent one) in the query; 500 when the
/// URI cannot be sent in a header.
fn redirect(uri: &str, params: &[(&str, &str)], state: Option<&str>) -> Response {
    try_redirect(uri, params, state).unwrap_or_else(|| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the redirect URI cannot be sent in a header",
        )
    })
}

/// The 302 of `redirect`; `None` when the URI cannot be sent in a header.
fn try_redirect(uri: &str, params: &[(&str, &str)], state: Option<&str>) -> Option<Response> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(params);
    if let Some(state) = state {
        query.append_pair("state", state);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    found(&format!("{uri}{sep}{}", query.finish()))
}

/// A 302 to `location`, not to be cached (it carries a code or tokens); `None` when the
/// location cannot be sent in a header.
fn found(location: &str) -> Option<Response> {
    let location = HeaderValue::from_str(location).ok()?;
    let mut r = StatusCode::FOUND.into_response();
    r.headers_mut().insert(header::LOCATION, location);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(r)
}

/// The sandbox's one user, who signs in at `LOGIN_PATH`. TEST-ONLY values: they open nothing
/// but this mock.
pub const LOGIN_USER: &str = "tokenconf-mock-user";
pub const LOGIN_PASSWORD: &str = "tokenconf-mock-Passw0rd-test-only";
/// Where the sandbox's login form posts, for every vendor.
const LOGIN_PATH: &str = "/tokenconf-mock/login";
const SESSION_COOKIE: &str = "tokenconf_mock_session";
/// The consent form's answer, added to the authorize request it repeats.
const CONSENT_PARAM: &str = "tokenconf_consent";

/// Session cookies of signed-in browsers, across every mock of the process (each is random).
static SESSIONS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The login script that signs in at the sandbox's login form and consents (`run --mock-profile
/// sandbox` runs its code flows through it when Chromium is there).
pub fn sandbox_login() -> crate::login::Login {
    use crate::login::LoginStep;
    crate::login::Login {
        origins: Vec::new(),
        steps: vec![
            LoginStep::Fill {
                selector: "#username".into(),
                value: LOGIN_USER.into(),
                secret: false,
            },
            LoginStep::Fill {
                selector: "#password".into(),
                value: LOGIN_PASSWORD.into(),
                secret: true,
            },
            LoginStep::Click("#Login".into()),
            LoginStep::Consent("#approve".into()),
        ],
        step_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(20),
    }
}

/// What the sandbox's authorize endpoint shows before it issues a code: the login form to a
/// browser without a session, else the consent page until it is approved (`None`: go on).
fn authorize_gate(vendor: &str, headers: &HeaderMap, path: &str, query: &str) -> Option<Response> {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if !signed_in(headers) {
        let return_to = format!("{path}?{query}");
        return Some(html_page(&format!(
            "<!doctype html><html><head><title>Log in | {vendor}</title></head><body><form method=\"post\" action=\"{LOGIN_PATH}\"><input type=\"hidden\" name=\"return_to\" value=\"{}\"><label>Username <input id=\"username\" name=\"username\"></label><label>Password <input id=\"password\" name=\"password\" type=\"password\"></label><input type=\"submit\" id=\"Login\" value=\"Log In\"></form></body></html>",
            escape(&return_to)
        )));
    }
    if params
        .iter()
        .any(|(k, v)| k == CONSENT_PARAM && v == "approve")
    {
        return None;
    }
    let hidden: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    Some(html_page(&format!(
        "<!doctype html><html><head><title>Allow access? | {vendor}</title></head><body><form method=\"get\" action=\"{path}\">{hidden}<button id=\"approve\" name=\"{CONSENT_PARAM}\" value=\"approve\">Allow</button></form></body></html>"
    )))
}

fn signed_in(headers: &HeaderMap) -> bool {
    let sessions = lock(&SESSIONS);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(k, v)| k == SESSION_COOKIE && sessions.contains(v))
}

/// The login form's POST: the right user and password get a session cookie and go back to the
/// authorize request; anything else sees the form's refusal.
async fn login_post(body: axum::body::Bytes) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let right = get("username") == Some(LOGIN_USER)
        && get("password").is_some_and(|p| constant_time_eq(p, LOGIN_PASSWORD));
    // Only back to a path of this server.
    let return_to = get("return_to").filter(|r| r.starts_with('/') && !r.starts_with("//"));
    let (true, Some(return_to)) = (right, return_to) else {
        let mut r =
            html_page("<!doctype html><title>Log in</title><p>Wrong username or password.</p>");
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    };
    let session = new_token("mock_sid_");
    lock(&SESSIONS).insert(session.clone());
    let Some(mut r) = found(return_to) else {
        return bad_request("invalid_request", "return_to is not a valid location");
    };
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    r
}

/// `&`, `<`, `>` and quotes as HTML entities, for attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A 200 HTML page that is not cached.
fn html_page(html: &str) -> Response {
    let mut r = (StatusCode::OK, html.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html;charset=UTF-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))).
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An S256 challenge is a base64url SHA-256 digest: 43 characters without padding.
fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn is_code_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A fresh opaque token.
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// What a vendor mock does, for the suites' `requires:`: every capability but those its
/// configuration turns off (`auto_authorize`: authorize answers 302 with a code and no login;
/// `rotates_refresh_tokens`). No mock API grants the password grant.
fn without_what_is_off(mut t: ApiTarget, auto_approve: bool, rotates: bool) -> ApiTarget {
    t.capabilities.retain(|c| {
        c != "password_grant"
            && (auto_approve || c != "auto_authorize")
            && (rotates || c != "rotates_refresh_tokens")
    });
    t
}

/// Capabilities that say what a deployment or server refuses: the API entry, which serves every
/// other case, never declares them; a vendor module adds a profile that does.
pub const PROFILE_ONLY: &[&str] = &[
    "captcha",
    "refresh_only_revocation",
    "dpop_required",
    "par_required",
];

/// A profile of `t` that differs in `vars` and in capabilities: a second deployment or endpoint of
/// the same server, which a case reaches by what it `requires:`.
fn profile_of(
    t: &ApiTarget,
    name: &str,
    vars: &[(&str, &str)],
    remove: &[&str],
    add: &str,
) -> crate::target::Profile {
    let mut capabilities = t.capabilities.clone();
    capabilities.retain(|c| !remove.contains(&c.as_str()));
    capabilities.insert(add.to_string());
    crate::target::Profile {
        name: name.to_string(),
        base_url: None,
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        secrets: Default::default(),
        capabilities,
        login: None,
    }
}

pub fn api_target(base_url: &str, vars: &[(&str, &str)], secrets: &[(&str, &str)]) -> ApiTarget {
    ApiTarget {
        base_url: base_url.to_string(),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        // The default mock does everything a case may require; a restriction only on a profile.
        capabilities: crate::capability::all()
            .filter(|c| !PROFILE_ONLY.contains(c))
            .map(String::from)
            .collect(),
        profiles: Vec::new(),
        issuer: None,
        basic_encoding: None,
        login: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_an_independent_computation() {
        // printf %s "$v" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '='
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wnKW5ffKyxMc"),
            "3l__6HAsHR-LWPSawnmqiA3ItnGsHM1phFZMsPUNBzE"
        );
        let v = "tokenconf-talkdesk-pkce-verifier-0123456789abcdefghij";
        assert_eq!(s256(v), "JNc0M5EOaG7JUZGbgXD4pa_LpA1MUz4JzKMS7lgYtcA");
        assert!(is_code_verifier(v));
        assert!(is_s256_challenge(&s256(v)));
        assert!(!is_code_verifier("too-short"));
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq("secret", "secret"));
        assert!(!constant_time_eq("secret", "secreT"));
        assert!(!constant_time_eq("secret", "secret "));
        assert!(constant_time_eq("", ""));
    }

    #[test]
    fn redirect_puts_state_last_and_forbids_caching() {
        let r = redirect("https://c.invalid/cb?x=1", &[("code", "a b")], Some("s&t"));
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://c.invalid/cb?x=1&code=a+b&state=s%26t"
        );
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert!(try_redirect("https://c.invalid/\ncb", &[], None).is_none());
    }
}
