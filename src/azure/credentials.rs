//! How flowlog authenticates to a storage account: Entra ID, a SAS token, or an account key.
//!
//! Entra ID (managed or workload identity) is the recommended choice; SAS tokens and account
//! keys exist for accounts where role assignments are not possible, and keys for Azurite. None of
//! these types print their secret in Debug output.
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;

use super::sas::{AccountKey, SasToken};
use super::token_bridge::LegacyTokenCredential;
use crate::pipeline::error::{ServiceError, ServiceResult};

/// Credentials for one storage account.
#[derive(Clone)]
pub enum StorageAuth {
    /// Entra ID tokens (scope `https://storage.azure.com/.default`). Requires https endpoints.
    Entra(Arc<dyn TokenCredential>),
    /// A SAS token (account SAS or container SAS), appended to every request.
    Sas(SasToken),
    /// The account key: Blob requests carry short-lived account SAS tokens signed with it,
    /// Table requests use Shared Key.
    AccountKey(AccountKey),
}

impl StorageAuth {
    /// Azurite's well-known account key.
    pub fn emulator() -> Self {
        StorageAuth::AccountKey(AccountKey::emulator())
    }

    /// A SAS token from an environment variable.
    pub fn sas_from_env(var: &str) -> ServiceResult<Self> {
        let token = std::env::var(var)
            .map_err(|_| ServiceError::permanent(format!("environment variable {var} (SAS token) is not set")))?;
        Ok(StorageAuth::Sas(SasToken::parse(&token)?))
    }

    /// A SAS token from a file (e.g. a mounted secret).
    pub fn sas_from_file(path: &Path) -> ServiceResult<Self> {
        Ok(StorageAuth::Sas(SasToken::parse(&read_secret(path)?)?))
    }

    /// An account key (base64, as the portal shows it) from a file.
    pub fn account_key_from_file(account: &str, path: &Path) -> ServiceResult<Self> {
        Ok(StorageAuth::AccountKey(AccountKey::new(account, &read_secret(path)?)?))
    }

    /// The credential for `azure_data_tables` 0.21 (legacy `azure_storage::StorageCredentials`).
    pub fn table_credentials(&self) -> ServiceResult<azure_storage::StorageCredentials> {
        Ok(match self {
            StorageAuth::Entra(credential) => azure_storage::StorageCredentials::token_credential(Arc::new(
                LegacyTokenCredential::new(credential.clone()),
            )),
            StorageAuth::Sas(token) => azure_storage::StorageCredentials::sas_token(token.query())
                .map_err(|_| ServiceError::permanent("SAS token rejected by the Table client"))?,
            StorageAuth::AccountKey(key) => azure_storage::StorageCredentials::access_key(
                key.account().to_string(),
                azure_core_legacy::auth::Secret::new(key.key_base64()),
            ),
        })
    }

    /// The account an account key belongs to (SAS tokens and Entra ID do not name one).
    pub fn key_account(&self) -> Option<&str> {
        match self {
            StorageAuth::AccountKey(key) => Some(key.account()),
            _ => None,
        }
    }
}

impl fmt::Debug for StorageAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageAuth::Entra(credential) => f.debug_tuple("Entra").field(credential).finish(),
            StorageAuth::Sas(token) => f.debug_tuple("Sas").field(token).finish(),
            StorageAuth::AccountKey(key) => f.debug_tuple("AccountKey").field(key).finish(),
        }
    }
}

fn read_secret(path: &Path) -> ServiceResult<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServiceError::from_io(format!("reading secret file {}", path.display()), e))?;
    Ok(text.trim().to_string())
}

/// Which Entra ID credential to build (`azure_identity` 1.0 has no DefaultAzureCredential).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntraCredentialKind {
    /// Managed identity on Azure VMs, App Service, Container Apps; `client_id` picks a user-assigned one.
    ManagedIdentity { client_id: Option<String> },
    /// AKS workload identity (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity,
    /// The signed-in Azure CLI user (development).
    AzureCli,
    /// Azure CLI, then Azure Developer CLI (development).
    DeveloperTools,
}

/// Builds the Entra ID credential; it is shared by every client that uses it.
pub fn entra_credential(kind: &EntraCredentialKind) -> ServiceResult<Arc<dyn TokenCredential>> {
    use azure_identity::*;
    let fail = |e: azure_core::Error| super::errors::from_azure(&format!("creating {kind:?} credential"), &e);
    let credential: Arc<dyn TokenCredential> = match kind {
        EntraCredentialKind::ManagedIdentity { client_id } => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                ..Default::default()
            }))
            .map_err(fail)?
        }
        EntraCredentialKind::WorkloadIdentity => WorkloadIdentityCredential::new(None).map_err(fail)?,
        EntraCredentialKind::AzureCli => AzureCliCredential::new(None).map_err(fail)?,
        EntraCredentialKind::DeveloperTools => DeveloperToolsCredential::new(None).map_err(fail)?,
    };
    Ok(credential)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::AccountEndpoint;
    use crate::azure::blob_clients::container_client;

    #[test]
    fn entra_credentials_build_and_plug_into_both_sdks_without_network() {
        for kind in
            [EntraCredentialKind::ManagedIdentity { client_id: Some("id".into()) }, EntraCredentialKind::AzureCli]
        {
            let auth = StorageAuth::Entra(entra_credential(&kind).unwrap());
            let https = AccountEndpoint::parse("https://acct01.blob.core.windows.net").unwrap();
            assert!(container_client(&https, "c1x", &auth, "rl").is_ok());
            assert!(auth.table_credentials().is_ok());
            // Bearer tokens over plain HTTP are refused by the SDK, before any request.
            let http = AccountEndpoint::parse("http://127.0.0.1:1/acct01").unwrap();
            assert!(container_client(&http, "c1x", &auth, "rl").is_err());
        }
    }

    #[test]
    fn secrets_come_from_files_and_stay_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, format!("{}\n", crate::azure::sas::EMULATOR_KEY)).unwrap();
        let auth = StorageAuth::account_key_from_file("devstoreaccount1", &key_file).unwrap();
        assert_eq!(auth.key_account(), Some("devstoreaccount1"));
        let sas_file = dir.path().join("sas");
        std::fs::write(&sas_file, "?sv=2022-11-02&se=2030-01-01T00%3A00%3A00Z&sig=SECRETSIG%3D\n").unwrap();
        let sas = StorageAuth::sas_from_file(&sas_file).unwrap();
        let shown = format!("{auth:?} {sas:?}");
        assert!(!shown.contains("SECRETSIG") && !shown.contains(crate::azure::sas::EMULATOR_KEY), "{shown}");
        assert!(StorageAuth::sas_from_file(&dir.path().join("absent")).is_err());
    }
}
