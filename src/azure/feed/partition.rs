//! One owned input partition: a pump task moves received messages, decoded, into a bounded
//! channel; `next_batch` drains it (cancel-safe); `ack` writes the checkpoint.
//!
//! SDK 0.15's `PartitionClient::stream_events` is a boxed stream without `Send`, so it cannot be
//! polled from a spawned task. The pump therefore leaves that client's receiver unattached (it
//! attaches only when polled) and opens its own receiver on the feed's receiving connection,
//! with the processor's owner level (0; SDK 0.15 never puts it on the wire, see `store`) and the
//! start position the processor would use (the checkpoint, else the configured default). When
//! the receiving connection is lost it opens a receiver on a new one, after the last event it
//! handed over. It ends when the link is stolen, when the stream fails otherwise, on shutdown,
//! or when the engine drops the partition; it then closes both, which also removes the client
//! from the processor's map so the partition can be handed out again.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use azure_messaging_eventhubs::models::{Checkpoint, ReceivedEventData};
use azure_messaging_eventhubs::processor::PartitionClient;
use azure_messaging_eventhubs::{EventReceiver, OpenReceiverOptions, StartLocation, StartPosition};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{OWNER_LEVEL, Shared};
use crate::azure::eventhubs::{
    CallFailure, bounded, bounded_call, from_eventhubs, is_ownership_lost, needs_new_connection,
};
use crate::pipeline::change_feed::{EventBody, FeedEvent, FeedPartition, FeedPosition};
use crate::pipeline::error::{ServiceError, ServiceResult};

/// Backoff between receivers opened after a lost connection.
const RECONNECT_MIN: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// A partition this replica owns, as handed to the engine.
pub struct EventHubsPartition {
    id: String,
    rx: mpsc::Receiver<Vec<FeedEvent>>,
    shared: Arc<Shared>,
    /// Set by the pump when another receiver took the partition: later acks could move back a
    /// checkpoint the new owner already advanced, so they are skipped (events are redelivered).
    lost: Arc<AtomicBool>,
    /// Stops the pump when the engine drops the partition.
    _stop: DropGuard,
}

impl EventHubsPartition {
    pub(super) fn spawn(client: Arc<PartitionClient>, shared: Arc<Shared>) -> Self {
        let id = client.get_partition_id().to_string();
        let (tx, rx) = mpsc::channel(shared.options.buffer_messages.max(1));
        let stop = shared.stop.child_token();
        let lost = Arc::new(AtomicBool::new(false));
        let pump = Pump { client, tx, stop: stop.clone(), lost: lost.clone(), shared: shared.clone() };
        shared.spawn_pump(pump.run());
        EventHubsPartition { id, rx, shared, lost, _stop: stop.drop_guard() }
    }
}

impl FeedPartition for EventHubsPartition {
    fn id(&self) -> &str {
        &self.id
    }

    async fn next_batch(&mut self, max: usize) -> ServiceResult<Option<Vec<FeedEvent>>> {
        // `recv` is cancel-safe and nothing below awaits, so a cancelled call loses nothing.
        let Some(mut batch) = self.rx.recv().await else { return Ok(None) };
        if self.lost.load(Ordering::Acquire) {
            // Buffered events of a partition another replica owns are its work now.
            return Ok(None);
        }
        // Whole messages only: items of one message share a position and stay together.
        while batch.len() < max.max(1) {
            match self.rx.try_recv() {
                Ok(items) => batch.extend(items),
                Err(_) => break,
            }
        }
        Ok(Some(batch))
    }

    /// `next_batch` has no await point between taking events and returning them.
    fn cancel_safe(&self) -> bool {
        true
    }

    async fn ack(&mut self, position: &FeedPosition) -> ServiceResult<()> {
        if self.lost.load(Ordering::Acquire) {
            tracing::info!(partition = %self.id, sequence = position.sequence, "ownership lost: checkpoint not written");
            return Ok(());
        }
        let d = &self.shared.details;
        let checkpoint = Checkpoint {
            fully_qualified_namespace: d.namespace.clone(),
            event_hub_name: d.hub.clone(),
            consumer_group: d.consumer_group.clone(),
            partition_id: self.id.clone(),
            offset: (!position.event_offset.is_empty()).then(|| position.event_offset.clone()),
            sequence_number: Some(position.sequence),
        };
        let context = format!("checkpointing partition {} at sequence {}", self.id, position.sequence);
        let update = self.shared.store.update_checkpoint(checkpoint);
        super::store::store_call(&context, self.shared.options.call_timeout, update).await?;
        self.shared.note_processed(&self.id, position.sequence);
        Ok(())
    }
}

struct Pump {
    client: Arc<PartitionClient>,
    tx: mpsc::Sender<Vec<FeedEvent>>,
    stop: CancellationToken,
    lost: Arc<AtomicBool>,
    shared: Arc<Shared>,
}

impl Pump {
    async fn run(self) {
        let id = self.client.get_partition_id().to_string();
        // One receiver per partition at a time: a processor restart can hand a partition out
        // again while the previous pump still holds it.
        let slot = self.shared.claim_slot(&id, self.stop.clone(), self.lost.clone());
        let _slot = slot.lock_owned().await;
        if let Err(e) = self.receive(&id).await {
            tracing::warn!(partition = %id, error = %e, "receiving failed; releasing the partition");
        }
        // The engine sees the end of the partition as soon as the buffered events are taken.
        drop(self.tx);
        self.shared.forget_partition(&id);
        // Closing removes the client from the processor's map; without it the processor would
        // never hand this partition out again.
        match Arc::try_unwrap(self.client) {
            Ok(client) => {
                let context = format!("closing partition client {id}");
                if let Err(e) = bounded(&context, self.shared.options.call_timeout, client.close()).await {
                    tracing::debug!(partition = %id, error = %e, "partition client close failed");
                }
            }
            Err(_) => tracing::warn!(partition = %id, "partition client still shared; not closed"),
        }
        tracing::debug!(partition = %id, "partition pump stopped");
    }

    /// Receives from the checkpoint on until the stream ends, ownership is lost or `stop` fires.
    /// A lost connection is replaced, with backoff, and receiving resumes after the last event
    /// handed to the engine; any other failure ends the pump (the processor hands the partition
    /// out again from its checkpoint).
    async fn receive(&self, id: &str) -> ServiceResult<()> {
        let mut last_sequence: Option<i64> = None;
        let mut backoff = RECONNECT_MIN;
        loop {
            let before = last_sequence;
            let failure = match self.receive_once(id, &mut last_sequence).await {
                Ok(()) => return Ok(()),
                Err(f) if f.reconnect && !self.stop.is_cancelled() => f,
                Err(f) => return Err(f.error),
            };
            if last_sequence != before {
                backoff = RECONNECT_MIN;
            }
            let retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX);
            tracing::warn!(
                partition = %id,
                error = %failure.error,
                retry_in_ms,
                "receiving connection lost; receiving again on a new one"
            );
            tokio::select! {
                _ = self.stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(RECONNECT_MAX);
        }
    }

    /// One receiver's life: opened after `last_sequence` (else at the checkpoint), closed when
    /// the stream ends. A failure that needs a new connection discards the current one.
    async fn receive_once(&self, id: &str, last_sequence: &mut Option<i64>) -> Result<(), CallFailure> {
        let reconnect = |error| CallFailure { error, reconnect: true };
        let connection =
            self.shared.receivers().await.map_err(|e| CallFailure { reconnect: e.is_transient(), error: e })?;
        let limit = self.shared.options.call_timeout;
        let start = match last_sequence {
            Some(sequence) => StartPosition { location: StartLocation::SequenceNumber(*sequence), inclusive: false },
            None => self.shared.start_position(id).await.map_err(|error| CallFailure { error, reconnect: false })?,
        };
        tracing::info!(partition = %id, ?start, "opening receiver");
        let options = OpenReceiverOptions {
            start_position: Some(start),
            prefetch: Some(self.shared.options.prefetch),
            owner_level: Some(OWNER_LEVEL),
            ..Default::default()
        };
        let context = format!("opening receiver on partition {id}");
        let open = connection.client.open_receiver_on_partition(id.to_string(), Some(options));
        let receiver = bounded_call(&context, limit, open).await?;
        let result = tokio::select! {
            biased;
            r = self.forward(id, &receiver, last_sequence) => r,
            _ = connection.lost.cancelled() => Err(reconnect(ServiceError::transient(format!(
                "receiving from partition {id}: the connection was lost"
            )))),
        };
        if result.as_ref().is_err_and(|f| f.reconnect) {
            // Closing on a lost connection would wait for an answer that never comes.
            self.shared.discard_receivers(&connection.client).await;
            return result;
        }
        let context = format!("closing receiver on partition {id}");
        if let Err(e) = bounded(&context, limit, receiver.close()).await {
            tracing::debug!(partition = %id, error = %e, "receiver close failed");
        }
        result
    }

    async fn forward(
        &self,
        id: &str,
        receiver: &EventReceiver,
        last_sequence: &mut Option<i64>,
    ) -> Result<(), CallFailure> {
        let stream = receiver.stream_events();
        futures::pin_mut!(stream);
        loop {
            let next = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return Ok(()),
                next = stream.next() => next,
            };
            let event = match next {
                Some(Ok(event)) => event,
                Some(Err(e)) if is_ownership_lost(&e) => {
                    self.lost.store(true, Ordering::Release);
                    tracing::info!(partition = %id, "partition taken over by another receiver");
                    return Ok(());
                }
                // The stream is finished after an error; the processor reopens the partition
                // from its checkpoint on a later load-balancing cycle.
                Some(Err(e)) => {
                    let error = from_eventhubs(&format!("receiving from partition {id}"), &e);
                    return Err(CallFailure { error, reconnect: needs_new_connection(&e) });
                }
                None => return Ok(()),
            };
            let Some(sequence) = event.sequence_number() else {
                tracing::warn!(partition = %id, "event without a sequence number skipped");
                continue;
            };
            // After a forced detach the SDK re-attaches at its original start position and
            // redelivers; positions handed to the engine must only grow.
            if last_sequence.is_some_and(|last| sequence <= last) {
                continue;
            }
            *last_sequence = Some(sequence);
            let items = feed_events(&event, sequence, &self.shared.allowed);
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => return Ok(()),
                sent = self.tx.send(items) => if sent.is_err() { return Ok(()) },
            }
        }
    }
}

/// Decodes one message into feed items sharing its position.
pub(super) fn feed_events(
    event: &ReceivedEventData,
    sequence: i64,
    allowed: &crate::azure::sources::AllowedSources,
) -> Vec<FeedEvent> {
    let position = FeedPosition { sequence, event_offset: event.offset().clone().unwrap_or_default() };
    let enqueued_ms = event
        .enqueued_time()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let bodies = match event.event_data().body() {
        Some(body) => crate::azure::eventgrid::decode(body, allowed),
        None => vec![EventBody::Invalid { reason: "message has no data body".into(), raw: Vec::new() }],
    };
    bodies
        .into_iter()
        .map(|mut body| {
            if let EventBody::Changed(c) = &mut body {
                c.enqueued_ms = enqueued_ms;
            }
            FeedEvent { position: position.clone(), body }
        })
        .collect()
}
