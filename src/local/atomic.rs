//! Crash-safe file replacement (temp file, fsync, rename, fsync the directory), shared by the local stores.
//!
//! Blocking: call from `spawn_blocking`.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::pipeline::error::{ServiceError, ServiceResult};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Temp files are hidden and end in `.tmp`, so readers and sweeps can tell them from data.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Replaces `path` with `bytes` so that after a crash the file holds either the old or the new
/// content, never a mix: the temp file sits in the same directory (rename is only atomic within
/// one file system), its data is on disk before the rename, and the directory is synced after it
/// so the rename itself survives a power loss.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> ServiceResult<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(ServiceError::permanent(format!("cannot write {}: no directory or file name", path.display())));
    };
    // Unique per process and call, so concurrent writers of different files never share one.
    let temp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let io = |what: &'static str| {
            let temp = temp.display().to_string();
            move |e: std::io::Error| ServiceError::from_io(format!("{what} {temp}"), e)
        };
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temp).map_err(io("create"))?;
        file.write_all(bytes).map_err(io("write"))?;
        file.sync_all().map_err(io("fsync"))?;
        drop(file);
        std::fs::rename(&temp, path)
            .map_err(|e| ServiceError::from_io(format!("rename {} to {}", temp.display(), path.display()), e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        // Best effort: a leftover temp is ignored by readers and removed when the store reopens.
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Makes entries created, renamed or removed in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> ServiceResult<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| ServiceError::from_io(format!("fsync directory {}", dir.display()), e))
    }
    // Windows cannot open a directory as a file; NTFS journals the rename itself.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Creates `dir` (and its parents) if missing, syncing the parent so the new entry is durable.
pub(crate) fn ensure_dir(dir: &Path) -> ServiceResult<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| ServiceError::from_io(format!("create directory {}", dir.display()), e))?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// Removes leftover temp files in `dir` (not recursive); returns how many.
pub(crate) fn remove_stray_temps(dir: &Path) -> ServiceResult<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(ServiceError::from_io(format!("read directory {}", dir.display()), e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| ServiceError::from_io(format!("read directory {}", dir.display()), e))?;
        if entry.file_name().to_str().is_some_and(is_temp_name) {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ServiceError::from_io(format!("remove {}", path.display()), e)),
            }
        }
    }
    Ok(removed)
}
