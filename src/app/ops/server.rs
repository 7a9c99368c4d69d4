//! The operations HTTP surface: `/metrics` (Prometheus text), `/healthz` (alive), `/readyz`
//! (ready to process: set once the pipeline has started and cleared on shutdown).
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::pipeline::metrics::Metrics;

/// Readiness shared between the pipeline and the server.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
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
    if ops.ready.get() { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready\n") }
}
