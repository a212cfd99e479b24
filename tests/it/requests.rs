//! What a failing run tells about its requests: each failing step's request, masked, in the
//! console and every report; `--verbose` for every case; one line for a target that cannot be
//! reached or that answers every request with the same page that is not JSON; a timeout that
//! names its limit.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::support::{root, BIN};

/// Unlike its own encodings: `+`, `/`, a space and `&` differ in each.
pub(crate) const SECRET: &str = "ReqCanary+4e/1 x&y";
pub(crate) const CLIENT: &str = "req-client";

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

/// A loopback server answering every request with `answer` (a whole HTTP response), or, with
/// `None`, holding each connection without a word. Stops when dropped, and by itself after a
/// minute.
pub(crate) struct Server {
    pub(crate) port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

pub(crate) fn serve(answer: Option<String>) -> Server {
    serve_by(move |_| answer.clone())
}

/// [`serve`], the answer chosen by the request's path.
fn serve_by(answer: impl Fn(&str) -> Option<String> + Send + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut held: Vec<TcpStream> = Vec::new();
        while !stopped.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(60) {
            match listener.accept() {
                Ok((stream, _)) => {
                    if let Some(stream) = reply(stream, &answer) {
                        held.push(stream);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Server { port, stop }
}

/// Reads the request head and its body (by content-length), then answers and closes; a
/// request `answer` has no answer for gets its connection back, to be held.
fn reply(mut stream: TcpStream, answer: &dyn Fn(&str) -> Option<String>) -> Option<TcpStream> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut buf) else {
            return None;
        };
        if n == 0 {
            return None;
        }
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                break;
            }
        }
    }
    let head = String::from_utf8_lossy(&seen).to_string();
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    match answer(&path) {
        Some(text) => {
            let _ = stream.write_all(text.as_bytes());
            None
        }
        None => Some(stream),
    }
}

pub(crate) fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A targets file naming api `acme` at `base_url`, its secret from TC_REQ_SECRET.
pub(crate) fn targets(dir: &Path, base_url: &str, http: &str) -> PathBuf {
    let file = dir.join("targets.yaml");
    std::fs::write(
        &file,
        format!(
            "targets:\n  t:\n    http: {http}\n    apis:\n      acme:\n        base_url: {base_url}\n        vars: {{ client_id: {CLIENT} }}\n        secrets: {{ client_secret: \"${{TC_REQ_SECRET}}\" }}\n"
        ),
    )
    .unwrap();
    file
}

pub(crate) fn suite(dir: &Path, cases: &str) -> PathBuf {
    let file = dir.join("acme.yaml");
    std::fs::write(
        &file,
        format!("api: acme\nvars:\n  client_id: x\nsecrets: [client_secret]\ncases:\n{cases}"),
    )
    .unwrap();
    file
}

pub(crate) fn run(dir: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg(dir.join("acme.yaml"))
        .arg("--targets")
        .arg(dir.join("targets.yaml"))
        .args(["--target", "t", "--jobs", "2"])
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .args(extra)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("TC_REQ_SECRET", SECRET)
        .env_remove("GITHUB_ACTIONS");
    for proxy in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        cmd.env_remove(proxy);
    }
    cmd.output().expect("the binary runs")
}

/// stdout, stderr and every report file, as text.
pub(crate) fn everything(dir: &Path, out: &Output) -> Vec<(String, String)> {
    let mut texts = vec![
        (
            "stdout".to_string(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        ),
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        ),
    ];
    let mut folders = vec![dir.join("reports")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).to_string();
                texts.push((path.display().to_string(), text));
            }
        }
    }
    texts
}

const CASES: &str = r#"  - name: basic auth is refused
    request:
      path: /v1/token
      auth: { basic: { user: "{{ client_id }}", password: "{{ client_secret }}" } }
      form: { grant_type: client_credentials }
    expect: { status: 200 }
  - name: the secret in the form, a header and the query
    request:
      path: /v1/token
      query: { hint: "{{ client_secret }}" }
      headers: { x-api-key: "{{ client_secret }}" }
      auth: { client_secret_post: { client_id: "{{ client_id }}", client_secret: "{{ client_secret }}" } }
      form: { grant_type: client_credentials }
    expect: { status: 200 }
  - name: a refusal is what this case wants
    request:
      path: /v1/token
      auth: { basic: { user: "{{ client_id }}", password: "{{ client_secret }}" } }
      form: { grant_type: client_credentials, scope: "read" }
    expect: { status: 400 }
"#;

#[test]
fn a_failing_case_shows_its_request_and_never_the_secret() {
    let dir = scratch("masked");
    let server = serve(Some(response(
        "400 Bad Request",
        "application/json",
        r#"{"error":"invalid_client"}"#,
    )));
    let base_url = format!("http://127.0.0.1:{}", server.port);
    targets(&dir, &base_url, "{ retries: 0 }");
    suite(&dir, CASES);
    let out = run(&dir, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The request of each failing case, with how it authenticated but not with what.
    let token_url = format!("POST {base_url}/v1/token");
    assert_eq!(stdout.matches(&token_url).count(), 2, "{stdout}");
    assert!(
        stdout.contains("authorization: Basic [redacted]"),
        "{stdout}"
    );
    assert!(stdout.contains("x-api-key: [redacted]"), "{stdout}");
    assert!(stdout.contains("grant_type=client_credentials"), "{stdout}");
    assert!(stdout.contains("client_secret=[redacted]"), "{stdout}");
    // The passing case's request is not shown without --verbose.
    assert!(!stdout.contains("scope=read"), "{stdout}");
    let texts = everything(&dir, &out);
    for report in ["junit.xml", "index.html", "summary.json"] {
        let (_, text) = texts.iter().find(|(p, _)| p.ends_with(report)).unwrap();
        assert!(text.contains("/v1/token"), "{report} shows no request");
    }
    let diffs: Vec<_> = texts.iter().filter(|(p, _)| p.ends_with(".diff")).collect();
    assert_eq!(diffs.len(), 2);
    for (path, text) in diffs {
        assert!(text.contains(&token_url), "{path}: {text}");
    }
    assert_no_secret(&texts);

    // --verbose: the passing case's request too.
    let out = run(&dir, &["--verbose"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("scope=read"), "{stdout}");
    assert_eq!(stdout.matches(&token_url).count(), 3, "{stdout}");
    assert_no_secret(&everything(&dir, &out));
}

pub(crate) fn assert_no_secret(texts: &[(String, String)]) {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let form: String = form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    let forms = [
        SECRET.to_string(),
        form.clone(),
        SECRET.replace(' ', "%20"),
        b64(&format!("{CLIENT}:{SECRET}")),
        b64(&format!("{CLIENT}:{form}")),
        "ReqCanary".to_string(),
    ];
    for (path, text) in texts {
        for f in &forms {
            assert!(
                !text.contains(f.as_str()),
                "{path} holds the secret as {f:?}"
            );
        }
    }
}

pub(crate) const THREE_CASES: &str = r#"  - name: one
    request: { path: /v1/token, form: { grant_type: client_credentials } }
    expect: { status: 200 }
  - name: two
    request: { path: /v1/token, form: { grant_type: password } }
    expect: { status: 200 }
  - name: three
    request: { path: /v1/token, form: { grant_type: refresh_token } }
    expect: { status: 200 }
"#;

#[test]
fn a_target_that_cannot_be_reached_is_one_line() {
    let dir = scratch("unreachable");
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    targets(&dir, &format!("http://127.0.0.1:{port}"), "{ retries: 0 }");
    suite(&dir, THREE_CASES);
    let out = run(&dir, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = format!("hint: cannot reach http://127.0.0.1:{port} (connection refused): 3 cases errored the same way");
    assert_eq!(stdout.matches(&line).count(), 1, "{stdout}");
    // No block per case repeating the same error.
    assert_eq!(stdout.matches("  error: ").count(), 0, "{stdout}");
}

#[test]
fn a_target_that_answers_html_to_everything_gets_a_hint() {
    let dir = scratch("html");
    let server = serve(Some(response(
        "501 Not Implemented",
        "text/html;charset=utf-8",
        "<html><body>Unsupported method</body></html>",
    )));
    targets(
        &dir,
        &format!("http://127.0.0.1:{}", server.port),
        "{ retries: 0 }",
    );
    suite(&dir, THREE_CASES);
    let out = run(&dir, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let hint = "hint: every response was text/html 501, not JSON: is base_url the OAuth server?";
    assert_eq!(stdout.matches(hint).count(), 1, "{stdout}");
}

#[test]
fn a_timeout_names_the_limit_it_hit() {
    let dir = scratch("timeout");
    let server = serve(None);
    targets(
        &dir,
        &format!("http://127.0.0.1:{}", server.port),
        "{ retries: 0, timeout_ms: 300 }",
    );
    suite(&dir, THREE_CASES);
    let out = run(&dir, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("timed out after 300 ms (http.timeout_ms)"),
        "{stdout}"
    );
}

/// A tmpfs of `kib` KiB at `path`, unmounted when dropped; `None` where mounting is not
/// allowed (not root, no CAP_SYS_ADMIN): the injected-failure test in `report` covers the logic.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, kib: u32) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(path)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs(path.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn a_full_disk_keeps_the_reports_written_whole_and_names_the_rest() {
    let dir = scratch("full-disk");
    // Four pages: the diff, its manifest, junit.xml and summary.json fit; index.html does not.
    let Some(disk) = Tmpfs::mount(&dir.join("tiny"), 16) else {
        return;
    };
    let reports = disk.0.join("reports");
    let out = Command::new(BIN)
        .args(["run", "tests/fixtures/golden/failing.yaml", "--report-dir"])
        .arg(&reports)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not written: index.html"), "{stderr}");
    assert!(
        stderr.contains("written completely: junit.xml, summary.json"),
        "{stderr}"
    );
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.trim_end().ends_with("</testsuites>"), "{junit}");
    assert!(!reports.join("index.html").exists());
    drop(disk);
}

#[test]
fn junit_names_the_target_in_each_suite_and_where_each_failing_case_is() {
    let dir = scratch("junit-ci");
    let reports = dir.join("reports");
    let out = Command::new(BIN)
        .args(["run", "tests/fixtures/golden/failing.yaml", "--report-dir"])
        .arg(&reports)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuite name=\"failing [mock]\"")
            && junit.contains("file=\"tests/fixtures/golden/failing.yaml\""),
        "{junit}"
    );
    assert!(junit.contains("classname=\"failing [mock]\""), "{junit}");
    assert!(
        junit.contains("tests/fixtures/golden/failing.yaml:13\n"),
        "{junit}"
    );
    let xmllint = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(root().join("tests/fixtures/junit-10.xsd"))
        .arg(reports.join("junit.xml"))
        .output();
    match xmllint {
        Ok(o) => assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "xmllint is not on PATH under CI"
        ),
    }
}

#[test]
fn one_missing_location_header_is_one_finding() {
    let dir = scratch("location");
    let server = serve(Some(response("302 Found", "text/plain", "")));
    targets(
        &dir,
        &format!("http://127.0.0.1:{}", server.port),
        "{ retries: 0 }",
    );
    suite(
        &dir,
        r#"  - name: authorize redirects with a code
    steps:
      - request: { method: GET, path: /authorize, query: { response_type: code, state: xyz } }
        expect:
          status: 302
          headers:
            location: { matches: "[?&]code=[^&]+", contains: "state=xyz" }
        capture:
          code: { header: location, regex: "[?&]code=([^&]+)" }
      - request: { path: /token, form: { grant_type: authorization_code, code: "{{ code }}" } }
        expect: { status: 200 }
"#,
    );
    let out = run(&dir, &["--format", "json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let case: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["test"].is_string())
        .expect("the case's line");
    let findings = case["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["rule"], "header location");
    let message = findings[0]["message"].as_str().unwrap();
    assert!(message.contains("missing"), "{message}");
}

#[test]
fn run_says_what_discovery_found_and_validate_says_what_depends_on_it() {
    let dir = scratch("discovery");
    let port = Arc::new(std::sync::OnceLock::<u16>::new());
    let known = port.clone();
    let server = serve_by(move |path| {
        let origin = format!("http://127.0.0.1:{}", known.get().copied().unwrap_or(0));
        Some(if path == "/.well-known/oauth-authorization-server" {
            let metadata = serde_json::json!({
                "issuer": origin,
                "token_endpoint": format!("{origin}/oauth/token"),
                "revocation_endpoint": format!("{origin}/oauth/revoke"),
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            });
            response("200 OK", "application/json", &metadata.to_string())
        } else {
            response(
                "400 Bad Request",
                "application/json",
                r#"{"error":"invalid_request"}"#,
            )
        })
    });
    port.set(server.port).unwrap();
    let issuer = format!("http://127.0.0.1:{}", server.port);
    std::fs::write(
        dir.join("targets.yaml"),
        format!(
            "targets:\n  t:\n    http: {{ retries: 0 }}\n    oauth2:\n      issuer: {issuer}\n      vars: {{ client_id: {CLIENT} }}\n      secrets: {{ client_secret: \"${{TC_REQ_SECRET}}\" }}\n"
        ),
    )
    .unwrap();
    let validate = || {
        Command::new(BIN)
            .args(["validate", "suites/oauth2/endpoints.yaml", "--targets"])
            .arg(dir.join("targets.yaml"))
            .args(["--target", "t"])
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env("TC_REQ_SECRET", SECRET)
            .env_remove("GITHUB_ACTIONS")
            .output()
            .unwrap()
    };
    let out = validate();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("oauth2: ")
            && stdout.contains("depend on discovery: `run` first reads the issuer's metadata"),
        "{stdout}"
    );
    assert!(stdout.contains("one unauthenticated GET"), "{stdout}");
    assert!(
        !stdout.contains("skip oauth2/endpoints::revoking-an-access-token-is-200"),
        "a case waiting for discovery is not a skip: {stdout}"
    );
    let out = Command::new(BIN)
        .args(["run", "suites/oauth2/token.yaml", "--targets"])
        .arg(dir.join("targets.yaml"))
        .args(["--target", "t", "--report-dir"])
        .arg(dir.join("reports"))
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("TC_REQ_SECRET", SECRET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let found = format!(
        "discovery: api oauth2 ({issuer}/.well-known/oauth-authorization-server): token_path /oauth/token, revocation_path /oauth/revoke; grant types: client_credentials; client authentication: client_secret_basic"
    );
    assert!(stdout.contains(&found), "{stdout}");
    drop(server);
}
