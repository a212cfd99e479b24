//! The leak proof: every shipped suite runs through the real binary against the mock, configured
//! with known unique secrets, once conformant (plus a copy of the suites with wrong expectations,
//! so every case with a token fails and writes a diff) and under every drift mode. Then stdout,
//! stderr and every file under the report folder are searched for each secret and each token
//! the mock issued, raw, base64 (Basic), URL-encoded and JSON-escaped. Zero hits, or it fails.
//!
//! A run of the binary holds drift modes of different APIs at once (the n-th mode of each), each
//! API served by a mock of its own with its own mode: a mode changes only its own API's
//! responses, so each mode's cases see what they would in a run of their own, in a run per
//! mode of every API and one per n-th mode of each API, not one per mode. A token found names
//! the mode whose mock issued it.
//!
//! How the test knows every token: it serves the mock's router itself, behind a layer that
//! records each response, and hands the binary a targets file pointing at it (secrets through
//! environment variables, as for a real target). So the binary runs unchanged, and the list of
//! tokens comes from the wire, not from the redactor under test.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use aho_corasick::AhoCorasick;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use serde_json::Value;

use crate::support::{queue, root, BIN};
use tokenconf::mock::drift::DriftMode;
use tokenconf::mock::{self, MockConfig};
use tokenconf::target::{ApiTarget, Target};

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
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(loopback))
        .expect("a loopback port");
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    // The target's URLs (DPoP `htu`, assertion `aud`) and refresh token are this mock's own.
    let (app, target) = mock::router_with_target(Arc::new(config(drifts)), &base_url);
    let log: Log = Arc::default();
    let app = app.layer(axum::middleware::from_fn_with_state(log.clone(), record));
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

/// The targets file with each API (and its profiles) at the base URL given with it, with the
/// mock's capabilities, so its DPoP, PAR and other capability cases run too; secrets as `${ENV}`
/// references.
fn targets_file(dir: &Path, apis: &[(&str, &ApiTarget, &str)]) -> (PathBuf, Vec<(String, String)>) {
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
    for &(api, a, base_url) in apis {
        yaml.push_str(&format!("    {api}:\n      base_url: {}\n", q(base_url)));
        // No case waits (a pushed request's expiry): every run would wait it out.
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

/// One run of the binary: the drift modes it holds (none for the conformant run, which runs
/// the copy of the suites with wrong expectations too), at most one per API unless it is a
/// mode of every API, which runs alone.
struct Plan {
    name: String,
    modes: Vec<&'static DriftMode>,
}

/// The conformant run, each mode of every API alone, then the other modes a run per group:
/// the n-th mode of each API together.
fn plans(modes: &'static [DriftMode]) -> Vec<Plan> {
    let plan = |modes: Vec<&'static DriftMode>| Plan {
        name: modes.iter().map(|m| m.name).collect::<Vec<_>>().join("+"),
        modes,
    };
    let mut out = vec![Plan {
        name: "conformant".into(),
        modes: Vec::new(),
    }];
    out.extend(
        modes
            .iter()
            .filter(|m| m.api == "all")
            .map(|m| plan(vec![m])),
    );
    let of = |api: &str| {
        modes
            .iter()
            .filter(move |m| m.api == api)
            .collect::<Vec<_>>()
    };
    let by_api: Vec<Vec<&DriftMode>> = APIS.iter().map(|api| of(api)).collect();
    let groups = by_api.iter().map(Vec::len).max().unwrap_or(0);
    out.extend(
        (0..groups).map(|n| plan(by_api.iter().filter_map(|ms| ms.get(n).copied()).collect())),
    );
    let planned: usize = out.iter().map(|p| p.modes.len()).sum();
    assert_eq!(
        planned,
        modes.len(),
        "every drift mode is of an API this test serves"
    );
    out
}

/// The mock's APIs; a mode names one of them or `all`.
const APIS: [&str; 4] = ["talkdesk", "salesforce", "miaw", "oauth2"];

/// What one run leaves: hits, the suite of each failed and each errored case, diff files, the
/// needles searched (each with where it came from) and the recording (under the report folder).
struct Ran {
    hits: Vec<String>,
    failed: Vec<String>,
    errored: Vec<String>,
    diffs: usize,
    needles: BTreeMap<String, String>,
    recording: PathBuf,
}

/// One run, recorded (`--record`) among its reports: each API served by a recording mock with
/// the plan's modes of that API (and of every API); APIs with the same modes share a mock.
fn leak_run(rt: &tokio::runtime::Runtime, plan: &Plan) -> Ran {
    let name = plan.name.as_str();
    let dir = scratch(&format!("leak/{name}"));
    let drifts_of = |api: &str| -> Vec<&'static str> {
        let modes = plan.modes.iter();
        modes
            .filter(|m| m.api == api || m.api == "all")
            .map(|m| m.name)
            .collect()
    };
    let mut mocks: Vec<(Vec<&'static str>, Recorder, Target)> = Vec::new();
    for api in APIS {
        let drifts = drifts_of(api);
        if !mocks.iter().any(|(d, _, _)| *d == drifts) {
            let (recorder, target) = start_recorder(rt, &drifts);
            let served: BTreeSet<&str> = target.apis.keys().map(String::as_str).collect();
            assert_eq!(served, BTreeSet::from(APIS), "the mock's APIs");
            mocks.push((drifts, recorder, target));
        }
    }
    let apis: Vec<(&str, &ApiTarget, &str)> = APIS
        .iter()
        .map(|&api| {
            let drifts = drifts_of(api);
            let (_, recorder, target) = mocks.iter().find(|(d, _, _)| *d == drifts).unwrap();
            (api, &target.apis[api], recorder.base_url.as_str())
        })
        .collect();
    let (targets, env) = targets_file(&dir, &apis);
    // The suites of each mode's API (a mode of every API takes all), each file by name unless
    // that is every suite. A mode's own mock serves only its API here, and an API without a
    // mode in this plan is served by a conformant mock as in the conformant run, whose run
    // searches every shipped suite's outputs and tokens: so a plan runs only its modes' suites.
    let folders: BTreeSet<&str> = plan
        .modes
        .iter()
        .flat_map(|m| match m.api {
            "all" => APIS.to_vec(),
            api => vec![api],
        })
        .collect();
    let mut paths = if plan.modes.is_empty() || folders.len() == APIS.len() {
        vec![root().join("suites")]
    } else {
        suite_files(&folders)
    };
    if plan.modes.is_empty() {
        paths.push(wrong_suites(&dir));
    }
    let reports = dir.join("reports");
    let args: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let o = run_binary(&args, &targets, &env, &reports);
    for (_, recorder, _) in &mut mocks {
        if let Some(tx) = recorder.shutdown.take() {
            let _ = tx.send(());
        }
    }
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{name}: exit {:?}\n{stdout}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    // Each value, with where it came from: the mock (and so the mode) that issued it, or the
    // targets file.
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    for (drifts, recorder, target) in &mocks {
        let log = std::mem::take(&mut *recorder.log.lock().unwrap());
        let mock = if drifts.is_empty() {
            "the conformant mock".to_string()
        } else {
            format!("the {} mock", drifts.join("+"))
        };
        for token in issued(&log) {
            secrets.entry(token).or_insert(format!("issued by {mock}"));
        }
        for api in target.apis.values() {
            for s in api.secrets.values() {
                secrets.insert(s.clone(), "a secret of the targets file".into());
                for id in api.vars.values() {
                    let from = "Basic credentials of the targets file";
                    secrets.entry(basic(id, s)).or_insert(from.into());
                }
            }
        }
    }
    for s in [TALKDESK_SECRET, SALESFORCE_SECRET] {
        secrets.insert(s.into(), "a secret of the mock".into());
    }
    let mut needles: BTreeMap<String, String> = BTreeMap::new();
    for (s, from) in secrets.iter().filter(|(s, _)| s.len() >= 8) {
        for n in encodings(s).into_iter().filter(|n| n.len() >= 8) {
            needles.entry(n).or_insert_with(|| from.clone());
        }
    }
    // The secrets' common start survives every escaping: it catches an encoding not listed above.
    needles.insert("LeakCanary".into(), "the secrets' common start".into());
    let jwt = regex::Regex::new(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.").unwrap();
    let search = Search::new(&needles);
    let mut hits = Vec::new();
    for (file, text) in outputs(&o, &reports) {
        for (n, from) in search.found(&text) {
            hits.push(format!("{name}: {file} holds {n:?} ({from})"));
        }
        // A recording keeps placeholder JWTs on purpose (docs/recording.md); their values are
        // searched for like every other file's.
        let placeholder = file.contains("/recording/");
        if let Some(m) = jwt.find(&text).filter(|_| !placeholder) {
            hits.push(format!("{name}: {file} holds a JWT {:?}", m.as_str()));
        }
    }
    // `test <api>/<suite>::<case> ... FAILED` (or `ERROR (why)`): the suite of each such case.
    let suites_of = |status: &dyn Fn(&str) -> bool| -> Vec<String> {
        stdout
            .lines()
            .filter(|l| status(l))
            .filter_map(|l| Some(l.strip_prefix("test ")?.split("::").next()?.to_string()))
            .collect()
    };
    let failed = suites_of(&|l| l.ends_with(" ... FAILED"));
    let errored = suites_of(&|l| l.contains(" ... ERROR"));
    let diffs = walkdir::WalkDir::new(reports.join("diffs"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count();
    Ran {
        hits,
        failed,
        errored,
        diffs,
        needles,
        recording: reports.join("recording"),
    }
}

/// Many needles searched in one pass over a text: one `str::contains` per needle and file, in an
/// unoptimized test build, was most of this test's time.
struct Search<'a> {
    needles: Vec<(&'a str, &'a str)>,
    automaton: AhoCorasick,
}

impl<'a> Search<'a> {
    /// Needles, each with where it came from.
    fn new(needles: &'a BTreeMap<String, String>) -> Search<'a> {
        let needles: Vec<(&str, &str)> = needles
            .iter()
            .map(|(n, f)| (n.as_str(), f.as_str()))
            .collect();
        let automaton = AhoCorasick::new(needles.iter().map(|(n, _)| n))
            .expect("the needles make an automaton");
        Search { needles, automaton }
    }

    /// Every needle `text` holds, each once, in the needles' order, with where it came from.
    fn found(&self, text: &str) -> Vec<(&'a str, &'a str)> {
        // Overlapping: a needle inside another one's match, or across two, is found too.
        let ids: BTreeSet<usize> = self
            .automaton
            .find_overlapping_iter(text)
            .map(|m| m.pattern().as_usize())
            .collect();
        ids.into_iter().map(|i| self.needles[i]).collect()
    }
}

/// What `tokenconf diff` of two recordings shows, as text (stdout, stderr) and as a page.
fn diff_output(from: &Path, to: &Path) -> String {
    let page = to.with_extension("diff.html");
    let o = Command::new(BIN)
        .args(["diff", "--html"])
        .args([&page, from, to])
        .output()
        .expect("the binary runs");
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let page = std::fs::read_to_string(&page).expect("`diff --html` writes its page");
    format!(
        "{}{}{page}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    )
}

/// A run's needles into `all`, each naming the run it came from, for a hit in a diff.
fn gather(all: &mut BTreeMap<String, String>, run: &str, needles: BTreeMap<String, String>) {
    for (n, from) in needles {
        all.entry(n).or_insert_with(|| format!("{run}: {from}"));
    }
}

/// The suite files under `folders` of suites/, named one by one so each keeps its
/// `<api>/<name>` suite name.
fn suite_files(folders: &BTreeSet<&str>) -> Vec<PathBuf> {
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
    let modes = mock::drift::modes();
    let plans = plans(modes);
    let mut runs = queue(2, &plans, |plan| leak_run(&rt, plan)).into_iter();
    let conformant = runs.next().expect("the conformant run");
    assert!(
        conformant.failed.len() > 20,
        "the wrong copy must fail cases: {}",
        conformant.failed.len()
    );
    // The shipped suites pass there, so every token they can make a server issue (DPoP-bound
    // ones too) is issued, and searched for.
    let shipped: Vec<&String> = (conformant.failed.iter())
        .chain(&conformant.errored)
        .filter(|s| !s.starts_with("wrong/"))
        .collect();
    assert!(
        shipped.is_empty(),
        "shipped suites failed or errored on the conformant mock: {shipped:?}"
    );
    assert!(
        conformant.diffs > 20,
        "failing cases must write diffs: {}",
        conformant.diffs
    );
    assert!(
        conformant.needles.len() > 100,
        "tokens must have been recorded: {}",
        conformant.needles.len()
    );
    let mut hits = conformant.hits;
    let mut needles = BTreeMap::new();
    gather(&mut needles, "conformant", conformant.needles);
    let mut recordings = Vec::new();
    let mut failing_modes = 0;
    for (plan, ran) in plans[1..].iter().zip(runs) {
        // A mode fails cases in its own API's suites.
        for m in &plan.modes {
            let api = |suite: &String| m.api == "all" || suite.split('/').next() == Some(m.api);
            failing_modes += usize::from(ran.failed.iter().any(api));
        }
        hits.extend(ran.hits);
        gather(&mut needles, &plan.name, ran.needles);
        recordings.push(ran.recording);
    }
    // `tokenconf diff` of the conformant recording with each drifted one, as text and as a
    // page, holds none of any run's secrets or tokens either.
    let shown = queue(2, &recordings, |r| diff_output(&conformant.recording, r));
    let search = Search::new(&needles);
    for (recording, shown) in recordings.iter().zip(&shown) {
        for (n, from) in search.found(shown) {
            hits.push(format!(
                "diff with {}: holds {n:?} ({from})",
                recording.display()
            ));
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
