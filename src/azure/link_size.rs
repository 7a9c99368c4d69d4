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

/// The batch's count stops growing here: Event Hubs Dedicated accepts events of up to 20 MB.
const PROBE_CEILING: u64 = 32 * 1024 * 1024;

/// The first probe's body; bodies double while they fit.
const FIRST_PROBE: usize = 64 * 1024;

/// A lower bound of the max message size of `producer`'s link, within the count of one
/// empty event (a few dozen bytes).
///
/// A batch is sized by the link's max message size, and takes an event exactly when its count
/// with the event stays within it. So one batch is filled (`fill`): probe events of doubling
/// bodies until one is refused, then of halving ones, each kept when it fits. What the batch
/// then counts is at most the limit, and short of it by less than the smallest probe's count,
/// whatever the SDK's accounting. (A binary search over one-event batches, the way this was
/// measured before, built and encoded 8 to 12 times the limit in probe bodies, about 10 ms of CPU
/// for a 1 MiB link; filling encodes two to three times the limit.) Returns 0 when not even
/// an empty event fits.
pub async fn measure(producer: &ProducerClient, context: &str, limit: Duration) -> Result<u64, CallFailure> {
    let context = format!("{context}: measuring the link's max message size");
    let batch = bounded_call(&context, limit, producer.create_batch(None)).await?;
    let added = fill(
        |len| {
            let probe = AmqpMessage::builder().add_message_body_binary(vec![0u8; len]).build();
            batch.try_add_amqp_message(probe, None)
        },
        || batch.size(),
    );
    added.map_err(|e| CallFailure { error: from_eventhubs(&context, &e), reconnect: false })
}

/// Fills a batch with probe bodies (`try_add` adds one of the given length when it fits; `size`
/// is the batch's count): doubling from [`FIRST_PROBE`] while they fit, then halving after each
/// refusal, down to an empty body. Returns the batch's count at the end.
fn fill<E>(mut try_add: impl FnMut(usize) -> Result<bool, E>, size: impl Fn() -> u64) -> Result<u64, E> {
    let mut len = FIRST_PROBE;
    let mut growing = true;
    while size() < PROBE_CEILING {
        if try_add(len)? {
            if growing {
                len = len.saturating_mul(2).min(PROBE_CEILING as usize);
            }
        } else if len == 0 {
            break;
        } else {
            growing = false;
            len /= 2;
        }
    }
    Ok(size())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// SDK 0.15's accounting, in short: an event of body `len` encodes to `len + 40` bytes, the
    /// first one is counted twice, and each counts 8 bytes of framing.
    struct Batch {
        max: u64,
        size: Cell<u64>,
        probed: Cell<u64>,
    }

    impl Batch {
        fn new(max: u64) -> Self {
            Batch { max, size: Cell::new(0), probed: Cell::new(0) }
        }

        fn try_add(&self, len: usize) -> Result<bool, ()> {
            self.probed.set(self.probed.get() + len as u64);
            let encoded = len as u64 + 40;
            let first = if self.size.get() == 0 { encoded } else { 0 };
            let after = self.size.get() + first + encoded + 8;
            if after > self.max {
                return Ok(false);
            }
            self.size.set(after);
            Ok(true)
        }
    }

    fn measure(max: u64) -> (u64, u64) {
        let batch = Batch::new(max);
        let size = fill(|len| batch.try_add(len), || batch.size.get()).unwrap();
        (size, batch.probed.get())
    }

    #[test]
    fn a_lower_bound_within_one_empty_event() {
        for max in [0, 47, 48, 100, 1000, 4096, 65_535, 262_144, 1_048_576, 20_971_520] {
            let (size, _) = measure(max);
            assert!(size <= max, "limit {max}: measured {size}");
            // Nothing fits: 0. Otherwise short by less than an empty event's count (48 bytes).
            if max >= 88 {
                assert!(max - size < 48, "limit {max}: measured {size}");
            } else {
                assert!(size == 0 || max - size < 48, "limit {max}: measured {size}");
            }
        }
        assert!(measure(u64::MAX).0 >= PROBE_CEILING, "an unbounded link stops at the ceiling");
    }

    #[test]
    fn probes_encode_two_to_three_times_the_limit() {
        // A binary search over one-event batches probed 8 to 12 times the limit in bodies.
        for max in [262_144, 1_048_576, 20_971_520] {
            let (_, probed) = measure(max);
            assert!(probed < max * 3, "limit {max}: {probed} bytes of probe bodies");
        }
    }
}
