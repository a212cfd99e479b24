//! The command line: parse flags, call the library, print, and map the result to an exit code.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use tokenconf::error::ConfigError;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tokenconf",
    version,
    about = "Conformance tests for OAuth-style token endpoints"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run suites (default: the built-in suites, against the embedded mock) and write reports.
    Run(Box<cli::args::RunArgs>),
    /// List every test name (<suite>::<case>), one per line.
    List(cli::args::ListArgs),
    /// Load and check suites, specs and targets; send nothing.
    Validate(cli::args::ValidateArgs),
    /// The built-in suites: `suites export DIR` writes them out to edit.
    #[command(subcommand)]
    Suites(cli::args::SuitesCommand),
    /// Write a starting targets file for talkdesk, salesforce, miaw or oauth2 (stdout, or -o FILE).
    Init(cli::args::InitArgs),
    /// Serve the embedded mock until Ctrl-C.
    Mock(cli::args::MockArgs),
    /// List every rule: id, level, source.
    Rules,
    /// Explain what a rule checks and why, a rule set's rules, or a check (status, json, header, schema).
    Explain { id: String },
    /// Print the JSON Schema (2020-12) of a file format, for editors and CI.
    Schema { format: cli::commands::SchemaOf },
    /// Compare two recordings (`run --record`): what changed, breaking or still conformant.
    Diff(cli::drift::DiffArgs),
    /// Write a history page (inline SVG charts) from several runs' summary.json.
    Report(cli::drift::ReportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A run against a server outside this process: one worker. A case is one chain of work
    // (prepare, send, check); on two workers its wake-ups hop between threads, a futex wake and
    // a context switch each, and a server on this machine loses the second core (10,000 lean
    // cases: 317 -> 266 ms, CPU 391 -> 308 ms; docs/speed.md). Otherwise a worker per core, two
    // at least: the embedded mock serves from the same runtime.
    let workers = match &cli.command {
        Command::Run(args) if args.against_a_server() => 1,
        _ => std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return cli::fail(&ConfigError::Runtime(e)),
    };
    let result = runtime.block_on(async {
        match cli.command {
            // On a worker thread: each finished case then reaches it without waking a thread
            // outside the pool (10-15% of a run's CPU in context switches).
            Command::Run(args) => match tokio::spawn(cli::run::run(*args)).await {
                Ok(result) => result,
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(e) => Err(ConfigError::Runtime(std::io::Error::other(e))),
                },
            },
            Command::List(args) => cli::commands::list(
                &args.suites.paths,
                args.suites.specs.as_deref(),
                args.sources,
                args.origin,
            ),
            Command::Validate(args) => cli::commands::validate(
                &args.suites.paths,
                args.suites.specs.as_deref(),
                args.targets.as_deref(),
                args.target.as_deref(),
            ),
            Command::Suites(cli::args::SuitesCommand::Export { dir }) => {
                cli::commands::export_suites(&dir)
            }
            Command::Init(args) => {
                cli::init::init(
                    args.kind,
                    args.issuer.as_deref(),
                    args.name.as_deref(),
                    args.output.as_deref(),
                )
                .await
            }
            Command::Mock(args) if args.replay.replay.is_some() => {
                cli::drift::serve_replay(args.host, args.port, args.replay.replay).await
            }
            Command::Mock(args) => {
                let profile = args.profile.unwrap_or_default();
                cli::commands::serve_mock(
                    args.host,
                    args.port,
                    &args.drift,
                    args.list_drifts,
                    profile,
                )
                .await
            }
            Command::Rules => Ok(cli::commands::rules()),
            Command::Explain { id } => cli::commands::explain(&id),
            Command::Schema { format } => Ok(cli::commands::schema(format)),
            Command::Diff(args) => cli::drift::diff(&args),
            Command::Report(args) => cli::drift::history(&args),
        }
    });
    // Everything is written and the process ends next: shutting the runtime down would first
    // free what its idle tasks still hold (a run's suites and client), a few tens of ms.
    std::mem::forget(runtime);
    match result {
        Ok(exit) => exit.into(),
        Err(e) => cli::fail(&e),
    }
}
