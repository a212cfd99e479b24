//! Salesforce Messaging for In-App and Web (MIAW, Enhanced Chat) authorization, under
//! `/iamessage/api/v2/authorization/`, as far as the public material describes it
//! (research api-contracts.md §1; seeds 000 and 001):
//! <https://developer.salesforce.com/docs/service/messaging-api/references/miaw-api-reference>.
//!
//! Behaviour the docs leave open, and what the mock chose:
//! - errors are `{"message": "...", "errorCode": "..."}`: Salesforce documents no error body, and
//!   the official sample app (messaging-web-api-sample-app, `sendFetchRequest`) shows `message`;
//!   a bad request is 400, a bad identity token or bearer 401 (the sample app reads 401 as an
//!   invalid session);
//! - a failed identity-token verification is a 401, never a silent anonymous token;
//! - an unknown org or deployment is a 400, like any other bad request;
//! - `context` is required for `Web` (the reference says "Required for web apps");
//! - access tokens are RS256 JWTs with `iss`, `sub` (the end user's subject), `iat`, `exp`,
//!   `clientId` and `sid` (one per session, shared by its continuation tokens);
//! - `DELETE authenticated/access-token` answers 204 and revokes the session: the token and
//!   every continuation token of it get 401 from then on.
//! - a deployment with CAPTCHA on (full profile only) refuses a guest token without the one
//!   TEST-ONLY captchaToken it knows, with 400 `CAPTCHA_FAILED`: the docs name the field only.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::store::Bounded;
use super::{keys, lock, now, token_json, MockConfig};
use crate::target::ApiTarget;

const UNAUTHENTICATED_PATH: &str = "/iamessage/api/v2/authorization/unauthenticated/access-token";
const AUTHENTICATED_PATH: &str = "/iamessage/api/v2/authorization/authenticated/access-token";
const CONTINUATION_PATH: &str = "/iamessage/api/v2/authorization/continuation-access-token";

pub const ENDPOINTS: &[(&str, &str)] = &[
    ("MIAW guest access token", UNAUTHENTICATED_PATH),
    ("MIAW verified token, revoke", AUTHENTICATED_PATH),
    ("MIAW continuation token", CONTINUATION_PATH),
];

/// `kid` of the access tokens the mock signs; it keeps them apart from identity tokens signed
/// with the same test-only key pair.
const ACCESS_TOKEN_KID: &str = "tokenconf-miaw-access";

/// `sub` of the identity tokens the suites sign (a var of api_target).
const CUSTOMER_SUBJECT: &str = "tokenconf-user-1";

/// Revoked sessions remembered; past this the oldest revocation is forgotten.
const MAX_REVOKED: usize = 100_000;

/// The deployment and User Verification keyset of the mock. TEST-ONLY values: the public key is
/// the checked-in test key of `keys.rs`, and they identify nothing outside this mock.
#[derive(Debug, Clone)]
pub struct Config {
    /// The 15-character org ID; its 18-character form is accepted too.
    pub org_id: String,
    /// The deployment the target names (`es_developer_name`): in the full mock one that serves
    /// guests and verified users alike, in the sandbox profile the guest one.
    pub es_developer_name: String,
    /// Every Custom Client Embedded Service deployment (`esDeveloperName`) of the org.
    pub deployments: Vec<Deployment>,
    /// User Verification keyset name, part of `context.endUser.subject`.
    pub keyset: String,
    /// `kid` a customer identity token must carry.
    pub identity_kid: String,
    /// `iss` a customer identity token must carry (the keyset issuer).
    pub identity_issuer: String,
    /// Verifies customer identity tokens (RS256 or RS512). api_target hands the suites the private
    /// half of the default, so a different key fails the positive cases.
    pub identity_public_pem: String,
    /// Access-token lifetime; Setup's default is 60 minutes.
    pub token_lifetime_secs: u64,
}

/// Seed 000: "If you're generating an access token for an authenticated user, the Messaging
/// channel that's associated with the Embedded Service deployment must have User Verification
/// turned on. [...] for an unauthenticated user, [...] turned off." So a real org has one
/// deployment per kind; only the full mock has one that serves both.
const GUEST_DEPLOYMENT: &str = "Conformance_Guest_Client";
const VERIFIED_DEPLOYMENT: &str = "Conformance_Verified_Client";
/// A guest deployment with CAPTCHA on (seed 001: "captchaToken (optional/conditional): include if
/// you're using CAPTCHA on the client"); full profile only, a fresh org has none.
const CAPTCHA_DEPLOYMENT: &str = "Conformance_Captcha_Client";
/// The one captchaToken the mock's CAPTCHA deployment accepts. TEST-ONLY: the docs describe no
/// token format, so no suite can mint a real one; the cases only check refusals.
const CAPTCHA_PASS: &str = "tokenconf-test-only-captcha-pass";

/// One Embedded Service deployment and whom its channel lets in.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub name: String,
    /// User Verification off: the unauthenticated endpoint issues guest tokens.
    pub guests: bool,
    /// User Verification on: the authenticated endpoint issues verified tokens.
    pub verified: bool,
    /// CAPTCHA on: a guest token needs a valid `captchaToken`.
    pub captcha: bool,
}

impl Deployment {
    fn new(name: &str, guests: bool, verified: bool) -> Deployment {
        Deployment {
            name: name.into(),
            guests,
            verified,
            captcha: false,
        }
    }

    fn with_captcha(mut self) -> Deployment {
        self.captcha = true;
        self
    }
}

impl Config {
    /// A freshly configured org: a guest deployment and a verified one, nothing that serves both.
    pub fn sandbox() -> Config {
        Config {
            es_developer_name: GUEST_DEPLOYMENT.into(),
            deployments: vec![
                Deployment::new(GUEST_DEPLOYMENT, true, false),
                Deployment::new(VERIFIED_DEPLOYMENT, false, true),
            ],
            ..Config::default()
        }
    }

    fn deployment(&self, name: &str) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.name == name)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            org_id: "00DTCONF0000001".into(),
            es_developer_name: "Conformance_Custom_Client".into(),
            deployments: vec![
                Deployment::new("Conformance_Custom_Client", true, true),
                Deployment::new(GUEST_DEPLOYMENT, true, false),
                Deployment::new(VERIFIED_DEPLOYMENT, false, true),
                Deployment::new(CAPTCHA_DEPLOYMENT, true, false).with_captcha(),
            ],
            keyset: "tokenconf_keyset".into(),
            identity_kid: "tokenconf-identity-1".into(),
            identity_issuer: "https://identity.tokenconf.invalid".into(),
            identity_public_pem: keys::RSA_PUBLIC_PEM.into(),
            token_lifetime_secs: 3600,
        }
    }
}

/// Vars for the deployment and keyset. `signing_key` is the keyset's TEST-ONLY private key: the
/// suites sign their own customer identity tokens with it.
pub fn api_target(config: &Config, base_url: &str) -> ApiTarget {
    let org_id_18 = org_id_18(&config.org_id);
    let vars = vec![
        ("org_id", config.org_id.as_str()),
        ("org_id_18", &org_id_18),
        ("es_developer_name", &config.es_developer_name),
        ("guest_es_developer_name", GUEST_DEPLOYMENT),
        ("verified_es_developer_name", VERIFIED_DEPLOYMENT),
        ("customer_subject", CUSTOMER_SUBJECT),
        ("identity_kid", &config.identity_kid),
        ("identity_issuer", &config.identity_issuer),
    ];
    let named = config.deployment(&config.es_developer_name);
    let guests = named.is_some_and(|d| d.guests);
    let verified = named.is_some_and(|d| d.verified);
    let mut t = super::api_target(base_url, &vars, &[("signing_key", keys::RSA_PRIVATE_PEM)]);
    // What the named deployment lets in; MIAW has no password grant.
    t.capabilities.retain(|c| match c.as_str() {
        "guest_access" => guests,
        "user_verification" => verified,
        "password_grant" => false,
        _ => true,
    });
    // A CAPTCHA deployment is a profile of its own: the API entry's guests send no captchaToken.
    if let Some(d) = config.deployments.iter().find(|d| d.captcha && d.guests) {
        let vars = [("es_developer_name", d.name.as_str())];
        let without = ["guest_access", "user_verification"];
        let profile = super::profile_of(&t, "captcha", &vars, &without, "captcha");
        t.profiles.push(profile);
    }
    // Seed 000: a real deployment has User Verification on or off. When the named one takes
    // guests only, the verification-on deployment is a profile of its own.
    if !verified {
        if let Some(d) = config.deployments.iter().find(|d| d.verified && !d.guests) {
            let vars = [("es_developer_name", d.name.as_str())];
            let profile = super::profile_of(
                &t,
                "verified",
                &vars,
                &["guest_access"],
                "user_verification",
            );
            t.profiles.push(profile);
        }
    }
    t
}

/// The 18-character form of a 15-character Salesforce ID: three check characters, one per
/// 5-character chunk, whose bits mark the upper-case letters of the chunk.
fn org_id_18(id15: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let bytes = id15.as_bytes();
    let mut out = id15.to_string();
    for chunk in bytes.chunks(5).take(3) {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        out.push(char::from(ALPHABET[bits & 31]));
    }
    out
}

struct MiawState {
    config: Arc<MockConfig>,
    /// `iss` of the mock's access tokens.
    issuer: String,
    signing: EncodingKey,
    verifying: DecodingKey,
    identity: DecodingKey,
    /// Revoked sessions; the oldest are forgotten beyond `MAX_REVOKED`.
    revoked: Mutex<Bounded<String, ()>>,
}

pub fn routes(config: Arc<MockConfig>, base_url: &str) -> Router {
    let identity = DecodingKey::from_rsa_pem(config.miaw.identity_public_pem.as_bytes())
        .expect("miaw::Config::identity_public_pem is an RSA public key in PEM");
    let state = Arc::new(MiawState {
        issuer: format!("{base_url}/iamessage"),
        signing: keys::rsa_signing_key(),
        verifying: DecodingKey::from_rsa_pem(keys::RSA_PUBLIC_PEM.as_bytes())
            .expect("the checked-in test RSA key parses"),
        identity,
        revoked: Mutex::new(Bounded::new(MAX_REVOKED)),
        config,
    });
    Router::new()
        .route(
            UNAUTHENTICATED_PATH,
            post(unauthenticated).fallback(method_not_allowed),
        )
        .route(
            AUTHENTICATED_PATH,
            post(authenticated)
                .delete(revoke)
                .fallback(method_not_allowed),
        )
        .route(
            CONTINUATION_PATH,
            get(continuation).fallback(method_not_allowed),
        )
        .with_state(state)
}

/// The MIAW error body. Salesforce documents none; `message` is what the official sample app
/// reads, `errorCode` is the mock's own machine-readable reason.
fn miaw_error(status: StatusCode, code: &str, message: &str) -> Response {
    token_json(status, json!({ "message": message, "errorCode": code }))
}

fn bad_request(message: &str) -> Response {
    miaw_error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
}

/// 401 with a Bearer challenge (RFC 6750 §3); `error="invalid_token"` when a token was sent.
fn unauthorized(code: &str, message: &str, token_sent: bool) -> Response {
    let mut r = miaw_error(StatusCode::UNAUTHORIZED, code, message);
    let challenge = if token_sent {
        "Bearer realm=\"iamessage\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"iamessage\""
    };
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    r
}

async fn method_not_allowed() -> Response {
    miaw_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this method is not allowed on this endpoint",
    )
}

/// The JSON object of a request body; a 400 unless it is `application/json` holding an object.
fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err("the body must be application/json".into());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the body must be a JSON object".into()),
        Err(_) => Err("the body is not valid JSON".into()),
    }
}

/// An optional member that must be a string when present.
fn optional_str<'a>(body: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

fn required_str<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match optional_str(body, name)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(format!("{name} is required")),
    }
}

fn is_org_id(s: &str) -> bool {
    (s.len() == 15 || s.len() == 18)
        && s.starts_with("00D")
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_developer_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks the members both access-token requests share (BaseAuthorizationRequest); returns the
/// `deviceId` to echo. `any_org` (a drift) skips every orgId check.
fn check_base<'a>(
    config: &Config,
    body: &'a Map<String, Value>,
    any_org: bool,
) -> Result<Option<&'a str>, String> {
    let org_id = required_str(body, "orgId")?;
    if !any_org && !is_org_id(org_id) {
        return Err("orgId must be a 15- or 18-character org ID starting with 00D".into());
    }
    let name = required_str(body, "esDeveloperName")?;
    if !is_developer_name(name) {
        return Err("esDeveloperName must start with a letter and hold only letters, digits and underscores".into());
    }
    if !any_org && org_id != config.org_id && org_id != org_id_18(&config.org_id) {
        return Err("no Messaging for In-App and Web deployment in this org".into());
    }
    if config.deployment(name).is_none() {
        return Err(format!("no Custom Client deployment named {name}"));
    }
    required_str(body, "capabilitiesVersion")?;
    let platform = required_str(body, "platform")?;
    if platform != "Web" && platform != "Mobile" {
        return Err("platform must be Web or Mobile".into());
    }
    match body.get("context") {
        None if platform == "Web" => return Err("context is required for Web".into()),
        None => {}
        Some(Value::Object(context)) => {
            optional_str(context, "appName")?;
            optional_str(context, "clientVersion")?;
        }
        Some(_) => return Err("context must be an object".into()),
    }
    optional_str(body, "captchaToken")?;
    optional_str(body, "deviceId")
}

#[derive(Deserialize)]
struct IdentityClaims {
    sub: String,
}

/// The `sub` of a customer identity token that passes verification.
fn verify_identity(config: &Config, key: &DecodingKey, token: &str) -> Result<String, String> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| "the identity token is not a signed JWT")?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::RS512) {
        return Err("the identity token must be signed with RS256 or RS512".into());
    }
    if header.kid.as_deref() != Some(config.identity_kid.as_str()) {
        return Err("the identity token's kid names no key of this keyset".into());
    }
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.set_issuer(&[&config.identity_issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let data = jsonwebtoken::decode::<IdentityClaims>(token, key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => "the identity token has expired",
            ErrorKind::InvalidSignature => "the identity token's signature does not verify",
            ErrorKind::InvalidIssuer => "the identity token's iss is not the keyset issuer",
            _ => "the identity token is not valid",
        }
    })?;
    if data.claims.sub.is_empty() {
        return Err("the identity token has an empty sub".into());
    }
    Ok(data.claims.sub)
}

#[derive(Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    iat: u64,
    exp: u64,
    #[serde(rename = "clientId")]
    client_id: String,
    sid: String,
}

impl MiawState {
    /// A new access token for `sub` in session `sid`, with a fresh `clientId`.
    fn sign_access(&self, sub: &str, exp: u64, sid: &str) -> Result<String, Box<Response>> {
        self.sign_access_for(sub, exp, sid, &uuid::Uuid::new_v4().to_string())
    }

    fn sign_access_for(
        &self,
        sub: &str,
        exp: u64,
        sid: &str,
        client_id: &str,
    ) -> Result<String, Box<Response>> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: sub.to_string(),
            iat: now(),
            exp,
            client_id: client_id.to_string(),
            sid: sid.to_string(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(ACCESS_TOKEN_KID.into());
        jsonwebtoken::encode(&header, &claims, &self.signing).map_err(|_| {
            Box::new(miaw_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "the mock could not sign the access token",
            ))
        })
    }

    /// Claims of the request's bearer token: one this mock signed, unexpired and not revoked.
    fn bearer(&self, headers: &HeaderMap) -> Result<AccessClaims, Box<Response>> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(Box::new(unauthorized(
                "MISSING_TOKEN",
                "Authorization: Bearer <accessToken> is required",
                false,
            )));
        };
        let invalid = || {
            Box::new(unauthorized(
                "INVALID_TOKEN",
                "the access token is not valid",
                true,
            ))
        };
        let token = super::bearer_token(value).ok_or_else(invalid)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        if header.kid.as_deref() != Some(ACCESS_TOKEN_KID) {
            return Err(invalid());
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.verifying, &validation)
            .map_err(|_| invalid())?
            .claims;
        let revoked = lock(&self.revoked).get(&claims.sid).is_some();
        if revoked {
            return Err(Box::new(unauthorized(
                "INVALID_TOKEN",
                "the access token has been revoked",
                true,
            )));
        }
        Ok(claims)
    }

    /// The 200 body of both access-token endpoints.
    fn access_token_response(
        &self,
        deployment: &str,
        subject: &str,
        device_id: Option<&str>,
    ) -> Response {
        let exp = now() + self.config.miaw.token_lifetime_secs;
        let sid = uuid::Uuid::new_v4().to_string();
        let token = match self.sign_access(subject, exp, &sid) {
            Ok(t) => t,
            Err(r) => return *r,
        };
        let mut context = json!({
            "configuration": {
                "embeddedServiceConfig": {
                    "name": deployment,
                    "forms": [],
                    "choiceListConfig": { "choiceList": [] },
                },
            },
            "deploymentType": "api",
            "endUser": { "subject": subject },
        });
        if let Some(device_id) = device_id {
            context["deviceId"] = json!(device_id);
        }
        token_json(
            StatusCode::OK,
            json!({ "accessToken": token, "lastEventId": "0", "context": context }),
        )
    }
}

/// The `esDeveloperName` of a body `check_base` accepted.
fn deployment_name(body: &Map<String, Value>) -> &str {
    body.get("esDeveloperName")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A deployment whose User Verification setting does not allow this kind of token. The docs
/// name the setting, not the answer (seed 001: "Unauthenticated tokens are rejected"); the mock
/// says 400 like any other request its deployment cannot serve.
fn verification_mismatch(deployment: &str, setting: &str, kind: &str) -> Response {
    miaw_error(
        StatusCode::BAD_REQUEST,
        "USER_VERIFICATION_MISMATCH",
        &format!("deployment {deployment} has User Verification turned {setting}: it issues no {kind} tokens"),
    )
}

/// Whether the body carries the CAPTCHA answer the mock accepts (`check_base` made sure a
/// `captchaToken`, if any, is a string).
fn captcha_passes(body: &Map<String, Value>) -> bool {
    body.get("captchaToken")
        .and_then(Value::as_str)
        .is_some_and(|t| super::constant_time_eq(t, CAPTCHA_PASS))
}

/// A guest request to a CAPTCHA deployment without a valid captchaToken. The docs name the
/// field, not the refusal; the mock says 400 like any other request it cannot serve.
fn captcha_refused(deployment: &str) -> Response {
    miaw_error(
        StatusCode::BAD_REQUEST,
        "CAPTCHA_FAILED",
        &format!("deployment {deployment} has CAPTCHA on: a valid captchaToken is required"),
    )
}

async fn unauthenticated(
    State(state): State<Arc<MiawState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match json_object(&headers, &body) {
        Ok(b) => b,
        Err(m) => return bad_request(&m),
    };
    let any_org = state.config.drifting("miaw-bad-org-accepted");
    let device_id = match check_base(&state.config.miaw, &body, any_org) {
        Ok(d) => d,
        Err(m) => return bad_request(&m),
    };
    let deployment = deployment_name(&body);
    // `check_base` has refused a deployment the org does not have.
    let d = state.config.miaw.deployment(deployment);
    if d.is_some_and(|d| !d.guests) {
        return verification_mismatch(deployment, "on", "guest");
    }
    if d.is_some_and(|d| d.captcha) && !captcha_passes(&body) {
        return captcha_refused(deployment);
    }
    let subject = format!(
        "v2/iamessage/ANON/{deployment}/uid:{}",
        uuid::Uuid::new_v4()
    );
    state.access_token_response(deployment, &subject, device_id)
}

async fn authenticated(
    State(state): State<Arc<MiawState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = &state.config.miaw;
    let body = match json_object(&headers, &body) {
        Ok(b) => b,
        Err(m) => return bad_request(&m),
    };
    let any_org = state.config.drifting("miaw-bad-org-accepted");
    let device_id = match check_base(config, &body, any_org) {
        Ok(d) => d,
        Err(m) => return bad_request(&m),
    };
    let deployment = deployment_name(&body);
    if config.deployment(deployment).is_some_and(|d| !d.verified) {
        return verification_mismatch(deployment, "off", "verified");
    }
    match required_str(&body, "authorizationType") {
        Ok("JWT") => {}
        Ok(_) => return bad_request("authorizationType must be JWT"),
        Err(m) => return bad_request(&m),
    }
    let token = match required_str(&body, "customerIdentityToken") {
        Ok(t) => t,
        Err(m) => return bad_request(&m),
    };
    let verified = verify_identity(config, &state.identity, token);
    if state.config.drifting("miaw-auth-downgraded-to-anon") {
        // Drift: whatever the identity token, a guest's subject.
        let subject = format!(
            "v2/iamessage/ANON/{deployment}/uid:{}",
            uuid::Uuid::new_v4()
        );
        return state.access_token_response(deployment, &subject, device_id);
    }
    let sub = match verified {
        Ok(s) => s,
        Err(m) => return unauthorized("INVALID_IDENTITY_TOKEN", &m, false),
    };
    let subject = format!("v2/iamessage/AUTH/{}/uid:{sub}", config.keyset);
    state.access_token_response(deployment, &subject, device_id)
}

/// A new token for the same session: same `sub` and `exp` (continuation does not extend
/// expiry), new `clientId`.
async fn continuation(State(state): State<Arc<MiawState>>, headers: HeaderMap) -> Response {
    let claims = match state.bearer(&headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let exp = if state.config.drifting("miaw-continuation-later-exp") {
        claims
            .exp
            .saturating_add(state.config.miaw.token_lifetime_secs)
    } else {
        claims.exp
    };
    let signed = if state.config.drifting("miaw-continuation-same-client-id") {
        state.sign_access_for(&claims.sub, exp, &claims.sid, &claims.client_id)
    } else {
        state.sign_access(&claims.sub, exp, &claims.sid)
    };
    match signed {
        Ok(token) => token_json(
            StatusCode::OK,
            json!({ "accessToken": token, "lastEventId": "0" }),
        ),
        Err(r) => *r,
    }
}

/// Revokes the bearer's session (any token this mock issued, anonymous ones included): 204.
async fn revoke(State(state): State<Arc<MiawState>>, headers: HeaderMap) -> Response {
    let claims = match state.bearer(&headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    lock(&state.revoked).insert(claims.sid, ());
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> MiawState {
        let config = Arc::new(MockConfig::default());
        MiawState {
            issuer: "http://mock/iamessage".into(),
            signing: EncodingKey::from_rsa_pem(keys::RSA_PRIVATE_PEM.as_bytes()).unwrap(),
            verifying: DecodingKey::from_rsa_pem(keys::RSA_PUBLIC_PEM.as_bytes()).unwrap(),
            identity: DecodingKey::from_rsa_pem(keys::RSA_PUBLIC_PEM.as_bytes()).unwrap(),
            revoked: Mutex::new(Bounded::new(MAX_REVOKED)),
            config,
        }
    }

    fn bearer_headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn eighteen_character_org_id_has_the_salesforce_checksum() {
        // 00DTC → D,T,C upper at bits 2,3,4 = 28 → '2'; ONF00 → bits 0,1,2 = 7 → 'H'; 00001 → 'A'.
        assert_eq!(org_id_18("00DTCONF0000001"), "00DTCONF00000012HA");
        assert_eq!(org_id_18("00D000000000001"), "00D000000000001EAA");
    }

    #[test]
    fn identity_tokens_as_the_suites_sign_them_verify_or_fail_as_named() {
        let config = Config::default();
        let target = api_target(&config, "http://mock");
        assert_eq!(target.secrets["signing_key"], keys::RSA_PRIVATE_PEM);
        assert_eq!(target.vars["identity_kid"], config.identity_kid);
        let key = DecodingKey::from_rsa_pem(config.identity_public_pem.as_bytes()).unwrap();
        let private = EncodingKey::from_rsa_pem(keys::RSA_PRIVATE_PEM.as_bytes()).unwrap();
        let sign = |alg: Algorithm, kid: &str, iat: u64, exp: u64| {
            let mut header = Header::new(alg);
            header.kid = Some(kid.to_string());
            let claims = json!({ "iss": config.identity_issuer, "sub": CUSTOMER_SUBJECT, "iat": iat, "exp": exp });
            jsonwebtoken::encode(&header, &claims, &private).unwrap()
        };
        let now = now();
        let kid = config.identity_kid.as_str();
        let valid = sign(Algorithm::RS256, kid, now, now + 600);
        assert_eq!(
            verify_identity(&config, &key, &valid).unwrap(),
            CUSTOMER_SUBJECT
        );
        assert!(
            verify_identity(&config, &key, &sign(Algorithm::RS512, kid, now, now + 600)).is_ok()
        );
        for (token, why) in [
            (
                sign(Algorithm::RS256, kid, now - 7200, now - 3600),
                "expired",
            ),
            (format!("{valid}AA"), "signature"),
            (sign(Algorithm::RS256, "not-it", now, now + 600), "kid"),
        ] {
            let err = verify_identity(&config, &key, &token).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
        assert!(verify_identity(&config, &key, "not.a.jwt").is_err());
        // An access token of the mock is no identity token, though signed with the same key.
        let access = state().sign_access("x", u64::MAX / 2, "s").unwrap();
        assert!(verify_identity(&config, &key, &access).is_err());
    }

    #[test]
    fn requests_are_checked_against_the_known_deployment() {
        let config = Config::default();
        let ok = json!({
            "orgId": "00DTCONF00000012HA", "esDeveloperName": "Conformance_Custom_Client",
            "capabilitiesVersion": "1", "platform": "Web", "deviceId": "d-1",
            "context": { "appName": "a", "clientVersion": "1" },
        });
        let ok = ok.as_object().unwrap();
        assert_eq!(check_base(&config, ok, false).unwrap(), Some("d-1"));
        let with = |k: &str, v: Value| {
            let mut m = ok.clone();
            m.insert(k.into(), v);
            check_base(&config, &m, false).map(|d| d.map(str::to_string))
        };
        assert!(with("orgId", json!("00DTCONF0000001")).is_ok());
        assert!(with("orgId", json!("00DTCONF00000012HB")).is_err());
        assert!(with("orgId", json!("00D-CONF0000001")).is_err());
        assert!(with("esDeveloperName", json!("1Deployment")).is_err());
        assert!(with("esDeveloperName", json!("Other_Deployment")).is_err());
        assert!(with("platform", json!("web")).is_err());
        assert!(with("deviceId", json!(7)).is_err());
        let mut mobile = ok.clone();
        mobile.insert("platform".into(), json!("Mobile"));
        mobile.remove("context");
        assert!(check_base(&config, &mobile, false).is_ok());
        mobile.insert("platform".into(), json!("Web"));
        assert!(check_base(&config, &mobile, false)
            .unwrap_err()
            .contains("context"));
    }

    #[test]
    fn the_captcha_deployment_is_a_profile_and_wants_the_test_answer() {
        let full = api_target(&Config::default(), "http://mock");
        assert!(!full.capabilities.contains("captcha"));
        let [captcha] = full.profiles.as_slice() else {
            panic!("one captcha profile: {:?}", full.profiles)
        };
        assert_eq!(captcha.vars["es_developer_name"], CAPTCHA_DEPLOYMENT);
        assert!(captcha.capabilities.contains("captcha"));
        assert!(!captcha.capabilities.contains("guest_access"));
        // A fresh org has no CAPTCHA deployment.
        let sandbox = api_target(&Config::sandbox(), "http://mock");
        assert!(sandbox.profiles.iter().all(|p| p.name != "captcha"));
        let body = |v: Value| json!({ "captchaToken": v }).as_object().unwrap().clone();
        assert!(captcha_passes(&body(json!(CAPTCHA_PASS))));
        for wrong in [json!(""), json!("made-up"), json!(null)] {
            assert!(!captcha_passes(&body(wrong)));
        }
        assert!(!captcha_passes(&Map::new()));
    }

    #[test]
    fn continuation_keeps_sub_and_exp_and_revocation_covers_the_session() {
        let s = state();
        let first = s
            .sign_access("v2/iamessage/ANON/x/uid:1", 4_000_000_000, "sid-1")
            .unwrap();
        let claims = s.bearer(&bearer_headers(&first)).unwrap();
        let next = s.sign_access(&claims.sub, claims.exp, &claims.sid).unwrap();
        let next_claims = s.bearer(&bearer_headers(&next)).unwrap();
        assert_eq!(next_claims.sub, claims.sub);
        assert_eq!(next_claims.exp, claims.exp);
        assert_ne!(next_claims.client_id, claims.client_id);
        s.revoked.lock().unwrap().insert(claims.sid, ());
        for token in [&first, &next] {
            let r = s.bearer(&bearer_headers(token)).err().unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            s.bearer(&HeaderMap::new()).err().unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
