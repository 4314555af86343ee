//! The pruned assignment against the full scan, and training against the
//! number of threads.

use std::cell::Cell;

use super::{Init, KMeans, KMeansParams};
use crate::MemoryStore;
use crate::rng::SplitMix64;
use crate::store::FeatureStore;

thread_local! {
    /// Overrides the choice of assignment for trainings on this thread.
    pub(super) static FORCE_BOUNDS: Cell<Option<bool>> = const { Cell::new(None) };
}

/// `n` points around `centres` random centres in `dim` dimensions, plus a
/// share of uniform noise points (near-ties for the bounds).
fn clustered(n: usize, dim: usize, centres: usize, seed: u64) -> MemoryStore {
    let mut rng = SplitMix64::new(seed);
    let c: Vec<f32> = (0..centres * dim)
        .map(|_| (rng.next_f64() * 8.0 - 4.0) as f32)
        .collect();
    let mut data = Vec::with_capacity(n * dim);
    for i in 0..n {
        if i % 10 == 0 {
            data.extend((0..dim).map(|_| (rng.next_f64() * 8.0 - 4.0) as f32));
            continue;
        }
        let j = rng.below(centres as u64) as usize;
        data.extend(
            c[j * dim..(j + 1) * dim]
                .iter()
                .map(|&x| x + (rng.next_f64() - 0.5) as f32),
        );
    }
    MemoryStore::from_flat(dim, &data).unwrap()
}

fn train(params: &KMeansParams, store: &MemoryStore, bounds: bool) -> KMeans {
    FORCE_BOUNDS.set(Some(bounds));
    let km = KMeans::train(params, store, |_| true).unwrap();
    FORCE_BOUNDS.set(None);
    km
}

#[test]
fn pruned_assignment_is_the_full_scan() {
    // Small dimensions and many centroids: plenty of near-ties.
    for (dim, k, seed) in [(8, 300, 1), (24, 600, 2), (3, 128, 3)] {
        let store = clustered(12_000, dim, k / 2, seed);
        let params = KMeansParams {
            k,
            max_iters: 6,
            tolerance: 0.0,
            seed,
            max_points_per_centroid: 1 << 20,
            ..KMeansParams::default()
        };
        let full = train(&params, &store, false);
        let pruned = train(&params, &store, true);

        // Equal labels give equal sums, in the same order: the centroids of
        // every iteration, and so the last ones, are the same bits.
        assert_eq!(full.centroids(), pruned.centroids(), "dim {dim}, k {k}");
        let skipped: usize = pruned.stats().iter().map(|s| s.skipped).sum();
        // The bounds did spare some points the scan.
        assert!(skipped > store.len(), "dim {dim}, k {k}: {skipped} skipped");
        for (a, b) in full.stats().iter().zip(pruned.stats()) {
            assert!(
                (a.inertia - b.inertia).abs() <= 1e-4 * a.inertia,
                "{a:?} {b:?}"
            );
            assert_eq!(a.repaired, b.repaired);
        }
        // And the labels of every point under the final centroids.
        let labels = |km: &KMeans| {
            km.assign_many(store_flat(&store).as_slice())
                .unwrap()
                .into_iter()
                .map(|(j, _)| j)
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(&full), labels(&pruned));
    }
}

fn store_flat(store: &MemoryStore) -> Vec<f32> {
    let mut out = Vec::new();
    for i in 0..store.len() {
        let _ = store.with_vector(i as u32, |v| out.extend_from_slice(v));
    }
    out
}

/// Seeding alone (one iteration) and whole trainings, at a `k` that keeps
/// bounds and with a seeding sample of several chunks, give the same bits
/// on 1, 2 and 3 threads as the serial `train`.
#[cfg(feature = "parallel")]
#[test]
fn any_thread_count_gives_the_same_seeds_and_centroids() {
    let store = clustered(24_000, 8, 400, 5);
    for (init, iters) in [
        (Init::KMeansPlusPlus, 1),
        (Init::KMeansPlusPlus, 4),
        (Init::Hierarchical, 1),
        (Init::Hierarchical, 3),
    ] {
        let params = KMeansParams {
            k: 700,
            init,
            max_iters: iters,
            tolerance: 0.0,
            seed: 9,
            max_points_per_centroid: 1 << 20,
            ..KMeansParams::default()
        };
        let serial = KMeans::train(&params, &store, |_| true).unwrap();
        assert!(iters == 1 || serial.stats().iter().any(|s| s.skipped > 0));
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let km = pool
                .install(|| KMeans::train_parallel(&params, &store, |_| true))
                .unwrap();
            assert_eq!(
                km.centroids(),
                serial.centroids(),
                "{init:?}, {threads} threads, {iters} iterations"
            );
            assert_eq!(km.stats(), serial.stats(), "{threads} threads");
            // `fit` (nothing to sample here) trains the same way.
            let fitted = pool
                .install(|| KMeans::fit(&params, &store, |_| true))
                .unwrap();
            assert_eq!(
                fitted.centroids(),
                serial.centroids(),
                "fit, {threads} threads"
            );
        }
    }
}

/// The hierarchical start, refined, clusters about as well as k-means++
/// at large `k`, with every centroid in use, and is deterministic.
#[test]
fn hierarchical_start_is_as_good_as_kmeans_plus_plus() {
    let store = clustered(40_000, 16, 600, 11);
    let run = |init| {
        let params = KMeansParams {
            k: 1000,
            init,
            max_iters: 6,
            tolerance: 0.0,
            seed: 4,
            max_points_per_centroid: 1 << 20,
            ..KMeansParams::default()
        };
        KMeans::train(&params, &store, |_| true).unwrap()
    };
    let pp = run(Init::KMeansPlusPlus);
    let hier = run(Init::Hierarchical);
    assert_eq!(hier.k(), 1000);
    let (a, b) = (
        pp.stats().last().unwrap().inertia,
        hier.stats().last().unwrap().inertia,
    );
    assert!(b <= 1.05 * a, "hierarchical {b} against k-means++ {a}");
    assert_eq!(hier.centroids(), run(Init::Hierarchical).centroids());
    assert_ne!(hier.centroids(), pp.centroids());
    // No centroid is left without points by the end.
    let flat = store_flat(&store);
    let mut used = vec![false; 1000];
    for (j, _) in hier.assign_many(&flat).unwrap() {
        used[j as usize] = true;
    }
    let unused = used.iter().filter(|&&u| !u).count();
    assert!(unused <= 10, "{unused} centroids hold no point");
}
