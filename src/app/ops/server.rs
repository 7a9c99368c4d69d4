//! The operations HTTP surface: `/metrics` (Prometheus text), `/healthz` (alive), `/readyz`
//! (ready to process: set once the pipeline has started and cleared on shutdown).
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::pipeline::engine::state::EngineState;
use crate::pipeline::metrics::Metrics;

/// Readiness shared between the pipeline and the server: set once the pipeline runs, and
/// degraded while delivered rows cannot have their offsets committed.
#[derive(Clone, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    probe: Arc<Mutex<Option<Probe>>>,
    /// Dependencies the start is waiting for, one line each, while not ready.
    failing: Arc<Mutex<Vec<String>>>,
}

struct Probe {
    metrics: Arc<Metrics>,
    state: Arc<EngineState>,
    stall_after: Duration,
}

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
        if let Some(p) = self.probe.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            p.metrics.ready.set(i64::from(ready));
        }
    }

    /// Replaces the list of failing dependencies `/readyz` shows while not ready.
    pub fn set_failing(&self, lines: Vec<String>) {
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = lines;
    }

    pub fn get(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Lets `/readyz` report the engine's commit failures and stalled blobs.
    pub fn attach(&self, metrics: Arc<Metrics>, state: Arc<EngineState>, stall_after: Duration) {
        *self.probe.lock().unwrap_or_else(|e| e.into_inner()) = Some(Probe { metrics, state, stall_after });
    }

    /// The `/readyz` answer: ready (200), degraded or not ready (503), with details.
    pub fn report(&self) -> (bool, String) {
        if !self.get() {
            let mut body = "not ready\n".to_string();
            for line in self.failing.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                body.push_str(&format!("failing: {line}\n"));
            }
            return (false, body);
        }
        let probe = self.probe.lock().unwrap_or_else(|e| e.into_inner());
        let Some(p) = probe.as_ref() else { return (true, "ready\n".into()) };
        let failing = p.metrics.commits_pending.get();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let stalled = p.state.stalled(now, p.stall_after.as_millis() as i64);
        let mut body = if failing > 0 {
            format!("degraded: {failing} offset commit(s) of delivered rows failing; retrying\n")
        } else {
            "ready\n".to_string()
        };
        // Owning no partition is normal for a spare replica, so it stays ready; the count is
        // here for whoever wonders why a ready replica does no work.
        body.push_str(&format!("partitions owned: {}\n", p.metrics.owned_partitions.get()));
        for (blob, age_ms) in stalled.iter().take(20) {
            body.push_str(&format!("stalled: {blob} for {} s\n", age_ms / 1000));
        }
        (failing == 0, body)
    }
}

#[derive(Clone)]
struct Ops {
    metrics: Arc<Metrics>,
    ready: Readiness,
}

/// Binds `addr` and serves until `shutdown`; returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    ready: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("server.listen: cannot bind {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Ops { metrics, ready });
    let task = tokio::spawn(async move {
        let stop = async move { shutdown.cancelled().await };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "ops server failed");
        }
    });
    tracing::info!(address = %bound, "ops server listening (/metrics, /healthz, /readyz)");
    Ok((bound, task))
}

async fn metrics_text(State(ops): State<Ops>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], ops.metrics.render())
}

async fn readyz(State(ops): State<Ops>) -> impl IntoResponse {
    let (ok, body) = ops.ready.report();
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
}
