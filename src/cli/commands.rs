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
use tokenconf::suite::{Case, Suite};
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
    // Buffered: stdout alone is flushed at every line, a write per test name.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for s in &loaded.suites {
        for c in &s.cases {
            let name = format!("{}::{}", s.name, c.slug);
            let mut line = name;
            if sources {
                line = format!("{line}  {}", basis(s, c));
            }
            if origin {
                let from = if loaded.built_in { "built in: " } else { "" };
                line = format!("{line}  {from}{}", s.file.display());
            }
            let _ = writeln!(out, "{}", tokenconf::report::escape_control(&line));
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
    say!(
        "ok: {} suites, {} cases, {} schemas",
        loaded.suites.len(),
        loaded.case_count(),
        loaded.schemas.len()
    );
    for s in &loaded.suites {
        let all: usize = s.cases.iter().map(expectations).sum();
        say!(
            "  {}: {} of {all} expectations assumed",
            s.name,
            s.assumed_count()
        );
    }
    let Some(file) = targets else {
        // As in `list`: the process ends next.
        std::mem::forget(loaded);
        return Ok(Exit::Passed);
    };
    let names = match only {
        Some(name) => vec![name.to_string()],
        None => target::target_names(file)?,
    };
    for name in names {
        let t = target::load_target(file, &name)?;
        let runner = Runner::new(loaded.clone(), t, false)?;
        let ids = runner.case_ids();
        let skipped: Vec<(CaseId, String)> = ids
            .iter()
            .filter_map(|id| runner.skip_reason(*id).map(|why| (*id, why)))
            .collect();
        say!(
            "target {name}: can run {} of {} cases",
            ids.len() - skipped.len(),
            ids.len()
        );
        let origins = runner.target().allowed_origins()?;
        say!(
            "  requests, and so secrets and tokens, go only to: {}",
            origins.join(", ")
        );
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
                say!(
                    "  {label}: {} (secrets: {}; capabilities: {})",
                    without_userinfo(r.base_url),
                    none_or(&secrets),
                    none_or(&capabilities)
                );
                let runs: Vec<String> = ids
                    .iter()
                    .filter(|id| loaded.suites[id.suite].api == *api)
                    .filter(|id| runner.profile_name(**id).is_ok_and(|p| p == r.profile))
                    .map(|id| runner.test_name(*id))
                    .collect();
                match r.profile {
                    // The API entry runs most cases: a count; a profile's few are named.
                    None => say!("    runs {} cases", runs.len()),
                    Some(_) if runs.is_empty() => say!("    runs no case"),
                    Some(_) => {
                        say!("    runs {} cases:", runs.len());
                        for name in runs {
                            say!("      {name}");
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
                    say!("  note: `{k}` under {api} is not a var or secret of any {api} suite (a typo?)");
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
    Ok(Exit::Passed)
}

/// A URL as `validate` shows it: any user name or password in it masked.
fn without_userinfo(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("***");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => "(not a URL)".to_string(),
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

pub fn explain(id: &str) -> Result<Exit, ConfigError> {
    let Some(rule) = rules::find_rule(id) else {
        return Err(ConfigError::Usage(format!(
            "no rule {id:?}; `tokenconf rules` lists them"
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
