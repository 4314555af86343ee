//! Running the `vectrove` binary, shared by the end-to-end tests.

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
