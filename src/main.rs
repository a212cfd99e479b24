//! The command line: parse, call the library, map every error to an exit code
//! (0 all passed, 1 a case failed, 2 a bad suite, spec, target or flag).

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use tokenconf::error::ConfigError;
use tokenconf::mock::{self, MockConfig, MockServer};
use tokenconf::report;
use tokenconf::run::Runner;
use tokenconf::{rules, suite, target};

/// `println!` that ignores a closed stdout (`tokenconf list | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that ignores a closed stderr.
macro_rules! tell {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

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
    Run(RunArgs),
    /// List every test name (<suite>::<case>), one per line.
    List(SuiteArgs),
    /// Load and check suites, specs and targets; send nothing.
    Validate(ValidateArgs),
    /// Serve the embedded mock until Ctrl-C.
    Mock(MockArgs),
    /// List every rule: id, level, source.
    Rules,
    /// Explain what a rule checks and why.
    Explain { id: String },
}

#[derive(Args)]
struct SuiteArgs {
    /// Suite files or folders (default: suites/).
    paths: Vec<PathBuf>,
    /// Folder of JSON Schemas that suites name in `schema:`.
    #[arg(long, default_value = "specs")]
    specs: PathBuf,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    suites: SuiteArgs,
    /// Target name from --targets (default: the embedded mock).
    #[arg(long)]
    target: Option<String>,
    /// Targets file (YAML) with base URLs, vars and ${ENV} secrets.
    #[arg(long)]
    targets: Option<PathBuf>,
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Run only tests whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Cases in flight at once.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// SHOULD-level findings fail the case too.
    #[arg(long)]
    strict: bool,
}

#[derive(Args)]
struct ValidateArgs {
    #[command(flatten)]
    suites: SuiteArgs,
    #[arg(long)]
    targets: Option<PathBuf>,
    #[arg(long)]
    target: Option<String>,
}

#[derive(Args)]
struct MockArgs {
    #[arg(long, default_value_t = 8080)]
    port: u16,
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tell!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::List(args) => list(args),
            Command::Validate(args) => validate(args),
            Command::Mock(args) => serve_mock(args).await,
            Command::Rules => {
                print_rules();
                Ok(ExitCode::SUCCESS)
            }
            Command::Explain { id } => explain(&id),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            tell!("{}", e.to_string().trim_end());
            ExitCode::from(2)
        }
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
        Err(ConfigError::Other(
            "error: no suites/ folder here; run from the project folder or name suite files or folders".into(),
        ))
    }
}

fn load(args: &SuiteArgs) -> Result<suite::Loaded, ConfigError> {
    suite::load(&suite_paths(args)?, &args.specs)
}

async fn run(args: RunArgs) -> Result<ExitCode, ConfigError> {
    let loaded = Arc::new(load(&args.suites)?);
    let mut mock_server: Option<MockServer> = None;
    let target = match (&args.targets, &args.target) {
        (Some(file), Some(name)) => target::load_target(file, name)?,
        (Some(_), None) => {
            return Err(ConfigError::Other(
                "error: --targets needs --target NAME".into(),
            ))
        }
        (None, Some(name)) if name != "mock" => {
            return Err(ConfigError::Other(format!(
                "error: target {name:?} needs --targets FILE"
            )))
        }
        (None, _) => {
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
            let server = mock::start(MockConfig::default(), addr)
                .await
                .map_err(|e| {
                    ConfigError::Other(format!("error: cannot start the embedded mock: {e}"))
                })?;
            let t = server.target();
            mock_server = Some(server);
            t
        }
    };
    let runner = Arc::new(Runner::new(loaded, target, args.strict)?);
    let ids: Vec<_> = runner
        .case_ids()
        .into_iter()
        .filter(|id| {
            args.filter
                .as_ref()
                .is_none_or(|f| runner.test_name(*id).contains(f.as_str()))
        })
        .collect();
    let base_redactor = runner.redactor();
    let colour = report::console::colour_wanted(std::io::stdout().is_terminal());
    let against_mock = mock_server.is_some();
    let bar = progress_bar(ids.len(), against_mock);
    let on_interrupt = (runner.clone(), bar.clone());
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.1.suspend(|| {
                tell!("\ninterrupted: finishing the cases in flight, then writing reports")
            });
            on_interrupt.0.cancel();
        }
    });
    say!(
        "\nrunning {} cases against {}",
        ids.len(),
        runner.target().name
    );
    let report = runner
        .run_all(&ids, args.jobs, |o| {
            let mut r = base_redactor.clone();
            r.extend(o.sensitive.iter().map(String::as_str));
            let line = r.scrub(&report::console::case_line(o)).into_owned();
            let line = if colour {
                report::console::paint(&line)
            } else {
                line
            };
            bar.suspend(|| {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            });
            bar.inc(1);
        })
        .await;
    bar.finish_and_clear();
    if let Some(server) = mock_server {
        server.stop().await;
    }
    let redactor = report::run_redactor(&base_redactor, &report);
    let closing = redactor
        .scrub(&report::console::summary(&report))
        .into_owned();
    let closing = if colour {
        report::console::paint(&closing)
    } else {
        closing
    };
    let _ = write!(std::io::stdout().lock(), "{closing}");
    match report::write_all(&args.report_dir, &report, &redactor) {
        Ok(paths) => {
            let names: Vec<String> = paths
                .iter()
                .map(|p| redactor.scrub(&p.display().to_string()).into_owned())
                .collect();
            say!("reports: {}", names.join(", "));
        }
        Err(e) => {
            tell!(
                "error: cannot write reports to {}: {e}",
                args.report_dir.display()
            );
            return Ok(ExitCode::from(2));
        }
    }
    if report.outcomes.len() < ids.len() {
        say!(
            "interrupted: {} of {} cases ran",
            report.outcomes.len(),
            ids.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A bar on stderr for long runs (many cases, or a real target's latency) when stderr is a
/// terminal; hidden otherwise, so logs and pipes get only the case lines.
fn progress_bar(cases: usize, against_mock: bool) -> indicatif::ProgressBar {
    let long = cases > 200 || !against_mock;
    if !(long && std::io::stderr().is_terminal()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(cases as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {pos}/{len} cases, {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn list(args: SuiteArgs) -> Result<ExitCode, ConfigError> {
    let loaded = load(&args)?;
    let mut out = std::io::stdout().lock();
    for s in &loaded.suites {
        for c in &s.cases {
            let _ = writeln!(out, "{}::{}", s.name, c.slug);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(args: ValidateArgs) -> Result<ExitCode, ConfigError> {
    let loaded = load(&args.suites)?;
    say!(
        "ok: {} suites, {} cases, {} schemas",
        loaded.suites.len(),
        loaded.case_count(),
        loaded.schemas.len()
    );
    if let Some(file) = &args.targets {
        let name = args
            .target
            .as_deref()
            .ok_or_else(|| ConfigError::Other("error: --targets needs --target NAME".into()))?;
        let t = target::load_target(file, name)?;
        for s in &loaded.suites {
            match t.api(&s.api) {
                Some(a) => say!(
                    "  {}: {} cases against {}",
                    s.name,
                    s.cases.len(),
                    a.base_url
                ),
                None => say!(
                    "  {}: skipped, target {} has no api `{}`",
                    s.name,
                    t.name,
                    s.api
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve_mock(args: MockArgs) -> Result<ExitCode, ConfigError> {
    let server = mock::start(MockConfig::default(), SocketAddr::new(args.host, args.port))
        .await
        .map_err(|e| {
            ConfigError::Other(format!(
                "error: cannot listen on {}:{}: {e}",
                args.host, args.port
            ))
        })?;
    say!("tokenconf mock listening on {}", server.base_url());
    for (what, url) in server.endpoints() {
        say!("  {what:<28} {url}");
    }
    say!("credentials: see README.md (\"The embedded mock\"); Ctrl-C stops");
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    server.stop().await;
    Ok(ExitCode::SUCCESS)
}

fn print_rules() {
    for set in rules::sets() {
        say!("{}: {}", set.name, set.summary);
        for r in set.rules {
            let level = if set.deviations.contains(&r.id) {
                "KNOWN-DEVIATION"
            } else {
                r.level.name()
            };
            say!("  {:<34} {:<8} {}  {}", r.id, level, r.title, r.source);
        }
    }
}

fn explain(id: &str) -> Result<ExitCode, ConfigError> {
    let Some(rule) = rules::find_rule(id) else {
        return Err(ConfigError::Other(format!(
            "error: no rule {id:?}; `tokenconf rules` lists them"
        )));
    };
    say!(
        "{} ({})\n{}\n\n{}\n\nsource: {}",
        rule.id,
        rule.level.name(),
        rule.title,
        rule.explain,
        rule.source
    );
    let sets: Vec<&str> = rules::sets()
        .iter()
        .filter(|s| s.rules.iter().any(|r| r.id == rule.id))
        .map(|s| s.name)
        .collect();
    say!("in rule sets: {}", sets.join(", "));
    Ok(ExitCode::SUCCESS)
}
