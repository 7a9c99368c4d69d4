//! What a test of the Azure stack reads back: the rows the output hub holds, the rows every blob
//! must yield, stored offsets and checkpoints, and the checks that nothing was lost or invented.

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};

use flowlog::azure::StorageAuth;
use flowlog::azure::blob_store::AzureBlobStoreOptions;
use flowlog::azure::table::TableOffsetStore;
use flowlog::pipeline::blob_store::BlobStore;

use super::process::wait_for;
use super::{NSG, Stack, VNET};
use crate::common;

impl Stack {
    /// Waits until the output hub received its first rows.
    pub async fn first_rows_in_output_hub(&self) {
        let counters = self.emulator.control();
        wait_for("first rows", Duration::from_secs(60), || {
            counters.counters().hubs.get("rows").is_some_and(|h| h.partitions.values().any(|p| p.events_received > 0))
        })
        .await;
    }

    /// Events accepted by the output hub so far (the emulator's counters).
    pub fn output_events(&self) -> u64 {
        if let Some(logs) = &self.logs {
            return logs.calls().iter().filter(|c| c.status == 204).count() as u64;
        }
        self.emulator
            .control()
            .counters()
            .hubs
            .get("rows")
            .map_or(0, |h| h.partitions.values().map(|p| p.events_received).sum())
    }

    /// Every row in the output hub, in partition order, read from the emulator's store: exactly
    /// what the hub holds, duplicates included. An SDK 0.15 consumer loses its connection now and
    /// then on a race in its AMQP stack (see the emulator's `inspect` module), and a verdict on
    /// loss must not depend on it; the SDK's own read path is checked in `eventhubs_sink.rs`.
    pub fn delivered(&self) -> Vec<String> {
        if let Some(logs) = &self.logs {
            return logs.rows();
        }
        let partitions = self.emulator.stored_bodies("rows").expect("the output hub exists");
        let gzip = self.output_gzip.unwrap_or(true);
        partitions
            .iter()
            .flatten()
            .flat_map(|body| {
                // Every event is gzip when the config says so (the default), none otherwise.
                let text = if gzip {
                    let mut text = String::new();
                    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text).expect("a gzip event body");
                    text
                } else {
                    assert!(!body.starts_with(&[0x1f, 0x8b]), "plain output configured, got a gzip event");
                    String::from_utf8(body.clone()).expect("a plain event body is UTF-8")
                };
                text.lines().map(str::to_string).collect::<Vec<_>>()
            })
            .collect()
    }

    /// The rows every blob written under the given start hour must yield, by id.
    pub async fn expected(
        &self,
        hour_prefix: &str,
    ) -> (HashMap<String, String>, Vec<(flowlog::domain::blob_name::BlobName, u64)>) {
        let store = common::blob_store(&[NSG, VNET], AzureBlobStoreOptions::default());
        let mut rows = HashMap::new();
        let mut ends = Vec::new();
        for listing in store.list("").await.unwrap() {
            if !listing.blob.as_str().contains(hour_prefix) {
                continue;
            }
            let len = listing.properties.content_length;
            let bytes = common::read_all(store.read_range(&listing.blob, 0..len).await.unwrap(), usize::MAX).await;
            let mut enc = flowlog::domain::row::ndjson::NdjsonEncoder::new();
            flowlog::domain::flatten::RangeFlattener::new(flowlog::domain::ids::RowIds::new(listing.blob.as_str()), 0)
                .push(&bytes, true, &mut enc);
            for line in String::from_utf8(enc.into_out()).unwrap().lines() {
                rows.insert(id_of(line), line.to_string());
            }
            ends.push((listing.blob, len - 2));
        }
        (rows, ends)
    }

    /// The container of the daemons' checkpoint store (ownership and checkpoint records).
    pub fn checkpoints_container(&self) -> String {
        self.table.replace("offsets", "checkpoints")
    }

    /// The daemons' checkpoint store as the SDK reads it (on Azurite, whatever proxies the
    /// daemons use).
    pub fn checkpoint_store(&self) -> std::sync::Arc<dyn azure_messaging_eventhubs::CheckpointStore + Send + Sync> {
        let container = self.checkpoints_container();
        flowlog::azure::feed::blob_checkpoint_store(
            &common::blob_endpoint(),
            &container,
            &StorageAuth::emulator(),
            None,
            &flowlog::azure::blob_clients::BlobTransport::new(),
        )
        .expect("checkpoint store client")
    }

    pub async fn offsets(&self) -> TableOffsetStore {
        TableOffsetStore::new(&common::table_endpoint(), &self.table, &StorageAuth::emulator()).unwrap()
    }
}

/// Offsets never past undelivered rows: every row of the records before each committed offset
/// (of blobs under `hour_prefix`) was delivered. Offsets are read first, rows after: rows only
/// grow, so a row missing here was missing when its offset was read.
pub async fn offsets_cover_only_delivered_rows(stack: &Stack, hour_prefix: &str) -> usize {
    use flowlog::pipeline::offset_store::OffsetStore;
    let offsets = stack.offsets().await;
    let store = common::blob_store(&[NSG, VNET], AzureBlobStoreOptions::default());
    let mut committed = Vec::new();
    for listing in store.list("").await.unwrap() {
        if listing.blob.as_str().contains(hour_prefix)
            && let Some((state, _)) = offsets.load(&listing.blob).await.unwrap()
        {
            committed.push((listing.blob, state.offset));
        }
    }
    let delivered: std::collections::HashSet<String> = stack.delivered().iter().map(|l| id_of(l)).collect();
    let mut covered = 0;
    for (blob, offset) in committed {
        let bytes = common::read_all(store.read_range(&blob, 0..offset).await.unwrap(), usize::MAX).await;
        let mut enc = flowlog::domain::row::ndjson::NdjsonEncoder::new();
        flowlog::domain::flatten::RangeFlattener::new(flowlog::domain::ids::RowIds::new(blob.as_str()), 0)
            .push(&bytes, false, &mut enc);
        for line in String::from_utf8(enc.into_out()).unwrap().lines() {
            assert!(delivered.contains(&id_of(line)), "{blob}: offset {offset} is past undelivered row {line}");
            covered += 1;
        }
    }
    covered
}

pub fn id_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    v["id"].as_str().unwrap().to_string()
}

/// Nothing lost, nothing invented, duplicates identical; returns the number of duplicates.
pub fn check(expected: &HashMap<String, String>, delivered: &[String]) -> usize {
    let mut seen = HashMap::new();
    for line in delivered {
        let id = id_of(line);
        assert_eq!(expected.get(&id), Some(line), "row {id} unexpected or different");
        *seen.entry(id).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), expected.len(), "rows lost");
    delivered.len() - seen.len()
}

pub async fn wait_for_rows(stack: &Stack, expected: &HashMap<String, String>, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut seen_events = 0;
    loop {
        // Re-read only when the output hub received something new.
        let events = stack.output_events();
        if events == seen_events {
            assert!(start.elapsed() < limit, "no new output after {limit:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        seen_events = events;
        let rows = stack.delivered();
        let ids: std::collections::HashSet<String> = rows.iter().map(|l| id_of(l)).collect();
        if expected.keys().all(|k| ids.contains(k)) {
            return rows;
        }
        assert!(start.elapsed() < limit, "only {} of {} rows after {limit:?}", ids.len(), expected.len());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
