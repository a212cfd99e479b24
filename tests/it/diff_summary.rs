//! `tokenconf diff`: the grouped summary before the per-case detail, several recordings per side
//! (shards combined), and a partial or empty comparison said plainly.

use crate::support::text;
use crate::support::{root, BIN};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn tokenconf(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

/// `run` of the shipped Talkdesk suites recorded to `dir/name`, with `extra` flags.
fn record(dir: &Path, name: &str, filter: &str, extra: &[&str]) -> PathBuf {
    let suites = root().join("suites").display().to_string();
    let specs = root().join("specs").display().to_string();
    let reports = dir.join(format!("{name}-reports")).display().to_string();
    let rec = dir.join(name);
    let rec_s = rec.display().to_string();
    let mut args = vec![
        "run",
        &suites,
        "--specs",
        &specs,
        "--report-dir",
        &reports,
        "--record",
        &rec_s,
        "--filter",
        filter,
        "--allow-empty",
    ];
    args.extend(extra);
    let out = tokenconf(&args, dir);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "recording {name}:\n{}",
        text(&out)
    );
    rec
}

/// The module's recordings: Talkdesk clean, with no-store dropped, and clean in three shards.
struct Recs {
    dir: PathBuf,
    clean: String,
    dropped: String,
    shards: [String; 3],
    other: String,
}

fn recs() -> &'static Recs {
    static RECS: OnceLock<Recs> = OnceLock::new();
    RECS.get_or_init(|| {
        let dir = crate::support::scratch(module_path!(), "recs");
        let s = |p: PathBuf| p.display().to_string();
        Recs {
            clean: s(record(&dir, "clean", "talkdesk/", &[])),
            dropped: s(record(
                &dir,
                "dropped",
                "talkdesk/",
                &["--mock-drift", "no-store-dropped"],
            )),
            shards: [1, 2, 3].map(|k| {
                s(record(
                    &dir,
                    &format!("shard{k}"),
                    "talkdesk/",
                    &["--shard", &format!("{k}/3")],
                ))
            }),
            other: s(record(&dir, "other", "miaw/", &[])),
            dir,
        }
    })
}

fn cases_in(out: &str) -> usize {
    out.lines().filter(|l| l.starts_with("@@ ")).count()
}

#[test]
fn the_same_change_across_cases_is_one_summary_line_with_its_count_before_the_detail() {
    let r = recs();
    let o = tokenconf(&["diff", &r.clean, &r.dropped], &r.dir);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let lost = "- [breaking] header cache-control (was no-store)";
    // The count is the number of cases whose detail names the change.
    let mut with_lost = 0;
    let mut in_case = false;
    for line in out.lines() {
        if line.starts_with("@@ ") {
            in_case = false;
        } else if !in_case
            && line.starts_with("- [breaking] ")
            && line.contains(": header cache-control (was no-store)")
        {
            in_case = true;
            with_lost += 1;
        }
    }
    assert!(with_lost > 1, "{out}");
    let line = format!("{lost} in {with_lost} case(s)");
    let at = out
        .find(&line)
        .unwrap_or_else(|| panic!("{line:?} in:\n{out}"));
    assert_eq!(
        out.matches(&line).count(),
        1,
        "the summary names it once:\n{out}"
    );
    let detail = out.find("\n@@ ").expect("per-case detail follows");
    assert!(at < detail, "the summary comes first:\n{out}");
    assert!(cases_in(&out) >= with_lost, "{out}");

    // The HTML page and --json carry the same summary.
    let html = r.dir.join("summary.html");
    let h = html.display().to_string();
    let o = tokenconf(&["diff", &r.clean, &r.dropped, "--html", &h], &r.dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    let summary = &page[page.find("id=\"summary\"").expect("a summary table")..];
    assert!(
        summary.find("header cache-control").unwrap() < summary.find("<section><h2>").unwrap(),
        "{page}"
    );
    assert!(
        summary.contains(&format!("<td>{with_lost}</td>")),
        "{summary}"
    );
    let o = tokenconf(&["diff", &r.clean, &r.dropped, "--json"], &r.dir);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json is JSON");
    let group = json["summary"]
        .as_array()
        .expect("a summary array")
        .iter()
        .find(|g| g["what"] == "header cache-control" && g["how"] == "removed")
        .expect("the lost header grouped");
    assert_eq!(group["cases"], with_lost);
}

#[test]
fn shard_recordings_combine_on_either_side() {
    let r = recs();
    let shards = r.shards.join(",");
    let whole = tokenconf(&["diff", &r.clean, &r.clean], &r.dir);
    let whole = String::from_utf8_lossy(&whole.stdout).into_owned();
    let n = whole
        .lines()
        .find_map(|l| l.strip_prefix("no drift: "))
        .unwrap_or_else(|| panic!("{whole}"))
        .to_string();
    for (old, new) in [(&shards, &r.clean), (&r.clean, &shards)] {
        let o = tokenconf(&["diff", old, new], &r.dir);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert!(out.contains(&format!("no drift: {n}")), "{out}");
        assert!(!out.contains("not compared"), "{out}");
    }
    // The drifted run against the shards: the same changes as against the whole run.
    let o = tokenconf(&["diff", &shards, &r.dropped], &r.dir);
    let w = tokenconf(&["diff", &r.clean, &r.dropped], &r.dir);
    let last = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(last(&o), last(&w));
}

#[test]
fn a_case_in_two_recordings_of_one_side_is_refused() {
    let r = recs();
    let twice = format!("{},{}", r.clean, r.shards[0]);
    let o = tokenconf(&["diff", &twice, &r.clean], &r.dir);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is recorded in both"), "{}", text(&o));
}

#[test]
fn a_partial_comparison_says_so() {
    let r = recs();
    let o = tokenconf(&["diff", &r.shards[0], &r.clean], &r.dir);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("partial comparison: "), "{out}");
    assert!(
        out.contains(" not compared (recorded on one side only: 0 old, "),
        "{out}"
    );
}

#[test]
fn nothing_compared_is_exit_2() {
    let r = recs();
    let o = tokenconf(&["diff", &r.clean, &r.other], &r.dir);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("nothing compared"), "{out}");
}
