//! Where an Azure resource lives and how to reach it: blob containers and storage accounts with
//! their key or SAS, and Event Hubs with their endpoint and token.
use anyhow::bail;

use super::checks::{https_url, required, secret};
use super::{Secret, file};

/// How to authenticate to one storage account when not with Entra ID.
#[derive(Debug, Clone, Default)]
pub struct StorageSecret {
    pub sas: Option<Secret>,
    pub account_key: Option<Secret>,
}

/// Where a blob container lives and how to reach it.
#[derive(Debug, Clone)]
pub struct ContainerRef {
    pub account_url: String,
    pub container: String,
    pub secret: StorageSecret,
}

/// An Event Hub and how to reach it.
#[derive(Debug, Clone)]
pub struct HubRef {
    pub namespace: String,
    pub hub: String,
    /// Custom AMQP endpoint (emulator or private endpoint).
    pub endpoint: Option<String>,
    /// Fixed bearer token instead of Entra ID.
    pub token: Option<Secret>,
}

pub(super) fn container(section: &str, c: &Option<file::ContainerSection>) -> anyhow::Result<ContainerRef> {
    let c = c.clone().unwrap_or_default();
    Ok(ContainerRef {
        account_url: https_url(&format!("{section}.account_url"), required(section, "account_url", &c.account_url)?)?,
        container: required(section, "container", &c.container)?,
        secret: storage_secret(section, &c.sas, &c.sas_file, &c.account_key, &c.account_key_file)?,
    })
}

pub(super) fn storage_secret(
    section: &str,
    sas: &Option<Secret>,
    sas_file: &Option<String>,
    key: &Option<Secret>,
    key_file: &Option<String>,
) -> anyhow::Result<StorageSecret> {
    let s = StorageSecret { sas: secret(sas, sas_file)?, account_key: secret(key, key_file)? };
    if s.sas.is_some() && s.account_key.is_some() {
        bail!("{section}: set either an account key or a SAS, not both");
    }
    Ok(s)
}

pub(super) fn hub(
    section: &str,
    namespace: &Option<String>,
    hub: &Option<String>,
    endpoint: &Option<String>,
    token: &Option<Secret>,
    token_file: &Option<String>,
) -> anyhow::Result<HubRef> {
    if let Some(e) = endpoint
        && !(e.starts_with("amqp://") || e.starts_with("amqps://"))
    {
        bail!("{section}.endpoint: {e:?} must be an amqp:// or amqps:// URL");
    }
    Ok(HubRef {
        namespace: required(section, "namespace", namespace)?,
        hub: required(section, "hub", hub)?,
        endpoint: endpoint.clone(),
        token: secret(token, token_file)?,
    })
}
