//! WebAssembly bindings of vectrove. The JS classes, the OPFS and IndexedDB
//! stores and the npm package are built on this crate.
#![warn(missing_docs)]

use wasm_bindgen::prelude::*;

/// The version of the library, for diagnostics.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
