//! Crash-safe file offset store with the same compare-and-swap contract as the Table store.
//!
//! Layout: `<dir>/<pk>/<row_key>.json` with the keys of [`entity_keys`], so 256 subdirectories
//! keep directories small. Each file holds the blob name, a version and the [`OffsetState`].

use crate::local::atomic;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::domain::blob_name::BlobName;
use crate::domain::offset::OffsetState;
use crate::domain::offset::keys::entity_keys;
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::offset_store::{OffsetStore, Version};

const STRIPES: usize = 256;
const LOCK_FILE: &str = ".lock";

/// One blob's offset file.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    blob: String,
    version: u64,
    state: OffsetState,
}

pub struct LocalOffsetStore {
    dir: PathBuf,
    /// One lock per subdirectory. They are std mutexes taken inside the blocking task, not tokio
    /// ones held across `.await`: a caller that drops its `save` future must not release the
    /// lock while its read-compare-write is still running on the blocking pool.
    stripes: Arc<Vec<Mutex<()>>>,
    /// Holds an exclusive advisory lock on `<dir>/.lock` while the store lives: a second process
    /// on the same directory would break compare-and-swap, which only this process's locks guard.
    _dir_lock: File,
}

impl LocalOffsetStore {
    /// Opens (creating if needed) the store in `dir`. Fails with a permanent error when another
    /// process, or another store in this one, has the directory open. Removes temp files left by a crash.
    pub async fn open(dir: impl Into<PathBuf>) -> ServiceResult<Self> {
        let dir = dir.into();
        blocking(move || {
            atomic::ensure_dir(&dir)?;
            let lock_path = dir.join(LOCK_FILE);
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| ServiceError::from_io(format!("open {}", lock_path.display()), e))?;
            lock.try_lock().map_err(|e| match e {
                std::fs::TryLockError::WouldBlock => ServiceError::permanent(format!(
                    "offset directory {} is in use by another flowlog process ({} is locked)",
                    dir.display(),
                    lock_path.display()
                )),
                std::fs::TryLockError::Error(e) => ServiceError::from_io(format!("lock {}", lock_path.display()), e),
            })?;
            // Holding the lock, no writer can be mid-save: any temp file is a crash leftover.
            let mut removed = 0;
            for stripe in 0..STRIPES {
                removed += atomic::remove_stray_temps(&dir.join(format!("{stripe:02x}")))?;
            }
            if removed > 0 {
                tracing::info!(dir = %dir.display(), removed, "removed temp files left by an interrupted save");
            }
            let stripes = Arc::new((0..STRIPES).map(|_| Mutex::new(())).collect());
            Ok(LocalOffsetStore { dir, stripes, _dir_lock: lock })
        })
        .await
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stripe index and file of `blob`.
    fn locate(&self, blob: &BlobName) -> (usize, PathBuf) {
        let keys = entity_keys(blob);
        // The partition key is two hex digits by construction.
        let stripe = usize::from_str_radix(&keys.partition_key, 16).unwrap_or(0) % STRIPES;
        (stripe, self.dir.join(&keys.partition_key).join(format!("{}.json", keys.row_key)))
    }
}

/// Reads one offset file. A file that exists but does not parse is a permanent error naming it,
/// never "absent": treating it as absent would restart the blob from 0 and duplicate its rows.
fn read_entry(path: &Path, blob: Option<&BlobName>) -> ServiceResult<Option<Stored>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ServiceError::from_io(format!("read offset file {}", path.display()), e)),
    };
    let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| {
        ServiceError::with_source(ErrorKind::Permanent, format!("corrupt offset file {}", path.display()), e)
    })?;
    if let Some(blob) = blob.filter(|b| b.as_str() != stored.blob) {
        return Err(ServiceError::permanent(format!(
            "offset file {} belongs to blob {:?}, not {blob:?}",
            path.display(),
            stored.blob
        )));
    }
    Ok(Some(stored))
}

/// The version after `previous`. Strictly increasing per file, and seeded from the clock in
/// microseconds: after `sweep` deletes a file and the blob is inserted again, a plain counter
/// would restart at 1, and a writer still holding the old incarnation's "1" would win a CAS it
/// must lose. Clock-seeded versions cannot repeat unless the clock jumps back past them.
fn next_version(previous: Option<u64>) -> u64 {
    let now_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
    now_us.max(previous.map_or(1, |p| p.saturating_add(1)))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ServiceResult<T> + Send + 'static) -> ServiceResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::with_source(ErrorKind::Permanent, "offset store task failed", e))?
}

impl OffsetStore for LocalOffsetStore {
    async fn load(&self, blob: &BlobName) -> ServiceResult<Option<(OffsetState, Version)>> {
        // No lock: rename is atomic, so a reader sees the old file or the new one.
        let (_, path) = self.locate(blob);
        let blob = blob.clone();
        let stored = blocking(move || read_entry(&path, Some(&blob))).await?;
        Ok(stored.map(|s| (s.state, Version(s.version.to_string()))))
    }

    async fn save(&self, blob: &BlobName, state: &OffsetState, expected: Option<&Version>) -> ServiceResult<Version> {
        let (stripe, path) = self.locate(blob);
        let (stripes, blob, state) = (self.stripes.clone(), blob.clone(), state.clone());
        let expected = expected.map(|v| v.0.clone());
        blocking(move || {
            let _guard = stripes[stripe].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let current = read_entry(&path, Some(&blob))?.map(|s| s.version);
            if current.map(|v| v.to_string()) != expected {
                return Err(ServiceError::conflict(format!(
                    "offset of {blob} ({}): expected version {expected:?}, found {current:?}",
                    path.display()
                )));
            }
            if let Some(dir) = path.parent() {
                atomic::ensure_dir(dir)?;
            }
            let stored = Stored { blob: blob.to_string(), version: next_version(current), state };
            let bytes = serde_json::to_vec_pretty(&stored)
                .map_err(|e| ServiceError::with_source(ErrorKind::Permanent, format!("encode offset of {blob}"), e))?;
            atomic::write_atomic(&path, &bytes)?;
            Ok(Version(stored.version.to_string()))
        })
        .await
    }

    async fn pending(&self) -> ServiceResult<Vec<(BlobName, OffsetState)>> {
        let dir = self.dir.clone();
        blocking(move || {
            let mut found = Vec::new();
            for stripe in 0..STRIPES {
                for stored in entries(&dir.join(format!("{stripe:02x}")))? {
                    if stored.state.pending.is_some() {
                        found.push((BlobName::new(stored.blob.as_str()), stored.state));
                    }
                }
            }
            Ok(found)
        })
        .await
    }

    async fn sweep(&self, cutoff_ms: i64) -> ServiceResult<u64> {
        let mut deleted = 0;
        for stripe in 0..STRIPES {
            let (stripes, dir) = (self.stripes.clone(), self.dir.join(format!("{stripe:02x}")));
            deleted += blocking(move || {
                // Under the stripe lock, so a save cannot land between our read and the delete.
                let _guard = stripes[stripe].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                sweep_dir(&dir, cutoff_ms)
            })
            .await?;
        }
        Ok(deleted)
    }
}

/// Deletes the offset files in `dir` last updated before `cutoff_ms`. Corrupt files are kept and
/// reported, not deleted: they are evidence, and `load` keeps refusing them until someone looks.
fn sweep_dir(dir: &Path, cutoff_ms: i64) -> ServiceResult<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(ServiceError::from_io(format!("read directory {}", dir.display()), e)),
    };
    let mut deleted = 0;
    for entry in entries {
        let path = entry.map_err(|e| ServiceError::from_io(format!("read directory {}", dir.display()), e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if atomic::is_temp_name(name) || !name.ends_with(".json") {
            continue;
        }
        match read_entry(&path, None) {
            Ok(Some(stored)) if stored.state.updated_at_ms < cutoff_ms => match std::fs::remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ServiceError::from_io(format!("remove {}", path.display()), e)),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "offset sweep skipped an unreadable file"),
        }
    }
    // Deletions are not synced: one that a crash undoes only brings back a stale entry for the next sweep.
    Ok(deleted)
}

/// Every readable offset file in `dir` (a missing directory has none; corrupt files are skipped
/// with a warning, as the sweep does).
fn entries(dir: &Path) -> ServiceResult<Vec<Stored>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ServiceError::from_io(format!("read directory {}", dir.display()), e)),
    };
    let mut found = Vec::new();
    for entry in listing {
        let path = entry.map_err(|e| ServiceError::from_io(format!("read directory {}", dir.display()), e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if atomic::is_temp_name(name) || !name.ends_with(".json") {
            continue;
        }
        match read_entry(&path, None) {
            Ok(Some(stored)) => found.push(stored),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "skipped an unreadable offset file"),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
