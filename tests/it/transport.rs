//! The transport against small loopback servers: retries, Retry-After, timeouts, refused
//! connections, rate budgets, redirects never followed, and signed client assertions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use tokenconf::http::{HttpOptions, RetryPolicy, TransportKind};
use tokenconf::mock::{self, keys, MockConfig};
use tokenconf::outcome::{CaseOutcome, ErrorKind, RunReport, Status};
use tokenconf::redact::Redactor;
use tokenconf::report;
use tokenconf::run::Runner;
use tokenconf::target::{ApiTarget, Target};

/// What a scripted server saw: when each request arrived, and its raw text.
#[derive(Default)]
struct Seen {
    requests: Vec<(Instant, String)>,
}

/// Answers the i-th request with `script[i]` (the last one repeats); `None` never answers.
async fn scripted(script: Vec<Option<&'static str>>) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((mut stream, _)) = listener.accept().await else {
                break;
            };
            let record = record.clone();
            let script = script.clone();
            tokio::spawn(async move {
                loop {
                    let mut buf = vec![0u8; 16384];
                    let n =
                        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
                            .await
                        {
                            Ok(Ok(n)) if n > 0 => n,
                            _ => return,
                        };
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let i = {
                        let mut s = record.lock().unwrap();
                        s.requests.push((Instant::now(), text));
                        s.requests.len() - 1
                    };
                    match script.get(i).or(script.last()).copied().flatten() {
                        Some(response) => {
                            if stream.write_all(response.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        None => {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, seen)
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";

fn suite_dir(name: &str, yaml: &str) -> PathBuf {
    let dir = crate::support::tmp(module_path!()).join(format!("transport-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.yaml")), yaml).unwrap();
    dir
}

fn target(port: u16, http: HttpOptions) -> Target {
    let mut apis = BTreeMap::new();
    apis.insert(
        "x".to_string(),
        ApiTarget {
            base_url: format!("http://127.0.0.1:{port}"),
            vars: BTreeMap::new(),
            secrets: [("client_secret".to_string(), "Loopback-Secret-1".to_string())].into(),
            ..ApiTarget::default()
        },
    );
    Target {
        name: "loopback".into(),
        apis,
        http: HttpOptions {
            use_env_proxy: false,
            ..http
        },
        allow_origins: Vec::new(),
        allow_http: false,
        embedded_mock: false,
    }
}

async fn run(name: &str, yaml: &str, target: Target) -> Vec<CaseOutcome> {
    let dir = suite_dir(name, yaml);
    let loaded = tokenconf::session::load_suites(
        &[dir],
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("specs")
            .as_path(),
    )
    .unwrap();
    let runner = Arc::new(Runner::new(Arc::new(loaded), target, false).unwrap());
    let ids = runner.case_ids();
    runner.run_all(&ids, 4, |_| {}).await.outcomes
}

fn retrying(n: u32) -> HttpOptions {
    HttpOptions {
        retry: RetryPolicy {
            max_retries: n,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        },
        ..HttpOptions::default()
    }
}

const ONE_CASE: &str = "api: x\ncases:\n  - name: token\n    request: { path: /token, form: { grant_type: client_credentials } }\n    expect: { status: 200 }\n";

#[tokio::test]
async fn a_503_with_retry_after_is_retried_after_the_wait_and_recorded() {
    let (port, seen) = scripted(vec![
        Some("HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n"),
        Some(OK),
    ])
    .await;
    let out = run("retry-after", ONE_CASE, target(port, retrying(2))).await;
    assert_eq!(out[0].status, Status::Passed, "{:?}", out[0]);
    assert_eq!(out[0].retries.len(), 1);
    assert_eq!(out[0].retries[0].reason, "status 503");
    assert_eq!(out[0].retries[0].waited, Duration::from_secs(1));
    let s = seen.lock().unwrap();
    assert_eq!(s.requests.len(), 2);
    let gap = s.requests[1].0 - s.requests[0].0;
    assert!(gap >= Duration::from_millis(950), "waited only {gap:?}");
}

#[tokio::test]
async fn a_429_is_retried_with_backoff() {
    let (port, seen) = scripted(vec![
        Some("HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\n\r\n"),
        Some(OK),
    ])
    .await;
    let out = run("429", ONE_CASE, target(port, retrying(2))).await;
    assert_eq!(out[0].status, Status::Passed, "{:?}", out[0]);
    assert_eq!(out[0].retries.len(), 1);
    assert_eq!(seen.lock().unwrap().requests.len(), 2);
}

#[tokio::test]
async fn exhausted_retries_are_an_error_not_a_failure() {
    let (port, seen) = scripted(vec![Some(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n",
    )])
    .await;
    let out = run("exhausted", ONE_CASE, target(port, retrying(2))).await;
    assert_eq!(out[0].status, Status::Errored, "{:?}", out[0]);
    assert!(
        out[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("status 502 after 3 attempts"),
        "{:?}",
        out[0].reason
    );
    assert_eq!(seen.lock().unwrap().requests.len(), 3);
    assert_eq!(junit_error_type(out), "status");
}

#[tokio::test]
async fn a_4xx_from_a_token_endpoint_is_never_retried() {
    let (port, seen) = scripted(vec![Some(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 27\r\n\r\n{\"error\":\"invalid_request\"}",
    )])
    .await;
    let out = run("no-retry-4xx", ONE_CASE, target(port, retrying(3))).await;
    assert_eq!(out[0].status, Status::Failed, "{:?}", out[0]);
    assert!(out[0].retries.is_empty());
    assert_eq!(seen.lock().unwrap().requests.len(), 1);
}

/// The `type=` of the one `<error>` in the junit.xml the reporters write for `out`.
fn junit_error_type(out: Vec<CaseOutcome>) -> String {
    let report = RunReport {
        target: "loopback".into(),
        started: std::time::SystemTime::now(),
        duration: Duration::from_millis(1),
        strict: false,
        outcomes: out,
        insecure: Vec::new(),
        resolved: Vec::new(),
        user_deviations: Vec::new(),
        suites: Default::default(),
    };
    let xml = report::junit::render(&report::Redacted::new(&report, &Redactor::default()));
    assert_eq!(xml.matches("<error ").count(), 1, "{xml}");
    let at = xml.find("<error ").unwrap();
    let tag = &xml[at..at + xml[at..].find('>').unwrap()];
    let ty = tag.split(" type=\"").nth(1).unwrap_or_default();
    ty[..ty.find('"').unwrap_or(0)].to_string()
}

/// Accepts one connection at a time, reads the request, and answers it with `then`.
async fn hangs_up(then: HangUp) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        for _ in 0..8 {
            let Ok((mut stream, _)) = listener.accept().await else {
                break;
            };
            let mut buf = vec![0u8; 16384];
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            match then {
                HangUp::Reset => {
                    // SO_LINGER 0: close() sends a RST at once (no blocking with a zero linger).
                    #[expect(deprecated, reason = "a zero linger never blocks the thread")]
                    let _ = stream.set_linger(Some(Duration::ZERO));
                    drop(stream);
                }
                HangUp::Oversized(n) => {
                    let head = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {n}\r\n\r\n");
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&vec![b'x'; n]).await;
                }
            }
        }
    });
    port
}

#[derive(Clone, Copy)]
enum HangUp {
    Reset,
    /// A 200 with a body of this many bytes.
    Oversized(usize),
}

fn no_retries() -> HttpOptions {
    HttpOptions {
        retry: RetryPolicy::none(),
        ..HttpOptions::default()
    }
}

#[tokio::test]
async fn a_reset_connection_is_an_error_of_kind_reset() {
    let port = hangs_up(HangUp::Reset).await;
    let out = run("reset", ONE_CASE, target(port, no_retries())).await;
    assert_eq!(out[0].status, Status::Errored, "{:?}", out[0]);
    assert_eq!(
        out[0].error_kind,
        Some(ErrorKind::Transport(TransportKind::Reset)),
        "{:?}",
        out[0].reason
    );
    assert_eq!(junit_error_type(out), "reset");
}

#[tokio::test]
async fn an_oversized_body_is_an_error_of_kind_too_large() {
    let port = hangs_up(HangUp::Oversized(64 * 1024)).await;
    let http = HttpOptions {
        max_body: 4096,
        ..no_retries()
    };
    let out = run("oversized", ONE_CASE, target(port, http)).await;
    assert_eq!(out[0].status, Status::Errored, "{:?}", out[0]);
    assert_eq!(
        out[0].error_kind,
        Some(ErrorKind::Transport(TransportKind::TooLarge)),
        "{:?}",
        out[0].reason
    );
    assert!(
        out[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("larger than 4096 bytes"),
        "{:?}",
        out[0].reason
    );
    assert_eq!(junit_error_type(out), "too-large");
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_an_error_of_kind_dns() {
    // RFC 6761 §6.4: .invalid never resolves, so a resolver answers at once without asking.
    let mut t = target(1, no_retries());
    t.apis.get_mut("x").unwrap().base_url = "http://as.tokenconf.invalid".into();
    let out = run("dns", ONE_CASE, t).await;
    assert_eq!(out[0].status, Status::Errored, "{:?}", out[0]);
    assert_eq!(
        out[0].error_kind,
        Some(ErrorKind::Transport(TransportKind::Dns)),
        "{:?}",
        out[0].reason
    );
    assert_eq!(junit_error_type(out), "dns");
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_is_an_error_of_kind_tls() {
    let (port, _) = scripted(vec![Some(OK)]).await;
    let mut t = target(port, no_retries());
    t.apis.get_mut("x").unwrap().base_url = format!("https://127.0.0.1:{port}");
    let out = run("tls", ONE_CASE, t).await;
    assert_eq!(out[0].status, Status::Errored, "{:?}", out[0]);
    assert_eq!(
        out[0].error_kind,
        Some(ErrorKind::Transport(TransportKind::Tls)),
        "{:?}",
        out[0].reason
    );
    assert_eq!(junit_error_type(out), "tls");
}

#[tokio::test]
async fn exhausted_retries_on_transport_errors_keep_the_transport_kind() {
    let port = hangs_up(HangUp::Reset).await;
    let out = run("reset-retried", ONE_CASE, target(port, retrying(1))).await;
    assert_eq!(out[0].status, Status::Errored, "{:?}", out[0]);
    assert_eq!(out[0].retries.len(), 1);
    assert_eq!(out[0].retries[0].kind, TransportKind::Reset);
    assert!(
        out[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .ends_with("after 2 attempts"),
        "{:?}",
        out[0].reason
    );
    assert_eq!(junit_error_type(out), "reset");
}

#[tokio::test]
async fn a_silent_server_times_out_as_an_error() {
    let (port, _) = scripted(vec![None]).await;
    let http = HttpOptions {
        timeout: Duration::from_millis(300),
        retry: RetryPolicy::none(),
        ..HttpOptions::default()
    };
    let started = Instant::now();
    let out = run("timeout", ONE_CASE, target(port, http)).await;
    assert_eq!(out[0].status, Status::Errored, "{:?}", out[0]);
    assert!(
        out[0].reason.as_deref().unwrap_or("").contains("timed out"),
        "{:?}",
        out[0].reason
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(
        out[0].error_kind,
        Some(ErrorKind::Transport(TransportKind::Timeout))
    );
    assert_eq!(junit_error_type(out), "timeout");
}

#[tokio::test]
async fn a_refused_connection_is_an_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(
        "refused",
        ONE_CASE,
        target(
            port,
            HttpOptions {
                retry: RetryPolicy::none(),
                ..HttpOptions::default()
            },
        ),
    )
    .await;
    assert_eq!(out[0].status, Status::Errored, "{:?}", out[0]);
    assert!(
        out[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("could not connect"),
        "{:?}",
        out[0].reason
    );
    assert_eq!(
        out[0].error_kind,
        Some(ErrorKind::Transport(TransportKind::Connect))
    );
    assert_eq!(junit_error_type(out), "connect");
}

#[tokio::test]
async fn the_rate_budget_spaces_requests_to_one_host() {
    let (port, seen) = scripted(vec![Some(OK)]).await;
    let cases: String = (0..5)
        .map(|i| format!("  - name: c{i}\n    request: {{ path: /token, form: {{ grant_type: client_credentials }} }}\n    expect: {{ status: 200 }}\n"))
        .collect();
    let http = HttpOptions {
        rate_per_second: Some(10.0),
        retry: RetryPolicy::none(),
        ..HttpOptions::default()
    };
    let started = Instant::now();
    let out = run(
        "rate",
        &format!("api: x\ncases:\n{cases}"),
        target(port, http),
    )
    .await;
    assert!(out.iter().all(|o| o.status == Status::Passed));
    let s = seen.lock().unwrap();
    let mut times: Vec<Instant> = s.requests.iter().map(|r| r.0).collect();
    times.sort();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(80),
            "requests {gap:?} apart at 10/s"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_the_secret_stays_home() {
    let (elsewhere, elsewhere_seen) = scripted(vec![Some(OK)]).await;
    let redirect: &'static str = Box::leak(
        format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{elsewhere}/token\r\ncontent-length: 0\r\n\r\n")
            .into_boxed_str(),
    );
    let (port, seen) = scripted(vec![Some(redirect)]).await;
    let yaml = "api: x\nsecrets: [client_secret]\ncases:\n  - name: redirected\n    request:\n      path: /token\n      auth: { client_secret_post: { client_id: c, client_secret: \"{{ client_secret }}\" } }\n      form: { grant_type: client_credentials }\n    expect:\n      status: 307\n      headers: { location: { contains: /token } }\n";
    let out = run("redirect", yaml, target(port, retrying(0))).await;
    assert_eq!(out[0].status, Status::Passed, "{:?}", out[0]);
    assert!(seen.lock().unwrap().requests[0]
        .1
        .contains("client_secret=Loopback-Secret-1"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        elsewhere_seen.lock().unwrap().requests.is_empty(),
        "the redirect was followed"
    );
}

#[tokio::test]
async fn harness_signed_client_assertions_pass_the_mock_and_fail_when_tampered() {
    let server = mock::start(MockConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut t = server.target();
    let talkdesk = t.apis.get_mut("talkdesk").unwrap();
    talkdesk
        .secrets
        .insert("signing_key".into(), keys::EC_PRIVATE_PEM.into());
    let kid = talkdesk
        .vars
        .get("assertion_kid")
        .cloned()
        .unwrap_or_default();
    let yaml = format!(
        r#"api: talkdesk
vars: {{ client_id: conformance-client, kid: "{kid}" }}
secrets: [signing_key]
jwts:
  assertion:
    alg: ES256
    kind: client_assertion
    key: "{{{{ signing_key }}}}"
    kid: "{{{{ kid }}}}"
    claims: {{ iss: "{{{{ client_id }}}}", sub: "{{{{ client_id }}}}", aud: "{{{{ base_url }}}}/oauth/token", jti: "{{{{ uuid }}}}", iat: "{{{{ now }}}}", exp: "{{{{ now+300 }}}}" }}
  expired:
    alg: ES256
    key: "{{{{ signing_key }}}}"
    kid: "{{{{ kid }}}}"
    claims: {{ iss: "{{{{ client_id }}}}", sub: "{{{{ client_id }}}}", aud: "{{{{ base_url }}}}/oauth/token", jti: "{{{{ uuid }}}}", iat: "{{{{ now-900 }}}}", exp: "{{{{ now-600 }}}}" }}
cases:
  - name: signed by the harness, twice with fresh jti
    steps:
      - request: {{ path: /oauth/token, auth: {{ private_key_jwt: {{ jwt: assertion }} }}, form: {{ grant_type: client_credentials }} }}
        expect: {{ status: 200, json: {{ $.token_type: Bearer }} }}
      - request: {{ path: /oauth/token, auth: {{ private_key_jwt: {{ jwt: assertion }} }}, form: {{ grant_type: client_credentials }} }}
        expect: {{ status: 200 }}
  - name: an expired assertion is refused
    request: {{ path: /oauth/token, auth: {{ private_key_jwt: {{ jwt: expired }} }}, form: {{ grant_type: client_credentials }} }}
    expect: {{ status: 401, json: {{ $.error: invalid_client }} }}
  - name: a tampered assertion is refused
    steps:
      - request: {{ path: /oauth/token, form: {{ grant_type: client_credentials, client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: "{{{{ jwt.assertion }}}}x" }} }}
        expect: {{ status: 401, json: {{ $.error: invalid_client }} }}
"#
    );
    let out = run("signed", &yaml, t).await;
    for o in &out {
        assert_eq!(
            o.status,
            Status::Passed,
            "{}: {:?} {:?}",
            o.case,
            o.reason,
            o.findings
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn harness_signed_salesforce_and_miaw_tokens_pass_the_mock_and_fail_when_tampered() {
    let server = mock::start(MockConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut t = server.target();
    for api in ["salesforce", "miaw"] {
        let a = t.apis.get_mut(api).unwrap();
        a.secrets
            .insert("signing_key".into(), keys::RSA_PRIVATE_PEM.into());
    }
    let salesforce = r#"api: salesforce
vars: { client_id: "", username: "", login_url: "" }
secrets: [signing_key]
jwts:
  grant:
    alg: RS256
    kind: jwt_bearer
    key: "{{ signing_key }}"
    claims: { iss: "{{ client_id }}", sub: "{{ username }}", aud: "{{ login_url }}", exp: "{{ now+170 }}" }
  wrong_aud:
    alg: RS256
    kind: jwt_bearer
    key: "{{ signing_key }}"
    claims: { iss: "{{ client_id }}", sub: "{{ username }}", aud: "https://login.salesforce.com", exp: "{{ now+170 }}" }
cases:
  - name: a harness-signed jwt bearer grant gets a token
    request:
      path: /services/oauth2/token
      form: { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: "{{ jwt.grant }}" }
    expect: { status: 200, json: { $.access_token: exists } }
  - name: a wrong audience is invalid_grant
    request:
      path: /services/oauth2/token
      form: { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: "{{ jwt.wrong_aud }}" }
    expect: { status: 400, json: { $.error: invalid_grant } }
  - name: a tampered grant is invalid_grant
    request:
      path: /services/oauth2/token
      form: { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: "x{{ jwt.grant }}" }
    expect: { status: 400, json: { $.error: invalid_grant } }
"#;
    let miaw = r#"api: miaw
vars: { org_id: "", es_developer_name: "", customer_subject: "" }
secrets: [signing_key]
jwts:
  identity:
    alg: RS512
    kind: identity_token
    key: "{{ signing_key }}"
    kid: tokenconf-identity-1
    claims: { iss: "https://identity.tokenconf.invalid", sub: "{{ customer_subject }}", iat: "{{ now }}", exp: "{{ now+600 }}" }
cases:
  - name: a harness-signed identity token is verified
    request:
      path: /iamessage/api/v2/authorization/authenticated/access-token
      json: { orgId: "{{ org_id }}", esDeveloperName: "{{ es_developer_name }}", capabilitiesVersion: "1", platform: Mobile, authorizationType: JWT, customerIdentityToken: "{{ jwt.identity }}" }
    expect: { status: 200, json: { $.context.endUser.subject: { contains: /AUTH/ } } }
  - name: a tampered identity token is refused
    request:
      path: /iamessage/api/v2/authorization/authenticated/access-token
      json: { orgId: "{{ org_id }}", esDeveloperName: "{{ es_developer_name }}", capabilitiesVersion: "1", platform: Mobile, authorizationType: JWT, customerIdentityToken: "{{ jwt.identity }}A" }
    expect: { status: 401 }
"#;
    for (name, yaml) in [("salesforce-signed", salesforce), ("miaw-signed", miaw)] {
        let out = run(name, yaml, t.clone()).await;
        assert!(!out.is_empty());
        for o in &out {
            assert_eq!(
                o.status,
                Status::Passed,
                "{}: {:?} {:?}",
                o.case,
                o.reason,
                o.findings
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_fixture_runs_once_per_process_and_its_captures_reach_every_case() {
    // Every path answers with the token, so the order in which cases and the fixture arrive
    // does not matter; the counts below tell who called.
    let (port, seen) = scripted(vec![Some(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 32\r\n\r\n{\"access_token\":\"fixture-tok-1\"}",
    )])
    .await;
    let cases: String = (0..3)
        .map(|i| format!("  - name: uses the token {i}\n    request: {{ path: /api, auth: {{ bearer: \"{{{{ tok.access_token }}}}\" }} }}\n    expect: {{ status: 200 }}\n"))
        .collect();
    let yaml = format!(
        "api: x\nfixtures:\n  tok:\n    request: {{ path: /token, form: {{ grant_type: client_credentials }} }}\n    expect: {{ status: 200 }}\n    capture: {{ access_token: $.access_token }}\ncases:\n{cases}  - name: needs no fixture\n    request: {{ path: /plain }}\n    expect: {{ status: 200 }}\n"
    );
    let out = run("fixture", &yaml, target(port, retrying(0))).await;
    assert!(out.iter().all(|o| o.status == Status::Passed), "{out:?}");
    let s = seen.lock().unwrap();
    let token_calls = s
        .requests
        .iter()
        .filter(|r| r.1.starts_with("POST /token"))
        .count();
    let bearer_calls = s
        .requests
        .iter()
        .filter(|r| {
            r.1.to_ascii_lowercase()
                .contains("authorization: bearer fixture-tok-1")
        })
        .count();
    assert_eq!(token_calls, 1, "the fixture ran once for three cases");
    assert_eq!(bearer_calls, 3);
    assert_eq!(s.requests.len(), 5);
}

#[tokio::test]
async fn a_failing_fixture_errors_the_cases_that_use_it() {
    let (port, _) = scripted(vec![Some(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
    )])
    .await;
    let yaml = "api: x\nfixtures:\n  tok:\n    request: { path: /token, form: { grant_type: client_credentials } }\n    expect: { status: 200 }\n    capture: { access_token: $.access_token }\ncases:\n  - name: uses it\n    request: { path: /api, auth: { bearer: \"{{ tok.access_token }}\" } }\n    expect: { status: 200 }\n";
    let out = run("fixture-fails", yaml, target(port, retrying(0))).await;
    assert_eq!(out[0].status, Status::Errored, "{:?}", out[0]);
    assert!(
        out[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .starts_with("fixture `tok` failed: status"),
        "{:?}",
        out[0].reason
    );
    assert_eq!(junit_error_type(out), "fixture");
}

#[tokio::test]
async fn a_proxy_from_the_environment_carries_real_target_traffic() {
    let (proxy, seen) = scripted(vec![Some(OK)]).await;
    // Only this test's client reads the variable: the others build theirs with use_env_proxy off.
    std::env::set_var("HTTP_PROXY", format!("http://127.0.0.1:{proxy}"));
    let mut t = target(1, HttpOptions::default());
    t.http.use_env_proxy = true;
    t.http.retry = RetryPolicy::none();
    // Never resolved: the request goes to the proxy, which answers for it.
    t.apis.get_mut("x").unwrap().base_url = "http://as.tokenconf.invalid".into();
    let out = run("proxy", ONE_CASE, t).await;
    std::env::remove_var("HTTP_PROXY");
    assert_eq!(out[0].status, Status::Passed, "{:?}", out[0]);
    let s = seen.lock().unwrap();
    assert!(
        s.requests[0]
            .1
            .starts_with("POST http://as.tokenconf.invalid/token HTTP/1.1"),
        "{}",
        s.requests[0].1
    );
}
