//! A TCP relay in front of an Azurite endpoint that counts the connections it accepts: how
//! tests see whether clients keep and share their HTTP connections.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Starts the relay; returns its endpoint URL (same account as `upstream`) and the count.
pub async fn counting_relay(upstream: &flowlog::azure::AccountEndpoint) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let target = format!("{}:{}", upstream.url().host_str().expect("host"), upstream.url().port().expect("port"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (format!("http://127.0.0.1:{port}/{}", upstream.account()), accepted)
}
