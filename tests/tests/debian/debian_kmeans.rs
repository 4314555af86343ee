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
        let labels = before.assign_many(&data.base).unwrap();
        let full: f64 = labels.iter().map(|&(_, s)| f64::from(s)).sum();
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
        // And the same labels: iteration 4's centroids are the means of the
        // points the full scan gives each (unit length for cosine).
        assert_eq!(fourth.repaired, 0);
        let (k, dim) = (600, data.dim);
        let mut sums = vec![0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (v, &(j, _)) in data.base.chunks_exact(dim).zip(&labels) {
            counts[j as usize] += 1;
            for (s, &x) in sums[j as usize * dim..][..dim].iter_mut().zip(v) {
                *s += f64::from(x);
            }
        }
        let mut worst = 0f64;
        for (j, c) in after.centroids().chunks_exact(dim).enumerate() {
            let mean: Vec<f64> = sums[j * dim..][..dim]
                .iter()
                .map(|s| s / counts[j] as f64)
                .collect();
            let norm = match metric {
                Metric::Cosine => mean.iter().map(|x| x * x).sum::<f64>().sqrt(),
                _ => 1.0,
            };
            for (&got, want) in c.iter().zip(&mean) {
                worst = worst.max((f64::from(got) - want / norm).abs());
            }
        }
        assert!(worst < 1e-5, "{metric:?}: a centroid differs by {worst}");
        // The directions ruled out every centroid but one for many points.
        assert!(fourth.skipped > data.n_base() / 20, "{fourth:?}");
    }
}
