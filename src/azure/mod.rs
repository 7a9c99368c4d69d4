//! Shared Azure plumbing: endpoints, credentials, SAS, error mapping, Event Hubs targets, allowed sources.
pub mod blob_clients;
pub mod block_writer;
pub mod credentials;
pub mod endpoint;
pub mod errors;
pub mod eventhubs;
pub mod from_config;
pub mod offset_entity;
pub mod sas;
pub mod sources;
pub mod static_token;
pub mod token_bridge;

pub use credentials::{EntraCredentialKind, StorageAuth, entra_credential};
pub use endpoint::AccountEndpoint;
pub use sas::{AccountKey, AccountSas, SasToken};
