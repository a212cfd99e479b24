//! Drift watch: `run --record`, `run --mock-replay`, `mock --replay`, `diff`, `report --history`.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use tokenconf::error::{ConfigError, Exit};
use tokenconf::record::compare;

/// `run`'s recording and replay flags.
#[derive(Args)]
pub struct RunDriftArgs {
    /// Record every exchange and response shape to DIR (secrets and tokens replaced; see
    /// docs/recording.md).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Run against a replay of the recording in DIR (with the embedded mock's credentials).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["targets", "mock_drift"])]
    pub mock_replay: Option<PathBuf>,
}

/// `mock`'s replay flag.
#[derive(Args)]
pub struct MockReplayArgs {
    /// Serve the recording in DIR instead of the embedded mock.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["drift", "list_drifts"])]
    pub replay: Option<PathBuf>,
}

/// Which changes make `diff` exit 1.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Only breaking changes (the default).
    Breaking,
    /// Any change, conformant ones too.
    Any,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The earlier recording (a `run --record` folder); several, comma-separated (A,B), are the
    /// shards of one run, combined.
    #[arg(value_name = "OLD[,OLD]", value_parser = folders)]
    pub old: Folders,
    /// The later recording; several, comma-separated (C,D), are combined as OLD's are.
    #[arg(value_name = "NEW[,NEW]", value_parser = folders)]
    pub new: Folders,
    /// The diff as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write the diff as an HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Exit 1 on breaking changes (default) or on any change.
    #[arg(long, value_enum, default_value_t = FailOn::Breaking)]
    pub fail_on: FailOn,
}

/// One side of `diff`: one recording, or several (comma-separated) combined.
#[derive(Clone, Debug)]
pub struct Folders(pub Vec<PathBuf>);

fn folders(arg: &str) -> Result<Folders, String> {
    let dirs: Vec<PathBuf> = arg
        .split(',')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect();
    if dirs.is_empty() {
        return Err("no recording folder given".into());
    }
    Ok(Folders(dirs))
}

#[derive(Args)]
pub struct ReportArgs {
    /// Report folders (or summary.json files) of several runs, oldest first.
    #[arg(long, value_name = "DIR", num_args = 1.., required = true)]
    pub history: Vec<PathBuf>,
    /// Where to write the page.
    #[arg(long, value_name = "FILE", default_value = "history.html")]
    pub output: PathBuf,
}

pub fn diff(args: &DiffArgs) -> Result<Exit, ConfigError> {
    let old: Vec<&Path> = args.old.0.iter().map(PathBuf::as_path).collect();
    let new: Vec<&Path> = args.new.0.iter().map(PathBuf::as_path).collect();
    let d = compare::compare(&old, &new)?;
    if d.compared == 0 {
        return Err(ConfigError::Usage(format!(
            "nothing compared: no case is recorded on both sides ({} only in the old run, {} only in the new); are these recordings of the same suites?",
            d.only_old.len(),
            d.only_new.len()
        )));
    }
    let text = if args.json { d.json() } else { d.text() };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if let Some(file) = &args.html {
        tokenconf::report::write_atomic(file, &d.html()).map_err(|source| ConfigError::Write {
            file: file.clone(),
            source,
        })?;
    }
    let fails = d.breaking > 0 || (args.fail_on == FailOn::Any && d.changes() > 0);
    Ok(if fails { Exit::Failed } else { Exit::Passed })
}

pub fn history(args: &ReportArgs) -> Result<Exit, ConfigError> {
    let page = tokenconf::report::history::render_files(&args.history)?;
    tokenconf::report::write_atomic(&args.output, &page).map_err(|source| ConfigError::Write {
        file: args.output.clone(),
        source,
    })?;
    let _ = writeln!(
        std::io::stdout().lock(),
        "history of {} runs: {}",
        args.history.len(),
        args.output.display()
    );
    Ok(Exit::Passed)
}

/// `mock --replay DIR`: serves the recording until Ctrl-C.
pub async fn serve_replay(
    host: IpAddr,
    port: u16,
    dir: Option<PathBuf>,
) -> Result<Exit, ConfigError> {
    let dir = dir.unwrap_or_default();
    let addr = SocketAddr::new(host, port);
    let server = tokenconf::mock::replay::start(&dir, addr).await?;
    let _ = writeln!(
        std::io::stdout().lock(),
        "tokenconf mock replaying {} on {}\n  a request may name its case in the {} header; without it, the recorded answer that fits it is served where there is one kind; otherwise {}\nCtrl-C stops",
        dir.display(),
        server.base_url(),
        tokenconf::http::CASE_HEADER,
        tokenconf::mock::replay::NOT_RECORDED
    );
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    server.stop().await;
    Ok(Exit::Passed)
}
