//! Any text as a targets file, for a few target names: loads, or errors naming the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("fuzz-targets.yaml");
    for name in ["nightly", "a", "talkdesk-sandbox"] {
        if let Err(e) = tokenconf::target::parse_target(text, file, name) {
            assert!(e.to_string().contains("fuzz-targets.yaml"), "{e}");
        }
    }
});
