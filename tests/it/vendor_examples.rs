//! The vendors' own response examples (`specs/<vendor>/examples/*.yaml`, each with the page that
//! shows it) pass the schema and rule sets the suites apply to that answer: a suite that fails a
//! vendor's own example asserts more than the vendor does.

use std::path::Path;

use tokenconf::expected::KnownDeviations;
use tokenconf::finding::Level;
use tokenconf::http::{Received, Sent};
use tokenconf::suite::schema::SchemaRegistry;
use tokenconf::suite::sources::read_examples;
use tokenconf::suite::template::Scope;
use tokenconf::suite::Expect;

#[test]
fn every_stored_vendor_example_passes_what_the_suites_apply_to_it() {
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let mut problems = Vec::new();
    let mut held = 0;
    for vendor in ["talkdesk", "salesforce", "miaw"] {
        let Ok(dir) = std::fs::read_dir(specs.join(vendor).join("examples")) else {
            continue;
        };
        for entry in dir {
            let file = entry.unwrap().path();
            let text = std::fs::read_to_string(&file).unwrap();
            let examples = read_examples(&text, &file).unwrap_or_else(|e| panic!("{e}"));
            for ex in examples {
                let mut schemas = SchemaRegistry::default();
                let schema = ex.schema.as_ref().map(|name| {
                    schemas
                        .add(&tokenconf::suite::Specs::Dir(specs.clone()), name)
                        .unwrap_or_else(|e| panic!("{e}"))
                });
                let rules: Vec<usize> = ex
                    .rules
                    .iter()
                    .map(|name| {
                        tokenconf::rules::sets()
                            .iter()
                            .position(|s| s.name == name)
                            .unwrap_or_else(|| panic!("{}: no rule set {name}", file.display()))
                    })
                    .collect();
                let expect = Expect {
                    schema,
                    rules,
                    ..Expect::default()
                };
                let sent = Sent {
                    form: ex.form.clone(),
                    ..Sent::default()
                };
                let mut headers = ex.headers.clone();
                if !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                let body = serde_json::to_vec(&ex.body).unwrap();
                let received = Received {
                    status: ex.status,
                    headers,
                    json: Some(ex.body.clone()),
                    duplicate_names: None,
                    body,
                    elapsed: std::time::Duration::ZERO,
                };
                let empty = tokenconf::suite::template::Values::default();
                let scope = Scope {
                    captures: &empty,
                    base: &empty,
                };
                let findings = tokenconf::check::check_step(
                    &expect,
                    &sent,
                    &received,
                    &scope,
                    &schemas,
                    &KnownDeviations::built_in(),
                );
                for f in findings {
                    if f.level == Level::Must && !ex.not_shown.contains(&f.rule) {
                        problems.push(format!(
                            "{} ({}, {}): {} {}",
                            file.display(),
                            ex.what,
                            ex.url,
                            f.rule,
                            f.message
                        ));
                    }
                }
                held += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(held >= 2, "{held} examples");
}
