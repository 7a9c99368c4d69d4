//! Configuration layering and validation.
use super::*;

mod sections;

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn write(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

#[test]
fn defaults_are_the_local_mode() {
    let cfg = Config::from_raw(RawConfig::default(), &Overrides::default()).unwrap();
    let Mode::Local(l) = cfg.mode else { panic!("local expected") };
    assert_eq!((l.watch, l.state, l.out), (PathBuf::from("./flowlogs"), PathBuf::from("./.flowlog"), Output::Stdout));
    assert_eq!(cfg.server.listen, None);
}

#[test]
fn file_then_env_then_flags() {
    let f = write(
        "[local]\nwatch = \"from-file\"\nstate = \"state-file\"\nout = \"rows.ndjson\"\n[engine]\nflush_bytes = 100\n",
    );
    let raw = load(
        Some(f.path()),
        env(&[("FLOWLOG_LOCAL_STATE", "state-env"), ("FLOWLOG_ENGINE_BLOB_CONCURRENCY", "9"), ("PATH", "/bin")]),
    )
    .unwrap();
    let o = Overrides { out: Some("-".into()), ..Default::default() };
    let cfg = Config::from_raw(raw, &o).unwrap();
    let Mode::Local(l) = cfg.mode else { panic!() };
    assert_eq!(l.watch, PathBuf::from("from-file"));
    assert_eq!(l.state, PathBuf::from("state-env"));
    assert_eq!(l.out, Output::Stdout);
    assert_eq!((cfg.engine.flush_bytes, cfg.engine.blob_concurrency), (100, 9));
}

#[test]
fn shipped_example_configs_parse() {
    let raw = load(Some(std::path::Path::new("deploy/config/local.example.toml")), env(&[])).unwrap();
    assert!(matches!(Config::from_raw(raw, &Overrides::default()).unwrap().mode, Mode::Local(_)));
    let raw = load(Some(std::path::Path::new("deploy/config/azure.example.toml")), env(&[])).unwrap();
    let cfg = Config::from_raw(raw, &Overrides::default()).unwrap();
    let Mode::Azure(a) = cfg.mode else { panic!("azure expected") };
    assert_eq!(
        (a.input.hub.as_str(), a.output_hub().unwrap().hub.as_str(), a.consumer_group.as_str()),
        ("flowlog-input", "flowlog-rows", "flowlog")
    );
    assert!(a.offsets_secret.sas.is_none() && a.offsets_secret.account_key.is_none(), "Entra ID by default");
    assert!(a.processor.start_earliest);
    assert_eq!(a.allowed_sources.len(), 2);
}

#[test]
fn errors_name_the_setting() {
    let f = write("[local]\nwatch_dir = \"x\"\n");
    let e = load(Some(f.path()), env(&[])).unwrap_err().to_string();
    assert!(e.contains("watch_dir"), "{e}");
    let e = load(None, env(&[("FLOWLOG_NOSUCH_KEY", "1")])).unwrap_err().to_string();
    assert!(e.contains("FLOWLOG_NOSUCH_KEY"), "{e}");
    let raw = load(None, env(&[("FLOWLOG_INPUT_HUB", "h")])).unwrap();
    let e = Config::from_raw(raw, &Overrides::default()).unwrap_err().to_string();
    assert!(e.contains("sources.allowed"), "{e}");
    let raw = load(None, env(&[("FLOWLOG_ENGINE_FLUSH_BYTES", "0")])).unwrap();
    assert!(Config::from_raw(raw, &Overrides::default()).unwrap_err().to_string().contains("engine.flush_bytes"));
    let o = Overrides { listen: Some("nonsense".into()), ..Default::default() };
    assert!(Config::from_raw(RawConfig::default(), &o).unwrap_err().to_string().contains("server.listen"));
}

#[test]
fn secrets_come_only_from_env_or_files_and_never_print() {
    let f = write("[offsets]\naccount_key = \"abc\"\n");
    let e = load(Some(f.path()), env(&[])).unwrap_err().to_string();
    assert!(e.contains("FLOWLOG_OFFSETS_ACCOUNT_KEY") && !e.contains("abc"), "{e}");
    let raw = load(None, env(&[("FLOWLOG_OFFSETS_ACCOUNT_KEY", "s3cr3t-key")])).unwrap();
    assert_eq!(raw.offsets.as_ref().unwrap().account_key.as_ref().unwrap().expose(), "s3cr3t-key");
    assert!(!format!("{raw:?}").contains("s3cr3t"));
}

#[test]
fn plain_http_only_on_loopback() {
    let base = "[input]\nnamespace=\"n\"\nhub=\"h\"\n[checkpoints]\naccount_url=\"URL\"\ncontainer=\"c\"\n[offsets]\naccount_url=\"https://a.table.core.windows.net\"\ntable=\"t\"\n[sources]\nallowed=[\"https://a.blob.core.windows.net/c\"]\n[output]\nnamespace=\"n\"\nhub=\"o\"\n[dead_letter]\naccount_url=\"https://a.blob.core.windows.net\"\ncontainer=\"d\"\n";
    let ok = write(&base.replace("URL", "http://127.0.0.1:10000/devstoreaccount1"));
    assert!(Config::from_raw(load(Some(ok.path()), env(&[])).unwrap(), &Overrides::default()).is_ok());
    let bad = write(&base.replace("URL", "http://example.com"));
    let e = Config::from_raw(load(Some(bad.path()), env(&[])).unwrap(), &Overrides::default()).unwrap_err();
    assert!(e.to_string().contains("checkpoints.account_url"), "{e}");
}

#[test]
fn every_documented_key_is_accepted_from_the_environment_and_listed_in_help() {
    use super::file::{SECRET_KEYS, SECTIONS, settings_help};
    let help = settings_help();
    for s in SECTIONS {
        for key in s.keys {
            let name = format!("FLOWLOG_{}_{}", s.name.to_ascii_uppercase(), key.to_ascii_uppercase());
            // A value of the wrong type is fine here; an unknown key is the failure looked for.
            let err = load(None, env(&[(&name, "1")])).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!err.contains("unknown field"), "{name}: {err}");
            if !SECRET_KEYS.contains(key) {
                assert!(help.contains(key), "--help does not list {}.{key}", s.name);
            }
        }
    }
    let err = load(None, env(&[("FLOWLOG_OUTPUT_NOPE", "1")])).unwrap_err().to_string();
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn secrets_never_appear_in_configuration_errors() {
    // A syntax error on a line holding a secret: the position is given, the line is not.
    let f = write("[offsets]\naccount_url = \"https://a.table.core.windows.net\" sas = \"sv=TOPSECRET\"\n");
    let err = format!("{:#}", load(Some(f.path()), env(&[])).unwrap_err());
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains("TOPSECRET"), "{err}");
    // A secret that looks like a number is a string, not a type error quoting it.
    let raw = load(None, env(&[("FLOWLOG_OFFSETS_ACCOUNT_KEY", "123456789")])).unwrap();
    assert_eq!(raw.offsets.unwrap().account_key.unwrap().expose(), "123456789");
    let raw = load(None, env(&[("FLOWLOG_INPUT_TOKEN_FILE", "2024")])).unwrap();
    assert_eq!(raw.input.unwrap().token_file.as_deref(), Some("2024"));
}

#[test]
fn every_numeric_setting_is_range_checked_at_start() {
    for (var, value, needle) in [
        ("FLOWLOG_OFFSETS_RETENTION_DAYS", "999999999999", "offsets.retention_days"),
        ("FLOWLOG_OFFSETS_RETENTION_DAYS", "0", "offsets.retention_days"),
        ("FLOWLOG_LOCAL_POLL_INTERVAL_MS", "0", "local.poll_interval_ms"),
        ("FLOWLOG_ENGINE_RETRY_MIN_DELAY_MS", "5000", "engine.retry_min_delay_ms"),
        ("FLOWLOG_ENGINE_PENDING_INTERVAL_SECS", "0", "engine.pending_interval_secs"),
        ("FLOWLOG_ENGINE_STALL_AFTER_SECS", "0", "engine.stall_after_secs"),
        ("FLOWLOG_SERVER_SHUTDOWN_DEADLINE_SECS", "0", "server.shutdown_deadline_secs"),
        ("FLOWLOG_ENGINE_FLUSH_BYTES", "0", "engine.flush_bytes"),
        ("FLOWLOG_OUTPUT_LINGER_MS", "60001", "output.linger_ms"),
        ("FLOWLOG_OUTPUT_BACKLOG_LINGER_MS", "60001", "output.backlog_linger_ms"),
        ("FLOWLOG_OUTPUT_MAX_EVENTS_IN_FLIGHT", "0", "output.max_events_in_flight"),
    ] {
        let mut vars = vec![(var, value)];
        if var == "FLOWLOG_ENGINE_RETRY_MIN_DELAY_MS" {
            vars.push(("FLOWLOG_ENGINE_RETRY_MAX_DELAY_MS", "1000"));
        }
        let raw = load(None, env(&vars)).unwrap();
        let err = Config::from_raw(raw, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains(needle), "{var}={value}: {err}");
    }
}

/// The example's lines by section, with `# key = value` examples uncommented.
fn example_keys(text: &str) -> (Vec<String>, String) {
    let mut section = String::new();
    let (mut keys, mut uncommented) = (Vec::new(), String::new());
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        }
        let setting = line.strip_prefix("# ").filter(|l| l.contains(" = ")).unwrap_or(line);
        if let Some((key, _)) = setting.split_once(" = ")
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            keys.push(format!("{section}.{key}"));
            uncommented.push_str(setting);
        } else {
            uncommented.push_str(line);
        }
        uncommented.push('\n');
    }
    (keys, uncommented)
}

#[test]
fn the_local_example_documents_every_setting_local_mode_reads_and_no_other() {
    let text = std::fs::read_to_string("deploy/config/local.example.toml").unwrap();
    let (documented, uncommented) = example_keys(&text);
    let read = file::local_mode_keys();
    for key in &read {
        assert!(documented.contains(key), "deploy/config/local.example.toml does not document {key}");
    }
    // The list is the parser's: every key in it is one the parser accepts.
    for key in &read {
        let (section, name) = key.split_once('.').unwrap();
        let s = file::SECTIONS.iter().find(|s| s.name == section).unwrap();
        assert!(s.keys.contains(&name), "{key} is not a setting");
    }
    // Every example, commented out or not, is valid and read in local mode.
    let f = write(&uncommented);
    let cfg = Config::from_raw(load(Some(f.path()), env(&[])).unwrap(), &Overrides::default()).unwrap();
    assert!(matches!(cfg.mode, Mode::Local(_)));
    assert_eq!(cfg.ignored, Vec::<String>::new());
    assert_eq!(cfg.progress, Some(Duration::from_secs(60)));
}

#[test]
fn a_key_typo_in_the_file_names_the_file_and_line() {
    let f = write("[local]\nwatch = \"logs\"\n\n[engine]\nflush_bytes = 1000\nblob_concurency = 2\n");
    let e = format!("{:#}", load(Some(f.path()), env(&[])).unwrap_err());
    assert!(e.contains(&f.path().display().to_string()), "{e}");
    assert!(e.contains("line 6") && e.contains("blob_concurency"), "{e}");
    // A type error too; the environment's own mistakes still name the variable.
    let f = write("[engine]\nflush_bytes = \"big\"\n");
    let e = format!("{:#}", load(Some(f.path()), env(&[])).unwrap_err());
    assert!(e.contains("line 2"), "{e}");
    let f = write("[engine]\nflush_bytes = 1000\n");
    let e = format!("{:#}", load(Some(f.path()), env(&[("FLOWLOG_LOCAL_WATCHDIR", "x")])).unwrap_err());
    assert!(e.contains("FLOWLOG_LOCAL_WATCHDIR"), "{e}");
}

#[test]
fn the_progress_interval_is_range_checked_and_zero_turns_it_off() {
    let raw = load(None, env(&[("FLOWLOG_LOG_PROGRESS_INTERVAL_SECS", "0")])).unwrap();
    assert_eq!(Config::from_raw(raw, &Overrides::default()).unwrap().progress, None);
    let raw = load(None, env(&[("FLOWLOG_LOG_PROGRESS_INTERVAL_SECS", "86401")])).unwrap();
    let e = Config::from_raw(raw, &Overrides::default()).unwrap_err().to_string();
    assert!(e.contains("log.progress_interval_secs"), "{e}");
}
