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
