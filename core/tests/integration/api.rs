//! Behaviour users rely on at the edges: bad input, empty indexes, k larger
//! than the index, deletion, filters, metrics with negative distances.

use vectrove_core::rng::SplitMix64;
use vectrove_core::{Error, Hnsw, MemoryStore, Metric};
use vectrove_testkit::{exact_ids, recall, uniform};

fn small_index(n: u64, dim: usize, metric: Metric) -> Hnsw {
    let mut index = Hnsw::builder(dim, metric)
        .m(8)
        .ef_construction(64)
        .seed(3)
        .build()
        .unwrap();
    let data = uniform(n as usize, dim, -0.5..0.5, 9);
    for (id, v) in (0..n).zip(data.chunks_exact(dim)) {
        index.insert(id, v).unwrap();
    }
    index
}

/// The seed crate panicked in `nearest` when fewer results existed than were
/// asked for (`copy_from_slice` with mismatched lengths).
#[test]
fn k_larger_than_the_index_returns_what_exists() {
    let index = small_index(5, 4, Metric::L2);
    let hits = index.search(&[0.0; 4], 50, 10).unwrap();
    assert_eq!(hits.len(), 5);
    let mut ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
    ids.sort();
    assert_eq!(ids, [0, 1, 2, 3, 4]);
    assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
    assert_eq!(index.search(&[0.0; 4], 0, 10).unwrap(), []);
}

#[test]
fn empty_index_searches_to_nothing() {
    let index = Hnsw::builder(3, Metric::Cosine).build().unwrap();
    assert!(index.is_empty());
    assert_eq!(index.search(&[1.0, 0.0, 0.0], 10, 10).unwrap(), []);
    assert!(matches!(index.get(1), Err(Error::UnknownId { id: 1 })));
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let mut index = small_index(20, 4, Metric::L2);
    let before: Vec<_> = index.search(&[0.1; 4], 20, 32).unwrap();
    assert!(matches!(
        index.insert(100, &[1.0; 3]),
        Err(Error::DimensionMismatch {
            expected: 4,
            got: 3
        })
    ));
    assert!(matches!(
        index.insert(100, &[1.0, f32::NAN, 0.0, 0.0]),
        Err(Error::NonFinite { position: 1 })
    ));
    assert!(matches!(
        index.insert(100, &[1.0, 0.0, f32::NEG_INFINITY, 0.0]),
        Err(Error::NonFinite { position: 2 })
    ));
    assert!(matches!(
        index.insert(7, &[0.0; 4]),
        Err(Error::DuplicateId { id: 7 })
    ));
    // A batch with one bad vector inserts none of them.
    let mut batch = vec![0.5f32; 12];
    batch[9] = f32::NAN;
    assert!(index.insert_many(&[200, 201, 202], &batch).is_err());
    assert!(matches!(
        index.insert_many(&[300, 300], &[0.0; 8]),
        Err(Error::DuplicateId { id: 300 })
    ));
    assert!(index.insert_many(&[400], &[0.0; 5]).is_err());
    assert_eq!(index.len(), 20);
    assert!(!index.contains(200) && !index.contains(300) && !index.contains(400));
    assert_eq!(index.slot_count(), 20);
    assert_eq!(index.search(&[0.1; 4], 20, 32).unwrap(), before);
    // Bad queries too.
    assert!(index.search(&[0.0; 5], 1, 1).is_err());
    assert!(index.search(&[f32::NAN, 0.0, 0.0, 0.0], 1, 1).is_err());
    index.verify().unwrap();
}

#[test]
fn bad_parameters_are_errors() {
    assert!(Hnsw::builder(0, Metric::L2).build().is_err());
    assert!(Hnsw::builder(4, Metric::L2).m(1).build().is_err());
    assert!(Hnsw::builder(4, Metric::L2).m(8).m0(4).build().is_err());
    assert!(
        Hnsw::builder(4, Metric::L2)
            .ef_construction(0)
            .build()
            .is_err()
    );
    assert!(matches!(
        Hnsw::builder(4, Metric::Hamming).build(),
        Err(Error::UnsupportedMetric { .. })
    ));
    let mut cos = Hnsw::builder(2, Metric::Cosine).build().unwrap();
    assert!(matches!(cos.insert(1, &[0.0, 0.0]), Err(Error::ZeroVector)));
}

#[test]
fn deleted_points_are_never_returned() {
    let mut index = small_index(300, 6, Metric::L2);
    for id in (0..300).step_by(3) {
        index.delete(id).unwrap();
    }
    assert_eq!(index.len(), 200);
    assert!(!index.contains(0) && index.contains(1));
    assert!(matches!(index.delete(0), Err(Error::UnknownId { id: 0 })));
    for q in uniform(50, 6, -0.5..0.5, 1).chunks_exact(6) {
        let hits = index.search(q, 10, 64).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| !h.id.is_multiple_of(3)));
    }
    // Everything deleted: searches come back empty.
    for id in 0..300 {
        let _ = index.delete(id);
    }
    assert!(index.is_empty());
    assert_eq!(index.search(&[0.0; 6], 5, 16).unwrap(), []);
    // A deleted id can be inserted again.
    index.insert(3, &[0.25; 6]).unwrap();
    assert_eq!(index.search(&[0.25; 6], 1, 16).unwrap()[0].id, 3);
    assert_eq!(index.get(3).unwrap(), vec![0.25; 6]);
}

#[test]
fn filters_apply_during_traversal() {
    let index = small_index(500, 5, Metric::L2);
    let q = [0.1, -0.2, 0.3, 0.0, 0.1];
    let hits = index
        .search_filtered(&q, 10, 64, |id| id.is_multiple_of(7))
        .unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|h| h.id.is_multiple_of(7)));
    // Compared with brute force over the accepted points.
    let accepted: Vec<u64> = (0..500).filter(|id: &u64| id.is_multiple_of(7)).collect();
    let vectors: Vec<f32> = accepted
        .iter()
        .flat_map(|&id| index.get(id).unwrap())
        .collect();
    let truth: Vec<u32> = exact_ids(Metric::L2, 5, &vectors, &q, 10)[0]
        .iter()
        .map(|&row| accepted[row as usize] as u32)
        .collect();
    let r = recall(&[hits], &[truth], 10);
    assert!(r >= 0.9, "filtered recall@10 {r}");
    assert_eq!(index.search_filtered(&q, 10, 64, |_| false).unwrap(), []);
}

#[test]
fn inner_product_orders_negative_distances() {
    let mut index = Hnsw::builder(2, Metric::InnerProduct).build().unwrap();
    index.insert(1, &[1.0, 0.0]).unwrap();
    index.insert(2, &[3.0, 0.0]).unwrap();
    index.insert(3, &[-2.0, 0.0]).unwrap();
    index.insert(4, &[0.5, 0.5]).unwrap();
    let hits = index.search(&[1.0, 0.0], 4, 16).unwrap();
    let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
    assert_eq!(ids, [2, 1, 4, 3]);
    assert_eq!(hits[0].distance, -3.0);
    assert_eq!(hits[3].distance, 2.0);
}

#[test]
fn cosine_stores_unit_vectors() {
    let mut index = Hnsw::builder(2, Metric::Cosine).build().unwrap();
    index.insert(1, &[3.0, 4.0]).unwrap();
    index.insert(2, &[-1.0, 0.0]).unwrap();
    let v = index.get(1).unwrap();
    assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    let hits = index.search(&[6.0, 8.0], 2, 8).unwrap();
    assert_eq!(hits[0].id, 1);
    assert!(hits[0].distance.abs() < 1e-6);
    assert!((hits[1].distance - 1.6).abs() < 1e-6);
}

#[test]
fn hamming_on_packed_bits() {
    let store = MemoryStore::<u8>::new(4).unwrap();
    let mut index = Hnsw::builder(4, Metric::Hamming)
        .m(4)
        .build_with_store(store)
        .unwrap();
    let mut rng = SplitMix64::new(2);
    let codes: Vec<[u8; 4]> = (0..300).map(|_| rng.next_u32().to_le_bytes()).collect();
    for (i, c) in codes.iter().enumerate() {
        index.insert(i as u64, c).unwrap();
    }
    for (i, c) in codes.iter().enumerate().take(50) {
        let hits = index.search(c, 3, 32).unwrap();
        assert_eq!(hits[0].distance, 0.0);
        assert!(hits.iter().any(|h| h.id == i as u64) || codes[hits[0].id as usize] == *c);
        let mut flipped = *c;
        flipped[0] ^= 0b101;
        let d = index.search(&flipped, 1, 32).unwrap()[0].distance;
        assert!(d <= 2.0);
    }
    // An f32 store cannot use Hamming, and u8 cannot use L2.
    assert!(
        Hnsw::builder(4, Metric::L2)
            .build_with_store(MemoryStore::<u8>::new(4).unwrap())
            .is_err()
    );
}

#[test]
fn same_seed_same_graph() {
    let a = small_index(400, 8, Metric::L2);
    let b = small_index(400, 8, Metric::L2);
    assert_eq!(a.entry_point(), b.entry_point());
    for slot in 0..400 {
        assert_eq!(a.node_level(slot), b.node_level(slot));
        for l in 0..=a.node_level(slot).unwrap() {
            assert_eq!(a.neighbors(slot, l), b.neighbors(slot, l));
        }
    }
}

#[test]
fn index_is_shareable_across_threads() {
    fn assert_sync<T: Sync + Send>() {}
    assert_sync::<Hnsw>();
    let index = small_index(300, 4, Metric::L2);
    std::thread::scope(|s| {
        for t in 0..2 {
            let index = &index;
            s.spawn(move || {
                for i in 0..100 {
                    let q = [t as f32 * 0.1, i as f32 * 0.01, 0.0, 0.0];
                    assert_eq!(index.search(&q, 5, 16).unwrap().len(), 5);
                }
            });
        }
    });
}

/// A batch answers each query as a search of it alone does, in query order,
/// for either kind; a batch that is not whole queries is an error.
#[test]
fn search_many_answers_each_query_as_search_does() {
    use vectrove_core::{AnyIndex, Ivf, IvfParams, SearchParams};
    let dim = 8;
    let hnsw = AnyIndex::from(small_index(600, dim, Metric::L2));
    let data = uniform(600, dim, -0.5..0.5, 9);
    let params = IvfParams {
        nlist: 16,
        ..IvfParams::default()
    };
    let training = MemoryStore::from_flat(dim, &data).unwrap();
    let mut ivf = Ivf::train(Metric::L2, params, &training).unwrap();
    for (id, v) in (0u64..).zip(data.chunks_exact(dim)) {
        ivf.insert(id, v).unwrap();
    }
    let ivf = AnyIndex::from(ivf);
    let queries = uniform(37, dim, -0.5..0.5, 11);
    let p = SearchParams::default();
    for index in [&hnsw, &ivf] {
        let all = index.search_many(&queries, 5, &p).unwrap();
        assert_eq!(all.len(), 37);
        for (q, got) in queries.chunks_exact(dim).zip(&all) {
            assert_eq!(*got, index.search(q, 5, &p).unwrap());
        }
        assert!(index.search_many(&[], 5, &p).unwrap().is_empty());
        assert!(matches!(
            index.search_many(&queries[..dim + 1], 5, &p),
            Err(Error::InvalidParameter {
                name: "queries",
                ..
            })
        ));
    }
}
