//! `flowlog simulate`: synthetic NSG and VNet flow logs, appended minute by minute like Azure writes them.
//!
//! The pure [`generator`] turns a [`SimConfig`] into [`Append`]s; a [`Destination`] stores them: a
//! local directory ([`LocalDir`]), or with the `azure` feature a storage account (Put Block + Put
//! Block List per append, then a `BlobCreated` event into the input hub, `azure::AzureDestination`).
pub mod addresses;
pub mod args;
#[cfg(feature = "azure")]
pub mod azure;
#[cfg(feature = "azure")]
pub mod block_writer;
pub mod flows;
pub mod generator;
pub mod layout;
pub mod local_writer;
pub mod random;
pub mod record;
pub mod text;

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

pub use args::SimulateArgs;
pub use generator::{Append, DEFAULT_START_UNIX, Generator, SeriesFormats, SimConfig};
pub use layout::{Layout, NSG_CONTAINER, VNET_CONTAINER};
pub use local_writer::{LocalDir, WriteStats, write_local};

/// Where simulated records go.
pub trait Destination: Send {
    /// Stores one simulated minute: one record for each blob, in order. Returns what was written.
    fn write_minute(&mut self, appends: Vec<Append>) -> impl Future<Output = anyhow::Result<WriteStats>> + Send;

    /// Called once after the last minute: deliver anything held back.
    fn finish(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send {
        async { Ok(()) }
    }
}

/// What a simulation produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimSummary {
    pub written: WriteStats,
    pub minutes: u32,
    pub elapsed: Duration,
}

impl fmt::Display for SimSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 { self.written.tuples as f64 / secs } else { 0.0 };
        let plural = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        write!(
            f,
            "simulated {}: {}, {}, {}, {} created in {secs:.2} s ({rate:.0} tuples/s)",
            plural(self.minutes.into(), "minute"),
            plural(self.written.records, "record"),
            plural(self.written.tuples, "tuple"),
            plural(self.written.bytes, "byte"),
            plural(self.written.blobs, "blob"),
        )
    }
}

/// Generates `config` into `dest`, one simulated minute at a time, waiting `interval` between minutes
/// (zero: no waiting) so a consumer can watch blobs grow at a chosen pace.
pub async fn simulate<D: Destination>(
    config: &SimConfig,
    dest: &mut D,
    interval: Duration,
) -> anyhow::Result<SimSummary> {
    let started = Instant::now();
    let mut ticker = (!interval.is_zero()).then(|| {
        let mut t = tokio::time::interval(interval);
        // After a slow write, keep the spacing rather than bursting to catch up.
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut written = WriteStats::default();
    let mut generator = config.generate();
    for _ in 0..config.minutes {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        // One Append per blob per minute, in order: take exactly one minute's worth.
        let batch: Vec<Append> = generator.by_ref().take(config.blobs).collect();
        written += dest.write_minute(batch).await?;
    }
    dest.finish().await?;
    Ok(SimSummary { written, minutes: config.minutes, elapsed: started.elapsed() })
}

/// Runs `flowlog simulate` into a local directory, or into Azure with `--azure`, and prints a
/// one-line summary to stderr.
pub async fn run(args: SimulateArgs) -> anyhow::Result<SimSummary> {
    args.validate()?;
    let config = args.config();
    let interval = Duration::from_millis(args.interval_ms);
    #[cfg(not(feature = "azure"))]
    if args.azure {
        anyhow::bail!("--azure: this flowlog was built without the `azure` feature");
    }
    #[cfg(feature = "azure")]
    if args.azure {
        let cfg = crate::app::config::Config::load(args.config.as_deref(), &Default::default())?;
        let crate::app::config::Mode::Azure(azure) = cfg.mode else {
            anyhow::bail!("--azure needs an Azure configuration (with [input] and sources.allowed)");
        };
        let faults = azure::EventFaults {
            duplicate_percent: args.duplicate_percent,
            delay_percent: args.delay_percent,
            reorder: args.reorder,
        };
        let mut dest = azure::AzureDestination::connect(&azure, faults, args.seed).await?;
        let summary = simulate(&config, &mut dest, interval).await?;
        let published = format!("{} BlobCreated events published to {}", dest.events_published, azure.input.hub);
        note(format_args!("{summary}; {published}"));
        return Ok(summary);
    }
    let out = args.out.clone().ok_or_else(|| anyhow::anyhow!("--out DIR is required without --azure"))?;
    if out.exists() && !out.is_dir() {
        anyhow::bail!(
            "--out {}: not a directory; simulate writes a tree of flow-log blobs under a directory \
             (<DIR>/insights-logs-*/.../PT1H.json), created when missing",
            out.display()
        );
    }
    let mut dest = LocalDir::new(&out);
    let summary = simulate(&config, &mut dest, interval).await?;
    note(format_args!("{summary} under {}", out.display()));
    Ok(summary)
}

/// The summary line on stderr; a closed stderr is no reason to panic, as `eprintln!` would.
fn note(line: fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
