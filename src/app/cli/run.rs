//! `flowlog run` and `flowlog backfill`: configuration in, the chosen mode's pipeline out.
use std::io::IsTerminal;
use std::path::PathBuf;

use crate::app::config::{Config, Mode, Overrides};

/// Settings shared by `run` and `backfill`; each overrides the file and `FLOWLOG_*` variables.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// TOML configuration file (see deploy/config/*.example.toml). Without `[input]` flowlog
    /// runs locally; with it, on Azure.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Local mode: directory tree holding PT1H.json flow-log blobs [default: ./flowlogs]
    #[arg(long, value_name = "DIR")]
    pub watch: Option<PathBuf>,
    /// Local mode: directory for offsets and dead letters [default: ./.flowlog]
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Local mode: NDJSON output file (appended to), or `-` for stdout [default: -]
    #[arg(long, value_name = "PATH|-")]
    pub out: Option<String>,
    /// Ops endpoints (/metrics, /healthz, /readyz) address, e.g. 127.0.0.1:9090; `off` disables.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

impl CommonArgs {
    fn overrides(&self, poll: bool) -> Overrides {
        Overrides {
            watch: self.watch.clone(),
            state: self.state.clone(),
            out: self.out.clone(),
            poll,
            listen: self.listen.clone(),
        }
    }
}

const SETTINGS_HELP: &str = "\
Every setting can also come from the configuration file or the environment
(FLOWLOG_<SECTION>_<KEY>, e.g. FLOWLOG_LOCAL_OUT=rows.ndjson); flags win over both.
Sections: [local] watch state out poll poll_interval_ms; [input] namespace hub consumer_group
endpoint update_interval_ms partition_expiration_ms strategy start_position; [checkpoints]
account_url container; [offsets] account_url table retention_days; [sources] allowed;
[output] namespace hub endpoint max_batch_bytes gzip adx_table adx_mapping; [dead_letter]
account_url container; [auth] credential client_id; [engine] flush_bytes max_batch_events
blob_concurrency dead_letter_raw_limit retry_max_attempts retry_min_delay_ms retry_max_delay_ms;
[server] listen shutdown_deadline_secs; [log] format; [enrich] asn_db geo_db service_tags
community_id service_names reload_interval_secs.
Secrets (account_key, sas, token) only from FLOWLOG_* variables or *_file settings.
Documented examples: deploy/config/local.example.toml, deploy/config/azure.example.toml.";

#[derive(clap::Args, Debug)]
#[command(after_long_help = SETTINGS_HELP)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Local mode: process what is there now, then exit (instead of watching for appends).
    #[arg(long)]
    pub once: bool,
    /// Local mode: poll the directory instead of using file-system notifications.
    #[arg(long)]
    pub poll: bool,
}

#[derive(clap::Args, Debug)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only blobs whose name starts with this (local: a path under --watch).
    #[arg(long, default_value = "")]
    pub prefix: String,
}

pub fn load(common: &CommonArgs, poll: bool) -> anyhow::Result<Config> {
    let cfg = Config::load(common.config.as_deref(), &common.overrides(poll))?;
    crate::app::ops::telemetry::init(cfg.log);
    Ok(cfg)
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let cfg = load(&args.common, args.poll)?;
    match &cfg.mode {
        Mode::Local(local) => crate::app::daemon::local::run(&cfg, local, args.once).await,
        Mode::Azure(az) => crate::app::daemon::azure::run(&cfg, az).await,
    }
}

pub async fn backfill(args: BackfillArgs) -> anyhow::Result<()> {
    let cfg = load(&args.common, false)?;
    let progress = progress_reporter();
    match &cfg.mode {
        Mode::Local(local) => crate::app::daemon::local::backfill(&cfg, local, &args.prefix, progress).await,
        Mode::Azure(az) => crate::app::daemon::azure::backfill(&cfg, az, &args.prefix, progress).await,
    }
}

/// A progress bar on a terminal; a log line every 5 % (and at the end) otherwise.
fn progress_reporter() -> impl Fn(u64, u64) + Send + Sync + 'static {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} blobs {elapsed_precise} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let last_logged = std::sync::atomic::AtomicU64::new(0);
    move |done, total| match &bar {
        Some(bar) => {
            bar.set_length(total);
            bar.set_position(done);
            if done >= total {
                bar.finish();
            }
        }
        None => {
            let step = (total / 20).max(1);
            let prev = last_logged.load(std::sync::atomic::Ordering::Relaxed);
            if done >= total || done >= prev + step {
                last_logged.store(done, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(done, total, "backfill progress");
            }
        }
    }
}
