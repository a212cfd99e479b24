//! The lean request path: plain `http://` without a proxy, on hyper's own HTTP/1.1 client
//! connections. reqwest's client adds, per request, a pool checkout under a lock, boxed futures,
//! URL-to-URI conversion and timeout wrappers; a conformance run sends thousands of small
//! requests to one origin, so each request here takes an idle kept-alive connection (or opens
//! one), sends the request reqwest built (same headers, same body type, so the same bytes), and
//! puts the connection back. TLS and proxies stay on reqwest (see [`super::Http::new`]).

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, ACCEPT, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use url::Position;

use super::{Phase, TransportError, TransportKind};

type Sender = SendRequest<reqwest::Body>;

/// An origin's idle connections, each with when it was put back.
type Idle = (String, Vec<(Sender, Instant)>);

/// Idle connections kept per origin: more than the run's default workers, fewer than a server's
/// limit.
const IDLE_PER_ORIGIN: usize = 64;

/// How long a connection may stay idle and still be taken (reqwest's default): past that, a
/// middlebox may have dropped it silently, and a request on it would wait out its timeout.
const IDLE_FOR_AT_MOST: Duration = Duration::from_secs(90);

#[derive(Default)]
pub(super) struct Lean {
    /// Idle connections by host and port; the lock is held only to push or pop one. A run talks
    /// to an origin or two: a list searched in order, with no hashing and no key to allocate.
    idle: Mutex<Vec<Idle>>,
}

/// How a lean request failed before its response head, or while reading the body.
pub(super) enum Failure {
    Dns(std::io::Error),
    Connect(std::io::Error),
    /// The connect timeout passed.
    ConnectTimeout,
    Hyper(hyper::Error, Phase),
    TooLarge,
}

/// A whole response from the lean path.
pub(super) struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Lean {
    /// Sends `request` (an `http://` URL) and reads its whole body, at most `max_body` bytes.
    /// Its headers and body are taken; its URL stays, for what reports a failure.
    pub(super) async fn exchange(
        &self,
        request: &mut reqwest::Request,
        connect_timeout: Duration,
        max_body: usize,
    ) -> Result<Answer, Failure> {
        // What reqwest and hyper-util add: the client's default headers when the request has
        // none of that name, then Host (without the default port), in that order.
        let (host_header, target) = host_and_target(request.url());
        let host_value = HeaderValue::from_str(host_header);
        let target = hyper::Uri::try_from(target)
            .map_err(|_| Failure::Connect(std::io::Error::other("the URL is not a valid URI")))?;
        let headers = request.headers_mut();
        headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(concat!(
                "tokenconf/",
                env!("CARGO_PKG_VERSION")
            )));
        if let Ok(v) = host_value {
            headers.entry(HOST).or_insert(v);
        }
        let mut message = hyper::Request::new(request.body_mut().take().unwrap_or_default());
        *message.method_mut() = request.method().clone();
        *message.uri_mut() = target;
        *message.headers_mut() = std::mem::take(request.headers_mut());

        let url = request.url();
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        // Host and port as the URL writes them: one origin, one key, with nothing allocated.
        let authority = host_and_target(url).0;
        let (response, sender) = self
            .send(message, host, port, authority, connect_timeout)
            .await?;
        let (head, mut body) = response.into_parts();
        let mut bytes = Vec::new();
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let frame = frame.map_err(|e| Failure::Hyper(e, Phase::Body))?;
            if let Ok(data) = frame.into_data() {
                if bytes.len() + data.len() > max_body {
                    return Err(Failure::TooLarge);
                }
                bytes.extend_from_slice(&data);
            }
        }
        self.put_back(authority, sender);
        Ok(Answer {
            status: head.status.as_u16(),
            headers: head.headers,
            body: bytes,
        })
    }

    /// Sends on an idle connection, or a new one. A request an idle connection could not take
    /// (the server closed it meanwhile) comes back unsent and goes on the next one.
    async fn send(
        &self,
        mut message: hyper::Request<reqwest::Body>,
        host: &str,
        port: u16,
        authority: &str,
        connect_timeout: Duration,
    ) -> Result<(hyper::Response<Incoming>, Sender), Failure> {
        loop {
            let idle = self.take(authority);
            let fresh = idle.is_none();
            let mut sender = match idle {
                Some(s) => s,
                None => connect(host, port, connect_timeout).await?,
            };
            if let Err(e) = sender.ready().await {
                if fresh {
                    return Err(Failure::Hyper(e, Phase::Send));
                }
                continue;
            }
            match sender.try_send_request(message).await {
                Ok(response) => return Ok((response, sender)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !fresh => message = unsent,
                    _ => return Err(Failure::Hyper(e.into_error(), Phase::Send)),
                },
            }
        }
    }

    fn take(&self, authority: &str) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let (_, list) = idle.iter_mut().find(|(a, _)| a == authority)?;
        while let Some((s, since)) = list.pop() {
            if !s.is_closed() && since.elapsed() < IDLE_FOR_AT_MOST {
                return Some(s);
            }
        }
        None
    }

    fn put_back(&self, authority: &str, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let at = match idle.iter().position(|(a, _)| a == authority) {
            Some(at) => at,
            None => {
                idle.push((authority.to_string(), Vec::new()));
                idle.len() - 1
            }
        };
        let list = &mut idle[at].1;
        if list.len() < IDLE_PER_ORIGIN {
            list.push((sender, Instant::now()));
        }
    }
}

/// The Host header's value (the host, and the port unless it is the scheme's) and the request
/// target (path and query, no fragment), as slices of `url`.
fn host_and_target(url: &url::Url) -> (&str, &str) {
    (
        &url[Position::BeforeHost..Position::AfterPort],
        &url[Position::BeforePath..Position::AfterQuery],
    )
}

/// A new connection: each address of `host` in turn within the connect timeout, no Nagle delay.
async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Sender, Failure> {
    let deadline = tokio::time::Instant::from(Instant::now() + timeout);
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>();
    let addrs: Vec<SocketAddr> = match literal {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => within(deadline, tokio::net::lookup_host((host, port)))
            .await?
            .map_err(Failure::Dns)?
            .collect(),
    };
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the host name resolved to no address",
    );
    if addrs.is_empty() {
        return Err(Failure::Dns(last));
    }
    for addr in addrs {
        match within(deadline, tokio::net::TcpStream::connect(addr)).await? {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| Failure::Hyper(e, Phase::Send))?;
                // The connection's own task; it ends when the sender is dropped or the peer closes.
                tokio::spawn(conn);
                return Ok(sender);
            }
            Err(e) => last = e,
        }
    }
    Err(Failure::Connect(last))
}

async fn within<T>(
    deadline: tokio::time::Instant,
    f: impl std::future::Future<Output = T>,
) -> Result<T, Failure> {
    tokio::time::timeout_at(deadline, f)
        .await
        .map_err(|_| Failure::ConnectTimeout)
}

impl Failure {
    /// As the reqwest path reports it: a kind, and the message's wording.
    pub(super) fn into_error(self, url: &reqwest::Url, max_body: usize) -> (TransportError, bool) {
        let sending = format!("error sending request for url ({url})");
        let (kind, phase, detail, connecting, cause): (_, _, _, _, Option<super::Cause>) =
            match self {
                Failure::Dns(e) => (
                    TransportKind::Dns,
                    Phase::Send,
                    super::error_chain(&e),
                    true,
                    Some(std::sync::Arc::new(e)),
                ),
                Failure::Connect(e) => (
                    super::classify_io(&e).unwrap_or(TransportKind::Connect),
                    Phase::Send,
                    super::error_chain(&e),
                    true,
                    Some(std::sync::Arc::new(e)),
                ),
                Failure::ConnectTimeout => (
                    TransportKind::Timeout,
                    Phase::Send,
                    "operation timed out".into(),
                    true,
                    None,
                ),
                Failure::Hyper(e, phase) => (
                    super::classify_source(&e, phase).unwrap_or(match phase {
                        Phase::Send => TransportKind::Other,
                        Phase::Body => TransportKind::Body,
                    }),
                    phase,
                    super::error_chain(&e),
                    false,
                    Some(std::sync::Arc::new(e)),
                ),
                Failure::TooLarge => {
                    let message = format!("the response body is larger than {max_body} bytes");
                    return (TransportError::new(TransportKind::TooLarge, message), false);
                }
            };
        let what = super::what_failed(kind);
        let message = match phase {
            Phase::Send => format!("{what}: {sending}: {detail}"),
            Phase::Body => {
                format!("reading the body: {what}: error decoding response body: {detail}")
            }
        };
        let mut error = TransportError::new(kind, message);
        error.origin = Some(url.origin().ascii_serialization());
        error.cause = cause;
        (error, connecting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slices are what the Host header and the request target were built from before:
    /// `host_str()` and the port unless default, `path()` and `?query`.
    #[test]
    fn the_host_and_target_are_the_urls_own_host_port_path_and_query() {
        for text in [
            "http://127.0.0.1:18555/oauth/token",
            "http://h:80/a",
            "http://h:080/a?",
            "http://user:pw@h:8080/p?q=1#frag",
            "http://[::1]:8081/x?a=b&c",
            "http://[::1]/",
            "http://bücher.example/ä?ö=1",
            "http://h",
        ] {
            let url = url::Url::parse(text).unwrap();
            let host = match url.port() {
                Some(p) => format!("{}:{p}", url.host_str().unwrap()),
                None => url.host_str().unwrap().to_string(),
            };
            let target = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            assert_eq!(
                host_and_target(&url),
                (host.as_str(), target.as_str()),
                "{text}"
            );
        }
    }
}
