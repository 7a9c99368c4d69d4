//! Tunables of the engine, with production defaults; parsed from configuration at the edge.
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Rows are sent whenever this many NDJSON bytes are buffered, even in the middle of a
    /// record, and the offset committed to the end of the last complete record, so memory and the
    /// re-send window after a crash stay bounded whatever the blob or record size.
    pub flush_bytes: usize,
    /// Most events taken from a partition at once; their blobs are coalesced.
    pub max_batch_events: usize,
    /// Blobs of one batch processed at the same time (each blob stays sequential).
    pub blob_concurrency: usize,
    /// Raw bytes kept in a dead letter.
    pub dead_letter_raw_limit: usize,
    pub retry: RetryConfig,
    /// Offset entries not updated for this long are deleted by the sweep.
    pub retention: Duration,
    pub sweep_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flush_bytes: 4 * 1024 * 1024,
            max_batch_events: 256,
            blob_concurrency: 4,
            dead_letter_raw_limit: 64 * 1024,
            retry: RetryConfig::default(),
            retention: Duration::from_secs(7 * 24 * 3600),
            sweep_interval: Duration::from_secs(3600),
        }
    }
}

/// Exponential backoff with jitter for transient failures; after `max_attempts` the failure is
/// treated as permanent for that blob (dead-lettered, offset untouched).
#[derive(Clone, Debug)]
pub struct RetryConfig {
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: usize,
}

impl Default for RetryConfig {
    fn default() -> Self {
        // About two minutes in total: rides out throttling and short outages.
        RetryConfig { min_delay: Duration::from_millis(200), max_delay: Duration::from_secs(30), max_attempts: 8 }
    }
}

impl RetryConfig {
    /// Near-instant retries for tests.
    pub fn fast() -> Self {
        RetryConfig { min_delay: Duration::from_millis(1), max_delay: Duration::from_millis(5), max_attempts: 4 }
    }
}
