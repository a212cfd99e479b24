//! The mock never panics, always answers token-endpoint errors in JSON, and bounds what one
//! client can hold: a header-read timeout and a connection cap.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
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

/// `+ / = % :` and a space: each changes under form-encoding, and `%41` decodes to `A`.
const SPECIAL_SECRET: &str = "te st+/=%41:x";
const SPECIAL_ENV: &str = "TOKENCONF_MOCK_SPECIAL_SECRET";

/// A mock whose Talkdesk, Salesforce and generic clients all have [`SPECIAL_SECRET`].
fn special_mock(runtime: &tokio::runtime::Runtime) -> mock::MockServer {
    let mut config = MockConfig::default();
    config.talkdesk.client_secret = SPECIAL_SECRET.into();
    config.salesforce.client_secret = SPECIAL_SECRET.into();
    config.oauth2.clients[0].secret = SPECIAL_SECRET.into();
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    runtime.block_on(mock::start(config, addr)).unwrap()
}

/// One suite per API: client credentials with `auth: basic`, and in the body where the API
/// takes it (Talkdesk documents Basic and JWT client authentication only).
fn special_suites(dir: &Path) {
    let basic = r#"auth: { basic: { user: "{{ client_id }}", password: "{{ client_secret }}" } }"#;
    let post = r#"auth: { client_secret_post: { client_id: "{{ client_id }}", client_secret: "{{ client_secret }}" } }"#;
    let suites = [
        ("talkdesk", "/oauth/token", vec![basic]),
        ("salesforce", "/services/oauth2/token", vec![basic, post]),
        ("oauth2", "/oauth2/token", vec![basic, post]),
    ];
    for (api, path, auths) in suites {
        let mut text =
            format!("api: {api}\nvars: {{ client_id: \"\" }}\nsecrets: [client_secret]\ncases:\n");
        for (i, auth) in auths.iter().enumerate() {
            text.push_str(&format!(
                "  - name: client authentication {i}\n    request:\n      path: {path}\n      {auth}\n      form: {{ grant_type: client_credentials }}\n    expect:\n      status: 200\n      json: {{ $.access_token: exists }}\n"
            ));
        }
        std::fs::write(dir.join(format!("{api}.yaml")), text).unwrap();
    }
}

/// A targets file: `t` as each vendor documents, `swapped` with the other encoding everywhere.
fn special_targets(dir: &Path, base_url: &str, mock: &MockConfig) -> PathBuf {
    let mut text = String::from("targets:\n");
    for (name, swap) in [("t", false), ("swapped", true)] {
        text.push_str(&format!("  {name}:\n"));
        for (api, id, documented) in [
            ("talkdesk", mock.talkdesk.client_id.as_str(), "raw"),
            ("salesforce", mock.salesforce.client_id.as_str(), "form"),
            ("oauth2", mock.oauth2.clients[0].id.as_str(), "form"),
        ] {
            let encoding = match (swap, documented) {
                (false, e) => e,
                (true, "raw") => "form",
                (true, _) => "raw",
            };
            text.push_str(&format!(
                "    {api}:\n      base_url: \"{base_url}\"\n      basic_encoding: {encoding}\n      vars: {{ client_id: \"{id}\" }}\n      secrets: {{ client_secret: \"${{{SPECIAL_ENV}}}\" }}\n"
            ));
        }
    }
    let file = dir.join("targets.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

fn run_binary(args: &[&str]) -> (Option<i32>, String) {
    let o = std::process::Command::new(crate::support::BIN)
        .args(args)
        .current_dir(crate::support::root())
        .env("NO_COLOR", "1")
        .env(SPECIAL_ENV, SPECIAL_SECRET)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), text)
}

fn counts(reports: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(reports.join("summary.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["counts"].clone()
}

#[test]
fn a_secret_with_special_characters_round_trips_through_every_apis_client_authentication() {
    let dir = crate::support::scratch(module_path!(), "special-secret");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = special_mock(&runtime);
    let suites = dir.join("suites");
    std::fs::create_dir_all(&suites).unwrap();
    special_suites(&suites);
    let targets = special_targets(&dir, &server.base_url(), &server.config);
    let suites = suites.to_str().unwrap().to_string();
    let run = |target: &str| {
        let reports = dir.join(format!("reports-{target}"));
        let args = [
            "run",
            &suites,
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            target,
            "--report-dir",
            reports.to_str().unwrap(),
        ];
        let (code, text) = run_binary(&args);
        assert!(
            !text.contains(SPECIAL_SECRET),
            "the secret was printed: {text}"
        );
        assert!(reports.join("summary.json").is_file(), "{text}");
        (code, text, counts(&reports))
    };

    // Each API's documented encoding, and the mock decoding as that vendor does: all pass.
    let (code, text, c) = run("t");
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(c["passed"], 5, "{text}");

    // The other encoding: the Basic cases fail (Talkdesk reads the escapes literally, the
    // others read `+` as a space and `%41` as `A`); the body cases do not use Basic and pass.
    let (code, text, c) = run("swapped");
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        (c["failed"].clone(), c["passed"].clone()),
        (3.into(), 2.into()),
        "{text}"
    );
    for api in ["talkdesk", "salesforce", "oauth2"] {
        assert!(
            text.contains(&format!("{api}::client-authentication-0")),
            "{text}"
        );
    }
    runtime.block_on(server.stop());
}

#[test]
fn an_unknown_basic_encoding_is_exit_2_at_its_line() {
    let dir = crate::support::scratch(module_path!(), "bad-encoding");
    let targets = dir.join("targets.yaml");
    std::fs::write(
        &targets,
        "targets:\n  t:\n    talkdesk:\n      base_url: https://td.test\n      basic_encoding: base64\n",
    )
    .unwrap();
    let (code, text) = run_binary(&["validate", "--targets", targets.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("targets.yaml:5:"), "{text}");
    assert!(text.contains("raw") && text.contains("form"), "{text}");
}

#[tokio::test]
async fn the_sandbox_profile_shows_a_login_page_and_splits_miaw_deployments() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let config = MockConfig::for_profile(mock::Profile::Sandbox);
    let server = mock::start(config, addr).await.unwrap();
    let base = server.base_url();
    let target = server.target();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let td = &target.apis["talkdesk"].vars;
    let sf = &target.apis["salesforce"].vars;
    for (url, client_id, redirect_uri) in [
        (
            format!("{base}/oauth/authorize"),
            &td["client_id"],
            &td["redirect_uri"],
        ),
        (
            format!("{base}/services/oauth2/authorize"),
            &sf["client_id"],
            &sf["redirect_uri"],
        ),
    ] {
        let query = [
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
        ];
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        let resp = client.get(format!("{url}?{query}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        assert!(resp.headers().get("location").is_none(), "{url}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/html"), "{url}: {ct}");
    }
    // A fresh org declares no code flow and no rotation.
    for api in ["talkdesk", "salesforce"] {
        let capabilities = &target.apis[api].capabilities;
        assert!(!capabilities.contains("auto_authorize"), "{api}");
        assert!(!capabilities.contains("rotates_refresh_tokens"), "{api}");
        assert!(!capabilities.contains("password_grant"), "{api}");
    }
    // MIAW: the API entry is the guest deployment; the verification-on one is a profile.
    let api = &target.apis["miaw"];
    assert!(api.capabilities.contains("guest_access"));
    assert!(!api.capabilities.contains("user_verification"));
    let [verified] = api.profiles.as_slice() else {
        panic!("one verified profile: {:?}", api.profiles)
    };
    assert!(verified.capabilities.contains("user_verification"));
    assert!(!verified.capabilities.contains("guest_access"));
    assert_ne!(
        verified.vars["es_developer_name"],
        api.vars["es_developer_name"]
    );
    let miaw = &api.vars;
    let guest = |deployment: &str| {
        serde_json::json!({ "orgId": miaw["org_id"], "esDeveloperName": deployment,
            "capabilitiesVersion": "1", "platform": "Mobile" })
        .to_string()
    };
    let url = format!("{base}/iamessage/api/v2/authorization/unauthenticated/access-token");
    let ok = client
        .post(&url)
        .header("content-type", "application/json")
        .body(guest(&miaw["es_developer_name"]))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let refused = client
        .post(&url)
        .header("content-type", "application/json")
        .body(guest(&miaw["verified_es_developer_name"]))
        .send()
        .await
        .unwrap();
    let body = json_error(refused, 400).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("User Verification"),
        "{body}"
    );
    // The full mock's both-ways deployment does not exist in a fresh org.
    let gone = client
        .post(&url)
        .header("content-type", "application/json")
        .body(guest("Conformance_Custom_Client"))
        .send()
        .await
        .unwrap();
    json_error(gone, 400).await;
    server.stop().await;
}
