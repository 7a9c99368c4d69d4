//! Writes generated records into local `PT1H.json` files in place, with the block framing Azure uses.
//!
//! Each append overwrites the closing `]}` with `,<record>]}` by a positioned write, so bytes before
//! `len - 2` never change and the inode stays the same, exactly like an Azure append to a block blob.
//! A temp file + rename would look to the local blob store like a deleted and recreated blob.
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::AddAssign;
use std::path::{Path, PathBuf};

use super::Destination;
use super::generator::Append;

/// The first block of every flow-log blob.
pub const HEAD: &[u8] = b"{\"records\":[";
/// The last block of every flow-log blob.
pub const TAIL: &[u8] = b"]}";

/// What a write produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Blobs created (a series crossing an hour starts a new blob).
    pub blobs: u64,
    pub records: u64,
    pub tuples: u64,
    /// Bytes the blobs grew by, framing included (their total size when they started absent).
    pub bytes: u64,
}

impl AddAssign for WriteStats {
    fn add_assign(&mut self, other: WriteStats) {
        self.blobs += other.blobs;
        self.records += other.records;
        self.tuples += other.tuples;
        self.bytes += other.bytes;
    }
}

/// Appends one record to the blob file at `path`, creating it and its directories when absent.
/// Returns how many bytes the blob grew by and whether it was created.
pub fn append_record(path: &Path, record: &str, sync: bool) -> io::Result<(u64, bool)> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    let len = file.metadata()?.len();
    let created = len == 0;
    let mut block = Vec::with_capacity(record.len() + HEAD.len() + TAIL.len());
    let at = if created {
        block.extend_from_slice(HEAD);
        0
    } else {
        check_tail(&file, len)?;
        block.push(b',');
        len - TAIL.len() as u64
    };
    block.extend_from_slice(record.as_bytes());
    block.extend_from_slice(TAIL);
    write_at(&file, &block, at)?;
    if sync {
        file.sync_data()?;
    }
    // The new block overwrites the old closing `]}`, so the blob grows by two bytes less than written.
    let grown = if created { block.len() } else { block.len() - TAIL.len() };
    Ok((grown as u64, created))
}

/// Refuses to append to a file that is not a framed blob, rather than corrupting it further.
fn check_tail(file: &File, len: u64) -> io::Result<()> {
    let mut tail = [0u8; 2];
    if len >= (HEAD.len() + TAIL.len()) as u64 {
        read_at(file, &mut tail, len - 2)?;
        if tail == TAIL {
            return Ok(());
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a flow-log blob ending in `]}}` ({len} bytes); refusing to append"),
    ))
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, at)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, at)
}

#[cfg(not(unix))]
fn write_at(mut file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(at))?;
    file.write_all(buf)
}

#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(buf)
}

/// A directory standing in for a storage account: blob paths (container first) are relative to it.
#[derive(Clone, Debug)]
pub struct LocalDir {
    root: PathBuf,
    sync: bool,
}

impl LocalDir {
    /// Appends are made durable (`sync_data`) before the next, as a committed Azure block is.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDir { root: root.into(), sync: true }
    }

    /// Skips `sync_data`, for benchmarks that only need the bytes.
    pub fn without_sync(mut self) -> Self {
        self.sync = false;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn append(&self, append: &Append) -> io::Result<WriteStats> {
        let path = self.root.join(&append.path);
        let (bytes, created) = append_record(&path, &append.record_json, self.sync)
            .map_err(|e| io::Error::new(e.kind(), format!("appending to {}: {e}", path.display())))?;
        Ok(WriteStats { blobs: u64::from(created), records: 1, tuples: append.tuples as u64, bytes })
    }

    pub fn append_all(&self, appends: impl IntoIterator<Item = Append>) -> io::Result<WriteStats> {
        let mut stats = WriteStats::default();
        for append in appends {
            stats += self.append(&append)?;
        }
        Ok(stats)
    }
}

impl Destination for LocalDir {
    async fn write_minute(&mut self, appends: Vec<Append>) -> anyhow::Result<WriteStats> {
        // File I/O (and fsync) would stall the async runtime; run it on the blocking pool.
        let dir = self.clone();
        Ok(tokio::task::spawn_blocking(move || dir.append_all(appends)).await??)
    }
}

/// Writes `appends` under `root` with durable in-place appends; the blocking entry point for tests
/// and benchmarks.
pub fn write_local(root: impl Into<PathBuf>, appends: impl IntoIterator<Item = Append>) -> io::Result<WriteStats> {
    LocalDir::new(root).append_all(appends)
}
