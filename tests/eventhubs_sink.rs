//! The Event Hubs row sink against the emulator, read back with the official SDK's consumer:
//! routing properties, size bounds, gzip, one partition per blob, throttling and reconnects.
#[path = "common/eventhubs.rs"]
mod hubs;

use std::collections::BTreeMap;
use std::io::Read;

use azure_messaging_eventhubs::models::{AmqpSimpleValue, ReceivedEventData};
use eventhubs_emulator::EmulatorHandle;
use flowlog::azure::sink::{AdxRouting, EventHubsSink};
use flowlog::domain::blob_name::BlobName;
use flowlog::domain::row::batch::BatchConfig;
use flowlog::pipeline::error::ErrorKind;
use flowlog::pipeline::row_sink::{RowBatch, RowSink};
use hubs::*;

const HUB: &str = "rows";

fn routing() -> AdxRouting {
    AdxRouting { table: "FlowLogs".into(), mapping: "FlowLogsMapping".into() }
}

fn ndjson(tag: &str, rows: usize) -> Vec<u8> {
    (0..rows)
        .map(|i| format!("{{\"id\":\"{tag}-{i:04}\",\"pad\":\"{}\"}}\n", "x".repeat(40 + i % 50)))
        .collect::<String>()
        .into_bytes()
}

async fn sink(emulator: &EmulatorHandle, batch: BatchConfig) -> EventHubsSink {
    within("open sink", EventHubsSink::open(target(emulator, HUB), batch, routing())).await.expect("sink opens")
}

async fn send(sink: &EventHubsSink, blob: &BlobName, rows: &[u8]) -> flowlog::pipeline::error::ServiceResult<()> {
    within("sink send", sink.send(RowBatch::new(blob, rows.to_vec(), 0))).await
}

fn property(event: &ReceivedEventData, key: &str) -> Option<String> {
    match event.event_data().properties()?.get(key)? {
        AmqpSimpleValue::String(s) => Some(s.clone()),
        other => panic!("property {key} is {other:?}, not a string"),
    }
}

/// Every event of the hub, by partition.
async fn read_hub(emulator: &EmulatorHandle, partitions: u32) -> BTreeMap<String, Vec<ReceivedEventData>> {
    let consumer = consumer(emulator, HUB).await;
    let mut all = BTreeMap::new();
    for p in 0..partitions {
        let events = read_partition(&consumer, &p.to_string()).await;
        if !events.is_empty() {
            all.insert(p.to_string(), events);
        }
    }
    within("close consumer", consumer.close()).await.unwrap();
    all
}

/// The body sizes of partition 0's events from the `skip`th on, after checking that those
/// bodies (decompressed when `gzip`) are exactly `rows`: every row, once, in order.
async fn sizes_of_events_carrying(emulator: &EmulatorHandle, skip: usize, gzip: bool, rows: &[u8]) -> Vec<usize> {
    let all = read_hub(emulator, 1).await;
    let bodies: Vec<&[u8]> = all["0"][skip..].iter().map(|e| e.event_data().body().unwrap()).collect();
    let joined: Vec<u8> = bodies.iter().flat_map(|b| if gzip { gunzip(b) } else { b.to_vec() }).collect();
    assert_eq!(joined, rows, "every row, once, in order");
    bodies.iter().map(|b| b.len()).collect()
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out).expect("valid gzip");
    out
}

/// Sends two blobs and checks what arrives: one partition per blob, payloads within `max`,
/// the ADX properties, and (decompressed) the exact NDJSON in order.
async fn round_trip(gzip: bool, max: usize) {
    let emulator = start_emulator(hubs(HUB, 4)).await;
    let sink = sink(&emulator, BatchConfig { max_bytes: max, gzip }).await;
    let blobs = [BlobName::new("acct/c1x/a/PT1H.json"), BlobName::new("acct/c1x/b/PT1H.json")];
    let rows = [ndjson("a", 300), ndjson("b", 40)];
    for (blob, rows) in blobs.iter().zip(&rows) {
        send(&sink, blob, rows).await.expect("rows accepted");
    }
    let all = read_hub(&emulator, 4).await;
    for (i, rows) in rows.iter().enumerate() {
        let tag = format!("\"id\":\"{}-", ["a", "b"][i]);
        let has_tag = |e: &ReceivedEventData| decoded(e, gzip).windows(tag.len()).any(|w| w == tag.as_bytes());
        let holding: Vec<_> = all.iter().filter(|(_, evs)| evs.iter().any(has_tag)).collect();
        assert_eq!(
            holding.len(),
            1,
            "blob {i} spread over partitions {:?}",
            holding.iter().map(|h| h.0).collect::<Vec<_>>()
        );
        // Two blobs may share a partition; each event holds rows of one blob only.
        let events: Vec<_> = holding[0].1.iter().filter(|e| has_tag(e)).collect();
        if i == 0 {
            assert!(events.len() > 1, "blob a ({} bytes) should need several events", rows.len());
        }
        let mut joined = Vec::new();
        for e in &events {
            let body = e.event_data().body().unwrap();
            assert!(body.len() <= max, "event of {} bytes exceeds {max}", body.len());
            assert_eq!(property(e, "Table").as_deref(), Some("FlowLogs"));
            assert_eq!(property(e, "Format").as_deref(), Some("multijson"));
            assert_eq!(property(e, "IngestionMappingReference").as_deref(), Some("FlowLogsMapping"));
            assert_eq!(property(e, "Compression").as_deref(), gzip.then_some("GZip"));
            joined.extend(decoded(e, gzip));
        }
        assert_eq!(&joined, rows, "blob {i}: rows differ after the round trip");
    }
    within("close sink", sink.close()).await.unwrap();
    emulator.shutdown().await;
}

fn decoded(event: &ReceivedEventData, gzip: bool) -> Vec<u8> {
    let body = event.event_data().body().unwrap_or_default();
    if gzip { gunzip(body) } else { body.to_vec() }
}

#[tokio::test]
async fn plain_rows_arrive_in_order_in_one_partition_per_blob_with_adx_properties() {
    round_trip(false, 2048).await;
}

#[tokio::test]
async fn gzip_payloads_stay_within_the_limit_and_decode_to_the_same_ndjson() {
    round_trip(true, 1024).await;
}

#[tokio::test]
async fn throttling_is_transient_and_a_retry_then_succeeds() {
    let emulator = start_emulator(hubs(HUB, 2)).await;
    let sink = sink(&emulator, BatchConfig { max_bytes: 4096, gzip: false }).await;
    let blob = BlobName::new("acct/c1x/busy/PT1H.json");
    emulator.control().server_busy(50);
    let err = send(&sink, &blob, &ndjson("busy", 5)).await.expect_err("throttled send must fail");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(emulator.control().counters().hubs[HUB].rejected_sends >= 3, "the SDK retried before giving up");
    emulator.control().clear_faults();
    send(&sink, &blob, &ndjson("busy", 5)).await.expect("the retry succeeds");
    assert_eq!(emulator.control().counters().hub_events(HUB), 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_are_transient_and_the_next_send_reconnects() {
    let emulator = start_emulator(hubs(HUB, 2)).await;
    let control = emulator.control();
    let sink = sink(&emulator, BatchConfig { max_bytes: 4096, gzip: false }).await;
    let blob = BlobName::new("acct/c1x/drop/PT1H.json");
    for (round, reset) in [false, true].into_iter().enumerate() {
        send(&sink, &blob, &ndjson("before", 3)).await.expect("send before the drop");
        let dropped = control.counters().connections_dropped;
        if reset {
            control.reset_connections()
        } else {
            control.drop_connections()
        }
        wait_until("connection dropped", STEP, || control.counters().connections_dropped > dropped).await;
        let err = send(&sink, &blob, &ndjson("lost", 3)).await.expect_err("SDK 0.15 does not reconnect by itself");
        assert_eq!(err.kind, ErrorKind::Transient, "round {round}: {err}");
        send(&sink, &blob, &ndjson("after", 3)).await.expect("the next send opens a new connection");
    }
    assert_eq!(control.counters().hub_events(HUB), 4);
    emulator.shutdown().await;
}

#[tokio::test]
async fn events_over_the_links_max_message_size_are_permanent() {
    let mut config = hubs(HUB, 1);
    config.max_message_size = 4096;
    let emulator = start_emulator(config).await;
    let sink = sink(&emulator, BatchConfig { max_bytes: 60_000, gzip: false }).await;
    let err = send(&sink, &BlobName::new("acct/c1x/big/PT1H.json"), &ndjson("big", 200)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
    assert!(err.message.contains("max message size"), "{err}");
    assert_eq!(emulator.control().counters().hub_events(HUB), 0);
    emulator.shutdown().await;
}

#[tokio::test]
async fn megabyte_events_fill_the_link_and_arrive_intact() {
    // SDK 0.15's batch counts its first event twice, so one-event batches carried at most about
    // half a 1 MiB link (2.2 MB went out as 5 or 6 events). Events are now sent one by one,
    // sized against the link's max message size: 3 events of up to 1,000,000 bytes.
    let emulator = start_emulator(hubs(HUB, 1)).await;
    let sink = sink(&emulator, BatchConfig::default()).await;
    let rows = ndjson("m", 24_000);
    assert!(rows.len() > 2_000_000, "{} bytes", rows.len());
    send(&sink, &BlobName::new("acct/c1x/m/PT1H.json"), &rows).await.expect("rows accepted");
    let sizes = sizes_of_events_carrying(&emulator, 0, false, &rows).await;
    assert!(sizes.iter().all(|&size| size <= 1_000_000));
    assert_eq!(sizes.len(), rows.len().div_ceil(1_000_000), "events as large as the limit allows");
    assert_eq!(emulator.control().counters().oversize_rejected, 0, "nothing was sent over the link's limit");
    within("close sink", sink.close()).await.unwrap();
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_link_smaller_than_the_configured_size_is_measured_not_refused() {
    // A Basic-tier hub (256 KB events) under the default 1,000,000-byte setting: the sink sizes
    // events to the link's limit before sending, so the hub refuses none and they stay full.
    let mut config = hubs(HUB, 1);
    config.max_message_size = 262_144;
    let emulator = start_emulator(config).await;
    let sink = sink(&emulator, BatchConfig::default()).await;
    let rows = ndjson("s", 12_000);
    send(&sink, &BlobName::new("acct/c1x/s/PT1H.json"), &rows).await.expect("rows accepted");
    let sizes = sizes_of_events_carrying(&emulator, 0, false, &rows).await;
    let largest = *sizes.iter().max().unwrap();
    assert!((255_000..262_144).contains(&largest), "largest event {largest} bytes");
    assert!(sizes.len() <= rows.len().div_ceil(255_000) + 1, "{} events for {} bytes", sizes.len(), rows.len());
    assert_eq!(emulator.control().counters().oversize_rejected, 0, "nothing was sent over the link's limit");
    within("close sink", sink.close()).await.unwrap();
    emulator.shutdown().await;
}

#[tokio::test]
async fn gzip_events_fill_the_link_from_the_ratio_seen_before() {
    // The first send learns the compression ratio; later ones pack each event close to the
    // limit instead of starting from a fixed guess (which sent most events far under it).
    let emulator = start_emulator(hubs(HUB, 1)).await;
    let max = 16_384;
    let sink = sink(&emulator, BatchConfig { max_bytes: max, gzip: true }).await;
    let blob = BlobName::new("acct/c1x/g/PT1H.json");
    send(&sink, &blob, &ndjson("warm", 2_000)).await.expect("rows accepted");
    let before = emulator.control().counters().hub_events(HUB);
    let rows = ndjson("g", 40_000);
    send(&sink, &blob, &rows).await.expect("rows accepted");
    let sizes = sizes_of_events_carrying(&emulator, before as usize, true, &rows).await;
    let compressed: usize = sizes.iter().sum();
    assert!(sizes.iter().all(|&size| size <= max));
    // Aiming at nine tenths of the limit: one event more than a perfect fill, at most.
    assert!(sizes.len() <= compressed * 10 / (max * 9) + 2, "{} events for {compressed} compressed bytes", sizes.len());
    assert!(sink.event_bytes().unwrap() > max * 4, "a gzip event holds more rows than the limit");
    within("close sink", sink.close()).await.unwrap();
    emulator.shutdown().await;
}
