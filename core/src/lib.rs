//! The target-agnostic core of vectrove: the storage contract
//! ([`FeatureStore`]), the in-memory store, the page cache, SIMD distances,
//! HNSW, k-means, IVF-Flat and PCA. It has no `std::fs`, no mmap and no dependency on wasm-bindgen, and
//! compiles unchanged to `wasm32-unknown-unknown`.
//!
//! ```
//! use vectrove_core::{Hnsw, Metric};
//!
//! let mut index = Hnsw::builder(3, Metric::Cosine).m(16).ef_construction(100).seed(42).build()?;
//! index.insert(1, &[1.0, 0.0, 0.0])?;
//! index.insert(2, &[0.0, 1.0, 0.0])?;
//! index.insert(3, &[0.9, 0.1, 0.0])?;
//! let hits = index.search(&[1.0, 0.05, 0.0], 2, 32)?;
//! assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 3]);
//! # Ok::<(), vectrove_core::Error>(())
//! ```
#![warn(missing_docs)]

mod alloc;
pub mod cache;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod distance;
mod error;
mod exact;
pub mod format;
pub mod hnsw;
mod index;
pub mod ivf;
pub mod kmeans;
mod neighbor;
pub mod pca;
mod points;
pub mod quant;
pub mod remote;
pub mod rng;
pub mod sample;
pub mod simd;
pub mod store;

pub use cache::{CacheStats, PageCache};
pub use distance::{Dist, Element, Metric};
pub use error::{Error, RemoteFailure, Result};
pub use exact::{exact_knn, recall_at_k};
pub use format::{HnswFile, IndexFile, IvfFile};
pub use hnsw::{Hnsw, HnswBuilder, HnswParams};
pub use index::{AnyIndex, SearchParams};
pub use ivf::{Ivf, IvfParams};
pub use kmeans::{KMeans, KMeansParams};
pub use neighbor::Neighbor;
pub use pca::{Pca, PcaParams};
pub use quant::Quantization;
pub use store::{Access, FeatureStore, FeatureStoreMut, MemoryStore};
