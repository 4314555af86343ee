//! Criterion benchmarks of vectrove's k-means, with linfa-clustering as a
//! Rust peer in the same run.
//!
//! ```text
//! cargo bench -p vectrove-benches --bench kmeans
//! ```
//!
//! - `kmeans_seed_bench`: the seed's benchmark. 128-d planted clusters,
//!   k = 512, a whole training (k-means++ seeding and 5 iterations, one
//!   thread) reading the same sample from memory and from a temporary file;
//!   the on-disk/in-memory ratio is the number to watch.
//! - `kmeans_lloyd_debian`: debian-384 50k, k = 256, L2, every point; time
//!   per Lloyd iteration on one thread (`train`) and on two
//!   (`train_parallel`), seeding excluded.
//! - `kmeans_linfa_peer`: linfa-clustering's `KMeans` on the same data and k,
//!   one thread, time per iteration of its `fit`.
//!
//! Before its first debian benchmark, each implementation trains once for
//! 25 iterations on two threads (outside any timing) and prints its inertia;
//! in the benchmark closure, so a filter that skips the benchmark skips this
//! too. The debian groups print SKIPPED when the data is absent.

use std::hint::black_box;
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::{KMeans as LinfaKMeans, KMeansInit};
use ndarray::Array2;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use rayon::{ThreadPool, ThreadPoolBuilder};
use vectrove::stores::TempFileStore;
use vectrove_benches::data::{DIM, debian_base, generated};
use vectrove_core::kmeans::{
    Init, IterationStats, KMeans, KMeansParams, copy_sample, sample_slots,
};
use vectrove_core::rng::SplitMix64;
use vectrove_core::{FeatureStore, MemoryStore};

/// Seed of every training, vectrove's and linfa's.
const SEED: u64 = 1234;

const PLANTED_DIM: usize = 128;
const PLANTED_K: usize = 512;
/// Points kept per centroid: the sample both stores hold is 512 * 64.
const PLANTED_PER_CENTROID: usize = 64;
const PLANTED_ITERS: usize = 5;

const DEBIAN_N: usize = 50_000;
const DEBIAN_K: usize = 256;
/// Iterations of the one-off inertia report.
const REPORT_ITERS: usize = 25;
/// Most iterations timed per training: bounds the chance of an exact
/// convergence (tolerance 0) ending a run early.
const MAX_TIMED_RUN: usize = 8;

fn pool(threads: usize) -> ThreadPool {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

/// The first 50k vectors of debian-384, read once for both debian groups.
fn debian() -> Option<&'static [f32]> {
    static BASE: OnceLock<Option<Vec<f32>>> = OnceLock::new();
    BASE.get_or_init(|| debian_base(DEBIAN_N)).as_deref()
}

/// `PLANTED_K` centres uniform in [-1, 1)^128, each with twice the points
/// the sample keeps, so the stores hold a random sample copied out as the
/// CLI's `kmeans --on-disk` does. Offsets are roughly Gaussian (a centred
/// sum of four uniforms), standard deviation 0.1 per coordinate.
fn planted() -> Vec<f32> {
    let centres = generated(PLANTED_K, PLANTED_DIM, SEED);
    let mut rng = SplitMix64::new(SEED + 1);
    let scale = 0.1 * 3f64.sqrt();
    let mut data = Vec::with_capacity(2 * PLANTED_PER_CENTROID * centres.len());
    for _ in 0..2 * PLANTED_PER_CENTROID {
        for c in centres.chunks_exact(PLANTED_DIM) {
            data.extend(c.iter().map(|&x| {
                let g = (0..4).map(|_| rng.next_f64()).sum::<f64>() - 2.0;
                x + (g * scale) as f32
            }));
        }
    }
    data
}

fn seed_bench(c: &mut Criterion) {
    let params = KMeansParams {
        k: PLANTED_K,
        max_iters: PLANTED_ITERS,
        tolerance: 0.0,
        seed: SEED,
        max_points_per_centroid: PLANTED_PER_CENTROID,
        ..KMeansParams::default()
    };
    let source = MemoryStore::from_flat(PLANTED_DIM, &planted()).expect("valid data");
    let slots = sample_slots(&params, source.len());
    let mut memory = MemoryStore::new(PLANTED_DIM).expect("valid dim");
    copy_sample(&source, &slots, &mut memory).expect("copy to memory");
    let mut disk = TempFileStore::new(PLANTED_DIM).expect("a temporary file");
    copy_sample(&source, &slots, &mut disk).expect("copy to disk");
    eprintln!(
        "kmeans_seed_bench: {} planted 128-d points, sample {}, k={PLANTED_K}, \
         k-means++ and {PLANTED_ITERS} iterations, one thread",
        source.len(),
        slots.len()
    );

    let mut group = c.benchmark_group("kmeans_seed_bench");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("in_memory", |b| {
        b.iter(|| KMeans::train(&params, &memory, |_| true).expect("trains"));
    });
    group.bench_function("on_disk", |b| {
        b.iter(|| KMeans::train(&params, &disk, |_| true).expect("trains"));
    });
    group.finish();
}

fn debian_params(max_iters: usize, init: Init) -> KMeansParams {
    KMeansParams {
        k: DEBIAN_K,
        max_iters,
        // Never stop early: every iteration asked for runs.
        tolerance: 0.0,
        seed: SEED,
        init,
        ..KMeansParams::default()
    }
}

/// The time of `iters` Lloyd iterations, seeding excluded. `train(m, progress)`
/// trains for `m` iterations; each run trains one more than it counts and the
/// clock runs from the first progress call (the end of iteration 1) to the
/// last, so k-means++ and the first iteration stay outside.
fn lloyd_time(
    iters: u64,
    mut train: impl FnMut(usize, &mut dyn FnMut(&IterationStats) -> bool),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let run = left.min(MAX_TIMED_RUN);
        let mut marks = Vec::with_capacity(run + 1);
        train(run + 1, &mut |_| {
            marks.push(Instant::now());
            true
        });
        assert_eq!(marks.len(), run + 1, "training converged early");
        total += marks[run] - marks[0];
        left -= run;
    }
    total
}

/// Train 25 iterations from each initialisation and print the inertia.
fn report_vectrove(store: &MemoryStore<f32>, two: &ThreadPool) {
    let n = store.len();
    for init in [Init::KMeansPlusPlus, Init::Random] {
        let t = Instant::now();
        let km = two
            .install(|| KMeans::train_parallel(&debian_params(REPORT_ITERS, init), store, |_| true))
            .expect("trains");
        let last = km.stats().last().expect("one iteration at least");
        eprintln!(
            "kmeans inertia: vectrove {init:?} seed {SEED}, {} iterations: sum {:.6e}, \
             mean {:.5} per point ({:.1} s on 2 threads with seeding)",
            last.iteration,
            last.inertia,
            last.inertia / n as f64,
            t.elapsed().as_secs_f64()
        );
    }
}

fn lloyd_debian(c: &mut Criterion) {
    let Some(base) = debian() else {
        eprintln!("kmeans_lloyd_debian: SKIPPED (no debian-384)");
        return;
    };
    let store = MemoryStore::from_flat(DIM, base).expect("valid data");
    let n = store.len();
    let two = pool(2);
    let report = Once::new();
    eprintln!("kmeans_lloyd_debian: debian-384 {n} x {DIM}, k={DEBIAN_K}, L2, per Lloyd iteration");

    let mut group = c.benchmark_group("kmeans_lloyd_debian");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15));
    let init = Init::KMeansPlusPlus;
    group.bench_function("1_thread", |b| {
        report.call_once(|| report_vectrove(&store, &two));
        b.iter_custom(|iters| {
            lloyd_time(iters, |m, progress| {
                black_box(
                    KMeans::train(&debian_params(m, init), &store, progress).expect("trains"),
                );
            })
        });
    });
    group.bench_function("2_threads", |b| {
        report.call_once(|| report_vectrove(&store, &two));
        b.iter_custom(|iters| {
            two.install(|| {
                lloyd_time(iters, |m, progress| {
                    let km = KMeans::train_parallel(&debian_params(m, init), &store, progress);
                    black_box(km.expect("trains"));
                })
            })
        });
    });
    group.finish();
}

fn linfa_peer(c: &mut Criterion) {
    let Some(base) = debian() else {
        eprintln!("kmeans_linfa_peer: SKIPPED (no debian-384)");
        return;
    };
    let n = base.len() / DIM;
    let records = Array2::from_shape_vec((n, DIM), base.to_vec()).expect("n x 384");
    let dataset = DatasetBase::from(records);
    // linfa's k-means++ rescans every point against all centroids so far,
    // O(n k^2 d): about 6e11 operations here. Its random init takes k rows.
    // The tolerance must be positive; the smallest one never stops a run
    // that is still moving.
    let fit = |iters: u64| {
        LinfaKMeans::params_with_rng(DEBIAN_K, Xoshiro256Plus::seed_from_u64(SEED))
            .n_runs(1)
            .init_method(KMeansInit::Random)
            .max_n_iterations(iters)
            .tolerance(f32::MIN_POSITIVE)
            .fit(&dataset)
            .expect("linfa trains")
    };
    eprintln!(
        "kmeans_linfa_peer: debian-384 {n} x {DIM}, k={DEBIAN_K}, one thread, fit time / iterations"
    );

    let one = pool(1);
    let report = Once::new();
    let mut group = c.benchmark_group("kmeans_linfa_peer");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(60));
    // One criterion iteration is one of linfa's iterations: a fit of `iters`
    // iterations is timed whole, its random init (copying 256 rows) included.
    group.bench_function("1_thread", |b| {
        report.call_once(|| {
            let t = Instant::now();
            // linfa assigns points with rayon: the pool sets its threads.
            let model = pool(2).install(|| fit(REPORT_ITERS as u64));
            // The mean over points of the last assignment's squared
            // distances (vectrove reports their sum).
            let mean = f64::from(model.inertia());
            eprintln!(
                "kmeans inertia: linfa-clustering Random Xoshiro256Plus seed {SEED}, \
                 {REPORT_ITERS} iterations: sum {:.6e}, mean {mean:.5} per point \
                 ({:.1} s on 2 threads)",
                mean * n as f64,
                t.elapsed().as_secs_f64()
            );
        });
        b.iter_custom(|iters| {
            one.install(|| {
                let t = Instant::now();
                black_box(fit(iters));
                t.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, seed_bench, lloyd_debian, linfa_peer);
criterion_main!(benches);
