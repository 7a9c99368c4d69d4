//! The durable retry mark of a blob whose read failed: stored with its offset, so whichever
//! replica owns the blob's partition (or the next run) finds it and tries again.
use serde::{Deserialize, Serialize};

/// Longest a stored error message may be; the mark is a note for operators, not a log.
pub const MAX_ERROR_LEN: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRetry {
    /// The blob length the failed attempt wanted to reach.
    pub target_length: u64,
    /// Failed attempts so far (the first failure counts as one).
    pub attempts: u32,
    pub last_error: String,
    /// When the next attempt is due, Unix milliseconds.
    pub next_attempt_ms: i64,
    /// The change-feed partition whose events name the blob: only its owner retries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

impl PendingRetry {
    /// The mark after one more failed attempt at `now_ms`, due again after an exponential delay
    /// from `min_delay_ms` doubling per attempt, at most `max_delay_ms`.
    pub fn after_failure(
        previous: Option<&PendingRetry>,
        target_length: u64,
        error: &str,
        partition: Option<&str>,
        now_ms: i64,
        (min_delay_ms, max_delay_ms): (u64, u64),
    ) -> PendingRetry {
        let attempts = previous.map_or(0, |p| p.attempts).saturating_add(1);
        let exp = (attempts - 1).min(40);
        let delay = min_delay_ms.saturating_mul(1u64 << exp).min(max_delay_ms.max(min_delay_ms));
        PendingRetry {
            target_length: previous.map_or(target_length, |p| p.target_length.max(target_length)),
            attempts,
            last_error: truncate(error, MAX_ERROR_LEN),
            next_attempt_ms: now_ms.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX)),
            partition: partition.map(str::to_string).or_else(|| previous.and_then(|p| p.partition.clone())),
        }
    }

    pub fn is_due(&self, now_ms: i64) -> bool {
        self.next_attempt_ms <= now_ms
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_the_mark_keeps_the_largest_target() {
        let first = PendingRetry::after_failure(None, 100, "503", Some("3"), 1_000, (10, 50));
        assert_eq!((first.attempts, first.next_attempt_ms, first.partition.as_deref()), (1, 1_010, Some("3")));
        let second = PendingRetry::after_failure(Some(&first), 80, "503", None, 2_000, (10, 50));
        assert_eq!((second.attempts, second.next_attempt_ms, second.target_length), (2, 2_020, 100));
        assert_eq!(second.partition.as_deref(), Some("3"), "the partition is remembered");
        let mut p = second;
        for _ in 0..100 {
            p = PendingRetry::after_failure(Some(&p), 100, "x", None, 0, (10, 50));
        }
        assert_eq!(p.next_attempt_ms, 50, "capped, and no overflow after many attempts");
        assert!(p.is_due(50) && !p.is_due(49));
        let long = PendingRetry::after_failure(None, 1, &"é".repeat(1000), None, 0, (1, 1));
        assert!(long.last_error.len() <= MAX_ERROR_LEN && long.last_error.chars().all(|c| c == 'é'));
    }
}
