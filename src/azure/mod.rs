//! Shared Azure plumbing: endpoints, credentials, SAS, error mapping, Event Hubs targets, allowed sources.
pub mod blob_clients;
pub mod blob_store;
pub mod credentials;
pub mod dead_letter;
pub mod endpoint;
pub mod errors;
pub mod eventgrid;
pub mod eventhubs;
pub mod feed;
pub mod link_size;
pub mod logs_ingestion;
pub mod probe;
pub mod reconnecting;
pub mod sas;
pub mod sink;
pub mod sources;
pub mod static_token;
pub mod storage_counter;
pub mod table;
pub mod token_bridge;

pub use credentials::{EntraCredentialKind, StorageAuth, entra_credential};
pub use endpoint::AccountEndpoint;
pub use sas::{AccountKey, AccountSas, SasToken};
