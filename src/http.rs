//! Building and sending requests: one shared client per run; redirects are never followed.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::suite::template::Scope;
use crate::suite::{Auth, Body, Request, UrlTemplate};

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
}

impl Sent {
    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn grant_type(&self) -> Option<&str> {
        self.form_value("grant_type")
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
    pub elapsed: Duration,
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
#[derive(Debug, Clone)]
pub enum SendError {
    /// A template needs a value the target does not supply: the case is skipped.
    Missing(String),
    /// The request could not be built from its rendered parts.
    Invalid(String),
    /// DNS, TLS, connect, timeout, reset, an oversized body: an error, not a conformance failure.
    Transport(String),
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Larger bodies are an error rather than a memory hazard.
    pub max_body: usize,
    /// Off for the in-process mock, so a proxy in the environment never sees loopback traffic.
    pub use_env_proxy: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_body: 8 * 1024 * 1024,
            use_env_proxy: true,
        }
    }
}

pub struct Http {
    client: reqwest::Client,
    max_body: usize,
}

impl Http {
    pub fn new(options: &HttpOptions) -> Result<Http, String> {
        // Several builds may race to install; the first wins and the others are equivalent.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .user_agent(concat!("tokenconf/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true);
        if !options.use_env_proxy {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))?;
        Ok(Http {
            client,
            max_body: options.max_body,
        })
    }

    /// Renders `request` with `scope`, sends it to `base_url`, reads the whole (capped) response.
    pub async fn send(
        &self,
        base_url: &str,
        request: &Request,
        scope: &Scope<'_>,
    ) -> Result<(Sent, Received), SendError> {
        let render =
            |t: &crate::suite::template::Template| t.render(scope).map_err(SendError::Missing);
        let url = match &request.url {
            UrlTemplate::Path(p) => format!("{}{}", base_url.trim_end_matches('/'), render(p)?),
            UrlTemplate::Absolute(u) => render(u)?,
        };
        let mut url = reqwest::Url::parse(&url)
            .map_err(|e| SendError::Invalid(format!("{url:?} is not a URL: {e}")))?;
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &request.query {
                pairs.append_pair(k, &render(v)?);
            }
        }
        let mut sent = Sent {
            method: request.method.to_string(),
            url: url.to_string(),
            ..Default::default()
        };
        let mut builder = self.client.request(request.method.clone(), url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), render(value)?);
        }
        match &request.auth {
            Some(Auth::Basic { user, password }) => {
                builder = builder.header(
                    "authorization",
                    basic_header(&render(user)?, &render(password)?),
                );
                sent.basic_auth = true;
            }
            Some(Auth::Bearer(token)) => {
                let token = render(token)?;
                builder = builder.header("authorization", format!("Bearer {token}"));
                sent.bearer_token = Some(token);
            }
            None => {}
        }
        match &request.body {
            Some(Body::Form(fields)) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for (k, v) in fields {
                    let v = render(v)?;
                    form.append_pair(k, &v);
                    sent.form.push((k.clone(), v));
                }
                if sent.client_id.is_none() {
                    sent.client_id = sent.form_value("client_id").map(str::to_string);
                }
                builder = builder
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form.finish());
            }
            Some(Body::Json(json)) => {
                let value = json.render(scope).map_err(SendError::Missing)?;
                let text = serde_json::to_string(&value).unwrap_or_default();
                builder = builder
                    .header("content-type", "application/json")
                    .body(text);
                sent.json = Some(value);
            }
            Some(Body::Raw(raw)) => builder = builder.body(render(raw)?),
            None => {}
        }
        if let Some(t) = request.timeout {
            builder = builder.timeout(t);
        }
        let started = Instant::now();
        let mut response = builder
            .send()
            .await
            .map_err(|e| SendError::Transport(transport_message(&e)))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            SendError::Transport(format!("reading the body: {}", transport_message(&e)))
        })? {
            if body.len() + chunk.len() > self.max_body {
                return Err(SendError::Transport(format!(
                    "the response body is larger than {} bytes",
                    self.max_body
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let json = serde_json::from_slice(&body).ok();
        Ok((
            sent,
            Received {
                status,
                headers,
                body,
                json,
                elapsed: started.elapsed(),
            },
        ))
    }
}

/// RFC 6749 §2.3.1: form-urlencode id and secret before joining them with `:` and base64.
pub fn basic_header(user: &str, password: &str) -> String {
    let user: String = form_urlencoded::byte_serialize(user.as_bytes()).collect();
    let password: String = form_urlencoded::byte_serialize(password.as_bytes()).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else {
        "request failed"
    };
    format!("{kind}: {}", error_chain(e))
}

/// The error and its causes on one line (reqwest hides the useful part in the source chain).
fn error_chain(e: &dyn std::error::Error) -> String {
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
    fn basic_header_form_encodes_before_base64() {
        // RFC 6749 §2.3.1: "a b" becomes "a+b", ":" becomes "%3A".
        let h = basic_header("cli:ent", "s3cr et+%");
        let b64 = h.strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "cli%3Aent:s3cr+et%2B%25"
        );
    }
}
