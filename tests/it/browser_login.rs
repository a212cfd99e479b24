//! The scripted browser login (a target's `login:`) in headless Chromium: against
//! django-oauth-toolkit's real Django login and consent pages, and against loopback pages of our
//! own for what must go wrong safely (a selector that never appears, a form that posts to another
//! origin). Under CI (CI=true) a missing chromium fails these tests; locally they are skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{chromium, scratch, BIN};

/// Unlike its own encodings: `+`, `/`, a space, a quote and `&` change in each.
const PASSWORD: &str = "test-only typed+Pa55/word&\"7f3c9e";
const USER: &str = "test-only-login-user-5b1d";

#[test]
fn suites_oauth2_against_django_oauth_toolkit_runs_its_code_flows_through_the_browser_login() {
    if chromium().is_none() {
        return;
    }
    // Every code-flow case opens /o/authorize/, which needs Django's login and the toolkit's
    // consent: none may skip (the check allows only the server's known lacks) or error.
    crate::servers::check(crate::servers::DOT, "django-oauth-toolkit-login");
}

/// A loopback HTTP server answering every request with `answer(path)`; it keeps each request's
/// head and body as text.
struct Loopback {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Loopback {
    fn start(answer: impl Fn(&str) -> String + Send + Sync + 'static) -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let kept = kept.clone();
                let answer = answer.clone();
                std::thread::spawn(move || serve(stream, &*answer, &kept));
            }
        });
        Loopback { port, seen }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, answer: &dyn Fn(&str) -> String, kept: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    let _ = reader.read_exact(&mut body);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    kept.lock()
        .unwrap()
        .push(format!("{head}{}", String::from_utf8_lossy(&body)));
    let mut stream = stream;
    let _ = stream.write_all(answer(&path).as_bytes());
}

fn html(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn found(location: &str) -> String {
    format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

/// A suite of one code-flow case against api `idp`, and a targets file whose login script is
/// `steps` (YAML list items, indented for the file).
fn files(dir: &Path, base_url: &str, redirect_uri: &str, steps: &str) {
    std::fs::write(
        dir.join("idp.yaml"),
        format!(
            "api: idp\nvars:\n  redirect_uri: \"{redirect_uri}\"\ncases:\n  - name: a code comes back\n    requires: [auto_authorize]\n    steps:\n      - name: authorize\n        request:\n          method: GET\n          path: /authorize\n          query: {{ response_type: code, client_id: c, redirect_uri: \"{{{{ redirect_uri }}}}\", state: s1 }}\n        expect:\n          status: 302\n          headers:\n            location: {{ matches: \"[?&]code=good-code\", contains: \"state=s1\" }}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("targets.yaml"),
        format!(
            "targets:\n  t:\n    http: {{ retries: 0 }}\n    apis:\n      idp:\n        base_url: {base_url}\n        vars: {{ user: {USER} }}\n        secrets: {{ password: \"${{TC_LOGIN_PASSWORD}}\" }}\n        login:\n          step_timeout_ms: 1500\n          timeout_ms: 10000\n          steps:\n{steps}"
        ),
    )
    .unwrap();
}

fn run(dir: &Path) -> Output {
    run_with(dir, &[], &[])
}

/// The login's scratch folders left in `tmp`: none, once the run is over.
fn profiles_left(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tokenconf-login-"))
        .collect()
}

fn run_with(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(dir.join("idp.yaml"))
        .arg("--targets")
        .arg(dir.join("targets.yaml"))
        .args(["--target", "t"])
        .arg("--report-dir")
        .arg(dir.join("reports"))
        // The recording lands among the reports, so its files are searched too.
        .arg("--record")
        .arg(dir.join("reports/recording"))
        .env("TC_LOGIN_PASSWORD", PASSWORD)
        .env("NO_COLOR", "1")
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tokenconf run with a login took over a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Every file under `dir`, as bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

/// A typed value as outputs might hold it: raw, form- and percent-encoded, JSON-escaped, base64.
fn encodings(value: &str) -> Vec<String> {
    use base64::Engine;
    let form: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let json = serde_json::to_string(value).unwrap();
    vec![
        value.to_string(),
        form.clone(),
        form.replace('+', "%20"),
        json.trim_matches('"').to_string(),
        base64::engine::general_purpose::STANDARD.encode(value),
    ]
}

/// No typed value, in any encoding, in the console or in any report or recording file.
fn assert_nothing_typed_is_shown(out: &Output, dir: &Path) {
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let files = files_under(&dir.join("reports"));
    assert!(files.len() >= 3, "the reports were written");
    for typed in [PASSWORD, USER].iter().flat_map(|v| encodings(v)) {
        assert!(
            !console.contains(&typed),
            "console shows {typed:?}:\n{console}"
        );
        for (path, bytes) in &files {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains(&typed), "{} shows {typed:?}", path.display());
        }
    }
}

fn summary_case(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("reports/summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    summary["cases"][0].clone()
}

const LOGIN_STEPS: &str = "            - fill: { selector: \"#user\", var: user }\n            - fill: { selector: \"#password\", secret: password }\n            - click: \"#go\"\n";

/// A login page on `idp` whose form posts to `action`; after a good login, `/approved` redirects
/// to `redirect_uri` with a code.
fn idp(action: impl Fn() -> String + Send + Sync + 'static, redirect_uri: String) -> Loopback {
    Loopback::start(move |path| {
        if path.starts_with("/authorize") {
            html(&format!(
                "<!doctype html><title>Log in</title><form method=post action=\"{}\"><input id=user name=user><input id=password name=password type=password><button id=go>Log in</button></form>",
                action()
            ))
        } else if path.starts_with("/approved") {
            found(&format!("{redirect_uri}?code=good-code&state=s1"))
        } else {
            html("<!doctype html><title>other</title>")
        }
    })
}

#[test]
fn a_login_script_gets_the_code_without_loading_redirect_uri_and_shows_nothing_it_typed() {
    if chromium().is_none() {
        return;
    }
    let dir = scratch(module_path!(), "gets-the-code");
    // The client's redirect_uri: a server of its own, which must never be asked for anything.
    let client = Loopback::start(|_| html("client"));
    let redirect_uri = format!("{}/cb", client.origin());
    let server = idp(|| "/approved".to_string(), redirect_uri.clone());
    files(&dir, &server.origin(), &redirect_uri, LOGIN_STEPS);
    let started = Instant::now();
    // Its own temporary folder, to see Chromium's profile deleted; short, since Chromium puts a
    // socket there.
    let tmp = tempfile::Builder::new()
        .prefix("tc-login-")
        .tempdir_in("/tmp")
        .unwrap();
    let out = run_with(&dir, &[], &[("TMPDIR", tmp.path().to_str().unwrap())]);
    let case = summary_case(&dir);
    assert_eq!(
        case["status"],
        "passed",
        "{case}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        client.requests().is_empty(),
        "redirect_uri's host was asked"
    );
    // The fresh Chromium profile is deleted with the run.
    assert_eq!(profiles_left(tmp.path()), Vec::<String>::new());
    let posted = server
        .requests()
        .into_iter()
        .find(|r| r.starts_with("POST /approved"))
        .expect("the form was posted");
    let form: String = form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect();
    assert!(posted.contains(&format!("password={form}")), "{posted}");
    assert_nothing_typed_is_shown(&out, &dir);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_selector_that_never_appears_errors_the_case_within_the_step_timeout_with_a_screenshot() {
    if chromium().is_none() {
        return;
    }
    let dir = scratch(module_path!(), "wrong-selector");
    let redirect_uri = "https://client.tokenconf.invalid/cb".to_string();
    let server = idp(|| "/approved".to_string(), redirect_uri.clone());
    let steps = "            - fill: { selector: \"#password\", secret: password }\n            - click: \"#no-such-button\"\n";
    files(&dir, &server.origin(), &redirect_uri, steps);
    let started = Instant::now();
    let out = run(&dir);
    let elapsed = started.elapsed();
    let case = summary_case(&dir);
    assert_eq!(case["status"], "errored", "{case}");
    let reason = case["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("step 2")
            && reason.contains("#no-such-button")
            && reason.contains("did not appear"),
        "{reason}"
    );
    // The step timeout is 1.5 s; Chromium's start and the run's own work fit in the rest.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    let shots: Vec<PathBuf> = files_under(&dir.join("reports/screenshots"))
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(shots.len(), 1, "{reason}");
    assert!(reason.contains("screenshot: "), "{reason}");
    assert!(std::fs::read(&shots[0]).unwrap().starts_with(b"\x89PNG"));
    // index.html links it, beside the reports.
    let name = shots[0].file_name().unwrap().to_string_lossy().to_string();
    let index = std::fs::read_to_string(dir.join("reports/index.html")).unwrap();
    assert!(
        index.contains(&format!("href=\"screenshots/{name}\"")),
        "index.html does not link {name}"
    );
    assert_nothing_typed_is_shown(&out, &dir);
}

#[test]
fn a_form_that_posts_to_another_origin_sends_it_nothing() {
    if chromium().is_none() {
        return;
    }
    let dir = scratch(module_path!(), "off-origin");
    let elsewhere = Loopback::start(|_| html("<!doctype html><title>elsewhere</title>"));
    let redirect_uri = "https://client.tokenconf.invalid/cb".to_string();
    let other = format!("{}/steal", elsewhere.origin());
    let server = idp(move || other.clone(), redirect_uri.clone());
    files(&dir, &server.origin(), &redirect_uri, LOGIN_STEPS);
    let out = run(&dir);
    let case = summary_case(&dir);
    assert_eq!(case["status"], "errored", "{case}");
    let reason = case["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&elsewhere.origin()), "{reason}");
    let carried: Vec<String> = elsewhere
        .requests()
        .into_iter()
        .filter(|r| {
            [PASSWORD, USER]
                .iter()
                .flat_map(|v| encodings(v))
                .any(|e| r.contains(&e))
        })
        .collect();
    assert!(carried.is_empty(), "the other origin got: {carried:?}");
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert_nothing_typed_is_shown(&out, &dir);
}

#[test]
fn a_script_with_an_unknown_step_a_literal_value_or_an_undeclared_origin_is_exit_2_with_its_place()
{
    let dir = scratch(module_path!(), "bad-script");
    let cases = [
        ("            - tap: \"#go\"\n", "targets.yaml:13:"),
        (
            "            - fill: { selector: \"#password\", value: hunter2-literal }\n",
            "targets.yaml:13:",
        ),
        (
            "            - wait: { url: \"https://elsewhere.example/done\" }\n",
            "targets.yaml:13:",
        ),
    ];
    for (steps, place) in cases {
        files(&dir, "http://127.0.0.1:9", "https://c.example/cb", steps);
        let out = run(&dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{steps}{stderr}");
        assert!(stderr.contains(place), "{steps}{stderr}");
        assert!(!stderr.contains("hunter2-literal"), "{stderr}");
    }
}

#[test]
fn without_chromium_the_run_says_so_once_and_the_login_cases_skip() {
    let dir = scratch(module_path!(), "no-chromium");
    files(
        &dir,
        "http://127.0.0.1:9",
        "https://c.example/cb",
        LOGIN_STEPS,
    );
    let out = run_with(
        &dir,
        &["--allow-empty"],
        &[("TOKENCONF_CHROMIUM", "/nonexistent/chromium")],
    );
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{console}");
    assert_eq!(
        console.matches("Chromium was not found").count(),
        1,
        "{console}"
    );
    let case = summary_case(&dir);
    assert_eq!(case["status"], "skipped", "{case}");
    assert!(
        case["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("auto_authorize"),
        "{case}"
    );
}
