//! The Azure checks, in the order the daemon needs them: the Entra ID credential
//! (`credential`), the offsets table, the dead-letter container, the output hub (`hubs`), the
//! checkpoint container, the input hub and its consumer group (`hubs`), and each allowed source
//! container. They run concurrently (each within the time limit) and are reported in that order.
use std::future::Future;

use super::advice::{Dependency, Secret, fix, setting_for};
use super::{Check, Options, Outcome};
use crate::app::azure_wiring::{Credentials, endpoint};
use crate::app::config::{AzureConfig, ContainerRef, StorageSecret};
use crate::azure::probe::storage::ContainerProbe;
use crate::azure::probe::{FailureClass, ProbeError, bounded};
use crate::azure::sources::AllowedSources;
use crate::azure::table::TableOffsetStore;

pub async fn checks(az: &AzureConfig, o: Options) -> Vec<Check> {
    checks_with(az, &Credentials::new(&az.credential), o).await
}

/// [`checks`] with the caller's credentials and Blob transport: the daemon's start probes with
/// those it then runs on, so the system's root certificates are loaded once per process.
pub async fn checks_with(az: &AzureConfig, creds: &Credentials, o: Options) -> Vec<Check> {
    let (credential, table, dead, output, checkpoints, input, sources) = tokio::join!(
        super::credential::check(az, creds, o),
        table(az, creds, o),
        container("dead-letter container", "dead_letter", &az.dead_letter, creds, o),
        super::hubs::output(az, creds, o),
        container("checkpoint container", "checkpoints", &az.checkpoints, creds, o),
        super::hubs::input(az, creds, o),
        sources(az, creds, o),
    );
    let mut all = vec![credential, table, dead, output, checkpoints];
    all.extend(input);
    all.extend(sources);
    all
}

pub(super) fn other(e: impl std::fmt::Display) -> ProbeError {
    ProbeError::new(FailureClass::Other, e.to_string())
}

/// Runs `probe` within the time limit and turns its result into a check line.
pub(super) async fn probe(
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

pub(super) fn storage_secret(section: &str, s: &StorageSecret) -> Secret {
    Secret::of(section, s.account_key.is_some(), s.sas.is_some(), false)
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
        let probe = ContainerProbe::new(&ep, &c.container, &auth, creds.blob_transport())?;
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
                    let listed = ContainerProbe::new(ep, c, &auth, creds.blob_transport())?.list_and_read().await?;
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
