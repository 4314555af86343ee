//! WebAssembly bindings of vectrove, published to npm as `vectrove`: the
//! `Index` class (HNSW and IVF-Flat, in memory, in OPFS or in IndexedDB),
//! the `KMeans` class and the `Pca` class. Every failure reaches JS as an
//! `Error` with a stable `name`: `DimensionMismatchError`, `InvalidVectorError`,
//! `DuplicateIdError`, `UnknownIdError`, `InvalidArgumentError`,
//! `CorruptIndexError`, `StorageError`, `QuotaExceededError`,
//! `IndexLockedError`, `NotFoundError`, `NotResidentError`,
//! `UnsupportedError`, `AbortError` or `BusyError`.
#![warn(missing_docs)]

#[cfg(all(test, target_arch = "wasm32"))]
mod conformance_tests;
mod errors;
mod http;
mod idb;
mod index;
mod js;
mod kmeans;
mod lazy;
mod nodefs;
mod open;
mod opfs;
mod options;
mod pca;
mod save;
mod sink;
mod source;
mod state;
mod store;
mod warm;

pub use index::Index;
pub use kmeans::KMeans;
pub use pca::Pca;

use wasm_bindgen::prelude::*;

/// The version of the library, for diagnostics.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
