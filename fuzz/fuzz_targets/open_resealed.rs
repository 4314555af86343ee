//! A valid small index (any of the sample files: both kinds, every metric,
//! empty ones, deletions) damaged by the fuzzer's patches, aimed at header
//! fields, table entries and words inside sections, with every checksum
//! recomputed afterwards: what is exercised is the structural validation
//! behind the checksums (sections, graph, ids, levels, lists, centroids).
//! Opening must refuse the file or give an index that passes every check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vectrove_core::{Hnsw, IndexFile, Ivf, MemoryStore, format};
use vectrove_fuzz_common::alloc::{Cap, CappedAlloc};
use vectrove_fuzz_common::{check, files, patch};

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fuzz_target!(|data: &[u8]| {
    let Some((&which, patches)) = data.split_first() else {
        return;
    };
    let sample = files::sample(which);
    let mut bytes = sample.bytes.clone();
    let layout = patch::Layout::of(&bytes);
    patch::apply(&mut bytes, &layout, patches);
    format::reseal(&mut bytes);
    let _cap = Cap::for_input(bytes.len());
    let any = IndexFile::from_bytes::<MemoryStore<f32>>(&bytes);
    if let Ok(index) = &any {
        check::check_any(index);
    }
    if let Ok(index) = Hnsw::<MemoryStore<f32>>::from_bytes(&bytes) {
        check::check_hnsw(&index);
    }
    if let Ok(index) = Hnsw::<MemoryStore<u8>>::from_bytes(&bytes) {
        check::check_hnsw(&index);
    }
    if let Ok(index) = Ivf::from_bytes(&bytes) {
        check::check_ivf(&index);
    }
    if patches.is_empty() {
        assert!(
            any.is_ok() || sample.name == "hnsw-hamming",
            "the unpatched sample {} does not open: {:?}",
            sample.name,
            any.err()
        );
    }
});
