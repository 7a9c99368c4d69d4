//! Row sink on an output Event Hub read by Azure Data Explorer: rows packed into size-bounded
//! (optionally gzip) MULTIJSON events carrying ADX's routing properties.
//!
//! Each payload is sent as one event (not a one-event batch: see `link_size`), sized against the
//! link's max message size, and `send` returns only after the service accepted every payload, in
//! order. Plain rows arrive from the engine already cut into
//! event-sized segments (see `segment_bytes`), and each segment's buffer becomes the event body
//! as it is: rows are not copied on their way to the SDK. Gzip payloads are compressed straight
//! from the engine's buffer, in as few payloads as fit (the compression ratio seen so far sizes
//! both the engine's events and the packing, see `event_bytes`). All payloads of a blob use
//! one partition key, so its rows stay ordered in one partition. The key is a hash of the blob
//! name, not the name itself: Event Hubs refuses partition keys over 128 characters and flow-log
//! blob names are longer. Throttling (`com.microsoft:server-busy`), timeouts and broken
//! connections are Transient, so the engine's retry-with-backoff is the backpressure: nothing is
//! buffered here beyond the batch being sent. SDK 0.15 never re-establishes a lost connection,
//! so after a transport failure or a timeout the client is dropped and the next send opens a
//! new one.
//!
//! A send pending when the connection is lost gets no answer from SDK 0.15, although the hub may
//! have stored the event: its outcome is unknown. A probe of the connection (see
//! `reconnecting`) finds the loss within seconds and ends the send as Transient, instead of the
//! 60 s call timeout; the engine then sends the flush again on a new connection. So a lost
//! connection costs at most one extra copy of each flush in flight (one per blob), not one per
//! retry: the retry's send is on a working connection and is answered.
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use azure_core_amqp::AmqpSymbol;
use azure_messaging_eventhubs::ProducerClient;
use azure_messaging_eventhubs::models::AmqpMessage;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::azure::eventhubs::{CallFailure, HubTarget, bounded, bounded_call, open_producer};
use crate::azure::link_size;
use crate::azure::reconnecting::{Probing, Reconnecting, watch};
use crate::domain::blob_name::BlobName;
use crate::domain::row::batch::{BatchConfig, Payload, pack_hinted};
use crate::pipeline::engine::heavy;
use crate::pipeline::error::{ServiceError, ServiceResult};
use crate::pipeline::metrics::Metrics;
use crate::pipeline::row_sink::{RowBatch, RowSink};

/// Data Explorer's per-event routing properties ("data includes routing info").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdxRouting {
    pub table: String,
    pub mapping: String,
}

pub struct EventHubsSink {
    /// The current client; replaced after a failure that leaves its connection unusable.
    producer: Arc<Reconnecting<ProducerClient>>,
    /// Stops the connection probe when the sink is closed or dropped.
    _probe: DropGuard,
    target: HubTarget,
    batch: BatchConfig,
    routing: AdxRouting,
    /// Payload size limit in force: `batch.max_bytes`, lowered to what the link's max message size
    /// leaves for the body when an event would exceed it.
    limit: AtomicUsize,
    /// The link's max message size (`link_size`), measured before the first send; 0 until then.
    link_max: AtomicU64,
    /// Uncompressed bytes per compressed byte of the gzip payloads sent so far, in hundredths.
    ratio: AtomicUsize,
    /// Largest body accepted so far: a body no larger is handed over without keeping a copy.
    accepted: AtomicUsize,
}

/// How a payload send ended when it did not fail.
enum Sent {
    Accepted,
    /// The event would exceed the link's max message size; bodies of up to `fits` bytes do not.
    TooLarge {
        fits: usize,
    },
}

/// The partition key annotation, as the SDK's batch sets it on a batch's envelope.
const PARTITION_KEY: &str = "x-opt-partition-key";

/// The compression ratio assumed before any gzip payload was sent, in hundredths: flow rows
/// compress about 20 times (bench/README.md); a low guess costs smaller first events, a high one
/// an extra event for each of the first few.
const INITIAL_RATIO: usize = 1200;

/// Uncompressed bytes of one gzip event, at most: what the engine buffers per event in flight.
const MAX_GZIP_EVENT_RAW: usize = 16 * 1024 * 1024;

/// Payloads are never shrunk below this; rows are far smaller.
const MIN_PAYLOAD: usize = 16 * 1024;

impl EventHubsSink {
    /// Connects to the output hub (authenticating once, so bad settings fail at start).
    pub async fn open(target: HubTarget, batch: BatchConfig, routing: AdxRouting) -> ServiceResult<Self> {
        Self::open_with(target, batch, routing, None, Probing::for_sends()).await
    }

    /// [`open`](Self::open), counting reconnections in `metrics` and probing the connection as
    /// `probing` says.
    pub async fn open_with(
        target: HubTarget,
        batch: BatchConfig,
        routing: AdxRouting,
        metrics: Option<Arc<Metrics>>,
        probing: Probing,
    ) -> ServiceResult<Self> {
        if batch.max_bytes == 0 {
            return Err(ServiceError::permanent("output max_batch_bytes must be positive"));
        }
        let mut producer =
            Reconnecting::new(format!("output hub {}", target.describe()), open_producer(&target).await?);
        if let Some(metrics) = metrics {
            producer = producer.with_metrics(metrics);
        }
        let producer = Arc::new(producer);
        let stop = CancellationToken::new();
        let probing = Probing { limit: probing.limit.min(target.call_timeout), ..probing };
        tokio::spawn(watch(producer.clone(), probing, stop.clone(), probe_producer));
        let limit = AtomicUsize::new(batch.max_bytes);
        let accepted = AtomicUsize::new(0);
        Ok(EventHubsSink {
            producer,
            _probe: stop.drop_guard(),
            target,
            batch,
            routing,
            limit,
            link_max: AtomicU64::new(0),
            ratio: AtomicUsize::new(INITIAL_RATIO),
            accepted,
        })
    }

    /// Closes the connection (bounded: the SDK's close has no timeout of its own).
    pub async fn close(self) -> ServiceResult<()> {
        let context = format!("closing producer for {}", self.target.describe());
        // The probe stops first, so that it holds no reference to the client being closed.
        drop(self._probe);
        match self.producer.take().await {
            Some(producer) => bounded(&context, self.target.call_timeout, producer.close()).await,
            None => Ok(()),
        }
    }

    fn event(&self, body: Vec<u8>) -> AmqpMessage {
        let mut event = AmqpMessage::builder()
            .add_message_body_binary(body)
            .add_application_property("Table".to_string(), self.routing.table.as_str())
            .add_application_property("Format".to_string(), "multijson")
            .add_application_property("IngestionMappingReference".to_string(), self.routing.mapping.as_str());
        if self.batch.gzip {
            event = event.add_application_property("Compression".to_string(), "GZip");
        }
        event.build()
    }

    async fn send_payload(&self, blob: &BlobName, key: &str, payload: Payload) -> ServiceResult<Sent> {
        let connection = self.producer.get(|| open_producer(&self.target)).await?;
        let sent = tokio::select! {
            biased;
            sent = self.send_with(&connection.client, blob, key, payload) => sent,
            _ = connection.lost.cancelled() => Err(CallFailure {
                error: ServiceError::transient(format!(
                    "sending rows of {blob} to {}: the connection was lost with the send unanswered (the hub may have stored it)",
                    self.target.describe()
                )),
                reconnect: true,
            }),
        };
        match sent {
            Ok(sent) => Ok(sent),
            Err(CallFailure { error, reconnect }) => {
                if reconnect {
                    self.producer.discard(&connection.client).await;
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
        let max = match self.link_max.load(Ordering::Relaxed) {
            0 => {
                let max = link_size::measure(producer, &context, limit).await?;
                tracing::debug!(hub = %self.target.describe(), max, "output link's max message size");
                self.link_max.store(max, Ordering::Relaxed);
                max
            }
            max => max,
        };
        let mut event = self.event(payload.body);
        event.add_message_annotation(AmqpSymbol::from(PARTITION_KEY), key.to_string());
        let size = AmqpMessage::serialize(&event)
            .map_err(|e| CallFailure {
                error: ServiceError::permanent(format!("{context}: encoding the event: {e}")),
                reconnect: false,
            })?
            .len() as u64;
        if size > max {
            let fits = max.saturating_sub(size.saturating_sub(len as u64));
            return Ok(Sent::TooLarge { fits: usize::try_from(fits).unwrap_or(usize::MAX) });
        }
        bounded_call(&context, limit, producer.send_message(event, None)).await.map(|()| Sent::Accepted)
    }
}

/// The connection probe: the hub's properties, a management call on the producer's connection.
async fn probe_producer(producer: Arc<ProducerClient>, limit: Duration) -> Result<(), CallFailure> {
    bounded_call("probing the output hub connection", limit, producer.get_eventhub_properties()).await.map(drop)
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
    fn segment_bytes(&self) -> Option<usize> {
        // Gzip payloads are packed by compressed size, from one contiguous buffer.
        (!self.batch.gzip).then(|| self.limit.load(Ordering::Relaxed))
    }

    fn event_bytes(&self) -> Option<usize> {
        if !self.batch.gzip {
            return self.segment_bytes();
        }
        // The rows that compress to about nine tenths of an event: the rest is slack for the
        // ratio's drift, since an event that comes out larger is sent as two.
        let (limit, ratio) = (self.limit.load(Ordering::Relaxed), self.ratio.load(Ordering::Relaxed));
        Some((limit.saturating_mul(ratio) / 100 * 9 / 10).clamp(1, MAX_GZIP_EVENT_RAW))
    }

    /// Gzip bodies are compressed from the segments into buffers of their own; plain segments
    /// become the event bodies.
    fn reads_segments_only(&self) -> bool {
        self.batch.gzip
    }

    async fn send(&self, batch: RowBatch<'_>) -> ServiceResult<()> {
        let key = partition_key(batch.blob);
        for segment in batch.segments {
            self.send_segment(batch.blob, &key, segment).await?;
        }
        Ok(())
    }
}

impl EventHubsSink {
    /// Sends one segment of whole lines: as one event when it fits, else packed into several.
    async fn send_segment(&self, blob: &BlobName, key: &str, segment: Bytes) -> ServiceResult<()> {
        let mut rest = segment;
        'repack: while !rest.is_empty() {
            let max = self.limit.load(Ordering::Relaxed);
            if !self.batch.gzip && rest.len() <= max && rest.ends_with(b"\n") {
                let len = rest.len();
                let rows = memchr::memchr_iter(b'\n', &rest).count();
                // A body no larger than one already accepted fits: hand the buffer over. A larger
                // one is copied, so that the rows are still here to re-pack if it is refused.
                let (body, kept) = if len <= self.accepted.load(Ordering::Relaxed) {
                    (Vec::from(std::mem::take(&mut rest)), false)
                } else {
                    (rest.to_vec(), true)
                };
                match self.send_payload(blob, key, Payload { body, rows, uncompressed_len: len }).await? {
                    Sent::Accepted => {
                        self.accepted.fetch_max(len, Ordering::Relaxed);
                        rest = Bytes::new();
                    }
                    Sent::TooLarge { fits } if kept => self.lower_limit(blob, fits)?,
                    Sent::TooLarge { .. } => {
                        return Err(ServiceError::transient(format!(
                            "{blob}: the output hub refused a {len}-byte event it accepted before; rows will be sent again"
                        )));
                    }
                }
                continue 'repack;
            }
            let ratio = self.ratio.load(Ordering::Relaxed);
            let config = BatchConfig { max_bytes: max, ..self.batch };
            let payloads = heavy::run(rest.len(), || pack_hinted(&rest, config, ratio))
                .map_err(|e| ServiceError::permanent(format!("packing rows of {blob}: {e}")))?;
            for payload in payloads {
                let (raw, compressed) = (payload.uncompressed_len, payload.body.len());
                match self.send_payload(blob, key, payload).await? {
                    Sent::Accepted => {
                        rest = rest.slice(raw..);
                        if self.batch.gzip {
                            self.observe_ratio(raw, compressed);
                        }
                    }
                    Sent::TooLarge { fits } => {
                        self.lower_limit(blob, fits)?;
                        continue 'repack;
                    }
                }
            }
        }
        Ok(())
    }

    /// After an event was found too large for the link: bodies of up to `fits` bytes fit (the
    /// link's max message size less the event's properties), so lower the limit, or give up.
    fn lower_limit(&self, blob: &BlobName, fits: usize) -> ServiceResult<()> {
        if fits < MIN_PAYLOAD {
            let max = self.link_max.load(Ordering::Relaxed);
            return Err(ServiceError::permanent(format!(
                "{blob}: a {MIN_PAYLOAD}-byte event exceeds the output hub's max message size ({max} bytes)"
            )));
        }
        let before = self.limit.fetch_min(fits, Ordering::Relaxed);
        tracing::info!(hub = %self.target.describe(), from = before, to = fits, "output event size lowered to the link's max message size");
        Ok(())
    }

    /// Folds an accepted gzip payload's ratio into the running one (a quarter weight: flow rows
    /// compress alike, and one odd payload should not swing the next event's size).
    fn observe_ratio(&self, raw: usize, compressed: usize) {
        let sample = raw.saturating_mul(100) / compressed.max(1);
        let _ = self.ratio.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| Some((r * 3 + sample) / 4));
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
