//! What the binary prints when it stops on an error: never a secret of the targets file (nor
//! its neighbours, nor credentials in a URL), and never a raw control character from a
//! server's answer or a recording (security review 2026-12, F7 and F9).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::text;
use crate::support::{root, BIN};

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

fn tokenconf(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("TOKENCONF_CACHE", "off")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY");
    if args.first() == Some(&"run") {
        cmd.arg("--report-dir").arg(dir.join("reports"));
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

#[test]
fn a_targets_file_error_shows_the_place_never_a_secret_or_url_credentials() {
    let dir = scratch("targets");
    let targets = dir.join("targets.yaml");
    let token = root().join("suites/oauth2/token.yaml");
    let token = token.to_str().unwrap();
    let targets_arg = targets.to_str().unwrap();
    for (yaml, env) in [
        (
            "      base_url: http://127.0.0.1:9\n      secrets: { client_secret: \"Literal-Secret-In-File-1\" }\n",
            ("UNUSED", "x"),
        ),
        (
            "      base_url: http://127.0.0.1:9\n      secrets:\n        client_secret: \"${SECRET}\"\n        other: Literal-Secret-5-on-next-line\n      bogus: 1\n",
            ("SECRET", "Env-Secret-Value-1"),
        ),
        (
            "      base_url: \"${BURL}\"\n",
            ("BURL", "htps://admin:Sup3r-Url-Pass@h.example"),
        ),
        (
            "      issuer: \"${BURL}\"\n",
            ("BURL", "https://admin:Sup3r-Url-Pass@h.example:99999"),
        ),
    ] {
        std::fs::write(&targets, format!("targets:\n  t:\n    oauth2:\n{yaml}")).unwrap();
        for command in ["run", "validate"] {
            let args = [command, token, "--targets", targets_arg, "--target", "t"];
            let o = tokenconf(&args, &dir, &[env]);
            let shown = text(&o);
            assert_eq!(o.status.code(), Some(2), "{shown}");
            assert!(shown.contains("targets.yaml:"), "{shown}");
            for secret in ["Literal", "Env-Secret", "Sup3r", "admin"] {
                assert!(!shown.contains(secret), "{command} {yaml}: {shown}");
            }
        }
    }
}

/// A server that answers every request 200 with `body` as text.
fn text_server(body: &'static str) -> (String, std::net::TcpListener) {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in server.incoming().take(4) {
            let Ok(mut s) = stream else { break };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, listener)
}

#[test]
fn escape_sequences_from_a_server_or_a_recording_reach_the_terminal_escaped() {
    let dir = scratch("escapes");
    // Discovery's metadata is not JSON: its preview is part of the error.
    let (issuer, _keep) =
        text_server("not json \u{1b}[31mred\u{1b}]0;owned\u{7}\r\rtest result: ok");
    let targets = dir.join("targets.yaml");
    std::fs::write(
        &targets,
        format!("targets:\n  t:\n    oauth2:\n      issuer: \"{issuer}\"\n"),
    )
    .unwrap();
    let token = root().join("suites/oauth2/token.yaml");
    let o = tokenconf(
        &[
            "run",
            token.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "t",
        ],
        &dir,
        &[],
    );
    let shown = text(&o);
    assert_eq!(o.status.code(), Some(2), "{shown}");
    assert!(shown.contains("not json \\x1b[31mred"), "{shown}");
    assert!(!shown.contains(['\u{1b}', '\u{7}', '\r']), "{shown:?}");

    // A recording whose cassette name carries ESC.
    let recording = dir.join("recording");
    std::fs::create_dir_all(&recording).unwrap();
    std::fs::write(
        recording.join("recording.json"),
        r#"{"format":1,"tool":"tokenconf","version":"0.1.0","target":"nightly","recorded":"2026-12-01T00:00:00Z",
 "cases":[{"test":"oauth2/token::x","cassette":"a\u001b[31mb","shape":"s"}],"fixtures":[]}"#,
    )
    .unwrap();
    let o = tokenconf(
        &[
            "run",
            token.to_str().unwrap(),
            "--mock-replay",
            recording.to_str().unwrap(),
        ],
        &dir,
        &[],
    );
    let shown = text(&o);
    assert_eq!(o.status.code(), Some(2), "{shown}");
    assert!(shown.contains("a\\x1b[31mb"), "{shown}");
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
}
