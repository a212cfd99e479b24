//! Any text as a `{{ }}` template, and any JSON as a JSON template: parse, list, render.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenconf::suite::template::{JsonTemplate, Scope, Template, Values};

fuzz_target!(|data: &[u8]| {
    let values: Values = [("a".to_string(), "x".to_string())].into_iter().collect();
    let empty = Values::default();
    let scope = Scope {
        captures: &empty,
        base: &values,
    };
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(t) = Template::parse(text) {
            let _ = t.variables().count();
            let _ = t.render(&scope);
        }
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(t) = JsonTemplate::parse(&json) {
            let _ = t.variables();
            let _ = t.render(&scope);
        }
    }
});
