//! The hostile echo proof: every shipped suite runs through the real binary against a server
//! that reflects what it receives (the Authorization header, decoded Basic credentials, the
//! body and its form fields) back as JSON, plain text, HTML, ISO-8859-1 and base64, in its body
//! and in response headers. Every secret is unique, non-ASCII and full of characters that
//! encode differently (`+/"&'<é`). Then stdout, stderr and every report file are searched, as
//! text and through every base64 reading of them, for each secret's marker. Zero hits.
//!
//! A server under test is not trusted: a case that sends the real secret with another user
//! name, or a server that answers in ISO-8859-1, must not get the secret into any report.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;

use crate::support::{root, BIN};
use tokenconf::mock::{self, MockConfig};
use tokenconf::target::Target;

/// What every secret starts with: ASCII letters survive every encoding but base64 unchanged,
/// so finding it finds any (even partial) leak.
const MARKER: &str = "HostileCanary";

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Json,
    Text,
    Html,
    Latin1,
    Base64,
}

const MODES: [Mode; 5] = [
    Mode::Json,
    Mode::Text,
    Mode::Html,
    Mode::Latin1,
    Mode::Base64,
];

struct Echo {
    mode: Mode,
    requests: AtomicUsize,
    /// Requests whose Authorization or body carried a secret's marker (once decoded).
    carried_secret: AtomicUsize,
}

/// The Basic credentials decoded as a server would: base64, then each side form-decoded.
fn basic_credentials(authorization: &str) -> Option<String> {
    let b64 = authorization.strip_prefix("Basic ")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    let dec = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some(format!("{}:{}", dec(user), dec(password)))
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn echo(State(echo): State<Arc<Echo>>, request: Request) -> Response {
    echo.requests.fetch_add(1, Ordering::Relaxed);
    let authorization = request
        .headers()
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let uri = request.uri().to_string();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body_text = String::from_utf8_lossy(&body).into_owned();
    let credentials = basic_credentials(&authorization).unwrap_or_default();
    // Form fields decoded: the secrets as plain text, under names that are not credential names.
    let fields: Vec<String> = form_urlencoded::parse(&body)
        .map(|(_, v)| v.into_owned())
        .collect();
    let query: Vec<String> = uri
        .split_once('?')
        .map(|(_, q)| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(_, v)| v.into_owned())
                .collect()
        })
        .unwrap_or_default();
    if [&credentials, &body_text, &fields.join(" ")]
        .iter()
        .any(|t| t.contains(MARKER))
    {
        echo.carried_secret.fetch_add(1, Ordering::Relaxed);
    }
    // Secrets first: a preview shows only the start of a body. The path of a request whose
    // path holds a secret comes first of all (as the url crate encoded it).
    let path_first = if uri.contains(MARKER) {
        uri.as_str()
    } else {
        ""
    };
    let text = format!(
        "{path_first} {credentials} {} {} {authorization} {body_text} {uri}",
        fields.join(" "),
        query.join(" ")
    );
    let (content_type, bytes): (&str, Vec<u8>) = match echo.mode {
        Mode::Json => (
            "application/json",
            serde_json::json!({
                "echo": credentials,
                "seen": fields,
                "header": authorization,
                "raw": body_text,
                "query": query,
                "uri": uri,
            })
            .to_string()
            .into_bytes(),
        ),
        Mode::Text => ("text/plain; charset=utf-8", text.clone().into_bytes()),
        Mode::Html => (
            "text/html; charset=utf-8",
            format!(
                "<!doctype html><html><body><p>{}</p><pre>{}</pre></body></html>",
                html_escape(&credentials),
                html_escape(&text)
            )
            .into_bytes(),
        ),
        Mode::Latin1 => ("text/plain; charset=iso-8859-1", latin1(&text)),
        Mode::Base64 => (
            "text/plain",
            base64::engine::general_purpose::STANDARD
                .encode(text.as_bytes())
                .into_bytes(),
        ),
    };
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(Body::from(bytes))
        .unwrap();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &[u8]| {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.insert(name, v);
        }
    };
    set("x-echo-authorization", authorization.as_bytes());
    set("x-echo-credentials", &latin1(&credentials));
    set("x-echo-fields", &latin1(&fields.join(" ")));
    set(
        "x-echo-base64",
        base64::engine::general_purpose::STANDARD
            .encode(credentials.as_bytes())
            .as_bytes(),
    );
    response
}

/// Unique per secret name; every character class that encodes differently, `é` (one byte
/// in ISO-8859-1, two in UTF-8), and what a URL path, Rust's `{:?}` or a one-line reason write
/// apart: `\` (`/` in a path), a combining mark, DEL, a soft hyphen, `%41`. No whitespace, so a
/// cut line never keeps half of one.
fn hostile_secret(mode: Mode, name: &str, n: usize) -> String {
    format!("{MARKER}{n}{mode:?}-{name}-s\u{e9}cr\u{e8}t+/\"q\"&'<z={n}\\e\u{301}\u{7f}\u{ad}%41")
}

/// A suite that puts each secret of the oauth2 API in a request's path and query, so the
/// echo server reflects its URL forms.
fn in_path_suite(dir: &Path) -> PathBuf {
    let suites = dir.join("extra");
    std::fs::create_dir_all(&suites).unwrap();
    std::fs::write(
        suites.join("in-path.yaml"),
        "api: oauth2\nsecrets: [client_secret]\ncases:\n  - name: the secret in the path and query\n    request:\n      path: \"/echo/{{ client_secret }}/x?s={{ client_secret }}\"\n      form: { grant_type: client_credentials }\n    expect:\n      status: 299\n",
    )
    .unwrap();
    suites
}

/// A targets file pointing every API of the mock's target at `base_url`, with every secret
/// that is not a key replaced by a hostile one (keys stay, so signed assertions are sent).
fn targets_file(
    dir: &Path,
    target: &Target,
    base_url: &str,
    mode: Mode,
) -> (PathBuf, Vec<(String, String)>, Vec<String>) {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut yaml =
        String::from("targets:\n  hostile:\n    http: { retries: 0, timeout_ms: 10000 }\n");
    let mut env = Vec::new();
    let mut keys = Vec::new();
    let mut n = 0;
    for (api, a) in &target.apis {
        yaml.push_str(&format!("    {api}:\n      base_url: {}\n", q(base_url)));
        yaml.push_str("      vars:\n");
        for (k, v) in &a.vars {
            yaml.push_str(&format!("        {}: {}\n", q(k), q(v)));
        }
        yaml.push_str("      secrets:\n");
        for (k, v) in &a.secrets {
            let var = format!("HOSTILE_{api}_{k}").to_ascii_uppercase();
            yaml.push_str(&format!("        {}: \"${{{var}}}\"\n", q(k)));
            let value = if v.contains("-----BEGIN") {
                keys.push(v.clone());
                v.clone()
            } else {
                n += 1;
                hostile_secret(mode, k, n)
            };
            env.push((var, value));
        }
    }
    let path = dir.join("targets.yaml");
    std::fs::write(&path, yaml).unwrap();
    (path, env, keys)
}

fn run_binary(targets: &Path, env: &[(String, String)], reports: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg(root().join("suites"))
        .arg(in_path_suite(reports.parent().unwrap_or(reports)))
        .arg("--targets")
        .arg(targets)
        .args(["--target", "hostile", "--jobs", "8"])
        .arg("--report-dir")
        .arg(reports)
        .current_dir(root())
        .env("NO_COLOR", "1");
    for proxy in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(proxy);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

/// Every output of one run as bytes: stdout, stderr, and each file under the report folder.
fn outputs(o: &Output, reports: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("stdout".to_string(), o.stdout.clone()),
        ("stderr".to_string(), o.stderr.clone()),
    ];
    for entry in walkdir::WalkDir::new(reports).into_iter().flatten() {
        if entry.file_type().is_file() {
            out.push((
                entry.path().display().to_string(),
                std::fs::read(entry.path()).unwrap_or_default(),
            ));
        }
    }
    out
}

/// The text and what each run of base64 characters in it decodes to, at each of the four
/// alignments and in both alphabets, twice over (base64 of base64): a secret is found however
/// it was wrapped.
fn readings(bytes: &[u8], depth: usize, out: &mut Vec<Vec<u8>>) {
    out.push(bytes.to_vec());
    if depth == 0 {
        return;
    }
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
    let mut i = 0;
    while i < bytes.len() {
        if !is_b64(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_b64(bytes[i]) {
            i += 1;
        }
        let run = &bytes[start..i];
        if run.len() < 12 {
            continue;
        }
        let standard: Vec<u8> = run
            .iter()
            .map(|&b| match b {
                b'-' => b'+',
                b'_' => b'/',
                b => b,
            })
            .collect();
        for skip in 0..4 {
            let part = &standard[skip..];
            let usable = part.len() / 4 * 4;
            if let Ok(decoded) =
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(&part[..usable])
            {
                readings(&decoded, depth - 1, out);
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One run against the echo server in `mode`: (hits, requests served, requests that carried a
/// secret, cases that failed).
fn hostile_run(rt: &tokio::runtime::Runtime, mode: Mode) -> (Vec<String>, usize, usize, usize) {
    let dir = scratch(&format!("hostile/{mode:?}"));
    let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    // The mock is started only for its target: APIs, vars, secret names and signing keys.
    let mock = rt
        .block_on(mock::start(MockConfig::default(), loopback))
        .expect("the mock starts");
    let target = mock.target();
    rt.block_on(mock.stop());

    let state = Arc::new(Echo {
        mode,
        requests: AtomicUsize::new(0),
        carried_secret: AtomicUsize::new(0),
    });
    let app = axum::Router::new().fallback(echo).with_state(state.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(loopback))
        .expect("a loopback port");
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });

    let (targets, env, keys) = targets_file(&dir, &target, &base_url, mode);
    let reports = dir.join("reports");
    let o = run_binary(&targets, &env, &reports);
    let _ = tx.send(());
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{mode:?}: exit {:?}\n{stdout}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    // A line of each key's base64 body: a key must not show either.
    let key_lines: Vec<String> = keys
        .iter()
        .flat_map(|k| {
            k.lines()
                .filter(|l| l.len() >= 40)
                .take(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut hits = Vec::new();
    for (file, bytes) in outputs(&o, &reports) {
        let mut views = Vec::new();
        readings(&bytes, 2, &mut views);
        for view in &views {
            // ASCII, ISO-8859-1 and UTF-8 spell the marker the same.
            if find(view, MARKER.as_bytes()) {
                let text = String::from_utf8_lossy(view);
                let at = text.find(MARKER).unwrap_or(0);
                let context: String = text[at..].chars().take(80).collect();
                hits.push(format!("{mode:?}: {file} holds {context:?}"));
                break;
            }
            if let Some(line) = key_lines.iter().find(|l| find(view, l.as_bytes())) {
                hits.push(format!("{mode:?}: {file} holds a key line {line:?}"));
                break;
            }
        }
    }
    let failed = stdout.matches(" ... FAILED").count();
    (
        hits,
        state.requests.load(Ordering::Relaxed),
        state.carried_secret.load(Ordering::Relaxed),
        failed,
    )
}

#[test]
fn a_hostile_echo_server_gets_no_secret_into_any_output() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut hits = Vec::new();
    // Two binaries at a time: the machine has two cores.
    for pair in MODES.chunks(2) {
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = pair
                .iter()
                .map(|&m| {
                    let rt = &rt;
                    scope.spawn(move || (m, hostile_run(rt, m)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (mode, (h, requests, carried, failed)) in results {
            assert!(
                requests > 50,
                "{mode:?}: the suites must reach the echo server: {requests}"
            );
            assert!(
                carried > 20,
                "{mode:?}: requests must carry the secrets: {carried}"
            );
            assert!(
                failed > 20,
                "{mode:?}: an echo fails cases, with responses shown: {failed}"
            );
            hits.extend(h);
        }
    }
    assert!(
        hits.is_empty(),
        "{} leaks:\n{}",
        hits.len(),
        hits.join("\n")
    );
}

#[test]
fn the_search_finds_a_marker_however_it_is_wrapped() {
    // The proof is only as good as its search: a marker under base64, under base64 of base64,
    // at any alignment, or in ISO-8859-1 next to `é`, is found.
    let secret = hostile_secret(Mode::Text, "client_secret", 1);
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let wrapped = [
        format!("x {secret} y").into_bytes(),
        latin1(&format!("caf\u{e9} {secret}")),
        format!("blob {} end", b64(format!("ab:{secret}").as_bytes())).into_bytes(),
        format!(
            "blob {}",
            b64(b64(format!("a{secret}").as_bytes()).as_bytes())
        )
        .into_bytes(),
        format!(
            "x={}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("xy{secret}"))
        )
        .into_bytes(),
    ];
    for bytes in wrapped {
        let mut views = Vec::new();
        readings(&bytes, 2, &mut views);
        assert!(
            views.iter().any(|v| find(v, MARKER.as_bytes())),
            "not found in {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

async fn duplicate_members(_: Request) -> Response {
    let body = r#"{"access_token":"dup-7f3a9c1e5b2d4a6f8e0c","token_type":"mac","expires_in":300,"token_type":"Bearer"}"#;
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .header("pragma", "no-cache")
        .body(Body::from(body))
        .unwrap()
}

#[test]
fn a_token_response_with_a_duplicate_member_fails_the_case_and_explain_knows_the_rule() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = scratch("hostile/duplicate");
    let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let mock = rt
        .block_on(mock::start(MockConfig::default(), loopback))
        .expect("the mock starts");
    let target = mock.target();
    rt.block_on(mock.stop());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(loopback))
        .expect("a loopback port");
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(async move {
        let app = axum::Router::new().fallback(duplicate_members);
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    let (targets, env, _) = targets_file(&dir, &target, &base_url, Mode::Json);
    let reports = dir.join("reports");
    let o = Command::new(BIN)
        .arg("run")
        .arg(root().join("suites/oauth2/token.yaml"))
        .arg("--targets")
        .arg(&targets)
        .args([
            "--target",
            "hostile",
            "--filter",
            "client-credentials-with-basic-auth",
        ])
        .arg("--report-dir")
        .arg(&reports)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let _ = tx.send(());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("RFC8259-4-unique-names"), "{stdout}");
    assert!(stdout.contains("$.token_type"), "{stdout}");

    let explain = Command::new(BIN)
        .args(["explain", "RFC8259-4-unique-names"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&explain.stdout);
    assert_eq!(explain.status.code(), Some(0), "{text}");
    assert!(text.contains("rfc8259#section-4"), "{text}");
}
