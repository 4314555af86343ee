//! The native crate's integration tests: real files, mmap, temporary spill files.
//!
//! One test binary (one link, one build of the shared generic code) with a
//! module per area: `cargo test --test integration <module>::` runs one area.

mod codes;
mod f16;
mod index_file;
mod kmeans;
#[cfg(feature = "remote")]
mod remote;
mod stores;
mod writable;
