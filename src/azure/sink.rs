//! Row sink on an output Event Hub read by Azure Data Explorer: rows packed into size-bounded
//! (optionally gzip) MULTIJSON events carrying ADX's routing properties.
//!
//! Each payload from `row::batch::pack` is sent as a one-event `EventDataBatch` and `send`
//! returns only after the service accepted every payload, in order. All payloads of a blob use
//! one partition key, so its rows stay ordered in one partition. The key is a hash of the blob
//! name, not the name itself: Event Hubs refuses partition keys over 128 characters and flow-log
//! blob names are longer. Throttling (`com.microsoft:server-busy`), timeouts and broken
//! connections are Transient, so the engine's retry-with-backoff is the backpressure: nothing is
//! buffered here beyond the batch being sent. SDK 0.15 never re-establishes a lost connection,
//! so after a transport failure or a timeout the client is dropped and the next send opens a
//! new one.
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use azure_messaging_eventhubs::models::EventData;
use azure_messaging_eventhubs::{EventDataBatchOptions, ProducerClient};
use sha2::{Digest, Sha256};

use crate::azure::eventhubs::{CallFailure, HubTarget, bounded, bounded_call, from_eventhubs, open_producer};
use crate::azure::reconnecting::Reconnecting;
use crate::domain::blob_name::BlobName;
use crate::domain::row::batch::{BatchConfig, Payload, pack};
use crate::pipeline::error::{ServiceError, ServiceResult};
use crate::pipeline::row_sink::{RowBatch, RowSink};

/// Data Explorer's per-event routing properties ("data includes routing info").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdxRouting {
    pub table: String,
    pub mapping: String,
}

pub struct EventHubsSink {
    /// The current client; replaced after a failure that leaves its connection unusable.
    producer: Reconnecting<ProducerClient>,
    target: HubTarget,
    batch: BatchConfig,
    routing: AdxRouting,
    /// Payload size limit in force: `batch.max_bytes`, lowered when the SDK refuses a payload.
    /// SDK 0.15 counts the first event of a batch twice (as the envelope and as an event), so
    /// a lone event may only be about half the link's max message size.
    limit: AtomicUsize,
}

/// How a payload send ended when it did not fail.
enum Sent {
    Accepted,
    /// The SDK's batch would not take it: re-pack smaller.
    TooLarge,
}

/// Payloads are never shrunk below this; rows are far smaller.
const MIN_PAYLOAD: usize = 16 * 1024;

impl EventHubsSink {
    /// Connects to the output hub (authenticating once, so bad settings fail at start).
    pub async fn open(target: HubTarget, batch: BatchConfig, routing: AdxRouting) -> ServiceResult<Self> {
        if batch.max_bytes == 0 {
            return Err(ServiceError::permanent("output max_batch_bytes must be positive"));
        }
        let producer = Reconnecting::new(format!("output hub {}", target.describe()), open_producer(&target).await?);
        let limit = AtomicUsize::new(batch.max_bytes);
        Ok(EventHubsSink { producer, target, batch, routing, limit })
    }

    /// Closes the connection (bounded: the SDK's close has no timeout of its own).
    pub async fn close(self) -> ServiceResult<()> {
        let context = format!("closing producer for {}", self.target.describe());
        match self.producer.take().await {
            Some(producer) => bounded(&context, self.target.call_timeout, producer.close()).await,
            None => Ok(()),
        }
    }

    fn event(&self, payload: Payload) -> EventData {
        let mut event = EventData::builder()
            .with_body(payload.body)
            .add_property("Table".to_string(), self.routing.table.as_str())
            .add_property("Format".to_string(), "multijson")
            .add_property("IngestionMappingReference".to_string(), self.routing.mapping.as_str());
        if self.batch.gzip {
            event = event.add_property("Compression".to_string(), "GZip");
        }
        event.build()
    }

    async fn send_payload(&self, blob: &BlobName, key: &str, payload: Payload) -> ServiceResult<Sent> {
        let producer = self.producer.get(|| open_producer(&self.target)).await?;
        match self.send_with(&producer, blob, key, payload).await {
            Ok(sent) => Ok(sent),
            Err(CallFailure { error, reconnect }) => {
                if reconnect {
                    self.producer.discard(&producer).await;
                }
                Err(error)
            }
        }
    }

    async fn send_with(
        &self,
        producer: &ProducerClient,
        blob: &BlobName,
        key: &str,
        payload: Payload,
    ) -> Result<Sent, CallFailure> {
        let limit = self.target.call_timeout;
        let (len, rows) = (payload.body.len(), payload.rows);
        let context = format!("sending {rows} rows ({len} bytes) of {blob} to {}", self.target.describe());
        let options = EventDataBatchOptions { partition_key: Some(key.to_string()), ..Default::default() };
        // `create_batch` sizes the batch by the link's max message size (1 MiB on Standard).
        let batch = bounded_call(&context, limit, producer.create_batch(Some(options))).await?;
        match batch.try_add_event_data(self.event(payload), None) {
            Ok(true) => {}
            Ok(false) => return Ok(Sent::TooLarge),
            Err(e) => return Err(CallFailure { error: from_eventhubs(&context, &e), reconnect: false }),
        }
        bounded_call(&context, limit, producer.send_batch(batch, None)).await.map(|()| Sent::Accepted)
    }
}

/// A stable partition key per blob: 32 hex digits of SHA-256 of the blob name.
pub fn partition_key(blob: &BlobName) -> String {
    let digest = Sha256::digest(blob.as_str().as_bytes());
    let mut key = String::with_capacity(32);
    for byte in &digest[..16] {
        let _ = write!(key, "{byte:02x}");
    }
    key
}

impl RowSink for EventHubsSink {
    async fn send(&self, batch: RowBatch<'_>) -> ServiceResult<()> {
        if batch.ndjson.is_empty() {
            return Ok(());
        }
        let key = partition_key(batch.blob);
        let mut rest = batch.ndjson;
        'repack: while !rest.is_empty() {
            let max = self.limit.load(Ordering::Relaxed);
            let payloads = pack(rest, BatchConfig { max_bytes: max, ..self.batch })
                .map_err(|e| ServiceError::permanent(format!("packing rows of {}: {e}", batch.blob)))?;
            for payload in payloads {
                let raw = payload.uncompressed_len;
                match self.send_payload(batch.blob, &key, payload).await? {
                    Sent::Accepted => rest = &rest[raw..],
                    Sent::TooLarge if max > MIN_PAYLOAD => {
                        let smaller = (max * 9 / 20).max(MIN_PAYLOAD);
                        self.limit.fetch_min(smaller, Ordering::Relaxed);
                        tracing::info!(hub = %self.target.describe(), from = max, to = smaller, "output event size lowered to what the SDK's batch accepts");
                        continue 'repack;
                    }
                    Sent::TooLarge => {
                        return Err(ServiceError::permanent(format!(
                            "{}: a {MIN_PAYLOAD}-byte event exceeds the output hub's max message size",
                            batch.blob
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_are_short_stable_and_distinct() {
        let long = BlobName::new(format!("acct/insights-logs-flowlogflowevent/{}/PT1H.json", "x".repeat(300)));
        let key = partition_key(&long);
        assert_eq!(key.len(), 32);
        assert_eq!(key, partition_key(&long.clone()));
        assert_ne!(key, partition_key(&BlobName::new("acct/c/other/PT1H.json")));
    }
}
