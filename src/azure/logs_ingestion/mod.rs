//! Row sink on the Azure Monitor Logs Ingestion API (Log Analytics, Microsoft Sentinel): rows as
//! JSON arrays POSTed to a data collection rule's stream, whose transform maps them to a table.
//!
//! The engine hands over shared output events (group commit, linger, in-flight bound: the same
//! machinery as for Event Hubs), each at most one call's worth of rows (see `event_bytes`);
//! `send` returns only when every call carrying the event's rows was answered 204, calls in
//! order, so an offset never moves past a row not yet stored. Each call is retried here:
//! - 413: cut into two halves of its rows, each sent (and cut again) on its own;
//! - 429 and 5xx: after `Retry-After` (seconds or an HTTP date) or the backoff, whichever is
//!   longer, up to the engine's retry policy; then the event fails as Transient and the engine
//!   retries it whole;
//! - no answer within `log_analytics.timeout_secs`: the service may have stored the rows, so
//!   the call is sent once more at once, on a new connection; unanswered again, the event fails
//!   as Transient (as an unanswered Event Hubs send does) and is sent again by the engine;
//! - a reset or refused connection: a new connection, after the backoff;
//! - 401, 403, 404: Transient with a message naming the role, the DCR or the stream (a role
//!   assignment still propagating heals; rows are never dead-lettered for a setting);
//! - any other status (400: rows the service refused): Permanent, with the service's message.
//!
//! So a row is sent more than once only when its call went unanswered (once more per silence,
//! rows identical with the same `id`), or when a later call of its event failed after the
//! retries here ran out (the event is sent again whole).
mod client;
pub mod retry_after;
pub mod split;

use std::io::Write;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

pub use client::{API_VERSION, Answer, Client, SCOPE, Target};

use crate::domain::blob_name::BlobName;
use crate::pipeline::engine::{RetryPolicy, heavy};
use crate::pipeline::error::{ServiceError, ServiceResult};
use crate::pipeline::metrics::{CallOutcome, Metrics};
use crate::pipeline::row_sink::{RowBatch, RowSink};

pub struct LogsIngestionSink {
    client: Client,
    gzip: bool,
    /// Largest JSON array per call.
    max_call: usize,
    retry: RetryPolicy,
    metrics: Arc<Metrics>,
}

/// How one call (after its retries) ended when it did not fail.
enum Delivered {
    Stored,
    TooLarge,
}

impl LogsIngestionSink {
    pub fn new(target: Target, gzip: bool, retry: RetryPolicy, metrics: Arc<Metrics>) -> ServiceResult<Self> {
        Ok(LogsIngestionSink { client: Client::new(target)?, gzip, max_call: split::MAX_CALL_BYTES, retry, metrics })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends the rows of `ndjson[range]`, cutting calls answered 413 in halves, in row order.
    async fn deliver(&self, blob: &BlobName, ndjson: &Bytes, range: Range<usize>) -> ServiceResult<()> {
        // A stack of ranges still to send, the next on top: halves keep the rows' order.
        let mut todo = vec![range];
        while let Some(range) = todo.pop() {
            match self.call(blob, &ndjson[range.clone()]).await? {
                Delivered::Stored => {}
                Delivered::TooLarge => {
                    let Some((first, second)) = split::halves(ndjson, range.clone()) else {
                        return Err(ServiceError::permanent(format!(
                            "{blob}: Logs Ingestion answered 413 (payload too large) to a call of one row ({} bytes)",
                            range.len()
                        )));
                    };
                    self.metrics.logs_ingestion.splits.inc();
                    todo.push(second);
                    todo.push(first);
                }
            }
        }
        Ok(())
    }

    /// One call with its retries (see the module comment).
    async fn call(&self, blob: &BlobName, rows: &[u8]) -> ServiceResult<Delivered> {
        let json = split::json_array(rows);
        let count = split::rows(rows);
        // Compressing a call's rows (up to a few MiB) is a heavy step: beside the runtime's worker.
        let body = Bytes::from(if self.gzip { heavy::run(json.len(), || gzip(&json)) } else { json.clone() });
        let m = &self.metrics.logs_ingestion;
        let target = self.client.target().describe();
        let context = |what: &str| format!("sending {count} rows of {blob} to Logs Ingestion {target}: {what}");
        let mut backoff = self.retry.backoff();
        let mut renewed_after_silence = false;
        loop {
            let http = self.client.http();
            let (wait, why) = match self.client.post(&http, body.clone(), self.gzip).await? {
                Answer::Accepted => {
                    m.call(CallOutcome::Accepted);
                    m.rows.inc_by(count as u64);
                    m.bytes.inc_by(body.len() as u64);
                    m.raw_bytes.inc_by(json.len() as u64);
                    return Ok(Delivered::Stored);
                }
                Answer::TooLarge => {
                    m.call(CallOutcome::TooLarge);
                    return Ok(Delivered::TooLarge);
                }
                Answer::Throttled { retry_after } => {
                    m.call(CallOutcome::Throttled);
                    (retry_after, "429 (throttled)".to_string())
                }
                Answer::ServerError { status, retry_after } => {
                    m.call(CallOutcome::ServerError);
                    (retry_after, format!("{status} (server error)"))
                }
                Answer::Unanswered => {
                    m.call(CallOutcome::Unanswered);
                    self.client.renew(&http);
                    if renewed_after_silence {
                        return Err(ServiceError::transient(context(&format!(
                            "unanswered twice within {:?} (the service may have stored the rows; they will be sent again)",
                            self.client.target().timeout
                        ))));
                    }
                    renewed_after_silence = true;
                    m.retries.inc();
                    tracing::warn!(%blob, rows = count, "Logs Ingestion call unanswered; sending it once more on a new connection");
                    continue;
                }
                Answer::Failed(error) => {
                    m.call(CallOutcome::Failed);
                    self.client.renew(&http);
                    (None, error)
                }
                Answer::Refused { status, detail } => {
                    m.call(CallOutcome::Refused);
                    return Err(refused(status, &detail, self.client.target(), &context));
                }
            };
            let Some(delay) = backoff.next() else {
                return Err(ServiceError::transient(context(&format!(
                    "{why}, {} tries; the event will be sent again",
                    self.retry.max_attempts
                ))));
            };
            let delay = delay.max(wait.unwrap_or_default());
            m.retries.inc();
            tracing::debug!(%blob, rows = count, ?delay, why, "Logs Ingestion call retried");
            tokio::time::sleep(delay).await;
        }
    }
}

/// The error for a status that retrying the same call cannot change.
fn refused(status: u16, detail: &str, target: &Target, context: &dyn Fn(&str) -> String) -> ServiceError {
    let (dcr, stream) = (&target.dcr_immutable_id, &target.stream);
    let hint = match status {
        401 => "the token was refused (is it for https://monitor.azure.com?)".to_string(),
        403 => format!(
            "flowlog's identity needs the Monitoring Metrics Publisher role on data collection rule {dcr} (assignments take minutes to apply)"
        ),
        404 => format!(
            "no data collection rule {dcr} with stream {stream} at this endpoint (log_analytics.dcr_immutable_id, log_analytics.stream)"
        ),
        _ => "the service refused the rows".to_string(),
    };
    let message = context(&format!("{status}: {hint}; the service said: {detail}"));
    match status {
        401 | 403 | 404 => ServiceError::transient(message),
        _ => ServiceError::permanent(message),
    }
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    // Fast level, as for Event Hubs events: throughput over the last few percent of ratio.
    let mut enc = GzEncoder::new(Vec::with_capacity(raw.len() / 8), Compression::fast());
    enc.write_all(raw).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

impl RowSink for LogsIngestionSink {
    fn segment_bytes(&self) -> Option<usize> {
        // The NDJSON of one call: its array is one byte longer (see `split::array_len`).
        Some(self.max_call - 1)
    }

    async fn send(&self, batch: RowBatch<'_>) -> ServiceResult<()> {
        for segment in &batch.segments {
            let calls = split::plan(segment, self.max_call)
                .map_err(|e| ServiceError::permanent(format!("{}: {e}", batch.blob)))?;
            for range in calls {
                self.deliver(batch.blob, segment, range).await?;
            }
        }
        Ok(())
    }
}
