//! Runs Microsoft's Kusto.Language (via `node tests/kql/check.mjs`) over every KQL file and the
//! dashboard JSON in `deploy/adx/`, and over the deliberately broken files in `tests/kql/broken/` to prove the
//! checker really rejects bad KQL.
//!
//! Needs Node.js and the project-local tools from `bash tests/tools/setup.sh`; when they are
//! missing the tests fail with that instruction instead of skipping.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.kql` file and `*.json` dashboard under `dir`, recursively, sorted.
fn kql_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "kql" || x == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Runs the checker on `files`; panics with setup instructions if it cannot run at all.
fn run_checker(files: &[PathBuf]) -> Output {
    let root = repo();
    let package = root.join(".tools/node_modules/@kusto/language-service-next/Kusto.Language.Bridge.js");
    assert!(
        package.exists(),
        "{} is missing: run `bash tests/tools/setup.sh` to install the Kusto language service \
         (@kusto/language-service-next) into .tools/",
        package.display()
    );
    let output = Command::new("node")
        .arg(root.join("tests/kql/check.mjs"))
        .args(files)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` (Node.js 20+ is required for the KQL check): {e}"));
    let code = output.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "check.mjs could not run (exit {code:?}):\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn deploy_kql_parses_and_analyzes_cleanly() {
    let files = kql_files(&repo().join("deploy/adx"));
    // The table, mapping, view, policy and ASIM scripts, the seven ready queries, the dashboard.
    assert!(files.len() >= 13, "expected the ADX scripts, queries and dashboard, found {files:?}");
    assert!(files.iter().any(|f| f.ends_with("dashboard.json")), "the dashboard must be checked");
    let output = run_checker(&files);
    assert!(output.status.success(), "KQL check failed:\n{}", text(&output));
}

/// Each broken file, and a piece of the diagnostic that must name its problem.
const BROKEN: &[(&str, &[&str])] = &[
    ("misspelled-column.kql", &["misspelled-column.kql:5:", "KS142", "dest_port"]),
    ("syntax-error.kql", &["syntax-error.kql:", "KS005", "Expected: )"]),
    ("unknown-function.kql", &["unknown-function.kql:4:", "KS211", "summ"]),
    ("unknown-command.kql", &["unknown-command.kql:3:1", "UNKNOWN-COMMAND", ".crate-merge"]),
    ("bad-mapping.kql", &["MAPPING-COLUMN", "src_addr", "MAPPING-TYPE", "src_port"]),
    ("function-body.kql", &["function-body.kql:7:", "KS142", "src_countryy"]),
    ("dashboard.json", &["KS142", "decisionn", "DASHBOARD-REF", "uses unknown query"]),
];

#[test]
fn checker_rejects_each_broken_file_and_names_the_problem() {
    let dir = repo().join("tests/kql/broken");
    let present: Vec<String> =
        kql_files(&dir).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let mut expected: Vec<String> = BROKEN.iter().map(|(f, _)| f.to_string()).collect();
    expected.sort();
    assert_eq!(present, expected, "every broken file needs an expectation here, and vice versa");

    for (file, needles) in BROKEN {
        let output = run_checker(&[dir.join(file)]);
        let out = text(&output);
        assert_eq!(output.status.code(), Some(1), "{file} should fail the check:\n{out}");
        for needle in *needles {
            assert!(out.contains(needle), "{file}: expected `{needle}` in the diagnostics:\n{out}");
        }
    }
}

#[test]
fn one_broken_file_fails_a_run_of_otherwise_good_files() {
    let mut files = kql_files(&repo().join("deploy/adx"));
    files.push(repo().join("tests/kql/broken/misspelled-column.kql"));
    let output = run_checker(&files);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("1 KQL error(s)"), "only the broken file should be reported:\n{out}");
}
