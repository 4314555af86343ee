//! Concurrent inserts: searches running beside inserts on a shared index,
//! and the multi-threaded build that links points on every thread at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use vectrove_core::hnsw::SharedHnsw;
use vectrove_core::{Hnsw, Metric, distance};
use vectrove_testkit::{clustered, exact_ids, hnsw_recall, reachable};

const DIM: usize = 24;

/// Every node finds itself first (ties with exact duplicates allowed).
fn self_recall(index: &Hnsw, data: &[f32], step: usize) -> f64 {
    let (mut hit, mut n) = (0, 0);
    for (i, v) in data.chunks_exact(DIM).enumerate().step_by(step) {
        let r = index.search(v, 1, 64).unwrap();
        n += 1;
        if r[0].id == i as u64 || r[0].distance <= 1e-6 {
            hit += 1;
        }
    }
    hit as f64 / n as f64
}

#[test]
fn searches_beside_inserts_are_valid_and_the_result_is_a_sound_index() {
    let (first, total) = (1_000usize, 6_000usize);
    let data = clustered(total, DIM, 40, 11);
    let mut start = Hnsw::builder(DIM, Metric::L2)
        .m(12)
        .ef_construction(80)
        .build()
        .unwrap();
    let ids: Vec<u64> = (0..first as u64).collect();
    start.insert_many(&ids, &data[..first * DIM]).unwrap();
    let shared = SharedHnsw::new(start, total).unwrap();
    let inserted = AtomicUsize::new(first);
    let done = AtomicBool::new(false);
    let searches = AtomicUsize::new(0);
    let vector = |id: u64| &data[id as usize * DIM..(id as usize + 1) * DIM];
    std::thread::scope(|s| {
        // Two inserters, each taking every other point.
        let mut inserters = Vec::new();
        for t in 0..2u64 {
            let (shared, inserted) = (&shared, &inserted);
            inserters.push(s.spawn(move || {
                for id in (first as u64 + t..total as u64).step_by(2) {
                    shared.insert(id, vector(id)).unwrap();
                    inserted.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        // Two searchers, checking every answer while the inserts run.
        for t in 0..2usize {
            let (shared, done, searches) = (&shared, &done, &searches);
            s.spawn(move || {
                let mut i = t;
                while !done.load(Ordering::Relaxed) {
                    let q = vector((i * 7919 % total) as u64);
                    let hits = shared.search(q, 10, 48).unwrap();
                    assert!(!hits.is_empty());
                    let mut seen = std::collections::HashSet::new();
                    for w in hits.windows(2) {
                        assert!(
                            w[0].distance <= w[1].distance,
                            "not nearest first: {hits:?}"
                        );
                    }
                    for h in &hits {
                        assert!((h.id as usize) < total, "unknown id {}", h.id);
                        assert!(seen.insert(h.id), "id {} twice", h.id);
                        let d = distance::l2_squared(q, vector(h.id));
                        assert!((d - h.distance).abs() <= 1e-3 * (1.0 + d), "{d} vs {h:?}");
                    }
                    searches.fetch_add(1, Ordering::Relaxed);
                    i += 2;
                }
            });
        }
        for h in inserters {
            h.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    let searches = searches.load(Ordering::Relaxed);
    eprintln!(
        "{searches} searches checked while {} points were inserted",
        total - first
    );
    assert!(searches > 0);
    assert_eq!(shared.len(), total);
    assert!(shared.insert(3, vector(3)).is_err(), "a duplicate id");
    let index = shared.into_hnsw().unwrap();
    index.verify().unwrap();
    // The file's checks (the spanning tree among them) accept it.
    let index: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap()).unwrap();
    assert_eq!(index.len(), total);
    assert_eq!(
        reachable(&index).iter().filter(|&&r| r).count(),
        total,
        "every node reachable"
    );
    for id in [0u64, 999, 1000, 3333, 5999] {
        assert_eq!(index.get(id).unwrap(), vector(id));
    }
    let r = self_recall(&index, &data, 7);
    assert!(r >= 0.99, "self-recall {r}");
    let queries = clustered(200, DIM, 40, 12);
    let truth = exact_ids(Metric::L2, DIM, &data, &queries, 10);
    let recall = hnsw_recall(&index, &queries, &truth, 10, 64);
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[test]
fn a_full_shared_index_refuses_more_and_bad_input_is_an_error() {
    let index = Hnsw::builder(2, Metric::Cosine).build().unwrap();
    assert!(SharedHnsw::new(index, usize::MAX).is_err());
    let index = Hnsw::builder(2, Metric::Cosine).build().unwrap();
    let shared = SharedHnsw::new(index, 2).unwrap();
    assert!(shared.search(&[1.0, 0.0], 3, 8).unwrap().is_empty());
    shared.insert(1, &[1.0, 0.0]).unwrap();
    assert!(shared.insert(2, &[1.0]).is_err());
    assert!(shared.insert(2, &[f32::NAN, 1.0]).is_err());
    assert!(shared.insert(2, &[0.0, 0.0]).is_err());
    shared.insert(2, &[0.0, 1.0]).unwrap();
    assert!(shared.insert(3, &[1.0, 1.0]).is_err(), "full");
    assert!(shared.search(&[1.0], 1, 8).is_err());
    let hits = shared.search(&[1.0, 0.1], 5, 8).unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 2]);
    let index = shared.into_hnsw().unwrap();
    index.verify().unwrap();
    let index: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap()).unwrap();
    assert_eq!(index.len(), 2);
}

#[cfg(feature = "parallel")]
#[test]
fn the_concurrent_build_is_valid_and_as_good_as_the_serial_one() {
    let n = 8_000;
    let data = clustered(n, DIM, 50, 21);
    let ids: Vec<u64> = (0..n as u64).collect();
    let queries = clustered(300, DIM, 50, 22);
    let truth = exact_ids(Metric::L2, DIM, &data, &queries, 10);
    // Serial, concurrent on codes (the default), concurrent on the vectors.
    let build = |concurrent: bool, on_codes: bool| {
        let mut index = Hnsw::builder(DIM, Metric::L2)
            .m(12)
            .ef_construction(100)
            .build_on_codes(on_codes)
            .build()
            .unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        // In two calls, so the second links into a graph that exists.
        let half = n / 2;
        for (a, b) in [(0, half), (half, n)] {
            let (i, v) = (&ids[a..b], &data[a * DIM..b * DIM]);
            if concurrent {
                pool.install(|| index.insert_many_concurrent(i, v)).unwrap();
            } else {
                index.insert_many(i, v).unwrap();
            }
        }
        index
    };
    let serial = build(false, false);
    let exact = build(true, false);
    let index = build(true, true);
    // The codes the build searched on are not kept.
    assert!(!index.is_quantized());
    index.verify().unwrap();
    exact.verify().unwrap();
    let index: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap()).unwrap();
    assert_eq!(index.len(), n);
    assert_eq!(
        reachable(&index).iter().filter(|&&r| r).count(),
        n,
        "every node reachable"
    );
    for id in [0u64, 4000, 7999] {
        assert_eq!(index.get(id).unwrap(), &data[id as usize * DIM..][..DIM]);
    }
    let r = hnsw_recall(&index, &queries, &truth, 10, 48);
    let rs = hnsw_recall(&serial, &queries, &truth, 10, 48);
    let re = hnsw_recall(&exact, &queries, &truth, 10, 48);
    assert!(r >= rs - 0.01, "concurrent recall {r} vs serial {rs}");
    assert!(
        re >= rs - 0.01,
        "concurrent recall on the vectors {re} vs serial {rs}"
    );
    assert!(self_recall(&index, &data, 11) >= 0.99);
    // Bad input changes nothing.
    let mut index = index;
    assert!(index.insert_many_concurrent(&[1], &data[..DIM]).is_err());
    assert!(
        index
            .insert_many_concurrent(&[n as u64], &data[..DIM - 1])
            .is_err()
    );
    assert_eq!(index.len(), n);
    index.verify().unwrap();
}

/// A concurrent build into an index that waits for data to train its codes
/// trains them on every vector before linking (and searches on them): the
/// index keeps the same codes a later `quantize` makes, and encodes the
/// points of the next build into them.
#[cfg(feature = "parallel")]
#[test]
fn the_concurrent_build_trains_and_keeps_an_index_s_own_codes() {
    let n = 3_000;
    let data = clustered(n, DIM, 30, 31);
    let ids: Vec<u64> = (0..n as u64).collect();
    let mut index = Hnsw::builder(DIM, Metric::L2)
        .m(12)
        .ef_construction(64)
        .quantize(vectrove_core::Quantization::Sq8)
        .build()
        .unwrap();
    let half = 2_000;
    index
        .insert_many_concurrent(&ids[..half], &data[..half * DIM])
        .unwrap();
    assert!(index.is_quantized());
    let mut retrained: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap()).unwrap();
    retrained
        .quantize(vectrove_core::Quantization::Sq8)
        .unwrap();
    assert_eq!(retrained.to_bytes().unwrap(), index.to_bytes().unwrap());
    index
        .insert_many_concurrent(&ids[half..], &data[half * DIM..])
        .unwrap();
    assert!(index.is_quantized());
    index.verify().unwrap();
    assert!(self_recall(&index, &data, 7) >= 0.99);
}
