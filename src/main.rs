//! The `flowlog` binary: parses the command line once and hands typed arguments to the library.
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use flowlog::app::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Not `eprintln!`: it panics when stderr is closed.
            let _ = writeln!(std::io::stderr(), "flowlog: {e:#}");
            match e.downcast_ref::<flowlog::app::daemon::Incomplete>() {
                Some(_) => ExitCode::from(flowlog::app::daemon::Incomplete::EXIT_CODE),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// Runs `work` on a fresh runtime. Once it has returned, a blocking task still running (a read
/// stuck in the kernel) is left behind after a short grace instead of keeping the process alive:
/// everything the command waits for has ended by then.
fn block_on<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    block_on_with(tokio::runtime::Builder::new_multi_thread(), work)
}

/// [`block_on`] for the daemon: one worker thread. Its work is mostly requests and wake-ups, which
/// a second worker only shares at the cost of waking it; flattening and compressing large inputs
/// move off the worker while they run (`flowlog::pipeline::engine::heavy`), on other cores.
/// `TOKIO_WORKER_THREADS`, which tokio reads, sets another count: quiet blobs then use more
/// cores of a replica, at more CPU per append.
fn block_on_daemon<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    block_on_with(builder, work)
}

fn block_on_with<T>(
    mut builder: tokio::runtime::Builder,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let runtime = builder.enable_all().build()?;
    let result = runtime.block_on(work);
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => {
            block_on_daemon(flowlog::app::cli::run::run(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => {
            let passed = block_on(flowlog::app::cli::run::check(args))?;
            Ok(if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Backfill(args) => {
            block_on(flowlog::app::cli::run::backfill(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate(args) => {
            block_on(flowlog::app::simulate::run(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Flatten(args) => {
            let summary = flowlog::app::cli::flatten::run(&args)?;
            if !summary.ok() {
                let _ = writeln!(std::io::stderr(), "flowlog flatten: {summary}");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            let fields: Vec<_> = flowlog::domain::row::schema::FIELDS
                .iter()
                .map(|f| serde_json::json!({"name": f.name, "type": f.ty.kusto(), "nullable": f.nullable, "produced_by": f.source.describe()}))
                .collect();
            let text = serde_json::to_string_pretty(&fields)?;
            match writeln!(std::io::stdout(), "{text}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                // Ok, or the reader took what it wanted (`flowlog schema | head`): not an error.
                _ => Ok(ExitCode::SUCCESS),
            }
        }
    }
}
