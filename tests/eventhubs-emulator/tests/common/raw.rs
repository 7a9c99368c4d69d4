//! A bare AMQP client (fe2o3 0.18) for the rule tests: it does exactly what a test tells it,
//! including what no SDK does on purpose (a link without a token, a token it never renews, a
//! second `$cbs` link), so each rule can be shown to bite.

use eventhubs_emulator::EmulatorHandle;
use fe2o3::connection::ConnectionHandle;
use fe2o3::link::{Receiver, Sender};
use fe2o3::sasl_profile::SaslProfile;
use fe2o3::session::SessionHandle;
use fe2o3::{Connection, Session};
use fe2o3_types::messaging::{ApplicationProperties, Body, Message, Properties};
use fe2o3_types::primitives::{SimpleValue, Timestamp, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static NEXT: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One AMQP connection with one session.
pub struct RawClient {
    pub connection: ConnectionHandle<()>,
    pub session: SessionHandle<()>,
}

impl RawClient {
    pub async fn connect(emulator: &EmulatorHandle) -> Self {
        let mut connection = Connection::builder()
            .container_id(unique("raw-client"))
            .sasl_profile(SaslProfile::Anonymous)
            .open(emulator.endpoint().as_str())
            .await
            .expect("raw connection opens");
        let session = Session::begin(&mut connection).await.expect("raw session begins");
        Self { connection, session }
    }

    /// Another session on the same connection.
    pub async fn session(&mut self) -> SessionHandle<()> {
        Session::begin(&mut self.connection).await.expect("raw session begins")
    }

    /// Attaches a `$cbs` request/reply pair on `session`.
    pub async fn cbs_links(session: &mut SessionHandle<()>) -> (Sender, Receiver, String) {
        let reply_to = unique("cbs-reply");
        let sender = Sender::attach(session, unique("cbs-request"), "$cbs").await.expect("$cbs sender attaches");
        let receiver = Receiver::builder()
            .name(unique("cbs-response"))
            .source("$cbs")
            .target(reply_to.as_str())
            .attach(session)
            .await
            .expect("$cbs receiver attaches");
        (sender, receiver, reply_to)
    }

    /// Puts a token for `audience` that expires `lifetime` from now; returns the status code.
    pub async fn put_token(&mut self, audience: &str, lifetime: Duration) -> i32 {
        let (mut sender, mut receiver, reply_to) = Self::cbs_links(&mut self.session).await;
        let status = put_token_on(&mut sender, &mut receiver, &reply_to, audience, lifetime).await;
        let _ = sender.close().await;
        let _ = receiver.close().await;
        status
    }
}

/// One put-token request on an attached `$cbs` pair; returns the response's status code.
pub async fn put_token_on(
    sender: &mut Sender,
    receiver: &mut Receiver,
    reply_to: &str,
    audience: &str,
    lifetime: Duration,
) -> i32 {
    let expires = SystemTime::now() + lifetime;
    let expires_ms = expires.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let properties = ApplicationProperties::builder()
        .insert("operation", "put-token")
        .insert("type", "servicebus.windows.net:sastoken")
        .insert("name", audience)
        .insert("expiration", SimpleValue::Timestamp(Timestamp::from_milliseconds(expires_ms)))
        .build();
    let request = Message::builder()
        .properties(Properties::builder().message_id(unique("put-token")).reply_to(reply_to).build())
        .application_properties(properties)
        .value("raw-client-token")
        .build();
    sender.send(request).await.expect("put-token accepted");
    let response = receiver.recv::<Body<Value>>().await.expect("put-token response");
    let _ = receiver.accept(&response).await;
    match response.message().application_properties.as_ref().and_then(|p| p.get("status-code")) {
        Some(SimpleValue::Int(code)) => *code,
        other => panic!("put-token response without an int status-code: {other:?}"),
    }
}
