//! The `flowlog` binary: parses the command line once and hands typed arguments to the library.
use std::process::ExitCode;

use clap::Parser;
use flowlog::app::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flowlog: {e:#}");
            match e.downcast_ref::<flowlog::app::daemon::Incomplete>() {
                Some(_) => ExitCode::from(flowlog::app::daemon::Incomplete::EXIT_CODE),
                None => ExitCode::FAILURE,
            }
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => {
            runtime()?.block_on(flowlog::app::cli::run::run(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => {
            let passed = runtime()?.block_on(flowlog::app::cli::run::check(args))?;
            Ok(if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Backfill(args) => {
            runtime()?.block_on(flowlog::app::cli::run::backfill(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate(args) => {
            runtime()?.block_on(flowlog::app::simulate::run(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Flatten(args) => {
            let summary = flowlog::app::cli::flatten::run(&args)?;
            if !summary.ok() {
                eprintln!("flowlog flatten: {summary}");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            let fields: Vec<_> = flowlog::domain::row::schema::FIELDS
                .iter()
                .map(|f| serde_json::json!({"name": f.name, "type": f.ty.kusto(), "nullable": f.nullable, "produced_by": f.source.describe()}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&fields)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
