//! The Table client's HTTP transport: a `reqwest` client that keeps connections open.
//!
//! `azure_core` 0.21's default client sets `pool_max_idle_per_host(0)` (a workaround for an old
//! hyper hang), so every offset load and write opened a TCP connection, and a TLS session
//! against Azure, of its own: most of a quiet blob's Table cost. The Blob clients (`azure_core`
//! 1.x) pool theirs, as this one now does. One client per store: a pooled connection belongs to
//! the runtime that opened it, so a process-wide client would outlive test runtimes.
use std::sync::Arc;
use std::time::Duration;

use azure_core_legacy::{HttpClient, TransportOptions};

use crate::pipeline::error::{ServiceError, ServiceResult};

/// As the Blob clients' transport (`typespec_client_core`): a connection that cannot be made in
/// this long is an error the retry policy sees, not a call that hangs until the engine's bound.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A pooled transport for one Table client.
pub fn pooled() -> ServiceResult<TransportOptions> {
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        // Table storage answers without redirects; one would be an error to see, not to follow.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        // Only a TLS backend that cannot start fails here.
        .map_err(|e| ServiceError::permanent(format!("building the Table client's HTTP transport: {e}")))?;
    Ok(TransportOptions::new(Arc::new(client) as Arc<dyn HttpClient>))
}
