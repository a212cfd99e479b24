//! The flags of each command (clap), and the checks on them that need no suite.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use tokenconf::mock::drift;

#[derive(Args)]
pub struct SuiteArgs {
    /// Suite files or folders (default: the built-in suites; a folder holding suites/ stands
    /// for its suites/ and specs/).
    pub paths: Vec<PathBuf>,
    /// Folder of JSON Schemas that suites name in `schema:` (default: the specs/ beside the
    /// suites folder, else ./specs, else the built-in specs).
    #[arg(long, value_name = "DIR")]
    pub specs: Option<PathBuf>,
}

/// How `run` prints its progress.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A line per case like `cargo test`, then failures and a summary.
    Human,
    /// One JSON object per finished case on stdout, as it finishes.
    Json,
    /// Human, plus a GitHub Actions `::error` annotation per failing case (the default under
    /// GITHUB_ACTIONS=true).
    Github,
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub suites: SuiteArgs,
    /// Target name from --targets (default: the embedded mock).
    #[arg(long, requires = "targets")]
    pub target: Option<String>,
    /// Targets file (YAML) with base URLs, vars and ${ENV} secrets.
    #[arg(long, requires = "target", conflicts_with = "mock_drift")]
    pub targets: Option<PathBuf>,
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Run only tests whose name (`suite::slug`) or case name (as reports show it) contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Cases in flight at once (at least 1); default: 16 when every origin of the target is
    /// loopback (the embedded mock, localhost, 127.0.0.1; a tunnel too), else 8.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// SHOULD-level findings fail the case too.
    #[arg(long)]
    pub strict: bool,
    /// Run only shard K of N (a stable hash of the test name: each case once over N runs); the
    /// per-host rate is divided by N, so N shards at once stay within it.
    #[arg(long, value_name = "K/N", value_parser = tokenconf::run::parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// At most N requests per second to any one host, e.g. 5/s or 100/m (overrides the target's).
    #[arg(long, value_name = "N/s", value_parser = tokenconf::target::parse_rate)]
    pub rate: Option<f64>,
    /// Extra trusted root certificates (PEM), merged with the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify TLS certificates (a warning is printed on every run).
    #[arg(long)]
    pub insecure: bool,
    /// Run against an embedded mock that drifts on purpose (repeatable; see `tokenconf mock --list-drifts`).
    #[arg(long, value_name = "NAME", value_parser = parse_drift)]
    pub mock_drift: Vec<&'static str>,
    /// How the embedded mock behaves: full (default; every capability), sandbox (as a freshly
    /// configured real org: login before authorize, no rotation, two MIAW deployments; assumed
    /// expectations only warn) or other-reading (the sandbox, answering every undocumented choice
    /// the other plausible way).
    #[arg(long, value_name = "PROFILE", value_parser = parse_profile, conflicts_with = "targets")]
    pub mock_profile: Option<tokenconf::mock::Profile>,
    /// A selection of no case (a filter or shard that matches nothing), or a run whose every case
    /// was skipped, exits 0 instead of 2.
    #[arg(long)]
    pub allow_empty: bool,
    /// Findings you expect (YAML: test, rule id, step, actual value, reason): reported as expected, never failing.
    #[arg(long, value_name = "FILE")]
    pub expected: Option<PathBuf>,
    /// Write this run's failing findings to FILE as a starting expected-findings file.
    #[arg(long, value_name = "FILE")]
    pub write_expected: Option<PathBuf>,
    /// Vendors' documented deviations (YAML: rule set, rule id, reason, apis) in place of the
    /// built-in specs/*/known-deviations.yaml (repeatable).
    #[arg(long, value_name = "FILE")]
    pub known_deviations: Vec<PathBuf>,
    /// Output: human (default), json (a line per case), github (human + annotations).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Show every case's requests (method, URL, headers, body; credentials masked), not only
    /// a failing case's.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Put `file` and `line` on each JUnit `<testcase>`, as GitLab and JUnit report actions read
    /// them (Jenkins' junit-10.xsd does not allow them there; without it junit.xml validates).
    #[arg(long)]
    pub junit_file_attributes: bool,
    #[command(flatten)]
    pub drift: super::drift::RunDriftArgs,
}

impl RunArgs {
    /// Whether the run's target is a server outside this process (`--targets` and `--target`,
    /// which `cli::run` takes as `TargetChoice::File`), not the embedded mock (drifting or
    /// replaying: clap refuses those flags beside `--targets`).
    pub fn against_a_server(&self) -> bool {
        self.targets.is_some() && self.target.is_some()
    }
}

pub fn parse_profile(name: &str) -> Result<tokenconf::mock::Profile, String> {
    tokenconf::mock::Profile::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = tokenconf::mock::Profile::ALL
            .iter()
            .map(|p| p.name())
            .collect();
        format!("no mock profile {name:?}; profiles: {}", names.join(", "))
    })
}

pub fn parse_drift(name: &str) -> Result<&'static str, String> {
    drift::find(name).map(|m| m.name).ok_or_else(|| {
        let names: Vec<&str> = drift::modes().iter().map(|m| m.name).collect();
        format!("no drift mode {name:?}; modes: {}", names.join(", "))
    })
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub suites: SuiteArgs,
    /// After each name, what its expectations rest on (its source, or its suite's source or doc)
    /// and how many of them are assumed.
    #[arg(long)]
    pub sources: bool,
    /// After each name, where its suite came from: `built in` or its file.
    #[arg(long)]
    pub origin: bool,
}

/// `tokenconf suites …`: the built-in suites.
#[derive(clap::Subcommand)]
pub enum SuitesCommand {
    /// Write the built-in suites and specs under DIR (DIR/suites, DIR/specs) to edit and run as
    /// a folder (`tokenconf run DIR`); never overwrites a file.
    Export { dir: PathBuf },
}

#[derive(Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub suites: SuiteArgs,
    #[arg(long)]
    pub targets: Option<PathBuf>,
    #[arg(long, requires = "targets")]
    pub target: Option<String>,
}

#[derive(Args)]
pub struct MockArgs {
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to bind; anything but loopback exposes test credentials to the network.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Serve with a drift mode (repeatable).
    #[arg(long, value_name = "NAME", value_parser = parse_drift)]
    pub drift: Vec<&'static str>,
    /// List the drift modes and exit.
    #[arg(long)]
    pub list_drifts: bool,
    #[command(flatten)]
    pub replay: super::drift::MockReplayArgs,
    /// full (default), sandbox (behave as a freshly configured real org) or other-reading (the
    /// sandbox, answering every undocumented choice the other plausible way).
    #[arg(long, value_name = "PROFILE", value_parser = parse_profile)]
    pub profile: Option<tokenconf::mock::Profile>,
}

#[derive(Args)]
pub struct InitArgs {
    /// Which API: talkdesk, salesforce, miaw or oauth2 (any RFC 6749 server).
    #[arg(value_enum)]
    pub kind: super::init::Kind,
    /// oauth2: the server's issuer (https://…); its RFC 8414 metadata fills what it can (one
    /// unauthenticated GET).
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// The target's name (default: KIND-sandbox, oauth2-server).
    #[arg(long)]
    pub name: Option<String>,
    /// Write to FILE instead of stdout; an existing file is never overwritten.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}
