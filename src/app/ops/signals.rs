//! SIGTERM/SIGINT handling: the first signal starts a graceful stop, the deadline bounds it.
use tokio_util::sync::CancellationToken;

/// Cancels `token` on SIGTERM or SIGINT (Ctrl-C).
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot install the SIGTERM handler");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received: stopping gracefully"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received: stopping gracefully"),
        }
        token.cancel();
    });
}
