//! The mock never panics, always answers token-endpoint errors in JSON, and bounds what one
//! client can hold: a header-read timeout and a connection cap.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use tokenconf::mock::{self, MockConfig};

async fn json_error(resp: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let bytes = resp.bytes().await.expect("a body");
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON body");
    assert!(body.is_object(), "{body}");
    body
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let server = mock::start(MockConfig::default(), addr).await.unwrap();
    let base = server.base_url();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let token = format!("{base}/oauth/token");

    let huge = "a".repeat(200 * 1024);
    let resp = client
        .post(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    json_error(resp, 413).await;

    let resp = client.get(&token).send().await.unwrap();
    json_error(resp, 405).await;

    let resp = client
        .get(format!("{base}/no/such/path"))
        .send()
        .await
        .unwrap();
    json_error(resp, 404).await;

    let resp = client
        .post(&token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    let body = json_error(resp, 400).await;
    assert_eq!(body["error"], "invalid_request");

    for auth in ["Basic !!!", "Basic Zm9v", "Bearer x", "Basic \u{7f}"] {
        let resp = client
            .post(&token)
            .header("authorization", auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&%zz=%")
            .send()
            .await;
        if let Ok(resp) = resp {
            let body = json_error(resp, 401).await;
            assert_eq!(body["error"], "invalid_client");
        }
    }
    server.stop().await;
}

/// A mock with small limits, so the tests see them act within a second or two.
async fn limited(header_read_timeout: Duration, max_connections: usize) -> mock::MockServer {
    let config = MockConfig {
        limits: mock::Limits {
            header_read_timeout,
            max_connections,
        },
        ..MockConfig::default()
    };
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    mock::start(config, addr).await.unwrap()
}

/// Reads until the server closes the connection (or resets it), at most `limit`; what it sent.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn the_mock_drops_a_connection_that_never_finishes_its_headers() {
    let server = limited(Duration::from_millis(400), 16).await;
    let started = Instant::now();
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    partial
        .write_all(b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    for stream in [&mut partial, &mut silent] {
        let sent = read_until_closed(stream, Duration::from_secs(10))
            .await
            .expect("the mock closes the connection");
        assert!(
            sent.is_empty() || sent.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&sent)
        );
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(8),
        "{took:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_ends() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = limited(Duration::from_millis(1500), 2).await;
    let url = format!("{}/no/such/path", server.base_url());
    // Two clients that hold their connections and send nothing take every slot.
    let holders = [
        TcpStream::connect(server.addr).await.unwrap(),
        TcpStream::connect(server.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = |timeout| {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .build()
            .unwrap()
    };
    let waited = client(Duration::from_millis(300)).get(&url).send().await;
    assert!(
        waited.as_ref().is_err_and(|e| e.is_timeout()),
        "served over the cap: {waited:?}"
    );
    // The holders time out on their headers; their slots go to the next client.
    let served = client(Duration::from_secs(10)).get(&url).send().await;
    assert_eq!(served.expect("served once a slot is free").status(), 404);
    drop(holders);
    server.stop().await;
}

#[test]
fn binding_anything_but_loopback_is_warned_about() {
    for quiet in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
        assert_eq!(mock::bind_warning(quiet.parse().unwrap()), None, "{quiet}");
    }
    for loud in ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1"] {
        let w = mock::bind_warning(loud.parse().unwrap());
        assert!(w.is_some_and(|w| w.contains("other machines")), "{loud}");
    }
}
