//! Fault injection and counters: the [`Control`] handle shared by the server, the in-process
//! API and the binary's HTTP surface.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How [`Control`] drops connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropMode {
    /// AMQP close with `amqp:connection:forced`.
    Close,
    /// TCP shutdown, no AMQP close.
    Reset,
}

/// Per-partition counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PartitionCounters {
    /// Events accepted into the partition (a batch counts each inner event).
    pub events_received: u64,
    /// Bytes accepted: the encoded size of each stored event.
    pub bytes_received: u64,
    /// Batched transfers (message format 0x80013700) accepted into the partition.
    pub batches_received: u64,
    /// Events delivered to receivers (re-deliveries count again).
    pub events_delivered: u64,
    /// `$cbs` put-tokens accepted for the partition or a consumer link of it (also counted in
    /// [`Counters::tokens_accepted`]): a receiver's first authorization and its renewals.
    pub tokens_accepted: u64,
}

/// Per-hub counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct HubCounters {
    /// Sends rejected: server-busy, oversize, unknown partition, malformed batch.
    pub rejected_sends: u64,
    /// Partition id to counters.
    pub partitions: BTreeMap<String, PartitionCounters>,
}

/// Snapshot of all counters, as returned by [`Control::counters`] and `GET /counters`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counters {
    /// TCP connections accepted and handed to AMQP.
    pub connections_accepted: u64,
    /// Connections refused while the refuse fault was active.
    pub connections_refused: u64,
    /// Connections closed by the drop-connections fault.
    pub connections_dropped: u64,
    /// Sends rejected with `amqp:link:message-size-exceeded` (also in `rejected_sends`).
    pub oversize_rejected: u64,
    /// `$cbs` put-token requests answered 202 (initial authorizations and refreshes).
    pub tokens_accepted: u64,
    /// `$cbs` put-token requests answered 401.
    pub unauthorized_tokens: u64,
    /// Consumer links that attached and started delivering (after owner-level checks).
    pub receivers_attached: u64,
    /// Receiver links detached with `amqp:link:stolen` by a higher or equal owner level.
    pub receivers_stolen: u64,
    /// Receiver links refused because their partition had its quota of receivers.
    pub receivers_refused: u64,
    /// Links refused or detached by a service rule other than the receiver quota (no valid
    /// token, an expired token, a second `$cbs` link).
    pub rule_refusals: u64,
    /// `$cbs` links refused because another `$cbs` link of the same direction was open on their
    /// connection (also counted in `rule_refusals`).
    pub cbs_links_refused: u64,
    /// Hub name to counters.
    pub hubs: BTreeMap<String, HubCounters>,
}

impl Counters {
    /// Sum of `events_received` over every partition of `hub` (0 for an unknown hub).
    pub fn hub_events(&self, hub: &str) -> u64 {
        self.hubs.get(hub).map_or(0, |h| h.partitions.values().map(|p| p.events_received).sum())
    }

    /// Sum of `bytes_received` over every partition of `hub`.
    pub fn hub_bytes(&self, hub: &str) -> u64 {
        self.hubs.get(hub).map_or(0, |h| h.partitions.values().map(|p| p.bytes_received).sum())
    }
}

#[derive(Debug)]
struct Inner {
    counters: Mutex<Counters>,
    refuse_until: Mutex<Option<Instant>>,
    busy_remaining: AtomicU64,
    busy_until: Mutex<Option<Instant>>,
    ack_delay_ms: AtomicU64,
    drop_generation: watch::Sender<(u64, DropMode)>,
    detach_generation: watch::Sender<u64>,
}

/// Handle to inject faults and read counters; cheap to clone, shared with the running server.
#[derive(Debug, Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

impl Control {
    pub(crate) fn new(counters: Counters) -> Self {
        Self {
            inner: Arc::new(Inner {
                counters: Mutex::new(counters),
                refuse_until: Mutex::new(None),
                busy_remaining: AtomicU64::new(0),
                busy_until: Mutex::new(None),
                ack_delay_ms: AtomicU64::new(0),
                drop_generation: watch::channel((0, DropMode::Close)).0,
                detach_generation: watch::channel(0).0,
            }),
        }
    }

    /// Closes every open AMQP connection with `amqp:connection:forced`, as Azure does when a
    /// gateway restarts or a connection idles out (see the README for how SDK 0.15 copes).
    pub fn drop_connections(&self) {
        self.drop_with(DropMode::Close);
    }

    /// Shuts every open connection's TCP socket down without an AMQP close, like a network
    /// failure or a load balancer reset.
    pub fn reset_connections(&self) {
        self.drop_with(DropMode::Reset);
    }

    fn drop_with(&self, mode: DropMode) {
        self.inner.drop_generation.send_modify(|g| *g = (g.0 + 1, mode));
    }

    /// Refuses new TCP connections (closed right after accept) for `duration`.
    pub fn refuse_connections(&self, duration: Duration) {
        *self.inner.refuse_until.lock().unwrap() = Some(Instant::now() + duration);
    }

    /// Rejects the next `count` sends with `com.microsoft:server-busy` (throttling).
    pub fn server_busy(&self, count: u64) {
        self.inner.busy_remaining.store(count, Ordering::SeqCst);
    }

    /// Rejects every send with `com.microsoft:server-busy` for `duration`.
    pub fn server_busy_for(&self, duration: Duration) {
        *self.inner.busy_until.lock().unwrap() = Some(Instant::now() + duration);
    }

    /// Delays the acknowledgement (disposition) of every send by `delay`; zero turns it off.
    pub fn delay_acks(&self, delay: Duration) {
        let ms = delay.as_millis().min(u64::MAX as u128) as u64;
        self.inner.ack_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Detaches every open receiver link with `amqp:link:detach-forced`; the SDK re-attaches
    /// with its original start position.
    pub fn detach_receivers(&self) {
        self.inner.detach_generation.send_modify(|g| *g += 1);
    }

    /// Clears every fault (counters are kept).
    pub fn clear_faults(&self) {
        *self.inner.refuse_until.lock().unwrap() = None;
        *self.inner.busy_until.lock().unwrap() = None;
        self.inner.busy_remaining.store(0, Ordering::SeqCst);
        self.inner.ack_delay_ms.store(0, Ordering::SeqCst);
    }

    /// A snapshot of every counter.
    pub fn counters(&self) -> Counters {
        self.inner.counters.lock().unwrap().clone()
    }

    pub(crate) fn refusing(&self) -> bool {
        matches!(*self.inner.refuse_until.lock().unwrap(), Some(t) if Instant::now() < t)
    }

    /// Whether this send must be throttled; consumes one unit of the count-based fault.
    pub(crate) fn take_server_busy(&self) -> bool {
        if matches!(*self.inner.busy_until.lock().unwrap(), Some(t) if Instant::now() < t) {
            return true;
        }
        self.inner.busy_remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    pub(crate) fn ack_delay(&self) -> Duration {
        Duration::from_millis(self.inner.ack_delay_ms.load(Ordering::SeqCst))
    }

    pub(crate) fn drop_signal(&self) -> watch::Receiver<(u64, DropMode)> {
        self.inner.drop_generation.subscribe()
    }

    pub(crate) fn detach_signal(&self) -> watch::Receiver<u64> {
        self.inner.detach_generation.subscribe()
    }

    /// Applies `f` to the counters under the lock.
    pub(crate) fn update(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.inner.counters.lock().unwrap());
    }

    pub(crate) fn partition(&self, hub: &str, partition: &str, f: impl FnOnce(&mut PartitionCounters)) {
        self.update(|c| {
            let hub = c.hubs.entry(hub.to_string()).or_default();
            f(hub.partitions.entry(partition.to_string()).or_default());
        });
    }

    pub(crate) fn rejected_send(&self, hub: &str) {
        self.update(|c| c.hubs.entry(hub.to_string()).or_default().rejected_sends += 1);
    }
}
