//! The two ASIM NetworkSession mappings of flowlog's rows must say the same thing: the data
//! collection rule transformation that writes Microsoft Sentinel's `ASimNetworkSessionLogs` at
//! ingestion (`deploy/sentinel/asim-network-session.kql`) and the Data Explorer function
//! (`deploy/adx/05-asim-network-session.kql`). Both are read column by column; each column's
//! expression is resolved to row fields and normalised, and the two must be equal, so a column
//! fed from another field or a different value mapping (direction, action, protocol, result)
//! fails here. The differences the transformation language forces are normalised by rules
//! stated below, and the columns only one side has are listed with their reason, which is checked.
//! `tests/sentinel_values.rs` evaluates both on rows, so the normalisation cannot hide a
//! difference in meaning.
//!
//! Kusto.Language (`tests/kql/transform.mjs`, from `bash tests/tools/setup.sh`) also analyzes the
//! transformation against the stream (the row schema), and the output columns must be columns of
//! the table with the table's types (`tests/data/sentinel/asim-network-session-logs.columns`).

#[path = "support/kql_mapping.rs"]
mod kql_mapping;
#[path = "support/sentinel.rs"]
mod sentinel;

use flowlog::domain::row::schema::FIELDS;
use kql_mapping::{Mapping, mapping, normalise};
use sentinel::{ADX_FUNCTION, ADX_ONLY, TRANSFORM, analyze, read, stream, table_columns, target};
use std::collections::BTreeMap;

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
        let target = target(column);
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
