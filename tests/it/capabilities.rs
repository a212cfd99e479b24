//! Sources, capabilities and profiles through the binary: an assumed expectation is only
//! unconfirmed on a real target and strict on the embedded mock; a case goes to the first profile
//! that has what it requires, and one profile's secret never reaches another's server; bad input
//! is exit 2 with its location; `list --sources` and `validate` as users read them.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::text;
use crate::support::{root, scratch, BIN};

const SUITE: &str = "tests/fixtures/capabilities/sources.yaml";
const TARGETS: &str = "tests/fixtures/capabilities/targets.yaml";
const SECRET_FIRST: &str = "Cap-Secret-First-7f3a";
const SECRET_SECOND: &str = "Cap-Secret-Second-9b1c";

/// A loopback server answering every request with `response`, recording each request's text
/// and counting connections. Bounded: it stops after 32 connections.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
}

fn serve(response: &'static str) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(Mutex::new(0));
    let (seen, count) = (requests.clone(), connections.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(32) {
            let Ok(mut stream) = stream else { break };
            *count.lock().unwrap() += 1;
            let seen = seen.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                while let Some(request) = read_request(&mut stream) {
                    seen.lock().unwrap().push(request);
                    if stream.write_all(response.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Server {
        port,
        requests,
        connections,
    }
}

/// One request: its head, then as many body bytes as its content-length says (at most 64 KiB).
fn read_request(stream: &mut std::net::TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&data).into_owned());
            }
        }
        if data.len() > 65536 {
            return None;
        }
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => data.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
}

/// 200 with a JSON body that has neither a refresh token nor a Cache-Control header.
const TOKEN: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\n\r\n{\"access_token\":\"abcdefgh\"}";

fn tokenconf(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn env(first: u16, second: u16) -> Vec<(&'static str, String)> {
    vec![
        ("CAP_PORT_FIRST", first.to_string()),
        ("CAP_PORT_SECOND", second.to_string()),
        ("CAP_SECRET_FIRST", SECRET_FIRST.to_string()),
        ("CAP_SECRET_SECOND", SECRET_SECOND.to_string()),
    ]
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_case_goes_to_the_first_profile_that_has_what_it_requires_and_secrets_stay_with_theirs() {
    let first = serve(TOKEN);
    let second = serve(TOKEN);
    let reports = scratch(module_path!(), "profiles");
    let o = tokenconf(
        &[
            "run",
            SUITE,
            "--targets",
            TARGETS,
            "--target",
            "two",
            "--jobs",
            "1",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &env(first.port, second.port),
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let first_seen = first.requests.lock().unwrap().clone();
    let second_seen = second.requests.lock().unwrap().clone();
    // documented-by-the-suite and an-assumed-member need nothing the API entry lacks.
    assert_eq!(first_seen.len(), 2, "{first_seen:#?}");
    // all-assumed requires auto_authorize (only the profile has it); a-named-profile names it.
    assert_eq!(second_seen.len(), 2, "{second_seen:#?}");
    assert!(*first.connections.lock().unwrap() >= 1);
    for r in &first_seen {
        assert!(
            r.contains(SECRET_FIRST) && r.contains("first-client"),
            "{r}"
        );
        assert!(
            !r.contains(SECRET_SECOND) && !r.contains("second-client"),
            "{r}"
        );
    }
    for r in &second_seen {
        assert!(
            r.contains(SECRET_SECOND) && r.contains("second-client"),
            "{r}"
        );
        assert!(!r.contains(SECRET_FIRST), "{r}");
    }
    assert!(
        out.contains("lacks capability `password_grant`"),
        "the skip names what is missing: {out}"
    );
    for secret in [SECRET_FIRST, SECRET_SECOND] {
        assert!(!out.contains(secret), "a secret on the console: {out}");
        for entry in std::fs::read_dir(&reports).unwrap() {
            let file = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            assert!(!file.contains(secret), "a secret in a report");
        }
    }
}

#[test]
fn an_assumed_expectation_a_real_target_misses_is_unconfirmed_and_never_fails() {
    let first = serve(TOKEN);
    let second = serve(TOKEN);
    let reports = scratch(module_path!(), "unconfirmed");
    let o = tokenconf(
        &[
            "run",
            SUITE,
            "--targets",
            TARGETS,
            "--target",
            "two",
            "--strict",
            "--filter",
            "an-assumed-member",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &env(first.port, second.port),
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "--strict too: {out}");
    assert!(out.contains("[UNCONFIRMED] json $.refresh_token"), "{out}");
    assert!(out.contains("[UNCONFIRMED] header cache-control"), "{out}");
    assert!(out.contains("the docs are silent"), "{out}");
    assert!(out.contains("2 warnings (2 unconfirmed)"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["counts"]["unconfirmed"], 2, "{summary}");
    assert_eq!(summary["counts"]["warnings"], 2, "{summary}");
    assert_eq!(summary["counts"]["failed"], 0, "{summary}");
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(junit.contains("[UNCONFIRMED]"), "{junit}");
    let html = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(
        html.contains("<span class=\"level-unconfirmed\">[UNCONFIRMED]</span>"),
        "shown with its own warning style"
    );
}

#[test]
fn an_assumed_expectation_stays_strict_against_the_embedded_mock() {
    let dir = scratch(module_path!(), "mock");
    let suite = write(
        &dir,
        "assumed.yaml",
        "api: oauth2\ncases:\n  - name: a status no server sends\n    request: { path: /surely-not-an-endpoint }\n    expect:\n      status: 299\n      assumed: [status]\n",
    );
    let reports = dir.join("reports");
    let o = tokenconf(
        &[
            "run",
            suite.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("[MUST] status"), "{out}");
    assert!(!out.contains("UNCONFIRMED"), "{out}");
}

#[test]
fn bad_sources_capabilities_and_profiles_are_exit_2_with_their_location() {
    let dir = scratch(module_path!(), "bad");
    let cases = [
        (
            "assumed.yaml",
            "api: x\ncases:\n  - name: a\n    request: { path: /t }\n    expect:\n      status: 200\n      assumed: [stauts]\n",
            "assumed.yaml:7:17",
            "`assumed` names `stauts`, which is no expectation of this step (did you mean `status`?); its expectations: status",
        ),
        (
            "requires.yaml",
            "api: x\ncases:\n  - name: a\n    requires: [rotates_refresh_token]\n    request: { path: /t }\n",
            "requires.yaml:4:16",
            "neither a var, a secret nor a capability (did you mean `rotates_refresh_tokens`?)",
        ),
        (
            "source.yaml",
            "api: x\ncases:\n  - name: a\n    source: \"  \"\n    request: { path: /t }\n",
            "source.yaml:4:13",
            "`source` names a vendor document (URL), an RFC clause, or `assumed`",
        ),
    ];
    for (name, yaml, at, message) in cases {
        let file = write(&dir, name, yaml);
        let o = tokenconf(&["validate", file.to_str().unwrap()], &[]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {out}");
        assert!(out.contains(at), "{name}: {out}");
        assert!(out.contains(message), "{name}: {out}");
    }
    let targets = write(
        &dir,
        "targets.yaml",
        "targets:\n  t:\n    apis:\n      x:\n        base_url: http://127.0.0.1:9\n        capabilities: [auto_authorise]\n        profiles:\n          p: { capabilities: [guest], vrs: {} }\n",
    );
    let ok = write(
        &dir,
        "ok.yaml",
        "api: x\ncases:\n  - name: a\n    request: { path: /t }\n",
    );
    let o = tokenconf(
        &[
            "validate",
            ok.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
        ],
        &[],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("targets.yaml:8:"), "{out}");
    assert!(out.contains("unknown field `vrs`"), "{out}");
    let fixed = std::fs::read_to_string(&targets)
        .unwrap()
        .replace(", vrs: {}", "");
    std::fs::write(&targets, fixed).unwrap();
    let o = tokenconf(
        &[
            "validate",
            ok.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
        ],
        &[],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("targets.yaml:6:24")
            && out.contains("unknown capability `auto_authorise` (did you mean `auto_authorize`?)"),
        "{out}"
    );
    assert!(
        out.contains("targets.yaml:8:31") && out.contains("unknown capability `guest`"),
        "{out}"
    );
}

#[test]
fn list_sources_and_validate_as_users_read_them() {
    let cmd = || {
        snapbox::cmd::Command::new(BIN)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
    };
    cmd()
        .args(["list", "--sources", SUITE])
        .assert()
        .code(0)
        .stdout_eq(snapbox::file!["golden/list-sources.stdout"]);
    let mut validate = cmd().args(["validate", SUITE, "--targets", TARGETS]);
    for (k, v) in env(9, 10) {
        validate = validate.env(k, v);
    }
    validate
        .assert()
        .code(0)
        .stdout_eq(snapbox::file!["golden/validate-profiles.stdout"]);
}

#[test]
fn known_deviations_are_data_a_user_can_replace() {
    let dir = scratch(module_path!(), "deviations");
    let run = |file: &Path| {
        tokenconf(
            &[
                "run",
                "suites/salesforce/token.yaml",
                "--known-deviations",
                file.to_str().unwrap(),
                "--report-dir",
                dir.join("reports").to_str().unwrap(),
            ],
            &[],
        )
    };
    // The built-in file, copied: the same run as without the flag.
    let copy = dir.join("copy.yaml");
    std::fs::copy(root().join("specs/salesforce/known-deviations.yaml"), &copy).unwrap();
    let o = run(&copy);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("[KNOWN-DEVIATION] RFC6749-5.2-invalid_client-401"));
    // Without it, Salesforce's documented 400 after Basic is a failure again.
    let none = write(&dir, "none.yaml", "[]\n");
    let o = run(&none);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("[MUST] RFC6749-5.2-invalid_client-401"));
    let bad = write(
        &dir,
        "bad.yaml",
        "- set: salesforce.error-response\n  rule: RFC6749-5.2-invalid-client-401\n  reason: x\n",
    );
    let o = run(&bad);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("bad.yaml:2:9")
            && out.contains("did you mean `RFC6749-5.2-invalid_client-401`"),
        "{out}"
    );
}
