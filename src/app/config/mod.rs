//! Configuration: parsed once at the edge from (in increasing precedence) a TOML file,
//! `FLOWLOG_<SECTION>_<KEY>` environment variables and command-line flags, into typed values.
//! A bad setting fails at start with one message naming it.
mod azure;
mod checks;
pub mod file;
mod layers;
mod output;
mod resources;
mod sections;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

pub use crate::domain::secret::Secret;
pub use azure::{AzureConfig, CredentialKind, ProcessorConfig};
pub use file::RawConfig;
pub use layers::load;
pub use output::{DEFAULT_STREAM, LogAnalyticsConfig, OutputTarget};
pub use resources::{ContainerRef, HubRef, StorageSecret};
pub use sections::{EnrichConfig, enrich_config};

use azure::azure_config;
use checks::in_range;
use sections::engine_config;

use crate::pipeline::engine::EngineConfig;

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub engine: EngineConfig,
    pub server: ServerConfig,
    pub log: LogStyle,
    /// How often a running pipeline logs a progress line (`log.progress_interval_secs`).
    pub progress: Option<Duration>,
    /// Settings given that the chosen mode does not read (Azure-only ones in local mode).
    pub ignored: Vec<String>,
    pub enrich: EnrichConfig,
}

#[derive(Debug, Clone)]
pub enum Mode {
    Local(LocalConfig),
    Azure(Box<AzureConfig>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub watch: PathBuf,
    pub state: PathBuf,
    pub out: Output,
    pub poll: bool,
    pub poll_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: Option<SocketAddr>,
    pub shutdown_deadline: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStyle {
    Auto,
    Text,
    Json,
}

/// Command-line overrides (the highest layer); `None` keeps the lower layers' value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub watch: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub out: Option<String>,
    pub poll: bool,
    pub listen: Option<String>,
}

impl Config {
    /// Loads and validates: file, then the process environment, then `overrides`.
    pub fn load(file: Option<&std::path::Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let raw = load(file, std::env::vars())?;
        Config::from_raw(raw, overrides)
    }

    pub fn from_raw(mut raw: RawConfig, o: &Overrides) -> anyhow::Result<Config> {
        if let Some(w) = &o.watch {
            raw.local.watch = Some(w.display().to_string());
        }
        if let Some(s) = &o.state {
            raw.local.state = Some(s.display().to_string());
        }
        if let Some(out) = &o.out {
            raw.local.out = Some(out.clone());
        }
        if o.poll {
            raw.local.poll = Some(true);
        }
        if let Some(l) = &o.listen {
            raw.server.listen = Some(l.clone());
        }
        let engine = engine_config(&raw)?;
        let server = ServerConfig {
            listen: match raw.server.listen.as_deref() {
                None | Some("") | Some("off") => None,
                Some(a) => Some(
                    a.parse().with_context(|| format!("server.listen: {a:?} is not an address like 127.0.0.1:9090"))?,
                ),
            },
            shutdown_deadline: Duration::from_secs(raw.server.shutdown_deadline_secs.unwrap_or(25)),
        };
        in_range("server.shutdown_deadline_secs", server.shutdown_deadline.as_secs(), 1, 3600)?;
        let log = match raw.log.format.as_deref() {
            None | Some("auto") => LogStyle::Auto,
            Some("text") => LogStyle::Text,
            Some("json") => LogStyle::Json,
            Some(other) => bail!("log.format: {other:?} is not one of auto, text, json"),
        };
        let progress_secs = raw.log.progress_interval_secs.unwrap_or(60);
        in_range("log.progress_interval_secs", progress_secs, 0, 86_400)?;
        let progress = (progress_secs > 0).then(|| Duration::from_secs(progress_secs));
        let mut ignored = Vec::new();
        let mode = if raw.input.is_some() {
            Mode::Azure(Box::new(azure_config(&raw)?))
        } else {
            let local = local_config(&raw);
            in_range("local.poll_interval_ms", local.poll_interval.as_millis() as u64, 10, 3_600_000)?;
            let read = file::local_mode_keys();
            ignored = raw.set.iter().filter(|k| !read.contains(k)).cloned().collect();
            Mode::Local(local)
        };
        let enrich = enrich_config(&raw.enrich)?;
        Ok(Config { mode, engine, server, log, progress, ignored, enrich })
    }
}

fn local_config(raw: &RawConfig) -> LocalConfig {
    let l = &raw.local;
    LocalConfig {
        watch: PathBuf::from(l.watch.as_deref().unwrap_or("./flowlogs")),
        state: PathBuf::from(l.state.as_deref().unwrap_or("./.flowlog")),
        out: match l.out.as_deref() {
            None | Some("-") => Output::Stdout,
            Some(p) => Output::File(PathBuf::from(p)),
        },
        poll: l.poll.unwrap_or(false),
        poll_interval: Duration::from_millis(l.poll_interval_ms.unwrap_or(2000)),
    }
}
