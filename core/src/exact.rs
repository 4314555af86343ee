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
