//! Issue 23's leftovers: a case that errors in transport shows the request it sent; the
//! closing `summary:` line counts errors apart; the hints for an unreachable origin and for a
//! target that answers HTML to everything reach index.html and junit.xml too; every JUnit
//! testcase's output opens with its suite file and line (and, with `--junit-file-attributes`,
//! carries them as attributes); `validate` warns of a base_url whose path the suites' paths repeat.

use std::net::TcpListener;
use std::process::Command;

use crate::requests::{
    assert_no_secret, everything, response, run, serve, suite, targets, THREE_CASES,
};
use crate::support::{root, BIN};

fn scratch(name: &str) -> std::path::PathBuf {
    crate::support::scratch(module_path!(), name)
}

fn report(texts: &[(String, String)], name: &str) -> String {
    texts
        .iter()
        .find(|(p, _)| p.ends_with(name))
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| panic!("no {name}"))
}

const ONE_CASE: &str = r#"  - name: one
    request:
      path: /v1/token
      auth: { basic: { user: "{{ client_id }}", password: "{{ client_secret }}" } }
      form: { grant_type: client_credentials, scope: "shown-scope" }
    expect: { status: 200 }
"#;

#[test]
fn a_case_that_times_out_shows_the_request_it_sent_masked_everywhere() {
    let dir = scratch("timeout-request");
    let server = serve(None);
    let base_url = format!("http://127.0.0.1:{}", server.port);
    targets(&dir, &base_url, "{ retries: 0, timeout_ms: 300 }");
    suite(&dir, ONE_CASE);
    let out = run(&dir, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ERROR (timed out after 300 ms"), "{stdout}");
    // The request as a failing case's is shown: method and URL, how it authenticated, the form.
    assert!(
        stdout.contains(&format!("  request:\n    POST {base_url}/v1/token\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("authorization: Basic [redacted]"),
        "{stdout}"
    );
    assert!(stdout.contains("scope=shown-scope"), "{stdout}");
    let texts = everything(&dir, &out);
    // The body is only in the request shown (the error message names the URL alone).
    for name in ["junit.xml", "index.html", "summary.json"] {
        assert!(
            report(&texts, name).contains("shown-scope"),
            "{name} shows no request"
        );
    }
    assert_no_secret(&texts);
}

#[test]
fn an_unreachable_origin_is_one_line_with_one_request_and_its_hint_in_every_report() {
    let dir = scratch("unreachable-everywhere");
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
    // One request stands for the three: where they went.
    let post = format!("    POST http://127.0.0.1:{port}/v1/token\n");
    assert_eq!(stdout.matches(&post).count(), 1, "{stdout}");
    assert!(stdout.contains("  e.g. acme::"), "{stdout}");
    // Errors are not failures.
    assert!(
        stdout
            .lines()
            .any(|l| l == "summary: 0 passed, 0 failed, 3 errored, 0 skipped"),
        "{stdout}"
    );
    let texts = everything(&dir, &out);
    let hint = format!(
        "cannot reach http://127.0.0.1:{port} (connection refused): 3 cases errored the same way"
    );
    let html = report(&texts, "index.html");
    assert!(
        html.contains("id=\"hints\"") && html.contains(&hint),
        "{html}"
    );
    let junit = report(&texts, "junit.xml");
    assert!(junit.contains(&format!("hint: {hint}")), "{junit}");
    assert!(
        junit.contains(&format!(
            "<property name=\"tokenconf.hints\" value=\"{hint}\"/>"
        )),
        "{junit}"
    );
    // Each errored case's own request is in its JUnit error text.
    assert_eq!(junit.matches("grant_type=").count(), 3, "{junit}");
    assert_no_secret(&texts);
}

#[test]
fn the_html_to_everything_hint_is_in_index_html_and_junit_xml() {
    let dir = scratch("html-everywhere");
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
    assert_eq!(out.status.code(), Some(1));
    let hint = "every response was text/html 501, not JSON: is base_url the OAuth server?";
    let texts = everything(&dir, &out);
    let html = report(&texts, "index.html");
    assert_eq!(html.matches(hint).count(), 1, "{html}");
    let junit = report(&texts, "junit.xml");
    assert!(junit.contains(&format!("hint: {hint}")), "{junit}");
    // A run with nothing to hint at says nothing of it.
    let quiet = scratch("html-quiet");
    let server = serve(Some(response(
        "200 OK",
        "application/json",
        r#"{"access_token":"t","token_type":"Bearer"}"#,
    )));
    targets(
        &quiet,
        &format!("http://127.0.0.1:{}", server.port),
        "{ retries: 0 }",
    );
    suite(&quiet, THREE_CASES);
    let out = run(&quiet, &[]);
    let texts = everything(&quiet, &out);
    assert!(!report(&texts, "index.html").contains("id=\"hints\""));
    assert!(!report(&texts, "junit.xml").contains("tokenconf.hints"));
}

#[test]
fn every_junit_testcase_output_opens_with_its_file_and_line() {
    let dir = scratch("junit-lines");
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
    // The passing case too, not only the failing one's failure text.
    let passing = junit
        .split("<testcase ")
        .find(|c| c.starts_with("name=\"passes\""))
        .expect("the passing case");
    assert!(
        passing.contains("<system-out>tests/fixtures/golden/failing.yaml:7\n"),
        "{passing}"
    );
    let failing = junit
        .split("<testcase ")
        .find(|c| c.starts_with("name=\"expects the wrong status and token type\""))
        .expect("the failing case");
    assert!(
        failing.contains("<system-out>tests/fixtures/golden/failing.yaml:13\n"),
        "{failing}"
    );
    // Jenkins' schema has no `line` on a testcase: only the opt-in below adds it.
    assert!(!junit.contains(" line=\""), "{junit}");
}

#[test]
fn junit_file_attributes_put_file_and_line_on_each_testcase_when_asked() {
    let dir = scratch("junit-attributes");
    let reports = dir.join("reports");
    let out = Command::new(BIN)
        .args([
            "run",
            "tests/fixtures/golden/failing.yaml",
            "--junit-file-attributes",
        ])
        .arg("--report-dir")
        .arg(&reports)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    let cases: Vec<&str> = junit
        .split("<testcase ")
        .skip(1)
        .map(|c| c.split('>').next().unwrap_or_default())
        .collect();
    assert_eq!(cases.len(), 2, "{junit}");
    assert!(
        cases[0].contains("file=\"tests/fixtures/golden/failing.yaml\" line=\"7\""),
        "{junit}"
    );
    assert!(
        cases[1].contains("file=\"tests/fixtures/golden/failing.yaml\" line=\"13\""),
        "{junit}"
    );
}

#[test]
fn validate_warns_of_a_base_url_whose_path_the_suites_paths_repeat() {
    let dir = scratch("base-path");
    // The token URL pasted as base_url: every request would go to /v1/token/v1/token.
    targets(&dir, "http://127.0.0.1:4910/v1/token", "{ retries: 0 }");
    suite(&dir, THREE_CASES);
    let validate = |dir: &std::path::Path| {
        Command::new(BIN)
            .arg("validate")
            .arg(dir.join("acme.yaml"))
            .arg("--targets")
            .arg(dir.join("targets.yaml"))
            .current_dir(root())
            .env("TC_REQ_SECRET", crate::requests::SECRET)
            .output()
            .unwrap()
    };
    let out = validate(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let warning = "warning: api `acme`: base_url http://127.0.0.1:4910/v1/token has the path /v1/token, and each suite's path is appended to it";
    assert_eq!(stdout.matches(warning).count(), 1, "{stdout}");
    assert!(
        stdout.contains("goes to http://127.0.0.1:4910/v1/token/v1/token;"),
        "{stdout}"
    );
    // A prefix the paths go on from is not a mistake.
    let prefix = scratch("base-prefix");
    targets(&prefix, "http://127.0.0.1:4910/tenant-a", "{ retries: 0 }");
    suite(&prefix, THREE_CASES);
    let out = validate(&prefix);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("has the path"), "{stdout}");
}
