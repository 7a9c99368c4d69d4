//! The Event Hubs checks: the output hub (partitions, a send link, its max message size) and
//! the input hub (partitions) with its consumer group (a receive link).
use std::time::Duration;

use super::advice::{Dependency, Secret};
use super::azure::probe;
use super::{Check, Options, Outcome};
use crate::app::azure_wiring::Credentials;
use crate::app::config::{AzureConfig, HubRef, OutputTarget};
use crate::azure::eventhubs::HubTarget;
use crate::azure::probe::hubs::{self, LinkState};
use crate::azure::probe::{FailureClass, ProbeError};

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

pub async fn output(az: &AzureConfig, creds: &Credentials, o: Options) -> Check {
    let output = match &az.output {
        OutputTarget::EventHubs(hub) => hub,
        OutputTarget::LogAnalytics(la) => return super::log_analytics::check(la, creds, o).await,
    };
    let dep = hub_dependency("output", output, "Azure Event Hubs Data Sender", o, creds);
    probe("output hub", &dep, o, async {
        let target = hub_target(output, creds, o)?;
        if o.daemon {
            let partitions = hubs::partitions(&target).await?;
            return Ok(format!("{} partitions", partitions.len()));
        }
        let (partitions, size) = hubs::send_link(&target, o.timeout).await?;
        Ok(format!("{partitions} partitions; a send link opened, max message size {size} bytes"))
    })
    .await
}

pub async fn input(az: &AzureConfig, creds: &Credentials, o: Options) -> Vec<Check> {
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
