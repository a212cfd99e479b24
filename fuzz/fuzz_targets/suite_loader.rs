//! Any text as a suite file: loads, or errors with file:line:column; never panics.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tokenconf::suite::schema::SchemaRegistry;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let sets: Vec<&str> = tokenconf::rules::sets().iter().map(|s| s.name).collect();
    let mut schemas = SchemaRegistry::default();
    let file = Path::new("fuzz.yaml");
    if let Err(errors) =
        tokenconf::suite::load_text(text, file, "fuzz".into(), &specs, &sets, &mut schemas)
    {
        for e in errors {
            assert!(e.line >= 1 && e.column >= 1, "{}", e.rendered);
        }
    }
});
