//! Whole blobs that cannot be read as flow logs, through `flowlog run --once` in local mode: a
//! blob of many bad records makes one dead letter (counts per reason, the first records' bytes),
//! with the valid records around them delivered; a gzip-compressed `PT1H.json` is dead-lettered
//! and logged as gzip, with how to fix it, instead of waiting for a record forever; a NUL byte
//! inside a record with data after it is a bad record, not bytes still to be written.
mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

const SAMPLE: &str = include_str!("../samples/nsg_v2.json");

fn run_once(dir: &Path) -> Output {
    support::cli::run_once(&dir.join("logs"), &dir.join("state")).output().unwrap()
}

fn letters(dir: &Path) -> Vec<serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(dir.join("state/dead-letters")) else { return Vec::new() };
    entries.map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap()).collect()
}

fn write_blob(dir: &Path, bytes: &[u8]) {
    let path = dir.join("logs/a/PT1H.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The two records of the sample, as they appear in it.
fn sample_records() -> (&'static str, &'static str) {
    let body = SAMPLE.trim_end().strip_prefix("{\"records\":[").unwrap().strip_suffix("]}").unwrap();
    let cut = body.find("\n,{").unwrap();
    (body[..cut].trim(), &body[cut + 2..])
}

#[test]
fn many_bad_records_make_one_dead_letter_and_their_neighbours_are_delivered() {
    const BAD: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = sample_records();
    let mut blob = format!("{{\"records\":[{first}");
    for _ in 0..BAD {
        blob.push_str(",{}");
    }
    blob.push_str(&format!(",{second}]}}"));
    write_blob(dir.path(), blob.as_bytes());

    let out = run_once(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "dead letters end a run with exit 3: {stderr}");
    let expected_rows = {
        let all =
            Command::new(env!("CARGO_BIN_EXE_flowlog")).args(["flatten", "samples/nsg_v2.json"]).output().unwrap();
        all.stdout.iter().filter(|b| **b == b'\n').count()
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), expected_rows, "both valid records' rows");
    let letters = letters(dir.path());
    assert_eq!(letters.len(), 1, "one dead letter for the read, not one per record");
    let letter = &letters[0];
    assert_eq!(letter["kind"], "record");
    assert!(letter["context"].as_str().unwrap().starts_with(&format!("{BAD} bad records")), "{letter}");
    assert!(letter["error"].as_str().unwrap().contains(&format!("({BAD})")), "{letter}");
    assert!(letter["raw"].as_str().unwrap().starts_with("{}\n{}\n"), "{letter}");
    let warnings = stderr.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 3, "one warning for the read, not one per record: {warnings}");
}

#[test]
fn a_gzip_compressed_blob_is_dead_lettered_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(SAMPLE.as_bytes()).unwrap();
    write_blob(dir.path(), &gz.finish().unwrap());

    let out = run_once(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("gzip-compressed") && stderr.contains("decompress"), "{stderr}");
    assert!(!stderr.contains("NUL"), "a compressed blob's own NUL bytes are not unwritten bytes: {stderr}");
    let letters = letters(dir.path());
    assert_eq!(letters.len(), 1, "{letters:?}");
    let error = letters[0]["error"].as_str().unwrap();
    assert!(error.contains("gzip-compressed") && error.contains("decompress it first"), "{error}");
    assert_eq!(letters[0]["raw_encoding"], "base64");

    // Dead-lettered once, whole: the next run has nothing new to say about it.
    let out = run_once(dir.path());
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(self::letters(dir.path()).len(), 1);
}

/// Rows `flowlog flatten` makes of a blob holding `records`.
fn rows_of(records: &[&str]) -> usize {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{{\"records\":[{}]}}", records.join(","))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowlog")).arg("flatten").arg(file.path()).output().unwrap();
    assert!(out.status.success());
    out.stdout.iter().filter(|b| **b == b'\n').count()
}

#[test]
fn a_nul_byte_inside_a_record_is_a_bad_record_and_the_records_after_it_are_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = sample_records();
    // One NUL in the first record's time; everything after it is written.
    let broken = first.replacen("12:00:35", "12:00:\x0035", 1);
    assert_ne!(broken, first);
    write_blob(dir.path(), format!("{{\"records\":[{broken},{second}]}}").as_bytes());

    let out = run_once(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "a dead letter ends the run with exit 3: {stderr}");
    assert!(!stderr.contains("not yet written"), "a NUL with data after it is no hole: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), rows_of(&[second]), "the record after it");
    let letters = letters(dir.path());
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["kind"], "record");
    // Nothing is left waiting: the next run has nothing to do.
    let out = run_once(dir.path());
    assert!(out.status.success() && out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
