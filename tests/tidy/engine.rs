//! Import cycles inside the engine, whose modules name each other by `super::` paths as well as
//! `crate::` ones: each path is made absolute from the file's own module, and a directory module
//! (`engine/read/`) counts as one module of the engine, its files as modules of their own inside it.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{find_cycles, is_test, rust_files, strip_comment};

/// The module path of a file under `src` (`pipeline/engine/read/mod.rs` -> pipeline, engine, read).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its inline `#[cfg(test)] mod tests`.
fn code_outside_tests(text: &str) -> String {
    let lines: Vec<String> = text.lines().map(strip_comment).collect();
    let end = (1..lines.len())
        .find(|&i| lines[i].trim_start().starts_with("mod tests") && lines[i - 1].trim() == "#[cfg(test)]")
        .map_or(lines.len(), |i| i - 1);
    lines[..end].join("\n")
}

/// Every module path `code` names, made absolute for a file of module `at`: `crate::a::b`,
/// `super::b` and `super::{b, c::{D, E}}` (groups possibly over several lines).
fn named_paths(code: &str, at: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for i in (0..code.len()).filter(|&i| code.is_char_boundary(i)) {
        let before = i.checked_sub(1).map(|j| code.as_bytes()[j]);
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':') {
            continue;
        }
        let (mut base, mut rest) = if let Some(r) = code[i..].strip_prefix("crate::") {
            (Vec::new(), r)
        } else if code[i..].starts_with("super::") {
            (at.to_vec(), &code[i..])
        } else {
            continue;
        };
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        expand(base, rest, &mut out);
    }
    out
}

/// The paths `rest` adds to `base`: `a::b::C` one, `{a, b::{C, D}}` one per item.
fn expand(mut base: Vec<String>, rest: &str, out: &mut Vec<Vec<String>>) {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let (mut depth, mut from) = (0usize, 0);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth > 0 => depth -= 1,
                ',' | '}' if depth == 0 => {
                    expand(base.clone(), &group[from..i], out);
                    if c == '}' {
                        return;
                    }
                    from = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let ident: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if !ident.is_empty() {
        base.push(ident.clone());
        if let Some(next) = rest[ident.len()..].strip_prefix("::") {
            return expand(base, next, out);
        }
    }
    out.push(base);
}

/// Cycles between the modules directly inside `src/<dir>` (a directory module counts as one,
/// whatever its files import). The parent module is left out: its children use its items by nature.
fn cycles_inside(root: &Path, dir: &[&str]) -> Vec<String> {
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&dir.iter().fold(src.clone(), |p, d| p.join(d)), &mut files);
    let depth = dir.len() + 1;
    let node_of =
        |path: &[String]| (path.len() >= depth && path[..dir.len()] == *dir).then(|| path[..depth].join("::"));
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut code = Vec::new();
    for path in files.into_iter().filter(|p| !is_test(p)) {
        let module = module_path(path.strip_prefix(&src).unwrap());
        if let Some(node) = node_of(&module) {
            edges.entry(node.clone()).or_default();
            code.push((node, module, code_outside_tests(&std::fs::read_to_string(&path).unwrap())));
        }
    }
    for (from, module, text) in code {
        for named in named_paths(&text, &module) {
            if let Some(to) = node_of(&named).filter(|to| *to != from && edges.contains_key(to)) {
                edges.get_mut(&from).unwrap().insert(to);
            }
        }
    }
    find_cycles(&edges)
}

/// `src/pipeline/engine` and every directory module below it.
fn engine_dirs(root: &Path) -> Vec<Vec<String>> {
    let base = ["pipeline", "engine"];
    let mut out = vec![base.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    let mut i = 0;
    while i < out.len() {
        let dir = out[i].iter().fold(root.join("src"), |p, d| p.join(d));
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.push([out[i].clone(), vec![path.file_name().unwrap().to_string_lossy().to_string()]].concat());
            }
        }
        i += 1;
    }
    out
}

pub fn engine_cycles(root: &Path) -> Vec<String> {
    engine_dirs(root)
        .iter()
        .flat_map(|d| cycles_inside(root, &d.iter().map(String::as_str).collect::<Vec<_>>()))
        .collect()
}
