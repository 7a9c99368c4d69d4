//! Finding flow-log files under a root, shared by the blob listing and the local change feed so
//! both name files alike, and the naming rule itself.
//!
//! A file's blob name is its Azure name when its path has the Azure layout: the path from the
//! last `insights-logs-*` component (the container) on, e.g.
//! `insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/…/PT1H.json`, wherever
//! the watch root sits above or below that component. Row ids derive from the name, so pointing
//! `--watch` at the container, at its parent or at a directory holding several downloads gives
//! the same ids. A file outside that layout is named by its path relative to the watch root.
use std::fs::Metadata;
use std::path::{Component, Path, PathBuf};

use crate::domain::blob_name::BlobName;
use crate::pipeline::error::{ServiceError, ServiceResult};

/// The only file name that is a flow-log blob.
pub(crate) const FLOW_LOG_FILE: &str = "PT1H.json";

/// Azure's flow-log containers all start with this.
const CONTAINER_PREFIX: &str = "insights-logs-";

/// One flow-log file found by a walk.
#[derive(Debug)]
pub(crate) struct Found {
    pub blob: BlobName,
    pub path: PathBuf,
    pub metadata: Metadata,
}

/// A directory or file the walk could not read: skipped, reported by the caller, tried again on the next walk.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub path: PathBuf,
    pub error: String,
}

/// What a walk saw.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    pub found: Vec<Found>,
    pub unreadable: Vec<Unreadable>,
    /// Symbolic links named `PT1H.json` or leading to directories: not followed, reported.
    pub symlinks: Vec<PathBuf>,
}

/// The blob name of `path` under `root` (see the module documentation). `None` for paths
/// outside the root or not valid UTF-8 (a name must be a string). `root` should be canonical,
/// so that a container named by the root itself is seen.
pub(crate) fn blob_name_of(root: &Path, path: &Path) -> Option<BlobName> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for component in rel.components() {
        let Component::Normal(part) = component else { return None };
        parts.push(part.to_str()?);
    }
    if parts.is_empty() {
        return None;
    }
    let name = match parts.iter().rposition(|p| p.starts_with(CONTAINER_PREFIX)) {
        Some(i) => parts[i..].join("/"),
        None => {
            // The container may be the root or one of its ancestors.
            let above: Vec<&str> = root.components().filter_map(|c| c.as_os_str().to_str()).collect();
            match above.iter().rposition(|p| p.starts_with(CONTAINER_PREFIX)) {
                Some(i) => [&above[i..], &parts[..]].concat().join("/"),
                None => parts.join("/"),
            }
        }
    };
    Some(BlobName::new(name))
}

/// Every `PT1H.json` under `root` whose blob name starts with `prefix`, sorted by name.
///
/// Symlinks are not followed, so a link can neither loop the walk nor lead it out of the root;
/// they are listed in [`Walk::symlinks`]. Entries that vanish mid-walk are skipped (files come
/// and go). A subdirectory or file that cannot be read is listed in [`Walk::unreadable`] and the
/// walk goes on; only an unreadable root fails it.
pub(crate) fn walk_flow_logs(root: &Path, prefix: &str) -> ServiceResult<Walk> {
    let canonical = std::fs::canonicalize(root)
        .map_err(|e| ServiceError::from_io(format!("read directory {}", root.display()), e))?;
    let mut walk = Walk::default();
    let mut stack = vec![canonical.clone()];
    let mut is_root = true;
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if is_root => return Err(ServiceError::from_io(format!("read directory {}", root.display()), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                walk.unreadable.push(Unreadable { path: dir, error: e.to_string() });
                continue;
            }
        };
        is_root = false;
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    walk.unreadable.push(Unreadable { path: dir.clone(), error: e.to_string() });
                    break;
                }
            };
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                tracing::warn!(path = %path.display(), "skipping a path that is not UTF-8");
                continue;
            };
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    walk.unreadable.push(Unreadable { path, error: e.to_string() });
                    continue;
                }
            };
            if file_type.is_dir() {
                stack.push(path);
            } else if file_type.is_symlink() {
                if name == FLOW_LOG_FILE || std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                    walk.symlinks.push(path);
                }
            } else if file_type.is_file() && name == FLOW_LOG_FILE {
                let Some(blob) = blob_name_of(&canonical, &path).filter(|b| b.as_str().starts_with(prefix)) else {
                    continue;
                };
                match entry.metadata() {
                    Ok(metadata) => walk.found.push(Found { blob, path, metadata }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => walk.unreadable.push(Unreadable { path, error: e.to_string() }),
                }
            }
        }
    }
    walk.found.sort_by(|a, b| a.blob.cmp(&b.blob));
    Ok(walk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_start_at_the_container_wherever_the_root_is() {
        let file = "insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/S/y=2026/PT1H.json";
        let want = Some(BlobName::from(file));
        let path = PathBuf::from("/data/dl/").join(file);
        assert_eq!(blob_name_of(Path::new("/data/dl"), &path), want);
        assert_eq!(blob_name_of(Path::new("/data"), &path), want);
        assert_eq!(blob_name_of(Path::new("/data/dl/insights-logs-networksecuritygroupflowevent"), &path), want);
        assert_eq!(
            blob_name_of(Path::new("/data/dl/insights-logs-networksecuritygroupflowevent/resourceId="), &path),
            want
        );
        // Outside the layout: relative to the root.
        assert_eq!(
            blob_name_of(Path::new("/data"), Path::new("/data/a/b/PT1H.json")),
            Some(BlobName::from("a/b/PT1H.json"))
        );
        assert_eq!(blob_name_of(Path::new("/data"), Path::new("/elsewhere/PT1H.json")), None);
        assert_eq!(blob_name_of(Path::new("/data"), Path::new("/data")), None);
    }
}
