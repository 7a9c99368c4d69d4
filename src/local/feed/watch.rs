//! The native file-system watcher (inotify, FSEvents, ReadDirectoryChanges) feeding the tracker's pending work.
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use super::tracker::{Shared, is_flow_log};

/// Starts a recursive watch of `root`; `Err` means the platform refused (e.g. inotify limits)
/// and the caller should poll instead. Blocking: adding watches walks the tree.
pub(super) fn start(root: &Path, shared: Arc<Shared>) -> notify::Result<RecommendedWatcher> {
    // Symlinks are not followed, as in the tree walk: both must see the same set of files.
    let config = notify::Config::default().with_follow_symlinks(false);
    let watched = root.to_path_buf();
    let mut watcher = RecommendedWatcher::new(move |event| handle(&shared, &watched, event), config)?;
    watcher.watch(root, RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// Runs on the watcher's thread: only records work, never touches the disk.
fn handle(shared: &Shared, root: &Path, event: notify::Result<notify::Event>) {
    let event = match event {
        Ok(event) => event,
        Err(e) => {
            let limit = match &e.kind {
                notify::ErrorKind::MaxFilesWatch => true,
                notify::ErrorKind::Io(io) => matches!(io.raw_os_error(), Some(code) if is_limit(code)),
                _ => false,
            };
            tracing::warn!(error = %e, limit, "file watcher error; rescanning the tree");
            if limit {
                shared.degraded.store(true, Ordering::SeqCst);
            }
            // Whatever the error hid is found by walking the tree again.
            shared.update(|p| p.full_rescan = true);
            return;
        }
    };
    // The root itself removed (or moved away): the rescan notices, and the partition polls
    // until it is back. A change of permissions may make an unreadable directory readable.
    let root_gone = matches!(event.kind, EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)))
        && event.paths.iter().any(|p| p == root);
    if root_gone {
        shared.root_lost.store(true, Ordering::SeqCst);
    }
    if event.need_rescan() || root_gone {
        shared.update(|p| p.full_rescan = true);
        return;
    }
    // Our own range reads open the files: access events are noise.
    if matches!(event.kind, EventKind::Access(_)) {
        return;
    }
    // A directory created or moved in may hold files written before its watch was added.
    let may_be_new_dir =
        matches!(event.kind, EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_) | ModifyKind::Metadata(_)));
    shared.update(|p| {
        for path in event.paths {
            if is_flow_log(&path) {
                p.dirty.push(path);
            } else if may_be_new_dir {
                p.new_dirs.push(path);
            }
        }
    });
}

/// ENOSPC (inotify watch limit) and EMFILE/ENFILE (instances or descriptors), by their Linux values.
fn is_limit(code: i32) -> bool {
    cfg!(target_os = "linux") && matches!(code, 28 | 24 | 23)
}
