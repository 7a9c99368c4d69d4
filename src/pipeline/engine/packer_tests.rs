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

/// A sink that only reads the rows (as a compressing one does), keeping a copy of each body.
#[derive(Default)]
struct Reading {
    reads_only: bool,
    bodies: Mutex<Vec<Vec<u8>>>,
}

impl RowSink for Reading {
    fn reads_segments_only(&self) -> bool {
        self.reads_only
    }

    async fn send(&self, batch: RowBatch<'_>) -> ServiceResult<()> {
        let body: Vec<u8> = batch.segments.iter().flat_map(|s| s.iter().copied()).collect();
        self.bodies.lock().unwrap().push(body);
        Ok(())
    }
}

/// Sends one full event of `rows` through `packer` and waits until the sink accepted it.
async fn send_one(packer: &Packer, env: &Env<'_, Reading>, rows: &'static [u8]) {
    let blob = BlobName::new("a/c/b/PT1H.json");
    let tickets = packer.submit(env, &blob, vec![Bytes::from_static(rows)]).await.unwrap();
    packer.wait(env, tickets, false).await.unwrap();
}

#[tokio::test]
async fn a_sink_that_only_reads_gets_the_next_rows_in_the_last_events_buffer() {
    for reads_only in [true, false] {
        let packer = Arc::new(Packer::default());
        let (sink, metrics) = (Arc::new(Reading { reads_only, ..Reading::default() }), Arc::new(Metrics::new()));
        // Rows under a quarter of an event are copied into its buffer; each event goes at once.
        let env =
            Env { sink: &sink, metrics: &metrics, linger: Duration::ZERO, max_events_in_flight: 1, event_bytes: 64 };
        // The send task hands the buffer back before it tells the event's waiters.
        send_one(&packer, &env, b"0123456789\n").await;
        assert_eq!(packer.spare.len(), usize::from(reads_only), "reads_only {reads_only}");
        // The next event takes it, and its rows are its own (nothing of the last event's).
        send_one(&packer, &env, b"abc\n").await;
        let bodies = sink.bodies.lock().unwrap().clone();
        assert_eq!(bodies, vec![b"0123456789\n".to_vec(), b"abc\n".to_vec()]);
    }
}
