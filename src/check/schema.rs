//! A response body held against its compiled JSON Schema.

use serde_json::Value;

use crate::finding::{Finding, Level};
use crate::redact::render_value;
use crate::suite::schema::CompiledSchema;

/// Every schema error as a finding with instance path, schema path and the offending value.
pub fn check(schema: &CompiledSchema, body: &Value) -> Vec<Finding> {
    schema
        .validator
        .iter_errors(body)
        .map(|err| {
            let instance_path = err.instance_path().as_str().to_string();
            let pointer = if instance_path.is_empty() {
                "/"
            } else {
                instance_path.as_str()
            };
            Finding {
                rule: format!("schema {}", schema.name),
                level: Level::Must,
                message: format!(
                    "at {pointer}: {} (schema path {})",
                    err.masked_with("the value"),
                    err.schema_path().as_str()
                ),
                expected: None,
                actual: Some(render_value(&instance_path, err.instance())),
                source: None,
                path: Some(pointer.to_string()),
                accepted: None,
                step: None,
            }
        })
        .collect()
}
