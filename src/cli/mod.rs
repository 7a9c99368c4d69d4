//! Command-line interface: argument types and the dispatch of each subcommand.
pub mod flatten;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "flowlog", version, about = "Streams Azure NSG and VNet flow logs into analytics in near real time")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Flatten flow-log files into rows (NDJSON or CSV) on stdout.
    Flatten(flatten::FlattenArgs),
    /// Print the row schema (field names and Data Explorer types) as JSON.
    Schema,
}
