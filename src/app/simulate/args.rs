//! Command-line arguments of `flowlog simulate`.
use std::path::PathBuf;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::addresses::AddressModel;
use super::generator::{DEFAULT_START_UNIX, SeriesFormats, SimConfig};

/// Generate synthetic NSG / VNet flow-log blobs, appended minute by minute like Azure writes them.
#[derive(Clone, Debug, clap::Args)]
pub struct SimulateArgs {
    /// Directory standing in for the storage account; container directories are created inside it.
    /// Existing blobs are appended to, as Azure would.
    #[arg(long, required_unless_present = "azure")]
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
    /// Number of blob series (one NIC each, two NICs per NSG or VNet).
    #[arg(long, default_value_t = 4)]
    pub blobs: usize,
    /// Simulated minutes; each appends one record to every blob.
    #[arg(long, default_value_t = 10)]
    pub minutes: u32,
    /// Flow tuples per blob per minute.
    #[arg(long, default_value_t = 50)]
    pub tuples_per_minute: usize,
    /// Remote addresses: `repeating` (documentation prefixes, a few hosts), `realistic` (public:
    /// heavy-tailed peers, mostly one-off scanners) or `unique` (every address new).
    #[arg(long, value_enum, default_value_t = AddressModel::Repeating)]
    pub addresses: AddressModel,
    /// Seed; the same seed and options always produce the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated start time (RFC 3339, floored to the minute) [default: 2026-01-01T00:00:00Z].
    #[arg(long, value_parser = parse_rfc3339)]
    pub start: Option<OffsetDateTime>,
    /// Wall-clock milliseconds between simulated minutes: 0 = as fast as possible, 60000 = real time.
    #[arg(long, default_value_t = 0)]
    pub interval_ms: u64,
}

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
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-01-01T00:00:00Z: {e}"))
}

impl SimulateArgs {
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
