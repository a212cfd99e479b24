//! The suite model: loaded once from YAML, checked, compiled, then shared read-only by every case.

pub mod builtin;
mod cache;
pub mod input;
mod intern;
mod load;
pub mod model;
pub mod schema;
pub mod sources;
pub mod template;
pub mod yaml;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;

use model::{JsonType, Presence};
use schema::{SchemaId, SchemaRegistry};
use template::{JsonTemplate, Template};

pub use load::{did_you_mean, load, load_from, load_text, slug};
pub use schema::Specs;

/// Where a run's suites come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuiteSource {
    /// The suites built into tokenconf (see [`builtin`]).
    BuiltIn,
    /// Suite files, or folders searched for `*.yaml`.
    Paths(Vec<PathBuf>),
}

/// All suites of a run and the schemas they name, each compiled once.
pub struct Loaded {
    pub suites: Vec<Suite>,
    pub schemas: SchemaRegistry,
    /// What the caller should show once (a parse cache others could change, not used).
    pub warnings: Vec<String>,
    /// The suites are the built-in ones (not files).
    pub built_in: bool,
    /// A hash over every suite's and schema's bytes (16 hex digits): the same suites give the
    /// same digest, built in or exported to a folder.
    pub digest: String,
}

impl Loaded {
    pub fn case_count(&self) -> usize {
        self.suites.iter().map(|s| s.cases.len()).sum()
    }
}

pub struct Suite {
    /// `talkdesk/token`: the `suite:` key, else the path under suites/ without `.yaml`.
    pub name: String,
    pub file: PathBuf,
    /// Which base URL of the target this suite talks to.
    pub api: String,
    /// Where `api:` is written: an api no target knows is an error pointing there.
    pub api_at: yaml::Location,
    pub doc: Option<String>,
    /// The basis of its cases' expectations where a case gives none; `None`: `doc`.
    pub source: Option<Source>,
    /// Defaults; a target may override any of them.
    pub vars: IndexMap<String, String>,
    /// Names whose values come only from the target, and are always redacted.
    pub secrets: Vec<String>,
    pub fixtures: Vec<Fixture>,
    pub jwts: Vec<JwtSpec>,
    pub cases: Vec<Case>,
}

/// A signed token minted fresh at each use (`{{ jwt.NAME }}`).
pub struct JwtSpec {
    pub name: String,
    pub alg: jsonwebtoken::Algorithm,
    pub key: Template,
    pub kid: Option<Template>,
    pub typ: Option<String>,
    /// A JSON object; `{{ now+N }}` alone renders as a number.
    pub claims: JsonTemplate,
}

/// Shared setup, run once per process on first use; its captures are `{{ fixture.capture }}`.
pub struct Fixture {
    pub name: String,
    pub steps: Vec<Step>,
}

pub struct Case {
    pub name: String,
    /// The line of its `name:` in the suite file (CI annotations point there).
    pub line: u64,
    pub slug: String,
    pub doc: Option<String>,
    /// Its own `source:`; else the suite's.
    pub source: Option<Source>,
    /// Variables or secrets the target must supply, else the case is skipped.
    pub requires: Vec<String>,
    /// Capabilities (see [`crate::capability`]) the API or profile it runs against must declare.
    pub capabilities: Vec<String>,
    /// The profile it runs against, its own or its suite's; `None`: the first that fits.
    pub profile: Option<String>,
    /// Indices into the suite's fixtures that this case's templates use.
    pub fixtures: Vec<usize>,
    /// Secrets its templates (and its fixtures' and jwts') use: without them it is skipped.
    pub needs: Vec<String>,
    pub steps: Vec<Step>,
}

/// `{{ dpop.jkt }}`: the RFC 7638 thumbprint of the run's DPoP key (RFC 9449 §10's `dpop_jkt`).
pub const DPOP_JKT_VAR: &str = "dpop.jkt";

/// The proofs a request may ask for: `valid`, or one that RFC 9449 §4.3 makes a server refuse.
pub const DPOP_PROOFS: &[(&str, &str)] = &[
    ("valid", "a well-formed proof for this request"),
    ("wrong_htm", "htm names another HTTP method"),
    ("wrong_htu", "htu names another URL"),
    ("stale_iat", "iat an hour ago"),
    (
        "reused_jti",
        "the jti of the run's last proof for the same method and URL",
    ),
    ("alg_none", "alg none, no signature"),
    ("symmetric_alg", "alg HS256, signed with a shared secret"),
    (
        "private_key_in_jwk",
        "the jwk header carries the private key (d)",
    ),
    ("bad_signature", "a signature that does not verify"),
    (
        "other_key",
        "signed by a second key of the run, not the one tokens are bound to",
    ),
    (
        "no_ath",
        "no ath claim, though the request carries an access token",
    ),
    (
        "wrong_ath",
        "an ath that is the hash of another access token",
    ),
    (
        "no_nonce",
        "no nonce claim, though the server gave one; sent once, not retried with the nonce",
    ),
];

pub struct Step {
    pub name: Option<String>,
    /// A pause before the request (`wait:`).
    pub wait: Option<Wait>,
    /// Indices into the suite's `jwts` this step's request uses: minted just before it is sent.
    pub jwts: Vec<usize>,
    pub request: Request,
    pub expect: Expect,
    pub captures: Vec<Capture>,
}

/// `wait:` on a step: `seconds` + `plus`, unless that is more than `at_most` (the case skips).
pub struct Wait {
    pub seconds: Template,
    pub plus: u64,
    pub at_most: Template,
}

/// The longest wait when a step gives no `at_most`.
pub const DEFAULT_MAX_WAIT_SECONDS: u64 = 10;

/// A number of seconds as a `wait:` takes it: finite and 0 or more.
pub fn wait_seconds(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

pub struct Request {
    pub method: reqwest::Method,
    pub url: UrlTemplate,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(String, Template)>,
    pub auth: Option<Auth>,
    pub body: Option<Body>,
    pub timeout: Option<Duration>,
    /// The DPoP proof to mint (a name of `dpop::VARIANTS`), if any.
    pub dpop: Option<String>,
}

pub enum UrlTemplate {
    /// Joined to the target's base URL for the suite's API.
    Path(Template),
    /// Used as written.
    Absolute(Template),
}

pub enum Auth {
    /// `client_secret_basic`, RFC 6749 §2.3.1: id and secret form-urlencoded, then `base64(id:secret)`.
    Basic {
        user: Template,
        password: Template,
    },
    /// `client_secret_post`: `client_id` and `client_secret` form fields.
    Post {
        client_id: Template,
        client_secret: Template,
    },
    /// RFC 7523 §2.2: `client_assertion_type` and a freshly minted `client_assertion`.
    PrivateKeyJwt {
        client_id: Option<Template>,
        /// `{{ jwt.NAME }}`: the runner mints the assertion into that variable.
        assertion: Template,
    },
    Bearer(Template),
}

pub enum Body {
    Form(Vec<(String, Template)>),
    Json(JsonTemplate),
    Raw(Template),
}

#[derive(Default)]
pub struct Expect {
    pub status: Vec<StatusPattern>,
    pub headers: Vec<HeaderExpect>,
    pub json: Vec<JsonExpect>,
    pub schema: Option<SchemaId>,
    /// Indices into the rule-set names the loader was given (`rules::sets()` order).
    pub rules: Vec<usize>,
    /// Names of the expectations above that are our guess (`status`, `header x`, `json $.x`,
    /// `schema`): against a real target their findings are unconfirmed, never failing.
    pub assumed: Vec<String>,
}

impl Expect {
    /// The name each expectation's findings carry, in the order they are checked.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.status.is_empty() {
            out.push("status".to_string());
        }
        out.extend(self.headers.iter().map(|h| format!("header {}", h.name)));
        out.extend(self.json.iter().map(|j| format!("json {}", j.text)));
        if self.schema.is_some() {
            out.push("schema".to_string());
        }
        out
    }

    /// How many expectations [`Expect::names`] would name.
    pub fn count(&self) -> usize {
        usize::from(!self.status.is_empty())
            + self.headers.len()
            + self.json.len()
            + usize::from(self.schema.is_some())
    }

    /// Whether a finding named `rule` comes from an assumed expectation. A schema's findings are
    /// `schema NAME`; a body that is not JSON (`json`) is assumed only if every JSON check is.
    pub fn is_assumed(&self, rule: &str) -> bool {
        let assumed = |name: &str| self.assumed.iter().any(|a| a == name);
        if rule.starts_with("schema ") {
            return assumed("schema");
        }
        if rule == "json" {
            let json_checks: Vec<String> = self
                .names()
                .into_iter()
                .filter(|n| n.starts_with("json ") || n == "schema")
                .collect();
            return !json_checks.is_empty() && json_checks.iter().all(|n| assumed(n));
        }
        assumed(rule)
    }
}

/// What an expectation rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A vendor document (URL) or an RFC clause, as written.
    Document(String),
    /// Our guess where the docs are silent.
    Assumed,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Document(d) => f.write_str(d),
            Source::Assumed => f.write_str("assumed"),
        }
    }
}

impl Suite {
    /// What a case's expectations rest on: its own source, the suite's, the case's doc, or the
    /// suite's doc.
    pub fn basis(&self, case: &Case) -> Option<Source> {
        case.source
            .clone()
            .or_else(|| self.source.clone())
            .or_else(|| case.doc.clone().map(Source::Document))
            .or_else(|| self.doc.clone().map(Source::Document))
    }

    /// How many expectations of its cases are assumed.
    pub fn assumed_count(&self) -> usize {
        self.cases.iter().map(Case::assumed_count).sum()
    }
}

impl Case {
    pub fn assumed_count(&self) -> usize {
        self.steps.iter().map(|s| s.expect.assumed.len()).sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Code(u16),
    /// `4xx`: the hundreds digit.
    Class(u16),
}

impl StatusPattern {
    /// The hundreds digit: what kind of answer the pattern expects (4 for an error).
    pub fn class(self) -> u16 {
        match self {
            StatusPattern::Code(c) => c / 100,
            StatusPattern::Class(c) => c,
        }
    }

    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusPattern::Code(c) => c == status,
            StatusPattern::Class(c) => status / 100 == c,
        }
    }
}

impl fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusPattern::Code(c) => write!(f, "{c}"),
            StatusPattern::Class(c) => write!(f, "{c}xx"),
        }
    }
}

pub struct HeaderExpect {
    /// Lower case.
    pub name: String,
    pub predicate: Predicate,
}

pub struct JsonExpect {
    pub text: String,
    pub path: std::sync::Arc<serde_json_path::JsonPath>,
    pub predicate: Predicate,
}

/// Every condition set must hold.
#[derive(Default)]
pub struct Predicate {
    pub presence: Option<Presence>,
    pub equals: Option<JsonTemplate>,
    pub not_equals: Option<JsonTemplate>,
    pub equals_ignore_case: Option<Template>,
    pub contains: Option<Template>,
    pub matches: Option<std::sync::Arc<Regex>>,
    pub kind: Option<JsonType>,
    pub one_of: Vec<JsonTemplate>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Predicate {
    /// A short description of what is expected, for a value that is missing.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(JsonTemplate::Fixed(v)) = &self.equals {
            parts.push(format!("equals {v}"));
        }
        if let Some(k) = self.kind {
            parts.push(k.with_article().to_string());
        }
        if let Some(re) = &self.matches {
            parts.push(format!("matches /{}/", re.as_str()));
        }
        if parts.is_empty() {
            "present".to_string()
        } else {
            parts.join(", ")
        }
    }
}

pub struct Capture {
    pub name: String,
    pub from: CaptureFrom,
    /// Applied to the captured text; group 1 if the regex has one, else the whole match.
    pub regex: Option<std::sync::Arc<Regex>>,
}

pub enum CaptureFrom {
    Json {
        text: String,
        path: std::sync::Arc<serde_json_path::JsonPath>,
    },
    Header(String),
}
