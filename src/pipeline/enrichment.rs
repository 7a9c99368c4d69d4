//! The enrichment data the engine flattens with: one shared version that a reloader can
//! replace at any time. Each blob read takes the version current at its start, so every row
//! of a batch sees one version and a reload never blocks a reader.
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::domain::enrich::Enricher;

#[derive(Clone, Debug)]
pub struct EnrichmentHandle(Arc<ArcSwap<Enricher>>);

impl Default for EnrichmentHandle {
    fn default() -> Self {
        EnrichmentHandle::new(Enricher::basic())
    }
}

impl EnrichmentHandle {
    pub fn new(enricher: Arc<Enricher>) -> Self {
        EnrichmentHandle(Arc::new(ArcSwap::new(enricher)))
    }

    /// The version to use for the next batch.
    pub fn current(&self) -> Arc<Enricher> {
        self.0.load_full()
    }

    /// Makes `enricher` the version later batches use; batches under way keep theirs.
    pub fn replace(&self, enricher: Arc<Enricher>) {
        self.0.store(enricher);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
