//! The leak proof: every shipped suite runs through the real binary against the mock, configured
//! with known unique secrets, once conformant (plus a copy of the suites with wrong expectations,
//! so every case with a token fails and writes a diff) and once per drift mode. Then stdout,
//! stderr and every file under the report folder are searched for each secret and each token
//! the mock issued, raw, base64 (Basic), URL-encoded and JSON-escaped. Zero hits, or it fails.
//!
//! How the test knows every token: it serves the mock's router itself, behind a layer that
//! records each response, and hands the binary a targets file pointing at it (secrets through
//! environment variables, as for a real target). So the binary runs unchanged, and the list of
//! tokens comes from the wire, not from the redactor under test.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use serde_json::Value;

use crate::support::{root, BIN};
use tokenconf::mock::{self, MockConfig};
use tokenconf::target::Target;

/// Unique, and unlike their own encodings: `+`, `/`, a space, quotes and `&` differ in each.
const TALKDESK_SECRET: &str = "LeakCanary-td+7f3a/9c1 \"q\"&z=1";
const SALESFORCE_SECRET: &str = "LeakCanary-sf+b41e/2d9 \"q\"&z=2";

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

fn config(drifts: &[&'static str]) -> MockConfig {
    let mut c = MockConfig::default();
    c.talkdesk.client_secret = TALKDESK_SECRET.into();
    c.salesforce.client_secret = SALESFORCE_SECRET.into();
    c.drifts = drifts.iter().copied().collect();
    c
}

type Log = Arc<Mutex<Vec<Recorded>>>;

/// What went over the wire, as the test needs it.
#[derive(Default)]
struct Recorded {
    authorization: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
}

async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let location = parts
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Ok(mut log) = log.lock() {
        log.push(Recorded {
            authorization,
            location,
            body: bytes.to_vec(),
        });
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A recording mock with `drifts`, and the targets file + environment that point the binary at it.
struct Recorder {
    log: Log,
    base_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

fn start_recorder(rt: &tokio::runtime::Runtime, drifts: &[&'static str]) -> (Recorder, Target) {
    let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    // A mock started only for its target: vars, secrets and assertions signed for its URL.
    let signer = rt
        .block_on(mock::start(config(drifts), loopback))
        .expect("the mock starts");
    let target = signer.target();
    let signed_for = signer.base_url();
    rt.block_on(signer.stop());
    let log: Log = Arc::default();
    let app = mock::router(Arc::new(config(drifts)), &signed_for)
        .layer(axum::middleware::from_fn_with_state(log.clone(), record));
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
    (
        Recorder {
            log,
            base_url,
            shutdown: Some(tx),
        },
        target,
    )
}

/// The targets file for `target` with every API (and profile) at `base_url`, with the mock's
/// capabilities, so its DPoP, PAR and other capability cases run too; secrets as `${ENV}`
/// references.
fn targets_file(dir: &Path, target: &Target, base_url: &str) -> (PathBuf, Vec<(String, String)>) {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut yaml = String::from("targets:\n  leak:\n");
    let mut env = Vec::new();
    let mut values = |yaml: &mut String,
                      indent: &str,
                      tag: &str,
                      vars: &std::collections::BTreeMap<String, String>,
                      secrets: &std::collections::BTreeMap<String, String>,
                      capabilities: &std::collections::BTreeSet<String>| {
        yaml.push_str(&format!(
            "{indent}vars:{}\n",
            if vars.is_empty() { " {}" } else { "" }
        ));
        for (k, v) in vars {
            yaml.push_str(&format!("{indent}  {}: {}\n", q(k), q(v)));
        }
        yaml.push_str(&format!(
            "{indent}secrets:{}\n",
            if secrets.is_empty() { " {}" } else { "" }
        ));
        for (k, v) in secrets {
            let var = format!("LEAK_{tag}_{k}").to_ascii_uppercase();
            yaml.push_str(&format!("{indent}  {}: \"${{{var}}}\"\n", q(k)));
            env.push((var, v.clone()));
        }
        let list: Vec<String> = capabilities.iter().map(|c| q(c)).collect();
        yaml.push_str(&format!("{indent}capabilities: [{}]\n", list.join(", ")));
    };
    for (api, a) in &target.apis {
        yaml.push_str(&format!("    {api}:\n      base_url: {}\n", q(base_url)));
        // No case waits (a pushed request's expiry): each drift mode is a run of its own.
        let mut vars = a.vars.clone();
        vars.insert("max_wait_seconds".into(), "0".into());
        values(&mut yaml, "      ", api, &vars, &a.secrets, &a.capabilities);
        if !a.profiles.is_empty() {
            yaml.push_str("      profiles:\n");
        }
        for p in &a.profiles {
            yaml.push_str(&format!("        {}:\n", p.name));
            if p.base_url.is_some() {
                yaml.push_str(&format!("          base_url: {}\n", q(base_url)));
            }
            let tag = format!("{api}_{}", p.name);
            values(
                &mut yaml,
                "          ",
                &tag,
                &p.vars,
                &p.secrets,
                &p.capabilities,
            );
        }
    }
    let path = dir.join("targets.yaml");
    std::fs::write(&path, yaml).unwrap();
    (path, env)
}

/// A copy of every shipped suite whose expectations are wrong, so cases fail with a response.
fn wrong_suites(dir: &Path) -> PathBuf {
    // Loaded from `copy/`, so the suites are named `wrong/...` beside the shipped ones.
    let out = dir.join("copy/wrong");
    for entry in walkdir::WalkDir::new(root().join("suites")) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(root().join("suites")).unwrap();
        let to = out.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else if rel.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let text = text
                .replace("status: 200\n", "status: 299\n")
                .replace("equals_ignore_case: Bearer", "equals_ignore_case: MAC");
            std::fs::write(&to, text).unwrap();
        }
    }
    dir.join("copy")
}

fn run_binary(args: &[&Path], targets: &Path, env: &[(String, String)], reports: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .args(args)
        .arg("--targets")
        .arg(targets)
        .args(["--target", "leak", "--jobs", "8"])
        .arg("--report-dir")
        .arg(reports)
        // The recording lands among the reports, so every file of it is searched too.
        .arg("--record")
        .arg(reports.join("recording"))
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

/// Every credential that crossed the wire: tokens in responses (by member name, and anything
/// shaped like a JWT), codes in redirects, and the Basic credentials the client sent.
fn issued(log: &[Recorded]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in log {
        // Bearer values are issued tokens (harvested below) or a suite's own literals.
        if let Some(v) = r
            .authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Basic "))
        {
            out.insert(v.trim().to_string());
        }
        if let Some(loc) = &r.location {
            let query = loc.split_once(['?', '#']).map_or("", |(_, q)| q);
            for (k, v) in form_urlencoded::parse(query.replace('#', "&").as_bytes()) {
                if matches!(
                    k.as_ref(),
                    "code" | "access_token" | "id_token" | "refresh_token"
                ) {
                    out.insert(v.into_owned());
                }
            }
        }
        if let Ok(v) = serde_json::from_slice::<Value>(&r.body) {
            harvest(&v, "", &mut out);
        }
    }
    out.retain(|s| s.len() >= 8);
    out
}

fn harvest(v: &Value, key: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => map.iter().for_each(|(k, v)| harvest(v, k, out)),
        Value::Array(items) => items.iter().for_each(|i| harvest(i, key, out)),
        Value::String(s) => {
            let k = key.to_ascii_lowercase();
            // RFC 8414 metadata members (token_endpoint, …_auth_methods_supported) are URLs
            // and method names, not credentials.
            let metadata = k.ends_with("_endpoint") || k.ends_with("_supported");
            let credential = (k.contains("token") && !k.ends_with("type") && !metadata)
                || matches!(k.as_str(), "signature" | "code" | "secret" | "assertion");
            if credential || looks_like_jwt(s) {
                out.insert(s.clone());
            }
        }
        _ => {}
    }
}

fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3 && parts[0].starts_with("eyJ") && parts[1].len() > 8
}

/// Every form a value can take in an output.
fn encodings(secret: &str) -> Vec<String> {
    let url: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let json = serde_json::to_string(secret).unwrap();
    let json = json.trim_matches('"').to_string();
    let twice = serde_json::to_string(&json).unwrap();
    let markup = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    // As a URL path keeps it (the url crate's own encoding), and as Rust's `{:?}` writes it.
    let path = url_path_form(secret);
    let debug = format!("{secret:?}");
    let mut out = vec![
        secret.to_string(),
        path,
        debug.trim_matches('"').to_string(),
        url.clone(),
        url.replace('+', "%20"),
        json.clone(),
        twice.trim_matches('"').to_string(),
        markup(secret),
        markup(&json),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ];
    out.sort();
    out.dedup();
    out
}

/// `secret` as it stands in the path of a URL (`http://h/echo/<here>/x`).
fn url_path_form(secret: &str) -> String {
    let url = reqwest::Url::parse(&format!("http://h/echo/{secret}/x")).unwrap();
    url.path()
        .strip_prefix("/echo/")
        .and_then(|p| p.strip_suffix("/x"))
        .unwrap_or(url.path())
        .to_string()
}

/// Basic credentials as RFC 6749 §2.3.1 sends them: base64 of `urlenc(id):urlenc(secret)`.
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
}

/// Every output of one run: stdout, stderr, and each file under the report folder.
fn outputs(o: &Output, reports: &Path) -> Vec<(String, String)> {
    let mut out = vec![
        (
            "stdout".to_string(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        ),
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
    ];
    for entry in walkdir::WalkDir::new(reports).into_iter().flatten() {
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            out.push((
                entry.path().display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

/// What one leak run leaves: hits, failing cases, diff files, the needles searched and the
/// recording (under the report folder).
type LeakRun = (Vec<String>, usize, usize, BTreeSet<String>, PathBuf);

/// One run, recorded (`--record`) among its reports.
fn leak_run(
    rt: &tokio::runtime::Runtime,
    name: &str,
    drifts: &[&'static str],
    suites: &[PathBuf],
    with_wrong_copy: bool,
) -> LeakRun {
    let dir = scratch(&format!("leak/{name}"));
    let (mut recorder, target) = start_recorder(rt, drifts);
    let (targets, env) = targets_file(&dir, &target, &recorder.base_url);
    let mut paths: Vec<PathBuf> = suites.to_vec();
    if with_wrong_copy {
        paths.push(wrong_suites(&dir));
    }
    let reports = dir.join("reports");
    let args: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let o = run_binary(&args, &targets, &env, &reports);
    if let Some(tx) = recorder.shutdown.take() {
        let _ = tx.send(());
    }
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{name}: exit {:?}\n{stdout}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    let log = std::mem::take(&mut *recorder.log.lock().unwrap());
    let mut secrets: BTreeSet<String> = issued(&log);
    secrets.extend([TALKDESK_SECRET.to_string(), SALESFORCE_SECRET.to_string()]);
    for api in target.apis.values() {
        secrets.extend(api.secrets.values().cloned());
        for id in api.vars.values() {
            for s in api.secrets.values() {
                secrets.insert(basic(id, s));
            }
        }
    }
    let needles: BTreeSet<String> = secrets
        .iter()
        .filter(|s| s.len() >= 8)
        .flat_map(|s| encodings(s))
        .filter(|n| n.len() >= 8)
        .collect();
    // The secrets' common start survives every escaping: it catches an encoding not listed above.
    let needles: BTreeSet<String> = needles
        .into_iter()
        .chain(["LeakCanary".to_string()])
        .collect();
    let jwt = regex::Regex::new(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.").unwrap();
    let mut hits = Vec::new();
    for (file, text) in outputs(&o, &reports) {
        for n in &needles {
            if text.contains(n.as_str()) {
                hits.push(format!("{name}: {file} holds {n:?}"));
            }
        }
        // A recording keeps placeholder JWTs on purpose (docs/recording.md); their values are
        // searched for like every other file's.
        let placeholder = file.contains("/recording/");
        if let Some(m) = jwt.find(&text).filter(|_| !placeholder) {
            hits.push(format!("{name}: {file} holds a JWT {:?}", m.as_str()));
        }
    }
    let failed = stdout.matches(" ... FAILED").count();
    let diffs = walkdir::WalkDir::new(reports.join("diffs"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count();
    (hits, failed, diffs, needles, reports.join("recording"))
}

/// The suite files a drift mode's API serves (the generic oauth2 ones run on Talkdesk's),
/// named one by one so each keeps its `<api>/<name>` suite name.
fn suites_for(api: &str) -> Vec<PathBuf> {
    let folders: &[&str] = match api {
        "talkdesk" => &["talkdesk", "oauth2"],
        "salesforce" => &["salesforce"],
        "miaw" => &["miaw"],
        _ => return vec![root().join("suites")],
    };
    let mut files = Vec::new();
    for f in folders {
        for entry in walkdir::WalkDir::new(root().join("suites").join(f))
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "yaml") {
                files.push(entry.path().to_path_buf());
            }
        }
    }
    files
}

#[test]
fn no_secret_or_token_reaches_any_output_over_every_suite_and_drift_mode() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut hits, failed, diffs, mut needles, conformant) =
        leak_run(&rt, "conformant", &[], &[root().join("suites")], true);
    assert!(failed > 20, "the wrong copy must fail cases: {failed}");
    assert!(diffs > 20, "failing cases must write diffs: {diffs}");
    assert!(
        needles.len() > 100,
        "tokens must have been recorded: {}",
        needles.len()
    );
    let mut recordings = Vec::new();
    let modes = mock::drift::modes();
    let mut failing_modes = 0;
    // Two binaries at a time: the machine has two cores.
    for pair in modes.chunks(2) {
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = pair
                .iter()
                .map(|m| {
                    let rt = &rt;
                    scope.spawn(move || leak_run(rt, m.name, &[m.name], &suites_for(m.api), false))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (h, failed, _, n, recording) in results {
            hits.extend(h);
            failing_modes += usize::from(failed > 0);
            needles.extend(n);
            recordings.push(recording);
        }
    }
    // `tokenconf diff` of the conformant recording with each drifted one, as text and as a
    // page, holds none of any run's secrets or tokens either.
    for recording in &recordings {
        let page = recording.with_extension("diff.html");
        let o = Command::new(BIN)
            .args(["diff", "--html"])
            .args([&page, &conformant, recording])
            .output()
            .expect("the binary runs");
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let shown = format!(
            "{}{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            std::fs::read_to_string(&page).unwrap_or_default()
        );
        for n in &needles {
            if shown.contains(n.as_str()) {
                hits.push(format!("diff with {}: holds {n:?}", recording.display()));
            }
        }
    }
    assert!(
        failing_modes > modes.len() / 2,
        "drift modes must fail cases: {failing_modes} of {}",
        modes.len()
    );
    assert!(
        hits.is_empty(),
        "{} leaks:\n{}",
        hits.len(),
        hits.join("\n")
    );
}

/// The secrets of the security review (F5): a space, regex and URL characters, NFD combining
/// marks, control characters and a soft hyphen; each with a marker that only a leak shows.
const SHAPED: [(&str, &str); 5] = [
    ("Sp ace+Plus-Secret", "Plus-Secret"),
    ("R3g+ex (c)*[x]$^|\\d{2}~!:@=&%41;,", "R3g+ex"),
    ("cafe\u{301}-Pa\u{308}ss-word-77", "ss-word-77"),
    ("ctl\x7f-Secret\x01Value", "Secret"),
    ("soft\u{ad}hyphen-Secret", "hyphen"),
];

/// A suite whose one case puts the client secret in its path (`path`), and a targets file
/// pointing its API at `base_url` with the secret from `SHAPED_SECRET`.
fn path_secret_files(dir: &Path, base_url: &str, path: &str) -> (PathBuf, PathBuf) {
    let suites = dir.join("suites");
    std::fs::create_dir_all(&suites).unwrap();
    std::fs::write(
        suites.join("in-path.yaml"),
        format!(
            "api: oauth2\nvars:\n  evil: \"@127.0.0.1:5001/\"\nsecrets: [client_secret]\ncases:\n  - name: the secret in the path\n    request:\n      path: \"{path}\"\n      form: {{ grant_type: client_credentials }}\n    expect:\n      status: 299\n"
        ),
    )
    .unwrap();
    let targets = dir.join("targets.yaml");
    std::fs::write(
        &targets,
        format!(
            "targets:\n  t:\n    http: {{ retries: 0, timeout_ms: 5000 }}\n    oauth2:\n      base_url: \"{base_url}\"\n      vars: {{ client_id: shaped-client }}\n      secrets: {{ client_secret: \"${{SHAPED_SECRET}}\" }}\n"
        ),
    )
    .unwrap();
    (suites, targets)
}

fn run_shaped(suites: &Path, targets: &Path, secret: &str, reports: &Path) -> Output {
    Command::new(BIN)
        .arg("run")
        .arg(suites)
        .arg("--targets")
        .arg(targets)
        .args(["--target", "t", "--format", "github"])
        .arg("--report-dir")
        .arg(reports)
        .arg("--record")
        .arg(reports.join("recording"))
        .current_dir(root())
        .env("SHAPED_SECRET", secret)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .expect("the binary runs")
}

/// Where `marker` or the secret's path form shows in the run's outputs.
fn shaped_hits(o: &Output, reports: &Path, secret: &str, marker: &str) -> Vec<String> {
    let path_form = url_path_form(secret);
    let mut hits = Vec::new();
    for (file, text) in outputs(o, reports) {
        for needle in [marker, path_form.as_str()] {
            if text.contains(needle) {
                hits.push(format!("{secret:?}: {file} holds {needle:?}"));
            }
        }
    }
    hits
}

/// A server that answers 200 `{}` to anything, until the sender is dropped or sent to.
fn answer_200(rt: &tokio::runtime::Runtime) -> (String, tokio::sync::oneshot::Sender<()>) {
    let app =
        axum::Router::new().fallback(|| async { ([("content-type", "application/json")], "{}") });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
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
    (base_url, tx)
}

#[test]
fn a_secret_in_a_url_path_reaches_no_output_in_any_encoding() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A port nothing listens on: the transport error quotes the URL.
    let closed = {
        let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (answering, stop) = answer_200(&rt);
    let mut hits = Vec::new();
    for (n, (secret, marker)) in SHAPED.iter().enumerate() {
        for (kind, base_url) in [("closed", &closed), ("answering", &answering)] {
            let dir = scratch(&format!("shaped/{kind}-{n}"));
            let (suites, targets) =
                path_secret_files(&dir, base_url, "/echo/{{ client_secret }}/x");
            let reports = dir.join("reports");
            let o = run_shaped(&suites, &targets, secret, &reports);
            let stdout = String::from_utf8_lossy(&o.stdout);
            assert_eq!(
                o.status.code(),
                Some(1),
                "{kind} {secret:?}: {stdout}\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            // The search means something: the case's error or failure, its annotation, the
            // reports and the recording were all written.
            assert!(stdout.contains("::error "), "{stdout}");
            for file in ["summary.json", "junit.xml", "recording/recording.json"] {
                assert!(reports.join(file).is_file(), "{kind}: no {file}");
            }
            if kind == "closed" {
                assert!(stdout.contains(MASK_SEEN), "{stdout}");
            }
            hits.extend(shaped_hits(&o, &reports, secret, marker));
        }
    }
    let _ = stop.send(());
    assert!(
        hits.is_empty(),
        "{} leaks:\n{}",
        hits.len(),
        hits.join("\n")
    );
}

/// What a masked value shows.
const MASK_SEEN: &str = "[redacted]";

#[test]
fn a_path_that_would_move_a_secret_is_refused_without_printing_it_escaped() {
    for (n, (secret, marker)) in SHAPED.iter().enumerate() {
        let dir = scratch(&format!("refused/{n}"));
        let (suites, targets) =
            path_secret_files(&dir, "http://127.0.0.1:9", "{{ evil }}{{ client_secret }}");
        let reports = dir.join("reports");
        let o = run_shaped(&suites, &targets, secret, &reports);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{secret:?}: {stderr}");
        assert!(stderr.contains("refused before sending"), "{stderr}");
        assert!(
            stderr.contains("in-path.yaml:"),
            "names the case's place: {stderr}"
        );
        let hits = shaped_hits(&o, &reports, secret, marker);
        assert!(hits.is_empty(), "{}", hits.join("\n"));
    }
}

#[test]
fn a_secret_too_short_to_mask_is_refused_before_anything_is_sent() {
    let dir = scratch("short");
    let (suites, targets) = path_secret_files(&dir, "http://127.0.0.1:9", "/token");
    let reports = dir.join("reports");
    for command in ["run", "validate"] {
        let mut cmd = Command::new(BIN);
        cmd.arg(command).arg(&suites).arg("--targets").arg(&targets);
        cmd.args(["--target", "t"]).current_dir(root());
        if command == "run" {
            cmd.arg("--report-dir").arg(&reports);
        }
        let o = cmd.env("SHAPED_SECRET", "k9!").output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("secret `client_secret` is shorter than 4 bytes"),
            "{stderr}"
        );
        assert!(stderr.contains("targets.yaml:7:"), "{stderr}");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            !stderr.contains("k9!") && !stdout.contains("k9!"),
            "{stderr}"
        );
    }
    assert!(!reports.join("summary.json").exists(), "nothing ran");
}
