//! Enrichment files that must be refused at start, through `flowlog flatten` (the same loading
//! as the daemon's): a MaxMind database whose data section is damaged (it would load and make
//! every lookup null), files that are not regular files (`/dev/zero` never ends, a FIFO blocks
//! its reader until a writer comes) and files over the size limit. Each is refused at once,
//! naming the setting and file.
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const MAXMIND: &str = ".tools/maxmind-test-data";

/// `flowlog flatten` with `args` over the NSG sample, ended (and failed) if it runs past `limit`.
fn flatten_within(limit: Duration, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowlog"))
        .arg("flatten")
        .args(args)
        .arg("samples/nsg_v2.json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("flatten {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// MaxMind's ASN test database with every byte of its data section overwritten: the search
/// tree and metadata are intact, so it opens, but no record decodes.
fn damaged_asn_db(dir: &Path) -> std::path::PathBuf {
    let path = format!("{MAXMIND}/GeoLite2-ASN-Test.mmdb");
    let mut bytes =
        std::fs::read(&path).unwrap_or_else(|_| panic!("{path} is missing: run `bash tests/tools/setup.sh`"));
    let meta = maxminddb::Reader::from_source(bytes.clone()).unwrap().metadata().clone();
    let tree = (meta.node_count as usize) * (meta.record_size as usize) / 4;
    let marker = b"\xab\xcd\xefMaxMind.com";
    let data_end = bytes.windows(marker.len()).rposition(|w| w == marker).unwrap();
    // 16 zero bytes separate the tree from the data section.
    bytes[tree + 16..data_end].fill(0xff);
    let out = dir.join("GeoLite2-ASN-damaged.mmdb");
    std::fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn a_maxmind_database_with_a_damaged_data_section_is_refused_naming_setting_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let damaged = damaged_asn_db(dir.path());
    let out = flatten_within(Duration::from_secs(60), &["--asn-db", damaged.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "accepted a damaged database: {stderr}");
    assert!(stderr.contains("enrich.asn_db") && stderr.contains("GeoLite2-ASN-damaged.mmdb"), "{stderr}");
    assert!(stderr.contains("damaged"), "{stderr}");
    // The intact database still loads.
    let good = format!("{MAXMIND}/GeoLite2-ASN-Test.mmdb");
    let out = flatten_within(Duration::from_secs(60), &["--asn-db", &good]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[cfg(unix)]
#[test]
fn devices_and_fifos_are_refused_at_once_for_every_enrichment_setting() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("asn.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let fifo = fifo.to_str().unwrap();
    for setting in ["--asn-db", "--geo-db", "--service-tags"] {
        for file in ["/dev/zero", fifo] {
            // /dev/zero read to its end fills memory; a FIFO's open waits for a writer forever.
            let out = flatten_within(Duration::from_secs(30), &[setting, file]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success() && out.stdout.is_empty(), "{setting} {file}: {stderr}");
            let name = setting.trim_start_matches("--").replace('-', "_");
            assert!(stderr.contains(&format!("enrich.{name}")) && stderr.contains(file), "{stderr}");
            assert!(stderr.contains("not a regular file"), "{stderr}");
        }
    }
}

#[test]
fn an_enrichment_file_over_the_size_limit_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.csv");
    // Sparse: one byte over the limit costs no disk.
    std::fs::File::create(&huge).unwrap().set_len(flowlog::app::enrich::MAX_FILE_BYTES + 1).unwrap();
    let out = flatten_within(Duration::from_secs(30), &["--asn-db", huge.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{stderr}");
    assert!(stderr.contains("enrich.asn_db") && stderr.contains("more than the 1024 MiB"), "{stderr}");
}
