//! The engine's guarantees on in-memory seams, under random schedules: appends, duplicate,
//! stale, reordered and missing events, failures injected between any two commit steps
//! (including "delivered, then crashed" and "committed, then crashed", also when what was
//! delivered is the first part of a record larger than a flush), and two workers racing
//! on the same blobs. Rows of several blobs share output events (group commit, with random
//! event sizes, linger bounds, read and in-flight limits), so faults also land between a
//! shared event's acknowledgement and each of its blobs' offset commits, and a blob's rows
//! span several events. Whatever happens, once a final event per blob is processed:
//! every expected row id was delivered, every duplicate is an identical row, offsets
//! never moved backwards and end at the blobs' record-region ends, and no offset was ever
//! saved past a row the sink had not accepted.
#[path = "support/faulty_seams.rs"]
mod faulty_seams;
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use faulty_seams::{Fault, FaultyOffsets, FaultySink, Ledger, fault_strategy, row_id};
use flowlog::domain::blob_name::BlobName;
use flowlog::domain::flatten::RangeFlattener;
use flowlog::domain::ids::RowIds;
use flowlog::domain::row::ndjson::NdjsonEncoder;
use flowlog::pipeline::blob_store::memory::MemoryBlobStore;
use flowlog::pipeline::change_feed::memory::MemoryFeed;
use flowlog::pipeline::change_feed::{BlobChanged, EventBody, FeedEvent, FeedPosition};
use flowlog::pipeline::dead_letter::memory::MemoryDeadLetters;
use flowlog::pipeline::engine::{Engine, EngineConfig, RetryPolicy};
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
struct Round {
    appends: Vec<usize>,
    /// (blob, None = current length, Some(i) = the i-th length seen so far: stale or duplicate)
    events: Vec<(usize, Option<prop::sample::Index>)>,
    two_workers: bool,
    sink_faults: Vec<Fault>,
    offset_faults: Vec<Fault>,
}

fn round_strategy(blobs: usize) -> impl Strategy<Value = Round> {
    (
        prop::collection::vec(0..blobs, 0..4),
        prop::collection::vec((0..blobs, prop::option::of(any::<prop::sample::Index>())), 0..5),
        prop::bool::weighted(0.3),
        prop::collection::vec(fault_strategy(), 0..4),
        prop::collection::vec(fault_strategy(), 0..4),
    )
        .prop_map(|(appends, events, two_workers, sink_faults, offset_faults)| Round {
            appends,
            events,
            two_workers,
            sink_faults,
            offset_faults,
        })
}

/// Per blob, its records as (layout kind, tuples per group).
type BlobSpecs = Vec<Vec<(u8, Vec<u32>)>>;

/// How rows are packed: event size (`None`: the engine's four flushes), linger in ms,
/// blobs reading at once, events in flight.
#[derive(Clone, Debug)]
struct Packing {
    event_bytes: Option<usize>,
    linger_ms: u64,
    blob_concurrency: usize,
    in_flight: usize,
}

fn packing_strategy() -> impl Strategy<Value = Packing> {
    (prop::option::of(prop_oneof![Just(700usize), Just(3000), Just(20_000)]), 0u64..15, 1usize..4, 1usize..4).prop_map(
        |(event_bytes, linger_ms, blob_concurrency, in_flight)| Packing {
            event_bytes,
            linger_ms,
            blob_concurrency,
            in_flight,
        },
    )
}

fn scenario() -> impl Strategy<Value = (BlobSpecs, Vec<Round>)> {
    (1usize..5).prop_flat_map(|n| {
        // Records of up to 21 rows (about 18 KB of NDJSON) against a 2 KB flush: rows go out in
        // the middle of records, and faults land between such a flush and its record's commit.
        let record = (0u8..3, prop::collection::vec(0u32..8, 1..4));
        (prop::collection::vec(prop::collection::vec(record, 1..6), n), prop::collection::vec(round_strategy(n), 1..6))
    })
}

/// Blob content after `n` records, as committed by Azure (head, records, tail).
fn content(records: &[String], n: usize) -> String {
    format!("{{\"records\":[{}]}}", records[..n].join(","))
}

fn expected_rows(name: &str, full: &str) -> HashMap<String, String> {
    let mut enc = NdjsonEncoder::new();
    RangeFlattener::new(RowIds::new(name), 0).push(full.as_bytes(), true, &mut enc);
    String::from_utf8(enc.into_out()).unwrap().lines().map(|l| (row_id(l), l.to_string())).collect()
}

/// The record offset in a row id (`hash-offset-ordinal`).
fn record_offset(id: &str) -> u64 {
    id.split('-').nth(1).unwrap().parse().unwrap()
}

type TestEngine = Engine<MemoryBlobStore, FaultyOffsets, FaultySink, MemoryDeadLetters>;

async fn run_events(engine: &TestEngine, events: Vec<FeedEvent>) {
    let (feed, _) = MemoryFeed::new(vec![events]);
    engine.run(feed, CancellationToken::new()).await.unwrap();
}

fn event(seq: &mut i64, blob: &BlobName, len: u64) -> FeedEvent {
    *seq += 1;
    FeedEvent {
        position: FeedPosition { sequence: *seq, event_offset: seq.to_string() },
        body: EventBody::Changed(BlobChanged {
            blob: blob.clone(),
            content_length: len,
            sequencer: None,
            etag: None,
            enqueued_ms: None,
        }),
    }
}

/// `content_checks`: the engine as local mode runs it, checking content marks on every read;
/// blobs that only grow must never be taken for rewritten ones.
async fn check(
    blob_specs: BlobSpecs,
    rounds: Vec<Round>,
    content_checks: bool,
    packing: Packing,
) -> Result<(), TestCaseError> {
    let names: Vec<BlobName> = (0..blob_specs.len()).map(|i| BlobName::new(format!("acct/c/b{i}/PT1H.json"))).collect();
    let records: Vec<Vec<String>> = blob_specs
        .iter()
        .map(|recs| recs.iter().map(|(k, g)| support::flowgen::record(*k, g, None)).collect())
        .collect();
    let cfg = EngineConfig {
        retry: RetryPolicy::fast(),
        flush_bytes: 2048,
        max_batch_events: 4,
        blob_concurrency: packing.blob_concurrency,
        linger: Duration::from_millis(packing.linger_ms),
        max_events_in_flight: packing.in_flight,
        ..Default::default()
    };
    let ledger = Arc::new(Ledger::default());
    for (b, name) in names.iter().enumerate() {
        let rows = expected_rows(name.as_str(), &content(&records[b], records[b].len()));
        let mut ids: Vec<(u64, String)> = rows.into_keys().map(|id| (record_offset(&id), id)).collect();
        ids.sort();
        ledger.expected.lock().unwrap().insert(name.clone(), ids);
    }
    let engine = Engine::new(
        Arc::new(MemoryBlobStore::with_chunk_size(97).with_content_checks(content_checks)),
        Arc::new(FaultyOffsets { ledger: ledger.clone(), ..Default::default() }),
        Arc::new(FaultySink { ledger: ledger.clone(), event_bytes: packing.event_bytes, ..Default::default() }),
        Arc::new(MemoryDeadLetters::new()),
        cfg,
    );
    let mut written = vec![0usize; names.len()];
    let mut lengths: Vec<Vec<u64>> = vec![Vec::new(); names.len()];
    let mut seq = 0i64;
    for round in rounds {
        for b in round.appends {
            if written[b] < records[b].len() {
                written[b] += 1;
                let c = content(&records[b], written[b]);
                lengths[b].push(c.len() as u64);
                engine.blobs.put(&names[b], c.into_bytes(), Some(1));
            }
        }
        let mut events = Vec::new();
        for (b, which) in round.events {
            let Some(&current) = lengths[b].last() else { continue };
            let len = which.map_or(current, |i| lengths[b][i.index(lengths[b].len())]);
            events.push(event(&mut seq, &names[b], len));
        }
        engine.sink.faults.set(round.sink_faults);
        engine.offsets.faults.set(round.offset_faults);
        if round.two_workers {
            let other = engine.clone();
            tokio::join!(run_events(&engine, events.clone()), run_events(&other, events));
        } else {
            run_events(&engine, events).await;
        }
    }
    // Everything is eventually written and announced once more, without faults.
    engine.sink.faults.set(vec![]);
    engine.offsets.faults.set(vec![]);
    let mut finals = Vec::new();
    for (b, name) in names.iter().enumerate() {
        let c = content(&records[b], records[b].len());
        engine.blobs.put(name, c.clone().into_bytes(), Some(1));
        finals.push(event(&mut seq, name, c.len() as u64));
    }
    run_events(&engine, finals).await;

    let mut expected = HashMap::new();
    for (b, name) in names.iter().enumerate() {
        expected.extend(expected_rows(name.as_str(), &content(&records[b], records[b].len())));
    }
    let mut delivered: HashMap<String, String> = HashMap::new();
    for line in engine.sink.inner.lines() {
        let id = row_id(&line);
        let want = expected.get(&id);
        prop_assert!(want.is_some(), "unexpected row {id}");
        prop_assert_eq!(want.unwrap(), &line, "a delivered row differs from the expected row");
        delivered.insert(id, line);
    }
    prop_assert_eq!(delivered.len(), expected.len(), "rows lost");
    let violations = ledger.violations.lock().unwrap().clone();
    prop_assert!(violations.is_empty(), "offsets saved past rows not accepted: {:?}", violations);
    for (b, name) in names.iter().enumerate() {
        let history = engine.offsets.history.lock().unwrap().get(name).cloned().unwrap_or_default();
        prop_assert!(history.windows(2).all(|w| w[0] <= w[1]), "offset moved backwards: {:?}", history);
        let end = content(&records[b], records[b].len()).len() as u64 - 2;
        prop_assert_eq!(engine.offsets.inner.get(name).map(|s| s.offset), Some(end));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn nothing_lost_duplicates_identical_offsets_monotonic(
        (blobs, rounds) in scenario(),
        content_checks: bool,
        packing in packing_strategy(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(check(blobs, rounds, content_checks, packing))?;
    }
}
