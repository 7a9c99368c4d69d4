//! Group commit: rows of many blobs packed into shared output events, each blob waiting only for
//! the events that carry its rows before it commits its own offset.
//!
//! One packer serves every partition of a worker. An event is open until it holds a sink
//! event's worth of rows (`RowSink::segment_bytes`, or four flushes for sinks without a limit),
//! its linger bound passes, or no blob is left that could add to it (every blob still being
//! processed is waiting for an acknowledgement): then it is sent by a task of its own, so a
//! waiter that goes away never strands the others. At most `max_events_in_flight` events are
//! being sent at once; whoever closes an event waits for room while holding its read permit,
//! which is what bounds memory (see `read_slot`).
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;

use super::partition::scopeguard;
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
    /// Woken when `busy` or `waiting` change, so waiters can see that nobody will add rows.
    changed: Notify,
}

struct OpenEvent {
    id: u64,
    first_blob: BlobName,
    segments: Vec<Bytes>,
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
        self.0.changed.notify_waiters();
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
        let mut tickets: Vec<Ticket> = Vec::new();
        let mut full = Vec::new();
        {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            for segment in segments.into_iter().filter(|s| !s.is_empty()) {
                if open.as_ref().is_some_and(|o| o.bytes + segment.len() > env.event_bytes) {
                    full.push((open.take().expect("checked above"), FlushReason::Full));
                }
                let event = open.get_or_insert_with(|| OpenEvent {
                    id: self.next_id.fetch_add(1, Ordering::Relaxed),
                    first_blob: blob.clone(),
                    segments: Vec::new(),
                    bytes: 0,
                    rows: 0,
                    blobs: 0,
                    opened: Instant::now(),
                    done: watch::channel(None).0,
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
                event.bytes += segment.len();
                event.segments.push(segment);
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
        let step = usize::from(reading);
        self.busy_waiting.fetch_add(step, Ordering::SeqCst);
        self.changed.notify_waiters();
        let _waiting = scopeguard(|| {
            self.busy_waiting.fetch_sub(step, Ordering::SeqCst);
            self.changed.notify_waiters();
        });
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
    async fn send<S: RowSink>(&self, env: &Env<'_, S>, event: OpenEvent, reason: FlushReason) {
        let limit = self.in_flight.get_or_init(|| Arc::new(Semaphore::new(env.max_events_in_flight.max(1)))).clone();
        // The semaphore is never closed, so acquiring cannot fail.
        let permit = limit.acquire_owned().await.ok();
        let (sink, metrics) = (env.sink.clone(), env.metrics.clone());
        metrics.output.linger_seconds.observe(event.opened.elapsed().as_secs_f64());
        metrics.output.flushed(reason);
        tokio::spawn(async move {
            let _permit = permit;
            metrics.output.in_flight.inc();
            let OpenEvent { first_blob, segments, bytes, rows, blobs, done, .. } = event;
            let body = concat(segments, bytes);
            // The event's first blob names it (the output partition key, error messages).
            let result = sink.send(RowBatch { blob: &first_blob, segments: vec![body], rows }).await;
            metrics.output.in_flight.dec();
            if result.is_ok() {
                metrics.output.accepted(bytes, rows, blobs);
                metrics.sink_batches.inc();
            }
            let _ = done.send(Some(result.map_err(|e| (e.kind, e.to_string()))));
        });
    }
}

/// One contiguous body: the sink sends a segment as one event (or, gzip, packs it as a whole).
fn concat(mut segments: Vec<Bytes>, bytes: usize) -> Bytes {
    if segments.len() == 1 {
        return segments.pop().unwrap_or_default();
    }
    let mut body = BytesMut::with_capacity(bytes);
    for s in &segments {
        body.extend_from_slice(s);
    }
    body.freeze()
}
