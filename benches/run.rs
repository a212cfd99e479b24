//! `cargo bench`: how fast a 1,000-case suite loads and runs against the embedded mock.
//! Each case is a client-credentials request with status, header, JSONPath, schema and rule checks.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokenconf::mock::{self, MockConfig};
use tokenconf::run::Runner;

const CASES: usize = 1000;
const ROUNDS: usize = 5;

fn suite_text() -> String {
    let mut s = String::from(
        "api: talkdesk\nvars:\n  client_id: conformance-client\nsecrets: [client_secret]\ncases:\n",
    );
    for i in 0..CASES {
        let _ = write!(
            s,
            r#"  - name: bench case {i}
    request:
      path: /oauth/token
      auth: {{ basic: {{ user: "{{{{ client_id }}}}", password: "{{{{ client_secret }}}}" }} }}
      form: {{ grant_type: client_credentials, scope: callbacks:write }}
    expect:
      status: 200
      headers: {{ cache-control: {{ contains: no-store }} }}
      schema: talkdesk/token-response.schema.json
      rules: [oauth2.token-response]
      json:
        $.token_type: {{ equals_ignore_case: Bearer }}
        $.scope: callbacks:write
"#
        );
    }
    s
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("tokenconf-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bench.yaml");
    std::fs::write(&file, suite_text()).expect("write suite");

    let t = Instant::now();
    let loaded = Arc::new(
        tokenconf::session::load_suites(&[file], &root.join("specs")).expect("suite loads"),
    );
    let load_time = t.elapsed();
    assert_eq!(loaded.case_count(), CASES);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let server = rt
        .block_on(mock::start(MockConfig::default(), addr))
        .expect("mock starts");
    let runner = Arc::new(Runner::new(loaded, server.target(), false).expect("runner"));
    let ids = runner.case_ids();
    for jobs in [1, 8, 32] {
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..ROUNDS {
            let report = rt.block_on(runner.run_all(&ids, jobs, |_| {}));
            assert!(report.all_passed(), "every bench case passes");
            times.push(report.duration);
        }
        times.sort();
        let median = times[ROUNDS / 2];
        println!(
            "run {CASES} cases, --jobs {jobs:>2}: median {:>7.1} ms over {ROUNDS} rounds ({:.0} cases/s; best {:.1} ms)",
            median.as_secs_f64() * 1e3,
            CASES as f64 / median.as_secs_f64(),
            times[0].as_secs_f64() * 1e3
        );
    }
    println!(
        "load {CASES}-case suite (parse, compile templates, JSONPaths, schema): {:.1} ms",
        load_time.as_secs_f64() * 1e3
    );
    rt.block_on(server.stop());
    let _ = std::fs::remove_dir_all(&dir);
}
