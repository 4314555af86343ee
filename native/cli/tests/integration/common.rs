//! Running the `vectrove` binary, shared by the end-to-end tests.

use std::path::Path;
use std::process::{Command, Output};

/// Run the binary with `args`.
pub fn vectrove(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vectrove"))
        .args(args)
        .output()
        .expect("run the vectrove binary")
}

/// Run a command that must succeed and return its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = vectrove(args);
    assert!(
        out.status.success(),
        "vectrove {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A path as the `&str` argument the binary takes.
#[allow(dead_code)]
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run a command that must fail with exit code 1 and return its one line
/// of stderr (not a panic reported as an internal error).
#[allow(dead_code)]
pub fn err(args: &[&str]) -> String {
    let out = vectrove(args);
    assert_eq!(out.status.code(), Some(1), "vectrove {args:?} should fail");
    let msg = String::from_utf8(out.stderr).unwrap();
    assert_eq!(msg.trim_end().lines().count(), 1, "not one line: {msg}");
    assert!(
        !msg.contains("panicked") && !msg.starts_with("vectrove: internal error"),
        "{msg}"
    );
    msg
}
