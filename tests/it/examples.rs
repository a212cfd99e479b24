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
fn the_nightly_workflow_is_yaml_and_shards_the_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/ci/nightly.yml")).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let steps = doc["jobs"]["conformance"]["steps"].as_array().unwrap();
    let run = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("--shard"))
        .unwrap();
    assert!(run.contains("--targets examples/targets.yaml"), "{run}");
    assert_eq!(
        doc["jobs"]["conformance"]["strategy"]["matrix"]["shard"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}
