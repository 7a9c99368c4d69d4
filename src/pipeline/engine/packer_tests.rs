//! The packer's memory bounds: small segments are copied (not kept with their read buffers),
//! an event's parts are freed once copied into its body, and no rows are added while a closed
//! event waits for room in flight.
use futures::FutureExt;

use super::*;

#[test]
fn small_segments_are_copied_and_large_ones_freed_once_in_the_body() {
    let mut ev = OpenEvent::new(0, &BlobName::new("a/c/b/PT1H.json"));
    let small = Bytes::from(b"{\"a\":1}\n".repeat(100));
    let large = Bytes::from(vec![b'\n'; KEEP_SEGMENT_BYTES]);
    ev.push(small.clone(), 16 << 20);
    assert!(small.is_unique(), "a small segment is not kept (its buffer is a whole read's)");
    ev.push(large.clone(), 16 << 20);
    ev.push(small.clone(), 16 << 20);
    assert!(!large.is_unique(), "a large segment is kept as it is until the body is made");
    let body = ev.body();
    assert!(large.is_unique(), "the parts are freed when the body is made, not after the send");
    assert_eq!(body.len(), small.len() * 2 + large.len());
    assert_eq!(&body[..small.len()], &small[..], "order kept");
    assert_eq!(&body[small.len()..small.len() + large.len()], &large[..]);
}

/// A sink whose sends never end: events stay in flight.
struct Stuck;

impl RowSink for Stuck {
    async fn send(&self, _: RowBatch<'_>) -> ServiceResult<()> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn rows_wait_while_a_closed_event_waits_for_room_in_flight() {
    let packer = Arc::new(Packer::default());
    let (sink, metrics) = (Arc::new(Stuck), Arc::new(Metrics::new()));
    let env = Env {
        sink: &sink,
        metrics: &metrics,
        linger: Duration::from_secs(60),
        max_events_in_flight: 1,
        event_bytes: 10,
    };
    let blob = BlobName::new("a/c/b/PT1H.json");
    let rows = || vec![Bytes::from_static(b"0123456789\n")];
    // The first full event goes in flight; the second waits for room, holding its rows.
    packer.submit(&env, &blob, rows()).await.unwrap();
    let mut second = std::pin::pin!(packer.submit(&env, &blob, rows()));
    assert!(second.as_mut().now_or_never().is_none(), "no room in flight");
    // Meanwhile nobody starts a new event: a third submission waits too (before, every reader
    // that filled an event held it while waiting, so memory grew with the readers).
    let mut third = std::pin::pin!(packer.submit(&env, &blob, vec![Bytes::from_static(b"x\n")]));
    assert!(third.as_mut().now_or_never().is_none(), "rows are not added while a closed event waits");
    assert!(packer.open.lock().unwrap().is_none(), "no event was opened meanwhile");
}
