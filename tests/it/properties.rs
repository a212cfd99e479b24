//! Bounded property tests over what reads user input: the suite loader, the targets loader and
//! the template engine. Inputs are the shipped suites and example targets, mutated (ranges cut,
//! YAML-significant snippets inserted, lines doubled and swapped), plus arbitrary text. However
//! broken the input: no panic, and every error says where (file:line:column, or the file).
//! A fixed seed and a few hundred cases, so `cargo test` is repeatable and quick; `fuzz/` runs
//! the same entry points without bounds.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use crate::support::root;
use tokenconf::error::ConfigError;
use tokenconf::suite::schema::SchemaRegistry;
use tokenconf::suite::template::{JsonTemplate, Scope, Template};

fn config() -> Config {
    Config {
        cases: 300,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x70c0_4f1e),
        ..Config::default()
    }
}

fn suite_texts() -> Vec<(PathBuf, String)> {
    walkdir::WalkDir::new(root().join("suites"))
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap();
            (e.path().to_path_buf(), text)
        })
        .collect()
}

/// What breaks YAML, templates, JSONPath and regexes in interesting ways.
const SNIPPETS: &[&str] = &[
    "{{",
    "}}",
    "{{ nope }}",
    "{{ now+99999999999999999999 }}",
    "{{ jwt.x }}",
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "\t",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "<<: *a",
    "!!binary x",
    "---\n",
    "\"",
    "'",
    "#",
    "é",
    "\u{0}",
    "\u{feff}",
    "\r",
    "$..[?@.a]",
    "$[",
    "schema: /dev/zero",
    "schema: ../../../etc/passwd",
    "status: 99999",
    "regex: \"(\"",
    "matches: \"[\"",
    "rules: [nope]",
    "requires: [x]",
    "auth: { basic: {} }",
    "json: {",
    "~",
    "null",
    "!!str",
    "9999999999999999999999",
    "-1",
    "1e999",
    "?",
    "|",
    ">",
    "%YAML 1.2\n",
];

#[derive(Debug, Clone)]
enum Edit {
    Cut(usize, usize),
    Insert(usize, usize),
    DoubleLine(usize),
    SwapLines(usize, usize),
    Char(usize, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0usize..200).prop_map(|(a, n)| Edit::Cut(a, n)),
        (any::<usize>(), 0..SNIPPETS.len()).prop_map(|(a, s)| Edit::Insert(a, s)),
        any::<usize>().prop_map(Edit::DoubleLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Edit::Char(a, c)),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut text = text.to_string();
    for e in edits {
        match *e {
            Edit::Cut(at, n) => {
                let a = boundary(&text, at);
                let b = boundary(&text, (a + n).min(text.len()));
                text.replace_range(a..b.max(a), "");
            }
            Edit::Insert(at, s) => {
                let a = boundary(&text, at);
                text.insert_str(a, SNIPPETS[s]);
            }
            Edit::DoubleLine(at) | Edit::SwapLines(at, _) if text.lines().count() == 0 => {
                let _ = at;
            }
            Edit::DoubleLine(at) => {
                let mut lines: Vec<&str> = text.lines().collect();
                let i = at % lines.len();
                lines.insert(i, lines[i]);
                text = lines.join("\n");
            }
            Edit::SwapLines(a, b) => {
                let mut lines: Vec<&str> = text.lines().collect();
                let n = lines.len();
                lines.swap(a % n, b % n);
                text = lines.join("\n");
            }
            Edit::Char(at, c) => {
                let a = boundary(&text, at);
                text.insert(a, c);
            }
        }
    }
    text
}

fn has_location(e: &ConfigError, file: &Path) -> Result<(), String> {
    let name = file.display().to_string();
    let sources = match e {
        ConfigError::Source(s) => vec![s.clone()],
        ConfigError::Many(many) => many.clone(),
        other => {
            let text = other.to_string();
            return if text.contains(&name) {
                Ok(())
            } else {
                Err(format!("an error that names no file: {text}"))
            };
        }
    };
    for s in sources {
        if s.line == 0 || s.column == 0 {
            return Err(format!("an error without line:column: {}", s.rendered));
        }
        if !s
            .rendered
            .contains(&format!("{name}:{}:{}", s.line, s.column))
        {
            return Err(format!(
                "the rendering lacks {name}:{}:{}:\n{}",
                s.line, s.column, s.rendered
            ));
        }
        if s.message.chars().count() > 2_000 {
            return Err(format!("a {}-character message", s.message.chars().count()));
        }
    }
    Ok(())
}

#[test]
fn a_mutated_suite_loads_or_says_where_it_is_wrong() {
    let suites = suite_texts();
    let rule_sets: Vec<&str> = tokenconf::rules::sets().iter().map(|s| s.name).collect();
    let specs = root().join("specs");
    let strategy = (0..suites.len(), prop::collection::vec(edit(), 1..6));
    proptest!(config(), |((which, edits) in strategy)| {
        let (file, original) = &suites[which];
        let text = apply(original, &edits);
        let mut schemas = SchemaRegistry::default();
        let result = tokenconf::suite::load_text(&text, file, "x".into(), &specs, &rule_sets, &mut schemas);
        if let Err(errors) = result {
            prop_assert!(!errors.is_empty());
            let e = ConfigError::from(errors);
            if let Err(why) = has_location(&e, file) {
                prop_assert!(false, "{}\n--- input ---\n{}", why, text);
            }
        }
    });
}

#[test]
fn arbitrary_text_as_a_suite_never_panics_and_errors_say_where() {
    let rule_sets: Vec<&str> = tokenconf::rules::sets().iter().map(|s| s.name).collect();
    let specs = root().join("specs");
    let file = Path::new("arbitrary.yaml");
    proptest!(config(), |(text in "\\PC{0,300}")| {
        let mut schemas = SchemaRegistry::default();
        if let Err(errors) = tokenconf::suite::load_text(&text, file, "x".into(), &specs, &rule_sets, &mut schemas) {
            if let Err(why) = has_location(&ConfigError::from(errors), file) {
                prop_assert!(false, "{}\n--- input ---\n{:?}", why, text);
            }
        }
    });
}

#[test]
fn a_mutated_targets_file_loads_or_says_where_it_is_wrong() {
    let file = root().join("examples/targets.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    let names = tokenconf::target::target_names(&file).unwrap();
    let strategy = (0..names.len(), prop::collection::vec(edit(), 1..6));
    proptest!(config(), |((which, edits) in strategy)| {
        let text = apply(&original, &edits);
        if let Err(e) = tokenconf::target::parse_target(&text, &file, &names[which]) {
            if let Err(why) = has_location(&e, &file) {
                prop_assert!(false, "{}\n--- input ---\n{}", why, text);
            }
        }
    });
}

#[test]
fn templates_parse_or_refuse_and_render_without_panicking() {
    let values: tokenconf::suite::template::Values = [
        ("a".to_string(), "x".to_string()),
        ("jwt.t".into(), "y".into()),
    ]
    .into_iter()
    .collect();
    let empty = tokenconf::suite::template::Values::default();
    let scope = Scope {
        captures: &empty,
        base: &values,
    };
    let pieces = prop::collection::vec(
        prop_oneof![
            (0..SNIPPETS.len()).prop_map(|i| SNIPPETS[i].to_string()),
            "\\PC{0,12}",
            Just("{{ a }}".to_string()),
            Just("{{ now-5 }}".to_string()),
            Just("{{ uuid }}".to_string()),
        ],
        0..8,
    );
    proptest!(config(), |(parts in pieces)| {
        let text = parts.concat();
        match Template::parse(&text) {
            Ok(t) => {
                let _ = t.render(&scope);
                let _ = t.variables().count();
            }
            Err(why) => prop_assert!(!why.is_empty()),
        }
        let json = serde_json::json!({ "k": text, "n": [text, 1, null] });
        if let Ok(t) = JsonTemplate::parse(&json) {
            let _ = t.render(&scope);
        }
    });
}

/// JSON text with names that repeat (one written with an escape), at any depth, sometimes cut
/// short or followed by more: what a server may send.
fn json_text() -> impl Strategy<Value = String> {
    const NAMES: &[&str] = &["a", "b", "ab", "a\\u0062", "k-1", "it's", "x y", "$"];
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("-0.0".to_string()),
        Just("1e400".to_string()),
        Just("18446744073709551616".to_string()),
        (-1000i64..1000).prop_map(|n| n.to_string()),
        "[a-z \\\\\"]{0,6}".prop_map(|s| format!("\"{s}\"")),
    ];
    let value = leaf.prop_recursive(4, 40, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((0..NAMES.len(), inner), 0..6).prop_map(|members| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(i, v)| format!("\"{}\":{v}", NAMES[i]))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    });
    (value, 0usize..4, "[ ,x}]{0,2}").prop_map(|(text, cut, more)| match cut {
        0 => text[..text.len() / 2].to_string(),
        1 => format!("{text}{more}"),
        _ => text,
    })
}

#[test]
fn a_response_parses_in_one_pass_as_serde_json_and_the_names_walk_see_it() {
    use tokenconf::http::json::{duplicate_names, parse};
    proptest!(config(), |(text in json_text())| {
        let body = text.as_bytes();
        let (value, found) = parse(body);
        prop_assert_eq!(&value, &serde_json::from_slice::<serde_json::Value>(body).ok());
        match (value, found) {
            (Some(_), Some(found)) => prop_assert_eq!(found, duplicate_names(body)),
            (Some(_), None) => prop_assert!(text.contains("$serde_json::private::RawValue")),
            (None, found) => prop_assert_eq!(found, None),
        }
    });
}
