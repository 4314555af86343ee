//! Small valid index files of every kind, made the same way every time: the
//! starting points of the resealed and streaming targets and the seed corpus.

use std::sync::OnceLock;

use vectrove_core::rng::SplitMix64;
use vectrove_core::{Hnsw, Ivf, IvfParams, MemoryStore, Metric};

/// One valid file and what it holds.
pub struct Sample {
    /// A short name (the corpus file's name).
    pub name: &'static str,
    /// The whole file.
    pub bytes: Vec<u8>,
}

fn points(rng: &mut SplitMix64, n: usize, dim: usize) -> Vec<f32> {
    // Coarse values, so that equal distances (ties) occur.
    (0..n * dim)
        .map(|_| (rng.next_f64() * 8.0).floor() as f32 * 0.25 - 1.0)
        .map(|x| if x == 0.0 { 0.5 } else { x })
        .collect()
}

fn hnsw(seed: u64, dim: usize, n: usize, metric: Metric, m: usize, deleted: &[u64]) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let mut index = Hnsw::builder(dim, metric)
        .m(m)
        .ef_construction(16)
        .seed(seed)
        .build()
        .unwrap();
    let v = points(&mut rng, n, dim);
    for (i, v) in v.chunks_exact(dim).enumerate() {
        index.insert(100 + i as u64 * 3, v).unwrap();
    }
    for &id in deleted {
        index.delete(id).unwrap();
    }
    index.to_bytes().unwrap()
}

fn hnsw_bits(seed: u64, bytes: usize, n: usize, m: usize, deleted: &[u64]) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let store = MemoryStore::<u8>::new(bytes).unwrap();
    let mut index = Hnsw::builder(bytes, Metric::Hamming)
        .m(m)
        .ef_construction(16)
        .seed(seed)
        .build_with_store(store)
        .unwrap();
    for i in 0..n {
        let v: Vec<u8> = (0..bytes).map(|_| rng.next_u64() as u8).collect();
        index.insert(i as u64, &v).unwrap();
    }
    for &id in deleted {
        index.delete(id).unwrap();
    }
    index.to_bytes().unwrap()
}

fn ivf(seed: u64, dim: usize, n: usize, metric: Metric, nlist: usize, deleted: &[u64]) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let v = points(&mut rng, n.max(nlist * 4), dim);
    let training = MemoryStore::from_flat(dim, &v).unwrap();
    let params = IvfParams {
        nlist,
        iters: 5,
        seed,
        ..IvfParams::default()
    };
    let mut index = Ivf::train(metric, params, &training).unwrap();
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 7 + 1).collect();
    index.insert_many(&ids, &v[..n * dim]).unwrap();
    for &id in deleted {
        index.delete(id).unwrap();
    }
    index.to_bytes().unwrap()
}

/// Every sample file, in a fixed order (targets pick one by index).
pub fn samples() -> &'static [Sample] {
    static ALL: OnceLock<Vec<Sample>> = OnceLock::new();
    ALL.get_or_init(|| {
        vec![
            Sample {
                name: "hnsw-l2",
                bytes: hnsw(1, 4, 40, Metric::L2, 3, &[109, 130]),
            },
            Sample {
                name: "hnsw-cosine",
                bytes: hnsw(2, 3, 24, Metric::Cosine, 4, &[100]),
            },
            Sample {
                name: "hnsw-ip",
                bytes: hnsw(3, 5, 16, Metric::InnerProduct, 2, &[]),
            },
            Sample {
                name: "hnsw-hamming",
                bytes: hnsw_bits(4, 2, 30, 3, &[5, 6, 7]),
            },
            Sample {
                name: "hnsw-empty",
                bytes: hnsw(5, 2, 0, Metric::L2, 4, &[]),
            },
            Sample {
                name: "hnsw-one-deleted",
                bytes: hnsw(6, 2, 1, Metric::L2, 4, &[100]),
            },
            Sample {
                name: "ivf-l2",
                bytes: ivf(7, 3, 40, Metric::L2, 4, &[8, 15]),
            },
            Sample {
                name: "ivf-cosine",
                bytes: ivf(8, 4, 20, Metric::Cosine, 3, &[]),
            },
            Sample {
                name: "ivf-ip",
                bytes: ivf(9, 2, 12, Metric::InnerProduct, 2, &[1]),
            },
            Sample {
                name: "ivf-empty",
                bytes: ivf(10, 2, 0, Metric::L2, 2, &[]),
            },
        ]
    })
}

/// Sample `i` (wrapping around).
pub fn sample(i: u8) -> &'static Sample {
    let all = samples();
    &all[usize::from(i) % all.len()]
}
