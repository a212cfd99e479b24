//! From YAML files to the checked, compiled model. Every problem is found before any request is sent,
//! and reported with file:line:column.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use indexmap::IndexMap;

use super::builtin;
use super::cache::ParseCache;
use super::model::{
    AuthFile, CaptureFile, CaseFile, ExpectFile, FixtureFile, JwtFile, JwtKind, PredicateFile,
    RequestFile, Scalar, StatusFile, StepFile, SuiteFile, WaitFile,
};
use super::schema::{SchemaRegistry, Specs};
use super::template::{JsonTemplate, Template};
use super::yaml::{self, Location, Spanned};
use super::*;
use crate::error::{ConfigError, SourceError};
use crate::suite::input::FileKind;

/// Loads every suite under `paths` (files, or folders searched for `*.yaml`), compiling the
/// schemas they name from `specs_dir`. `rule_sets` are the names a suite's `rules:` may use; the
/// model keeps indices into it, so this module needs nothing from the rule library.
pub fn load(
    paths: &[PathBuf],
    specs_dir: &Path,
    rule_sets: &[&str],
) -> Result<Loaded, ConfigError> {
    load_from(
        &SuiteSource::Paths(paths.to_vec()),
        &Specs::Dir(specs_dir.to_path_buf()),
        rule_sets,
    )
}

/// Loads the suites of `source` (files and folders, or the built-in ones), compiling the
/// schemas they name from `specs`.
pub fn load_from(
    source: &SuiteSource,
    specs: &Specs,
    rule_sets: &[&str],
) -> Result<Loaded, ConfigError> {
    let mut files = Vec::new();
    match source {
        SuiteSource::Paths(paths) => {
            for path in paths {
                for (file, name) in suite_files(path)? {
                    // The same file reached twice (`suites suites/talkdesk`) is loaded once.
                    let same =
                        |i: &Input| i.name == name && i.text.is_none() && same_file(&i.file, &file);
                    if !files.iter().any(same) {
                        files.push(Input {
                            file,
                            name,
                            text: None,
                        });
                    }
                }
            }
        }
        SuiteSource::BuiltIn => files.extend(builtin::suites().into_iter().map(|s| Input {
            file: s.file,
            name: s.name,
            text: Some(s.text),
        })),
    }
    let schemas = Mutex::new(SchemaRegistry::default());
    let mut suites: Vec<Suite> = Vec::new();
    let mut errors = Vec::new();
    let mut hashes = Vec::new();
    let cache = ParseCache::from_env();
    let compiled = compile_files(&files, specs, rule_sets, &schemas, &cache);
    for (input, compiled) in files.iter().zip(compiled) {
        let (hash, compiled) = compiled?;
        match compiled {
            Ok(suite) => {
                if let Some(other) = suites.iter().find(|s| s.name == suite.name) {
                    return Err(ConfigError::File {
                        path: input.file.clone(),
                        message: format!(
                            "suite name {:?} is already used by {} (a suite is named by its path \
                             below the nearest folder named `suites`, else by its file's stem; \
                             give one of them its own `suite:` name)",
                            suite.name,
                            other.file.display()
                        ),
                    });
                }
                hashes.push((suite.name.clone(), hash));
                suites.push(suite)
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let schemas = schemas.into_inner().unwrap_or_else(|p| p.into_inner());
    let warnings = cache.warning().map(str::to_string).into_iter().collect();
    hashes.extend(
        schemas
            .iter()
            .map(|s| (format!("specs/{}", s.name), s.hash)),
    );
    Ok(Loaded {
        suites,
        schemas,
        built_in: matches!(source, SuiteSource::BuiltIn),
        digest: digest(hashes),
        warnings,
    })
}

/// One hash over every suite and schema a run loaded, by name: the same files give the same
/// digest wherever they were read from (built in, or exported to a folder).
fn digest(mut hashes: Vec<(String, u64)>) -> String {
    hashes.sort();
    let mut text = String::new();
    for (name, hash) in hashes {
        text.push_str(&format!("{name}\0{hash:016x}\n"));
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// A suite to compile: its file (as errors name it), default name, and its text if built in.
struct Input {
    file: PathBuf,
    name: String,
    text: Option<std::borrow::Cow<'static, [u8]>>,
}

/// A file's text hash, and its suite or what is wrong with it.
type Compiled = Result<(u64, Result<Suite, Vec<SourceError>>), ConfigError>;

/// Each file read, parsed and compiled, in the order of `files`, on every core. A file's YAML
/// model is dropped as soon as it is compiled: holding every file's at once was most of the
/// peak memory of a large run.
fn compile_files(
    files: &[Input],
    specs: &Specs,
    rule_sets: &[&str],
    schemas: &Mutex<SchemaRegistry>,
    cache: &ParseCache,
) -> Vec<Compiled> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A file is read on several cores only when it is more than one core's share of all the
    // files: otherwise the files keep the cores busy, and threads of its own for its parts cost
    // more than they gave (20 files of 500 cases: `list` 51 -> 41 ms without them).
    let total: u64 = files
        .iter()
        .map(|input| match &input.text {
            Some(bytes) => bytes.len() as u64,
            None => std::fs::metadata(&input.file).map_or(0, |m| m.len()),
        })
        .sum();
    let share = total / cores as u64;
    let one = |input: &Input| -> Compiled {
        let (file, default_name) = (&input.file, &input.name);
        let text = match &input.text {
            Some(bytes) => String::from_utf8(bytes.to_vec()).map_err(|_| ConfigError::File {
                path: file.clone(),
                message: "a built-in suite is not UTF-8 (a tokenconf bug; please report it)".into(),
            })?,
            None => crate::suite::input::read_text(file, FileKind::Suite)?,
        };
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        let head = |raw, cases| {
            let (head, mut suite) = Head::new(
                raw,
                &text,
                file,
                default_name.clone(),
                specs,
                rule_sets,
                schemas,
            );
            // Sized at once: grown part by part, 10,000 cases were copied four times over.
            // A number from the cache's index, bounded by its size; a failed reservation would
            // abort, so the cases then grow as they come.
            let _ = suite.cases.try_reserve_exact(cases);
            (head, suite)
        };
        // A cached model's parts of cases are compiled on the threads that read them.
        let spread = cores > 1 && text.len() as u64 > share;
        let compiled = match cache.get_with(&text, spread, head, Head::part, Head::finish) {
            Some(compiled) => compiled,
            None => match yaml::parse::<SuiteFile>(&text, file) {
                Ok(mut raw) => {
                    cache.put(&text, &mut raw);
                    Head::whole(raw, head)
                }
                Err(e) => Err(vec![e]),
            },
        };
        Ok((hash, compiled))
    };
    let threads = cores.min(files.len());
    if threads <= 1 {
        return files.iter().map(one).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<Compiled>> = (0..files.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break };
                        done.push((i, one(file)));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            // A parser that panics is a bug in it; the file is then reported unreadable.
            if let Ok(done) = worker.join() {
                for (i, compiled) in done {
                    slots[i] = Some(compiled);
                }
            }
        }
    });
    slots
        .into_iter()
        .zip(files)
        .map(|(slot, input)| {
            slot.unwrap_or_else(|| {
                Err(ConfigError::File {
                    path: input.file.clone(),
                    message:
                        "the YAML parser failed on this file (a tokenconf bug; please report it)"
                            .into(),
                })
            })
        })
        .collect()
}

/// `(file, default suite name)` for a file, or for every YAML file below a folder, sorted.
fn suite_files(path: &Path) -> Result<Vec<(PathBuf, String)>, ConfigError> {
    let meta = std::fs::metadata(path).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    if meta.is_file() {
        return Ok(vec![(path.to_path_buf(), name_for_file(path))]);
    }
    if !meta.is_dir() {
        // A device or pipe named as a suite: refused, saying what it is.
        crate::suite::input::read_bytes(path, FileKind::Suite)?;
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry = entry.map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let p = entry.path();
        let is_yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        if entry.file_type().is_file() && is_yaml {
            let name = name_below_suites(p).unwrap_or_else(|| {
                let rel = p.strip_prefix(path).unwrap_or(p).with_extension("");
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            });
            out.push((p.to_path_buf(), name));
        }
    }
    Ok(out)
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// `suites/talkdesk/token.yaml` is `talkdesk/token`; a file outside a `suites` folder is its stem.
fn name_for_file(path: &Path) -> String {
    name_below_suites(path).unwrap_or_else(|| {
        let stem = path.file_stem().unwrap_or(path.as_os_str());
        stem.to_string_lossy().into_owned()
    })
}

/// The path of a suite file below the nearest folder named `suites` above it, without its
/// extension: `talkdesk/token` however the file was reached (`suites`, `suites/talkdesk`,
/// the file itself, `.` from inside `suites`), so names, expected-findings files and shards
/// do not change with the command line. Read from the absolute path, so a relative one that
/// starts inside `suites` still finds it.
fn name_below_suites(path: &Path) -> Option<String> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut parts: Vec<String> = Vec::new();
    for c in absolute.with_extension("").components() {
        match c {
            std::path::Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let i = parts.iter().rposition(|p| p == "suites")?;
    (i + 1 < parts.len()).then(|| parts[i + 1..].join("/"))
}

/// Loads one suite from its text; all problems found, not just the first.
pub fn load_text(
    text: &str,
    file: &Path,
    default_name: String,
    specs_dir: &Path,
    rule_sets: &[&str],
    schemas: &mut SchemaRegistry,
) -> Result<Suite, Vec<SourceError>> {
    let raw: SuiteFile = yaml::parse(text, file).map_err(|e| vec![e])?;
    let shared = Mutex::new(std::mem::take(schemas));
    let specs = Specs::Dir(specs_dir.to_path_buf());
    let suite = Head::whole(raw, |raw, _| {
        Head::new(raw, text, file, default_name, &specs, rule_sets, &shared)
    });
    *schemas = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    suite
}

/// A suite file compiled but for its cases, with what compiling them needs. Its cases are
/// compiled in parts, each on any thread ([`Head::part`]), then put in order
/// ([`Head::finish`]): a large cached file's parts are compiled where they are read.
struct Head<'a> {
    /// The suite-wide state, and the problems found so far.
    compiler: Compiler<'a>,
    scope: CaseScope,
}

/// What every case of a suite is compiled against.
struct CaseScope {
    /// The suite's vars and secrets, `base_url` and its jwts: what `requires` may name.
    base: BTreeSet<String>,
    /// What a case's templates may use at its start: `base`, and the fixtures' captures.
    known: BTreeSet<String>,
    /// Per fixture, the names its templates use.
    fixture_uses: Vec<BTreeSet<String>>,
    secrets: Vec<String>,
    source: Option<Source>,
    profile: Option<String>,
}

/// A case compiled on its own, with its problems. Whether its test name is another case's is
/// known only in order: that problem goes in at `name_errors_at`, where it is found in a file.
struct PartCase {
    case: Case,
    errors: Vec<SourceError>,
    name_at: Location,
    name_errors_at: usize,
}

impl<'a> Head<'a> {
    /// `raw` checked and compiled but for its cases, which it must not hold; the suite has
    /// no cases yet.
    #[allow(clippy::too_many_arguments)]
    fn new(
        raw: SuiteFile,
        text: &'a str,
        file: &'a Path,
        default_name: String,
        specs: &'a Specs,
        rule_sets: &'a [&'a str],
        schemas: &'a Mutex<SchemaRegistry>,
    ) -> (Head<'a>, Suite) {
        let mut compiler = Compiler {
            file,
            text,
            specs,
            rule_sets,
            schemas,
            errors: Vec::new(),
            known: BTreeSet::new(),
            url_known: BTreeSet::new(),
            fixture_names: Vec::new(),
            used_fixtures: BTreeSet::new(),
            used_names: BTreeSet::new(),
            jwt_uses: Vec::new(),
            jwt_names: Vec::new(),
            step_jwts: BTreeSet::new(),
        };
        debug_assert!(raw.cases.is_empty(), "a head's cases come in parts");
        let (suite, scope) = compiler.suite(raw, default_name);
        (Head { compiler, scope }, suite)
    }

    /// A whole parsed file, its cases compiled on this thread.
    fn whole(
        mut raw: SuiteFile,
        head: impl FnOnce(SuiteFile, usize) -> (Head<'a>, Suite),
    ) -> Result<Suite, Vec<SourceError>> {
        let cases = std::mem::take(&mut raw.cases);
        let (head, suite) = head(raw, cases.len());
        let part = head.part(cases);
        head.finish(suite, &mut std::iter::once(part))
    }

    /// `cases` compiled, each on its own.
    fn part(&self, cases: Vec<Spanned<Box<CaseFile>>>) -> Vec<PartCase> {
        let mut c = self.compiler.for_cases();
        cases
            .into_iter()
            .map(|case| c.case(&self.scope, case))
            .collect()
    }

    /// The suite with the cases of `parts`, in order; every problem, in the file's order.
    fn finish(
        &self,
        mut suite: Suite,
        parts: &mut dyn Iterator<Item = Vec<PartCase>>,
    ) -> Result<Suite, Vec<SourceError>> {
        let compiler = &self.compiler;
        let mut found = compiler.errors.clone();
        // Slugs seen, hashed: a scan of the earlier cases made a 100,000-case file quadratic.
        let mut slugs =
            foldhash::HashSet::with_capacity_and_hasher(suite.cases.capacity(), Default::default());
        for part in parts {
            for PartCase {
                case,
                mut errors,
                name_at,
                name_errors_at,
            } in part
            {
                if !case.slug.is_empty() && !slugs.insert(case.slug.clone()) {
                    let message = format!(
                        "another case in this suite has the same test name `{}`",
                        case.slug
                    );
                    let e = yaml::error_at(compiler.file, compiler.text, name_at, message);
                    errors.insert(name_errors_at.min(errors.len()), e);
                }
                found.append(&mut errors);
                suite.cases.push(case);
            }
        }
        if suite.cases.is_empty() && found.is_empty() {
            found.push(SourceError {
                file: compiler.file.to_path_buf(),
                line: 1,
                column: 1,
                message: "the suite has no cases".into(),
                rendered: format!(
                    "error: the suite has no cases\n --> {}",
                    compiler.file.display()
                ),
            });
        }
        if found.is_empty() {
            Ok(suite)
        } else {
            Err(found)
        }
    }
}

/// `client credentials with basic auth` → `client-credentials-with-basic-auth`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_alphanumeric() {
            out.extend(ch.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

struct Compiler<'a> {
    file: &'a Path,
    text: &'a str,
    specs: &'a Specs,
    rule_sets: &'a [&'a str],
    schemas: &'a Mutex<SchemaRegistry>,
    errors: Vec<SourceError>,
    /// Names a template may use at this point.
    known: BTreeSet<String>,
    /// The suite's vars and secrets: what a `dpop:` request's URL may be built from.
    url_known: BTreeSet<String>,
    fixture_names: Vec<String>,
    /// Fixtures the current case's templates use.
    used_fixtures: BTreeSet<usize>,
    /// Every known name the templates compiled since the last clear refer to.
    used_names: BTreeSet<String>,
    /// Per jwt, the names its key, kid and claims refer to.
    jwt_uses: Vec<BTreeSet<String>>,
    jwt_names: Vec<String>,
    /// `jwts` the current step's request uses.
    step_jwts: BTreeSet<usize>,
}

impl<'a> Compiler<'a> {
    fn error(&mut self, at: Location, message: impl Into<String>) {
        self.errors
            .push(yaml::error_at(self.file, self.text, at, message));
    }

    /// A copy for compiling cases on another thread: the suite-wide names, no problems yet.
    fn for_cases(&self) -> Compiler<'a> {
        Compiler {
            errors: Vec::new(),
            known: BTreeSet::new(),
            url_known: self.url_known.clone(),
            fixture_names: self.fixture_names.clone(),
            used_fixtures: BTreeSet::new(),
            used_names: BTreeSet::new(),
            jwt_uses: self.jwt_uses.clone(),
            jwt_names: self.jwt_names.clone(),
            step_jwts: BTreeSet::new(),
            ..*self
        }
    }

    /// The suite without its cases, and what its cases are compiled against.
    fn suite(&mut self, raw: SuiteFile, default_name: String) -> (Suite, CaseScope) {
        let name = match raw.suite {
            Some(s) if s.value.trim().is_empty() => {
                self.error(s.referenced, "`suite` must not be empty");
                default_name
            }
            Some(s) => s.value,
            None => default_name,
        };
        if raw.api.value.trim().is_empty() {
            self.error(
                raw.api.referenced,
                "`api` must name the API this suite talks to, e.g. talkdesk",
            );
        }
        let suite_source = self.source(raw.source.as_ref());
        let suite_profile = raw.profile.as_ref().map(|p| self.profile_name(p));
        let vars: IndexMap<String, String> = raw
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.value.0.clone()))
            .collect();
        let mut secrets = Vec::new();
        for s in &raw.secrets {
            if vars.contains_key(&s.value) {
                self.error(
                    s.referenced,
                    format!(
                        "`{}` is declared under both vars and secrets; a secret has no default",
                        s.value
                    ),
                );
            }
            secrets.push(s.value.clone());
        }
        let base: BTreeSet<String> = vars
            .keys()
            .cloned()
            .chain(secrets.iter().cloned())
            .chain(["base_url".to_string(), DPOP_JKT_VAR.to_string()])
            .collect();

        self.known = base.clone();
        self.url_known = base.clone();
        let mut jwts = Vec::new();
        for (jname, spec) in raw.jwts {
            if !is_name(&jname) {
                self.error(
                    spec.referenced,
                    format!("jwt name {jname:?} must be letters, digits and `_`"),
                );
            }
            self.used_names.clear();
            if let Some(j) = self.jwt(jname.clone(), spec) {
                jwts.push(j);
            }
            self.jwt_uses.push(std::mem::take(&mut self.used_names));
            self.jwt_names.push(jname);
        }
        let base: BTreeSet<String> = base
            .into_iter()
            .chain(self.jwt_names.iter().map(|n| format!("jwt.{n}")))
            .collect();

        let mut fixtures = Vec::new();
        let mut fixture_uses: Vec<BTreeSet<String>> = Vec::new();
        let mut exported = BTreeSet::new();
        for (fname, fx) in raw.fixtures {
            if !is_name(&fname) {
                self.error(
                    fx.referenced,
                    format!("fixture name {fname:?} must be letters, digits and `_`"),
                );
            }
            self.known = base.clone();
            let FixtureFile {
                request,
                expect,
                capture,
                steps,
            } = fx.value;
            self.used_names.clear();
            let steps = self.steps(request, expect, capture, steps, fx.referenced, "fixture");
            let names = std::mem::take(&mut self.used_names);
            fixture_uses.push(self.with_jwt_uses(names));
            for step in &steps {
                for cap in &step.captures {
                    exported.insert(format!("{fname}.{}", cap.name));
                }
            }
            self.fixture_names.push(fname.clone());
            fixtures.push(Fixture { name: fname, steps });
        }
        // What every case starts knowing, built once: rebuilt per case it was 3% of a `list`.
        let known: BTreeSet<String> = base.union(&exported).cloned().collect();
        let suite = Suite {
            name,
            file: self.file.to_path_buf(),
            api_at: raw.api.referenced,
            api: raw.api.value,
            doc: raw.doc,
            source: suite_source.clone(),
            vars,
            secrets,
            fixtures,
            jwts,
            cases: Vec::new(),
        };
        let scope = CaseScope {
            base,
            known,
            fixture_uses,
            secrets: suite.secrets.clone(),
            source: suite_source,
            profile: suite_profile,
        };
        (suite, scope)
    }

    /// One case, compiled against its suite's `scope`.
    fn case(&mut self, scope: &CaseScope, case: Spanned<Box<CaseFile>>) -> PartCase {
        let errors_before = self.errors.len();
        let at = case.referenced;
        let CaseFile {
            name,
            doc,
            source,
            requires,
            profile,
            request,
            expect,
            capture,
            steps,
        } = *case.value;
        let source = self.source(source.as_ref());
        let profile = profile
            .as_ref()
            .map(|p| self.profile_name(p))
            .or_else(|| scope.profile.clone());
        let slug = slug(&name.value);
        let name_errors_at = self.errors.len() - errors_before;
        if slug.is_empty() {
            self.error(
                name.referenced,
                "a case needs a name with letters or digits",
            );
        }
        let mut required = Vec::new();
        let mut capabilities = Vec::new();
        for r in requires {
            let is_var = scope.base.contains(&r.value) && r.value != "base_url";
            if !is_var && crate::capability::is_capability(&r.value) {
                capabilities.push(r.value);
                continue;
            }
            if !is_var {
                let names: Vec<String> = scope
                    .base
                    .iter()
                    .cloned()
                    .chain(crate::capability::all().map(String::from))
                    .collect();
                let hint = did_you_mean(&r.value, names.iter());
                self.error(
                    r.referenced,
                    format!(
                        "`requires` names `{}`, which is neither a var, a secret nor a capability{hint}",
                        r.value
                    ),
                );
            }
            required.push(r.value);
        }
        if self.known != scope.known {
            self.known.clone_from(&scope.known);
        }
        self.used_fixtures.clear();
        self.used_names.clear();
        let mut steps = self.steps(request, expect, capture, steps, at, "case");
        if guessed(source.as_ref().or(scope.source.as_ref())) {
            // Every expectation, not the rules: each rule cites its own clause. A vendor page
            // cited without a stored passage backs nothing we can show: assumed by default.
            for step in &mut steps {
                step.expect.assumed = step.expect.names();
            }
        }
        let names = std::mem::take(&mut self.used_names);
        let mut uses = self.with_jwt_uses(names);
        for &f in &self.used_fixtures {
            uses.extend(scope.fixture_uses.get(f).into_iter().flatten().cloned());
        }
        let needs = scope
            .secrets
            .iter()
            .filter(|s| uses.contains(*s))
            .cloned()
            .collect();
        PartCase {
            case: Case {
                line: name.referenced.line(),
                name: name.value,
                slug,
                doc,
                source,
                requires: required,
                capabilities,
                profile,
                fixtures: self.used_fixtures.iter().copied().collect(),
                needs,
                steps,
            },
            errors: self.errors.split_off(errors_before),
            name_at: name.referenced,
            name_errors_at,
        }
    }

    /// `assumed` (our guess), or the document or clause as written.
    fn source(&mut self, s: Option<&Spanned<String>>) -> Option<Source> {
        let s = s?;
        let text = s.value.trim();
        if text.is_empty() {
            self.error(
                s.referenced,
                "`source` names a vendor document (URL), an RFC clause, or `assumed`",
            );
            return None;
        }
        if super::sources::citation(text).is_some() {
            if let Err(why) = super::sources::passage(self.specs, text) {
                self.error(s.referenced, why);
            }
        }
        Some(if text == "assumed" {
            Source::Assumed
        } else {
            Source::Document(text.to_string())
        })
    }

    fn profile_name(&mut self, p: &Spanned<String>) -> String {
        if !is_name(&p.value) {
            self.error(
                p.referenced,
                format!("profile name {:?} must be letters, digits and `_`", p.value),
            );
        }
        p.value.clone()
    }

    /// `names` plus what the jwts among them need (their keys are secrets).
    fn with_jwt_uses(&self, mut names: BTreeSet<String>) -> BTreeSet<String> {
        let jwts: Vec<usize> = names
            .iter()
            .filter_map(|n| n.strip_prefix("jwt."))
            .filter_map(|j| self.jwt_names.iter().position(|n| n == j))
            .collect();
        for j in jwts {
            names.extend(self.jwt_uses.get(j).into_iter().flatten().cloned());
        }
        names
    }

    fn jwt(&mut self, name: String, spec: Spanned<JwtFile>) -> Option<JwtSpec> {
        let JwtFile {
            alg,
            key,
            kid,
            typ,
            kind,
            claims,
        } = spec.value;
        let parsed_alg = match alg.value.parse::<jsonwebtoken::Algorithm>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(
                    alg.referenced,
                    format!("{:?} is not a JWT algorithm: use RS256, RS512, PS256, ES256, ES384, EdDSA or HS256", alg.value),
                );
                None
            }
        };
        let key_t = self.template(&key.value, key.referenced);
        let kid = kid.map(|k| self.template(&k.value, k.referenced));
        let Some(members) = claims.value.as_object() else {
            self.error(
                claims.referenced,
                "`claims` is a map of claim names to values",
            );
            return None;
        };
        if let Some(kind) = &kind {
            let required: &[&str] = match kind.value {
                JwtKind::ClientAssertion => &["iss", "sub", "aud", "jti", "exp"],
                JwtKind::JwtBearer => &["iss", "sub", "aud", "exp"],
                JwtKind::IdentityToken => &["iss", "sub", "exp"],
            };
            let missing: Vec<&str> = required
                .iter()
                .copied()
                .filter(|c| !members.contains_key(*c))
                .collect();
            if !missing.is_empty() {
                self.error(
                    claims.referenced,
                    format!(
                        "jwt `{name}` lacks the claims RFC 7523 requires for this kind: {}",
                        missing.join(", ")
                    ),
                );
            }
            if kind.value == JwtKind::ClientAssertion && members.get("iss") != members.get("sub") {
                self.error(claims.referenced, format!("jwt `{name}`: a client assertion has iss = sub = the client id (RFC 7523 §3)"));
            }
        }
        let claims_t = self.json_template(&claims.value, claims.referenced);
        Some(JwtSpec {
            name,
            alg: parsed_alg?,
            key: key_t,
            kid,
            typ,
            claims: claims_t,
        })
    }

    fn steps(
        &mut self,
        request: Option<Box<RequestFile>>,
        expect: Option<ExpectFile>,
        capture: IndexMap<String, Spanned<CaptureFile>>,
        steps: Option<Vec<StepFile>>,
        at: Location,
        what: &str,
    ) -> Vec<Step> {
        match (request, steps) {
            (Some(request), None) => vec![self.step(None, None, request, expect, capture)],
            (None, Some(steps)) => {
                if expect.is_some() || !capture.is_empty() {
                    self.error(
                        at,
                        format!("with `steps`, put `expect` and `capture` inside each step, not on the {what}"),
                    );
                }
                if steps.is_empty() {
                    self.error(at, format!("this {what} has an empty list of steps"));
                }
                steps
                    .into_iter()
                    .map(|s| self.step(s.name, s.wait, s.request, s.expect, s.capture))
                    .collect()
            }
            (Some(_), Some(_)) => {
                self.error(at, format!("a {what} has `request` or `steps`, not both"));
                Vec::new()
            }
            (None, None) => {
                self.error(at, format!("this {what} has neither `request` nor `steps`"));
                Vec::new()
            }
        }
    }

    fn step(
        &mut self,
        name: Option<String>,
        wait: Option<WaitFile>,
        request: Box<RequestFile>,
        expect: Option<ExpectFile>,
        capture: IndexMap<String, Spanned<CaptureFile>>,
    ) -> Step {
        let wait = wait.map(|w| self.wait(w));
        self.step_jwts.clear();
        let request = self.request(request);
        let jwts = self.step_jwts.iter().copied().collect();
        let expect = expect.map(|e| self.expect(e)).unwrap_or_default();
        let captures = capture
            .into_iter()
            .filter_map(|(name, c)| self.capture(name, c))
            .collect();
        Step {
            name,
            wait,
            jwts,
            request,
            expect,
            captures,
        }
    }

    /// `wait:`: a literal must be a number of seconds here; a template is checked when rendered.
    fn wait(&mut self, w: WaitFile) -> Wait {
        let mut seconds = |field: &str, v: &Spanned<Scalar>| {
            let t = self.template(&v.value.0, v.referenced);
            if t.variables().next().is_none() && super::wait_seconds(&v.value.0).is_none() {
                self.error(
                    v.referenced,
                    format!(
                        "`wait.{field}` must be a number of seconds (0 or more) or a template \
                         such as `{{{{ expires_in }}}}`, not `{}`",
                        v.value.0
                    ),
                );
            }
            t
        };
        let s = seconds("seconds", &w.seconds);
        let at_most = match &w.at_most {
            Some(a) => seconds("at_most", a),
            None => Template::literal(&super::DEFAULT_MAX_WAIT_SECONDS.to_string()),
        };
        let plus = match &w.plus {
            None => 0,
            Some(p) => p.value.0.trim().parse::<u64>().unwrap_or_else(|_| {
                self.error(
                    p.referenced,
                    format!(
                        "`wait.plus` must be a whole number of seconds (0 or more), not `{}`",
                        p.value.0
                    ),
                );
                0
            }),
        };
        Wait {
            seconds: s,
            plus,
            at_most,
        }
    }

    fn template(&mut self, text: &str, at: Location) -> Template {
        match Template::parse(text) {
            Ok(t) => {
                self.check_vars(t.variables(), at);
                t
            }
            Err(e) => {
                self.error(at, e);
                Template::literal(text)
            }
        }
    }

    fn json_template(&mut self, value: &serde_json::Value, at: Location) -> JsonTemplate {
        match JsonTemplate::parse(value) {
            Ok(t) => {
                let vars: Vec<String> = t.variables().into_iter().map(str::to_string).collect();
                self.check_vars(vars.iter().map(String::as_str), at);
                t
            }
            Err(e) => {
                self.error(at, e);
                JsonTemplate::Fixed(value.clone())
            }
        }
    }

    fn check_vars<'v>(&mut self, vars: impl Iterator<Item = &'v str>, at: Location) {
        for v in vars {
            if self.known.contains(v) {
                self.used_names.insert(v.to_string());
                if let Some((prefix, rest)) = v.split_once('.') {
                    if prefix == "jwt" {
                        if let Some(i) = self.jwt_names.iter().position(|n| n == rest) {
                            self.step_jwts.insert(i);
                        }
                    } else if let Some(i) = self.fixture_names.iter().position(|n| n == prefix) {
                        self.used_fixtures.insert(i);
                    }
                }
                continue;
            }
            let hint = did_you_mean(v, self.known.iter());
            let message = format!(
                "undefined variable `{v}`{hint}; declare it under `vars:` or `secrets:`, or capture it in an earlier step"
            );
            self.error(at, message);
        }
    }

    fn request(&mut self, r: Box<RequestFile>) -> Request {
        let has_body = r.form.is_some() || r.json.is_some() || r.body.is_some();
        let method = match &r.method {
            Some(m) => match reqwest::Method::from_bytes(m.value.to_ascii_uppercase().as_bytes()) {
                Ok(method) => method,
                Err(_) => {
                    self.error(m.referenced, format!("{:?} is not an HTTP method", m.value));
                    reqwest::Method::GET
                }
            },
            None if has_body => reqwest::Method::POST,
            None => reqwest::Method::GET,
        };
        let url = match (&r.path, &r.url) {
            (Some(p), None) => {
                if !(p.value.starts_with('/') || p.value.starts_with("{{")) {
                    self.error(
                        p.referenced,
                        "`path` starts with `/`; use `url` for an absolute URL",
                    );
                }
                UrlTemplate::Path(self.template(&p.value, p.referenced))
            }
            (None, Some(u)) => {
                if !(u.value.starts_with("http://")
                    || u.value.starts_with("https://")
                    || u.value.starts_with("{{"))
                {
                    self.error(
                        u.referenced,
                        "`url` must be an absolute http:// or https:// URL",
                    );
                }
                UrlTemplate::Absolute(self.template(&u.value, u.referenced))
            }
            (Some(p), Some(_)) => {
                self.error(p.referenced, "give `path` or `url`, not both");
                UrlTemplate::Path(Template::literal("/"))
            }
            (None, None) => {
                let at = r.method.as_ref().map(|m| m.referenced);
                self.error(
                    at.unwrap_or(Location::UNKNOWN),
                    "a request needs a `path` (or an absolute `url`)",
                );
                UrlTemplate::Path(Template::literal("/"))
            }
        };
        let query = self.pairs(&r.query);
        let dpop = self.dpop(&r);
        let mut headers = Vec::new();
        for (name, value) in &r.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.error(
                    value.referenced,
                    format!("{name:?} is not a valid header name"),
                );
            }
            headers.push((
                name.clone(),
                self.template(&value.value.0, value.referenced),
            ));
        }
        let auth = r.auth.as_ref().and_then(|a| self.auth(a));
        let bodies = [r.form.is_some(), r.json.is_some(), r.body.is_some()];
        if bodies.iter().filter(|b| **b).count() > 1 {
            let at = r
                .json
                .as_ref()
                .map(|j| j.referenced)
                .or(r.body.as_ref().map(|b| b.referenced))
                .unwrap_or(Location::UNKNOWN);
            self.error(at, "a request has one body: `form`, `json` or `body`");
        }
        let body = if let Some(form) = &r.form {
            Some(Body::Form(self.pairs(&form.value)))
        } else if let Some(json) = &r.json {
            Some(Body::Json(self.json_template(&json.value, json.referenced)))
        } else {
            r.body
                .as_ref()
                .map(|b| Body::Raw(self.template(&b.value, b.referenced)))
        };
        Request {
            method,
            url,
            query,
            headers,
            auth,
            body,
            timeout: r.timeout_ms.map(Duration::from_millis),
            dpop,
        }
    }

    /// A `dpop:` names a proof variant, on a request whose URL (the proof's `htu`) is known
    /// before the case runs: a path or URL from literals, vars and secrets, not a capture.
    fn dpop(&mut self, r: &RequestFile) -> Option<String> {
        let d = r.dpop.as_ref()?;
        if !super::DPOP_PROOFS.iter().any(|(n, _)| *n == d.value) {
            let names = super::DPOP_PROOFS.iter().map(|(n, _)| *n);
            let hint = did_you_mean(&d.value, names.clone());
            let all: Vec<&str> = names.collect();
            self.error(
                d.referenced,
                format!(
                    "unknown DPoP proof `{}`{hint}; one of {}",
                    d.value,
                    all.join(", ")
                ),
            );
            return None;
        }
        let url = r.path.as_ref().or(r.url.as_ref())?;
        if let Ok(t) = Template::parse(&url.value) {
            if let Some(v) = t.variables().find(|v| !self.url_known.contains(*v)) {
                self.error(
                    d.referenced,
                    format!(
                        "`dpop:` needs the request's URL before the case runs (its proof's htu), \
                         but `{v}` in it is captured by a step or fixture; use a var or an \
                         endpoint the target gives"
                    ),
                );
                return None;
            }
        }
        Some(d.value.clone())
    }

    fn pairs(&mut self, map: &IndexMap<String, Spanned<Scalar>>) -> Vec<(String, Template)> {
        map.iter()
            .map(|(k, v)| (k.clone(), self.template(&v.value.0, v.referenced)))
            .collect()
    }

    fn auth(&mut self, a: &Spanned<AuthFile>) -> Option<Auth> {
        let v = &a.value;
        let given = [
            v.basic.is_some(),
            v.client_secret_basic.is_some(),
            v.client_secret_post.is_some(),
            v.private_key_jwt.is_some(),
            v.bearer.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            self.error(
                a.referenced,
                "`auth` takes one of `basic` (or `client_secret_basic`): { user, password }, \
                 `client_secret_post`: { client_id, client_secret }, `private_key_jwt`: { client_id, jwt }, `bearer`: TOKEN",
            );
            return None;
        }
        if let Some(b) = v.basic.as_ref().or(v.client_secret_basic.as_ref()) {
            return Some(Auth::Basic {
                user: self.template(&b.user.value.0, b.user.referenced),
                password: self.template(&b.password.value.0, b.password.referenced),
            });
        }
        if let Some(p) = &v.client_secret_post {
            return Some(Auth::Post {
                client_id: self.template(&p.client_id.value.0, p.client_id.referenced),
                client_secret: self.template(&p.client_secret.value.0, p.client_secret.referenced),
            });
        }
        if let Some(p) = &v.private_key_jwt {
            let client_id = p
                .client_id
                .as_ref()
                .map(|c| self.template(&c.value.0, c.referenced));
            let var = format!("jwt.{}", p.jwt.value);
            if !self.jwt_names.contains(&p.jwt.value) {
                let hint = did_you_mean(&p.jwt.value, self.jwt_names.iter());
                self.error(
                    p.jwt.referenced,
                    format!("no jwt named `{}` under `jwts:`{hint}", p.jwt.value),
                );
                return None;
            }
            let assertion = self.template(&format!("{{{{ {var} }}}}"), p.jwt.referenced);
            return Some(Auth::PrivateKeyJwt {
                client_id,
                assertion,
            });
        }
        v.bearer
            .as_ref()
            .map(|t| Auth::Bearer(self.template(&t.value, t.referenced)))
    }

    fn expect(&mut self, e: ExpectFile) -> Expect {
        let status = e
            .status
            .map(|s| self.status(&s.value, s.referenced))
            .unwrap_or_default();
        // Sized once: ten thousand cases each growing these to four slots held megabytes.
        let mut headers = Vec::with_capacity(e.headers.len());
        for (name, p) in e.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.error(p.referenced, format!("{name:?} is not a valid header name"));
            }
            let predicate = self.predicate(p.value, p.referenced);
            headers.push(HeaderExpect {
                name: name.to_ascii_lowercase(),
                predicate,
            });
        }
        let mut json = Vec::with_capacity(e.json.len());
        for (text, p) in e.json {
            let predicate = self.predicate(p.value, p.referenced);
            match super::intern::json_path(&text) {
                Ok(path) => json.push(JsonExpect {
                    text,
                    path,
                    predicate,
                }),
                Err(err) => self.error(
                    p.referenced,
                    format!("{text:?} is not a JSONPath (RFC 9535): {err}"),
                ),
            }
        }
        let schema = e.schema.and_then(|s| {
            let added = self
                .schemas
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(self.specs, &s.value);
            match added {
                Ok(id) => Some(id),
                Err(message) => {
                    self.error(s.referenced, message);
                    None
                }
            }
        });
        let mut rules = Vec::new();
        for r in e.rules {
            match self.rule_sets.iter().position(|name| *name == r.value) {
                Some(index) => rules.push(index),
                None => {
                    let names = self.rule_sets.iter().copied();
                    let hint = did_you_mean(&r.value, names);
                    self.error(
                        r.referenced,
                        format!("unknown rule set `{}`{hint}", r.value),
                    );
                }
            }
        }
        let mut expect = Expect {
            status,
            headers,
            json,
            schema,
            rules,
            assumed: Vec::new(),
        };
        // Built only for a step that names assumed expectations: most do not.
        let names = if e.assumed.is_empty() {
            Vec::new()
        } else {
            expect.names()
        };
        for a in e.assumed {
            let wanted = normalize_assumed(&a.value);
            if names.contains(&wanted) {
                if !expect.assumed.contains(&wanted) {
                    expect.assumed.push(wanted);
                }
                continue;
            }
            let hint = did_you_mean(&wanted, names.iter());
            let listed = if names.is_empty() {
                "this step has no expectation to assume".to_string()
            } else {
                format!("its expectations: {}", names.join(", "))
            };
            self.error(
                a.referenced,
                format!(
                    "`assumed` names `{}`, which is no expectation of this step{hint}; {listed}",
                    a.value
                ),
            );
        }
        expect
    }

    fn status(&mut self, s: &StatusFile, at: Location) -> Vec<StatusPattern> {
        let mut out = Vec::new();
        for item in &s.0 {
            let lower = item.to_ascii_lowercase();
            let pattern = if let Some(d) = lower.strip_suffix("xx").filter(|d| d.len() == 1) {
                d.parse::<u16>()
                    .ok()
                    .filter(|d| (1..=5).contains(d))
                    .map(StatusPattern::Class)
            } else {
                lower
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .map(StatusPattern::Code)
            };
            match pattern {
                Some(p) => out.push(p),
                None => self.error(
                    at,
                    format!("{item:?} is not a status: use a code from 100 to 599 or a class such as 4xx"),
                ),
            }
        }
        out
    }

    fn predicate(&mut self, p: PredicateFile, at: Location) -> Predicate {
        let m = match p {
            PredicateFile::Absent => {
                return Predicate {
                    presence: Some(Presence::Absent),
                    ..Default::default()
                }
            }
            PredicateFile::Exists => {
                return Predicate {
                    presence: Some(Presence::Present),
                    ..Default::default()
                }
            }
            PredicateFile::Equals(v) => {
                return Predicate {
                    equals: Some(self.json_template(&v, at)),
                    ..Default::default()
                }
            }
            PredicateFile::Map(m) => m,
        };
        let absent = m.absent == Some(true) || m.exists == Some(false);
        let others = m.equals.is_some()
            || m.not_equals.is_some()
            || m.equals_ignore_case.is_some()
            || m.contains.is_some()
            || m.matches.is_some()
            || m.kind.is_some()
            || m.one_of.is_some()
            || m.min.is_some()
            || m.max.is_some();
        if absent && others {
            self.error(
                at,
                "`absent` cannot be combined with conditions on the value",
            );
        }
        if !absent && !others && m.exists.is_none() && m.absent.is_none() {
            self.error(at, "this check has no condition; use e.g. { equals: x }, { matches: re }, exists or absent");
        }
        let matches = m.matches.as_ref().and_then(|re| self.regex(re, at));
        Predicate {
            presence: Some(if absent {
                Presence::Absent
            } else {
                Presence::Present
            }),
            equals: m.equals.as_ref().map(|v| self.json_template(v, at)),
            not_equals: m.not_equals.as_ref().map(|v| self.json_template(v, at)),
            equals_ignore_case: m.equals_ignore_case.as_ref().map(|t| self.template(t, at)),
            contains: m.contains.as_ref().map(|t| self.template(t, at)),
            matches,
            kind: m.kind,
            one_of: m
                .one_of
                .unwrap_or_default()
                .iter()
                .map(|v| self.json_template(v, at))
                .collect(),
            min: m.min,
            max: m.max,
        }
    }

    /// The shared compiled copy of `re`, or an error at `at`.
    fn regex(&mut self, re: &str, at: Location) -> Option<std::sync::Arc<regex::Regex>> {
        match super::intern::regex(re) {
            Ok(r) => Some(r),
            Err(e) => {
                self.error(
                    at,
                    format!("invalid regex {re:?}: {}", first_line(&e.to_string())),
                );
                None
            }
        }
    }

    fn capture(&mut self, name: String, c: Spanned<CaptureFile>) -> Option<Capture> {
        let at = c.referenced;
        if !is_name(&name) {
            self.error(
                at,
                format!("capture name {name:?} must be letters, digits and `_`"),
            );
        }
        let regex = c.value.regex.as_ref().and_then(|re| self.regex(re, at));
        let from = match (c.value.json, c.value.header) {
            (Some(text), None) => match super::intern::json_path(&text) {
                Ok(path) => CaptureFrom::Json { text, path },
                Err(err) => {
                    self.error(at, format!("{text:?} is not a JSONPath (RFC 9535): {err}"));
                    return None;
                }
            },
            (None, Some(h)) => CaptureFrom::Header(h.to_ascii_lowercase()),
            _ => {
                self.error(
                    at,
                    "a capture takes `json: $.path` or `header: name` (with an optional `regex`)",
                );
                return None;
            }
        };
        self.known.insert(name.clone());
        Some(Capture { name, from, regex })
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// `header Cache-Control` as its findings name it (`header cache-control`); `schema x` as `schema`.
/// Whether a case's expectations are a guess: `source: assumed`, or a source that backs nothing
/// we can show (a vendor page as such, not one of its stored passages).
fn guessed(basis: Option<&Source>) -> bool {
    match basis {
        Some(Source::Assumed) => true,
        Some(Source::Document(d)) => !super::sources::backs(d),
        None => false,
    }
}

fn normalize_assumed(name: &str) -> String {
    let name = name.trim();
    match name.split_once(' ') {
        Some(("header", h)) => format!("header {}", h.trim().to_ascii_lowercase()),
        Some(("schema", _)) => "schema".to_string(),
        Some(("json", path)) => format!("json {}", path.trim()),
        _ => name.to_string(),
    }
}

/// ` (did you mean `x`?)` when a known name is close enough.
pub fn did_you_mean<'a>(
    name: &str,
    known: impl Iterator<Item = &'a (impl AsRef<str> + 'a + ?Sized)>,
) -> String {
    known
        .map(|k| {
            (
                strsim::jaro_winkler(name, k.as_ref()),
                k.as_ref().to_string(),
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

#[allow(dead_code)]
fn unused(_: HashMap<(), ()>) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tokenconf-load-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn errors_of(text: &str) -> Vec<SourceError> {
        let mut schemas = SchemaRegistry::default();
        match load_text(
            text,
            Path::new("t.yaml"),
            "t".into(),
            Path::new("specs"),
            &["oauth2.token-response"],
            &mut schemas,
        ) {
            Ok(_) => Vec::new(),
            Err(e) => e,
        }
    }

    #[test]
    fn a_wait_is_a_number_of_seconds_or_a_template_and_bad_ones_are_told_at_their_place() {
        let case = |wait: &str| {
            format!(
                "api: x\ncases:\n  - name: w\n    steps:\n      - request: {{ path: /a }}\n        capture: {{ life: $.expires_in }}\n      - wait: {wait}\n        request: {{ path: /b }}\n"
            )
        };
        for good in [
            "{ seconds: 2 }",
            "{ seconds: \"{{ life }}\", plus: 1, at_most: 30 }",
            "{ seconds: 0.5 }",
        ] {
            assert!(errors_of(&case(good)).is_empty(), "{good}");
        }
        for (bad, column, says) in [
            (
                "{ seconds: soon }",
                26,
                "`wait.seconds` must be a number of seconds",
            ),
            ("{ seconds: -3 }", 26, "not `-3`"),
            (
                "{ seconds: 1, plus: 0.5 }",
                35,
                "`wait.plus` must be a whole number",
            ),
            (
                "{ seconds: 1, at_most: -1 }",
                38,
                "`wait.at_most` must be a number",
            ),
            ("{ seconds: .inf }", 26, "non-finite"),
            ("{ seconds: \"{{ nowhere }}\" }", 26, "nowhere"),
            ("{ second: 1 }", 17, "second"),
        ] {
            let errors = errors_of(&case(bad));
            let e = errors.first().unwrap_or_else(|| panic!("{bad}: no error"));
            assert!(e.message.contains(says), "{bad}: {}", e.message);
            assert_eq!((e.line, e.column), (7, column), "{bad}: {}", e.rendered);
        }
        let mut schemas = SchemaRegistry::default();
        let suite = load_text(
            &case("{ seconds: \"{{ life }}\", plus: 1 }"),
            Path::new("t.yaml"),
            "t".into(),
            Path::new("specs"),
            &[],
            &mut schemas,
        )
        .unwrap_or_else(|e| panic!("{}", e[0].rendered));
        let wait = suite.cases[0].steps[1].wait.as_ref().expect("a wait");
        assert_eq!(wait.plus, 1);
        assert!(wait.seconds.variables().any(|v| v == "life"));
        assert!(suite.cases[0].steps[0].wait.is_none());
    }

    #[test]
    fn sources_profiles_and_capabilities_compile_into_the_model() {
        let text = "api: x\nsource: assumed\nprofile: second\nvars: { id: a }\ncases:\n  - name: inherits\n    requires: [id, auto_authorize]\n    request: { path: /t }\n    expect: { status: 200, headers: { Pragma: no-cache }, rules: [oauth2.token-response] }\n  - name: its own\n    source: RFC 6749 §5.1\n    profile: third\n    request: { path: /t }\n    expect:\n      status: 200\n      json: { $.a: exists, $.b: exists }\n      assumed: [\"json $.b\", \"json $.b\"]\n";
        let mut schemas = SchemaRegistry::default();
        let suite = load_text(
            text,
            Path::new("t.yaml"),
            "t".into(),
            Path::new("specs"),
            &["oauth2.token-response"],
            &mut schemas,
        )
        .unwrap_or_else(|e| panic!("{}", e[0].rendered));
        let (first, second) = (&suite.cases[0], &suite.cases[1]);
        assert_eq!(first.requires, ["id"]);
        assert_eq!(first.capabilities, ["auto_authorize"]);
        assert_eq!(first.profile.as_deref(), Some("second"), "the suite's");
        assert_eq!(second.profile.as_deref(), Some("third"), "its own wins");
        // Assumed from the suite: every expectation, which a rule is not.
        assert_eq!(first.steps[0].expect.assumed, ["status", "header pragma"]);
        assert!(first.steps[0].expect.is_assumed("header pragma"));
        assert!(!first.steps[0].expect.is_assumed("RFC6749-5.1-no-store"));
        assert_eq!(second.steps[0].expect.assumed, ["json $.b"]);
        assert!(
            !second.steps[0].expect.is_assumed("json"),
            "$.a is not assumed"
        );
        assert_eq!(suite.assumed_count(), 3);
        assert_eq!(
            suite.basis(second),
            Some(Source::Document("RFC 6749 §5.1".into()))
        );
        assert_eq!(suite.basis(first), Some(Source::Assumed));
    }

    #[cfg(unix)]
    #[test]
    fn a_schema_that_is_a_device_is_refused_without_reading_it() {
        let text = "api: oauth2\ncases:\n  - name: one\n    request: { path: /x }\n    expect: { schema: /dev/zero }\n";
        let errors = errors_of(text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        assert!(
            e.message
                .contains("/dev/zero: a schema must be a regular file, not a device"),
            "{}",
            e.message
        );
        assert_eq!((e.line, e.column), (5, 23), "{}", e.rendered);
    }

    #[test]
    fn a_suite_that_is_not_utf8_names_the_line_of_the_first_bad_byte() {
        let dir = scratch("latin1");
        let file = dir.join("s.yaml");
        std::fs::write(
            &file,
            b"api: oauth2\ncases:\n  - name: caf\xe9\n    request: { path: /x }\n",
        )
        .unwrap();
        let err = load(&[file], Path::new("specs"), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("s.yaml: is not UTF-8 text"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("byte offset 32"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_named_as_a_suite_is_refused() {
        let err = load(&[PathBuf::from("/dev/zero")], Path::new("specs"), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("/dev/zero: a suite file must be a regular file, not a device"),
            "{err}"
        );
    }

    #[test]
    fn parser_limits_and_duplicate_keys_are_said_in_the_users_words() {
        // Plain text cannot outgrow a budget that grows with the file; aliases can.
        let list = vec!["1"; 1000].join(",");
        let anchors: String = (0..100)
            .map(|i| format!("      a{i}: &a{i} [{list}]\n"))
            .collect();
        let aliases: String = (0..100)
            .map(|i| format!("      b{i}: [{}]\n", vec![format!("*a{i}"); 10].join(",")))
            .collect();
        // A JWT's claims take any value, so nothing stops reading before the aliases.
        let many =
            format!("jwts:\n  j:\n    alg: HS256\n    key: k\n    claims:\n{anchors}{aliases}");
        let cases = [
            (
                "api: a\napi: b\ncases: []\n".to_string(),
                "the key `api` appears twice",
            ),
            (
                "api: a\ncases: []\n---\napi: b\n".to_string(),
                "more than one YAML document",
            ),
            (
                format!("api: a\n{many}cases: []\n"),
                "more than 250000 values, keys and list items (the limit for a file of its size)",
            ),
        ];
        for (text, expected) in cases {
            let errors = errors_of(&text);
            let e = errors.first().expect("an error");
            for internal in [
                "DuplicateKeyPolicy",
                "from_str_multiple",
                "Nodes {",
                "budget",
                "Options",
            ] {
                assert!(
                    !e.rendered.contains(internal),
                    "{internal} in {}",
                    e.rendered
                );
            }
            assert!(e.message.contains(expected), "{}", e.message);
        }
    }

    /// The character the caret points at in `rendered`, and the one at the header's line:column.
    fn pointed(e: &SourceError, text: &str) -> (Option<char>, Option<char>) {
        let header = format!("t.yaml:{}:{}", e.line, e.column);
        assert!(
            e.rendered.contains(&header),
            "{header} not in\n{}",
            e.rendered
        );
        let source_line = text.lines().nth(e.line as usize - 1).unwrap();
        let lines: Vec<&str> = e.rendered.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.trim_end().ends_with(source_line))
            .unwrap_or_else(|| panic!("{source_line:?} not in\n{:?}", e.rendered));
        let start = lines[at].trim_end().len() - source_line.len();
        let caret_line = lines[at + 1..]
            .iter()
            .find(|l| l.contains('^'))
            .expect("a caret");
        // Columns on screen are characters: count them, not bytes.
        let caret = caret_line[..caret_line.find('^').unwrap()].chars().count();
        let start_chars = lines[at][..start].chars().count();
        let pointed = source_line.chars().nth(caret - start_chars);
        let expected = source_line.chars().nth(e.column as usize - 1);
        (pointed, expected)
    }

    #[test]
    fn the_location_in_the_header_is_where_the_caret_points() {
        let parse_error =
            "api: oauth2\ncases:\n  - name: x\n    request: { path: /\u{e9}t\u{e9}, methd: GET }\n";
        let load_error = "api: oauth2\ncases:\n  - name: x\n    request: { path: /\u{e9}t\u{e9}, query: { a: \"{{ nope }}\" } }\n";
        let variants: Vec<String> = [parse_error, load_error]
            .iter()
            .flat_map(|t| [t.to_string(), t.replace('\n', "\r\n")])
            .collect();
        for text in variants.iter().map(String::as_str) {
            let errors = errors_of(text);
            let e = errors.first().expect("an error");
            let (pointed, expected) = pointed(e, text);
            assert_eq!(pointed, expected, "\n{}", e.rendered);
        }
    }

    /// A file of several cache parts compiles to the same cases and the same problems, in the
    /// same order, from its YAML and from its cached parts (compiled on other threads).
    #[test]
    fn a_large_file_compiles_alike_from_yaml_and_from_cached_parts() {
        // Each case needs the secret directly, through a jwt or through a fixture, or is assumed.
        let mut text = String::from(
            "api: oauth2\nsecrets: [client_secret]\njwts:\n  assertion: { alg: HS256, key: \"{{ client_secret }}\", claims: { iss: me } }\nfixtures:\n  login:\n    request: { path: /login, form: { s: \"{{ client_secret }}\" } }\n    capture: { token: $.access_token }\ncases:\n",
        );
        for i in 0..2_500 {
            let (name, source, requires) = match i {
                // In the third part: a source left empty, a name the fifth case has, and an
                // unknown requirement, told in that order, as in the file.
                2_100 => (
                    "case 5".to_string(),
                    "    source: \"\"\n",
                    "    requires: [nope]\n",
                ),
                1_500 => ("\"**\"".to_string(), "", ""),
                _ if i % 4 == 3 => (format!("case {i}"), "    source: assumed\n", ""),
                _ => (format!("case {i}"), "", ""),
            };
            let form = match i % 4 {
                0 => "{ secret: \"{{ client_secret }}\" }",
                1 => "{ a: \"{{ jwt.assertion }}\" }",
                2 => "{ t: \"{{ login.token }}\" }",
                _ => "{}",
            };
            text.push_str(&format!(
                "  - name: {name}\n{source}{requires}    request: {{ path: /p{i}, form: {form} }}\n    expect: {{ status: 200 }}\n"
            ));
        }
        let dir = scratch("alike");
        let file = dir.join("big.yaml");
        std::fs::write(&file, &text).unwrap();
        let cache = ParseCache::at(Some(dir.join("cache")));
        let input = |copies: usize| -> Vec<Input> {
            (0..copies)
                .map(|_| Input {
                    file: file.clone(),
                    name: "big".into(),
                    text: None,
                })
                .collect()
        };
        // Alone, the file's parts are read on every core; beside a copy of itself, each is no
        // more than a core's share and reads its parts on one thread.
        let compiled_from = |good: bool, copies: usize| {
            let schemas = Mutex::new(SchemaRegistry::default());
            let specs = Specs::Dir(PathBuf::from("specs"));
            let mut out = compile_files(&input(copies), &specs, &[], &schemas, &cache);
            let (_, suite) = out.pop().unwrap().unwrap();
            match (suite, good) {
                (Ok(s), true) => s
                    .cases
                    .iter()
                    .map(|c| {
                        let (line, slug, steps) = (c.line, &c.slug, c.steps.len());
                        let (needs, fixtures, assumed) = (&c.needs, &c.fixtures, c.assumed_count());
                        format!("{line} {slug} {steps} {needs:?} {fixtures:?} {assumed}")
                    })
                    .collect::<Vec<_>>(),
                (Err(e), false) => e.into_iter().map(|e| e.rendered).collect(),
                _ => panic!("the file compiled as it should not"),
            }
        };
        let compiled = |good: bool| {
            let spread = compiled_from(good, 1);
            assert_eq!(compiled_from(good, 2), spread, "one thread and several");
            spread
        };
        let cached = || cache.get(&text).is_some();
        assert!(!cached());
        let from_yaml = compiled(false);
        assert!(cached(), "the parse is kept even with problems");
        let from_parts = compiled(false);
        assert_eq!(from_yaml, from_parts);
        // A part damaged: a miss, so the YAML is parsed again, with the same result.
        let entry = cache.entry_path(&text).unwrap();
        let mut bytes = std::fs::read(&entry).unwrap();
        let second = super::cache::part_start(&bytes, 1);
        bytes[second + 1] = b'}';
        std::fs::write(&entry, &bytes).unwrap();
        assert_eq!(compiled(false), from_yaml);
        let says: Vec<&str> = from_yaml
            .iter()
            .map(|e| e.lines().next().unwrap_or(""))
            .collect();
        assert_eq!(says.len(), 4, "{says:#?}");
        assert!(says[0].contains("needs a name with letters"), "{says:#?}");
        assert!(
            says[1].contains("`source` names a vendor document"),
            "{says:#?}"
        );
        assert!(says[2].contains("same test name `case-5`"), "{says:#?}");
        assert!(says[3].contains("`requires` names `nope`"), "{says:#?}");

        // Without the problems: the same cases, in the same order.
        let text = text
            .replace("    source: \"\"\n    requires: [nope]\n", "")
            .replace(
                "name: case 5\n    request: { path: /p2100",
                "name: case x\n    request: { path: /p2100",
            )
            .replace("name: \"**\"\n", "name: case y\n");
        std::fs::write(&file, &text).unwrap();
        let from_yaml = compiled(true);
        assert!(cached());
        let from_parts = compiled(true);
        assert_eq!(from_yaml.len(), 2_500);
        assert_eq!(from_yaml, from_parts);
        let secret = "[\"client_secret\"]";
        assert!(
            from_yaml[0].ends_with(&format!("{secret} [] 0")),
            "{}",
            from_yaml[0]
        );
        assert!(
            from_yaml[1].ends_with(&format!("{secret} [] 0")),
            "{}",
            from_yaml[1]
        );
        assert!(
            from_yaml[2].ends_with(&format!("{secret} [0] 0")),
            "{}",
            from_yaml[2]
        );
        assert!(from_yaml[3].ends_with("[] [] 1"), "{}", from_yaml[3]);
    }
}
