//! Test-side inspection of what a hub stored, read from the store without an AMQP client.
//!
//! Why tests need it: a consumer of SDK 0.15 loses its whole connection now and then
//! ("Connection dropped", the peer closing with `amqp:not-found` "Session is not found"). The
//! SDK authorizes every link on a throwaway CBS session that it drops without detaching its
//! links; fe2o3-amqp 0.14 (the SDK's AMQP stack) then fails on the peer's detach replies
//! (`UnattachedHandle`), stops the session before the peer's `end` arrives, and closes the
//! connection when that `end` finds no session. fe2o3-amqp fixed this in 0.18 (remote detaches
//! answered in the session loop); SDK 0.15 still pins 0.14. A test that must count every row the
//! output hub holds (loss, duplicates) reads them here, where that race cannot make it wait.

use crate::EmulatorHandle;
use fe2o3_types::messaging::message::__private::Deserializable;
use fe2o3_types::messaging::{Body, Message};
use fe2o3_types::primitives::Value;

impl EmulatorHandle {
    /// The body of every event `hub` stored, partition by partition (in the hub's partition
    /// order) and in sequence order within each: what a consumer reading every partition from
    /// the start would receive. `None` when the hub does not exist.
    pub fn stored_bodies(&self, hub: &str) -> Option<Vec<Vec<Vec<u8>>>> {
        let hub = self.state.hub(hub)?;
        let bodies = hub
            .partitions
            .iter()
            .map(|partition| (0..partition.len()).filter_map(|i| partition.get(i)).map(|e| body(&e.message)).collect())
            .collect();
        Some(bodies)
    }
}

/// The data sections of a stored message, joined (the SDK sends an event's body as one data
/// section). A body of another kind yields nothing: flowlog and the SDK never send one.
fn body(message: &[u8]) -> Vec<u8> {
    match serde_amqp::from_slice::<Deserializable<Message<Body<Value>>>>(message) {
        Ok(Deserializable(message)) => match message.body {
            Body::Data(sections) => sections.iter().flat_map(|data| data.0.iter().copied()).collect(),
            _ => Vec::new(),
        },
        // Only messages that decoded on the way in are stored (see `consume::delivery_message`).
        Err(e) => {
            tracing::error!(error = %e, "stored message does not decode");
            Vec::new()
        }
    }
}

/// One stored event as the control API's `GET /hubs/{hub}/events` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventRecord {
    /// Partition id.
    pub partition: String,
    /// Sequence number within the partition.
    pub sequence_number: i64,
    /// Offset, a decimal string as clients see it.
    pub offset: String,
    /// Enqueued time, Unix milliseconds.
    pub enqueued_time_ms: i64,
    /// The publisher's partition key, if any.
    pub partition_key: Option<String>,
    /// The body's data sections, joined, as base64 (bodies may be gzip or any bytes).
    pub body_base64: String,
}

/// Reads the store for the control API; cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreReader {
    pub(crate) state: std::sync::Arc<crate::state::State>,
}

impl StoreReader {
    /// Up to `limit` events of `hub` from sequence number `from` on, partition by partition
    /// (only `partition` when given). `None` when the hub or partition does not exist.
    pub fn events(&self, hub: &str, partition: Option<&str>, from: usize, limit: usize) -> Option<Vec<EventRecord>> {
        use base64::Engine as _;
        let hub = self.state.hub(hub)?;
        let partitions = match partition {
            Some(id) => vec![hub.partition(id)?],
            None => hub.partitions.clone(),
        };
        let records = partitions
            .iter()
            .flat_map(|p| (from..p.len()).filter_map(|i| p.get(i)).map(|e| (p.id.clone(), e)))
            .take(limit)
            .map(|(partition, e)| EventRecord {
                partition,
                sequence_number: e.sequence_number,
                offset: e.offset.to_string(),
                enqueued_time_ms: e.enqueued_ms,
                partition_key: e.partition_key.clone(),
                body_base64: base64::engine::general_purpose::STANDARD.encode(body(&e.message)),
            })
            .collect();
        Some(records)
    }
}

impl EmulatorHandle {
    /// A reader of the store, for [`crate::http::serve`].
    pub fn store_reader(&self) -> StoreReader {
        StoreReader { state: self.state.clone() }
    }
}
