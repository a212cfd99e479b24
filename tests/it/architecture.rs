//! ARCHITECTURE.md's invariants, checked on the source: no import cycle among the library's
//! top-level modules, `suite` imports no engine module, `mock` does not reach the runner, and the
//! code map's "may import" column names every import shipped code has.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its non-test code names through `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.expect("src/ is readable");
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(&src).expect("under src/");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a file name");
        let module = first.trim_end_matches(".rs").to_string();
        if matches!(module.as_str(), "main" | "lib" | "cli") {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("readable source");
        // Unit tests may reach anywhere (the mock's keys, say); only shipped code counts.
        let shipped = text.split("#[cfg(test)]").next().unwrap_or_default();
        let uses = graph.entry(module.clone()).or_default();
        for (at, _) in shipped.match_indices("crate::") {
            let name: String = shipped[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                uses.insert(name);
            }
        }
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_cycle_among_library_modules() {
    let graph = imports();
    assert!(graph.len() > 10, "found the modules: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

/// Rule file → the rule files its non-test code names through `super::`.
fn rule_file_imports() -> BTreeMap<String, BTreeSet<String>> {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&rules).expect("src/rules/ is readable") {
        let path = entry.expect("a directory entry").path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_none_or(|e| e != "rs") || name == "mod" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable source");
        let shipped = text.split("#[cfg(test)]").next().unwrap_or_default();
        let uses = graph.entry(name.to_string()).or_default();
        for (at, _) in shipped.match_indices("super::") {
            let next: String = shipped[at + "super::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !next.is_empty() && next != name {
                uses.insert(next);
            }
        }
    }
    graph
}

#[test]
fn the_rule_files_do_not_import_each_other_in_a_circle() {
    let graph = rule_file_imports();
    assert!(graph.len() > 8, "found the rule files: {graph:?}");
    assert!(graph.contains_key("read"), "the shared helpers: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "rule files import each other in a circle: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_suite_model_imports_no_engine_module() {
    let graph = imports();
    let suite = &graph["suite"];
    // `capability` is a leaf table of names, like the rule-set names the caller hands in.
    let allowed: BTreeSet<String> = ["error", "capability"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(
        suite.is_subset(&allowed),
        "suite imports {suite:?}; only {allowed:?} is allowed"
    );
}

/// Every module `from` reaches through imports, itself excluded.
fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(module) = todo.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen.remove(from);
    seen
}

#[test]
fn the_mock_does_not_depend_on_the_runner() {
    let graph = imports();
    let reached = reachable(&graph, "mock");
    for engine in ["run", "record", "session", "check", "rules"] {
        assert!(
            !reached.contains(engine),
            "mock reaches {engine} (it reaches {reached:?}); a replay reads recordings through `cassette`"
        );
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".to_string(), "b".to_string(), "a".to_string()])
    );
}

/// ARCHITECTURE.md's code map: module → the modules its "may import" column names (`None` for
/// "everything"), with "everything above" read as every module of the rows above it.
fn module_map() -> BTreeMap<String, Option<BTreeSet<String>>> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md is readable");
    let ticked = |cell: &str| -> BTreeSet<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(|name| name.split("::").next().unwrap_or(name).to_string())
            .collect()
    };
    let mut map = BTreeMap::new();
    let mut above = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let module = ticked(cells[0]).into_iter().next().expect("a module name");
        let column = cells
            .last()
            .expect("a may-import column")
            .trim_end_matches(" |");
        let allowed = if column.trim_end_matches('|').trim() == "everything" {
            None
        } else if column.starts_with("everything above") {
            Some(above.clone())
        } else {
            Some(ticked(column))
        };
        above.insert(module.clone());
        map.insert(module, allowed);
    }
    map
}

#[test]
fn the_module_map_names_every_module_and_every_import_its_shipped_code_has() {
    let map = module_map();
    assert!(map.len() > 10, "read the code map: {map:?}");
    let mut wrong = Vec::new();
    for (module, uses) in imports() {
        match map.get(&module) {
            None => wrong.push(format!("`{module}` has no row")),
            Some(None) => {}
            Some(Some(allowed)) => {
                for used in uses.difference(allowed) {
                    wrong.push(format!(
                        "`{module}` imports `{used}`, which its row does not name"
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "ARCHITECTURE.md's code map is out of date:\n{}",
        wrong.join("\n")
    );
}
