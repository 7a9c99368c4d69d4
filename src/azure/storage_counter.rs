//! Counts every storage HTTP try into [`StorageMetrics`]: a per-try policy placed after the
//! SDK's retry policy in the Blob (`azure_core` 1.x) and Table (`azure_core` 0.21) pipelines, so
//! tries the SDKs retry on their own (5xx, resets, timeouts) show in `/metrics` although no
//! flowlog code sees them.
use std::fmt;
use std::sync::Arc;

use crate::pipeline::storage_metrics::{StatusClass, StorageMetrics, StorageOp, StorageService};

/// Which client a pipeline belongs to: decides the service label and how operations are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageRole {
    /// Flow-log blobs: properties, range reads, listings.
    Sources,
    /// The offset table.
    Offsets,
    /// The Event Hubs checkpoint store (ownership and checkpoints, as blobs).
    Checkpoints,
}

/// A clone of the metrics and the role of one client; cheap to clone.
#[derive(Clone)]
pub struct StorageCounter {
    metrics: StorageMetrics,
    role: StorageRole,
}

impl fmt::Debug for StorageCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StorageCounter").field(&self.role).finish()
    }
}

impl StorageCounter {
    pub fn new(metrics: &StorageMetrics, role: StorageRole) -> Self {
        StorageCounter { metrics: metrics.clone(), role }
    }

    fn request(&self, method: &str, path: &str, query: Option<&str>) -> StorageService {
        let (service, op) = classify(self.role, method, path, query.unwrap_or(""));
        self.metrics.request(service, op);
        service
    }

    /// The policy for `azure_core` 1.x pipelines (Blob).
    pub fn policy(&self) -> Arc<dyn azure_core::http::policies::Policy> {
        Arc::new(CountingPolicy(self.clone()))
    }

    /// The policy for `azure_core` 0.21 pipelines (Table).
    pub fn legacy_policy(&self) -> Arc<dyn azure_core_legacy::Policy> {
        Arc::new(LegacyCountingPolicy(self.clone()))
    }
}

/// The operation a request performs, from its method and URL alone.
pub fn classify(role: StorageRole, method: &str, path: &str, query: &str) -> (StorageService, StorageOp) {
    let has = |param: &str| query.split('&').any(|kv| kv.split('=').next() == Some(param));
    match role {
        StorageRole::Checkpoints => (StorageService::Blob, StorageOp::Checkpoint),
        StorageRole::Sources => {
            let op = match method {
                "HEAD" => StorageOp::Properties,
                "GET" if has("comp") => StorageOp::List,
                "GET" => StorageOp::ReadRange,
                "PUT" => StorageOp::Write,
                _ => StorageOp::Other,
            };
            (StorageService::Blob, op)
        }
        StorageRole::Offsets => {
            // Entities are addressed as `/table(PartitionKey='..',RowKey='..')`; tables as `/Tables`.
            let entity = path.contains("(PartitionKey=");
            let op = match method {
                "GET" if entity => StorageOp::GetOffset,
                "GET" => StorageOp::QueryOffsets,
                "POST" if !path.ends_with("/Tables") => StorageOp::InsertOffset,
                "PUT" | "MERGE" | "PATCH" if entity => StorageOp::PutOffset,
                "DELETE" if entity => StorageOp::DeleteOffset,
                _ => StorageOp::Other,
            };
            (StorageService::Table, op)
        }
    }
}

#[derive(Debug)]
struct CountingPolicy(StorageCounter);

#[async_trait::async_trait]
impl azure_core::http::policies::Policy for CountingPolicy {
    async fn send(
        &self,
        ctx: &azure_core::http::Context,
        request: &mut azure_core::http::Request,
        next: &[Arc<dyn azure_core::http::policies::Policy>],
    ) -> azure_core::http::policies::PolicyResult {
        let url = request.url();
        let service = self.0.request(request.method().as_str(), url.path(), url.query());
        let Some((first, rest)) = next.split_first() else {
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                "the counting policy must not be the last policy of a pipeline",
            ));
        };
        let result = first.send(ctx, request, rest).await;
        let class = match &result {
            Ok(response) => StatusClass::of(u16::from(response.status())),
            Err(e) => e.http_status().map_or(StatusClass::NoResponse, |s| StatusClass::of(u16::from(s))),
        };
        self.0.metrics.response(service, class);
        result
    }
}

impl fmt::Debug for LegacyCountingPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

struct LegacyCountingPolicy(StorageCounter);

#[async_trait::async_trait]
impl azure_core_legacy::Policy for LegacyCountingPolicy {
    async fn send(
        &self,
        ctx: &azure_core_legacy::Context,
        request: &mut azure_core_legacy::Request,
        next: &[Arc<dyn azure_core_legacy::Policy>],
    ) -> azure_core_legacy::PolicyResult {
        let url = request.url();
        let service = self.0.request(request.method().as_ref(), url.path(), url.query());
        let Some((first, rest)) = next.split_first() else {
            return Err(azure_core_legacy::error::Error::message(
                azure_core_legacy::error::ErrorKind::Other,
                "the counting policy must not be the last policy of a pipeline",
            ));
        };
        let result = first.send(ctx, request, rest).await;
        let class = match &result {
            Ok(response) => StatusClass::of(response.status() as u16),
            Err(e) => match e.kind() {
                azure_core_legacy::error::ErrorKind::HttpResponse { status, .. } => StatusClass::of(*status as u16),
                _ => StatusClass::NoResponse,
            },
        };
        self.0.metrics.response(service, class);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_from_method_and_url() {
        use StorageOp::*;
        let blob = |m, q| classify(StorageRole::Sources, m, "/acct/c/PT1H.json", q).1;
        assert_eq!(blob("HEAD", ""), Properties);
        assert_eq!(blob("GET", ""), ReadRange);
        assert_eq!(blob("GET", "restype=container&comp=list&prefix=a"), List);
        let table = |m, p| classify(StorageRole::Offsets, m, p, "").1;
        let entity = "/acct/offsets(PartitionKey='p',RowKey='r')";
        assert_eq!(table("GET", entity), GetOffset);
        assert_eq!(table("PUT", entity), PutOffset);
        assert_eq!(table("DELETE", entity), DeleteOffset);
        assert_eq!(table("POST", "/acct/offsets"), InsertOffset);
        assert_eq!(table("POST", "/acct/Tables"), Other);
        assert_eq!(table("GET", "/acct/offsets()"), QueryOffsets);
        assert_eq!(
            classify(StorageRole::Checkpoints, "PUT", "/a/c/x", "comp=metadata"),
            (StorageService::Blob, Checkpoint)
        );
    }
}
