//! The Azure daemon's row sink, chosen by `output.kind`: the output Event Hub (for Data
//! Explorer) or the Logs Ingestion API (for Log Analytics and Microsoft Sentinel). One engine
//! type serves both; the engine's group commit, linger and in-flight bound apply to either.
use crate::azure::logs_ingestion::LogsIngestionSink;
use crate::azure::sink::EventHubsSink;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::row_sink::{RowBatch, RowSink};

pub enum OutputSink {
    EventHubs(EventHubsSink),
    LogAnalytics(LogsIngestionSink),
}

impl RowSink for OutputSink {
    fn segment_bytes(&self) -> Option<usize> {
        match self {
            OutputSink::EventHubs(s) => s.segment_bytes(),
            OutputSink::LogAnalytics(s) => s.segment_bytes(),
        }
    }

    fn event_bytes(&self) -> Option<usize> {
        match self {
            OutputSink::EventHubs(s) => s.event_bytes(),
            OutputSink::LogAnalytics(s) => s.event_bytes(),
        }
    }

    fn reads_segments_only(&self) -> bool {
        match self {
            OutputSink::EventHubs(s) => s.reads_segments_only(),
            OutputSink::LogAnalytics(s) => s.reads_segments_only(),
        }
    }

    async fn send(&self, batch: RowBatch<'_>) -> ServiceResult<()> {
        match self {
            OutputSink::EventHubs(s) => s.send(batch).await,
            OutputSink::LogAnalytics(s) => s.send(batch).await,
        }
    }

    fn closed(&self) -> bool {
        match self {
            OutputSink::EventHubs(s) => s.closed(),
            OutputSink::LogAnalytics(s) => s.closed(),
        }
    }
}
