//! Integration tests on the debian-384 embeddings, across crates.
//!
//! One test binary (one link, one build of the shared generic code) with a
//! module per area: `cargo test --test debian <module>::` runs one area.

mod debian_ivf;
mod debian_kmeans;
mod debian_recall;
