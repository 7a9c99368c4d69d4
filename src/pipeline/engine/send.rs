//! A blob's rows on their way out: into the shared output event, then a wait (without the read
//! permit) until the output hub accepted every event that carries them.
use bytes::Bytes;

use super::Engine;
use super::packer::Env;
use super::read_slot;
use crate::domain::blob_name::BlobName;
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

/// Event size for sinks without a size of their own (NDJSON files): four flushes of rows, so one
/// event (one write and fsync) serves many quiet blobs.
const UNLIMITED_EVENT_FLUSHES: usize = 4;

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Returns once the sink accepted all of `segments`; only then may the offset move past them.
    /// `reading`: the blob reads on afterwards and takes its read permit back.
    pub(super) async fn send_rows(&self, blob: &BlobName, segments: Vec<Bytes>, reading: bool) -> ServiceResult<()> {
        let env = Env {
            sink: &self.sink,
            metrics: &self.metrics,
            // Rows of a backlog are late already: waiting for fuller events costs them little.
            linger: if read_slot::behind() { self.cfg.linger.max(self.cfg.backlog_linger) } else { self.cfg.linger },
            max_events_in_flight: self.cfg.max_events_in_flight,
            event_bytes: self
                .sink
                .event_bytes()
                .unwrap_or(self.cfg.flush_bytes.saturating_mul(UNLIMITED_EVENT_FLUSHES))
                .max(1),
        };
        // Closing a full event waits for room in flight while this blob still holds its read
        // permit: that is what keeps the number of buffered events bounded.
        let tickets = self.packer.submit(&env, blob, segments).await?;
        read_slot::release(!reading);
        let waited = self.packer.wait(&env, tickets, reading).await;
        if reading {
            read_slot::acquire().await;
        }
        waited
    }
}
