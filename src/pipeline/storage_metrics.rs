//! Storage request metrics: every HTTP try the storage adapters make (SDK-internal retries
//! included), by service and operation, their responses by status class, and the engine's
//! offset cache lookups. Registered at zero like the rest of [`crate::pipeline::metrics`].
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::pipeline::labels::label_enum;

type Labels = Vec<(&'static str, String)>;

label_enum!(
    /// The storage service a request went to.
    StorageService { Blob => "blob", Table => "table" }
);
label_enum!(
    /// What a storage request did. Blob and Table operations of the per-blob work are told apart
    /// (the cost per blob-append is the sum of these); the checkpoint store's and dead-letter
    /// writes are counted whole.
    StorageOp {
        ReadRange => "read_range",
        Properties => "properties",
        List => "list",
        Write => "write",
        GetOffset => "get_offset",
        InsertOffset => "insert_offset",
        PutOffset => "put_offset",
        DeleteOffset => "delete_offset",
        QueryOffsets => "query_offsets",
        Checkpoint => "checkpoint",
        DeadLetter => "dead_letter",
        Other => "other",
    }
);
label_enum!(
    /// How one try ended: an HTTP status class, or no response at all (connection or timeout).
    StatusClass { Success => "2xx", Redirect => "3xx", ClientError => "4xx", ServerError => "5xx", NoResponse => "error" }
);
label_enum!(
    /// An offset cache lookup: served from memory, or loaded from the offset store.
    CacheResult { Hit => "hit", Miss => "miss" }
);
label_enum!(
    /// Why cached offsets were dropped.
    CacheDrop { Conflict => "conflict", Ownership => "ownership", Error => "error", Sweep => "sweep" }
);

impl StatusClass {
    pub fn of(status: u16) -> StatusClass {
        match status {
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirect,
            400..=499 => StatusClass::ClientError,
            _ => StatusClass::ServerError,
        }
    }
}

/// Cheap to clone: every clone counts into the same series.
#[derive(Clone, Default)]
pub struct StorageMetrics {
    requests: Family<Labels, Counter>,
    responses: Family<Labels, Counter>,
    cache: Family<Labels, Counter>,
    cache_drops: Family<Labels, Counter>,
}

fn label(key: &'static str, value: &str) -> Labels {
    vec![(key, value.to_string())]
}

fn label2(key: &'static str, value: &str, key2: &'static str, value2: &str) -> Labels {
    vec![(key, value.to_string()), (key2, value2.to_string())]
}

impl StorageMetrics {
    pub fn register(&self, r: &mut Registry) {
        // Written like metrics.rs (`m.` fields, `label`, `label2`): tests/deploy_observability.rs reads both files.
        let m = self;
        r.register(
            "storage_requests",
            "Storage HTTP requests by service and operation, every try (SDK retries included)",
            m.requests.clone(),
        );
        r.register(
            "storage_responses",
            "Storage HTTP tries by service and outcome (status class, or error: no response)",
            m.responses.clone(),
        );
        r.register(
            "offset_cache",
            "Offset lookups served by the engine's cache (hit) or the store (miss)",
            m.cache.clone(),
        );
        r.register("offset_cache_drops", "Cached offsets dropped, by reason", m.cache_drops.clone());
        for s in StorageService::ALL {
            for o in StorageOp::ALL {
                let _ = self.requests.get_or_create(&label2("service", s.as_str(), "operation", o.as_str()));
            }
            for c in StatusClass::ALL {
                let _ = self.responses.get_or_create(&label2("service", s.as_str(), "status", c.as_str()));
            }
        }
        for c in CacheResult::ALL {
            let _ = self.cache.get_or_create(&label("result", c.as_str()));
        }
        for d in CacheDrop::ALL {
            let _ = self.cache_drops.get_or_create(&label("reason", d.as_str()));
        }
    }

    pub fn request(&self, service: StorageService, op: StorageOp) {
        self.requests.get_or_create(&label2("service", service.as_str(), "operation", op.as_str())).inc();
    }

    pub fn response(&self, service: StorageService, class: StatusClass) {
        self.responses.get_or_create(&label2("service", service.as_str(), "status", class.as_str())).inc();
    }

    pub fn cache(&self, result: CacheResult) {
        self.cache.get_or_create(&label("result", result.as_str())).inc();
    }

    pub fn cache_drop(&self, reason: CacheDrop, entries: u64) {
        self.cache_drops.get_or_create(&label("reason", reason.as_str())).inc_by(entries);
    }

    /// Counters read back (tests).
    pub fn requests_count(&self, service: StorageService, op: StorageOp) -> u64 {
        self.requests.get_or_create(&label2("service", service.as_str(), "operation", op.as_str())).get()
    }

    pub fn cache_count(&self, result: CacheResult) -> u64 {
        self.cache.get_or_create(&label("result", result.as_str())).get()
    }

    pub fn cache_drops_count(&self, reason: CacheDrop) -> u64 {
        self.cache_drops.get_or_create(&label("reason", reason.as_str())).get()
    }
}
