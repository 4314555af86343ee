//! What the commands print: lines on stdout, pretty JSON, and memory
//! figures as JSON or text.
//!
//! Everything goes through [`line`] (or the [`outln!`](crate::outln)
//! macro), never `println!`, which panics when stdout is closed: a closed
//! stdout is [`CliError::BrokenPipe`], which ends the command quietly.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::error::{CliError, CliResult};
use crate::mem::{self, MemoryUsage};

/// Writes `args` and a newline to stdout.
pub fn line(args: std::fmt::Arguments) -> CliResult<()> {
    writeln!(io::stdout().lock(), "{args}").map_err(stdout_error)
}

/// Flushes stdout (at the end of a command).
pub fn flush() -> CliResult<()> {
    io::stdout().flush().map_err(stdout_error)
}

fn stdout_error(e: io::Error) -> CliError {
    match e.kind() {
        io::ErrorKind::BrokenPipe => CliError::BrokenPipe,
        _ => CliError::Message(format!("writing to stdout: {e}")),
    }
}

/// `println!` for the commands: formats a line onto stdout and returns
/// from the calling function with the error if stdout is closed.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))?
    };
}

/// Prints `v` as indented JSON on stdout.
pub fn print_json(v: &Value) -> CliResult<()> {
    line(format_args!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_default()
    ))
}

/// Memory figures as a JSON object, or `null` where they cannot be read.
pub fn mem_json(m: Option<MemoryUsage>) -> Value {
    match m {
        Some(m) => {
            json!({"rss_bytes": m.rss_bytes, "private_bytes": m.private_bytes, "file_bytes": m.file_bytes})
        }
        None => Value::Null,
    }
}

/// Memory figures as `"<rss> (<private> private)"`, or `n/a`.
pub fn mem_text(m: Option<MemoryUsage>) -> String {
    match m {
        Some(m) => format!(
            "{} ({} private)",
            mem::human(m.rss_bytes),
            mem::human(m.private_bytes)
        ),
        None => "n/a".into(),
    }
}
