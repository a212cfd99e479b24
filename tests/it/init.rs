//! `tokenconf init`: a starting targets file that validates once its variables are set.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::streams;
use crate::support::{root, scratch, BIN};

const MODULE: &str = module_path!();

/// Runs the binary in `dir` with exactly `env` of the variables `names` set (the others removed).
fn tokenconf(args: &[&str], dir: &Path, names: &[String], env: &[(String, String)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    for n in names {
        cmd.env_remove(n);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.output().expect("the binary runs")
}

/// The `${VAR}` names a file asks for outside comments, in order, once each.
fn asked_for(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut names = Vec::new();
    for line in text.lines() {
        let code = line.split(" #").next().unwrap_or("");
        if code.trim_start().starts_with('#') {
            continue;
        }
        for part in code.split("${").skip(1) {
            let name = part.split('}').next().unwrap().to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// A value for each variable: a PEM key for the ones naming a key file.
fn values(names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| {
            let value = if n.ends_with("_FILE") {
                root()
                    .join("src/mock/keys/rsa-private.pem")
                    .display()
                    .to_string()
            } else if n.ends_with("_URL") {
                "https://as.example".to_string()
            } else {
                format!("init-test-{}", n.to_lowercase())
            };
            (n.clone(), value)
        })
        .collect()
}

fn init_then_validate(kind: &str, target: &str, extra: &[&str]) -> PathBuf {
    let dir = scratch(MODULE, kind);
    let file = dir.join("t.yaml");
    let mut args = vec!["init", kind];
    args.extend_from_slice(extra);
    let o = tokenconf(&args, &dir, &[], &[]);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    std::fs::write(&file, &out).unwrap();
    let names = asked_for(&file);
    assert!(!names.is_empty(), "{out}");

    // Without its variables: exit 2, naming each of them and nothing else.
    let validate = ["validate", "--targets", "t.yaml", "--target", target];
    let o = tokenconf(&validate, &dir, &names, &[]);
    let (_, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for n in &names {
        assert!(
            err.contains(&format!("environment variable {n} is not set")),
            "{n}: {err}"
        );
    }
    let other = err
        .lines()
        .filter(|l| l.starts_with("error:") && !l.ends_with("errors:"))
        .find(|l| !l.contains("is not set"));
    assert!(
        other.is_none(),
        "only unset variables are wrong: {other:?}\n{err}"
    );

    // With them: what runs and what is skipped, exit 0.
    let o = tokenconf(&validate, &dir, &names, &values(&names));
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains(&format!("target {target}: can run")), "{out}");
    assert!(out.contains("skip "), "{out}");
    file
}

#[test]
fn init_salesforce_validates_once_the_variables_it_names_are_set() {
    let file = init_then_validate("salesforce", "salesforce-sandbox", &[]);
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("preset: salesforce-test"), "{text}");
    assert!(text.contains("# capabilities: ["), "{text}");
    assert!(text.contains("# profiles:"), "{text}");
    assert!(text.contains("login"), "{text}");
}

#[test]
fn init_of_every_other_api_validates_once_its_variables_are_set() {
    init_then_validate("talkdesk", "talkdesk-sandbox", &[]);
    init_then_validate("miaw", "miaw-sandbox", &[]);
    init_then_validate("oauth2", "oauth2-server", &[]);
    init_then_validate("oauth2", "mine", &["--name", "mine"]);
}

#[test]
fn init_never_overwrites_a_file_and_names_it() {
    let dir = scratch(MODULE, "no-overwrite");
    let file = dir.join("t.yaml");
    std::fs::write(&file, "mine\n").unwrap();
    let o = tokenconf(&["init", "talkdesk", "-o", "t.yaml"], &dir, &[], &[]);
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("t.yaml: already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine\n");
    assert_eq!(out, "");
    // A new file is written, and only there.
    let o = tokenconf(&["init", "talkdesk", "-o", "new.yaml"], &dir, &[], &[]);
    assert_eq!(o.status.code(), Some(0), "{:?}", streams(&o));
    assert!(std::fs::read_to_string(dir.join("new.yaml"))
        .unwrap()
        .contains("talkdesk-sandbox:"));
    assert_eq!(streams(&o).0, "");
}

#[test]
fn init_oauth2_with_an_issuer_fills_in_what_its_metadata_says() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let server = rt
        .block_on(tokenconf::mock::start(
            tokenconf::mock::MockConfig::default(),
            addr,
        ))
        .expect("the mock starts");
    let issuer = server.target().api("oauth2").unwrap().base_url.clone();
    let dir = scratch(MODULE, "issuer");
    let o = tokenconf(&["init", "oauth2", "--issuer", &issuer], &dir, &[], &[]);
    let (out, err) = streams(&o);
    rt.block_on(server.stop());
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains(&format!("issuer: \"{issuer}\"")), "{out}");
    assert!(!out.contains("base_url"), "{out}");
    assert!(out.contains("# token_path: /oauth2/token"), "{out}");
    assert!(out.contains("# revocation_path: /oauth2/revoke"), "{out}");
    assert!(out.contains("capabilities: [refresh_token_grant]"), "{out}");
    assert!(out.contains("client_secret_basic"), "{out}");

    // An issuer with no metadata is exit 2, naming where it looked.
    let o = tokenconf(
        &["init", "oauth2", "--issuer", "http://127.0.0.1:9"],
        &dir,
        &[],
        &[],
    );
    let (out, err) = streams(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("discovery"), "{err}");
    assert_eq!(out, "");
    // --issuer is for oauth2 only.
    let o = tokenconf(&["init", "talkdesk", "--issuer", &issuer], &dir, &[], &[]);
    assert_eq!(o.status.code(), Some(2));
}
