//! The request/response nodes: `$cbs` (claims-based security, put-token) and `$management`
//! (READ of hub and partition properties), answered with the status codes and AMQP types the
//! SDK decodes.

use crate::address::{Entity, parse_address};
use crate::connection::ConnectionState;
use crate::server::CLOSE_TIMEOUT;
use crate::state::State;
use fe2o3::link::delivery::Sendable;
use fe2o3::link::{Receiver, Sender};
use fe2o3_types::messaging::{AmqpValue, ApplicationProperties, Body, Message, Properties};
use fe2o3_types::primitives::{Array, OrderedMap, SimpleValue, Timestamp, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// Pause before settling a client's delivery: on loopback a disposition can otherwise reach the
/// SDK's fe2o3 0.14 client before it registered the delivery, and its send then never completes.
pub(crate) const SETTLE_DELAY: Duration = Duration::from_millis(2);

type Reply = Message<Body<Value>>;
type ReplyLink = mpsc::UnboundedSender<Reply>;

/// Which request node a link belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    Cbs,
    Management,
}

/// Per-session map from a client's reply links (by node and target address) to the server
/// link tasks that deliver responses there.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplyRouter {
    links: Arc<Mutex<HashMap<(Node, String), ReplyLink>>>,
    registered: Arc<Notify>,
}

impl ReplyRouter {
    fn register(&self, node: Node, address: String, tx: mpsc::UnboundedSender<Reply>) {
        self.links.lock().unwrap().insert((node, address), tx);
        self.registered.notify_waiters();
    }

    fn unregister(&self, node: Node, address: &str) {
        self.links.lock().unwrap().remove(&(node, address.to_string()));
    }

    /// Delivers a response, waiting briefly if the reply link is still attaching.
    async fn send(&self, node: Node, reply_to: &str, reply: Reply) {
        let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
        loop {
            let notified = self.registered.notified();
            if let Some(tx) = self.lookup(node, reply_to) {
                let _ = tx.send(reply);
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                tracing::warn!(?node, %reply_to, "no reply link for response; dropped");
                return;
            }
        }
    }

    /// The link for a response: the one whose target is the request's `reply-to`; else the
    /// node's reply link in this session, as the service answers on the link pair the request
    /// came in on. The Python SDK sends no `reply-to`, and the JavaScript SDK's reply link has no
    /// target address.
    fn lookup(&self, node: Node, reply_to: &str) -> Option<mpsc::UnboundedSender<Reply>> {
        let links = self.links.lock().unwrap();
        links
            .get(&(node, reply_to.to_string()))
            .or_else(|| links.iter().find(|((_, a), _)| a == reply_to).map(|(_, tx)| tx))
            .or_else(|| links.get(&(node, String::new())))
            .or_else(|| links.iter().find(|((n, _), _)| *n == node).map(|(_, tx)| tx))
            .cloned()
    }
}

/// Serves the response link of a `$cbs`/`$management` client.
pub(crate) async fn serve_replies(
    node: Node,
    mut sender: Sender,
    reply_to: String,
    router: ReplyRouter,
    scope: CancellationToken,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    router.register(node, reply_to.clone(), tx);
    loop {
        tokio::select! {
            _ = scope.cancelled() => break,
            _ = sender.on_detach() => break,
            reply = rx.recv() => {
                let Some(reply) = reply else { break };
                // Pre-settled: the SDK does not settle responses it auto-accepts in time.
                let sendable = Sendable::builder().message(reply).settled(true).build();
                if sender.send(sendable).await.is_err() {
                    break;
                }
            }
        }
    }
    router.unregister(node, &reply_to);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sender.close()).await;
}

/// Serves the request link of a `$cbs`/`$management` client.
pub(crate) async fn serve_requests(
    node: Node,
    mut receiver: Receiver,
    conn: Arc<ConnectionState>,
    state: Arc<State>,
    router: ReplyRouter,
    scope: CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            _ = scope.cancelled() => break,
            delivery = receiver.recv::<Body<Value>>() => delivery,
        };
        let Ok(delivery) = delivery else { break };
        tokio::time::sleep(SETTLE_DELAY).await;
        if receiver.accept(&delivery).await.is_err() {
            break;
        }
        let request = delivery.into_message();
        let reply_to = request.properties.as_ref().and_then(|p| p.reply_to.clone()).unwrap_or_default();
        let (status, description, body) = match node {
            Node::Cbs => put_token(&request, &conn, &state),
            Node::Management => read(&request, &state),
        };
        tracing::debug!(?node, status, %description, "request answered");
        let reply = response(&request, status, &description, body);
        router.send(node, &reply_to, reply).await;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, receiver.close()).await;
}

fn app_property<'a>(message: &'a Reply, key: &str) -> Option<&'a str> {
    match message.application_properties.as_ref()?.0.get(key)? {
        SimpleValue::String(s) => Some(s),
        SimpleValue::Symbol(s) => Some(s.as_str()),
        _ => None,
    }
}

fn response(request: &Reply, status: i32, description: &str, body: Value) -> Reply {
    let mut props = OrderedMap::new();
    props.insert("status-code".to_string(), SimpleValue::Int(status));
    props.insert("status-description".to_string(), SimpleValue::String(description.to_string()));
    Message {
        header: None,
        delivery_annotations: None,
        message_annotations: None,
        properties: Some(Properties {
            correlation_id: request.properties.as_ref().and_then(|p| p.message_id.clone()),
            ..Default::default()
        }),
        application_properties: Some(ApplicationProperties(props)),
        body: Body::Value(AmqpValue(body)),
        footer: None,
    }
}

fn token_ok(state: &State, token: Option<&str>) -> bool {
    match &state.config.required_token {
        Some(required) => token == Some(required.as_str()),
        None => true,
    }
}

/// The `expiration` of a put-token request in Unix ms: a timestamp, or seconds as a number.
fn expiration_ms(request: &Reply) -> Option<i64> {
    match request.application_properties.as_ref()?.0.get("expiration")? {
        SimpleValue::Timestamp(t) => Some(t.milliseconds()),
        SimpleValue::Long(s) => Some(s.saturating_mul(1000)),
        SimpleValue::Ulong(s) => Some((*s as i64).saturating_mul(1000)),
        SimpleValue::Int(s) => Some(i64::from(*s) * 1000),
        SimpleValue::Uint(s) => Some(i64::from(*s) * 1000),
        SimpleValue::Double(s) => Some((s.into_inner() * 1000.0) as i64),
        _ => None,
    }
}

/// `$cbs` put-token: 202 Accepted (the token then authorizes links to its audience on this
/// connection until its expiration), or 401 when a required token does not match.
fn put_token(request: &Reply, conn: &ConnectionState, state: &State) -> (i32, String, Value) {
    if app_property(request, "operation") != Some("put-token") {
        return (400, "unsupported $cbs operation".into(), Value::Null);
    }
    let token = match &request.body {
        Body::Value(AmqpValue(Value::String(token))) => Some(token.as_str()),
        _ => None,
    };
    if !token_ok(state, token) {
        state.control.update(|c| c.unauthorized_tokens += 1);
        let name = app_property(request, "name").unwrap_or_default();
        return (401, format!("InvalidSignature: the token for '{name}' is not valid"), Value::Null);
    }
    state.control.update(|c| c.tokens_accepted += 1);
    let audience = app_property(request, "name").unwrap_or_default();
    if let Some(Entity::Partition { hub, partition } | Entity::Consumer { hub, partition, .. }) =
        parse_address(audience)
        && let Some(hub) = state.hub(&hub)
        && hub.partition(&partition).is_some()
    {
        state.control.partition(&hub.config.name, &partition, |c| c.tokens_accepted += 1);
    }
    conn.put_token(audience, expiration_ms(request));
    (202, "Accepted".into(), Value::Null)
}

fn entry(map: &mut OrderedMap<Value, Value>, key: &str, value: Value) {
    map.insert(Value::String(key.to_string()), value);
}

/// `$management` READ of `com.microsoft:eventhub` and `com.microsoft:partition`.
fn read(request: &Reply, state: &State) -> (i32, String, Value) {
    let empty = || Value::Map(OrderedMap::new());
    if app_property(request, "operation") != Some("READ") {
        return (400, "only READ is supported".into(), empty());
    }
    if !token_ok(state, app_property(request, "security_token")) {
        return (401, "Unauthorized: invalid security token".into(), empty());
    }
    let name = app_property(request, "name").unwrap_or_default();
    let Some(hub) = state.hub(name) else {
        return (404, format!("The messaging entity '{name}' could not be found."), empty());
    };
    let mut map = OrderedMap::new();
    entry(&mut map, "name", Value::String(hub.config.name.clone()));
    match app_property(request, "type") {
        Some("com.microsoft:eventhub") => {
            let ids: Vec<Value> = hub.partitions.iter().map(|p| Value::String(p.id.clone())).collect();
            entry(&mut map, "type", Value::String("com.microsoft:eventhub".into()));
            entry(&mut map, "created_at", Value::Timestamp(Timestamp::from_milliseconds(hub.created_at_ms)));
            entry(&mut map, "partition_count", Value::Int(ids.len() as i32));
            // Must be an AMQP array: the SDK does not decode a list here.
            entry(&mut map, "partition_ids", Value::Array(Array::from(ids)));
        }
        Some("com.microsoft:partition") => {
            let id = app_property(request, "partition").unwrap_or_default();
            let Some(partition) = hub.partition(id) else {
                return (404, format!("Partition '{id}' of '{name}' could not be found."), empty());
            };
            let s = partition.summary();
            entry(&mut map, "type", Value::String("com.microsoft:partition".into()));
            entry(&mut map, "partition", Value::String(partition.id.clone()));
            entry(&mut map, "begin_sequence_number", Value::Long(s.begin_sequence_number));
            entry(&mut map, "last_enqueued_sequence_number", Value::Long(s.last_sequence_number));
            entry(&mut map, "last_enqueued_offset", Value::String(s.last_offset));
            entry(
                &mut map,
                "last_enqueued_time_utc",
                Value::Timestamp(Timestamp::from_milliseconds(s.last_enqueued_ms)),
            );
            entry(&mut map, "is_partition_empty", Value::Bool(s.is_empty));
            entry(&mut map, "last_enqueued_sequence_number_epoch", Value::Long(0));
        }
        other => return (400, format!("unsupported entity type {other:?}"), empty()),
    }
    (200, "OK".into(), Value::Map(map))
}
