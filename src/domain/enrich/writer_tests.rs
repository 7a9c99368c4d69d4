//! The NDJSON fragment and the CSV values agree with each other and with the schema, and the
//! cache never serves one address's fields for another.
use super::*;
use crate::domain::enrich::DataFile;
use crate::domain::enrich::csv_ranges::AsnTable;
use crate::domain::enrich::service_tags::ServiceTags;
use crate::domain::format::protocol::Protocol;
use crate::domain::format::tuple::{Decision, Direction};
use crate::domain::row::schema::{Source, fields_for};

const ASN: &str = "8.8.8.0,8.8.8.255,15169,Google LLC\n20.0.0.0,20.31.255.255,8075,\"Microsoft \"\"Azure\"\"\"\n";
const TAGS: &str = r#"{"values": [{"name": "Storage.WestEurope", "properties": {"region": "westeurope", "addressPrefixes": ["20.1.0.0/16"]}}]}"#;

fn full() -> Arc<Enricher> {
    let asn = DataFile::AsnCsv(AsnTable::from_csv(ASN.as_bytes()).unwrap());
    let tags = ServiceTags::from_json(TAGS.as_bytes()).unwrap();
    Arc::new(Enricher::new(vec![asn], vec![], Some(tags), true, true).unwrap())
}

fn tuple<'a>(src: &'a str, dst: &'a str, direction: Direction) -> Tuple<'a> {
    Tuple {
        ordinal: 0,
        time_ms: 1,
        src_ip: src,
        dst_ip: dst,
        src_addr: src.parse().unwrap(),
        dst_addr: dst.parse().unwrap(),
        src_port: 50000,
        dst_port: 443,
        protocol: Protocol::TCP,
        direction,
        decision: Decision::Allow,
        state: None,
        state_text: None,
        encryption: None,
        unknown_encryption: false,
        counters: [None; 4],
    }
}

/// The fragment as a JSON object, keys in written order.
fn fragment(w: &mut EnrichWriter, t: &Tuple<'_>) -> Vec<(String, serde_json::Value)> {
    let mut out = b"{\"x\":0".to_vec();
    w.write_ndjson(t, &mut out);
    parse(out)
}

/// The fields written after `{"x":0`, as a JSON object's keys and values in written order.
fn parse(mut out: Vec<u8>) -> Vec<(String, serde_json::Value)> {
    out.push(b'}');
    let text = String::from_utf8(out).unwrap();
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let mut keys: Vec<(usize, String)> =
        v.keys().map(|k| (text.find(&format!("\"{k}\":")).unwrap(), k.clone())).collect();
    keys.sort();
    keys.into_iter().filter(|(_, k)| k != "x").map(|(_, k)| (k.clone(), v[&k].clone())).collect()
}

fn as_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The enrichment fields the writer's settings turn on, in schema order.
fn names(w: &EnrichWriter) -> Vec<&'static str> {
    let settings = w.settings();
    fields_for(|s| settings.enabled(s)).filter(|f| f.source != Source::Core).map(|f| f.name).collect()
}

/// A fragment's values for every field that is on, in schema order, `None` for a field left
/// out; fails if a written field is out of order, unknown or null (a field with no answer is
/// left out, never written as null).
fn all_values(w: &EnrichWriter, frag: &[(String, serde_json::Value)]) -> Vec<Option<String>> {
    let names = names(w);
    let at: Vec<usize> = frag
        .iter()
        .map(|(k, v)| {
            assert!(!v.is_null(), "{k} written as null in {frag:?}");
            names.iter().position(|n| n == k).unwrap_or_else(|| panic!("{k} is no field that is on"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "fields out of schema order: {frag:?}");
    names.iter().map(|n| frag.iter().find(|(k, _)| k == n).and_then(|(_, v)| as_text(v))).collect()
}

#[test]
fn fragment_matches_schema_and_csv_values() {
    for enricher in [Enricher::basic(), full()] {
        let mut w = EnrichWriter::new(enricher);
        for t in [
            tuple("10.0.0.4", "8.8.8.8", Direction::Outbound),
            tuple("20.1.2.3", "10.0.0.4", Direction::Inbound),
            tuple("10.0.0.4", "168.63.129.16", Direction::Outbound),
        ] {
            let frag = fragment(&mut w, &t);
            assert_eq!(all_values(&w, &frag), w.values(&t));
        }
    }
}

#[test]
fn values_of_a_full_enricher() {
    let mut w = EnrichWriter::new(full());
    let f = fragment(&mut w, &tuple("20.1.2.3", "10.0.0.4", Direction::Inbound));
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("src_class"), "public");
    assert_eq!(get("dst_class"), "private");
    assert_eq!(get("flow_type"), "azure_public");
    assert_eq!(get("src_asn"), 8075);
    assert_eq!(get("src_as_org"), "Microsoft \"Azure\"");
    assert_eq!(get("src_azure_service"), "Storage");
    assert_eq!(get("src_azure_region"), "westeurope");
    assert!(
        f.iter().all(|(n, _)| !n.starts_with("dst_") || n == "dst_class"),
        "a private address has no answers: {f:?}"
    );
    assert_eq!(get("service"), "https");
    assert_eq!(get("community_id").as_str().unwrap().len(), 30);
    let f = fragment(&mut w, &tuple("10.0.0.4", "8.8.8.8", Direction::Outbound));
    assert_eq!(f.iter().find(|(n, _)| n == "flow_type").unwrap().1, "external_public");
}

/// A field whose data has no answer is left out, not written as null: the fragment of a row
/// between two private addresses on a port with no service name is the classes, the flow type
/// and the Community ID, with every database on.
#[test]
fn fields_with_no_answer_are_left_out() {
    let mut w = EnrichWriter::new(full());
    let mut t = tuple("10.0.0.4", "10.0.0.5", Direction::Outbound);
    t.dst_port = 50001;
    let frag = fragment(&mut w, &t);
    let keys: Vec<&str> = frag.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["src_class", "dst_class", "flow_type", "community_id"]);
    // The same through a cached public address with an ASN but no service tag.
    for _ in 0..2 {
        let frag = fragment(&mut w, &tuple("8.8.8.8", "10.0.0.4", Direction::Inbound));
        let keys: Vec<&str> = frag.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["src_class", "dst_class", "flow_type", "src_asn", "src_as_org", "community_id", "service"]);
    }
}

#[test]
fn cache_collisions_never_mix_addresses() {
    let mut cached = EnrichWriter::new(full());
    // Far more addresses than slots, visited twice, so slots are reused and collide.
    let ips: Vec<String> =
        (0..5000u32).map(|i| format!("{}.{}.{}.{}", 8 + i % 13, (i >> 8) & 255, i & 255, i % 7)).collect();
    for round in 0..2 {
        for (i, ip) in ips.iter().enumerate() {
            let t = tuple(ip, &ips[(i * 7 + round) % ips.len()], Direction::Outbound);
            let frag = fragment(&mut cached, &t);
            assert_eq!(all_values(&cached, &frag), cached.values(&t), "{ip}");
        }
    }
}

/// The cache is keyed by the parsed address: long spellings (IPv4-mapped with every zero written,
/// over 40 characters) are enriched like any other, and every spelling of one address shares one
/// entry.
#[test]
fn every_spelling_of_an_address_is_one_entry() {
    let mut w = EnrichWriter::new(full());
    // IPv4-mapped addresses; one in Azure's ranges.
    let long = "0000:0000:0000:0000:0000:ffff:20.1.200.200";
    let longer = "0000:0000:0000:0000:0000:ffff:100.100.100.100";
    assert!(long.len() > 40 && longer.len() > 40);
    for t in [
        tuple("2001:4860:0000:0000:0000:0000:0000:8888", "10.0.0.4", Direction::Inbound),
        tuple(long, "8.8.8.8", Direction::Inbound),
        tuple("8.8.8.8", long, Direction::Outbound),
        tuple(longer, "20.1.2.3", Direction::Inbound),
        tuple(long, "8.8.8.8", Direction::Inbound),
    ] {
        let frag = fragment(&mut w, &t);
        assert_eq!(all_values(&w, &frag), w.values(&t), "{} -> {}", t.src_ip, t.dst_ip);
    }
    let f = fragment(&mut w, &tuple(long, "8.8.8.8", Direction::Inbound));
    assert_eq!(f.iter().find(|(n, _)| n == "src_asn").unwrap().1, 8075, "{f:?}");
    let cached = w.cached_addresses();
    let short = fragment(&mut w, &tuple("::ffff:20.1.200.200", "8.8.8.8", Direction::Inbound));
    assert_eq!(short, f);
    assert_eq!(w.cached_addresses(), cached, "the short spelling found the long one's entry");
}

/// Rows prepared two at a time, with far more addresses than the cache holds (so it starts over
/// between and within pairs), get each its own addresses' fields.
#[test]
fn pairs_across_cache_restarts_never_mix_addresses() {
    let mut w = EnrichWriter::new(full());
    let ips: Vec<String> =
        (0..9000u32).map(|i| format!("{}.{}.{}.{}", 8 + i % 13, (i >> 8) & 255, i & 255, i % 7)).collect();
    // Two addresses first: the cache's size is a multiple of four, and the four new addresses of
    // each pair then fill it up in the middle of a pair.
    w.write_ndjson(&tuple("9.9.9.9", "9.9.9.10", Direction::Outbound), &mut Vec::new());
    for pair in ips.chunks_exact(4) {
        let (a, b) = (tuple(&pair[0], &pair[1], Direction::Outbound), tuple(&pair[2], &pair[3], Direction::Inbound));
        let (pa, pb) = w.prepare_pair(&a, &b);
        for (p, t) in [(&pa, &a), (&pb, &b)] {
            let mut out = b"{\"x\":0".to_vec();
            w.write_prepared(p, t, &mut out);
            w.fill_ids(&mut out);
            let got = all_values(&w, &parse(out));
            let want = w.values(t);
            assert_eq!(got, want, "{} -> {}", t.src_ip, t.dst_ip);
        }
    }
}

/// On addresses new each time the cache admits few of them and writes the others straight from
/// the index's pieces: every row still gets exactly what a fresh writer writes, and once
/// addresses repeat they are cached again.
#[test]
fn addresses_written_without_caching_get_the_same_fields() {
    let e = full();
    let mut w = EnrichWriter::new(e.clone());
    let addresses: Vec<String> = (0..20_000u32)
        .map(|i| core::net::Ipv4Addr::from(0x0800_0000u32.wrapping_add(i.wrapping_mul(65_543))).to_string())
        .collect();
    for (i, a) in addresses.iter().enumerate() {
        let t = if i % 2 == 0 {
            tuple("10.0.0.4", a, Direction::Outbound)
        } else {
            tuple(a, "10.0.0.4", Direction::Inbound)
        };
        let want = fragment(&mut EnrichWriter::new(e.clone()), &t);
        assert_eq!(fragment(&mut w, &t), want, "{a}");
    }
    let sparse = w.cached_addresses();
    assert!(sparse < 20_000 / 4, "{sparse} of 20,000 new addresses cached");
    let pass = |w: &mut EnrichWriter| {
        for a in &addresses[..200] {
            let t = tuple("10.0.0.4", a, Direction::Outbound);
            assert_eq!(fragment(w, &t), fragment(&mut EnrichWriter::new(e.clone()), &t), "{a}");
        }
    };
    for _ in 0..30 {
        pass(&mut w);
    }
    let cached = w.cached_addresses();
    pass(&mut w);
    assert_eq!(w.cached_addresses(), cached, "repeating addresses are all cached again");
}
