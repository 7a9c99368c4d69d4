//! What the feed reads and writes in the checkpoint store besides the processor's own load
//! balancing: start positions, the ownership watch, and releasing ownership on close.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use azure_messaging_eventhubs::{CheckpointStore, StartLocation, StartPosition};

use super::{Shared, lock};
use crate::azure::errors::from_azure;
use crate::pipeline::error::{ServiceError, ServiceResult};

/// A checkpoint-store call, bounded (the store's HTTP calls have no overall timeout).
pub(super) async fn store_call<T>(
    context: &str,
    limit: Duration,
    call: impl Future<Output = azure_core::Result<T>>,
) -> ServiceResult<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(from_azure(context, &e)),
        Err(_) => Err(ServiceError::transient(format!("{context}: no answer within {limit:?}"))),
    }
}

impl Shared {
    /// Ends the pumps of partitions another replica now owns. The processor revokes only its own
    /// receiver, which the pumps do not use, and SDK 0.15 receivers were not seen to carry an
    /// owner level that would let the new owner's link displace ours: the records decide.
    async fn drop_lost_partitions(&self) -> ServiceResult<()> {
        let d = &self.details;
        let list = self.store.list_ownerships(&d.namespace, &d.hub, &d.consumer_group);
        let ownerships = store_call("reading partition ownership", self.options.call_timeout, list).await?;
        let slots = lock(&self.slots);
        for ownership in ownerships {
            let Some(owner) = ownership.owner_id.as_deref().filter(|o| *o != d.owner_id) else { continue };
            if let Some(slot) = slots.get(&ownership.partition_id).filter(|s| !s.stop.is_cancelled()) {
                tracing::info!(partition = %ownership.partition_id, owner, "partition now owned by another replica");
                slot.lost.store(true, Ordering::Release);
                slot.stop.cancel();
            }
        }
        Ok(())
    }

    /// Where the processor would start `partition`: after its checkpoint, else the default.
    pub(super) async fn start_position(&self, partition: &str) -> ServiceResult<StartPosition> {
        let d = &self.details;
        let context = format!("reading the checkpoint of partition {partition}");
        let list = self.store.list_checkpoints(&d.namespace, &d.hub, &d.consumer_group);
        let checkpoints = store_call(&context, self.options.call_timeout, list).await?;
        let checkpoint = checkpoints.into_iter().find(|c| c.partition_id == partition);
        let location = match checkpoint {
            Some(c) if c.offset.as_deref().is_some_and(|o| !o.is_empty()) => {
                StartLocation::Offset(c.offset.unwrap_or_default())
            }
            Some(c) if c.sequence_number.is_some() => {
                StartLocation::SequenceNumber(c.sequence_number.unwrap_or_default())
            }
            _ => self.options.start.clone(),
        };
        Ok(StartPosition { location, inclusive: false })
    }

    /// Clears the owner of every partition this replica holds (If-Match on each record's ETag,
    /// so a record another replica just claimed is left alone); others claim them next cycle.
    pub(super) async fn release_ownership(&self) -> ServiceResult<()> {
        let d = &self.details;
        let (limit, context) = (self.options.call_timeout, "releasing partition ownership");
        let list = self.store.list_ownerships(&d.namespace, &d.hub, &d.consumer_group);
        let mine: Vec<_> = store_call(context, limit, list)
            .await?
            .into_iter()
            .filter(|o| o.owner_id.as_deref() == Some(d.owner_id.as_str()))
            .map(|mut o| {
                o.owner_id = None;
                o
            })
            .collect();
        if !mine.is_empty() {
            let cleared = store_call(context, limit, self.store.claim_ownership(&mine)).await?;
            tracing::info!(released = cleared.len(), "partition ownership released");
        }
        Ok(())
    }
}

/// Checks ownership every load-balancing interval.
pub(super) async fn ownership_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.options.update_interval);
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = shared.drop_lost_partitions().await {
            tracing::warn!(error = %e, "partition ownership not checked");
        }
    }
}

/// The Blob checkpoint store in `container` (ownership and checkpoint records). Account keys sign
/// SAS tokens with the permissions it needs: read, create, write, list.
pub fn blob_checkpoint_store(
    endpoint: &crate::azure::AccountEndpoint,
    container: &str,
    auth: &crate::azure::StorageAuth,
    counter: Option<&crate::azure::storage_counter::StorageCounter>,
    transport: &crate::azure::blob_clients::BlobTransport,
) -> ServiceResult<Arc<dyn CheckpointStore + Send + Sync>> {
    let client =
        crate::azure::blob_clients::counted_container_client(endpoint, container, auth, "rcwl", counter, transport)?;
    Ok(azure_messaging_eventhubs_checkpointstore_blob::BlobCheckpointStore::new(client))
}
