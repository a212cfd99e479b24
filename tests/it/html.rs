//! index.html in a real browser: headless Debian chromium loads the page the binary wrote, and
//! the rendered DOM must hold the counts (filled in by the page's script, so it ran) and a diff.
//! Under CI (CI=true) a missing chromium fails the test; locally it is skipped with a reason.

use crate::support::{chromium, dump_dom, BIN};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

#[test]
fn the_html_report_renders_with_counts_and_a_diff_in_headless_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = scratch("html-report");
    let suite = dir.join("page.yaml");
    let request = r#"
    request:
      path: /oauth/token
      auth: { basic: { user: "{{ client_id }}", password: "{{ client_secret }}" } }
      form: { grant_type: client_credentials }"#;
    std::fs::write(
        &suite,
        format!(
            "api: talkdesk\nvars:\n  client_id: conformance-client\nsecrets: [client_secret]\ncases:\n  - name: expects the wrong status{request}\n    expect:\n      status: 201\n      json:\n        $.token_type: MAC\n  - name: passes{request}\n    expect: {{ status: 200 }}\n  - name: passes too{request}\n    expect: {{ status: 200 }}\n"
        ),
    )
    .unwrap();
    let reports = dir.join("reports");
    let run = Command::new(BIN)
        .arg("run")
        .arg(&suite)
        .arg("--report-dir")
        .arg(&reports)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let page = reports.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http://") && !html.contains("<link"),
        "no external assets"
    );
    let dom = dump_dom(&browser, &page, &dir.join("profile"));
    assert!(
        dom.contains("data-ready=\"yes\""),
        "the script did not run:\n{dom}"
    );
    for (filter, n) in [
        ("all", 3),
        ("passed", 2),
        ("failed", 1),
        ("errored", 0),
        ("skipped", 0),
    ] {
        let at = dom
            .find(&format!("id=\"count-{filter}\""))
            .unwrap_or_else(|| panic!("no count-{filter} in:\n{dom}"));
        let button = &dom[at..at + dom[at..].find("</button>").unwrap_or(0)];
        assert!(
            button.contains(&format!("data-filled=\"js\">{n}</span>")),
            "count-{filter} should be {n}: {button}"
        );
    }
    assert!(
        dom.contains("<span class=\"del\">-HTTP 201    &lt;- status</span>"),
        "no diff in the DOM:\n{dom}"
    );
    assert!(
        dom.contains("<span class=\"add\">+HTTP 200</span>"),
        "{dom}"
    );
    assert!(dom.contains("json $.token_type"), "{dom}");
}

/// Each `<td class="cell …">` of the rules × APIs matrix: (class, rule, api).
fn matrix_cells(dom: &str) -> Vec<(String, String, String)> {
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[start..start + tag[start..].find('"')?].to_string())
    };
    dom.match_indices("<td class=\"cell ")
        .filter_map(|(at, _)| {
            let tag = &dom[at..at + dom[at..].find('>')?];
            let class = attr(tag, "class")?.strip_prefix("cell ")?.to_string();
            Some((class, attr(tag, "data-rule")?, attr(tag, "data-api")?))
        })
        .collect()
}

#[test]
fn the_index_shows_a_rules_by_apis_matrix_and_failures_first_grouped_by_suite() {
    let Some(browser) = chromium() else { return };
    let dir = scratch("html-matrix");
    let reports = dir.join("reports");
    // Every shipped suite against a mock whose Salesforce issued_at is in seconds: one rule
    // (SF-issued_at) fails, on one API.
    let run = Command::new(BIN)
        .args([
            "run",
            "--mock-drift",
            "sf-issued-at-seconds",
            "--report-dir",
        ])
        .arg(&reports)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let dom = dump_dom(&browser, &reports.join("index.html"), &dir.join("profile"));
    assert!(dom.contains("data-ready=\"yes\""), "the script did not run");
    let cells = matrix_cells(&dom);
    assert!(cells.len() > 100, "{} cells", cells.len());
    let class_of = |rule: &str, api: &str| {
        cells
            .iter()
            .find(|(_, r, a)| r == rule && a == api)
            .map(|(c, _, _)| c.as_str())
            .unwrap_or_else(|| panic!("no cell for {rule} × {api}"))
    };
    let failing: Vec<(&str, &str)> = cells
        .iter()
        .filter(|(c, _, _)| c == "fail")
        .map(|(_, r, a)| (r.as_str(), a.as_str()))
        .collect();
    assert_eq!(failing, [("SF-issued_at", "salesforce")]);
    assert_eq!(class_of("SF-issued_at", "talkdesk"), "not-run");
    assert_eq!(class_of("SF-issued_at", "miaw"), "not-run");
    assert_eq!(class_of("RFC6749-5.1-no-store", "talkdesk"), "pass");
    assert_eq!(class_of("RFC6749-5.1-no-store", "salesforce"), "pass");
    assert_eq!(class_of("MIAW-access-token-jwt", "miaw"), "pass");
    assert_eq!(class_of("MIAW-access-token-jwt", "talkdesk"), "not-run");
    for (class, _, _) in &cells {
        assert!(
            ["pass", "fail", "warn", "not-run"].contains(&class.as_str()),
            "{class}"
        );
    }

    // The page opens on the failures, then the matrix, led by the rule that failed; every
    // other case after them.
    let failures = dom.find("id=\"failures\"").expect("a failures section");
    let others = dom.find("id=\"cases\"").expect("an other-cases section");
    let matrix = dom.find("id=\"matrix\"").expect("the matrix");
    assert!(failures < matrix && matrix < others);
    assert_eq!(
        cells[0].1,
        "SF-issued_at",
        "the first row: {:?}",
        &cells[..3]
    );
    // Each failing case shows the request it sent.
    let failing_section = &dom[failures..matrix];
    assert!(
        failing_section.contains("request (") && failing_section.contains("POST http://127.0.0.1:"),
        "no request among the failures"
    );
    let failed_at: Vec<usize> = dom
        .match_indices("data-status=\"failed\"")
        .map(|(i, _)| i)
        .collect();
    assert!(!failed_at.is_empty());
    assert!(failed_at.iter().all(|&i| failures < i && i < others));
    let passed_at = dom.find("data-status=\"passed\"").unwrap();
    assert!(passed_at > others, "a passed case among the failures");
    let section = &dom[failures..matrix];
    let groups: Vec<&str> = section
        .match_indices("<section class=\"suite\" data-suite=\"")
        .map(|(i, m)| {
            let name = &section[i + m.len()..];
            &name[..name.find('"').unwrap()]
        })
        .collect();
    assert!(!groups.is_empty());
    assert!(
        groups.iter().all(|g| g.starts_with("salesforce/")),
        "{groups:?}"
    );
    let mut unique = groups.clone();
    unique.dedup();
    assert_eq!(unique, groups, "one group per suite");
}

/// What a hostile suite or server might put in a report: markup, every quote, an ampersand
/// and control characters.
const HOSTILE: &str =
    "<script>document.body.dataset.pwned='owned'</script>\"'&amp;\x07\x1b[2J<img src=x onerror=alert(1)>";

#[test]
fn hostile_text_in_a_case_name_a_finding_and_a_response_body_comes_out_escaped() {
    use tokenconf::finding::Finding;
    use tokenconf::outcome::{CaseOutcome, ResponseSnapshot, RunReport, Status};
    let dir = scratch("html-hostile");
    let mut o = CaseOutcome::new(
        "talkdesk/token",
        "talkdesk",
        format!("case {HOSTILE}"),
        "talkdesk/token::hostile",
        Status::Failed,
    );
    o.findings = vec![Finding::must("status", format!("message {HOSTILE}")).actual(HOSTILE)];
    o.response = Some(ResponseSnapshot {
        status: 200,
        headers: vec![("content-type".into(), "text/html".into())],
        json: None,
        text: Some(format!("body {HOSTILE}")),
    });
    let report = RunReport {
        target: "mock".into(),
        started: std::time::SystemTime::now(),
        duration: Duration::from_millis(1),
        strict: false,
        outcomes: vec![o],
        insecure: Vec::new(),
        resolved: Vec::new(),
        user_deviations: Vec::new(),
        suites: Default::default(),
    };
    tokenconf::report::write_all(&dir, &report, &tokenconf::redact::Redactor::default()).unwrap();
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let escaped = "&lt;script&gt;document.body.dataset.pwned=&apos;owned&apos;&lt;/script&gt;&quot;&apos;&amp;amp;\\x07\\x1b[2J&lt;img src=x onerror=alert(1)&gt;";
    for (what, prefix) in [
        ("case name", "case "),
        ("finding message", "message "),
        ("response body", "body "),
    ] {
        assert!(
            html.contains(&format!("{prefix}{escaped}")),
            "the {what} is not escaped:\n{html}"
        );
    }
    for raw in ["<script>document", "<img", "\x07", "\x1b", "'owned'"] {
        assert!(!html.contains(raw), "{raw:?} reached the page raw");
    }
    // The page's own script is the only one.
    assert_eq!(html.matches("<script>").count(), 1);
    let Some(browser) = chromium() else { return };
    let dom = dump_dom(&browser, &dir.join("index.html"), &dir.join("profile"));
    assert!(
        dom.contains("data-ready=\"yes\""),
        "the page's script did not run"
    );
    assert!(
        !dom.contains("data-pwned"),
        "the hostile script ran:\n{dom}"
    );
    assert!(!dom.contains("<img"), "hostile markup became an element");
}
