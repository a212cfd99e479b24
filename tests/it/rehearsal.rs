//! The rehearsal profiles: `other-reading` answers every undocumented choice of the mock the other
//! plausible way, and the vendor suites stay green there (what they assume only warns); every
//! choice the table lists is reached by some case, so none is listed for nothing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use tokenconf::finding::Level;
use tokenconf::mock::{self, MockConfig, Profile};
use tokenconf::outcome::Status;
use tokenconf::run::Runner;

use crate::support::{profile_run, queue, sandbox_run};

/// Every case against a fresh mock of `profile`; the report and the choices requests reached.
fn run(profile: Profile) -> (tokenconf::outcome::RunReport, Vec<&'static str>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = Arc::new(
        tokenconf::session::load_suites(&[root.join("suites")], &root.join("specs"))
            .expect("suites load"),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let server = rt
        .block_on(mock::start(MockConfig::for_profile(profile), addr))
        .expect("the mock starts");
    let target = server.target();
    assert_eq!(target.embedded_mock, profile == Profile::Full);
    let runner = Arc::new(Runner::new(loaded, target, false).expect("the runner builds"));
    let ids = runner.case_ids();
    let report = rt.block_on(runner.run_all(&ids, 4, |_| {}));
    let reached = server.config.reached.ids().into_iter().collect();
    rt.block_on(server.stop());
    (report, reached)
}

#[test]
fn every_undocumented_choice_is_reached_and_the_other_reading_only_warns() {
    let (report, reached) = run(Profile::OtherReading);
    let failed: Vec<String> = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Failed | Status::Errored))
        .map(|o| format!("{}: {}", o.test, o.reason.as_deref().unwrap_or_default()))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let unreached: Vec<&str> = mock::reading::choices()
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| !reached.contains(id))
        .collect();
    assert!(
        unreached.is_empty(),
        "listed choices no case reaches: {unreached:?}"
    );
    // The other answers were really given, and what rested on the guesses only warned.
    let unconfirmed = report
        .outcomes
        .iter()
        .flat_map(|o| o.findings.iter())
        .filter(|f| f.level == Level::Unconfirmed)
        .count();
    assert!(unconfirmed >= 20, "{unconfirmed} unconfirmed findings");
}

#[test]
fn both_rehearsal_profiles_exit_0_with_0_failed() {
    // Both profiles' runs at once; the sandbox one is shared with tests/it/sandbox.rs (the same
    // command, made once per process).
    let profiles = ["sandbox", "other-reading"];
    let runs = queue(2, &profiles, |&p| match p {
        "sandbox" => sandbox_run().clone(),
        _ => profile_run(p),
    });
    for (profile, (o, reports)) in profiles.into_iter().zip(runs) {
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{profile}: {out}");
        let text = std::fs::read_to_string(reports.join("summary.json")).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(summary["counts"]["failed"], 0, "{profile}");
        assert_eq!(summary["counts"]["errored"], 0, "{profile}");
    }
}

/// UserInfo's refusal is plain text on the mock, as its doc comment says: the mock's rewrite of
/// its own non-JSON errors into JSON leaves it.
#[tokio::test]
async fn the_userinfo_refusal_is_plain_text_in_every_profile() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for profile in Profile::ALL {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let server = mock::start(MockConfig::for_profile(profile), addr)
            .await
            .unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let r = client
            .get(format!("{}/services/oauth2/userinfo", server.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{profile:?}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/plain"), "{profile:?}: {ct}");
        assert_eq!(r.text().await.unwrap(), "Missing_OAuth_Token");
        server.stop().await;
    }
}
