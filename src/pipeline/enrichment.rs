//! The enrichment data the engine flattens with: one shared version that a reloader can
//! replace at any time. Each blob read takes the version current at its start, so every row
//! of a batch sees one version and a reload never blocks a reader.
//!
//! Blob reads are short (one minute of one log) and see the same remote hosts as the reads
//! before them, so the writers (with their address caches) are pooled: a read takes a warm
//! writer of the current version instead of looking every address up in the databases again.
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::domain::enrich::Enricher;
use crate::domain::enrich::writer::EnrichWriter;

/// Writers kept for reuse; more reads at once than this build cold writers.
const POOL: usize = 32;

#[derive(Clone)]
pub struct EnrichmentHandle {
    current: Arc<ArcSwap<Enricher>>,
    idle: Arc<Mutex<Vec<EnrichWriter>>>,
}

impl std::fmt::Debug for EnrichmentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrichmentHandle").field("current", &self.current.load().settings()).finish()
    }
}

impl Default for EnrichmentHandle {
    fn default() -> Self {
        EnrichmentHandle::new(Enricher::basic())
    }
}

impl EnrichmentHandle {
    pub fn new(enricher: Arc<Enricher>) -> Self {
        EnrichmentHandle { current: Arc::new(ArcSwap::new(enricher)), idle: Arc::default() }
    }

    /// The version to use for the next batch.
    pub fn current(&self) -> Arc<Enricher> {
        self.current.load_full()
    }

    /// Makes `enricher` the version later batches use; batches under way keep theirs.
    pub fn replace(&self, enricher: Arc<Enricher>) {
        self.current.store(enricher);
        self.lock().clear();
    }

    /// A writer of the current version: a pooled one when there is one, else a new one.
    pub fn writer(&self) -> EnrichWriter {
        let current = self.current();
        let mut idle = self.lock();
        idle.retain(|w| Arc::ptr_eq(w.enricher(), &current));
        idle.pop().unwrap_or_else(|| EnrichWriter::new(current))
    }

    /// Returns a writer for later reads; one of a replaced version is dropped.
    pub fn give_back(&self, writer: EnrichWriter) {
        if !Arc::ptr_eq(writer.enricher(), &self.current.load()) {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < POOL {
            idle.push(writer);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<EnrichWriter>> {
        // The pool holds no invariant a panicking holder could break.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::format::Layout;
    use crate::domain::format::tuple::parse_tuple_bytes;

    fn write_one(w: &mut EnrichWriter) {
        let t = parse_tuple_bytes(Layout::NsgV2, b"1542110377,10.0.0.4,8.8.8.8,50000,443,T,O,A,B,,,,", 0).unwrap();
        w.write_ndjson(&t, &mut Vec::new());
    }

    #[test]
    fn a_replacement_reaches_clones_and_spares_versions_in_use() {
        let handle = EnrichmentHandle::default();
        let clone = handle.clone();
        let in_use = clone.current();
        assert!(!in_use.settings().community_id);
        let newer = Arc::new(Enricher::new(vec![], vec![], None, true, false).unwrap());
        handle.replace(newer);
        assert!(clone.current().settings().community_id);
        assert!(!in_use.settings().community_id, "a batch keeps the version it started with");
    }

    #[test]
    fn writers_come_back_warm_until_the_version_changes() {
        let handle = EnrichmentHandle::default();
        // With a database on: only then does a writer keep an address cache.
        let asn = crate::domain::enrich::csv_ranges::AsnTable::from_csv(b"8.8.8.0,8.8.8.255,15169,Google LLC\n");
        let asn = crate::domain::enrich::DataFile::AsnCsv(asn.unwrap());
        handle.replace(Arc::new(Enricher::new(vec![asn], vec![], None, false, false).unwrap()));
        let mut w = handle.writer();
        write_one(&mut w);
        assert_eq!(w.cached_addresses(), 2);
        handle.clone().give_back(w);
        let w = handle.writer();
        assert_eq!(w.cached_addresses(), 2, "the next read reuses the cache");
        let (a, b) = (w, handle.writer());
        assert_eq!(b.cached_addresses(), 0, "a second read at once gets its own writer");
        handle.give_back(a);
        handle.give_back(b);

        let stale = handle.writer();
        handle.replace(Arc::new(Enricher::new(vec![], vec![], None, true, false).unwrap()));
        handle.give_back(stale);
        let fresh = handle.writer();
        assert_eq!(fresh.cached_addresses(), 0, "no writer of a replaced version is reused");
        assert!(fresh.settings().community_id);
    }
}
