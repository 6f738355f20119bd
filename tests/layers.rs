//! The crate's layers, checked from its source: every module imports only
//! from the layers below it (the order `lib.rs` tours), and no two
//! submodules import each other in a circle. Reads the `crate::` and
//! `super::` paths of every file under `src/`. Also: no source file, Rust
//! or the web page's JavaScript, grows past one job's size; and the tests
//! that share `tests/common` stay in a few grouped binaries.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level modules, lowest layer first. Modules on one line form one
/// layer and must not import each other.
const LAYERS: &[&[&str]] = &[
    &["protocol"],
    &["wire"],
    &["seal", "membership", "relay"],
    &["node"],
    &["net", "sim"],
    &["server", "client"],
    &["web", "irc"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// A module as (top-level module, its first submodule or "").
type Node = (String, String);

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    files_ending(dir, "rs", out);
}

/// Every file below `dir` whose name ends in `.{ext}`.
fn files_ending(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read the directory") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files_ending(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The web page's own scripts: `web/*.js` but the vendored library.
fn page_scripts() -> Vec<PathBuf> {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let mut files = Vec::new();
    files_ending(&web, "js", &mut files);
    files.retain(|f| !f.to_string_lossy().ends_with(".min.js"));
    files
}

/// The module path of a file below `src/`, as its components.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every path a file names through `crate::` or `super::`, resolved to
/// absolute module components (at most the first three).
fn imports(module: &[String], text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (prefix, base) in [("crate::", 0usize), ("super::", 1)] {
            let mut from = 0;
            while let Some(found) = code[from..].find(prefix) {
                let at = from + found;
                from = at + prefix.len();
                let before = code[..at].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue; // `super::super::` (seen whole), `foo_crate::` and the like
                }
                let mut path: Vec<String> = if base == 0 {
                    Vec::new()
                } else {
                    // `module` is the file's own module (`a/b/mod.rs` and
                    // `a/b.rs` are both `a::b`); `super` is its parent.
                    let mut parent = module.to_vec();
                    parent.pop();
                    parent
                };
                let mut tail = &code[from..];
                while let Some(more) = tail.strip_prefix("super::") {
                    path.pop();
                    tail = more;
                }
                for segment in tail.split("::").take(3) {
                    let name: String = segment
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if name.is_empty() || name.chars().next().is_some_and(char::is_uppercase) {
                        break;
                    }
                    path.push(name);
                }
                if !path.is_empty() {
                    out.push(path);
                }
            }
        }
    }
    out
}

fn node_of(path: &[String]) -> Node {
    (
        path.first().cloned().unwrap_or_default(),
        path.get(1).cloned().unwrap_or_default(),
    )
}

#[test]
fn modules_import_only_from_the_layers_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut graph: BTreeMap<Node, BTreeSet<Node>> = BTreeMap::new();
    for file in &files {
        let module = module_path(&src, file);
        let Some(top) = module.first() else { continue }; // lib.rs, main.rs
        if top == "lib" || top == "main" {
            continue;
        }
        let mine = layer_of(top).unwrap_or_else(|| panic!("{top} is in no layer of LAYERS"));
        let text = fs::read_to_string(file).expect("read");
        let from = node_of(&module);
        for path in imports(&module, &text) {
            let to = node_of(&path);
            if to.0 != *top {
                match layer_of(&to.0) {
                    Some(theirs) if theirs < mine => {}
                    Some(_) => wrong.push(format!("{}: uses crate::{}", file.display(), to.0)),
                    None => {}
                }
            }
            if to != from && !to.1.is_empty() && !from.1.is_empty() {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
    if let Some(cycle) = find_cycle(&graph) {
        let names: Vec<String> = cycle.iter().map(|(a, b)| format!("{a}::{b}")).collect();
        panic!(
            "modules import each other in a circle: {}",
            names.join(" -> ")
        );
    }
}

/// A cycle in `graph`, if there is one (depth-first search).
fn find_cycle(graph: &BTreeMap<Node, BTreeSet<Node>>) -> Option<Vec<Node>> {
    fn visit(
        node: &Node,
        graph: &BTreeMap<Node, BTreeSet<Node>>,
        stack: &mut Vec<Node>,
        done: &mut BTreeSet<Node>,
    ) -> Option<Vec<Node>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn no_source_file_holds_two_ideas() {
    // About 500 lines is where a file usually holds two jobs.
    const MAX_LINES: usize = 520;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let scripts = page_scripts();
    assert!(scripts.len() >= 5, "the page's scripts: {scripts:?}");
    files.extend(scripts);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = fs::read_to_string(f).ok()?.lines().count();
            (lines > MAX_LINES).then(|| format!("{}: {lines} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn every_page_script_is_served_and_loaded() {
    // A script split off `chat.js` must be compiled into the binary
    // (`src/web/assets.rs`) and loaded by a page, or the page breaks.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| fs::read_to_string(root.join(p)).expect("read");
    let assets = read("src/web/assets.rs");
    let pages = read("web/index.html") + &read("web/cluster.html");
    for script in page_scripts() {
        let name = script.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            assets.contains(&format!("asset!(\"{name}\"")),
            "web/{name} is not in src/web/assets.rs"
        );
        assert!(
            pages.contains(&format!("src=\"/assets/{name}\"")),
            "no page loads web/{name}"
        );
    }
}

#[test]
fn the_checker_reads_paths_and_finds_circles() {
    let module = vec![
        "server".to_string(),
        "room".to_string(),
        "state".to_string(),
    ];
    let text = "use crate::relay::ChatEvent;\nuse super::queue::Wakes; // crate::net::x\n\
                let x = super::super::session::run();\nfoo_crate::bar();";
    let paths = imports(&module, text);
    assert_eq!(
        paths,
        vec![
            vec!["relay".to_string()],
            vec!["server".into(), "room".into(), "queue".into()],
            vec!["server".into(), "session".into(), "run".into()],
        ]
    );
    let n = |a: &str, b: &str| (a.to_string(), b.to_string());
    let mut graph = BTreeMap::new();
    graph.insert(n("net", "udp"), BTreeSet::from([n("net", "driver")]));
    assert!(find_cycle(&graph).is_none());
    graph.insert(n("net", "driver"), BTreeSet::from([n("net", "udp")]));
    assert!(find_cycle(&graph).is_some());
    assert!(layer_of("wire") < layer_of("relay"));
}

#[test]
fn tests_sharing_common_are_grouped() {
    // Every test binary compiles tests/common again and links the whole
    // crate again, so tests that use it live as modules of a directory
    // target (tests/irc/main.rs, tests/rooms/main.rs, ...), not as
    // top-level files of their own. browser.rs stays alone: nothing else
    // drives a browser, and tests/browser/ holds its page script.
    const ALONE: &[&str] = &["browser.rs"];
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut alone = Vec::new();
    for entry in fs::read_dir(&tests).expect("read tests/") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_file() && name.ends_with(".rs") && !ALONE.contains(&name.as_str()) {
            let text = fs::read_to_string(&path).expect("read");
            if text.lines().any(|l| l.trim() == "mod common;") {
                alone.push(name);
            }
        }
    }
    assert!(
        alone.is_empty(),
        "top-level tests with `mod common;` (make them modules of a group in tests/*/main.rs): {alone:?}"
    );
    let groups = fs::read_dir(&tests)
        .expect("read tests/")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().join("main.rs").is_file()))
        .count();
    assert!(groups >= 9, "grouped test binaries: {groups}");
}
