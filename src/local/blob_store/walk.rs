//! Finding flow-log files under a root, shared by the blob listing and the local change feed so both name files alike.
use std::fs::Metadata;
use std::path::{Path, PathBuf};

use crate::domain::blob_name::BlobName;
use crate::pipeline::error::{ServiceError, ServiceResult};

/// The only file name that is a flow-log blob.
pub(crate) const FLOW_LOG_FILE: &str = "PT1H.json";

/// One flow-log file found by a walk.
#[derive(Debug)]
pub(crate) struct Found {
    pub blob: BlobName,
    pub path: PathBuf,
    pub metadata: Metadata,
}

/// The blob name of `path` under `root`: its components joined with `/`, exactly as the walk
/// builds them. `None` for paths outside the root or not valid UTF-8 (a name must be a string).
pub(crate) fn blob_name_of(root: &Path, path: &Path) -> Option<BlobName> {
    let rel = path.strip_prefix(root).ok()?;
    let mut name = String::new();
    for component in rel.components() {
        let std::path::Component::Normal(part) = component else { return None };
        if !name.is_empty() {
            name.push('/');
        }
        name.push_str(part.to_str()?);
    }
    (!name.is_empty()).then(|| BlobName::new(name))
}

/// Every `PT1H.json` under `root` whose name starts with `prefix`, sorted by name.
///
/// Symlinks are not followed, so a link can neither loop the walk nor lead it out of the root.
/// Entries that vanish mid-walk are skipped (files come and go); any other error fails the walk
/// with the path, because a listing that silently missed a directory would lose its blobs.
pub(crate) fn walk_flow_logs(root: &Path, prefix: &str) -> ServiceResult<Vec<Found>> {
    let mut found = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    let mut is_root = true;
    while let Some((dir, rel)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !is_root => continue,
            Err(e) => return Err(ServiceError::from_io(format!("read directory {}", dir.display()), e)),
        };
        is_root = false;
        for entry in entries {
            let entry = entry.map_err(|e| ServiceError::from_io(format!("read directory {}", dir.display()), e))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                tracing::warn!(path = %path.display(), "skipping a path that is not UTF-8");
                continue;
            };
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ServiceError::from_io(format!("file type of {}", path.display()), e)),
            };
            let child = format!("{rel}{name}");
            if file_type.is_dir() {
                let child_dir = format!("{child}/");
                // Descend only where names can still match the prefix.
                if child_dir.starts_with(prefix) || prefix.starts_with(&child_dir) {
                    stack.push((path, child_dir));
                }
            } else if file_type.is_file() && name == FLOW_LOG_FILE && child.starts_with(prefix) {
                match entry.metadata() {
                    Ok(metadata) => found.push(Found { blob: BlobName::new(child), path, metadata }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(ServiceError::from_io(format!("metadata of {}", path.display()), e)),
                }
            }
        }
    }
    found.sort_by(|a, b| a.blob.cmp(&b.blob));
    Ok(found)
}
