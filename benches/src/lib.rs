//! Shared helpers of the benchmarks: the data (debian-384 through
//! `vectrove-testkit`, or seeded synthetic vectors when it is absent), the
//! rust-cv `hnsw` peer behind a small wrapper, and the recall/QPS curve
//! summaries the sweep prints.

pub mod curve;
pub mod data;
pub mod peer;

pub use vectrove_testkit::Debian;
