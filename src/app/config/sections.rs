//! The settings both modes read besides their own: the engine's (with group commit and offset
//! retention) and enrichment's.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use super::checks::{in_range, ordered};
use super::{RawConfig, file};
use crate::pipeline::engine::{EngineConfig, RetryPolicy};

/// Which enrichment files and options rows get; see `[enrich]` in deploy/config/*.example.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnrichConfig {
    pub asn_db: Vec<PathBuf>,
    pub geo_db: Vec<PathBuf>,
    pub service_tags: Option<PathBuf>,
    pub community_id: bool,
    pub service_names: bool,
    pub reload_interval: Duration,
}

impl EnrichConfig {
    /// Every data file named, for change detection.
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.asn_db.iter().chain(&self.geo_db).chain(&self.service_tags)
    }
}

pub fn enrich_config(e: &file::EnrichSection) -> anyhow::Result<EnrichConfig> {
    let paths = |p: &Option<file::Paths>| {
        p.as_ref().map_or(Vec::new(), |p| p.to_vec().into_iter().map(PathBuf::from).collect())
    };
    let cfg = EnrichConfig {
        asn_db: paths(&e.asn_db),
        geo_db: paths(&e.geo_db),
        service_tags: e.service_tags.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from),
        community_id: e.community_id.unwrap_or(false),
        service_names: e.service_names.unwrap_or(false),
        reload_interval: Duration::from_secs(e.reload_interval_secs.unwrap_or(60)),
    };
    if cfg.reload_interval.is_zero() {
        bail!("enrich.reload_interval_secs must be at least 1");
    }
    Ok(cfg)
}

pub(super) fn engine_config(raw: &RawConfig) -> anyhow::Result<EngineConfig> {
    let e = &raw.engine;
    let d = EngineConfig::default();
    let r = RetryPolicy::default();
    let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
    let secs = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_secs);
    let retention_days = raw.offsets.as_ref().and_then(|o| o.retention_days);
    let output = raw.output.as_ref();
    let cfg = EngineConfig {
        flush_bytes: e.flush_bytes.unwrap_or(d.flush_bytes),
        max_batch_events: e.max_batch_events.unwrap_or(d.max_batch_events),
        blob_concurrency: e.blob_concurrency.unwrap_or(d.blob_concurrency),
        max_reading_blobs: e.max_reading_blobs.unwrap_or(d.max_reading_blobs),
        linger: ms(output.and_then(|o| o.linger_ms), d.linger),
        backlog_linger: ms(output.and_then(|o| o.backlog_linger_ms), d.backlog_linger),
        max_events_in_flight: output.and_then(|o| o.max_events_in_flight).unwrap_or(d.max_events_in_flight),
        dead_letter_raw_limit: e.dead_letter_raw_limit.unwrap_or(d.dead_letter_raw_limit),
        retry: RetryPolicy {
            min_delay: ms(e.retry_min_delay_ms, r.min_delay),
            max_delay: ms(e.retry_max_delay_ms, r.max_delay),
            max_attempts: e.retry_max_attempts.unwrap_or(r.max_attempts),
        },
        retention: retention_days.map_or(d.retention, |days| Duration::from_secs(days * 86_400)),
        sweep_interval: d.sweep_interval,
        patient_commits: d.patient_commits,
        call_timeout: secs(e.call_timeout_secs, d.call_timeout),
        pending_interval: secs(e.pending_interval_secs, d.pending_interval),
        pending_delays: (
            secs(e.pending_min_delay_secs, d.pending_delays.0),
            secs(e.pending_max_delay_secs, d.pending_delays.1),
        ),
        stall_after: secs(e.stall_after_secs, d.stall_after),
    };
    // Every number is range-checked here, once, so nothing downstream meets a zero interval,
    // an overflowing product or a backwards range.
    in_range("engine.flush_bytes", cfg.flush_bytes as u64, 1, 1 << 30)?;
    in_range("engine.max_batch_events", cfg.max_batch_events as u64, 1, 100_000)?;
    in_range("engine.blob_concurrency", cfg.blob_concurrency as u64, 1, 1024)?;
    in_range("engine.max_reading_blobs", cfg.max_reading_blobs as u64, 1, 4096)?;
    in_range("output.linger_ms", cfg.linger.as_millis() as u64, 0, 60_000)?;
    in_range("output.backlog_linger_ms", cfg.backlog_linger.as_millis() as u64, 0, 60_000)?;
    in_range("output.max_events_in_flight", cfg.max_events_in_flight as u64, 1, 256)?;
    in_range("engine.dead_letter_raw_limit", cfg.dead_letter_raw_limit as u64, 0, 16 << 20)?;
    in_range("engine.retry_max_attempts", cfg.retry.max_attempts as u64, 1, 1000)?;
    in_range("engine.retry_min_delay_ms", cfg.retry.min_delay.as_millis() as u64, 1, 3_600_000)?;
    in_range("engine.retry_max_delay_ms", cfg.retry.max_delay.as_millis() as u64, 1, 3_600_000)?;
    ordered("engine.retry_min_delay_ms", cfg.retry.min_delay, "engine.retry_max_delay_ms", cfg.retry.max_delay)?;
    in_range("engine.call_timeout_secs", cfg.call_timeout.as_secs(), 1, 3600)?;
    in_range("engine.pending_interval_secs", cfg.pending_interval.as_secs(), 1, 86_400)?;
    in_range("engine.pending_min_delay_secs", cfg.pending_delays.0.as_secs(), 1, 86_400)?;
    in_range("engine.pending_max_delay_secs", cfg.pending_delays.1.as_secs(), 1, 7 * 86_400)?;
    ordered(
        "engine.pending_min_delay_secs",
        cfg.pending_delays.0,
        "engine.pending_max_delay_secs",
        cfg.pending_delays.1,
    )?;
    in_range("engine.stall_after_secs", cfg.stall_after.as_secs(), 1, 30 * 86_400)?;
    if let Some(days) = retention_days {
        // Offsets must outlive the hour a blob is written in, plus Event Grid's 24 h of retries.
        in_range("offsets.retention_days", days, 2, 36_500)?;
    }
    Ok(cfg)
}
