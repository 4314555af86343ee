//! What vectrove's tests and benchmarks share, written once: the texmex
//! vector files, the debian-384 data set, exact neighbours, recall, and
//! small seeded data sets and indexes.
//!
//! | need | use |
//! |---|---|
//! | `.fvecs` / `.ivecs` bytes | [`parse_fvecs`], [`parse_ivecs`] (natively also [`read_fvecs`], [`read_ivecs`] from a path) |
//! | the real data | [`Debian::load`], [`debian_dir`] (natively) |
//! | ground truth | [`exact_ids`], over [`vectrove_core::exact_knn`] |
//! | recall@k | [`recall`] of result lists, [`hnsw_recall`] of an index; both through [`vectrove_core::recall_at_k`] |
//! | synthetic data | [`uniform`], [`clustered`], [`base_and_queries`] |
//! | a small index | [`build_index`] |
//! | every node reached from the entry point | [`reachable`] |
//! | a file served by range requests, misbehaving on demand | [`http::Server`] (natively) |
//!
//! It depends on the core only and builds for `wasm32-unknown-unknown`,
//! where the file-system helpers are left out.
#![warn(missing_docs)]

#[cfg(not(target_arch = "wasm32"))]
mod debian;
#[cfg(not(target_arch = "wasm32"))]
pub mod http;
mod synth;
mod truth;
mod vecs;

#[cfg(not(target_arch = "wasm32"))]
pub use debian::{Debian, debian_dir};
pub use synth::{base_and_queries, build_index, clustered, uniform};
pub use truth::{exact_ids, hnsw_recall, ids, reachable, recall, search_ids};
pub use vecs::{VecsError, parse_fvecs, parse_ivecs};
#[cfg(not(target_arch = "wasm32"))]
pub use vecs::{read_fvecs, read_ivecs};
