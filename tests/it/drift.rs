//! The drift self-test: the conformant mock passes every shipped case; every breaking drift mode
//! fails at least one case with a MUST finding naming a rule the mode declares (or, for a mode
//! whose declared rules are all below MUST, a failing status/json/schema/header check); every benign
//! mode passes everything. `cargo test --test drift -- --nocapture` prints the score.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokenconf::finding::Level;
use tokenconf::mock::drift::{self, DriftKind, DriftMode};
use tokenconf::mock::{self, MockConfig};
use tokenconf::outcome::{RunReport, Status};
use tokenconf::run::Runner;
use tokenconf::suite::Loaded;

/// Runs the suites that talk to `api` (every suite for `all`) against a fresh mock with `drifts`.
async fn run_async(loaded: &Arc<Loaded>, drifts: &[&'static str], api: &str) -> RunReport {
    let config = MockConfig {
        drifts: drifts.iter().copied().collect(),
        ..MockConfig::default()
    };
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let server = mock::start(config, addr).await.expect("the mock starts");
    let runner =
        Arc::new(Runner::new(loaded.clone(), server.target(), false).expect("the runner builds"));
    let ids: Vec<_> = runner
        .case_ids()
        .into_iter()
        .filter(|id| {
            let suite_api = runner.loaded().suites[id.suite].api.as_str();
            api == "all" || suite_api == api
        })
        .collect();
    let report = runner.run_all(&ids, 8, |_| {}).await;
    server.stop().await;
    report
}

/// Modes in flight at once. Most of a mode's run is the PAR expiry case waiting out a
/// request_uri's 2 s, so more runs than cores keep the cores busy.
const IN_FLIGHT: usize = 20;

/// Each mode's report, in the modes' order, `IN_FLIGHT` modes at once: a case that waits
/// overlaps with the other modes' work, and a finished mode's place is taken at once.
fn reports(
    rt: &tokio::runtime::Runtime,
    loaded: &Arc<Loaded>,
    modes: &'static [DriftMode],
) -> Vec<RunReport> {
    use futures::stream::StreamExt;
    rt.block_on(async {
        // Each mode its own task, so the runtime's two workers share the modes' work (building a
        // runner included) rather than one thread driving them all.
        let runs = modes.iter().enumerate().map(|(i, m)| {
            let loaded = loaded.clone();
            let run = tokio::spawn(async move { run_async(&loaded, &[m.name], m.api).await });
            let panicked = |e| panic!("the run of drift mode {} panicked: {e}", m.name);
            async move { (i, run.await.unwrap_or_else(panicked)) }
        });
        let mut out: Vec<(usize, RunReport)> = futures::stream::iter(runs)
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, report)| report).collect()
    })
}

/// Checks that are not rules: the fallback evidence for a mode no MUST rule can see.
fn is_plain_check(rule: &str) -> bool {
    rule == "status"
        || rule.starts_with("json")
        || rule.starts_with("schema")
        || rule.starts_with("header")
}

/// A mode may be caught by a plain check only when every rule it declares exists and is below MUST.
fn no_must_rule(mode: &DriftMode) -> bool {
    mode.rules
        .iter()
        .all(|id| tokenconf::rules::find_rule(id).is_some_and(|r| r.level != Level::Must))
}

/// The failing cases of a report, as `test` names. A skip depends on the target's vars, never
/// on a drift, and tests/conformance.rs already fails on a skip against the mock.
fn failing(report: &RunReport) -> Vec<&str> {
    report
        .outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Failed | Status::Errored))
        .map(|o| o.test.as_str())
        .collect()
}

#[test]
fn drift_modes_are_caught_and_harmless_ones_pass() {
    let started = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = Arc::new(
        tokenconf::session::load_suites(&[root.join("suites")], &root.join("specs"))
            .expect("suites load"),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut problems: Vec<String> = Vec::new();

    // The conformant run beside the modes' runs (its own task), not before them.
    let conformant = {
        let loaded = loaded.clone();
        rt.spawn(async move { run_async(&loaded, &[], "all").await })
    };
    let all_reports = reports(&rt, &loaded, drift::modes());
    let conformant = rt.block_on(conformant).expect("the conformant run");
    for test in failing(&conformant) {
        problems.push(format!("conformant mock: {test} does not pass"));
    }
    let skipped = conformant.counts().skipped;
    if skipped > 0 {
        println!(
            "note: {skipped} case(s) skipped against the mock (tests/conformance.rs flags them)"
        );
    }

    let modes = drift::modes();
    let breaking: Vec<&DriftMode> = modes
        .iter()
        .filter(|m| m.kind == DriftKind::Breaking)
        .collect();
    let benign_count = modes.len() - breaking.len();
    if breaking.len() < 20 || benign_count < 5 {
        problems.push(format!(
            "want at least 20 breaking and 5 benign modes, have {} and {benign_count}",
            breaking.len()
        ));
    }
    let known: BTreeSet<&str> = tokenconf::rules::all_rules().iter().map(|r| r.id).collect();
    let (mut caught, mut clean, mut by_plain_check) = (0, 0, Vec::new());
    println!("\n{:<40} {:<9} {:<11} result", "mode", "kind", "api");
    for (mode, report) in modes.iter().zip(all_reports) {
        for id in mode.rules {
            if !known.contains(id) {
                problems.push(format!(
                    "{}: declares {id}, which `tokenconf rules` does not list",
                    mode.name
                ));
            }
        }
        let failed = failing(&report);
        let kind = match mode.kind {
            DriftKind::Breaking => "breaking",
            DriftKind::Benign => "benign",
        };
        let verdict = match mode.kind {
            DriftKind::Benign if failed.is_empty() => {
                clean += 1;
                "clean".to_string()
            }
            DriftKind::Benign => {
                problems.push(format!("benign {} fails: {}", mode.name, failed.join(", ")));
                format!("FAILS {} case(s)", failed.len())
            }
            DriftKind::Breaking => {
                let must = report
                    .outcomes
                    .iter()
                    .filter(|o| matches!(o.status, Status::Failed | Status::Errored))
                    .flat_map(|o| o.findings.iter())
                    .filter(|f| f.level == Level::Must);
                let mut rules = BTreeSet::new();
                let mut plain = BTreeSet::new();
                for f in must {
                    if mode.rules.contains(&f.rule.as_str()) {
                        rules.insert(f.rule.clone());
                    } else if is_plain_check(&f.rule) {
                        plain.insert(f.rule.split(' ').next().unwrap_or("").to_string());
                    }
                }
                if !rules.is_empty() {
                    caught += 1;
                    format!(
                        "caught by {} ({} failing)",
                        rules.into_iter().collect::<Vec<_>>().join(", "),
                        failed.len()
                    )
                } else if !plain.is_empty() && no_must_rule(mode) {
                    caught += 1;
                    by_plain_check.push(mode.name);
                    format!(
                        "caught by {} checks, no MUST rule fits ({} failing)",
                        plain.into_iter().collect::<Vec<_>>().join("/"),
                        failed.len()
                    )
                } else if failed.is_empty() {
                    problems.push(format!("breaking {}: no case fails", mode.name));
                    "MISSED: every case passes".to_string()
                } else {
                    problems.push(format!(
                        "breaking {}: {} case(s) fail, but no MUST finding names {:?}",
                        mode.name,
                        failed.len(),
                        mode.rules
                    ));
                    format!("NOT BY A DECLARED RULE ({} failing)", failed.len())
                }
            }
        };
        println!("{:<40} {:<9} {:<11} {verdict}", mode.name, kind, mode.api);
    }
    println!(
        "\ndrift score: caught {caught}/{} breaking, clean {clean}/{benign_count} benign; \
         caught only by status/json/schema: {}; {:.1} s",
        breaking.len(),
        if by_plain_check.is_empty() {
            "none".to_string()
        } else {
            by_plain_check.join(", ")
        },
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}
