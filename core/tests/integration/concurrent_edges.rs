//! Edge cases of concurrent inserts: racing first inserts, re-inserted
//! ids, tiny capacities, and heavy contention on tiny lists.

use std::sync::Barrier;

use vectrove_core::hnsw::SharedHnsw;
use vectrove_core::{Hnsw, Metric};
use vectrove_testkit::{clustered, reachable, uniform};

/// A `SharedHnsw` made from an empty index, with several threads making the
/// first inserts at once: slot 0 must still become the root of the spanning
/// tree (the file's rule), so every saved index loads.
#[test]
fn shared_from_empty_racing_first_inserts_save_a_loadable_file() {
    let threads = 6;
    let dim = 64;
    let data = uniform(threads, dim, -1.0..1.0, 5);
    let mut bad = Vec::new();
    for trial in 0..400 {
        let index = Hnsw::builder(dim, Metric::L2).build().unwrap();
        let shared = SharedHnsw::new(index, threads).unwrap();
        let barrier = Barrier::new(threads);
        std::thread::scope(|s| {
            for t in 0..threads {
                let (shared, barrier, data) = (&shared, &barrier, &data);
                s.spawn(move || {
                    barrier.wait();
                    shared
                        .insert(t as u64, &data[t * dim..(t + 1) * dim])
                        .unwrap();
                });
            }
        });
        let index = shared.into_hnsw().unwrap();
        index.verify().unwrap();
        let bytes = index.to_bytes().unwrap();
        if let Err(e) = <Hnsw>::from_bytes(&bytes) {
            bad.push((trial, index.entry_point(), e.to_string()));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of 400 saved indexes do not load, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(3)]
    );
}

/// A deleted id of the original index may be inserted again (as with
/// `Hnsw::insert`), and `into_hnsw` maps it to the new slot.
#[test]
fn shared_reinserts_a_deleted_id() {
    let dim = 8;
    let data = uniform(60, dim, -1.0..1.0, 9);
    let mut index = Hnsw::builder(dim, Metric::L2).m(4).build().unwrap();
    let ids: Vec<u64> = (0..50).collect();
    index.insert_many(&ids, &data[..50 * dim]).unwrap();
    index.delete(7).unwrap();
    index.delete(49).unwrap();
    let shared = SharedHnsw::new(index, 60).unwrap();
    assert_eq!(shared.len(), 48);
    let v = &data[55 * dim..56 * dim];
    shared.insert(7, v).unwrap();
    assert!(shared.insert(7, v).is_err());
    assert_eq!(shared.len(), 49);
    let hit = shared.search(v, 1, 32).unwrap();
    assert_eq!(hit[0].id, 7);
    let index = shared.into_hnsw().unwrap();
    assert_eq!(index.len(), 49);
    assert_eq!(index.get(7).unwrap(), v);
    assert!(index.get(49).is_err());
    let index: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap()).unwrap();
    assert_eq!(index.get(7).unwrap(), v);
    assert_eq!(index.search(v, 1, 32).unwrap()[0].id, 7);
}

/// Edge cases: capacity 0, capacity == len, k = 0.
#[test]
fn shared_edge_cases() {
    let index = Hnsw::builder(3, Metric::L2).build().unwrap();
    let shared = SharedHnsw::new(index, 0).unwrap();
    assert!(shared.search(&[0.0, 0.0, 0.0], 3, 8).unwrap().is_empty());
    assert!(shared.insert(1, &[0.0, 0.0, 1.0]).is_err());
    let index = shared.into_hnsw().unwrap();
    assert_eq!(index.len(), 0);
    index.to_bytes().unwrap();

    let mut index = Hnsw::builder(3, Metric::L2).build().unwrap();
    index.insert(5, &[1.0, 0.0, 0.0]).unwrap();
    let serial_k0 = index.search(&[1.0, 0.0, 0.0], 0, 8).unwrap().len();
    let shared = SharedHnsw::new(index, 1).unwrap();
    assert!(shared.insert(6, &[0.0, 1.0, 0.0]).is_err());
    let shared_k0 = shared.search(&[1.0, 0.0, 0.0], 0, 8).unwrap().len();
    assert_eq!(shared_k0, serial_k0, "k = 0 answers as Hnsw::search does");
    let index = shared.into_hnsw().unwrap();
    assert_eq!(index.len(), 1);
}

/// Heavy contention with tiny lists (m = m0 = 2, so nearly every link prunes
/// and protected edges are a large share of every list): the concurrent
/// build must still give a loadable file with every node reachable.
#[cfg(feature = "parallel")]
#[test]
fn concurrent_build_tiny_lists_keeps_the_tree() {
    let dim = 4;
    for seed in 0..6u64 {
        let n = 3000;
        let data = clustered(n, dim, 5, 100 + seed);
        let ids: Vec<u64> = (0..n as u64).collect();
        let mut index = Hnsw::builder(dim, Metric::L2)
            .m(2)
            .m0(2)
            .ef_construction(8)
            .seed(seed)
            .build()
            .unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(6)
            .build()
            .unwrap();
        let third = n / 3;
        for (a, b) in [(0, third), (third, n)] {
            pool.install(|| index.insert_many_concurrent(&ids[a..b], &data[a * dim..b * dim]))
                .unwrap();
        }
        index.verify().unwrap();
        let index: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(
            reachable(&index).iter().filter(|&&r| r).count(),
            n,
            "seed {seed}"
        );
    }
}

/// The same with `SharedHnsw` from a non-empty start, many inserting threads.
#[test]
fn shared_tiny_lists_keeps_the_tree() {
    let dim = 4;
    let (first, total, threads) = (200usize, 3000usize, 6usize);
    for seed in 0..4u64 {
        let data = clustered(total, dim, 5, 200 + seed);
        let mut start = Hnsw::builder(dim, Metric::L2)
            .m(2)
            .m0(3)
            .ef_construction(8)
            .seed(seed)
            .build()
            .unwrap();
        let ids: Vec<u64> = (0..first as u64).collect();
        start.insert_many(&ids, &data[..first * dim]).unwrap();
        let shared = SharedHnsw::new(start, total).unwrap();
        std::thread::scope(|s| {
            for t in 0..threads {
                let (shared, data) = (&shared, &data);
                s.spawn(move || {
                    for id in (first + t..total).step_by(threads) {
                        shared
                            .insert(id as u64, &data[id * dim..(id + 1) * dim])
                            .unwrap();
                        if id % 7 == 0 {
                            shared
                                .search(&data[id * dim..(id + 1) * dim], 3, 8)
                                .unwrap();
                        }
                    }
                });
            }
        });
        let index = shared.into_hnsw().unwrap();
        index.verify().unwrap();
        let index: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(
            reachable(&index).iter().filter(|&&r| r).count(),
            total,
            "seed {seed}"
        );
    }
}
