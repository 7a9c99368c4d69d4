//! `flowlog check` against the local stack (Azurite and the in-process Event Hubs emulator):
//! it passes on a good configuration, and for each misconfiguration the line of the check that
//! fails names the cause. The daemon's start runs the same probes: pointed at an endpoint that
//! refuses connections it logs an ERROR naming it, and `/readyz` lists it meanwhile.
mod common;
#[path = "common/eventhubs.rs"]
mod hubs;
#[path = "common/azure_stack.rs"]
mod stack;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stack::{Proc, Stack, assert_succeeds, exit_of, free_port, http_get, signal, stack};

/// Bound on one `flowlog check` run: every check has a 2-3 s limit and they run concurrently.
const CHECK_BOUND: Duration = Duration::from_secs(90);

/// A stack whose flow-log containers exist (flow logging creates them with the first log).
async fn good_stack() -> Stack {
    let s = stack().await;
    for c in [stack::NSG, stack::VNET] {
        // Another test may have created it already: only existence matters.
        let _ = common::admin_container(c).create(None).await;
    }
    s
}

fn edit(config: &PathBuf, from: &str, to: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains(from), "the configuration holds {from:?}:\n{text}");
    std::fs::write(config, text.replacen(from, to, 1)).unwrap();
}

/// Runs `flowlog check --config CONFIG --timeout SECS ARGS` with `env`; returns whether it
/// exited 0, and its stdout.
/// (A variable given `None` is removed.)
async fn check(s: &Stack, config: &PathBuf, args: &[&str], env: &[(&str, Option<&str>)]) -> (bool, String) {
    let mut cmd = s.command(&["check"], config);
    cmd.args(["--timeout", "3"]).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let waited = tokio::time::timeout(CHECK_BOUND, tokio::task::spawn_blocking(move || child.wait_with_output())).await;
    let Ok(output) = waited else {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        panic!("flowlog check did not end within {CHECK_BOUND:?}");
    };
    let output = output.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("flowlog check {args:?}:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.success(), stdout)
}

/// The report's line for check `name` (the first one), which must exist.
fn line<'a>(report: &'a str, mark: &str, name: &str) -> &'a str {
    let prefix = format!("{mark} {name} ");
    report
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{report}"))
}

fn refused_url() -> String {
    format!("http://127.0.0.1:{}/devstoreaccount1", free_port())
}

/// A port that accepts connections and never answers: a black hole.
async fn black_hole() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_on_the_local_stack_and_creates_only_when_asked() {
    let s = good_stack().await;
    let config = s.config("good", free_port());
    // Fresh table and containers: missing until created, and named as such.
    let (ok, report) = check(&s, &config, &[], &[]).await;
    assert!(!ok, "a missing offsets table is reported:\n{report}");
    let table = line(&report, "✘", "offsets table");
    assert!(table.contains(&format!("table {} does not exist", s.table)) && table.contains("--create"), "{table}");
    let (ok, report) = check(&s, &config, &["--create"], &[]).await;
    assert!(ok, "every check passes once created:\n{report}");
    assert!(line(&report, "✔", "offsets table").contains("created; a compare-and-swap round trip"), "{report}");
    let (ok, report) = check(&s, &config, &["--json"], &[]).await;
    assert!(ok, "and passes again without --create:\n{report}");
    let v: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(v["ok"], true);
    let names: Vec<&str> = v["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "enrichment",
            "credential",
            "offsets table",
            "dead-letter container",
            "output hub",
            "checkpoint container",
            "input hub",
            "consumer group",
            "source container",
            "source container"
        ],
        "every dependency, in the order the daemon needs them"
    );
    let credential = &v["checks"][1]["detail"];
    assert!(credential.as_str().unwrap().starts_with("no Entra ID token needed"), "{credential}");
    assert!(v["checks"][4]["detail"].as_str().unwrap().contains("max message size"), "{}", v["checks"][4]);
    assert_eq!(v["checks"][6]["detail"], "4 partitions");
    // The scratch entities are gone: a sweep of everything finds nothing to delete.
    let offsets = s.offsets().await;
    assert_eq!(flowlog::pipeline::offset_store::OffsetStore::sweep(&offsets, i64::MAX).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_account_key_is_named_with_its_variable() {
    let s = good_stack().await;
    let config = s.config("key", free_port());
    let wrong = "d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3dw==";
    let (ok, report) = check(&s, &config, &["--create"], &[("FLOWLOG_OFFSETS_ACCOUNT_KEY", Some(wrong))]).await;
    assert!(!ok);
    let table = line(&report, "✘", "offsets table");
    assert!(table.contains(": 401 credential: "), "{table}");
    assert!(table.contains("the account key in FLOWLOG_OFFSETS_ACCOUNT_KEY"), "the fix names the variable: {table}");
    line(&report, "✔", "dead-letter container");
}

/// Without an account key the dead-letter container needs an Entra ID token: the credential
/// line says which credential was tried and how to make it answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_without_a_token_is_named_with_how_to_get_one() {
    let s = good_stack().await;
    let config = s.config("entra", free_port());
    let env = [
        ("FLOWLOG_DEAD_LETTER_ACCOUNT_KEY", None),
        ("FLOWLOG_AUTH_CREDENTIAL", Some("workload_identity")),
        ("AZURE_FEDERATED_TOKEN_FILE", None),
        ("AZURE_CLIENT_ID", None),
        ("AZURE_TENANT_ID", None),
    ];
    let (ok, report) = check(&s, &config, &["--create"], &env).await;
    assert!(!ok);
    let credential = line(&report, "✘", "credential");
    assert!(credential.contains("workload identity (tenant (unset), client id (unset))"), "{credential}");
    assert!(credential.contains("[auth.credential from FLOWLOG_AUTH_CREDENTIAL]"), "{credential}");
    assert!(credential.contains("AZURE_FEDERATED_TOKEN_FILE"), "the fix names what is missing: {credential}");
    line(&report, "✘", "dead-letter container");
    line(&report, "✔", "offsets table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_container_is_named() {
    let s = good_stack().await;
    let config = s.config("container", free_port());
    let missing = common::unique_name("nologs");
    edit(&config, &format!("/{}\"]", stack::VNET), &format!("/{missing}\"]"));
    let (ok, report) = check(&s, &config, &["--create"], &[]).await;
    assert!(!ok);
    let source =
        report.lines().find(|l| l.starts_with("✘ source container") && l.contains(&missing)).unwrap_or_else(|| {
            panic!("no failing line for {missing}:\n{report}");
        });
    assert!(source.contains("404 not found") && source.contains("sources.allowed"), "{source}");
    assert!(source.contains("flow logging has not written"), "{source}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_named_and_created_only_with_create() {
    let s = good_stack().await;
    let config = s.config("table", free_port());
    let (ok, report) = check(&s, &config, &[], &[]).await;
    assert!(!ok);
    let table = line(&report, "✘", "offsets table");
    assert!(table.contains("404 not found") && table.contains(&format!("table {} does not exist", s.table)), "{table}");
    assert!(table.contains("[offsets.table from"), "the setting is named: {table}");
    assert!(table.contains("every blob is read again"), "the fix says why a typo matters: {table}");
    let (ok, _) = check(&s, &config, &["--create"], &[]).await;
    assert!(ok, "--create makes it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_hub_is_named() {
    let s = good_stack().await;
    let config = s.config("hub", free_port());
    edit(&config, "hub = \"input\"", "hub = \"nohub\"");
    let (ok, report) = check(&s, &config, &["--create"], &[]).await;
    assert!(!ok);
    let hub = line(&report, "✘", "input hub");
    assert!(hub.contains("404 not found") && hub.contains("hub nohub does not exist"), "{hub}");
    assert!(hub.contains("[input.hub from"), "{hub}");
    line(&report, "–", "consumer group");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_consumer_group_is_named() {
    let s = good_stack().await;
    let config = s.config("group", free_port());
    edit(&config, "consumer_group = \"flowlog\"", "consumer_group = \"nogroup\"");
    let (ok, report) = check(&s, &config, &["--create"], &[]).await;
    assert!(!ok);
    line(&report, "✔", "input hub");
    let group = line(&report, "✘", "consumer group");
    assert!(group.contains("404 not found") && group.contains("consumer group nogroup does not exist"), "{group}");
    assert!(group.contains("[input.consumer_group from"), "{group}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_ports_unresolvable_hosts_and_tls_mismatches_are_named() {
    let s = good_stack().await;
    let config = s.config("refused", free_port());
    let table_url = refused_url();
    edit(
        &config,
        &format!("account_url = \"{}\"\ntable", s.table_url),
        &format!("account_url = \"{table_url}\"\ntable"),
    );
    let hub_port = free_port();
    edit(
        &config,
        &format!("endpoint = \"{}\"", s.emulator.endpoint()),
        &format!("endpoint = \"amqp://127.0.0.1:{hub_port}\""),
    );
    // A host that cannot resolve (RFC 6761 reserves .invalid), and TLS spoken to a plain port.
    edit(
        &config,
        &format!("[checkpoints]\naccount_url = \"{}\"", s.checkpoints_url),
        "[checkpoints]\naccount_url = \"https://nosuchaccount.blob.core.invalid\"",
    );
    let tls_url = s.blob_url.replace("http://", "https://");
    edit(
        &config,
        &format!("[dead_letter]\naccount_url = \"{}\"", s.blob_url),
        &format!("[dead_letter]\naccount_url = \"{tls_url}\""),
    );
    let (ok, report) = check(&s, &config, &["--create"], &[]).await;
    assert!(!ok);
    let dns = line(&report, "✘", "checkpoint container");
    assert!(dns.contains(": DNS: ") && dns.contains("the host in checkpoints.account_url does not resolve"), "{dns}");
    let tls = line(&report, "✘", "dead-letter container");
    assert!(tls.contains(": TLS: ") && tls.contains(&tls_url), "{tls}");
    let table = line(&report, "✘", "offsets table");
    assert!(table.contains(&table_url) && table.contains("connection refused"), "{table}");
    assert!(table.contains("[offsets.account_url from") && table.contains("port in offsets.account_url"), "{table}");
    let hub = line(&report, "✘", "input hub");
    assert!(hub.contains(&format!("127.0.0.1:{hub_port}")) && hub.contains("connection refused"), "{hub}");
    assert!(hub.contains("[input.endpoint from"), "{hub}");
    line(&report, "✔", "output hub");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_ports_time_out() {
    let s = good_stack().await;
    let config = s.config("hole", free_port());
    let (port, _hole) = black_hole().await;
    let url = format!("http://127.0.0.1:{port}/devstoreaccount1");
    edit(
        &config,
        &format!("[dead_letter]\naccount_url = \"{}\"", s.blob_url),
        &format!("[dead_letter]\naccount_url = \"{url}\""),
    );
    let output = format!("hub = \"rows\"\nendpoint = \"{}\"", s.emulator.endpoint());
    edit(&config, &output, &format!("hub = \"rows\"\nendpoint = \"amqp://127.0.0.1:{port}\""));
    let (ok, report) = check(&s, &config, &["--create"], &[]).await;
    assert!(!ok);
    let dead = line(&report, "✘", "dead-letter container");
    assert!(dead.contains(&url) && dead.contains(": timeout: "), "{dead}");
    let out = line(&report, "✘", "output hub");
    assert!(out.contains(&format!("127.0.0.1:{port}")) && out.contains(": timeout: "), "{out}");
    assert!(out.contains("firewall"), "the fix says what drops traffic: {out}");
    line(&report, "✔", "input hub");
}

/// The daemon's start: an endpoint refusing connections is a WARN at once and an ERROR naming
/// it within 10 s (a bound, not a measurement), `/readyz` lists it, and SIGTERM ends the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_names_a_refused_endpoint_and_readyz_lists_it() {
    let s = good_stack().await;
    let listen = free_port();
    let config = s.config("daemon", listen);
    let table_url = refused_url();
    edit(
        &config,
        &format!("account_url = \"{}\"\ntable", s.table_url),
        &format!("account_url = \"{table_url}\"\ntable"),
    );
    let log = s.dir.path().join("daemon.log");
    let file = std::fs::File::create(&log).unwrap();
    let spawned = Instant::now();
    let child = s.command(&["run"], &config).stderr(file).stdout(Stdio::null()).spawn().unwrap();
    let daemon = Proc(Some(child), Some(log.clone()));
    let error = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains("\"level\":\"ERROR\"") && l.contains(&table_url)) {
            break l.to_string();
        }
        assert!(spawned.elapsed() < Duration::from_secs(10), "no ERROR naming {table_url} within 10 s:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(error.contains("offsets.account_url") && error.contains("connection refused"), "{error}");
    let text = std::fs::read_to_string(&log).unwrap();
    let warn = text.lines().find(|l| l.contains("\"level\":\"WARN\"") && l.contains(&table_url));
    assert!(warn.is_some(), "the first failure is a WARN naming the endpoint:\n{text}");
    let (status, body) = http_get(listen, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("failing: offsets table") && body.contains(&table_url), "{body}");
    assert!(body.contains("(offsets.account_url): connection refused"), "{body}");
    signal(&daemon, "TERM");
    assert_succeeds(daemon, "a stop while waiting is a clean exit").await;
}

/// A failure retrying cannot fix ends the start at once with one ERROR naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_with_a_wrong_consumer_group_exits_naming_it() {
    let s = good_stack().await;
    let config = s.config("daemon-group", free_port());
    edit(&config, "consumer_group = \"flowlog\"", "consumer_group = \"nogroup\"");
    let log = s.dir.path().join("daemon-group.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = s.command(&["run"], &config).stderr(file).stdout(Stdio::null()).spawn().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), exit_of(Proc(Some(child), Some(log.clone()))))
        .await
        .expect("the daemon ends its start");
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("\"level\":\"ERROR\"")).collect();
    assert_eq!(errors.len(), 1, "one ERROR:\n{text}");
    assert!(errors[0].contains("input.consumer_group") && errors[0].contains("404 not found"), "{}", errors[0]);
}
