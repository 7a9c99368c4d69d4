//! Group commit: rows of many blobs packed into shared output events, each blob waiting only for
//! the events that carry its rows before it commits its own offset.
//!
//! One packer serves every partition of a worker. An event is open until it holds a sink
//! event's worth of rows (`RowSink::event_bytes`, or four flushes for sinks without a size),
//! its linger bound passes, or no blob is left that could add to it (every blob still being
//! processed is waiting for an acknowledgement): then it is sent by a task of its own, so a
//! waiter that goes away never strands the others. At most `max_events_in_flight` events are
//! being sent at once; whoever closes an event waits for room while holding its read permit,
//! and nobody adds rows to a new event meanwhile: that is what bounds memory to the open event,
//! one closed event waiting and those in flight. (Without the second rule every reader that
//! filled an event would hold a full event while waiting: a gzip drain peaked near 500 MiB.)
//!
//! When the sink only reads an event's rows (gzip compresses them into bodies of its own), the
//! event's buffer comes back once the sink is done with it and a later event fills it again
//! (`spare`).
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;

use super::spare::Spares;
use crate::domain::blob_name::BlobName;
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::metrics::{FlushReason, Metrics};
use crate::pipeline::row_sink::{RowBatch, RowSink};

/// How a sent event ended, shared by all its waiters (`ServiceError` is not `Clone`).
type Outcome = Result<(), (ErrorKind, String)>;

/// What a flush needs that the engine owns (and may replace after the packer is made).
pub(crate) struct Env<'a, S> {
    pub sink: &'a Arc<S>,
    pub metrics: &'a Arc<Metrics>,
    pub linger: Duration,
    pub max_events_in_flight: usize,
    /// Bytes that close an event.
    pub event_bytes: usize,
}

#[derive(Default)]
pub(crate) struct Packer {
    open: Mutex<Option<OpenEvent>>,
    next_id: AtomicU64,
    in_flight: OnceLock<Arc<Semaphore>>,
    /// Blobs of batches being processed that have not yet handed over their last rows.
    busy: AtomicUsize,
    /// Busy blobs waiting for their events' acknowledgement before they read on.
    busy_waiting: AtomicUsize,
    /// Woken when `busy` or `waiting` change to idle, so waiters can see that nobody will add rows.
    changed: Notify,
    /// Held by whoever closed an event while it waits for room in flight; rows are added only
    /// when nobody does.
    closing: tokio::sync::Mutex<()>,
    /// Buffers of sent events, emptied, for the next events' rows.
    spare: Arc<Spares>,
}

struct OpenEvent {
    id: u64,
    first_blob: BlobName,
    /// The event's rows in order: large segments as they came, runs of small ones copied.
    segments: Vec<Bytes>,
    /// Small segments copied together (see `push`).
    staging: BytesMut,
    bytes: usize,
    rows: usize,
    blobs: usize,
    opened: Instant,
    done: watch::Sender<Option<Outcome>>,
}

/// A claim on one event: resolves when the sink accepted (or refused) it.
pub(crate) struct Ticket {
    id: u64,
    deadline: Instant,
    done: watch::Receiver<Option<Outcome>>,
}

/// Counts a blob as one that may still add rows; dropped when it cannot any more.
pub(crate) struct BusyGuard(Arc<Packer>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        self.0.wake_if_idle();
    }
}

/// Counts a busy blob as waiting for as long as it waits, on every exit path.
struct Waiting<'a> {
    packer: &'a Packer,
    step: usize,
}

impl<'a> Waiting<'a> {
    fn count(packer: &'a Packer, step: usize) -> Self {
        packer.busy_waiting.fetch_add(step, Ordering::SeqCst);
        packer.wake_if_idle();
        Waiting { packer, step }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.packer.busy_waiting.fetch_sub(self.step, Ordering::SeqCst);
    }
}

impl Packer {
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::SeqCst);
        BusyGuard(self.clone())
    }

    fn idle(&self) -> bool {
        self.busy_waiting.load(Ordering::SeqCst) >= self.busy.load(Ordering::SeqCst)
    }

    /// Wakes the waiters when nobody is left to add rows, the only change they act on (waking all
    /// on every change was quadratic in a drain). The last of concurrent changes sees their sum
    /// (SeqCst), and a waiter registers before it checks `idle`: none misses it.
    fn wake_if_idle(&self) {
        if self.idle() {
            self.changed.notify_waiters();
        }
    }

    fn is_open(&self, id: u64) -> bool {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).as_ref().is_some_and(|o| o.id == id)
    }

    /// Adds a blob's rows (whole lines, in order) to the open event, closing and sending every
    /// event that fills; returns the events its rows went into, in order.
    pub async fn submit<S: RowSink>(
        &self,
        env: &Env<'_, S>,
        blob: &BlobName,
        segments: Vec<Bytes>,
    ) -> ServiceResult<Vec<Ticket>> {
        drop(self.closing.lock().await);
        let mut tickets: Vec<Ticket> = Vec::new();
        let mut full = Vec::new();
        {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            for segment in segments.into_iter().filter(|s| !s.is_empty()) {
                if open.as_ref().is_some_and(|o| o.bytes + segment.len() > env.event_bytes) {
                    full.push((open.take().expect("checked above"), FlushReason::Full));
                }
                let event = open.get_or_insert_with(|| {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    OpenEvent::with_buffer(id, blob, self.spare.take())
                });
                if tickets.last().is_none_or(|t| t.id != event.id) {
                    event.blobs += 1;
                    tickets.push(Ticket {
                        id: event.id,
                        deadline: event.opened + env.linger,
                        done: event.done.subscribe(),
                    });
                }
                event.rows += memchr::memchr_iter(b'\n', &segment).count();
                event.push(segment, env.event_bytes);
                if event.bytes >= env.event_bytes {
                    full.push((open.take().expect("just filled"), FlushReason::Full));
                }
            }
        }
        for (event, reason) in full {
            self.send(env, event, reason).await;
        }
        Ok(tickets)
    }

    /// Waits until every event of `tickets` is accepted by the sink; sends an event itself when
    /// its linger bound passed or nobody is left to add rows to it. `reading`: the blob is
    /// still busy (it reads on afterwards), but cannot add rows while it waits.
    pub async fn wait<S: RowSink>(&self, env: &Env<'_, S>, tickets: Vec<Ticket>, reading: bool) -> ServiceResult<()> {
        let _waiting = Waiting::count(self, usize::from(reading));
        for ticket in tickets {
            self.wait_one(env, ticket).await?;
        }
        Ok(())
    }

    async fn wait_one<S: RowSink>(&self, env: &Env<'_, S>, mut ticket: Ticket) -> ServiceResult<()> {
        loop {
            if let Some(outcome) = ticket.done.borrow().clone() {
                return outcome.map_err(|(kind, message)| ServiceError::new(kind, message));
            }
            if !self.is_open(ticket.id) {
                if ticket.done.changed().await.is_err() {
                    return Err(ServiceError::transient("an output event's send task ended without an answer"));
                }
                continue;
            }
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let late = Instant::now() >= ticket.deadline;
            if late || self.idle() {
                let reason = if late { FlushReason::Linger } else { FlushReason::Idle };
                self.close_and_send(env, ticket.id, reason).await;
                continue;
            }
            tokio::select! {
                _ = ticket.done.changed() => {}
                _ = tokio::time::sleep_until(ticket.deadline) => {}
                _ = changed => {}
            }
        }
    }

    async fn close_and_send<S: RowSink>(&self, env: &Env<'_, S>, id: u64, reason: FlushReason) {
        let event = {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            if open.as_ref().is_none_or(|o| o.id != id) {
                return;
            }
            open.take()
        };
        if let Some(event) = event {
            self.send(env, event, reason).await;
        }
    }

    /// Hands a closed event to a task of its own once fewer than the limit are in flight.
    async fn send<S: RowSink>(&self, env: &Env<'_, S>, mut event: OpenEvent, reason: FlushReason) {
        let limit = self.in_flight.get_or_init(|| Arc::new(Semaphore::new(env.max_events_in_flight.max(1)))).clone();
        let permit = {
            let _closing = self.closing.lock().await;
            // The semaphore is never closed, so acquiring cannot fail.
            limit.acquire_owned().await.ok()
        };
        let (sink, metrics) = (env.sink.clone(), env.metrics.clone());
        metrics.output.linger_seconds.observe(event.opened.elapsed().as_secs_f64());
        metrics.output.flushed(reason);
        let spare = sink.reads_segments_only().then(|| self.spare.clone());
        tokio::spawn(async move {
            let _permit = permit;
            metrics.output.in_flight.inc();
            let bytes = event.bytes;
            let body = event.body();
            let kept = spare.map(|spare| (spare, body.clone()));
            let OpenEvent { first_blob, rows, blobs, done, .. } = event;
            // The event's first blob names it (the output partition key, error messages).
            let result = sink.send(RowBatch { blob: &first_blob, segments: vec![body], rows }).await;
            if let Some((spare, body)) = kept {
                spare.keep(body);
            }
            metrics.output.in_flight.dec();
            if result.is_ok() {
                metrics.output.accepted(bytes, rows, blobs);
                metrics.sink_batches.inc();
            }
            let _ = done.send(Some(result.map_err(|e| (e.kind, e.to_string()))));
        });
    }
}

/// Segments at least this large (or a quarter of an event) are kept as they are; smaller ones
/// are copied. A segment shares its blob's whole read buffer (`engine.flush_bytes`, 4 MiB by
/// default), so an event holding hundreds of quiet blobs' few rows each would keep hundreds of
/// those buffers alive until it is acknowledged: a gzip drain peaked near 500 MiB that way.
const KEEP_SEGMENT_BYTES: usize = 1024 * 1024;

impl OpenEvent {
    #[cfg(test)]
    fn new(id: u64, first_blob: &BlobName) -> Self {
        Self::with_buffer(id, first_blob, BytesMut::new())
    }

    /// An event whose small segments are copied into `staging` (empty; a spare buffer, or new).
    fn with_buffer(id: u64, first_blob: &BlobName, staging: BytesMut) -> Self {
        OpenEvent {
            id,
            first_blob: first_blob.clone(),
            segments: Vec::new(),
            staging,
            bytes: 0,
            rows: 0,
            blobs: 0,
            opened: Instant::now(),
            done: watch::channel(None).0,
        }
    }

    fn push(&mut self, segment: Bytes, event_bytes: usize) {
        self.bytes += segment.len();
        if segment.len() >= KEEP_SEGMENT_BYTES.min(event_bytes / 4) {
            if !self.staging.is_empty() {
                self.segments.push(self.staging.split().freeze());
            }
            self.segments.push(segment);
        } else {
            if self.staging.capacity() == 0 {
                self.staging.reserve(KEEP_SEGMENT_BYTES.min(event_bytes));
            }
            self.staging.extend_from_slice(&segment);
        }
    }

    /// One contiguous body: the sink sends a segment as one event (or, gzip, packs it as a
    /// whole).
    fn body(&mut self) -> Bytes {
        if !self.staging.is_empty() {
            self.segments.push(self.staging.split().freeze());
        }
        // What is left of the buffer shares it with the body: dropped, so that the body is the
        // buffer's only owner and comes back as a spare once sent.
        self.staging = BytesMut::new();
        // Taken, so that the parts are freed once copied, not when the send ends.
        let mut segments = std::mem::take(&mut self.segments);
        if segments.len() == 1 {
            return segments.pop().unwrap_or_default();
        }
        let mut body = BytesMut::with_capacity(self.bytes);
        for s in &segments {
            body.extend_from_slice(s);
        }
        body.freeze()
    }
}

#[cfg(test)]
#[path = "packer_tests.rs"]
mod tests;
