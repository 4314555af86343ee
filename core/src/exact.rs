//! Exact nearest neighbours by brute force: the ground truth that recall is
//! measured against.

use crate::distance::{Dist, Element, Metric};
use crate::error::{Error, Result};

/// The exact `k` nearest base vectors of every query, as `(index, distance)`
/// pairs nearest first (ties broken by the lower index). Vectors are put in
/// stored form first (normalised for cosine), as the index does. With the
/// `parallel` feature the queries are spread over rayon's threads.
pub fn exact_knn<T: Element>(
    metric: Metric,
    dim: usize,
    base: &[T],
    queries: &[T],
    k: usize,
) -> Result<Vec<Vec<(u32, f32)>>> {
    for flat in [base, queries] {
        if dim == 0 || flat.len() % dim != 0 {
            return Err(Error::DimensionMismatch {
                expected: dim,
                got: flat.len() % dim.max(1),
            });
        }
    }
    let k = k.min(base.len() / dim);
    let dist = T::distance_fn(metric)?;
    let prepare = |flat: &[T]| -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(flat.len());
        let mut one = Vec::with_capacity(dim);
        for v in flat.chunks_exact(dim) {
            T::prepare(metric, v, &mut one)?;
            out.extend_from_slice(&one);
        }
        Ok(out)
    };
    let base = prepare(base)?;
    let queries = prepare(queries)?;
    let one = |q: &[T]| -> Vec<(u32, f32)> {
        let mut best: Vec<(Dist, u32)> = Vec::with_capacity(k + 1);
        for (i, v) in base.chunks_exact(dim).enumerate() {
            let d = Dist(dist(q, v));
            if best.len() == k && best.last().is_some_and(|w| (d, i as u32) >= *w) {
                continue;
            }
            let at = best.partition_point(|w| *w < (d, i as u32));
            best.insert(at, (d, i as u32));
            best.truncate(k);
        }
        best.into_iter().map(|(d, i)| (i, d.0)).collect()
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        Ok(queries.par_chunks_exact(dim).map(one).collect())
    }
    #[cfg(not(feature = "parallel"))]
    Ok(queries.chunks_exact(dim).map(one).collect())
}

/// Mean recall@k: for each query, the share of its true `k` nearest (the
/// first `k` of `truth[q]`) found among the first `k` of `found[q]`,
/// averaged over the queries. Ids of either list may be any unsigned type
/// (`u32` from ground-truth files, `u64` from [`Neighbor::id`](crate::Neighbor)).
/// Queries beyond the shorter of the two lists are not counted; with no
/// query or `k == 0` the recall is 0.
///
/// ```
/// use vectrove_core::recall_at_k;
/// let found: Vec<Vec<u64>> = vec![vec![3, 1, 7], vec![2, 9, 4]];
/// let truth: Vec<Vec<u32>> = vec![vec![1, 3, 5], vec![2, 4, 8]];
/// assert!((recall_at_k(&found, &truth, 3) - 4.0 / 6.0).abs() < 1e-12);
/// ```
pub fn recall_at_k<A, B>(found: &[impl AsRef<[A]>], truth: &[impl AsRef<[B]>], k: usize) -> f64
where
    A: Copy + Into<u64>,
    B: Copy + Into<u64>,
{
    let queries = found.len().min(truth.len());
    if queries == 0 || k == 0 {
        return 0.0;
    }
    let mut hits = 0usize;
    for (f, t) in found.iter().zip(truth) {
        let t = &t.as_ref()[..k.min(t.as_ref().len())];
        hits += f
            .as_ref()
            .iter()
            .take(k)
            .filter(|&&id| t.iter().any(|&x| x.into() == id.into()))
            .count();
    }
    hits as f64 / (k as f64 * queries as f64)
}
