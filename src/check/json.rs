use serde_json::Value;

use crate::finding::Finding;
use crate::redact::render_value;
use crate::suite::model::{type_name, JsonType, Presence};
use crate::suite::template::Scope;
use crate::suite::{JsonExpect, Predicate};

/// Why a value did not satisfy a predicate.
pub struct Failure {
    pub message: String,
    pub expected: String,
    /// The offending value, when there is one.
    pub actual: Option<Value>,
}

/// Every node `path` selects; none when it selects nothing.
pub fn eval_path<'a>(path: &serde_json_path::JsonPath, body: &'a Value) -> Vec<&'a Value> {
    path.query(body).all()
}

pub fn check(expect: &JsonExpect, body: &Value, scope: &Scope) -> Vec<Finding> {
    let nodes = eval_path(&expect.path, body);
    let mut failures = Vec::new();
    if nodes.is_empty() {
        failures.extend(eval_predicate(&expect.predicate, None, scope, false));
    }
    for node in nodes {
        failures.extend(eval_predicate(&expect.predicate, Some(node), scope, false));
    }
    failures
        .into_iter()
        .map(|failure| {
            let mut f = Finding::must(
                format!("json {}", expect.text),
                format!("{}: {}", expect.text, failure.message),
            )
            .expected(failure.expected)
            .at(expect.text.clone());
            if let Some(a) = failure.actual {
                f = f.actual(render_value(&expect.text, &a));
            }
            f
        })
        .collect()
}

/// `a` and `b` alike once lower-cased, as `to_lowercase` compares them, without copying either
/// when both are ASCII.
fn same_ignoring_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// Whether `text` holds `part`, ASCII letters in any case, as their `to_ascii_lowercase`
/// copies would, without the copies.
fn contains_ignoring_ascii_case(text: &str, part: &str) -> bool {
    part.is_empty()
        || (text.as_bytes())
            .windows(part.len())
            .any(|w| w.eq_ignore_ascii_case(part.as_bytes()))
}

/// `text_mode` is for header values: `contains` and `equals_ignore_case` ignore ASCII case there.
pub fn eval_predicate(
    p: &Predicate,
    actual: Option<&Value>,
    scope: &Scope,
    text_mode: bool,
) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut fail = |message: String, expected: String, actual: Option<&Value>| {
        out.push(Failure {
            message,
            expected,
            actual: actual.cloned(),
        })
    };
    let Some(value) = actual else {
        if p.presence != Some(Presence::Absent) {
            fail("is missing".into(), p.describe(), None);
        }
        return out;
    };
    if p.presence == Some(Presence::Absent) {
        fail(
            "is present, expected absent".into(),
            "absent".into(),
            Some(value),
        );
        return out;
    }
    let render = |t: &crate::suite::template::JsonTemplate| t.render(scope).unwrap_or(Value::Null);
    if let Some(want) = &p.equals {
        let want = render(want);
        if !same(&want, value) {
            fail(format!("expected {want}"), want.to_string(), Some(value));
        }
    }
    if let Some(want) = &p.not_equals {
        let want = render(want);
        if same(&want, value) {
            fail(
                format!("must not equal {want}"),
                format!("not {want}"),
                Some(value),
            );
        }
    }
    if let Some(want) = &p.equals_ignore_case {
        let want = want.render_cow(scope).unwrap_or_default();
        match value.as_str() {
            Some(s) if same_ignoring_case(s, &want) => {}
            _ => fail(
                format!("expected {want:?} (any case)"),
                format!("{want:?} (any case)"),
                Some(value),
            ),
        }
    }
    if let Some(want) = &p.contains {
        let want = want.render_cow(scope).unwrap_or_default();
        let ok = match value {
            Value::String(s) if text_mode => contains_ignoring_ascii_case(s, &want),
            Value::String(s) => s.contains(want.as_ref()),
            Value::Array(items) => items.iter().any(|i| i.as_str() == Some(want.as_ref())),
            _ => false,
        };
        if !ok {
            fail(
                format!("does not contain {want:?}"),
                format!("contains {want:?}"),
                Some(value),
            );
        }
    }
    if let Some(re) = &p.matches {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => String::new(),
        };
        if !re.is_match(&text) {
            fail(
                format!("does not match /{}/", re.as_str()),
                format!("matches /{}/", re.as_str()),
                Some(value),
            );
        }
    }
    if let Some(kind) = p.kind {
        if !has_type(value, kind) {
            fail(
                format!("is {}, expected {}", type_name(value), kind.with_article()),
                kind.with_article().to_string(),
                Some(value),
            );
        }
    }
    if !p.one_of.is_empty() {
        let options: Vec<Value> = p.one_of.iter().map(render).collect();
        if !options.iter().any(|o| same(o, value)) {
            let list = options
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            fail(
                format!("is not one of {list}"),
                format!("one of {list}"),
                Some(value),
            );
        }
    }
    if p.min.is_some() || p.max.is_some() {
        match number_of(value, text_mode) {
            Some(n) => {
                if let Some(min) = p.min.filter(|m| n < *m) {
                    fail(format!("is below {min}"), format!(">= {min}"), Some(value));
                }
                if let Some(max) = p.max.filter(|m| n > *m) {
                    fail(format!("is above {max}"), format!("<= {max}"), Some(value));
                }
            }
            None => fail(
                format!("is {}, expected a number", type_name(value)),
                "a number".into(),
                Some(value),
            ),
        }
    }
    out
}

/// JSON equality where 600 equals 600.0, and a header's text equals a number or boolean written in YAML.
fn same(want: &Value, actual: &Value) -> bool {
    match (want, actual) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(n), Value::String(s)) => n.to_string() == *s,
        (Value::Bool(b), Value::String(s)) => b.to_string() == *s,
        (a, b) => a == b,
    }
}

fn number_of(value: &Value, text_mode: bool) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if text_mode => s.trim().parse().ok(),
        _ => None,
    }
}

fn has_type(value: &Value, kind: JsonType) -> bool {
    match kind {
        JsonType::String => value.is_string(),
        JsonType::Number => value.is_number(),
        JsonType::Integer => value.is_i64() || value.is_u64(),
        JsonType::Boolean => value.is_boolean(),
        JsonType::Object => value.is_object(),
        JsonType::Array => value.is_array(),
        JsonType::Null => value.is_null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The comparisons without copies decide as the lower-cased copies did, on texts mixing
    /// ASCII letters of both cases with letters that change length or have no ASCII case.
    #[test]
    fn case_blind_comparisons_decide_as_the_lower_cased_copies_did() {
        let pieces = prop::collection::vec(
            prop::sample::select(vec![
                "a", "A", "b", "B", "no-store", "NO-STORE", "Bearer", "bearer", "é", "É", "İ", "ß",
                "K", "k", "\u{212A}", " ", ",", "",
            ]),
            0..6,
        );
        let config = proptest::test_runner::Config {
            cases: 4000,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed),
            ..Default::default()
        };
        proptest::proptest!(config, |(a in pieces.clone(), b in pieces)| {
            let (a, b) = (a.concat(), b.concat());
            prop_assert_eq!(same_ignoring_case(&a, &b), a.to_lowercase() == b.to_lowercase());
            prop_assert_eq!(
                contains_ignoring_ascii_case(&a, &b),
                a.to_ascii_lowercase().contains(&b.to_ascii_lowercase())
            );
        });
        assert!(contains_ignoring_ascii_case(
            "private, NO-STORE",
            "no-store"
        ));
        assert!(!contains_ignoring_ascii_case("no-cache", "no-store"));
        assert!(same_ignoring_case("Bearer", "BEARER"));
        assert!(!same_ignoring_case("Bearer", "Bearer "));
    }
}
