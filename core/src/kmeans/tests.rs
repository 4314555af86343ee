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
    /// Overrides the choice of the assignment pruned on leading directions.
    pub(super) static FORCE_LEAD: Cell<Option<bool>> = const { Cell::new(None) };
    /// Iterations assigned on leading directions by trainings on this thread.
    pub(super) static LEAD_ITERATIONS: Cell<usize> = const { Cell::new(0) };
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

/// `n` points of `dim` dimensions that mostly vary along `rank` hidden
/// directions (clusters in that subspace, a little noise off it): the shape
/// of embeddings, where leading directions carry most of the variance.
fn low_rank(n: usize, dim: usize, rank: usize, centres: usize, seed: u64) -> MemoryStore {
    let mut rng = SplitMix64::new(seed);
    let mut uniform = |s: f64| ((rng.next_f64() * 2.0 - 1.0) * s) as f32;
    let mix: Vec<f32> = (0..rank * dim).map(|_| uniform(1.0)).collect();
    let c: Vec<f32> = (0..centres * rank).map(|_| uniform(3.0)).collect();
    let mut data = Vec::with_capacity(n * dim);
    let mut hidden = vec![0f32; rank];
    for i in 0..n {
        let j = i * 7919 % centres;
        for (h, &x) in hidden.iter_mut().zip(&c[j * rank..(j + 1) * rank]) {
            *h = x + uniform(0.5);
        }
        for d in 0..dim {
            let v: f32 = (0..rank).map(|r| hidden[r] * mix[r * dim + d]).sum();
            data.push(v + uniform(0.05));
        }
    }
    MemoryStore::from_flat(dim, &data).unwrap()
}

fn train_lead(params: &KMeansParams, store: &MemoryStore, lead: bool) -> KMeans {
    FORCE_LEAD.set(Some(lead));
    FORCE_BOUNDS.set(Some(false));
    let km = KMeans::train(params, store, |_| true).unwrap();
    FORCE_LEAD.set(None);
    FORCE_BOUNDS.set(None);
    km
}

#[test]
fn assignment_on_leading_directions_is_the_full_scan() {
    use crate::Metric;
    // Low-rank data (the directions rule out most centroids) and isotropic
    // clusters (they rule out few), in L2 and cosine.
    let cases = [
        (low_rank(6_000, 64, 6, 150, 1), 300, Metric::L2),
        (low_rank(5_000, 48, 5, 100, 2), 200, Metric::Cosine),
        (clustered(5_000, 40, 80, 3), 160, Metric::L2),
    ];
    for (store, k, metric) in cases {
        let params = KMeansParams {
            k,
            metric,
            max_iters: 5,
            tolerance: 0.0,
            seed: 4,
            max_points_per_centroid: 1 << 20,
            ..KMeansParams::default()
        };
        let full = train_lead(&params, &store, false);
        let lead = train_lead(&params, &store, true);
        // Exact scores come from `dot` rather than the blocked kernel, so a
        // label may differ where two centroids tie within rounding; these
        // sets have no such ties, so the centroids are the same.
        let worst = full
            .centroids()
            .iter()
            .zip(lead.centroids())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-4,
            "{metric:?} k {k}: centroids differ by {worst}"
        );
        for (a, b) in full.stats().iter().zip(lead.stats()) {
            assert!(
                (a.inertia - b.inertia).abs() <= 1e-5 * a.inertia.abs(),
                "{a:?} {b:?}"
            );
        }
        // From the second iteration on, the directions spared points every
        // scan but that of their projection's nearest centroid.
        let spared: usize = lead.stats().iter().map(|s| s.skipped).sum();
        assert!(spared > 0, "{metric:?} k {k}: none spared");
    }
}

#[test]
fn leading_directions_are_used_only_where_they_hold_the_variance() {
    use super::lead::Lead;
    let params = KMeansParams {
        k: 600,
        seed: 1,
        ..KMeansParams::default()
    };
    // Embedding-like data in 128 dimensions: the directions are kept.
    assert!(Lead::fit(&params, &low_rank(3_000, 128, 8, 100, 5)).is_some());
    // Isotropic clusters: a quarter of the directions holds about a quarter
    // of the variance, and the full scan (or the bounds) stays.
    assert!(Lead::fit(&params, &clustered(3_000, 128, 1_000, 6)).is_none());
    // Too few dimensions, too small a k, or inner product: never tried.
    assert!(Lead::fit(&params, &low_rank(3_000, 64, 8, 100, 5)).is_none());
    let small = KMeansParams { k: 100, ..params };
    assert!(Lead::fit(&small, &low_rank(3_000, 128, 8, 100, 5)).is_none());
    let ip = KMeansParams {
        metric: crate::Metric::InnerProduct,
        ..params
    };
    assert!(Lead::fit(&ip, &low_rank(3_000, 128, 8, 100, 5)).is_none());
}

#[test]
fn leading_directions_that_do_not_prune_are_given_up() {
    // Points of squared length at most 1, then moved 30 along every axis:
    // the rounding room of the scores (which grows with the squared length)
    // is wider than the gaps between centroids, so the bounds rule out next
    // to nothing, and after one iteration on them training goes on without.
    let near = low_rank(12_000, 128, 8, 300, 11);
    let mut pts = Vec::new();
    for i in 0..near.len() {
        let _ = near.with_vector(i as u32, |v| pts.extend_from_slice(v));
    }
    let longest = pts
        .chunks_exact(128)
        .map(|v| v.iter().map(|x| x * x).sum::<f32>())
        .fold(0f32, f32::max);
    let scale = 1.0 / longest.sqrt();
    let far: Vec<f32> = pts.iter().map(|x| x * scale + 30.0).collect();
    let params = KMeansParams {
        k: 512,
        max_iters: 5,
        tolerance: 0.0,
        seed: 3,
        max_points_per_centroid: 1 << 20,
        ..KMeansParams::default()
    };
    let iterations_on_directions = |data: &[f32]| {
        let store = MemoryStore::from_flat(128, data).unwrap();
        assert!(super::lead::Lead::fit(&params, &store).is_some());
        LEAD_ITERATIONS.set(0);
        KMeans::train(&params, &store, |_| true).unwrap();
        LEAD_ITERATIONS.get()
    };
    assert_eq!(iterations_on_directions(&far), 1);
    // Near the origin they serve every iteration but the first.
    assert_eq!(iterations_on_directions(&pts), 4);
}

#[test]
fn nearest_prepared_orders_by_score_then_number() {
    use crate::Metric;
    // Repeated centroids (ties), and inner product (negative scores).
    let mut rng = SplitMix64::new(12);
    let mut cents: Vec<f32> = (0..40 * 6)
        .map(|_| (rng.next_f64() * 4.0 - 2.0) as f32)
        .collect();
    cents.extend_from_within(..10 * 6);
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let mut cs = cents.clone();
        if metric == Metric::Cosine {
            for c in cs.chunks_exact_mut(6) {
                let n = c.iter().map(|x| x * x).sum::<f32>().sqrt();
                c.iter_mut().for_each(|x| *x /= n);
            }
        }
        let km = KMeans::from_centroids(metric, 6, cs).unwrap();
        for q in 0..20 {
            let mut p: Vec<f32> = (0..6)
                .map(|_| (rng.next_f64() * 4.0 - 2.0) as f32)
                .collect();
            if q == 0 {
                p.fill(0.0);
                p[0] = 1.0;
            }
            if metric == Metric::Cosine {
                let n = p.iter().map(|x| x * x).sum::<f32>().sqrt();
                p.iter_mut().for_each(|x| *x /= n);
            }
            let all = km.nearest_prepared(&p, 50);
            let mut want = all.clone();
            want.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            assert_eq!(all, want, "{metric:?}");
            let mut numbers: Vec<u32> = all.iter().map(|x| x.0).collect();
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(numbers.len(), 50);
            // The first few are the nearest of all 50.
            let few = km.nearest_prepared(&p, 7);
            assert_eq!(few[..], all[..7], "{metric:?}");
        }
    }
}
