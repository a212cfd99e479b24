//! Per failing case, a unified diff a vendor can read without the tool: the response the suite
//! and its rules ask for (expected, `-`) against the one the target sent (actual, `+`). Status,
//! headers and the JSON body are rendered one value a line, keys sorted, and each line a failing
//! finding points at is marked with its rule id.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Map, Value};
use similar::TextDiff;

use super::escape::escape_control as esc;
use crate::finding::Finding;
use crate::outcome::{CaseOutcome, ResponseSnapshot, Status};

/// Marks an expected value that is a description (`matches /x/`), not a literal.
const DESCRIBED: &str = "\u{0}described:";

/// Headers that change on every request: left out so diffs stay stable from run to run.
const VOLATILE: &[&str] = &["date"];

/// Where in the response document a finding belongs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Status,
    Header(String),
    Json(String),
    Blank,
}

struct Line {
    text: String,
    key: Key,
}

/// Whether a case has a diff file: it failed, and on a response.
pub fn has_diff(o: &CaseOutcome) -> bool {
    o.status == Status::Failed && o.response.is_some()
}

/// A failing case's diff file in its two parts, so each report takes the part it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseDiff {
    /// The case, its step, its findings and how to read the diff. When no finding has a place
    /// in the response, it ends with the response as received.
    pub header: String,
    /// The unified diff, from its `--- expected` line; `None` when no finding has a place in
    /// the response.
    pub unified: Option<String>,
}

impl CaseDiff {
    /// The whole diff file.
    pub fn text(&self) -> String {
        let mut out = self.header.clone();
        out.push_str(self.unified.as_deref().unwrap_or(""));
        out
    }
}

/// The diff file for a failed case with a response; `None` for any other case. Every text from
/// the suite or the server is on lines of its own with control characters escaped, so the file
/// can be `cat` to a terminal.
pub fn case_diff(o: &CaseOutcome, strict: bool) -> Option<CaseDiff> {
    if !has_diff(o) {
        return None;
    }
    let response = o.response.as_ref()?;
    let failures: Vec<&Finding> = o.failures(strict).collect();
    let mut out = String::new();
    let _ = writeln!(out, "tokenconf: {} (failed)", esc(&o.test));
    if let Some(step) = &o.step {
        let _ = writeln!(out, "step: {}", esc(step));
    }
    for q in &o.requests {
        let _ = writeln!(out, "request ({}):", esc(&q.step));
        for line in q.lines() {
            let _ = writeln!(out, "{}", format!("  {}", esc(&line)).trim_end());
        }
    }
    out.push_str("findings:\n");
    for f in &failures {
        let at = f
            .path
            .as_deref()
            .map(|p| format!(" at {}", esc(p)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  [{}] {}{at}: {}",
            f.level.name(),
            esc(&f.rule),
            esc(&f.message)
        );
    }
    out.push_str(
        "expected (-) is the response the suite and its rules ask for; actual (+) is the response\n\
         received. <...> describes an expected value; \"<- rule\" marks the lines that failed.\n\
         Credentials are redacted.\n\n",
    );
    let (expected, actual) = documents(response, &failures);
    let diff = TextDiff::from_lines(&expected, &actual);
    let unified = diff
        .unified_diff()
        .context_radius(100_000)
        .header("expected", "actual")
        .to_string();
    if unified.is_empty() {
        out.push_str("(no finding has a place in the response; the response as received:)\n");
        out.push_str(&actual);
        return Some(CaseDiff {
            header: out,
            unified: None,
        });
    }
    Some(CaseDiff {
        header: out,
        unified: Some(unified),
    })
}

/// `(expected, actual)` as text, one value a line.
fn documents(response: &ResponseSnapshot, failures: &[&Finding]) -> (String, String) {
    let mut status_want: Option<String> = None;
    let mut headers_want: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut json_want = response.json.clone();
    let mut marks: BTreeMap<Key, String> = BTreeMap::new();
    for f in failures {
        match place(f, response) {
            Some(Place::Status(want)) => {
                status_want = Some(want);
                marks.entry(Key::Status).or_insert_with(|| f.rule.clone());
            }
            Some(Place::Header(name, want)) => {
                marks
                    .entry(Key::Header(name.clone()))
                    .or_insert_with(|| f.rule.clone());
                headers_want.insert(name, want);
            }
            Some(Place::Json(segments, want)) => {
                if let Some(body) = json_want.as_mut() {
                    if set_at(body, &segments, want) {
                        marks
                            .entry(Key::Json(pointer(&segments)))
                            .or_insert_with(|| f.rule.clone());
                    }
                }
            }
            None => {}
        }
    }
    let actual = lines(response, None, &BTreeMap::new(), response.json.as_ref());
    let expected = lines(
        response,
        status_want.as_deref(),
        &headers_want,
        json_want.as_ref(),
    );
    // A mark goes on the expected line; on the actual one when expected has no such line.
    let expected_keys: Vec<&Key> = expected.iter().map(|l| &l.key).collect();
    let render = |doc: &[Line], side_expected: bool| -> String {
        let mut text = String::new();
        for l in doc {
            // One line each: a newline or escape sequence in a value cannot break out of it.
            text.push_str(&esc(&l.text));
            if let Some(rule) = marks.get(&l.key) {
                if side_expected || !expected_keys.contains(&&l.key) {
                    let _ = write!(text, "    <- {}", esc(rule));
                }
            }
            text.push('\n');
        }
        text
    };
    (render(&expected, true), render(&actual, false))
}

enum Place {
    Status(String),
    /// `None`: the header must be absent.
    Header(String, Option<String>),
    /// `None`: the member must be absent.
    Json(Vec<Seg>, Option<Value>),
}

#[derive(Debug, Clone)]
enum Seg {
    Name(String),
    Index(usize),
}

fn place(f: &Finding, response: &ResponseSnapshot) -> Option<Place> {
    let expected = f.expected.as_deref().unwrap_or("");
    if f.rule == "status" {
        return Some(Place::Status(expected.to_string()));
    }
    if let Some(name) = f.rule.strip_prefix("header ") {
        let want = (expected != "absent").then(|| described(expected));
        return Some(Place::Header(name.to_ascii_lowercase(), want));
    }
    if let Some(path) = &f.path {
        let segments = if path.starts_with('$') {
            json_path_segments(path)?
        } else {
            pointer_segments(path)?
        };
        if segments.is_empty() {
            return None;
        }
        let want = match expected {
            "absent" | "no refresh_token" => None,
            "" => Some(Value::String(format!("{DESCRIBED}{}", f.message))),
            e => Some(
                serde_json::from_str::<Value>(e)
                    .unwrap_or_else(|_| Value::String(format!("{DESCRIBED}{e}"))),
            ),
        };
        return Some(Place::Json(segments, want));
    }
    // Rules write header expectations as `Name: value` and status ones as `401`.
    if let Some((name, value)) = expected.split_once(": ") {
        let is_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if is_name {
            return Some(Place::Header(
                name.to_ascii_lowercase(),
                Some(value.to_string()),
            ));
        }
    }
    let looks_like_status = expected.len() >= 3
        && expected.as_bytes()[..3].iter().all(u8::is_ascii_digit)
        && f.actual.as_deref() == Some(response.status.to_string().as_str());
    looks_like_status.then(|| Place::Status(expected.to_string()))
}

/// A predicate description as it reads in an expected header line.
fn described(expected: &str) -> String {
    format!("<{expected}>")
}

/// `$.a.b[0]['c-d']` → segments; `None` for wildcards, filters and other non-singular paths.
fn json_path_segments(path: &str) -> Option<Vec<Seg>> {
    let mut rest = path.strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || name == "*" {
                return None;
            }
            out.push(Seg::Name(name.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            if let Ok(i) = inner.parse::<usize>() {
                out.push(Seg::Index(i));
            } else if inner.len() >= 2
                && (inner.starts_with('\'') && inner.ends_with('\'')
                    || inner.starts_with('"') && inner.ends_with('"'))
            {
                out.push(Seg::Name(inner[1..inner.len() - 1].to_string()));
            } else {
                return None;
            }
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

fn pointer_segments(pointer: &str) -> Option<Vec<Seg>> {
    let rest = pointer.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    Some(
        rest.split('/')
            .map(|s| {
                let s = s.replace("~1", "/").replace("~0", "~");
                match s.parse::<usize>() {
                    Ok(i) => Seg::Index(i),
                    Err(_) => Seg::Name(s),
                }
            })
            .collect(),
    )
}

fn pointer(segments: &[Seg]) -> String {
    let mut out = String::new();
    for s in segments {
        out.push('/');
        match s {
            Seg::Name(n) => out.push_str(&n.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// Sets (or, with `None`, removes) the value at `segments`, creating missing members; false
/// when the path runs through something that is not a container.
fn set_at(body: &mut Value, segments: &[Seg], want: Option<Value>) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = body;
    for seg in parents {
        node = match (seg, node) {
            (Seg::Name(n), Value::Object(map)) => {
                if want.is_none() && !map.contains_key(n) {
                    return true;
                }
                map.entry(n.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
            (Seg::Index(i), Value::Array(items)) if *i < items.len() => &mut items[*i],
            _ => return false,
        };
    }
    match (last, node, want) {
        (Seg::Name(n), Value::Object(map), Some(v)) => {
            map.insert(n.clone(), v);
            true
        }
        (Seg::Name(n), Value::Object(map), None) => {
            map.remove(n);
            true
        }
        (Seg::Index(i), Value::Array(items), Some(v)) if *i < items.len() => {
            items[*i] = v;
            true
        }
        (Seg::Index(i), Value::Array(items), None) if *i < items.len() => {
            items.remove(*i);
            true
        }
        _ => false,
    }
}

fn lines(
    response: &ResponseSnapshot,
    status_want: Option<&str>,
    headers_want: &BTreeMap<String, Option<String>>,
    json: Option<&Value>,
) -> Vec<Line> {
    let mut out = Vec::new();
    let status = status_want
        .map(str::to_string)
        .unwrap_or_else(|| response.status.to_string());
    out.push(Line {
        text: format!("HTTP {status}"),
        key: Key::Status,
    });
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &response.headers {
        let k = k.to_ascii_lowercase();
        if VOLATILE.contains(&k.as_str()) {
            continue;
        }
        headers
            .entry(k)
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(v);
            })
            .or_insert_with(|| v.clone());
    }
    for (k, want) in headers_want {
        match want {
            Some(v) => headers.insert(k.clone(), v.clone()),
            None => headers.remove(k),
        };
    }
    for (k, v) in headers {
        out.push(Line {
            text: format!("{k}: {v}"),
            key: Key::Header(k),
        });
    }
    out.push(Line {
        text: String::new(),
        key: Key::Blank,
    });
    match (json, &response.text) {
        (Some(v), _) => pretty(v, 0, "", String::new(), false, &mut out),
        // One line (the preview is one already): a body's own lines cannot pass for ours.
        (None, Some(t)) => out.push(Line {
            text: t.clone(),
            key: Key::Blank,
        }),
        (None, None) => out.push(Line {
            text: "(empty body)".into(),
            key: Key::Blank,
        }),
    }
    out
}

fn line(text: String, key: Key) -> Line {
    Line { text, key }
}

/// Pretty JSON (two-space indent, keys sorted) with the pointer of each line.
fn pretty(v: &Value, depth: usize, label: &str, at: String, comma: bool, out: &mut Vec<Line>) {
    let pad = "  ".repeat(depth);
    let tail = if comma { "," } else { "" };
    match v {
        Value::Object(map) if !map.is_empty() => {
            out.push(line(format!("{pad}{label}{{"), Key::Json(at.clone())));
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                let child_label = format!("{}: ", Value::String((*k).clone()));
                let child_at = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                pretty(
                    &map[*k],
                    depth + 1,
                    &child_label,
                    child_at,
                    i + 1 < keys.len(),
                    out,
                );
            }
            out.push(Line {
                text: format!("{pad}}}{tail}"),
                key: Key::Blank,
            });
        }
        Value::Array(items) if !items.is_empty() => {
            out.push(line(format!("{pad}{label}["), Key::Json(at.clone())));
            for (i, item) in items.iter().enumerate() {
                pretty(
                    item,
                    depth + 1,
                    "",
                    format!("{at}/{i}"),
                    i + 1 < items.len(),
                    out,
                );
            }
            out.push(Line {
                text: format!("{pad}]{tail}"),
                key: Key::Blank,
            });
        }
        Value::String(s) if s.starts_with(DESCRIBED) => out.push(line(
            format!("{pad}{label}<{}>{tail}", &s[DESCRIBED.len()..]),
            Key::Json(at),
        )),
        other => out.push(line(format!("{pad}{label}{other}{tail}"), Key::Json(at))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Level;
    use std::time::Duration;

    fn finding(rule: &str, expected: &str, actual: &str, path: Option<&str>) -> Finding {
        Finding {
            rule: rule.into(),
            level: Level::Must,
            message: format!("{rule} failed"),
            expected: Some(expected.into()),
            actual: Some(actual.into()),
            source: None,
            path: path.map(str::to_string),
            accepted: None,
            step: None,
        }
    }

    fn outcome(findings: Vec<Finding>) -> CaseOutcome {
        let mut o = CaseOutcome::new("s", "x", "c", "s::c", Status::Failed);
        o.findings = findings;
        o.duration = Duration::from_millis(3);
        o.response = Some(ResponseSnapshot {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("date".into(), "Mon".into()),
            ],
            json: Some(serde_json::json!({
                "token_type": "Bearer", "access_token": "[redacted]", "expires_in": 3600
            })),
            text: None,
        });
        o
    }

    #[test]
    fn marks_status_headers_and_json_paths() {
        let o = outcome(vec![
            finding("status", "201", "200", None),
            finding("header cache-control", "contains \"no-store\"", "", None),
            finding(
                "json $.token_type",
                "\"MAC\"",
                "\"Bearer\"",
                Some("$.token_type"),
            ),
            finding("json $.expires_in", "absent", "3600", Some("$.expires_in")),
            finding("schema x", "", "", Some("/scope")),
        ]);
        let d = case_diff(&o, false).unwrap().text();
        for needle in [
            "-HTTP 201    <- status",
            "+HTTP 200\n",
            "-cache-control: <contains \"no-store\">    <- header cache-control",
            "-  \"token_type\": \"MAC\"    <- json $.token_type",
            "+  \"token_type\": \"Bearer\"",
            "+  \"expires_in\": 3600,    <- json $.expires_in",
            "-  \"scope\": <schema x failed>",
            " content-type: application/json",
            "--- expected",
        ] {
            assert!(d.contains(needle), "missing {needle:?} in\n{d}");
        }
        assert!(!d.contains("date: Mon"), "{d}");
    }

    #[test]
    fn only_failed_cases_with_a_response_have_a_diff() {
        let mut o = outcome(vec![]);
        o.status = Status::Errored;
        assert!(case_diff(&o, false).is_none());
        o.status = Status::Failed;
        o.response = None;
        assert!(case_diff(&o, false).is_none());
    }

    #[test]
    fn server_text_stays_on_its_lines_and_cannot_start_the_unified_part() {
        let mut f = finding("status", "201", "200", None);
        f.message = "x --- expected\n+++ actual\n\x1b[2J".into();
        let mut o = outcome(vec![f]);
        o.response
            .as_mut()
            .unwrap()
            .headers
            .push(("x-a".into(), "1\r\n+HTTP 201".into()));
        let d = case_diff(&o, false).unwrap();
        assert!(!d.header.contains("--- expected\n+++"), "{}", d.header);
        let unified = d.unified.unwrap();
        let d = d.header + &unified;
        assert!(!d.contains('\x1b') && !d.contains('\r'), "{d}");
        assert!(d.contains("x --- expected\\n+++ actual\\n\\x1b[2J"), "{d}");
        assert!(d.contains("\n x-a: 1\\r\\n+HTTP 201\n"), "{d}");
        assert!(
            unified.starts_with("--- expected\n+++ actual\n@@"),
            "{unified}"
        );
    }
}
