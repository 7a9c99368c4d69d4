//! `eventhubs-emulator dump`: prints what a hub holds, read through a running emulator's control
//! API (`GET /hubs/{hub}/events`), so users of the local stack can see the rows flowlog wrote.

use base64::Engine as _;
use eventhubs_emulator::EventRecord;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What to print and how.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// The emulator's control address (its `--control`), e.g. 127.0.0.1:8081.
    #[arg(long)]
    control: String,
    /// The hub to read, e.g. the output hub.
    #[arg(long)]
    hub: String,
    /// Only this partition (default: every partition, in order).
    #[arg(long)]
    partition: Option<String>,
    /// Print one JSON line per event (partition, sequence number, offset, enqueued time, key,
    /// body) instead of the bodies.
    #[arg(long)]
    events: bool,
    /// Keep polling for new events (like `tail -f`); stop with Ctrl-C.
    #[arg(long)]
    follow: bool,
}

/// One `GET` on the control API; the body of a 200, `None` on a 404.
fn get(control: &str, path: &str) -> anyhow::Result<Option<String>> {
    let mut stream = TcpStream::connect(control).map_err(|e| anyhow::anyhow!("connecting to {control}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    match head.split_whitespace().nth(1) {
        Some("200") => Ok(Some(body.to_string())),
        Some("404") => Ok(None),
        status => anyhow::bail!("GET {path}: unexpected answer {status:?}: {body}"),
    }
}

/// The body bytes, gunzipped when they are gzip (flowlog can compress its output events).
fn decoded_body(record: &EventRecord) -> anyhow::Result<Vec<u8>> {
    let raw = base64::engine::general_purpose::STANDARD.decode(&record.body_base64)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut out)?;
        return Ok(out);
    }
    Ok(raw)
}

fn print(record: &EventRecord, events: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let body = decoded_body(record)?;
    if events {
        let line = serde_json::json!({
            "partition": record.partition,
            "sequence_number": record.sequence_number,
            "offset": record.offset,
            "enqueued_time_ms": record.enqueued_time_ms,
            "partition_key": record.partition_key,
            "body": String::from_utf8_lossy(&body),
        });
        writeln!(out, "{line}")?;
    } else {
        out.write_all(&body)?;
        if !body.ends_with(b"\n") {
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// Runs the command: every stored event of the hub once, then (with `--follow`) new ones.
pub fn run(args: &DumpArgs) -> anyhow::Result<()> {
    let mut next: Vec<(String, usize)> = Vec::new();
    match &args.partition {
        Some(p) => next.push((p.clone(), 0)),
        // Partition ids are 0..n-1: probe until the first that does not exist.
        None => {
            for id in 0.. {
                let path = format!("/hubs/{}/events?partition={id}&limit=0", args.hub);
                if get(&args.control, &path)?.is_none() {
                    break;
                }
                next.push((id.to_string(), 0));
            }
        }
    }
    anyhow::ensure!(!next.is_empty(), "hub {:?} (partition {:?}) not found", args.hub, args.partition);
    let stdout = std::io::stdout();
    loop {
        let mut progressed = false;
        for (partition, from) in &mut next {
            loop {
                let path = format!("/hubs/{}/events?partition={partition}&from={from}", args.hub);
                let body =
                    get(&args.control, &path)?.ok_or_else(|| anyhow::anyhow!("partition {partition} vanished"))?;
                let records: Vec<EventRecord> = body.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
                if records.is_empty() {
                    break;
                }
                let mut out = stdout.lock();
                for record in &records {
                    print(record, args.events, &mut out)?;
                }
                out.flush()?;
                *from += records.len();
                progressed = true;
            }
        }
        if !args.follow {
            return Ok(());
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
