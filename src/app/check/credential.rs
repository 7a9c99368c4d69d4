//! The credential check: which identity `auth.credential` selects, and a token from it for each
//! audience some setting uses (Storage, Event Hubs, Azure Monitor); or, when every service has an account key,
//! SAS or fixed token, that none is needed.
use super::advice::{Dependency, Secret};
use super::azure::probe;
use super::{Check, Options, Outcome};
use crate::app::azure_wiring::Credentials;
use crate::app::config::{AzureConfig, CredentialKind, HubRef, OutputTarget, StorageSecret};
use crate::azure::probe::{FailureClass, ProbeError, token};

const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";
const EVENTHUBS_SCOPE: &str = "https://eventhubs.azure.net/.default";

/// Which credential `auth.credential` selects, in words.
fn describe(kind: &CredentialKind) -> String {
    let env = |v: &str| std::env::var(v).unwrap_or_else(|_| "(unset)".into());
    match kind {
        CredentialKind::ManagedIdentity { client_id: Some(id) } => {
            format!("managed identity (user-assigned, client id {id})")
        }
        CredentialKind::ManagedIdentity { client_id: None } => "managed identity (system-assigned)".into(),
        CredentialKind::WorkloadIdentity => {
            format!("workload identity (tenant {}, client id {})", env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"))
        }
        CredentialKind::AzureCli => "Azure CLI (az login)".into(),
        CredentialKind::DeveloperTools => "Azure CLI, then Azure Developer CLI".into(),
    }
}

/// The Entra ID token for each audience some setting uses, or why none is needed.
pub async fn check(az: &AzureConfig, creds: &Credentials, o: Options) -> Check {
    let storage: Vec<(&str, &StorageSecret)> = vec![
        ("checkpoints", &az.checkpoints.secret),
        ("offsets", &az.offsets_secret),
        ("sources", &az.sources_secret),
        ("dead_letter", &az.dead_letter.secret),
    ];
    let hubs: Vec<(&str, &HubRef)> =
        std::iter::once(("input", &az.input)).chain(az.output_hub().map(|h| ("output", h))).collect();
    // The Logs Ingestion output takes a token for Azure Monitor, or a fixed one.
    let monitor = match &az.output {
        OutputTarget::LogAnalytics(la) => Some(la.token.is_none()),
        OutputTarget::EventHubs(_) => None,
    };
    let storage_entra: Vec<&str> =
        storage.iter().filter(|(_, s)| s.account_key.is_none() && s.sas.is_none()).map(|(n, _)| *n).collect();
    let hubs_entra: Vec<&str> = hubs.iter().filter(|(_, h)| h.token.is_none()).map(|(n, _)| *n).collect();
    let fixed: Vec<&str> = storage
        .iter()
        .filter(|(_, s)| s.account_key.is_some() || s.sas.is_some())
        .map(|(n, _)| *n)
        .chain(hubs.iter().filter(|(_, h)| h.token.is_some()).map(|(n, _)| *n))
        .chain((monitor == Some(false)).then_some("log_analytics"))
        .collect();
    let statics = if fixed.is_empty() {
        String::new()
    } else {
        format!("; account keys, SAS or fixed tokens (no Entra ID) for {}", fixed.join(", "))
    };
    let who = describe(&az.credential);
    let dep = Dependency {
        setting: "auth.credential".into(),
        address: "auth.credential".into(),
        endpoint: who.clone(),
        secret: Secret::Entra,
        role: String::new(),
        scope: String::new(),
        when_missing: "the credential's identity does not exist: check auth.client_id".into(),
    };
    if storage_entra.is_empty() && hubs_entra.is_empty() && monitor != Some(true) {
        let detail = format!("no Entra ID token needed{statics}");
        return Check::new("credential", "", "auth.credential", Outcome::Pass(detail));
    }
    let mut audiences = Vec::new();
    if !storage_entra.is_empty() {
        audiences.push((STORAGE_SCOPE, storage_entra));
    }
    if !hubs_entra.is_empty() {
        audiences.push((EVENTHUBS_SCOPE, hubs_entra));
    }
    if monitor == Some(true) {
        audiences.push((crate::azure::logs_ingestion::SCOPE, vec!["log_analytics"]));
    }
    let check = probe("credential", &dep, o, async {
        let entra = creds.entra().map_err(|e| ProbeError::new(FailureClass::Credential, e.to_string()))?;
        let mut got = Vec::new();
        for (scope, users) in &audiences {
            token(entra.as_ref(), scope)
                .await
                .map_err(|e| ProbeError::new(e.class, format!("token for {scope}: {}", e.detail)))?;
            got.push(format!("{scope} (for {})", users.join(", ")));
        }
        Ok(format!("{who} answered; tokens for {}{statics}", got.join(" and ")))
    })
    .await;
    // Whatever the class (an unreachable token endpoint included), the fix is the token source's.
    match check.outcome {
        Outcome::Fail { class, cause, .. } => {
            let fix = how_to_get_a_token(&az.credential).to_string();
            Check { outcome: Outcome::Fail { class, cause, fix }, ..check }
        }
        _ => check,
    }
}

/// Where the selected credential gets its token from, and the usual way to make it work.
fn how_to_get_a_token(kind: &CredentialKind) -> &'static str {
    match kind {
        CredentialKind::ManagedIdentity { .. } => {
            "a managed identity answers only on an Azure host that has one (VM, Container Apps, App Service; AKS uses workload identity): assign one (auth.client_id picks a user-assigned one), or elsewhere run `az login` and set FLOWLOG_AUTH_CREDENTIAL=azure_cli, or give storage account keys or SAS (FLOWLOG_<SECTION>_ACCOUNT_KEY)"
        }
        CredentialKind::WorkloadIdentity => {
            "workload identity needs AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE (set by AKS for a service account with the azure.workload.identity/client-id annotation and a federated credential on the identity)"
        }
        CredentialKind::AzureCli | CredentialKind::DeveloperTools => {
            "run `az login` (and `az account set` to the subscription's tenant) as the user flowlog runs as"
        }
    }
}
