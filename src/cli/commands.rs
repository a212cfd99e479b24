//! The commands besides `run`: list, validate, mock, rules, explain, schema.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokenconf::error::{ConfigError, Exit};
use tokenconf::expected::KnownDeviations;
use tokenconf::mock::drift::{self, DriftKind};
use tokenconf::mock::{self, MockConfig};
use tokenconf::run::{CaseId, Runner};
use tokenconf::schema_doc::{self, FileFormat};
use tokenconf::session;
use tokenconf::suite::{Case, Source, Suite};
use tokenconf::{rules, target};

/// `println!` that ignores a closed stdout (`tokenconf list | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub fn list(
    paths: &[PathBuf],
    specs: Option<&Path>,
    sources: bool,
    origin: bool,
) -> Result<Exit, ConfigError> {
    let loaded = session::load(paths, specs)?;
    super::output::warn(&loaded.warnings);
    // Buffered: stdout alone is flushed at every line, a write per test name.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let escape = tokenconf::report::escape_control;
    for s in &loaded.suites {
        // Escaped piece by piece, as a whole line would be (character by character), and
        // written without a line built first: 10,000 lines took 3 ms.
        let suite = escape(&s.name);
        let from = if loaded.built_in { "built in: " } else { "" };
        let file = format!("{from}{}", s.file.display());
        let file = escape(&file);
        for c in &s.cases {
            let _ = out.write_all(suite.as_bytes());
            let _ = out.write_all(b"::");
            let _ = out.write_all(escape(&c.slug).as_bytes());
            if sources {
                let _ = out.write_all(b"  ");
                let _ = out.write_all(escape(&basis(s, c)).as_bytes());
            }
            if origin {
                let _ = out.write_all(b"  ");
                let _ = out.write_all(file.as_bytes());
            }
            let _ = out.write_all(b"\n");
        }
    }
    let _ = out.flush();
    // The process ends next: freeing every compiled case first was a tenth of `list`'s time.
    std::mem::forget(loaded);
    Ok(Exit::Passed)
}

/// `source: X (suite)`, `source: assumed`, `no source`, with the count of assumed expectations.
fn basis(suite: &Suite, case: &Case) -> String {
    let from = if case.source.is_some() {
        ""
    } else if suite.source.is_some() {
        " (suite)"
    } else if case.doc.is_some() {
        " (case doc)"
    } else {
        " (suite doc)"
    };
    let text = match suite.basis(case) {
        // A vendor page without a stored passage backs nothing: the case is assumed.
        Some(Source::Document(d)) if case.source.is_some() || suite.source.is_some() => {
            if tokenconf::suite::sources::backs(&d) {
                format!("source: {d}{from}")
            } else {
                format!("source: assumed (no stored passage or clause: {d}{from})")
            }
        }
        Some(source) => format!("source: {source}{from}"),
        None => "no source".to_string(),
    };
    match case.assumed_count() {
        0 => text,
        n => format!("{text}; {n} of {} expectations assumed", expectations(case)),
    }
}

/// How many expectations (status, headers, JSON paths, schema) a case's steps hold.
fn expectations(case: &Case) -> usize {
    case.steps.iter().map(|s| s.expect.count()).sum()
}

pub fn validate(
    paths: &[PathBuf],
    specs: Option<&Path>,
    targets: Option<&Path>,
    only: Option<&str>,
) -> Result<Exit, ConfigError> {
    let loaded = Arc::new(session::load(paths, specs)?);
    super::output::warn(&loaded.warnings);
    // Printed only when every check passed, the verdict last: never "ok" and then an error.
    let mut lines: Vec<String> = Vec::new();
    for s in &loaded.suites {
        let all: usize = s.cases.iter().map(expectations).sum();
        lines.push(format!(
            "  {}: {} of {all} expectations assumed",
            s.name,
            s.assumed_count()
        ));
    }
    let mut verdict = format!(
        "ok: {}, {}, {}",
        plural(loaded.suites.len(), "suite"),
        plural(loaded.case_count(), "case"),
        plural(loaded.schemas.len(), "schema")
    );
    let Some(file) = targets else {
        // No target to hold the api names against: a name that is no vendor's is told, so a
        // typo shows before `run` refuses it.
        let own: Vec<String> = (loaded.suites.iter())
            .filter(|s| !target::VENDOR_APIS.contains(&s.api.as_str()))
            .map(|s| {
                format!(
                    "{}:{}:{}: api `{}` is none of {}{}; `run` needs a targets file that lists it \
                     under `apis:` (`validate --targets FILE` checks it)",
                    s.file.display(),
                    s.api_at.line(),
                    s.api_at.column(),
                    s.api,
                    target::VENDOR_APIS.join(", "),
                    tokenconf::suite::did_you_mean(&s.api, target::VENDOR_APIS.iter())
                )
            })
            .collect();
        super::output::warn(&own);
        for line in lines {
            say!("{line}");
        }
        say!("{verdict}");
        // As in `list`: the process ends next.
        std::mem::forget(loaded);
        return Ok(Exit::Passed);
    };
    let names = match only {
        Some(name) => vec![name.to_string()],
        None => target::target_names(file)?,
    };
    let mut runnable = Vec::new();
    for name in names {
        let t = target::load_target(file, &name)?;
        // What `run` refuses before sending, refused here too.
        let warnings = tokenconf::session::cleartext(&t)?;
        let runner = Runner::new(loaded.clone(), t, false)?;
        let keys = runner.key_problems();
        if !keys.is_empty() {
            return Err(ConfigError::Usage(keys.join("\n")));
        }
        let ids = runner.case_ids();
        let refused = runner.refused_destinations(&ids);
        if !refused.is_empty() {
            return Err(ConfigError::Usage(format!(
                "{} would leave the target's origins:\n{}",
                plural(refused.len(), "request"),
                refused.join("\n")
            )));
        }
        let skipped: Vec<(CaseId, String)> = ids
            .iter()
            .filter_map(|id| runner.skip_reason(*id).map(|why| (*id, why)))
            .collect();
        // Cases that lack only what discovery fills, on an API that gives an issuer: not
        // skipped by `run`, which reads the metadata first.
        type Skips = Vec<(CaseId, String)>;
        let (waiting, skipped): (Skips, Skips) = skipped.into_iter().partition(|(id, _)| {
            let suite = &loaded.suites[id.suite];
            let issuer = runner
                .target()
                .api(&suite.api)
                .is_some_and(|a| a.issuer.is_some());
            let (vars, capabilities) = runner.missing(*id);
            issuer
                && !vars.is_empty()
                && capabilities.is_empty()
                && vars.iter().all(|v| DISCOVERED.contains(&v.as_str()))
        });
        let after = if waiting.is_empty() {
            String::new()
        } else {
            format!(" ({} of them after discovery)", waiting.len())
        };
        runnable.push(format!(
            "target {name} can run {} of {}{after}",
            ids.len() - skipped.len(),
            ids.len()
        ));
        lines.push(format!(
            "target {name}: can run {} of {}{after}",
            ids.len() - skipped.len(),
            plural(ids.len(), "case")
        ));
        for w in warnings.iter().chain(&runner.doubled_paths(&ids)) {
            lines.push(format!("  warning: {w}"));
        }
        let origins = runner.target().allowed_origins()?;
        lines.push(format!(
            "  requests, and so secrets and tokens, go only to: {}",
            origins.join(", ")
        ));
        for (api, a) in &runner.target().apis {
            for r in a.resolved() {
                let secrets: Vec<&str> = r.secrets.keys().copied().collect();
                let capabilities: Vec<&str> = r.capabilities.iter().map(String::as_str).collect();
                let label = match r.profile {
                    None => api.clone(),
                    Some(p) => format!("{api} profile {p}"),
                };
                let none_or = |names: &[&str]| {
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                };
                lines.push(format!(
                    "  {label}: {} (secrets: {}; capabilities: {})",
                    tokenconf::origin::without_userinfo(r.base_url),
                    none_or(&secrets),
                    none_or(&capabilities)
                ));
                let runs: Vec<String> = ids
                    .iter()
                    .filter(|id| loaded.suites[id.suite].api == *api)
                    .filter(|id| runner.profile_name(**id).is_ok_and(|p| p == r.profile))
                    .map(|id| runner.test_name(*id))
                    .collect();
                match r.profile {
                    // The API entry runs most cases: a count; a profile's few are named.
                    None => lines.push(format!("    runs {}", plural(runs.len(), "case"))),
                    Some(_) if runs.is_empty() => lines.push("    runs no case".to_string()),
                    Some(_) => {
                        lines.push(format!("    runs {}:", plural(runs.len(), "case")));
                        for name in runs {
                            lines.push(format!("      {name}"));
                        }
                    }
                }
            }
            // A var or secret no suite of this api declares is most likely a typo.
            let declared = |k: &String| {
                loaded
                    .suites
                    .iter()
                    .filter(|s| &s.api == api)
                    .any(|s| s.vars.contains_key(k) || s.secrets.contains(k))
            };
            let profile_keys = a
                .profiles
                .iter()
                .flat_map(|p| p.vars.keys().chain(p.secrets.keys()));
            for k in a.vars.keys().chain(a.secrets.keys()).chain(profile_keys) {
                if !declared(k) {
                    lines.push(format!(
                        "  note: `{k}` under {api} is not a var or secret of any {api} suite (a typo?)"
                    ));
                }
            }
        }
        for (i, suite) in loaded.suites.iter().enumerate() {
            let mine: Vec<&(CaseId, String)> =
                skipped.iter().filter(|(id, _)| id.suite == i).collect();
            if mine.is_empty() {
                continue;
            }
            if runner.target().api(&suite.api).is_none() {
                lines.push(format!(
                    "  skip {} ({}): no `{}` api",
                    suite.name,
                    plural(mine.len(), "case"),
                    suite.api
                ));
                continue;
            }
            for (id, why) in mine {
                lines.push(format!("  skip {}: {why}", runner.test_name(*id)));
            }
        }
        lines.extend(how_to_supply(&runner, &skipped));
        for (api, a) in &runner.target().apis {
            let Some(issuer) = &a.issuer else { continue };
            let n = waiting
                .iter()
                .filter(|(id, _)| loaded.suites[id.suite].api == *api)
                .count();
            if n == 0 {
                continue;
            }
            let urls = tokenconf::discovery::metadata_urls(issuer).unwrap_or_default();
            lines.push(format!(
                "  {api}: {} depend on discovery: `run` first reads the issuer's metadata ({}) with \
                 one unauthenticated GET of public metadata, and fills the endpoints from it; \
                 validate sends nothing",
                plural(n, "case"),
                urls.join(", else ")
            ));
        }
    }
    verdict = format!("{verdict}; {}", runnable.join("; "));
    for line in lines {
        say!("{line}");
    }
    say!("{verdict}");
    Ok(Exit::Passed)
}

/// The vars discovery fills from an issuer's metadata.
const DISCOVERED: &[&str] = &[
    "token_path",
    "authorize_path",
    "revocation_path",
    "introspection_path",
    "issuer",
    "metadata_path",
];

/// `1 case`, `2 cases`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// For the skipped cases' missing vars, secrets and capabilities, each once: where to set it
/// in the targets file and what it is for (the comment above it in the suite, or a line of
/// [`SECRET_DOCS`]), and how many cases it would let run.
fn how_to_supply(runner: &Runner, skipped: &[(CaseId, String)]) -> Vec<String> {
    // (api, where in the targets file, name), what it is for, cases.
    let mut wanted: Vec<(Wanted, Option<String>, usize)> = Vec::new();
    for (id, _) in skipped {
        let suite = &runner.loaded().suites[id.suite];
        if runner.target().api(&suite.api).is_none() {
            continue;
        }
        let (mut vars, capabilities) = runner.missing(*id);
        // Discovery fills these on an API that gives an issuer.
        if runner
            .target()
            .api(&suite.api)
            .is_some_and(|a| a.issuer.is_some())
        {
            vars.retain(|v| !DISCOVERED.contains(&v.as_str()));
        }
        let keys: Vec<&str> = suite.jwts.iter().flat_map(|j| j.key.variables()).collect();
        let items = vars
            .into_iter()
            .map(|v| {
                let place = if keys.contains(&v.as_str()) {
                    "secret_files"
                } else if suite.secrets.contains(&v) {
                    "secrets"
                } else {
                    "vars"
                };
                (place, v)
            })
            .chain(capabilities.into_iter().map(|c| ("capabilities", c)));
        for (place, name) in items {
            let key = (suite.api.clone(), place, name);
            match wanted.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, doc, n)) => {
                    *n += 1;
                    if doc.is_none() {
                        *doc = var_doc(&suite.file, runner.loaded().built_in, &key.2);
                    }
                }
                None => {
                    let doc = match place {
                        "capabilities" => None,
                        _ => var_doc(&suite.file, runner.loaded().built_in, &key.2),
                    };
                    wanted.push((key, doc, 1));
                }
            }
        }
    }
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut out =
        vec!["  to run the skipped cases, set under the API in the targets file:".to_string()];
    for ((api, place, name), doc, n) in wanted {
        let what = match place {
            "capabilities" => format!("`{name}` in `capabilities:`"),
            "vars" => format!("`vars.{name}`"),
            _ => format!("`{place}.{name}: \"${{ENV_VAR}}\"`"),
        };
        let doc = doc.map(|d| format!(": {d}")).unwrap_or_default();
        out.push(format!(
            "    {what} under `{api}` ({}){doc}",
            plural(n, "case")
        ));
    }
    out
}

/// A value to set: its API, where under it in the targets file (`vars`, `secrets`,
/// `secret_files`, `capabilities`), and its name.
type Wanted = (String, &'static str, String);

/// What secrets that suites list without a comment are for.
const SECRET_DOCS: &[(&str, &str)] = &[
    ("client_secret", "the client's secret"),
    (
        "refresh_token",
        "a refresh token issued to the client, e.g. by an earlier code flow",
    ),
    (
        "signing_key",
        "the PEM private key the client signs its assertions with",
    ),
    ("second_client_secret", "the second client's secret"),
    ("special_client_secret", "the special client's secret"),
];

/// The comment above `name:` in a suite file (its `vars:` entry), with where it is:
/// `A scope this client may not be granted… (suites/oauth2/token.yaml:12)`.
fn var_doc(file: &Path, built_in: bool, name: &str) -> Option<String> {
    // A built-in suite's path names no file on disk (one there would be somebody else's).
    let text = if built_in {
        let bytes = tokenconf::suite::builtin::suite_text(file)?;
        String::from_utf8(bytes.into_owned()).ok()?
    } else {
        tokenconf::suite::input::read_text(file, tokenconf::suite::input::FileKind::Suite).ok()?
    };
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| {
        l.starts_with(' ')
            && l.trim_start()
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(':'))
    });
    let comment = at.map(|i| {
        let mut doc: Vec<&str> = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with('#'))
            .map(|l| l.trim_start().trim_start_matches('#').trim())
            .collect();
        doc.reverse();
        doc.join(" ")
    });
    match (comment, at) {
        (Some(doc), Some(i)) if !doc.is_empty() => {
            Some(format!("{doc} ({}:{})", file.display(), i + 1))
        }
        _ => SECRET_DOCS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d.to_string()),
    }
}

pub async fn serve_mock(
    host: IpAddr,
    port: u16,
    drifts: &[&'static str],
    list_drifts: bool,
    profile: mock::Profile,
) -> Result<Exit, ConfigError> {
    if list_drifts {
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
        return Ok(Exit::Passed);
    }
    if let Some(warning) = mock::bind_warning(host) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {warning}");
    }
    let config = MockConfig {
        drifts: drifts.iter().copied().collect(),
        ..MockConfig::for_profile(profile)
    };
    let addr = SocketAddr::new(host, port);
    let server = mock::start(config, addr)
        .await
        .map_err(|source| ConfigError::Mock { addr, source })?;
    say!("tokenconf mock listening on {}", server.base_url());
    if profile != mock::Profile::Full {
        say!("profile: {}", profile.name());
    }
    if !drifts.is_empty() {
        say!("drifting on purpose: {}", drifts.join(", "));
    }
    for (what, url) in server.endpoints() {
        say!("  {what:<28} {url}");
    }
    say!("credentials: see README.md (\"The embedded mock\"); Ctrl-C stops");
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    server.stop().await;
    Ok(Exit::Passed)
}

pub fn rules() -> Exit {
    let known = KnownDeviations::built_in();
    say!(
        "known deviations from {} (built in; `tokenconf run --known-deviations FILE` reads FILE instead)",
        known.files.join(", ")
    );
    for set in rules::sets() {
        say!("{}: {}", set.name, set.summary);
        for r in set.members() {
            let level = if set.deviates(r.id, &known) {
                "KNOWN-DEVIATION"
            } else {
                r.level.name()
            };
            say!("  {:<34} {:<8} {}  {}", r.id, level, r.title, r.source);
        }
    }
    Exit::Passed
}

/// What each plain check of a case (its finding id's first word) holds a response against.
const CHECKS: &[(&str, &str)] = &[
    (
        "status",
        "the check of a step's `status:` expectation: the response's HTTP status is the one (or one of those) the case expects",
    ),
    (
        "json",
        "a check of a step's `json:` expectation: the value at a JSONPath (`json $.expires_in`) satisfies its predicate (equals, type, min, one_of, ...)",
    ),
    (
        "header",
        "a check of a step's `headers:` expectation: a response header (`header cache-control`) is present, or satisfies its predicate",
    ),
    (
        "schema",
        "the check of a step's `schema:` expectation: the JSON body is valid against that JSON Schema (2020-12) under specs/",
    ),
];

/// `tokenconf explain ID`: a rule, a rule set (what suites name in `rules:`), or a plain check.
pub fn explain(id: &str) -> Result<Exit, ConfigError> {
    if let Some(set) = rules::find_set(id) {
        explain_set(set);
        return Ok(Exit::Passed);
    }
    let word = id.split_whitespace().next().unwrap_or_default();
    if let Some((name, what)) = CHECKS.iter().find(|(c, _)| c.eq_ignore_ascii_case(word)) {
        say!("{id}: a check, not a rule ({name})\n{what}");
        return Ok(Exit::Passed);
    }
    let Some(rule) = rules::find_rule(id) else {
        let known: Vec<&str> = rules::all_rules()
            .iter()
            .map(|r| r.id)
            .chain(rules::sets().iter().map(|s| s.name))
            .chain(CHECKS.iter().map(|(c, _)| *c))
            .collect();
        let hint = tokenconf::suite::did_you_mean(id, known.iter().copied());
        return Err(ConfigError::Usage(format!(
            "no rule, rule set or check {id:?}{hint}; `tokenconf rules` lists them"
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
    let known = KnownDeviations::built_in();
    for set in rules::sets() {
        if let Some(d) = set.deviation(rule.id, &known) {
            say!(
                "a known deviation under {} ({}, built in): {}",
                set.name,
                known.files.join(", "),
                d.reason
            );
        }
    }
    Ok(Exit::Passed)
}

fn explain_set(set: &'static rules::RuleSet) {
    say!("{} (rule set)\n{}", set.name, set.summary);
    if !set.includes.is_empty() {
        let names: Vec<&str> = set.includes.iter().map(|s| s.name).collect();
        say!("includes: {}", names.join(", "));
    }
    let members = set.members();
    say!("\n{} rule(s):", members.len());
    for rule in members {
        say!("  {}  {}  {}", rule.id, rule.level.name(), rule.title);
    }
}

/// The file whose JSON Schema `tokenconf schema` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SchemaOf {
    /// A suite (suites/**/*.yaml).
    Suite,
    /// A targets file (--targets).
    Targets,
    /// An expected-findings file (--expected).
    Expected,
}

pub fn schema(of: SchemaOf) -> Exit {
    let format = match of {
        SchemaOf::Suite => FileFormat::Suite,
        SchemaOf::Targets => FileFormat::Targets,
        SchemaOf::Expected => FileFormat::Expected,
    };
    let _ = std::io::stdout()
        .lock()
        .write_all(schema_doc::to_json(format).as_bytes());
    Exit::Passed
}

/// `tokenconf suites export DIR`.
pub fn export_suites(dir: &Path) -> Result<Exit, ConfigError> {
    let written = tokenconf::suite::builtin::export(dir)?;
    let suites = written
        .iter()
        .filter(|p| p.starts_with(dir.join(tokenconf::suite::builtin::SUITES_DIR)))
        .count();
    say!(
        "wrote {suites} suites and {} specs under {}; run them with: tokenconf run {}",
        written.len() - suites,
        dir.display(),
        dir.display()
    );
    Ok(Exit::Passed)
}
