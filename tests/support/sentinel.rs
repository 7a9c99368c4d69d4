//! What the Sentinel tests share: the two ASIM mappings' files, the documented differences
//! between them, the table's columns, and Kusto.Language analysis through
//! `tests/kql/transform.mjs` (from `bash tests/tools/setup.sh`).
#![allow(dead_code)]

use flowlog::domain::row::schema::FIELDS;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

pub const TRANSFORM: &str = "deploy/sentinel/asim-network-session.kql";
pub const ADX_FUNCTION: &str = "deploy/adx/05-asim-network-session.kql";

/// Columns of the Data Explorer function that are not columns of `ASimNetworkSessionLogs`: the
/// schema name (the table is the schema), the resource ID under its ADX-only name (the table
/// stores it as Dvc and DvcId), and ASIM aliases, which Sentinel's ASIM parsers derive from the
/// stored columns at query time.
pub const ADX_ONLY: &[&str] = &["EventSchema", "DvcAzureResourceId", "Src", "Dst", "IpAddr", "Rule"];

/// Data Explorer column -> the table column holding the same value (ASIM's Duration is an alias
/// of NetworkDuration, which the table stores).
pub const RENAMED: &[(&str, &str)] = &[("Duration", "NetworkDuration")];

/// The table column the Data Explorer column `column` corresponds to.
pub fn target(column: &str) -> &str {
    RENAMED.iter().find(|(a, _)| *a == column).map_or(column, |(_, d)| d)
}

/// The table's columns and Kusto types.
pub fn table_columns() -> BTreeMap<String, String> {
    read("tests/data/sentinel/asim-network-session-logs.columns")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, ty) = l.split_once(' ').expect("name type");
            (name.to_string(), ty.trim().to_string())
        })
        .collect()
}

/// Output columns of a query, with their Kusto types.
pub type Columns = Vec<(String, String)>;

/// Runs `tests/kql/transform.mjs` on `file` with the stream `columns`: (errors, output columns).
pub fn analyze(file: &str, columns: &[(String, String)]) -> (Vec<String>, Columns) {
    analyze_over("source", &[file.to_string()], columns).remove(0)
}

/// Runs `tests/kql/transform.mjs` on `files` over the table `table` with `columns` (one run, so
/// Kusto.Language loads once): (errors, output columns) per file.
pub fn analyze_over(table: &str, files: &[String], columns: &[(String, String)]) -> Vec<(Vec<String>, Columns)> {
    let root = repo();
    let package = root.join(".tools/node_modules/@kusto/language-service-next/Kusto.Language.Bridge.js");
    assert!(package.exists(), "{} is missing: run `bash tests/tools/setup.sh`", package.display());
    let list: Vec<String> = columns.iter().map(|(n, t)| format!("{n}:{t}")).collect();
    let out = Command::new("node")
        .arg(root.join("tests/kql/transform.mjs"))
        .args(["--table", table, "--columns", &list.join(",")])
        .args(files.iter().map(|f| root.join(f)))
        .output()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(out.status.success(), "transform.mjs failed: {}", String::from_utf8_lossy(&out.stderr));
    let results: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("transform.mjs prints JSON lines");
            let errors = v["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
            let cols = v["columns"].as_array().unwrap().iter();
            let cols = cols.map(|c| (c["name"].as_str().unwrap().into(), c["type"].as_str().unwrap().into())).collect();
            (errors, cols)
        })
        .collect();
    assert_eq!(results.len(), files.len(), "one result per file");
    results
}

pub fn stream() -> Vec<(String, String)> {
    FIELDS.iter().map(|f| (f.name.to_string(), f.ty.kusto().to_string())).collect()
}
