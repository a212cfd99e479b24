//! Building and sending requests: one shared client per run; redirects are never followed.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::basic::BasicEncoding;
use crate::suite::template::{Scope, Template};
use crate::suite::{Auth, Body, Request, UrlTemplate};

pub mod json;
mod lean;

/// What was sent, as the rules need it. Holds secrets: never rendered in any report.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    pub method: String,
    pub url: String,
    pub form: Vec<(String, String)>,
    pub json: Option<Value>,
    /// The client authenticated with the `Authorization: Basic` header.
    pub basic_auth: bool,
    /// The user part of Basic credentials, or the `client_id` form field.
    pub client_id: Option<String>,
    /// The token sent as `Authorization: Bearer`.
    pub bearer_token: Option<String>,
    /// The `Authorization` value as sent (from `auth:` or `headers:`): masked in every report
    /// whatever its user part, since a server may echo it.
    pub authorization: Option<String>,
    /// The headers as sent (without [`CASE_HEADER`]), for showing a failing case's request
    /// (masked first: see `outcome::RequestSnapshot`).
    pub headers: Vec<(String, String)>,
    /// The body as sent, as text.
    pub body: Option<String>,
}

/// Names the case (or fixture) a request belongs to, sent only when a run is replayed
/// (`run --mock-replay`), so the replay server serves that case's recorded answers.
pub const CASE_HEADER: &str = "x-tokenconf-case";

impl Sent {
    /// A header as sent (the first of that name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn grant_type(&self) -> Option<&str> {
        self.form_value("grant_type")
    }

    /// Names of the headers sent (lower case, sorted, each once; without [`CASE_HEADER`]), for
    /// recordings: built when asked, not for every request.
    pub fn header_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.headers.iter().map(|(k, _)| k.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    pub status: u16,
    /// Names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// The members of `json` whose name repeats in their object, found while parsing it
    /// ([`json::parse`]); `None` when not looked for (a body that is not JSON, serde_json's raw
    /// value, an exchange built in a test), and the rule then reads them from `body`
    /// ([`json::duplicate_names`]).
    pub duplicate_names: Option<Vec<String>>,
    pub elapsed: Duration,
}

/// A request that got a response to check.
#[derive(Debug, Clone)]
pub struct Exchanged {
    pub sent: Sent,
    pub received: Received,
    /// Earlier attempts that were retried.
    pub retries: Vec<Retry>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Why a request got no response to check.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// A template needs a value the target does not supply: the case is skipped.
    #[error("the target does not supply `{0}`")]
    Missing(String),
    /// The request could not be built from its rendered parts.
    #[error("{0}")]
    Invalid(String),
    /// DNS, TLS, connect, timeout, reset, an oversized body: an error, not a conformance failure.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// How the way to the server failed, so reports can say so (JUnit's `type=`) without reading
/// the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// The connect or total timeout passed.
    Timeout,
    /// The connection was refused or could not be made.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed (an untrusted certificate, a protocol error).
    Tls,
    /// The server closed or reset the connection without a whole answer.
    Reset,
    /// The response body broke off or could not be read.
    Body,
    /// The response body was larger than the run accepts.
    TooLarge,
    /// 5xx or 429 on every attempt, or a `Retry-After` longer than the run waits.
    Status,
    /// Anything else the HTTP stack reports.
    Other,
}

impl TransportKind {
    /// The name reports use (JUnit's `<error type>`, summary.json).
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Timeout => "timeout",
            TransportKind::Connect => "connect",
            TransportKind::Dns => "dns",
            TransportKind::Tls => "tls",
            TransportKind::Reset => "reset",
            TransportKind::Body => "body",
            TransportKind::TooLarge => "too-large",
            TransportKind::Status => "status",
            TransportKind::Other => "transport",
        }
    }
}

/// A request that got no response: its kind, a one-line message, and the HTTP stack's error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub kind: TransportKind,
    /// What happened, with the causes on one line.
    pub message: String,
    /// The attempts before the last, when it was retried.
    pub retries: Vec<Retry>,
    /// The origin (`scheme://host:port`) the request went to, when known: one line for a
    /// target that cannot be reached instead of one error per case.
    pub origin: Option<String>,
    /// The request as it left, so an errored case shows what it sent like a failing one.
    /// Holds secrets: shown only through `outcome::RequestSnapshot` and the session's masking.
    pub sent: Option<Box<Sent>>,
    /// Shared, so an error can be kept in a retry record and still returned.
    #[source]
    cause: Option<Cause>,
}

/// The HTTP stack's error behind a [`TransportError`] (reqwest's, or the lean path's hyper or io).
type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync>;

impl TransportError {
    /// An error of `kind` that no error value explains (an oversized body, a 5xx every time).
    pub fn new(kind: TransportKind, message: impl Into<String>) -> TransportError {
        TransportError {
            kind,
            message: message.into(),
            retries: Vec::new(),
            origin: None,
            sent: None,
            cause: None,
        }
    }

    /// `e` classified by its type and source chain (see [`classify`]).
    fn from_reqwest(e: reqwest::Error, phase: Phase) -> TransportError {
        let kind = classify(&e, phase);
        let what = what_failed(kind);
        let message = match phase {
            Phase::Send => format!("{what}: {}", error_chain(&e)),
            Phase::Body => format!("reading the body: {what}: {}", error_chain(&e)),
        };
        TransportError {
            kind,
            message,
            retries: Vec::new(),
            origin: e.url().map(|u| u.origin().ascii_serialization()),
            sent: None,
            cause: Some(std::sync::Arc::new(e)),
        }
    }

    /// The last attempt's error after `retries`, its message followed by `more` (how many
    /// attempts it took, or why the run stopped waiting).
    fn giving_up(mut self, more: &str, retries: Vec<Retry>) -> TransportError {
        self.message = format!("{}{more}", self.message);
        self.retries = retries;
        self
    }

    fn after_sending(mut self, sent: Sent) -> TransportError {
        self.sent = Some(Box::new(sent));
        self
    }
}

/// The start of a transport error's message.
fn what_failed(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::Timeout => "timed out",
        TransportKind::Connect => "could not connect",
        TransportKind::Dns => "could not resolve the host",
        TransportKind::Tls => "TLS failed",
        TransportKind::Reset => "the connection was closed",
        TransportKind::Body => "broken response body",
        _ => "request failed",
    }
}

/// Where a reqwest error happened: before the response head, or while reading its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Send,
    Body,
}

/// The kind of a reqwest error, from reqwest's own tests and the types in its source chain
/// (rustls, hyper, io), never from message text.
fn classify(e: &reqwest::Error, phase: Phase) -> TransportKind {
    if e.is_timeout() {
        return TransportKind::Timeout;
    }
    if e.is_dns() {
        return TransportKind::Dns;
    }
    if let Some(kind) = std::error::Error::source(e).and_then(|s| classify_source(s, phase)) {
        return kind;
    }
    if e.is_connect() {
        TransportKind::Connect
    } else if phase == Phase::Body || e.is_body() || e.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Other
    }
}

/// The kind an error chain starting at `first` shows by its types (rustls, hyper, io).
fn classify_source(
    first: &(dyn std::error::Error + 'static),
    phase: Phase,
) -> Option<TransportKind> {
    let mut source = Some(first);
    while let Some(s) = source {
        if s.is::<rustls::Error>() {
            return Some(TransportKind::Tls);
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(kind) = classify_io(io) {
                return Some(kind);
            }
            // An io::Error's source() skips the error it wraps (rustls's, or another io::Error):
            // go on with that one.
            if let Some(inner) = io.get_ref() {
                source = Some(inner);
                continue;
            }
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            // The server hung up before a whole answer: before the head a reset, inside
            // the body a broken body.
            if h.is_incomplete_message() {
                return Some(match phase {
                    Phase::Send => TransportKind::Reset,
                    Phase::Body => TransportKind::Body,
                });
            }
        }
        source = s.source();
    }
    None
}

/// The kind an io error's own kind names, if any.
fn classify_io(io: &std::io::Error) -> Option<TransportKind> {
    use std::io::ErrorKind as Io;
    match io.kind() {
        Io::TimedOut => Some(TransportKind::Timeout),
        Io::ConnectionRefused
        | Io::HostUnreachable
        | Io::NetworkUnreachable
        | Io::AddrNotAvailable => Some(TransportKind::Connect),
        Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe => Some(TransportKind::Reset),
        _ => None,
    }
}

/// Retries only for transport errors, 5xx and 429; a token endpoint's other 4xx are answers.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts after the first; 0 turns retries off.
    pub max_retries: u32,
    /// The first backoff; each next one doubles, with full jitter, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A longer `Retry-After` is not waited for: the case errors instead.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Larger bodies are an error rather than a memory hazard.
    pub max_body: usize,
    /// Off for the in-process mock, so a proxy in the environment never sees loopback traffic.
    pub use_env_proxy: bool,
    pub retry: RetryPolicy,
    /// Requests per second to any one host, so a nightly run never trips a sandbox's limits.
    pub rate_per_second: Option<f64>,
    /// Extra trusted roots (PEM), merged with the system's.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Skip certificate verification: only with an explicit flag, and warned about on every run.
    pub insecure: bool,
    /// The only origins requests may go to (see [`crate::origin`]); empty allows any.
    pub allowed_origins: Vec<String>,
    /// Which client sends plain `http://` requests; see [`RequestPath`].
    pub request_path: RequestPath,
}

/// The client plain `http://` requests go through. `https://`, and every request when a proxy
/// is set in the environment, always go through reqwest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPath {
    /// hyper's HTTP/1.1 connections, kept alive and reused (`http/lean.rs`): less CPU per case.
    Lean,
    /// reqwest for everything, as before the lean path: `TOKENCONF_HTTP=reqwest`.
    Reqwest,
}

impl RequestPath {
    /// `TOKENCONF_HTTP=reqwest` chooses the old path; anything else, or nothing, the lean one.
    pub fn from_env() -> RequestPath {
        match std::env::var("TOKENCONF_HTTP") {
            Ok(v) if v.eq_ignore_ascii_case("reqwest") => RequestPath::Reqwest,
            _ => RequestPath::Lean,
        }
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_body: 8 * 1024 * 1024,
            use_env_proxy: true,
            retry: RetryPolicy::default(),
            rate_per_second: None,
            ca_cert_pem: None,
            allowed_origins: Vec::new(),
            insecure: false,
            request_path: RequestPath::from_env(),
        }
    }
}

type HostLimiter = governor::RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    governor::clock::DefaultClock,
>;

pub struct Http {
    client: reqwest::Client,
    max_body: usize,
    /// The limits a timeout names (`http.timeout_ms`, `http.connect_timeout_ms`).
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    limiter: Option<HostLimiter>,
    allowed_origins: Vec<String>,
    /// The run's DPoP keys and the nonces servers gave (RFC 9449).
    dpop: crate::dpop::Dpop,
    /// Plain `http://` requests go here when set (no proxy applies): see [`RequestPath`].
    lean: Option<lean::Lean>,
}

/// One retried attempt: why, and how long the harness waited before the next.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Retry {
    pub reason: String,
    /// What failed: `status` for a 5xx or 429, else how the transport failed.
    pub kind: TransportKind,
    #[serde(serialize_with = "millis")]
    pub waited: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

impl Http {
    pub fn new(options: &HttpOptions) -> Result<Http, String> {
        let lean = options.request_path == RequestPath::Lean && !proxy_in_env(options);
        let mut builder = client_builder(options)?.tcp_nodelay(true);
        if lean && only_plain_http(&options.allowed_origins) {
            // Nothing can reach reqwest's TLS (every origin is plain http, sent on the lean
            // path; any other is refused before sending): no trusted roots to load (3-4 ms).
            builder = builder.tls_certs_only([]);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))?;
        let limiter = match options.rate_per_second {
            Some(rate) if rate > 0.0 => {
                let period = Duration::try_from_secs_f64(1.0 / rate)
                    .map_err(|_| format!("the rate {rate}/s cannot be kept"))?;
                let quota = governor::Quota::with_period(period)
                    .ok_or("the rate must be above zero")?
                    .allow_burst(std::num::NonZeroU32::MIN);
                Some(governor::RateLimiter::keyed(quota))
            }
            _ => None,
        };
        Ok(Http {
            client,
            max_body: options.max_body,
            timeout: options.timeout,
            connect_timeout: options.connect_timeout,
            retry: options.retry.clone(),
            limiter,
            allowed_origins: options.allowed_origins.clone(),
            dpop: crate::dpop::Dpop::default(),
            lean: lean.then(lean::Lean::default),
        })
    }

    /// Renders `request` with `scope`, sends it to `base_url` (retrying as the policy allows),
    /// and reads the whole (capped) response. `basic` is how the API wants `auth: basic` built.
    pub async fn send(
        &self,
        base_url: &str,
        basic: BasicEncoding,
        request: &Request,
        scope: &Scope<'_>,
    ) -> Result<Exchanged, SendError> {
        self.send_tagged(base_url, basic, request, scope, None)
            .await
    }

    /// The thumbprint of the run's DPoP key, or of the target's `dpop_key` (`{{ dpop.jkt }}`).
    pub fn dpop_jkt(&self, key_pem: Option<&str>) -> Result<String, String> {
        self.dpop.jkt(key_pem)
    }

    /// [`Http::send`], with a [`CASE_HEADER`] naming `case` when it is given. A DPoP request
    /// the server answers with `use_dpop_nonce` is sent once more with its nonce (RFC 9449 §8).
    pub async fn send_tagged(
        &self,
        base_url: &str,
        basic: BasicEncoding,
        request: &Request,
        scope: &Scope<'_>,
        case: Option<&str>,
    ) -> Result<Exchanged, SendError> {
        let first = self
            .send_once(base_url, basic, request, scope, case)
            .await?;
        if request.dpop.is_none() {
            return Ok(first);
        }
        let settled = |e: &Exchanged| {
            if request.dpop.as_deref() == Some("valid") {
                if let Some(proof) = e.sent.header("dpop") {
                    self.dpop.answered(&e.sent.method, &e.sent.url, proof);
                }
            }
        };
        let r = &first.received;
        let error = r
            .json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(Value::as_str);
        let asked = crate::dpop::nonce_asked(
            r.status,
            error,
            r.header("www-authenticate"),
            r.header("dpop-nonce"),
        );
        if let Some(nonce) = r.header("dpop-nonce") {
            self.dpop.remember_nonce(&first.sent.url, nonce);
        }
        // A `no_nonce` proof is the §11.3 test itself: its refusal is the answer, not retried.
        if asked.is_none() || request.dpop.as_deref() == Some("no_nonce") {
            settled(&first);
            return Ok(first);
        }
        let mut again = self
            .send_once(base_url, basic, request, scope, case)
            .await?;
        if let Some(nonce) = again.received.header("dpop-nonce") {
            self.dpop.remember_nonce(&again.sent.url, nonce);
        }
        settled(&again);
        let mut retries = first.retries;
        retries.append(&mut again.retries);
        again.retries = retries;
        Ok(again)
    }

    async fn send_once(
        &self,
        base_url: &str,
        basic: BasicEncoding,
        request: &Request,
        scope: &Scope<'_>,
        case: Option<&str>,
    ) -> Result<Exchanged, SendError> {
        let (mut sent, mut prepared) = self.prepare(base_url, basic, request, scope)?;
        sent.headers = prepared
            .headers()
            .iter()
            .map(|(k, v)| {
                let value = crate::redact::decode_text(v.as_bytes()).into_owned();
                (k.as_str().to_string(), value)
            })
            .collect();
        sent.body = prepared
            .body()
            .and_then(|b| b.as_bytes())
            .filter(|b| !b.is_empty())
            .map(|b| crate::redact::decode_text(b).into_owned());
        if let Some(case) = case {
            // Test names are ASCII in practice; anything else is percent-encoded to stay a
            // valid header value.
            let value: String = form_urlencoded::byte_serialize(case.as_bytes()).collect();
            if let Ok(value) = reqwest::header::HeaderValue::from_str(&value) {
                prepared.headers_mut().insert(CASE_HEADER, value);
            }
        }
        // The rate limiter's key, made only when there is one.
        let host = (self.limiter.as_ref())
            .map(|_| prepared.url().host_str().unwrap_or_default().to_string());
        let mut retries: Vec<Retry> = Vec::new();
        loop {
            if let (Some(limiter), Some(host)) = (&self.limiter, &host) {
                limiter.until_key_ready(host).await;
            }
            let attempt = prepared.try_clone().ok_or_else(|| {
                SendError::Invalid("the request body cannot be sent twice".into())
            })?;
            let result = self.execute(attempt).await;
            let (failure, retry_after) = match &result {
                Ok(r) if r.status == 429 || r.status >= 500 => (
                    TransportError::new(TransportKind::Status, format!("status {}", r.status)),
                    retry_after(r),
                ),
                Ok(_) => break self.finish(sent, result, retries),
                Err(SendError::Transport(e)) => (e.clone(), None),
                Err(_) => break self.finish(sent, result, retries),
            };
            let n = retries.len() as u32;
            if n >= self.retry.max_retries {
                if n > 0 {
                    let note = format!(" after {} attempts", n + 1);
                    return Err(failure.giving_up(&note, retries).after_sending(sent).into());
                }
                break self.finish(sent, result, retries);
            }
            let wait = match retry_after {
                Some(w) if w > self.retry.max_retry_after => {
                    let note = format!(
                        " with Retry-After {} s, longer than the {} s the run waits",
                        w.as_secs(),
                        self.retry.max_retry_after.as_secs()
                    );
                    return Err(failure.giving_up(&note, retries).after_sending(sent).into());
                }
                Some(w) => w,
                None => backoff(&self.retry, n),
            };
            retries.push(Retry {
                reason: crate::redact::shorten(&failure.message, 300),
                kind: failure.kind,
                waited: wait,
            });
            tokio::time::sleep(wait).await;
        }
    }

    /// The request `send` would make, not sent: what a browser login opens.
    pub fn prepare_only(
        &self,
        base_url: &str,
        basic: BasicEncoding,
        request: &Request,
        scope: &Scope<'_>,
    ) -> Result<Sent, SendError> {
        self.prepare(base_url, basic, request, scope)
            .map(|(sent, _)| sent)
    }

    fn finish(
        &self,
        sent: Sent,
        result: Result<Received, SendError>,
        retries: Vec<Retry>,
    ) -> Result<Exchanged, SendError> {
        match result {
            Ok(received) => Ok(Exchanged {
                sent,
                received,
                retries,
            }),
            Err(SendError::Transport(e)) => Err(e.after_sending(sent).into()),
            Err(e) => Err(e),
        }
    }

    fn prepare(
        &self,
        base_url: &str,
        basic: BasicEncoding,
        request: &Request,
        scope: &Scope<'_>,
    ) -> Result<(Sent, reqwest::Request), SendError> {
        let render = |t: &Template| t.render(scope).map_err(SendError::Missing);
        // Borrowed where only read: most templates are plain text or one name.
        let read = |t| Template::render_cow(t, scope).map_err(SendError::Missing);
        let mut url = match &request.url {
            UrlTemplate::Path(p) => {
                crate::origin::join(base_url, &read(p)?).map_err(SendError::Invalid)?
            }
            UrlTemplate::Absolute(u) => {
                let url = render(u)?;
                reqwest::Url::parse(&url).map_err(|e| {
                    SendError::Invalid(format!("the step's `url:`, rendered, is not a URL: {e}"))
                })?
            }
        };
        // Before any header, body or credential is attached: nothing leaves for another origin.
        crate::origin::check(&url, &self.allowed_origins).map_err(SendError::Invalid)?;
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &request.query {
                pairs.append_pair(k, &read(v)?);
            }
        }
        let mut sent = Sent {
            method: request.method.to_string(),
            url: url.to_string(),
            ..Default::default()
        };
        let mut builder = self.client.request(request.method.clone(), url);
        for (name, value) in &request.headers {
            let value = render(value)?;
            if name.eq_ignore_ascii_case("authorization") {
                sent.authorization = Some(value.clone());
            }
            builder = builder.header(name.as_str(), value);
        }
        // Client authentication that travels in the form body.
        let mut auth_fields: Vec<(String, String)> = Vec::new();
        match &request.auth {
            Some(Auth::Basic { user, password }) => {
                let user = render(user)?;
                let value = crate::basic::basic_header_with(basic, &user, &read(password)?);
                builder = builder.header("authorization", &value);
                sent.authorization = Some(value);
                sent.basic_auth = true;
                sent.client_id = Some(user);
            }
            Some(Auth::Post {
                client_id,
                client_secret,
            }) => {
                auth_fields.push(("client_id".into(), render(client_id)?));
                auth_fields.push(("client_secret".into(), render(client_secret)?));
            }
            Some(Auth::PrivateKeyJwt {
                client_id,
                assertion,
            }) => {
                if let Some(id) = client_id {
                    auth_fields.push(("client_id".into(), render(id)?));
                }
                auth_fields.push(("client_assertion_type".into(), CLIENT_ASSERTION_TYPE.into()));
                auth_fields.push(("client_assertion".into(), render(assertion)?));
            }
            Some(Auth::Bearer(token)) => {
                let token = render(token)?;
                // A DPoP-bound token travels under its own scheme (RFC 9449 §7.1).
                let scheme = if request.dpop.is_some() {
                    "DPoP"
                } else {
                    "Bearer"
                };
                let value = format!("{scheme} {token}");
                builder = builder.header("authorization", &value);
                sent.authorization = Some(value);
                sent.bearer_token = Some(token);
            }
            None => {}
        }
        match &request.body {
            Some(Body::Form(fields)) => {
                for (k, v) in fields {
                    sent.form.push((k.clone(), render(v)?));
                }
            }
            Some(Body::Json(json)) => {
                if !auth_fields.is_empty() {
                    return Err(SendError::Invalid(
                        "client_secret_post and private_key_jwt send form fields: use `form:`, not `json:`".into(),
                    ));
                }
                let value = json.render(scope).map_err(SendError::Missing)?;
                let text = serde_json::to_string(&value).unwrap_or_default();
                builder = builder
                    .header("content-type", "application/json")
                    .body(text);
                sent.json = Some(value);
            }
            Some(Body::Raw(raw)) => {
                if !auth_fields.is_empty() {
                    return Err(SendError::Invalid(
                        "client_secret_post and private_key_jwt send form fields: use `form:`, not `body:`".into(),
                    ));
                }
                builder = builder.body(render(raw)?);
            }
            None => {}
        }
        let is_form = matches!(request.body, Some(Body::Form(_))) || !auth_fields.is_empty();
        if is_form {
            sent.form.extend(auth_fields);
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &sent.form {
                form.append_pair(k, v);
            }
            if sent.client_id.is_none() {
                sent.client_id = sent.form_value("client_id").map(str::to_string);
            }
            builder = builder
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.finish());
        }
        if let Some(variant) = &request.dpop {
            let proof = self
                .dpop
                .proof(&crate::dpop::ProofRequest {
                    variant,
                    method: &sent.method,
                    url: &sent.url,
                    access_token: sent.bearer_token.as_deref(),
                    key_pem: scope.get(crate::dpop::KEY_VAR),
                })
                .map_err(SendError::Invalid)?;
            builder = builder.header("dpop", proof);
        }
        if let Some(t) = request.timeout {
            builder = builder.timeout(t);
        }
        let prepared = builder.build().map_err(|e| {
            SendError::Invalid(format!("cannot build the request: {}", error_chain(&e)))
        })?;
        Ok((sent, prepared))
    }

    async fn execute(&self, request: reqwest::Request) -> Result<Received, SendError> {
        match &self.lean {
            Some(lean) if request.url().scheme() == "http" => {
                self.execute_lean(lean, request).await
            }
            _ => self.execute_reqwest(request).await,
        }
    }

    /// [`Http::execute`] on the lean path, with reqwest's timeouts: the connect timeout for
    /// connecting, the step's or the target's total timeout around the whole exchange.
    async fn execute_lean(
        &self,
        lean: &lean::Lean,
        mut request: reqwest::Request,
    ) -> Result<Received, SendError> {
        let started = Instant::now();
        let step_timeout = request.timeout().copied();
        let exchange = lean.exchange(&mut request, self.connect_timeout, self.max_body);
        let result = tokio::time::timeout(step_timeout.unwrap_or(self.timeout), exchange).await;
        let url = request.url();
        let answer = match result {
            Ok(Ok(answer)) => answer,
            Ok(Err(failure)) => {
                let (error, connecting) = failure.into_error(url, self.max_body);
                return Err(self.name_the_limit(error, step_timeout, connecting).into());
            }
            Err(_) => {
                let sending = format!(
                    "timed out: error sending request for url ({url}): operation timed out"
                );
                let mut error = TransportError::new(TransportKind::Timeout, sending);
                error.origin = Some(url.origin().ascii_serialization());
                return Err(self.name_the_limit(error, step_timeout, false).into());
            }
        };
        let headers = answer
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    crate::redact::decode_text(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let (json, duplicate_names) = json::parse(&answer.body);
        Ok(Received {
            status: answer.status,
            headers,
            body: answer.body,
            json,
            duplicate_names,
            elapsed: started.elapsed(),
        })
    }

    async fn execute_reqwest(&self, request: reqwest::Request) -> Result<Received, SendError> {
        let started = Instant::now();
        let step_timeout = request.timeout().copied();
        let mut response = self.client.execute(request).await.map_err(|e| {
            // A request reqwest refuses to send (a scheme it cannot speak, a bad header)
            // fails the same way every time: not a transport error, never retried.
            if e.is_builder() {
                SendError::Invalid(format!("cannot send the request: {}", error_chain(&e)))
            } else {
                let connecting = e.is_connect();
                let error = TransportError::from_reqwest(e, Phase::Send);
                self.name_the_limit(error, step_timeout, connecting).into()
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    crate::redact::decode_text(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            let error = TransportError::from_reqwest(e, Phase::Body);
            self.name_the_limit(error, step_timeout, false)
        })? {
            if body.len() + chunk.len() > self.max_body {
                return Err(TransportError::new(
                    TransportKind::TooLarge,
                    format!("the response body is larger than {} bytes", self.max_body),
                )
                .into());
            }
            body.extend_from_slice(&chunk);
        }
        let (json, duplicate_names) = json::parse(&body);
        Ok(Received {
            status,
            headers,
            body,
            json,
            duplicate_names,
            elapsed: started.elapsed(),
        })
    }
}

impl Http {
    /// A timeout says which limit it hit and where that is set, so a user knows what to raise.
    fn name_the_limit(
        &self,
        mut error: TransportError,
        step_timeout: Option<Duration>,
        connecting: bool,
    ) -> TransportError {
        if error.kind != TransportKind::Timeout {
            return error;
        }
        let (limit, setting) = match step_timeout {
            Some(t) => (t, "the step's timeout_ms"),
            None if connecting => (self.connect_timeout, "http.connect_timeout_ms"),
            None => (self.timeout, "http.timeout_ms"),
        };
        let after = format!("timed out after {} ({setting})", show_duration(limit));
        error.message = error.message.replacen("timed out", &after, 1);
        error
    }
}

/// `3 s`, or `1500 ms` when not whole seconds.
fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3).
fn retry_after(r: &Received) -> Option<Duration> {
    let value = r.header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Exponential backoff with full jitter: uniform in [0, min(max, base * 2^n)].
fn backoff(policy: &RetryPolicy, n: u32) -> Duration {
    let ceiling = policy
        .base_delay
        .saturating_mul(2u32.saturating_pow(n))
        .min(policy.max_delay);
    ceiling.mul_f64(fastrand::f64())
}

/// The certificates of a PEM bundle: at least one, each one parsed. Random bytes, an empty
/// file or a PEM key are errors, never silently no extra root.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut certs = Vec::new();
    let mut roots = rustls::RootCertStore::empty();
    for (n, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let der = item.map_err(|e| format!("the CA file is not valid PEM: {e}"))?;
        // Parsed as a trust anchor now, so a broken certificate is found before any request.
        roots
            .add(der.clone())
            .map_err(|e| format!("certificate {} in the CA file cannot be used: {e}", n + 1))?;
        let cert = reqwest::Certificate::from_der(&der)
            .map_err(|e| format!("certificate {} in the CA file: {}", n + 1, error_chain(&e)))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err("the CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}

/// A client as the run's sends: no redirects, the target's timeouts, trusted roots, TLS and
/// proxy choices. Discovery builds its own from the same options.
pub(crate) fn client_builder(options: &HttpOptions) -> Result<reqwest::ClientBuilder, String> {
    // Several builds may race to install; the first wins and the others are equivalent.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(options.connect_timeout)
        .timeout(options.timeout)
        .user_agent(concat!("tokenconf/", env!("CARGO_PKG_VERSION")));
    // NO_PROXY=* means no proxy for any host, IP literals included (curl's rule).
    let no_proxy_all = ["NO_PROXY", "no_proxy"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| v.trim() == "*"));
    if !options.use_env_proxy || no_proxy_all {
        builder = builder.no_proxy();
    }
    if let Some(pem) = &options.ca_cert_pem {
        builder = builder.tls_certs_merge(certificates_from_pem(pem)?);
    }
    if options.insecure {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    Ok(builder)
}

/// Whether every origin a run may send to is given and plain `http://`.
fn only_plain_http(origins: &[String]) -> bool {
    !origins.is_empty() && origins.iter().all(|o| o.starts_with("http://"))
}

/// Whether reqwest would send through a proxy from the environment (`HTTP_PROXY`, `ALL_PROXY`):
/// then the lean path, which speaks no proxy, is not used at all.
fn proxy_in_env(options: &HttpOptions) -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let no_proxy_all = ["NO_PROXY", "no_proxy"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| v.trim() == "*"));
    options.use_env_proxy
        && !no_proxy_all
        && ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
            .iter()
            .any(|k| set(k))
}

/// An error and its causes on one line, each once, joined with `: ` (reqwest hides the useful
/// part in the source chain).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let p = RetryPolicy::default();
        for n in 0..10 {
            let ceiling = p.base_delay.saturating_mul(2u32.pow(n)).min(p.max_delay);
            for _ in 0..20 {
                assert!(backoff(&p, n) <= ceiling);
            }
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut r = Received {
            status: 503,
            headers: vec![("retry-after".into(), "7".into())],
            body: Vec::new(),
            json: None,
            duplicate_names: None,
            elapsed: Duration::ZERO,
        };
        assert_eq!(retry_after(&r), Some(Duration::from_secs(7)));
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        r.headers[0].1 = httpdate::fmt_http_date(later);
        let d = retry_after(&r).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        r.headers[0].1 = "soon".into();
        assert_eq!(retry_after(&r), None);
    }

    /// A self-signed test-only CA (no key kept anywhere): enough to parse, trusts nothing real.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBmjCCAT+gAwIBAgIUILfLsVNnjoSwFmeaCWnzWUQ/BucwCgYIKoZIzj0EAwIw\n\
ITEfMB0GA1UEAwwWdG9rZW5jb25mIHRlc3Qtb25seSBDQTAgFw0yNjExMjkwNDEy\n\
MzJaGA8yMTI2MTEwNTA0MTIzMlowITEfMB0GA1UEAwwWdG9rZW5jb25mIHRlc3Qt\n\
b25seSBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNNMCcE2bKW6yQ+Y6j0K\n\
dtNllAoCPKRT3F6f/3WiqKxp//CMbHj00xVqyeppfJXg3fPDy+ATVm8ftQoBvuMB\n\
KFejUzBRMB0GA1UdDgQWBBS2eOAAaeP41xWUcv60rMQvJdp8ATAfBgNVHSMEGDAW\n\
gBS2eOAAaeP41xWUcv60rMQvJdp8ATAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49\n\
BAMCA0kAMEYCIQCLBSFojPLF/1t2+vYdNrsL7YiKG26Ad8eLgR/Jy5rHhAIhALSw\n\
W88YVL1GgapMo9UXL4O5lEkD8oux1dXC6E3tFDb1\n\
-----END CERTIFICATE-----\n";

    #[test]
    fn a_ca_file_that_is_not_pem_certificates_is_an_error() {
        assert_eq!(certificates_from_pem(TEST_CA.as_bytes()).unwrap().len(), 1);
        let random: Vec<u8> = (0..2048u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let key = include_str!("mock/keys/ec-private.pem");
        let broken = TEST_CA.replace("MIIBmjCC", "MIIBmjXX");
        for (what, bytes) in [
            ("random bytes", random.as_slice()),
            ("an empty file", b"".as_slice()),
            ("a private key", key.as_bytes()),
            ("a broken certificate", broken.as_bytes()),
        ] {
            let e = certificates_from_pem(bytes).expect_err(what);
            assert!(e.contains("CA file"), "{what}: {e}");
            let options = HttpOptions {
                ca_cert_pem: Some(bytes.to_vec()),
                ..HttpOptions::default()
            };
            assert!(
                Http::new(&options).is_err(),
                "{what} is accepted as a CA file"
            );
        }
    }

    #[test]
    fn a_request_that_cannot_be_sent_is_not_retried() {
        let http = Http::new(&HttpOptions {
            use_env_proxy: false,
            retry: RetryPolicy {
                max_retries: 3,
                base_delay: Duration::from_millis(300),
                ..RetryPolicy::default()
            },
            ..HttpOptions::default()
        })
        .unwrap();
        let request = Request {
            method: reqwest::Method::GET,
            url: UrlTemplate::Absolute(Template::literal("ftp://127.0.0.1:9/token")),
            query: Vec::new(),
            headers: Vec::new(),
            auth: None,
            body: None,
            timeout: None,
            dpop: None,
        };
        let empty = crate::suite::template::Values::default();
        let scope = Scope {
            captures: &empty,
            base: &empty,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let started = Instant::now();
        let result = rt.block_on(http.send("", BasicEncoding::Form, &request, &scope));
        match result {
            Err(SendError::Invalid(why)) => assert!(!why.contains("attempts"), "{why}"),
            other => panic!("expected an invalid request, got {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
    }

    /// A server that records every request's bytes and how many connections it took, and
    /// answers each with a small JSON body, keeping the connection open.
    /// With `hang_up`, it closes each connection after its answer, without saying so.
    async fn recording_server(
        hang_up: bool,
    ) -> (u16, std::sync::Arc<std::sync::Mutex<(Vec<Vec<u8>>, usize)>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), 0)));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                record.lock().unwrap().1 += 1;
                let record = record.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |n| n.trim().parse().unwrap());
                        while buf.len() < end + 4 + length {
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let request: Vec<u8> = buf.drain(..end + 4 + length).collect();
                        record.lock().unwrap().0.push(request);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
                        if stream.write_all(answer).await.is_err() || hang_up {
                            return;
                        }
                    }
                });
            }
        });
        (port, seen)
    }

    #[test]
    fn the_lean_path_sends_the_bytes_reqwest_sends_on_one_kept_connection() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let empty = crate::suite::template::Values::default();
        let scope = Scope {
            captures: &empty,
            base: &empty,
        };
        let mut sent_by = Vec::new();
        for path in [RequestPath::Lean, RequestPath::Reqwest] {
            let (port, seen) = rt.block_on(recording_server(false));
            let http = Http::new(&HttpOptions {
                use_env_proxy: false,
                request_path: path,
                ..HttpOptions::default()
            })
            .unwrap();
            assert_eq!(http.lean.is_some(), path == RequestPath::Lean);
            let request = Request {
                method: reqwest::Method::POST,
                url: UrlTemplate::Absolute(Template::literal(&format!(
                    "http://127.0.0.1:{port}/token?x=1#part"
                ))),
                query: vec![("q".into(), Template::literal("a b"))],
                headers: vec![("x-extra".into(), Template::literal("1"))],
                auth: Some(Auth::Basic {
                    user: Template::literal("client"),
                    password: Template::literal("pw"),
                }),
                body: Some(Body::Form(vec![(
                    "grant_type".into(),
                    Template::literal("client_credentials"),
                )])),
                timeout: None,
                dpop: None,
            };
            for _ in 0..3 {
                let got = rt
                    .block_on(http.send("", BasicEncoding::Form, &request, &scope))
                    .unwrap();
                assert_eq!(got.received.status, 200);
                assert_eq!(got.received.json, Some(serde_json::json!({"ok": true})));
            }
            let seen = seen.lock().unwrap();
            assert_eq!(seen.1, 1, "{path:?}: one connection for three requests");
            assert_eq!(seen.0.len(), 3);
            // The port aside (one server per path).
            let bytes =
                String::from_utf8_lossy(&seen.0.concat()).replace(&port.to_string(), "PORT");
            sent_by.push(bytes);
        }
        assert_eq!(
            sent_by[0], sent_by[1],
            "the lean path sends other bytes than reqwest"
        );
    }

    #[test]
    fn the_lean_path_opens_a_new_connection_when_the_server_closed_the_kept_one() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let empty = crate::suite::template::Values::default();
        let scope = Scope {
            captures: &empty,
            base: &empty,
        };
        let (port, seen) = rt.block_on(recording_server(true));
        let http = Http::new(&HttpOptions {
            use_env_proxy: false,
            request_path: RequestPath::Lean,
            retry: RetryPolicy::none(),
            ..HttpOptions::default()
        })
        .unwrap();
        let request = Request {
            method: reqwest::Method::GET,
            url: UrlTemplate::Absolute(Template::literal(&format!("http://127.0.0.1:{port}/x"))),
            query: Vec::new(),
            headers: Vec::new(),
            auth: None,
            body: None,
            timeout: None,
            dpop: None,
        };
        for n in 0..3 {
            let got = rt.block_on(http.send("", BasicEncoding::Form, &request, &scope));
            assert_eq!(
                got.map(|e| e.received.status).ok(),
                Some(200),
                "request {n}"
            );
            // Let the connection's task see the close before the next request (or not: both
            // must work).
            if n == 1 {
                rt.block_on(async { tokio::time::sleep(Duration::from_millis(20)).await });
            }
        }
        assert_eq!(seen.lock().unwrap().1, 3);
    }
}
