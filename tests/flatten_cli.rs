//! `flowlog flatten` through the binary on awkward input: files that cannot be opened, a UTF-8
//! byte order mark, and JSON errors located by their byte offset in the file.
use std::process::{Command, Output};

fn flatten(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowlog")).arg("flatten").args(args).output().unwrap()
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(format!("samples/golden/{name}.ndjson")).unwrap()
}

#[test]
fn an_unopenable_file_is_reported_and_the_others_are_flattened() {
    let out = flatten(&["samples/nsg_v1.json", "/nonexistent/PT1H.json", "samples/vnet.json", "/"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{}{}", golden("nsg_v1"), golden("vnet")));
    assert!(stderr.contains("cannot open /nonexistent/PT1H.json"), "{stderr}");
    assert!(stderr.contains("cannot read /"), "a directory: {stderr}");
    assert!(stderr.contains("4 files: 2 could not be read, 0 errors in the others; the other "), "a summary: {stderr}");
}

#[test]
fn a_byte_order_mark_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("PT1H.json");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(std::fs::read("samples/vnet.json").unwrap());
    std::fs::write(&path, bytes).unwrap();
    let out = flatten(&[path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stderr, b"");
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), golden("vnet").lines().count());
}

#[test]
fn json_errors_name_their_byte_offset_in_the_file() {
    // Pretty-printed, so the bad byte is many lines into its record.
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read("samples/nsg_v2.json").unwrap()).unwrap();
    let mut text = serde_json::to_string_pretty(&doc).unwrap();
    let second = text.match_indices("\"category\": \"").nth(1).unwrap().0;
    let bad = second + "\"category\": ".len();
    text.insert(bad, '?');
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("PT1H.json");
    std::fs::write(&path, &text).unwrap();
    let out = flatten(&[path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("at byte {bad}")), "byte {bad} of the file: {stderr}");
    assert!(!stderr.contains("line"), "no record-relative line and column: {stderr}");
}
