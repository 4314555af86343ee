//! `vectrove`: build, search, benchmark and inspect vector indexes from the
//! command line. Run `vectrove --help`.

mod args;
mod commands;
mod error;
mod input;
mod mem;
mod open;
mod output;
mod plot;
mod progress;
mod remote;
mod synth;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use error::{CliError, report};

// Large buffers (vectors, graphs) on transparent huge pages: fewer TLB
// misses in searches and builds.
#[global_allocator]
static ALLOC: vectrove::HugePages = vectrove::HugePages;

/// Whether the arguments ask for JSON output: `--json` anywhere before a
/// `--` (every command takes it). Looked at before parsing, so that an
/// error in the arguments themselves is JSON too.
fn wants_json(args: impl IntoIterator<Item = OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

fn main() -> ExitCode {
    let json = wants_json(std::env::args_os());
    error::one_line_panics(json);
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = !matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            );
            if !(json && usage) {
                e.exit();
            }
            // clap's first line is the problem; the rest is usage and hints.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            report(
                first.strip_prefix("error: ").unwrap_or(first),
                "usage",
                true,
            );
            return ExitCode::from(2);
        }
    };
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
            report(&msg, "failed", json);
            ExitCode::FAILURE
        }
    }
}
