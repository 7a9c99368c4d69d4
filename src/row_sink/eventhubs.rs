//! Row sink on an output Event Hub read by Azure Data Explorer: rows packed into size-bounded
//! (optionally gzip) MULTIJSON events carrying ADX's routing properties.
//!
//! Each payload from `row::batch::pack` is sent as a one-event `EventDataBatch` and `send`
//! returns only after the service accepted every payload, in order. All payloads of a blob use
//! one partition key, so its rows stay ordered in one partition. The key is a hash of the blob
//! name, not the name itself: Event Hubs refuses partition keys over 128 characters and flow-log
//! blob names are longer. Throttling (`com.microsoft:server-busy`), timeouts and broken
//! connections are Transient, so the engine's retry-with-backoff is the backpressure: nothing is
//! buffered here beyond the batch being sent.
use std::fmt::Write as _;

use azure_messaging_eventhubs::models::EventData;
use azure_messaging_eventhubs::{EventDataBatchOptions, ProducerClient};
use sha2::{Digest, Sha256};

use super::{RowBatch, RowSink};
use crate::azure::eventhubs::{HubTarget, bounded};
use crate::blob_name::BlobName;
use crate::error::{ServiceError, ServiceResult};
use crate::row::batch::{BatchConfig, Payload, pack};

/// Data Explorer's per-event routing properties ("data includes routing info").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdxRouting {
    pub table: String,
    pub mapping: String,
}

pub struct EventHubsSink {
    producer: ProducerClient,
    target: HubTarget,
    batch: BatchConfig,
    routing: AdxRouting,
}

impl EventHubsSink {
    /// Connects to the output hub (authenticating once, so bad settings fail at start).
    pub async fn open(target: HubTarget, batch: BatchConfig, routing: AdxRouting) -> ServiceResult<Self> {
        if batch.max_bytes == 0 {
            return Err(ServiceError::permanent("output max_batch_bytes must be positive"));
        }
        let mut builder =
            ProducerClient::builder().with_application_id(format!("flowlog-{}", env!("CARGO_PKG_VERSION")));
        if let Some(endpoint) = &target.custom_endpoint {
            builder = builder.with_custom_endpoint(endpoint.clone());
        }
        if let Some(retry) = &target.retry {
            builder = builder.with_retry_options(retry.clone());
        }
        let context = format!("opening producer for {}", target.describe());
        let producer = bounded(
            &context,
            target.call_timeout,
            builder.open(&target.namespace, &target.hub, target.credential.clone()),
        )
        .await?;
        Ok(EventHubsSink { producer, target, batch, routing })
    }

    /// Closes the connection (bounded: the SDK's close has no timeout of its own).
    pub async fn close(self) -> ServiceResult<()> {
        let context = format!("closing producer for {}", self.target.describe());
        bounded(&context, self.target.call_timeout, self.producer.close()).await
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

    async fn send_payload(&self, blob: &BlobName, key: &str, payload: Payload) -> ServiceResult<()> {
        let limit = self.target.call_timeout;
        let (len, rows) = (payload.body.len(), payload.rows);
        let context = format!("sending {rows} rows ({len} bytes) of {blob} to {}", self.target.describe());
        let options = EventDataBatchOptions { partition_key: Some(key.to_string()), ..Default::default() };
        // `create_batch` sizes the batch by the link's max message size (1 MiB on Standard).
        let batch = bounded(&context, limit, self.producer.create_batch(Some(options))).await?;
        match batch.try_add_event_data(self.event(payload), None) {
            Ok(true) => {}
            Ok(false) => {
                return Err(ServiceError::permanent(format!(
                    "{context}: the event exceeds the hub's max message size; lower output.max_batch_bytes"
                )));
            }
            Err(e) => return Err(crate::azure::eventhubs::from_eventhubs(&context, &e)),
        }
        bounded(&context, limit, self.producer.send_batch(batch, None)).await
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
        let payloads = pack(batch.ndjson, self.batch)
            .map_err(|e| ServiceError::permanent(format!("packing rows of {}: {e}", batch.blob)))?;
        let key = partition_key(batch.blob);
        for payload in payloads {
            self.send_payload(batch.blob, &key, payload).await?;
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
