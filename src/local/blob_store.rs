//! File-system blob store: a blob is a file under a root directory, named by its Azure name
//! (see `walk.rs` for the naming rule) or, outside the Azure layout, its relative path.
mod confined;
mod walk;

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::domain::blob_name::BlobName;
use crate::pipeline::blob_store::{BlobListing, BlobProperties, BlobStore, ChunkStream};
use crate::pipeline::error::{ServiceError, ServiceResult};

pub(crate) use walk::{FLOW_LOG_FILE, blob_name_of, walk_flow_logs};

/// Default size of the chunks `read_range` yields: bounds memory per read.
pub const DEFAULT_CHUNK_SIZE: usize = 1024 * 1024;

/// Where each blob name found by a walk lives: names no longer spell the path (an Azure name
/// starts at its container, wherever that sits under the root), so the walkers record it here.
#[derive(Clone, Debug, Default)]
pub struct BlobPaths(Arc<RwLock<HashMap<BlobName, PathBuf>>>);

impl BlobPaths {
    /// Records `path` as the file of `blob`. A second file with the same name (two copies of one
    /// Azure blob under different directories) is refused, with a warning, while the first
    /// exists: both would share offsets and row ids.
    pub fn record(&self, blob: &BlobName, path: &Path) -> bool {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        match map.get(blob) {
            Some(known) if known == path => true,
            Some(known) if known.symlink_metadata().is_ok() => {
                tracing::warn!(blob = %blob, path = %path.display(), first = %known.display(), "two files have the same blob name; only the first is read");
                false
            }
            _ => {
                map.insert(blob.clone(), path.to_path_buf());
                true
            }
        }
    }

    fn get(&self, blob: &BlobName) -> Option<PathBuf> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).get(blob).cloned()
    }
}

/// Blobs are the files under `root`; names are untrusted and confined to it.
#[derive(Clone, Debug)]
pub struct LocalBlobStore {
    root: PathBuf,
    chunk_size: usize,
    paths: BlobPaths,
}

impl LocalBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBlobStore { root: root.into(), chunk_size: DEFAULT_CHUNK_SIZE, paths: BlobPaths::default() }
    }

    /// The name-to-file map, to share with the local change feed that finds the files.
    pub fn paths(&self) -> BlobPaths {
        self.paths.clone()
    }

    /// Range reads yield chunks of at most `chunk_size` bytes (at least 1).
    pub fn with_chunk_size(mut self, chunk_size: usize) -> Self {
        self.chunk_size = chunk_size.max(1);
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file behind `blob`: where a walk found it, else `root/<name>`. Names arrive from
    /// events, so anything that could leave the root (absolute paths, `..`) or that aliases
    /// another name (`a//b`, `./a`) is refused: one file must have exactly one name, or its
    /// offsets and row ids would split in two.
    pub fn resolve(&self, blob: &BlobName) -> ServiceResult<PathBuf> {
        let (base, rel) = self.locate(blob)?;
        Ok(base.join(rel))
    }

    /// The directory `blob`'s file is opened under and its path below it: the root as given
    /// for names, the canonical root the walk started from for files it found.
    fn locate(&self, blob: &BlobName) -> ServiceResult<(PathBuf, PathBuf)> {
        if let Some(path) = self.paths.get(blob) {
            if let Ok(rel) = path.strip_prefix(&self.root) {
                return Ok((self.root.clone(), rel.to_path_buf()));
            }
            let canonical = std::fs::canonicalize(&self.root)
                .map_err(|e| ServiceError::from_io(format!("read directory {}", self.root.display()), e))?;
            let rel = path.strip_prefix(&canonical).map_err(|_| {
                ServiceError::permanent(format!("{} is not under {}", path.display(), canonical.display()))
            })?;
            return Ok((canonical.clone(), rel.to_path_buf()));
        }
        let name = blob.as_str();
        let refuse = |why: &str| ServiceError::permanent(format!("blob name {name:?} refused: {why}"));
        if name.is_empty() {
            return Err(refuse("empty"));
        }
        let mut path = PathBuf::new();
        for part in name.split('/') {
            if part.is_empty() {
                return Err(refuse("absolute, or has an empty component"));
            }
            if part.contains('\0') {
                return Err(refuse("contains NUL"));
            }
            // Platform rules decide what else is special (`..`, `.`, `C:` or `\` on Windows).
            let mut components = Path::new(part).components();
            match (components.next(), components.next()) {
                (Some(Component::Normal(c)), None) if c == part => path.push(part),
                _ => return Err(refuse("has a relative, root or prefix component")),
            }
        }
        Ok((self.root.clone(), path))
    }

    /// Opens `blob`'s file without following links or blocking (see `confined.rs`): every
    /// property and byte of one call comes from this one descriptor.
    async fn open(&self, blob: &BlobName) -> ServiceResult<(std::fs::File, Metadata, PathBuf)> {
        let (base, rel) = self.locate(blob)?;
        let path = base.join(&rel);
        let shown = path.clone();
        let opened = tokio::task::spawn_blocking(move || confined::open_under(&base, &rel)).await.map_err(|e| {
            ServiceError::with_source(crate::pipeline::error::ErrorKind::Permanent, "open task failed", e)
        })?;
        match opened {
            Ok(o) => Ok((o.file, o.metadata, shown)),
            Err(confined::OpenError::Io(e)) => Err(ServiceError::from_io(format!("open {}", shown.display()), e)),
            Err(confined::OpenError::NotRegular(what)) => {
                Err(ServiceError::permanent(format!("{} is {what}, not a regular file: not read", shown.display())))
            }
        }
    }
}

/// Properties from file metadata.
///
/// `created_ms` is the file's birth time when the platform reports one (statx on Linux), else
/// `None`, which makes the engine fall back to "shorter than the stored offset means recreated".
/// The inode number is deliberately NOT folded into it: ext4 and tmpfs hand a freed inode number
/// straight to the next file created, so a deleted and recreated `PT1H.json` very often keeps its
/// inode, the one case it would have to catch; and `reconcile` orders incarnations by comparing
/// `created_ms` ("the newer blob wins"), which a mix of time and inode would make meaningless.
pub(crate) fn properties_of(meta: &Metadata) -> BlobProperties {
    let created_ms = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok());
    BlobProperties { content_length: meta.len(), created_ms }
}

impl BlobStore for LocalBlobStore {
    async fn properties(&self, blob: &BlobName) -> ServiceResult<BlobProperties> {
        let (_, meta, _) = self.open(blob).await?;
        Ok(properties_of(&meta))
    }

    async fn read_range(&self, blob: &BlobName, range: Range<u64>) -> ServiceResult<ChunkStream> {
        let (file, meta, path) = self.open(blob).await?;
        let ctx = |what: &str| format!("{what} {}", path.display());
        let mut file = tokio::fs::File::from_std(file);
        // Length of the file we actually opened, not of whatever the name points to later.
        let len = meta.len();
        if range.start > range.end || range.end > len {
            return Err(ServiceError::permanent(format!(
                "range {}..{} outside {} of {len} bytes",
                range.start,
                range.end,
                path.display()
            )));
        }
        file.seek(SeekFrom::Start(range.start)).await.map_err(|e| ServiceError::from_io(ctx("seek in"), e))?;
        let chunk_size = self.chunk_size as u64;
        let state = (file, range.end - range.start, path);
        let stream = futures::stream::try_unfold(state, move |(mut file, remaining, path)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            // Both bounded by chunk_size, a usize, so the cast cannot truncate.
            let mut buf = vec![0; remaining.min(chunk_size) as usize];
            if let Err(e) = file.read_exact(&mut buf).await {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    // The file shrank under us (truncated or replaced): a retry re-reads its
                    // properties and re-plans, so this is not the data's fault.
                    return Err(ServiceError::transient(format!("{} shrank while being read", path.display())));
                }
                return Err(ServiceError::from_io(format!("read {}", path.display()), e));
            }
            let remaining = remaining - buf.len() as u64;
            Ok(Some((Bytes::from(buf), (file, remaining, path))))
        });
        Ok(stream.boxed())
    }

    /// Files are rewritten in place, replaced by renamed copies and preallocated by downloaders.
    fn checks_content(&self) -> bool {
        true
    }

    async fn list(&self, prefix: &str) -> ServiceResult<Vec<BlobListing>> {
        let (root, prefix) = (self.root.clone(), prefix.to_string());
        let walk = tokio::task::spawn_blocking(move || walk_flow_logs(&root, &prefix)).await.map_err(|e| {
            ServiceError::with_source(crate::pipeline::error::ErrorKind::Permanent, "listing task failed", e)
        })??;
        for u in &walk.unreadable {
            tracing::warn!(path = %u.path.display(), error = %u.error, "cannot read this path; its blobs are not listed");
        }
        for link in &walk.symlinks {
            tracing::warn!(path = %link.display(), "symbolic link not followed; point --watch at its target or copy the files");
        }
        let listing = walk.found.into_iter().filter(|f| self.paths.record(&f.blob, &f.path));
        Ok(listing.map(|f| BlobListing { blob: f.blob, properties: properties_of(&f.metadata) }).collect())
    }
}

#[cfg(test)]
mod tests;
