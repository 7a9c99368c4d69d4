//! `flowlog flatten`: flow-log files (or stdin) to rows on stdout, errors on stderr.
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

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
    /// Not an option of flatten (rows go to stdout): accepted only to answer with a hint.
    #[arg(long, hide = true, value_name = "PATH", value_parser = no_out)]
    pub out: Option<PathBuf>,
}

/// `--out` is `run`'s; people reach for it here too.
fn no_out(path: &str) -> Result<PathBuf, String> {
    Err(format!("flatten writes rows to standard output; redirect it instead: flowlog flatten FILE... > {path}"))
}

/// Writes one line to stderr; a closed stderr is no reason to stop (or to panic, as `eprintln!` does).
fn note(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "flowlog flatten: {line}");
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

/// Counts rows and what went wrong, reporting each problem on stderr with its location.
struct Reporting<'a> {
    enc: &'a mut Encoder,
    rows: u64,
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
        self.rows += 1;
    }
    fn tuple_error(&mut self, e: TupleError) {
        note(format_args!("{e}"));
        self.errors += 1;
    }
    fn record_error(&mut self, e: RecordError) {
        note(format_args!("{e}"));
        self.errors += 1;
    }
}

/// What a `flatten` run did, for its last line on stderr and its exit code.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: u64,
    /// Files that could not be opened or read to the end: reported, skipped, the rest go on.
    pub unreadable: u64,
    /// Bad records and tuples, incomplete last records, and files holding no flow log at all.
    pub errors: u64,
    pub rows: u64,
    /// The reader of stdout went away: flatten stopped there, as Unix filters do.
    pub output_closed: bool,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.unreadable == 0 && self.errors == 0
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} could not be read, {} in the others; ",
            plural(self.files, "file", "files"),
            self.unreadable,
            plural(self.errors, "error", "errors"),
        )?;
        match self.rows {
            0 => f.write_str("no rows were written"),
            1 => f.write_str("the one row found was written"),
            n => write!(f, "the other {n} rows were written"),
        }
    }
}

/// Flattens every file, going on past those that cannot be read; fails only when stdout does,
/// and stops quietly when stdout's reader goes away (`flowlog flatten f | head`).
pub fn run(args: &FlattenArgs) -> anyhow::Result<Summary> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let enricher = crate::app::enrich::load(&args.enrich.config())?;
    let mut enc = Encoder::with_enricher(args.format, Arc::new(enricher));
    let mut summary = Summary::default();
    for path in &args.files {
        summary.files += 1;
        let name = args.blob.clone().unwrap_or_else(|| path.display().to_string());
        let input = if path.as_os_str() == "-" {
            Input::Pipe(Box::new(std::io::stdin().lock()))
        } else {
            match std::fs::File::open(path) {
                // A regular file can be read again where a record needs it (its header after
                // its tuples); anything else (a pipe, a device) is read once.
                Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => Input::File(file),
                Ok(file) => Input::Pipe(Box::new(file)),
                Err(e) => {
                    note(format_args!("cannot open {}: {e}; skipped", path.display()));
                    summary.unreadable += 1;
                    continue;
                }
            }
        };
        let mut rep = Reporting { enc: &mut enc, rows: 0, errors: 0 };
        let read = flatten_stream(input, RowIds::new(name), &mut rep, &mut out);
        summary.rows += rep.rows;
        summary.errors += rep.errors;
        match read {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                note(format_args!("cannot read {}: {e}; the rows before were written", path.display()));
                summary.unreadable += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                summary.output_closed = true;
                return Ok(summary);
            }
            Err(e) => return Err(anyhow::Error::new(e).context("writing to stdout")),
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => summary.output_closed = true,
        other => other.context("writing to stdout")?,
    }
    Ok(summary)
}

/// The outer error is stdout's; the inner result is the input's: read to the end, or why not.
fn flatten_stream(
    mut input: Input,
    blob: RowIds,
    rep: &mut Reporting<'_>,
    out: &mut impl Write,
) -> std::io::Result<std::io::Result<()>> {
    let name = blob.name.clone();
    let mut flattener = RangeFlattener::new(blob, 0);
    if matches!(input, Input::File(_)) {
        flattener = flattener.with_rereads();
    }
    let mut chunk = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    loop {
        let n = match input.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Rows of complete records were written; the partial one is not.
                return Ok(Err(e));
            }
        };
        bytes += n as u64;
        let mut rest = &chunk[..n];
        loop {
            let p = flattener.push(rest, n == 0, rep);
            out.write_all(rep.enc.out())?;
            rep.enc.out().clear();
            let (Some(range), Input::File(file)) = (flattener.reread_range(), &input) else { break };
            if let Err(e) = reread(file, range, &mut flattener, rep, out)? {
                return Ok(Err(e));
            }
            rest = &rest[p.taken..];
        }
        if n == 0 {
            break;
        }
    }
    if flattener.has_partial_record() {
        // Its rows so far were written as they were parsed; the error says they are partial.
        note(format_args!(
            "blob {name} bytes {}..{}: incomplete record at end of input (rows of it before the cut were written)",
            flattener.offset(),
            flattener.offset() + flattener.pending() as u64
        ));
        rep.errors += 1;
    } else if flattener.offset() == 0 && rep.errors == 0 {
        // Nothing but whitespace: no head, no records, no error from the framing.
        let what = if bytes == 0 { "is empty".to_string() } else { format!("holds only whitespace ({bytes} bytes)") };
        note(format_args!(
            "{name} {what}: a flow-log blob (Azure names it PT1H.json) is JSON starting {{\"records\":[, one record a minute"
        ));
        rep.errors += 1;
    }
    Ok(Ok(()))
}

/// Where a file's bytes come from.
enum Input {
    /// A regular file: read once in order, and again where a record needs it.
    File(std::fs::File),
    /// Anything that can only be read once: a record whose header fields come after its tuples
    /// keeps its tuples' text until its end.
    Pipe(Box<dyn Read>),
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::File(f) => f.read(buf),
            Input::Pipe(r) => r.read(buf),
        }
    }
}

/// Reads bytes `range` of `file` again into `flattener`, writing rows as they come, and puts
/// the file's position back where the first read was. Same error nesting as [`flatten_stream`].
fn reread(
    mut file: &std::fs::File,
    range: std::ops::Range<u64>,
    flattener: &mut RangeFlattener,
    rep: &mut Reporting<'_>,
    out: &mut impl Write,
) -> std::io::Result<std::io::Result<()>> {
    let mut chunk = vec![0u8; CHUNK];
    let read = (|| {
        let back = file.stream_position()?;
        file.seek(SeekFrom::Start(range.start))?;
        let mut at = range.start;
        while at < range.end {
            let want = chunk.len().min((range.end - at) as usize);
            let n = match file.read(&mut chunk[..want]) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("shorter than when its record at byte {} was first read", range.start),
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            at += n as u64;
            flattener.push_reread(&chunk[..n], rep);
            // Rows go out as they come: a large record is never held.
            if let Err(e) = out.write_all(rep.enc.out()) {
                return Ok(Err(e));
            }
            rep.enc.out().clear();
        }
        file.seek(SeekFrom::Start(back))?;
        Ok(Ok(()))
    })();
    match read {
        Ok(Ok(())) => Ok(Ok(())),
        Ok(Err(stdout)) => Err(stdout),
        Err(input) => Ok(Err(input)),
    }
}
