//! Checks: what a response must satisfy. Each returns findings (data); reporters render them.

mod headers;
mod json;
pub mod schema;
mod status;

use crate::finding::Finding;
use crate::http::{Received, Sent};
use crate::suite::schema::SchemaRegistry;
use crate::suite::template::Scope;
use crate::suite::Expect;

pub use json::eval_path;

/// Every expectation and rule of `expect` held against one exchange.
pub fn check_step(
    expect: &Expect,
    sent: &Sent,
    received: &Received,
    scope: &Scope,
    schemas: &SchemaRegistry,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(f) = status::check(&expect.status, received.status) {
        findings.push(f);
    }
    for h in &expect.headers {
        findings.extend(headers::check(h, received, scope));
    }
    if !expect.json.is_empty() || expect.schema.is_some() {
        match &received.json {
            Some(body) => {
                for j in &expect.json {
                    findings.extend(json::check(j, body, scope));
                }
                if let Some(id) = expect.schema {
                    findings.extend(schema::check(schemas.get(id), body));
                }
            }
            None => findings.push(not_json(received)),
        }
    }
    let exchange = crate::rules::Exchange {
        sent,
        received,
        values: scope,
    };
    for &index in &expect.rules {
        if let Some(set) = crate::rules::sets().get(index) {
            findings.extend(crate::rules::evaluate(set, &exchange));
        }
    }
    findings
}

fn not_json(received: &Received) -> Finding {
    let content_type = received.header("content-type").unwrap_or("none");
    Finding::must(
        "json",
        format!(
            "the body is not JSON (content-type {content_type}, {} bytes)",
            received.body.len()
        ),
    )
    .expected("a JSON body")
    .actual(crate::redact::preview_body(&received.body))
}
