//! The engine's seams, failing on a schedule: a row sink and an offset store that, per call, do
//! the work, fail transiently, crash before the step or crash after it, and a ledger they share
//! that records every row accepted and every offset saved past a row not yet accepted.
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use flowlog::domain::blob_name::BlobName;
use flowlog::domain::offset::OffsetState;
use flowlog::pipeline::error::{ServiceError, ServiceResult};
use flowlog::pipeline::offset_store::memory::MemoryOffsetStore;
use flowlog::pipeline::offset_store::{OffsetStore, Version};
use flowlog::pipeline::row_sink::memory::MemoryRowSink;
use flowlog::pipeline::row_sink::{RowBatch, RowSink};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    None,
    Transient,
    /// Fails without doing the work (crash before the step).
    Before,
    /// Does the work, then fails (crash after the step, before the next one).
    After,
}

pub fn fault_strategy() -> impl Strategy<Value = Fault> {
    prop_oneof![4 => Just(Fault::None), 1 => Just(Fault::Transient), 1 => Just(Fault::Before), 1 => Just(Fault::After)]
}

#[derive(Default)]
pub struct Faults(Mutex<VecDeque<Fault>>);

impl Faults {
    pub fn next(&self) -> Fault {
        self.0.lock().unwrap().pop_front().unwrap_or(Fault::None)
    }
    pub fn set(&self, f: Vec<Fault>) {
        *self.0.lock().unwrap() = f.into();
    }
}

pub fn crash(step: &str) -> ServiceError {
    ServiceError::permanent(format!("injected crash around {step}"))
}

/// Row ids the sink accepted, and what the offset store saw: shared by the faulty seams.
#[derive(Default)]
pub struct Ledger {
    pub delivered: Mutex<HashSet<String>>,
    /// Per blob, its rows' (record offset, id) in the final content.
    pub expected: Mutex<HashMap<BlobName, Vec<(u64, String)>>>,
    /// Offsets saved past rows the sink had not accepted.
    pub violations: Mutex<Vec<String>>,
    /// Accepted events carrying rows of more than one blob.
    pub shared_events: Mutex<usize>,
}

impl Ledger {
    pub fn accepted(&self, batch: &RowBatch<'_>) {
        let mut delivered = self.delivered.lock().unwrap();
        let mut blobs = HashSet::new();
        for line in batch.segments.iter().flat_map(|s| std::str::from_utf8(s).unwrap().lines()) {
            let id = row_id(line);
            blobs.insert(id.split('-').next().unwrap().to_string());
            delivered.insert(id);
        }
        if blobs.len() > 1 {
            *self.shared_events.lock().unwrap() += 1;
        }
    }

    /// Every row of a record before `offset` must have been accepted before the offset is saved.
    pub fn check_save(&self, blob: &BlobName, offset: u64) {
        let delivered = self.delivered.lock().unwrap();
        let expected = self.expected.lock().unwrap();
        for (at, id) in expected.get(blob).into_iter().flatten() {
            if *at < offset && !delivered.contains(id) {
                self.violations.lock().unwrap().push(format!("{blob}: offset {offset} saved before row {id}"));
            }
        }
    }
}

#[derive(Default)]
pub struct FaultySink {
    pub inner: MemoryRowSink,
    pub faults: Faults,
    pub ledger: Arc<Ledger>,
    /// The event size the engine packs to (`None`: four flushes).
    pub event_bytes: Option<usize>,
}

impl RowSink for FaultySink {
    fn segment_bytes(&self) -> Option<usize> {
        self.event_bytes
    }

    async fn send(&self, batch: RowBatch<'_>) -> ServiceResult<()> {
        match self.faults.next() {
            Fault::None => {
                self.ledger.accepted(&batch);
                self.inner.send(batch).await
            }
            Fault::Transient => Err(ServiceError::transient("injected throttling")),
            Fault::Before => Err(crash("send")),
            Fault::After => {
                self.ledger.accepted(&batch);
                self.inner.send(batch).await?;
                Err(crash("send"))
            }
        }
    }
}

#[derive(Default)]
pub struct FaultyOffsets {
    pub inner: MemoryOffsetStore,
    pub faults: Faults,
    pub history: Mutex<HashMap<BlobName, Vec<u64>>>,
    pub ledger: Arc<Ledger>,
}

impl OffsetStore for FaultyOffsets {
    async fn load(&self, blob: &BlobName) -> ServiceResult<Option<(OffsetState, Version)>> {
        self.inner.load(blob).await
    }

    async fn save(&self, blob: &BlobName, state: &OffsetState, expected: Option<&Version>) -> ServiceResult<Version> {
        let fault = self.faults.next();
        match fault {
            Fault::Transient => return Err(ServiceError::transient("injected timeout")),
            Fault::Before => return Err(crash("offset commit")),
            _ => {}
        }
        let v = self.inner.save(blob, state, expected).await?;
        self.ledger.check_save(blob, state.offset);
        self.history.lock().unwrap().entry(blob.clone()).or_default().push(state.offset);
        if let Fault::After = fault { Err(crash("offset commit")) } else { Ok(v) }
    }

    async fn sweep(&self, cutoff_ms: i64) -> ServiceResult<u64> {
        self.inner.sweep(cutoff_ms).await
    }

    async fn pending(&self) -> ServiceResult<Vec<(BlobName, OffsetState)>> {
        self.inner.pending().await
    }
}

/// A row's id, from its NDJSON line.
pub fn row_id(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line).unwrap()["id"].as_str().unwrap().to_string()
}
