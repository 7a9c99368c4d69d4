//! Storage requests per blob-append against Azurite, counted by the adapters' per-try pipeline
//! policies: in steady state one range read and one offset write (the engine's offset cache
//! replaces the offset load, the range read's headers replace the properties request), and a
//! recreated blob is still detected by its creation time and read again from 0.
mod common;
mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_storage_blob::BlobContainerClient;
use common::*;
use flowlog::app::simulate::block_writer::BlockAppender;
use flowlog::azure::StorageAuth;
use flowlog::azure::blob_store::{AzureBlobStore, AzureBlobStoreOptions};
use flowlog::azure::storage_counter::{StorageCounter, StorageRole};
use flowlog::azure::table::TableOffsetStore;
use flowlog::domain::blob_name::BlobName;
use flowlog::pipeline::dead_letter::memory::MemoryDeadLetters;
use flowlog::pipeline::engine::{BlobOutcome, Engine, EngineConfig, RetryPolicy};
use flowlog::pipeline::metrics::Metrics;
use flowlog::pipeline::offset_store::OffsetStore;
use flowlog::pipeline::row_sink::memory::MemoryRowSink;
use flowlog::pipeline::storage_metrics::{StorageOp, StorageService};

type AzureEngine = Engine<AzureBlobStore, TableOffsetStore, MemoryRowSink, MemoryDeadLetters>;

const HEAD: &[u8] = br#"{"records":["#;
const TAIL: &[u8] = b"]}";
const PATH: &str = "resourceId=/X/y=2025/m=01/d=01/h=00/m=00/macAddress=00AA/PT1H.json";

fn record(first: bool, tuples: u32) -> Vec<u8> {
    let r = support::flowgen::record(1, &[tuples], None);
    if first { r.into_bytes() } else { format!(",{r}").into_bytes() }
}

/// Every request counted so far, by (service, operation), as text for assertion messages.
fn requests(m: &Metrics) -> (u64, String) {
    let mut total = 0;
    let mut text = Vec::new();
    for s in StorageService::ALL {
        for o in StorageOp::ALL {
            let n = m.storage.requests_count(*s, *o);
            if n > 0 {
                total += n;
                text.push(format!("{}/{} {n}", s.as_str(), o.as_str()));
            }
        }
    }
    (total, text.join(", "))
}

async fn setup() -> (AzureEngine, Arc<Metrics>, BlobContainerClient, BlobName, TableOffsetStore) {
    let metrics = Arc::new(Metrics::new());
    let (container, client) = new_container("reqs").await;
    let table = unique_name("reqs");
    let counter = |role| Some(StorageCounter::new(&metrics.storage, role));
    let offsets =
        TableOffsetStore::counted(&table_endpoint(), &table, &StorageAuth::emulator(), counter(StorageRole::Offsets))
            .expect("offset store");
    offsets.ensure_table().await.expect("table");
    let blobs = blob_store(
        &[&container],
        AzureBlobStoreOptions { counter: counter(StorageRole::Sources), ..Default::default() },
    );
    let cfg = EngineConfig { retry: RetryPolicy::fast(), ..Default::default() };
    let engine = Engine::new(
        Arc::new(blobs),
        Arc::new(offsets),
        Arc::new(MemoryRowSink::new()),
        Arc::new(MemoryDeadLetters::new()),
        cfg,
    )
    .with_metrics(metrics.clone());
    let reader = TableOffsetStore::new(&table_endpoint(), &table, &StorageAuth::emulator()).expect("reader");
    (engine, metrics, client, blob_name(&container, PATH), reader)
}

/// Processes the blob once; returns the outcome and the requests it made.
async fn process(engine: &AzureEngine, metrics: &Metrics, blob: &BlobName) -> (BlobOutcome, u64, String) {
    let (before, _) = requests(metrics);
    let outcome = engine.process_blob(blob).await.expect("process");
    let (after, text) = requests(metrics);
    (outcome, after - before, text)
}

#[tokio::test]
async fn steady_state_costs_one_read_and_one_offset_write_per_append() {
    let (engine, metrics, client, blob, _) = setup().await;
    let writer = BlockAppender::new(&client, PATH);
    writer.create(HEAD, TAIL).await.expect("create");
    writer.append_before_tail(&record(true, 4)).await.expect("append");
    // Cold: the offset is looked up (absent), the blob read once, the offset inserted.
    let (outcome, n, text) = process(&engine, &metrics, &blob).await;
    assert!(matches!(outcome, BlobOutcome::Processed { rows: 4, .. }), "{outcome:?}");
    assert_eq!(n, 3, "first append: {text}");
    for i in 0..5 {
        writer.append_before_tail(&record(false, 3)).await.expect("append");
        let (outcome, n, text) = process(&engine, &metrics, &blob).await;
        assert!(matches!(outcome, BlobOutcome::Processed { rows: 3, .. }), "append {i}: {outcome:?}");
        assert_eq!(n, 2, "append {i}: one range read and one offset write, got {text}");
    }
    // A duplicate or stale event: the one read finds only the tail.
    let (outcome, n, text) = process(&engine, &metrics, &blob).await;
    assert_eq!(outcome, BlobOutcome::UpToDate);
    assert_eq!(n, 1, "nothing new: {text}");
    assert_eq!(metrics.storage.requests_count(StorageService::Blob, StorageOp::Properties), 0, "{text}");
    assert_eq!(metrics.storage.requests_count(StorageService::Table, StorageOp::GetOffset), 1, "{text}");
    assert_eq!(engine.sink.lines().len(), 4 + 5 * 3);
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// `x-ms-creation-time` has whole seconds: a blob recreated within the same second is the same
/// blob to it. This waits for the header's resolution, not for anything asynchronous.
async fn next_second() {
    let wait = 1_000 - now_ms().rem_euclid(1_000) + 20;
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
}

#[tokio::test]
async fn a_recreated_blob_is_detected_from_the_range_read_and_read_from_the_start() {
    let (engine, metrics, client, blob, reader) = setup().await;
    let writer = BlockAppender::new(&client, PATH);
    writer.create(HEAD, TAIL).await.expect("create");
    writer.append_before_tail(&record(true, 4)).await.expect("append");
    writer.append_before_tail(&record(false, 4)).await.expect("append");
    process(&engine, &metrics, &blob).await;
    let (old, _) = reader.load(&blob).await.unwrap().expect("stored");
    assert_eq!(old.generation, 0);

    // Recreated longer than the stored offset: the read from the old offset answers with a new
    // creation time, so the blob is read again from 0 under a new generation.
    next_second().await;
    client.blob_client(PATH).delete(None).await.expect("delete");
    writer.create(HEAD, TAIL).await.expect("recreate");
    writer.append_before_tail(&record(true, 5)).await.expect("append");
    writer.append_before_tail(&record(false, 5)).await.expect("append");
    writer.append_before_tail(&record(false, 5)).await.expect("append");
    let (outcome, _, text) = process(&engine, &metrics, &blob).await;
    assert!(matches!(outcome, BlobOutcome::Processed { from: 0, rows: 15, .. }), "{outcome:?} ({text})");
    let (longer, _) = reader.load(&blob).await.unwrap().expect("stored");
    assert_eq!(longer.generation, 1, "a new generation, so new row ids");

    // Recreated shorter than the stored offset: the read past its end is refused (416), and the
    // blob's properties show the new creation time.
    next_second().await;
    client.blob_client(PATH).delete(None).await.expect("delete");
    writer.create(HEAD, TAIL).await.expect("recreate");
    writer.append_before_tail(&record(true, 2)).await.expect("append");
    let (outcome, n, text) = process(&engine, &metrics, &blob).await;
    assert!(matches!(outcome, BlobOutcome::Processed { from: 0, rows: 2, .. }), "{outcome:?} ({text})");
    assert_eq!(n, 4, "refused read, properties, read from 0, offset write: {text}");
    let (shorter, _) = reader.load(&blob).await.unwrap().expect("stored");
    assert_eq!(shorter.generation, 2);
    assert_eq!(engine.sink.lines().len(), 8 + 15 + 2);
}
