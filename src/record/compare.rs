//! `tokenconf diff OLD NEW`: what changed between two recordings, case by case, each change
//! classed breaking (it breaks a rule, a schema or a recorded required shape) or conformant
//! (changed, still conformant: extra members, member order, header variants).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::cassette::{CaseShape, FindingShape};
use super::shape::StepShape;
use crate::error::ConfigError;
use crate::report::escape::{escape_control, escape_markup};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Breaking,
    Conformant,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Breaking => "breaking",
            Class::Conformant => "conformant",
        }
    }
}

/// How a thing changed: `-` gone, `+` new, `~` changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    Removed,
    Added,
    Changed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub class: Class,
    pub how: How,
    /// The step, when the change is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// What changed: `status`, `header cache-control`, `$.expires_in`, `jwt $.accessToken
    /// claim sub`, `finding RULE-ID (MUST)`, `outcome`, …
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// Why it is classed so.
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseDiff {
    pub test: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub format: u32,
    pub old: String,
    pub new: String,
    pub compared: usize,
    pub breaking: usize,
    pub conformant: usize,
    /// The same change (class, kind, what, old and new value) across cases, once each with the
    /// number of cases it occurs in: breaking first, then the most frequent.
    pub summary: Vec<Group>,
    /// Cases with at least one change.
    pub cases: Vec<CaseDiff>,
    /// Cases recorded in one run only: not compared.
    pub only_old: Vec<String>,
    pub only_new: Vec<String>,
}

/// One change as it occurs in `cases` cases (steps aside: they are named per case).
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub class: Class,
    pub how: How,
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    pub cases: usize,
}

fn group(cases: &[CaseDiff]) -> Vec<Group> {
    type Key<'a> = (Class, u8, &'a str, Option<&'a str>, Option<&'a str>);
    let mut counts: BTreeMap<Key, (How, BTreeSet<&str>)> = BTreeMap::new();
    for case in cases {
        for ch in &case.changes {
            let key = (
                ch.class,
                ch.how as u8,
                ch.what.as_str(),
                ch.old.as_deref(),
                ch.new.as_deref(),
            );
            counts
                .entry(key)
                .or_insert((ch.how, BTreeSet::new()))
                .1
                .insert(case.test.as_str());
        }
    }
    let mut out: Vec<Group> = counts
        .into_iter()
        .map(|((class, _, what, old, new), (how, tests))| Group {
            class,
            how,
            what: what.to_string(),
            old: old.map(str::to_string),
            new: new.map(str::to_string),
            cases: tests.len(),
        })
        .collect();
    // Stable: equal counts keep the key order (class, kind, what).
    out.sort_by(|a, b| a.class.cmp(&b.class).then(b.cases.cmp(&a.cases)));
    out
}

/// Loads both sides, each one or more recordings (shards of one run), and compares them; exit 2
/// naming the file on anything unreadable, or the case recorded twice on one side.
pub fn compare(old_dirs: &[&Path], new_dirs: &[&Path]) -> Result<Diff, ConfigError> {
    let old = load_side(old_dirs)?;
    let new = load_side(new_dirs)?;
    let names = |dirs: &[&Path]| {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut diff = Diff {
        format: super::cassette::FORMAT,
        old: names(old_dirs),
        new: names(new_dirs),
        compared: 0,
        breaking: 0,
        conformant: 0,
        summary: Vec::new(),
        cases: Vec::new(),
        only_old: old
            .keys()
            .filter(|t| !new.contains_key(*t))
            .cloned()
            .collect(),
        only_new: new
            .keys()
            .filter(|t| !old.contains_key(*t))
            .cloned()
            .collect(),
    };
    for (test, o) in &old {
        let Some(n) = new.get(test) else { continue };
        diff.compared += 1;
        let changes = compare_case(o, n);
        if !changes.is_empty() {
            diff.breaking += changes
                .iter()
                .filter(|c| c.class == Class::Breaking)
                .count();
            diff.conformant += changes
                .iter()
                .filter(|c| c.class == Class::Conformant)
                .count();
            diff.cases.push(CaseDiff {
                test: test.clone(),
                changes,
            });
        }
    }
    diff.summary = group(&diff.cases);
    Ok(diff)
}

/// The shapes of several recordings of one side, as one; a case in two of them is refused.
fn load_side(dirs: &[&Path]) -> Result<BTreeMap<String, CaseShape>, ConfigError> {
    let mut out: BTreeMap<String, CaseShape> = BTreeMap::new();
    let mut from: BTreeMap<String, &Path> = BTreeMap::new();
    for dir in dirs {
        for (test, shape) in load_shapes(dir)? {
            if let Some(first) = from.get(&test) {
                return Err(ConfigError::Usage(format!(
                    "case {} is recorded in both {} and {}: give each case's recording once per side",
                    escape_control(&test),
                    escape_control(&first.display().to_string()),
                    escape_control(&dir.display().to_string())
                )));
            }
            from.insert(test.clone(), dir);
            out.insert(test, shape);
        }
    }
    Ok(out)
}

fn load_shapes(dir: &Path) -> Result<BTreeMap<String, CaseShape>, ConfigError> {
    let index = super::load_index(dir)?;
    let mut out = BTreeMap::new();
    for e in &index.cases {
        let Some(rel) = &e.shape else { continue };
        let shape = super::load_shape(dir, rel)?;
        out.insert(e.test.clone(), shape);
    }
    Ok(out)
}

struct Collect {
    changes: Vec<Change>,
    step: Option<String>,
}

impl Collect {
    fn push(
        &mut self,
        class: Class,
        how: How,
        what: String,
        old: Option<String>,
        new: Option<String>,
        why: &str,
    ) {
        self.changes.push(Change {
            class,
            how,
            step: self.step.clone(),
            what,
            old,
            new,
            why: why.to_string(),
        });
    }
}

/// The changes between two recordings of one case.
pub fn compare_case(old: &CaseShape, new: &CaseShape) -> Vec<Change> {
    let mut c = Collect {
        changes: Vec::new(),
        step: None,
    };
    if old.outcome != new.outcome {
        let worse =
            old.outcome == "passed" || (old.outcome == "skipped" && new.outcome != "passed");
        let (class, why) = if worse && new.outcome != "passed" {
            (Class::Breaking, "the case no longer passes")
        } else {
            (
                Class::Conformant,
                "the case's outcome changed for the better",
            )
        };
        c.push(
            class,
            How::Changed,
            "outcome".into(),
            Some(old.outcome.clone()),
            Some(new.outcome.clone()),
            why,
        );
    }
    for (i, o) in old.steps.iter().enumerate() {
        c.step = Some(o.step.clone());
        match new.steps.get(i) {
            Some(n) => compare_step(o, n, &mut c),
            None => c.push(
                Class::Breaking,
                How::Removed,
                format!("{} {}", o.method, o.path),
                Some(o.status.to_string()),
                None,
                "the step is no longer reached",
            ),
        }
    }
    for n in new.steps.iter().skip(old.steps.len()) {
        c.step = Some(n.step.clone());
        c.push(
            Class::Conformant,
            How::Added,
            format!("{} {}", n.method, n.path),
            None,
            Some(n.status.to_string()),
            "a step that was not reached before",
        );
    }
    c.step = None;
    let old_f: BTreeSet<&FindingShape> = old.findings.iter().collect();
    let new_f: BTreeSet<&FindingShape> = new.findings.iter().collect();
    for f in new_f.difference(&old_f) {
        let must = f.level == "MUST";
        let (class, why) = if must {
            (
                Class::Breaking,
                "a new MUST finding: the response breaks a rule",
            )
        } else {
            (Class::Conformant, "a new finding that does not fail")
        };
        c.push(
            class,
            How::Added,
            format!("finding {} ({})", f.rule, f.level),
            None,
            None,
            why,
        );
    }
    for f in old_f.difference(&new_f) {
        c.push(
            Class::Conformant,
            How::Removed,
            format!("finding {} ({})", f.rule, f.level),
            None,
            None,
            "a finding that no longer occurs",
        );
    }
    c.changes
}

fn media_type(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn has_no_store(v: Option<&String>) -> bool {
    v.is_some_and(|v| {
        v.split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
    })
}

fn compare_step(o: &StepShape, n: &StepShape, c: &mut Collect) {
    if (o.method.as_str(), o.path.as_str()) != (n.method.as_str(), n.path.as_str()) {
        c.push(
            Class::Conformant,
            How::Changed,
            "request".into(),
            Some(format!("{} {}", o.method, o.path)),
            Some(format!("{} {}", n.method, n.path)),
            "the suite sent another request",
        );
    }
    if o.status != n.status {
        let why = if o.status / 100 != n.status / 100 {
            "the status class changed"
        } else {
            "the recorded status changed"
        };
        c.push(
            Class::Breaking,
            How::Changed,
            "status".into(),
            Some(o.status.to_string()),
            Some(n.status.to_string()),
            why,
        );
    }
    if o.body != n.body {
        let class = if o.body == "json" {
            Class::Breaking
        } else {
            Class::Conformant
        };
        c.push(
            class,
            How::Changed,
            "body".into(),
            Some(o.body.clone()),
            Some(n.body.clone()),
            "the body is no longer JSON",
        );
    }
    compare_headers(o, n, c);
    compare_paths(o, n, c);
    compare_jwts(o, n, c);
    for (path, ov) in &o.enums {
        let Some(nv) = n.enums.get(path) else {
            continue;
        };
        if ov == nv {
            continue;
        }
        let same_ignoring_case = match (ov.as_str(), nv.as_str()) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        };
        let token_type = path.ends_with(".token_type");
        let (class, why) = if token_type && same_ignoring_case {
            (
                Class::Conformant,
                "token_type is case-insensitive (RFC 6749 §5.1)",
            )
        } else {
            (Class::Breaking, "an enum-like value changed")
        };
        c.push(
            class,
            How::Changed,
            path.clone(),
            Some(ov.to_string()),
            Some(nv.to_string()),
            why,
        );
    }
}

fn compare_headers(o: &StepShape, n: &StepShape, c: &mut Collect) {
    let names: BTreeSet<&String> = o.headers.keys().chain(n.headers.keys()).collect();
    for name in names {
        let (ov, nv) = (o.headers.get(name), n.headers.get(name));
        if ov == nv {
            continue;
        }
        let how = match (ov, nv) {
            (Some(_), None) => How::Removed,
            (None, Some(_)) => How::Added,
            _ => How::Changed,
        };
        let (class, why) = match name.as_str() {
            "cache-control" if has_no_store(ov) && !has_no_store(nv) => {
                (Class::Breaking, "no-store is lost (RFC 6749 §5.1)")
            }
            "cache-control" => (Class::Conformant, "a variant that keeps no-store"),
            "pragma" => (Class::Conformant, "Pragma is deprecated (RFC 9111)"),
            "content-type" => match (ov, nv) {
                (Some(a), Some(b)) if media_type(a) == media_type(b) => {
                    (Class::Conformant, "the same media type")
                }
                _ => (Class::Breaking, "the media type changed"),
            },
            "www-authenticate" => match (ov, nv) {
                (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => {
                    (Class::Conformant, "auth schemes are case-insensitive")
                }
                (None, Some(_)) => (Class::Conformant, "a challenge where there was none"),
                _ => (Class::Breaking, "the challenge is gone or another scheme"),
            },
            _ => (Class::Conformant, "a header value changed"),
        };
        c.push(
            class,
            how,
            format!("header {name}"),
            ov.cloned(),
            nv.cloned(),
            why,
        );
    }
    let on: BTreeSet<&String> = o.header_names.iter().collect();
    let nn: BTreeSet<&String> = n.header_names.iter().collect();
    let mattering =
        |h: &&&String| !o.headers.contains_key(h.as_str()) && !n.headers.contains_key(h.as_str());
    let added: Vec<&str> = nn
        .difference(&on)
        .filter(mattering)
        .map(|s| s.as_str())
        .collect();
    let removed: Vec<&str> = on
        .difference(&nn)
        .filter(mattering)
        .map(|s| s.as_str())
        .collect();
    if !added.is_empty() {
        c.push(
            Class::Conformant,
            How::Added,
            format!("headers {}", added.join(", ")),
            None,
            None,
            "extra headers",
        );
    }
    if !removed.is_empty() {
        c.push(
            Class::Conformant,
            How::Removed,
            format!("headers {}", removed.join(", ")),
            None,
            None,
            "headers no rule requires",
        );
    }
}

/// Whether `path` is under `parent` (`$.a.b`, `$.a[*]` under `$.a`).
fn under(path: &str, parent: &str) -> bool {
    path.len() > parent.len()
        && path.starts_with(parent)
        && matches!(path.as_bytes()[parent.len()], b'.' | b'[')
}

fn compare_paths(o: &StepShape, n: &StepShape, c: &mut Collect) {
    let mut removed: Vec<&String> = Vec::new();
    for (path, ty) in &o.paths {
        match n.paths.get(path) {
            None => {
                if removed.iter().any(|r| under(path, r)) {
                    continue;
                }
                removed.push(path);
                c.push(
                    Class::Breaking,
                    How::Removed,
                    path.clone(),
                    Some(ty.clone()),
                    None,
                    "a member the recording had is gone",
                );
            }
            Some(nt) if nt != ty => c.push(
                Class::Breaking,
                How::Changed,
                path.clone(),
                Some(ty.clone()),
                Some(nt.clone()),
                "the type changed",
            ),
            Some(_) => {}
        }
    }
    let mut added: Vec<&String> = Vec::new();
    for (path, ty) in &n.paths {
        if o.paths.contains_key(path) || added.iter().any(|a| under(path, a)) {
            continue;
        }
        added.push(path);
        c.push(
            Class::Conformant,
            How::Added,
            path.clone(),
            None,
            Some(ty.clone()),
            "an extra member",
        );
    }
    for (path, members) in &o.order {
        let Some(now) = n.order.get(path) else {
            continue;
        };
        let a: BTreeSet<&String> = members.iter().collect();
        let b: BTreeSet<&String> = now.iter().collect();
        if a == b && members != now {
            c.push(
                Class::Conformant,
                How::Changed,
                format!("{path} member order"),
                Some(members.join(",")),
                Some(now.join(",")),
                "JSON member order carries no meaning",
            );
        }
    }
}

fn compare_jwts(o: &StepShape, n: &StepShape, c: &mut Collect) {
    for (path, oj) in &o.jwts {
        let Some(nj) = n.jwts.get(path) else {
            if n.paths.contains_key(path) {
                c.push(
                    Class::Breaking,
                    How::Changed,
                    format!("jwt {path}"),
                    Some("JWT".into()),
                    Some("not a JWT".into()),
                    "the token is no longer a JWT",
                );
            }
            continue;
        };
        for (part, (a, b)) in [
            ("header", (&oj.header, &nj.header)),
            ("claim", (&oj.claims, &nj.claims)),
        ] {
            for (name, ty) in a {
                match b.get(name) {
                    None => c.push(
                        Class::Breaking,
                        How::Removed,
                        format!("jwt {path} {part} {name}"),
                        Some(ty.clone()),
                        None,
                        "a JWT member is gone",
                    ),
                    Some(t) if t != ty => c.push(
                        Class::Breaking,
                        How::Changed,
                        format!("jwt {path} {part} {name}"),
                        Some(ty.clone()),
                        Some(t.clone()),
                        "a JWT member's type changed",
                    ),
                    Some(_) => {}
                }
            }
            for (name, ty) in b {
                if !a.contains_key(name) {
                    c.push(
                        Class::Conformant,
                        How::Added,
                        format!("jwt {path} {part} {name}"),
                        None,
                        Some(ty.clone()),
                        "an extra JWT member",
                    );
                }
            }
        }
    }
}

fn mark(how: How) -> char {
    match how {
        How::Removed => '-',
        How::Added => '+',
        How::Changed => '~',
    }
}

fn values(old: Option<&str>, new: Option<&str>) -> String {
    match (old, new) {
        (Some(a), Some(b)) => format!(" {} -> {}", escape_control(a), escape_control(b)),
        (Some(a), None) => format!(" (was {})", escape_control(a)),
        (None, Some(b)) => format!(" ({})", escape_control(b)),
        (None, None) => String::new(),
    }
}

impl Diff {
    pub fn changes(&self) -> usize {
        self.breaking + self.conformant
    }

    /// Cases recorded on one side only.
    pub fn not_compared(&self) -> usize {
        self.only_old.len() + self.only_new.len()
    }

    /// The line saying the comparison is partial, when it is.
    pub fn partial(&self) -> Option<String> {
        (self.not_compared() > 0).then(|| {
            format!(
                "partial comparison: {} case(s) compared, {} not compared (recorded on one side only: {} old, {} new)",
                self.compared,
                self.not_compared(),
                self.only_old.len(),
                self.only_new.len()
            )
        })
    }

    /// A unified-diff-like text, one block per changed case.
    pub fn text(&self) -> String {
        let mut out = format!(
            "--- {}\n+++ {}\n",
            escape_control(&self.old),
            escape_control(&self.new)
        );
        if !self.summary.is_empty() {
            out.push_str("summary (each change once, with the cases it occurs in):\n");
            for g in &self.summary {
                out.push_str(&format!(
                    "{} [{}] {}{} in {} case(s)\n",
                    mark(g.how),
                    g.class.name(),
                    escape_control(&g.what),
                    values(g.old.as_deref(), g.new.as_deref()),
                    g.cases
                ));
            }
            out.push_str("details per case:\n");
        }
        for case in &self.cases {
            out.push_str(&format!("@@ {} @@\n", escape_control(&case.test)));
            for ch in &case.changes {
                let mark = mark(ch.how);
                let step = ch
                    .step
                    .as_ref()
                    .map(|s| format!("{}: ", escape_control(s)))
                    .unwrap_or_default();
                let values = values(ch.old.as_deref(), ch.new.as_deref());
                out.push_str(&format!(
                    "{mark} [{}] {step}{}{values}  ({})\n",
                    ch.class.name(),
                    escape_control(&ch.what),
                    ch.why
                ));
            }
        }
        for (side, tests) in [("old", &self.only_old), ("new", &self.only_new)] {
            if !tests.is_empty() {
                out.push_str(&format!(
                    "not compared: {} case(s) recorded only in the {side} run\n",
                    tests.len()
                ));
            }
        }
        if let Some(partial) = self.partial() {
            out.push_str(&format!("{partial}\n"));
        }
        if self.cases.is_empty() {
            out.push_str(&format!("no drift: {} cases compared\n", self.compared));
        } else {
            out.push_str(&format!(
                "drift: {} breaking, {} conformant change(s) in {} of {} cases compared\n",
                self.breaking,
                self.conformant,
                self.cases.len(),
                self.compared
            ));
        }
        out
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The same diff as a self-contained page.
    pub fn html(&self) -> String {
        let e = |t: &str| escape_markup(t).into_owned();
        let mut body = String::new();
        if let Some(partial) = self.partial() {
            body.push_str(&format!("<p id=\"partial\">{}</p>\n", e(&partial)));
        }
        if !self.summary.is_empty() {
            body.push_str("<section id=\"summary\"><h2>summary</h2><table><tr><th>class</th><th></th><th>what</th><th>old</th><th>new</th><th>cases</th></tr>");
            for g in &self.summary {
                body.push_str(&format!(
                    "<tr class=\"{}\"><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                    g.class.name(),
                    g.class.name(),
                    mark(g.how),
                    e(&g.what),
                    e(g.old.as_deref().unwrap_or("")),
                    e(g.new.as_deref().unwrap_or("")),
                    g.cases
                ));
            }
            body.push_str("</table></section>\n");
        }
        for case in &self.cases {
            body.push_str(&format!("<section><h2>{}</h2><table><tr><th>class</th><th></th><th>step</th><th>what</th><th>old</th><th>new</th><th>why</th></tr>", e(&case.test)));
            for ch in &case.changes {
                let mark = match ch.how {
                    How::Removed => "removed",
                    How::Added => "added",
                    How::Changed => "changed",
                };
                body.push_str(&format!(
                    "<tr class=\"{}\"><td>{}</td><td>{mark}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                    ch.class.name(),
                    ch.class.name(),
                    e(ch.step.as_deref().unwrap_or("")),
                    e(&ch.what),
                    e(ch.old.as_deref().unwrap_or("")),
                    e(ch.new.as_deref().unwrap_or("")),
                    e(&ch.why)
                ));
            }
            body.push_str("</table></section>\n");
        }
        let verdict = if self.cases.is_empty() {
            format!("no drift: {} cases compared", self.compared)
        } else {
            format!(
                "{} breaking, {} conformant change(s) in {} of {} cases",
                self.breaking,
                self.conformant,
                self.cases.len(),
                self.compared
            )
        };
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tokenconf diff</title>\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
             <style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}\
             td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}}\
             tr.breaking td:first-child{{color:#b00;font-weight:bold}}tr.conformant td:first-child{{color:#060}}</style></head>\
             <body><h1>tokenconf diff</h1><p><code>{}</code> → <code>{}</code></p><p id=\"verdict\">{}</p>\n{body}</body></html>\n",
            e(&self.old),
            e(&self.new),
            e(&verdict)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::shape::JwtShape;

    fn step(f: impl FnOnce(&mut StepShape)) -> CaseShape {
        let mut s = StepShape {
            step: "step 1".into(),
            method: "POST".into(),
            path: "/token".into(),
            status: 200,
            body: "json".into(),
            headers: [
                ("cache-control", "no-store"),
                ("content-type", "application/json;charset=UTF-8"),
                ("www-authenticate", "Bearer"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            header_names: vec!["cache-control".into(), "content-type".into()],
            paths: [
                ("$", "object"),
                ("$.token_type", "string"),
                ("$.at", "string"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            order: BTreeMap::new(),
            enums: [("$.token_type".to_string(), serde_json::json!("Bearer"))].into(),
            jwts: [(
                "$.at".to_string(),
                JwtShape {
                    header: [("alg".to_string(), "string".to_string())].into(),
                    claims: [("sub".to_string(), "string".to_string())].into(),
                },
            )]
            .into(),
        };
        f(&mut s);
        CaseShape {
            format: 1,
            test: "t::c".into(),
            suite: "t".into(),
            case: "c".into(),
            outcome: "passed".into(),
            steps: vec![s],
            findings: Vec::new(),
        }
    }

    fn classes(f: impl FnOnce(&mut StepShape)) -> Vec<(Class, String)> {
        compare_case(&step(|_| {}), &step(f))
            .into_iter()
            .map(|c| (c.class, c.what))
            .collect()
    }

    #[test]
    fn variants_are_conformant_and_lost_guarantees_are_breaking() {
        let conformant = |f: fn(&mut StepShape)| {
            let c = classes(f);
            assert!(
                !c.is_empty() && c.iter().all(|(k, _)| *k == Class::Conformant),
                "{c:?}"
            );
        };
        conformant(|s| {
            s.headers
                .insert("cache-control".into(), "no-cache, no-store".into());
        });
        conformant(|s| {
            s.headers.insert("www-authenticate".into(), "bearer".into());
        });
        conformant(|s| {
            s.enums
                .insert("$.token_type".into(), serde_json::json!("bearer"));
        });
        conformant(|s| {
            s.headers
                .insert("content-type".into(), "application/json".into());
        });
        conformant(|s| {
            s.paths.insert("$.extra".into(), "string".into());
            s.paths.insert("$.extra.deep".into(), "string".into());
        });
        let breaking = |f: fn(&mut StepShape), what: &str| {
            let c = classes(f);
            assert!(
                c.iter().any(|(k, w)| *k == Class::Breaking && w == what),
                "{what}: {c:?}"
            );
        };
        breaking(
            |s| {
                s.headers.remove("cache-control");
            },
            "header cache-control",
        );
        breaking(|s| s.status = 400, "status");
        breaking(
            |s| {
                s.paths.insert("$.token_type".into(), "integer".into());
            },
            "$.token_type",
        );
        breaking(
            |s| {
                s.jwts.remove("$.at");
            },
            "jwt $.at",
        );
        breaking(
            |s| {
                s.headers.insert("www-authenticate".into(), "Basic".into());
            },
            "header www-authenticate",
        );
        assert!(compare_case(&step(|_| {}), &step(|_| {})).is_empty());
    }
}
