//! Expected rows of a directory of flow-log blobs: a one-shot flatten of every PT1H.json, named
//! as the local blob store names them (path relative to the root, `/`-separated).
use std::collections::HashMap;
use std::path::Path;

use flowlog::domain::flatten::RangeFlattener;
use flowlog::domain::ids::RowIds;
use flowlog::domain::row::ndjson::NdjsonEncoder;

pub fn blobs(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "PT1H.json") {
                out.push(p.strip_prefix(root).unwrap().to_str().unwrap().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// Row id → NDJSON line, for every tuple of every blob under `root`.
pub fn rows(root: &Path) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for name in blobs(root) {
        let bytes = std::fs::read(root.join(&name)).unwrap();
        let mut enc = NdjsonEncoder::new();
        RangeFlattener::new(RowIds::new(name), 0).push(&bytes, true, &mut enc);
        for line in String::from_utf8(enc.into_out()).unwrap().lines() {
            map.insert(id_of(line), line.to_string());
        }
    }
    map
}

pub fn id_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    v["id"].as_str().unwrap().to_string()
}

/// Checks delivered lines against the expected rows: nothing lost, nothing invented, every
/// duplicate identical. Returns how many duplicates there were.
pub fn check_delivery(expected: &HashMap<String, String>, delivered: &str) -> usize {
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut dups = 0;
    for line in delivered.lines() {
        let id = id_of(line);
        let want = expected.get(&id).unwrap_or_else(|| panic!("unexpected row {id}"));
        assert_eq!(want, line, "row {id} differs from the expected row");
        if seen.insert(id, line).is_some() {
            dups += 1;
        }
    }
    assert_eq!(seen.len(), expected.len(), "rows lost: {} of {} delivered", seen.len(), expected.len());
    dups
}
