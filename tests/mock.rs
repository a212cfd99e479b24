//! The mock never panics and always answers token-endpoint errors in JSON.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

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
