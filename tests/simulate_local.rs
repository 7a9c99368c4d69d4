//! The local blob writer: Azure's `{"records":[...]}` framing, in-place appends, and the async runner.
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use flowlog::app::simulate::{
    LocalDir, SeriesFormats, SimConfig, SimulateArgs, args::FormatArg, simulate, write_local,
};
use serde_json::Value;

fn config(format: SeriesFormats, minutes: u32) -> SimConfig {
    SimConfig { format, blobs: 3, minutes, tuples_per_minute: 25, ..SimConfig::default() }
}

fn tuple_count(record: &Value) -> usize {
    let nsg = record["properties"]["flows"].as_array().map(|rules| {
        rules
            .iter()
            .flat_map(|r| r["flows"].as_array().unwrap())
            .map(|f| f["flowTuples"].as_array().unwrap().len())
            .sum()
    });
    nsg.unwrap_or_else(|| {
        record["flowRecords"]["flows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|acl| acl["flowGroups"].as_array().unwrap())
            .map(|g| g["flowTuples"].as_array().unwrap().len())
            .sum()
    })
}

fn blob_files(root: &Path) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}

#[test]
fn blobs_hold_every_minute_as_one_framed_document() {
    for format in [SeriesFormats::Nsg1, SeriesFormats::Nsg2, SeriesFormats::Vnet, SeriesFormats::Mixed] {
        let dir = tempfile::tempdir().unwrap();
        let c = config(format, 7);
        let stats = write_local(dir.path(), c.generate()).unwrap();
        assert_eq!((stats.blobs, stats.records, stats.tuples), (3, 21, c.total_tuples()));
        let files = blob_files(dir.path());
        assert_eq!(files.len(), 3);
        let mut tuples = 0;
        let mut bytes = 0;
        for f in &files {
            assert!(f.ends_with("PT1H.json"));
            let raw = fs::read(f).unwrap();
            bytes += raw.len() as u64;
            assert!(raw.starts_with(b"{\"records\":[{") && raw.ends_with(b"}]}"));
            let doc: Value = serde_json::from_slice(&raw).unwrap();
            assert_eq!(doc.as_object().unwrap().len(), 1);
            let records = doc["records"].as_array().unwrap();
            assert_eq!(records.len(), 7);
            tuples += records.iter().map(tuple_count).sum::<usize>();
        }
        assert_eq!(tuples as u64, c.total_tuples());
        assert_eq!(bytes, stats.bytes);
    }
}

#[test]
fn appends_in_place_keeping_inode_and_earlier_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut appends = config(SeriesFormats::Vnet, 5).generate().filter(|a| a.path.ends_with("PT1H.json"));
    let first = appends.next().unwrap();
    let path = dir.path().join(&first.path);
    let written = write_local(dir.path(), [first.clone()]).unwrap();
    assert_eq!(written.blobs, 1);
    assert_eq!(fs::read_to_string(&path).unwrap(), format!("{{\"records\":[{}]}}", first.record_json));
    let before = fs::metadata(&path).unwrap();
    let head = fs::read(&path).unwrap();
    let same_blob: Vec<_> = appends.filter(|a| a.path == first.path).collect();
    assert_eq!(same_blob.len(), 4);
    let stats = write_local(dir.path(), same_blob).unwrap();
    assert_eq!((stats.blobs, stats.records), (0, 4));
    let after = fs::metadata(&path).unwrap();
    assert_eq!((after.dev(), after.ino()), (before.dev(), before.ino()), "appends must not recreate the file");
    let now = fs::read(&path).unwrap();
    assert_eq!(now[..head.len() - 2], head[..head.len() - 2], "bytes before len - 2 never change");
    assert_eq!(now[head.len() - 2], b',');
    assert_eq!(now.len() as u64, head.len() as u64 + stats.bytes);
}

#[test]
fn refuses_to_append_to_a_file_that_is_not_a_blob() {
    let dir = tempfile::tempdir().unwrap();
    let first = config(SeriesFormats::Nsg2, 1).generate().next().unwrap();
    let path = dir.path().join(&first.path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, b"{\"records\":[{}").unwrap();
    let err = write_local(dir.path(), [first]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(fs::read(&path).unwrap(), b"{\"records\":[{}");
}

#[tokio::test]
async fn simulate_writes_the_same_bytes_as_the_blocking_writer_and_paces_minutes() {
    let c = config(SeriesFormats::Mixed, 3);
    let paced = tempfile::tempdir().unwrap();
    let summary = simulate(&c, &mut LocalDir::new(paced.path()), Duration::from_millis(40)).await.unwrap();
    assert!(summary.elapsed >= Duration::from_millis(80), "two waits between three minutes");
    assert_eq!((summary.written.records, summary.written.tuples), (9, c.total_tuples()));
    let direct = tempfile::tempdir().unwrap();
    write_local(direct.path(), c.generate()).unwrap();
    let a = blob_files(paced.path());
    let b = blob_files(direct.path());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.strip_prefix(paced.path()).unwrap(), y.strip_prefix(direct.path()).unwrap());
        assert_eq!(fs::read(x).unwrap(), fs::read(y).unwrap());
    }
}

#[tokio::test]
async fn run_writes_under_out_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let args = SimulateArgs {
        out: Some(dir.path().join("account")),
        azure: false,
        config: None,
        duplicate_percent: 0,
        delay_percent: 0,
        reorder: false,
        format: FormatArg::Nsg1,
        blobs: 2,
        minutes: 2,
        tuples_per_minute: 10,
        seed: 3,
        addresses: Default::default(),
        start: None,
        interval_ms: 0,
    };
    let summary = flowlog::app::simulate::run(args).await.unwrap();
    assert_eq!((summary.written.blobs, summary.written.records, summary.written.tuples), (2, 4, 40));
    assert!(summary.to_string().contains("40 tuples"));
    assert!(dir.path().join("account/insights-logs-networksecuritygroupflowevent").is_dir());
}
