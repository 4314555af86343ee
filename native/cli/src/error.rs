//! The one kind of failure the commands report: a line of text for the user.

use std::path::Path;

/// A one-line error for the user.
pub struct CliError(pub String);

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

/// What every command returns.
pub type CliResult<T> = Result<T, CliError>;

/// Fails with `msg`.
pub fn fail<T>(msg: impl Into<String>) -> CliResult<T> {
    Err(CliError(msg.into()))
}

/// Puts the path in front of an error that does not name it.
pub fn with_context<T, E: std::fmt::Display>(r: Result<T, E>, path: &Path) -> CliResult<T> {
    r.map_err(|e| CliError(format!("{}: {e}", path.display())))
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
        eprintln!("vectrove: internal error{at}: {msg}");
    }));
}
