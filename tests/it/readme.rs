//! The README shows what works (issue 23 item 11, issue 24): its first suite against your own
//! server validates as shown, and a clone's two commands stay as they are.

use crate::support::{root, BIN};
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// The text of section `title` (its `## ` heading up to the next).
fn section(readme: &str, title: &str) -> String {
    let start = readme
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("no section {title:?}"));
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// The code blocks of `text` fenced as `lang`.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    text.split(&format!("```{lang}\n"))
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_string())
        .collect()
}

#[test]
fn the_first_suite_against_your_own_server_validates_as_shown() {
    let first = section(&readme(), "Your first suite against your own server");
    let yaml = blocks(&first, "yaml");
    assert_eq!(yaml.len(), 2, "a suite and a targets file:\n{first}");
    for key in ["apis:", "allow_http:", "allow_origins:"] {
        assert!(yaml[1].contains(key), "the targets file shows {key}");
    }
    let dir = crate::support::scratch(module_path!(), "first-suite");
    std::fs::create_dir_all(dir.join("my-suites")).unwrap();
    std::fs::write(dir.join("my-suites/token.yaml"), &yaml[0]).unwrap();
    std::fs::write(dir.join("targets.yaml"), &yaml[1]).unwrap();
    // The section's own validate command, run in that folder.
    let shown = blocks(&first, "sh").concat();
    let line = shown
        .lines()
        .find(|l| l.starts_with("tokenconf validate "))
        .expect("a validate command");
    let args: Vec<&str> = line.split('#').next().unwrap().split_whitespace().collect();
    let o = Command::new(BIN)
        .args(&args[1..])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .env("ACME_CLIENT_ID", "my-client")
        .env("ACME_CLIENT_SECRET", "a-secret-for-the-readme")
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{line}\n{out}");
    assert!(out.contains("target dev can run 3 of 3"), "{out}");
}

#[test]
fn the_readme_starts_with_install_and_keeps_the_clones_two_commands() {
    let readme = readme();
    let headings: Vec<&str> = readme.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings[..4],
        [
            "## Install",
            "## A two-minute start",
            "## Two commands",
            "## Your first suite against your own server"
        ],
        "{headings:?}"
    );
    assert!(section(&readme, "Install").contains("cargo install --locked"));
    let two = blocks(&section(&readme, "Two commands"), "sh").concat();
    assert_eq!(
        two,
        "cargo run -- run              # every suite under suites/ against the embedded mock; reports in reports/\n\
         cargo test                    # the project's own tests, plus one test per YAML case against the mock\n"
    );
    for doc in ["docs/development.md", "docs/speed.md"] {
        assert!(readme.contains(&format!("({doc})")), "links {doc}");
        assert!(root().join(doc).is_file(), "{doc}");
    }
}
