//! Turns the Azure part of the configuration into credentials and store accounts, building the
//! Entra ID credential once and only if some service needs it, and the Blob clients' one HTTP
//! transport.
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;

use crate::azure::sources::AllowedSources;
use azure_core::credentials::TokenCredential;

use crate::app::config::{AzureConfig, CredentialKind, HubRef, LogAnalyticsConfig, StorageSecret};
use crate::azure::blob_clients::BlobTransport;
use crate::azure::blob_store::AzureBlobAccount;
use crate::azure::credentials::{EntraCredentialKind, StorageAuth, entra_credential};
use crate::azure::endpoint::AccountEndpoint;
use crate::azure::eventhubs::HubTarget;
use crate::azure::logs_ingestion::Target;
use crate::azure::sas::{AccountKey, SasToken};
use crate::azure::static_token::StaticToken;

/// Hands out the one Entra ID credential and the one Blob transport, each created on first use.
pub struct Credentials {
    kind: EntraCredentialKind,
    entra: Mutex<Option<Arc<dyn TokenCredential>>>,
    blob_transport: OnceLock<BlobTransport>,
}

impl Credentials {
    pub fn new(kind: &CredentialKind) -> Self {
        let kind = match kind.clone() {
            CredentialKind::ManagedIdentity { client_id } => EntraCredentialKind::ManagedIdentity { client_id },
            CredentialKind::WorkloadIdentity => EntraCredentialKind::WorkloadIdentity,
            CredentialKind::AzureCli => EntraCredentialKind::AzureCli,
            CredentialKind::DeveloperTools => EntraCredentialKind::DeveloperTools,
        };
        Credentials { kind, entra: Mutex::new(None), blob_transport: OnceLock::new() }
    }

    /// The HTTP transport every Blob client built from these credentials shares.
    pub fn blob_transport(&self) -> &BlobTransport {
        self.blob_transport.get_or_init(BlobTransport::new)
    }

    pub fn entra(&self) -> anyhow::Result<Arc<dyn TokenCredential>> {
        let mut slot = self.entra.lock().map_err(|_| anyhow::anyhow!("credential lock poisoned"))?;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = entra_credential(&self.kind).map_err(|e| anyhow::anyhow!("auth.credential ({:?}): {e}", self.kind))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The storage credential for the account at `endpoint`: its SAS or key if configured,
    /// else Entra ID.
    pub fn storage(
        &self,
        setting: &str,
        endpoint: &AccountEndpoint,
        secret: &StorageSecret,
    ) -> anyhow::Result<StorageAuth> {
        if let Some(sas) = &secret.sas {
            return Ok(StorageAuth::Sas(
                SasToken::parse(sas.expose()).map_err(|e| anyhow::anyhow!("{setting} SAS: {e}"))?,
            ));
        }
        if let Some(key) = &secret.account_key {
            let key = AccountKey::new(endpoint.account(), key.expose())
                .map_err(|e| anyhow::anyhow!("{setting} account key: {e}"))?;
            return Ok(StorageAuth::AccountKey(key));
        }
        Ok(StorageAuth::Entra(self.entra().with_context(|| format!("{setting} uses Entra ID"))?))
    }

    /// Where and how to reach the Event Hub `hub`, each SDK call bounded by `call_timeout`.
    pub fn hub_target(&self, hub: &HubRef, call_timeout: std::time::Duration) -> anyhow::Result<HubTarget> {
        let mut target = HubTarget::new(&hub.namespace, &hub.hub, self.hub(hub)?);
        target.custom_endpoint = hub.endpoint.clone();
        target.call_timeout = call_timeout;
        Ok(target)
    }

    /// The credential for an Event Hub: its fixed token if configured, else Entra ID.
    pub fn hub(&self, hub: &HubRef) -> anyhow::Result<Arc<dyn TokenCredential>> {
        match &hub.token {
            Some(token) => Ok(StaticToken::credential(token.clone())),
            None => self.entra(),
        }
    }
}

impl Credentials {
    /// Where and how to reach the Logs Ingestion API: its fixed token if configured, else
    /// Entra ID; `timeout` bounds each call.
    pub fn logs_ingestion_target(&self, la: &LogAnalyticsConfig) -> anyhow::Result<Target> {
        let credential = match &la.token {
            Some(token) => StaticToken::credential(token.clone()),
            None => self.entra().context("log_analytics uses Entra ID")?,
        };
        Ok(Target {
            endpoint: la.endpoint.clone(),
            dcr_immutable_id: la.dcr_immutable_id.clone(),
            stream: la.stream.clone(),
            credential,
            timeout: la.timeout,
        })
    }
}

/// Parses `url` as a storage account endpoint, naming the setting on error.
pub fn endpoint(setting: &str, url: &str) -> anyhow::Result<AccountEndpoint> {
    AccountEndpoint::parse(url).map_err(|e| anyhow::anyhow!("{setting}: {e}"))
}

/// The storage accounts and containers events may name (`sources.allowed`), for the blob
/// store's own allow-list: events and reads are limited by the same setting.
pub fn source_accounts(cfg: &AzureConfig, creds: &Credentials) -> anyhow::Result<Vec<AzureBlobAccount>> {
    let allowed = AllowedSources::parse(&cfg.allowed_sources).map_err(|e| anyhow::anyhow!("sources.allowed: {e}"))?;
    let accounts = allowed.accounts().map_err(|e| anyhow::anyhow!("sources.allowed: {e}"))?;
    accounts
        .into_iter()
        .map(|(endpoint, containers)| {
            Ok(AzureBlobAccount {
                auth: creds.storage("sources", &endpoint, &cfg.sources_secret)?,
                endpoint,
                containers,
            })
        })
        .collect()
}
