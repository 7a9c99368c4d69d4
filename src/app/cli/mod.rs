//! Command-line interface: argument types and the dispatch of each subcommand.
pub mod flatten;
pub mod run;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "flowlog", version, about = "Streams Azure NSG and VNet flow logs into analytics in near real time")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the pipeline: locally on a watched directory (default), or on Azure with `[input]` configured.
    Run(run::RunArgs),
    /// Try every dependency the configuration names (the same settings as `run`) and print one
    /// line per check: what answered, or the cause and the fix. Exit code 0 only when all pass.
    Check(run::CheckArgs),
    /// Process every existing blob under a prefix from its stored offset (onboarding, recovery).
    Backfill(run::BackfillArgs),
    /// Write synthetic flow logs laid out and appended exactly as Azure does.
    Simulate(crate::app::simulate::SimulateArgs),
    /// Flatten flow-log files into rows (NDJSON or CSV) on stdout.
    Flatten(flatten::FlattenArgs),
    /// Print the row schema as JSON: each field's name, Data Explorer type, whether it may be
    /// null, and what produces it (`flow log`, `always`, or the `[enrich]` setting).
    Schema,
}
