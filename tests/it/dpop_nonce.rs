//! RFC 9449 §11.3 needs a nonce the server gave: against a server that gives none, the case that
//! sends a proof without a nonce skips with the reason, after its first step ran.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::post;
use axum::Router;

use crate::support::{root, scratch, BIN};

#[test]
fn the_nonce_downgrade_case_skips_when_the_server_gave_no_nonce() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    // A token endpoint that binds nothing and never asks for a nonce.
    let app = Router::new().route(
        "/token",
        post(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async {
                (
                    [
                        ("content-type", "application/json"),
                        ("cache-control", "no-store"),
                    ],
                    r#"{"access_token":"nonce-test-token","token_type":"Bearer","expires_in":60}"#,
                )
            }
        }),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            0,
        )))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move { axum::serve(listener, app).await });
    let dir = scratch(module_path!(), "no-nonce");
    let targets = dir.join("targets.yaml");
    std::fs::write(
        &targets,
        format!(
            "targets:\n  t:\n    oauth2:\n      base_url: http://127.0.0.1:{port}\n      vars: {{ client_id: c, token_path: /token }}\n      secrets: {{ client_secret: \"${{TC_NONCE_SECRET}}\" }}\n      capabilities: [dpop]\n"
        ),
    )
    .unwrap();
    let o = Command::new(BIN)
        .args([
            "run",
            "suites/oauth2/dpop.yaml",
            "--filter",
            "once-the-server-gave-a-dpop-nonce",
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
            "--allow-empty",
            "--report-dir",
            dir.join("reports").to_str().unwrap(),
        ])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("TC_NONCE_SECRET", "nonce-test-secret")
        .output()
        .expect("the binary runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("test oauth2/dpop::once-the-server-gave"))
        .unwrap_or_else(|| panic!("no line for the case: {out}"));
    assert!(
        line.contains("skipped") && line.contains("the server gave no DPoP nonce"),
        "{line}"
    );
    // The first step ran; the proof without a nonce was never sent.
    assert_eq!(hits.load(Ordering::SeqCst), 1, "{out}");
}
