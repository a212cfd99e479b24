//! Replaying a recording (`mock --replay DIR`, `run --mock-replay DIR`): each request gets the
//! response recorded for it, matched on method, path and request shape (names, never values:
//! secrets and tokens were replaced by placeholders), each case's steps in order. A request
//! that names its case (`x-tokenconf-case`, which `run --mock-replay` sends) is matched against
//! that case's next step. Any other client gets a best-effort answer: the recorded requests of
//! its method, path and body shape, narrowed by the enum-like form values, its credentials (the
//! replay's own, or a wrong secret's 401), query and header names where that leaves any; served when they all got the same kind of answer
//! (status and JSON shape), naming the case it came from in `x-tokenconf-replayed-from`.
//! Anything else is 599 with a JSON error naming the request and why: never a guess.
//!
//! The replay runs as the recorded target did: the embedded mock's profile it was recorded
//! with, and the capabilities each API (and profile) declared, so a case skipped in the
//! recording is skipped in the replay.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use aho_corasick::AhoCorasick;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{MockConfig, MockServer};
use crate::cassette::{self, ApiCapabilities, RequestShape, Step};
use crate::error::ConfigError;

/// The status of an answer the recording does not have (outside HTTP's own range of meanings).
pub const NOT_RECORDED: u16 = 599;

/// One case's (or fixture's) recorded steps and how far a replay got.
struct Tape {
    steps: Vec<Step>,
    next: Mutex<usize>,
}

struct Replay {
    tapes: HashMap<String, Tape>,
    /// The replay target's client id and secret pairs (the mock's published test values), set
    /// once the server is up: a client that sends one of them is told apart from one that
    /// sends a wrong secret.
    credentials: OnceLock<Vec<(String, String)>>,
}

/// Loads the recording in `dir` (exit 2 naming a bad file) and serves it on `addr`. The server
/// is a [`MockServer`] whose target is the embedded mock's (its published test credentials),
/// pointed at the replay.
pub async fn start(dir: &Path, addr: SocketAddr) -> Result<MockServer, ConfigError> {
    let index = cassette::load_index(dir)?;
    let mut tapes = HashMap::new();
    for e in index.cases.iter().chain(&index.fixtures) {
        let c = cassette::load_cassette(dir, &e.cassette)?;
        tapes.insert(
            e.test.clone(),
            Tape {
                steps: c.steps,
                next: Mutex::new(0),
            },
        );
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ConfigError::Mock { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ConfigError::Mock { addr, source })?;
    let base_url = format!("http://{addr}");
    if let Some(relocate) = Relocate::new(&index.origins, &base_url) {
        for tape in tapes.values_mut() {
            for step in &mut tape.steps {
                relocate.response(&mut step.response);
            }
        }
    }
    let replay = Arc::new(Replay {
        tapes,
        credentials: OnceLock::new(),
    });
    let profile = match index.mock_profile.as_deref() {
        None => super::Profile::default(),
        Some(name) => super::Profile::from_name(name).ok_or_else(|| {
            cassette::bad_file(
                &dir.join(cassette::INDEX),
                format!(
                    "mock_profile: {:?} is not a profile of the embedded mock ({})",
                    crate::redact::shorten(name, 60),
                    super::Profile::ALL.map(super::Profile::name).join(", ")
                ),
            )
        })?,
    };
    let config = Arc::new(MockConfig::for_profile(profile));
    let oauth2 = Arc::new(super::oauth2::Server::new(config.clone(), &base_url));
    let app = Router::new()
        .fallback(serve_request)
        .layer(axum::extract::DefaultBodyLimit::max(super::MAX_BODY))
        .with_state(replay.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(super::serve(listener, app, config.limits, rx));
    let server = MockServer {
        addr,
        config,
        oauth2,
        shutdown: Some(tx),
        task: Some(task),
        recorded_capabilities: index.capabilities,
    };
    let _ = replay.credentials.set(credentials_of(&server.target()));
    Ok(server)
}

/// Every `*client_id` var with its `*client_secret`, of each API and profile of `target`.
fn credentials_of(target: &crate::target::Target) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for a in target.apis.values() {
        for r in a.resolved() {
            for (k, id) in r.vars.iter().filter(|(k, _)| k.ends_with("client_id")) {
                let secret_key = format!("{}client_secret", k.trim_end_matches("client_id"));
                if let Some(secret) = r.secrets.get(secret_key.as_str()) {
                    out.push((id.to_string(), secret.to_string()));
                }
            }
        }
    }
    out
}

/// The recorded target's capabilities laid over the replay's target: each API the recording
/// names declares what it declared, and keeps only the profiles the recording had. APIs the
/// recording does not name (an older recording) are left as they are.
pub fn lay_over(target: &mut crate::target::Target, recorded: &BTreeMap<String, ApiCapabilities>) {
    for (api, rec) in recorded {
        let Some(a) = target.apis.get_mut(api) else {
            continue;
        };
        a.capabilities = rec.capabilities.clone();
        // The recorded redirect of a browser login is replayed as it was: no browser.
        a.login = None;
        a.profiles.retain(|p| rec.profiles.contains_key(&p.name));
        for p in &mut a.profiles {
            p.login = None;
            if let Some(c) = rec.profiles.get(&p.name) {
                p.capabilities = c.clone();
            }
        }
    }
}

/// The recorded target's origins in an answer (an issuer, an endpoint, a redirect's Location)
/// become the replay's own, so the answer reads as the recorded server's did. One pass over
/// each text for every origin at once: a replaced text is never searched again.
struct Relocate {
    origins: AhoCorasick,
    to: Vec<String>,
}

impl Relocate {
    /// `None` when there is nothing to replace.
    fn new(origins: &[String], to: &str) -> Option<Relocate> {
        let origins: Vec<&String> = origins.iter().filter(|o| !o.is_empty()).collect();
        if origins.is_empty() {
            return None;
        }
        // Each origin also form-encoded, as it appears in a redirect's query (RFC 9207's iss).
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let (mut from, mut into) = (Vec::new(), Vec::new());
        for o in origins {
            from.push(o.clone());
            into.push(to.to_string());
            from.push(encode(o));
            into.push(encode(to));
        }
        let matcher = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&from)
            .ok()?;
        Some(Relocate {
            origins: matcher,
            to: into,
        })
    }

    fn text(&self, s: &mut String) {
        if self.origins.is_match(s.as_str()) {
            *s = self.origins.replace_all(s, &self.to);
        }
    }

    fn json(&self, v: &mut Value) {
        match v {
            Value::String(s) => self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.json(i)),
            Value::Object(members) => members.values_mut().for_each(|m| self.json(m)),
            _ => {}
        }
    }

    fn response(&self, response: &mut cassette::Response) {
        for (_, value) in &mut response.headers {
            self.text(value);
        }
        if let Some(v) = &mut response.json {
            self.json(v);
        }
        if let Some(t) = &mut response.text {
            self.text(t);
        }
    }
}

/// What the replay saw of a request: the same names a cassette keeps.
struct Incoming {
    method: String,
    path: String,
    query: Vec<String>,
    headers: BTreeSet<String>,
    form: Option<Vec<String>>,
    /// The enum-like form fields' values (`grant_type`, …), as a cassette keeps them.
    values: BTreeMap<String, String>,
    /// The client id and secret it sent (Basic, or `client_id` and `client_secret` in a form),
    /// each as sent and as RFC 6749 §2.3.1 form-decodes it.
    credentials: Vec<(String, String)>,
    json: Option<Value>,
}

impl Incoming {
    fn of(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Incoming {
        let mut query: Vec<String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect();
        query.sort();
        query.dedup();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let form = content_type
            .starts_with("application/x-www-form-urlencoded")
            .then(|| {
                let mut keys: Vec<String> = form_urlencoded::parse(body)
                    .map(|(k, _)| k.into_owned())
                    .collect();
                keys.sort();
                keys.dedup();
                keys
            });
        let values = if form.is_some() {
            form_urlencoded::parse(body)
                .filter(|(k, _)| cassette::ENUM_FIELDS.contains(&k.as_ref()))
                .map(|(k, v)| (k.into_owned(), crate::redact::shorten(&v, 200)))
                .collect()
        } else {
            BTreeMap::new()
        };
        let mut credentials = Vec::new();
        let basic = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b.trim()).ok()
            })
            .and_then(|bytes| String::from_utf8(bytes).ok());
        if let Some((id, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) {
            let decoded = |s: &str| {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            credentials.push((id.to_string(), secret.to_string()));
            credentials.push((decoded(id), decoded(secret)));
        }
        if form.is_some() {
            let field = |name: &str| {
                form_urlencoded::parse(body)
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            };
            if let (Some(id), Some(secret)) = (field("client_id"), field("client_secret")) {
                credentials.push((id, secret));
            }
        }
        let json = serde_json::from_slice::<Value>(body)
            .ok()
            .filter(|_| content_type.contains("json"))
            .map(|v| cassette::json_shape(&v));
        Incoming {
            method: method.as_str().to_string(),
            path: uri.path().to_string(),
            query,
            headers: headers.keys().map(|k| k.as_str().to_string()).collect(),
            form,
            values,
            credentials,
            json,
        }
    }

    /// The whole shape: what a case's next step must match.
    fn matches(&self, r: &RequestShape) -> bool {
        self.fits(r) && self.same_query(r) && self.same_headers(r)
    }

    /// Method, path and body shape: what any client's request must share with a recorded one.
    fn fits(&self, r: &RequestShape) -> bool {
        let body = match r.body.as_str() {
            "form" => self.form.as_ref() == Some(&r.form),
            "json" => self.json.is_some() && self.json == r.json,
            _ => true,
        };
        self.method == r.method && self.path == r.path && body
    }

    fn same_values(&self, r: &RequestShape) -> bool {
        self.values == r.values
    }

    fn same_query(&self, r: &RequestShape) -> bool {
        self.query == r.query
    }

    fn same_headers(&self, r: &RequestShape) -> bool {
        r.headers.iter().all(|h| self.headers.contains(h))
    }

    /// Whether `step`'s answer is the one its credentials call for: a refusal of the client
    /// (401) for a wrong secret, anything else for the replay's own. True when it sent none.
    fn credentials_fit(&self, known: &[(String, String)], step: &Step) -> bool {
        if self.credentials.is_empty() {
            return true;
        }
        let right = self.credentials.iter().any(|c| known.contains(c));
        right == (step.response.status != 401)
    }

    fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

async fn serve_request(
    State(replay): State<Arc<Replay>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = Incoming::of(&method, &uri, &headers, &body);
    let case = headers
        .get(crate::http::CASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            form_urlencoded::parse(format!("c={v}").as_bytes())
                .next()
                .map(|(_, c)| c.into_owned())
                .unwrap_or_default()
        });
    match case {
        Some(case) => by_case(&replay, &case, &incoming),
        None => by_shape(&replay, &incoming),
    }
}

fn by_case(replay: &Replay, case: &str, incoming: &Incoming) -> Response {
    let Some(tape) = replay.tapes.get(case) else {
        return not_recorded(
            Some(case),
            incoming,
            "the recording has no such case".into(),
        );
    };
    let Ok(mut next) = tape.next.lock() else {
        return not_recorded(Some(case), incoming, "the replay failed".into());
    };
    let at = *next;
    if let Some(step) = tape.steps.get(at).filter(|s| incoming.matches(&s.request)) {
        *next = at + 1;
        return answer(step);
    }
    // The case runs again from its start (another run against the same replay).
    if let Some(step) = tape.steps.first().filter(|s| incoming.matches(&s.request)) {
        *next = 1;
        return answer(step);
    }
    let why = match tape.steps.get(at) {
        Some(s) => format!(
            "the recording's next request of this case is {} {} ({}), with another shape",
            s.request.method, s.request.path, s.step
        ),
        None => format!(
            "the recording has no more requests of this case ({} recorded)",
            tape.steps.len()
        ),
    };
    not_recorded(Some(case), incoming, why)
}

/// A request that names no case: the one kind of answer the recording has for it, or 599.
fn by_shape(replay: &Replay, incoming: &Incoming) -> Response {
    let mut found: Vec<(&str, &Step)> = replay
        .tapes
        .iter()
        .flat_map(|(test, tape)| {
            tape.steps
                .iter()
                .filter(|s| incoming.fits(&s.request))
                .map(move |s| (test.as_str(), s))
        })
        .collect();
    if found.is_empty() {
        return not_recorded(
            None,
            incoming,
            "no recorded request has this method, path and body shape".into(),
        );
    }
    // Another client may send other headers or query parameters: each narrows the choice only
    // where some recorded request has it too.
    // Its credentials, against the replay's own, tell a wrong secret's 401 from an answer.
    let known = replay.credentials.get().map_or(&[][..], Vec::as_slice);
    let narrowers: [&dyn Fn(&Step) -> bool; 4] = [
        &|s| incoming.same_values(&s.request),
        &|s| incoming.credentials_fit(known, s),
        &|s| incoming.same_query(&s.request),
        &|s| incoming.same_headers(&s.request),
    ];
    for narrower in narrowers {
        let kept: Vec<(&str, &Step)> = found.iter().filter(|(_, s)| narrower(s)).copied().collect();
        if !kept.is_empty() {
            found = kept;
        }
    }
    found.sort_by(|a, b| a.0.cmp(b.0).then(a.1.step.cmp(&b.1.step)));
    let (test, first) = found[0];
    if found.iter().all(|(_, s)| same_kind(s, first)) {
        let mut response = answer(first);
        if let Ok(v) = HeaderValue::from_str(test) {
            response.headers_mut().insert(REPLAYED_FROM, v);
        }
        return response;
    }
    let mut kinds: Vec<String> = Vec::new();
    for (test, s) in &found {
        let status = s.response.status;
        if !kinds
            .iter()
            .any(|k| k.starts_with(&format!("status {status} ")))
        {
            kinds.push(format!("status {status} (case {test})"));
        }
    }
    not_recorded(
        None,
        incoming,
        format!(
            "ambiguous: {} recorded requests fit this one with different answers: {}; send {} naming the case",
            found.len(),
            kinds.into_iter().take(5).collect::<Vec<_>>().join(", "),
            crate::http::CASE_HEADER
        ),
    )
}

/// The header naming the recorded case a best-effort answer came from.
pub const REPLAYED_FROM: &str = "x-tokenconf-replayed-from";

/// The same kind of answer: status, and the body's shape (tokens differ from case to case).
fn same_kind(a: &Step, b: &Step) -> bool {
    let (a, b) = (&a.response, &b.response);
    a.status == b.status
        && a.json.as_ref().map(cassette::json_shape) == b.json.as_ref().map(cassette::json_shape)
        && a.text.is_some() == b.text.is_some()
}

/// Headers the server computes itself.
const NOT_REPLAYED: &[&str] = &["content-length", "transfer-encoding", "connection"];

fn answer(step: &Step) -> Response {
    let r = &step.response;
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match (&r.json, &r.text) {
        (Some(v), _) => serde_json::to_vec(&resigned(v)).unwrap_or_default(),
        (None, Some(t)) => t.as_bytes().to_vec(),
        (None, None) => Vec::new(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (k, v) in &r.headers {
        if NOT_REPLAYED.contains(&k.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v))
        {
            headers.append(name, value);
        }
    }
    response
}

/// A Salesforce token response signed again with the replay's client secret (the mock's): the
/// recorded signature was replaced like every credential, and the client verifies it.
fn resigned(v: &Value) -> Value {
    use hmac::{Hmac, Mac};
    let (Some(id), Some(issued_at)) = (
        v.get("id").and_then(Value::as_str),
        v.get("issued_at").and_then(Value::as_str),
    ) else {
        return v.clone();
    };
    if v.get("signature").is_none() {
        return v.clone();
    }
    let secret = super::SalesforceConfig::default().client_secret;
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return v.clone();
    };
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    let mut out = v.clone();
    out["signature"] = Value::String(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mac.finalize().into_bytes(),
    ));
    out
}

fn not_recorded(case: Option<&str>, incoming: &Incoming, why: String) -> Response {
    let status = StatusCode::from_u16(NOT_RECORDED).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "error": "not_recorded",
        "case": case,
        "request": incoming.line(),
        "error_description": why,
    });
    (status, axum::Json(body)).into_response()
}
