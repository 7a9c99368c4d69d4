//! Step 1 of a blob's read: what to read. One request where the store allows (the read from the
//! stored offset brings the blob's length and creation time, and its bytes); a store whose
//! content is checked answers the properties first, and the stored marks are judged
//! (`content.rs`) before anything is read.
use std::ops::ControlFlow;

use futures::StreamExt;

use super::content::{Checked, ContentCheck};
use super::{Attempt, BlobOutcome, BlobRead, Cursor};
use crate::domain::blob_name::BlobName;
use crate::domain::flatten::RangeFlattener;
use crate::domain::ids::RowIds;
use crate::domain::offset::{OffsetState, Plan, plan_read};
use crate::pipeline::blob_store::{BlobProperties, BlobStore, ChunkStream, TailRead, limit_to};
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::engine::Engine;
use crate::pipeline::engine::collector::Collector;
use crate::pipeline::error::{ErrorKind, ServiceResult};
use crate::pipeline::offset_store::{OffsetStore, Version};
use crate::pipeline::row_sink::RowSink;

/// What the plan decided: the attempt ends here (the blob is gone, or holds nothing new past its
/// offset), or goes on to read a range, with its bytes when the store sent them with its answer.
pub(super) type Planned<'a> = ControlFlow<Attempt, (BlobRead<'a>, Option<ChunkStream>)>;

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Decides what to read of `blob`, whose stored offset is `loaded`: nothing (the attempt
    /// ends), or a range with the read set up for it (a new generation's, if it was recreated).
    pub(super) async fn plan<'a>(
        &self,
        blob: &'a BlobName,
        loaded: Option<(OffsetState, Version)>,
    ) -> ServiceResult<Planned<'a>> {
        let stored = loaded.as_ref().map(|(s, _)| s);
        let guess = stored.map_or(0, |s| s.offset);
        let (props, opened, etag) = match self.open(blob, guess).await {
            Ok(t) => (t.properties, t.chunks, t.etag),
            Err(e) if e.kind == ErrorKind::NotFound => {
                let gone =
                    Attempt { outcome: BlobOutcome::Gone, cursor: Cursor::from(loaded), incomplete: false, etag: None };
                return Ok(ControlFlow::Break(gone));
            }
            Err(e) => return Err(e),
        };
        let checked = if self.blobs.checks_content() {
            self.plan_by_content(blob, stored, props.content_length, props.created_ms).await?
        } else {
            let plan = plan_read(stored, props.content_length, props.created_ms);
            Checked { plan, content: ContentCheck::off(), unwritten: false }
        };
        let Plan::Read { start, end, recreated } = checked.plan else {
            if let Some(rest) = opened {
                // The blob's tail (`]}`): read to its end so the connection can be reused.
                limit_to(rest, 0).for_each(|_| async {}).await;
            }
            let cursor = Cursor::from(loaded);
            return Ok(ControlFlow::Break(Attempt {
                outcome: BlobOutcome::UpToDate,
                cursor,
                incomplete: checked.unwritten,
                etag,
            }));
        };
        self.metrics.blob_lag_bytes.observe((end - start) as f64);
        if recreated {
            tracing::info!(blob = %blob, "blob was recreated; reading it again from the start");
        }
        let cursor = next_generation(Cursor::from(loaded), recreated, &props);
        // Recreated: the bytes from the old offset are of no use.
        let prefetched = opened.filter(|_| start == guess).map(|chunks| limit_to(chunks, end - start));
        let ids = RowIds::generation(blob.as_str(), cursor.state.generation);
        // Rows of the open record at the offset that an earlier read already sent.
        let flattener = RangeFlattener::new(ids, start).skip_delivered(cursor.state.open_tuples).with_rereads();
        let collector = Collector::new(
            self.cfg.dead_letter_raw_limit,
            self.now_rfc3339(),
            self.sink.segment_bytes(),
            self.cfg.flush_bytes,
            self.enrichment.writer(),
        );
        let content = checked.content;
        let read =
            BlobRead { blob, cursor, range: start..end, recreated, flattener, collector, content, rows: 0, etag };
        Ok(ControlFlow::Continue((read, prefetched)))
    }

    /// The blob's properties, with its bytes from `guess` where the store sends both at once.
    async fn open(&self, blob: &BlobName, guess: u64) -> ServiceResult<TailRead> {
        if self.blobs.checks_content() {
            // Content checks need the properties before any read.
            let properties = self.bounded(|| format!("properties of {blob}"), self.blobs.properties(blob)).await?;
            Ok(TailRead { properties, chunks: None, etag: None })
        } else {
            self.bounded(|| format!("reading {blob}"), self.blobs.read_from(blob, guess)).await
        }
    }
}

/// The offset a read advances. A recreated blob is a new generation: its rows get ids of their
/// own (the old rows keep theirs in Data Explorer), for a new creation time or, where content is
/// checked, new content.
fn next_generation(mut cursor: Cursor, recreated: bool, props: &BlobProperties) -> Cursor {
    let stored = &mut cursor.state;
    if recreated {
        *stored = OffsetState {
            offset: 0,
            rows_emitted: 0,
            last_content_length: 0,
            content: None,
            generation: stored.generation.saturating_add(1),
            open_tuples: 0,
            ..stored.clone()
        };
    }
    stored.blob_created_ms = props.created_ms;
    stored.last_content_length = stored.last_content_length.max(props.content_length);
    cursor
}
