//! Recordings and run summaries as an attacker may shape them (issue 21: F1, F4, F9, F10, F11):
//! `run --record` over a hostile recording deletes nothing outside it, a recording masks tokens
//! inside base64 blobs, recording text reaches the terminal escaped, `origins` accepts origins
//! only, and pipes, devices and links out of the folder are refused at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::support::text;
use crate::support::{root, BIN};

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

/// The binary with `args` in `dir`, killed after `limit`: a read that blocks fails the test
/// instead of hanging it. Also returns how long it took.
fn tokenconf_within(
    args: &[&str],
    dir: &Path,
    env: &[(&str, &str)],
    limit: Duration,
) -> (Output, Duration) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the binary runs");
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tokenconf {args:?} did not finish within {limit:?}");
            }
        }
    }
    let took = started.elapsed();
    (child.wait_with_output().expect("its output"), took)
}

fn tokenconf(args: &[&str], dir: &Path) -> Output {
    tokenconf_within(args, dir, &[], Duration::from_secs(120)).0
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `run --record rec` of one shipped case against the embedded mock, in `dir`.
fn record_one(dir: &Path, rec: &Path) -> Output {
    let suite = root().join("suites/oauth2/token.yaml");
    tokenconf(
        &[
            "run",
            &path(&suite),
            "--specs",
            &path(&root().join("specs")),
            "--report-dir",
            &path(&dir.join("reports")),
            "--filter",
            "client-credentials-with-basic-auth",
            "--record",
            &path(rec),
        ],
        dir,
    )
}

fn index(cases: &str) -> String {
    format!(
        r#"{{"format":1,"tool":"tokenconf","version":"0.1.0","target":"nightly",
            "recorded":"2026-12-01T00:00:00Z","cases":{cases},"fixtures":[]}}"#
    )
}

#[cfg(unix)]
#[test]
fn recording_over_a_hostile_recording_deletes_nothing_outside_it() {
    let dir = scratch("f1");
    let victim = dir.join("victim-files");
    std::fs::create_dir_all(&victim).unwrap();
    for name in [
        "important.txt",
        "abs.txt",
        "notes.cassette.json",
        "other.shape.json",
    ] {
        std::fs::write(victim.join(name), "precious").unwrap();
    }
    let rec = dir.join("rec");
    std::fs::create_dir_all(rec.join("cases/mine")).unwrap();
    // A linked folder whose names look like the recorder's own.
    std::os::unix::fs::symlink(&victim, rec.join("cases/link")).unwrap();
    // A file the earlier recording did write: it goes.
    std::fs::write(rec.join("cases/mine/old.cassette.json"), "{}").unwrap();
    // A file of the user's that the index does not list: it stays, and is said to.
    std::fs::write(rec.join("cases/mine/notes.txt"), "mine").unwrap();
    let absolute = path(&victim.join("abs.txt"));
    let cases = serde_json::json!([
        {"test": "oauth2/token::a", "cassette": "../victim-files/important.txt", "shape": absolute},
        {"test": "oauth2/token::b", "cassette": "cases/link/notes.cassette.json",
         "shape": "cases/link/other.shape.json"},
        {"test": "oauth2/token::c", "cassette": "cases/mine/old.cassette.json"},
        {"test": "oauth2/token::d", "cassette": "cases/mine/../../victim-files/important.txt"}
    ]);
    std::fs::write(rec.join("recording.json"), index(&cases.to_string())).unwrap();

    let out = record_one(&dir, &rec);
    assert!(out.status.success(), "{}", text(&out));
    for name in [
        "important.txt",
        "abs.txt",
        "notes.cassette.json",
        "other.shape.json",
    ] {
        assert_eq!(
            std::fs::read_to_string(victim.join(name)).ok().as_deref(),
            Some("precious"),
            "{name} survives:\n{}",
            text(&out)
        );
    }
    assert!(
        rec.join("recording.json").is_file(),
        "the new recording is written"
    );
    let shown = String::from_utf8_lossy(&out.stderr);
    assert!(
        shown.contains("warning: the earlier recording listed 5 file(s)")
            && shown.contains("../victim-files/important.txt")
            && shown.contains("cases/link/notes.cassette.json"),
        "what was left alone is said:\n{shown}"
    );
    // The old folder now holds only what the user put there, and the link.
    let kept: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tokenconf-old-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(shown.contains("other files are kept in"), "{shown}");
    assert_eq!(
        std::fs::read_to_string(kept[0].join("cases/mine/notes.txt")).unwrap(),
        "mine"
    );
    assert!(!kept[0].join("cases/mine/old.cassette.json").exists());
    assert!(!kept[0].join("recording.json").exists());
}

/// The embedded mock's folder layout, written by a run: replacing it warns about nothing.
#[test]
fn recording_over_an_ordinary_recording_replaces_it_without_a_word() {
    let dir = scratch("f1-plain");
    let rec = dir.join("rec");
    let first = record_one(&dir, &rec);
    assert!(first.status.success(), "{}", text(&first));
    let again = record_one(&dir, &rec);
    assert!(again.status.success(), "{}", text(&again));
    assert!(!text(&again).contains("warning: "), "{}", text(&again));
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tokenconf-"))
        .collect();
    assert!(left.is_empty(), "nothing is left beside it: {left:?}");
}

/// Issued tokens, as the server of the report fixes them.
const ACCESS: &str = "AT-Fixed-Access-7788xyz";
const REFRESH: &str = "RT-Fixed-Refresh-9911xyz";
const SECRET: &str = "Plain-Secret-Value-123";

/// Answers every request with the same tokens and `blob`: base64 of `x:` + path + `:` + body
/// + `:` + the Authorization header, so what the client sent comes back at some offset.
async fn blob_echo(request: axum::extract::Request) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let blob = base64::engine::general_purpose::STANDARD.encode(format!(
        "x:{}:{}:{authorization}",
        parts.uri.path(),
        String::from_utf8_lossy(&body)
    ));
    let json = serde_json::json!({
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "token_type": "Bearer",
        "expires_in": 3600,
        "blob": blob,
    });
    axum::response::IntoResponse::into_response(axum::Json(json))
}

/// Every string of a JSON value.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|i| strings(i, out)),
        serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out)
        }),
        _ => {}
    }
}

/// What `text` can be read as: itself, and the base64 decodings of each piece between masks,
/// from each of the four starting offsets.
fn readings(text: &str) -> Vec<String> {
    let mut out = vec![text.to_string()];
    for piece in text.split("[redacted]") {
        for skip in 0..4.min(piece.len()) {
            let p = &piece[skip..];
            let usable = &p[..p.len() / 4 * 4];
            for engine in [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::URL_SAFE,
            ] {
                if let Ok(bytes) = engine.decode(usable) {
                    out.push(String::from_utf8_lossy(&bytes).into_owned());
                }
            }
        }
    }
    out
}

#[test]
fn a_recording_masks_issued_tokens_inside_a_base64_blob() {
    let dir = scratch("f4");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rt.spawn(async move {
        let app = axum::Router::new().fallback(blob_echo);
        let _ = axum::serve(listener, app).await;
    });
    std::fs::create_dir_all(dir.join("suites/leak")).unwrap();
    std::fs::write(
        dir.join("suites/leak/blob.yaml"),
        r#"api: oauth2
vars: { client_id: leak-client }
secrets: [client_secret]
cases:
  - name: client secret post then refresh with the issued refresh token
    steps:
      - request:
          path: /token
          form: { grant_type: client_credentials, client_id: "{{ client_id }}", client_secret: "{{ client_secret }}" }
        expect: { status: 200 }
        capture: { refresh_token: $.refresh_token, access_token: $.access_token }
      - request:
          path: /token
          json: { grant_type: refresh_token, refresh_token: "{{ refresh_token }}" }
        expect: { status: 200 }
      - request: { method: GET, path: /userinfo, auth: { bearer: "{{ access_token }}" } }
        expect: { status: 200 }
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("targets.yaml"),
        format!(
            "targets:\n  t:\n    oauth2:\n      base_url: \"http://{addr}\"\n      secrets:\n        client_secret: \"${{LEAK_SECRET}}\"\n"
        ),
    )
    .unwrap();
    let rec = dir.join("rec");
    let (out, _) = tokenconf_within(
        &[
            "run",
            "suites",
            "--targets",
            "targets.yaml",
            "--target",
            "t",
            "--report-dir",
            "reports",
            "--record",
            "rec",
        ],
        &dir,
        &[("LEAK_SECRET", SECRET)],
        Duration::from_secs(120),
    );
    server.abort();
    assert!(out.status.success(), "{}", text(&out));
    let mut files = Vec::new();
    for e in walkdir::WalkDir::new(&rec) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            files.push(e.path().to_path_buf());
        }
    }
    let cassette = files
        .iter()
        .find(|f| f.to_string_lossy().ends_with(".cassette.json"))
        .expect("the case is recorded");
    let body = std::fs::read_to_string(cassette).unwrap();
    assert!(body.contains("\"blob\""), "the blob is recorded: {body}");
    let mut hits = Vec::new();
    for f in &files {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let mut all = Vec::new();
        strings(&v, &mut all);
        for s in &all {
            for reading in readings(s) {
                for needle in [ACCESS, REFRESH, SECRET, "Fixed-Access", "Fixed-Refresh"] {
                    if reading.contains(needle) {
                        hits.push(format!("{}: {needle} in {reading:?}", f.display()));
                    }
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "tokens in the recording:\n{}",
        hits.join("\n")
    );
}

/// A recording folder of one case whose cassette and shape are `cassette` and `shape`.
fn recording_with(dir: &Path, name: &str, cassette: &str, shape: &str) -> PathBuf {
    let rec = dir.join(name);
    std::fs::create_dir_all(rec.join("cases")).unwrap();
    let cases =
        serde_json::json!([{"test": "oauth2/token::x", "cassette": cassette, "shape": shape}]);
    std::fs::write(rec.join("recording.json"), index(&cases.to_string())).unwrap();
    rec
}

#[test]
fn recording_text_in_errors_reaches_the_terminal_escaped() {
    let dir = scratch("f9");
    let rec = recording_with(&dir, "r12", "a\u{1b}[31mb", "s\u{1b}]0;owned\u{7}");
    for args in [
        vec!["diff", "r12", "r12"],
        vec![
            "run",
            &path(&root().join("suites/oauth2/token.yaml")),
            "--specs",
            &path(&root().join("specs")),
            "--report-dir",
            "reports",
            "--mock-replay",
            "r12",
        ],
    ] {
        let out = tokenconf(&args, &dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        assert!(
            !all.contains(&0x1b) && !all.contains(&0x07),
            "{args:?} printed a raw control character: {:?}",
            text(&out)
        );
        assert!(text(&out).contains("r12"), "{args:?}: {}", text(&out));
    }
    let _ = rec;
}

#[test]
fn origins_that_are_not_origins_are_a_load_error_naming_the_field() {
    let dir = scratch("f10");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let with_origins = |name: &str, origins: serde_json::Value| -> PathBuf {
        let rec = dir.join(name);
        std::fs::create_dir_all(&rec).unwrap();
        let mut index: serde_json::Value = serde_json::from_str(&index("[]")).unwrap();
        index["origins"] = origins;
        std::fs::write(rec.join("recording.json"), index.to_string()).unwrap();
        rec
    };
    for (name, origins, at) in [
        ("empty", serde_json::json!([""]), "origins[0]"),
        ("eight-empty", serde_json::json!(vec![""; 8]), "origins[0]"),
        (
            "with-path",
            serde_json::json!(["http://127.0.0.1:8080", "http://127.0.0.1:8080/x"]),
            "origins[1]",
        ),
        ("scheme-only", serde_json::json!(["http://"]), "origins[0]"),
        ("a-word", serde_json::json!(["a"]), "origins[0]"),
        (
            "credentials",
            serde_json::json!(["http://u:p@127.0.0.1:8080"]),
            "origins[0]",
        ),
        (
            "not-http",
            serde_json::json!(["ftp://127.0.0.1"]),
            "origins[0]",
        ),
    ] {
        let rec = with_origins(name, origins);
        let started = Instant::now();
        let e = rt
            .block_on(tokenconf::mock::replay::start(
                &rec,
                "127.0.0.1:0".parse().unwrap(),
            ))
            .err()
            .unwrap_or_else(|| panic!("{name}: the replay started"));
        assert!(started.elapsed() < Duration::from_secs(5), "{name}");
        let shown = e.to_string();
        assert!(
            shown.contains(at)
                && shown.contains("recording.json")
                && shown.contains("not an origin"),
            "{name}: {shown}"
        );
        assert_eq!(e.exit(), tokenconf::error::Exit::Unusable, "{name}");
    }
    // Origins, given twice: kept once.
    let rec = with_origins(
        "twice",
        serde_json::json!([
            "http://127.0.0.1:8080",
            "https://login.example.com",
            "http://127.0.0.1:8080"
        ]),
    );
    let index = tokenconf::record::load_index(&rec).unwrap();
    assert_eq!(
        index.origins,
        ["http://127.0.0.1:8080", "https://login.example.com"]
    );
}

#[cfg(unix)]
fn fifo(at: &Path) {
    let made = Command::new("mkfifo")
        .arg(at)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
}

#[cfg(unix)]
#[test]
fn pipes_devices_and_links_out_of_a_recording_are_refused_at_once() {
    use std::os::unix::fs::symlink;
    let dir = scratch("f11");
    std::fs::write(dir.join("outside.json"), "{}").unwrap();
    let token = path(&root().join("suites/oauth2/token.yaml"));
    let specs = path(&root().join("specs"));
    let replay = |rec: &str| -> Vec<String> {
        vec![
            "run".into(),
            token.clone(),
            "--specs".into(),
            specs.clone(),
            "--report-dir".into(),
            format!("reports-{rec}"),
            "--mock-replay".into(),
            rec.into(),
        ]
    };
    let mut checks: Vec<(&str, Vec<String>, &str)> = Vec::new();

    // recording.json: a pipe, and a link to /dev/zero (`diff` reads only the index first).
    for (name, make, why) in [
        ("index-fifo", 0, "a pipe"),
        ("index-zero", 1, "leads out of the recording folder"),
    ] {
        let rec = dir.join(name);
        std::fs::create_dir_all(&rec).unwrap();
        if make == 0 {
            fifo(&rec.join("recording.json"));
        } else {
            symlink("/dev/zero", rec.join("recording.json")).unwrap();
        }
        checks.push((name, vec!["diff".into(), name.into(), name.into()], why));
    }
    // A cassette: a pipe, a link to /dev/zero, and a link to a file outside the folder.
    recording_with(
        &dir,
        "cassette-fifo",
        "cases/x.cassette.json",
        "cases/x.shape.json",
    );
    fifo(&dir.join("cassette-fifo/cases/x.cassette.json"));
    checks.push(("cassette-fifo", replay("cassette-fifo"), "a pipe"));
    recording_with(
        &dir,
        "cassette-zero",
        "cases/x.cassette.json",
        "cases/x.shape.json",
    );
    symlink("/dev/zero", dir.join("cassette-zero/cases/x.cassette.json")).unwrap();
    checks.push((
        "cassette-zero",
        replay("cassette-zero"),
        "leads out of the recording folder",
    ));
    recording_with(
        &dir,
        "cassette-out",
        "cases/x.cassette.json",
        "cases/x.shape.json",
    );
    symlink(
        dir.join("outside.json"),
        dir.join("cassette-out/cases/x.cassette.json"),
    )
    .unwrap();
    checks.push((
        "cassette-out",
        replay("cassette-out"),
        "leads out of the recording folder",
    ));
    // A shape, as `diff` reads it.
    recording_with(
        &dir,
        "shape-fifo",
        "cases/x.cassette.json",
        "cases/x.shape.json",
    );
    fifo(&dir.join("shape-fifo/cases/x.shape.json"));
    checks.push((
        "shape-fifo",
        vec!["diff".into(), "shape-fifo".into(), "shape-fifo".into()],
        "a pipe",
    ));
    // summary.json of `report --history`: a pipe, and a link to /dev/zero.
    std::fs::create_dir_all(dir.join("run-fifo")).unwrap();
    fifo(&dir.join("run-fifo/summary.json"));
    checks.push((
        "summary-fifo",
        vec![
            "report".into(),
            "--history".into(),
            "run-fifo".into(),
            "--output".into(),
            "h.html".into(),
        ],
        "a pipe",
    ));
    std::fs::create_dir_all(dir.join("run-zero")).unwrap();
    symlink("/dev/zero", dir.join("run-zero/summary.json")).unwrap();
    checks.push((
        "summary-zero",
        vec![
            "report".into(),
            "--history".into(),
            "run-zero".into(),
            "--output".into(),
            "h.html".into(),
        ],
        "a device",
    ));

    for (name, args, why) in checks {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, took) = tokenconf_within(&args, &dir, &[], Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        assert!(took < Duration::from_secs(15), "{name} took {took:?}");
        let shown = String::from_utf8_lossy(&out.stderr);
        assert!(shown.contains(why), "{name}: want {why:?} in {shown}");
    }
}
