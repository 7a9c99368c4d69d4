//! Processing of one blob in the commit order of docs/ARCHITECTURE.md section 5:
//! load offset → read and parse `[O, L-2)` → dead letters → send rows → compare-and-swap offset.
mod reread;

use futures::StreamExt;

use super::Engine;
use super::collector::Collector;
use crate::domain::blob_name::BlobName;
use crate::domain::flatten::RangeFlattener;
use crate::domain::format::is_gzip;
use crate::domain::ids::RowIds;
use crate::domain::offset::content::unwritten_from;
use crate::domain::offset::{ContentMarks, OffsetState, Plan, Reconcile, plan_read, reconcile};
use crate::pipeline::blob_store::{BlobStore, TailRead, limit_to};
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::metrics::ValueField;
use crate::pipeline::offset_store::{OffsetStore, Version};
use crate::pipeline::row_sink::RowSink;

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
    /// Rows sent since the last commit (of a record not complete yet).
    uncommitted_rows: u64,
}

/// One attempt's outcome, the offset it left, and whether bytes of an incomplete record were
/// left behind it (a record still being written, or one that never completes).
struct Attempt {
    outcome: BlobOutcome,
    cursor: Cursor,
    incomplete: bool,
}

impl From<Option<(OffsetState, Version)>> for Cursor {
    fn from(loaded: Option<(OffsetState, Version)>) -> Self {
        match loaded {
            Some((state, version)) => Cursor { state, version: Some(version), uncommitted_rows: 0 },
            None => Cursor { state: OffsetState::default(), version: None, uncommitted_rows: 0 },
        }
    }
}

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// One attempt; the caller retries transient errors. Safe to repeat at any point: offsets
    /// only move forward through compare-and-swap, so a repeat re-sends at most the rows whose
    /// offset commit did not happen, with the same ids.
    pub async fn process_blob(&self, blob: &BlobName) -> ServiceResult<BlobOutcome> {
        let loaded = self.load_offset(blob).await?;
        let marked = loaded.as_ref().is_some_and(|(s, _)| s.pending.is_some());
        let attempt = self.attempt(blob, loaded).await?;
        self.state.note_progress(blob, attempt.incomplete, self.now_ms());
        if marked && attempt.cursor.state.pending.is_some() {
            self.clear_mark(blob, attempt.cursor).await?;
        }
        Ok(attempt.outcome)
    }

    async fn attempt(&self, blob: &BlobName, loaded: Option<(OffsetState, Version)>) -> ServiceResult<Attempt> {
        let checks = self.blobs.checks_content();
        let stored = loaded.as_ref().map(|(s, _)| s);
        // One request where the store allows: the read from the stored offset brings the blob's
        // length and creation time. Content checks need the properties before any read.
        let guess = stored.map_or(0, |s| s.offset);
        let opened = if checks {
            self.bounded(|| format!("properties of {blob}"), self.blobs.properties(blob))
                .await
                .map(|properties| TailRead { properties, chunks: None })
        } else {
            self.bounded(|| format!("reading {blob}"), self.blobs.read_from(blob, guess)).await
        };
        let (props, mut opened) = match opened {
            Ok(t) => (t.properties, t.chunks),
            Err(e) if e.kind == ErrorKind::NotFound => {
                return Ok(Attempt { outcome: BlobOutcome::Gone, cursor: Cursor::from(loaded), incomplete: false });
            }
            Err(e) => return Err(e),
        };
        let (plan, mut marker, waiting) = if checks {
            let c = self.plan_by_content(blob, stored, props.content_length, props.created_ms).await?;
            (c.plan, Some(c.marker), c.unwritten)
        } else {
            (plan_read(stored, props.content_length, props.created_ms), None, false)
        };
        let (start, end, recreated) = match plan {
            Plan::UpToDate => {
                if let Some(rest) = opened.take() {
                    // The blob's tail (`]}`): read to its end so the connection can be reused.
                    limit_to(rest, 0).for_each(|_| async {}).await;
                }
                let cursor = Cursor::from(loaded);
                return Ok(Attempt { outcome: BlobOutcome::UpToDate, cursor, incomplete: waiting });
            }
            Plan::Read { start, end, recreated } => (start, end, recreated),
        };
        self.metrics.blob_lag_bytes.observe((end - start) as f64);
        if recreated {
            tracing::info!(blob = %blob, "blob was recreated; reading it again from the start");
        }
        let Cursor { state: mut stored, version, .. } = Cursor::from(loaded);
        if recreated {
            // A new generation of the blob: its rows get ids of their own (the old rows keep
            // theirs in Data Explorer), for a new creation time or, where content is checked, new content.
            let generation = stored.generation.saturating_add(1);
            stored = OffsetState {
                offset: 0,
                rows_emitted: 0,
                last_content_length: 0,
                content: None,
                generation,
                open_tuples: 0,
                ..stored
            };
        }
        stored.blob_created_ms = props.created_ms;
        stored.last_content_length = stored.last_content_length.max(props.content_length);
        let mut cursor = Cursor { state: stored, version, uncommitted_rows: 0 };

        let mut stream = match opened.take() {
            Some(chunks) if start == guess => limit_to(chunks, end - start),
            // Recreated: the bytes from the old offset are of no use.
            _ => self.bounded(|| format!("reading {blob}"), self.blobs.read_range(blob, start..end)).await?,
        };
        let ids = RowIds::generation(blob.as_str(), cursor.state.generation);
        // Rows of the open record at the offset that an earlier read already sent.
        let mut flattener = RangeFlattener::new(ids, start).skip_delivered(cursor.state.open_tuples).with_rereads();
        let mut collector = Collector::new(
            self.cfg.dead_letter_raw_limit,
            self.now_rfc3339(),
            self.sink.segment_bytes(),
            self.cfg.flush_bytes,
            self.enrichment.writer(),
        );
        let (total, atomic) = (end - start, self.blobs.atomic_commits());
        let mut read = 0u64;
        let mut rows = 0u64;
        // Where NUL bytes begin, in a blob that may be filled out of order: not yet written.
        let mut unwritten = None;
        let mut compressed = false;
        while let Some(chunk) = self
            .bounded(|| format!("reading {blob} at byte {}", start + read), async { Ok(stream.next().await) })
            .await?
        {
            let mut chunk = chunk?;
            // A gzip-compressed blob has NUL bytes of its own; the flattener dead-letters it whole.
            compressed |= start == 0 && read == 0 && is_gzip(&chunk);
            if checks
                && !compressed
                && let Some(i) = unwritten_from(&chunk)
            {
                unwritten = Some(start + read + i as u64);
                chunk.truncate(i);
            }
            read += chunk.len() as u64;
            if read > total {
                return Err(ServiceError::permanent(format!("blob {blob}: read returned more than {total} bytes")));
            }
            self.metrics.bytes_read.inc_by(chunk.len() as u64);
            // Feeding the chunk in slices lets the buffer be flushed near `flush_bytes` whatever
            // the store's chunk size.
            let slice = super::collector::feed_slice(self.cfg.flush_bytes);
            let pieces = chunk.len().div_ceil(slice).max(1);
            for (i, piece) in chunk.chunks(slice).chain(chunk.is_empty().then_some(&[][..])).enumerate() {
                let last = i + 1 == pieces;
                if let Some(m) = &mut marker {
                    m.observe(piece);
                }
                collector.reserve(total - read + piece.len() as u64);
                let mut rest = piece;
                loop {
                    let p = flattener.push(rest, atomic && read == total && last, &mut collector);
                    self.metrics.records.inc_by(p.records);
                    let delivered = match flattener.reread_range() {
                        // A record whose header came after its tuples: its rows are in a second read.
                        Some(_) => {
                            self.reread(blob, &mut flattener, &mut collector, &mut cursor, marker.as_ref()).await?
                        }
                        None => Some(0),
                    };
                    if let Some(m) = &mut marker {
                        m.advance(flattener.offset());
                    }
                    let flushed = match delivered {
                        Some(n) => self
                            .flush_full(blob, &mut cursor, &mut collector, &flattener, marker.as_ref())
                            .await?
                            .map(|f| n + f),
                        None => None,
                    };
                    match flushed {
                        Some(n) => rows += n,
                        None => {
                            let outcome = BlobOutcome::Superseded { rows };
                            return Ok(Attempt { outcome, cursor, incomplete: false });
                        }
                    }
                    rest = &rest[p.taken..];
                    if rest.is_empty() {
                        break;
                    }
                }
            }
            if unwritten.is_some() {
                break;
            }
        }
        if let Some(at) = unwritten {
            self.metrics.unwritten_waits.inc();
            tracing::warn!(blob = %blob, at, end, "blob has NUL bytes not yet written (filled out of order?); reading stops there until they are");
        } else if read < total {
            return Err(ServiceError::transient(format!("blob {blob}: read ended after {read} of {total} bytes")));
        }
        if flattener.has_partial_record() {
            collector.drop_incomplete();
        }
        // Every row is encoded: the writer's warm address cache goes to the next read.
        self.enrichment.give_back(collector.take_writer());
        if flattener.offset() == start && !collector.has_letters() && !recreated && rows == 0 {
            // Only whitespace or a record still being written past the offset.
            // NUL bytes not yet written hold the blob back like a partial record: the stall alarm watches both.
            let incomplete = flattener.has_partial_record() || unwritten.is_some();
            return Ok(Attempt { outcome: BlobOutcome::UpToDate, cursor, incomplete });
        }
        if flattener.offset() > cursor.state.offset || collector.has_letters() || recreated {
            let marks = marker.as_ref().and_then(|m| m.marks_at(flattener.offset()));
            // The open record's rows past the last flush were dropped: what was sent of it is
            // what the stored state says, unless the offset moves past it now.
            let open = if flattener.offset() == cursor.state.offset { cursor.state.open_tuples } else { 0 };
            let at = (flattener.offset(), open);
            match self.deliver(blob, &mut cursor, &mut collector, at, marks, true, false).await? {
                Some(n) => rows += n,
                None => {
                    return Ok(Attempt { outcome: BlobOutcome::Superseded { rows }, cursor, incomplete: false });
                }
            }
        }
        if flattener.pending() > 0 {
            tracing::debug!(blob = %blob, offset = flattener.offset(), pending = flattener.pending(), "incomplete record left for the next read");
        }
        let outcome = BlobOutcome::Processed { from: start, to: cursor.state.offset, rows };
        Ok(Attempt { outcome, cursor, incomplete: flattener.has_partial_record() || unwritten.is_some() })
    }

    /// Steps 3–4 for what is buffered: dead letters, then rows, then (when `commit`) the offset.
    /// Returns the rows delivered, or `None` when another worker had already committed further.
    ///
    /// Rows may belong to a record whose end is not read yet (a record larger than a flush):
    /// they are sent, the offset stays at the record's start until it ends, and `open_tuples`
    /// (how many of its tuples went) is committed with it so that later reads skip their rows.
    /// A crash between the send and the commit re-sends them, with the same ids.
    ///
    /// `reading`: more of the blob is read after this (its read permit is taken back after the
    /// wait for the output hub).
    #[allow(clippy::too_many_arguments)]
    async fn deliver(
        &self,
        blob: &BlobName,
        cursor: &mut Cursor,
        collector: &mut Collector,
        (new_offset, open_tuples): (u64, u32),
        content: Option<ContentMarks>,
        commit: bool,
        reading: bool,
    ) -> ServiceResult<Option<u64>> {
        for letter in collector.take_letters() {
            self.put_dead_letter(&letter).await?;
        }
        self.metrics.gzip_blobs.inc_by(collector.take_gzip());
        let [encryption, state] = collector.take_unknown();
        if encryption + state > 0 {
            self.metrics.unknown_values(ValueField::Encryption, encryption);
            self.metrics.unknown_values(ValueField::FlowState, state);
            tracing::warn!(blob = %blob, encryption, flow_state = state, "rows kept with values this build does not know (raw value in the row)");
        }
        let rows = collector.buffered_rows();
        if rows > 0 {
            self.send_rows(blob, collector.take_segments(), reading).await?;
            self.metrics.rows_sent.inc_by(rows);
        }
        collector.delivered();
        cursor.uncommitted_rows += rows;
        if !commit {
            return Ok(Some(rows));
        }
        let next = OffsetState {
            offset: new_offset,
            open_tuples,
            rows_emitted: cursor.state.rows_emitted + cursor.uncommitted_rows,
            updated_at_ms: self.now_ms(),
            content,
            // Progress heals a failed read: its retry mark goes with this commit.
            pending: None,
            ..cursor.state.clone()
        };
        if self.commit_delivered(blob, cursor, next).await? {
            cursor.uncommitted_rows = 0;
            Ok(Some(rows))
        } else {
            self.metrics.duplicate_rows.inc_by(rows);
            Ok(None)
        }
    }

    /// Commits the offset of rows the sink has already accepted. A failure here never leads to
    /// the rows being read and sent again: the commit alone is retried, with the retry policy,
    /// then (for daemons) without end at the policy's longest delay, while the partition's
    /// later work waits behind it. A bounded run, or a daemon that is stopping, ends with
    /// `CommitFailed` instead; the rows of this one flush are then sent again by whoever
    /// processes the blob next.
    async fn commit_delivered(&self, blob: &BlobName, cursor: &mut Cursor, next: OffsetState) -> ServiceResult<bool> {
        let mut bounded = self.cfg.retry.backoff();
        let mut patient = self.cfg.retry.backoff_forever();
        let mut failures = 0u64;
        let mut last_report: Option<i64> = None;
        loop {
            let error = match self.compare_and_swap(blob, cursor, next.clone()).await {
                Ok(committed) => {
                    if failures > 0 {
                        self.metrics.commits_pending.dec();
                        tracing::info!(blob = %blob, failures, "offset committed after failures; nothing was sent twice");
                    }
                    return Ok(committed);
                }
                Err(e) => e,
            };
            self.metrics.commit_failures.inc();
            if failures == 0 {
                self.metrics.commits_pending.inc();
            }
            failures += 1;
            let delay = match bounded.next() {
                Some(d) => Some(d),
                None if self.cfg.patient_commits && error.kind != ErrorKind::Permanent => patient.next(),
                None => None,
            };
            let now = self.now_ms();
            if last_report.is_none_or(|t| now - t >= 60_000) {
                last_report = Some(now);
                tracing::error!(blob = %blob, offset = next.offset, failures, error = %error, "rows were delivered but their offset cannot be committed; retrying the commit alone");
            }
            let stopped = match delay {
                Some(d) => tokio::select! {
                    _ = self.state.stopping.cancelled() => true,
                    _ = tokio::time::sleep(d) => false,
                },
                None => true,
            };
            if stopped {
                self.metrics.commits_pending.dec();
                return Err(ServiceError::commit_failed(format!(
                    "offset of {blob} to {}: rows delivered, commit failed {failures} times: {error}",
                    next.offset
                )));
            }
        }
    }

    /// Removes the retry mark of a blob that was processed without error. A lost race leaves
    /// it to whoever won: their state is newer than ours.
    async fn clear_mark(&self, blob: &BlobName, cursor: Cursor) -> ServiceResult<()> {
        let Some(version) = cursor.version else { return Ok(()) };
        let state = OffsetState { pending: None, updated_at_ms: self.now_ms(), ..cursor.state };
        match self.save_offset(blob, &state, Some(&version)).await {
            Ok(_) => {
                tracing::info!(blob = %blob, "blob read again without error; its retry mark is cleared");
                Ok(())
            }
            Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(e),
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
            match self.save_offset(blob, &next, cursor.version.as_ref()).await {
                Ok(v) => {
                    cursor.version = Some(v);
                    cursor.state = next;
                    return Ok(true);
                }
                Err(e) if e.kind == ErrorKind::Conflict => {
                    self.metrics.offset_conflicts.inc();
                    tracing::debug!(blob = %blob, error = %e, "offset compare-and-swap conflict");
                    match self.load_stored_offset(blob).await? {
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
