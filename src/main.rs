//! The command line: parse, call the library, map every error to an exit code
//! (0 all passed, 1 a case failed, 2 a bad suite, spec, target or flag).

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use tokenconf::error::ConfigError;
use tokenconf::mock::drift::{self, DriftKind};
use tokenconf::mock::{self, MockConfig, MockServer};
use tokenconf::redact::Redactor;
use tokenconf::report;
use tokenconf::run::{in_shard, Runner};
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
    /// Run only shard K of N (a stable hash of the test name: each case once over N runs).
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// At most N requests per second to any one host, e.g. 5/s or 100/m (overrides the target's).
    #[arg(long, value_name = "N/s", value_parser = target::parse_rate)]
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
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    tokenconf::run::parse_shard(text)
}

fn parse_drift(name: &str) -> Result<&'static str, String> {
    drift::find(name).map(|m| m.name).ok_or_else(|| {
        let names: Vec<&str> = drift::modes().iter().map(|m| m.name).collect();
        format!("no drift mode {name:?}; modes: {}", names.join(", "))
    })
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
    /// Serve with a drift mode (repeatable).
    #[arg(long, value_name = "NAME", value_parser = parse_drift)]
    drift: Vec<&'static str>,
    /// List the drift modes and exit.
    #[arg(long)]
    list_drifts: bool,
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
    if !args.mock_drift.is_empty() && args.targets.is_some() {
        return Err(ConfigError::Other(
            "error: --mock-drift runs against the embedded mock; drop --targets".into(),
        ));
    }
    let mut target = match (&args.targets, &args.target) {
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
            let config = MockConfig {
                drifts: args.mock_drift.iter().copied().collect(),
                ..MockConfig::default()
            };
            let server = mock::start(config, addr).await.map_err(|e| {
                ConfigError::Other(format!("error: cannot start the embedded mock: {e}"))
            })?;
            let t = server.target();
            mock_server = Some(server);
            t
        }
    };
    if let Some(rate) = args.rate {
        target.http.rate_per_second = Some(rate);
    }
    if let Some(file) = &args.ca_cert {
        let pem = std::fs::read(file).map_err(|e| ConfigError::File {
            path: file.clone(),
            message: format!("cannot read: {e}"),
        })?;
        target.http.ca_cert_pem = Some(pem);
    }
    if args.insecure {
        target.http.insecure = true;
        tell!("warning: --insecure: TLS certificates are NOT verified; anyone on the path can read every secret sent");
    }
    if !args.mock_drift.is_empty() {
        say!("mock drifts on purpose: {}", args.mock_drift.join(", "));
    }
    let runner = Arc::new(Runner::new(loaded, target, args.strict)?);
    let ids: Vec<_> = runner
        .case_ids()
        .into_iter()
        .filter(|id| {
            let name = runner.test_name(*id);
            let filtered = args
                .filter
                .as_ref()
                .is_none_or(|f| name.contains(f.as_str()));
            let sharded = args.shard.is_none_or(|(k, n)| in_shard(&name, k, n));
            filtered && sharded
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
            // A second Ctrl-C does not wait for cases stuck in timeouts or retries.
            if tokio::signal::ctrl_c().await.is_ok() {
                tell!("interrupted twice: stopping now, without reports");
                std::process::exit(1);
            }
        }
    });
    say!(
        "\nrunning {} cases against {}",
        ids.len(),
        runner.target().name
    );
    let report = runner
        .run_all(&ids, args.jobs, |o| {
            let mut line = base_redactor
                .scrub(&report::console::case_line(o))
                .into_owned();
            // Only a reason (a skip or an error) can carry what a server sent; the rest of the
            // line is the test name. Building a redactor per case would cost more than the case.
            if o.reason.is_some() && !o.sensitive.is_empty() {
                let tokens = Redactor::new(o.sensitive.iter().map(String::as_str));
                line = tokens.scrub(&line).into_owned();
            }
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
    let report = report::redacted(&report, &redactor);
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
    let loaded = Arc::new(load(&args.suites)?);
    say!(
        "ok: {} suites, {} cases, {} schemas",
        loaded.suites.len(),
        loaded.case_count(),
        loaded.schemas.len()
    );
    let Some(file) = &args.targets else {
        return Ok(ExitCode::SUCCESS);
    };
    let names = match &args.target {
        Some(name) => vec![name.clone()],
        None => target::target_names(file)?,
    };
    for name in names {
        let t = target::load_target(file, &name)?;
        let runner = Runner::new(loaded.clone(), t, false)?;
        let ids = runner.case_ids();
        let skipped: Vec<(tokenconf::run::CaseId, String)> = ids
            .iter()
            .filter_map(|id| runner.skip_reason(*id).map(|why| (*id, why)))
            .collect();
        say!(
            "target {name}: can run {} of {} cases",
            ids.len() - skipped.len(),
            ids.len()
        );
        for (api, a) in &runner.target().apis {
            say!("  {api}: {}", a.base_url);
            // A var or secret no suite of this api declares is most likely a typo.
            let declared = |k: &String| {
                loaded
                    .suites
                    .iter()
                    .filter(|s| &s.api == api)
                    .any(|s| s.vars.contains_key(k) || s.secrets.contains(k))
            };
            for k in a.vars.keys().chain(a.secrets.keys()) {
                if !declared(k) {
                    say!("  note: `{k}` under {api} is not a var or secret of any {api} suite (a typo?)");
                }
            }
        }
        for (i, suite) in loaded.suites.iter().enumerate() {
            let mine: Vec<&(tokenconf::run::CaseId, String)> =
                skipped.iter().filter(|(id, _)| id.suite == i).collect();
            if mine.is_empty() {
                continue;
            }
            if runner.target().api(&suite.api).is_none() {
                say!(
                    "  skip {} ({} cases): no `{}` api",
                    suite.name,
                    mine.len(),
                    suite.api
                );
                continue;
            }
            for (id, why) in mine {
                say!("  skip {}: {why}", runner.test_name(*id));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve_mock(args: MockArgs) -> Result<ExitCode, ConfigError> {
    if args.list_drifts {
        for m in drift::modes() {
            let kind = match m.kind {
                DriftKind::Breaking => "breaking",
                DriftKind::Benign => "benign",
            };
            let rules = if m.rules.is_empty() {
                "-".to_string()
            } else {
                m.rules.join(", ")
            };
            say!(
                "{:<40} {kind:<9} {:<11} {}  [{rules}]",
                m.name,
                m.api,
                m.description
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let config = MockConfig {
        drifts: args.drift.iter().copied().collect(),
        ..MockConfig::default()
    };
    let server = mock::start(config, SocketAddr::new(args.host, args.port))
        .await
        .map_err(|e| {
            ConfigError::Other(format!(
                "error: cannot listen on {}:{}: {e}",
                args.host, args.port
            ))
        })?;
    say!("tokenconf mock listening on {}", server.base_url());
    if !args.drift.is_empty() {
        say!("drifting on purpose: {}", args.drift.join(", "));
    }
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
        for r in set.members() {
            let level = if set.deviates(r.id) {
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
        .filter(|s| s.members().iter().any(|r| r.id == rule.id))
        .map(|s| s.name)
        .collect();
    say!("in rule sets: {}", sets.join(", "));
    Ok(ExitCode::SUCCESS)
}
