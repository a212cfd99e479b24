//! The library entry point: load suites, choose a target, select cases, run them, write reports.
//! It never prints: progress reaches the caller as [`Event`]s, already masked.
//!
//! ```
//! use tokenconf::error::Exit;
//! use tokenconf::outcome::Status;
//! use tokenconf::session::{Event, Options, Session};
//!
//! let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
//! let mut options = Options::new(vec![root.join("suites/talkdesk/token.yaml")]);
//! options.specs = Some(root.join("specs")); // None: found beside the suites, else built in
//! options.report_dir = None; // or Some(folder) for junit.xml, summary.json, index.html
//! let runtime = tokio::runtime::Runtime::new()?;
//! let finished = runtime.block_on(async {
//!     let session = Session::open(options).await?; // against the embedded mock by default
//!     let finished = session
//!         .run(|event| {
//!             if let Event::CaseFinished(case) = event {
//!                 println!("{} {:?}", case.test, case.status);
//!             }
//!         })
//!         .await;
//!     Ok::<_, tokenconf::error::ConfigError>(finished)
//! })?;
//! assert!(finished.report.outcomes.iter().all(|o| o.status == Status::Passed));
//! assert_eq!(finished.exit(), Exit::Passed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ConfigError, Exit};
use crate::expected::ExpectedFindings;
use crate::mock::{self, MockConfig, MockServer};
use crate::outcome::{CaseOutcome, RunReport, Status};
use crate::redact::Redactor;
use crate::report::{self, ReportPlan};
use crate::run::{in_shard, CaseId, Runner};
use crate::suite::{self, Loaded};
use crate::target::{self, Target};

/// Loads every suite under `paths`, compiling the schemas they name from `specs_dir` and
/// resolving their rule sets against the rule library.
pub fn load_suites(paths: &[PathBuf], specs_dir: &Path) -> Result<Loaded, ConfigError> {
    let names: Vec<&str> = crate::rules::sets().iter().map(|s| s.name).collect();
    suite::load(paths, specs_dir, &names)
}

/// Loads what `tokenconf run [PATH...] [--specs DIR]` runs (see [`sources`]).
pub fn load(paths: &[PathBuf], specs: Option<&Path>) -> Result<Loaded, ConfigError> {
    let names: Vec<&str> = crate::rules::sets().iter().map(|s| s.name).collect();
    let (source, specs) = sources(paths, specs);
    suite::load_from(&source, &specs, &names)
}

/// Where the suites and specs of `tokenconf run [PATH...] [--specs DIR]` come from:
/// - no PATH: the built-in suites;
/// - a PATH that is a folder holding `suites/` (an export, a checkout) stands for its `suites/`;
/// - the specs: `--specs DIR`; else the `specs/` beside the nearest folder named `suites` (or
///   beside the `suites/` of such a folder) above the first PATH; else `./specs`; else the
///   built-in specs.
pub fn sources(paths: &[PathBuf], specs: Option<&Path>) -> (suite::SuiteSource, suite::Specs) {
    if paths.is_empty() {
        let specs = specs.map_or(suite::Specs::BuiltIn, |d| {
            suite::Specs::Dir(d.to_path_buf())
        });
        return (suite::SuiteSource::BuiltIn, specs);
    }
    let paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| {
            let inner = p.join(suite::builtin::SUITES_DIR);
            if p.is_dir() && inner.is_dir() {
                inner
            } else {
                p.clone()
            }
        })
        .collect();
    let specs = match specs {
        Some(dir) => suite::Specs::Dir(dir.to_path_buf()),
        None => paths
            .iter()
            .find_map(|p| specs_beside(p))
            .or_else(|| Some(PathBuf::from(suite::builtin::SPECS_DIR)).filter(|d| d.is_dir()))
            .map_or(suite::Specs::BuiltIn, suite::Specs::Dir),
    };
    (suite::SuiteSource::Paths(paths), specs)
}

/// `X/specs` for a path under a folder `X/suites`, if that folder exists; the path as given
/// first (errors then name `specs/…` as the user would), else its absolute form.
fn specs_beside(path: &Path) -> Option<PathBuf> {
    let find = |p: &Path| {
        p.ancestors()
            .find(|a| {
                a.file_name()
                    .is_some_and(|n| n == suite::builtin::SUITES_DIR)
            })
            .map(|suites| {
                suites
                    .parent()
                    .unwrap_or(Path::new(""))
                    .join(suite::builtin::SPECS_DIR)
            })
            .filter(|specs| specs.is_dir())
    };
    find(path).or_else(|| find(&std::path::absolute(path).ok()?))
}

/// Where the cases are sent.
pub enum TargetChoice {
    /// The embedded mock on an ephemeral loopback port, drifting on purpose in the named modes.
    Mock { drifts: Vec<&'static str> },
    /// A target named in a targets file.
    File { file: PathBuf, name: String },
    /// A target built by the caller.
    Given(Target),
    /// A replay of the recording in this folder (see `crate::mock::replay`), with the embedded
    /// mock's credentials.
    Replay { dir: PathBuf },
}

/// Everything a run needs besides the suites' own text.
pub struct Options {
    /// Suite files or folders; none: the built-in suites (see [`sources`]).
    pub paths: Vec<PathBuf>,
    /// The folder `schema:` names are relative to; `None`: found as [`sources`] says.
    pub specs: Option<PathBuf>,
    pub target: TargetChoice,
    /// Where reports are written; `None` writes none.
    pub report_dir: Option<PathBuf>,
    /// Only tests whose name, or whose case's name as reports show it, contains this text.
    pub filter: Option<String>,
    /// Only shard K of N; the per-host rate is divided by N.
    pub shard: Option<(u64, u64)>,
    /// Cases in flight at once (at least 1); `None`: [`LOOPBACK_JOBS`] when every origin of
    /// the target is this machine, else [`REMOTE_JOBS`].
    pub jobs: Option<usize>,
    /// SHOULD-level findings fail too.
    pub strict: bool,
    /// Requests per second per host, overriding the target's.
    pub rate: Option<f64>,
    /// Extra trusted roots (PEM file).
    pub ca_cert: Option<PathBuf>,
    /// TLS certificates are not verified.
    pub insecure: bool,
    /// A selection of no case, or a run whose every case was skipped, is a success instead of
    /// an error.
    pub allow_empty: bool,
    /// The user's expected-findings file (see [`crate::expected`]).
    pub expected: Option<PathBuf>,
    /// Where to write this run's failing findings as a starting expected-findings file.
    pub write_expected: Option<PathBuf>,
    /// Known-deviations files read in place of the built-in ones; empty: the built-in ones.
    pub known_deviations: Vec<PathBuf>,
    /// Where to record every exchange and response shape (`--record`; see `crate::record`).
    pub record: Option<PathBuf>,
    /// How the embedded mock behaves when it is the target (`--mock-profile`).
    pub mock_profile: mock::Profile,
    /// Every case's outcome keeps its requests (`--verbose`), not only a failing one's.
    pub verbose: bool,
    /// junit.xml carries `file` and `line` on each `<testcase>` (`--junit-file-attributes`).
    pub junit_file_attributes: bool,
}

impl Options {
    /// The defaults of `tokenconf run`: the embedded mock, the specs beside the suites (or
    /// built in), jobs by where the target is, reports/.
    pub fn new(paths: Vec<PathBuf>) -> Options {
        Options {
            paths,
            specs: None,
            target: TargetChoice::Mock { drifts: Vec::new() },
            report_dir: Some(PathBuf::from("reports")),
            filter: None,
            shard: None,
            jobs: None,
            strict: false,
            rate: None,
            ca_cert: None,
            insecure: false,
            allow_empty: false,
            expected: None,
            write_expected: None,
            known_deviations: Vec::new(),
            record: None,
            mock_profile: mock::Profile::Full,
            verbose: false,
            junit_file_attributes: false,
        }
    }
}

/// `discovery: api oauth2 (metadata URL): token_path /token, …; grant types: …; client
/// authentication: …`, from the vars discovery filled and what the metadata lists.
fn discovery_note(target: &Target, api: &str, support: &crate::discovery::Support) -> String {
    let vars = target.apis.get(api).map(|a| &a.vars);
    let endpoints: Vec<String> = [
        "token_path",
        "authorize_path",
        "revocation_path",
        "introspection_path",
    ]
    .iter()
    .filter_map(|v| Some(format!("{v} {}", vars?.get(*v)?)))
    .collect();
    format!(
        "discovery: api {api} ({}): {}; grant types: {}; client authentication: {}",
        support.metadata_url,
        endpoints.join(", "),
        support.grant_types.join(", "),
        support.token_auth_methods.join(", ")
    )
}

/// Refuses cleartext `http://` to a host that is not loopback unless the target accepts it
/// (`allow_http`), before anything is sent; the warnings for those it accepts. `run` and
/// `validate` both ask.
pub fn cleartext(target: &Target) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    for origin in &target.allowed_origins()? {
        let cleartext = reqwest::Url::parse(origin)
            .is_ok_and(|url| crate::origin::is_cleartext_off_loopback(&url));
        if !cleartext {
            continue;
        }
        if !target.allow_http {
            return Err(ConfigError::Usage(format!(
                "target {}: {origin} is cleartext http to a host that is not loopback, so every \
                 secret sent there can be read on the way; use https, or set `allow_http: true` \
                 on the target to accept that",
                target.name
            )));
        }
        warnings.push(format!(
            "{origin} is reached over cleartext http (allow_http): anyone on the path can read every secret sent"
        ));
    }
    Ok(warnings)
}

/// What a session tells its caller while it runs.
pub enum Event<'a> {
    /// About to start `cases` cases against `target`.
    Started { cases: usize, target: &'a str },
    /// A case finished; its text is already masked.
    CaseFinished(&'a CaseOutcome),
}

/// A loaded, planned run: suites compiled, target resolved, cases selected; nothing sent yet.
pub struct Session {
    runner: Arc<Runner>,
    selected: Vec<CaseId>,
    mock: Option<MockServer>,
    /// Every report file name, decided (and the folder checked) before anything is sent.
    reports: Option<ReportPlan>,
    write_expected: Option<PathBuf>,
    jobs: usize,
    warnings: Vec<String>,
    insecure: Vec<String>,
    record: Option<PathBuf>,
    allow_empty: bool,
    /// What discovery found, a line per `issuer:`-only API (see [`Session::discovered`]).
    discovered: Vec<String>,
}

/// Stops a running session from starting more cases; those in flight finish and are reported.
#[derive(Clone)]
pub struct Canceller(Arc<Runner>);

impl Canceller {
    pub fn cancel(&self) {
        self.0.cancel();
    }

    /// Kills the login browsers and deletes their profile folders, before an exit that runs
    /// no destructors.
    pub fn stop_logins_now(&self) {
        self.0.stop_logins_now();
    }
}

/// What a finished session leaves: the masked report and where it was written.
pub struct Finished {
    /// Every outcome, masked.
    pub report: RunReport,
    /// How many cases were selected (more than ran when the run was cancelled).
    pub selected: usize,
    /// The report files written (and the expected-findings file, when asked), or why they
    /// could not be.
    pub written: Result<Vec<PathBuf>, ConfigError>,
    /// What a person should know of the writing (an earlier recording's files left alone).
    pub warnings: Vec<String>,
    /// `--allow-empty`: a run in which every case was skipped is a success.
    pub allow_empty: bool,
    /// What became of each expected-findings entry (`--expected`), in file order.
    pub expected_entries: Vec<crate::expected::EntryUse>,
}

impl Finished {
    pub fn interrupted(&self) -> bool {
        self.report.outcomes.len() < self.selected
    }

    /// Why the run tested nothing, in one line, when every selected case was skipped (the
    /// target lacks the API, a var or a capability, or discovery ruled the case out) and
    /// `--allow-empty` was not given: such a run is not green.
    pub fn nothing_ran(&self) -> Option<String> {
        let outcomes = &self.report.outcomes;
        if self.allow_empty
            || self.interrupted()
            || outcomes.is_empty()
            || outcomes.iter().any(|o| o.status != Status::Skipped)
        {
            return None;
        }
        // The most common reason first: usually one cause skips them all.
        let mut reasons: Vec<(&str, usize)> = Vec::new();
        for o in outcomes {
            let why = o.reason.as_deref().unwrap_or("no reason given");
            match reasons.iter_mut().find(|(r, _)| *r == why) {
                Some((_, n)) => *n += 1,
                None => reasons.push((why, 1)),
            }
        }
        reasons.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let cases = match outcomes.len() {
            1 => "the 1 selected case was".to_string(),
            n => format!("all {n} selected cases were"),
        };
        let why = match reasons.as_slice() {
            [(only, _)] => (*only).to_string(),
            [(first, n), rest @ ..] => format!(
                "{n} for: {first}; {} for {} other reason{}",
                rest.iter().map(|(_, n)| n).sum::<usize>(),
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ),
            [] => String::new(),
        };
        Some(format!(
            "no case ran: {cases} skipped ({why}); --allow-empty accepts that"
        ))
    }

    pub fn exit(&self) -> Exit {
        if self.written.is_err() || self.nothing_ran().is_some() {
            Exit::Unusable
        } else if self.interrupted() {
            Exit::Interrupted
        } else if !self.report.all_passed() {
            Exit::Failed
        } else {
            Exit::Passed
        }
    }
}

impl Session {
    /// Loads and plans; fails (exit 2) before anything is sent when anything is unusable.
    pub async fn open(options: Options) -> Result<Session, ConfigError> {
        if options.jobs == Some(0) {
            return Err(ConfigError::Usage("--jobs must be at least 1".to_string()));
        }
        let loaded = Arc::new(load(&options.paths, options.specs.as_deref())?);
        let expected = match &options.expected {
            Some(file) => {
                let rules: Vec<&str> = crate::rules::all_rules().iter().map(|r| r.id).collect();
                Some(Arc::new(ExpectedFindings::load(file, &rules)?))
            }
            None => None,
        };
        let deviations = match options.known_deviations.as_slice() {
            [] => None,
            files => Some(crate::expected::KnownDeviations::load(
                files,
                &crate::rules::set_members(),
            )?),
        };
        let mut mock = None;
        let replaying = matches!(options.target, TargetChoice::Replay { .. });
        let mut target = match options.target {
            TargetChoice::Replay { dir } => {
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
                let server = mock::replay::start(&dir, addr).await?;
                let mut t = server.target();
                t.name = format!("replay of {}", dir.display());
                mock = Some(server);
                t
            }
            TargetChoice::Given(t) => t,
            TargetChoice::File { file, name } => target::load_target(&file, &name)?,
            TargetChoice::Mock { drifts } => {
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
                let config = MockConfig {
                    drifts: drifts.iter().copied().collect(),
                    ..MockConfig::for_profile(options.mock_profile)
                };
                let server = mock::start(config, addr)
                    .await
                    .map_err(|source| ConfigError::Mock { addr, source })?;
                let t = server.target();
                mock = Some(server);
                t
            }
        };
        // A targets file refuses these at load, with the line; a target built in code here.
        if let Some(why) = target.short_secret() {
            return Err(ConfigError::Usage(why));
        }
        let mut warnings = loaded.warnings.clone();
        // What others on the network could read or change: every report records these too.
        let mut insecure = Vec::new();
        if let Some(rate) = options.rate {
            target.http.rate_per_second = Some(rate);
        }
        // N shards of one target run at once in CI: each gets 1/N of the rate, so together
        // they stay within what the target allows.
        if let (Some(rate), Some((_, n))) = (target.http.rate_per_second, options.shard) {
            target.http.rate_per_second = Some(rate / n as f64);
        }
        if let Some(file) = &options.ca_cert {
            let pem = crate::suite::input::read_bytes(file, crate::suite::input::FileKind::CaCert)?;
            crate::http::certificates_from_pem(&pem).map_err(|why| ConfigError::File {
                path: file.clone(),
                message: why,
            })?;
            target.http.ca_cert_pem = Some(pem);
        }
        if options.insecure {
            target.http.insecure = true;
        }
        if target.http.insecure {
            insecure.push(
                "--insecure: TLS certificates are NOT verified; anyone on the path can read every secret sent"
                    .to_string(),
            );
        }
        // Before anything else is sent: the endpoints of APIs that give only an issuer.
        let discovered = crate::discovery::discover(&mut target).await?;
        let found: Vec<String> = discovered
            .iter()
            .map(|(api, support)| discovery_note(&target, api, support))
            .collect();
        insecure.extend(cleartext(&target)?);
        warnings.extend(insecure.iter().cloned());
        let mut runner = Runner::new(loaded, target, options.strict)?;
        // A server's metadata may echo anything; what is printed passes the masks.
        let found: Vec<String> = {
            let redactor = runner.redactor();
            found
                .iter()
                .map(|l| redactor.scrub(&crate::redact::mask_params(l)).into_owned())
                .collect()
        };
        let keys = runner.key_problems();
        if !keys.is_empty() {
            if let Some(server) = mock {
                server.stop().await;
            }
            return Err(ConfigError::Usage(keys.join("\n")));
        }
        if replaying {
            runner.tag_requests();
        }
        if options.verbose {
            runner.show_every_request();
        }
        for (api, support) in discovered {
            runner.limit_to(&api, support);
        }
        if let Some(e) = expected {
            // Each loaded test with its steps as reports name them (`name:`, or `step N`).
            let tests: Vec<(String, Vec<String>)> = runner
                .case_ids()
                .into_iter()
                .map(|id| {
                    let case = &runner.loaded().suites[id.suite].cases[id.case];
                    let steps = (case.steps.iter().enumerate())
                        .map(|(i, s)| s.name.clone().unwrap_or_else(|| format!("step {}", i + 1)))
                        .collect();
                    (runner.test_name(id), steps)
                })
                .collect();
            warnings.extend(
                e.check_against(
                    tests
                        .iter()
                        .map(|(t, steps)| (t.as_str(), steps.as_slice())),
                ),
            );
            runner.expect_findings(e);
        }
        if let Some(d) = deviations {
            // The built-in files are replaced, not added to: said, so no vendor's documented
            // deviation is dropped without a word.
            let built_in = crate::expected::KnownDeviations::built_in();
            warnings.push(format!(
                "--known-deviations replaces the built-in {} ({} entries): only {} apply",
                built_in.files.join(", "),
                built_in.entries.len(),
                d.files.join(", ")
            ));
            runner.known_deviations(d);
        }
        // A starting file must hold every finding of a case, not only its first failing step's.
        if options.write_expected.is_some() {
            runner.keep_going();
        }
        if let Some(dir) = &options.record {
            if let Err(e) = crate::record::Recorder::check(dir) {
                if let Some(server) = mock {
                    server.stop().await;
                }
                return Err(e);
            }
            runner.record();
        }
        if let Some(w) = runner.login_warning() {
            warnings.push(w);
        }
        if let Some(dir) = &options.report_dir {
            runner.login_screenshots_in(dir);
        }
        let runner = Arc::new(runner);
        let selected: Vec<CaseId> = runner
            .case_ids()
            .into_iter()
            .filter(|id| {
                if options.filter.is_none() && options.shard.is_none() {
                    return true;
                }
                let name = runner.test_name(*id);
                // The slug, or the case's name as the reports show it (copied from one).
                let case = &runner.loaded().suites[id.suite].cases[id.case].name;
                let filtered = options
                    .filter
                    .as_ref()
                    .is_none_or(|f| name.contains(f.as_str()) || case.contains(f.as_str()));
                let sharded = options.shard.is_none_or(|(k, n)| in_shard(&name, k, n));
                filtered && sharded
            })
            .collect();
        let refused = runner.refused_destinations(&selected);
        if !refused.is_empty() {
            if let Some(server) = mock {
                server.stop().await;
            }
            return Err(ConfigError::Usage(format!(
                "{} request(s) would leave the target's origins:\n{}",
                refused.len(),
                refused.join("\n")
            )));
        }
        if selected.is_empty() && !options.allow_empty {
            let why = match (&options.filter, options.shard) {
                (Some(f), _) => Some(format!("no test or case name contains {f:?}")),
                (None, Some((k, n))) => Some(format!("shard {k}/{n} holds no case")),
                (None, None) => None,
            };
            if let Some(server) = mock {
                server.stop().await;
            }
            return Err(ConfigError::NothingSelected(why));
        }
        let reports = match &options.report_dir {
            None => None,
            Some(dir) => {
                let (runner, ids) = (runner.clone(), selected.clone());
                let plan = ReportPlan::listed_later(dir, move || {
                    let cases = ids.iter().map(|id| {
                        let suite = &runner.loaded().suites[id.suite];
                        (suite.name.clone(), runner.test_name(*id))
                    });
                    cases.collect()
                })
                .with_junit_file_attributes(options.junit_file_attributes);
                if let Err(source) = plan.check() {
                    if let Some(server) = mock {
                        server.stop().await;
                    }
                    return Err(ConfigError::Reports {
                        dir: dir.clone(),
                        source: source.into(),
                    });
                }
                Some(plan)
            }
        };
        let jobs = options.jobs.unwrap_or_else(|| {
            default_jobs(&runner.target().allowed_origins().unwrap_or_default())
        });
        Ok(Session {
            runner,
            selected,
            mock,
            reports,
            write_expected: options.write_expected,
            jobs,
            warnings,
            insecure,
            record: options.record,
            allow_empty: options.allow_empty,
            discovered: found,
        })
    }

    pub fn target_name(&self) -> &str {
        &self.runner.target().name
    }

    /// Whether cases go to the embedded mock (which supplies everything a suite asks for).
    pub fn against_mock(&self) -> bool {
        self.mock.is_some()
    }

    /// Things the caller should show before the run: unverified TLS, cleartext http (which
    /// every report records too), a parse cache not used, expected-findings entries that name
    /// no test or several, the built-in known deviations replaced.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// What discovery read for each API that gives only an `issuer:`: where, the endpoints,
    /// grant types and client authentication methods, one line each.
    pub fn discovered(&self) -> &[String] {
        &self.discovered
    }

    pub fn canceller(&self) -> Canceller {
        Canceller(self.runner.clone())
    }

    /// Runs one selected case at a time, for callers that schedule cases themselves (one
    /// test per case under `cargo test`); outcomes come masked, like [`Session::run`]'s.
    pub fn one_by_one(&self) -> OneByOne {
        OneByOne {
            runner: self.runner.clone(),
            base: self.runner.redactor(),
        }
    }

    /// The planned runner (suites, target, what each case needs).
    pub fn runner(&self) -> Arc<Runner> {
        self.runner.clone()
    }

    pub fn selected(&self) -> &[CaseId] {
        &self.selected
    }

    /// The embedded mock, if the session started one; the caller stops it when done.
    pub fn take_mock(&mut self) -> Option<MockServer> {
        self.mock.take()
    }

    /// Runs the selected cases, masks each outcome as it finishes, stops the mock and writes
    /// the reports.
    pub async fn run(mut self, mut on_event: impl FnMut(Event)) -> Finished {
        on_event(Event::Started {
            cases: self.selected.len(),
            target: &self.runner.target().name,
        });
        let base = self.runner.redactor();
        let mut recorder = self.record.as_ref().map(|dir| {
            let t = self.runner.target();
            let secrets: Vec<String> = t.secret_values().map(str::to_string).collect();
            let mock_profile = self.mock.as_ref().map(|m| m.config.profile.name());
            crate::record::Recorder::new(dir, &secrets, base.clone())
                .origins(t.allowed_origins().unwrap_or_default())
                .runs_as(t, mock_profile)
        });
        let runner = self.runner.clone();
        // Each outcome is masked as it finishes, with the target's secrets and its own tokens:
        // only a case's own exchange can put text of it in a report.
        let mut report = self
            .runner
            .run_all(&self.selected, self.jobs, |o| {
                if let Some(r) = &mut recorder {
                    r.case(o, runner.take_recorded(&o.test));
                }
                mask(o, &base);
                on_event(Event::CaseFinished(o));
            })
            .await;
        self.runner.close_logins().await;
        if let Some(server) = self.mock.take() {
            server.stop().await;
        }
        let mut expected_entries = Vec::new();
        if let Some(expected) = self.runner.expected_findings() {
            let ran = report
                .outcomes
                .iter()
                .filter(|o| o.status != Status::Skipped)
                .map(|o| o.test.as_str());
            report.resolved = expected.resolved(ran.clone());
            expected_entries = expected.uses(ran);
        }
        report.insecure = self.insecure.clone();
        report.user_deviations = self.runner.deviations().applied();
        report.suites = suites_version(self.runner.loaded());
        let mut written = match self.reports.take() {
            None => Ok(Vec::new()),
            Some(plan) => {
                let dir = plan.dir().to_path_buf();
                let redacted = report::Redacted::from_owned(report, &base);
                let (redacted, written) = off_the_workers(move || {
                    let written = report::write_planned(&plan, &redacted);
                    (redacted, written)
                })
                .await;
                report = redacted.into_inner();
                written.map_err(|source| ConfigError::Reports {
                    dir,
                    source: source.into(),
                })
            }
        };
        let mut warnings = Vec::new();
        if let (Some(mut r), Ok(paths)) = (recorder, &mut written) {
            for (tag, recorded) in self.runner.take_recorded_fixtures() {
                r.fixture(&tag, recorded);
            }
            let started_ms = report
                .started
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            let dir = self.record.clone().unwrap_or_default();
            let target = report.target.clone();
            match off_the_workers(move || r.write(&target, started_ms)).await {
                Ok(w) => {
                    paths.push(dir);
                    warnings.extend(w.kept);
                }
                Err(source) => written = Err(ConfigError::Write { file: dir, source }),
            }
        }
        if let (Some(file), Ok(paths)) = (&self.write_expected, &mut written) {
            match write_expected(file, &report) {
                Ok(()) => paths.push(file.clone()),
                Err(source) => {
                    written = Err(ConfigError::Write {
                        file: file.clone(),
                        source,
                    })
                }
            }
        }
        Finished {
            report,
            selected: self.selected.len(),
            written,
            warnings,
            allow_empty: self.allow_empty,
            expected_entries,
        }
    }
}

/// `write` on tokio's blocking pool: the runtime's tasks, the Ctrl-C watcher among them, go on
/// while reports are written (a run against a server has a single worker), on any runtime.
async fn off_the_workers<T: Send + 'static>(write: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(write).await {
        Ok(done) => done,
        // A panic while writing is raised again here, as when it was written in place.
        Err(e) => std::panic::resume_unwind(
            e.try_into_panic()
                .unwrap_or_else(|e| Box::new(e.to_string())),
        ),
    }
}

/// Cases in flight by default against a loopback origin: each wake-up of the run then finds
/// more answers ready (measured in docs/speed.md). A tunnel to a vendor's sandbox is loopback
/// too: `--jobs 8` keeps its load as before.
pub const LOOPBACK_JOBS: usize = 16;

/// Cases in flight by default against any other server: what a vendor's sandbox takes.
pub const REMOTE_JOBS: usize = 8;

/// [`LOOPBACK_JOBS`] when every origin is this machine's, else [`REMOTE_JOBS`].
fn default_jobs(origins: &[String]) -> usize {
    let local = !origins.is_empty()
        && origins
            .iter()
            .all(|o| reqwest::Url::parse(o).is_ok_and(|url| crate::origin::is_loopback(&url)));
    if local {
        LOOPBACK_JOBS
    } else {
        REMOTE_JOBS
    }
}

/// Which suites `loaded` holds, as reports name them.
pub fn suites_version(loaded: &Loaded) -> crate::outcome::SuitesVersion {
    crate::outcome::SuitesVersion {
        from: if loaded.built_in { "built-in" } else { "files" },
        version: loaded.built_in.then_some(env!("CARGO_PKG_VERSION")),
        digest: loaded.digest.clone(),
    }
}

/// The run's failing (and already expected) findings as an expected-findings file.
fn write_expected(file: &Path, report: &RunReport) -> std::io::Result<()> {
    let findings: Vec<(String, crate::finding::Finding)> = report
        .outcomes
        .iter()
        .flat_map(|o| {
            o.findings
                .iter()
                .filter(|f| {
                    f.level == crate::finding::Level::Expected
                        || crate::finding::fails(f.level, report.strict)
                })
                .map(|f| (o.test.clone(), f.clone()))
        })
        .collect();
    report::write_atomic(file, &crate::expected::render(&findings, &report.target))
}

/// See [`Session::one_by_one`].
#[derive(Clone)]
pub struct OneByOne {
    runner: Arc<Runner>,
    base: Redactor,
}

impl OneByOne {
    pub async fn run(&self, id: CaseId) -> CaseOutcome {
        let mut outcome = self.runner.run_case(id).await;
        mask(&mut outcome, &self.base);
        outcome
    }

    pub fn test_name(&self, id: CaseId) -> String {
        self.runner.test_name(id)
    }

    pub fn strict(&self) -> bool {
        self.runner.strict()
    }
}

/// Masks the target's secrets and the case's own tokens in `o`, then drops the tokens, so
/// nothing downstream can print them. A passing case without findings has no text to mask.
fn mask(o: &mut CaseOutcome, base: &Redactor) {
    let sensitive = std::mem::take(&mut o.sensitive);
    let has_text = o.status != Status::Passed
        || !o.findings.is_empty()
        || !o.retries.is_empty()
        || !o.requests.is_empty();
    if !has_text {
        return;
    }
    report::redact_outcome(o, base);
    if !sensitive.is_empty() {
        // The case's tokens in a matcher of their own: rebuilding the target's (every
        // encoding of every secret and key) per case cost more than running the case.
        let tokens = Redactor::new(sensitive.iter().map(String::as_str));
        report::redact_outcome(o, &tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_cases_run_at_once_only_when_every_origin_is_this_machine() {
        let origins = |list: &[&str]| list.iter().map(|o| o.to_string()).collect::<Vec<_>>();
        for local in [
            &["http://127.0.0.1:8080"][..],
            &["http://localhost:3000", "http://[::1]:9000"],
        ] {
            assert_eq!(default_jobs(&origins(local)), LOOPBACK_JOBS, "{local:?}");
        }
        for remote in [
            &[][..],
            &["https://example.my.salesforce.com"],
            &["http://127.0.0.1:8080", "https://api.talkdeskapp.com"],
            &["http://127.0.0.2.example:80"],
        ] {
            assert_eq!(default_jobs(&origins(remote)), REMOTE_JOBS, "{remote:?}");
        }
    }
}
