//! One Event Hubs client that is replaced after a failure: SDK 0.15 never re-establishes a lost
//! connection, so the feed's receivers and the sink's producer both hold their client here.
use std::future::Future;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::pipeline::error::ServiceResult;

pub struct Reconnecting<C> {
    current: Mutex<Option<Arc<C>>>,
    /// What the client is for and where it connects, for the log lines.
    what: String,
}

impl<C> Reconnecting<C> {
    pub fn new(what: impl Into<String>, client: C) -> Self {
        Reconnecting { current: Mutex::new(Some(Arc::new(client))), what: what.into() }
    }

    /// The current client, or a new one from `connect` if the last was discarded. Callers
    /// racing for a new connection wait on the lock, so only one connects.
    pub async fn get<F, Fut>(&self, connect: F) -> ServiceResult<Arc<C>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ServiceResult<C>>,
    {
        let mut current = self.current.lock().await;
        if let Some(client) = current.as_ref() {
            return Ok(client.clone());
        }
        let client = Arc::new(connect().await?);
        tracing::info!(client = %self.what, "reconnected");
        *current = Some(client.clone());
        Ok(client)
    }

    /// Drops `broken` so the next [`get`](Self::get) connects afresh, unless another caller
    /// already replaced it.
    pub async fn discard(&self, broken: &Arc<C>) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, broken)) {
            tracing::warn!(client = %self.what, "connection discarded after a failure");
            *current = None;
        }
    }

    /// Takes the client out for closing; `None` if it was discarded or is still shared.
    pub async fn take(&self) -> Option<C> {
        self.current.lock().await.take().and_then(|c| Arc::try_unwrap(c).ok())
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
        assert_eq!(*first, 1, "the initial client is used while it works");
        holder.discard(&first).await;
        let second = holder.get(|| async { Ok(2) }).await.unwrap();
        assert_eq!(*second, 2);
        holder.discard(&first).await; // stale: `second` stays
        assert_eq!(*holder.get(|| async { Ok(3) }).await.unwrap(), 2);
        holder.discard(&second).await;
        let failed = holder.get(|| async { Err(ServiceError::transient("down")) }).await;
        assert!(failed.is_err(), "a failed connect leaves no client behind");
        let fourth = holder.get(|| async { Ok(4) }).await.unwrap();
        assert_eq!(*fourth, 4);
        assert_eq!(holder.take().await, None, "still shared by the caller's Arc: not closed under it");
        drop(fourth);
        assert_eq!(
            Reconnecting::new("test", 5u32).take().await,
            Some(5),
            "an unshared client is handed out for closing"
        );
    }
}
