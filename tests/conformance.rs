//! Every case of suites/ as one test, named `<suite>::<case slug>`, against the embedded mock
//! (started once per test process). `cargo test -- talkdesk` filters; cargo-nextest partitions.
//! With TOKENCONF_TARGETS and TOKENCONF_TARGET set, the same tests run against that real target.

use std::path::Path;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use tokenconf::outcome::Status;
use tokenconf::report::console;
use tokenconf::session::{Options, Session, TargetChoice};

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
    let real_target = std::env::var("TOKENCONF_TARGETS")
        .ok()
        .zip(std::env::var("TOKENCONF_TARGET").ok());
    let mut options = Options::new(vec![root.join("suites")]);
    options.specs = Some(root.join("specs"));
    options.report_dir = None;
    options.allow_empty = true;
    if let Some((file, name)) = real_target {
        options.target = TargetChoice::File {
            file: file.into(),
            name,
        };
    }
    let mut session = match runtime.block_on(Session::open(options)) {
        Ok(s) => s,
        Err(e) => return setup_failure(&args, e.chain()),
    };
    let mock_server = session.take_mock();
    let against_mock = mock_server.is_some();
    let cases = session.one_by_one();
    let trials = session
        .selected()
        .iter()
        .map(|&id| {
            // A real target may lack what a case requires; the mock supplies everything.
            let may_skip = !against_mock;
            let (cases, handle) = (cases.clone(), runtime.handle().clone());
            Trial::ignorable_test(cases.test_name(id), move || {
                let outcome = handle.block_on(cases.run(id));
                match outcome.status {
                    Status::Passed => Ok(Completion::Completed),
                    // Shown as `ignored, <reason>`; against the mock a skip is a bug instead,
                    // because it supplies everything a suite can ask for.
                    Status::Skipped if may_skip => {
                        Ok(Completion::ignored_with(outcome.reason.unwrap_or_default()))
                    }
                    _ => {
                        let text = console::details(&outcome, cases.strict());
                        let reason = outcome.reason.as_deref().unwrap_or_default();
                        Err(Failed::from(format!("{reason}\n{text}")))
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
