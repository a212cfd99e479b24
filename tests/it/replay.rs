//! Replays anyone can use (issue 23 item 9): `mock --replay` answers a client that names no
//! case when the recording has one kind of answer for its request, 599 only where it is
//! ambiguous; `run --mock-replay` runs as the recorded target did (its mock profile and
//! capabilities), so a sandbox recording skips what the sandbox skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::support::text;
use crate::support::{root, BIN};

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

/// A recording of `cases`: (test, [(request, response)]).
fn recording(dir: &Path, cases: &[(&str, Vec<(Value, Value)>)], extra: Value) -> PathBuf {
    let rec = dir.join("rec");
    std::fs::create_dir_all(rec.join("cases")).unwrap();
    let mut entries = Vec::new();
    for (i, (test, steps)) in cases.iter().enumerate() {
        let file = format!("cases/c{i}.cassette.json");
        let steps: Vec<Value> = steps
            .iter()
            .enumerate()
            .map(|(n, (request, response))| {
                json!({"step": format!("step {}", n + 1), "request": request, "response": response})
            })
            .collect();
        let cassette = json!({"format": 1, "test": test, "steps": steps});
        std::fs::write(rec.join(&file), cassette.to_string()).unwrap();
        entries.push(json!({"test": test, "cassette": file}));
    }
    let mut index = json!({
        "format": 1, "tool": "tokenconf", "version": "0.1.0", "target": "t",
        "recorded": "2026-12-01T00:00:00Z", "cases": entries, "fixtures": []
    });
    for (k, v) in extra.as_object().unwrap() {
        index[k] = v.clone();
    }
    std::fs::write(rec.join("recording.json"), index.to_string()).unwrap();
    rec
}

fn token_request(grant_type: &str) -> Value {
    json!({
        "method": "POST", "path": "/token", "query": [],
        "headers": ["authorization", "content-type"],
        "body": "form", "form": ["grant_type"], "values": {"grant_type": grant_type}
    })
}

fn userinfo_request() -> Value {
    json!({"method": "GET", "path": "/userinfo", "query": [], "headers": ["authorization"], "body": "none"})
}

fn answer(status: u16, body: Value) -> Value {
    json!({"status": status, "headers": [["content-type", "application/json"]], "json": body})
}

#[test]
fn a_client_without_the_case_header_gets_the_one_kind_of_answer_recorded_for_its_request() {
    let dir = scratch("best-effort");
    let rec = recording(
        &dir,
        &[
            (
                "t/token::a",
                vec![(
                    token_request("client_credentials"),
                    answer(
                        200,
                        json!({"access_token": "AAAAAAAA", "token_type": "Bearer"}),
                    ),
                )],
            ),
            (
                "t/token::b",
                vec![
                    (
                        token_request("client_credentials"),
                        answer(
                            200,
                            json!({"access_token": "BBBBBBBB", "token_type": "Bearer"}),
                        ),
                    ),
                    (userinfo_request(), answer(200, json!({"sub": "s1"}))),
                ],
            ),
            (
                "t/token::c",
                vec![
                    (
                        token_request("refresh_token"),
                        answer(400, json!({"error": "invalid_grant"})),
                    ),
                    (
                        userinfo_request(),
                        answer(401, json!({"error": "invalid_token"})),
                    ),
                ],
            ),
        ],
        json!({}),
    );
    // A wrong secret's answer to the same request as case a's.
    std::fs::write(
        rec.join("cases/c3.cassette.json"),
        json!({"format": 1, "test": "t/token::d", "steps": [{
            "step": "step 1",
            "request": token_request("client_credentials"),
            "response": answer(401, json!({"error": "invalid_client"}))
        }]})
        .to_string(),
    )
    .unwrap();
    let mut index: Value =
        serde_json::from_str(&std::fs::read_to_string(rec.join("recording.json")).unwrap())
            .unwrap();
    index["cases"]
        .as_array_mut()
        .unwrap()
        .push(json!({"test": "t/token::d", "cassette": "cases/c3.cassette.json"}));
    std::fs::write(rec.join("recording.json"), index.to_string()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = tokenconf::mock::replay::start(&rec, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the replay starts");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let base = server.base_url();

        // Another client (its own user agent): with the replay's own credentials, the two
        // recorded successes differ only in their tokens, so one is given; with a wrong
        // secret, the recorded refusal; with none, it is ambiguous.
        let target = server.target();
        let (id, secret) = (
            target.apis["talkdesk"].vars["client_id"].clone(),
            target.apis["talkdesk"].secrets["client_secret"].clone(),
        );
        let token = |secret: Option<&str>| {
            let request = client
                .post(format!("{base}/token"))
                .header("user-agent", "my-sdk/1.0")
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials");
            match secret {
                Some(s) => request.basic_auth(&id, Some(s)),
                None => request,
            }
            .send()
        };
        let wrong = token(Some("not-the-secret")).await.unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
        let none = token(None).await.unwrap();
        assert_eq!(none.status().as_u16(), 599);
        let r = token(Some(&secret)).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            r.headers()[tokenconf::mock::replay::REPLAYED_FROM],
            "t/token::a"
        );
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(body["token_type"], "Bearer");

        // The grant type tells the refresh apart.
        let r = client
            .post(format!("{base}/token"))
            .basic_auth("id", Some("secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=refresh_token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"], "invalid_grant");

        // Two different answers to the same request: 599, naming both.
        let r = client
            .get(format!("{base}/userinfo"))
            .bearer_auth("whatever")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 599);
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        let why = body["error_description"].as_str().unwrap();
        assert!(
            why.contains("ambiguous") && why.contains("status 200") && why.contains("status 401"),
            "{why}"
        );

        // A body shape nobody recorded.
        let r = client
            .post(format!("{base}/token"))
            .header("content-type", "application/json")
            .body(r#"{"grant_type": "client_credentials"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 599);
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("no recorded request"),
            "{body}"
        );
        server.stop().await;
    });
}

#[test]
fn an_unknown_capability_or_mock_profile_in_a_recording_is_a_load_error_naming_the_field() {
    let dir = scratch("bad-fields");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (name, extra, want) in [
        (
            "capability",
            json!({"capabilities": {"talkdesk": {"capabilities": ["auto_authorise"]}}}),
            "capabilities.talkdesk: unknown capability",
        ),
        (
            "profile-capability",
            json!({"capabilities": {"miaw": {"capabilities": [], "profiles": {"v": ["nope"]}}}}),
            "capabilities.miaw.profiles.v: unknown capability",
        ),
        (
            "mock-profile",
            json!({"mock_profile": "staging"}),
            "mock_profile: \"staging\" is not a profile",
        ),
    ] {
        let dir = dir.join(name);
        let rec = recording(&dir, &[], extra);
        let e = rt
            .block_on(tokenconf::mock::replay::start(
                &rec,
                "127.0.0.1:0".parse().unwrap(),
            ))
            .err()
            .unwrap_or_else(|| panic!("{name}: the replay started"));
        assert!(e.to_string().contains(want), "{name}: {e}");
    }
}

/// `run` of the Talkdesk suites with `extra` flags, in `dir`.
fn run_talkdesk(dir: &Path, reports: &str, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("run")
        .arg(root().join("suites/talkdesk"))
        .arg("--specs")
        .arg(root().join("specs"))
        .args(["--report-dir", reports])
        .args(extra)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

/// `N passed, N failed, N skipped` of a run's closing line.
fn summary(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("a summary line:\n{}", text(o)))
        .to_string()
}

#[test]
fn a_sandbox_recording_replays_as_the_sandbox_and_skips_what_it_skipped() {
    let dir = scratch("sandbox");
    let recorded = run_talkdesk(
        &dir,
        "reports-recorded",
        &["--mock-profile", "sandbox", "--record", "rec"],
    );
    assert!(recorded.status.success(), "{}", text(&recorded));
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("rec/recording.json")).unwrap())
            .unwrap();
    assert_eq!(index["mock_profile"], "sandbox");
    let declared = index["capabilities"]["talkdesk"]["capabilities"]
        .as_array()
        .expect("the recorded capabilities");
    // The sandbox does not approve without a login: its code flows run only through its login
    // form in a browser (a login script counts as auto_authorize), and skip without one.
    let browser = crate::support::chromium().is_some();
    assert_eq!(
        declared.iter().any(|c| c == "auto_authorize"),
        browser,
        "{declared:?}"
    );
    let skipped = summary(&recorded);
    assert!(
        !skipped.contains(" 0 skipped"),
        "the sandbox skips some: {skipped}"
    );

    let replayed = run_talkdesk(&dir, "reports-replayed", &["--mock-replay", "rec"]);
    assert!(replayed.status.success(), "{}", text(&replayed));
    assert_eq!(summary(&replayed), skipped, "{}", text(&replayed));
}
