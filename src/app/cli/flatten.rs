//! `flowlog flatten`: flow-log files (or stdin) to rows on stdout, errors on stderr.
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::app::config::EnrichConfig;
use crate::domain::flatten::RangeFlattener;
use crate::domain::format::{GroupCtx, RecordCtx, RecordError, RowVisitor, Tuple, TupleError};
use crate::domain::row::encoder::{Encoder, OutputFormat};
use crate::domain::row::id::BlobIdent;

#[derive(clap::Args, Debug)]
pub struct FlattenArgs {
    /// Output encoding.
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: OutputFormat,
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

/// Returns the number of errors; rows of everything else were written.
pub fn run(args: &FlattenArgs) -> anyhow::Result<u64> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let enricher = crate::app::enrich::load(&args.enrich.config())?;
    let mut enc = Encoder::with_enricher(args.format, Arc::new(enricher));
    let mut errors = 0;
    for path in &args.files {
        let name = args.blob.clone().unwrap_or_else(|| path.display().to_string());
        let input: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?)
        };
        errors += flatten_stream(input, BlobIdent::new(name), &mut enc, &mut out)?;
    }
    out.flush().context("writing to stdout")?;
    Ok(errors)
}

fn flatten_stream(
    mut input: impl Read,
    blob: BlobIdent,
    enc: &mut Encoder,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let name = blob.name.clone();
    let mut flattener = RangeFlattener::new(blob, 0);
    let mut rep = Reporting { enc, errors: 0 };
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = input.read(&mut chunk).with_context(|| format!("reading {name}"))?;
        flattener.push(&chunk[..n], n == 0, &mut rep);
        out.write_all(rep.enc.out()).context("writing to stdout")?;
        rep.enc.out().clear();
        if n == 0 {
            break;
        }
    }
    if flattener.has_partial_record() {
        eprintln!(
            "flowlog flatten: blob {name} bytes {}..{}: incomplete record at end of input",
            flattener.offset(),
            flattener.offset() + flattener.pending() as u64
        );
        rep.errors += 1;
    }
    Ok(rep.errors)
}
