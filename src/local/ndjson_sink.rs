//! NDJSON row sink writing to stdout or appending to a file, durably before `send` returns.
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::row_sink::{RowBatch, RowSink};

/// How far back a read goes at a time when looking for the last complete line.
const REPAIR_WINDOW: usize = 64 * 1024;

/// How every row line starts: what tells a file flowlog wrote from any other.
const ROW_START: &[u8] = b"{\"id\":";

pub struct NdjsonFileSink {
    target: Target,
    /// Set when the reader of the output went away (broken pipe): nothing more can be delivered.
    closed: Arc<AtomicBool>,
    /// Cancelled on a broken pipe, so the process stops instead of dead-lettering every event.
    on_closed: CancellationToken,
}

enum Target {
    Stdout,
    File(Arc<Mutex<Output>>),
}

struct Output {
    file: File,
    path: PathBuf,
    /// A regular file: synced, cut back after a failed write. Pipes and devices (`/dev/null`,
    /// `/dev/stdout`) can be neither, and need not be.
    regular: bool,
    /// Length of the file up to the last batch fully written: a failed write is cut back to it,
    /// so a half-written batch never sits in front of the next one.
    good_len: u64,
    /// A failed write whose cut-back failed too: retried before the next write.
    needs_cut: bool,
}

impl NdjsonFileSink {
    /// Rows go to standard output; a closed reader (broken pipe) is a permanent error.
    pub fn stdout() -> Self {
        NdjsonFileSink::with_target(Target::Stdout)
    }

    fn with_target(target: Target) -> Self {
        NdjsonFileSink { target, closed: Arc::default(), on_closed: CancellationToken::new() }
    }

    /// Cancels `token` when the output's reader goes away (broken pipe).
    pub fn with_stop_on_close(mut self, token: CancellationToken) -> Self {
        self.on_closed = token;
        self
    }

    /// Whether the output's reader went away: rows could not be delivered any more.
    pub fn output_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Appends rows to `path` (created if missing, never truncated beyond a torn last line).
    ///
    /// A crash mid-write can leave a last line without its `\n`. Its rows' offsets were never
    /// committed, so they will be sent again: the torn part is cut off here, or it would glue
    /// itself to the next row and break both. The file is locked for the sink's lifetime, as a
    /// second writer's repair would cut this one's line in flight.
    ///
    /// A non-empty file that flowlog did not write (its first line, or its torn last line, is
    /// not a row) is refused, never modified. Anything but a regular file (a pipe, `/dev/null`)
    /// is written to as it is: no lock, no repair, no fsync.
    pub async fn open_file(path: impl Into<PathBuf>) -> ServiceResult<Self> {
        let path = path.into();
        let output = tokio::task::spawn_blocking(move || open_and_repair(path)).await.map_err(join_error)??;
        Ok(NdjsonFileSink::with_target(Target::File(Arc::new(Mutex::new(output)))))
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
    if std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
        let file = OpenOptions::new().append(true).open(&path).map_err(|e| io("open", e))?;
        return Ok(Output { file, path, regular: false, good_len: 0, needs_cut: false });
    }
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
    let not_ours = |which: &str| {
        ServiceError::permanent(format!(
            "{} exists and was not written by flowlog (its {which} line is not a row); flowlog \
             appends only to its own output and never modifies other files: choose another path",
            path.display()
        ))
    };
    if len > 0 && !starts_like_a_row(&file, 0).map_err(|e| io("read", e))? {
        return Err(not_ours("first"));
    }
    if keep < len && !starts_like_a_row(&file, keep).map_err(|e| io("read", e))? {
        return Err(not_ours("last"));
    }
    if keep < len {
        file.set_len(keep).map_err(|e| io("truncate torn last line of", e))?;
        file.sync_all().map_err(|e| io("fsync", e))?;
        tracing::warn!(path = %path.display(), bytes_cut = len - keep, "cut a torn last line left by an interrupted write");
    }
    Ok(Output { file, path, regular: true, good_len: keep, needs_cut: false })
}

/// Whether the line starting at byte `at` starts like a row (or is a torn start of one).
fn starts_like_a_row(mut file: &File, at: u64) -> std::io::Result<bool> {
    let mut buf = [0; ROW_START.len()];
    file.seek(SeekFrom::Start(at))?;
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(ROW_START.starts_with(&buf[..n]))
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
        let regular = self.regular;
        let written = segments
            .iter()
            .try_for_each(|s| self.file.write_all(s))
            .and_then(|()| self.file.flush())
            .and_then(|()| if regular { self.file.sync_data() } else { Ok(()) });
        match written {
            Err(e) if !self.regular => Err(ServiceError::from_io(format!("write to {}", self.path.display()), e)),
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
        let result = match &self.target {
            Target::Stdout => tokio::task::spawn_blocking(move || write_stdout(&bytes)).await.map_err(join_error)?,
            Target::File(output) => {
                let output = output.clone();
                tokio::task::spawn_blocking(move || {
                    output.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).append(&bytes)
                })
                .await
                .map_err(join_error)?
            }
        };
        if let Err(e) = &result
            && is_broken_pipe(e)
            && !self.closed.swap(true, Ordering::SeqCst)
        {
            // Not an error of flowlog's: the run ends with one line saying what happened.
            tracing::info!(error = %e, "the output's reader went away (broken pipe); stopping");
            self.on_closed.cancel();
        }
        result
    }

    fn closed(&self) -> bool {
        self.output_closed()
    }
}

fn is_broken_pipe(e: &ServiceError) -> bool {
    let io = e.source.as_deref().and_then(|s| s.downcast_ref::<std::io::Error>());
    io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests;
