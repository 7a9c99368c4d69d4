//! Command-line arguments of `flowlog simulate`.
use std::path::PathBuf;

use anyhow::bail;
use clap::builder::RangedU64ValueParser;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::addresses::AddressModel;
use super::generator::{DEFAULT_START_UNIX, SeriesFormats, SimConfig};

/// Generate synthetic NSG / VNet flow-log blobs, appended minute by minute like Azure writes them.
#[derive(Clone, Debug, clap::Args)]
pub struct SimulateArgs {
    /// Directory standing in for the storage account; container directories are created inside it.
    /// Existing blobs are appended to, as Azure would. Required unless --azure is given.
    #[arg(long, value_name = "DIR", required_unless_present = "azure")]
    pub out: Option<PathBuf>,
    /// Write into Azure Blob storage (Put Block + Put Block List) and publish BlobCreated events
    /// to the input hub, both as configured by `--config` (`sources.allowed`, `[input]`).
    #[arg(long, requires = "config", conflicts_with = "out")]
    pub azure: bool,
    /// Azure configuration file (the daemon's); `FLOWLOG_*` variables apply too.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// With --azure: percentage of events published twice.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub duplicate_percent: u64,
    /// With --azure: percentage of events delayed until after the next minute's events.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub delay_percent: u64,
    /// With --azure: shuffle each minute's events.
    #[arg(long)]
    pub reorder: bool,
    /// Flow-log format of the blobs (`mixed` cycles NSG v2, VNet, NSG v1 across blobs).
    #[arg(long, value_enum, default_value_t = FormatArg::Vnet)]
    pub format: FormatArg,
    /// Number of blob series (one NIC each, two NICs per NSG or VNet), 1 to 100000.
    #[arg(long, default_value_t = 4, value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_BLOBS))]
    pub blobs: usize,
    /// Simulated minutes, 1 to 527040 (366 days); each appends one record to every blob.
    #[arg(long, default_value_t = 10, value_parser = RangedU64ValueParser::<u32>::new().range(1..=MAX_MINUTES))]
    pub minutes: u32,
    /// Flow tuples per blob per minute, 0 to 1000000; with --blobs at most 2000000 a minute
    /// (one simulated minute is held in memory).
    #[arg(long, default_value_t = 50, value_parser = RangedU64ValueParser::<usize>::new().range(0..=MAX_TUPLES_PER_MINUTE))]
    pub tuples_per_minute: usize,
    /// Remote addresses: `repeating` (documentation prefixes, a few hosts), `realistic` (public:
    /// heavy-tailed peers, mostly one-off scanners) or `unique` (every address new).
    #[arg(long, value_enum, default_value_t = AddressModel::Repeating)]
    pub addresses: AddressModel,
    /// Seed; the same seed and options always produce the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated start time (RFC 3339, floored to the minute), from 1970 to 9000
    /// [default: 2026-01-01T00:00:00Z].
    #[arg(long, value_parser = parse_rfc3339)]
    pub start: Option<OffsetDateTime>,
    /// Wall-clock milliseconds between simulated minutes: 0 = as fast as possible, 60000 = real
    /// time; at most 3600000 (an hour).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_INTERVAL_MS))]
    pub interval_ms: u64,
}

// Bounds of the numeric arguments: the generator holds one simulated minute of every blob in
// memory (about 65 bytes of JSON a tuple), so an unbounded product would allocate until the
// process aborts; times stay within years the record and path formats can spell.
const MAX_BLOBS: u64 = 100_000;
const MAX_MINUTES: u64 = 366 * 24 * 60;
const MAX_TUPLES_PER_MINUTE: u64 = 1_000_000;
/// `--blobs` times `--tuples-per-minute`: 130 MB of records for one simulated minute, a peak
/// of about 320 MB resident (measured).
pub const MAX_TUPLES_PER_SIMULATED_MINUTE: u64 = 2_000_000;
const MAX_INTERVAL_MS: u64 = 3_600_000;
const START_YEARS: std::ops::RangeInclusive<i32> = 1970..=9000;

/// `--format` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Nsg1,
    Nsg2,
    Vnet,
    Mixed,
}

impl From<FormatArg> for SeriesFormats {
    fn from(f: FormatArg) -> SeriesFormats {
        match f {
            FormatArg::Nsg1 => SeriesFormats::Nsg1,
            FormatArg::Nsg2 => SeriesFormats::Nsg2,
            FormatArg::Vnet => SeriesFormats::Vnet,
            FormatArg::Mixed => SeriesFormats::Mixed,
        }
    }
}

fn parse_rfc3339(s: &str) -> Result<OffsetDateTime, String> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-01-01T00:00:00Z: {e}"))?;
    if !START_YEARS.contains(&t.year()) {
        return Err(format!("the year must be {} to {}", START_YEARS.start(), START_YEARS.end()));
    }
    Ok(t)
}

impl SimulateArgs {
    /// Checks what one argument's range cannot: the size of one simulated minute.
    pub fn validate(&self) -> anyhow::Result<()> {
        let per_minute = self.blobs as u64 * self.tuples_per_minute as u64;
        if per_minute > MAX_TUPLES_PER_SIMULATED_MINUTE {
            bail!(
                "--blobs {} x --tuples-per-minute {} is {per_minute} tuples a simulated minute; at most \
                 {MAX_TUPLES_PER_SIMULATED_MINUTE} (one minute of every blob is held in memory): use fewer \
                 blobs or tuples, and more --minutes",
                self.blobs,
                self.tuples_per_minute
            );
        }
        Ok(())
    }

    /// The generator configuration these arguments describe.
    pub fn config(&self) -> SimConfig {
        SimConfig {
            format: self.format.into(),
            blobs: self.blobs,
            minutes: self.minutes,
            tuples_per_minute: self.tuples_per_minute,
            start_unix: self.start.map_or(DEFAULT_START_UNIX, OffsetDateTime::unix_timestamp),
            seed: self.seed,
            addresses: self.addresses,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    #[test]
    fn defaults_and_overrides() {
        let cli = Cli::try_parse_from(["simulate", "--out", "/tmp/x"]).unwrap();
        assert_eq!(cli.args.config(), SimConfig::default());
        assert_eq!(cli.args.interval_ms, 0);
        let cli = Cli::try_parse_from([
            "simulate",
            "--out",
            "d",
            "--format",
            "nsg1",
            "--blobs",
            "2",
            "--minutes",
            "3",
            "--tuples-per-minute",
            "7",
            "--seed",
            "9",
            "--start",
            "2026-03-01T10:30:00+01:00",
            "--interval-ms",
            "60000",
        ])
        .unwrap();
        let c = cli.args.config();
        assert_eq!((c.format, c.blobs, c.minutes, c.tuples_per_minute, c.seed), (SeriesFormats::Nsg1, 2, 3, 7, 9));
        assert_eq!(c.start_unix, 1_772_357_400); // 2026-03-01T09:30:00Z
        assert_eq!(cli.args.interval_ms, 60_000);
        assert!(Cli::try_parse_from(["simulate", "--out", "d", "--start", "yesterday"]).is_err());
        assert!(Cli::try_parse_from(["simulate", "--out", "d", "--format", "nsg3"]).is_err());
    }
}
