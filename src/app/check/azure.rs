//! The Azure checks, in the order the daemon needs them: the Entra ID credential, the offsets
//! table, the dead-letter container, the output hub, the checkpoint container, the input hub and
//! its consumer group, and each allowed source container. They run concurrently (each within
//! the time limit) and are reported in that order.
use std::future::Future;
use std::time::Duration;

use super::advice::{Dependency, Secret, fix, setting_for};
use super::{Check, Options, Outcome};
use crate::app::azure_wiring::{Credentials, endpoint};
use crate::app::config::{AzureConfig, ContainerRef, CredentialKind, HubRef, StorageSecret};
use crate::azure::eventhubs::HubTarget;
use crate::azure::probe::hubs::{self, LinkState};
use crate::azure::probe::storage::ContainerProbe;
use crate::azure::probe::{FailureClass, ProbeError, bounded, token};
use crate::azure::sources::AllowedSources;
use crate::azure::table::TableOffsetStore;

const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";
const EVENTHUBS_SCOPE: &str = "https://eventhubs.azure.net/.default";

pub async fn checks(az: &AzureConfig, o: Options) -> Vec<Check> {
    let creds = Credentials::new(&az.credential);
    let creds = &creds;
    let (credential, table, dead, output, checkpoints, input, sources) = tokio::join!(
        credential(az, creds, o),
        table(az, creds, o),
        container("dead-letter container", "dead_letter", &az.dead_letter, creds, o),
        output(az, creds, o),
        container("checkpoint container", "checkpoints", &az.checkpoints, creds, o),
        input(az, creds, o),
        sources(az, creds, o),
    );
    let mut all = vec![credential, table, dead, output, checkpoints];
    all.extend(input);
    all.extend(sources);
    all
}

fn other(e: impl std::fmt::Display) -> ProbeError {
    ProbeError::new(FailureClass::Other, e.to_string())
}

/// Runs `probe` within the time limit and turns its result into a check line.
async fn probe(
    name: &str,
    dep: &Dependency,
    o: Options,
    probe: impl Future<Output = Result<String, ProbeError>>,
) -> Check {
    let mut setting = dep.setting.as_str();
    let outcome = match bounded(o.timeout, probe).await {
        Ok(detail) => Outcome::Pass(detail),
        Err(e) => {
            // An account key grants everything it can sign: a refusal means the signature was wrong.
            let class = match (&dep.secret, e.class) {
                (Secret::AccountKey(_), FailureClass::Forbidden) => FailureClass::Credential,
                (_, class) => class,
            };
            setting = setting_for(dep, class);
            Outcome::Fail { class, cause: e.detail, fix: fix(dep, class, o.timeout.as_secs()) }
        }
    };
    Check::new(name, dep.endpoint.clone(), setting, outcome)
}

fn storage_secret(section: &str, s: &StorageSecret) -> Secret {
    Secret::of(section, s.account_key.is_some(), s.sas.is_some(), false)
}

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
async fn credential(az: &AzureConfig, creds: &Credentials, o: Options) -> Check {
    let storage: Vec<(&str, &StorageSecret)> = vec![
        ("checkpoints", &az.checkpoints.secret),
        ("offsets", &az.offsets_secret),
        ("sources", &az.sources_secret),
        ("dead_letter", &az.dead_letter.secret),
    ];
    let hubs = [("input", &az.input), ("output", &az.output)];
    let storage_entra: Vec<&str> =
        storage.iter().filter(|(_, s)| s.account_key.is_none() && s.sas.is_none()).map(|(n, _)| *n).collect();
    let hubs_entra: Vec<&str> = hubs.iter().filter(|(_, h)| h.token.is_none()).map(|(n, _)| *n).collect();
    let fixed: Vec<&str> = storage
        .iter()
        .filter(|(_, s)| s.account_key.is_some() || s.sas.is_some())
        .map(|(n, _)| *n)
        .chain(hubs.iter().filter(|(_, h)| h.token.is_some()).map(|(n, _)| *n))
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
    if storage_entra.is_empty() && hubs_entra.is_empty() {
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
    probe("credential", &dep, o, async {
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
    .await
}

async fn table(az: &AzureConfig, creds: &Credentials, o: Options) -> Check {
    let account = endpoint("offsets.account_url", &az.offsets_account_url).map(|e| e.account().to_string());
    let account_name = account.as_deref().unwrap_or("?").to_string();
    let table = &az.offsets_table;
    let dep = Dependency {
        setting: "offsets.table".into(),
        address: "offsets.account_url".into(),
        endpoint: format!("{} table {table}", az.offsets_account_url),
        secret: storage_secret("offsets", &az.offsets_secret),
        role: "Storage Table Data Contributor".into(),
        scope: format!("storage account {account_name}"),
        when_missing: "for a new deployment run `flowlog check --create` (or let `run` create it at start); otherwise check offsets.table and offsets.account_url for a typo: a new, empty table means every blob is read again from its start".to_string(),
    };
    probe("offsets table", &dep, o, async {
        let ep = endpoint("offsets.account_url", &az.offsets_account_url).map_err(other)?;
        let auth = creds
            .storage("offsets", &ep, &az.offsets_secret)
            .map_err(|e| ProbeError::new(FailureClass::Credential, e.to_string()))?;
        let store = TableOffsetStore::without_retries(&ep, table, &auth).map_err(|e| other(e.message))?;
        if o.daemon {
            // The same request the daemon's start makes next: creating the table when missing.
            store.probe_create().await?;
            return Ok("reachable; exists or created".into());
        }
        let mut created = "exists";
        if !store.probe_exists().await? {
            if !o.create {
                return Err(ProbeError::new(
                    FailureClass::NotFound,
                    format!("table {table} does not exist in account {account_name}"),
                ));
            }
            store.probe_create().await?;
            created = "created";
        }
        store.probe_round_trip().await?;
        Ok(format!("{created}; a compare-and-swap round trip on a scratch entity passed (entity deleted)"))
    })
    .await
}

async fn container(name: &str, section: &str, c: &ContainerRef, creds: &Credentials, o: Options) -> Check {
    let account = endpoint(&format!("{section}.account_url"), &c.account_url).map(|e| e.account().to_string());
    let account_name = account.as_deref().unwrap_or("?").to_string();
    let consequence = if section == "checkpoints" {
        ": a new, empty checkpoint container makes every partition start again at input.start_position"
    } else {
        ""
    };
    let dep = Dependency {
        setting: format!("{section}.container"),
        address: format!("{section}.account_url"),
        endpoint: format!("{}/{}", c.account_url, c.container),
        secret: storage_secret(section, &c.secret),
        role: "Storage Blob Data Contributor".into(),
        scope: format!("container {account_name}/{}", c.container),
        when_missing: format!(
            "for a new deployment run `flowlog check --create` (or let `run` create it at start); otherwise check {section}.container and {section}.account_url for a typo{consequence}"
        ),
    };
    probe(name, &dep, o, async {
        let ep = endpoint(&format!("{section}.account_url"), &c.account_url).map_err(other)?;
        let auth = creds
            .storage(section, &ep, &c.secret)
            .map_err(|e| ProbeError::new(FailureClass::Credential, e.to_string()))?;
        let probe = ContainerProbe::new(&ep, &c.container, &auth)?;
        let mut state = "exists";
        if !probe.exists().await? {
            if o.daemon {
                return Ok("reachable; missing, created at start".into());
            }
            if !o.create {
                return Err(ProbeError::new(
                    FailureClass::NotFound,
                    format!("container {} does not exist in account {account_name}", c.container),
                ));
            }
            probe.create().await?;
            state = "created";
        }
        if o.daemon {
            return Ok("reachable; exists".into());
        }
        let scratch = probe.write_scratch().await?;
        Ok(format!("{state}; wrote and deleted {scratch}"))
    })
    .await
}

/// `amqps://NAMESPACE/HUB`, or the custom endpoint's address.
fn hub_endpoint(h: &HubRef, target: Option<&HubTarget>) -> String {
    let namespace = target.map_or(h.namespace.clone(), |t| t.namespace.clone());
    match &h.endpoint {
        Some(e) => format!("{}/{} (namespace {namespace})", e.trim_end_matches('/'), h.hub),
        None => format!("amqps://{namespace}/{}", h.hub),
    }
}

fn hub_target(h: &HubRef, creds: &Credentials, o: Options) -> Result<HubTarget, ProbeError> {
    creds.hub_target(h, o.timeout).map_err(|e| ProbeError::new(FailureClass::Credential, e.to_string()))
}

fn hub_dependency(section: &str, h: &HubRef, role: &str, o: Options, creds: &Credentials) -> Dependency {
    let target = hub_target(h, creds, o).ok();
    let namespace = target.as_ref().map_or(h.namespace.clone(), |t| t.namespace.clone());
    Dependency {
        setting: format!("{section}.hub"),
        address: format!("{section}.{}", if h.endpoint.is_some() { "endpoint" } else { "namespace" }),
        endpoint: hub_endpoint(h, target.as_ref()),
        secret: Secret::of(section, false, false, h.token.is_some()),
        role: role.into(),
        scope: format!("event hub {namespace}/{}", h.hub),
        when_missing: format!(
            "hub {} does not exist in namespace {namespace}: check {section}.hub and {section}.namespace (az eventhubs eventhub list)",
            h.hub
        ),
    }
}

async fn output(az: &AzureConfig, creds: &Credentials, o: Options) -> Check {
    let dep = hub_dependency("output", &az.output, "Azure Event Hubs Data Sender", o, creds);
    probe("output hub", &dep, o, async {
        let target = hub_target(&az.output, creds, o)?;
        if o.daemon {
            let partitions = hubs::partitions(&target).await?;
            return Ok(format!("{} partitions", partitions.len()));
        }
        let (partitions, size) = hubs::send_link(&target, o.timeout).await?;
        Ok(format!("{partitions} partitions; a send link opened, max message size {size} bytes"))
    })
    .await
}

async fn input(az: &AzureConfig, creds: &Credentials, o: Options) -> Vec<Check> {
    let dep = hub_dependency("input", &az.input, "Azure Event Hubs Data Receiver", o, creds);
    let group = &az.consumer_group;
    let group_dep = Dependency {
        setting: "input.consumer_group".into(),
        endpoint: format!("{} consumer group {group}", dep.endpoint),
        when_missing: format!(
            "consumer group {group} does not exist on hub {}: create it (az eventhubs eventhub consumer-group create --name {group} ...) or fix input.consumer_group",
            az.input.hub
        ),
        ..dep.clone()
    };
    let mut partitions = Vec::new();
    let hub = probe("input hub", &dep, o, async {
        let target = hub_target(&az.input, creds, o)?;
        partitions = hubs::partitions(&target).await?;
        Ok(format!("{} partitions", partitions.len()))
    });
    // Partition ids are "0" to "n-1": the link on "0" need not wait for the hub's answer, and
    // the daemon's start does not (it watches briefly too: its own receivers attach right after).
    let first = "0";
    let watch = if o.daemon { Duration::from_millis(200) } else { Duration::from_secs(2) };
    let link = probe("consumer group", &group_dep, o, async {
        let target = hub_target(&az.input, creds, o)?;
        Ok(match hubs::receive_link(&target, group, first, watch).await? {
            LinkState::Received | LinkState::Quiet => format!("exists; a receive link on partition {first} opened"),
            LinkState::HeldByOwner => {
                format!("exists; partition {first} is held by a receiver with an owner level (a running flowlog)")
            }
        })
    });
    let skipped = || {
        let why = Outcome::Skipped("the input hub check failed".into());
        Check::new("consumer group", group_dep.endpoint.clone(), "input.consumer_group", why)
    };
    if o.daemon {
        let (hub, group_check) = tokio::join!(hub, link);
        // The hub's failure explains the link's: one line says it.
        return if hub.passed() { vec![hub, group_check] } else { vec![hub, skipped()] };
    }
    let hub = hub.await;
    if !hub.passed() {
        return vec![hub, skipped()];
    }
    vec![hub, link.await]
}

async fn sources(az: &AzureConfig, creds: &Credentials, o: Options) -> Vec<Check> {
    if o.daemon {
        // Flow logging creates its container with the first log: missing is normal at start.
        return Vec::new();
    }
    let accounts = match AllowedSources::parse(&az.allowed_sources).and_then(|a| a.accounts()) {
        Ok(accounts) => accounts,
        Err(e) => {
            let outcome =
                Outcome::Fail { class: FailureClass::Other, cause: e.message, fix: "fix sources.allowed".into() };
            return vec![Check::new("source container", "", "sources.allowed", outcome)];
        }
    };
    let mut probes = Vec::new();
    for (ep, containers) in &accounts {
        for c in containers {
            let dep = Dependency {
                setting: "sources.allowed".into(),
                address: "sources.allowed".into(),
                endpoint: format!("{}/{c}", ep.url().as_str().trim_end_matches('/')),
                secret: storage_secret("sources", &az.sources_secret),
                role: "Storage Blob Data Reader".into(),
                scope: format!("container {}/{c}", ep.account()),
                when_missing: format!(
                    "flow logging has not written to account {} yet (the container appears with the first flow log), or sources.allowed has a typo",
                    ep.account()
                ),
            };
            probes.push(async move {
                probe("source container", &dep, o, async {
                    let auth = creds
                        .storage("sources", ep, &az.sources_secret)
                        .map_err(|e| ProbeError::new(FailureClass::Credential, e.to_string()))?;
                    let listed = ContainerProbe::new(ep, c, &auth)?.list_and_read().await?;
                    Ok(match listed.read {
                        Some(blob) => format!("listed {} blob(s); read the head of {blob}", listed.blobs),
                        None => format!("listed {} blob(s), no PT1H.json among them yet", listed.blobs),
                    })
                })
                .await
            });
        }
    }
    futures::future::join_all(probes).await
}
