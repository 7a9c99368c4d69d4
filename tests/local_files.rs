//! Local mode through the `flowlog` binary against what users and tools do to files: rewrites
//! in place, truncation, renamed copies, preallocated files filled out of order.
mod support;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use support::cli::{run_once, simulate, watch};
use support::expected::{blobs, check_delivery, rows};

/// `run --once` over `dir/logs` with state in `dir/state`.
fn once(dir: &Path) -> Output {
    run_once(&dir.join("logs"), &dir.join("state")).output().unwrap()
}

fn run_ok(dir: &Path) -> String {
    let out = once(dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn dead_letters(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.join("state/dead-letters")) else { return 0 };
    entries.filter(|e| e.as_ref().unwrap().path().is_file()).count()
}

/// The only blob under `dir/logs`.
fn only_blob(dir: &Path) -> PathBuf {
    let names = blobs(&dir.join("logs"));
    assert_eq!(names.len(), 1);
    dir.join("logs").join(&names[0])
}

/// The bytes of a one-blob NSG log with `minutes` minutes generated from `seed`.
fn other_blob(minutes: u32, seed: u32) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let (minutes, seed) = (minutes.to_string(), seed.to_string());
    simulate(tmp.path(), &["--format", "nsg2", "--blobs", "1", "--minutes", &minutes, "--seed", &seed]);
    let names = blobs(tmp.path());
    std::fs::read(tmp.path().join(&names[0])).unwrap()
}

/// Writes `bytes` over `path` in place: same file, same birth time, as `cp` and `>` do.
fn overwrite_in_place(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

fn setup(minutes: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    simulate(&dir.path().join("logs"), &["--format", "nsg2", "--blobs", "1", "--minutes", minutes, "--seed", "1"]);
    let blob = only_blob(dir.path());
    (dir, blob)
}

/// The rows with their ids left out, sorted: the rows of a rewritten blob carry new ids.
fn without_ids(lines: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = lines
        .into_iter()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(&l).unwrap();
            v.as_object_mut().unwrap().remove("id");
            v.to_string()
        })
        .collect();
    out.sort();
    out
}

fn ids(text: &str) -> std::collections::HashSet<String> {
    text.lines().map(support::expected::id_of).collect()
}

#[test]
fn a_blob_rewritten_in_place_is_read_again_from_the_start_under_new_ids() {
    for (minutes, label) in [(6, "longer"), (2, "shorter")] {
        let (dir, blob) = setup("4");
        let first = run_ok(dir.path());
        check_delivery(&rows(&dir.path().join("logs")), &first);
        overwrite_in_place(&blob, &other_blob(minutes, 99));
        let second = run_ok(dir.path());
        let expected = rows(&dir.path().join("logs")).into_values();
        assert_eq!(without_ids(second.lines().map(str::to_string)), without_ids(expected), "{label}: every new row");
        assert!(ids(&first).is_disjoint(&ids(&second)), "{label}: not taken for duplicates of the old rows");
        assert_eq!(dead_letters(dir.path()), 0, "{label}: nothing taken for garbage");
        assert_eq!(run_ok(dir.path()), "", "{label}: then up to date");
        // Rewritten again, with more: only the new rows, under the same new ids.
        let mut grown = other_blob(minutes, 99);
        let more = other_blob(minutes + 2, 99);
        assert!(more.starts_with(&grown[..grown.len() - 2]));
        grown = more;
        overwrite_in_place(&blob, &grown);
        let third = run_ok(dir.path());
        assert_eq!(third.lines().count(), 2 * 50, "{label}: two more minutes");
        assert!(ids(&second).is_disjoint(&ids(&third)));
    }
}

#[test]
fn a_truncated_blob_waits_then_new_content_is_read_whole() {
    let (dir, blob) = setup("4");
    run_ok(dir.path());
    overwrite_in_place(&blob, b"");
    let out = once(dir.path());
    assert!(out.status.success());
    assert_eq!(out.stdout, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shorter than what was already delivered"), "not silent: {stderr}");
    overwrite_in_place(&blob, &other_blob(5, 7));
    let expected = rows(&dir.path().join("logs")).into_values();
    assert_eq!(without_ids(run_ok(dir.path()).lines().map(str::to_string)), without_ids(expected));
}

#[test]
fn the_same_bytes_written_again_resume_without_duplicates() {
    let (dir, blob) = setup("4");
    let first = run_ok(dir.path());
    let bytes = std::fs::read(&blob).unwrap();
    // Truncated, then rewritten with the same bytes: nothing new.
    overwrite_in_place(&blob, b"");
    assert_eq!(run_ok(dir.path()), "");
    overwrite_in_place(&blob, &bytes);
    assert_eq!(run_ok(dir.path()), "");
    // A renamed copy (new inode, new birth time) holding the same bytes plus two more minutes.
    let copy_dir = tempfile::tempdir_in(dir.path()).unwrap();
    simulate(copy_dir.path(), &["--format", "nsg2", "--blobs", "1", "--minutes", "6", "--seed", "1"]);
    let copy = copy_dir.path().join(&blobs(copy_dir.path())[0]);
    assert!(std::fs::read(&copy).unwrap().starts_with(&bytes[..bytes.len() - 2]), "the copy extends the blob");
    std::fs::rename(&copy, &blob).unwrap();
    let third = run_ok(dir.path());
    let all = rows(&dir.path().join("logs"));
    assert_eq!(check_delivery(&all, &format!("{first}{third}")), 0, "no duplicates from a renamed copy");
}

#[test]
fn a_preallocated_blob_filled_out_of_order_loses_nothing() {
    let (dir, blob) = setup("6");
    let bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    let (a, b) = (n / 3, 2 * n / 3);
    // A parallel downloader: the full length at once, zeros, then chunks in any order.
    let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(&blob).unwrap();
    f.set_len(n as u64).unwrap();
    let mut write_at = |at: usize, part: &[u8]| {
        f.seek(SeekFrom::Start(at as u64)).unwrap();
        f.write_all(part).unwrap();
    };
    write_at(b, &bytes[b..]);
    write_at(0, &bytes[..a]);
    let first = run_ok(dir.path());
    assert!(!first.is_empty(), "the records of the first chunk");
    write_at(a, &bytes[a..b]);
    let second = run_ok(dir.path());
    assert_eq!(dead_letters(dir.path()), 0, "zeros are not garbage");
    assert_eq!(check_delivery(&rows(&dir.path().join("logs")), &format!("{first}{second}")), 0);
}

#[test]
fn watch_mode_reads_a_preallocated_blob_as_its_chunks_arrive() {
    let (dir, blob) = setup("6");
    let bytes = std::fs::read(&blob).unwrap();
    let half = bytes.len() / 2;
    let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(&blob).unwrap();
    f.set_len(bytes.len() as u64).unwrap();
    f.write_all(&bytes[..half]).unwrap();
    let out = dir.path().join("rows.ndjson");
    let mut child = watch(&dir.path().join("logs"), &dir.path().join("state"))
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let count = || std::fs::read_to_string(&out).map(|s| s.lines().count()).unwrap_or(0);
    wait_for("the first half's rows", || count() > 0);
    // The rest arrives without the length changing.
    f.write_all(&bytes[half..]).unwrap();
    let expected = rows(&dir.path().join("logs"));
    wait_for("every row", || count() >= expected.len());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(check_delivery(&expected, &std::fs::read_to_string(&out).unwrap()), 0);
}

/// Waits for `cond` with a bounded deadline, polling: a condition on files another process writes.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
