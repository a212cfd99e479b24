//! The editor schemas under specs/tokenconf/: they are what `tokenconf schema` prints, every file
//! the repository ships validates against them, and on the hand-written shapes (scalars, statuses,
//! predicates, captures) a schema accepts exactly what the loader's parser accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::root;
use serde_json::Value;
use tokenconf::suite::model::SuiteFile;

const FORMATS: [&str; 3] = ["suite", "targets", "expected"];

fn committed(format: &str) -> PathBuf {
    root().join(format!("specs/tokenconf/{format}.schema.json"))
}

fn validator(format: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(committed(format)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

/// A YAML file as the JSON value an editor's YAML language server checks: YAML 1.2, where
/// `n` and `yes` are strings, not the YAML 1.1 booleans serde-saphyr infers by default.
fn yaml_value(text: &str) -> Value {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).unwrap()
}

/// The schema's complaints about `path`, each with where in the file.
fn problems(v: &jsonschema::Validator, path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let value = yaml_value(&text);
    v.iter_errors(&value)
        .map(|e| format!("{}: {} at {}", path.display(), e, e.instance_path()))
        .collect()
}

/// Files under `dir` (recursively) whose name ends with `suffix`, sorted.
fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root().join(dir))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    out
}

fn assert_all_valid(format: &str, paths: &[PathBuf]) {
    let v = validator(format);
    let all: Vec<String> = paths.iter().flat_map(|p| problems(&v, p)).collect();
    assert!(all.is_empty(), "{}", all.join("\n"));
}

/// The first line names the schema by a relative path that resolves to the committed file.
fn assert_schema_line(path: &Path, format: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next().unwrap_or_default();
    let rel = first
        .strip_prefix("# yaml-language-server: $schema=")
        .unwrap_or_else(|| panic!("{}: first line is {first:?}", path.display()));
    let named = path.parent().unwrap().join(rel).canonicalize().unwrap();
    assert_eq!(
        named,
        committed(format).canonicalize().unwrap(),
        "{}",
        path.display()
    );
}

#[test]
fn the_committed_schemas_are_what_the_command_prints() {
    for format in FORMATS {
        let out = Command::new(env!("CARGO_BIN_EXE_tokenconf"))
            .args(["schema", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let file = committed(format);
        let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            String::from_utf8_lossy(&out.stdout) == on_disk,
            "{} differs from `tokenconf schema {format}`; regenerate it with\n  cargo run -- schema {format} > specs/tokenconf/{format}.schema.json",
            file.display()
        );
        let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert!(jsonschema::meta::is_valid(&schema), "{format}");
    }
}

#[test]
fn doc_comments_become_descriptions_and_unknown_keys_are_closed() {
    let text = std::fs::read_to_string(committed("suite")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let jwts = &schema["properties"]["jwts"]["description"];
    assert!(jwts.as_str().unwrap().contains("{{ jwt.NAME }}"), "{jwts}");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["$defs"]["CaseFile"]["additionalProperties"], false);
}

#[test]
fn the_targets_schema_offers_the_presets_the_loader_knows() {
    let text = std::fs::read_to_string(committed("targets")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let offered = &schema["$defs"]["ApiFile"]["properties"]["preset"]["enum"];
    let mut known: Vec<Value> = tokenconf::target::PRESETS
        .iter()
        .map(|&p| p.into())
        .collect();
    known.push(Value::Null);
    assert_eq!(offered, &Value::Array(known));
}

#[test]
fn the_suite_schema_offers_the_jwt_algorithms_the_loader_takes() {
    let text = std::fs::read_to_string(committed("suite")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let offered = schema["$defs"]["JwtFile"]["properties"]["alg"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(offered.len(), 12);
    for alg in offered {
        let alg = alg.as_str().unwrap();
        assert!(alg.parse::<jsonwebtoken::Algorithm>().is_ok(), "{alg}");
    }
}

#[test]
fn every_shipped_suite_validates_and_names_the_schema() {
    let suites = files("suites", ".yaml");
    assert!(suites.len() >= 17, "{suites:?}");
    for s in &suites {
        assert_schema_line(s, "suite");
    }
    assert_all_valid("suite", &suites);
    assert_all_valid("suite", &files("tests/fixtures/golden", ".yaml"));
}

#[test]
fn every_targets_file_validates() {
    let examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    assert!(!examples.is_empty());
    for e in &examples {
        assert_schema_line(e, "targets");
    }
    let servers = files("tests/servers", "/targets.yaml");
    assert!(!servers.is_empty());
    assert_all_valid("targets", &[examples, servers].concat());
}

#[test]
fn every_expected_findings_file_validates() {
    let expected = files("tests", "/expected.yaml");
    assert!(!expected.is_empty());
    assert_all_valid("expected", &expected);
}

#[test]
fn what_write_expected_writes_validates() {
    let dir = tempfile::tempdir().unwrap();
    let written = dir.path().join("expected.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_tokenconf"))
        .current_dir(root())
        .env_remove("GITHUB_ACTIONS")
        .arg("run")
        .arg("tests/fixtures/golden/failing.yaml")
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .arg("--write-expected")
        .arg(&written)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = validator("expected");
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(
        yaml_value(&text).as_array().is_some_and(|a| !a.is_empty()),
        "{text}"
    );
    assert_eq!(problems(&v, &written), Vec::<String>::new());
}

#[test]
fn a_suite_with_an_unknown_key_fails_the_schema() {
    let v = validator("suite");
    let broken = root().join("tests/fixtures/broken/unknown-key.yaml");
    let found = problems(&v, &broken);
    assert!(found.iter().any(|p| p.contains("expct")), "{found:?}");
    // Missing `cases`, an unknown top-level key, a wrong type.
    for text in [
        "api: talkdesk\n",
        "api: talkdesk\ncases: []\nvariables: {}\n",
        "api: talkdesk\ncases: [{ name: a, request: { timeout_ms: soon } }]\n",
    ] {
        assert!(!v.is_valid(&yaml_value(text)), "{text}");
    }
    let t = validator("targets");
    let typo = "targets:\n  a:\n    talkdesk: { base_url: https://x.test, secret: {} }\n";
    assert!(!t.is_valid(&yaml_value(typo)));
    let e = validator("expected");
    assert!(!e.is_valid(&yaml_value("- { test: a, rule: b }\n")));
    assert!(!e.is_valid(&yaml_value("- { test: a, rule: b, reason: c, why: d }\n")));
}

/// Each sample, put in its place in a suite, is accepted by the schema exactly when the loader's
/// parser accepts it: the hand-written schemas mirror the hand-written visitors.
#[test]
fn the_schema_accepts_what_the_parser_accepts() {
    let v = validator("suite");
    let status = [
        "200",
        "-1",
        "\"200\"",
        "4xx",
        "[200, 201]",
        "[200, 4xx, true, 1.5]",
        "~",
        "true",
        "2.5",
        "{ code: 200 }",
        "[[200]]",
        "[~]",
    ];
    let predicate = [
        "absent",
        "exists",
        "Bearer",
        "\"absent\"",
        "1",
        "-1",
        "1.5",
        "true",
        "~",
        "{ contains: no-store }",
        "{ type: integer, min: 1, max: 600 }",
        "{ equals: [1, 2], one_of: [a, 1], exists: true }",
        "[1, 2]",
        "{ nope: 1 }",
        "{ type: float }",
        "{ exists: maybe }",
    ];
    let capture = [
        "$.access_token",
        "{ json: $.a }",
        "{ header: location, regex: \"code=([^&]+)\" }",
        "{ json: ~ }",
        "{}",
        "{ cookie: a }",
        "[a]",
        "1",
        "true",
        "~",
    ];
    // Text fields (`name`, `api`, `rules`…) take a plain number or boolean as its text in the
    // loader; the schema asks for a string there on purpose, so an editor says to quote it.
    let name = ["a b", "\"404\"", "~", "[a]", "{ a: b }"];
    let scalar = [
        "a", "1", "-1", "1.5", "true", "\"\"", "~", "[1]", "{ a: 1 }",
    ];
    let mut checked = 0;
    let mut mismatches = Vec::new();
    let mut check = |what: &str, sample: &str, text: String| {
        let parsed = serde_saphyr::from_str::<SuiteFile>(&text);
        let valid = v.is_valid(&yaml_value(&text));
        if parsed.is_ok() != valid {
            mismatches.push(format!(
                "{what} {sample}: parser {}, schema {}",
                if parsed.is_ok() { "accepts" } else { "rejects" },
                if valid { "accepts" } else { "rejects" }
            ));
        }
        checked += 1;
    };
    let case = |expect: &str, capture: &str| {
        format!(
            "api: x\ncases:\n  - name: n\n    request: {{ path: / }}\n    expect: {expect}\n    capture: {capture}\n"
        )
    };
    for s in status {
        check("status", s, case(&format!("{{ status: {s} }}"), "{}"));
    }
    for p in predicate {
        check(
            "predicate",
            p,
            case(&format!("{{ json: {{ $.a: {p} }} }}"), "{}"),
        );
        check(
            "header predicate",
            p,
            case(&format!("{{ headers: {{ pragma: {p} }} }}"), "{}"),
        );
    }
    for c in capture {
        check("capture", c, case("{}", &format!("{{ c: {c} }}")));
    }
    for s in scalar {
        check("var", s, format!("api: x\nvars: {{ v: {s} }}\ncases: []\n"));
        check(
            "form field",
            s,
            case("{}", "{}").replace("path: /", &format!("path: /, form: {{ f: {s} }}")),
        );
    }
    for n in name {
        check(
            "name",
            n,
            case("{}", "{}").replace("name: n", &format!("name: {n}")),
        );
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let unquoted = case("{}", "{}").replace("name: n", "name: 404");
    assert!(serde_saphyr::from_str::<SuiteFile>(&unquoted).is_ok());
    assert!(!v.is_valid(&yaml_value(&unquoted)));
    assert_eq!(
        checked,
        status.len() + 2 * predicate.len() + capture.len() + 2 * scalar.len() + name.len()
    );
}
