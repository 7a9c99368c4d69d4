//! A bare AMQP client (fe2o3 0.18) for the rule tests: it does exactly what a test tells it,
//! including what no SDK does on purpose (a link without a token, a token it never renews, a
//! second `$cbs` link), so each rule can be shown to bite. Its put-token is the emulator
//! library's (`eventhubs_emulator::put_token`).

use eventhubs_emulator::{EmulatorHandle, attach_cbs_links, unique_name};
use fe2o3::connection::ConnectionHandle;
use fe2o3::link::{Receiver, Sender};
use fe2o3::sasl_profile::SaslProfile;
use fe2o3::session::SessionHandle;
use fe2o3::{Connection, Session};
use std::time::Duration;

/// The token the raw client puts (any token passes an emulator without a required token).
const TOKEN: &str = "raw-client-token";

/// One AMQP connection with one session.
pub struct RawClient {
    pub connection: ConnectionHandle<()>,
    pub session: SessionHandle<()>,
}

impl RawClient {
    pub async fn connect(emulator: &EmulatorHandle) -> Self {
        let mut connection = Connection::builder()
            .container_id(unique_name("raw-client"))
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
        attach_cbs_links(session).await.expect("$cbs links attach")
    }

    /// Puts a token for `audience` that expires `lifetime` from now; returns the status code.
    pub async fn put_token(&mut self, audience: &str, lifetime: Duration) -> i32 {
        eventhubs_emulator::put_token(&mut self.session, audience, TOKEN, lifetime).await.expect("put-token answered")
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
    eventhubs_emulator::put_token_on(sender, receiver, reply_to, audience, TOKEN, lifetime)
        .await
        .expect("put-token answered")
}
