//! The AMQP listener: accepts TCP connections, negotiates SASL ANONYMOUS, accepts sessions and
//! routes each incoming link attach to the `$cbs`/`$management` nodes, a publisher or a consumer.

use crate::address::{Entity, parse_address};
use crate::connection::{ConnectionState, LinkAuthorization};
use crate::control::DropMode;
use crate::state::State;
use crate::{consume, nodes, publish};
use fe2o3::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, ListenerSessionHandle, SaslAnonymousMechanism, SessionAcceptor,
    SupportedReceiverSettleModes, SupportedSenderSettleModes,
};
use fe2o3_types::definitions::{self, AmqpError, ConnectionError, ReceiverSettleMode, Role, SenderSettleMode};
use fe2o3_types::messaging::{Source, Target, TargetArchetype};
use fe2o3_types::performatives::Attach;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Upper bound for closing handshakes: a client that never answers must not pin a task.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Accepts connections until shutdown.
pub(crate) async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let accepted = tokio::select! {
            _ = state.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        if state.control.refusing() {
            // Refusal as a client sees a gateway that is down: the socket closes at once.
            tracing::info!(%peer, "refusing connection (fault)");
            state.control.update(|c| c.connections_refused += 1);
            drop(stream);
            continue;
        }
        state.control.update(|c| c.connections_accepted += 1);
        let task_state = state.clone();
        state.tasks.spawn(async move {
            if let Err(error) = serve_connection(stream, task_state).await {
                tracing::debug!(%peer, %error, "connection ended with error");
            }
        });
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<State>) -> anyhow::Result<()> {
    // fe2o3 never sets TCP_NODELAY; without it every request/response pays Nagle's delay.
    stream.set_nodelay(true)?;
    // A second handle on the socket, so the reset fault can shut it down under fe2o3's feet.
    let std_stream = stream.into_std()?;
    let socket = std_stream.try_clone()?;
    let stream = TcpStream::from_std(std_stream)?;
    let acceptor = ConnectionAcceptor::builder()
        .container_id("eventhubs-emulator")
        .max_frame_size(65_536)
        // The SDK opens a session per entity plus one per authorization.
        .channel_max(65_535)
        .sasl_acceptor(SaslAnonymousMechanism::new())
        .build();
    let conn = Arc::new(ConnectionState::default());
    let stream = crate::wire::WireShim::new(stream, state.config.max_message_size, conn.cbs_links.clone());
    let mut connection = acceptor.accept(stream).await?;
    let mut dropped = state.control.drop_signal();
    dropped.borrow_and_update();
    // Cancelled when the connection goes away so its session and link tasks stop too.
    let scope = state.shutdown.child_token();
    let _guard = scope.clone().drop_guard();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection.close()).await;
                return Ok(());
            }
            _ = dropped.changed() => {
                state.control.update(|c| c.connections_dropped += 1);
                if dropped.borrow().1 == DropMode::Reset {
                    let _ = socket.shutdown(std::net::Shutdown::Both);
                    return Ok(());
                }
                let error = definitions::Error::new(
                    ConnectionError::ConnectionForced,
                    Some("connection dropped by the emulator (fault injection)".to_string()),
                    None,
                );
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection.close_with_error(error)).await;
                return Ok(());
            }
            incoming = connection.next_incoming_session() => {
                let Some(incoming) = incoming else { return Ok(()) };
                let channel = incoming.channel;
                // handle-max explicit: fe2o3 omits its default (u32::MAX) from `begin`, which the
                // spec allows, but the Python SDK reads the field as a number (see `wire_pad`).
                let session = SessionAcceptor::builder()
                    .handle_max(u32::MAX - 1)
                    .build()
                    .accept_incoming_session(incoming, &mut connection)
                    .await?;
                let task_state = state.clone();
                let task_scope = scope.clone();
                state.tasks.spawn(serve_session(session, channel, conn.clone(), task_state, task_scope));
            }
        }
    }
}

/// `channel` is the client's channel of the session, by which the shim knows its links.
async fn serve_session(
    mut session: ListenerSessionHandle,
    channel: u16,
    conn: Arc<ConnectionState>,
    state: Arc<State>,
    scope: CancellationToken,
) {
    let replies = nodes::ReplyRouter::default();
    loop {
        let attach = tokio::select! {
            _ = scope.cancelled() => return,
            attach = session.next_incoming_attach() => attach,
        };
        let Some(attach) = attach else {
            tracing::debug!("session ended by the client");
            return;
        };
        if let Err(error) = route(attach, channel, &mut session, &conn, &state, &replies, &scope).await {
            tracing::debug!(%error, "attach failed");
        }
    }
}

/// The node address of an attach: the target when the client sends, the source when it receives.
pub(crate) fn node_address(attach: &Attach) -> Option<String> {
    match attach.role {
        Role::Sender => match attach.target.as_deref() {
            Some(TargetArchetype::Target(t)) => t.address.clone(),
            _ => None,
        },
        Role::Receiver => attach.source.as_ref().and_then(|s| s.address.clone()),
    }
}

async fn route(
    attach: Attach,
    channel: u16,
    session: &mut ListenerSessionHandle,
    conn: &Arc<ConnectionState>,
    state: &Arc<State>,
    replies: &nodes::ReplyRouter,
    scope: &CancellationToken,
) -> anyhow::Result<()> {
    let address = node_address(&attach).unwrap_or_default();
    let entity = parse_address(&address);
    tracing::debug!(%address, role = ?attach.role, link = %attach.name, "attach");
    let tasks = &state.tasks;
    let rules = &state.config.rules;
    if entity == Some(Entity::Cbs) && conn.cbs_overlapped(channel, attach.handle.0) && rules.one_cbs_link_per_connection
    {
        state.control.update(|c| c.cbs_links_refused += 1);
        // The service's answer, as SDK authors quote it.
        let description = "A link to connection's $cbs node has already been opened: the service \
                           permits one $cbs link in each direction per connection.";
        return refuse(attach, session, state, AmqpError::NotAllowed, description.into()).await;
    }
    let auth = LinkAuthorization::new(conn.clone(), &address, rules.token_expiry);
    if matches!(entity, Some(Entity::Hub { .. } | Entity::Partition { .. } | Entity::Consumer { .. }))
        && !auth.granted()
    {
        let description =
            format!("Unauthorized access: no valid token for '{address}' has been put on $cbs on this connection.");
        return refuse(attach, session, state, AmqpError::UnauthorizedAccess, description).await;
    }
    match (entity, attach.role.clone()) {
        (Some(entity @ (Entity::Cbs | Entity::Management)), Role::Sender) => {
            let node = if entity == Entity::Cbs { nodes::Node::Cbs } else { nodes::Node::Management };
            let receiver = accept(receiving_acceptor(), attach, session).await?.into_receiver()?;
            let serve =
                nodes::serve_requests(node, receiver, conn.clone(), state.clone(), replies.clone(), scope.clone());
            tasks.spawn(serve);
        }
        (Some(entity @ (Entity::Cbs | Entity::Management)), Role::Receiver) => {
            let node = if entity == Entity::Cbs { nodes::Node::Cbs } else { nodes::Node::Management };
            // The client's reply link: its target address is the `reply-to` of its requests.
            let reply_to = match attach.target.as_deref() {
                Some(TargetArchetype::Target(t)) => t.address.clone().unwrap_or_default(),
                _ => String::new(),
            };
            let sender = accept(sending_acceptor(), attach, session).await?.into_sender()?;
            let serve = nodes::serve_replies(node, sender, reply_to, replies.clone(), scope.clone());
            tasks.spawn(serve);
        }
        (Some(Entity::Hub { hub }), Role::Sender) => {
            // No limit at the fe2o3 level: see `wire` for how the limit is advertised and why.
            let receiver = accept(receiving_acceptor(), attach, session).await?.into_receiver()?;
            tasks.spawn(publish::serve(receiver, hub, None, auth, state.clone(), scope.clone()));
        }
        (Some(Entity::Partition { hub, partition }), Role::Sender) => {
            // No limit at the fe2o3 level: see `wire` for how the limit is advertised and why.
            let receiver = accept(receiving_acceptor(), attach, session).await?.into_receiver()?;
            tasks.spawn(publish::serve(receiver, hub, Some(partition), auth, state.clone(), scope.clone()));
        }
        (Some(Entity::Consumer { hub, consumer_group, partition }), Role::Receiver) => {
            let request = consume::ReceiverRequest::from_attach(&attach, hub, consumer_group, partition);
            let sender = accept(sending_acceptor(), attach, session).await?.into_sender()?;
            tasks.spawn(consume::serve(sender, request, auth, state.clone(), scope.clone()));
        }
        (_, role) => {
            tracing::debug!(?role, %address, "refusing attach to unknown entity");
            let description = format!("The messaging entity '{address}' could not be found.");
            refuse(attach, session, state, AmqpError::NotFound, description).await?;
        }
    }
    Ok(())
}

/// Accepts an attach only to detach it at once with `condition`: the way to refuse a link
/// without leaving the client waiting for an answer.
async fn refuse(
    attach: Attach,
    session: &mut ListenerSessionHandle,
    state: &Arc<State>,
    condition: AmqpError,
    description: String,
) -> anyhow::Result<()> {
    if condition != AmqpError::NotFound {
        state.control.update(|c| c.rule_refusals += 1);
        tracing::debug!(?condition, %description, "attach refused by a service rule");
    }
    let error = definitions::Error::new(condition, Some(description), None);
    let acceptor = if attach.role == Role::Sender { receiving_acceptor() } else { sending_acceptor() };
    match accept(acceptor, attach, session).await? {
        LinkEndpoint::Sender(s) => state.tasks.spawn(close_sender(s, error)),
        LinkEndpoint::Receiver(r) => state.tasks.spawn(close_receiver(r, error)),
    };
    Ok(())
}

type Acceptor = LinkAcceptor<fn(Source) -> Option<Source>, fn(Target) -> Option<Target>>;

/// For links the client sends on: settled in mode `first` only, each transfer settled with its
/// outcome, as the service does. The Python SDK asks for `second` on its send links; granting it
/// would make fe2o3 wait for a settlement the client never sends, so every Python send hung.
fn receiving_acceptor() -> Acceptor {
    LinkAcceptor::builder()
        .supported_receiver_settle_modes(SupportedReceiverSettleModes::First)
        .fallback_receiver_settle_mode(ReceiverSettleMode::First)
        .build()
}

/// For links the client receives on (events, `$cbs`/`$management` responses): deliveries go out
/// pre-settled, whatever the client asked for. The Python SDK asks for `unsettled` but never
/// settles what it receives; fe2o3 would then wait for each outcome after the first event.
fn sending_acceptor() -> Acceptor {
    LinkAcceptor::builder()
        .supported_sender_settle_modes(SupportedSenderSettleModes::Settled)
        .fallback_sender_settle_mode(SenderSettleMode::Settled)
        .build()
}

async fn accept<FS, FT>(
    acceptor: LinkAcceptor<FS, FT>,
    attach: Attach,
    session: &mut ListenerSessionHandle,
) -> anyhow::Result<LinkEndpoint>
where
    FS: Fn(fe2o3_types::messaging::Source) -> Option<fe2o3_types::messaging::Source>,
    FT: Fn(fe2o3_types::messaging::Target) -> Option<fe2o3_types::messaging::Target>,
{
    Ok(acceptor.accept_incoming_attach(attach, session).await?)
}

trait EndpointExt {
    fn into_receiver(self) -> anyhow::Result<fe2o3::link::Receiver>;
    fn into_sender(self) -> anyhow::Result<fe2o3::link::Sender>;
}

impl EndpointExt for LinkEndpoint {
    fn into_receiver(self) -> anyhow::Result<fe2o3::link::Receiver> {
        match self {
            LinkEndpoint::Receiver(r) => Ok(r),
            LinkEndpoint::Sender(_) => anyhow::bail!("expected a receiving link"),
        }
    }
    fn into_sender(self) -> anyhow::Result<fe2o3::link::Sender> {
        match self {
            LinkEndpoint::Sender(s) => Ok(s),
            LinkEndpoint::Receiver(_) => anyhow::bail!("expected a sending link"),
        }
    }
}

/// Closes a server sender link with an error, bounded in time.
pub(crate) async fn close_sender(sender: fe2o3::link::Sender, error: definitions::Error) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sender.close_with_error(error)).await;
}

/// Closes a server receiver link with an error, bounded in time.
pub(crate) async fn close_receiver(receiver: fe2o3::link::Receiver, error: definitions::Error) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, receiver.close_with_error(error)).await;
}
