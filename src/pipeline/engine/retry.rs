//! The one retry policy: exponential backoff with jitter (`backon`), configured from `[engine]`,
//! for blob work, dead letters, batches, acknowledgements and first connections alike.
use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder, Retryable};

use crate::pipeline::error::ServiceResult;
use crate::pipeline::metrics::{Metrics, RetryOp};

/// Exponential backoff with jitter for transient failures. Bounded uses give up after
/// `max_attempts` (a blob is then dead-lettered with its offset untouched); work that must not
/// be skipped (a partition's batch) retries for as long as it takes, capped at `max_delay`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // About two minutes in total: rides out throttling and short outages.
        RetryPolicy { min_delay: Duration::from_millis(200), max_delay: Duration::from_secs(30), max_attempts: 8 }
    }
}

impl RetryPolicy {
    /// Near-instant retries for tests.
    pub fn fast() -> Self {
        RetryPolicy { min_delay: Duration::from_millis(1), max_delay: Duration::from_millis(5), max_attempts: 4 }
    }

    fn builder(&self) -> ExponentialBuilder {
        ExponentialBuilder::default().with_min_delay(self.min_delay).with_max_delay(self.max_delay).with_jitter()
    }

    /// The delays between `max_attempts` attempts.
    pub fn backoff(&self) -> ExponentialBackoff {
        self.builder().with_max_times(self.max_attempts.saturating_sub(1)).build()
    }

    /// Delays without end, each at most `max_delay`.
    pub fn backoff_forever(&self) -> ExponentialBackoff {
        self.builder().without_max_times().build()
    }
}

/// Runs `op` until it succeeds, fails permanently, or `policy.max_attempts` transient failures
/// pass. Each retry is logged with `context` and counted under `operation`.
pub async fn with_retry<T, F, Fut>(
    policy: &RetryPolicy,
    metrics: &Metrics,
    operation: RetryOp,
    context: &str,
    op: F,
) -> ServiceResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ServiceResult<T>>,
{
    op.retry(policy.builder().with_max_times(policy.max_attempts.saturating_sub(1)))
        .sleep(tokio::time::sleep)
        .when(|e| e.is_transient())
        .notify(|e, delay| {
            metrics.retry(operation);
            tracing::warn!(operation = operation.as_str(), context, error = %e, retry_in_ms = delay.as_millis() as u64, "transient failure, retrying");
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_backoff_allows_max_attempts_and_forever_is_capped() {
        let p =
            RetryPolicy { min_delay: Duration::from_millis(10), max_delay: Duration::from_millis(40), max_attempts: 5 };
        assert_eq!(p.backoff().count(), 4, "four waits between five attempts");
        let forever: Vec<Duration> = p.backoff_forever().take(50).collect();
        assert_eq!(forever.len(), 50);
        // Jitter adds up to one more delay on top of the capped delay.
        assert!(forever.iter().all(|d| *d <= Duration::from_millis(80)), "{forever:?}");
    }
}
