//! The command line: parse flags, call the library, print, and map the result to an exit code.

mod cli;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use tokenconf::error::{ConfigError, Exit};
use tokenconf::mock::drift;
use tokenconf::session::{Options, Session, TargetChoice};

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
    /// Run suites (default: every suite under suites/ against the embedded mock) and write reports.
    Run(Box<RunArgs>),
    /// List every test name (<suite>::<case>), one per line.
    List(ListArgs),
    /// Load and check suites, specs and targets; send nothing.
    Validate(ValidateArgs),
    /// Serve the embedded mock until Ctrl-C.
    Mock(MockArgs),
    /// List every rule: id, level, source.
    Rules,
    /// Explain what a rule checks and why.
    Explain { id: String },
    /// Print the JSON Schema (2020-12) of a file format, for editors and CI.
    Schema { format: cli::commands::SchemaOf },
    /// Compare two recordings (`run --record`): what changed, breaking or still conformant.
    Diff(cli::drift::DiffArgs),
    /// Write a history page (inline SVG charts) from several runs' summary.json.
    Report(cli::drift::ReportArgs),
}

#[derive(Args)]
struct SuiteArgs {
    /// Suite files or folders (default: suites/).
    paths: Vec<PathBuf>,
    /// Folder of JSON Schemas that suites name in `schema:`.
    #[arg(long, default_value = "specs")]
    specs: PathBuf,
}

/// How `run` prints its progress.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A line per case like `cargo test`, then failures and a summary.
    Human,
    /// One JSON object per finished case on stdout, as it finishes.
    Json,
    /// Human, plus a GitHub Actions `::error` annotation per failing case (the default under
    /// GITHUB_ACTIONS=true).
    Github,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    suites: SuiteArgs,
    /// Target name from --targets (default: the embedded mock).
    #[arg(long, requires = "targets")]
    target: Option<String>,
    /// Targets file (YAML) with base URLs, vars and ${ENV} secrets.
    #[arg(long, requires = "target", conflicts_with = "mock_drift")]
    targets: Option<PathBuf>,
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Run only tests whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Cases in flight at once (at least 1).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// SHOULD-level findings fail the case too.
    #[arg(long)]
    strict: bool,
    /// Run only shard K of N (a stable hash of the test name: each case once over N runs).
    #[arg(long, value_name = "K/N", value_parser = tokenconf::run::parse_shard)]
    shard: Option<(u64, u64)>,
    /// At most N requests per second to any one host, e.g. 5/s or 100/m (overrides the target's).
    #[arg(long, value_name = "N/s", value_parser = tokenconf::target::parse_rate)]
    rate: Option<f64>,
    /// Extra trusted root certificates (PEM), merged with the system's.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Do not verify TLS certificates (a warning is printed on every run).
    #[arg(long)]
    insecure: bool,
    /// Run against an embedded mock that drifts on purpose (repeatable; see `tokenconf mock --list-drifts`).
    #[arg(long, value_name = "NAME", value_parser = parse_drift)]
    mock_drift: Vec<&'static str>,
    /// How the embedded mock behaves: full (default; every capability) or sandbox (as a freshly
    /// configured real org: login before authorize, no rotation, two MIAW deployments).
    #[arg(long, value_name = "PROFILE", value_parser = parse_profile, conflicts_with = "targets")]
    mock_profile: Option<tokenconf::mock::Profile>,
    /// A selection of no case (a filter or shard that matches nothing) exits 0 instead of 2.
    #[arg(long)]
    allow_empty: bool,
    /// Findings you expect (YAML: test glob, rule id, reason): reported as expected, never failing.
    #[arg(long, value_name = "FILE")]
    expected: Option<PathBuf>,
    /// Write this run's failing findings to FILE as a starting expected-findings file.
    #[arg(long, value_name = "FILE")]
    write_expected: Option<PathBuf>,
    /// Vendors' documented deviations (YAML: rule set, rule id, reason) in place of the built-in
    /// specs/salesforce/known-deviations.yaml (repeatable).
    #[arg(long, value_name = "FILE")]
    known_deviations: Vec<PathBuf>,
    /// Output: human (default), json (a line per case), github (human + annotations).
    #[arg(long, value_enum)]
    format: Option<Format>,
    #[command(flatten)]
    drift: cli::drift::RunDriftArgs,
}

fn parse_profile(name: &str) -> Result<tokenconf::mock::Profile, String> {
    tokenconf::mock::Profile::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = tokenconf::mock::Profile::ALL
            .iter()
            .map(|p| p.name())
            .collect();
        format!("no mock profile {name:?}; profiles: {}", names.join(", "))
    })
}

fn parse_drift(name: &str) -> Result<&'static str, String> {
    drift::find(name).map(|m| m.name).ok_or_else(|| {
        let names: Vec<&str> = drift::modes().iter().map(|m| m.name).collect();
        format!("no drift mode {name:?}; modes: {}", names.join(", "))
    })
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    suites: SuiteArgs,
    /// After each name, what its expectations rest on (its source, or its suite's source or doc)
    /// and how many of them are assumed.
    #[arg(long)]
    sources: bool,
}

#[derive(Args)]
struct ValidateArgs {
    #[command(flatten)]
    suites: SuiteArgs,
    #[arg(long)]
    targets: Option<PathBuf>,
    #[arg(long, requires = "targets")]
    target: Option<String>,
}

#[derive(Args)]
struct MockArgs {
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind; anything but loopback exposes test credentials to the network.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Serve with a drift mode (repeatable).
    #[arg(long, value_name = "NAME", value_parser = parse_drift)]
    drift: Vec<&'static str>,
    /// List the drift modes and exit.
    #[arg(long)]
    list_drifts: bool,
    #[command(flatten)]
    replay: cli::drift::MockReplayArgs,
    /// full (default) or sandbox: behave as a freshly configured real org.
    #[arg(long, value_name = "PROFILE", value_parser = parse_profile)]
    profile: Option<tokenconf::mock::Profile>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return cli::fail(&ConfigError::Runtime(e)),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(*args).await,
            Command::List(args) => cli::commands::list(
                &suite_paths(&args.suites)?,
                &args.suites.specs,
                args.sources,
            ),
            Command::Validate(args) => cli::commands::validate(
                &suite_paths(&args.suites)?,
                &args.suites.specs,
                args.targets.as_deref(),
                args.target.as_deref(),
            ),
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
    match result {
        Ok(exit) => exit.into(),
        Err(e) => cli::fail(&e),
    }
}

fn suite_paths(args: &SuiteArgs) -> Result<Vec<PathBuf>, ConfigError> {
    if !args.paths.is_empty() {
        return Ok(args.paths.clone());
    }
    let default = PathBuf::from("suites");
    if default.is_dir() {
        Ok(vec![default])
    } else {
        Err(ConfigError::Usage(
            "no suites/ folder here; run from the project folder or name suite files or folders"
                .into(),
        ))
    }
}

async fn run(args: RunArgs) -> Result<Exit, ConfigError> {
    let target = match (args.targets, args.target, args.drift.mock_replay) {
        (Some(file), Some(name), _) => TargetChoice::File { file, name },
        (_, _, Some(dir)) => TargetChoice::Replay { dir },
        _ => TargetChoice::Mock {
            drifts: args.mock_drift.clone(),
        },
    };
    let options = Options {
        paths: suite_paths(&args.suites)?,
        specs: args.suites.specs,
        target,
        report_dir: Some(args.report_dir),
        filter: args.filter,
        shard: args.shard,
        jobs: usize::from(args.jobs),
        strict: args.strict,
        rate: args.rate,
        ca_cert: args.ca_cert,
        insecure: args.insecure,
        allow_empty: args.allow_empty,
        expected: args.expected,
        write_expected: args.write_expected,
        known_deviations: args.known_deviations,
        record: args.drift.record,
        mock_profile: args.mock_profile.unwrap_or_default(),
    };
    let session = Session::open(options).await?;
    let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let format = match args.format {
        Some(Format::Json) => cli::output::Format::Json,
        Some(Format::Github) => cli::output::Format::Github,
        Some(Format::Human) => cli::output::Format::Human,
        None if github => cli::output::Format::Github,
        None => cli::output::Format::Human,
    };
    if let Some(profile) = args
        .mock_profile
        .filter(|p| *p != tokenconf::mock::Profile::Full)
    {
        cli::output::info(format, &format!("mock profile: {}", profile.name()));
    }
    if !args.mock_drift.is_empty() {
        cli::output::info(
            format,
            &format!("mock drifts on purpose: {}", args.mock_drift.join(", ")),
        );
    }
    Ok(cli::output::run(session, format).await)
}
