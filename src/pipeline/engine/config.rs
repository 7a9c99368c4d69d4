//! Tunables of the engine, with production defaults; parsed from configuration at the edge.
use std::time::Duration;

use super::retry::RetryPolicy;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Rows are sent whenever this many NDJSON bytes are buffered, even in the middle of a
    /// record, and the offset committed to the end of the last complete record, so memory and the
    /// re-send window after a crash stay bounded whatever the blob or record size.
    pub flush_bytes: usize,
    /// Most events taken from a partition at once; their blobs are coalesced.
    pub max_batch_events: usize,
    /// Blobs of one batch reading at the same time (each blob stays sequential); blobs waiting
    /// for their rows' acknowledgement do not count, so the next ones read meanwhile.
    pub blob_concurrency: usize,
    /// Blobs reading at once across every partition of the worker: each holds a read buffer of
    /// up to about `flush_bytes`, so this bounds them whatever the number of partitions owned.
    pub max_reading_blobs: usize,
    /// Longest time an output event stays open for rows of more blobs (group commit) before it
    /// is sent; it goes sooner when full or when no blob is left that could add to it.
    pub linger: Duration,
    /// The linger of rows whose events were enqueued longer ago than this (a backlog): they are
    /// late already, so waiting up to this long for fuller events adds at most their lag again,
    /// and packs a drain into far fewer events. Zero turns it off.
    pub backlog_linger: Duration,
    /// Output events being sent at once; with `blob_concurrency` and `flush_bytes` this bounds
    /// memory, and it bounds the rows sent again after a crash (their offsets not committed).
    pub max_events_in_flight: usize,
    /// Raw bytes kept in a dead letter.
    pub dead_letter_raw_limit: usize,
    pub retry: RetryPolicy,
    /// Offset entries not updated for this long are deleted by the sweep.
    pub retention: Duration,
    pub sweep_interval: Duration,
    /// How an offset commit that fails after its rows were delivered is retried: with the retry
    /// policy and then, when `true` (daemons), without end until it succeeds or the process
    /// stops; when `false` (bounded runs), the run stops after the policy's attempts.
    pub patient_commits: bool,
    /// Longest wait for one storage call (an offset load or save, blob properties, one chunk of
    /// a read); a call without an answer by then fails as transient and is retried.
    pub call_timeout: Duration,
    /// How often blobs with a retry mark are looked for and retried.
    pub pending_interval: Duration,
    /// Base and cap of the delay between retries of a marked blob.
    pub pending_delays: (Duration, Duration),
    /// A blob whose committed offset has not reached its committed length for this long is
    /// reported as stalled.
    pub stall_after: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flush_bytes: 4 * 1024 * 1024,
            max_batch_events: 256,
            blob_concurrency: 4,
            max_reading_blobs: 16,
            linger: Duration::from_millis(100),
            backlog_linger: Duration::from_millis(1000),
            max_events_in_flight: 4,
            dead_letter_raw_limit: 64 * 1024,
            retry: RetryPolicy::default(),
            retention: Duration::from_secs(7 * 24 * 3600),
            sweep_interval: Duration::from_secs(3600),
            patient_commits: false,
            call_timeout: Duration::from_secs(30),
            pending_interval: Duration::from_secs(30),
            pending_delays: (Duration::from_secs(30), Duration::from_secs(3600)),
            stall_after: Duration::from_secs(15 * 60),
        }
    }
}
