//! Processing of one blob in the commit order of DESIGN.md section 4:
//! load offset → read and parse `[O, L-2)` → dead letters → send rows → compare-and-swap offset.
use futures::StreamExt;

use super::Engine;
use super::collector::Collector;
use crate::domain::blob_name::BlobName;
use crate::domain::flatten::RangeFlattener;
use crate::domain::offset::{OffsetState, Plan, Reconcile, plan_read, reconcile};
use crate::domain::row::id::BlobIdent;
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::offset_store::{OffsetStore, Version};
use crate::pipeline::row_sink::{RowBatch, RowSink};

/// How one attempt at a blob ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Nothing new past the stored offset (duplicate, stale or already-read event).
    UpToDate,
    /// Rows delivered and the offset committed from `from` to `to`.
    Processed { from: u64, to: u64, rows: u64 },
    /// The blob does not exist (any more).
    Gone,
    /// Another worker committed past us while we read: what we sent were duplicates.
    Superseded { rows: u64 },
}

/// The offset being advanced and the version it was loaded at.
struct Cursor {
    state: OffsetState,
    version: Option<Version>,
}

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// One attempt; the caller retries transient errors. Safe to repeat at any point: offsets
    /// only move forward through compare-and-swap, so a repeat re-sends at most the rows whose
    /// offset commit did not happen, with the same ids.
    pub async fn process_blob(&self, blob: &BlobName) -> ServiceResult<BlobOutcome> {
        let loaded = self.offsets.load(blob).await?;
        let props = match self.blobs.properties(blob).await {
            Ok(p) => p,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(BlobOutcome::Gone),
            Err(e) => return Err(e),
        };
        let (start, end, recreated) =
            match plan_read(loaded.as_ref().map(|(s, _)| s), props.content_length, props.created_ms) {
                Plan::UpToDate => return Ok(BlobOutcome::UpToDate),
                Plan::Read { start, end, recreated } => (start, end, recreated),
            };
        self.metrics.blob_lag_bytes.observe((end - start) as f64);
        if recreated {
            tracing::info!(blob = %blob, "blob was recreated; reading it again from the start");
        }
        let (mut stored, version) = match loaded {
            Some((s, v)) => (s, Some(v)),
            None => (
                OffsetState {
                    offset: 0,
                    blob_created_ms: None,
                    last_content_length: 0,
                    rows_emitted: 0,
                    updated_at_ms: 0,
                },
                None,
            ),
        };
        if recreated {
            stored = OffsetState { offset: 0, rows_emitted: 0, last_content_length: 0, ..stored };
        }
        stored.blob_created_ms = props.created_ms;
        stored.last_content_length = stored.last_content_length.max(props.content_length);
        let mut cursor = Cursor { state: stored, version };

        let mut stream = self.blobs.read_range(blob, start..end).await?;
        let mut flattener = RangeFlattener::new(BlobIdent::new(blob.as_str()), start);
        let mut collector =
            Collector::new(self.cfg.dead_letter_raw_limit, self.now_rfc3339(), self.enrichment.current());
        let (total, atomic) = (end - start, self.blobs.atomic_commits());
        let mut read = 0u64;
        let mut rows = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            read += chunk.len() as u64;
            if read > total {
                return Err(ServiceError::permanent(format!("blob {blob}: read returned more than {total} bytes")));
            }
            self.metrics.bytes_read.inc_by(chunk.len() as u64);
            // Rows are about eight times the bytes they come from: feeding the chunk in slices
            // lets the buffer be flushed (and the offset committed) near `flush_bytes`, whatever
            // the store's chunk size, without re-parsing long partial records too often.
            let slice = (self.cfg.flush_bytes / 8).clamp(16 * 1024, 256 * 1024);
            let pieces = chunk.len().div_ceil(slice).max(1);
            for (i, piece) in chunk.chunks(slice).chain(chunk.is_empty().then_some(&[][..])).enumerate() {
                let last = i + 1 == pieces;
                let p = flattener.push(piece, atomic && read == total && last, &mut collector);
                self.metrics.records.inc_by(p.records);
                if collector.enc.out.len() >= self.cfg.flush_bytes {
                    match self.deliver(blob, &mut cursor, &mut collector, flattener.offset()).await? {
                        Some(n) => rows += n,
                        None => return Ok(BlobOutcome::Superseded { rows }),
                    }
                }
            }
        }
        if read < total {
            return Err(ServiceError::transient(format!("blob {blob}: read ended after {read} of {total} bytes")));
        }
        if flattener.offset() == start && collector.letters.is_empty() && !recreated && rows == 0 {
            // Only whitespace or a record still being written past the offset.
            return Ok(BlobOutcome::UpToDate);
        }
        if flattener.offset() > cursor.state.offset || !collector.letters.is_empty() || recreated {
            match self.deliver(blob, &mut cursor, &mut collector, flattener.offset()).await? {
                Some(n) => rows += n,
                None => return Ok(BlobOutcome::Superseded { rows }),
            }
        }
        if flattener.pending() > 0 {
            tracing::debug!(blob = %blob, offset = flattener.offset(), pending = flattener.pending(), "incomplete record left for the next read");
        }
        Ok(BlobOutcome::Processed { from: start, to: cursor.state.offset, rows })
    }

    /// Steps 3–4 for what is buffered: dead letters, then rows, then the offset. Returns the
    /// rows delivered, or `None` when another worker had already committed further.
    async fn deliver(
        &self,
        blob: &BlobName,
        cursor: &mut Cursor,
        collector: &mut Collector,
        new_offset: u64,
    ) -> ServiceResult<Option<u64>> {
        for letter in &collector.letters {
            self.put_dead_letter(letter).await?;
        }
        collector.letters.clear();
        let rows = collector.buffered_rows();
        if rows > 0 {
            self.sink.send(RowBatch { blob, ndjson: &collector.enc.out, rows: rows as usize }).await?;
            self.metrics.rows_sent.inc_by(rows);
            self.metrics.sink_batches.inc();
        }
        collector.enc.out.clear();
        collector.enc.rows = 0;
        let next = OffsetState {
            offset: new_offset,
            rows_emitted: cursor.state.rows_emitted + rows,
            updated_at_ms: self.now_ms(),
            ..cursor.state.clone()
        };
        if self.compare_and_swap(blob, cursor, next).await? {
            Ok(Some(rows))
        } else {
            self.metrics.duplicate_rows.inc_by(rows);
            Ok(None)
        }
    }

    /// Commits `next`, reconciling with concurrent writers. False when the stored offset already
    /// covers ours (our rows were duplicates).
    async fn compare_and_swap(
        &self,
        blob: &BlobName,
        cursor: &mut Cursor,
        mut next: OffsetState,
    ) -> ServiceResult<bool> {
        const MAX_ROUNDS: usize = 8;
        for _ in 0..MAX_ROUNDS {
            match self.offsets.save(blob, &next, cursor.version.as_ref()).await {
                Ok(v) => {
                    cursor.version = Some(v);
                    cursor.state = next;
                    return Ok(true);
                }
                Err(e) if e.kind == ErrorKind::Conflict => {
                    self.metrics.offset_conflicts.inc();
                    tracing::debug!(blob = %blob, error = %e, "offset compare-and-swap conflict");
                    match self.offsets.load(blob).await? {
                        // Deleted under us (retention sweep): insert again.
                        None => cursor.version = None,
                        Some((stored, v)) => match reconcile(&next, &stored) {
                            Reconcile::AlreadyCommitted => {
                                cursor.state = stored;
                                cursor.version = Some(v);
                                return Ok(false);
                            }
                            Reconcile::Retry(merged) => {
                                next = merged;
                                cursor.version = Some(v);
                            }
                        },
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(ServiceError::transient(format!("offset of {blob}: compare-and-swap lost {MAX_ROUNDS} races in a row")))
    }
}
