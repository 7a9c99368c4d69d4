//! Retrying transient service errors with exponential backoff and jitter (`backon`).
use std::future::Future;

use backon::{ExponentialBuilder, Retryable};

use super::config::RetryConfig;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::metrics::Metrics;

/// Runs `op` until it succeeds, fails permanently, or `cfg.max_attempts` transient failures pass.
/// Each retry is logged with `context` and counted under `operation`.
pub async fn with_retry<T, F, Fut>(
    cfg: &RetryConfig,
    metrics: &Metrics,
    operation: &'static str,
    context: &str,
    op: F,
) -> ServiceResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ServiceResult<T>>,
{
    let policy = ExponentialBuilder::default()
        .with_min_delay(cfg.min_delay)
        .with_max_delay(cfg.max_delay)
        .with_max_times(cfg.max_attempts.saturating_sub(1))
        .with_jitter();
    op.retry(policy)
        .sleep(tokio::time::sleep)
        .when(|e| e.is_transient())
        .notify(|e, delay| {
            metrics.retry(operation);
            tracing::warn!(operation, context, error = %e, retry_in_ms = delay.as_millis() as u64, "transient failure, retrying");
        })
        .await
}
