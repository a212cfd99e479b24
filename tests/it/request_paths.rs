//! The lean request path (hyper's HTTP/1.1 connections) and the old one (reqwest,
//! `TOKENCONF_HTTP=reqwest`) come to the same outcome on every shipped case: every suite under
//! suites/ against one embedded mock, once per path. So do a run on one worker (what `tokenconf
//! run` uses against a server outside the process) and on two.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use tokenconf::http::RequestPath;
use tokenconf::mock::{self, MockConfig};
use tokenconf::outcome::{CaseOutcome, RunReport};
use tokenconf::run::Runner;
use tokenconf::suite::Loaded;

fn run(
    rt: &tokio::runtime::Runtime,
    loaded: &Arc<Loaded>,
    server: &mock::MockServer,
    path: RequestPath,
) -> RunReport {
    let mut target = server.target();
    target.http.request_path = path;
    let runner = Arc::new(Runner::new(loaded.clone(), target, false).expect("the runner builds"));
    let ids = runner.case_ids();
    // On the runtime's workers, outcomes collected too, as `tokenconf run` runs.
    rt.block_on(async move {
        tokio::spawn(async move { runner.run_all(&ids, 8, |_| {}).await })
            .await
            .expect("the run ends")
    })
}

/// What must not depend on the request path: status, reason, findings, the checks run, what
/// was sent, and the answer's status and header names (values hold dates and fresh tokens).
fn seen(o: &CaseOutcome) -> String {
    let findings: Vec<String> = o
        .findings
        .iter()
        .map(|f| format!("{} {:?} {}", f.rule, f.level, f.message))
        .collect();
    let requests: Vec<String> = o
        .requests
        .iter()
        .map(|r| {
            let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
            format!("{} {} {} {:?}", r.step, r.method, r.url, names)
        })
        .collect();
    let response = o.response.as_ref().map(|r| {
        let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
        format!("{} {:?}", r.status, names)
    });
    format!(
        "status {:?}\nreason {:?}\nerror {:?}\nfindings {findings:#?}\nrules {:?}\nrequests {requests:#?}\nresponse {response:?}",
        o.status, o.reason, o.error_kind, o.rules_checked
    )
}

fn by_test(report: &RunReport) -> BTreeMap<&str, String> {
    report
        .outcomes
        .iter()
        .map(|o| (o.test.as_str(), seen(o)))
        .collect()
}

#[test]
fn the_lean_and_the_reqwest_request_paths_agree_on_every_shipped_case() {
    let loaded = shipped();
    let rt = runtime(2);
    let server = start_mock(&rt);
    let lean = run(&rt, &loaded, &server, RequestPath::Lean);
    let old = run(&rt, &loaded, &server, RequestPath::Reqwest);
    rt.block_on(server.stop());

    assert_agree(("lean", &lean), ("reqwest", &old));
}

#[test]
fn one_worker_and_two_agree_on_every_shipped_case() {
    let loaded = shipped();
    // The server on a runtime of its own, as a server outside the process would be.
    let serving = runtime(2);
    let server = start_mock(&serving);
    let one = run(&runtime(1), &loaded, &server, RequestPath::Lean);
    let two = run(&runtime(2), &loaded, &server, RequestPath::Lean);
    serving.block_on(server.stop());
    assert_agree(("one worker", &one), ("two workers", &two));
}

/// Every suite under suites/, loaded.
fn shipped() -> Arc<Loaded> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Arc::new(
        tokenconf::session::load_suites(&[root.join("suites")], &root.join("specs"))
            .expect("suites load"),
    )
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The embedded mock on a free loopback port, served by `rt`.
fn start_mock(rt: &tokio::runtime::Runtime) -> mock::MockServer {
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    rt.block_on(mock::start(MockConfig::default(), addr))
        .expect("the mock starts")
}

fn assert_agree((a_name, a): (&str, &RunReport), (b_name, b): (&str, &RunReport)) {
    let (a, b) = (by_test(a), by_test(b));
    assert!(a.len() > 100, "only {} cases ran", a.len());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let differ: Vec<String> = a
        .iter()
        .filter(|(test, seen)| b[*test] != **seen)
        .map(|(test, seen)| format!("{test}\n--- {a_name}\n{seen}\n--- {b_name}\n{}", b[test]))
        .collect();
    assert!(
        differ.is_empty(),
        "{} case(s) differ:\n{}",
        differ.len(),
        differ.join("\n\n")
    );
}
