//! The local adapters used together through their public API, as the engine and CLI would.
use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use flowlog::domain::offset::OffsetState;
use flowlog::local::blob_store::LocalBlobStore;
use flowlog::local::dead_letter::LocalDeadLetters;
use flowlog::local::feed::{LocalFeed, LocalFeedMode};
use flowlog::local::ndjson_sink::NdjsonFileSink;
use flowlog::local::offset_store::LocalOffsetStore;
use flowlog::pipeline::blob_store::BlobStore;
use flowlog::pipeline::change_feed::{ChangeFeed, EventBody, FeedPartition};
use flowlog::pipeline::dead_letter::{DeadLetter, DeadLetterKind, DeadLetterStore};
use flowlog::pipeline::offset_store::OffsetStore;
use flowlog::pipeline::row_sink::{RowBatch, RowSink};

#[tokio::test]
async fn a_once_pass_reads_every_blob_delivers_rows_and_commits_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    for (name, body) in [("a/h=00/PT1H.json", "{\"records\":[{\"n\":1}]}"), ("b/PT1H.json", "{\"records\":[]}")] {
        let path = logs.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let blobs = LocalBlobStore::new(&logs).with_chunk_size(4);
    let offsets = LocalOffsetStore::open(dir.path().join("state")).await.unwrap();
    let sink = NdjsonFileSink::open_file(dir.path().join("rows.ndjson")).await.unwrap();
    let dead = LocalDeadLetters::open(dir.path().join("dead")).await.unwrap();
    let mut feed = LocalFeed::new(&logs, LocalFeedMode::Once).with_shutdown(CancellationToken::new());

    let mut partition = feed.next_partition().await.unwrap().unwrap();
    while let Some(batch) = partition.next_batch(16).await.unwrap() {
        for event in &batch {
            let EventBody::Changed(changed) = &event.body else { panic!("{event:?}") };
            let props = blobs.properties(&changed.blob).await.unwrap();
            assert_eq!(props.content_length, changed.content_length);
            let end = changed.content_length - 2;
            let chunks: Vec<_> = blobs.read_range(&changed.blob, 12..end).await.unwrap().try_collect().await.unwrap();
            let bytes = chunks.concat();
            let line = format!("{{\"blob\":{:?},\"bytes\":{}}}\n", changed.blob.as_str(), bytes.len());
            sink.send(RowBatch::new(&changed.blob, line.clone().into_bytes(), 1)).await.unwrap();
            let state = OffsetState {
                generation: 0,
                open_tuples: 0,
                offset: end,
                blob_created_ms: props.created_ms,
                last_content_length: changed.content_length,
                rows_emitted: 1,
                updated_at_ms: 0,
                content: None,
                pending: None,
            };
            offsets.save(&changed.blob, &state, None).await.unwrap();
            if bytes.is_empty() {
                let letter = DeadLetter::new(DeadLetterKind::Blob, "no records".into(), "2025-01-01T00:00:00Z".into())
                    .about(Some(changed.blob.to_string()), Some((12, end)), String::new())
                    .with_raw(&bytes, 1024);
                dead.put(&letter).await.unwrap();
            }
        }
        partition.ack(&batch.last().unwrap().position).await.unwrap();
    }
    assert!(feed.next_partition().await.unwrap().is_none());

    let rows = std::fs::read_to_string(dir.path().join("rows.ndjson")).unwrap();
    assert_eq!(rows, "{\"blob\":\"a/h=00/PT1H.json\",\"bytes\":7}\n{\"blob\":\"b/PT1H.json\",\"bytes\":0}\n");
    let stored = offsets.load(&"a/h=00/PT1H.json".into()).await.unwrap().unwrap().0;
    assert_eq!(stored.offset, 19);
    assert_eq!(std::fs::read_dir(dir.path().join("dead")).unwrap().count(), 1);
}
