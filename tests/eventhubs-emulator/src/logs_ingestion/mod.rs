//! A fake Azure Monitor Logs Ingestion API for flowlog's tests and the local stack: one HTTP/1.1
//! listener that enforces the documented contract and stores what it accepts.
//!
//! `POST /dataCollectionRules/{id}/streams/{stream}?api-version=2023-01-01` answers:
//! - 401 without `Authorization: Bearer`, or when the token's `aud` is not
//!   `https://monitor.azure.com` (tests pass unsigned JWTs made by [`test_token`]); 403 when
//!   its `sub` is [`NO_ROLE_SUBJECT`] (an identity without Monitoring Metrics Publisher);
//! - 404 for another rule id or stream, 400 without the api-version;
//! - 413 when the body is over the limit, as sent or (gzip) decoded: the documented 1 MB counts
//!   compressed and uncompressed data alike;
//! - 400 for a body that is not a JSON array (or a `Content-Encoding: gzip` body that is not gzip);
//! - else the next scheduled fault, if any (see [`Fault`]), or 204 with the rows stored.
//!
//! Control routes on the same listener: `POST /control/faults?kind=K&count=N` (K: throttle with
//! `retry_after=S`, server_error with `status=C`, silence, reset, too_large), `POST
//! /control/clear`, `GET /control/rows` (stored rows, one JSON object per line) and `GET
//! /control/calls` (one line per call: connection, status, rows, bytes).
mod contract;
mod control;
mod http1;
mod server;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// The audience a token for `https://monitor.azure.com/.default` carries.
pub const MONITOR_AUDIENCE: &str = "https://monitor.azure.com";

/// A token subject the fake answers 403 (authenticated, but without the role on the rule).
pub const NO_ROLE_SUBJECT: &str = "no-role";

/// The documented payload limit of one call.
pub const DEFAULT_MAX_BODY: usize = 1_000_000;

/// An unsigned JWT (`alg: none`) for `audience` and subject `sub`, as the fake reads tokens.
pub fn test_token(audience: &str, sub: &str) -> String {
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let header = b64(serde_json::json!({"alg": "none", "typ": "JWT"}));
    let payload = b64(serde_json::json!({"aud": audience, "sub": sub, "iss": "flowlog-tests"}));
    format!("{header}.{payload}.")
}

/// What the fake enforces.
#[derive(Clone, Debug)]
pub struct LogsIngestionConfig {
    pub dcr_immutable_id: String,
    pub stream: String,
    /// Largest body accepted, as sent and decoded.
    pub max_body: usize,
}

impl Default for LogsIngestionConfig {
    fn default() -> Self {
        LogsIngestionConfig {
            dcr_immutable_id: "dcr-00000000000000000000000000000001".into(),
            stream: "Custom-FlowlogRows".into(),
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// A fault for the next valid, authorized call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` (as written: seconds or an HTTP date).
    Throttle { retry_after: String },
    /// This status (500, 503, ...), without `Retry-After`.
    ServerError(u16),
    /// The rows are stored, and no answer ever comes (the connection stays open).
    Silence,
    /// The connection is reset (TCP RST) before anything is stored.
    Reset,
    /// 413 whatever the size, for the next call of two rows or more (one row cannot be split).
    TooLarge,
}

/// One call as the fake saw it.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct CallRecord {
    /// Which accepted connection carried it (numbered from 0).
    pub connection: u64,
    /// The answer; 0 for silence and resets.
    pub status: u16,
    pub rows: usize,
    /// Body bytes as sent.
    pub bytes: usize,
    pub gzip: bool,
}

#[derive(Default)]
struct Inner {
    faults: VecDeque<Fault>,
    rows: Vec<String>,
    calls: Vec<CallRecord>,
    connections: u64,
}

struct Shared {
    config: LogsIngestionConfig,
    inner: Mutex<Inner>,
    stop: CancellationToken,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake; dropping it stops it.
pub struct LogsIngestion {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl LogsIngestion {
    /// Binds `addr` (`127.0.0.1:0` for a free port) and serves until dropped.
    pub async fn start(config: LogsIngestionConfig, addr: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { config, inner: Mutex::default(), stop: CancellationToken::new() });
        tokio::spawn(server::accept_loop(listener, shared.clone()));
        Ok(LogsIngestion { addr, shared })
    }

    /// `http://127.0.0.1:PORT`: the `log_analytics.endpoint` to configure.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &LogsIngestionConfig {
        &self.shared.config
    }

    /// Queues `fault` for the next `count` valid calls (after those already queued).
    pub fn schedule(&self, fault: Fault, count: usize) {
        self.shared.lock().faults.extend(std::iter::repeat_n(fault, count));
    }

    /// Faults still queued.
    pub fn faults_left(&self) -> usize {
        self.shared.lock().faults.len()
    }

    /// Every stored row, as the JSON text it arrived as, in arrival order (duplicates included).
    pub fn rows(&self) -> Vec<String> {
        self.shared.lock().rows.clone()
    }

    /// Every call, in arrival order.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.lock().calls.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.lock().connections
    }
}

impl Drop for LogsIngestion {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}
