//! `vectrove`: build, search, benchmark and inspect vector indexes from the
//! command line. Run `vectrove --help`.

mod args;
mod commands;
mod error;
mod mem;
mod open;
mod output;
mod plot;
mod progress;
mod synth;

use std::process::ExitCode;

use clap::Parser;

use error::CliError;

fn main() -> ExitCode {
    error::one_line_panics();
    let cli = commands::Cli::parse();
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(msg)) => {
            eprintln!("vectrove: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
