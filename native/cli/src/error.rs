//! How a command fails: a line of text for the user, or a closed stdout.

use std::io::Write;
use std::path::Path;

/// Why a command stopped.
pub enum CliError {
    /// A one-line error for the user.
    Message(String),
    /// Stdout was closed before everything was written (`vectrove info x |
    /// head -1`): nothing to report, the reader has what it wanted.
    BrokenPipe,
}

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError::Message(e.to_string())
    }
}

/// What every command returns.
pub type CliResult<T> = Result<T, CliError>;

/// Fails with `msg`.
pub fn fail<T>(msg: impl Into<String>) -> CliResult<T> {
    Err(CliError::Message(msg.into()))
}

/// Puts the path in front of an error that does not name it.
pub fn with_context<T, E: std::fmt::Display>(r: Result<T, E>, path: &Path) -> CliResult<T> {
    r.map_err(|e| {
        let (msg, p) = (e.to_string(), path.display().to_string());
        CliError::Message(match msg.starts_with(&format!("{p}: ")) {
            true => msg,
            false => format!("{p}: {msg}"),
        })
    })
}

/// Reports a panic as one line on stderr, like every other error, instead of
/// the default message and backtrace hint.
pub fn one_line_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown")
            .replace('\n', " ");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        // Not `eprintln!`, which panics (inside the hook: aborts) when
        // stderr is closed.
        let _ = writeln!(std::io::stderr(), "vectrove: internal error{at}: {msg}");
    }));
}
