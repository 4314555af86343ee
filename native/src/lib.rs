//! vectrove: HNSW vector search with the vectors behind a storage trait.
//!
//! This crate is what Rust applications depend on. It re-exports
//! [`vectrove_core`] and adds the native storage backends, index files on
//! disk and readers for the common vector file formats.
//!
//! ```
//! use vectrove::{Hnsw, Metric};
//!
//! let mut index = Hnsw::builder(2, Metric::L2).seed(7).build().unwrap();
//! index.insert(10, &[0.0, 0.0]).unwrap();
//! index.insert(11, &[1.0, 1.0]).unwrap();
//! let hits = index.search(&[0.9, 0.8], 1, 16).unwrap();
//! assert_eq!(hits[0].id, 11);
//! ```
#![warn(missing_docs)]

pub mod data;
pub mod file;
pub mod huge_pages;
#[cfg(feature = "remote")]
pub mod remote;
pub mod stores;

pub use vectrove_core::{
    Access, AnyIndex, CacheStats, Dist, Element, Error, FeatureStore, FeatureStoreMut, Hnsw,
    HnswBuilder, HnswFile, HnswParams, IndexFile, Ivf, IvfFile, IvfParams, KMeans, KMeansParams,
    MemoryStore, Metric, Neighbor, PageCache, Pca, PcaParams, Quantization, RemoteFailure, Result,
    SearchParams, exact_knn, recall_at_k,
};

pub use huge_pages::HugePages;

/// The core's modules, for the types the names above do not cover (the
/// resumable search, k-means statistics, the file format's header,
/// stores over byte sources).
pub use vectrove_core::{cache, distance, format, hnsw, ivf, kmeans, pca, quant, sample, store};

/// Building blocks under the public API, with no stability promise: the
/// SIMD kernels and the seeded generator behind every random choice.
pub mod internals {
    pub use vectrove_core::{rng, simd};
}

// The README's Rust examples run as doctests too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
