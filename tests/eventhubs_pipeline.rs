//! The Azure pipeline end to end on the engine: Event Grid messages in the input hub (emulator)
//! name a flow-log blob on Azurite; its rows arrive in the output hub, the partition checkpoint
//! advances, a foreign blob is dead-lettered, and shutdown closes cleanly.
mod common;
#[path = "common/eventhubs.rs"]
mod hubs;
mod support;

use std::sync::Arc;
use std::time::Duration;

use azure_core::http::RequestContent;
use azure_messaging_eventhubs::ProcessorStrategy;
use eventhubs_emulator::{EmulatorConfig, HubConfig, NAMESPACE};
use flowlog::azure::blob_store::AzureBlobStoreOptions;
use flowlog::azure::feed::{EventHubsFeed, EventHubsFeedOptions};
use flowlog::azure::sink::{AdxRouting, EventHubsSink};
use flowlog::azure::sources::AllowedSources;
use flowlog::domain::row::batch::BatchConfig;
use flowlog::pipeline::blob_store::BlobStore;
use flowlog::pipeline::dead_letter::memory::MemoryDeadLetters;
use flowlog::pipeline::engine::{Engine, EngineConfig, RetryPolicy};
use flowlog::pipeline::metrics::Metrics;
use flowlog::pipeline::offset_store::memory::MemoryOffsetStore;
use hubs::*;
use tokio_util::sync::CancellationToken;

/// A blob path with characters the SDK percent-encodes in URLs (`=`, `/` inside the name, space).
const PATH: &str = "flowLogResourceID=/SUBSCRIPTIONS/S1/y=2025/m=01/d=01/h=00/m=00/macAddress=00-0D MAC/PT1H.json";

#[tokio::test]
async fn blob_created_events_become_rows_in_the_output_hub_and_checkpoints() {
    let emulator =
        start_emulator(EmulatorConfig::new(vec![HubConfig::new("input", 1), HubConfig::new("output", 2)])).await;
    let (container, client) = common::new_container("flowlogs").await;
    let blob = format!("{{\"records\":[{}]}}", support::flowgen::record(2, &[3], None)).into_bytes();
    let blob_client = client.blob_client(PATH);
    within("upload", blob_client.upload(RequestContent::from(blob.clone()), None)).await.expect("upload");

    // The decoded name must read back the same blob, from the SDK's own (encoded) URL form.
    let allowed = AllowedSources::parse(&[format!("{}/{container}", common::blob_endpoint())]).unwrap();
    let name = allowed.blob_from_url(blob_client.url().as_str()).expect("allowed blob");
    assert_eq!(name.as_str(), format!("devstoreaccount1/{container}/{PATH}"));
    let blobs = common::blob_store(&[&container], AzureBlobStoreOptions::default());
    assert_eq!(blobs.properties(&name).await.expect("the decoded name reads back").content_length, blob.len() as u64);

    let mut input = InputSender::new(&emulator, "input").await;
    let created = blob_created(blob_client.url().as_str(), blob.len() as u64);
    input.send("0", serde_json::to_vec(&vec![created]).unwrap()).await;
    let foreign = blob_created(&format!("{}/elsewhere/{PATH}", common::blob_endpoint()), 10);
    input.send("0", serde_json::to_vec(&vec![foreign]).unwrap()).await;
    input.close().await;

    let store = common::checkpoint_store("ckpt").await;
    let options = EventHubsFeedOptions {
        update_interval: Duration::from_millis(200),
        partition_expiration: Duration::from_secs(3),
        strategy: ProcessorStrategy::Greedy,
        call_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(Metrics::new());
    let start = EventHubsFeed::start(
        target(&emulator, "input"),
        store.clone(),
        allowed,
        options,
        metrics.clone(),
        shutdown.clone(),
    );
    let (feed, handle) = within("start feed", start).await.expect("feed starts");
    let routing = AdxRouting { table: "FlowLogs".into(), mapping: "FlowLogsMapping".into() };
    let batch = BatchConfig { max_bytes: 4096, gzip: true };
    let sink = within("open sink", EventHubsSink::open(target(&emulator, "output"), batch, routing)).await.unwrap();
    let dead_letters = Arc::new(MemoryDeadLetters::new());
    let cfg = EngineConfig { retry: RetryPolicy::fast(), ..Default::default() };
    let engine =
        Engine::new(Arc::new(blobs), Arc::new(MemoryOffsetStore::new()), Arc::new(sink), dead_letters.clone(), cfg)
            .with_metrics(metrics.clone());
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { engine.run(feed, shutdown).await }
    });

    // Both messages are done once the checkpoint reaches the second one.
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let checkpoints = within("list", store.list_checkpoints(NAMESPACE, "input", "$Default")).await.unwrap();
        if checkpoints.iter().any(|c| c.sequence_number == Some(1)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "checkpoint did not reach sequence 1: {checkpoints:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let letters = dead_letters.letters();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].error.contains("outside the allowed sources"), "{}", letters[0].error);

    let consumer = consumer(&emulator, "output").await;
    let mut rows = Vec::new();
    for p in ["0", "1"] {
        for event in read_partition(&consumer, p).await {
            let body = event.event_data().body().unwrap_or_default();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(body), &mut text).expect("gzip");
            rows.extend(text.lines().map(str::to_string));
        }
    }
    assert_eq!(rows.len(), 3, "one row per flow tuple: {rows:#?}");
    assert!(rows.iter().all(|r| r.contains("macAddress=00-0D MAC")), "rows carry the blob path: {rows:#?}");

    shutdown.cancel();
    within("engine stops", run).await.unwrap().expect("engine ran cleanly");
    within("feed closes", handle.close()).await.expect("feed closed");
    within("close consumer", consumer.close()).await.unwrap();
    emulator.shutdown().await;
}
