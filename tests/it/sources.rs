//! Quoted sources: a case citing a stored passage loads; a citation naming no stored passage is
//! exit 2 naming file:line:column; `list --sources` shows the passage, the clause, or "assumed".

use std::process::Command;

use crate::support::{root, scratch, BIN};

const SUITE: &str = "api: talkdesk\nsource: https://docs.talkdesk.com/reference/cc-basic\ncases:\n  - name: cited\n    source: talkdesk/scopes#new-scope-401\n    request: { path: /t }\n    expect: { status: 401 }\n  - name: a clause\n    source: RFC 6749 §5.2\n    request: { path: /t }\n    expect: { status: 400 }\n  - name: the page only\n    request: { path: /t }\n    expect: { status: 200 }\n";

fn tokenconf(args: &[&str], file: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg(file)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

#[test]
fn list_sources_shows_the_passage_the_clause_or_assumed() {
    let dir = scratch(module_path!(), "good");
    let file = dir.join("cited.yaml");
    std::fs::write(&file, SUITE).unwrap();
    let o = tokenconf(&["list", "--sources"], &file);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = |name: &str| {
        out.lines()
            .find(|l| l.contains(&format!("::{name} ")))
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .to_string()
    };
    assert!(
        line("cited").contains("source: talkdesk/scopes#new-scope-401"),
        "{out}"
    );
    assert!(!line("cited").contains("assumed"), "{out}");
    assert!(line("a-clause").contains("source: RFC 6749 §5.2"), "{out}");
    assert!(!line("a-clause").contains("assumed"), "{out}");
    // A vendor page as such backs nothing we can show: every expectation is assumed.
    assert!(line("the-page-only").contains("source: assumed"), "{out}");
    assert!(
        line("the-page-only").contains("1 of 1 expectations assumed"),
        "{out}"
    );
}

#[test]
fn a_citation_of_no_stored_passage_is_exit_2_at_its_place() {
    let dir = scratch(module_path!(), "bad");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        SUITE.replace(
            "talkdesk/scopes#new-scope-401",
            "talkdesk/scopes#no-such-words",
        ),
    )
    .unwrap();
    let o = tokenconf(&["validate"], &file);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.yaml:5:13"), "{err}");
    assert!(err.contains("no passage `no-such-words`"), "{err}");
}
