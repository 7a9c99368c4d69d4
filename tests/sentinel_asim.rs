//! The two ASIM NetworkSession mappings of flowlog's rows must say the same thing: the data
//! collection rule transformation that writes Microsoft Sentinel's `ASimNetworkSessionLogs` at
//! ingestion (`deploy/sentinel/asim-network-session.kql`) and the Data Explorer function
//! (`deploy/adx/05-asim-network-session.kql`). Both are read column by column; each column's
//! expression is resolved to row fields and normalised, and the two must be equal, so a column
//! fed from another field or a different value mapping (direction, action, protocol, result)
//! fails here. The differences the transformation language forces are normalised by rules
//! stated below, and the columns only one side has are listed with their reason, which is checked.
//! Both mappings are also evaluated on the golden rows and variants of them
//! (`tests/support/kql_eval.rs`), and every column must get the same value from both, so the
//! normalisation rules cannot hide a difference.
//!
//! Kusto.Language (`tests/kql/transform.mjs`, from `bash tests/tools/setup.sh`) also analyzes the
//! transformations against the stream (the row schema), and the output columns must be columns of
//! the table with the table's types (`tests/data/sentinel/asim-network-session-logs.columns`);
//! the hunting queries of `docs/SENTINEL.md` are analyzed over the same table.

#[path = "support/kql_eval.rs"]
mod kql_eval;
#[path = "support/kql_mapping.rs"]
mod kql_mapping;

use flowlog::domain::row::schema::{FIELDS, FieldType};
use kql_mapping::{Mapping, mapping, normalise};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

const TRANSFORM: &str = "deploy/sentinel/asim-network-session.kql";
const ADX_FUNCTION: &str = "deploy/adx/05-asim-network-session.kql";

/// Columns of the Data Explorer function that are not columns of `ASimNetworkSessionLogs`: the
/// schema name (the table is the schema), the resource ID under its ADX-only name (the table
/// stores it as Dvc and DvcId), and ASIM aliases, which Sentinel's ASIM parsers derive from the
/// stored columns at query time.
const ADX_ONLY: &[&str] = &["EventSchema", "DvcAzureResourceId", "Src", "Dst", "IpAddr", "Rule"];

/// Data Explorer column -> the table column holding the same value (ASIM's Duration is an alias
/// of NetworkDuration, which the table stores).
const RENAMED: &[(&str, &str)] = &[("Duration", "NetworkDuration")];

/// The functions a transformation may call, from "Supported KQL features in Azure Monitor
/// transformations" (https://learn.microsoft.com/azure/azure-monitor/data-collection/data-collection-transformations-kql,
/// looked up 2026-12-07), as far as flowlog's transformations could want them. `int` is the
/// literal `int(1)`, not a call. Notably absent there: `iff` (use `iif`), `coalesce`, `bag_pack`
/// (use `pack`), `isnotempty` is present.
const SUPPORTED_FUNCTIONS: &[&str] = &[
    "case",
    "iif",
    "max_of",
    "min_of",
    "tostring",
    "toint",
    "tolong",
    "todouble",
    "toreal",
    "tobool",
    "todatetime",
    "toupper",
    "tolower",
    "strcat",
    "strcat_delim",
    "substring",
    "strlen",
    "split",
    "extract",
    "indexof",
    "isempty",
    "isnotempty",
    "isnull",
    "isnotnull",
    "pack",
    "pack_array",
    "parse_json",
    "array_length",
    "geo_location",
    "int",
    "long",
    "real",
    "datetime",
    "dynamic",
];

/// The table's columns and Kusto types.
fn table_columns() -> BTreeMap<String, String> {
    read("tests/data/sentinel/asim-network-session-logs.columns")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, ty) = l.split_once(' ').expect("name type");
            (name.to_string(), ty.trim().to_string())
        })
        .collect()
}

/// Everything that makes the transformation disagree with the Data Explorer function or the
/// table (empty when they agree).
fn problems(transform: &str, adx: &str, table: &BTreeMap<String, String>) -> Vec<String> {
    let fields: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
    let (dcr, adx) = match (mapping(transform, "source", &fields), mapping(adx, "FlowLogsDedup", &fields)) {
        (Ok(d), Ok(a)) => (d, a),
        (d, a) => return vec![format!("cannot read the mappings: {:?} / {:?}", d.err(), a.err())],
    };
    let mut out = Vec::new();
    let mut matched = Vec::new();
    for (column, expr) in &adx.columns {
        if ADX_ONLY.contains(&column.as_str()) {
            if table.contains_key(column) {
                out.push(format!("{column} is listed as ADX-only but is a table column: map it"));
            }
            continue;
        }
        let target = RENAMED.iter().find(|(a, _)| a == column).map_or(column.as_str(), |(_, d)| d);
        match dcr.get(target) {
            None => out.push(format!("the transformation lacks {target} (ADX {column} = {expr})")),
            Some(d) => {
                let (a, d) = (normalise(expr), normalise(d));
                if a != d {
                    out.push(format!("{target}: the transformation writes `{d}`, the ADX function `{a}`"));
                }
                matched.push(target.to_string());
            }
        }
    }
    for (column, expr) in &dcr.columns {
        if !matched.contains(column) {
            out.push(format!("{column} = {expr} has no counterpart in the ADX function"));
        }
        if !table.contains_key(column) {
            out.push(format!("{column} is not a column of ASimNetworkSessionLogs"));
        }
    }
    for f in functions(transform) {
        if !SUPPORTED_FUNCTIONS.contains(&f.as_str()) {
            out.push(format!("{f}() is not supported in transformations"));
        }
    }
    out
}

/// Names called as functions in `kql` (an identifier right before `(`).
fn functions(kql: &str) -> Vec<String> {
    let code = kql_mapping::strip_comments(kql);
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut in_string = false;
    for i in 0..chars.len() {
        if chars[i] == '"' {
            in_string = !in_string;
        }
        if in_string || chars[i] != '(' {
            continue;
        }
        let mut start = i;
        while start > 0 && (chars[start - 1].is_alphanumeric() || chars[start - 1] == '_') {
            start -= 1;
        }
        let name: String = chars[start..i].iter().collect();
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

#[test]
fn transformation_and_adx_function_agree_column_by_column() {
    let table = table_columns();
    let problems = problems(&read(TRANSFORM), &read(ADX_FUNCTION), &table);
    assert!(problems.is_empty(), "{TRANSFORM} vs {ADX_FUNCTION}:\n{}", problems.join("\n"));
}

#[test]
fn the_agreement_check_catches_each_kind_of_drift() {
    let (transform, adx, table) = (read(TRANSFORM), read(ADX_FUNCTION), table_columns());
    let cases: &[(&str, &str, &str)] = &[
        // A direction mapped backwards.
        (r#""Inbound", "Outbound""#, r#""Outbound", "Inbound""#, "NetworkDirection"),
        // Bytes from the other direction.
        ("SrcBytes = bytes_src_to_dst", "SrcBytes = bytes_dst_to_src", "SrcBytes"),
        // A function transformations do not have.
        ("NetworkProtocol = toupper(protocol)", "NetworkProtocol = tolower(protocol)", "NetworkProtocol"),
        ("EventResult = iif(", "EventResult = iff(", "iff() is not supported"),
        // A column dropped, and one the table does not have.
        ("    SrcGeoCountry = src_country,\n", "", "lacks SrcGeoCountry"),
        ("    DstGeoCity = dst_city,\n", "    DstGeoTown = dst_city,\n", "DstGeoTown is not a column"),
        // The action taken from the wrong field.
        (r#"DvcAction = iif(decision == "deny""#, r#"DvcAction = iif(flow_state == "deny""#, "DvcAction"),
    ];
    for (from, to, needle) in cases {
        assert!(transform.contains(from), "the mutation `{from}` no longer applies");
        let mutated = transform.replacen(from, to, 1);
        let found = problems(&mutated, &adx, &table);
        assert!(found.iter().any(|p| p.contains(needle)), "`{from}` -> `{to}` went unnoticed: {found:?}");
    }
}

#[test]
fn normalisation_maps_only_equivalent_forms() {
    assert_eq!(normalise("coalesce(a, b)"), normalise("iif(isnotempty(a), a, b)"));
    assert_eq!(normalise("iff(x == \"a b\", 1, 2)"), normalise("iif(x==\"a b\",1,2)"));
    assert_eq!(normalise("bag_pack(\"k\", v)"), normalise("pack(\"k\", v)"));
    assert_ne!(normalise("coalesce(a, b)"), normalise("iif(isnotempty(b), b, a)"));
    assert_ne!(normalise("x == \"a b\""), normalise("x == \"ab\""), "spaces inside strings count");
    assert_ne!(normalise("diff(a)"), normalise("dif(a)"));
}

/// Output columns of a query, with their Kusto types.
type Columns = Vec<(String, String)>;

/// Runs `tests/kql/transform.mjs` on `file` with the stream `columns`: (errors, output columns).
pub fn analyze(file: &str, columns: &[(String, String)]) -> (Vec<String>, Columns) {
    analyze_over("source", &[file.to_string()], columns).remove(0)
}

/// Runs `tests/kql/transform.mjs` on `files` over the table `table` with `columns` (one run, so
/// Kusto.Language loads once): (errors, output columns) per file.
fn analyze_over(table: &str, files: &[String], columns: &[(String, String)]) -> Vec<(Vec<String>, Columns)> {
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

fn stream() -> Vec<(String, String)> {
    FIELDS.iter().map(|f| (f.name.to_string(), f.ty.kusto().to_string())).collect()
}

#[test]
fn transformation_analyzes_against_the_stream_and_fits_the_table() {
    let (errors, columns) = analyze(TRANSFORM, &stream());
    assert!(errors.is_empty(), "{TRANSFORM}: {errors:?}");
    let table = table_columns();
    assert!(columns.len() > 40, "expected the mapped columns, got {columns:?}");
    for (name, ty) in &columns {
        assert_eq!(
            table.get(name),
            Some(ty),
            "{name}: the transformation writes {ty}, the table column is {:?}",
            table.get(name)
        );
    }
    // A misspelled source field is an error, so the check above is not vacuous.
    let broken = std::env::temp_dir().join(format!("flowlog-transform-{}.kql", std::process::id()));
    std::fs::write(&broken, read(TRANSFORM).replace("= src_port,", "= src_prt,")).unwrap();
    let (errors, _) = analyze(&broken.display().to_string(), &stream());
    std::fs::remove_file(&broken).ok();
    assert!(errors.iter().any(|e| e.contains("src_prt")), "{errors:?}");
}

#[test]
fn mapping_reads_projects_extends_and_aliases() {
    let kql = "T\n| extend A = iff(x == \"a, b\", 1, 2) | project A, B = f(y, z), x | extend C = B, D = x";
    let m: Mapping = mapping(kql, "T", &["x", "y", "z"]).unwrap();
    let got: Vec<(&str, &str)> = m.columns.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(got, [("A", "iff(x == \"a, b\", 1, 2)"), ("B", "f(y, z)"), ("x", "x"), ("C", "f(y, z)"), ("D", "x")]);
}

/// `_Im_NetworkSession` as far as the queries use it: Sentinel's unifying parser over the table,
/// with its time parameters and the ASIM aliases it adds.
const IM_NETWORK_SESSION: &str =
    "let _Im_NetworkSession = (starttime: datetime = datetime(null), endtime: datetime = datetime(null)) {
    ASimNetworkSessionLogs
    | where (isnull(starttime) or TimeGenerated >= starttime) and (isnull(endtime) or TimeGenerated <= endtime)
    | extend Src = SrcIpAddr, Dst = DstIpAddr, IpAddr = SrcIpAddr, Rule = NetworkRuleName, Duration = NetworkDuration
};
";

/// The ```kql blocks of a Markdown text.
fn kql_blocks(markdown: &str) -> Vec<String> {
    let (mut out, mut current): (Vec<String>, Option<String>) = (Vec::new(), None);
    for line in markdown.lines() {
        match (&mut current, line.trim()) {
            (None, "```kql") => current = Some(String::new()),
            (Some(block), "```") => {
                out.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

/// Errors of each query analyzed over ASimNetworkSessionLogs (empty vectors when they are good).
fn query_errors(queries: &[String]) -> Vec<Vec<String>> {
    let columns: Vec<(String, String)> = table_columns().into_iter().collect();
    let dir = std::env::temp_dir().join(format!("flowlog-sentinel-queries-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<String> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let file = dir.join(format!("q{i}.kql"));
            std::fs::write(&file, format!("{IM_NETWORK_SESSION}{q}")).unwrap();
            file.display().to_string()
        })
        .collect();
    let out = analyze_over("ASimNetworkSessionLogs", &files, &columns).into_iter().map(|(errors, _)| errors).collect();
    std::fs::remove_dir_all(&dir).ok();
    out
}

#[test]
fn the_hunting_queries_in_the_docs_analyze_cleanly() {
    let queries = kql_blocks(&read("docs/SENTINEL.md"));
    assert!(queries.len() >= 5, "expected the hunting queries, found {}", queries.len());
    assert!(queries.iter().any(|q| q.contains("_Im_NetworkSession(")), "one query uses the unifying parser");
    for (query, errors) in queries.iter().zip(query_errors(&queries)) {
        assert!(errors.is_empty(), "{query}\n{errors:?}");
    }
    // A misspelled column fails, so the loop above is not vacuous.
    let broken = queries[0].replacen("DvcAction", "DvcActon", 1);
    let errors = &query_errors(&[broken])[0];
    assert!(errors.iter().any(|e| e.contains("DvcActon")), "{errors:?}");
}

/// The golden rows of `samples/golden/` (NSG v1 and v2, VNet, enriched and not), each also with
/// every decision, direction, flow state and protocol and an IPv6 source, so every branch of the
/// value mappings is taken.
fn sample_rows() -> Vec<Map<String, Value>> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(repo().join("samples/golden")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ndjson") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let row: Map<String, Value> = serde_json::from_str(line).unwrap();
            rows.push(row);
        }
    }
    assert!(rows.len() > 30, "expected the golden rows");
    let variants: &[(&str, Value)] = &[
        ("decision", "deny".into()),
        ("decision", "allow".into()),
        ("direction", "inbound".into()),
        ("direction", "outbound".into()),
        ("flow_state", "begin".into()),
        ("flow_state", "end".into()),
        ("flow_state", "continuing".into()),
        ("flow_state", Value::Null),
        ("protocol", "icmp".into()),
        ("src_ip", "2001:db8::1".into()),
        ("target_resource_id", Value::Null),
        ("bytes_dst_to_src", Value::Null),
    ];
    let mut out = rows.clone();
    for row in &rows {
        for (field, value) in variants {
            let mut v = row.clone();
            v.insert(field.to_string(), value.clone());
            out.push(v);
        }
    }
    out
}

#[test]
fn both_mappings_give_every_column_the_same_value_on_sample_rows() {
    let fields: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
    let dcr = mapping(&read(TRANSFORM), "source", &fields).unwrap();
    let adx = mapping(&read(ADX_FUNCTION), "FlowLogsDedup", &fields).unwrap();
    let rows = sample_rows();
    let mut compared = 0;
    for row in &rows {
        let get = |name: &str| {
            FIELDS.iter().find(|f| f.name == name).map(|f| kql_eval::field(row, name, f.ty == FieldType::String))
        };
        for (column, adx_expr) in &adx.columns {
            if ADX_ONLY.contains(&column.as_str()) {
                continue;
            }
            let target = RENAMED.iter().find(|(a, _)| a == column).map_or(column.as_str(), |(_, d)| d);
            let dcr_expr = dcr.get(target).unwrap_or_else(|| panic!("the transformation lacks {target}"));
            let a = kql_eval::eval(adx_expr, &get).unwrap_or_else(|e| panic!("ADX {column}: {e}"));
            let d = kql_eval::eval(dcr_expr, &get).unwrap_or_else(|e| panic!("DCR {target}: {e}"));
            assert_eq!(a, d, "{target} differs on row {}: ADX `{adx_expr}` vs DCR `{dcr_expr}`", row["id"]);
            compared += 1;
        }
    }
    assert!(compared > 40 * rows.len(), "compared {compared} values on {} rows", rows.len());
    // The evaluator tells the value mappings apart, so the equality above means something.
    let row: Map<String, Value> =
        serde_json::from_str(r#"{"direction":"inbound","target_resource_id":null,"resource_id":"/nsg"}"#).unwrap();
    let get = |name: &str| Some(kql_eval::field(&row, name, true));
    let dir = |e: &str| kql_eval::eval(e, &get).unwrap();
    assert_eq!(dir(r#"iif(direction == "inbound", "Inbound", "Outbound")"#), "Inbound");
    assert_eq!(dir(r#"iif(direction == "outbound", "Inbound", "Outbound")"#), "Outbound");
    assert_eq!(dir("coalesce(target_resource_id, resource_id)"), "/nsg");
    assert_eq!(dir("iif(isnotempty(target_resource_id), target_resource_id, resource_id)"), "/nsg");
}
