//! The `eventhubs-emulator` binary: serves the configured hubs on `--listen`, optionally the HTTP
//! control API on `--control`, and prints the counters as JSON on exit (Ctrl-C / SIGTERM);
//! `eventhubs-emulator dump` prints what a running emulator's hub holds; `eventhubs-emulator
//! logs-ingestion` serves a fake Logs Ingestion API instead.

mod dump;

use clap::Parser;
use eventhubs_emulator::{Emulator, EmulatorConfig, HubConfig, Rules, http};
use std::io::Write;
use std::path::PathBuf;

/// Event Hubs emulator for flowlog's tests (AMQP 1.0 on plain amqp://).
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on, e.g. 127.0.0.1:5672 (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:5672")]
    listen: String,
    /// A hub as NAME:PARTITIONS; repeat for more hubs.
    #[arg(long = "hub", value_parser = HubConfig::parse, required = true)]
    hubs: Vec<HubConfig>,
    /// An extra consumer group as HUB:NAME ($Default always exists); repeatable.
    #[arg(long = "consumer-group")]
    consumer_groups: Vec<String>,
    /// Persist partitions in this directory and reload them on start.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Require this token on $cbs put-token (others get 401).
    #[arg(long)]
    required_token: Option<String>,
    /// Max message size in bytes advertised and enforced on publishing links (default: the
    /// tier's).
    #[arg(long)]
    max_message_size: Option<u64>,
    /// The tier whose publication size limit applies: basic (256 KB), standard, premium or
    /// dedicated (1 MB).
    #[arg(long, default_value = "standard")]
    tier: String,
    /// The service rules to enforce: default, strict or lenient, optionally followed by
    /// switches such as ",-cbs" or ",-token" (see the README's rules table).
    #[arg(long, default_value = "default", value_parser = Rules::parse)]
    rules: Rules,
    /// Owner level assumed for receivers that attach without one (SDK 0.15 never sends it);
    /// e.g. 0 to make EventProcessor instances steal partitions from each other.
    #[arg(long)]
    default_owner_level: Option<i64>,
    /// Serve the HTTP control API (faults, counters, stored events) on this address.
    #[arg(long)]
    control: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the events a hub of a running emulator holds (bodies, gunzipped; or --events).
    Dump(dump::DumpArgs),
    /// Serve a fake Azure Monitor Logs Ingestion API (see the crate's `logs_ingestion` module).
    LogsIngestion(LogsIngestionArgs),
}

#[derive(Debug, clap::Args)]
struct LogsIngestionArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: String,
    /// The data collection rule's immutable id the fake knows.
    #[arg(long, default_value = "dcr-00000000000000000000000000000001")]
    dcr: String,
    /// The stream the rule declares.
    #[arg(long, default_value = "Custom-FlowlogRows")]
    stream: String,
    /// Largest body accepted, as sent and decoded (the documented 1 MB).
    #[arg(long, default_value_t = eventhubs_emulator::logs_ingestion::DEFAULT_MAX_BODY)]
    max_body: usize,
}

/// `logs-ingestion`: serves until SIGTERM/Ctrl-C; prints the endpoint once it accepts.
async fn logs_ingestion(args: &LogsIngestionArgs) -> anyhow::Result<()> {
    use eventhubs_emulator::logs_ingestion::{LogsIngestion, LogsIngestionConfig};
    let config = LogsIngestionConfig {
        dcr_immutable_id: args.dcr.clone(),
        stream: args.stream.clone(),
        max_body: args.max_body,
    };
    let fake = LogsIngestion::start(config, &args.listen).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "logs ingestion on {}", fake.endpoint())?;
    stdout.flush()?;
    terminated().await;
    writeln!(stdout, "{} rows stored in {} calls", fake.rows().len(), fake.calls().len())?;
    Ok(())
}

/// The largest publication a tier accepts (Event Hubs quotas: 256 KB on Basic, 1 MB otherwise).
fn tier_limit(tier: &str) -> anyhow::Result<u64> {
    match tier.to_ascii_lowercase().as_str() {
        "basic" => Ok(256 * 1024),
        "standard" | "premium" | "dedicated" => Ok(eventhubs_emulator::STANDARD_MAX_MESSAGE_SIZE),
        other => anyhow::bail!("unknown tier {other:?} (basic, standard, premium or dedicated)"),
    }
}

fn config(args: &Args) -> anyhow::Result<EmulatorConfig> {
    let mut hubs = args.hubs.clone();
    for spec in &args.consumer_groups {
        let (hub, group) =
            spec.split_once(':').ok_or_else(|| anyhow::anyhow!("--consumer-group expects HUB:NAME, got {spec:?}"))?;
        let hub = hubs
            .iter_mut()
            .find(|h| h.name.eq_ignore_ascii_case(hub))
            .ok_or_else(|| anyhow::anyhow!("--consumer-group {spec:?}: no hub {hub:?}"))?;
        hub.consumer_groups.push(group.to_string());
    }
    let mut config = EmulatorConfig::new(hubs);
    config.data_dir = args.data_dir.clone();
    config.required_token = args.required_token.clone();
    config.max_message_size = match args.max_message_size {
        Some(bytes) => bytes,
        None => tier_limit(&args.tier)?,
    };
    config.rules = args.rules.clone();
    config.default_owner_level = args.default_owner_level;
    Ok(config)
}

async fn terminated() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match &args.command {
        Some(Command::Dump(dump)) => return dump::run(dump),
        Some(Command::LogsIngestion(li)) => return logs_ingestion(li).await,
        None => {}
    }
    let emulator = Emulator::start(config(&args)?, args.listen.as_str()).await?;
    let mut stdout = std::io::stdout();
    if let Some(addr) = &args.control {
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
        writeln!(stdout, "control on http://{}", listener.local_addr()?)?;
        tokio::spawn(http::serve(listener, emulator.control(), emulator.store_reader()));
    }
    // Printed last: once this line is out, both the AMQP and the control listener accept.
    writeln!(stdout, "listening on {}", emulator.endpoint())?;
    stdout.flush()?;
    terminated().await;
    let counters = emulator.control().counters();
    emulator.shutdown().await;
    writeln!(stdout, "{}", serde_json::to_string(&counters)?)?;
    stdout.flush()?;
    Ok(())
}
