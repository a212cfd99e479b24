//! Running in CI: shards of one target share its rate.

use tokenconf::session::{Options, Session, TargetChoice};

use crate::support::{root, scratch};

const MODULE: &str = module_path!();

/// The per-host rate of the session `options` open (no request is sent).
fn rate_of(options: Options) -> Option<f64> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut session = Session::open(options).await.expect("the session opens");
        let rate = session.runner().target().http.rate_per_second;
        if let Some(mock) = session.take_mock() {
            mock.stop().await;
        }
        rate
    })
}

fn options() -> Options {
    let mut o = Options::new(vec![root().join("suites/talkdesk/token.yaml")]);
    o.report_dir = None;
    o.allow_empty = true;
    o
}

#[test]
fn a_shard_of_n_sends_at_an_nth_of_the_rate() {
    // --rate, against the mock.
    let mut o = options();
    o.rate = Some(8.0);
    o.shard = Some((1, 4));
    assert_eq!(rate_of(o), Some(2.0));

    // The target's own http.rate.
    let dir = scratch(MODULE, "shard-rate");
    let file = dir.join("targets.yaml");
    std::fs::write(
        &file,
        "targets:\n  t:\n    http: { rate: 6/s }\n    talkdesk: { base_url: \"http://127.0.0.1:9\" }\n",
    )
    .unwrap();
    let target = || TargetChoice::File {
        file: file.clone(),
        name: "t".into(),
    };
    let mut o = options();
    o.target = target();
    o.shard = Some((2, 3));
    assert_eq!(rate_of(o), Some(2.0));

    // Unsharded: the rate as given; no rate: none.
    let mut o = options();
    o.target = target();
    assert_eq!(rate_of(o), Some(6.0));
    let mut o = options();
    o.shard = Some((1, 2));
    assert_eq!(rate_of(o), None);
}
