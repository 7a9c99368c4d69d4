//! A `$cbs` put-token over a bare fe2o3 0.18 session, for test clients that are not an SDK: a
//! raw client that breaks a service rule on purpose, or an owner-level receiver SDK 0.15 cannot
//! open. Each must authorize its links like any client where the emulator checks tokens.

use fe2o3::link::{Receiver, Sender};
use fe2o3::session::SessionHandle;
use fe2o3_types::messaging::{ApplicationProperties, Body, Message, Properties};
use fe2o3_types::primitives::{SimpleValue, Timestamp, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// `prefix` with a number no other call in this process got, for link names and message ids.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Attaches a `$cbs` request/reply pair on `session`; returns it with the reply address.
pub async fn attach_cbs_links(session: &mut SessionHandle<()>) -> anyhow::Result<(Sender, Receiver, String)> {
    let reply_to = unique_name("cbs-reply");
    let sender = Sender::attach(session, unique_name("cbs-request"), "$cbs").await?;
    let receiver =
        Receiver::builder().name(unique_name("cbs-response")).source("$cbs").target(reply_to.as_str()).attach(session);
    Ok((sender, receiver.await?, reply_to))
}

/// One put-token of `token` for `audience`, expiring `lifetime` from now, on an attached `$cbs`
/// pair; returns the response's status code (202 when accepted).
pub async fn put_token_on(
    sender: &mut Sender,
    receiver: &mut Receiver,
    reply_to: &str,
    audience: &str,
    token: &str,
    lifetime: Duration,
) -> anyhow::Result<i32> {
    let expires_ms = (SystemTime::now() + lifetime).duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let properties = ApplicationProperties::builder()
        .insert("operation", "put-token")
        .insert("type", "servicebus.windows.net:sastoken")
        .insert("name", audience)
        .insert("expiration", SimpleValue::Timestamp(Timestamp::from_milliseconds(expires_ms)))
        .build();
    let request = Message::builder()
        .properties(Properties::builder().message_id(unique_name("put-token")).reply_to(reply_to).build())
        .application_properties(properties)
        .value(token)
        .build();
    sender.send(request).await?.accepted_or_else(|outcome| anyhow::anyhow!("put-token not accepted: {outcome:?}"))?;
    let response = receiver.recv::<Body<Value>>().await?;
    let _ = receiver.accept(&response).await;
    match response.message().application_properties.as_ref().and_then(|p| p.get("status-code")) {
        Some(SimpleValue::Int(code)) => Ok(*code),
        other => anyhow::bail!("put-token response without an int status-code: {other:?}"),
    }
}

/// A put-token on its own `$cbs` pair, closed (detach awaited) afterwards, so the connection
/// has no `$cbs` link open when it returns; returns the status code.
pub async fn put_token(
    session: &mut SessionHandle<()>,
    audience: &str,
    token: &str,
    lifetime: Duration,
) -> anyhow::Result<i32> {
    let (mut sender, mut receiver, reply_to) = attach_cbs_links(session).await?;
    let status = put_token_on(&mut sender, &mut receiver, &reply_to, audience, token, lifetime).await;
    let _ = sender.close().await;
    let _ = receiver.close().await;
    status
}
