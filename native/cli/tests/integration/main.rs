//! The CLI's tests: they run the built binary as users do.
//!
//! One test binary (one link, one build of the shared generic code) with a
//! module per area: `cargo test --test integration <module>::` runs one area.

mod ann;
mod cli;
mod common;
mod compact;
mod f16;
mod remote;
mod reorder;
