//! `flowlog run` and `flowlog backfill`: configuration in, the chosen mode's pipeline out.
use std::path::PathBuf;

use crate::app::config::{Config, Mode, Overrides};

mod progress;

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

#[derive(clap::Args, Debug)]
#[command(after_long_help = crate::app::config::file::settings_help())]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Local mode: process what is there now, then exit (instead of watching for appends).
    /// Exit code 0 when everything was delivered, 3 when a blob failed or anything was
    /// dead-lettered, 1 when it could not run.
    #[arg(long)]
    pub once: bool,
    /// Local mode: poll the directory instead of using file-system notifications.
    #[arg(long)]
    pub poll: bool,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Exit code 0 when every blob was delivered, 3 when a blob failed or anything was \
dead-lettered, 1 when it could not run.")]
pub struct BackfillArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only blobs whose name starts with this (local: the blob name, from the `insights-logs-*`
    /// directory on, or the path under --watch outside that layout).
    #[arg(long, default_value = "")]
    pub prefix: String,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Print one JSON document instead of one line per check.
    #[arg(long)]
    pub json: bool,
    /// Create what `run` would create at start (offsets table, checkpoint and dead-letter
    /// containers) when missing, instead of reporting it missing.
    #[arg(long)]
    pub create: bool,
    /// Time limit of each check, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
}

/// `flowlog check`: the same settings as `run`, no logging (the report is the output).
pub async fn check(args: CheckArgs) -> anyhow::Result<bool> {
    let cfg = Config::load(args.common.config.as_deref(), &args.common.overrides(false))?;
    let timeout = std::time::Duration::from_secs(args.timeout.max(1));
    let options = crate::app::check::Options { timeout, create: args.create, daemon: false };
    let c = &args.common;
    let flags = [
        ("local.watch", "--watch", c.watch.is_some()),
        ("local.state", "--state", c.state.is_some()),
        ("local.out", "--out", c.out.is_some()),
        ("server.listen", "--listen", c.listen.is_some()),
    ];
    let origins = crate::app::check::Origins {
        file: c.config.clone(),
        flags: flags.into_iter().filter(|(_, _, set)| *set).map(|(s, f, _)| (s, f)).collect(),
    };
    Ok(crate::app::check::report(&cfg, options, args.json, &origins).await)
}

pub fn load(common: &CommonArgs, poll: bool) -> anyhow::Result<Config> {
    let cfg = Config::load(common.config.as_deref(), &common.overrides(poll))?;
    crate::app::ops::telemetry::init(cfg.log);
    for setting in &cfg.ignored {
        tracing::warn!(setting, "this setting is read in Azure mode only (selected by [input]); ignored in local mode");
    }
    Ok(cfg)
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let cfg = load(&args.common, args.poll)?;
    match &cfg.mode {
        Mode::Local(local) => crate::app::daemon::local::run(&cfg, local, args.once).await,
        #[cfg(feature = "azure")]
        Mode::Azure(az) => crate::app::daemon::azure::run(&cfg, az).await,
        #[cfg(not(feature = "azure"))]
        Mode::Azure(_) => Err(no_azure()),
    }
}

pub async fn backfill(args: BackfillArgs) -> anyhow::Result<()> {
    let cfg = load(&args.common, false)?;
    let progress = progress::reporter();
    match &cfg.mode {
        Mode::Local(local) => crate::app::daemon::local::backfill(&cfg, local, &args.prefix, progress).await,
        #[cfg(feature = "azure")]
        Mode::Azure(az) => crate::app::daemon::azure::backfill(&cfg, az, &args.prefix, progress).await,
        #[cfg(not(feature = "azure"))]
        Mode::Azure(_) => Err(no_azure()),
    }
}

#[cfg(not(feature = "azure"))]
fn no_azure() -> anyhow::Error {
    anyhow::anyhow!("the configuration selects Azure mode, but this flowlog was built without the `azure` feature")
}
