//! `flowlog simulate --azure`: writes the simulated records into Blob storage with Put Block +
//! Put Block List exactly as flow logging does, and publishes the matching Event Grid
//! `BlobCreated` events (Event Grid schema, array body, partition key = subject) to the input
//! hub, optionally duplicated, delayed past later events, or reordered.
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use azure_messaging_eventhubs::models::EventData;
use azure_messaging_eventhubs::{EventDataBatchOptions, ProducerClient};
use azure_storage_blob::BlobContainerClient;

use super::random::SplitMix64;
use super::{Append, Destination, WriteStats};
use crate::app::azure_wiring::{Credentials, endpoint};
use crate::app::config::AzureConfig;
use crate::app::simulate::block_writer::BlockAppender;
use crate::azure::blob_clients::container_client;
use crate::azure::eventhubs::{HubTarget, open_producer};
use crate::domain::format::timefmt::TimeFormatter;

/// How the simulated event stream misbehaves, as Event Grid may (at-least-once, unordered).
#[derive(Clone, Copy, Debug, Default)]
pub struct EventFaults {
    /// Percentage of events published twice.
    pub duplicate_percent: u64,
    /// Percentage of events held back and published after the next minute's events.
    pub delay_percent: u64,
    /// Shuffle each minute's events.
    pub reorder: bool,
}

struct Container {
    client: BlobContainerClient,
    account_url: String,
    account: String,
}

pub struct AzureDestination {
    containers: HashMap<String, Container>,
    /// To reconnect: SDK 0.15 clients never recover a broken connection.
    input: HubTarget,
    /// Records already in each blob (this run or an earlier one): the first needs no comma.
    records: HashMap<String, u64>,
    producer: Arc<ProducerClient>,
    faults: EventFaults,
    rng: SplitMix64,
    held: Vec<(String, Vec<u8>)>,
    sequencer: u64,
    pub events_published: u64,
}

const HEAD: &[u8] = b"{\"records\":[";
const TAIL: &[u8] = b"]}";

impl AzureDestination {
    /// Blobs go to the `sources.allowed` container named like the simulated container
    /// (`insights-logs-networksecuritygroupflowevent`, `insights-logs-flowlogflowevent`).
    pub async fn connect(cfg: &AzureConfig, faults: EventFaults, seed: u64) -> anyhow::Result<Self> {
        let creds = Credentials::new(&cfg.credential);
        let mut containers = HashMap::new();
        for entry in &cfg.allowed_sources {
            let Some((account_url, container)) = entry.rsplit_once('/') else { continue };
            let endpoint = endpoint("sources.allowed", account_url)?;
            let auth = creds.storage("sources", &endpoint, &cfg.sources_secret)?;
            let client = container_client(&endpoint, container, &auth, "racwl")
                .map_err(|e| anyhow::anyhow!("container {container}: {e}"))?;
            // Flow logging creates its containers; on a fresh emulator this stands in for it.
            if !client.exists().await.with_context(|| format!("checking container {container}"))? {
                client.create(None).await.with_context(|| format!("creating container {container}"))?;
            }
            containers.insert(
                container.to_string(),
                Container { client, account_url: account_url.to_string(), account: endpoint.account().to_string() },
            );
        }
        let input = creds.hub_target(&cfg.input, CALL_TIMEOUT)?;
        let producer = connect(&input).await?;
        Ok(AzureDestination {
            containers,
            input,
            records: HashMap::new(),
            producer,
            faults,
            rng: SplitMix64::new(seed ^ 0xE6E7),
            held: Vec::new(),
            sequencer: 0,
            events_published: 0,
        })
    }

    /// Appends one record; returns the event's subject and body, whether it is held back, and
    /// whether the blob was created.
    async fn append(&mut self, a: &Append) -> anyhow::Result<(String, Vec<u8>, bool, bool)> {
        let (container, path) = a.path.split_once('/').context("simulated path without a container")?;
        let c = self.containers.get(container).with_context(|| {
            format!("no sources.allowed entry for container {container}: add <account endpoint>/{container}")
        })?;
        let appender = BlockAppender::new(&c.client, path);
        let known = match self.records.get(&a.path) {
            Some(n) => *n,
            None => match c.client.blob_client(path).get_properties(None).await {
                // Existing blob from an earlier run: append after its records.
                Ok(_) => 1,
                Err(_) => {
                    appender.create(HEAD, TAIL).await.map_err(|e| anyhow::anyhow!("creating {path}: {e}"))?;
                    0
                }
            },
        };
        let created = !self.records.contains_key(&a.path) && known == 0;
        let block =
            if known == 0 { a.record_json.clone().into_bytes() } else { format!(",{}", a.record_json).into_bytes() };
        let (length, etag) =
            appender.append_tagged(&block).await.map_err(|e| anyhow::anyhow!("appending to {path}: {e}"))?;
        self.records.insert(a.path.clone(), known + 1);
        self.sequencer += 1;
        let subject = format!("/blobServices/default/containers/{container}/blobs/{path}");
        let now = TimeFormatter::format(time::OffsetDateTime::now_utc().unix_timestamp() * 1000);
        let event = serde_json::json!([{
            "topic": format!("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/flowlog-sim/providers/Microsoft.Storage/storageAccounts/{}", c.account),
            "subject": subject,
            "eventType": "Microsoft.Storage.BlobCreated",
            "id": format!("{:016x}-{:016x}", self.rng.next_u64(), self.sequencer),
            "data": {
                "api": "PutBlockList",
                "clientRequestId": format!("{:032x}", self.sequencer),
                "requestId": format!("{:032x}", self.rng.next_u64()),
                // The blob's own, as Event Grid sends it: it names the version this append made.
                "eTag": etag.unwrap_or_else(|| format!("0x{:016X}", self.sequencer)),
                "contentType": "application/octet-stream",
                "contentLength": length,
                "blobType": "BlockBlob",
                "url": format!("{}/{container}/{path}", c.account_url),
                "sequencer": format!("{:032x}", self.sequencer),
                "storageDiagnostics": { "batchId": format!("{:016x}", self.rng.next_u64()) }
            },
            "dataVersion": "",
            "metadataVersion": "1",
            "eventTime": now,
        }]);
        let delayed = self.rng.percent(self.faults.delay_percent);
        Ok((subject, serde_json::to_vec(&event)?, delayed, created))
    }

    async fn publish(&mut self, subject: &str, body: &[u8]) -> anyhow::Result<()> {
        let copies = if self.rng.percent(self.faults.duplicate_percent) { 2 } else { 1 };
        for _ in 0..copies {
            // The SDK's calls have no timeout and its clients do not reconnect: bound each
            // attempt and start a new client after a failure. A retried event may arrive twice,
            // as Event Grid's own retries would deliver it.
            let mut attempt = 0;
            loop {
                attempt += 1;
                let sent = tokio::time::timeout(CALL_TIMEOUT, send_one(&self.producer, subject, body)).await;
                match sent {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) if attempt >= 5 => return Err(e),
                    Err(_) if attempt >= 5 => {
                        anyhow::bail!("publishing the BlobCreated event timed out {attempt} times")
                    }
                    failure => {
                        let why = failure.err().map_or_else(|| "error".to_string(), |_| "timeout".to_string());
                        tracing::warn!(attempt, why, "publishing a BlobCreated event failed; reconnecting");
                        self.producer = connect(&self.input).await?;
                    }
                }
            }
            self.events_published += 1;
        }
        Ok(())
    }
}

const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

async fn connect(input: &HubTarget) -> anyhow::Result<Arc<ProducerClient>> {
    Ok(Arc::new(open_producer(input).await.map_err(|e| anyhow::anyhow!("input hub: {e}"))?))
}

async fn send_one(producer: &ProducerClient, subject: &str, body: &[u8]) -> anyhow::Result<()> {
    let options = EventDataBatchOptions { partition_key: Some(subject.to_string()), ..Default::default() };
    let batch = producer.create_batch(Some(options)).await.context("creating an event batch")?;
    let added = batch
        .try_add_event_data(EventData::builder().with_body(body.to_vec()).build(), None)
        .context("adding the event")?;
    anyhow::ensure!(added, "a {}-byte event does not fit an empty batch", body.len());
    producer.send_batch(batch, None).await.context("publishing the BlobCreated event")
}

impl Destination for AzureDestination {
    async fn write_minute(&mut self, appends: Vec<Append>) -> anyhow::Result<WriteStats> {
        let mut stats = WriteStats::default();
        let mut now = Vec::new();
        let mut later = Vec::new();
        for a in &appends {
            let (subject, body, delayed, created) = self.append(a).await?;
            stats.blobs += u64::from(created);
            stats.records += 1;
            stats.tuples += a.tuples as u64;
            stats.bytes += a.record_json.len() as u64;
            if delayed { later.push((subject, body)) } else { now.push((subject, body)) }
        }
        if self.faults.reorder {
            for i in (1..now.len()).rev() {
                now.swap(i, self.rng.below(i as u64 + 1) as usize);
            }
        }
        // Events held back last minute go out after this minute's: out of order and stale.
        let held = std::mem::replace(&mut self.held, later);
        for (subject, body) in now.into_iter().chain(held) {
            self.publish(&subject, &body).await?;
        }
        Ok(stats)
    }

    async fn finish(&mut self) -> anyhow::Result<()> {
        for (subject, body) in std::mem::take(&mut self.held) {
            self.publish(&subject, &body).await?;
        }
        Ok(())
    }
}
