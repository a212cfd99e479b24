//! Compact builders for the rules' unit tests.

use std::time::Duration;

use serde_json::Value;

use super::{Exchange, Rule, Violation};
use crate::http::{Received, Sent};
use crate::suite::template::Scope;

pub fn received(status: u16, headers: &[(&str, &str)], body: Value) -> Received {
    Received {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_string().into_bytes(),
        json: Some(body),
        duplicate_names: None,
        elapsed: Duration::ZERO,
    }
}

/// A JSON response with `content-type: application/json`.
pub fn json(status: u16, body: Value) -> Received {
    received(status, &[("content-type", "application/json")], body)
}

pub fn sent(form: &[(&str, &str)], basic: bool) -> Sent {
    Sent {
        method: "POST".into(),
        form: form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        basic_auth: basic,
        ..Default::default()
    }
}

pub fn bearer(token: &str) -> Sent {
    Sent {
        method: "GET".into(),
        bearer_token: Some(token.to_string()),
        ..Default::default()
    }
}

pub fn run_with(rule: &Rule, s: &Sent, r: &Received, values: &[(&str, &str)]) -> Vec<Violation> {
    let empty = crate::suite::template::Values::default();
    let base: crate::suite::template::Values = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let scope = Scope {
        captures: &empty,
        base: &base,
    };
    (rule.check)(&Exchange {
        sent: s,
        received: r,
        values: &scope,
        earlier: &[],
    })
}

/// `rule` in a case whose earlier steps exchanged `earlier` (a cross-response rule's input).
pub fn run_after(
    rule: &Rule,
    s: &Sent,
    r: &Received,
    earlier: &[(Sent, Received)],
) -> Vec<Violation> {
    let empty = crate::suite::template::Values::default();
    let scope = Scope {
        captures: &empty,
        base: &empty,
    };
    (rule.check)(&Exchange {
        sent: s,
        received: r,
        values: &scope,
        earlier,
    })
}

pub fn run(rule: &Rule, s: &Sent, r: &Received) -> Vec<Violation> {
    run_with(rule, s, r, &[])
}

#[track_caller]
pub fn passes(rule: &Rule, s: &Sent, r: &Received) {
    let v = run(rule, s, r);
    assert!(v.is_empty(), "{} fired: {:?}", rule.id, v);
}

#[track_caller]
pub fn fails(rule: &Rule, s: &Sent, r: &Received) {
    let v = run(rule, s, r);
    assert!(!v.is_empty(), "{} did not fire", rule.id);
    for x in &v {
        assert!(!x.message.is_empty(), "{}: empty message", rule.id);
    }
}
