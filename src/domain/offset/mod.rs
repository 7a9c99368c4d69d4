//! Pure offset arithmetic: what a blob's stored offset means, what to read next, how to reconcile races.
//!
//! No I/O, no clocks: callers pass times in.
pub mod keys;
pub mod pending;
pub mod state;

pub use pending::PendingRetry;
pub use state::{OffsetState, Plan, Reconcile, TAIL_LEN, plan_read, reconcile};
