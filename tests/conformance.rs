//! Every case of suites/ as one test, named `<suite>::<case slug>`, against the embedded mock
//! (started once per test process). `cargo test -- talkdesk` filters; cargo-nextest partitions.
//! With TOKENCONF_TARGETS and TOKENCONF_TARGET set, the same tests run against that real target.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use tokenconf::mock::{self, MockConfig};
use tokenconf::outcome::Status;
use tokenconf::report::console;
use tokenconf::run::Runner;
use tokenconf::{suite, target};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return setup_failure(&args, format!("cannot start the async runtime: {e}")),
    };
    let loaded = match suite::load(&[root.join("suites")], &root.join("specs")) {
        Ok(l) => Arc::new(l),
        Err(e) => return setup_failure(&args, e.to_string()),
    };
    let real_target = std::env::var("TOKENCONF_TARGETS")
        .ok()
        .zip(std::env::var("TOKENCONF_TARGET").ok());
    let (target, mock_server) = match real_target {
        Some((file, name)) => match target::load_target(Path::new(&file), &name) {
            Ok(t) => (t, None),
            Err(e) => return setup_failure(&args, e.to_string()),
        },
        None => {
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
            match runtime.block_on(mock::start(MockConfig::default(), addr)) {
                Ok(server) => (server.target(), Some(server)),
                Err(e) => {
                    return setup_failure(&args, format!("cannot start the embedded mock: {e}"))
                }
            }
        }
    };
    let against_mock = mock_server.is_some();
    let runner = match Runner::new(loaded, target, false) {
        Ok(r) => Arc::new(r),
        Err(e) => return setup_failure(&args, e.to_string()),
    };
    let redactor = runner.redactor();
    let trials = runner
        .case_ids()
        .into_iter()
        .map(|id| {
            // A real target may lack what a case requires; the mock supplies everything.
            let may_skip = !against_mock;
            let (runner, handle, redactor) =
                (runner.clone(), runtime.handle().clone(), redactor.clone());
            Trial::ignorable_test(runner.test_name(id), move || {
                let outcome = handle.block_on(runner.run_case(id));
                match outcome.status {
                    Status::Passed => Ok(Completion::Completed),
                    // Shown as `ignored, <reason>`; against the mock a skip is a bug instead,
                    // because it supplies everything a suite can ask for.
                    Status::Skipped if may_skip => Ok(Completion::ignored_with(
                        redactor.scrub(outcome.reason.as_deref().unwrap_or_default()),
                    )),
                    _ => {
                        let mut redactor = redactor;
                        redactor.extend(outcome.sensitive.iter().map(String::as_str));
                        let text = console::details(&outcome, runner.strict());
                        let reason = outcome.reason.as_deref().unwrap_or_default();
                        Err(Failed::from(
                            redactor.scrub(&format!("{reason}\n{text}")).into_owned(),
                        ))
                    }
                }
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(server) = mock_server {
        runtime.block_on(server.stop());
    }
    conclusion.exit_code()
}

/// A suite that does not load is one failing test, so `cargo test` shows why.
fn setup_failure(args: &Arguments, message: String) -> ExitCode {
    let trial = Trial::test("suites::load", move || Err(Failed::from(message)));
    libtest_mimic::run(args, vec![trial]).exit_code()
}
