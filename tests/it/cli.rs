//! The real binary against fixture suites: exit codes, error locations, findings, reports.

use crate::support::{queue, streams, tokenconf, write};
use crate::support::{root, BIN};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

const CC_REQUEST: &str = r#"
    request:
      path: /oauth/token
      auth: { basic: { user: "{{ client_id }}", password: "{{ client_secret }}" } }
      form: { grant_type: client_credentials }"#;

fn suite(cases: &str) -> String {
    format!("api: talkdesk\nvars:\n  client_id: conformance-client\nsecrets: [client_secret]\ncases:\n{cases}")
}

#[test]
fn an_unknown_key_exits_2_with_file_line_column_and_a_caret() {
    let o = tokenconf(&["validate", "tests/fixtures/broken/unknown-key.yaml"], &[]);
    let (_, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown-key.yaml:6:5"), "{err}");
    assert!(err.contains("unknown field `expct`"), "{err}");
    assert!(err.contains('^'), "{err}");
}

#[test]
fn every_load_error_is_reported_before_anything_is_sent() {
    let dir = scratch("load-errors");
    let file = write(
        &dir,
        "bad.yaml",
        r#"api: talkdesk
vars: { token_path: /oauth/token }
cases:
  - name: one
    request:
      path: "{{ token_pth }}"
    expect:
      status: 200
      json:
        "$.a[": exists
        $.b: { matches: "(" }
      schema: nope/missing.schema.json
      rules: [oauth2.token-respons]
"#,
    );
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--report-dir",
            dir.join("r").to_str().unwrap(),
        ],
        &[],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    for needle in [
        "bad.yaml:6:13",
        "undefined variable `token_pth` (did you mean `token_path`?)",
        "bad.yaml:10:17",
        "is not a JSONPath",
        "bad.yaml:11:14",
        "invalid regex",
        "bad.yaml:12:15",
        "nope/missing.schema.json",
        "bad.yaml:13:15",
        "unknown rule set `oauth2.token-respons` (did you mean `oauth2.token-response`?)",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!out.contains("running"), "nothing may run: {out}");
    assert!(
        !dir.join("r").exists(),
        "no reports for a suite that does not load"
    );
}

/// A suite read back from the parse cache is reported, listed and run as a parsed one: the
/// same errors at the same places, the same names; an edited file is parsed again.
#[cfg(unix)]
#[test]
fn the_parse_cache_changes_nothing_but_the_time() {
    let dir = scratch("parse-cache");
    let cache = dir.join("cache");
    let cache_env = cache.to_str().unwrap();
    let bad = r#"api: talkdesk
vars: { token_path: /oauth/token }
cases:
  - name: one
    request:
      path: "{{ token_pth }}"
    expect:
      status: 200
      json:
        "$.a[": exists
      rules: [oauth2.token-respons]
"#;
    let file = write(&dir, "bad.yaml", bad);
    let path = file.to_str().unwrap();
    let validate = |env: &str| tokenconf(&["validate", path], &[("TOKENCONF_CACHE", env)]);
    let off = validate("off");
    let miss = validate(cache_env);
    // One folder for this build, one entry in it for the one file.
    let entries = || -> Vec<(PathBuf, u64)> {
        use std::os::unix::fs::MetadataExt;
        let builds: Vec<_> = std::fs::read_dir(&cache)
            .expect("the cache folder")
            .collect();
        assert_eq!(builds.len(), 1);
        std::fs::read_dir(builds[0].as_ref().unwrap().path())
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let inode = std::fs::metadata(&path).unwrap().ino();
                (path, inode)
            })
            .collect()
    };
    let written = entries();
    assert_eq!(written.len(), 1);
    let hit = validate(cache_env);
    // An entry is written aside and renamed into place: a second write is a new inode.
    assert_eq!(
        entries(),
        written,
        "the second run read the entry, wrote none"
    );
    assert_eq!(off.status.code(), Some(2));
    for (name, o) in [("miss", &miss), ("hit", &hit)] {
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert_eq!(streams(o), streams(&off), "{name} against no cache");
    }
    assert!(
        streams(&hit).1.contains("bad.yaml:6:13"),
        "{}",
        streams(&hit).1
    );
    assert!(
        streams(&hit).1.contains("bad.yaml:11:15"),
        "{}",
        streams(&hit).1
    );

    // Edited: the new text is parsed, not the cached model of the old one.
    write(&dir, "bad.yaml", &bad.replace("token_pth", "token_path"));
    let edited = streams(&validate(cache_env)).1;
    assert!(!edited.contains("token_pth"), "{edited}");
    assert!(edited.contains("bad.yaml:11:15"), "{edited}");

    let list = |env: &str| {
        tokenconf(
            &["list", "--sources", "suites"],
            &[("TOKENCONF_CACHE", env)],
        )
    };
    let listed = list("off");
    assert_eq!(listed.status.code(), Some(0));
    assert!(streams(&listed).0.lines().count() > 100);
    list(cache_env);
    assert_eq!(
        streams(&list(cache_env)),
        streams(&listed),
        "list from the cache"
    );
}

#[test]
fn broken_yaml_exits_2() {
    let dir = scratch("broken-yaml");
    let file = write(&dir, "b.yaml", "api: talkdesk\ncases: [\n");
    let o = tokenconf(&["validate", file.to_str().unwrap()], &[]);
    let (_, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("b.yaml:2:8"), "{err}");
}

#[test]
fn a_failing_case_exits_1_with_its_findings_in_console_and_reports() {
    let dir = scratch("failing");
    let cases = format!(
        "  - name: expects the wrong status{CC_REQUEST}\n    expect:\n      status: 201\n      json:\n        $.token_type: MAC\n  - name: passes{CC_REQUEST}\n    expect: {{ status: 200 }}\n"
    );
    let file = write(&dir, "failing.yaml", &suite(&cases));
    let reports = dir.join("reports");
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("test failing::expects-the-wrong-status ... FAILED"),
        "{out}"
    );
    assert!(out.contains("test failing::passes ... ok"), "{out}");
    assert!(
        out.contains("[MUST] status: status 200, expected 201"),
        "{out}"
    );
    assert!(out.contains("[MUST] json $.token_type"), "{out}");
    assert!(
        out.contains("summary: 1 passed, 1 failed, 0 errored, 0 skipped"),
        "{out}"
    );
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        junit.contains(
            "<failure message=\"[MUST] status: status 200, expected 201\" type=\"status\">"
        ),
        "{junit}"
    );
    assert!(junit.contains("json $.token_type"), "{junit}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["counts"]["failed"], 1);
    assert_eq!(summary["counts"]["passed"], 1);
}

/// A loopback server that answers every connection with `response`, for at most `max` connections.
fn canned_server(response: &'static str, max: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let _ = s.write_all(response.as_bytes());
        }
    });
    port
}

fn targets_file(dir: &Path, base_url: &str) -> PathBuf {
    write(
        dir,
        "targets.yaml",
        &format!(
            "targets:\n  t:\n    talkdesk:\n      base_url: \"{base_url}\"\n      vars: {{ client_id: conformance-client }}\n      secrets: {{ client_secret: \"${{TOKENCONF_CLI_TEST_SECRET}}\" }}\n"
        ),
    )
}

#[test]
fn a_refused_connection_is_an_error_and_the_run_goes_on() {
    let dir = scratch("refused");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let targets = targets_file(&dir, &format!("http://127.0.0.1:{port}"));
    let cases = format!("  - name: first{CC_REQUEST}\n    expect: {{ status: 200 }}\n  - name: second{CC_REQUEST}\n    expect: {{ status: 200 }}\n");
    let file = write(&dir, "refused.yaml", &suite(&cases));
    let reports = dir.join("reports");
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[("TOKENCONF_CLI_TEST_SECRET", "s3cret-value-for-refused")],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert_eq!(out.matches("ERROR (could not connect").count(), 2, "{out}");
    assert!(out.contains("0 passed; 0 failed; 2 errored"), "{out}");
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<error ").count(), 2, "{junit}");
}

#[test]
fn a_non_json_answer_fails_with_a_one_line_reason() {
    let dir = scratch("non-json");
    let port = canned_server(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 27\r\nconnection: close\r\n\r\n<html><b>maintenance</b></html>",
        4,
    );
    let targets = targets_file(&dir, &format!("http://127.0.0.1:{port}"));
    let cases = format!("  - name: html{CC_REQUEST}\n    expect:\n      status: 200\n      json:\n        $.access_token: exists\n");
    let file = write(&dir, "html.yaml", &suite(&cases));
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
            "--report-dir",
            dir.join("r").to_str().unwrap(),
        ],
        &[("TOKENCONF_CLI_TEST_SECRET", "s3cret-value-for-html")],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("the body is not JSON (content-type text/html"),
        "{out}"
    );
    assert!(out.contains("<html><b>maintenance</b>"), "{out}");
}

#[test]
fn a_missing_environment_variable_exits_2_naming_it() {
    let dir = scratch("missing-env");
    let targets = targets_file(&dir, "http://127.0.0.1:9");
    let file = write(
        &dir,
        "s.yaml",
        &suite(&format!("  - name: x{CC_REQUEST}\n")),
    );
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
        ],
        &[],
    );
    let (_, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("TOKENCONF_CLI_TEST_SECRET"), "{err}");
}

#[test]
fn a_known_secret_never_reaches_console_or_reports() {
    let dir = scratch("secret");
    let secret = "Unique-Secret+Value/42:x";
    // The server echoes the secret back in every encoding a report could show it in.
    let port = canned_server(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 149\r\n\r\n{\"error\":\"Unique-Secret+Value/42:x\",\"error_description\":\"Unique-Secret%2BValue%2F42%3Ax VW5pcXVlLVNlY3JldCtWYWx1ZS80Mjp4\",\"access_token\":\"tok-abcdef\"}",
        4,
    );
    let targets = targets_file(&dir, &format!("http://127.0.0.1:{port}"));
    let cases = format!(
        "  - name: echo{CC_REQUEST}\n    expect:\n      status: 200\n      json:\n        $.error: x\n        $.error_description: x\n        $.access_token: y\n"
    );
    let file = write(&dir, "echo.yaml", &suite(&cases));
    let reports = dir.join("reports");
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[("TOKENCONF_CLI_TEST_SECRET", secret)],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("[redacted]"), "{out}");
    let mut texts = vec![out, err];
    for f in ["junit.xml", "summary.json"] {
        texts.push(std::fs::read_to_string(reports.join(f)).unwrap());
    }
    for t in &texts {
        for needle in [
            secret,
            "Unique-Secret%2BValue%2F42%3Ax",
            "VW5pcXVlLVNlY3JldCtWYWx1ZS80Mjp4",
            "tok-abcdef",
        ] {
            assert!(!t.contains(needle), "{needle} leaked in:\n{t}");
        }
    }
}

#[test]
fn list_rules_and_explain() {
    let o = tokenconf(&["list", "suites/talkdesk/token.yaml"], &[]);
    let (out, _) = streams(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out.lines()
            .any(|l| l
                == "talkdesk/token::client-credentials-with-basic-auth-returns-a-bearer-token"),
        "{out}"
    );

    let o = tokenconf(&["rules"], &[]);
    let (out, _) = streams(&o);
    assert!(out.contains("RFC6749-5.1-no-store"), "{out}");
    assert!(
        out.contains("https://www.rfc-editor.org/rfc/rfc6749#section-5.1"),
        "{out}"
    );

    let o = tokenconf(&["explain", "RFC6749-5.1-no-store"], &[]);
    assert!(streams(&o)
        .0
        .contains("MUST include the HTTP \"Cache-Control\""));
    let o = tokenconf(&["explain", "no-such-rule"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

/// A loopback server that answers each request 200 with a JSON token response after `delay`.
fn slow_server(delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 8192];
                let _ = s.read(&mut buf);
                std::thread::sleep(delay);
                let body = "{\"access_token\":\"slow-token-0123456789\",\"token_type\":\"Bearer\"}";
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

#[test]
fn ctrl_c_still_writes_the_reports_of_the_cases_that_finished() {
    use std::io::BufRead;
    let dir = scratch("interrupted");
    let port = slow_server(Duration::from_millis(600));
    let targets = targets_file(&dir, &format!("http://127.0.0.1:{port}"));
    let cases: String = (1..=10)
        .map(|i| format!("  - name: case {i}{CC_REQUEST}\n    expect: {{ status: 200 }}\n"))
        .collect();
    let file = write(&dir, "slow.yaml", &suite(&cases));
    let reports = dir.join("reports");
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&file)
        .arg("--targets")
        .arg(&targets)
        .args(["--target", "t", "--jobs", "1", "--report-dir"])
        .arg(&reports)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("TOKENCONF_CLI_TEST_SECRET", "s3cret-value-for-ctrl-c")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    // Interrupt once the first case has finished: the second is then in flight.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let first_done = line.starts_with("test ");
        seen.push(line);
        if first_done {
            break;
        }
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().unwrap();
    let out = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{status:?}\n{out}");
    let ran = out
        .lines()
        .filter(|l| l.starts_with("test ") && l.contains(" ... "))
        .count();
    assert!((1..10).contains(&ran), "{ran} cases ran:\n{out}");
    assert!(
        out.contains(&format!("interrupted: {ran} of 10 cases ran")),
        "{out}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["cases"].as_array().map(Vec::len), Some(ran));
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), ran, "{junit}");
    assert!(reports.join("index.html").exists());
    assert!(!out.contains("slow-token-0123456789"), "{out}");
}

fn summary_counts(out: &str) -> (usize, usize) {
    let line = out
        .lines()
        .find(|l| l.starts_with("summary: "))
        .expect("a summary line");
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn shards_split_the_cases_and_cover_each_once() {
    let dir = scratch("shards");
    let all = streams(&tokenconf(&["list"], &[])).0.lines().count();
    let mut total = 0;
    for k in 1..=3 {
        let reports = dir.join(format!("r{k}"));
        let shard = format!("{k}/3");
        let o = tokenconf(
            &[
                "run",
                "--shard",
                &shard,
                "--report-dir",
                reports.to_str().unwrap(),
            ],
            &[],
        );
        let (out, err) = streams(&o);
        assert_eq!(o.status.code(), Some(0), "{out}{err}");
        let (passed, failed) = summary_counts(&out);
        assert_eq!(failed, 0);
        assert!(
            passed > 0 && passed < all,
            "shard {shard} ran {passed} of {all}"
        );
        total += passed;
    }
    assert_eq!(total, all, "the three shards ran every case exactly once");
    let o = tokenconf(&["run", "--shard", "4/3"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(streams(&o).1.contains("1 <= K <= N"), "{}", streams(&o).1);
}

#[test]
fn a_drift_mode_fails_cases_with_its_rule_and_an_unknown_one_exits_2() {
    let dir = scratch("drift-cli");
    let o = tokenconf(
        &[
            "run",
            "--mock-drift",
            "no-store-dropped",
            "--filter",
            "talkdesk/token",
            "--report-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    let (out, _) = streams(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("mock drifts on purpose: no-store-dropped"),
        "{out}"
    );
    assert!(out.contains("RFC6749-5.1-no-store"), "{out}");
    let o = tokenconf(&["run", "--mock-drift", "no-such-drift"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        streams(&o).1.contains("no drift mode \"no-such-drift\""),
        "{}",
        streams(&o).1
    );
    let o = tokenconf(&["mock", "--list-drifts"], &[]);
    let (out, _) = streams(&o);
    assert!(
        out.lines().filter(|l| l.contains(" breaking ")).count() >= 20,
        "{out}"
    );
    assert!(
        out.lines().filter(|l| l.contains(" benign ")).count() >= 5,
        "{out}"
    );
}

#[test]
fn insecure_is_warned_about_on_every_run() {
    let dir = scratch("insecure");
    let o = tokenconf(
        &[
            "run",
            "--insecure",
            "--filter",
            "oauth2/token",
            "--report-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        err.contains("warning: --insecure: TLS certificates are NOT verified"),
        "{err}"
    );
}

#[test]
fn validate_lists_what_a_target_can_and_cannot_run() {
    let dir = scratch("validate-target");
    let targets = write(
        &dir,
        "targets.yaml",
        "targets:\n  td:\n    talkdesk:\n      preset: talkdesk-eu\n      account: acme\n      vars: { client_id: x }\n      secrets: { client_secret: \"${TOKENCONF_CLI_VALIDATE_SECRET}\" }\n",
    );
    let o = tokenconf(
        &["validate", "--targets", targets.to_str().unwrap()],
        &[("TOKENCONF_CLI_VALIDATE_SECRET", "v-secret")],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("talkdesk: https://acme.talkdeskid.eu"),
        "{out}"
    );
    assert!(out.contains("no `salesforce` api"), "{out}");
    assert!(out.contains("does not supply `signing_key`"), "{out}");
    assert!(
        !out.contains("skip talkdesk/token::"),
        "talkdesk/token needs only the client: {out}"
    );
    let o = tokenconf(&["validate", "--targets", targets.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(streams(&o).1.contains("TOKENCONF_CLI_VALIDATE_SECRET"));
    // A case that sends a secret the target lacks is skipped, named, before anything is sent.
    let bare = write(
        &dir,
        "bare.yaml",
        "targets:\n  bare:\n    talkdesk:\n      base_url: https://td.test\n      vars: { client-id: typo }\n",
    );
    let o = tokenconf(&["validate", "--targets", bare.to_str().unwrap()], &[]);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("skip talkdesk/token::client-credentials-with-basic-auth-returns-a-bearer-token: target bare does not supply `client_secret`"),
        "{out}"
    );
    assert!(
        out.contains("note: `client-id` under talkdesk is not a var or secret"),
        "{out}"
    );
}

#[test]
fn a_secret_in_an_expectation_is_masked_before_html_xml_or_json_escape_it() {
    let dir = scratch("secret-escaped");
    let port = canned_server(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 26\r\n\r\n{\"error\":\"invalid_client\"}",
        4,
    );
    let targets = targets_file(&dir, &format!("http://127.0.0.1:{port}"));
    let cases = format!("  - name: expected echoes the secret{CC_REQUEST}\n    expect:\n      status: 401\n      json:\n        $.error: \"{{{{ client_secret }}}}\"\n");
    let file = write(&dir, "escaped.yaml", &suite(&cases));
    let reports = dir.join("reports");
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[("TOKENCONF_CLI_TEST_SECRET", "Canary<x>&\"y\"'Q9")],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let mut texts = vec![("stdout".to_string(), out), ("stderr".to_string(), err)];
    for entry in walkdir::WalkDir::new(&reports).into_iter().flatten() {
        if entry.file_type().is_file() {
            let body = std::fs::read_to_string(entry.path()).unwrap();
            texts.push((entry.path().display().to_string(), body));
        }
    }
    assert!(
        texts.len() >= 5,
        "junit, summary, html and a diff: {:?}",
        texts.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    for (name, t) in &texts {
        assert!(!t.contains("Canary"), "the secret leaked into {name}:\n{t}");
    }
}

#[test]
fn a_selection_of_no_case_exits_2_unless_allowed() {
    let dir = scratch("empty-selection");
    let reports = dir.join("reports");
    let args = [
        "run",
        "--filter",
        "no-such-case",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    let o = tokenconf(&args, &[]);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("no case selected"), "{err}");
    assert!(err.contains("no-such-case"), "{err}");
    assert!(!reports.exists(), "nothing ran, so no report was written");
    let mut allowed = args.to_vec();
    allowed.push("--allow-empty");
    let o = tokenconf(&allowed, &[]);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("running 0 cases"), "{out}");
}

#[test]
fn zero_jobs_exits_2() {
    let o = tokenconf(&["run", "--jobs", "0"], &[]);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("--jobs"), "{err}");
}

/// A suite with a failing case whose `name:` is on a known line, and a passing one.
fn failing_suite(dir: &Path) -> PathBuf {
    let cases = format!(
        "  - name: passes{CC_REQUEST}\n    expect: {{ status: 200 }}\n  - name: expects the wrong status{CC_REQUEST}\n    expect:\n      status: 201\n"
    );
    write(dir, "annotated.yaml", &suite(&cases))
}

#[test]
fn under_github_actions_each_failing_case_is_annotated_at_its_line() {
    let dir = scratch("github");
    let file = failing_suite(&dir);
    let text_of_suite = std::fs::read_to_string(&file).unwrap();
    let line = text_of_suite
        .lines()
        .position(|l| l.contains("name: expects the wrong status"))
        .unwrap()
        + 1;
    let reports = dir.join("reports");
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[("GITHUB_ACTIONS", "true")],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let annotations: Vec<&str> = out.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(annotations.len(), 1, "{out}");
    let expected = format!(
        "::error file={},line={line},title=annotated%3A%3Aexpects-the-wrong-status::status: status 200, expected 201",
        file.display().to_string().replace(':', "%3A")
    );
    assert_eq!(annotations[0], expected, "{out}");
    // Without the variable, the human format has no annotation.
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[],
    );
    let (out, _) = streams(&o);
    assert!(!out.contains("::error"), "{out}");
}

#[test]
fn the_json_format_prints_one_object_per_case_and_nothing_else_on_stdout() {
    let dir = scratch("json-format");
    let file = failing_suite(&dir);
    let reports = dir.join("reports");
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--format",
            "json",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let objects: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objects.len(), 3, "two cases and the summary: {out}");
    // The stream ends with the run's verdict.
    let last = objects.last().unwrap();
    assert_eq!(last["outcome"], "failed", "{last}");
    assert_eq!(last["summary"]["passed"], 1, "{last}");
    assert_eq!(last["summary"]["failed"], 1, "{last}");
    assert_eq!(last["ran"], 2, "{last}");
    let failed = objects
        .iter()
        .find(|o| o["test"] == "annotated::expects-the-wrong-status")
        .expect("the failing case");
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["findings"][0]["rule"], "status");
    assert!(failed["duration_ms"].is_u64());
    assert!(err.contains("reports:"), "{err}");
}

#[test]
fn written_expected_findings_turn_a_drifting_run_green_and_name_resolved_entries_on_a_clean_one() {
    // The three modes at once, each on its own thread (its runs in order): a run is mostly the
    // PAR expiry case waiting, so three waits overlap instead of following each other.
    let modes = ["no-store-dropped", "td-scope-missing", "sf-wrong-signature"];
    queue(3, &modes, |mode| expected_findings_round_trip(mode));
}

/// `--write-expected` under `mode`, then the same run with that file (green), then a clean run
/// with it (each entry resolved).
fn expected_findings_round_trip(mode: &str) {
    let dir = scratch(&format!("expected-{mode}"));
    let reports = dir.join("reports");
    let file = dir.join("expected.yaml");
    let (reports, file) = (reports.to_str().unwrap(), file.to_str().unwrap());
    let drifting = ["run", "--mock-drift", mode, "--report-dir", reports];
    let o = tokenconf(&[&drifting[..], &["--write-expected", file]].concat(), &[]);
    assert_eq!(o.status.code(), Some(1), "{mode} breaks something");
    let written = std::fs::read_to_string(file).unwrap();
    assert!(written.contains("reason: "), "{written}");
    let o = tokenconf(&[&drifting[..], &["--expected", file]].concat(), &[]);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{mode}: {out}{err}");
    assert!(
        out.contains("[EXPECTED]") || out.contains("0 failed"),
        "{out}"
    );
    let o = tokenconf(&["run", "--report-dir", reports, "--expected", file], &[]);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{mode}: {out}{err}");
    let resolved = out.lines().filter(|l| l.starts_with("resolved: ")).count();
    assert_eq!(resolved, written.matches("- test:").count(), "{out}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(reports).join("summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["counts"]["resolved"], resolved);
}

#[test]
fn a_bad_expected_findings_file_exits_2_with_its_line_and_column() {
    let dir = scratch("expected-bad");
    let file = write(
        &dir,
        "expected.yaml",
        "- test: \"oauth2/*\"\n  rule: status\n  reason: \"\"\n- test: x\n  rule: y\n  reasn: z\n",
    );
    let o = tokenconf(&["run", "--expected", file.to_str().unwrap()], &[]);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("expected.yaml:"), "{err}");
    assert!(!out.contains("running"), "nothing ran: {out}");
}

#[test]
fn an_unwritable_report_folder_exits_2_before_anything_is_sent() {
    let dir = scratch("report-dir-is-a-file");
    let file = write(&dir, "reports", "not a folder");
    let o = tokenconf(
        &[
            "run",
            "--filter",
            "oauth2/token",
            "--report-dir",
            file.to_str().unwrap(),
        ],
        &[],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("cannot write reports"), "{err}");
    assert!(!out.contains("running"), "nothing was sent: {out}");
}

#[test]
fn an_insecure_run_is_recorded_in_the_reports_it_writes() {
    let dir = scratch("insecure-recorded");
    let reports = dir.join("reports");
    let o = tokenconf(
        &[
            "run",
            "--insecure",
            "--filter",
            "oauth2/token",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap())
            .unwrap();
    assert!(
        summary["insecure"][0]
            .as_str()
            .unwrap()
            .contains("--insecure"),
        "{summary}"
    );
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("tokenconf.insecure"), "{junit}");
}

/// A loopback server that answers every connection with a token response and counts them.
fn recording_server(body: String) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut s) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(response.as_bytes());
        }
    });
    (port, count)
}

#[test]
fn secrets_never_leave_the_targets_origins_by_any_route() {
    use std::sync::atomic::Ordering;
    let dir = scratch("origin-pinning");
    let (evil, stolen) = recording_server("{}".to_string());
    let next = format!("http://127.0.0.1:{evil}/steal");
    let (good, served) = recording_server(format!(
        r#"{{"access_token":"tok-origin-test","token_type":"Bearer","expires_in":60,"next":"{next}"}}"#
    ));
    let targets = targets_file(&dir, &format!("http://127.0.0.1:{good}"));
    let evil_url = format!("http://127.0.0.1:{evil}/x");
    let routes = [
        format!("    request: {{ url: \"{evil_url}\", query: {{ s: \"{{{{ client_secret }}}}\" }} }}"),
        format!("    request: {{ url: \"{evil_url}\", headers: {{ x-s: \"{{{{ client_secret }}}}\" }} }}"),
        format!("    request: {{ url: \"{evil_url}\", json: {{ s: \"{{{{ client_secret }}}}\" }} }}"),
        format!("    request: {{ url: \"{evil_url}\", auth: {{ basic: {{ user: a, password: \"{{{{ client_secret }}}}\" }} }} }}"),
        format!("    request: {{ url: \"{evil_url}\", auth: {{ client_secret_post: {{ client_id: a, client_secret: \"{{{{ client_secret }}}}\" }} }} }}"),
        "    request: { path: \"{{ sneaky_path }}\", auth: { basic: { user: a, password: \"{{ client_secret }}\" } } }".to_string(),
    ];
    let cases: String = routes
        .iter()
        .enumerate()
        .map(|(i, r)| format!("  - name: route {i}\n{r}\n    expect: {{ status: 200 }}\n"))
        .collect();
    let static_suite = suite(&cases).replace(
        "vars:\n",
        &format!("vars:\n  sneaky_path: \"@127.0.0.1:{evil}/oauth/token\"\n"),
    );
    let file = write(&dir, "static.yaml", &static_suite);
    let reports = dir.join("reports");
    let env = [("TOKENCONF_CLI_TEST_SECRET", "Origin-Secret-1")];
    let run = |suite_file: &Path, targets: &Path| {
        tokenconf(
            &[
                "run",
                suite_file.to_str().unwrap(),
                "--targets",
                targets.to_str().unwrap(),
                "--target",
                "t",
                "--report-dir",
                reports.to_str().unwrap(),
            ],
            &env,
        )
    };
    // Every destination is known at load: exit 2, nothing sent anywhere.
    let o = run(&file, &targets);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert_eq!(
        err.matches("refused before sending").count(),
        routes.len(),
        "{err}"
    );
    assert!(err.contains("static.yaml:"), "{err}");
    assert_eq!(stolen.load(Ordering::SeqCst), 0);
    assert_eq!(
        served.load(Ordering::SeqCst),
        0,
        "exit 2 means nothing was sent"
    );

    // A destination known only at run time (a captured URL) errors that case, before sending.
    let captured = "  - name: captured\n    steps:\n      - request: { path: /oauth/token, auth: { basic: { user: a, password: \"{{ client_secret }}\" } } }\n        capture: { next: $.next, tok: $.access_token }\n      - request: { url: \"{{ next }}\", auth: { bearer: \"{{ tok }}\" } }\n        expect: { status: 200 }\n";
    let file = write(&dir, "captured.yaml", &suite(captured));
    let o = run(&file, &targets);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("refused before sending"), "{out}");
    assert_eq!(
        stolen.load(Ordering::SeqCst),
        0,
        "the second port received nothing"
    );
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "only the target's own origin was contacted"
    );

    // Listed under allow_origins, the same origin is reachable.
    let allowed = write(
        &dir,
        "allowed.yaml",
        &format!(
            "{}    allow_origins: [\"http://127.0.0.1:{evil}\"]\n",
            std::fs::read_to_string(&targets).unwrap()
        ),
    );
    let o = run(&file, &allowed);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(
        stolen.load(Ordering::SeqCst),
        1,
        "the allow-listed origin was contacted"
    );
}

#[test]
fn cleartext_http_off_loopback_is_refused_unless_allowed() {
    let dir = scratch("cleartext");
    let targets = targets_file(&dir, "http://tokenconf.invalid");
    let args = |t: &Path| {
        vec![
            "run".to_string(),
            "suites/talkdesk/token.yaml".to_string(),
            "--targets".to_string(),
            t.to_str().unwrap().to_string(),
            "--target".to_string(),
            "t".to_string(),
            "--report-dir".to_string(),
            dir.join("reports").to_str().unwrap().to_string(),
        ]
    };
    let env = [("TOKENCONF_CLI_TEST_SECRET", "Cleartext-Secret-1")];
    let a = args(&targets);
    let o = tokenconf(&a.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("allow_http: true"), "{err}");
    let allowed = write(
        &dir,
        "allowed.yaml",
        &format!(
            "{}    allow_http: true\n",
            std::fs::read_to_string(&targets).unwrap()
        ),
    );
    let a = args(&allowed);
    let o = tokenconf(&a.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    let (out, err) = streams(&o);
    assert_ne!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("cleartext http"), "{err}");
}

#[test]
fn a_secret_must_be_one_env_var_and_a_key_where_a_path_belongs_is_never_printed() {
    let dir = scratch("secret-shapes");
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-Never-Print-Me\n-----END PRIVATE KEY-----\n";
    let targets = write(
        &dir,
        "targets.yaml",
        "targets:\n  mixed:\n    talkdesk:\n      base_url: https://x.test\n      secrets: { client_secret: \"literal-${TOKENCONF_SHAPE_SECRET}\" }\n  pasted:\n    talkdesk:\n      base_url: https://x.test\n      secret_files: { signing_key: \"${TOKENCONF_SHAPE_KEY}\" }\n",
    );
    let env = [
        ("TOKENCONF_SHAPE_SECRET", "Shape-Secret-1"),
        ("TOKENCONF_SHAPE_KEY", pem),
    ];
    for (target, needle) in [("mixed", "exactly one"), ("pasted", "TOKENCONF_SHAPE_KEY")] {
        let o = tokenconf(
            &[
                "validate",
                "--targets",
                targets.to_str().unwrap(),
                "--target",
                target,
            ],
            &env,
        );
        let (out, err) = streams(&o);
        assert_eq!(o.status.code(), Some(2), "{target}: {out}{err}");
        assert!(err.contains(needle), "{target}: {err}");
        assert!(
            !format!("{out}{err}").contains("Never-Print-Me"),
            "{out}{err}"
        );
        assert!(
            !format!("{out}{err}").contains("Shape-Secret-1"),
            "{out}{err}"
        );
    }
}

#[test]
fn no_proxy_star_bypasses_the_proxy_for_ip_literal_targets() {
    use std::sync::atomic::Ordering;
    let dir = scratch("no-proxy-star");
    let (proxy, proxied) = recording_server("{}".to_string());
    let (good, served) = recording_server(
        r#"{"access_token":"tok-proxy-test","token_type":"Bearer","expires_in":60}"#.to_string(),
    );
    let targets = targets_file(&dir, &format!("http://127.0.0.1:{good}"));
    let file = write(
        &dir,
        "s.yaml",
        &suite(&format!(
            "  - name: x{CC_REQUEST}\n    expect: {{ status: 200 }}\n"
        )),
    );
    let proxy_url = format!("http://127.0.0.1:{proxy}");
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
            "--report-dir",
            dir.join("reports").to_str().unwrap(),
        ],
        &[
            ("TOKENCONF_CLI_TEST_SECRET", "Proxy-Secret-1"),
            ("HTTP_PROXY", &proxy_url),
            ("http_proxy", &proxy_url),
            ("NO_PROXY", "*"),
        ],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "the proxy saw nothing");
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

#[test]
fn a_refused_destination_built_from_a_secret_does_not_print_it() {
    let dir = scratch("refused-secret-path");
    let targets = targets_file(&dir, "http://127.0.0.1:9");
    let body = suite(
        "  - name: sneaky\n    request: { path: \"{{ sneaky }}{{ client_secret }}\" }\n    expect: { status: 200 }\n",
    )
    .replace("vars:\n", "vars:\n  sneaky: \"@127.0.0.1:1/\"\n");
    let file = write(&dir, "s.yaml", &body);
    let o = tokenconf(
        &[
            "run",
            file.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
        ],
        &[("TOKENCONF_CLI_TEST_SECRET", "Path-Secret-77")],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("refused before sending"), "{err}");
    assert!(
        !format!("{out}{err}").contains("Path-Secret-77"),
        "{out}{err}"
    );
}

/// Piped, as into a CI log, case lines go out in blocks; still, a case's line is there long
/// before a slow later case ends, not held to the end of the run.
#[test]
fn a_case_line_reaches_a_pipe_before_a_slow_case_ends() {
    use std::io::BufRead;
    use std::time::Instant;
    let dir = scratch("piped");
    std::fs::create_dir_all(&dir).unwrap();
    let cases = format!(
        "  - name: quick{CC_REQUEST}\n    expect: {{ status: 200 }}\n  - name: slow\n    steps:\n      - wait: {{ seconds: 3 }}{}\n        expect: {{ status: 200 }}\n",
        CC_REQUEST.replace("\n    ", "\n        ")
    );
    let file = write(&dir, "piped.yaml", &suite(&cases));
    let mut child = Command::new(BIN)
        .args(["run", file.to_str().unwrap(), "--jobs", "2", "--report-dir"])
        .arg(dir.join("reports"))
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut quick_at = None;
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("::quick ... ok") {
            quick_at = Some(started.elapsed());
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    let ended = started.elapsed();
    assert_eq!(status.code(), Some(0), "{lines:?}");
    let quick_at = quick_at.unwrap_or_else(|| panic!("no line for the quick case: {lines:?}"));
    assert!(
        ended >= Duration::from_secs(3) && quick_at + Duration::from_millis(1500) < ended,
        "the quick case's line came {quick_at:?} after the start, the run ended at {ended:?}"
    );
    let slow = lines.iter().position(|l| l.contains("::slow ... ok"));
    let summary = lines
        .iter()
        .position(|l| l.starts_with("test result: ok. 2 passed"));
    assert!(slow.is_some() && summary > slow, "{lines:?}");
}
