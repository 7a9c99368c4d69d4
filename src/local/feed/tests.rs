//! Tests of the local feed. No sleeps: every wait for the watcher is a bounded timeout that fails the test.
use std::path::Path;

use tokio::time::timeout;

use super::tracker::Pending;
use super::*;
use crate::pipeline::change_feed::{BlobChanged, EventBody};

const WAIT: Duration = Duration::from_secs(10);

fn write(root: &Path, name: &str, content: &[u8]) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn append(root: &Path, name: &str, content: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new().append(true).open(root.join(name)).unwrap().write_all(content).unwrap();
}

fn changed(events: &[FeedEvent]) -> Vec<(String, u64)> {
    events
        .iter()
        .map(|e| match &e.body {
            EventBody::Changed(BlobChanged { blob, content_length, .. }) => (blob.to_string(), *content_length),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// The next non-empty batch, failing the test if none comes within `WAIT`.
async fn next(p: &mut LocalPartition) -> Vec<(String, u64)> {
    let batch = timeout(WAIT, p.next_batch(100)).await.expect("no event within 10 s").unwrap();
    changed(&batch.expect("partition ended"))
}

async fn partition(feed: &mut LocalFeed) -> LocalPartition {
    feed.next_partition().await.unwrap().expect("one partition")
}

#[tokio::test]
async fn once_reports_every_flow_log_in_name_order_then_ends() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b/PT1H.json", "a/h=02/PT1H.json", "a/h=01/PT1H.json", "PT1H.json"] {
        write(dir.path(), name, name.as_bytes());
    }
    write(dir.path(), "a/notes.json", b"ignored");
    let mut feed = LocalFeed::new(dir.path(), LocalFeedMode::Once);
    let mut p = partition(&mut feed).await;
    assert_eq!(p.id(), "local");
    let first = p.next_batch(3).await.unwrap().unwrap();
    let rest = p.next_batch(3).await.unwrap().unwrap();
    let all: Vec<_> = first.iter().chain(&rest).cloned().collect();
    let expected: Vec<_> = ["PT1H.json", "a/h=01/PT1H.json", "a/h=02/PT1H.json", "b/PT1H.json"]
        .iter()
        .map(|n| (n.to_string(), n.len() as u64))
        .collect();
    assert_eq!((first.len(), changed(&all)), (3, expected));
    let sequences: Vec<_> = all.iter().map(|e| e.position.sequence).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    assert!(all.iter().all(|e| e.position.event_offset.is_empty()));
    assert_eq!(p.next_batch(3).await.unwrap(), None);
    assert_eq!(p.next_batch(3).await.unwrap(), None);
    assert!(feed.next_partition().await.unwrap().is_none());
    p.ack(&all[3].position).await.unwrap();
    p.ack(&all[0].position).await.unwrap();
    assert_eq!(p.last_acked(), Some(&all[3].position));
}

#[tokio::test]
async fn a_missing_root_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut feed = LocalFeed::new(dir.path().join("absent"), LocalFeedMode::Watch);
    let err = feed.next_partition().await.err().expect("no root");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("absent"), "{err}");
}

#[tokio::test]
async fn the_watcher_reports_initial_files_growth_and_files_in_new_directories() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/PT1H.json", b"{\"records\":[");
    let mut feed = LocalFeed::new(dir.path(), LocalFeedMode::Watch);
    let mut p = partition(&mut feed).await;
    assert!(!p.is_polling(), "inotify should be available here");
    assert_eq!(next(&mut p).await, [("a/PT1H.json".to_string(), 12)]);
    append(dir.path(), "a/PT1H.json", b"{}]}");
    assert_eq!(next(&mut p).await, [("a/PT1H.json".to_string(), 16)]);
    write(dir.path(), "b/y=2025/m=01/PT1H.json", b"{\"records\":[]}");
    assert_eq!(next(&mut p).await, [("b/y=2025/m=01/PT1H.json".to_string(), 14)]);
}

#[tokio::test]
async fn a_burst_of_writes_is_reported_once_with_the_latest_length() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "seed/PT1H.json", b"x");
    let mut feed = LocalFeed::new(dir.path(), LocalFeedMode::Watch);
    let mut p = partition(&mut feed).await;
    assert_eq!(next(&mut p).await, [("seed/PT1H.json".to_string(), 1)]);
    write(dir.path(), "busy/PT1H.json", b"1");
    for _ in 0..5 {
        append(dir.path(), "busy/PT1H.json", b"23");
    }
    // Events arrive in order, so once the marker is seen every event of the burst has been handled.
    write(dir.path(), "marker/PT1H.json", b"m");
    let mut seen = Vec::new();
    while !seen.iter().any(|(name, _): &(String, u64)| name.starts_with("marker/")) {
        seen.extend(next(&mut p).await);
    }
    let busy: Vec<_> = seen.iter().filter(|(name, _)| name.starts_with("busy/")).collect();
    assert_eq!(busy, [&("busy/PT1H.json".to_string(), 11)], "all: {seen:?}");
}

#[tokio::test]
async fn polling_reports_each_growth_even_within_one_second() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/PT1H.json", b"12");
    let mut feed = LocalFeed::new(dir.path(), LocalFeedMode::Watch)
        .with_polling(true)
        .with_poll_interval(Duration::from_millis(20));
    let mut p = partition(&mut feed).await;
    assert!(p.is_polling());
    assert_eq!(next(&mut p).await, [("a/PT1H.json".to_string(), 2)]);
    // Lengths, not whole-second modification times, decide: quick successive appends all show.
    for len in [4, 6, 8] {
        append(dir.path(), "a/PT1H.json", b"34");
        assert_eq!(next(&mut p).await, [("a/PT1H.json".to_string(), len)]);
    }
    write(dir.path(), "new/PT1H.json", b"n");
    assert_eq!(next(&mut p).await, [("new/PT1H.json".to_string(), 1)]);
}

#[tokio::test]
async fn a_watcher_at_its_limit_falls_back_to_polling() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/PT1H.json", b"1");
    let mut feed = LocalFeed::new(dir.path(), LocalFeedMode::Watch).with_poll_interval(Duration::from_millis(20));
    let mut p = partition(&mut feed).await;
    assert_eq!(next(&mut p).await, [("a/PT1H.json".to_string(), 1)]);
    // What the watcher thread does on inotify's ENOSPC.
    p.shared.degraded.store(true, std::sync::atomic::Ordering::SeqCst);
    p.shared.update(|pending: &mut Pending| pending.full_rescan = true);
    append(dir.path(), "a/PT1H.json", b"2");
    assert_eq!(next(&mut p).await, [("a/PT1H.json".to_string(), 2)]);
    assert!(p.is_polling());
    append(dir.path(), "a/PT1H.json", b"3");
    assert_eq!(next(&mut p).await, [("a/PT1H.json".to_string(), 3)]);
}

#[tokio::test]
async fn shutdown_ends_a_waiting_batch_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let token = CancellationToken::new();
    let mut feed = LocalFeed::new(dir.path(), LocalFeedMode::Watch).with_shutdown(token.clone());
    let mut p = partition(&mut feed).await;
    let waiting = tokio::spawn(async move { p.next_batch(10).await });
    token.cancel();
    let ended = timeout(WAIT, waiting).await.expect("next_batch did not return after shutdown").unwrap();
    assert_eq!(ended.unwrap(), None);
}

#[test]
fn the_tracker_coalesces_reports_only_changes_and_forgets_deleted_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    write(&root, "a/PT1H.json", b"12345");
    let shared = Shared::default();
    let mut tracker = Tracker::new(root.clone(), crate::local::blob_store::BlobPaths::default(), None);
    let refresh = |tracker: &mut Tracker| {
        tracker.refresh(&shared, 10).unwrap();
        changed(&tracker.take(10))
    };
    assert_eq!(refresh(&mut tracker), [("a/PT1H.json".to_string(), 5)]);
    assert!(tracker.is_idle());
    let mark = |path: &Path| shared.update(|p| p.dirty.push(path.to_path_buf()));
    let file = root.join("a/PT1H.json");
    for _ in 0..3 {
        mark(&file);
    }
    assert_eq!(refresh(&mut tracker), [], "same length: nothing new");
    append(&root, "a/PT1H.json", b"6");
    mark(&file);
    mark(&file);
    assert_eq!(refresh(&mut tracker), [("a/PT1H.json".to_string(), 6)]);
    std::fs::remove_file(&file).unwrap();
    mark(&file);
    assert_eq!(refresh(&mut tracker), []);
    write(&root, "a/PT1H.json", b"123456");
    mark(&file);
    assert_eq!(refresh(&mut tracker), [("a/PT1H.json".to_string(), 6)], "recreated at the same length");
    // Paths that are not flow logs, or lie outside the root, are ignored.
    write(&root, "a/other.json", b"x");
    mark(&root.join("a/other.json"));
    mark(&dir.path().join("../PT1H.json"));
    assert_eq!(refresh(&mut tracker), []);
}

#[tokio::test]
async fn a_dropped_next_batch_loses_no_events() {
    use futures::FutureExt;
    let dir = tempfile::tempdir().unwrap();
    for name in ["a/PT1H.json", "b/PT1H.json", "c/PT1H.json"] {
        write(dir.path(), name, b"x");
    }
    let mut feed = LocalFeed::new(dir.path(), LocalFeedMode::Once);
    let mut p = partition(&mut feed).await;
    // Polled once, then dropped while its scan runs on the blocking pool (as a `select!` would).
    let mut seen = match p.next_batch(10).now_or_never() {
        Some(batch) => changed(&batch.unwrap().unwrap()),
        None => Vec::new(),
    };
    while let Some(batch) = timeout(WAIT, p.next_batch(10)).await.unwrap().unwrap() {
        seen.extend(changed(&batch));
    }
    let names: Vec<_> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a/PT1H.json", "b/PT1H.json", "c/PT1H.json"]);
}
