//! The core's integration tests, natively and on wasm32.
//!
//! One test binary (one link, one build of the shared generic code) with a
//! module per area: `cargo test --test integration <module>::` runs one area.

mod api;
mod common;
mod concurrent;
mod concurrent_edges;
mod conformance;
mod determinism;
mod f16;
mod format;
mod graph_props;
mod ivf;
mod kmeans;
mod limits;
mod props;
mod quant;
mod remote;
mod reorder;
mod resumable;
mod wasm;
