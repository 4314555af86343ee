//! IVF-Flat: exact when every list is probed, recall grows with nprobe,
//! filters and deletions like HNSW, bad input changes nothing, and the file
//! round-trips and refuses damage.

use vectrove_core::format::reseal;
use vectrove_core::rng::SplitMix64;
use vectrove_core::{Error, Hnsw, Ivf, IvfParams, MemoryStore, Metric, exact_knn};
use vectrove_testkit::exact_ids;

const DIM: usize = 16;

/// Points around 20 random centres, and queries drawn the same way.
fn clustered(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let centres: Vec<f32> = (0..20 * DIM)
        .map(|_| rng.next_f64() as f32 * 10.0)
        .collect();
    let mut out = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        let c = rng.below(20) as usize;
        for j in 0..DIM {
            out.push(centres[c * DIM + j] + rng.next_f64() as f32 - 0.5);
        }
    }
    out
}

fn index(metric: Metric, n: usize) -> (Ivf, Vec<f32>) {
    let base = clustered(n, 1);
    let params = IvfParams {
        nlist: 32,
        seed: 5,
        ..IvfParams::default()
    };
    let mut ivf = Ivf::train(metric, params, &MemoryStore::from_flat(DIM, &base).unwrap()).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    ivf.insert_many(&ids, &base).unwrap();
    (ivf, base)
}

fn recall(ivf: &Ivf, base: &[f32], queries: &[f32], nprobe: usize) -> f64 {
    let truth = exact_ids(ivf.metric(), DIM, base, queries, 10);
    let results: Vec<_> = queries
        .chunks_exact(DIM)
        .map(|q| ivf.search(q, 10, nprobe).unwrap())
        .collect();
    vectrove_testkit::recall(&results, &truth, 10)
}

#[test]
fn probing_every_list_is_exact_and_recall_grows_with_nprobe() {
    for metric in [Metric::L2, Metric::Cosine, Metric::InnerProduct] {
        let (ivf, base) = index(metric, 3000);
        assert_eq!(ivf.len(), 3000);
        assert_eq!(ivf.list_sizes().iter().sum::<usize>(), 3000);
        let queries = clustered(100, 2);
        let all = recall(&ivf, &base, &queries, ivf.nlist());
        assert!(all > 0.999, "{metric}: all lists give recall {all}");
        let mut last = 0.0;
        for nprobe in [1, 2, 4, 8, 32] {
            let r = recall(&ivf, &base, &queries, nprobe);
            assert!(r >= last, "{metric}: nprobe {nprobe} recall {r} < {last}");
            last = r;
        }
        // Each query's own cluster is found among its nearest centroids.
        // (Inner product ranks by norm as much as by direction, so its
        // nearest lists are a weaker guide; it only has to improve.)
        let r4 = recall(&ivf, &base, &queries, 4);
        if metric != Metric::InnerProduct {
            assert!(r4 > 0.8, "{metric}: recall {r4} at nprobe 4");
        }
        // Distances match the exact ones.
        let q = &queries[..DIM];
        let got = ivf.search(q, 3, ivf.nlist()).unwrap();
        let want = exact_knn(metric, DIM, &base, q, 3).unwrap();
        for (g, (id, d)) in got.iter().zip(&want[0]) {
            assert_eq!(g.id, u64::from(*id));
            assert!(
                (g.distance - d).abs() <= 1e-3 * d.abs().max(1.0),
                "{metric}"
            );
        }
    }
}

#[test]
fn filters_deletions_and_reinsertion() {
    let (mut ivf, base) = index(Metric::L2, 1000);
    let q = &base[7 * DIM..8 * DIM];
    assert_eq!(ivf.search(q, 1, 4).unwrap()[0].id, 7);
    let odd = ivf.search_filtered(q, 10, 32, |id| id % 2 == 1).unwrap();
    assert_eq!(odd.len(), 10);
    assert!(odd.iter().all(|n| n.id % 2 == 1));
    ivf.delete(7).unwrap();
    assert!(!ivf.contains(7));
    assert_eq!(ivf.len(), 999);
    assert!(ivf.search(q, 50, 32).unwrap().iter().all(|n| n.id != 7));
    assert!(matches!(ivf.delete(7), Err(Error::UnknownId { id: 7 })));
    assert!(matches!(ivf.get(7), Err(Error::UnknownId { id: 7 })));
    ivf.insert(7, q).unwrap();
    assert_eq!(ivf.search(q, 1, 4).unwrap()[0].id, 7);
    assert_eq!(ivf.get(7).unwrap(), q);
    // Ids need not be slots.
    ivf.insert(u64::MAX, &[100.0; DIM]).unwrap();
    assert_eq!(ivf.search(&[100.0; DIM], 1, 32).unwrap()[0].id, u64::MAX);
    assert!(ivf.search(q, 0, 4).unwrap().is_empty());
    assert!(ivf.search(q, 5, 0).unwrap().is_empty());
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let (mut ivf, _) = index(Metric::Cosine, 500);
    let before = ivf.to_bytes().unwrap();
    let mut nan = vec![1.0; DIM];
    nan[3] = f32::NAN;
    assert!(matches!(
        ivf.insert(9999, &nan),
        Err(Error::NonFinite { position: 3 })
    ));
    assert!(matches!(
        ivf.insert(9999, &[0.0; DIM]),
        Err(Error::ZeroVector)
    ));
    assert!(matches!(
        ivf.insert(9999, &[1.0; 3]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        ivf.insert(5, &[1.0; DIM]),
        Err(Error::DuplicateId { id: 5 })
    ));
    let two = [1.0; 2 * DIM];
    assert!(matches!(
        ivf.insert_many(&[10_000, 10_000], &two),
        Err(Error::DuplicateId { id: 10_000 })
    ));
    // One bad vector in a batch refuses the whole batch.
    let mut batch = vec![1.0; 2 * DIM];
    batch[DIM + 1] = f32::INFINITY;
    assert!(ivf.insert_many(&[10_000, 10_001], &batch).is_err());
    assert!(ivf.search(&nan, 5, 4).is_err());
    assert!(ivf.search(&[1.0; 2], 5, 4).is_err());
    assert_eq!(ivf.to_bytes().unwrap(), before);
    // Training refuses what k-means refuses.
    let tiny = MemoryStore::from_flat(DIM, &[1.0; DIM]).unwrap();
    let too_many = IvfParams {
        nlist: 256,
        ..IvfParams::default()
    };
    assert!(Ivf::train(Metric::L2, too_many, &tiny).is_err());
    // Left at its default, nlist follows the training set: one list here.
    let auto = Ivf::train(Metric::L2, IvfParams::default(), &tiny).unwrap();
    assert_eq!(auto.nlist(), IvfParams::default_nlist(1));
    assert!(
        Ivf::train(
            Metric::Hamming,
            IvfParams {
                nlist: 1,
                ..IvfParams::default()
            },
            &tiny
        )
        .is_err()
    );
}

#[test]
fn file_round_trip_gives_the_same_index() {
    let (mut ivf, base) = index(Metric::L2, 800);
    ivf.delete(3).unwrap();
    ivf.insert(1 << 40, &base[..DIM]).unwrap();
    let bytes = ivf.to_bytes().unwrap();
    let copy = Ivf::from_bytes(&bytes).unwrap();
    assert_eq!(copy.to_bytes().unwrap(), bytes);
    assert_eq!(copy.params(), ivf.params());
    assert_eq!(copy.list_sizes(), ivf.list_sizes());
    assert_eq!(copy.len(), ivf.len());
    for q in clustered(20, 9).chunks_exact(DIM) {
        assert_eq!(
            copy.search(q, 10, 3).unwrap(),
            ivf.search(q, 10, 3).unwrap()
        );
    }
    // Each kind refuses the other's files.
    assert!(matches!(
        Hnsw::<MemoryStore>::from_bytes(&bytes),
        Err(Error::Corrupt { .. })
    ));
    let mut hnsw = Hnsw::builder(DIM, Metric::L2).build().unwrap();
    hnsw.insert(1, &base[..DIM]).unwrap();
    assert!(matches!(
        Ivf::from_bytes(&hnsw.to_bytes().unwrap()),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn damaged_files_are_refused_without_panicking() {
    let (mut ivf, _) = index(Metric::L2, 60);
    ivf.delete(10).unwrap();
    let bytes = ivf.to_bytes().unwrap();
    for len in 0..bytes.len() {
        assert!(
            Ivf::from_bytes(&bytes[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        assert!(Ivf::from_bytes(&b).is_err(), "bit flipped at {i}");
    }
    // With checksums recomputed, a damaged value is either refused or
    // gives an index that still answers queries.
    let mut refused = 0;
    let mut rng = SplitMix64::new(3);
    let meta_len = vectrove_core::format::Header::parse(&bytes, bytes.len() as u64)
        .unwrap()
        .meta_len as usize;
    for i in 0..meta_len {
        for v in [0x00, 0xff, rng.below(256) as u8] {
            let mut b = bytes.clone();
            b[i] = v;
            reseal(&mut b);
            match Ivf::from_bytes(&b) {
                Err(_) => refused += 1,
                Ok(ix) => {
                    ix.search(&[1.0; DIM], 5, 4).ok();
                }
            }
        }
    }
    assert!(refused > 0);
}

/// The k-means start is kept in the file (the word after the points per
/// centroid in `PARM`); an unknown one is refused.
#[test]
fn the_kmeans_start_round_trips_and_an_unknown_one_is_refused() {
    use vectrove_core::kmeans::Init;
    let base = clustered(3_000, 4);
    let params = IvfParams {
        nlist: 40,
        seed: 2,
        init: Init::Hierarchical,
        ..IvfParams::default()
    };
    let training = MemoryStore::from_flat(DIM, &base).unwrap();
    let mut ivf = Ivf::train(Metric::L2, params, &training).unwrap();
    let ids: Vec<u64> = (0..3_000).collect();
    ivf.insert_many(&ids, &base).unwrap();
    assert_eq!(ivf.params().init, Init::Hierarchical);
    let bytes = ivf.to_bytes().unwrap();
    let copy = Ivf::from_bytes(&bytes).unwrap();
    assert_eq!(copy.params(), ivf.params());
    assert!(recall(&copy, &base, &clustered(20, 9), 8) > 0.9);

    // The PARM entry of the section table: tag, flags, then the offset.
    let at = bytes.windows(4).position(|w| w == b"PARM").unwrap();
    let offset = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
    let word = offset + 12;
    assert_eq!(bytes[word..word + 4], 2u32.to_le_bytes());
    let mut bad = bytes.clone();
    bad[word..word + 4].copy_from_slice(&7u32.to_le_bytes());
    reseal(&mut bad);
    match Ivf::from_bytes(&bad) {
        Err(Error::Corrupt { .. }) => {}
        other => panic!(
            "an unknown start was accepted: {:?}",
            other.map(|i| i.params())
        ),
    }
}
