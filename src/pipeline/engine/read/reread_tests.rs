//! The second read of a header-last record (`reread.rs`) through the in-memory blob store: its rows are those
//! of the header-first record, flushed as they come, and a crash in the middle resumes.
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::domain::blob_name::BlobName;
use crate::pipeline::blob_store::memory::MemoryBlobStore;
use crate::pipeline::change_feed::memory::MemoryFeed;
use crate::pipeline::engine::tests::{CrashAfter, changed, engine_with};
use crate::pipeline::engine::{EngineConfig, RetryPolicy};
use crate::pipeline::row_sink::memory::MemoryRowSink;

const HEAD: &str = r#""time":"2018-11-13T12:00:35Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/X""#;

/// A blob of one NSG v2 record of six tuples, header fields and group values first or last
/// (the same bytes in another order, so the same offsets and ids).
fn blob(last: bool) -> String {
    let tuples: Vec<String> =
        (0..6).map(|i| format!("\"{},192.0.2.{i},10.0.0.4,{i},443,T,I,A,C,1,2,3,4\"", 1_542_110_400 + i)).collect();
    let t = tuples.join(",");
    let record = if last {
        format!(
            r#"{{"properties":{{"flows":[{{"flows":[{{"flowTuples":[{t}],"mac":"M"}}],"rule":"r"}}],"Version":2}},{HEAD}}}"#
        )
    } else {
        format!(
            r#"{{{HEAD},"properties":{{"Version":2,"flows":[{{"rule":"r","flows":[{{"mac":"M","flowTuples":[{t}]}}]}}]}}}}"#
        )
    };
    format!("{{\"records\":[{record}]}}")
}

async fn rows_of(bytes: &str, crash_after: usize) -> (Vec<String>, Vec<String>) {
    let b = BlobName::from("b");
    let blobs = MemoryBlobStore::with_chunk_size(60);
    blobs.put(&b, bytes.as_bytes().to_vec(), Some(1));
    let cfg = EngineConfig { retry: RetryPolicy::fast(), flush_bytes: 1, ..EngineConfig::default() };
    let sink = CrashAfter { inner: MemoryRowSink::new(), left: crash_after.into() };
    let e = engine_with(Arc::new(blobs), Arc::new(sink), cfg);
    let (feed, _) = MemoryFeed::new(vec![vec![changed(1, "b", bytes.len())]]);
    let _ = e.run(feed, CancellationToken::new()).await;
    let before = e.sink.inner.lines();
    e.sink.left.store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
    let (feed, _) = MemoryFeed::new(vec![vec![changed(2, "b", bytes.len())]]);
    e.run(feed, CancellationToken::new()).await.unwrap();
    let stored = e.offsets.get(&b).unwrap();
    assert_eq!((stored.offset as usize, stored.open_tuples), (bytes.len() - 2, 0), "the record is done");
    (before, e.sink.inner.lines())
}

#[tokio::test]
async fn a_header_last_record_gives_the_rows_of_a_header_first_one_a_flush_at_a_time() {
    let (first, last) = (blob(false), blob(true));
    assert_eq!(first.len(), last.len());
    let (_, expected) = rows_of(&first, usize::MAX).await;
    assert_eq!(expected.len(), 6);
    let (_, rows) = rows_of(&last, usize::MAX).await;
    assert_eq!(rows, expected, "the same rows, ids included");
}

#[tokio::test]
async fn a_crash_in_the_second_read_resumes_after_the_rows_it_sent() {
    let (_, expected) = rows_of(&blob(false), usize::MAX).await;
    // Flushes of one row: the sink fails at the third, in the middle of the second read.
    let (before, all) = rows_of(&blob(true), 2).await;
    assert_eq!(before.len(), 2, "two flushes of the record went before the crash");
    assert_eq!(all, expected, "each row once, in order, after the restart");
}
