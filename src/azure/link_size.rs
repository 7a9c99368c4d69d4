//! The output link's max message size, which SDK 0.15 does not expose: measured once through the
//! SDK's own batch accounting, so that events can be sent one by one and sized against it.
//!
//! Why not send one-event batches: an `EventDataBatch` counts its first event twice (as the
//! envelope and as an event), so a lone event in a batch may only be about half the link's max
//! message size, and every output event would carry half the rows it could.
use std::time::Duration;

use azure_messaging_eventhubs::ProducerClient;
use azure_messaging_eventhubs::models::AmqpMessage;

use crate::azure::eventhubs::{CallFailure, bounded_call, from_eventhubs};

/// Largest body probed: Event Hubs Dedicated accepts events of up to 20 MB.
const PROBE_CEILING: usize = 32 * 1024 * 1024;

/// A lower bound, within a few bytes, of the max message size of `producer`'s link.
///
/// A batch is sized by the link's max message size and an empty one takes an event exactly when
/// the batch's count of it fits: so the largest accepted event's count (`size()`) is at most the
/// limit, and one byte more is above it. A binary search over body sizes finds it whatever the
/// SDK's accounting; an SDK that counts the first event once only makes the bound tighter.
/// Returns 0 when not even an empty event fits.
pub async fn measure(producer: &ProducerClient, context: &str, limit: Duration) -> Result<u64, CallFailure> {
    let context = format!("{context}: measuring the link's max message size");
    let mut fitted: Option<(usize, u64)> = None;
    let mut refused: Option<usize> = None;
    let mut batch = bounded_call(&context, limit, producer.create_batch(None)).await?;
    while let Some(next) = next_probe(fitted.map(|(len, _)| len), refused) {
        let probe = AmqpMessage::builder().add_message_body_binary(vec![0u8; next]).build();
        match batch.try_add_amqp_message(probe, None) {
            Ok(true) => {
                fitted = Some((next, batch.size()));
                batch = bounded_call(&context, limit, producer.create_batch(None)).await?;
            }
            // A refusal leaves the batch empty, ready for the next (smaller) probe.
            Ok(false) => refused = Some(next),
            Err(e) => return Err(CallFailure { error: from_eventhubs(&context, &e), reconnect: false }),
        }
    }
    Ok(fitted.map_or(0, |(_, size)| size))
}

/// The next body length to try, given the largest that fitted and the smallest refused; `None`
/// once they are adjacent (or the ceiling fitted).
fn next_probe(fitted: Option<usize>, refused: Option<usize>) -> Option<usize> {
    match (fitted, refused) {
        (None, None) => Some(64 * 1024),
        (Some(len), None) => (len < PROBE_CEILING).then(|| (len * 2).min(PROBE_CEILING)),
        (fitted, Some(refused)) => {
            // The smallest length not yet known to fit.
            let low = fitted.map_or(0, |len| len + 1);
            (low < refused).then(|| low + (refused - low) / 2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the search against a limit: a body fits when it is at most `max`.
    fn search(max: usize) -> Option<usize> {
        let (mut fitted, mut refused) = (None, None);
        let mut steps = 0;
        while let Some(next) = next_probe(fitted, refused) {
            steps += 1;
            assert!(steps < 80, "the search ends");
            if next <= max { fitted = Some(next) } else { refused = Some(next) }
        }
        fitted
    }

    #[test]
    fn finds_the_largest_body_that_fits() {
        for max in [0, 1, 3, 1000, 65_535, 65_536, 65_537, 524_000, 1_048_576, 20_971_520] {
            assert_eq!(search(max), Some(max), "limit {max}");
        }
        assert_eq!(search(PROBE_CEILING + 5), Some(PROBE_CEILING));
    }
}
