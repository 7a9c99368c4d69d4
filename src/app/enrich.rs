//! Enrichment data from files: loaded and checked at start (a missing or corrupt file stops
//! flowlog with a message naming it), then reloaded without restart when a file changes.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::app::config::EnrichConfig;
use crate::domain::enrich::service_tags::ServiceTags;
use crate::domain::enrich::{DataFile, Enricher};
use crate::pipeline::enrichment::EnrichmentHandle;
use crate::pipeline::metrics::Metrics;

/// The largest enrichment file read (a city database is about 130 MB, a CSV range file of all
/// IPv6 cities under 1 GB): anything larger is refused rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

fn read(setting: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    read_regular(path, MAX_FILE_BYTES).with_context(|| format!("enrich.{setting}: reading {}", path.display()))
}

/// The bytes of a regular file of at most `limit` bytes. The file is opened without blocking
/// (a FIFO would wait for a writer) and checked through the opened descriptor: a device such as
/// `/dev/zero` never ends, so anything but a regular file is refused before a byte is read.
fn read_regular(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
        options.custom_flags(flags.bits() as i32);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    anyhow::ensure!(meta.is_file(), "not a regular file (a device, FIFO, socket or directory is never read)");
    anyhow::ensure!(
        meta.len() <= limit,
        "{} bytes, more than the {} MiB an enrichment file may have",
        meta.len(),
        limit >> 20
    );
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A file that grows while read still stops at the limit.
    file.take(limit + 1).read_to_end(&mut bytes)?;
    anyhow::ensure!(bytes.len() as u64 <= limit, "grew past {} MiB while being read", limit >> 20);
    Ok(bytes)
}

fn data_files(setting: &str, paths: &[PathBuf]) -> anyhow::Result<Vec<DataFile>> {
    paths
        .iter()
        .map(|p| {
            let file = DataFile::from_bytes(read(setting, p)?)
                .with_context(|| format!("enrich.{setting}: {} is not usable", p.display()))?;
            let (wanted, has) = match setting {
                "asn_db" => ("ASNs", file.has_asn()),
                _ => ("countries", file.has_geo()),
            };
            anyhow::ensure!(
                has,
                "enrich.{setting}: {} holds no {wanted}; is it meant for the other setting?",
                p.display()
            );
            Ok(file)
        })
        .collect()
}

/// Reads and checks every configured file.
pub fn load(cfg: &EnrichConfig) -> anyhow::Result<Enricher> {
    let asn = data_files("asn_db", &cfg.asn_db)?;
    let geo = data_files("geo_db", &cfg.geo_db)?;
    let tags = match &cfg.service_tags {
        Some(p) => Some(
            ServiceTags::from_json(&read("service_tags", p)?)
                .with_context(|| format!("enrich.service_tags: {} is not usable", p.display()))?,
        ),
        None => None,
    };
    Ok(Enricher::new(asn, geo, tags, cfg.community_id, cfg.service_names)?)
}

/// Loads at start; the handle is what the engine reads and [`reload_loop`] updates.
pub fn start(cfg: &EnrichConfig) -> anyhow::Result<EnrichmentHandle> {
    let enricher = load(cfg)?;
    if cfg.files().next().is_some() {
        tracing::info!(memory_bytes = enricher.memory(), settings = ?enricher.settings(), "enrichment data loaded");
    }
    Ok(EnrichmentHandle::new(Arc::new(enricher)))
}

/// Modification time and length of each file (`None` while a file is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(Vec<Option<(SystemTime, u64)>>);

pub fn fingerprint(cfg: &EnrichConfig) -> Fingerprint {
    Fingerprint(
        cfg.files().map(|p| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())))).collect(),
    )
}

/// One check: when the files changed since `seen`, loads them and swaps the new version in.
/// A file that fails to load (half-written, corrupt) keeps the old version in use; the next
/// change is tried again. Returns whether a new version was installed.
pub async fn reload_if_changed(
    cfg: &EnrichConfig,
    handle: &EnrichmentHandle,
    seen: &mut Fingerprint,
    metrics: &Metrics,
) -> bool {
    let now = fingerprint(cfg);
    if now == *seen {
        return false;
    }
    *seen = now;
    let c = cfg.clone();
    match tokio::task::spawn_blocking(move || load(&c)).await {
        Ok(Ok(enricher)) => {
            tracing::info!(memory_bytes = enricher.memory(), "enrichment data changed on disk; reloaded");
            handle.replace(Arc::new(enricher));
            true
        }
        Ok(Err(e)) => {
            metrics.enrichment_reload_failures.inc();
            tracing::warn!(
                error = format!("{e:#}"),
                "enrichment data changed but cannot be loaded; keeping the previous version"
            );
            false
        }
        Err(e) => {
            metrics.enrichment_reload_failures.inc();
            tracing::warn!(error = %e, "enrichment reload task failed; keeping the previous version");
            false
        }
    }
}

/// Checks the files every `reload_interval` until shutdown.
pub async fn reload_loop(
    cfg: EnrichConfig,
    handle: EnrichmentHandle,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    if cfg.files().next().is_none() {
        return;
    }
    let mut seen = fingerprint(&cfg);
    let mut tick = tokio::time::interval(cfg.reload_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        reload_if_changed(&cfg, &handle, &mut seen, &metrics).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(service: &str) -> String {
        format!(
            r#"{{"values": [{{"name": "{service}", "properties": {{"region": "", "addressPrefixes": ["20.0.0.0/8"]}}}}]}}"#
        )
    }

    fn service(handle: &EnrichmentHandle) -> Option<String> {
        let e = handle.current();
        e.ip_info("20.1.2.3".parse().unwrap()).azure.map(|t| t.service.to_string())
    }

    #[tokio::test]
    async fn changed_files_are_reloaded_and_broken_ones_keep_the_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ServiceTags_Public.json");
        std::fs::write(&path, tags("Storage")).unwrap();
        let cfg = EnrichConfig { service_tags: Some(path.clone()), ..EnrichConfig::default() };
        let handle = start(&cfg).unwrap();
        let metrics = Metrics::new();
        let mut seen = fingerprint(&cfg);
        assert!(!reload_if_changed(&cfg, &handle, &mut seen, &metrics).await, "nothing changed");
        let in_use = handle.current();

        // A different length changes the fingerprint even where mtimes are coarse.
        std::fs::write(&path, tags("AzureCosmosDB")).unwrap();
        assert!(reload_if_changed(&cfg, &handle, &mut seen, &metrics).await);
        assert_eq!(service(&handle).as_deref(), Some("AzureCosmosDB"));
        let old = in_use.ip_info("20.1.2.3".parse().unwrap()).azure.map(|t| t.service.to_string());
        assert_eq!(old.as_deref(), Some("Storage"), "a version in use is never changed under a reader");

        std::fs::write(&path, "{ half written").unwrap();
        assert!(!reload_if_changed(&cfg, &handle, &mut seen, &metrics).await);
        assert_eq!(service(&handle).as_deref(), Some("AzureCosmosDB"), "a broken file keeps the previous version");
        std::fs::remove_file(&path).unwrap();
        assert!(!reload_if_changed(&cfg, &handle, &mut seen, &metrics).await);
        std::fs::write(&path, tags("Sql")).unwrap();
        assert!(reload_if_changed(&cfg, &handle, &mut seen, &metrics).await);
        assert_eq!(service(&handle).as_deref(), Some("Sql"));
    }

    /// MaxMind's ASN test database with its data section overwritten: it opens, nothing decodes.
    fn damaged(good: &[u8]) -> Vec<u8> {
        let meta = maxminddb::Reader::from_source(good.to_vec()).unwrap().metadata().clone();
        let tree = (meta.node_count as usize) * (meta.record_size as usize) / 4;
        let marker = b"\xab\xcd\xefMaxMind.com";
        let end = good.windows(marker.len()).rposition(|w| w == marker).unwrap();
        let mut bytes = good.to_vec();
        bytes[tree + 16..end].fill(0xff);
        bytes
    }

    #[tokio::test]
    async fn a_damaged_database_on_reload_keeps_the_old_data_and_is_counted() {
        let good =
            std::fs::read(".tools/maxmind-test-data/GeoLite2-ASN-Test.mmdb").expect("run bash tests/tools/setup.sh");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("asn.mmdb");
        std::fs::write(&path, &good).unwrap();
        let cfg = EnrichConfig { asn_db: vec![path.clone()], ..EnrichConfig::default() };
        let (handle, metrics) = (start(&cfg).unwrap(), Metrics::new());
        let asn = |h: &EnrichmentHandle| h.current().ip_info("1.128.0.1".parse().unwrap()).asn;
        assert_eq!(asn(&handle), Some(1221));
        let mut seen = fingerprint(&cfg);

        // Same length: a distinct modification time is what tells the change.
        let file = std::fs::File::create(&path).unwrap();
        std::io::Write::write_all(&mut &file, &damaged(&good)).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400)).unwrap();
        assert!(!reload_if_changed(&cfg, &handle, &mut seen, &metrics).await, "a damaged database is not installed");
        assert_eq!(asn(&handle), Some(1221), "the previous data stays in use");
        assert_eq!(metrics.enrichment_reload_failures.get(), 1);
    }

    #[test]
    fn start_fails_naming_the_setting_and_file() {
        let cfg = EnrichConfig { geo_db: vec![PathBuf::from("/nonexistent/geo.mmdb")], ..EnrichConfig::default() };
        let e = format!("{:#}", start(&cfg).unwrap_err());
        assert!(e.contains("enrich.geo_db") && e.contains("/nonexistent/geo.mmdb"), "{e}");
    }
}
