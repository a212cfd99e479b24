//! Where a run sends its requests: per API a base URL, vars and secrets. The default target is
//! the embedded mock; real ones come from a targets file whose secrets come from the environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::basic::BasicEncoding;
use crate::error::{ConfigError, SourceError};
use crate::http::{HttpOptions, RetryPolicy};
use crate::suite::input::{read_bytes, read_text, FileKind};
use crate::suite::model::Scalar;
use crate::suite::yaml::{self, Location, Spanned};

/// The vendors' APIs, each a key of its own in a targets file; any other api a suite names
/// must be an entry under the target's `apis:`.
pub const VENDOR_APIS: [&str; 4] = ["talkdesk", "salesforce", "miaw", "oauth2"];

#[derive(Debug, Clone, Default)]
pub struct Target {
    pub name: String,
    pub apis: BTreeMap<String, ApiTarget>,
    pub http: HttpOptions,
    /// Origins besides the APIs' own that requests may go to (`scheme://host:port`).
    pub allow_origins: Vec<String>,
    /// Cleartext `http://` to a host that is not loopback is accepted (and warned about).
    pub allow_http: bool,
    /// The embedded mock's `full` profile: the model our assumed expectations were written from,
    /// so they stay strict against it; against any other target (a rehearsal profile of the mock
    /// included) a failing one is only unconfirmed.
    pub embedded_mock: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ApiTarget {
    pub base_url: String,
    pub vars: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    /// How `auth: basic` is built; `None` is what the API's vendor documents.
    pub basic_encoding: Option<BasicEncoding>,
    /// RFC 8414 issuer identifier: the session reads its metadata (see the discovery module) and
    /// fills the endpoint paths the file does not give.
    pub issuer: Option<String>,
    /// What this org (client, deployment) does; names from [`crate::capability`].
    pub capabilities: BTreeSet<String>,
    /// Other clients or deployments of the same API, in file order.
    pub profiles: Vec<Profile>,
    /// The browser login that gets an authorization code from a real login page.
    pub login: Option<std::sync::Arc<crate::login::Login>>,
}

/// A second client or deployment under one API: its values override the API's; its
/// capabilities are its own (a verification-on deployment is not also a guest one).
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub name: String,
    /// Its own base URL, if not the API's.
    pub base_url: Option<String>,
    pub vars: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub capabilities: BTreeSet<String>,
    /// Its own login script, if not the API's.
    pub login: Option<std::sync::Arc<crate::login::Login>>,
}

/// An API entry or one of its profiles, with the profile's values laid over the API's.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    /// `None`: the API entry itself.
    pub profile: Option<&'a str>,
    pub base_url: &'a str,
    pub vars: BTreeMap<&'a str, &'a str>,
    pub secrets: BTreeMap<&'a str, &'a str>,
    pub capabilities: &'a BTreeSet<String>,
    pub login: Option<&'a std::sync::Arc<crate::login::Login>>,
}

impl ApiTarget {
    /// The API entry first, then each profile in file order: the order a case's profile is
    /// chosen in.
    pub fn resolved(&self) -> Vec<Resolved<'_>> {
        fn own(m: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
            m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
        }
        let mut out = vec![Resolved {
            profile: None,
            base_url: &self.base_url,
            vars: own(&self.vars),
            secrets: own(&self.secrets),
            capabilities: &self.capabilities,
            login: self.login.as_ref(),
        }];
        for p in &self.profiles {
            let mut vars = own(&self.vars);
            vars.extend(own(&p.vars));
            let mut secrets = own(&self.secrets);
            secrets.extend(own(&p.secrets));
            out.push(Resolved {
                profile: Some(&p.name),
                base_url: p.base_url.as_deref().unwrap_or(&self.base_url),
                vars,
                secrets,
                capabilities: &p.capabilities,
                login: p.login.as_ref().or(self.login.as_ref()),
            });
        }
        out
    }

    /// Every base URL: the API's and each profile's own.
    fn base_urls(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.base_url.as_str())
            .chain(self.profiles.iter().filter_map(|p| p.base_url.as_deref()))
    }

    /// The Basic encoding for API `api`: the target's choice, else the vendor's documented one.
    pub fn basic_for(&self, api: &str) -> BasicEncoding {
        self.basic_encoding
            .unwrap_or_else(|| BasicEncoding::documented_for(api))
    }
}

impl Target {
    pub fn api(&self, name: &str) -> Option<&ApiTarget> {
        self.apis.get(name)
    }

    /// Why a suite's `api:` names no API at all (neither a vendor's nor one of this target's
    /// `apis:`), with a did-you-mean; `None` when it is known. A vendor API this target does
    /// not configure is known: its suites are skipped with that reason.
    pub fn unknown_api(&self, api: &str) -> Option<String> {
        if VENDOR_APIS.contains(&api) || self.apis.contains_key(api) {
            return None;
        }
        let own: Vec<&str> = (self.apis.keys())
            .map(String::as_str)
            .filter(|a| !VENDOR_APIS.contains(a))
            .collect();
        let hint = crate::suite::did_you_mean(api, VENDOR_APIS.iter().chain(&own));
        let listed = match own.as_slice() {
            [] => format!("target {} lists none", self.name),
            names => format!("target {} lists {}", self.name, names.join(", ")),
        };
        Some(format!(
            "unknown api `{api}`{hint}: an api is {} or one the target lists under `apis:` ({listed})",
            VENDOR_APIS.join(", ")
        ))
    }

    /// The origins requests may go to: each API's base URL's, then the allow-list.
    pub fn allowed_origins(&self) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for (api, a) in &self.apis {
            for url in a.base_urls() {
                let origin = crate::origin::of(url).map_err(|why| {
                    ConfigError::Usage(format!("target {}, api {api}: {why}", self.name))
                })?;
                if !out.contains(&origin) {
                    out.push(origin);
                }
            }
        }
        for o in &self.allow_origins {
            if !out.contains(o) {
                out.push(o.clone());
            }
        }
        Ok(out)
    }

    /// Why this target cannot be used because a secret is too short to mask, naming the API,
    /// profile and secret: a target built in code passes here, as a targets file's does at load.
    pub fn short_secret(&self) -> Option<String> {
        self.apis.iter().find_map(|(api, a)| {
            let own = a.secrets.iter().map(|(k, v)| (None, k, v));
            let profiles = a
                .profiles
                .iter()
                .flat_map(|p| p.secrets.iter().map(move |(k, v)| (Some(&p.name), k, v)));
            own.chain(profiles).find_map(|(profile, k, v)| {
                let why = too_short(k, v)?;
                let place = match profile {
                    Some(p) => format!("api {api} profile {p}"),
                    None => format!("api {api}"),
                };
                Some(format!("target {}, {place}: {why}", self.name))
            })
        })
    }

    /// Every secret value, to be masked in every output.
    /// What a login script types counts as a secret, a var (a user name) too.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.apis.values().flat_map(|a| {
            let logins = a
                .login
                .iter()
                .chain(a.profiles.iter().filter_map(|p| p.login.as_ref()));
            a.secrets
                .values()
                .chain(a.profiles.iter().flat_map(|p| p.secrets.values()))
                .map(String::as_str)
                .chain(logins.flat_map(|l| l.typed_values()))
        })
    }

    /// `id:secret` pairs as a Basic header would carry them, so their base64 is masked too:
    /// each API entry's and each profile's (its values laid over the API's).
    pub fn basic_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for api in self.apis.values() {
            for r in api.resolved() {
                for id in r.vars.values() {
                    for secret in r.secrets.values() {
                        let pair = (id.to_string(), secret.to_string());
                        if !out.contains(&pair) {
                            out.push(pair);
                        }
                    }
                }
            }
        }
        out
    }
}

/// A tokenconf targets file: where runs send their requests. Secrets are `${ENV_VAR}`, never literal.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tokenconf targets")]
pub(crate) struct TargetsFile {
    /// Targets by name, chosen with `--target NAME`.
    #[schemars(with = "IndexMap<String, TargetFile>")]
    targets: IndexMap<String, Spanned<TargetFile>>,
}

/// The known APIs by name; others under `apis:`. (No `flatten`: it would blur error messages.)
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    /// Timeouts, retries and rate limit for every request of this target.
    http: Option<HttpFile>,
    /// The Talkdesk API (suites with `api: talkdesk`).
    #[schemars(with = "Option<ApiFile>")]
    talkdesk: Option<Spanned<ApiFile>>,
    /// The Salesforce OAuth 2.0 API (suites with `api: salesforce`).
    #[schemars(with = "Option<ApiFile>")]
    salesforce: Option<Spanned<ApiFile>>,
    /// Salesforce Messaging for In-App and Web (suites with `api: miaw`).
    #[schemars(with = "Option<ApiFile>")]
    miaw: Option<Spanned<ApiFile>>,
    /// A generic RFC 6749 server (suites with `api: oauth2`).
    #[schemars(with = "Option<ApiFile>")]
    oauth2: Option<Spanned<ApiFile>>,
    /// Other APIs by the name suites give in `api:`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, ApiFile>")]
    apis: IndexMap<String, Spanned<ApiFile>>,
    /// Origins (`https://host[:port]`) besides the APIs' own that requests, and so secrets and
    /// tokens, may be sent to; anything else is refused before a byte is sent.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    allow_origins: Vec<Spanned<String>>,
    /// Accept cleartext `http://` to a host that is not loopback (warned about on every run).
    #[serde(default)]
    allow_http: bool,
}

/// HTTP options of a target.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    /// Total timeout of a request in milliseconds.
    timeout_ms: Option<u64>,
    /// Timeout of connecting in milliseconds.
    connect_timeout_ms: Option<u64>,
    /// Attempts after the first for transport errors, 5xx and 429 (default 2).
    retries: Option<u32>,
    /// `5/s` or `100/m`, per host.
    #[schemars(with = "Option<String>")]
    rate: Option<Spanned<String>>,
    /// Extra trusted roots (PEM file), merged with the system's.
    #[schemars(with = "Option<String>")]
    ca_cert: Option<Spanned<String>>,
}

/// One API of a target: its base URL (or preset), vars and secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ApiFile {
    /// `https://…` or `http://…` (or give `preset`).
    #[schemars(with = "Option<String>")]
    base_url: Option<Spanned<String>>,
    /// A vendor's URL shape: talkdesk-us, talkdesk-eu, talkdesk-ca, talkdesk-au (with `account`),
    /// salesforce-login, salesforce-test, salesforce-mydomain (with `account`), miaw-scrt (with `account`).
    #[schemars(with = "Option<String>")]
    #[schemars(extend("enum" = ["talkdesk-us", "talkdesk-eu", "talkdesk-ca", "talkdesk-au",
        "salesforce-login", "salesforce-test", "salesforce-mydomain", "miaw-scrt", null]))]
    preset: Option<Spanned<String>>,
    /// The account (subdomain) a preset needs.
    #[schemars(with = "Option<String>")]
    account: Option<Spanned<String>>,
    /// An RFC 8414 issuer identifier (`https://…`): the endpoints come from its metadata
    /// (`/.well-known/oauth-authorization-server`, else OpenID discovery), read once before
    /// anything else is sent; vars given here win. Replaces `base_url` (its origin is used).
    #[schemars(with = "Option<String>")]
    issuer: Option<Spanned<String>>,
    /// Values for the suites' `{{ name }}`, overriding their defaults; may hold `${ENV_VAR}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, Scalar>")]
    vars: IndexMap<String, Spanned<Scalar>>,
    /// Secrets by name, each `${ENV_VAR}`: never written in the file.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    secrets: IndexMap<String, Spanned<String>>,
    /// Secrets read from files (PEM keys): name → path, usually `${ENV_VAR}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    secret_files: IndexMap<String, Spanned<String>>,
    /// How `auth: basic` joins id and secret before base64: `form` (RFC 6749 §2.3.1,
    /// form-urlencoded first) or `raw`. Default: what the vendor documents (raw for talkdesk,
    /// form for the others).
    basic_encoding: Option<BasicEncoding>,
    /// What this org (client, deployment) does, for cases that `requires:` it (see
    /// `tokenconf validate`): auto_authorize, rotates_refresh_tokens, password_grant,
    /// jwt_access_tokens, user_verification, guest_access, refresh_token_grant.
    #[serde(default)]
    #[schemars(with = "Vec<CapabilityName>")]
    capabilities: Vec<Spanned<String>>,
    /// A browser login for the authorization-code cases (see the README's "Code flows on a real
    /// login page"): steps run in headless Chromium after it opens the case's authorize URL.
    #[schemars(with = "Option<crate::login::LoginFile>")]
    login: Option<Spanned<crate::login::LoginFile>>,
    /// Other clients or deployments of this API by name (a verification-on MIAW deployment, a
    /// second client). A case runs against the API entry if it has everything the case
    /// requires, else the first profile that has, else the one its `profile:` names.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, ProfileFile>")]
    profiles: IndexMap<String, Spanned<ProfileFile>>,
}

/// A profile of an API: its vars and secrets override the API's; its capabilities are its own.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    /// Its own `https://…` base URL, if not the API's (it becomes an allowed origin).
    #[schemars(with = "Option<String>")]
    base_url: Option<Spanned<String>>,
    /// Values for the suites' `{{ name }}`, over the API's; may hold `${ENV_VAR}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, Scalar>")]
    vars: IndexMap<String, Spanned<Scalar>>,
    /// Secrets by name, each `${ENV_VAR}`, over the API's.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    secrets: IndexMap<String, Spanned<String>>,
    /// Secrets read from files (PEM keys): name → path, usually `${ENV_VAR}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    secret_files: IndexMap<String, Spanned<String>>,
    /// What this client or deployment does (not inherited from the API).
    #[serde(default)]
    #[schemars(with = "Vec<CapabilityName>")]
    capabilities: Vec<Spanned<String>>,
    /// Its own browser login, over the API's.
    #[schemars(with = "Option<crate::login::LoginFile>")]
    login: Option<Spanned<crate::login::LoginFile>>,
}

/// One of the capability names `tokenconf validate` lists.
struct CapabilityName;

impl JsonSchema for CapabilityName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Capability".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = crate::capability::all().collect();
        let meanings: Vec<String> = crate::capability::CAPABILITIES
            .iter()
            .map(|c| format!("`{}`: {}", c.name, c.meaning))
            .collect();
        schemars::json_schema!({
            "description": format!("What an org does. {}", meanings.join("; ")),
            "enum": names
        })
    }
}

/// `https://{account}...` for each preset; `None` for an unknown preset.
fn preset_url(preset: &str, account: Option<&str>) -> Option<Result<String, String>> {
    let needs = |f: fn(&str) -> String| {
        Some(
            account
                .map(f)
                .ok_or_else(|| format!("preset {preset} needs `account`")),
        )
    };
    match preset {
        "talkdesk-us" => needs(|a| format!("https://{a}.talkdeskid.com")),
        "talkdesk-eu" => needs(|a| format!("https://{a}.talkdeskid.eu")),
        "talkdesk-ca" => needs(|a| format!("https://{a}.talkdeskidca.com")),
        "talkdesk-au" => needs(|a| format!("https://{a}.talkdeskid.au")),
        "salesforce-login" => Some(Ok("https://login.salesforce.com".into())),
        "salesforce-test" => Some(Ok("https://test.salesforce.com".into())),
        "salesforce-mydomain" => needs(|a| format!("https://{a}.my.salesforce.com")),
        "miaw-scrt" => needs(|a| format!("https://{a}.salesforce-scrt.com")),
        _ => None,
    }
}

pub const PRESETS: &[&str] = &[
    "talkdesk-us",
    "talkdesk-eu",
    "talkdesk-ca",
    "talkdesk-au",
    "salesforce-login",
    "salesforce-test",
    "salesforce-mydomain",
    "miaw-scrt",
];

/// Names of the targets in a file, in order.
pub fn target_names(path: &Path) -> Result<Vec<String>, ConfigError> {
    let (_, file) = read(path)?;
    Ok(file.targets.keys().cloned().collect())
}

fn read(path: &Path) -> Result<(String, TargetsFile), ConfigError> {
    let text = read_text(path, FileKind::Targets)?;
    let shown = Shown::of(&text);
    let file: TargetsFile = shown.parse(&text, path)?;
    Ok((text, file))
}

/// A targets file as its errors show it: values under `secrets:`, `secret_files:` and
/// credential-named keys masked on every line of a snippet, and in any message that quotes one.
struct Shown {
    text: String,
    hidden: Vec<String>,
}

impl Shown {
    fn of(text: &str) -> Shown {
        let (text, hidden) = crate::redact::mask_yaml_secrets(text);
        Shown { text, hidden }
    }

    /// The parser's message may quote a value (`invalid type: string "…"`): masked too.
    fn parse(&self, text: &str, path: &Path) -> Result<TargetsFile, SourceError> {
        yaml::parse_shown(text, Some(&self.text), path).map_err(|mut e| {
            let hidden = crate::redact::Redactor::new(self.hidden.iter().map(String::as_str));
            e.message = hidden.scrub_known(&e.message).into_owned();
            e.rendered = hidden.scrub_known(&e.rendered).into_owned();
            e
        })
    }
}

/// Loads target `name` from a targets file, expanding `${ENV_VAR}` in its values.
pub fn load_target(path: &Path, name: &str) -> Result<Target, ConfigError> {
    let text = read_text(path, FileKind::Targets)?;
    parse_target(&text, path, name)
}

/// Target `name` from the text of a targets file read from `path` (for errors and tests).
pub fn parse_target(text: &str, path: &Path, name: &str) -> Result<Target, ConfigError> {
    let shown = Shown::of(text);
    let file: TargetsFile = shown.parse(text, path)?;
    let Some(spec) = file.targets.get(name) else {
        let known: Vec<&str> = file.targets.keys().map(String::as_str).collect();
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            message: format!(
                "no target named {name:?}; this file has: {}",
                known.join(", ")
            ),
        });
    };
    let mut l = Loader {
        path,
        shown: &shown,
        errors: Vec::new(),
        login_urls: Vec::new(),
    };
    let t = &spec.value;
    let mut target = Target {
        name: name.to_string(),
        apis: BTreeMap::new(),
        http: l.http(t.http.as_ref()),
        allow_origins: Vec::new(),
        allow_http: t.allow_http,
        embedded_mock: false,
    };
    for o in &t.allow_origins {
        match crate::origin::of(&o.value) {
            Ok(origin) => target.allow_origins.push(origin),
            Err(why) => l.error(o.referenced, why),
        }
    }
    let known = [
        ("talkdesk", &t.talkdesk),
        ("salesforce", &t.salesforce),
        ("miaw", &t.miaw),
        ("oauth2", &t.oauth2),
    ];
    let apis = known
        .into_iter()
        .filter_map(|(n, a)| a.as_ref().map(|a| (n.to_string(), a)))
        .chain(t.apis.iter().map(|(n, a)| (n.clone(), a)));
    for (api, a) in apis {
        if let Some(built) = l.api(a) {
            target.apis.insert(api, built);
        }
    }
    // A login may go only where the target's requests may, and where its script declares.
    if let Ok(allowed) = target.allowed_origins() {
        for (origin, at) in std::mem::take(&mut l.login_urls) {
            if !allowed.contains(&origin) {
                l.error(at, format!("the login script names {origin}, which is neither one of the target's origins nor in the script's `origins:`"));
            }
        }
    }
    if target.apis.is_empty() && l.errors.is_empty() {
        l.error(
            spec.referenced,
            format!("target {name} lists no API (talkdesk, salesforce, miaw, oauth2 or apis:)"),
        );
    }
    if l.errors.is_empty() {
        Ok(target)
    } else {
        Err(l.errors.into())
    }
}

struct Loader<'a> {
    path: &'a Path,
    shown: &'a Shown,
    errors: Vec<SourceError>,
    /// Origins login scripts name in their steps, to be one of the target's.
    login_urls: Vec<(String, Location)>,
}

impl Loader<'_> {
    /// An error drawn over the masked text; its message is ours and quotes no secret.
    fn error(&mut self, at: Location, message: impl Into<String>) {
        self.errors
            .push(yaml::error_at(self.path, &self.shown.text, at, message));
    }

    fn expand(&mut self, value: &str, at: Location) -> String {
        expand_env(value).unwrap_or_else(|message| {
            self.error(at, message);
            String::new()
        })
    }

    fn http(&mut self, h: Option<&HttpFile>) -> HttpOptions {
        let mut o = HttpOptions::default();
        let Some(h) = h else { return o };
        if let Some(ms) = h.timeout_ms {
            o.timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = h.connect_timeout_ms {
            o.connect_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = h.retries {
            o.retry = RetryPolicy {
                max_retries: n,
                ..RetryPolicy::default()
            };
        }
        if let Some(rate) = &h.rate {
            match parse_rate(&rate.value) {
                Ok(r) => o.rate_per_second = Some(r),
                Err(e) => self.error(rate.referenced, e),
            }
        }
        if let Some(ca) = &h.ca_cert {
            let file = self.expand(&ca.value, ca.referenced);
            if !file.is_empty() {
                let pem = read_bytes(Path::new(&file), FileKind::CaCert)
                    .map_err(|e| e.to_string())
                    .and_then(|pem| {
                        crate::http::certificates_from_pem(&pem)
                            .map_err(|why| format!("{file}: {why}"))?;
                        Ok(pem)
                    });
                match pem {
                    Ok(pem) => o.ca_cert_pem = Some(pem),
                    Err(why) => self.error(ca.referenced, why),
                }
            }
        }
        o
    }

    fn api(&mut self, a: &Spanned<ApiFile>) -> Option<ApiTarget> {
        let s = &a.value;
        let base_url = match (&s.base_url, &s.preset) {
            (Some(u), None) => self.expand(&u.value, u.referenced),
            (None, Some(p)) => {
                let account = s
                    .account
                    .as_ref()
                    .map(|acc| self.expand(&acc.value, acc.referenced));
                match preset_url(&p.value, account.as_deref()) {
                    Some(Ok(url)) => url,
                    Some(Err(e)) => {
                        self.error(p.referenced, e);
                        return None;
                    }
                    None => {
                        self.error(
                            p.referenced,
                            format!(
                                "unknown preset {:?}; presets: {}",
                                p.value,
                                PRESETS.join(", ")
                            ),
                        );
                        return None;
                    }
                }
            }
            (Some(u), Some(_)) => {
                self.error(u.referenced, "give `base_url` or `preset`, not both");
                return None;
            }
            (None, None) => match &s.issuer {
                Some(i) => {
                    let issuer = self.expand(&i.value, i.referenced);
                    match crate::origin::of(&issuer) {
                        Ok(origin) => origin,
                        Err(why) => {
                            self.error(i.referenced, format!("issuer: {why}"));
                            return None;
                        }
                    }
                }
                None => {
                    self.error(
                        a.referenced,
                        "an API needs `base_url`, a `preset` or an `issuer`",
                    );
                    return None;
                }
            },
        };
        let issuer = s
            .issuer
            .as_ref()
            .map(|i| self.expand(&i.value, i.referenced));
        let scheme_ok = base_url.starts_with("https://") || base_url.starts_with("http://");
        if !base_url.is_empty() && !scheme_ok {
            let at = s.base_url.as_ref().map_or(a.referenced, |u| u.referenced);
            self.error(
                at,
                format!(
                    "base_url {:?} must start with https:// or http://",
                    crate::origin::without_userinfo(&base_url)
                ),
            );
        }
        let (vars, secrets) = self.values(&s.vars, &s.secrets, &s.secret_files);
        let login = self.login(s.login.as_ref(), &vars, &secrets);
        let mut out = ApiTarget {
            base_url,
            vars,
            secrets,
            capabilities: self.capabilities(&s.capabilities),
            profiles: Vec::new(),
            issuer,
            basic_encoding: s.basic_encoding,
            login,
        };
        for (name, p) in &s.profiles {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() {
                self.error(
                    p.referenced,
                    format!("profile name {name:?} must be letters, digits and `_`"),
                );
            }
            let p = &p.value;
            let base_url = p.base_url.as_ref().map(|u| {
                let url = self.expand(&u.value, u.referenced);
                if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
                    self.error(
                        u.referenced,
                        format!(
                            "base_url {:?} must start with https:// or http://",
                            crate::origin::without_userinfo(&url)
                        ),
                    );
                }
                url
            });
            let (vars, secrets) = self.values(&p.vars, &p.secrets, &p.secret_files);
            // A profile's script types the profile's values, laid over the API's.
            let login = match &p.login {
                Some(l) => {
                    let mut all_vars = out.vars.clone();
                    all_vars.extend(vars.clone());
                    let mut all_secrets = out.secrets.clone();
                    all_secrets.extend(secrets.clone());
                    self.login(Some(l), &all_vars, &all_secrets)
                }
                None => None,
            };
            out.profiles.push(Profile {
                name: name.clone(),
                base_url,
                vars,
                secrets,
                capabilities: self.capabilities(&p.capabilities),
                login,
            });
        }
        Some(out)
    }

    /// Whether `value`, when it is the DPoP key (`dpop_key`), is a P-256 private key; the error
    /// names PEM labels only, never the key.
    fn dpop_key(&mut self, name: &str, value: &str, at: Location) -> bool {
        if name != crate::dpop::KEY_VAR {
            return true;
        }
        match crate::dpop::check_key(value) {
            Ok(()) => true,
            Err(why) => {
                self.error(
                    at,
                    format!("secret `{name}` (the DPoP key of RFC 9449 proofs) {why}"),
                );
                false
            }
        }
    }

    /// Vars, secrets (each exactly one `${ENV_VAR}`) and secret files, expanded.
    fn values(
        &mut self,
        vars: &IndexMap<String, Spanned<Scalar>>,
        secrets: &IndexMap<String, Spanned<String>>,
        secret_files: &IndexMap<String, Spanned<String>>,
    ) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let mut out_vars = BTreeMap::new();
        let mut out_secrets = BTreeMap::new();
        for (k, v) in vars {
            let value = self.expand(&v.value.0, v.referenced);
            out_vars.insert(k.clone(), value);
        }
        for (k, v) in secrets {
            if !v.value.contains("${") {
                self.error(
                    v.referenced,
                    format!("secret `{k}` is written in the file; secrets come from the environment: write \"${{ENV_VAR}}\" (or use secret_files)"),
                );
                continue;
            }
            if !is_one_env_var(&v.value) {
                self.error(
                    v.referenced,
                    format!("secret `{k}` must be exactly one \"${{ENV_VAR}}\", with nothing written around it: a literal part would be a secret in the file"),
                );
                continue;
            }
            // An unset variable is its own error: no second one about an empty value's length.
            let value = match expand_env(&v.value) {
                Ok(value) => value,
                Err(message) => {
                    self.error(v.referenced, message);
                    continue;
                }
            };
            if self.long_enough(k, &value, v.referenced) && self.dpop_key(k, &value, v.referenced) {
                out_secrets.insert(k.clone(), value);
            }
        }
        for (k, v) in secret_files {
            let file = self.expand(&v.value, v.referenced);
            if file.is_empty() {
                continue;
            }
            match read_text(Path::new(&file), FileKind::SecretFile) {
                Ok(content) => {
                    if self.long_enough(k, &content, v.referenced)
                        && self.dpop_key(k, &content, v.referenced)
                    {
                        out_secrets.insert(k.clone(), content);
                    }
                }
                // Never the expanded value: a key pasted where a path belongs would be printed.
                Err(e) => {
                    let key_itself = file.contains("-----BEGIN") || file.contains('\n');
                    // A key pasted into the file itself is not quoted back either.
                    // The value is named only as the environment variable it comes from: a
                    // literal one is masked in the snippet, and a key pasted there must not be
                    // quoted back either.
                    let named = if v.value.contains("${") && !v.value.contains("-----BEGIN") {
                        format!(" named by {:?}", v.value)
                    } else {
                        String::new()
                    };
                    let hint = if key_itself {
                        " (it holds a key itself, not a path: put the key in a file, or under secrets:)"
                    } else {
                        ""
                    };
                    self.error(
                        v.referenced,
                        format!(
                            "cannot read the secret file for `{k}`{named}: {}{hint}",
                            e.reason
                        ),
                    )
                }
            }
        }
        (out_vars, out_secrets)
    }

    /// Whether secret `key` is long enough to be masked in every output; an error at `at`
    /// naming the key (never the value) if not.
    fn long_enough(&mut self, key: &str, value: &str, at: Location) -> bool {
        let Some(why) = too_short(key, value) else {
            return true;
        };
        self.error(at, why);
        false
    }

    /// A login script resolved against `vars` and `secrets`; the URLs its steps name are kept
    /// to be checked against the target's origins once every API is read.
    fn login(
        &mut self,
        file: Option<&Spanned<crate::login::LoginFile>>,
        vars: &BTreeMap<String, String>,
        secrets: &BTreeMap<String, String>,
    ) -> Option<std::sync::Arc<crate::login::Login>> {
        let file = file?;
        let mut errors = Vec::new();
        let login = crate::login::resolve(&file.value, vars, secrets, file.referenced, |at, m| {
            errors.push((at, m))
        });
        for (at, m) in errors {
            self.error(at, m);
        }
        for (origin, at) in crate::login::named_origins(&file.value) {
            match origin {
                Ok(o) if login.origins.contains(&o) => {}
                Ok(o) => self.login_urls.push((o, at)),
                Err(why) => self.error(at, format!("wait url: {why}")),
            }
        }
        Some(std::sync::Arc::new(login))
    }

    /// Capability names, each known (else an error with a did-you-mean).
    fn capabilities(&mut self, names: &[Spanned<String>]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for c in names {
            if crate::capability::is_capability(&c.value) {
                out.insert(c.value.clone());
                continue;
            }
            let known: Vec<&str> = crate::capability::all().collect();
            let hint = crate::suite::did_you_mean(&c.value, known.iter().copied());
            self.error(
                c.referenced,
                format!(
                    "unknown capability `{}`{hint}; capabilities: {}",
                    c.value,
                    known.join(", ")
                ),
            );
        }
        out
    }
}

/// `5/s`, `0.5/s`, `100/m` → requests per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let bad = || format!("rate {text:?}: write N/s or N/m, e.g. 5/s");
    let (n, unit) = text.trim().split_once('/').ok_or_else(bad)?;
    let n: f64 = n.trim().parse().map_err(|_| bad())?;
    let per = match unit.trim() {
        "s" => 1.0,
        "m" => 60.0,
        _ => return Err(bad()),
    };
    let rate = n / per;
    // Beyond these the spacing is either hours long or below what a clock can keep.
    if !(1.0 / 3600.0..=1_000_000.0).contains(&rate) {
        return Err(format!(
            "rate {text:?} is outside 1 per hour to 1,000,000 per second"
        ));
    }
    Ok(rate)
}

/// Why secret `key` cannot be used, if it is shorter than the redactor masks: it would reach
/// every report and log unmasked.
fn too_short(key: &str, value: &str) -> Option<String> {
    let min = crate::redact::MIN_SECRET_LEN;
    (value.len() < min).then(|| {
        format!(
            "secret `{key}` is shorter than {min} bytes, too short to be masked in reports and \
             logs: use the real secret (a test secret must be {min} bytes or longer)"
        )
    })
}

/// `${NAME}` and nothing else: how a secret is written in a targets file.
fn is_one_env_var(value: &str) -> bool {
    value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .is_some_and(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// `${NAME}` from the environment; a missing or empty variable is an error naming it.
fn expand_env(value: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unclosed `${` in this value".to_string())?;
        let name = &after[..end];
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => out.push_str(&v),
            _ => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_names_missing_variables() {
        std::env::set_var("TOKENCONF_TEST_HOST", "example.test");
        assert_eq!(
            expand_env("https://${TOKENCONF_TEST_HOST}/x").unwrap(),
            "https://example.test/x"
        );
        let err = expand_env("${TOKENCONF_TEST_SURELY_UNSET}").unwrap_err();
        assert!(err.contains("TOKENCONF_TEST_SURELY_UNSET"), "{err}");
    }

    #[test]
    fn a_profile_s_login_types_its_own_values_and_every_typed_value_is_masked() {
        std::env::set_var("TOKENCONF_TEST_LOGIN_PW", "api-login-Passw0rd");
        std::env::set_var("TOKENCONF_TEST_LOGIN_PW2", "second-login-Passw0rd");
        let text = "targets:\n  t:\n    oauth2:\n      base_url: https://idp.example\n      vars: { user: api-login-user }\n      secrets: { pw: \"${TOKENCONF_TEST_LOGIN_PW}\" }\n      login:\n        origins: [\"https://cdn.idp.example\"]\n        steps:\n          - fill: { selector: \"#u\", var: user }\n          - fill: { selector: \"#p\", secret: pw }\n          - click: \"#go\"\n          - wait: { url: \"https://cdn.idp.example/done\" }\n      profiles:\n        second:\n          secrets: { pw: \"${TOKENCONF_TEST_LOGIN_PW2}\" }\n          login:\n            steps:\n              - fill: { selector: \"#p\", secret: pw }\n              - consent: \"#ok\"\n";
        let t = parse_target(text, Path::new("targets.yaml"), "t").unwrap();
        let api = &t.apis["oauth2"];
        let login = api.login.as_ref().unwrap();
        assert_eq!(login.origins, ["https://cdn.idp.example"]);
        assert_eq!(login.steps.len(), 4);
        let second = api.profiles[0].login.as_ref().unwrap();
        assert_eq!(
            second.steps[0],
            crate::login::LoginStep::Fill {
                selector: "#p".into(),
                value: "second-login-Passw0rd".into(),
                secret: true
            }
        );
        let masked: Vec<&str> = t.secret_values().collect();
        for typed in [
            "api-login-user",
            "api-login-Passw0rd",
            "second-login-Passw0rd",
        ] {
            assert!(masked.contains(&typed), "{typed} is not masked");
        }
        // A profile with its own script runs that one, not the API's.
        let resolved = api.resolved();
        assert!(resolved[1].login.is_some_and(|l| l.steps.len() == 2));
    }

    #[test]
    fn rates_and_presets() {
        assert_eq!(parse_rate("5/s").unwrap(), 5.0);
        assert_eq!(parse_rate("120/m").unwrap(), 2.0);
        assert!(parse_rate("5").is_err());
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("1e-20/s").is_err());
        assert!(parse_rate("1e12/s").is_err());
        assert!(parse_rate("NaN/s").is_err());
        assert_eq!(
            preset_url("talkdesk-eu", Some("acme")).unwrap().unwrap(),
            "https://acme.talkdeskid.eu"
        );
        assert_eq!(
            preset_url("talkdesk-ca", Some("acme")).unwrap().unwrap(),
            "https://acme.talkdeskidca.com"
        );
        assert!(preset_url("talkdesk-us", None).unwrap().is_err());
        assert!(preset_url("nope", None).is_none());
    }

    #[test]
    fn a_target_file_with_presets_env_and_http_options() {
        let dir = std::env::temp_dir().join(format!("tokenconf-target-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key.pem");
        std::fs::write(&key, "PEM-TEST").unwrap();
        std::env::set_var("TOKENCONF_TT_SECRET", "s3cr3t");
        std::env::set_var("TOKENCONF_TT_KEY", key.to_str().unwrap());
        let file = dir.join("targets.yaml");
        std::fs::write(
            &file,
            "targets:\n  nightly:\n    http: { retries: 3, rate: 5/s, timeout_ms: 2000 }\n    talkdesk:\n      preset: talkdesk-eu\n      account: acme\n      vars: { client_id: abc }\n      secrets: { client_secret: \"${TOKENCONF_TT_SECRET}\" }\n      secret_files: { signing_key: \"${TOKENCONF_TT_KEY}\" }\n  literal:\n    talkdesk:\n      base_url: https://x.test\n      secrets: { client_secret: plain }\n",
        )
        .unwrap();
        let t = load_target(&file, "nightly").unwrap();
        let td = t.api("talkdesk").unwrap();
        assert_eq!(td.base_url, "https://acme.talkdeskid.eu");
        assert_eq!(td.secrets["client_secret"], "s3cr3t");
        assert_eq!(td.secrets["signing_key"], "PEM-TEST");
        assert_eq!(t.http.retry.max_retries, 3);
        assert_eq!(t.http.rate_per_second, Some(5.0));
        assert_eq!(t.http.timeout, Duration::from_secs(2));
        let err = load_target(&file, "literal").unwrap_err().to_string();
        assert!(err.contains("secrets come from the environment"), "{err}");
        assert!(err.contains("targets.yaml:13:33"), "{err}");
        assert_eq!(target_names(&file).unwrap(), vec!["nightly", "literal"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn files_a_target_names_must_be_regular_and_small_and_a_ca_file_must_hold_certificates() {
        let dir =
            std::env::temp_dir().join(format!("tokenconf-target-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, [0x8a_u8, 0x01, 0xff, 0x42].repeat(300)).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, b"").unwrap();
        std::env::set_var("TOKENCONF_TF_SECRET", "s3cr3t");
        let file = dir.join("targets.yaml");
        let api = "    talkdesk: { base_url: https://x.test, secrets: { client_secret: \"${TOKENCONF_TF_SECRET}\" } }\n";
        let text = format!(
            "targets:\n  zero-key:\n    talkdesk: {{ base_url: https://x.test, secret_files: {{ signing_key: /dev/zero }} }}\n  \
             zero-ca:\n    http: {{ ca_cert: /dev/zero }}\n{api}  garbage-ca:\n    http: {{ ca_cert: {} }}\n{api}  \
             empty-ca:\n    http: {{ ca_cert: {} }}\n{api}",
            garbage.display(),
            empty.display()
        );
        std::fs::write(&file, text).unwrap();
        for (name, expected) in [
            (
                "zero-key",
                "for `signing_key`: a secret file must be a regular file, not a device",
            ),
            (
                "zero-ca",
                "/dev/zero: a CA certificate file must be a regular file, not a device",
            ),
            ("garbage-ca", "holds no PEM certificate"),
            ("empty-ca", "holds no PEM certificate"),
        ] {
            let err = load_target(&file, name).unwrap_err().to_string();
            assert!(err.contains(expected), "{name}: {err}");
            assert!(err.contains("targets.yaml:"), "{name}: {err}");
        }
        let err = load_target(Path::new("/dev/zero"), "any")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a targets file must be a regular file"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn profiles_lay_their_values_over_the_apis_and_their_secrets_are_masked_and_origins_allowed() {
        std::env::set_var("TOKENCONF_TP_FIRST", "first-secret");
        std::env::set_var("TOKENCONF_TP_SECOND", "second-secret");
        let text = "targets:\n  t:\n    miaw:\n      base_url: https://guest.test\n      vars: { org_id: o1, deployment: guest }\n      secrets: { key: \"${TOKENCONF_TP_FIRST}\" }\n      capabilities: [guest_access]\n      profiles:\n        verified:\n          base_url: https://verified.test\n          vars: { deployment: verified }\n          secrets: { key: \"${TOKENCONF_TP_SECOND}\" }\n          capabilities: [user_verification]\n        same_host: { capabilities: [guest_access, user_verification] }\n";
        let t = parse_target(text, Path::new("targets.yaml"), "t").unwrap();
        let miaw = t.api("miaw").unwrap();
        let resolved = miaw.resolved();
        assert_eq!(resolved.len(), 3);
        assert_eq!(resolved[0].profile, None);
        assert_eq!(resolved[0].vars["deployment"], "guest");
        assert_eq!(resolved[1].profile, Some("verified"));
        assert_eq!(resolved[1].base_url, "https://verified.test");
        assert_eq!(resolved[1].vars["deployment"], "verified");
        assert_eq!(resolved[1].vars["org_id"], "o1", "inherited from the API");
        assert_eq!(resolved[1].secrets["key"], "second-secret");
        assert!(
            !resolved[1].capabilities.contains("guest_access"),
            "a profile's capabilities are its own"
        );
        assert_eq!(resolved[2].base_url, "https://guest.test");
        assert_eq!(
            t.allowed_origins().unwrap(),
            ["https://guest.test", "https://verified.test"]
        );
        let secrets: Vec<&str> = t.secret_values().collect();
        assert!(secrets.contains(&"first-secret") && secrets.contains(&"second-secret"));
        let pairs = t.basic_pairs();
        assert!(pairs.contains(&("verified".to_string(), "second-secret".to_string())));
    }

    #[test]
    fn an_unknown_capability_or_profile_key_names_its_place() {
        let text = "targets:\n  t:\n    oauth2:\n      base_url: https://x.test\n      capabilities: [password_grnt]\n      profiles:\n        \"bad name\": { capabilities: [jwt_access_tokens] }\n";
        let err = parse_target(text, Path::new("targets.yaml"), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("targets.yaml:5:22"), "{err}");
        assert!(err.contains("(did you mean `password_grant`?)"), "{err}");
        assert!(err.contains("targets.yaml:7:"), "{err}");
        assert!(err.contains("profile name \"bad name\""), "{err}");
    }
    #[test]
    fn a_secret_too_short_to_mask_is_refused_naming_its_key_never_its_value() {
        let dir = std::env::temp_dir().join(format!("tokenconf-short-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("short.pem");
        std::fs::write(&key, "q7").unwrap();
        std::env::set_var("TOKENCONF_TS_SHORT", "k9!");
        std::env::set_var("TOKENCONF_TS_KEY", key.to_str().unwrap());
        let text = "targets:\n  t:\n    oauth2:\n      base_url: https://x.test\n      secrets: { client_secret: \"${TOKENCONF_TS_SHORT}\" }\n      secret_files: { signing_key: \"${TOKENCONF_TS_KEY}\" }\n";
        let err = parse_target(text, Path::new("targets.yaml"), "t")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("secret `client_secret` is shorter than 4 bytes"),
            "{err}"
        );
        assert!(err.contains("secret `signing_key` is shorter"), "{err}");
        assert!(err.contains("targets.yaml:5:33"), "{err}");
        assert!(!err.contains("k9!") && !err.contains("q7"), "{err}");
        // A target built in code is refused as well, by API and key.
        let mut t = Target::default();
        let mut api = ApiTarget::default();
        api.secrets.insert("client_secret".into(), "k9!".into());
        t.apis.insert("oauth2".into(), api);
        let why = t.short_secret().expect("refused");
        assert!(why.contains("api oauth2: secret `client_secret`"), "{why}");
        assert!(!why.contains("k9!"), "{why}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_error_shows_where_a_secret_is_never_the_secret_or_its_neighbours() {
        std::env::set_var("TOKENCONF_TL_X", "Env-Secret-Value-0");
        let api = |body: &str| format!("targets:\n  t:\n    oauth2:\n{body}");
        let cases = [
            // The literal-secret error itself, and a literal part around `${X}`.
            api("      base_url: https://x.test\n      secrets: { client_secret: \"Literal-Secret-In-File-1\" }\n"),
            api("      base_url: https://x.test\n      secrets: { client_secret: \"prefix-Literal-Part-2${TOKENCONF_TL_X}\" }\n"),
            api("      base_url: https://x.test\n      secrets: { client_secret: \"${TOKENCONF_TL_X}suffix-Literal-3\" }\n"),
            // An unrelated error next to a pasted secret, in block style.
            api("      base_url: https://x.test\n      secrets:\n        client_secret: \"${TOKENCONF_TL_X}\"\n        other: Literal-Secret-5-on-next-line\n      bogus: 1\n"),
            // A parse error whose message would quote the value.
            api("      base_url: https://x.test\n      secrets: \"Literal-Secret-6-not-a-map\"\n"),
            api("      base_url: https://x.test\n      vars: { password: Literal-Secret-7 }\n      nope: [\n"),
        ];
        for text in cases {
            let err = parse_target(&text, Path::new("targets.yaml"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains("targets.yaml:"), "{err}");
            assert!(!err.contains("Literal"), "{text}\n{err}");
            assert!(!err.contains("Env-Secret"), "{err}");
        }
        // Credentials in an environment-expanded URL.
        for (url, field) in [
            ("htps://admin:Sup3r-Url-Pass@h.example", "base_url"),
            ("htps://admin:Sup3r-Url-Pass@h.example", "issuer"),
            ("https://admin:Sup3r-Url-Pass@h.example:99999", "issuer"),
        ] {
            std::env::set_var("TOKENCONF_TL_URL", url);
            let text = api(&format!("      {field}: \"${{TOKENCONF_TL_URL}}\"\n"));
            let err = parse_target(&text, Path::new("targets.yaml"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains("targets.yaml:4:"), "{err}");
            assert!(!err.contains("Sup3r") && !err.contains("admin"), "{err}");
        }
        let origin = Target {
            apis: BTreeMap::from([(
                "x".to_string(),
                ApiTarget {
                    base_url: "https://admin:Sup3r-Url-Pass@h.example:99999".into(),
                    ..ApiTarget::default()
                },
            )]),
            ..Target::default()
        };
        let err = origin.allowed_origins().unwrap_err().to_string();
        assert!(
            !err.contains("Sup3r") && err.contains("***@h.example"),
            "{err}"
        );
    }
}
