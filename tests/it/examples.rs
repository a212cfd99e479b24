//! The shipped examples stay valid: the targets file loads, and the nightly workflow is YAML
//! that calls the CLI the way the CLI accepts.

use std::path::Path;

use tokenconf::target;

#[test]
fn the_example_targets_file_loads_with_its_environment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = crate::support::tmp(module_path!()).join("example-sf-key.pem");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    for (k, v) in [
        ("TALKDESK_ACCOUNT", "acme"),
        ("TALKDESK_CLIENT_ID", "id"),
        ("TALKDESK_CLIENT_SECRET", "secret"),
        ("SF_CLIENT_ID", "3MVG9"),
        ("SF_CLIENT_SECRET", "sfsecret"),
        ("SF_USERNAME", "user@example.test"),
        ("SF_JWT_KEY_FILE", key.to_str().unwrap()),
        ("SF_ORG_ID", "00D000000000001"),
        ("MIAW_SCRT_ACCOUNT", "acme"),
        ("MIAW_DEPLOYMENT", "Web_Chat"),
        ("MIAW_VERIFIED_DEPLOYMENT", "Verified_Chat"),
    ] {
        std::env::set_var(k, v);
    }
    let file = root.join("examples/targets.yaml");
    let names = target::target_names(&file).unwrap();
    assert_eq!(names, vec!["talkdesk-sandbox", "salesforce-sandbox"]);
    let td = target::load_target(&file, "talkdesk-sandbox").unwrap();
    assert_eq!(
        td.api("talkdesk").unwrap().base_url,
        "https://acme.talkdeskid.com"
    );
    assert_eq!(td.http.rate_per_second, Some(5.0));
    let sf = target::load_target(&file, "salesforce-sandbox").unwrap();
    assert_eq!(
        sf.api("salesforce").unwrap().base_url,
        "https://test.salesforce.com"
    );
    assert!(sf.api("salesforce").unwrap().secrets["signing_key"].starts_with("-----BEGIN"));
    assert_eq!(
        sf.api("miaw").unwrap().base_url,
        "https://acme.salesforce-scrt.com"
    );
    // The MIAW refusal cases name the other deployment; without these vars they would skip.
    let miaw = &sf.api("miaw").unwrap().vars;
    assert_eq!(miaw["verified_es_developer_name"], "Verified_Chat");
    assert_eq!(miaw["guest_es_developer_name"], "Web_Chat");
}

#[test]
fn the_nightly_workflow_installs_once_and_runs_one_job_per_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/ci/nightly.yml")).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(doc["permissions"]["contents"], "read");
    let install = &doc["jobs"]["install"];
    let job = &doc["jobs"]["conformance"];
    for j in [install, job] {
        assert!(j["timeout-minutes"].as_u64().is_some(), "{j}");
    }
    assert_eq!(install["steps"][0]["with"]["install-only"], "true");
    assert_eq!(job["needs"], "install");
    let targets = job["strategy"]["matrix"]["target"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert!(job["strategy"]["matrix"].get("shard").is_none());
    let steps = job["steps"].as_array().unwrap();
    let action = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("tokenconf/tokenconf@"))
        })
        .expect("a step uses the action");
    // The matrix reuses the binary the install job made: nothing is built per target.
    assert!(action["with"]["binary"]
        .as_str()
        .unwrap()
        .contains("tokenconf"));
    assert!(action["with"]["args"]
        .as_str()
        .unwrap()
        .contains("--target ${{ matrix.target }}"));
    assert!(!text.contains("cargo run"), "{text}");
}
