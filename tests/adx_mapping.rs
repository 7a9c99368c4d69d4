//! The Data Explorer table (`deploy/adx/01-table.kql`) and ingestion mapping
//! (`deploy/adx/02-mapping.kql`) must cover exactly the row fields flowlog emits, as listed in
//! `flowlog::domain::row::schema::FIELDS`, with the same Kusto types. A renamed, added, removed or
//! retyped field fails here until the KQL is updated with it.

use flowlog::domain::row::schema::FIELDS;
use serde_json::Value;
use std::path::PathBuf;

fn read(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// KQL without `//` comments (KQL has no block comments; `//` inside the strings used in
/// these scripts does not occur).
fn strip_comments(kql: &str) -> String {
    kql.lines().map(|l| l.find("//").map_or(l, |i| &l[..i])).collect::<Vec<_>>().join("\n")
}

/// The row schema as (name, kusto type), in encoder order.
fn expected() -> Vec<(String, String)> {
    FIELDS.iter().map(|f| (f.name.to_string(), f.ty.kusto().to_string())).collect()
}

/// Columns of `.create-merge table <table> (name: type, ...)` in `kql`.
fn table_columns(kql: &str, table: &str) -> Result<Vec<(String, String)>, String> {
    let kql = strip_comments(kql);
    let head = format!(".create-merge table {table}");
    let start = kql.find(&head).ok_or(format!("no `{head}` command"))? + head.len();
    let rest = kql[start..].trim_start();
    let body =
        rest.strip_prefix('(').and_then(|r| r.find(')').map(|end| &r[..end])).ok_or("no (column: type, ...) list")?;
    body.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            let (name, ty) = c.split_once(':').ok_or(format!("`{c}` is not name: type"))?;
            Ok((name.trim().to_string(), ty.trim().to_string()))
        })
        .collect()
}

/// Entries of `.create-or-alter table <table> ingestion json mapping "<name>" ```[...]```` as
/// (column, path, datatype).
fn mapping_entries(kql: &str, table: &str, name: &str) -> Result<Vec<(String, String, String)>, String> {
    let kql = strip_comments(kql);
    let head = format!(".create-or-alter table {table} ingestion json mapping \"{name}\"");
    let start = kql.find(&head).ok_or(format!("no `{head}` command"))? + head.len();
    let rest = kql[start..].trim_start();
    let literal = rest.strip_prefix("```").ok_or("mapping is not a ``` multi-line literal")?;
    let json = &literal[..literal.find("```").ok_or("unterminated ``` literal")?];
    let entries: Vec<Value> = serde_json::from_str(json).map_err(|e| format!("mapping JSON: {e}"))?;
    entries
        .iter()
        .map(|e| {
            let field = |k: &str| e[k].as_str().map(str::to_string).ok_or(format!("entry {e} has no string `{k}`"));
            Ok((field("column")?, field("path")?, field("datatype")?))
        })
        .collect()
}

/// Differences between the table columns and the row schema (empty when they agree).
fn table_problems(columns: &[(String, String)]) -> Vec<String> {
    let expected = expected();
    let mut problems = Vec::new();
    for (name, ty) in &expected {
        match columns.iter().find(|(n, _)| n == name) {
            None => problems.push(format!("table lacks column {name}:{ty}")),
            Some((_, t)) if t != ty => problems.push(format!("column {name} is {t}, the row schema says {ty}")),
            Some(_) => {}
        }
    }
    for (name, _) in columns {
        if !expected.iter().any(|(n, _)| n == name) {
            problems.push(format!("table column {name} is not a row field"));
        }
    }
    if problems.is_empty() && columns != expected.as_slice() {
        problems.push("table columns are not in the row schema's order".into());
    }
    problems
}

/// Differences between the mapping and the row schema (empty when they agree).
fn mapping_problems(entries: &[(String, String, String)]) -> Vec<String> {
    let expected = expected();
    let mut problems = Vec::new();
    for (name, ty) in &expected {
        let found: Vec<_> = entries.iter().filter(|(c, _, _)| c == name).collect();
        match found.as_slice() {
            [] => problems.push(format!("mapping lacks field {name}")),
            [(_, path, dt)] => {
                if *path != format!("$.{name}") {
                    problems.push(format!("mapping reads {name} from {path}, expected $.{name}"));
                }
                if dt != ty {
                    problems.push(format!("mapping types {name} as {dt}, the row schema says {ty}"));
                }
            }
            _ => problems.push(format!("mapping has {} entries for {name}", found.len())),
        }
    }
    for (column, _, _) in entries {
        if !expected.iter().any(|(n, _)| n == column) {
            problems.push(format!("mapping column {column} is not a row field"));
        }
    }
    problems
}

#[test]
fn table_columns_are_exactly_the_row_fields() {
    let columns = table_columns(&read("deploy/adx/01-table.kql"), "FlowLogs").unwrap();
    let problems = table_problems(&columns);
    assert!(problems.is_empty(), "01-table.kql vs flowlog::domain::row::schema::FIELDS:\n{}", problems.join("\n"));
}

#[test]
fn mapping_covers_exactly_the_row_fields() {
    let entries = mapping_entries(&read("deploy/adx/02-mapping.kql"), "FlowLogs", "FlowLogsMapping").unwrap();
    let problems = mapping_problems(&entries);
    assert!(problems.is_empty(), "02-mapping.kql vs flowlog::domain::row::schema::FIELDS:\n{}", problems.join("\n"));
}

#[test]
fn config_and_view_use_the_same_table_and_mapping_names() {
    let config = read("deploy/config/azure.example.toml");
    assert!(config.contains("adx_table = \"FlowLogs\""), "azure.example.toml must send Table=FlowLogs");
    assert!(config.contains("adx_mapping = \"FlowLogsMapping\""), "azure.example.toml must reference FlowLogsMapping");
    let view = strip_comments(&read("deploy/adx/03-dedup-view.kql"));
    assert!(view.contains("FlowLogsDedup on table FlowLogs"), "the view must read FlowLogs");
    assert!(view.contains("summarize take_any(*) by id"), "the view must keep one row per id");
}

// The checks above must fail on a real mismatch: feed them altered copies.

#[test]
fn a_dropped_or_retyped_column_is_reported() {
    let kql = read("deploy/adx/01-table.kql");
    let dropped = kql.replace("    encryption: string,\n", "");
    assert_eq!(table_problems(&table_columns(&dropped, "FlowLogs").unwrap()), ["table lacks column encryption:string"]);
    let retyped = kql.replace("bytes_src_to_dst: long", "bytes_src_to_dst: int");
    let problems = table_problems(&table_columns(&retyped, "FlowLogs").unwrap());
    assert_eq!(problems, ["column bytes_src_to_dst is int, the row schema says long"]);
    let extra = kql.replace("    blob: string,", "    blob: string,\n    extra: string,");
    assert_eq!(table_problems(&table_columns(&extra, "FlowLogs").unwrap()), ["table column extra is not a row field"]);
}

#[test]
fn a_missing_misrouted_or_mistyped_mapping_entry_is_reported() {
    let kql = read("deploy/adx/02-mapping.kql");
    let m = |k: &str| mapping_problems(&mapping_entries(k, "FlowLogs", "FlowLogsMapping").unwrap());
    let renamed = kql.replace("\"column\": \"dst_port\"", "\"column\": \"dest_port\"");
    assert_eq!(m(&renamed), ["mapping lacks field dst_port", "mapping column dest_port is not a row field"]);
    let misrouted = kql.replace("\"path\": \"$.mac\"", "\"path\": \"$.macAddress\"");
    assert_eq!(m(&misrouted), ["mapping reads mac from $.macAddress, expected $.mac"]);
    let mistyped = kql
        .replace("\"path\": \"$.version\", \"datatype\": \"int\"", "\"path\": \"$.version\", \"datatype\": \"string\"");
    assert_eq!(m(&mistyped), ["mapping types version as string, the row schema says int"]);
}
