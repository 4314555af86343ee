//! A valid small index damaged by the fuzzer's patches, with every checksum
//! recomputed afterwards, so that what is exercised is the structural
//! validation behind the checksums (graph, ids, levels, lengths).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vectrove_core::rng::SplitMix64;
use vectrove_core::{Hnsw, MemoryStore, Metric, format};

fn seed_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let mut rng = SplitMix64::new(1);
        let mut index = Hnsw::builder(4, Metric::L2)
            .m(3)
            .ef_construction(16)
            .seed(1)
            .build()
            .unwrap();
        for i in 0..40u64 {
            let v: Vec<f32> = (0..4).map(|_| rng.next_f64() as f32).collect();
            index.insert(i, &v).unwrap();
        }
        index.delete(3).unwrap();
        index.to_bytes().unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = seed_file().to_vec();
    let meta_len = bytes.len() - 40 * 16;
    // Each 3-byte group of the input patches one byte of the metadata:
    // a 16-bit position and a value.
    for patch in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([patch[0], patch[1]])) % meta_len;
        bytes[at] = patch[2];
    }
    format::reseal(&mut bytes);
    if let Ok(index) = Hnsw::<MemoryStore<f32>>::from_bytes(&bytes) {
        index.verify().expect("an opened index is consistent");
        let _ = index
            .search(&[0.5; 4], 5, 16)
            .expect("search on a valid index");
    }
});
