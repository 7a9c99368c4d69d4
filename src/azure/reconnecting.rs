//! One Event Hubs client that is replaced after a failure: SDK 0.15 never re-establishes a lost
//! connection, so the feed's receivers and the sink's producer both hold their client here.
//!
//! A lost connection is not always reported: after a TCP reset or an AMQP close, a pending send
//! gets no answer and a receiver's stream waits for a delivery that never comes (seen for 60 to
//! 90 s against the emulator). [`watch`] therefore probes the client with a cheap management call
//! and discards it when the probe finds the connection dead; discarding cancels the connection's
//! [`Connection::lost`] token, which every call made on it races, so they end at once.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::azure::eventhubs::CallFailure;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::metrics::{Metrics, RetryOp};

/// A client and the token cancelled when it is discarded.
pub struct Connection<C> {
    pub client: Arc<C>,
    /// Cancelled when the client is discarded: calls still waiting on it can give up.
    pub lost: CancellationToken,
}

impl<C> Clone for Connection<C> {
    fn clone(&self) -> Self {
        Connection { client: self.client.clone(), lost: self.lost.clone() }
    }
}

impl<C> Connection<C> {
    fn new(client: Arc<C>) -> Self {
        Connection { client, lost: CancellationToken::new() }
    }
}

pub struct Reconnecting<C> {
    current: Mutex<Option<Connection<C>>>,
    /// What the client is for and where it connects, for the log lines.
    what: String,
    /// Counts connections opened after a loss (`retries{operation="connect"}`).
    metrics: Option<Arc<Metrics>>,
}

impl<C> Reconnecting<C> {
    pub fn new(what: impl Into<String>, client: C) -> Self {
        Reconnecting { current: Mutex::new(Some(Connection::new(Arc::new(client)))), what: what.into(), metrics: None }
    }

    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The current client, or a new one from `connect` if the last was discarded. Callers
    /// racing for a new connection wait on the lock, so only one connects.
    pub async fn get<F, Fut>(&self, connect: F) -> ServiceResult<Connection<C>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ServiceResult<C>>,
    {
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref() {
            return Ok(connection.clone());
        }
        if let Some(metrics) = &self.metrics {
            metrics.retry(RetryOp::Connect);
        }
        let connection = Connection::new(Arc::new(connect().await?));
        tracing::info!(client = %self.what, "reconnected");
        *current = Some(connection.clone());
        Ok(connection)
    }

    /// The current client without connecting; `None` after a discard.
    pub async fn current(&self) -> Option<Connection<C>> {
        self.current.lock().await.clone()
    }

    /// Drops `broken` so the next [`get`](Self::get) connects afresh, unless another caller
    /// already replaced it, and ends the calls still waiting on it.
    pub async fn discard(&self, broken: &Arc<C>) {
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref().filter(|c| Arc::ptr_eq(&c.client, broken)) {
            tracing::warn!(client = %self.what, "connection discarded after a failure");
            connection.lost.cancel();
            *current = None;
        }
    }

    /// Takes the client out for closing; `None` if it was discarded or is still shared.
    pub async fn take(&self) -> Option<C> {
        self.current.lock().await.take().and_then(|c| Arc::try_unwrap(c.client).ok())
    }
}

/// How often [`watch`] probes, and how long a probe may take before the connection is taken for
/// dead: management calls answer in milliseconds, so a probe that waits longer is not answered.
#[derive(Clone, Copy, Debug)]
pub struct Probing {
    pub every: Duration,
    pub limit: Duration,
}

impl Default for Probing {
    /// Every 5 s, 5 s to answer: a lost connection is found within 10 s.
    fn default() -> Self {
        Probing { every: Duration::from_secs(5), limit: Duration::from_secs(5) }
    }
}

impl Probing {
    /// For a connection that carries sends: a probe taken for dead wrongly would end the sends in
    /// flight (and their flushes would be sent again), so it waits longer for an answer.
    pub fn for_sends() -> Self {
        Probing { limit: Duration::from_secs(10), ..Probing::default() }
    }
}

/// Probes the current client every `probing.every` until `stop`; a probe failing with a broken
/// connection (or not answering within `probing.limit`) discards the client. A probe the
/// service answered with an error leaves it alone: the connection works.
pub async fn watch<C, F, Fut>(holder: Arc<Reconnecting<C>>, probing: Probing, stop: CancellationToken, probe: F)
where
    F: Fn(Arc<C>, Duration) -> Fut,
    Fut: Future<Output = Result<(), CallFailure>>,
{
    let mut tick = tokio::time::interval(probing.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(connection) = holder.current().await else { continue };
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            _ = connection.lost.cancelled() => continue,
            r = probe(connection.client.clone(), probing.limit) => r,
        };
        if let Err(failure) = result {
            if failure.reconnect {
                tracing::warn!(client = %holder.what, error = %failure.error, "connection probe failed");
                holder.discard(&connection.client).await;
            } else {
                tracing::debug!(client = %holder.what, error = %failure.error, "connection probe answered with an error");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::error::ServiceError;

    #[tokio::test]
    async fn a_discarded_client_is_replaced_once_and_a_stale_discard_is_ignored() {
        let holder = Reconnecting::new("test", 1u32);
        let first = holder.get(|| async { Ok(2) }).await.unwrap();
        assert_eq!(*first.client, 1, "the initial client is used while it works");
        holder.discard(&first.client).await;
        assert!(first.lost.is_cancelled(), "calls waiting on a discarded client are told");
        let second = holder.get(|| async { Ok(2) }).await.unwrap();
        assert_eq!(*second.client, 2);
        holder.discard(&first.client).await; // stale: `second` stays
        assert!(!second.lost.is_cancelled());
        assert_eq!(*holder.get(|| async { Ok(3) }).await.unwrap().client, 2);
        holder.discard(&second.client).await;
        let failed = holder.get(|| async { Err(ServiceError::transient("down")) }).await;
        assert!(failed.is_err(), "a failed connect leaves no client behind");
        let fourth = holder.get(|| async { Ok(4) }).await.unwrap();
        assert_eq!(*fourth.client, 4);
        assert_eq!(holder.take().await, None, "still shared by the caller's Arc: not closed under it");
        drop(fourth);
        assert_eq!(
            Reconnecting::new("test", 5u32).take().await,
            Some(5),
            "an unshared client is handed out for closing"
        );
    }

    #[tokio::test]
    async fn the_watch_discards_a_dead_client_and_keeps_one_the_service_answered() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let metrics = Arc::new(Metrics::new());
        let holder = Arc::new(Reconnecting::new("test", 1u32).with_metrics(metrics.clone()));
        let stop = CancellationToken::new();
        let probing = Probing { every: Duration::from_millis(10), limit: Duration::from_millis(20) };
        let answered = Arc::new(AtomicUsize::new(0));
        let seen = answered.clone();
        // Client 1 answers with an error (alive), client 2 never answers (dead).
        let watcher = tokio::spawn(watch(holder.clone(), probing, stop.clone(), move |client, limit| {
            let seen = seen.clone();
            async move {
                if *client == 1 {
                    seen.fetch_add(1, Ordering::SeqCst);
                    return Err(CallFailure { error: ServiceError::permanent("refused"), reconnect: false });
                }
                tokio::time::sleep(limit).await;
                Err(CallFailure { error: ServiceError::transient("no answer"), reconnect: true })
            }
        }));
        let within = Duration::from_secs(10);
        tokio::time::timeout(within, async {
            while answered.load(Ordering::SeqCst) < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the client is probed");
        let first = holder.current().await.expect("answered probes keep the client");
        assert_eq!(*first.client, 1);
        holder.discard(&first.client).await;
        let second = holder.get(|| async { Ok(2) }).await.unwrap();
        assert_eq!(metrics.retries_count(RetryOp::Connect), 1, "the reconnection is counted");
        tokio::time::timeout(within, second.lost.cancelled()).await.expect("an unanswered probe discards the client");
        assert!(holder.current().await.is_none());
        stop.cancel();
        watcher.await.unwrap();
    }
}
