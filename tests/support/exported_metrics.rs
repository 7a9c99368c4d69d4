//! The series a prometheus-client registry exports, read from the Rust source that registers
//! them: the metric fields' kinds, the labels each field is created with, the registered names
//! (prefix `flowlog_`, counters `_total`, histograms `_bucket`/`_sum`/`_count`), and the values
//! the label enums can take.
use std::collections::{BTreeMap, BTreeSet};

/// What the daemon exports: series name -> label names, and every label value it can set.
pub struct Exported {
    pub series: BTreeMap<String, BTreeSet<String>>,
    pub label_values: BTreeSet<String>,
}

/// The first `"..."` literal in `text`.
pub fn first_literal(text: &str) -> Option<&str> {
    let start = text.find('"')? + 1;
    Some(&text[start..start + text[start..].find('"')?])
}

fn ident_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    Some(&rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?])
}

pub fn exported(metrics_rs: &str, structure: &str, label_sources: &[&str]) -> Exported {
    // Field name -> metric kind, from `pub struct Metrics { .. }`.
    let body = &metrics_rs[metrics_rs.find(structure).expect("metrics struct")..];
    let body = &body[..body.find("\n}").unwrap()];
    let mut kinds = BTreeMap::new();
    for line in body.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
        let Some((name, ty)) = line.trim_start_matches("pub ").split_once(':') else { continue };
        let kind = ["Counter", "Gauge", "Histogram"].into_iter().find(|k| ty.contains(k));
        if let Some(kind) = kind {
            kinds.insert(name.trim().to_string(), kind);
        }
    }
    // Field -> label names, from `<field>.get_or_create(&label("key", ..))`.
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, _) in metrics_rs.match_indices(".get_or_create(&label(\"") {
        let field: String =
            metrics_rs[..i].chars().rev().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let field: String = field.chars().rev().collect();
        let key = first_literal(&metrics_rs[i..]).unwrap();
        labels.entry(field).or_default().insert(key.to_string());
    }
    // Two labels: `<field>.get_or_create(&label2("key", .., "key2", ..))`.
    for (i, _) in metrics_rs.match_indices(".get_or_create(&label2(\"") {
        let field: String =
            metrics_rs[..i].chars().rev().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let field: String = field.chars().rev().collect();
        let call = &metrics_rs[i..];
        let key = first_literal(call).unwrap();
        let rest = &call[call.find(key).unwrap() + key.len() + 1..];
        let key2 = first_literal(rest).unwrap();
        let entry = labels.entry(field).or_default();
        entry.insert(key.to_string());
        entry.insert(key2.to_string());
    }
    let mut series = BTreeMap::new();
    for (i, _) in metrics_rs.match_indices("r.register(") {
        let call = &metrics_rs[i..i + metrics_rs[i..].find(");").unwrap()];
        let name = first_literal(call).expect("registered name");
        let field = ident_after(call, "m.").unwrap_or_else(|| panic!("register({name}) names no field"));
        let keys = labels.get(field).cloned().unwrap_or_default();
        let base = format!("flowlog_{name}");
        let names = match kinds.get(field) {
            Some(&"Counter") => vec![format!("{base}_total")],
            Some(&"Gauge") => vec![base],
            Some(&"Histogram") => ["_bucket", "_sum", "_count"].iter().map(|s| format!("{base}{s}")).collect(),
            _ => panic!("register({name}): field {field} is not a Counter, Gauge or Histogram"),
        };
        for n in names {
            series.insert(n, keys.clone());
        }
    }
    // Label values: the `=> "text"` arms of the label enums.
    let mut label_values = BTreeSet::new();
    for source in label_sources {
        for (i, _) in source.match_indices("=> \"") {
            label_values.insert(first_literal(&source[i..]).unwrap().to_string());
        }
    }
    Exported { series, label_values }
}
