//! What an attacker or a slip can hide from a run (issue 21 F2, F3, F8, known deviations; issue 23
//! items 1 and 7): a run that tested nothing, expected-findings entries wider than one finding,
//! a cache folder others can write, a user's deviations file.

use crate::support::{root, BIN};
use crate::support::{streams, tokenconf, write};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A loopback server that answers each request by `answer(request line, its port)`, for at
/// most `max` connections.
fn server(max: usize, answer: impl Fn(&str, u16) -> (u16, String) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 16384];
            let got = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..got]).into_owned();
            let (status, body) = answer(head.lines().next().unwrap_or(""), port);
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(response.as_bytes());
        }
    });
    port
}

/// The F8 reproduction: metadata with empty lists, and a token endpoint that accepts anything
/// (a wrong secret included).
fn empty_lists_server() -> u16 {
    server(200, |line, port| {
        if line.starts_with("GET /.well-known/oauth-authorization-server") {
            let issuer = format!("http://127.0.0.1:{port}");
            let doc = serde_json::json!({
                "issuer": issuer,
                "token_endpoint": format!("{issuer}/token"),
                "response_types_supported": ["code"],
                "grant_types_supported": [],
                "token_endpoint_auth_methods_supported": [],
            });
            (200, doc.to_string())
        } else {
            (
                200,
                r#"{"access_token":"at-1234567890","token_type":"Bearer","expires_in":3600}"#
                    .to_string(),
            )
        }
    })
}

fn issuer_target(dir: &Path, port: u16) -> PathBuf {
    write(
        dir,
        "targets.yaml",
        &format!(
            "targets:\n  t:\n    http: {{ retries: 0, timeout_ms: 5000 }}\n    oauth2:\n      issuer: \"http://127.0.0.1:{port}\"\n      vars: {{ client_id: victim-client }}\n      secrets: {{ client_secret: \"${{SEC_EXPECTED_SECRET}}\" }}\n"
        ),
    )
}

const SECRET: (&str, &str) = ("SEC_EXPECTED_SECRET", "Victim-Secret-42");

/// F8: empty lists in the metadata skip the cases that need a success, never the probes, and
/// are a finding of the metadata case; before, every case was skipped and the run exited 0.
#[test]
fn empty_metadata_lists_skip_no_probe_and_are_a_finding() {
    let dir = scratch("f8");
    let port = empty_lists_server();
    let targets = issuer_target(&dir, port);
    let reports = dir.join("reports");
    let common = [
        "--targets",
        arg(&targets),
        "--target",
        "t",
        "--report-dir",
        arg(&reports),
    ];
    let o = tokenconf(
        &[&["run", "suites/oauth2/token.yaml"][..], &common].concat(),
        &[SECRET],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let probe = out
        .lines()
        .find(|l| l.contains("wrong-secret-is-401"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(probe.ends_with("FAILED"), "the probe ran: {probe}");
    let success = out
        .lines()
        .find(|l| l.contains("client-credentials-with-basic-auth-returns-a-token-response"))
        .unwrap();
    assert!(success.contains("skipped ("), "{success}");
    let o = tokenconf(
        &[
            &[
                "run",
                "suites/oauth2/endpoints.yaml",
                "--filter",
                "metadata",
            ][..],
            &common,
        ]
        .concat(),
        &[SECRET],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert_eq!(
        out.matches("[SHOULD] RFC8414-2-supported-not-empty")
            .count(),
        2,
        "{out}"
    );
    assert!(!out.contains("Victim-Secret-42") && !err.contains("Victim-Secret-42"));
}

/// Issue 23 item 1: a run in which every case was skipped is exit 2 with one line saying why,
/// unless `--allow-empty`; before, it said `ok` and exited 0.
#[test]
fn a_run_whose_every_case_is_skipped_exits_2_unless_allowed() {
    let dir = scratch("all-skipped");
    let suite = write(
        &dir,
        "unsupplied.yaml",
        "api: talkdesk\nvars: { unset: \"\" }\ncases:\n  - name: a token\n    requires: [unset]\n    request: { path: /oauth/token, form: { grant_type: client_credentials } }\n    expect: { status: 200 }\n",
    );
    let reports = dir.join("reports");
    let o = tokenconf(&["run", arg(&suite), "--report-dir", arg(&reports)], &[]);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    let line: Vec<&str> = err.lines().filter(|l| l.contains("no case ran")).collect();
    assert_eq!(line.len(), 1, "{err}");
    assert!(
        line[0].starts_with("error: no case ran: the 1 selected case was skipped (")
            && line[0].contains("unset")
            && line[0].ends_with("--allow-empty accepts that"),
        "{}",
        line[0]
    );
    let o = tokenconf(
        &[
            "run",
            arg(&suite),
            "--report-dir",
            arg(&reports),
            "--allow-empty",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", streams(&o));
    // One case ran and one was skipped: the run is judged by the one that ran.
    let mixed = write(
        &dir,
        "mixed.yaml",
        "api: talkdesk\nvars: { client_id: conformance-client, unset: \"\" }\nsecrets: [client_secret]\ncases:\n  - name: runs\n    request: { path: /oauth/token, auth: { basic: { user: \"{{ client_id }}\", password: \"{{ client_secret }}\" } }, form: { grant_type: client_credentials } }\n    expect: { status: 200 }\n  - name: skipped\n    requires: [unset]\n    request: { path: /oauth/token }\n    expect: { status: 200 }\n",
    );
    let o = tokenconf(&["run", arg(&mixed), "--report-dir", arg(&reports)], &[]);
    assert_eq!(o.status.code(), Some(0), "{:?}", streams(&o));
}

/// A server for F3's reproduction: the first redemption of a code answers 201 (the accepted
/// deviation), every later one 200 (a code accepted twice); every other request 200 too (a
/// wrong secret and an unknown client accepted).
fn code_twice_server() -> u16 {
    let redeemed = std::sync::atomic::AtomicUsize::new(0);
    server(100, move |line, _| {
        let token = r#"{"access_token":"at-1234567890","token_type":"Bearer","expires_in":3600}"#;
        if line.starts_with("POST /redeem") {
            let n = redeemed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n.is_multiple_of(2) {
                return (201, token.to_string());
            }
        }
        (200, token.to_string())
    })
}

const CODE_SUITE: &str = r#"api: oauth2
vars: { client_id: victim-client }
secrets: [client_secret]
cases:
  - name: an authorization code is single use
    steps:
      - name: first redemption
        request: { path: /redeem, auth: { basic: { user: "{{ client_id }}", password: "{{ client_secret }}" } }, form: { grant_type: authorization_code, code: abc } }
        expect: { status: 200 }
      - name: second redemption
        request: { path: /redeem, auth: { basic: { user: "{{ client_id }}", password: "{{ client_secret }}" } }, form: { grant_type: authorization_code, code: abc } }
        expect: { status: 400 }
  - name: unknown client is refused
    request: { path: /token, auth: { basic: { user: nobody, password: "{{ client_secret }}" } }, form: { grant_type: client_credentials } }
    expect: { status: 401 }
  - name: wrong secret is refused
    request: { path: /token, auth: { basic: { user: "{{ client_id }}", password: wrong } }, form: { grant_type: client_credentials } }
    expect: { status: 401 }
"#;

/// F3 and issue 23 item 7, through the binary, against the twice-accepted code.
#[test]
fn an_expected_finding_hides_one_finding_and_says_what_became_of_each_entry() {
    let dir = scratch("f3");
    let port = code_twice_server();
    let targets = write(
        &dir,
        "targets.yaml",
        &format!(
            "targets:\n  t:\n    http: {{ retries: 0, timeout_ms: 5000 }}\n    oauth2:\n      base_url: \"http://127.0.0.1:{port}\"\n      secrets: {{ client_secret: \"${{SEC_EXPECTED_SECRET}}\" }}\n"
        ),
    );
    let suite = write(&dir, "exp.yaml", CODE_SUITE);
    let reports = dir.join("reports");
    let run = |expected: &Path| {
        let o = tokenconf(
            &[
                "run",
                arg(&suite),
                "--targets",
                arg(&targets),
                "--target",
                "t",
                "--jobs",
                "1",
                "--report-dir",
                arg(&reports),
                "--expected",
                arg(expected),
            ],
            &[SECRET],
        );
        let (out, err) = streams(&o);
        (o.status.code(), out, err)
    };
    // The report's expected-1.yaml: test and check only. It hid the second redemption's 200.
    let wide = write(
        &dir,
        "expected-1.yaml",
        "- test: \"exp::an-authorization-code-is-single-use\"\n  rule: status\n  reason: \"this server answers 201 to the first redemption\"\n",
    );
    let (code, out, err) = run(&wide);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.contains("expected-1.yaml:1:") && err.contains("widen: [any_step]"),
        "{err}"
    );
    // The report's glob trick: reads as one test, matched them all.
    let glob = write(
        &dir,
        "expected-2.yaml",
        "- test: \"{exp::unknown-client-is-refused,*}\"\n  rule: status\n  step: step 1\n  actual: \"200\"\n  reason: x\n",
    );
    let (code, _, err) = run(&glob);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("expected-2.yaml:1:9") && err.contains("alternation"),
        "{err}"
    );
    // One finding, pinned: the first redemption's 201. The second's 200 fails; the entries for
    // a step that was not reached, and for no test at all, say so.
    let pinned = write(
        &dir,
        "expected-3.yaml",
        "- test: \"exp::an-authorization-code-is-single-use\"\n  rule: status\n  step: first redemption\n  actual: \"201\"\n  reason: \"this server answers 201 to the first redemption\"\n- test: \"exp::unknown-client-is-refused\"\n  rule: status\n  step: step 2\n  actual: \"200\"\n  reason: no such step\n- test: \"exp::no-such-test\"\n  rule: status\n  step: step 1\n  actual: \"200\"\n  reason: a typo\n- test: \"exp::*-is-refused\"\n  rule: status\n  step: step 1\n  actual: \"200\"\n  reason: both probes\n  widen: [many_tests]\n- test: \"exp::an-authorization-code-is-single-use\"\n  rule: json $.error\n  step: first redemption\n  reason: the error member is gone\n",
    );
    let (code, out, err) = run(&pinned);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let case = out
        .lines()
        .find(|l| l.contains("an-authorization-code-is-single-use ..."))
        .unwrap();
    assert!(case.ends_with("FAILED"), "{case}");
    assert!(
        out.contains("[EXPECTED] status: status 201, expected 200")
            && out.contains("reason:   this server answers 201 to the first redemption")
            && out.contains("[MUST] status: status 200, expected 400"),
        "{out}"
    );
    assert!(err.contains("expected-3.yaml:11: the expected-findings entry for \"exp::no-such-test\" matches no loaded test"), "{err}");
    assert!(err.contains("expected-3.yaml:16: the expected-findings entry for \"exp::*-is-refused\" matches 2 tests"), "{err}");
    assert!(out.contains("expected: exp::an-authorization-code-is-single-use [status] at first redemption absorbed 1 finding at "), "{out}");
    assert!(
        out.contains("expected: exp::*-is-refused [status] at step 1 absorbed 2 findings at "),
        "{out}"
    );
    assert!(err.contains("expected-3.yaml:6: the expected-findings entry for \"exp::unknown-client-is-refused\" names no step of it: step 2"), "{err}");
    assert!(out.contains("resolved: exp::an-authorization-code-is-single-use [json $.error] at first redemption no longer occurs; remove the entry at "), "{out}");
    assert!(!out.contains("not reached"), "{out}");
    // The same suite with the first step failing unexpectedly: the second step's entry is not
    // reached, never "resolved".
    let later = write(
        &dir,
        "expected-4.yaml",
        "- test: \"exp::an-authorization-code-is-single-use\"\n  rule: status\n  step: second redemption\n  actual: \"200\"\n  reason: replays are accepted here\n",
    );
    let (code, out, err) = run(&later);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.contains(
            "not reached: exp::an-authorization-code-is-single-use [status] at second redemption"
        ),
        "{out}"
    );
    assert!(!out.contains("resolved:"), "{out}");
    let summary = std::fs::read_to_string(reports.join("summary.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(v["resolved"], serde_json::json!([]), "{summary}");
}

/// `--write-expected` pins what it saw, so the file turns that run green and nothing more.
#[test]
fn a_written_expected_file_pins_step_and_actual_value() {
    let dir = scratch("f3-written");
    let port = code_twice_server();
    let targets = write(
        &dir,
        "targets.yaml",
        &format!(
            "targets:\n  t:\n    http: {{ retries: 0, timeout_ms: 5000 }}\n    oauth2:\n      base_url: \"http://127.0.0.1:{port}\"\n      secrets: {{ client_secret: \"${{SEC_EXPECTED_SECRET}}\" }}\n"
        ),
    );
    let suite = write(&dir, "exp.yaml", CODE_SUITE);
    let file = dir.join("expected.yaml");
    let reports = dir.join("reports");
    let base = [
        "run",
        arg(&suite),
        "--targets",
        arg(&targets),
        "--target",
        "t",
        "--jobs",
        "1",
        "--report-dir",
        arg(&reports),
    ];
    let o = tokenconf(
        &[&base[..], &["--write-expected", arg(&file)]].concat(),
        &[SECRET],
    );
    assert_eq!(o.status.code(), Some(1), "{:?}", streams(&o));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("  step: \"first redemption\"\n  actual: \"201\"\n")
            && written.contains("  step: \"second redemption\"\n  actual: \"200\"\n"),
        "{written}"
    );
    assert!(!written.contains("Victim-Secret-42"));
    let o = tokenconf(
        &[&base[..], &["--expected", arg(&file)]].concat(),
        &[SECRET],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(!out.contains("resolved:"), "{out}");
}

/// `tokenconf list FILE` as user `uid`, with `envs`, through `setpriv` (the test runs as root).
#[cfg(unix)]
fn list_as(uid: u32, file: &Path, envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        format!("--reuid={uid}"),
        format!("--regid={uid}"),
        "--clear-groups".to_string(),
    ])
    .arg(BIN)
    .args(["list", arg(file)])
    .current_dir(root())
    .env("NO_COLOR", "1")
    .env_remove("TOKENCONF_CACHE")
    .env_remove("XDG_CACHE_HOME");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("setpriv runs")
}

/// F2 as two users (the report's `attack.sh`): the victim once listed the attacker's evil.yaml
/// (same length as benign.yaml), so its own cache holds evil's model; the attacker plants, in a
/// cache folder the victim is told to use, a link named as benign's entry to that entry. The
/// victim must get benign's real model, and be warned about a root others can write. Before,
/// `list benign.yaml` showed evil's case.
#[cfg(unix)]
#[test]
fn a_shared_cache_folder_cannot_feed_another_model_to_its_user() {
    use std::os::unix::fs::{chown, lchown, symlink, PermissionsExt};
    let setpriv = Command::new("setpriv").arg("--version").output();
    if !rustix::process::geteuid().is_root() || !setpriv.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: acting as two users needs root and setpriv");
        return;
    }
    let (attacker, victim) = (4242, 4243);
    let dir = scratch("f2");
    let mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    mode(&dir, 0o755);
    // Padded to one length, as the report did (the old key's only extra check).
    let mut benign_text = String::from(
        "api: oauth2\ncases:\n  - name: benign case\n    request: { path: /token }\n    expect: { status: 200 }\n#",
    );
    let mut evil_text = String::from(
        "api: oauth2\ncases:\n  - name: evil secret in query\n    request: { path: /x }\n    expect: { status: 200 }\n#",
    );
    while benign_text.len() < evil_text.len() {
        benign_text.push('#');
    }
    while evil_text.len() < benign_text.len() {
        evil_text.push('#');
    }
    let benign = write(&dir, "benign.yaml", &benign_text);
    let evil = write(&dir, "evil.yaml", &evil_text);
    for f in [&benign, &evil] {
        mode(f, 0o644);
    }
    let home = dir.join("victim-home");
    std::fs::create_dir(&home).unwrap();
    chown(&home, Some(victim), Some(victim)).unwrap();
    mode(&home, 0o700);
    // 1. The victim lists evil.yaml once (a PR it reviewed): its cache holds evil's model.
    let o = list_as(victim, &evil, &[("HOME", &home)]);
    assert!(o.status.success(), "{:?}", streams(&o));
    assert!(streams(&o).0.contains("evil-secret-in-query"));
    let victim_cache = home.join(".cache/tokenconf");
    let build = std::fs::read_dir(&victim_cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("model-")
        })
        .expect("the victim's build folder");
    let evil_entry = std::fs::read_dir(&build)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // 2. The attacker learns benign's entry name from a cache of its own.
    let own = dir.join("attacker-cache");
    std::fs::create_dir(&own).unwrap();
    chown(&own, Some(attacker), Some(attacker)).unwrap();
    let o = list_as(attacker, &benign, &[("TOKENCONF_CACHE", &own)]);
    assert!(o.status.success(), "{:?}", streams(&o));
    let own_build = own.join(build.file_name().unwrap());
    let benign_name = std::fs::read_dir(&own_build)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    // 3. The attacker plants the link in a shared folder: one open to all, one sticky like /tmp.
    for (shared, root_mode, warned) in [("shared", 0o777, true), ("sticky", 0o1777, false)] {
        let shared = dir.join(shared);
        let planted = shared.join(build.file_name().unwrap());
        std::fs::create_dir_all(&planted).unwrap();
        symlink(&evil_entry, planted.join(&benign_name)).unwrap();
        // The shared folder is root's, as /tmp is; what is in it is the attacker's.
        chown(&planted, Some(attacker), Some(attacker)).unwrap();
        lchown(planted.join(&benign_name), Some(attacker), Some(attacker)).unwrap();
        mode(&planted, 0o777);
        mode(&shared, root_mode);
        // 4. The victim lists the reviewed, benign file through the shared cache.
        let o = list_as(
            victim,
            &benign,
            &[("HOME", &home), ("TOKENCONF_CACHE", &shared)],
        );
        let (out, err) = streams(&o);
        assert!(o.status.success(), "{out}\n{err}");
        assert_eq!(out.trim(), "benign::benign-case", "{err}");
        let warnings = err.matches("warning: the parse cache is not used").count();
        assert_eq!(warnings, usize::from(warned), "{err}");
        if warned {
            assert!(err.contains("others can write"), "{err}");
        }
    }
}

/// The review's note on known deviations (`sec/K`): a user file naming a generic rule set
/// silenced RFC6749-5.1-no-store for every vendor and dropped the built-in Salesforce entries
/// without a word. Now it must name its APIs, applies to theirs alone, the replacement is said,
/// and every report lists the user deviations that applied.
#[test]
fn a_users_known_deviations_are_scoped_to_their_apis_and_listed_in_every_report() {
    let dir = scratch("deviations");
    let reports = dir.join("reports");
    let run = |kd: &Path| {
        let o = tokenconf(
            &[
                "run",
                "suites/salesforce/token.yaml",
                "suites/talkdesk/token.yaml",
                "--mock-drift",
                "no-store-dropped",
                "--known-deviations",
                arg(kd),
                "--report-dir",
                arg(&reports),
            ],
            &[],
        );
        let (out, err) = streams(&o);
        (o.status.code(), out, err)
    };
    let unscoped = write(
        &dir,
        "kd.yaml",
        "- set: oauth2.token-response\n  rule: RFC6749-5.1-no-store\n  reason: \"our reading of RFC 6749 §5.1\"\n",
    );
    let (code, out, err) = run(&unscoped);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.contains("kd.yaml:1:8") && err.contains("name the APIs"),
        "{err}"
    );
    let scoped = write(
        &dir,
        "kd-scoped.yaml",
        "- set: oauth2.token-response\n  rule: RFC6749-5.1-no-store\n  reason: \"our reading of RFC 6749 §5.1\"\n  apis: [salesforce]\n",
    );
    let (code, out, err) = run(&scoped);
    assert_eq!(
        code,
        Some(1),
        "talkdesk's missing no-store still fails:\n{out}\n{err}"
    );
    assert!(
        err.contains("warning: --known-deviations replaces the built-in specs/salesforce/known-deviations.yaml, specs/talkdesk/known-deviations.yaml (5 entries)"),
        "{err}"
    );
    let line = |text: &str, test: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("test {test} ...")))
            .unwrap_or_else(|| panic!("{test}: {text}"))
            .to_string()
    };
    assert!(
        line(
            &out,
            "talkdesk/token::client-credentials-carry-no-refresh-token"
        )
        .ends_with("FAILED"),
        "{out}"
    );
    let talkdesk = out
        .split("---- talkdesk/token::client-credentials-carry-no-refresh-token ----")
        .nth(1)
        .unwrap();
    assert!(
        talkdesk
            .split("----")
            .next()
            .unwrap()
            .contains("[MUST] RFC6749-5.1-no-store"),
        "{out}"
    );
    assert!(
        line(
            &out,
            "salesforce/token::client-credentials-carry-no-refresh-token"
        )
        .ends_with("ok"),
        "{out}"
    );
    let applied = format!(
        "{}:1: RFC6749-5.1-no-store under oauth2.token-response for salesforce (",
        scoped.display()
    );
    assert!(
        out.contains(&format!(
            "your known deviations that applied:\n    {applied}"
        )),
        "{out}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap())
            .unwrap();
    let listed = &summary["user_deviations"][0];
    assert_eq!(listed["rule"], "RFC6749-5.1-no-store", "{summary}");
    assert!(listed["findings"].as_u64().unwrap() > 0);
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"tokenconf.user-deviations\""),
        "{junit}"
    );
    let html = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(
        html.contains("id=\"user-deviations\"")
            && html.contains("under oauth2.token-response for salesforce")
    );
    // Without the user's file: the built-in ones, listed nowhere as the user's.
    let o = tokenconf(
        &[
            "run",
            "suites/salesforce/token.yaml",
            "--report-dir",
            arg(&reports),
        ],
        &[],
    );
    let (out, err) = streams(&o);
    assert!(!out.contains("your known deviations") && !err.contains("replaces the built-in"));
}
