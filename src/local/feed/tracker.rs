//! Turning "something happened to these paths" into "this blob now has N bytes", once per change.
//!
//! The watcher thread only marks paths dirty (cheap, deduplicated); lengths are read when the
//! consumer asks, so a burst of writes to one file becomes one event carrying its latest length.
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::domain::blob_name::BlobName;
use crate::local::blob_store::{BlobPaths, FLOW_LOG_FILE, blob_name_of, walk_flow_logs};
use crate::pipeline::change_feed::{BlobChanged, EventBody, FeedEvent, FeedPosition};
use crate::pipeline::error::{ErrorKind, ServiceResult};
use crate::pipeline::metrics::Metrics;

/// A FIFO of distinct paths: first marked, first reported, so one busy file cannot starve the rest.
#[derive(Default)]
pub(super) struct DirtyQueue {
    order: VecDeque<PathBuf>,
    members: HashSet<PathBuf>,
}

impl DirtyQueue {
    pub fn push(&mut self, path: PathBuf) {
        if self.members.insert(path.clone()) {
            self.order.push_back(path);
        }
    }

    fn pop(&mut self) -> Option<PathBuf> {
        let path = self.order.pop_front()?;
        self.members.remove(&path);
        Some(path)
    }
}

/// Work noted by the watcher thread since the consumer last looked.
#[derive(Default)]
pub(super) struct Pending {
    pub dirty: DirtyQueue,
    /// Directories that appeared: files may have been written in them before they were watched.
    pub new_dirs: Vec<PathBuf>,
    /// Events may have been lost (queue overflow, watcher error, polling tick): walk everything.
    pub full_rescan: bool,
}

/// What the watcher thread and the partition share.
#[derive(Default)]
pub(super) struct Shared {
    pub pending: Mutex<Pending>,
    /// Woken after every change to `pending`; a wake with no waiter is kept for the next one.
    pub wake: Notify,
    /// The native watcher hit a resource limit (inotify watches): switch to polling.
    pub degraded: AtomicBool,
    /// The watched root itself was removed or moved: its watches are gone with it.
    pub root_lost: AtomicBool,
}

impl Shared {
    pub fn update(&self, f: impl FnOnce(&mut Pending)) {
        f(&mut self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        self.wake.notify_one();
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The consumer's side: reported lengths, work not yet done, events not yet handed out.
pub(super) struct Tracker {
    root: PathBuf,
    dirty: DirtyQueue,
    new_dirs: Vec<PathBuf>,
    rescan_root: bool,
    /// Length and modification time last reported: a preallocated file filled out of order
    /// changes without growing.
    reported: HashMap<BlobName, (u64, Option<SystemTime>)>,
    ready: VecDeque<FeedEvent>,
    next_sequence: i64,
    /// Where each reported name lives, shared with the blob store.
    paths: BlobPaths,
    metrics: Option<Arc<Metrics>>,
    /// Paths found unreadable and reported (once) that have not been readable since.
    unreadable: HashSet<PathBuf>,
    /// Symbolic links already warned about.
    symlinks: HashSet<PathBuf>,
    /// The root was missing at the last walk.
    pub root_missing: bool,
}

impl Tracker {
    /// `root` must be canonical, as watcher events carry paths under the watched path.
    pub fn new(root: PathBuf, paths: BlobPaths, metrics: Option<Arc<Metrics>>) -> Self {
        Tracker {
            paths,
            metrics,
            unreadable: HashSet::new(),
            symlinks: HashSet::new(),
            root_missing: false,
            root,
            dirty: DirtyQueue::default(),
            new_dirs: Vec::new(),
            rescan_root: true,
            reported: HashMap::new(),
            ready: VecDeque::new(),
            next_sequence: 1,
        }
    }

    /// Nothing left to look at or to hand out.
    #[cfg(test)]
    pub fn is_idle(&self) -> bool {
        self.dirty.order.is_empty() && self.new_dirs.is_empty() && !self.rescan_root && self.ready.is_empty()
    }

    /// Takes the shared pending work, walks what needs walking, and reads lengths until `max`
    /// events are ready or nothing is dirty. Blocking. Work survives an error: it is retried next call.
    pub fn refresh(&mut self, shared: &Shared, max: usize) -> ServiceResult<()> {
        let pending = shared.take();
        self.rescan_root |= pending.full_rescan;
        self.new_dirs.extend(pending.new_dirs);
        let mut incoming = pending.dirty;
        while let Some(path) = incoming.pop() {
            self.dirty.push(path);
        }
        if self.rescan_root {
            self.mark_tree(&self.root.clone())?;
            self.rescan_root = false;
        }
        while let Some(dir) = self.new_dirs.last().cloned() {
            // Anything but a directory (a file, or one already gone) has nothing to walk.
            if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                self.mark_tree(&dir)?;
            }
            self.new_dirs.pop();
        }
        while self.ready.len() < max.max(1) {
            let Some(path) = self.dirty.pop() else { break };
            self.check(&path);
        }
        Ok(())
    }

    /// Marks every flow-log file under `dir` dirty, in name order, and reports what cannot be
    /// read: once each (a warning, the metric and an invalid event, which is dead-lettered),
    /// until it is readable again. Walks retry it: every rescan, and after a change to it.
    fn mark_tree(&mut self, dir: &Path) -> ServiceResult<()> {
        let walk = match walk_flow_logs(dir, "") {
            Ok(walk) => walk,
            Err(e) if e.kind == ErrorKind::NotFound && dir != self.root => return Ok(()),
            Err(e) if e.kind == ErrorKind::NotFound => {
                if !self.root_missing {
                    tracing::error!(root = %dir.display(), "the watched directory is gone; waiting for it to come back");
                    self.root_missing = true;
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if dir == self.root && self.root_missing {
            tracing::info!(root = %dir.display(), "the watched directory is back");
            self.root_missing = false;
        }
        self.unreadable.retain(|p| !p.starts_with(dir) || walk.unreadable.iter().any(|u| &u.path == p));
        for u in walk.unreadable {
            if self.unreadable.insert(u.path.clone()) {
                if let Some(m) = &self.metrics {
                    m.unreadable_paths.inc();
                }
                tracing::warn!(path = %u.path.display(), error = %u.error, "cannot read this path; skipped and tried again at the next rescan");
                let reason = format!("cannot read {}: {}", u.path.display(), u.error);
                self.push_event(EventBody::Invalid { reason, raw: Vec::new() });
            }
        }
        for link in walk.symlinks {
            if self.symlinks.insert(link.clone()) {
                tracing::warn!(path = %link.display(), "symbolic link not followed; point --watch at its target or copy the files");
            }
        }
        for f in walk.found {
            self.dirty.push(f.path);
        }
        Ok(())
    }

    fn push_event(&mut self, body: EventBody) {
        let position = FeedPosition { sequence: self.next_sequence, event_offset: String::new() };
        self.next_sequence += 1;
        self.ready.push_back(FeedEvent { position, body });
    }

    /// Reads the current length of `path` and queues an event if it differs from the last reported.
    fn check(&mut self, path: &Path) {
        if !is_flow_log(path) {
            return;
        }
        let Some(blob) = blob_name_of(&self.root, path) else {
            tracing::warn!(path = %path.display(), "ignoring a path outside the root or not UTF-8");
            return;
        };
        // Symlinks are not followed, as in the tree walk, so both see the same files.
        let (len, modified) = match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => (meta.len(), meta.modified().ok()),
            Ok(meta) => {
                if meta.file_type().is_symlink() && self.symlinks.insert(path.to_path_buf()) {
                    tracing::warn!(path = %path.display(), "symbolic link not followed; point --watch at its target or copy the files");
                }
                return;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Forgotten, so a file recreated with the same length is reported again.
                self.reported.remove(&blob);
                return;
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read file length; waiting for its next change");
                return;
            }
        };
        if self.reported.get(&blob) == Some(&(len, modified)) || !self.paths.record(&blob, path) {
            return;
        }
        self.reported.insert(blob.clone(), (len, modified));
        let enqueued_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_millis() as i64);
        self.push_event(EventBody::Changed(BlobChanged {
            blob,
            content_length: len,
            sequencer: None,
            etag: None,
            enqueued_ms,
        }));
    }

    /// Hands out up to `max` ready events.
    pub fn take(&mut self, max: usize) -> Vec<FeedEvent> {
        let n = self.ready.len().min(max.max(1));
        self.ready.drain(..n).collect()
    }
}

/// Whether the watcher thread should mark `path` dirty or look into it as a new directory.
pub(super) fn is_flow_log(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()) == Some(FLOW_LOG_FILE)
}

/// Flags the degraded state; read (and cleared) by the partition.
pub(super) fn take_degraded(shared: &Shared) -> bool {
    shared.degraded.swap(false, Ordering::SeqCst)
}
