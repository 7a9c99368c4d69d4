//! NDJSON row sink writing to stdout or appending to a file, durably before `send` returns.
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::row_sink::{RowBatch, RowSink};

/// How far back a read goes at a time when looking for the last complete line.
const REPAIR_WINDOW: usize = 64 * 1024;

pub struct NdjsonFileSink {
    target: Target,
}

enum Target {
    Stdout,
    File(Arc<Mutex<Output>>),
}

struct Output {
    file: File,
    path: PathBuf,
    /// Length of the file up to the last batch fully written: a failed write is cut back to it,
    /// so a half-written batch never sits in front of the next one.
    good_len: u64,
    /// A failed write whose cut-back failed too: retried before the next write.
    needs_cut: bool,
}

impl NdjsonFileSink {
    /// Rows go to standard output; a closed reader (broken pipe) is a permanent error.
    pub fn stdout() -> Self {
        NdjsonFileSink { target: Target::Stdout }
    }

    /// Appends rows to `path` (created if missing, never truncated beyond a torn last line).
    ///
    /// A crash mid-write can leave a last line without its `\n`. Its rows' offsets were never
    /// committed, so they will be sent again: the torn part is cut off here, or it would glue
    /// itself to the next row and break both. The file is locked for the sink's lifetime, as a
    /// second writer's repair would cut this one's line in flight.
    pub async fn open_file(path: impl Into<PathBuf>) -> ServiceResult<Self> {
        let path = path.into();
        let output = tokio::task::spawn_blocking(move || open_and_repair(path)).await.map_err(join_error)??;
        Ok(NdjsonFileSink { target: Target::File(Arc::new(Mutex::new(output))) })
    }

    /// The output file, when writing to one.
    pub fn path(&self) -> Option<PathBuf> {
        match &self.target {
            Target::Stdout => None,
            Target::File(output) => Some(output.lock().unwrap_or_else(|p| p.into_inner()).path.clone()),
        }
    }
}

fn join_error(e: tokio::task::JoinError) -> ServiceError {
    ServiceError::with_source(ErrorKind::Permanent, "row sink task failed", e)
}

fn open_and_repair(path: PathBuf) -> ServiceResult<Output> {
    let io = |what: &str, e| ServiceError::from_io(format!("{what} {}", path.display()), e);
    let existed = path.exists();
    let file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(|e| io("open", e))?;
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => {
            ServiceError::permanent(format!("{} is in use by another writer (locked)", path.display()))
        }
        std::fs::TryLockError::Error(e) => io("lock", e),
    })?;
    if !existed && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::local::atomic::sync_dir(dir)?;
    }
    let len = file.metadata().map_err(|e| io("metadata of", e))?.len();
    let keep = complete_prefix_len(&file, len).map_err(|e| io("read", e))?;
    if keep < len {
        file.set_len(keep).map_err(|e| io("truncate torn last line of", e))?;
        file.sync_all().map_err(|e| io("fsync", e))?;
        tracing::warn!(path = %path.display(), bytes_cut = len - keep, "cut a torn last line left by an interrupted write");
    }
    Ok(Output { file, path, good_len: keep, needs_cut: false })
}

/// Length of the file up to and including its last `\n` (0 when there is none).
fn complete_prefix_len(mut file: &File, len: u64) -> std::io::Result<u64> {
    let mut buf = vec![0; REPAIR_WINDOW];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(REPAIR_WINDOW as u64);
        let window = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(window)?;
        if let Some(i) = window.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

impl Output {
    fn append(&mut self, segments: &[Bytes]) -> ServiceResult<()> {
        if self.needs_cut {
            self.cut_back()?;
        }
        let written = segments
            .iter()
            .try_for_each(|s| self.file.write_all(s))
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.good_len += segments.iter().map(|s| s.len() as u64).sum::<u64>();
                Ok(())
            }
            Err(e) => {
                // Part of the batch may be in the file; the engine will resend all of it.
                self.needs_cut = true;
                if let Err(cut) = self.cut_back() {
                    tracing::warn!(error = %cut, "could not cut back a failed write; retrying before the next one");
                }
                Err(ServiceError::from_io(format!("append to {}", self.path.display()), e))
            }
        }
    }

    fn cut_back(&mut self) -> ServiceResult<()> {
        self.file
            .set_len(self.good_len)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| ServiceError::from_io(format!("truncate {} after a failed write", self.path.display()), e))?;
        self.needs_cut = false;
        Ok(())
    }
}

fn write_stdout(segments: &[Bytes]) -> ServiceResult<()> {
    // The lock keeps a batch's lines together even if something else prints to stdout.
    write_stream(&mut std::io::stdout().lock(), segments)
}

/// A closed reader (broken pipe) will not come back: permanent. Anything else may pass.
fn write_stream(out: &mut impl Write, segments: &[Bytes]) -> ServiceResult<()> {
    segments.iter().try_for_each(|s| out.write_all(s)).and_then(|()| out.flush()).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::BrokenPipe { ErrorKind::Permanent } else { ErrorKind::Transient };
        ServiceError::with_source(kind, "write rows to stdout", e)
    })
}

impl RowSink for NdjsonFileSink {
    async fn send(&self, batch: RowBatch<'_>) -> ServiceResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if !batch.whole_lines() {
            // Appending it would glue the next batch's first row onto its last one.
            return Err(ServiceError::permanent(format!("rows of {} do not end with a newline", batch.blob)));
        }
        // Owned, so the write runs on the blocking pool (where it completes even if this future
        // is dropped) without a copy.
        let bytes = batch.segments;
        match &self.target {
            Target::Stdout => tokio::task::spawn_blocking(move || write_stdout(&bytes)).await.map_err(join_error)?,
            Target::File(output) => {
                let output = output.clone();
                tokio::task::spawn_blocking(move || {
                    output.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).append(&bytes)
                })
                .await
                .map_err(join_error)?
            }
        }
    }
}

#[cfg(test)]
mod tests;
