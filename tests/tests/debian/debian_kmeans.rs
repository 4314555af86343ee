//! k-means on real sentence embeddings (debian-384) at a `k` where the
//! assignment is pruned on leading directions.

use vectrove_core::kmeans::{KMeans, KMeansParams};
use vectrove_core::{MemoryStore, Metric};
use vectrove_testkit::Debian;

/// Training assigns as the full scan does: the objective an iteration
/// reports is the one `assign_many` (the blocked full scan) gives for the
/// centroids the iteration started from.
#[test]
fn assignment_on_leading_directions_gives_the_full_scan_objective() {
    let Some(data) = Debian::load(20_000, 0, 0) else {
        return;
    };
    let store = MemoryStore::from_flat(data.dim, &data.base).unwrap();
    for metric in [Metric::Cosine, Metric::L2] {
        let params = |iters| KMeansParams {
            k: 600,
            metric,
            max_iters: iters,
            tolerance: 0.0,
            seed: 3,
            max_points_per_centroid: 1 << 20,
            ..KMeansParams::default()
        };
        // Seeded: the first three iterations of both runs are the same.
        let before = KMeans::train(&params(3), &store, |_| true).unwrap();
        let after = KMeans::train(&params(4), &store, |_| true).unwrap();
        assert_eq!(&after.stats()[..3], before.stats());
        let fourth = after.stats()[3];
        let full: f64 = before
            .assign_many(&data.base)
            .unwrap()
            .iter()
            .map(|&(_, s)| f64::from(s))
            .sum();
        eprintln!(
            "{metric:?}: iteration 4 objective {:.4}, full scan {full:.4}, {} of {} points \
             needed one exact score",
            fourth.inertia,
            fourth.skipped,
            data.n_base()
        );
        assert!(
            (fourth.inertia - full).abs() <= 1e-6 * full.abs(),
            "{metric:?}: {} against {full}",
            fourth.inertia
        );
        // The directions ruled out every centroid but one for many points.
        assert!(fourth.skipped > data.n_base() / 20, "{fourth:?}");
    }
}
