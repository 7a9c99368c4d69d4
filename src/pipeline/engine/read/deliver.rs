//! Step 3 of a blob's read: what the stream step buffered goes out, dead letters first, then the
//! rows, and the delivery waits until the sink accepted them; step 4 then commits the offset.
use super::{Attempt, BlobOutcome, BlobRead, Delivered};
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::engine::Engine;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::metrics::ValueField;
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

/// Why a delivery runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flush {
    /// The buffer filled; more of the blob is read after it (its read permit is taken back
    /// after the wait for the output hub).
    Full,
    /// The range was read.
    End,
}

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Steps 3–4 for what the read left buffered, and the attempt's outcome.
    pub(super) async fn finish(&self, mut read: BlobRead<'_>) -> ServiceResult<Attempt> {
        let (start, offset) = (read.range.start, read.flattener.offset());
        // NUL bytes not yet written hold the blob back like a partial record: the stall alarm
        // watches both.
        let incomplete = read.flattener.has_partial_record() || read.content.unwritten().is_some();
        if offset == start && !read.collector.has_letters() && !read.recreated && read.rows == 0 {
            // Only whitespace or a record still being written past the offset.
            return Ok(read.end(BlobOutcome::UpToDate, incomplete));
        }
        if (offset > read.cursor.state.offset || read.collector.has_letters() || read.recreated)
            && self.deliver(&mut read, Flush::End).await? == Delivered::Superseded
        {
            return Ok(read.superseded());
        }
        if read.flattener.pending() > 0 {
            tracing::debug!(blob = %read.blob, offset, pending = read.flattener.pending(), "incomplete record left for the next read");
        }
        let outcome = BlobOutcome::Processed { from: start, to: read.cursor.state.offset, rows: read.rows };
        Ok(read.end(outcome, incomplete))
    }

    /// Steps 3–4 for what is buffered: dead letters, then rows, then the offset where it moved.
    ///
    /// Rows may belong to a record whose end is not read yet (a record larger than a flush):
    /// they are sent, the offset stays at the record's start until it ends, and `open_tuples`
    /// (how many of its tuples went) is committed with it so that later reads skip their rows.
    /// A crash between the send and the commit re-sends them, with the same ids.
    pub(super) async fn deliver(&self, read: &mut BlobRead<'_>, flush: Flush) -> ServiceResult<Delivered> {
        let offset = read.flattener.offset();
        let stored = &read.cursor.state;
        let (open_tuples, commit) = match flush {
            Flush::Full => {
                let open = read.flattener.open_tuples();
                (open, offset > stored.offset || open > stored.open_tuples)
            }
            // The open record's rows past the last flush were dropped: what was sent of it is
            // what the stored state says, unless the offset moves past it now.
            Flush::End => (if offset == stored.offset { stored.open_tuples } else { 0 }, true),
        };
        self.put_letters(read).await?;
        let rows = read.collector.buffered_rows();
        if rows > 0 {
            self.send_rows(read.blob, read.collector.take_segments(), flush == Flush::Full).await?;
            self.metrics.rows_sent.inc_by(rows);
        }
        read.collector.delivered();
        read.cursor.uncommitted_rows += rows;
        if commit && self.commit(read, offset, open_tuples).await? == Delivered::Superseded {
            self.metrics.duplicate_rows.inc_by(rows);
            return Ok(Delivered::Superseded);
        }
        read.rows += rows;
        Ok(Delivered::Ours)
    }

    /// Writes the buffered dead letters and counts what the buffered rows hold that is worth a
    /// metric (gzip blobs, values this build does not know).
    async fn put_letters(&self, read: &mut BlobRead<'_>) -> ServiceResult<()> {
        for letter in read.collector.take_letters() {
            self.put_dead_letter(&letter).await?;
        }
        self.metrics.gzip_blobs.inc_by(read.collector.take_gzip());
        let [encryption, state] = read.collector.take_unknown();
        if encryption + state > 0 {
            self.metrics.unknown_values(ValueField::Encryption, encryption);
            self.metrics.unknown_values(ValueField::FlowState, state);
            tracing::warn!(blob = %read.blob, encryption, flow_state = state, "rows kept with values this build does not know (raw value in the row)");
        }
        Ok(())
    }
}
