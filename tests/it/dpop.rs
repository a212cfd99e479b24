//! DPoP (RFC 9449) through the real binary: a bad `dpop:` is a load error at its place, a target's
//! `dpop_key` that cannot sign proofs is refused at its place without being printed, and no proof
//! or private key material reaches any output, report or recording.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;

use crate::support::{root, BIN};
use tokenconf::mock::{self, keys, MockConfig};

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

fn tokenconf(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(root()).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const SUITE_HEAD: &str = "api: oauth2\nvars: { token_path: /token }\ncases:\n";

#[test]
fn an_unknown_proof_or_a_url_from_a_capture_is_exit_2_at_the_dpop_line() {
    let dir = scratch("load");
    let cases = [
        (
            "unknown.yaml",
            "  - name: c\n    request:\n      path: \"{{ token_path }}\"\n      form: { a: b }\n      dpop: wrong_hmt\n",
            "unknown DPoP proof `wrong_hmt`",
            "unknown.yaml:8:13",
        ),
        (
            "captured.yaml",
            "  - name: c\n    steps:\n      - request: { path: /a }\n        capture: { next: $.next }\n      - request:\n          path: \"{{ next }}\"\n          dpop: valid\n",
            "`next` in it is captured",
            "captured.yaml:10:17",
        ),
    ];
    for (file, case, says, at) in cases {
        let path = dir.join(file);
        std::fs::write(&path, format!("{SUITE_HEAD}{case}")).unwrap();
        let o = tokenconf(&["validate", path.to_str().unwrap()], &[]);
        let all = text(&o);
        assert_eq!(o.status.code(), Some(2), "{all}");
        assert!(all.contains(says), "{all}");
        assert!(all.contains(at), "{all}");
    }
    // The variant's near miss is named.
    let all = text(&tokenconf(
        &["validate", dir.join("unknown.yaml").to_str().unwrap()],
        &[],
    ));
    assert!(all.contains("wrong_htm"), "{all}");
}

#[test]
fn a_target_dpop_key_that_cannot_sign_proofs_is_exit_2_at_its_line_and_never_printed() {
    let dir = scratch("key");
    let targets = dir.join("targets.yaml");
    std::fs::write(
        &targets,
        "targets:\n  t:\n    oauth2:\n      base_url: http://127.0.0.1:9\n      secrets:\n        client_secret: \"${T_SECRET}\"\n        dpop_key: \"${T_DPOP_KEY}\"\n",
    )
    .unwrap();
    let shared = "a-shared-secret-is-not-a-dpop-key-0123456789";
    for key in [keys::EC_PUBLIC_PEM, keys::RSA_PRIVATE_PEM, shared] {
        let o = tokenconf(
            &[
                "validate",
                "suites/oauth2/dpop.yaml",
                "--targets",
                targets.to_str().unwrap(),
                "--target",
                "t",
            ],
            &[
                ("T_SECRET", "test-only-secret-0123456789"),
                ("T_DPOP_KEY", key),
            ],
        );
        let all = text(&o);
        assert_eq!(o.status.code(), Some(2), "{all}");
        assert!(all.contains("targets.yaml:7:"), "{all}");
        assert!(all.contains("DPoP key"), "{all}");
        for line in key
            .lines()
            .filter(|l| l.len() > 20 && !l.starts_with("-----"))
        {
            assert!(!all.contains(line), "the key was printed: {all}");
        }
        assert!(!all.contains(shared), "{all}");
    }
}

type Proofs = Arc<Mutex<Vec<String>>>;

async fn keep_proofs(State(proofs): State<Proofs>, request: Request, next: Next) -> Response {
    for v in request.headers().get_all("dpop") {
        if let (Ok(v), Ok(mut p)) = (v.to_str(), proofs.lock()) {
            p.push(v.to_string());
        }
    }
    next.run(request).await
}

/// The DPoP suite, and a copy whose every 200 is wrong (so each case fails and shows its
/// requests), run with the target's `dpop_key` against a mock that keeps every proof it receives.
#[test]
fn no_proof_and_no_private_key_material_reaches_any_output() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = scratch("leak");
    let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(loopback))
        .unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let proofs: Proofs = Arc::default();
    let app = mock::router(Arc::new(MockConfig::default()), &base_url).layer(
        axum::middleware::from_fn_with_state(proofs.clone(), keep_proofs),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    // The mock's own target for this URL: its vars and secrets.
    let server = rt
        .block_on(mock::start(MockConfig::default(), loopback))
        .unwrap();
    let target = server.target();
    rt.block_on(server.stop());
    let api = &target.apis["oauth2"];
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut yaml = format!(
        "targets:\n  t:\n    oauth2:\n      base_url: {}\n      vars:\n",
        q(&base_url)
    );
    for (k, v) in &api.vars {
        let v = if k == "issuer" { base_url.as_str() } else { v };
        yaml.push_str(&format!("        {}: {}\n", q(k), q(v)));
    }
    yaml.push_str("      secrets:\n");
    let mut env: Vec<(String, String)> = Vec::new();
    // The mock's target gives its TEST-ONLY key as `dpop_key`: the proofs are signed with it.
    assert_eq!(api.secrets["dpop_key"], keys::EC_PRIVATE_PEM);
    for (k, v) in &api.secrets {
        let var = format!("DPOP_LEAK_{}", k.to_ascii_uppercase());
        yaml.push_str(&format!("        {}: \"${{{var}}}\"\n", q(k)));
        env.push((var, v.clone()));
    }
    yaml.push_str("      capabilities: [dpop, refresh_token_grant]\n");
    let targets = dir.join("targets.yaml");
    std::fs::write(&targets, yaml).unwrap();
    let wrong = dir.join("copy/wrong/dpop.yaml");
    std::fs::create_dir_all(wrong.parent().unwrap()).unwrap();
    let suite = std::fs::read_to_string(root().join("suites/oauth2/dpop.yaml")).unwrap();
    std::fs::write(&wrong, suite.replace("status: 200\n", "status: 299\n")).unwrap();
    let reports = dir.join("reports");
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let o = tokenconf(
        &[
            "run",
            "suites/oauth2/dpop.yaml",
            dir.join("copy").to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
            "--verbose",
            "--report-dir",
            reports.to_str().unwrap(),
            "--record",
            reports.join("recording").to_str().unwrap(),
        ],
        &env_ref,
    );
    let _ = tx.send(());
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "the wrong copy fails: {all}");
    assert!(
        all.contains("dpop: [redacted]"),
        "requests are shown: {all}"
    );
    let proofs = std::mem::take(&mut *proofs.lock().unwrap());
    assert!(proofs.len() > 20, "{} proofs", proofs.len());
    // The private scalar, as the private_key_in_jwk proof carries it, and the PEM's lines.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let d = proofs
        .iter()
        .filter_map(|p| p.split('.').next())
        .filter_map(|h| b64.decode(h).ok())
        .filter_map(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .find_map(|h| h["jwk"]["d"].as_str().map(str::to_string))
        .expect("a proof carried the private key on purpose");
    let mut needles: Vec<String> = vec![d];
    needles.extend(
        keys::EC_PRIVATE_PEM
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_string),
    );
    for p in &proofs {
        needles.push(p.clone());
        // Each part alone: a decoded or shortened proof shows one.
        needles.extend(p.split('.').filter(|s| s.len() > 16).map(str::to_string));
    }
    let mut outputs = vec![("output".to_string(), all)];
    for entry in walkdir::WalkDir::new(&reports).into_iter().flatten() {
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            outputs.push((
                entry.path().display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    assert!(outputs.len() > 3, "reports were written");
    let mut hits = Vec::new();
    for (file, body) in &outputs {
        for n in &needles {
            if body.contains(n.as_str()) {
                hits.push(format!("{file} holds {}", &n[..16.min(n.len())]));
            }
        }
    }
    hits.dedup();
    assert!(hits.is_empty(), "{hits:#?}");
}
