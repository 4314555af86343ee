//! Arbitrary bytes as an index file: opening must fail cleanly or give a
//! consistent index, never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vectrove_core::{Hnsw, Ivf, MemoryStore};

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = Hnsw::<MemoryStore<f32>>::from_bytes(data) {
        index.verify().expect("an opened index is consistent");
        let q = vec![0.5; index.dim()];
        let _ = index.search(&q, 3, 8);
    }
    let _ = Hnsw::<MemoryStore<u8>>::from_bytes(data);
    if let Ok(index) = Ivf::from_bytes(data) {
        let q = vec![0.5; index.dim()];
        let _ = index.search(&q, 3, 4);
    }
});
