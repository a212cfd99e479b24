use serde_json::Value;

use super::json::eval_predicate;
use super::Finding;
use crate::http::Received;
use crate::suite::template::Scope;
use crate::suite::HeaderExpect;

/// Header names compare case-insensitively; repeated headers are joined with ", " (RFC 9110 §5.3).
pub fn check(expect: &HeaderExpect, received: &Received, scope: &Scope) -> Vec<Finding> {
    let values = received.header_all(&expect.name);
    let actual = (!values.is_empty()).then(|| Value::String(values.join(", ")));
    eval_predicate(&expect.predicate, actual.as_ref(), scope, true)
        .into_iter()
        .map(|failure| {
            let mut f = Finding::must(
                format!("header {}", expect.name),
                format!("header {}: {}", expect.name, failure.message),
            )
            .expected(failure.expected);
            if let Some(a) = failure.actual {
                f = f.actual(crate::redact::render_header(&expect.name, &a));
            }
            f
        })
        .collect()
}
