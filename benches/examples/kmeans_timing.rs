//! One k-means training of an `.fvecs` file, timed per iteration, for the
//! comparison with faiss in `benches/kmeans_peer.sh`.
//!
//! ```text
//! cargo run --release -p vectrove-benches --example kmeans_timing -- \
//!     FILE K ITERS THREADS [MAX_POINTS_PER_CENTROID] [SEED] [INIT]
//! ```
//!
//! `INIT` is `kmeans++` (the default), `random` or `hierarchical`.
//!
//! Prints one line per iteration (its seconds, objective and the points
//! whose bounds spared them the full scan), then the seeding time, the mean
//! time of iterations 2 onwards and the total.

use std::time::Instant;

use rayon::ThreadPoolBuilder;
use vectrove_core::MemoryStore;
use vectrove_core::kmeans::{Init, KMeans, KMeansParams};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: kmeans_timing FILE K ITERS THREADS [MAX_POINTS_PER_CENTROID] [SEED] [INIT]";
    let arg = |i: usize, default: Option<usize>| -> usize {
        match args.get(i) {
            Some(s) => s.parse().expect(usage),
            None => default.expect(usage),
        }
    };
    let path = std::path::PathBuf::from(args.first().expect(usage));
    let (k, iters, threads) = (arg(1, None), arg(2, None), arg(3, None));
    let per = arg(4, Some(256));
    let seed = arg(5, Some(1)) as u64;
    let init = match args.get(6) {
        Some(name) => Init::from_name(name).expect(usage),
        None => Init::KMeansPlusPlus,
    };
    let (dim, data) = vectrove_testkit::read_fvecs(&path, usize::MAX);
    let store = MemoryStore::from_flat(dim, &data).expect("valid vectors");
    drop(data);
    let params = KMeansParams {
        k,
        max_iters: iters,
        tolerance: 0.0,
        seed,
        max_points_per_centroid: per,
        init,
        ..KMeansParams::default()
    };
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool");
    let t0 = Instant::now();
    let mut last = t0;
    let mut times = Vec::new();
    let km = pool
        .install(|| {
            KMeans::fit_with(&params, &store, None::<MemoryStore>, |s| {
                let t = last.elapsed().as_secs_f64();
                last = Instant::now();
                times.push(t);
                println!(
                    "iteration {}: {t:.3} s, objective {:.1}, {} skipped",
                    s.iteration, s.inertia, s.skipped
                );
                true
            })
        })
        .expect("training");
    let total = t0.elapsed().as_secs_f64();
    let later = &times[1.min(times.len())..];
    let per_iter = later.iter().sum::<f64>() / later.len().max(1) as f64;
    println!(
        "vectrove n={} d={dim} k={k} init={} threads={threads}: per iteration {per_iter:.3} s, \
         first {:.3} s, total {total:.3} s, objective {:.1}",
        store_len(&store),
        init.name(),
        times[0],
        km.stats().last().map_or(f64::NAN, |s| s.inertia)
    );
}

fn store_len(store: &MemoryStore) -> usize {
    use vectrove_core::FeatureStore;
    store.len()
}
