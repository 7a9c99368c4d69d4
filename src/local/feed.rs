//! Local change feed: reports `PT1H.json` files under a directory tree that grew, as one partition.
//!
//! `Once` scans the tree and ends; `Watch` scans, then follows native file-system events, or polls
//! when the platform watcher cannot be used. Progress is not kept here: the offset store is the
//! durable record, and a restart rescans and lets offsets skip what was already delivered.
//!
//! Polling is a periodic walk comparing lengths, not notify's `PollWatcher`: that one compares
//! modification times truncated to whole seconds (notify 8.2), so a file that grew twice within
//! one second would have its second growth missed until it changed again, maybe never.
mod tracker;
mod watch;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::RecommendedWatcher;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::local::blob_store::BlobPaths;
use crate::pipeline::change_feed::{ChangeFeed, FeedEvent, FeedPartition, FeedPosition};
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::metrics::Metrics;
use tracker::{Shared, Tracker, take_degraded};

/// The id of the local feed's only partition.
pub const PARTITION_ID: &str = "local";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalFeedMode {
    /// Report every flow-log file once with its current length, then end.
    Once,
    /// Report every file, then each growth, until shutdown.
    Watch,
}

pub struct LocalFeed {
    root: PathBuf,
    mode: LocalFeedMode,
    shutdown: CancellationToken,
    force_polling: bool,
    poll_interval: Duration,
    safety_rescan: Duration,
    handed_out: bool,
    paths: BlobPaths,
    metrics: Option<Arc<Metrics>>,
}

impl LocalFeed {
    pub fn new(root: impl Into<PathBuf>, mode: LocalFeedMode) -> Self {
        LocalFeed {
            root: root.into(),
            mode,
            shutdown: CancellationToken::new(),
            force_polling: false,
            poll_interval: Duration::from_secs(2),
            safety_rescan: Duration::from_secs(300),
            handed_out: false,
            paths: BlobPaths::default(),
            metrics: None,
        }
    }

    /// Records where each reported blob lives, for the blob store that reads them
    /// (`LocalBlobStore::paths`): blob names do not always spell the path.
    pub fn with_paths(mut self, paths: BlobPaths) -> Self {
        self.paths = paths;
        self
    }

    /// Counts unreadable paths in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Cancelling the token makes a waiting `next_batch` return `Ok(None)` at once.
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Poll instead of using the platform watcher (network file systems, containers without inotify).
    pub fn with_polling(mut self, force: bool) -> Self {
        self.force_polling = force;
        self
    }

    /// How often polling rescans the tree, when polling (forced or as a fallback). Default 2 s.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// With the platform watcher, the tree is still rescanned this often, in case an event was
    /// lost without the platform saying so. Default 5 minutes.
    pub fn with_safety_rescan(mut self, interval: Duration) -> Self {
        self.safety_rescan = interval.max(Duration::from_millis(1));
        self
    }
}

/// The single partition of a local feed.
pub struct LocalPartition {
    mode: LocalFeedMode,
    shutdown: CancellationToken,
    shared: Arc<Shared>,
    tracker: Arc<Mutex<Tracker>>,
    /// The platform watcher; `None` when polling (or in `Once` mode).
    watcher: Option<RecommendedWatcher>,
    root: PathBuf,
    /// Whether the platform watcher is wanted (restarted when the root comes back).
    native: bool,
    /// The root went missing: polling until it is back.
    lost_root: bool,
    safety_rescan: Duration,
    /// When polling: the interval. Otherwise the safety rescan interval.
    rescan_every: Duration,
    poll_interval: Duration,
    next_rescan: Instant,
    last_acked: Option<FeedPosition>,
}

impl ChangeFeed for LocalFeed {
    type Partition = LocalPartition;

    /// The one partition on the first call, `None` afterwards.
    async fn next_partition(&mut self) -> ServiceResult<Option<LocalPartition>> {
        if self.handed_out {
            return Ok(None);
        }
        let root = self.root.clone();
        // Canonical, because watcher events name paths under the watched path as resolved.
        let root = tokio::task::spawn_blocking(move || {
            std::fs::canonicalize(&root).map_err(|e| ServiceError::from_io(format!("feed root {}", root.display()), e))
        })
        .await
        .map_err(join_error)??;
        let shared = Arc::new(Shared::default());
        let (watcher, rescan_every) = match self.mode {
            LocalFeedMode::Once => (None, self.safety_rescan),
            LocalFeedMode::Watch if self.force_polling => (None, self.poll_interval),
            LocalFeedMode::Watch => {
                // Started before the initial scan, so nothing written in between is missed.
                let (root, shared) = (root.clone(), shared.clone());
                match tokio::task::spawn_blocking(move || watch::start(&root, shared)).await.map_err(join_error)? {
                    Ok(watcher) => (Some(watcher), self.safety_rescan),
                    Err(e) => {
                        tracing::warn!(error = %e, interval = ?self.poll_interval, "file watcher unavailable; polling");
                        (None, self.poll_interval)
                    }
                }
            }
        };
        self.handed_out = true;
        Ok(Some(LocalPartition {
            mode: self.mode,
            shutdown: self.shutdown.clone(),
            shared,
            tracker: Arc::new(Mutex::new(Tracker::new(root.clone(), self.paths.clone(), self.metrics.clone()))),
            root,
            native: self.mode == LocalFeedMode::Watch && !self.force_polling,
            lost_root: false,
            safety_rescan: self.safety_rescan,
            watcher,
            rescan_every,
            poll_interval: self.poll_interval,
            next_rescan: Instant::now() + rescan_every,
            last_acked: None,
        }))
    }
}

fn join_error(e: tokio::task::JoinError) -> ServiceError {
    ServiceError::with_source(ErrorKind::Permanent, "local feed task failed", e)
}

impl LocalPartition {
    /// The last acknowledged position (acknowledgements are not persisted: offsets are).
    pub fn last_acked(&self) -> Option<&FeedPosition> {
        self.last_acked.as_ref()
    }

    /// Whether growth is found by polling rather than by the platform watcher.
    pub fn is_polling(&self) -> bool {
        self.mode == LocalFeedMode::Watch && self.watcher.is_none()
    }

    /// A deleted watch root takes the platform watcher's watches with it: poll until the root
    /// is back, then watch it again (and walk it, for what was written before the watch).
    async fn follow_root(&mut self) {
        let missing = self.tracker.lock().unwrap_or_else(|p| p.into_inner()).root_missing;
        let removed = self.shared.root_lost.swap(false, std::sync::atomic::Ordering::SeqCst);
        if (missing || removed) && !self.lost_root {
            tracing::warn!(root = %self.root.display(), "the watched directory was removed or moved; polling until it is back, then watching it again");
            self.lost_root = true;
            self.watcher = None;
            self.rescan_every = self.poll_interval;
            self.next_rescan = Instant::now() + self.poll_interval;
        } else if !missing && self.lost_root {
            self.lost_root = false;
            if self.native {
                let (root, shared) = (self.root.clone(), self.shared.clone());
                match tokio::task::spawn_blocking(move || watch::start(&root, shared)).await {
                    Ok(Ok(watcher)) => {
                        self.watcher = Some(watcher);
                        self.rescan_every = self.safety_rescan;
                        self.next_rescan = Instant::now() + self.safety_rescan;
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "file watcher unavailable; polling"),
                    Err(e) => tracing::warn!(error = %e, "file watcher task failed; polling"),
                }
            }
            self.shared.update(|p| p.full_rescan = true);
        }
    }

    /// Walks, reads lengths and hands out ready events. The work runs on the blocking pool with
    /// its state behind a mutex and events are taken only after it returns, so a caller that
    /// drops this future loses nothing: what it did not receive stays ready for the next call.
    async fn poll_ready(&mut self, max: usize) -> ServiceResult<Vec<FeedEvent>> {
        let (shared, tracker) = (self.shared.clone(), self.tracker.clone());
        tokio::task::spawn_blocking(move || tracker.lock().unwrap_or_else(|p| p.into_inner()).refresh(&shared, max))
            .await
            .map_err(join_error)??;
        // Uncontended: calls are sequential (`&mut self`), and the refresh above queued behind
        // any refresh a dropped call left running.
        Ok(self.tracker.lock().unwrap_or_else(|p| p.into_inner()).take(max))
    }
}

impl FeedPartition for LocalPartition {
    fn id(&self) -> &str {
        PARTITION_ID
    }

    async fn next_batch(&mut self, max: usize) -> ServiceResult<Option<Vec<FeedEvent>>> {
        loop {
            if self.shutdown.is_cancelled() {
                return Ok(None);
            }
            if take_degraded(&self.shared) && self.watcher.take().is_some() {
                tracing::warn!(interval = ?self.poll_interval, "file watcher hit a system limit; switching to polling");
                self.rescan_every = self.poll_interval;
                self.next_rescan = Instant::now();
            }
            let batch = self.poll_ready(max).await?;
            self.follow_root().await;
            if !batch.is_empty() {
                return Ok(Some(batch));
            }
            if self.mode == LocalFeedMode::Once {
                // A refresh that succeeds with nothing ready has walked and checked everything.
                return Ok(None);
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return Ok(None),
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep_until(self.next_rescan) => {
                    self.next_rescan = Instant::now() + self.rescan_every;
                    self.shared.update(|p| p.full_rescan = true);
                }
            }
        }
    }

    async fn ack(&mut self, position: &FeedPosition) -> ServiceResult<()> {
        if self.last_acked.as_ref().is_none_or(|last| position > last) {
            self.last_acked = Some(position.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
