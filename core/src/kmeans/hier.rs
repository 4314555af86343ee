//! Hierarchical initialisation ([`Init::Hierarchical`]) for very large `k`.
//!
//! k-means++ over `k` centres measures its seeding sample `k` times, and a
//! flat Lloyd iteration measures every point against every centroid. Here
//! the points are first split into about `sqrt(k)` parts by a small
//! k-means (k-means++ and a few Lloyd iterations on a sample of
//! `parts * max_points_per_centroid` points), every point goes to its
//! nearest part, and each part is clustered on its own into its share of
//! the `k` centroids, the shares proportional to the parts' sizes. Both
//! levels cost about `sqrt(k) / k` of a flat iteration each. The parts'
//! centroids, in part order, are where Lloyd's iterations over all the
//! points then start, so the result is refined by the same exact
//! iterations (bounds included) as after any other start.
//!
//! Each part is trained on its own seed and its own copy of its points,
//! serially; several parts train at once on rayon's threads with the
//! `parallel` feature, and their centroids are taken in part order, so
//! the start is the same bits on any number of threads. Memory: a label
//! per point and the points of the parts in training (one part of about
//! `n / sqrt(k)` points per thread), never the whole training set.

use super::{CHUNK, Init, KMeans, KMeansParams, Step, Training, copy_sample, read_block};
use crate::error::Result;
use crate::rng::SplitMix64;
use crate::store::{FeatureStore, MemoryStore};

/// Lloyd iterations of the coarse split and of each part.
const LEVEL_ITERS: usize = 10;

/// Below this `k` a split gains nothing over k-means++: the start is
/// k-means++'s.
pub(super) const MIN_K: usize = 4;

/// The centres to start Lloyd's iterations from, `params.k` of them back
/// to back.
pub(super) fn start<S: FeatureStore<Elem = f32>>(
    params: &KMeansParams,
    store: &S,
    rng: &mut SplitMix64,
    parallel: bool,
) -> Result<Vec<f32>> {
    let (n, dim, k) = (store.len(), store.dim(), params.k);
    let parts = ((k as f64).sqrt().round() as usize).clamp(2, k);

    // The coarse split, on a sample copied to memory (parts times the
    // points per centroid: small next to the training set).
    let coarse = KMeansParams {
        k: parts,
        init: Init::KMeansPlusPlus,
        max_iters: LEVEL_ITERS,
        seed: rng.next_u64(),
        ..*params
    };
    let coarse = match Training::<MemoryStore<f32>>::gather(&coarse, store, None)? {
        Training::Copied(m) | Training::Spilled(m) => train(&coarse, &m, parallel)?,
        Training::Whole => {
            let mut m = MemoryStore::new(dim)?;
            let all: Vec<u32> = (0..n as u32).collect();
            copy_sample(store, &all, &mut m)?;
            train(&coarse, &m, parallel)?
        }
    };

    // Every point's part, then each part's points in slot order.
    let labels = label_all(&coarse.step, store, parallel)?;
    let mut sizes = vec![0usize; parts];
    for &l in &labels {
        sizes[l as usize] += 1;
    }
    // Sized up front: the lists together hold a slot per point, no more.
    let mut members: Vec<Vec<u32>> = sizes.iter().map(|&s| Vec::with_capacity(s)).collect();
    for (slot, &l) in labels.iter().enumerate() {
        members[l as usize].push(slot as u32);
    }
    drop(labels);
    let share = shares(&sizes, k);

    let base = rng.next_u64();
    let todo: Vec<usize> = (0..parts).filter(|&p| share[p] > 0).collect();
    // One part per thread at a time: the copies are what the start holds
    // beyond the labels.
    let window = if parallel { threads() } else { 1 };
    let mut out = Vec::with_capacity(k * dim);
    for group in todo.chunks(window) {
        let mut jobs = Vec::with_capacity(group.len());
        for &p in group {
            let mut m = MemoryStore::new(dim)?;
            copy_sample(store, &members[p], &mut m)?;
            let part = KMeansParams {
                k: share[p],
                init: Init::KMeansPlusPlus,
                max_iters: LEVEL_ITERS,
                // Each part's own seed, whatever trains beside it.
                seed: SplitMix64::new(base ^ (p as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    .next_u64(),
                // The sample was drawn already: every point of the part.
                max_points_per_centroid: usize::MAX,
                ..*params
            };
            jobs.push((part, m));
        }
        for km in train_parts(&jobs, parallel) {
            out.extend_from_slice(km?.centroids());
        }
    }
    debug_assert_eq!(out.len(), k * dim);
    Ok(out)
}

/// Train on every point of `m`, on rayon's threads when `parallel`.
fn train(params: &KMeansParams, m: &MemoryStore<f32>, parallel: bool) -> Result<KMeans> {
    #[cfg(feature = "parallel")]
    if parallel {
        return KMeans::train_parallel(params, m, |_| true);
    }
    let _ = parallel;
    KMeans::train(params, m, |_| true)
}

/// Train each part serially, several at once when `parallel`; the results
/// in the order of `jobs`.
fn train_parts(jobs: &[(KMeansParams, MemoryStore<f32>)], parallel: bool) -> Vec<Result<KMeans>> {
    #[cfg(feature = "parallel")]
    if parallel {
        use rayon::prelude::*;
        return jobs
            .par_iter()
            .map(|(p, m)| KMeans::train(p, m, |_| true))
            .collect();
    }
    let _ = parallel;
    jobs.iter()
        .map(|(p, m)| KMeans::train(p, m, |_| true))
        .collect()
}

fn threads() -> usize {
    #[cfg(feature = "parallel")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "parallel"))]
    1
}

/// The nearest centroid of `step` for every point of `store`, read a chunk
/// at a time on the calling thread and labelled on rayon's threads when
/// `parallel` (each label is computed on its own, so where does not matter).
fn label_all<S: FeatureStore<Elem = f32>>(
    step: &Step,
    store: &S,
    parallel: bool,
) -> Result<Vec<u32>> {
    let n = store.len();
    let mut labels = Vec::new();
    crate::alloc::reserve(&mut labels, n, "the k-means labels")?;
    let mut buf = Vec::new();
    let mut b = 0;
    while b < n {
        let e = (b + CHUNK).min(n);
        read_block(store, b, e, step.metric, &mut buf)?;
        labels.extend(block_labels(step, &buf, parallel));
        b = e;
    }
    Ok(labels)
}

fn block_labels(step: &Step, pts: &[f32], parallel: bool) -> Vec<u32> {
    let (rows, dim) = (step.rows(), step.dim);
    let one = |block: &[f32]| -> Vec<u32> {
        let mut found = Vec::with_capacity(rows);
        step.nearest_block(block, &mut found);
        found.iter().map(|near| near.index).collect()
    };
    #[cfg(feature = "parallel")]
    if parallel {
        use rayon::prelude::*;
        return pts.par_chunks(rows * dim).flat_map_iter(one).collect();
    }
    let _ = parallel;
    pts.chunks(rows * dim).flat_map(one).collect()
}

/// `k` centroids shared among parts of `sizes` points (summing to at least
/// `k`) in proportion to their sizes, no part given more than its points:
/// each part's whole quota first, then one more to the parts with the
/// largest remainders (ties to the lower part) that have room.
fn shares(sizes: &[usize], k: usize) -> Vec<usize> {
    let n: usize = sizes.iter().sum();
    debug_assert!(n >= k);
    let quota = |s: usize| (k as u128 * s as u128 / n.max(1) as u128) as usize;
    let mut out: Vec<usize> = sizes.iter().map(|&s| quota(s)).collect();
    let mut left = k - out.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    let rem = |p: usize| k as u128 * sizes[p] as u128 % n.max(1) as u128;
    order.sort_by(|&a, &b| rem(b).cmp(&rem(a)).then(a.cmp(&b)));
    while left > 0 {
        for &p in &order {
            if left == 0 {
                break;
            }
            if out[p] < sizes[p] {
                out[p] += 1;
                left -= 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn shares_add_up_and_fit_their_parts() {
        for (sizes, k) in [
            (vec![10, 10, 10], 3),
            (vec![1, 1, 100], 50),
            (vec![5, 0, 5], 10),
            (vec![3, 7], 10),
            (vec![1000, 1, 1, 1], 4),
            (vec![333, 333, 334], 1000),
        ] {
            let s = shares(&sizes, k);
            assert_eq!(s.iter().sum::<usize>(), k, "{sizes:?} {k}");
            assert!(s.iter().zip(&sizes).all(|(a, b)| a <= b), "{sizes:?} {s:?}");
        }
        assert_eq!(shares(&[10, 30], 4), [1, 3]);
        assert_eq!(shares(&[5, 0, 5], 10), [5, 0, 5]);
    }
}
