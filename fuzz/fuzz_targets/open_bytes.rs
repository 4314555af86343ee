//! Arbitrary bytes as an index file, through every whole-file decoder (HNSW
//! of f32 and of u8 vectors, IVF, and the kind-agnostic `IndexFile`). Opening
//! must fail with an error or give an index that passes every consistency
//! check; it must never panic, hang or allocate more than the bytes justify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vectrove_core::{AnyIndex, Hnsw, IndexFile, Ivf, MemoryStore};
use vectrove_fuzz_common::alloc::{Cap, CappedAlloc};
use vectrove_fuzz_common::check;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fuzz_target!(|data: &[u8]| {
    let _cap = Cap::for_input(data.len());
    let f32_hnsw = Hnsw::<MemoryStore<f32>>::from_bytes(data);
    if let Ok(index) = &f32_hnsw {
        check::check_hnsw(index);
    }
    let u8_hnsw = Hnsw::<MemoryStore<u8>>::from_bytes(data);
    if let Ok(index) = &u8_hnsw {
        assert!(f32_hnsw.is_err(), "one file opened with two element types");
        check::check_hnsw(index);
    }
    // Bytes open through `IndexFile` only as an HNSW graph (IVF is f32 only).
    let any_u8 = IndexFile::from_bytes::<MemoryStore<u8>>(data);
    assert_eq!(
        any_u8.is_ok(),
        u8_hnsw.is_ok(),
        "{:?}",
        any_u8.as_ref().err()
    );
    if let Ok(AnyIndex::Hnsw(index)) = &any_u8 {
        check::check_hnsw(index);
    }
    let ivf = Ivf::from_bytes(data);
    if let Ok(index) = &ivf {
        assert!(f32_hnsw.is_err(), "one file opened as two kinds");
        check::check_ivf(index);
    }
    // The kind-agnostic path agrees with the kind-specific ones.
    let any = IndexFile::from_bytes::<MemoryStore<f32>>(data);
    assert_eq!(
        any.is_ok(),
        f32_hnsw.is_ok() || ivf.is_ok(),
        "IndexFile::from_bytes and the kinds' from_bytes disagree: {:?}",
        any.as_ref().err()
    );
    if let Ok(index) = &any {
        check::check_any(index);
    }
});
