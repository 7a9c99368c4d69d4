//! The sections' own settings: enrichment, group commit (read in local mode too), the output
//! (gzip, the Logs Ingestion API), and Azure-only settings named as ignored in local mode.
use super::*;

#[test]
fn enrich_settings_from_file_and_env() {
    let f = write("[enrich]\nasn_db = [\"asn-ipv4.csv\", \"asn-ipv6.csv\"]\ncommunity_id = true\n");
    let raw = load(
        Some(f.path()),
        env(&[
            ("FLOWLOG_ENRICH_GEO_DB", "geo4.mmdb,geo6.mmdb"),
            ("FLOWLOG_ENRICH_SERVICE_TAGS", "/data/ServiceTags_Public_20261123.json"),
            ("FLOWLOG_ENRICH_SERVICE_NAMES", "true"),
        ]),
    )
    .unwrap();
    let cfg = Config::from_raw(raw, &Overrides::default()).unwrap();
    assert_eq!(
        cfg.enrich,
        EnrichConfig {
            asn_db: vec![PathBuf::from("asn-ipv4.csv"), PathBuf::from("asn-ipv6.csv")],
            geo_db: vec![PathBuf::from("geo4.mmdb"), PathBuf::from("geo6.mmdb")],
            service_tags: Some(PathBuf::from("/data/ServiceTags_Public_20261123.json")),
            community_id: true,
            service_names: true,
            reload_interval: Duration::from_secs(60),
        }
    );
    assert_eq!(Config::from_raw(RawConfig::default(), &Overrides::default()).unwrap().enrich.files().count(), 0);
    let e = load(None, env(&[("FLOWLOG_ENRICH_ASN", "x")])).unwrap_err().to_string();
    assert!(e.contains("asn"), "{e}");
    let raw = load(None, env(&[("FLOWLOG_ENRICH_RELOAD_INTERVAL_SECS", "0")])).unwrap();
    let e = Config::from_raw(raw, &Overrides::default()).unwrap_err().to_string();
    assert!(e.contains("enrich.reload_interval_secs"), "{e}");
}

#[test]
fn group_commit_settings_apply_in_local_mode_too() {
    let raw = load(
        None,
        env(&[
            ("FLOWLOG_OUTPUT_LINGER_MS", "250"),
            ("FLOWLOG_OUTPUT_BACKLOG_LINGER_MS", "0"),
            ("FLOWLOG_OUTPUT_MAX_EVENTS_IN_FLIGHT", "2"),
        ]),
    )
    .unwrap();
    let cfg = Config::from_raw(raw, &Overrides::default()).unwrap();
    assert_eq!((cfg.engine.linger, cfg.engine.max_events_in_flight), (Duration::from_millis(250), 2));
    assert_eq!(cfg.engine.backlog_linger, Duration::ZERO);
    let defaults = Config::from_raw(RawConfig::default(), &Overrides::default()).unwrap();
    assert_eq!((defaults.engine.linger, defaults.engine.max_events_in_flight), (Duration::from_millis(100), 4));
    assert_eq!(defaults.engine.backlog_linger, Duration::from_millis(1000));
    assert!(crate::app::config::file::settings_help().contains("backlog_linger_ms"));
}

#[test]
fn azure_settings_in_local_mode_are_named_as_ignored() {
    let f = write("[output]\nlinger_ms = 50\ngzip = true\n[offsets]\nretention_days = 3\ntable = \"t\"\n");
    let raw = load(Some(f.path()), env(&[("FLOWLOG_AUTH_CREDENTIAL", "azure_cli")])).unwrap();
    let mut ignored = Config::from_raw(raw, &Overrides::default()).unwrap().ignored;
    ignored.sort();
    assert_eq!(ignored, ["auth.credential", "offsets.table", "output.gzip"]);
}

#[test]
fn output_is_gzip_by_default_and_plain_is_one_setting_away() {
    let example = std::path::Path::new("deploy/config/azure.example.toml");
    let gzip_of = |text: Option<&str>, vars: &[(&str, &str)]| {
        let f = text.map(|t| {
            let shipped = std::fs::read_to_string(example).unwrap();
            write(&shipped.replace("gzip = true\n", t))
        });
        let raw = load(Some(f.as_ref().map_or(example, |f| f.path())), env(vars)).unwrap();
        let Mode::Azure(a) = Config::from_raw(raw, &Overrides::default()).unwrap().mode else { panic!("azure") };
        a.batch.gzip
    };
    assert!(gzip_of(None, &[]), "the shipped config gzips");
    assert!(gzip_of(Some(""), &[]), "no gzip key: the default gzips");
    assert!(!gzip_of(Some("gzip = false\n"), &[]), "plain from the file");
    assert!(!gzip_of(None, &[("FLOWLOG_OUTPUT_GZIP", "false")]), "plain from the environment");
}

#[test]
fn log_analytics_output_is_parsed_at_the_edge_with_errors_naming_the_setting() {
    let example = std::path::Path::new("deploy/config/azure.example.toml");
    let id = "dcr-0123456789abcdef0123456789abcdef";
    let parse = |vars: &[(&str, &str)]| {
        let mut all = vec![("FLOWLOG_OUTPUT_KIND", "log_analytics")];
        all.extend_from_slice(vars);
        let raw = load(Some(example), env(&all))?;
        Config::from_raw(raw, &Overrides::default())
    };
    let cfg = parse(&[
        ("FLOWLOG_LOG_ANALYTICS_ENDPOINT", "https://dce-1.westeurope-1.ingest.monitor.azure.com/"),
        ("FLOWLOG_LOG_ANALYTICS_DCR_IMMUTABLE_ID", id),
        ("FLOWLOG_LOG_ANALYTICS_TOKEN", "t0k3n"),
    ])
    .unwrap();
    let Mode::Azure(a) = cfg.mode else { panic!("azure") };
    let OutputTarget::LogAnalytics(la) = &a.output else { panic!("log analytics expected") };
    assert_eq!(la.endpoint, "https://dce-1.westeurope-1.ingest.monitor.azure.com");
    assert_eq!((la.dcr_immutable_id.as_str(), la.stream.as_str()), (id, DEFAULT_STREAM));
    assert_eq!(la.timeout, Duration::from_secs(30));
    assert!(a.output_hub().is_none() && !format!("{la:?}").contains("t0k3n"));
    let error = |vars: &[(&str, &str)]| parse(vars).unwrap_err().to_string();
    let e = error(&[("FLOWLOG_LOG_ANALYTICS_DCR_IMMUTABLE_ID", id)]);
    assert!(e.contains("log_analytics.endpoint is required"), "{e}");
    let e = error(&[
        ("FLOWLOG_LOG_ANALYTICS_ENDPOINT", "http://dce.example"),
        ("FLOWLOG_LOG_ANALYTICS_DCR_IMMUTABLE_ID", id),
    ]);
    assert!(e.contains("log_analytics.endpoint") && e.contains("https://"), "{e}");
    let e = error(&[
        ("FLOWLOG_LOG_ANALYTICS_ENDPOINT", "http://127.0.0.1:9"),
        ("FLOWLOG_LOG_ANALYTICS_DCR_IMMUTABLE_ID", "dcr-x/.."),
    ]);
    assert!(e.contains("log_analytics.dcr_immutable_id"), "{e}");
    let e = error(&[
        ("FLOWLOG_LOG_ANALYTICS_ENDPOINT", "http://127.0.0.1:9"),
        ("FLOWLOG_LOG_ANALYTICS_DCR_IMMUTABLE_ID", id),
        ("FLOWLOG_LOG_ANALYTICS_STREAM", "Custom-a/../b"),
    ]);
    assert!(e.contains("log_analytics.stream"), "{e}");
    let raw = load(Some(example), env(&[("FLOWLOG_OUTPUT_KIND", "kafka")])).unwrap();
    let e = Config::from_raw(raw, &Overrides::default()).unwrap_err().to_string();
    assert!(e.contains("output.kind"), "{e}");
}
