//! An index with codes opened from a real file: memory-mapped, the codes
//! are read in place from the map (no private copy) and search exactly as
//! the codes of an index opened into memory.

use vectrove::file::{self, Storage};
use vectrove::{Hnsw, Metric, Quantization};
use vectrove_testkit::base_and_queries;

#[test]
fn mapped_codes_are_read_in_place_and_search_the_same() {
    let dim = 32;
    let (base, queries) = base_and_queries(3_000, 20, dim, 4);
    let mut index = Hnsw::builder(dim, Metric::L2).m(8).build().unwrap();
    let ids: Vec<u64> = (0..3_000).collect();
    index.insert_many(&ids, &base).unwrap();
    index.quantize(Quantization::Sq8).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("codes.vtrv");
    file::save(&index, &path).unwrap();

    let memory = file::open::<f32>(&path, Storage::Memory).unwrap();
    let mapped = file::open::<f32>(&path, Storage::Mmap).unwrap();
    let paged = file::open::<f32>(
        &path,
        Storage::Paged {
            cache_bytes: 1 << 20,
        },
    )
    .unwrap();
    assert!(memory.is_quantized() && mapped.is_quantized() && paged.is_quantized());
    // The mapped index holds no copy of the 3,000 x 32 bytes of codes.
    assert!(memory.graph_bytes() - mapped.graph_bytes() >= 3_000 * dim);
    assert_eq!(memory.graph_bytes(), paged.graph_bytes());
    for q in queries.chunks_exact(dim) {
        let want = index.search(q, 10, 48).unwrap();
        assert_eq!(memory.search(q, 10, 48).unwrap(), want);
        assert_eq!(mapped.search(q, 10, 48).unwrap(), want);
        assert_eq!(paged.search(q, 10, 48).unwrap(), want);
    }
}
