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
mod remote;
mod synth;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use error::CliError;

fn main() -> ExitCode {
    error::one_line_panics();
    let cli = commands::Cli::parse();
    let result = commands::run(cli.command).and_then(|()| output::flush());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Rust ignores SIGPIPE, so a closed stdout makes writes fail
        // instead of killing the process (which a shell reports as 141).
        // Like ripgrep, stop quietly and successfully: the command's work
        // (an index or ids written to a file) is done, and the reader of
        // stdout chose to stop reading.
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(CliError::Message(msg)) => {
            // Ignoring a closed stderr: there is nowhere left to say it.
            let _ = writeln!(std::io::stderr(), "vectrove: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
