//! Golden files: `flowlog flatten` on each shipped sample reproduces `samples/golden/` exactly,
//! and every tuple of every sample appears exactly once.
use std::collections::HashSet;
use std::process::Command;

fn flatten(args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowlog")).arg("flatten").args(args).output().unwrap();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap(), out.status.success())
}

fn tuple_count(sample: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    let mut n = 0;
    for rec in v["records"].as_array().unwrap() {
        for rule in rec["properties"]["flows"].as_array().into_iter().flatten() {
            for mac in rule["flows"].as_array().unwrap() {
                n += mac["flowTuples"].as_array().unwrap().len();
            }
        }
        for acl in rec["flowRecords"]["flows"].as_array().into_iter().flatten() {
            for g in acl["flowGroups"].as_array().unwrap() {
                n += g["flowTuples"].as_array().unwrap().len();
            }
        }
    }
    n
}

#[test]
fn samples_match_golden_ndjson_and_cover_every_tuple() {
    for name in ["nsg_v1", "nsg_v2", "vnet"] {
        let sample = format!("samples/{name}.json");
        let (stdout, stderr, ok) = flatten(&[&sample]);
        assert!(ok && stderr.is_empty(), "{name}: {stderr}");
        let golden = std::fs::read_to_string(format!("samples/golden/{name}.ndjson")).unwrap();
        assert_eq!(stdout, golden, "{name} differs from its golden file");
        let ids: HashSet<String> = stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), stdout.lines().count(), "{name}: duplicate ids");
        assert_eq!(ids.len(), tuple_count(&sample), "{name}: tuples lost or invented");
    }
}

#[test]
fn rows_have_exactly_the_schema_fields_in_order() {
    let names: Vec<&str> = flowlog::domain::row::schema::field_names().collect();
    for name in ["nsg_v1", "nsg_v2", "vnet"] {
        let golden = std::fs::read_to_string(format!("samples/golden/{name}.ndjson")).unwrap();
        for line in golden.lines() {
            let row: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
            let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
            let mut expected = names.clone();
            keys.sort_unstable();
            expected.sort_unstable();
            assert_eq!(keys, expected);
            // Order: each key appears after the previous one in the line.
            let positions: Vec<usize> = names.iter().map(|n| line.find(&format!("\"{n}\":")).unwrap()).collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "fields out of order in {line}");
            for f in flowlog::domain::row::schema::FIELDS {
                let v = &row[f.name];
                assert!(f.nullable || !v.is_null(), "{} is null", f.name);
                assert_ne!(v, "", "{} is an empty string; absent values must be null", f.name);
            }
        }
    }
}

#[test]
fn csv_matches_golden_and_agrees_with_ndjson() {
    let (csv, _, ok) = flatten(&["--format", "csv", "samples/vnet.json"]);
    assert!(ok);
    assert_eq!(csv, std::fs::read_to_string("samples/golden/vnet.csv").unwrap());
    let ndjson = std::fs::read_to_string("samples/golden/vnet.ndjson").unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for (csv_line, json_line) in lines.zip(ndjson.lines()) {
        let row: serde_json::Value = serde_json::from_str(json_line).unwrap();
        // No sample value contains a comma or quote, so a plain split is exact here.
        for (name, value) in header.iter().zip(csv_line.split(',')) {
            let expected = match &row[*name] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(value, expected, "field {name}");
        }
    }
}

#[test]
fn bad_input_is_reported_with_context_and_the_rest_is_flattened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("PT1H.json");
    let good = std::fs::read_to_string("samples/nsg_v2.json").unwrap();
    let bad = good.replacen("192.0.2.190", "192.0.2.300", 1).replacen("\"Version\":2", "\"Version\":7", 1);
    // The first record now has an unknown version; the second one still flattens.
    std::fs::write(&path, bad).unwrap();
    let (stdout, stderr, ok) = flatten(&["--blob", "acct/c/PT1H.json", path.to_str().unwrap()]);
    assert!(!ok, "errors make the exit code non-zero");
    assert_eq!(stdout.lines().count(), 2);
    assert!(stderr.contains("acct/c/PT1H.json bytes 13.."), "{stderr}");
    assert!(stderr.contains("unsupported nsg flow-log version 7"), "{stderr}");
}

#[test]
fn stdin_is_read_with_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowlog"))
        .args(["flatten", "--blob", "samples/vnet.json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&std::fs::read("samples/vnet.json").unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), std::fs::read_to_string("samples/golden/vnet.ndjson").unwrap());
}
