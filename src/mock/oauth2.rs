//! A small, strictly conformant RFC 6749 authorization server under `/oauth2/`: the target of the
//! generic `oauth2` suites. No vendor's quirks, only what the RFCs ask:
//! - RFC 6749: client_secret_basic (§2.3.1 form-encoding) or client_secret_post, never both (§2.3);
//!   a failed client authentication is 401 `invalid_client`, with `WWW-Authenticate: Basic` when
//!   Basic was used or no authentication at all (§5.2); a repeated parameter is `invalid_request`
//!   (§3.1, §3.2); client_credentials issues no refresh token (§4.4.3); scope within the client's
//!   (§3.3); `Cache-Control: no-store` on every token response (§5.1).
//! - Authorization code (§4.1): `GET /oauth2/authorize` approves at once for one test user; codes
//!   live 60 s, are bound to client and redirect_uri (exact match, RFC 9700 §4.1.3), and are spent by
//!   their first redemption, good or bad; redeeming a spent code revokes what it issued (§4.1.2).
//! - PKCE (RFC 7636, RFC 9700 §2.1.1): S256 only; a verifier for a code without a challenge is
//!   refused (RFC 9700 §4.8.2).
//! - RFC 9207: `iss` in every authorization response, errors included, as its metadata says.
//! - A public client (RFC 6749 §2.1, no secret) names itself with client_id at the token endpoint,
//!   for codes (with PKCE) and refresh; its refresh tokens rotate (OAuth 2.1 §4.3).
//! - Refresh (§6, RFC 9700 §4.14.2): rotation on every use; replaying a rotated refresh token is
//!   `invalid_grant` and revokes its whole family.
//! - `grant_type=password` is `unsupported_grant_type` (RFC 9700 §2.4).
//! - Revocation (RFC 7009): client authentication required; 200 for unknown tokens; a refresh token
//!   revokes its family, an access token itself; another client's token is refused. A second
//!   endpoint, `/oauth2/revoke-refresh-only`, is a server that revokes only what §2.1 makes a
//!   MUST (refresh tokens): an access token gets 400 `unsupported_token_type` (§2.2.1).
//! - Introspection (RFC 7662): client authentication required (401 otherwise); an inactive token is
//!   `{"active": false}` and nothing else.
//! - A protected resource, `GET /oauth2/resource`: 200 for an active access token in
//!   `Authorization: Bearer`, 401 otherwise; a token in the query is ignored (OAuth 2.1 §5.1).
//!   A DPoP-bound token only under the DPoP scheme with a proof of its key and its `ath`
//!   (RFC 9449 §7.1), never as Bearer (§7.2).
//! - DPoP (RFC 9449) and PAR (RFC 9126): see `dpop.rs`. One public client (no secret) for the
//!   flows RFC 9449 §5 binds refresh tokens in.

#[path = "dpop.rs"]
mod dpop;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::store::{Family, Tokens};
use super::{
    bad_request, basic_credentials, constant_time_eq, error, field, form_fields, is_code_verifier,
    is_s256_challenge, lock, new_token, non_empty, now, redirect, repeated, s256, scope_tokens,
    token_json, MockConfig,
};
use crate::basic::BasicEncoding;
use crate::target::ApiTarget;

const TOKEN_PATH: &str = "/oauth2/token";
const AUTHORIZE_PATH: &str = "/oauth2/authorize";
const REVOKE_PATH: &str = "/oauth2/revoke";
const REFRESH_ONLY_REVOKE_PATH: &str = "/oauth2/revoke-refresh-only";
const INTROSPECT_PATH: &str = "/oauth2/introspect";
const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
const RESOURCE_PATH: &str = "/oauth2/resource";

pub const ENDPOINTS: &[(&str, &str)] = &[
    ("OAuth 2.0 token", TOKEN_PATH),
    ("OAuth 2.0 authorize", AUTHORIZE_PATH),
    ("OAuth 2.0 revoke (RFC 7009)", REVOKE_PATH),
    (
        "OAuth 2.0 revoke, refresh tokens only",
        REFRESH_ONLY_REVOKE_PATH,
    ),
    ("OAuth 2.0 introspect (RFC 7662)", INTROSPECT_PATH),
    ("OAuth 2.0 metadata (RFC 8414)", METADATA_PATH),
    (
        "OAuth 2.0 pushed authorization requests (RFC 9126)",
        dpop::PAR_PATH,
    ),
    (
        "OAuth 2.0 authorize, pushed requests only",
        dpop::PAR_ONLY_AUTHORIZE_PATH,
    ),
    (
        "OAuth 2.0 token, DPoP proofs required (RFC 9449)",
        dpop::DPOP_ONLY_TOKEN_PATH,
    ),
    (
        "protected resource, Authorization: Bearer, or DPoP with a proof for a DPoP-bound token (OAuth 2.1 §5.1, RFC 9449 §7)",
        RESOURCE_PATH,
    ),
];

const ACCESS_TTL: u64 = 3600;
const CODE_TTL: u64 = 60;

/// One registered confidential client. TEST-ONLY values.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: String,
    /// Granted when a request names none.
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    /// A public client (RFC 6749 §2.1): no secret, authenticates by `client_id` alone.
    pub public: bool,
}

/// The clients of the generic server. Every secret here is TEST-ONLY.
#[derive(Debug, Clone)]
pub struct Config {
    pub clients: Vec<Client>,
    /// `sub` of every authorization: the user who "approves" at once.
    pub user: String,
    /// A scope no client may be granted.
    pub forbidden_scope: String,
}

fn client(id: &str, secret: &str, scopes: &[&str], redirect_uri: &str) -> Client {
    Client {
        id: id.into(),
        secret: secret.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        redirect_uris: vec![redirect_uri.into()],
        public: false,
    }
}

impl Default for Config {
    fn default() -> Self {
        let cb = "https://client.tokenconf.invalid/cb";
        Config {
            clients: vec![
                client(
                    "tokenconf-oauth2-client",
                    "test-only-oauth2-secret",
                    &["read", "write"],
                    cb,
                ),
                client(
                    "tokenconf-oauth2-second",
                    "test-only-oauth2-second-secret",
                    &["read"],
                    cb,
                ),
                // Characters RFC 6749 §2.3.1 form-encoding changes: a server (or client) that skips
                // the encoding mis-splits at `:` or reads `+` as a space.
                client(
                    "tokenconf special:client+1%",
                    "test-only secret:+%&=",
                    &["read"],
                    cb,
                ),
                Client {
                    public: true,
                    ..client("tokenconf-oauth2-public", "", &["read"], cb)
                },
            ],
            user: "tokenconf-oauth2-user".into(),
            forbidden_scope: "admin".into(),
        }
    }
}

/// Vars and secrets for the generic `oauth2` suites; `refresh_token` is issued by `server` now.
pub fn api_target(server: &Server, base_url: &str) -> ApiTarget {
    let c = &server.config.oauth2;
    let get = |i: usize| {
        c.clients
            .get(i)
            .cloned()
            .unwrap_or_else(|| client("", "", &[], ""))
    };
    let (first, second, special) = (get(0), get(1), get(2));
    let public = c.clients.iter().find(|c| c.public).cloned();
    let public_id = public.map(|c| c.id).unwrap_or_default();
    let redirect_uri = first.redirect_uris.first().cloned().unwrap_or_default();
    let refresh_token = server.issue_refresh_token(&first);
    let mut t = super::api_target(
        base_url,
        &[
            ("token_path", TOKEN_PATH),
            ("auto_authorize_path", AUTHORIZE_PATH),
            ("revocation_path", REVOKE_PATH),
            ("introspection_path", INTROSPECT_PATH),
            ("client_id", &first.id),
            ("second_client_id", &second.id),
            ("special_client_id", &special.id),
            ("redirect_uri", &redirect_uri),
            ("authorize_scope", "read"),
            // Narrower than the first client's scopes, so a widened grant shows.
            ("allowed_scope", "read"),
            ("forbidden_scope", &c.forbidden_scope),
            ("metadata_path", METADATA_PATH),
            ("issuer", &server.issuer),
            // What discovery reads from the metadata above (S256 only; iss in responses).
            ("pkce_plain_unsupported", "true"),
            ("authorization_response_iss_parameter_supported", "true"),
            ("par_path", dpop::PAR_PATH),
            ("public_client_id", &public_id),
            ("resource_path", RESOURCE_PATH),
            ("dpop_resource_path", RESOURCE_PATH),
        ],
        &[
            ("client_secret", &first.secret),
            ("second_client_secret", &second.secret),
            ("special_client_secret", &special.secret),
            ("refresh_token", &refresh_token),
            // A fixed TEST-ONLY DPoP key: a recording and its replay bind tokens to the same
            // thumbprint (a key made per run would not match the recorded cnf.jkt).
            (crate::dpop::KEY_VAR, super::keys::EC_PRIVATE_PEM),
        ],
    );
    // The refresh-only endpoint is a profile: the API entry's revocation cases revoke access
    // tokens, which it refuses.
    let vars = [("revocation_path", REFRESH_ONLY_REVOKE_PATH)];
    let capability = "refresh_only_revocation";
    let profile = super::profile_of(&t, capability, &vars, &[], capability);
    t.profiles.push(profile);
    // Endpoints that refuse what the API entry's cases send: each a profile of its own.
    for (capability, var, path) in [
        ("dpop_required", "token_path", dpop::DPOP_ONLY_TOKEN_PATH),
        (
            "par_required",
            "auto_authorize_path",
            dpop::PAR_ONLY_AUTHORIZE_PATH,
        ),
    ] {
        let profile = super::profile_of(&t, capability, &[(var, path)], &[], capability);
        t.profiles.push(profile);
    }
    t
}

pub fn routes(server: Arc<Server>) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route(dpop::DPOP_ONLY_TOKEN_PATH, post(token_dpop_only))
        .route(AUTHORIZE_PATH, get(authorize))
        .route(dpop::PAR_ONLY_AUTHORIZE_PATH, get(authorize_par_only))
        .route(dpop::PAR_PATH, post(dpop::par))
        .route(REVOKE_PATH, post(revoke))
        .route(REFRESH_ONLY_REVOKE_PATH, post(revoke_refresh_only))
        .route(INTROSPECT_PATH, post(introspect))
        .route(METADATA_PATH, get(metadata))
        .route(RESOURCE_PATH, get(resource))
        .with_state(server)
}

/// The server's state; shared with `MockServer` so a target can carry a refresh token issued up front.
pub struct Server {
    config: Arc<MockConfig>,
    issuer: String,
    store: Mutex<Store>,
    dpop: dpop::Dpop,
}

impl Server {
    pub fn new(config: Arc<MockConfig>, base_url: &str) -> Self {
        Server {
            config,
            issuer: base_url.trim_end_matches('/').to_string(),
            store: Mutex::new(Store::default()),
            dpop: dpop::Dpop::default(),
        }
    }

    fn cfg(&self) -> &Config {
        &self.config.oauth2
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// A refresh token of a fresh grant for `client`'s first scope, as if a code had been redeemed.
    pub fn issue_refresh_token(&self, client: &Client) -> String {
        let grant = Grant {
            client_id: client.id.clone(),
            scope: client.scopes.iter().take(1).cloned().collect(),
            sub: Some(self.cfg().user.clone()),
            jkt: None,
        };
        let mut store = self.store();
        let family = store.families.create();
        store.issue_refresh(grant, family)
    }

    fn find_client(&self, id: &str) -> Option<&Client> {
        self.cfg().clients.iter().find(|c| c.id == id)
    }
}

// ---- state ----

/// What a grant stands for: whose, which scope, which user (none for client_credentials).
#[derive(Clone)]
struct Grant {
    client_id: String,
    scope: Vec<String>,
    sub: Option<String>,
    /// The DPoP key's thumbprint the tokens are bound to (RFC 9449 §6).
    jkt: Option<String>,
}

struct Code {
    grant: Grant,
    /// `Some` when the authorize request named it: then the token request must repeat it (§4.1.3).
    redirect_uri: Option<String>,
    challenge: Option<String>,
    /// RFC 9449 §10: the thumbprint the redeeming request's proof must have.
    dpop_jkt: Option<String>,
    expires_at: u64,
    /// Set by the first redemption, so that a second one can revoke what the first issued.
    redeemed: Option<Family>,
    spent: bool,
}

/// Tokens stand for a `Grant`.
type Store = Tokens<Code, Grant>;

impl Store {
    fn issue_access(&mut self, grant: Grant, family: Family) -> String {
        self.add_access(new_token("o2_at_"), grant, ACCESS_TTL, family)
    }

    fn issue_refresh(&mut self, grant: Grant, family: Family) -> String {
        self.add_refresh(new_token("o2_rt_"), grant, None, family)
    }
}

// ---- helpers ----

type Form = Vec<(String, String)>;

/// 401 `invalid_client`; with a Basic challenge when the client used Basic or nothing (§5.2).
fn invalid_client(description: &str, challenge: bool) -> Box<Response> {
    let mut r = error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    if challenge {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"tokenconf-oauth2\""),
        );
    }
    Box::new(r)
}

/// The requested scope if every token is in `allowed`; `allowed` itself when none was requested.
fn grant_scope(requested: Option<&str>, allowed: &[String]) -> Option<Vec<String>> {
    let requested = requested.map(scope_tokens).unwrap_or_default();
    if requested.is_empty() {
        return Some(allowed.to_vec());
    }
    requested
        .iter()
        .all(|t| allowed.contains(t))
        .then_some(requested)
}

fn invalid_scope() -> Response {
    bad_request(
        "invalid_scope",
        "the requested scope exceeds what the client or grant allows",
    )
}

/// The body as a form, with no parameter repeated (RFC 6749 §3.2).
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, Box<Response>> {
    let form = form_fields(headers, body)?;
    if let Some(name) = repeated(&form) {
        return Err(Box::new(bad_request(
            "invalid_request",
            &format!("parameter {name} is repeated"),
        )));
    }
    Ok(form)
}

/// The authenticated client: client_secret_basic or client_secret_post, exactly one.
fn authenticate<'a>(
    server: &'a Server,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<&'a Client, Box<Response>> {
    let basic = basic_credentials(headers, BasicEncoding::Form);
    let post_secret = field(form, "client_secret");
    let (id, secret, used_basic) = match (basic, post_secret) {
        (Ok(Some(_)) | Err(_), Some(_)) => {
            return Err(Box::new(bad_request(
                "invalid_request",
                "use one client authentication method, not both (RFC 6749 §2.3)",
            )))
        }
        (Err(_), None) => return Err(invalid_client("malformed Authorization header", true)),
        (Ok(Some((id, secret))), None) => {
            // A client_id in the body must name the same client (§2.3.1).
            if field(form, "client_id").is_some_and(|f| f != id) {
                return Err(Box::new(bad_request(
                    "invalid_request",
                    "client_id differs from the authenticated client",
                )));
            }
            (id, secret, true)
        }
        (Ok(None), Some(secret)) => match field(form, "client_id") {
            Some(id) => (id.to_string(), secret.to_string(), false),
            None => {
                return Err(Box::new(bad_request(
                    "invalid_request",
                    "client_secret without client_id",
                )))
            }
        },
        (Ok(None), None) => return Err(invalid_client("client authentication is required", true)),
    };
    match server.find_client(&id) {
        // A public client has no secret to authenticate with (RFC 6749 §2.1).
        Some(c) if !c.public && constant_time_eq(&c.secret, &secret) => Ok(c),
        _ => Err(invalid_client("client authentication failed", used_basic)),
    }
}

/// [`authenticate`], or a public client named by `client_id` alone (token and PAR requests).
fn authenticate_or_public<'a>(
    server: &'a Server,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<&'a Client, Box<Response>> {
    let unauthenticated =
        headers.get(header::AUTHORIZATION).is_none() && field(form, "client_secret").is_none();
    let public = field(form, "client_id")
        .and_then(|id| server.find_client(id))
        .filter(|c| c.public);
    match public {
        Some(c) if unauthenticated => Ok(c),
        _ => authenticate(server, headers, form),
    }
}

// ---- token endpoint ----

async fn token(State(s): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut r = token_at(&s, TOKEN_PATH, &headers, &body);
    // The nonce on every answer to a proof, not only with use_dpop_nonce (§8.2): a client that
    // sends no nonce still learns it, and a recording (which keeps the retried exchange) holds it.
    if headers.contains_key("dpop") {
        if let Ok(v) = HeaderValue::from_str(dpop::nonce(&s)) {
            r.headers_mut().insert("dpop-nonce", v);
        }
    }
    r
}

async fn token_dpop_only(
    State(s): State<Arc<Server>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token_at(&s, dpop::DPOP_ONLY_TOKEN_PATH, &headers, &body)
}

fn token_at(s: &Server, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let form = match parse_form(headers, body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let client = match authenticate_or_public(s, headers, &form) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let jkt = match dpop::check_proof(s, headers, path) {
        Ok(j) => j,
        Err(r) => return *r,
    };
    if jkt.is_none() && path == dpop::DPOP_ONLY_TOKEN_PATH {
        return bad_request(
            "invalid_dpop_proof",
            "this token endpoint requires a DPoP proof",
        );
    }
    let jkt = jkt.as_deref();
    match field(&form, "grant_type") {
        // RFC 6749 §4.4: for confidential clients only.
        Some("client_credentials") if client.public => bad_request(
            "unauthorized_client",
            "a public client cannot use the client credentials grant",
        ),
        None | Some("") => bad_request("invalid_request", "grant_type is required"),
        Some("client_credentials") => client_credentials(s, client, &form, jkt),
        Some("authorization_code") => authorization_code(s, client, &form, jkt),
        Some("refresh_token") => refresh(s, client, &form, jkt),
        // RFC 9700 §2.4: the password grant MUST NOT be used.
        Some(_) => bad_request(
            "unsupported_grant_type",
            "the grant type is not supported by this server",
        ),
    }
}

fn token_response(
    s: &Server,
    access: &str,
    scope: &[String],
    refresh: Option<&str>,
    jkt: Option<&str>,
) -> Response {
    // Drift: a bound token announced as Bearer (RFC 9449 §5).
    let bound = jkt.is_some() && !s.config.drifting("oauth2-dpop-token-type-bearer");
    let mut body = json!({
        "access_token": access,
        "token_type": if bound { "DPoP" } else { "Bearer" },
        "expires_in": ACCESS_TTL,
        "scope": scope.join(" "),
    });
    if let (Some(rt), Some(map)) = (refresh, body.as_object_mut()) {
        map.insert("refresh_token".into(), json!(rt));
    }
    token_json(StatusCode::OK, body)
}

fn client_credentials(
    s: &Server,
    client: &Client,
    form: &[(String, String)],
    jkt: Option<&str>,
) -> Response {
    // RFC 6749 §4.4: the client credentials grant is for confidential clients only.
    if client.public {
        return bad_request(
            "unauthorized_client",
            "a public client may not use the client credentials grant",
        );
    }
    let Some(mut scope) = grant_scope(non_empty(form, "scope"), &client.scopes) else {
        return invalid_scope();
    };
    // Drift: every scope of the client, whatever was asked (RFC 6749 §3.3, a SHOULD).
    if s.config.drifting("oauth2-scope-wider") {
        scope = client.scopes.clone();
    }
    let grant = Grant {
        client_id: client.id.clone(),
        scope: scope.clone(),
        sub: None,
        jkt: jkt.map(str::to_string),
    };
    let mut store = s.store();
    let family = store.families.create();
    let access = store.issue_access(grant, family);
    drop(store);
    // RFC 6749 §4.4.3: no refresh token.
    token_response(s, &access, &scope, None, jkt)
}

fn authorization_code(
    s: &Server,
    client: &Client,
    form: &[(String, String)],
    jkt: Option<&str>,
) -> Response {
    let invalid = |why: &str| bad_request("invalid_grant", why);
    let Some(code) = non_empty(form, "code") else {
        return bad_request("invalid_request", "code is required");
    };
    let mut store = s.store();
    let Some(entry) = store.codes.get_mut(code) else {
        return invalid("the authorization code is invalid or expired");
    };
    if entry.spent {
        // §4.1.2: deny, and revoke what the first redemption issued.
        if let Some(family) = entry.redeemed {
            store.families.revoke(family);
        }
        return invalid("the authorization code was already used");
    }
    // Spent by its first redemption, good or bad.
    entry.spent = true;
    if now() > entry.expires_at {
        return invalid("the authorization code is invalid or expired");
    }
    if entry.grant.client_id != client.id {
        return invalid("the authorization code was issued to another client");
    }
    if entry
        .redirect_uri
        .as_deref()
        .is_some_and(|r| Some(r) != field(form, "redirect_uri"))
    {
        // Drift: §5.2 names this invalid_grant.
        if s.config
            .drifting("oauth2-redirect-mismatch-invalid-request")
        {
            return bad_request("invalid_request", "redirect_uri does not match");
        }
        return invalid("redirect_uri does not match the authorization request");
    }
    match (&entry.challenge, field(form, "code_verifier")) {
        (None, None) => {}
        (Some(c), Some(v)) if is_code_verifier(v) && s256(v) == *c => {}
        (Some(_), Some(_)) => return invalid("code_verifier does not match the code_challenge"),
        (Some(_), None) => return invalid("code_verifier is required for this code"),
        // Drift: the PKCE downgrade RFC 9700 §2.1.1 forbids.
        (None, Some(_)) if s.config.drifting("oauth2-pkce-downgrade") => {}
        (None, Some(_)) => {
            return invalid("code_verifier sent, but the authorization request had no challenge")
        }
    }
    // RFC 9449 §10: a code bound by dpop_jkt is redeemed only with a proof of that key.
    // Drift: any proof, or none, redeems it.
    let jkt_bound = entry.dpop_jkt.as_deref();
    if jkt_bound.is_some_and(|want| jkt != Some(want))
        && !s.config.drifting("oauth2-dpop-jkt-ignored")
    {
        return bad_request(
            "invalid_dpop_proof",
            "the code is bound by dpop_jkt to another DPoP key",
        );
    }
    let mut grant = entry.grant.clone();
    grant.jkt = jkt.map(str::to_string);
    let family = store.families.create();
    if let Some(entry) = store.codes.get_mut(code) {
        entry.redeemed = Some(family);
    }
    let access = store.issue_access(grant.clone(), family);
    let refresh = store.issue_refresh(grant.clone(), family);
    drop(store);
    // Drift: every scope of the client, whatever authorize asked for (RFC 6749 §3.3).
    if s.config.drifting("oauth2-code-scope-wider") {
        return token_response(s, &access, &client.scopes, Some(&refresh), jkt);
    }
    token_response(s, &access, &grant.scope, Some(&refresh), jkt)
}

fn refresh(s: &Server, client: &Client, form: &[(String, String)], jkt: Option<&str>) -> Response {
    let invalid = || bad_request("invalid_grant", "the refresh token is invalid or revoked");
    let Some(old) = non_empty(form, "refresh_token") else {
        return bad_request("invalid_request", "refresh_token is required");
    };
    let old = old.to_string();
    // Checked and rotated under one lock: of two concurrent uses, only one wins.
    let mut store = s.store();
    let Some(entry) = store.refresh.get(&old) else {
        return invalid();
    };
    let family = entry.family;
    if entry.rotated {
        // RFC 9700 §4.14.2: a rotated token came back, so one party is an attacker: revoke all.
        store.families.revoke(family);
        return invalid();
    }
    if !store.families.live(family) || entry.grant.client_id != client.id {
        return invalid();
    }
    let mut grant = entry.grant.clone();
    // RFC 9449 §5: a public client's refresh token is bound to its DPoP key.
    // Drift: any key (or none) may refresh it.
    let bound_elsewhere = client.public && grant.jkt.is_some() && grant.jkt.as_deref() != jkt;
    if bound_elsewhere && !s.config.drifting("oauth2-dpop-refresh-unbound") {
        return bad_request(
            "invalid_dpop_proof",
            "the refresh token is bound to another DPoP key",
        );
    }
    grant.jkt = jkt.map(str::to_string);
    // §6: a narrower scope may be asked for; the new refresh token keeps the original one.
    let Some(scope) = grant_scope(non_empty(form, "scope"), &grant.scope) else {
        return invalid_scope();
    };
    // Drift: a public client keeps its refresh token, neither rotated nor sender-constrained.
    if client.public && s.config.drifting("oauth2-public-refresh-not-rotated") {
        grant.scope = scope.clone();
        let access = store.issue_access(grant, family);
        drop(store);
        return token_response(s, &access, &scope, Some(&old), jkt);
    }
    if let Some(entry) = store.refresh.get_mut(&old) {
        entry.rotated = true;
    }
    let refresh = store.issue_refresh(grant.clone(), family);
    grant.scope = scope.clone();
    let access = store.issue_access(grant, family);
    drop(store);
    token_response(s, &access, &scope, Some(&refresh), jkt)
}

// ---- authorize ----

async fn authorize(State(s): State<Arc<Server>>, RawQuery(query): RawQuery) -> Response {
    authorize_at(&s, AUTHORIZE_PATH, query)
}

async fn authorize_par_only(State(s): State<Arc<Server>>, RawQuery(query): RawQuery) -> Response {
    authorize_at(&s, dpop::PAR_ONLY_AUTHORIZE_PATH, query)
}

fn authorize_at(s: &Server, path: &str, query: Option<String>) -> Response {
    let params: Form = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    if repeated(&params).is_some() {
        return bad_request("invalid_request", "a parameter is repeated");
    }
    let params = match dpop::authorization_request(s, path, params) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    // Without a known client and one of its redirect URIs there is nowhere safe to redirect to
    // (§4.1.2.1): answer here.
    let Some(client) = field(&params, "client_id").and_then(|id| s.find_client(id)) else {
        return bad_request("invalid_request", "client_id is missing or unknown");
    };
    let named = field(&params, "redirect_uri");
    let redirect_uri = match named {
        Some(r) if client.redirect_uris.iter().any(|u| u == r) => r.to_string(),
        // Drift: prefix matching, which OAuth 2.1 (§2.3.1) and RFC 9700 §4.1.3 forbid.
        Some(r)
            if s.config.drifting("oauth2-redirect-prefix-match")
                && client
                    .redirect_uris
                    .iter()
                    .any(|u| r.starts_with(u.as_str())) =>
        {
            r.to_string()
        }
        // §3.1.2.3: may be left out when exactly one is registered.
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        _ => {
            return bad_request(
                "invalid_request",
                "redirect_uri is missing or not registered for the client",
            )
        }
    };
    let state = field(&params, "state");
    // RFC 9207 §2: iss in every authorization response, errors included (the metadata says so).
    let iss: &[(&str, &str)] = if s.config.drifting("oauth2-authorize-no-iss") {
        &[]
    } else {
        &[("iss", s.issuer.as_str())]
    };
    let fail = |code: &str, description: &str| {
        // Drift: an error page although the client and redirect URI are valid (§4.1.2.1).
        if s.config.drifting("oauth2-authorize-error-json") {
            return bad_request(code, description);
        }
        let mut params = vec![("error", code), ("error_description", description)];
        params.extend_from_slice(iss);
        redirect(&redirect_uri, &params, state)
    };
    match field(&params, "response_type") {
        Some("code") => {}
        // Drift: the implicit grant, which OAuth 2.1 omits (draft-ietf-oauth-v2-1-16 §10.1).
        Some("token") if s.config.drifting("oauth2-implicit-grant") => {
            let access = new_token("o2_implicit_");
            let location = format!("{redirect_uri}#access_token={access}&token_type=Bearer");
            return super::found(&location)
                .unwrap_or_else(|| bad_request("invalid_request", "bad redirect_uri"));
        }
        None | Some("") => return fail("invalid_request", "response_type is required"),
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            )
        }
    }
    let Some(scope) = grant_scope(non_empty(&params, "scope"), &client.scopes) else {
        return fail("invalid_scope", "a requested scope is not allowed");
    };
    let challenge = match (
        non_empty(&params, "code_challenge"),
        field(&params, "code_challenge_method"),
    ) {
        // The mock requires PKCE (it declares pkce_required): RFC 7636 §4.4.1's answer.
        (None, None)
            if !s.config.drifting("oauth2-pkce-optional")
                && !s.config.drifting("oauth2-pkce-downgrade") =>
        {
            return fail("invalid_request", "code_challenge is required (PKCE)")
        }
        (None, None) => None,
        (Some(c), Some("S256")) if is_s256_challenge(c) => Some(c.to_string()),
        (Some(_), Some("S256")) => {
            return fail("invalid_request", "code_challenge is not an S256 challenge")
        }
        // Drift: `plain` although the metadata offers only S256 (RFC 7636 §4.4.1).
        (Some(c), Some("plain")) if s.config.drifting("oauth2-pkce-plain-accepted") => {
            Some(s256(c))
        }
        // RFC 9700 §2.1.1: S256; a missing method would mean `plain`.
        (Some(_), _) => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            )
        }
        (None, Some(_)) => {
            return fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            )
        }
    };
    let code = new_token("o2_code_");
    let entry = Code {
        grant: Grant {
            client_id: client.id.clone(),
            scope,
            sub: Some(s.cfg().user.clone()),
            jkt: None,
        },
        redirect_uri: named.map(str::to_string),
        challenge,
        dpop_jkt: non_empty(&params, "dpop_jkt").map(str::to_string),
        expires_at: now() + CODE_TTL,
        redeemed: None,
        spent: false,
    };
    s.store().codes.insert(code.clone(), entry);
    let mut params = vec![("code", code.as_str())];
    params.extend_from_slice(iss);
    redirect(&redirect_uri, &params, state)
}

// ---- protected resource ----

/// A protected resource: who the access token was issued to. A token in the query is ignored
/// (draft-ietf-oauth-v2-1-16 §5.1: resource servers MUST ignore it). A DPoP-bound token is taken
/// only under the DPoP scheme with a proof of its key whose ath is its hash (RFC 9449 §7.1), and
/// refused as Bearer (§7.2).
async fn resource(
    State(s): State<Arc<Server>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let dpop_scheme = authorization
        .and_then(|v| v.get(..5))
        .is_some_and(|p| p.eq_ignore_ascii_case("DPoP "));
    let from_header = if dpop_scheme {
        authorization.map(|v| v[5..].trim().to_string())
    } else {
        headers
            .get(header::AUTHORIZATION)
            .and_then(super::bearer_token)
            .map(str::to_string)
    };
    // Drift: the token is taken from `?access_token=` too.
    let from_query = || {
        let query = query.as_deref().unwrap_or_default();
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    };
    let token = from_header.or_else(|| {
        s.config
            .drifting("oauth2-query-token-accepted")
            .then(from_query)
            .flatten()
    });
    let found = {
        let store = s.store();
        token
            .as_deref()
            .and_then(|t| store.active_access(t))
            .map(|a| {
                let sub = a
                    .grant
                    .sub
                    .clone()
                    .unwrap_or_else(|| a.grant.client_id.clone());
                (sub, a.grant.jkt.clone())
            })
    };
    let Some((sub, jkt)) = found else {
        let challenge = match (token.is_some(), dpop_scheme) {
            (true, true) => "DPoP error=\"invalid_token\", algs=\"ES256\"",
            (true, false) => "Bearer error=\"invalid_token\"",
            (false, _) => "Bearer",
        };
        return unauthorized(challenge, None);
    };
    let token = token.unwrap_or_default();
    match (dpop_scheme, jkt) {
        // §7.2: a DPoP-bound token is refused as a bearer token.
        // Drift: it is taken as one.
        (false, Some(_)) if !s.config.drifting("oauth2-dpop-resource-bearer-accepted") => {
            unauthorized("Bearer error=\"invalid_token\", DPoP algs=\"ES256\"", None)
        }
        (false, _) => ok_sub(&sub),
        (true, None) => unauthorized("DPoP error=\"invalid_token\", algs=\"ES256\"", None),
        (true, Some(bound)) => match resource_proof(&s, &headers, &token, &bound) {
            Ok(()) => ok_sub(&sub),
            Err(error) => {
                let nonce = (error == "use_dpop_nonce").then(|| dpop::nonce(&s));
                // Drift: the DPoP challenge names no error (§7.1: it SHOULD).
                let challenge = if s.config.drifting("oauth2-dpop-resource-challenge-bare") {
                    "DPoP algs=\"ES256\"".to_string()
                } else {
                    format!("DPoP error=\"{error}\", algs=\"ES256\"")
                };
                unauthorized(&challenge, nonce)
            }
        },
    }
}

/// RFC 9449 §7.1 for a token bound to `bound`: a proof (§4.3) of that key whose ath is the
/// token's hash; else the challenge's error code.
fn resource_proof(
    s: &Server,
    headers: &HeaderMap,
    token: &str,
    bound: &str,
) -> Result<(), &'static str> {
    match dpop::proof_key(s, headers, "GET", RESOURCE_PATH) {
        Err(dpop::Refusal::Nonce) => Err("use_dpop_nonce"),
        Err(dpop::Refusal::Invalid(_)) | Ok(None) => Err("invalid_dpop_proof"),
        Ok(Some(key)) if key != bound => Err("invalid_token"),
        // Drift: ath is not compared with the token's hash.
        Ok(Some(_)) if s.config.drifting("oauth2-dpop-resource-ath-ignored") => Ok(()),
        Ok(Some(_)) => match dpop::proof_ath(headers) {
            Some(ath) if ath == crate::dpop::ath(token) => Ok(()),
            _ => Err("invalid_dpop_proof"),
        },
    }
}

fn ok_sub(sub: &str) -> Response {
    (StatusCode::OK, axum::Json(json!({ "sub": sub }))).into_response()
}

/// 401 with `challenge`; the body is JSON (naming the challenge's error, if any), so the
/// mock's rewrite of bare error answers keeps the challenge.
fn unauthorized(challenge: &str, nonce: Option<&str>) -> Response {
    let error = challenge
        .split_once("error=\"")
        .and_then(|(_, rest)| rest.split('"').next());
    let body = error.map_or_else(|| json!({}), |e| json!({ "error": e }));
    let mut r = token_json(StatusCode::UNAUTHORIZED, body);
    if let Ok(v) = HeaderValue::from_str(challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(n).ok()) {
        r.headers_mut().insert("dpop-nonce", v);
    }
    r
}

// ---- metadata ----

/// RFC 8414 §2-3: the generic server's metadata; its issuer is the mock's base URL.
async fn metadata(State(s): State<Arc<Server>>) -> Response {
    let at = |path: &str| format!("{}{path}", s.issuer);
    let body = json!({
        "issuer": s.issuer,
        "authorization_endpoint": at(AUTHORIZE_PATH),
        "token_endpoint": at(TOKEN_PATH),
        "revocation_endpoint": at(REVOKE_PATH),
        "introspection_endpoint": at(INTROSPECT_PATH),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported": ["ES256"],
        "pushed_authorization_request_endpoint": at(dpop::PAR_PATH),
        "require_pushed_authorization_requests": false,
    });
    let mut body = body;
    if s.config.drifting("oauth2-implicit-grant") {
        body["response_types_supported"] = json!(["code", "token"]);
        body["grant_types_supported"] = json!([
            "authorization_code",
            "implicit",
            "client_credentials",
            "refresh_token"
        ]);
    }
    token_json(StatusCode::OK, body)
}

// ---- revocation and introspection ----

/// RFC 7009 §2.1-2.2.
async fn revoke(State(s): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    revoke_tokens(&s, &headers, &body, true)
}

/// RFC 7009 §2.2.1: a server that does not revoke access tokens says `unsupported_token_type`.
async fn revoke_refresh_only(
    State(s): State<Arc<Server>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    revoke_tokens(&s, &headers, &body, false)
}

fn revoke_tokens(s: &Server, headers: &HeaderMap, body: &[u8], access_tokens: bool) -> Response {
    let form = match parse_form(headers, body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let client = match authenticate(s, headers, &form) {
        Ok(c) => c,
        // Drift: 200 to a caller that did not authenticate, and nothing revoked.
        Err(_) if s.config.drifting("oauth2-revocation-unauthenticated") => {
            return StatusCode::OK.into_response()
        }
        Err(r) => return *r,
    };
    let Some(token) = non_empty(&form, "token") else {
        return bad_request("invalid_request", "token is required");
    };
    // The hint only orders the search (§2.1); both kinds are looked up whatever it says.
    // Drift: only the hinted kind is searched, access tokens when there is no hint.
    let hinted_refresh = field(&form, "token_type_hint") == Some("refresh_token");
    let binding = s.config.drifting("oauth2-revocation-hint-binding");
    let mut store = s.store();
    let key = token.to_string();
    let owner = store
        .access
        .get(&key)
        .filter(|_| !binding || !hinted_refresh)
        .map(|a| (a.grant.client_id.clone(), None))
        .or_else(|| {
            store
                .refresh
                .get(&key)
                .filter(|_| !binding || hinted_refresh)
                .map(|r| (r.grant.client_id.clone(), Some(r.family)))
        });
    let any_client = s.config.drifting("oauth2-revocation-any-client");
    match owner {
        // §2.2: an invalid or unknown token is not an error.
        None => {}
        Some((owner, _)) if owner != client.id && !any_client => {
            return bad_request(
                "unauthorized_client",
                "the token was not issued to this client",
            )
        }
        Some((_, None)) if !access_tokens => {
            return bad_request(
                "unsupported_token_type",
                "this endpoint revokes refresh tokens only",
            )
        }
        // Drift: 200, and nothing revoked.
        Some(_) if s.config.drifting("oauth2-revoked-still-active") => {}
        // §2.1: revoking a refresh token invalidates the access tokens of its grant too.
        Some((_, Some(family))) => store.families.revoke(family),
        Some((_, None)) => {
            store.access.remove(&key);
        }
    }
    drop(store);
    let mut r = StatusCode::OK.into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// RFC 7662 §2.1-2.2.
async fn introspect(State(s): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let unauthenticated =
        headers.get(header::AUTHORIZATION).is_none() && field(&form, "client_secret").is_none();
    // Drift: anyone may introspect (token scanning).
    let open = unauthenticated && s.config.drifting("oauth2-introspection-unauthenticated");
    if !open {
        if let Err(r) = authenticate(&s, &headers, &form) {
            return *r;
        }
    }
    let Some(token) = non_empty(&form, "token") else {
        return bad_request("invalid_request", "token is required");
    };
    // Drift: the hint binds, so a refresh token is found only when it is named one (§2.1: a hint).
    let hidden_refresh = s.config.drifting("oauth2-introspection-hint-binding")
        && field(&form, "token_type_hint") != Some("refresh_token");
    let store = s.store();
    let described = if let Some(a) = store.active_access(token) {
        Some((&a.grant, "access_token", a.iat, Some(a.exp)))
    } else {
        store
            .active_refresh(token)
            .filter(|_| !hidden_refresh)
            .map(|r| (&r.grant, "refresh_token", r.iat, None))
    };
    let body = match described {
        None => json!({ "active": false }),
        Some((grant, kind, iat, exp)) => {
            let mut body = json!({
                "active": true,
                "scope": grant.scope.join(" "),
                "client_id": grant.client_id,
                "iat": iat,
                "iss": s.issuer,
            });
            if let Some(map) = body.as_object_mut() {
                if kind == "access_token" {
                    let said = if s.config.drifting("oauth2-introspection-token-kind") {
                        "access_token"
                    } else if grant.jkt.is_some() {
                        "DPoP"
                    } else {
                        "Bearer"
                    };
                    map.insert("token_type".into(), json!(said));
                }
                if let Some(exp) = exp {
                    map.insert("exp".into(), json!(exp));
                }
                if let Some(sub) = &grant.sub {
                    map.insert("sub".into(), json!(sub));
                }
                // RFC 9449 §6.2. Drift: the binding is not said.
                if let (Some(jkt), "access_token") = (&grant.jkt, kind) {
                    if !s.config.drifting("oauth2-dpop-no-cnf") {
                        map.insert("cnf".into(), json!({ "jkt": jkt }));
                    }
                }
            }
            body
        }
    };
    drop(store);
    token_json(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::Value;

    fn server() -> Arc<Server> {
        Arc::new(Server::new(
            Arc::new(MockConfig::default()),
            "http://127.0.0.1:9",
        ))
    }

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let value = crate::basic::basic_header(id, secret);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap(),
        );
        headers
    }

    fn body(form: &[(&str, &str)]) -> Bytes {
        Bytes::from(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish(),
        )
    }

    async fn json_of(r: Response) -> (StatusCode, Value) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn the_public_client_has_no_secret_and_no_client_credentials_grant() {
        let s = server();
        let form = |pairs: &[(&str, &str)]| body(pairs);
        let mut plain = HeaderMap::new();
        plain.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let public = "tokenconf-oauth2-public";
        let by_id = form(&[("grant_type", "client_credentials"), ("client_id", public)]);
        let (status, json) = json_of(token(State(s.clone()), plain, by_id).await).await;
        assert_eq!(
            (status, &json["error"]),
            (StatusCode::BAD_REQUEST, &json!("unauthorized_client"))
        );
        // An empty secret is no secret: Basic with it does not authenticate the public client.
        let basic_empty = form(&[("grant_type", "client_credentials")]);
        let (status, _) = json_of(token(State(s), basic(public, ""), basic_empty).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn the_special_client_authenticates_only_form_encoded() {
        let s = server();
        let c = s.cfg().clients[2].clone();
        let form = body(&[("grant_type", "client_credentials")]);
        let r = token(State(s.clone()), basic(&c.id, &c.secret), form.clone()).await;
        assert_eq!(r.status(), StatusCode::OK);
        // The same credentials base64-encoded raw, as a client that skips §2.3.1 sends them.
        let mut raw = basic("x", "y");
        let b64 =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.id, c.secret));
        raw.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {b64}")).unwrap(),
        );
        let r = token(State(s), raw, form).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_some());
    }

    #[tokio::test]
    async fn the_public_client_names_itself_at_the_token_endpoint_only_and_never_by_an_empty_secret(
    ) {
        let s = server();
        let public = s.cfg().clients[3].clone();
        assert!(public.secret.is_empty());
        let mut plain = HeaderMap::new();
        plain.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        // Known to the token endpoint by client_id alone: an unknown code, not an unknown client.
        let redeem = body(&[
            ("grant_type", "authorization_code"),
            ("client_id", &public.id),
            ("code", "o2_code_none"),
        ]);
        let (status, json) = json_of(token(State(s.clone()), plain.clone(), redeem).await).await;
        assert_eq!(
            (status, json["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        // §4.4: client credentials are for confidential clients.
        let cc = body(&[
            ("grant_type", "client_credentials"),
            ("client_id", &public.id),
        ]);
        let (_, json) = json_of(token(State(s.clone()), plain.clone(), cc).await).await;
        assert_eq!(json["error"], "unauthorized_client");
        // An empty secret is not a public client's credential.
        let cc = body(&[("grant_type", "client_credentials")]);
        let r = token(State(s.clone()), basic(&public.id, ""), cc).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Introspection wants a confidential client.
        let ask = body(&[("token", "x"), ("client_id", &public.id)]);
        let r = introspect(State(s), plain, ask).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn the_upfront_refresh_token_rotates_and_a_replay_revokes_the_family() {
        let s = server();
        let c = s.cfg().clients[0].clone();
        let rt1 = s.issue_refresh_token(&c);
        let headers = basic(&c.id, &c.secret);
        let refresh = |rt: &str| body(&[("grant_type", "refresh_token"), ("refresh_token", rt)]);
        let (status, first) =
            json_of(token(State(s.clone()), headers.clone(), refresh(&rt1)).await).await;
        assert_eq!(status, StatusCode::OK);
        let rt2 = first["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(rt1, rt2);
        let (status, replay) =
            json_of(token(State(s.clone()), headers.clone(), refresh(&rt1)).await).await;
        assert_eq!(
            (status, &replay["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );
        // The replay revoked the family: the current refresh token is dead too.
        let (status, _) =
            json_of(token(State(s.clone()), headers.clone(), refresh(&rt2)).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Another client cannot use this client's refresh token.
        let other = &s.cfg().clients[1];
        let rt3 = s.issue_refresh_token(&c);
        let (status, _) = json_of(
            token(
                State(s.clone()),
                basic(&other.id, &other.secret),
                refresh(&rt3),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn password_grant_both_auth_methods_and_repeated_parameters_are_refused() {
        let s = server();
        let c = s.cfg().clients[0].clone();
        let h = basic(&c.id, &c.secret);
        let (status, b) = json_of(
            token(
                State(s.clone()),
                h.clone(),
                body(&[
                    ("grant_type", "password"),
                    ("username", "u"),
                    ("password", "p"),
                ]),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, &b["error"]),
            (StatusCode::BAD_REQUEST, &json!("unsupported_grant_type"))
        );
        let both = body(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", &c.secret),
        ]);
        let (status, b) = json_of(token(State(s.clone()), h.clone(), both).await).await;
        assert_eq!(
            (status, &b["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_request"))
        );
        let twice = body(&[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ]);
        let (status, _) = json_of(token(State(s.clone()), h, twice).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let mut post = HeaderMap::new();
        post.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let wrong = body(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", "nope"),
        ]);
        let r = token(State(s), post, wrong).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // client_secret_post did not use the Authorization header: no challenge (§5.2).
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    const VERIFIER: &str = "tokenconf-mock-pkce-verifier-0123456789abcdefghijk";

    #[tokio::test]
    async fn a_code_redeemed_twice_revokes_its_tokens() {
        let s = server();
        let c = s.cfg().clients[0].clone();
        let cb = c.redirect_uris[0].clone();
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", c.id.as_str()),
                ("redirect_uri", cb.as_str()),
                ("state", "st"),
                ("code_challenge", &s256(VERIFIER)),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let r = authorize(State(s.clone()), RawQuery(Some(q.clone()))).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        // Without the challenge: refused by a redirect with invalid_request (RFC 7636 §4.4.1).
        let without: String = q
            .split('&')
            .filter(|p| !p.starts_with("code_challenge"))
            .collect::<Vec<_>>()
            .join("&");
        let refused = authorize(State(s.clone()), RawQuery(Some(without))).await;
        assert_eq!(refused.status(), StatusCode::FOUND);
        let to = refused.headers()[header::LOCATION].to_str().unwrap();
        assert!(
            to.contains("error=invalid_request") && !to.contains("code="),
            "{to}"
        );
        let location = r.headers()[header::LOCATION].to_str().unwrap().to_string();
        assert!(location.ends_with("&state=st"), "{location}");
        let code = location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_string();
        let h = basic(&c.id, &c.secret);
        let redeem = body(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &cb),
            ("code_verifier", VERIFIER),
        ]);
        let (status, tokens) =
            json_of(token(State(s.clone()), h.clone(), redeem.clone()).await).await;
        assert_eq!(status, StatusCode::OK);
        let at = tokens["access_token"].as_str().unwrap().to_string();
        let introspect_at = || introspect(State(s.clone()), h.clone(), body(&[("token", &at)]));
        assert_eq!(
            json_of(introspect_at().await).await.1["active"],
            json!(true)
        );
        let (status, _) = json_of(token(State(s.clone()), h.clone(), redeem).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            json_of(introspect_at().await).await.1,
            json!({ "active": false })
        );
    }

    #[tokio::test]
    async fn introspection_needs_client_authentication_and_revocation_is_per_client() {
        let s = server();
        let c = s.cfg().clients[0].clone();
        let mut anonymous = HeaderMap::new();
        anonymous.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let r = introspect(State(s.clone()), anonymous, body(&[("token", "x")])).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let rt = s.issue_refresh_token(&c);
        let other = &s.cfg().clients[1];
        let r = revoke(
            State(s.clone()),
            basic(&other.id, &other.secret),
            body(&[("token", &rt)]),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let h = basic(&c.id, &c.secret);
        let r = revoke(State(s.clone()), h.clone(), body(&[("token", &rt)])).await;
        assert_eq!(r.status(), StatusCode::OK);
        let (_, b) =
            json_of(introspect(State(s.clone()), h.clone(), body(&[("token", &rt)])).await).await;
        assert_eq!(b, json!({ "active": false }));
        let r = revoke(State(s), h, body(&[("token", "no-such-token")])).await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn the_refresh_only_endpoint_refuses_access_tokens_by_type() {
        let s = server();
        let c = s.cfg().clients[0].clone();
        let h = basic(&c.id, &c.secret);
        let form = body(&[("grant_type", "client_credentials")]);
        let (_, issued) = json_of(token(State(s.clone()), h.clone(), form).await).await;
        let access = issued["access_token"].as_str().unwrap().to_string();
        let refuse = revoke_refresh_only(State(s.clone()), h.clone(), body(&[("token", &access)]));
        let (status, b) = json_of(refuse.await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(b["error"], "unsupported_token_type");
        let (_, b) =
            json_of(introspect(State(s.clone()), h.clone(), body(&[("token", &access)])).await)
                .await;
        assert_eq!(b["active"], true, "refused, so not revoked");
        // Refresh tokens and unknown tokens as at /oauth2/revoke.
        let rt = s.issue_refresh_token(&c);
        let r = revoke_refresh_only(State(s.clone()), h.clone(), body(&[("token", &rt)])).await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = revoke_refresh_only(State(s), h, body(&[("token", "no-such-token")])).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}
