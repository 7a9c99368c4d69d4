//! An Event Hubs emulator for tests: an AMQP 1.0 server that the official
//! `azure_messaging_eventhubs` SDK talks to over plain `amqp://`.
//!
//! Start it in-process on a free port, point the SDK's builders at it with
//! `with_custom_endpoint(handle.endpoint())` and open clients with a [`StaticTokenCredential`]:
//!
//! ```no_run
//! use eventhubs_emulator::{Emulator, EmulatorConfig, HubConfig, StaticTokenCredential};
//! # async fn demo() -> anyhow::Result<()> {
//! let emulator = Emulator::start(EmulatorConfig::new(vec![HubConfig::new("input", 4)]), "127.0.0.1:0").await?;
//! let credential = StaticTokenCredential::default().into_arc();
//! // ProducerClient::builder().with_custom_endpoint(emulator.endpoint())
//! //     .open("emulator.servicebus.windows.net", "input", credential).await?;
//! emulator.control().server_busy(3); // the next three sends are throttled
//! let counters = emulator.control().counters();
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! See the crate README for what is and is not emulated.

mod address;
mod cbs_links;
mod config;
mod connection;
mod consume;
mod control;
mod credential;
mod hash;
pub mod http;
mod inspect;
pub mod logs_ingestion;
mod nodes;
mod persist;
mod publish;
mod put_token;
mod rules;
mod server;
mod state;
mod store;
mod wire;
mod wire_in;
mod wire_pad;

pub use config::{DEFAULT_CONSUMER_GROUP, EmulatorConfig, HubConfig, STANDARD_MAX_MESSAGE_SIZE};
pub use control::{Control, Counters, HubCounters, PartitionCounters};
pub use credential::{DEFAULT_TEST_TOKEN, StaticTokenCredential};
pub use hash::partition_for_key;
pub use inspect::{EventRecord, StoreReader};
pub use publish::BATCH_MESSAGE_FORMAT;
pub use put_token::{attach_cbs_links, put_token, put_token_on, unique_name};
pub use rules::{AZURE_MAX_RECEIVERS, Rules};

use state::State;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, ToSocketAddrs};

/// A namespace host name tests can pass to the SDK's `open`: any name works, since the socket
/// goes to the custom endpoint and the emulator ignores the host part of addresses.
pub const NAMESPACE: &str = "emulator.servicebus.windows.net";

/// Entry point: see [`Emulator::start`].
#[derive(Debug)]
pub struct Emulator;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable (e.g. no hubs, duplicate hub names).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Binding the listener or opening the data directory failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Emulator {
    /// Binds `addr` (use `"127.0.0.1:0"` for a free port), loads persisted partitions and starts
    /// serving. Connections are accepted as soon as this returns.
    pub async fn start(config: EmulatorConfig, addr: impl ToSocketAddrs) -> Result<EmulatorHandle, StartError> {
        validate(&config)?;
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let state = Arc::new(State::new(config)?);
        let task_state = state.clone();
        state.tasks.spawn(server::accept_loop(listener, task_state));
        tracing::info!(%local_addr, "emulator listening");
        Ok(EmulatorHandle { local_addr, state })
    }
}

fn validate(config: &EmulatorConfig) -> Result<(), StartError> {
    if config.hubs.is_empty() {
        return Err(StartError::Config("at least one hub is required".into()));
    }
    for (i, hub) in config.hubs.iter().enumerate() {
        if hub.partitions == 0 {
            return Err(StartError::Config(format!("hub {:?} has no partitions", hub.name)));
        }
        if config.hubs[..i].iter().any(|h| h.name.eq_ignore_ascii_case(&hub.name)) {
            return Err(StartError::Config(format!("hub {:?} is configured twice", hub.name)));
        }
    }
    if config.max_message_size == 0 {
        return Err(StartError::Config("max_message_size must be positive".into()));
    }
    Ok(())
}

/// A running emulator. Dropping it does not stop the server; call [`EmulatorHandle::shutdown`].
#[derive(Debug)]
pub struct EmulatorHandle {
    local_addr: SocketAddr,
    state: Arc<State>,
}

impl EmulatorHandle {
    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `amqp://127.0.0.1:PORT`, for the SDK builders' `with_custom_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("amqp://{}", self.local_addr)
    }

    /// Fault injection and counters.
    pub fn control(&self) -> Control {
        self.state.control.clone()
    }

    /// The configuration the emulator runs with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.state.config
    }

    /// Stops accepting, closes every connection and waits (bounded) for all tasks to end.
    /// Persisted data is complete once this returns; start a new emulator with the same
    /// `data_dir` to simulate a restart.
    pub async fn shutdown(self) {
        self.state.shutdown.cancel();
        self.state.tasks.close();
        let wait = self.state.tasks.wait();
        if tokio::time::timeout(server::CLOSE_TIMEOUT * 2, wait).await.is_err() {
            tracing::warn!("emulator tasks still running after shutdown timeout");
        }
    }
}
