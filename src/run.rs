//! Running cases: steps in order, captures between them, fixtures once per process, cases concurrently.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tokio::sync::OnceCell;

use crate::check::{self, eval_path};
use crate::error::ConfigError;
use crate::expected::{ExpectedFindings, KnownDeviations};
use crate::finding::Finding;
use crate::http::{Http, Received, Retry, SendError};
use crate::outcome::{
    fails, CaseOutcome, ErrorKind, Exchange, RequestSnapshot, ResponseSnapshot, RunReport, Status,
};
use crate::redact::{is_sensitive_key, Redactor};
use crate::sign::{MintError, Signer};
use crate::suite::template::{Scope, Values};
use crate::suite::{Capture, CaptureFrom, Loaded, Step, Suite, UrlTemplate};
use crate::target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaseId {
    pub suite: usize,
    pub case: usize,
}

type FixtureResult = Result<Values, String>;
/// A profile's login script and the key of its browser session (`api/profile`).
type ProfileLogin = (String, Arc<crate::login::Login>);

/// A suite's values against one profile of its API (the API entry itself first).
struct Base {
    /// `None`: the API entry.
    profile: Option<String>,
    values: Values,
    capabilities: std::collections::BTreeSet<String>,
    login: Option<ProfileLogin>,
}

pub struct Runner {
    loaded: Arc<Loaded>,
    target: Target,
    http: Http,
    strict: bool,
    /// Per suite, per profile of its API: its vars and secrets resolved against the target, or
    /// why it cannot run there.
    bases: Vec<Result<Vec<Base>, String>>,
    /// Per suite, per profile, per fixture: a fixture runs once for each profile that uses it.
    fixtures: Vec<Vec<Vec<OnceCell<FixtureResult>>>>,
    /// Set by [`Runner::cancel`]: no new case starts; cases in flight finish.
    cancelled: AtomicBool,
    signer: Signer,
    /// The user's expected findings, applied to each step's findings before they fail it.
    expected: Option<Arc<ExpectedFindings>>,
    /// Steps after a failed one still run, so every finding of a case is seen at once
    /// (`--write-expected`); the case still fails on the first.
    keep_going: bool,
    /// Per API: what its discovered metadata says it supports (see [`crate::discovery`]).
    supported: HashMap<String, crate::discovery::Support>,
    /// Vendors' documented deviations: the built-in files, or the user's.
    deviations: KnownDeviations,
    /// [`Runner::deviations`] for each API, filtered once per run instead of once per case.
    deviations_by_api: std::sync::OnceLock<HashMap<String, KnownDeviations>>,
    /// While recording (`--record`): each case's and fixture's exchanges, by tag (see
    /// [`Runner::record`]), until the session takes them.
    recorded: Option<std::sync::Mutex<HashMap<String, Recorded>>>,
    /// Each request names its case in [`crate::http::CASE_HEADER`] (`--mock-replay`).
    tag_requests: bool,
    /// Every case keeps its requests (`--verbose`), not only a failed or errored one.
    every_request: bool,
    /// The browsers of the target's login scripts, when it has any.
    logins: Option<crate::login::Logins>,
}

/// What a recorded case or fixture exchanged, and the token values it saw (which the recorder
/// replaces). Holds secrets: only the recorder reads it.
#[derive(Debug, Default)]
pub struct Recorded {
    pub exchanges: Vec<Exchange>,
    pub sensitive: Vec<String>,
}

/// The tag of a fixture's exchanges: `fixture:<suite>::<fixture name>`.
pub fn fixture_tag(suite: &str, fixture: &str) -> String {
    format!("fixture:{suite}::{fixture}")
}

/// What one run of a list of steps left behind.
struct StepsRun {
    captures: Values,
    retries: Vec<Retry>,
    response: Option<ResponseSnapshot>,
    findings: Vec<Finding>,
    sensitive: Vec<String>,
    end: Option<(Status, String)>,
    /// Set with an errored `end`.
    error_kind: Option<ErrorKind>,
    /// Where a transport error happened.
    origin: Option<String>,
    rules_checked: Vec<&'static str>,
    step: Option<String>,
    exchanges: Vec<Exchange>,
    /// Each step's request as a report may show it (masked by name; the session masks the rest).
    requests: Vec<RequestSnapshot>,
}

impl Runner {
    pub fn new(
        loaded: Arc<Loaded>,
        mut target: Target,
        strict: bool,
    ) -> Result<Runner, ConfigError> {
        unknown_apis(&loaded, &target)?;
        // Requests, and the secrets and tokens they carry, go only to the target's own origins.
        let mut options = target.http.clone();
        options.allowed_origins = target.allowed_origins()?;
        let http = Http::new(&options).map_err(ConfigError::Client)?;
        let logins = login_scripts(&target)
            .then(|| crate::login::Logins::new(crate::login::find_chromium()))
            .transpose()
            .map_err(|e| {
                ConfigError::Usage(format!("cannot make the login's scratch folder: {e}"))
            })?;
        // A login script gets a code as auto_authorize does (and a recording says so); without
        // a browser, those cases skip as they would without the script.
        if logins
            .as_ref()
            .is_some_and(crate::login::Logins::has_browser)
        {
            grant_auto_authorize(&mut target);
        }
        let mut bases: Vec<Result<Vec<Base>, String>> =
            loaded.suites.iter().map(|s| resolve(s, &target)).collect();
        // `{{ dpop.jkt }}` (RFC 9449 §10): public, so not masked; once per profile, not per case.
        for base in bases.iter_mut().flatten().flatten() {
            let key = base.values.get(crate::dpop::KEY_VAR).map(String::as_str);
            if let Ok(jkt) = http.dpop_jkt(key) {
                base.values
                    .insert(crate::suite::DPOP_JKT_VAR.to_string(), jkt);
            }
        }
        let fixtures = loaded
            .suites
            .iter()
            .zip(&bases)
            .map(|(s, b)| {
                let profiles = b.as_ref().map_or(0, Vec::len);
                (0..profiles)
                    .map(|_| s.fixtures.iter().map(|_| OnceCell::new()).collect())
                    .collect()
            })
            .collect();
        Ok(Runner {
            loaded,
            target,
            http,
            strict,
            bases,
            fixtures,
            cancelled: AtomicBool::new(false),
            signer: Signer::default(),
            expected: None,
            keep_going: false,
            supported: HashMap::new(),
            deviations: KnownDeviations::built_in(),
            deviations_by_api: std::sync::OnceLock::new(),
            recorded: None,
            tag_requests: false,
            every_request: false,
            logins,
        })
    }

    /// Why a login script cannot run (no Chromium), told once at the start of a run.
    pub fn login_warning(&self) -> Option<String> {
        let logins = self.logins.as_ref()?;
        (!logins.has_browser()).then(|| {
            "the target has a login script but Chromium was not found (install `chromium` or set TOKENCONF_CHROMIUM): cases that need a login skip or error".to_string()
        })
    }

    /// Screenshots of failed logins go under `dir` (the reports folder).
    pub fn login_screenshots_in(&mut self, dir: &std::path::Path) {
        if let Some(l) = &mut self.logins {
            l.screenshots_in(dir);
        }
    }

    /// Kills the login browsers and deletes their profile folders at once (see
    /// [`crate::login::Logins::stop_now`]).
    pub fn stop_logins_now(&self) {
        if let Some(l) = &self.logins {
            l.stop_now();
        }
    }

    /// Closes the login browsers; their profile folders are deleted.
    pub async fn close_logins(&self) {
        if let Some(l) = &self.logins {
            l.close().await;
        }
    }

    /// Vendors' deviations from `known` in place of the built-in files.
    pub fn known_deviations(&mut self, known: KnownDeviations) {
        self.deviations = known;
        self.deviations_by_api = std::sync::OnceLock::new();
    }

    /// The deviations in force (built in, or the user's).
    pub fn deviations(&self) -> &KnownDeviations {
        &self.deviations
    }

    /// The deviations that apply to `api`'s suites (a deviation scoped to other APIs does not).
    fn deviations_for(&self, api: &str) -> std::borrow::Cow<'_, KnownDeviations> {
        let by_api = self.deviations_by_api.get_or_init(|| {
            let mut by_api = HashMap::new();
            for suite in &self.loaded.suites {
                if !by_api.contains_key(&suite.api) {
                    by_api.insert(suite.api.clone(), self.deviations.for_api(&suite.api));
                }
            }
            by_api
        });
        match by_api.get(api) {
            Some(known) => std::borrow::Cow::Borrowed(known),
            None => std::borrow::Cow::Owned(self.deviations.for_api(api)),
        }
    }

    /// Keeps every exchange of every case and fixture for the recorder (`--record`); the
    /// session takes them with [`Runner::take_recorded`].
    pub fn record(&mut self) {
        self.recorded = Some(Default::default());
    }

    /// Every case's outcome shows its requests (`--verbose`), a passing one's too.
    pub fn show_every_request(&mut self) {
        self.every_request = true;
    }

    /// Every request names its case in [`crate::http::CASE_HEADER`] (replay).
    pub fn tag_requests(&mut self) {
        self.tag_requests = true;
    }

    /// The exchanges recorded under `tag` (a test name, or a [`fixture_tag`]), once.
    pub fn take_recorded(&self, tag: &str) -> Option<Recorded> {
        let mut map = self.recorded.as_ref()?.lock().ok()?;
        map.remove(tag)
    }

    /// Every recorded fixture's exchanges, by tag, once.
    pub fn take_recorded_fixtures(&self) -> Vec<(String, Recorded)> {
        let Some(Ok(mut map)) = self.recorded.as_ref().map(|m| m.lock()) else {
            return Vec::new();
        };
        let tags: Vec<String> = map
            .keys()
            .filter(|t| t.starts_with("fixture:"))
            .cloned()
            .collect();
        let mut out: Vec<(String, Recorded)> = tags
            .into_iter()
            .filter_map(|t| map.remove(&t).map(|r| (t, r)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn keep_recorded(&self, tag: &str, exchanges: Vec<Exchange>, sensitive: &[String]) {
        if let Some(Ok(mut map)) = self.recorded.as_ref().map(|m| m.lock()) {
            let entry = map.entry(tag.to_string()).or_default();
            entry.exchanges.extend(exchanges);
            entry.sensitive.extend(sensitive.iter().cloned());
        }
    }

    /// Cases of `api`'s suites that need a grant type or client authentication method
    /// `support` does not list are skipped, with that reason.
    pub fn limit_to(&mut self, api: &str, support: crate::discovery::Support) {
        self.supported.insert(api.to_string(), support);
    }

    /// See [`Runner::keep_going`]'s field: every step runs, even after a failed one.
    pub fn keep_going(&mut self) {
        self.keep_going = true;
    }

    /// Findings the user expects (see [`crate::expected`]) stop failing the cases they name.
    pub fn expect_findings(&mut self, expected: Arc<ExpectedFindings>) {
        self.expected = Some(expected);
    }

    pub fn expected_findings(&self) -> Option<&ExpectedFindings> {
        self.expected.as_deref()
    }

    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn strict(&self) -> bool {
        self.strict
    }

    /// Stops `run_all` from starting more cases (Ctrl-C); those in flight finish and are reported.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// A step's `wait:`, cut short by [`Runner::cancel`] (a wait may be over a minute).
    async fn pause(&self, d: Duration) -> Result<(), (Status, String)> {
        let until = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < until {
            if self.is_cancelled() {
                return Err((Status::Skipped, "interrupted during its wait".to_string()));
            }
            let left = until - tokio::time::Instant::now();
            tokio::time::sleep(left.min(Duration::from_millis(200))).await;
        }
        Ok(())
    }

    pub fn case_ids(&self) -> Vec<CaseId> {
        self.loaded
            .suites
            .iter()
            .enumerate()
            .flat_map(|(s, suite)| {
                (0..suite.cases.len()).map(move |c| CaseId { suite: s, case: c })
            })
            .collect()
    }

    /// The outcome of a case that panicked: an error naming it, never a lost case.
    fn crashed(&self, id: CaseId) -> CaseOutcome {
        let suite = &self.loaded.suites[id.suite];
        let mut o = CaseOutcome::new(
            &suite.name,
            &suite.api,
            &suite.cases[id.case].name,
            self.test_name(id),
            Status::Errored,
        );
        o.file = suite.file.to_string_lossy().into_owned();
        o.line = suite.cases[id.case].line;
        o.reason =
            Some("internal error: the case panicked (a tokenconf bug; please report it)".into());
        o.error_kind = Some(ErrorKind::Internal);
        o
    }

    /// Requests of `ids` whose destination is known before sending (their URL uses only the
    /// suite's vars and the target's values) and is not an origin of the target: each as
    /// `file:line: case: why`. Destinations known only at run time are checked when sent.
    /// Masked: a URL built from a secret must not print it.
    pub fn refused_destinations(&self, ids: &[CaseId]) -> Vec<String> {
        let allowed = self.target.allowed_origins().unwrap_or_default();
        let redactor = self.redactor();
        let captures = Values::default();
        let mut out = Vec::new();
        // Most cases send to the same few URLs: each one parsed and checked once. Keyed by the
        // base URL a path joins (`None` for an absolute URL) and the rendered text, borrowed
        // where the template is plain text or one name (10,000 cases were a serial 3 ms before
        // any request).
        type Destination<'a> = (Option<&'a str>, Cow<'a, str>);
        let mut verdicts: foldhash::HashMap<Destination, Result<(), String>> = Default::default();
        for id in ids {
            let Ok((_, profile)) = self.profile_of(*id) else {
                continue;
            };
            let base = &profile.values;
            let suite = &self.loaded.suites[id.suite];
            let case = &suite.cases[id.case];
            let scope = Scope {
                captures: &captures,
                base,
            };
            let base_url = base.get("base_url").map(String::as_str).unwrap_or_default();
            for step in &case.steps {
                let (joined_to, template) = match &step.request.url {
                    UrlTemplate::Path(p) => (Some(base_url), p),
                    UrlTemplate::Absolute(u) => (None, u),
                };
                let Ok(rendered) = template.render_cow(&scope) else {
                    continue;
                };
                let why = verdicts.entry((joined_to, rendered)).or_insert_with_key(
                    |(joined_to, rendered)| {
                        let url = match joined_to {
                            Some(base_url) => crate::origin::join(base_url, rendered),
                            None => reqwest::Url::parse(rendered).map_err(|e| {
                                format!("the step's `url:`, rendered, is not a URL: {e}")
                            }),
                        };
                        url.and_then(|url| crate::origin::check(&url, &allowed))
                    },
                );
                if let Err(why) = why {
                    out.push(format!(
                        "{}:{}: case `{}`: {}",
                        suite.file.display(),
                        case.line,
                        case.name,
                        redactor.scrub(why)
                    ));
                }
            }
        }
        out
    }

    /// A base URL with a path that the suites' paths repeat (the token URL pasted as
    /// `base_url`: `/v1/token` + `/v1/token`), once per base URL: `validate` warns of it, since
    /// `run` would only see 404s. Paths are appended to the base URL's path, so one that does not
    /// repeat it is a prefix, meant.
    pub fn doubled_paths(&self, ids: &[CaseId]) -> Vec<String> {
        let redactor = self.redactor();
        let captures = Values::default();
        let mut told: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for id in ids {
            let Ok((_, profile)) = self.profile_of(*id) else {
                continue;
            };
            let base = &profile.values;
            let Some(base_url) = base.get("base_url") else {
                continue;
            };
            let Ok(parsed) = reqwest::Url::parse(base_url) else {
                continue;
            };
            let base_path = parsed.path().trim_end_matches('/');
            if base_path.is_empty() || told.contains(base_url) {
                continue;
            }
            let suite = &self.loaded.suites[id.suite];
            let case = &suite.cases[id.case];
            let scope = Scope {
                captures: &captures,
                base,
            };
            let repeated = case.steps.iter().find_map(|step| match &step.request.url {
                UrlTemplate::Path(p) => p
                    .render(&scope)
                    .ok()
                    .filter(|path| repeats_base_path(base_path, path)),
                UrlTemplate::Absolute(_) => None,
            });
            if let Some(path) = repeated {
                told.push(base_url.clone());
                let line = format!(
                    "api `{}`: base_url {} has the path {base_path}, and each suite's path is \
                     appended to it: {}:{} `{}` goes to {}{path}; is base_url the server's \
                     root (or the prefix its paths start after)?",
                    suite.api,
                    crate::origin::without_userinfo(base_url),
                    suite.file.display(),
                    case.line,
                    case.name,
                    crate::origin::without_userinfo(base_url).trim_end_matches('/'),
                );
                out.push(redactor.scrub(&line).into_owned());
            }
        }
        out
    }

    /// Keys the target supplies that cannot sign the JWTs suites mint with them (a certificate
    /// given as the private key, a public key, an encrypted key), each once: `api …: `var`
    /// (jwt … of FILE) holds a CERTIFICATE, …`. Found before anything is sent, by `run` and
    /// `validate` alike. Keys the target does not supply are the cases' skip reasons instead.
    pub fn key_problems(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let captures = Values::default();
        for (suite, bases) in self.loaded.suites.iter().zip(&self.bases) {
            let Ok(bases) = bases else { continue };
            for base in bases {
                for spec in &suite.jwts {
                    let scope = Scope {
                        captures: &captures,
                        base: &base.values,
                    };
                    let Ok(text) = spec.key.render(&scope) else {
                        continue;
                    };
                    if let Err(why) = crate::sign::check_key(spec.alg, &text) {
                        let vars: Vec<String> =
                            spec.key.variables().map(|v| format!("`{v}`")).collect();
                        let under = match &base.profile {
                            None => format!("api {}", suite.api),
                            Some(p) => format!("api {}, profile {p}", suite.api),
                        };
                        let line = format!(
                            "target {}, {under}: {} (the key of jwt `{}` in {}) {why}",
                            self.target.name,
                            vars.join(", "),
                            spec.name,
                            suite.file.display()
                        );
                        if !out.contains(&line) {
                            out.push(line);
                        }
                    }
                }
            }
        }
        // Several suites of one API share a key: one line per key and reason is enough.
        out.dedup_by(|a, b| a.split(" (the key").next() == b.split(" (the key").next());
        out
    }

    /// Why a case cannot run on this target, known before sending anything.
    pub fn skip_reason(&self, id: CaseId) -> Option<String> {
        match self.profile_of(id) {
            Ok((_, base)) => self.unsupported(id, base),
            Err(why) => Some(why),
        }
    }

    /// Why the case cannot run on `base`: a request the server declares it refuses (see
    /// `REFUSED`), or what the API's discovered metadata does not list.
    fn unsupported(&self, id: CaseId, base: &Base) -> Option<String> {
        let suite = &self.loaded.suites[id.suite];
        let case = &suite.cases[id.case];
        if let Some(why) = refused(suite, case, &base.capabilities) {
            return Some(why.to_string());
        }
        let support = self.supported.get(&suite.api)?;
        crate::discovery::unsupported(support, &case.steps, &base.values)
    }

    /// The profile a case runs against (`None`: the API entry), or why it cannot run.
    pub fn profile_name(&self, id: CaseId) -> Result<Option<&str>, String> {
        self.profile_of(id).map(|(_, b)| b.profile.as_deref())
    }

    /// Index into the suite's bases: the profile the case names, else the first (the API entry
    /// first) that supplies every var and secret it needs and declares every capability it
    /// requires; else why none does.
    fn profile_of(&self, id: CaseId) -> Result<(usize, &Base), String> {
        let bases = self.bases[id.suite].as_ref().map_err(Clone::clone)?;
        let suite = &self.loaded.suites[id.suite];
        let case = &suite.cases[id.case];
        let missing = |b: &Base| -> Vec<String> {
            let (vars, capabilities) = lacks(case, b);
            let vars = vars.into_iter().map(|r| format!("`{r}`"));
            let capabilities = capabilities
                .into_iter()
                .map(|c| format!("capability `{c}`"));
            vars.chain(capabilities).collect()
        };
        let label = |b: &Base| match &b.profile {
            None => format!("api {}", suite.api),
            Some(p) => format!("profile {p}"),
        };
        if let Some(wanted) = &case.profile {
            let Some(i) = bases
                .iter()
                .position(|b| b.profile.as_deref() == Some(wanted))
            else {
                return Err(format!(
                    "target {} has no profile `{wanted}` under api {}",
                    self.target.name, suite.api
                ));
            };
            let lacks = missing(&bases[i]);
            return match lacks.first() {
                None => Ok((i, &bases[i])),
                Some(_) => Err(format!(
                    "target {}, profile {wanted}, does not supply {}",
                    self.target.name,
                    lacks.join(", ")
                )),
            };
        }
        let mut why = Vec::new();
        for (i, b) in bases.iter().enumerate() {
            let lacks = missing(b);
            if lacks.is_empty() {
                return Ok((i, b));
            }
            why.push((label(b), lacks));
        }
        // Without profiles, the sentence reads as it always has.
        Err(match why.as_slice() {
            [(_, lacks)] => format!(
                "target {} does not supply {}",
                self.target.name,
                lacks.join(", ")
            ),
            _ => format!(
                "target {}: {}",
                self.target.name,
                why.iter()
                    .map(|(l, lacks)| format!("{l} lacks {}", lacks.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        })
    }

    /// The vars and secrets, and the capabilities, a case needs that its profile (the API
    /// entry, unless the case names one) does not supply: what `validate` says to set.
    pub fn missing(&self, id: CaseId) -> (Vec<String>, Vec<String>) {
        let Ok(bases) = &self.bases[id.suite] else {
            return (Vec::new(), Vec::new());
        };
        let case = &self.loaded.suites[id.suite].cases[id.case];
        let base = match &case.profile {
            Some(p) => bases.iter().find(|b| b.profile.as_deref() == Some(p)),
            None => bases.first(),
        };
        base.map(|b| lacks(case, b)).unwrap_or_default()
    }

    pub fn test_name(&self, id: CaseId) -> String {
        let suite = &self.loaded.suites[id.suite];
        format!("{}::{}", suite.name, suite.cases[id.case].slug)
    }

    /// Masks the target's secrets; add each outcome's `sensitive` values before rendering it.
    pub fn redactor(&self) -> Redactor {
        let mut r = Redactor::new(self.target.secret_values());
        let pairs = self.target.basic_pairs();
        r.add_basic_pairs(
            pairs
                .iter()
                .map(|(id, secret)| (id.as_str(), secret.as_str())),
        );
        r
    }

    pub async fn run_case(&self, id: CaseId) -> CaseOutcome {
        let started = Instant::now();
        let suite = &self.loaded.suites[id.suite];
        let case = &suite.cases[id.case];
        let mut outcome = CaseOutcome::new(
            &suite.name,
            &suite.api,
            &case.name,
            self.test_name(id),
            Status::Passed,
        );
        outcome.file = suite.file.to_string_lossy().into_owned();
        outcome.line = case.line;
        let finish = |mut o: CaseOutcome, status: Status, reason: Option<String>| {
            o.status = status;
            o.reason = reason;
            o.duration = started.elapsed();
            o
        };
        let (profile, base, login) = match self.profile_of(id) {
            Ok((i, b)) => {
                if let Some(why) = self.unsupported(id, b) {
                    return finish(outcome, Status::Skipped, Some(why));
                }
                (i, &b.values, b.login.as_ref().filter(|_| needs_login(case)))
            }
            Err(why) => return finish(outcome, Status::Skipped, Some(why)),
        };
        let mut captures = Values::default();
        for &f in &case.fixtures {
            let fixture = &suite.fixtures[f];
            let result = self.fixtures[id.suite][profile][f]
                .get_or_init(|| {
                    let tag = fixture_tag(&suite.name, &fixture.name);
                    self.run_fixture(suite, base, &fixture.steps, tag)
                })
                .await;
            match result {
                Ok(values) => {
                    for (k, v) in values {
                        captures.insert(format!("{}.{k}", fixture.name), v.clone());
                        outcome.sensitive.push(v.clone());
                    }
                }
                Err(why) => {
                    let why = format!("fixture `{}` failed: {why}", fixture.name);
                    outcome.error_kind = Some(ErrorKind::Fixture);
                    return finish(outcome, Status::Errored, Some(why));
                }
            }
        }
        let run = self
            .run_steps(
                suite,
                (base, login),
                &case.steps,
                captures,
                Some(&outcome.test),
                &outcome.test,
            )
            .await;
        if self.recorded.is_some() {
            self.keep_recorded(&outcome.test, run.exchanges, &[]);
        }
        outcome.findings = run.findings;
        outcome.sensitive.extend(run.sensitive);
        outcome.step = run.step;
        outcome.response = run.response;
        outcome.retries = run.retries;
        outcome.error_kind = run.error_kind;
        outcome.origin = run.origin;
        outcome.rules_checked = run.rules_checked;
        outcome.requests = run.requests;
        match run.end {
            Some((status, why)) => finish(outcome, status, Some(why)),
            None => finish(outcome, Status::Passed, None),
        }
    }

    async fn run_fixture(
        &self,
        suite: &Suite,
        base: &Values,
        steps: &[Step],
        tag: String,
    ) -> FixtureResult {
        let run = self
            .run_steps(suite, (base, None), steps, Values::default(), None, &tag)
            .await;
        if self.recorded.is_some() {
            let mut sensitive = run.sensitive.clone();
            sensitive.extend(run.captures.values().cloned());
            self.keep_recorded(&tag, run.exchanges, &sensitive);
        }
        match run.end {
            None => Ok(run.captures),
            Some((_, why)) => Err(why),
        }
    }

    async fn run_steps(
        &self,
        suite: &Suite,
        (base, login): (&Values, Option<&ProfileLogin>),
        steps: &[Step],
        mut captures: Values,
        test: Option<&str>,
        tag: &str,
    ) -> StepsRun {
        let base_url = base.get("base_url").map(String::as_str).unwrap_or_default();
        let basic = self.target.api(&suite.api).map_or_else(
            || crate::basic::BasicEncoding::documented_for(&suite.api),
            |a| a.basic_for(&suite.api),
        );
        let mut run = StepsRun {
            captures: Values::default(),
            retries: Vec::new(),
            response: None,
            findings: Vec::new(),
            sensitive: Vec::new(),
            end: None,
            error_kind: None,
            origin: None,
            rules_checked: Vec::new(),
            step: None,
            exchanges: Vec::new(),
            requests: Vec::new(),
        };
        // A deviation scoped to other APIs does not apply to this suite's.
        let deviations = self.deviations_for(&suite.api);
        // What cross-response rules compare with (see `rules::Exchange::earlier`).
        let mut earlier: Vec<(crate::http::Sent, Received)> = Vec::new();
        // Each answered step's label, beside `earlier`: the requests shown are built from both.
        let mut labels: Vec<String> = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let label = step
                .name
                .clone()
                .unwrap_or_else(|| format!("step {}", i + 1));
            let scope = Scope {
                captures: &captures,
                base,
            };
            if let Some(wait) = &step.wait {
                let waited = match wait_time(wait, &scope) {
                    Ok(d) => self.pause(d).await,
                    Err(end) => Err(end),
                };
                if let Err((status, why)) = waited {
                    if run.end.is_none() {
                        let why = format!("step `{label}`: {why}");
                        run.end = Some((status, crate::redact::reason_line(&why, &run.sensitive)));
                        run.step = (steps.len() > 1).then(|| label.clone());
                    }
                    self.keep_requests(&mut run, &labels, &earlier);
                    return run;
                }
            }
            // RFC 9449 §5: a server MAY answer a proof with an unbound Bearer token; what a case
            // asks of a bound token (at a resource, say) does not apply to that one.
            if let Some(why) = issued_unbound(step, &scope, &earlier) {
                if run.end.is_none() {
                    let why = format!("step `{label}`: {why}");
                    run.end = Some((
                        Status::Skipped,
                        crate::redact::reason_line(&why, &run.sensitive),
                    ));
                    run.step = (steps.len() > 1).then(|| label.clone());
                }
                self.keep_requests(&mut run, &labels, &earlier);
                return run;
            }
            // §11.3 holds once a nonce was given: without one, a proof without it tests nothing.
            if step.request.dpop.as_deref() == Some("no_nonce") && !nonce_given(&earlier) {
                if run.end.is_none() {
                    let why = format!(
                        "step `{label}`: the server gave no DPoP nonce (RFC 9449 §8), so a proof \
                         without one tests nothing (§11.3)"
                    );
                    run.end = Some((
                        Status::Skipped,
                        crate::redact::reason_line(&why, &run.sensitive),
                    ));
                    run.step = (steps.len() > 1).then(|| label.clone());
                }
                self.keep_requests(&mut run, &labels, &earlier);
                return run;
            }
            let minted = self.mint(suite, step, &scope);
            let sent_result = match minted {
                Ok(tokens) => {
                    for (name, token) in tokens {
                        run.sensitive.push(token.clone());
                        captures.insert(name, token);
                    }
                    let scope = Scope {
                        captures: &captures,
                        base,
                    };
                    let tag = self.tag_requests.then_some(tag);
                    match login {
                        Some(login) if crate::login::is_authorize(&step.request) => {
                            self.log_in(login, base_url, basic, &step.request, &scope, tag)
                                .await
                        }
                        _ => {
                            self.http
                                .send_tagged(base_url, basic, &step.request, &scope, tag)
                                .await
                        }
                    }
                }
                Err(e) => Err(e),
            };
            let scope = Scope {
                captures: &captures,
                base,
            };
            let (sent, received) = match sent_result {
                Ok(exchanged) => {
                    run.retries.extend(exchanged.retries);
                    (exchanged.sent, exchanged.received)
                }
                Err(e) => {
                    // A request that left but got no answer is shown like a failing one's.
                    let mut unanswered = None;
                    let (status, why, kind) = match e {
                        SendError::Missing(var) => (
                            Status::Skipped,
                            format!("target {} does not supply `{var}`", self.target.name),
                            None,
                        ),
                        SendError::Invalid(why) => (Status::Errored, why, Some(ErrorKind::Request)),
                        SendError::Transport(e) => {
                            run.retries.extend(e.retries);
                            run.origin = e.origin;
                            unanswered = e.sent;
                            (
                                Status::Errored,
                                e.message,
                                Some(ErrorKind::Transport(e.kind)),
                            )
                        }
                    };
                    // A step after a failed one (under `keep_going`) cannot undo the failure.
                    if run.end.is_none() {
                        run.end = Some((status, crate::redact::reason_line(&why, &run.sensitive)));
                        run.error_kind = kind;
                        run.step = (steps.len() > 1).then(|| label.clone());
                    }
                    self.keep_requests(&mut run, &labels, &earlier);
                    if let Some(sent) = unanswered {
                        push_sent_credentials(&sent, &mut run.sensitive);
                        // The case ends failed or errored here, so its requests are shown.
                        run.requests.push(RequestSnapshot::of(&label, &sent));
                    }
                    return run;
                }
            };
            push_sent_credentials(&sent, &mut run.sensitive);
            collect_sensitive(received.json.as_ref(), &mut run.sensitive);
            labels.push(label.clone());
            let mut findings = check::check_step_after(
                &step.expect,
                &sent,
                &received,
                &scope,
                &self.loaded.schemas,
                &deviations,
                &earlier,
            );
            rules_checked(&step.expect, &findings, &mut run.rules_checked);
            if self.recorded.is_some() {
                run.exchanges.push(Exchange {
                    step: label.clone(),
                    sent: sent.clone(),
                    received: received.clone(),
                });
            }
            for c in &step.captures {
                match capture(c, &received) {
                    Ok(v) => {
                        if is_sensitive_capture(c) {
                            run.sensitive.push(v.clone());
                        }
                        captures.insert(c.name.clone(), v.clone());
                        run.captures.insert(c.name.clone(), v);
                    }
                    Err(why) => {
                        // A header the step's expectations already found missing is one cause,
                        // told once: the capture from it adds nothing.
                        let told = matches!(&c.from, CaptureFrom::Header(h)
                            if received.header(h).is_none()
                                && findings.iter().any(|f| f.rule.eq_ignore_ascii_case(&format!("header {h}"))));
                        if !told {
                            findings.push(Finding::must(format!("capture {}", c.name), why));
                        }
                    }
                }
            }
            if !self.target.embedded_mock {
                let status = received.status;
                check::unconfirm(&step.expect, status, &mut findings, &self.target.name);
            }
            for f in &mut findings {
                f.step = Some(label.clone());
            }
            if let (Some(expected), Some(test)) = (&self.expected, test) {
                let at = crate::expected::StepAt {
                    number: i + 1,
                    label: &label,
                };
                expected.apply(test, at, &mut findings, self.strict);
            }
            let failed = findings.iter().any(|f| fails(f.level, self.strict));
            // Only a failing response is shown (diffs, HTML); passing ones cost nothing more.
            if failed && run.end.is_none() {
                run.response = Some(ResponseSnapshot::of(&received));
            }
            // Moved, not copied: the body and its parsed JSON are kept once per step.
            earlier.push((sent, received));
            run.findings.extend(findings);
            if failed && run.end.is_none() {
                let first = run
                    .findings
                    .iter()
                    .find(|f| fails(f.level, self.strict))
                    .map(|f| format!("{}: {}", f.rule, f.message))
                    .unwrap_or_default();
                run.end = Some((
                    Status::Failed,
                    crate::redact::reason_line(&first, &run.sensitive),
                ));
                run.step = (steps.len() > 1).then_some(label);
                if !self.keep_going {
                    self.keep_requests(&mut run, &labels, &earlier);
                    return run;
                }
            }
        }
        self.keep_requests(&mut run, &labels, &earlier);
        run
    }

    /// An authorize step answered by the target's login script in the browser: the redirect it
    /// caught becomes the step's 302, so its checks and captures read it as the mock's.
    async fn log_in(
        &self,
        (key, login): &ProfileLogin,
        base_url: &str,
        basic: crate::basic::BasicEncoding,
        request: &crate::suite::Request,
        scope: &Scope<'_>,
        tag: Option<&str>,
    ) -> Result<crate::http::Exchanged, SendError> {
        let Some(logins) = &self.logins else {
            return Err(SendError::Invalid("no login browsers".into()));
        };
        let started = Instant::now();
        let sent = self.http.prepare_only(base_url, basic, request, scope)?;
        let allowed = self.target.allowed_origins().unwrap_or_default();
        let shot = tag.map_or_else(|| key.clone(), str::to_string);
        let to = logins
            .authorize(key, login, &sent.url, &allowed, &shot)
            .await
            .map_err(|e| SendError::Invalid(e.message))?;
        let received = Received {
            status: 302,
            headers: vec![("location".into(), to)],
            body: Vec::new(),
            json: None,
            duplicate_names: None,
            elapsed: started.elapsed(),
        };
        Ok(crate::http::Exchanged {
            sent,
            received,
            retries: Vec::new(),
        })
    }

    /// The requests a failing case (or every case, `--verbose`) shows, masked: built only then,
    /// since masking every request of every passing case is work per request for nothing.
    fn keep_requests(
        &self,
        run: &mut StepsRun,
        labels: &[String],
        earlier: &[(crate::http::Sent, Received)],
    ) {
        let shown =
            self.every_request || matches!(run.end, Some((Status::Failed | Status::Errored, _)));
        if shown {
            run.requests = labels
                .iter()
                .zip(earlier)
                .map(|(label, (sent, _))| RequestSnapshot::of(label, sent))
                .collect();
        }
    }

    /// Runs `ids` with at most `jobs` at once; `on_done` sees (and may mask) each outcome as it
    /// finishes, before it is kept.
    /// The result is in the order of `ids`; after [`Runner::cancel`] it holds the cases that ran.
    pub async fn run_all(
        self: &Arc<Self>,
        ids: &[CaseId],
        jobs: usize,
        mut on_done: impl FnMut(&mut CaseOutcome),
    ) -> RunReport {
        let started = SystemTime::now();
        let clock = Instant::now();
        let ids: Arc<Vec<CaseId>> = Arc::new(ids.to_vec());
        let next = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..jobs.max(1).min(ids.len().max(1)) {
            let (runner, ids, next, tx) = (self.clone(), ids.clone(), next.clone(), tx.clone());
            tokio::spawn(async move {
                while !runner.is_cancelled() {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&id) = ids.get(i) else { break };
                    // A bug that panics inside one case errors that case instead of silently
                    // losing it and every case after it on this worker. Caught in place, not
                    // by a task per case: spawning copied the case's large future in and its
                    // state out again (a tenth of the run's CPU in memmove).
                    let case = std::panic::AssertUnwindSafe(runner.run_case(id));
                    let outcome = match futures::FutureExt::catch_unwind(case).await {
                        Ok(outcome) => outcome,
                        Err(_) => runner.crashed(id),
                    };
                    if tx.send((i, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut slots: Vec<Option<CaseOutcome>> = vec![None; ids.len()];
        while let Some((i, mut outcome)) = rx.recv().await {
            on_done(&mut outcome);
            slots[i] = Some(outcome);
        }
        // Collected in place: filter_map keeps the slots' buffer, where flatten would copy
        // every outcome into a second one grown by doubling (1% of a lean run's CPU, page
        // faults and all).
        #[allow(clippy::filter_map_identity)]
        let outcomes = slots.into_iter().filter_map(|o| o).collect();
        RunReport {
            target: self.target.name.clone(),
            started,
            duration: clock.elapsed(),
            strict: self.strict,
            outcomes,
            insecure: Vec::new(),
            resolved: Vec::new(),
            user_deviations: Vec::new(),
            suites: Default::default(),
        }
    }
}

impl Runner {
    /// Fresh tokens for the `jwts` a step uses, as `(jwt.NAME, token)`.
    fn mint(
        &self,
        suite: &Suite,
        step: &Step,
        scope: &Scope,
    ) -> Result<Vec<(String, String)>, SendError> {
        step.jwts
            .iter()
            .map(|&i| {
                let spec = &suite.jwts[i];
                match self.signer.mint(spec, scope) {
                    Ok(token) => Ok((format!("jwt.{}", spec.name), token)),
                    Err(MintError::Missing(var)) => Err(SendError::Missing(var)),
                    Err(MintError::Invalid(why)) => Err(SendError::Invalid(why)),
                }
            })
            .collect()
    }
}

/// How long a step's `wait:` pauses, or why the case skips (the target allows less) or errors
/// (a captured value that is no number of seconds).
fn wait_time(wait: &crate::suite::Wait, scope: &Scope<'_>) -> Result<Duration, (Status, String)> {
    let missing = |var: String| {
        (
            Status::Skipped,
            format!("the wait needs `{var}`, which nothing supplied"),
        )
    };
    let text = wait.seconds.render(scope).map_err(missing)?;
    let Some(seconds) = crate::suite::wait_seconds(&text) else {
        return Err((
            Status::Errored,
            format!("`wait.seconds` is `{text}`, not a number of seconds (0 or more)"),
        ));
    };
    let bound_text = wait.at_most.render(scope).map_err(missing)?;
    let Some(bound) = crate::suite::wait_seconds(&bound_text) else {
        return Err((
            Status::Errored,
            format!("`wait.at_most` is `{bound_text}`, not a number of seconds (0 or more)"),
        ));
    };
    let total = seconds + wait.plus as f64;
    if total > bound {
        let named: Vec<String> = wait.at_most.variables().map(|v| format!("`{v}`")).collect();
        let raise = if named.is_empty() {
            String::new()
        } else {
            format!("; raise the target's {} to run it", named.join(", "))
        };
        return Err((
            Status::Skipped,
            format!("it would wait {total} s, more than the {bound} s allowed{raise}"),
        ));
    }
    Duration::try_from_secs_f64(total).map_err(|_| {
        (
            Status::Errored,
            format!("a wait of {total} s is more than a clock can count"),
        )
    })
}

/// Whether this case's own exchanges got a DPoP nonce (RFC 9449 §11.3: "provided to the client"):
/// a `DPoP-Nonce` header in an answer, or a proof sent with the server's nonce (a retry after
/// `use_dpop_nonce`). Another client's or another server's nonce (§9) does not count.
fn nonce_given(earlier: &[(crate::http::Sent, Received)]) -> bool {
    earlier.iter().any(|(sent, r)| {
        r.headers.iter().any(|(k, _)| k == "dpop-nonce")
            || sent
                .header("dpop")
                .and_then(|proof| crate::rules::jwt::decode(proof).ok())
                .is_some_and(|jws| jws.claim("nonce").is_some())
    })
}

/// Why a step that presents a token as Bearer auth (under the DPoP scheme when it has a proof)
/// does not apply: the answer that issued the token to a DPoP proof said `token_type` Bearer.
/// Introspection is not skipped: it is how a token bound all the same shows (`RFC9449-5`).
fn issued_unbound(
    step: &crate::suite::Step,
    scope: &Scope<'_>,
    earlier: &[(crate::http::Sent, Received)],
) -> Option<&'static str> {
    let Some(crate::suite::Auth::Bearer(token)) = &step.request.auth else {
        return None;
    };
    unbound_answer(&token.render(scope).ok()?, earlier)
}

/// [`issued_unbound`] for a token as sent.
fn unbound_answer(token: &str, earlier: &[(crate::http::Sent, Received)]) -> Option<&'static str> {
    let (_, answer) = earlier.iter().rev().find(|(sent, r)| {
        sent.header("dpop").is_some()
            && r.json
                .as_ref()
                .and_then(|j| j.get("access_token"))
                .and_then(|t| t.as_str())
                == Some(token)
    })?;
    let kind = answer.json.as_ref()?.get("token_type")?.as_str()?;
    (!kind.eq_ignore_ascii_case("DPoP")).then_some(
        "the server answered the proof with an unbound token (token_type Bearer, which RFC 9449 \
         §5 allows), so a bound token's checks do not apply",
    )
}

/// Requests a server may refuse by a capability it declares, whatever a case expects of them:
/// a case sending one would fail for what the server is allowed to do, so it skips with the
/// reason. A case that requires the capability tests the refusal itself and runs.
/// A capability, whether a case's steps (fixtures' first) send what a server declaring it
/// refuses, and why such a case skips.
type Refused = (
    &'static str,
    fn(&[&crate::suite::Step]) -> bool,
    &'static str,
);

const REFUSED: &[Refused] = &[
    (
        "par_required",
        unpushed_authorize,
        "the server requires pushed authorization requests (RFC 9126 §5); this case's authorize request is not pushed",
    ),
    (
        "refresh_only_revocation",
        revokes_an_access_token,
        "the server revokes refresh tokens only (RFC 7009 §2: revoking access tokens is a SHOULD; §2.2.1 unsupported_token_type); this case expects an access token revoked",
    ),
];

/// An authorization request (its query has `response_type`, as `login::is_authorize` sees one)
/// that does not refer to a pushed one by `request_uri`.
fn unpushed_authorize(steps: &[&crate::suite::Step]) -> bool {
    steps.iter().any(|step| {
        let has = |name: &str| step.request.query.iter().any(|(k, _)| k == name);
        has("response_type") && !has("request_uri")
    })
}

/// A step to `revocation_path` whose `token` is a captured `$.access_token` and which expects a
/// 2xx answer: the revocation a refresh-only server refuses. Refusal cases (401, 400) still run.
/// Captures are followed within the case's steps and each fixture's (a case names a fixture's as
/// `fixture.name`, which this does not follow).
fn revokes_an_access_token(steps: &[&crate::suite::Step]) -> bool {
    use crate::suite::{Body, CaptureFrom, UrlTemplate};
    let mut access_tokens: Vec<&str> = Vec::new();
    for step in steps {
        let url = match &step.request.url {
            UrlTemplate::Path(t) | UrlTemplate::Absolute(t) => t,
        };
        let to_revocation = url.variables().any(|v| v == "revocation_path");
        let token_is_access = match &step.request.body {
            Some(Body::Form(fields)) => fields
                .iter()
                .any(|(k, t)| k == "token" && t.variables().any(|v| access_tokens.contains(&v))),
            _ => false,
        };
        let expects_success = step.expect.status.iter().any(|s| s.class() == 2);
        if to_revocation && token_is_access && expects_success {
            return true;
        }
        for capture in &step.captures {
            if let CaptureFrom::Json { text, .. } = &capture.from {
                if text == "$.access_token" {
                    access_tokens.push(&capture.name);
                }
            }
        }
    }
    false
}

/// Why `case` (its steps and its fixtures') sends a request a server with `capabilities`
/// refuses, per `REFUSED`.
fn refused(
    suite: &crate::suite::Suite,
    case: &crate::suite::Case,
    capabilities: &std::collections::BTreeSet<String>,
) -> Option<&'static str> {
    let mut applying = REFUSED
        .iter()
        .filter(|(c, _, _)| capabilities.contains(*c) && !case.capabilities.iter().any(|r| r == c))
        .peekable();
    // Most targets declare none of these: no list of steps per case then.
    applying.peek()?;
    let steps: Vec<&crate::suite::Step> = case
        .fixtures
        .iter()
        .flat_map(|&f| &suite.fixtures[f].steps)
        .chain(case.steps.iter())
        .collect();
    applying
        .find(|(_, sends, _)| sends(&steps))
        .map(|(_, _, why)| *why)
}

/// Whether a case's authorize step is one a login script answers: it requires a code without a
/// login page (`auto_authorize`, or the generic suite's `auto_authorize_path`). Other authorize
/// requests (the error cases) go to the server as they are.
fn needs_login(case: &crate::suite::Case) -> bool {
    case.capabilities.iter().any(|c| c == "auto_authorize")
        || case.requires.iter().any(|r| r == "auto_authorize_path")
}

/// `auto_authorize` for every API and profile a login script serves.
fn grant_auto_authorize(target: &mut Target) {
    for a in target.apis.values_mut() {
        let api_login = a.login.is_some();
        if api_login {
            a.capabilities.insert("auto_authorize".into());
        }
        for p in &mut a.profiles {
            if api_login || p.login.is_some() {
                p.capabilities.insert("auto_authorize".into());
            }
        }
    }
}

/// Whether any API or profile of `target` has a login script.
fn login_scripts(target: &Target) -> bool {
    target
        .apis
        .values()
        .any(|a| a.login.is_some() || a.profiles.iter().any(|p| p.login.is_some()))
}

/// What `case` needs that `b` does not supply: vars and secrets, then capabilities, each once.
fn lacks(case: &crate::suite::Case, b: &Base) -> (Vec<String>, Vec<String>) {
    let mut vars: Vec<String> = Vec::new();
    for r in case.requires.iter().chain(&case.needs) {
        if b.values.get(r).is_none_or(|v| v.is_empty()) && !vars.contains(r) {
            vars.push(r.clone());
        }
    }
    let capabilities = case
        .capabilities
        .iter()
        .filter(|c| !b.capabilities.contains(*c))
        .cloned()
        .collect();
    (vars, capabilities)
}

/// `K/N` → `(K, N)` with 1 ≤ K ≤ N.
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--shard {text:?}: write K/N with 1 <= K <= N, e.g. 2/4");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Whether test `name` belongs to shard `k` of `n`: a stable hash, so every case runs exactly
/// once over the `n` machines, whatever the order or number of suites.
pub fn in_shard(name: &str, k: u64, n: u64) -> bool {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes()) % n == k - 1
}

/// A suite whose `api:` names no API the target could have (a typo) is an error at its
/// `api:`, not a suite skipped for ever: `run` and `validate` both build a runner.
fn unknown_apis(loaded: &Loaded, target: &Target) -> Result<(), ConfigError> {
    let errors: Vec<crate::error::SourceError> = (loaded.suites.iter())
        .filter_map(|suite| {
            let message = target.unknown_api(&suite.api)?;
            // Read again for the caret; without its text the error still names file:line:column.
            let text =
                crate::suite::input::read_text(&suite.file, crate::suite::input::FileKind::Suite)
                    .unwrap_or_default();
            Some(crate::suite::yaml::error_at(
                &suite.file,
                &text,
                suite.api_at,
                message,
            ))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.into())
    }
}

/// Per profile of the suite's API (the API entry first): suite vars, overridden by the
/// target's, plus the target's secrets and `base_url`.
fn resolve(suite: &Suite, target: &Target) -> Result<Vec<Base>, String> {
    let Some(api) = target.api(&suite.api) else {
        return Err(format!(
            "target {} has no base URL for api `{}`",
            target.name, suite.api
        ));
    };
    let bases = api
        .resolved()
        .into_iter()
        .map(|r| {
            let mut values: Values = suite
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (k, v) in &r.vars {
                if suite.vars.contains_key(*k) {
                    values.insert(k.to_string(), v.to_string());
                }
            }
            for name in &suite.secrets {
                if let Some(v) = r.secrets.get(name.as_str()) {
                    values.insert(name.clone(), v.to_string());
                }
            }
            // The harness's own secret, whatever the suite declares: the key of its DPoP proofs.
            if let Some(v) = r.secrets.get(crate::dpop::KEY_VAR) {
                values.insert(crate::dpop::KEY_VAR.to_string(), v.to_string());
            }
            values.insert("base_url".into(), r.base_url.to_string());
            let key = format!("{}/{}", suite.api, r.profile.unwrap_or_default());
            Base {
                profile: r.profile.map(str::to_string),
                values,
                capabilities: r.capabilities.clone(),
                login: r.login.map(|l| (key, l.clone())),
            }
        })
        .collect();
    Ok(bases)
}

fn capture(c: &Capture, received: &Received) -> Result<String, String> {
    let text = match &c.from {
        CaptureFrom::Json { text, path } => {
            let body = received.json.as_ref().ok_or("the body is not JSON")?;
            let node = eval_path(path, body)
                .into_iter()
                .next()
                .ok_or_else(|| format!("{text} matched nothing"))?;
            match node {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        }
        CaptureFrom::Header(name) => received
            .header(name)
            .ok_or_else(|| format!("no {name} header"))?
            .to_string(),
    };
    match &c.regex {
        None => Ok(text),
        Some(re) => {
            let caps = re
                .captures(&text)
                .ok_or_else(|| format!("/{}/ does not match", re.as_str()))?;
            Ok(caps
                .get(1)
                .or_else(|| caps.get(0))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default())
        }
    }
}

/// Whether `path` starts over what `base_path` already says: the whole base path again, or
/// its last segment (`/oauth` + `/oauth/token`).
fn repeats_base_path(base_path: &str, path: &str) -> bool {
    let segments = |p: &str| -> Vec<String> {
        let p = p.split(['?', '#']).next().unwrap_or_default();
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (base, path) = (segments(base_path), segments(path));
    match (base.last(), path.first()) {
        (Some(last), Some(first)) => path.starts_with(&base) || last == first,
        _ => false,
    }
}

/// Whatever its user part (a probe's unknown client id with the real secret), the
/// Authorization value as sent is a credential a server may echo back.
fn push_sent_credentials(sent: &crate::http::Sent, sensitive: &mut Vec<String>) {
    if let Some(value) = &sent.authorization {
        let credentials = value.split_once(' ').map_or(value.as_str(), |(_, c)| c);
        sensitive.push(credentials.trim().to_string());
        sensitive.push(value.clone());
    }
    // A DPoP proof carries the access token's hash and is a credential for its lifetime.
    if let Some(proof) = sent.header("dpop") {
        sensitive.push(proof.to_string());
    }
}

fn is_sensitive_capture(c: &Capture) -> bool {
    let from = match &c.from {
        CaptureFrom::Json { text, .. } => text.rsplit('.').next().unwrap_or(text).to_string(),
        CaptureFrom::Header(h) => h.clone(),
    };
    is_sensitive_key(&c.name) || is_sensitive_key(&from) || from == "location"
}

/// Every string under a credential-named member, at any depth.
fn collect_sensitive(value: Option<&Value>, out: &mut Vec<String>) {
    match value {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if is_sensitive_key(k) => out.push(s.clone()),
                    _ => collect_sensitive(Some(v), out),
                }
            }
        }
        Some(Value::Array(items)) => items.iter().for_each(|i| collect_sensitive(Some(i), out)),
        _ => {}
    }
}

/// Adds the ids of the library rules `expect` held a response against: the members of its
/// rule sets, and any library rule that found something without being listed (the implicit
/// unique-names check). Each id once.
fn rules_checked(expect: &crate::suite::Expect, findings: &[Finding], out: &mut Vec<&'static str>) {
    let mut sets = expect.rules.iter().map(|&i| crate::rules::member_ids(i));
    // One set into an empty list, as most steps: its ids are distinct already.
    if out.is_empty() && expect.rules.len() == 1 {
        out.extend_from_slice(sets.next().unwrap_or_default());
    }
    let listed = sets.flatten().copied();
    let found = findings
        .iter()
        .filter_map(|f| crate::rules::find_rule(&f.rule))
        .map(|rule| rule.id);
    for id in listed.chain(found) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Sent;

    fn exchange(proof: Option<&str>, headers: &[(&str, &str)], json: Value) -> (Sent, Received) {
        let sent = Sent {
            headers: proof
                .map(|p| vec![("dpop".to_string(), p.to_string())])
                .unwrap_or_default(),
            ..Sent::default()
        };
        let received = Received {
            status: 200,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
            json: Some(json),
            duplicate_names: None,
            elapsed: Duration::ZERO,
        };
        (sent, received)
    }

    /// A compact JWS with `claims` (unsigned: only decoded here).
    fn proof(claims: Value) -> String {
        use base64::Engine;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            b64(serde_json::json!({"typ": "dpop+jwt"})),
            b64(claims)
        )
    }

    #[test]
    fn a_token_issued_as_bearer_to_a_proof_skips_bound_token_checks_and_one_issued_as_dpop_does_not(
    ) {
        let token = |kind: &str| serde_json::json!({"access_token": "t1", "token_type": kind});
        let p = proof(serde_json::json!({"jti": "a"}));
        assert!(unbound_answer("t1", &[exchange(Some(&p), &[], token("Bearer"))]).is_some());
        assert!(unbound_answer("t1", &[exchange(Some(&p), &[], token("bearer"))]).is_some());
        assert!(unbound_answer("t1", &[exchange(Some(&p), &[], token("DPoP"))]).is_none());
        // Asked for without a proof: a Bearer token is what was asked for; not skipped.
        assert!(unbound_answer("t1", &[exchange(None, &[], token("Bearer"))]).is_none());
        // Another token.
        assert!(unbound_answer("t2", &[exchange(Some(&p), &[], token("Bearer"))]).is_none());
    }

    #[test]
    fn a_nonce_counts_only_when_this_case_got_one() {
        let ok = serde_json::json!({"access_token": "t"});
        let plain = proof(serde_json::json!({"jti": "a"}));
        let with_nonce = proof(serde_json::json!({"jti": "b", "nonce": "n1"}));
        assert!(!nonce_given(&[]));
        assert!(!nonce_given(&[exchange(Some(&plain), &[], ok.clone())]));
        assert!(nonce_given(&[exchange(Some(&with_nonce), &[], ok.clone())]));
        assert!(nonce_given(&[exchange(
            Some(&plain),
            &[("dpop-nonce", "n2")],
            ok
        )]));
    }

    #[test]
    fn a_wait_pauses_within_its_bound_and_skips_or_errors_otherwise() {
        use crate::suite::template::Template;
        let wait = |seconds: &str, plus: u64, at_most: &str| crate::suite::Wait {
            seconds: Template::parse(seconds).unwrap(),
            plus,
            at_most: Template::parse(at_most).unwrap(),
        };
        let captures: Values = [("life".to_string(), "3".to_string())]
            .into_iter()
            .collect();
        let base: Values = [
            ("max_wait_seconds".to_string(), "10".to_string()),
            ("tiny".to_string(), "2".to_string()),
            ("junk".to_string(), "soon".to_string()),
        ]
        .into_iter()
        .collect();
        let scope = Scope {
            captures: &captures,
            base: &base,
        };
        let time = |w| wait_time(&w, &scope);
        assert_eq!(
            time(wait("{{ life }}", 1, "{{ max_wait_seconds }}")),
            Ok(Duration::from_secs(4))
        );
        assert_eq!(time(wait("0.5", 0, "1")), Ok(Duration::from_millis(500)));
        // The server's lifetime is longer than the target allows: skipped, naming the var.
        let (status, why) = time(wait("{{ life }}", 1, "{{ tiny }}")).unwrap_err();
        assert_eq!(status, Status::Skipped);
        assert!(why.contains("4 s") && why.contains("`tiny`"), "{why}");
        // A captured value that is no number of seconds is the case's error.
        let (status, why) = time(wait("{{ junk }}", 0, "10")).unwrap_err();
        assert_eq!(status, Status::Errored);
        assert!(why.contains("`soon`"), "{why}");
        let (status, _) = time(wait("{{ missing }}", 0, "10")).unwrap_err();
        assert_eq!(status, Status::Skipped);
    }

    #[test]
    fn a_path_that_repeats_its_base_url_s_path_is_told_and_a_prefix_is_not() {
        assert!(repeats_base_path("/v1/token", "/v1/token"));
        assert!(repeats_base_path("/oauth", "/oauth/token"));
        assert!(repeats_base_path(
            "/services/oauth2",
            "/services/oauth2/token?x=1"
        ));
        // A prefix the suites' paths go on from is what a path in base_url is for.
        assert!(!repeats_base_path(
            "/iamessage/api/v2",
            "/authorization/unauthenticated"
        ));
        assert!(!repeats_base_path("/tenant-a", "/oauth/token"));
        assert!(!repeats_base_path("", "/oauth/token"));
        assert!(!repeats_base_path("/oauth", ""));
    }

    #[test]
    fn shards_cover_every_name_exactly_once() {
        let names: Vec<String> = (0..500)
            .map(|i| format!("suite/{}::case-{i}", i % 7))
            .collect();
        for n in 1..=4 {
            for name in &names {
                let owners = (1..=n).filter(|k| in_shard(name, *k, n)).count();
                assert_eq!(owners, 1, "{name} in {owners} of {n} shards");
            }
        }
        let first: usize = names.iter().filter(|s| in_shard(s, 1, 2)).count();
        assert!(
            (200..300).contains(&first),
            "an even split, got {first} of 500"
        );
        assert_eq!(parse_shard("2/3").unwrap(), (2, 3));
        for bad in ["0/2", "3/2", "x", "1/0", "1/"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
