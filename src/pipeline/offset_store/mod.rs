//! The offset-store seam: per-blob offsets with compare-and-swap.
pub mod memory;

use std::future::Future;

use crate::domain::blob_name::BlobName;
use crate::domain::offset::OffsetState;
use crate::pipeline::error::ServiceResult;

/// An opaque version of a stored offset: the Table entity's ETag, or a counter for local files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version(pub String);

pub trait OffsetStore: Send + Sync + 'static {
    /// The stored state and its version, or `None` when the blob was never processed.
    fn load(&self, blob: &BlobName) -> impl Future<Output = ServiceResult<Option<(OffsetState, Version)>>> + Send;

    /// Compare-and-swap: writes `state` only if the stored version is still `expected`
    /// (`None` = insert only if absent). A lost race is `ErrorKind::Conflict`.
    fn save(
        &self,
        blob: &BlobName,
        state: &OffsetState,
        expected: Option<&Version>,
    ) -> impl Future<Output = ServiceResult<Version>> + Send;

    /// Deletes entries last updated before `cutoff_ms`; returns how many were deleted.
    fn sweep(&self, cutoff_ms: i64) -> impl Future<Output = ServiceResult<u64>> + Send;

    /// Every blob whose state carries a retry mark ([`OffsetState::pending`]).
    fn pending(&self) -> impl Future<Output = ServiceResult<Vec<(BlobName, OffsetState)>>> + Send;
}
