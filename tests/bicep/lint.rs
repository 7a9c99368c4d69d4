//! Bicep read as text, for checks that need no Bicep CLI: declared parameters and outputs,
//! module calls and the parameters they pass, and the problems of each (a parameter undocumented
//! or unused, a module given an unknown parameter or not a required one, an unknown output).
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A file's text; a missing file fails the test naming it.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Bicep source without `//` line comments (none of our strings contain `//` except URLs in
/// descriptions, which only matter for the @description check on the raw text).
fn code(bicep: &str) -> String {
    bicep
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('\'') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Occurrences of `word` as a whole identifier.
fn count_word(text: &str, word: &str) -> usize {
    text.match_indices(word)
        .filter(|(i, _)| {
            let before = text[..*i].chars().next_back();
            let after = text[i + word.len()..].chars().next();
            !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
        })
        .count()
}

/// Declared parameters: name -> has a default value.
pub fn params(bicep: &str) -> BTreeMap<String, bool> {
    code(bicep)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("param "))
        .map(|rest| {
            let name: String = rest.chars().take_while(|c| is_ident_char(*c)).collect();
            (name, rest.contains('='))
        })
        .collect()
}

pub fn outputs(bicep: &str) -> BTreeSet<String> {
    code(bicep)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("output "))
        .map(|rest| rest.chars().take_while(|c| is_ident_char(*c)).collect())
        .collect()
}

/// Problems with parameter declarations: undocumented or unused parameters.
pub fn param_problems(file: &str, bicep: &str) -> Vec<String> {
    let lines: Vec<&str> = bicep.lines().collect();
    let mut problems = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix("param ") else {
            continue;
        };
        let name: String = rest.chars().take_while(|c| is_ident_char(*c)).collect();
        let decorators = lines[..i].iter().rev().take_while(|l| l.trim().starts_with('@'));
        if !decorators.clone().any(|l| l.trim().starts_with("@description(")) {
            problems.push(format!("{file}: param {name} has no @description"));
        }
        if count_word(&code(bicep), &name) < 2 {
            problems.push(format!("{file}: param {name} is never used"));
        }
    }
    problems
}

/// Module calls in `bicep`: (symbol, relative path, parameter names passed).
fn module_calls(bicep: &str) -> Vec<(String, String, BTreeSet<String>)> {
    let text = code(bicep);
    let mut calls = Vec::new();
    for (start, _) in text.match_indices("\nmodule ") {
        let decl = &text[start + 8..];
        let symbol: String = decl.chars().take_while(|c| is_ident_char(*c)).collect();
        let path = decl.split('\'').nth(1).unwrap_or_default().to_string();
        let body = &decl[decl.find('{').expect("module body")..];
        let mut names = BTreeSet::new();
        if let Some(p) = body.find("params: {") {
            let mut depth = 0;
            for line in body[p + "params: {".len()..].lines() {
                if depth == 0 && line.trim() == "}" {
                    break;
                }
                if depth == 0
                    && let Some((key, _)) = line.trim().split_once(':')
                    && !key.is_empty()
                    && key.chars().all(is_ident_char)
                {
                    names.insert(key.to_string());
                }
                depth += line.matches(['{', '[']).count() as i32 - line.matches(['}', ']']).count() as i32;
            }
        }
        calls.push((symbol, path, names));
    }
    calls
}

/// Problems with module calls: unknown or missing parameters, unknown outputs referenced.
pub fn module_problems(dir: &Path, file: &str, bicep: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (symbol, path, passed) in module_calls(bicep) {
        let target = read(&dir.join(&path));
        let declared = params(&target);
        for name in &passed {
            if !declared.contains_key(name) {
                problems.push(format!("{file}: module {symbol} passes {name}, which {path} does not declare"));
            }
        }
        for (name, has_default) in &declared {
            if !has_default && !passed.contains(name) {
                problems.push(format!("{file}: module {symbol} does not pass required {name} of {path}"));
            }
        }
        let outs = outputs(&target);
        let prefix = format!("{symbol}.outputs.");
        for (i, _) in bicep.match_indices(&prefix) {
            let name: String = bicep[i + prefix.len()..].chars().take_while(|c| is_ident_char(*c)).collect();
            if !outs.contains(&name) {
                problems.push(format!("{file}: {symbol}.outputs.{name} is not an output of {path}"));
            }
        }
    }
    problems
}
