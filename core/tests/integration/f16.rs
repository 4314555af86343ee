//! f32 vectors kept as f16: inserts round to the nearest f16 and refuse
//! what f16 cannot hold without changing anything, and every way an index
//! is built, renumbered, quantised, layered and saved keeps them so.

use vectrove_core::quant::TRAIN_AT;
use vectrove_core::store::{LayeredStore, VectorType, copy_vector};
use vectrove_core::{
    Error, FeatureStore, FeatureStoreMut, Hnsw, Ivf, IvfParams, MemoryStore, Metric, Quantization,
};
use vectrove_testkit::{clustered, exact_ids, hnsw_recall, uniform};

fn f16(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

fn index(dim: usize, metric: Metric) -> Hnsw {
    Hnsw::builder(dim, metric)
        .m(8)
        .ef_construction(64)
        .seed(3)
        .vector_type(VectorType::F16)
        .build()
        .unwrap()
}

fn vector<S: FeatureStore<Elem = f32>>(store: &S, slot: u32) -> Vec<f32> {
    let mut v = Vec::new();
    assert!(copy_vector(store, slot, &mut v).unwrap().ready().is_some());
    v
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let dim = 8;
    let mut ix = index(dim, Metric::L2);
    let data = uniform(60, dim, -100.0..100.0, 1);
    let ids: Vec<u64> = (0..60).collect();
    ix.insert_many(&ids, &data).unwrap();
    let before = ix.to_bytes().unwrap();
    let mut v = vec![1.0f32; dim];
    for (at, bad) in [(0, f32::NAN), (3, f32::INFINITY), (7, f32::NEG_INFINITY)] {
        v[at] = bad;
        assert!(matches!(ix.insert(100, &v), Err(Error::NonFinite { position }) if position == at));
        v[at] = 1.0;
    }
    for bad in [65505.0f32, -65520.0, 1e9, f32::MAX] {
        v[5] = bad;
        let err = ix.insert(100, &v).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("f16") && text.contains("position 5"),
            "{text}"
        );
        v[5] = 1.0;
    }
    // A batch with one value out of range is refused whole.
    let mut batch = uniform(20, dim, -1.0..1.0, 2);
    batch[19 * dim + 2] = 70_000.0;
    let more: Vec<u64> = (200..220).collect();
    assert!(ix.insert_many(&more, &batch).is_err());
    assert!(ix.check_batch(&more, &batch).is_err());
    #[cfg(feature = "parallel")]
    {
        assert!(ix.insert_many_parallel(&more, &batch).is_err());
        assert!(ix.insert_many_concurrent(&more, &batch).is_err());
    }
    assert_eq!(ix.len(), 60);
    assert_eq!(ix.to_bytes().unwrap(), before, "nothing changed");
    // The largest f16 goes in; queries are not stored, so any finite
    // value searches.
    v[5] = -65504.0;
    ix.insert(100, &v).unwrap();
    assert_eq!(ix.get(100).unwrap()[5], -65504.0);
    assert!(!ix.search(&[1e30; 8], 3, 16).unwrap().is_empty());
}

#[test]
fn values_round_to_nearest_and_every_point_finds_itself() {
    let dim = 16;
    let data = clustered(500, dim, 8, 4);
    for metric in [Metric::L2, Metric::Cosine, Metric::InnerProduct] {
        let mut ix = index(dim, metric);
        let ids: Vec<u64> = (0..500).map(|i| i * 2 + 1).collect();
        ix.insert_many(&ids, &data).unwrap();
        assert_eq!(ix.store().vector_type(), VectorType::F16);
        let v = ix.get(1).unwrap();
        match metric {
            // Stored normalised, then rounded.
            Metric::Cosine => {
                let n: f32 = data[..dim].iter().map(|x| x * x).sum::<f32>().sqrt();
                let want: Vec<f32> = data[..dim].iter().map(|x| f16(x / n)).collect();
                assert_eq!(v, want);
            }
            _ => assert_eq!(v, data[..dim].iter().map(|&x| f16(x)).collect::<Vec<_>>()),
        }
        if metric != Metric::InnerProduct {
            for (i, q) in data.chunks_exact(dim).enumerate().step_by(7) {
                let hits = ix.search(q, 1, 32).unwrap();
                assert_eq!(hits[0].id, ids[i], "{metric}: point {i}");
            }
        }
    }
}

#[test]
fn recall_is_close_to_f32_and_reordering_keeps_the_answers() {
    let (n, dim, k) = (3_000, 32, 10);
    let data = clustered(n, dim, 30, 6);
    let queries = clustered(100, dim, 30, 7);
    let truth = exact_ids(Metric::L2, dim, &data, &queries, k);
    let ids: Vec<u64> = (0..n as u64).collect();
    let mut half = index(dim, Metric::L2);
    half.insert_many(&ids, &data).unwrap();
    let mut full = Hnsw::builder(dim, Metric::L2)
        .m(8)
        .ef_construction(64)
        .seed(3)
        .build()
        .unwrap();
    full.insert_many(&ids, &data).unwrap();
    let (rh, rf) = (
        hnsw_recall(&half, &queries, &truth, k, 64),
        hnsw_recall(&full, &queries, &truth, k, 64),
    );
    println!("recall@{k}: f16 {rh:.3}, f32 {rf:.3}");
    assert!(rh > rf - 0.02, "f16 {rh} against f32 {rf}");
    let before: Vec<_> = queries
        .chunks_exact(dim)
        .map(|q| half.search(q, k, 64).unwrap())
        .collect();
    half.reorder().unwrap();
    assert_eq!(half.store().vector_type(), VectorType::F16);
    for (q, want) in queries.chunks_exact(dim).zip(&before) {
        assert_eq!(&half.search(q, k, 64).unwrap(), want);
    }
    assert_eq!(
        half.get(17).unwrap(),
        data[17 * dim..18 * dim]
            .iter()
            .map(|&x| f16(x))
            .collect::<Vec<_>>()
    );
}

#[test]
fn codes_train_on_the_stored_values_and_survive_a_round_trip() {
    let dim = 24;
    let n = TRAIN_AT + 200;
    let data = clustered(n, dim, 10, 8);
    let mut ix = Hnsw::builder(dim, Metric::Cosine)
        .m(8)
        .ef_construction(64)
        .vector_type(VectorType::F16)
        .quantize(Quantization::Sq8)
        .build()
        .unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    ix.insert_many(&ids, &data).unwrap();
    assert_eq!(ix.quantization(), Some(Quantization::Sq8));
    let bytes = ix.to_bytes().unwrap();
    let back: Hnsw = Hnsw::from_bytes(&bytes).unwrap();
    assert_eq!(back.store().vector_type(), VectorType::F16);
    assert_eq!(back.quantization(), Some(Quantization::Sq8));
    for q in data.chunks_exact(dim).step_by(97) {
        assert_eq!(
            ix.search(q, 10, 48).unwrap(),
            back.search(q, 10, 48).unwrap()
        );
    }
    assert_eq!(back.to_bytes().unwrap(), bytes);
}

#[test]
fn a_layered_store_over_f16_keeps_its_tail_as_f16() {
    let base = MemoryStore::from_flat_as(VectorType::F16, 2, &[1.0, 2.0, 0.1, 0.2]).unwrap();
    let mut s: LayeredStore<MemoryStore> = LayeredStore::over(base).unwrap();
    assert_eq!(s.vector_type(), VectorType::F16);
    assert_eq!(s.push(&[0.3, 1e4]).unwrap(), 2);
    assert_eq!(vector(&s, 2), [f16(0.3), f16(1e4)]);
    assert!(s.push(&[0.0, 1e5]).is_err());
    assert_eq!(s.len(), 3);
    // A builder asked for f16 refuses a store that keeps f32.
    let err = Hnsw::builder(2, Metric::L2)
        .vector_type(VectorType::F16)
        .build_with_store(MemoryStore::<f32>::new(2).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("f16"), "{err}");
    // f16 is for f32 vectors only.
    assert!(MemoryStore::<u8>::with_type(4, VectorType::F16).is_err());
}

#[test]
fn ivf_keeps_f16_vectors_through_a_file() {
    let (n, dim) = (2_000, 16);
    let data = clustered(n, dim, 12, 9);
    let training = MemoryStore::from_flat(dim, &data).unwrap();
    let params = IvfParams {
        nlist: 16,
        ..IvfParams::default()
    };
    let store = MemoryStore::with_type(dim, VectorType::F16).unwrap();
    let mut ix = Ivf::train_into(Metric::L2, params, &training, store).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    let mut bad = data.clone();
    bad[5] = -1e6;
    assert!(ix.insert_many(&ids, &bad).is_err());
    assert_eq!(ix.len(), 0);
    ix.insert_many(&ids, &data).unwrap();
    let bytes = ix.to_bytes().unwrap();
    let back = Ivf::from_bytes(&bytes).unwrap();
    assert_eq!(back.store().vector_type(), VectorType::F16);
    for q in data.chunks_exact(dim).step_by(101) {
        assert_eq!(ix.search(q, 5, 4).unwrap(), back.search(q, 5, 4).unwrap());
    }
    assert_eq!(
        back.get(3).unwrap(),
        data[3 * dim..4 * dim]
            .iter()
            .map(|&x| f16(x))
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_shared_form_reads_f16_vectors_and_comes_back_as_f32() {
    let dim = 8;
    let data = clustered(300, dim, 5, 10);
    let mut ix = index(dim, Metric::L2);
    ix.insert_many(&(0..300).collect::<Vec<u64>>(), &data)
        .unwrap();
    let want = ix.get(12).unwrap();
    let shared = vectrove_core::hnsw::SharedHnsw::new(ix, 400).unwrap();
    shared.insert(1_000, &data[..dim]).unwrap();
    let mut back = shared.into_hnsw().unwrap();
    assert_eq!(back.store().vector_type(), VectorType::F32);
    assert_eq!(back.get(12).unwrap(), want);
    back.set_vector_type(VectorType::F16).unwrap();
    assert_eq!(back.store().vector_type(), VectorType::F16);
    assert_eq!(back.get(12).unwrap(), want);
    assert_eq!(back.search(&data[..dim], 2, 16).unwrap().len(), 2);
}
