//! Parses every Bicep file of the repository with tree-sitter-bicep (via
//! `tests/bicep/check.py`) and runs the checks a parser alone misses: module paths exist,
//! module calls pass only declared parameters and every required one, referenced module outputs
//! exist, and parameter files set only declared parameters. The deliberately broken files in
//! `tests/bicep/broken/` prove each check fails.
//!
//! Not proven here: symbols and types, resource API versions and property names, what ARM
//! accepts; that needs the Bicep compiler (`az bicep build`) and `az deployment group what-if`.
//!
//! Needs python3 and the parser from `bash tests/tools/setup.sh` (`.tools/bicep`); without them
//! the tests fail with that instruction instead of skipping.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.bicep` and `*.parameters*.json` file under `dir`, skipping build output, tools, and
/// the broken examples unless `dir` is inside them; sorted.
fn bicep_files(dir: &Path) -> Vec<PathBuf> {
    let skip = ["target", ".tools", ".git", "node_modules", "broken"];
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !skip.contains(&name.as_str()) {
                    stack.push(path);
                }
            } else if name.ends_with(".bicep") || (name.ends_with(".json") && name.contains(".parameters")) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Runs the checker with `args`; panics with setup instructions if it cannot run at all.
fn run_checker(args: &[&Path]) -> Output {
    let root = repo();
    let python = root.join(".tools/bicep/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash tests/tools/setup.sh` to install the Bicep parser (tree-sitter-bicep) into .tools/bicep",
        python.display()
    );
    let output = Command::new(&python)
        .arg(root.join("tests/bicep/check.py"))
        .args(args)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let code = output.status.code();
    assert!(code == Some(0) || code == Some(1), "check.py could not run (exit {code:?}):\n{}", text(&output));
    output
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn relative(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.strip_prefix(repo()).unwrap().display().to_string()).collect()
}

#[test]
fn every_bicep_file_parses_and_its_modules_and_parameters_line_up() {
    let files = bicep_files(&repo());
    let names = relative(&files);
    for expected in [
        "deploy/azure/main.bicep",
        "deploy/azure/main.parameters.example.json",
        "deploy/azure/modules/containerapp.bicep",
        "deploy/azure/modules/sentinel.bicep",
        "deploy/azure/modules/state.bicep",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} was not found among {names:?}");
    }
    let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = run_checker(&args);
    let out = text(&output);
    assert!(output.status.success(), "Bicep check failed:\n{out}");
    assert!(out.contains(&format!("{} file(s) OK", files.len())), "{out}");
}

/// Each broken file, and pieces of the diagnostic that must name its problem and place.
const BROKEN: &[(&str, &[&str])] = &[
    ("missing-brace.bicep", &["missing-brace.bicep:2:1: SYNTAX"]),
    ("missing-module.bicep", &["missing-module.bicep:2:10: MODULE-PATH", "../fixtures/modul.bicep does not exist"]),
    ("unknown-param.bicep", &["unknown-param.bicep:6:5: MODULE-PARAM", "passes sise, which ../fixtures/module.bicep"]),
    ("missing-required.bicep", &["missing-required.bicep:2:", "MODULE-REQUIRED", "does not pass name"]),
    ("unknown-output.bicep", &["unknown-output.bicep:9:20: MODULE-OUTPUT", "m.outputs.identifier"]),
    (
        "params/main.parameters.example.json",
        &[
            "main.parameters.example.json:6:1: PARAMS-FILE sets location, which main.bicep does not declare",
            "PARAMS-REQUIRED main.bicep requires region",
        ],
    ),
];

#[test]
fn checker_rejects_each_broken_file_and_names_the_problem() {
    let dir = repo().join("tests/bicep/broken");
    let mut present: Vec<String> = Vec::new();
    for entry in ["", "params"] {
        for f in std::fs::read_dir(dir.join(entry)).unwrap() {
            let path = f.unwrap().path();
            let name = path.strip_prefix(&dir).unwrap().display().to_string();
            // params/main.bicep is the valid template of the broken parameter file.
            if path.is_file() && name != "params/main.bicep" {
                present.push(name);
            }
        }
    }
    present.sort();
    let mut expected: Vec<String> = BROKEN.iter().map(|(f, _)| f.to_string()).collect();
    expected.sort();
    assert_eq!(present, expected, "every broken file needs an expectation here, and vice versa");

    for (file, needles) in BROKEN {
        let output = run_checker(&[&dir.join(file)]);
        let out = text(&output);
        assert_eq!(output.status.code(), Some(1), "{file} should fail the check:\n{out}");
        for needle in *needles {
            assert!(out.contains(needle), "{file}: expected `{needle}` in the diagnostics:\n{out}");
        }
    }
}

#[test]
fn each_missing_bracket_in_a_real_template_is_a_syntax_error() {
    // Deleting any one brace or bracket of a real module must not leave a file that parses.
    let source = std::fs::read_to_string(repo().join("deploy/azure/modules/containerapp.bicep")).unwrap();
    let dir = std::env::temp_dir().join(format!("flowlog-bicep-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (i, c) in source.char_indices().filter(|(_, c)| "{}[]".contains(*c)) {
        let line = source[..i].rsplit('\n').next().unwrap_or_default();
        if line.contains("//") || line.matches('\'').count() % 2 == 1 {
            continue; // inside a comment or a string: not syntax
        }
        let file = dir.join(format!("cut-{i}-{}.bicep", if "{[".contains(c) { "open" } else { "close" }));
        std::fs::write(&file, format!("{}{}", &source[..i], &source[i + 1..])).unwrap();
        files.push(file);
    }
    assert!(files.len() > 40, "expected many brackets, cut {}", files.len());
    let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = text(&run_checker(&args));
    std::fs::remove_dir_all(&dir).ok();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            out.lines().any(|l| l.contains(&format!("{name}:")) && l.contains(": SYNTAX ")),
            "{name} parsed although a bracket is missing:\n{out}"
        );
    }
}

#[test]
fn one_broken_file_fails_a_run_of_otherwise_good_files() {
    let mut files = bicep_files(&repo().join("deploy"));
    files.push(repo().join("tests/bicep/broken/unknown-param.bicep"));
    let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = run_checker(&args);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("1 Bicep error(s)"), "only the broken file should be reported:\n{out}");
}
