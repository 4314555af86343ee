//! How a command fails: a line of text for the user, or a closed stdout.
//!
//! Errors go to stderr as one line: `vectrove: error: <message>`, or under
//! `--json` one JSON object, `{"error": "<message>", "kind": "<kind>"}`,
//! where the kind is `usage` (the arguments, exit code 2), `failed` (the
//! command could not do its work: bad input, I/O, exit code 1) or
//! `internal` (a bug, exit code 101).

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

/// Writes the error `msg` of `kind` to stderr as one line: JSON under
/// `--json`, text otherwise. A closed stderr is ignored: there is nowhere
/// left to say it.
pub fn report(msg: &str, kind: &str, json: bool) {
    let msg = msg.replace('\n', " ");
    let line = if json {
        serde_json::json!({ "error": msg, "kind": kind }).to_string()
    } else if kind == "internal" {
        format!(
            "vectrove: internal error{}",
            msg.strip_prefix("internal error").unwrap_or(&msg)
        )
    } else {
        format!("vectrove: error: {msg}")
    };
    // Not `eprintln!`, which panics (inside the panic hook: aborts) when
    // stderr is closed.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Reports a panic as one line on stderr (JSON with `json`), like every
/// other error, instead of the default message and backtrace hint.
pub fn one_line_panics(json: bool) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        report(&format!("internal error{at}: {msg}"), "internal", json);
    }));
}
