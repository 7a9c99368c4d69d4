//! Both ASIM mappings (the DCR transformation and the Data Explorer function) evaluated on rows:
//! the golden rows of `samples/golden/` and variants of them must get the same value in every
//! column from both (`tests/support/kql_eval.rs` evaluates the expressions with Kusto's
//! semantics), so the normalisation `tests/sentinel_asim.rs` compares through cannot hide a
//! difference in meaning.

#[path = "support/kql_eval.rs"]
mod kql_eval;
#[path = "support/kql_mapping.rs"]
mod kql_mapping;
#[path = "support/sentinel.rs"]
mod sentinel;

use flowlog::domain::row::schema::{FIELDS, FieldType};
use kql_mapping::mapping;
use sentinel::{ADX_FUNCTION, ADX_ONLY, TRANSFORM, read, repo, target};
use serde_json::{Map, Value};

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
            let target = target(column);
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
