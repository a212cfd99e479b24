//! `validate` refuses what `run` would refuse before sending (a certificate given as the
//! private key, cleartext http off loopback), says it in one verdict at the end, and tells
//! where to set what a skipped case lacks.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{root, BIN};

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

fn tokenconf(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

const TALKDESK_WITH_KEY: &str = "targets:\n  t:\n    talkdesk:\n      base_url: https://td.test\n      vars: { client_id: abc, assertion_kid: k1 }\n      secrets: { client_secret: \"${TC_VALIDATE_SECRET}\" }\n      secret_files: { signing_key: \"${TC_VALIDATE_KEY}\" }\n";

#[test]
fn a_certificate_given_as_the_private_key_is_refused_by_validate_and_run() {
    let dir = scratch("certificate");
    let targets = write(&dir, "targets.yaml", TALKDESK_WITH_KEY);
    let certificate = root().join("tests/fixtures/keys/not-a-key-certificate.pem");
    let env = [
        ("TC_VALIDATE_SECRET", "validate-secret-value"),
        ("TC_VALIDATE_KEY", certificate.to_str().unwrap()),
    ];
    for command in ["validate", "run"] {
        let o = tokenconf(
            &[
                command,
                "suites/talkdesk",
                "--targets",
                targets.to_str().unwrap(),
                "--target",
                "t",
            ],
            &env,
        );
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{command}: {out}{err}");
        assert!(
            err.contains("`signing_key`") && err.contains("holds a CERTIFICATE, not a private key"),
            "{command}: {err}"
        );
        assert!(
            err.contains("suites/talkdesk/jwt-client-auth.yaml"),
            "{err}"
        );
        assert!(
            !out.contains("ok"),
            "{command} said ok before the error: {out}"
        );
        assert!(!err.contains("validate-secret-value"), "{err}");
    }
    // The real key passes.
    let key = root().join("src/mock/keys/ec-private.pem");
    let o = tokenconf(
        &[
            "validate",
            "suites/talkdesk",
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
        ],
        &[env[0], ("TC_VALIDATE_KEY", key.to_str().unwrap())],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    // A public key is not a private key either.
    let public = root().join("src/mock/keys/ec-public.pem");
    let o = tokenconf(
        &[
            "validate",
            "suites/talkdesk",
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
        ],
        &[env[0], ("TC_VALIDATE_KEY", public.to_str().unwrap())],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("holds a PUBLIC KEY, not a private key"),
        "{err}"
    );
}

#[test]
fn cleartext_http_off_loopback_is_refused_by_validate_as_by_run() {
    let dir = scratch("cleartext");
    let targets = write(
        &dir,
        "targets.yaml",
        "targets:\n  remote:\n    talkdesk:\n      base_url: http://acme.talkdeskid.com\n      vars: { client_id: abc }\n",
    );
    let o = tokenconf(
        &[
            "validate",
            "suites/talkdesk",
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "remote",
        ],
        &[],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("cleartext http"), "{err}");
    assert_eq!(out, "", "no verdict before the error");
}

#[test]
fn the_verdict_is_one_line_at_the_end_and_skips_say_where_to_set_what() {
    let dir = scratch("verdict");
    let targets = write(
        &dir,
        "targets.yaml",
        "targets:\n  t:\n    oauth2:\n      base_url: https://as.test\n      vars: { token_path: /token, client_id: abc }\n      secrets: { client_secret: \"${TC_VALIDATE_SECRET}\" }\n",
    );
    let o = tokenconf(
        &[
            "validate",
            "suites/oauth2/token.yaml",
            "--targets",
            targets.to_str().unwrap(),
        ],
        &[("TC_VALIDATE_SECRET", "validate-secret-value")],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    let verdicts: Vec<&&str> = lines.iter().filter(|l| l.starts_with("ok:")).collect();
    assert_eq!(verdicts.len(), 1, "{out}");
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("ok: 1 suite, ") && last.ends_with("; target t can run 8 of 11"),
        "{out}"
    );
    assert!(
        out.contains("`vars.forbidden_scope` under `oauth2` (1 case): A scope this client may not be granted"),
        "{out}"
    );
    assert!(out.contains("(suites/oauth2/token.yaml:"), "{out}");
    assert!(
        out.contains("`secrets.special_client_secret: \"${ENV_VAR}\"` under `oauth2` (1 case)"),
        "{out}"
    );
    // Each missing name once in a skip reason.
    for line in out.lines().filter(|l| l.contains("skip ")) {
        assert!(
            !line.contains("`special_client_secret`, `special_client_secret`"),
            "{line}"
        );
    }
}
