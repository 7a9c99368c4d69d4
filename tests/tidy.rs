//! The layering rule, checked on the source text: domain <- pipeline <- {local, azure} <- app.
//!
//! Imports are read as `crate::<layer>::<module>` paths (the tree uses no grouped `crate::{..}`
//! imports). Comments are ignored, so prose may still name what code must not use. Inside the
//! engine, where modules name each other by `super::` paths, those are followed too: no module
//! there imports one that imports it back.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[path = "tidy/engine.rs"]
mod engine;

use engine::engine_cycles;

const LAYERS: [&str; 5] = ["domain", "pipeline", "local", "azure", "app"];

/// Which layers each layer may import, besides itself.
fn allowed(layer: &str) -> &'static [&'static str] {
    match layer {
        "domain" => &[],
        "pipeline" => &["domain"],
        "local" | "azure" => &["domain", "pipeline"],
        _ => &["domain", "pipeline", "local", "azure"],
    }
}

/// Names the pure core must not use: async runtimes, the file system, sockets, clocks,
/// process environment, threads and the Azure SDK (`std::net`'s address types are plain data).
const IMPURE: [&str; 19] = [
    "tokio",
    "std::fs",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "ToSocketAddrs",
    "std::env",
    "std::thread",
    "std::process",
    "SystemTime",
    "Instant",
    "azure_core",
    "azure_identity",
    "azure_storage",
    "azure_messaging",
    "azure_data_tables",
    "reqwest",
    "futures",
    "async ",
];

struct Source {
    path: PathBuf,
    /// Top-level module (layer) and second-level module it belongs to.
    layer: String,
    module: String,
    /// Code lines without comments.
    code: Vec<(usize, String)>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn strip_comment(line: &str) -> String {
    let t = line.trim_start();
    if t.starts_with("//") {
        return String::new();
    }
    // A `//` inside a string literal (a URL) is not a comment: only cut at `// ` after code.
    match line.find(" // ") {
        Some(i) if !line[..i].contains('"') => line[..i].to_string(),
        _ => line.to_string(),
    }
}

fn load(root: &Path) -> Vec<Source> {
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(&src).unwrap();
            let parts: Vec<String> =
                rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
            if parts.len() < 2 {
                return None; // lib.rs, main.rs
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.lines().enumerate().map(|(i, l)| (i + 1, strip_comment(l))).collect();
            Some(Source { layer: parts[0].clone(), module: parts[1].clone(), path, code })
        })
        .collect()
}

/// Every `crate::a::b` in `line`, as (a, b).
fn crate_paths(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        if i > 0 && line.as_bytes()[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let rest = &line[i + "crate::".len()..];
        let mut segs =
            rest.split("::").map(|s| s.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or(""));
        let a = segs.next().unwrap_or("").to_string();
        let b = segs.next().unwrap_or("").to_string();
        out.push((a, b));
    }
    out
}

/// Layer violations in the tree at `root`, one line each.
fn violations(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for s in load(root) {
        assert!(LAYERS.contains(&s.layer.as_str()), "{}: outside the five layers", s.path.display());
        for (n, line) in &s.code {
            for (layer, _) in crate_paths(line) {
                if layer != s.layer && !allowed(&s.layer).contains(&layer.as_str()) {
                    found.push(format!("{}:{n}: {} imports crate::{layer}", s.path.display(), s.layer));
                }
            }
            if s.layer == "domain" {
                for word in IMPURE {
                    if line.contains(word) {
                        found.push(format!("{}:{n}: the pure domain names `{word}`", s.path.display()));
                    }
                }
            }
        }
    }
    found
}

/// Unit tests may use any module of their layer (a parser's test encodes rows to compare).
fn is_test(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tests.rs" || n.to_string_lossy().ends_with("_tests.rs"))
}

/// Cycles between the modules of one layer (`domain::format` -> `domain::row` -> `domain::format`).
fn cycles(root: &Path) -> Vec<String> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in load(root).into_iter().filter(|s| !is_test(&s.path)) {
        let from = format!("{}::{}", s.layer, s.module);
        let node = edges.entry(from.clone()).or_default();
        for (_, line) in &s.code {
            for (layer, module) in crate_paths(line) {
                let to = format!("{layer}::{module}");
                if layer == s.layer && to != from && !module.is_empty() {
                    node.insert(to);
                }
            }
        }
    }
    find_cycles(&edges)
}

/// Every path from a node back to itself, one line each.
fn find_cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for start in edges.keys() {
        // Depth-first search for a path back to `start`.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    found.push(format!("{} -> {start}", path.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    found
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn layers_import_one_way_and_the_domain_is_pure() {
    let v = violations(&repo());
    assert!(v.is_empty(), "layering violations:\n{}", v.join("\n"));
}

#[test]
fn modules_of_a_layer_form_no_cycle() {
    let c = cycles(&repo());
    assert!(c.is_empty(), "import cycles:\n{}", c.join("\n"));
}

#[test]
fn modules_inside_the_engine_form_no_cycle() {
    let c = engine_cycles(&repo());
    assert!(c.is_empty(), "import cycles inside the engine:\n{}", c.join("\n"));
}

/// The checker itself catches what it must: a copy of the tree with forbidden imports planted.
#[test]
fn the_checker_fails_on_planted_violations() {
    let dir = tempfile::tempdir().unwrap();
    let plant = |rel: &str, text: &str| {
        let p = dir.path().join("src").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    plant("domain/format/a.rs", "use crate::pipeline::error::ServiceError;\n");
    plant("domain/row/b.rs", "fn f() { let _ = std::fs::read(\"x\"); }\n// tokio in a comment is fine\n");
    plant("pipeline/engine/c.rs", "use crate::local::feed::LocalFeed;\n");
    plant("local/feed/d.rs", "use crate::azure::feed::EventHubsFeed;\n");
    plant("azure/sink/e.rs", "use crate::app::config::Config;\n");
    plant("app/cli/f.rs", "use crate::azure::sink::Sink;\n");
    let v = violations(dir.path());
    assert_eq!(v.len(), 5, "{v:#?}");
    for needle in [
        "domain imports crate::pipeline",
        "names `std::fs`",
        "pipeline imports crate::local",
        "local imports crate::azure",
        "azure imports crate::app",
    ] {
        assert!(v.iter().any(|l| l.contains(needle)), "missing {needle}: {v:#?}");
    }
    plant("domain/x/m.rs", "use crate::domain::y::A;\n");
    plant("domain/y/m.rs", "use crate::domain::x::B;\n");
    assert!(cycles(dir.path()).iter().any(|c| c.contains("domain::x -> domain::y")), "{:?}", cycles(dir.path()));
    // Inside the engine: `super::` paths, grouped over lines, and a directory module as one.
    plant("pipeline/engine/mod.rs", "mod p;\nmod q;\nuse p::A;\n");
    plant("pipeline/engine/p.rs", "use super::{\n    Engine,\n    q::{B, C},\n};\n");
    plant("pipeline/engine/q/mod.rs", "mod r;\n#[cfg(test)]\nmod tests {\n    use super::super::p;\n}\n");
    assert!(engine_cycles(dir.path()).is_empty(), "{:?}", engine_cycles(dir.path()));
    plant("pipeline/engine/q/r.rs", "fn f() { crate::pipeline::engine::p::A::new(); }\n");
    let c = engine_cycles(dir.path());
    assert!(c.iter().any(|c| c.contains("pipeline::engine::p -> pipeline::engine::q")), "{c:?}");
    plant("pipeline/engine/q/r.rs", "use super::s::S;\n");
    plant("pipeline/engine/q/s.rs", "use super::super::super::engine::q::r::R;\n");
    let c = engine_cycles(dir.path());
    assert!(c.iter().any(|c| c.contains("pipeline::engine::q::r -> pipeline::engine::q::s")), "{c:?}");
}
