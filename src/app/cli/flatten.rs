//! `flowlog flatten`: flow-log files (or stdin) to rows on stdout, errors on stderr.
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::app::config::EnrichConfig;
use crate::domain::flatten::RangeFlattener;
use crate::domain::format::{GroupCtx, RecordCtx, RecordError, RowVisitor, Tuple, TupleError};
use crate::domain::ids::RowIds;
use crate::domain::row::encoder::{Encoder, RowFormat};

#[derive(clap::Args, Debug)]
pub struct FlattenArgs {
    /// Output encoding.
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: RowFormat,
    /// Blob name to put in rows and ids (default: the file path as given). With several
    /// files it is used for all of them.
    #[arg(long)]
    pub blob: Option<String>,
    #[command(flatten)]
    pub enrich: EnrichArgs,
    /// Flow-log files (`PT1H.json`); `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// The `[enrich]` settings as flags (address class and flow type are always on).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EnrichArgs {
    /// ASN database: a MaxMind-format .mmdb with ASNs or an ip-location-db `start,end,asn,org`
    /// CSV file; repeat (or comma-separate) for IPv4 and IPv6 files.
    #[arg(long = "asn-db", value_name = "FILE", env = "FLOWLOG_ENRICH_ASN_DB", value_delimiter = ',')]
    pub asn_db: Vec<PathBuf>,
    /// Geography database: a .mmdb with countries (cities, coordinates) or a `start,end,country`
    /// CSV file; repeat (or comma-separate) for IPv4 and IPv6 files.
    #[arg(long = "geo-db", value_name = "FILE", env = "FLOWLOG_ENRICH_GEO_DB", value_delimiter = ',')]
    pub geo_db: Vec<PathBuf>,
    /// Azure service tags: Microsoft's ServiceTags_Public_*.json.
    #[arg(long = "service-tags", value_name = "FILE", env = "FLOWLOG_ENRICH_SERVICE_TAGS")]
    pub service_tags: Option<PathBuf>,
    /// Write the Community ID (v1, seed 0) of each flow.
    #[arg(long = "community-id", env = "FLOWLOG_ENRICH_COMMUNITY_ID")]
    pub community_id: bool,
    /// Write the IANA service name of the destination port.
    #[arg(long = "service-names", env = "FLOWLOG_ENRICH_SERVICE_NAMES")]
    pub service_names: bool,
}

impl EnrichArgs {
    pub fn config(&self) -> EnrichConfig {
        EnrichConfig {
            asn_db: self.asn_db.clone(),
            geo_db: self.geo_db.clone(),
            service_tags: self.service_tags.clone(),
            community_id: self.community_id,
            service_names: self.service_names,
            ..EnrichConfig::default()
        }
    }
}

const CHUNK: usize = 256 * 1024;

/// Counts what went wrong, reporting each problem on stderr with its location.
struct Reporting<'a> {
    enc: &'a mut Encoder,
    errors: u64,
}

impl RowVisitor for Reporting<'_> {
    fn record(&mut self, r: &RecordCtx<'_>) {
        self.enc.record(r);
    }
    fn group(&mut self, r: &RecordCtx<'_>, g: &GroupCtx<'_>) {
        self.enc.group(r, g);
    }
    fn row(&mut self, r: &RecordCtx<'_>, g: &GroupCtx<'_>, t: &Tuple<'_>) {
        self.enc.row(r, g, t);
    }
    fn tuple_error(&mut self, e: TupleError) {
        eprintln!("flowlog flatten: {e}");
        self.errors += 1;
    }
    fn record_error(&mut self, e: RecordError) {
        eprintln!("flowlog flatten: {e}");
        self.errors += 1;
    }
}

/// What a `flatten` run did, for its last line on stderr and its exit code.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: u64,
    /// Files that could not be opened or read to the end: reported, skipped, the rest go on.
    pub unreadable: u64,
    /// Bad records and tuples, and incomplete last records.
    pub errors: u64,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.unreadable == 0 && self.errors == 0
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} file(s): {} could not be read, {} error(s) in the others; every other row was written",
            self.files, self.unreadable, self.errors
        )
    }
}

/// Flattens every file, going on past those that cannot be read; fails only when stdout does.
pub fn run(args: &FlattenArgs) -> anyhow::Result<Summary> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let enricher = crate::app::enrich::load(&args.enrich.config())?;
    let mut enc = Encoder::with_enricher(args.format, Arc::new(enricher));
    let mut summary = Summary::default();
    for path in &args.files {
        summary.files += 1;
        let name = args.blob.clone().unwrap_or_else(|| path.display().to_string());
        let input: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            match std::fs::File::open(path) {
                Ok(file) => Box::new(file),
                Err(e) => {
                    eprintln!("flowlog flatten: cannot open {}: {e}; skipped", path.display());
                    summary.unreadable += 1;
                    continue;
                }
            }
        };
        match flatten_stream(input, RowIds::new(name), &mut enc, &mut out)? {
            Ok(errors) => summary.errors += errors,
            Err(e) => {
                eprintln!("flowlog flatten: cannot read {}: {e}; the rows before were written", path.display());
                summary.unreadable += 1;
            }
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(summary)
}

/// The inner result is the input's: its error count, or why it could not be read to the end.
fn flatten_stream(
    mut input: impl Read,
    blob: RowIds,
    enc: &mut Encoder,
    out: &mut impl Write,
) -> anyhow::Result<std::io::Result<u64>> {
    let name = blob.name.clone();
    let mut flattener = RangeFlattener::new(blob, 0);
    let mut rep = Reporting { enc, errors: 0 };
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Rows of complete records were written; the partial one is not.
                return Ok(Err(e));
            }
        };
        flattener.push(&chunk[..n], n == 0, &mut rep);
        out.write_all(rep.enc.out()).context("writing to stdout")?;
        rep.enc.out().clear();
        if n == 0 {
            break;
        }
    }
    if flattener.has_partial_record() {
        // Its rows so far were written as they were parsed; the error says they are partial.
        eprintln!(
            "flowlog flatten: blob {name} bytes {}..{}: incomplete record at end of input (rows of it before the cut were written)",
            flattener.offset(),
            flattener.offset() + flattener.pending() as u64
        );
        rep.errors += 1;
    }
    Ok(Ok(rep.errors))
}
