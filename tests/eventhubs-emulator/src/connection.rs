//! Per-connection state that the service rules need: the tokens a client put on `$cbs` (which
//! links they authorize and until when) and the `$cbs` links it has open (see `cbs_links`).
//!
//! Why per connection: "The tokens are scoped to the current client and anchored on the current
//! connection" and "When a token expires, Service Bus promptly drops all links on the
//! connection to the respective entity" (AMQP 1.0 in Service Bus and Event Hubs protocol guide).

use crate::cbs_links::CbsLinks;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Shared by every session and link task of one AMQP connection.
#[derive(Debug)]
pub(crate) struct ConnectionState {
    /// Audience path (see [`entity_path`]) to the token's expiry in Unix ms (`None`: no expiry).
    tokens: Mutex<HashMap<String, Option<i64>>>,
    /// Bumped on every accepted token, so links waiting for an expiry re-check.
    renewed: watch::Sender<u64>,
    /// `$cbs` links open, in wire order (the transport shim feeds it).
    pub cbs_links: Arc<Mutex<CbsLinks>>,
}

impl Default for ConnectionState {
    fn default() -> Self {
        Self { tokens: Mutex::default(), renewed: watch::channel(0).0, cbs_links: Arc::default() }
    }
}

/// The entity path of an address or token audience: scheme and host dropped, lower-cased,
/// without leading or trailing slashes (`amqps://ns/Hub/Partitions/0` -> `hub/partitions/0`).
pub(crate) fn entity_path(address: &str) -> String {
    let path = match address.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        None => address,
    };
    path.trim_matches('/').to_ascii_lowercase()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Whether a token for `audience` (an entity path) authorizes a link to `path`: the same entity
/// or one below it; an empty audience is the namespace and covers everything.
fn covers(audience: &str, path: &str) -> bool {
    audience.is_empty() || path == audience || path.strip_prefix(audience).is_some_and(|rest| rest.starts_with('/'))
}

impl ConnectionState {
    /// Records an accepted `put-token` for `audience`, valid until `expires_ms`.
    pub fn put_token(&self, audience: &str, expires_ms: Option<i64>) {
        self.tokens.lock().unwrap().insert(entity_path(audience), expires_ms);
        self.renewed.send_modify(|n| *n += 1);
    }

    /// The latest expiry among the unexpired tokens covering `path` (`Some(None)`: one never
    /// expires), or `None` when no valid token covers it.
    pub fn authorized_until(&self, path: &str) -> Option<Option<i64>> {
        let now = now_ms();
        let tokens = self.tokens.lock().unwrap();
        let valid = tokens.iter().filter(|(audience, _)| covers(audience, path)).map(|(_, expiry)| *expiry);
        valid.filter(|expiry| expiry.is_none_or(|ms| ms > now)).max_by_key(|expiry| expiry.unwrap_or(i64::MAX))
    }

    /// Completes once no valid token covers `path` any more (renewals push the moment back).
    pub async fn authorization_lost(&self, path: &str) {
        let mut renewed = self.renewed.subscribe();
        loop {
            renewed.borrow_and_update();
            let until = match self.authorized_until(path) {
                None => return,
                Some(None) => None,
                Some(Some(ms)) => Some(Duration::from_millis((ms - now_ms()).max(0) as u64 + 1)),
            };
            match until {
                Some(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = renewed.changed() => {}
                    }
                }
                None => {
                    if renewed.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }

    /// Whether the `$cbs` attach on `channel`/`handle` being routed found another `$cbs` link
    /// of its role open on this connection when it arrived.
    pub fn cbs_overlapped(&self, channel: u16, handle: u32) -> bool {
        self.cbs_links.lock().unwrap().overlapped(channel, handle)
    }
}

/// What a publisher or consumer link needs to enforce token expiry.
#[derive(Debug, Clone)]
pub(crate) struct LinkAuthorization {
    connection: Arc<ConnectionState>,
    path: String,
    enforced: bool,
}

impl LinkAuthorization {
    pub fn new(connection: Arc<ConnectionState>, address: &str, enforced: bool) -> Self {
        Self { connection, path: entity_path(address), enforced }
    }

    /// Whether the link may attach now.
    pub fn granted(&self) -> bool {
        !self.enforced || self.connection.authorized_until(&self.path).is_some()
    }

    /// Completes when the link must be dropped for an expired token; never when not enforced.
    pub async fn lost(&self) {
        if !self.enforced {
            return std::future::pending().await;
        }
        self.connection.authorization_lost(&self.path).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cover_their_entity_and_below() {
        let conn = ConnectionState::default();
        assert!(conn.authorized_until("hub").is_none());
        conn.put_token("sb://127.0.0.1:5672/Hub/", Some(now_ms() + 60_000));
        assert!(conn.authorized_until(&entity_path("amqps://ns/hub/ConsumerGroups/$Default/Partitions/0")).is_some());
        assert!(conn.authorized_until("hubby").is_none());
        conn.put_token("amqps://ns/other", Some(now_ms() - 1));
        assert!(conn.authorized_until("other").is_none(), "an expired token authorizes nothing");
        conn.put_token("amqps://ns/", None);
        assert_eq!(conn.authorized_until("other"), Some(None), "a namespace token covers every entity");
    }

    #[tokio::test]
    async fn authorization_is_lost_at_expiry_unless_renewed() {
        let conn = Arc::new(ConnectionState::default());
        conn.put_token("amqps://ns/hub", Some(now_ms() + 100));
        let started = tokio::time::Instant::now();
        let waiter = tokio::spawn({
            let conn = conn.clone();
            async move { conn.authorization_lost("hub").await }
        });
        // Renewed while the waiter may already be waiting: the renewal wakes it to re-check.
        conn.put_token("amqps://ns/hub", Some(now_ms() + 400));
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("lost in time").unwrap();
        assert!(started.elapsed() >= Duration::from_millis(350), "the renewal extended the authorization");
        assert!(conn.authorized_until("hub").is_none());
    }
}
