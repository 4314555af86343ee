//! Small seeded data sets and indexes: the same values for a seed on every
//! target, so native and wasm32 tests see the same data.

use std::ops::Range;

use vectrove_core::rng::SplitMix64;
use vectrove_core::{Hnsw, Metric};

/// `n` vectors of `dim` values, back to back, uniform in `range`: each is
/// `start + (end - start) * u` in `f32`, `u` drawn in `[0, 1)` by
/// [`SplitMix64::next_f64`] and rounded to `f32` first.
pub fn uniform(n: usize, dim: usize, range: Range<f32>, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let width = range.end - range.start;
    (0..n * dim)
        .map(|_| rng.next_f64() as f32 * width + range.start)
        .collect()
}

/// An approximately standard normal value from twelve uniforms (Irwin-Hall).
///
/// Box-Muller would need `ln` and `cos`, whose last bit differs between
/// libm implementations (glibc natively, Rust's own libm on wasm32); sums of
/// uniforms use only correctly rounded operations, so the data are the same
/// bits on every target and only the distance kernels can differ.
fn normal(rng: &mut SplitMix64) -> f64 {
    (0..12).map(|_| rng.next_f64()).sum::<f64>() - 6.0
}

/// `n` vectors of `dim` values, back to back, drawn around `clusters`
/// centres: centres ~ N(0, 1) per coordinate, points ~ centre + N(0, 1).
/// The clusters overlap, so the nearest neighbours of a point are not
/// simply its cluster and a small index is not trivially searched.
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let centres: Vec<f64> = (0..clusters * dim).map(|_| normal(&mut rng)).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.below(clusters as u64) as usize;
        for j in 0..dim {
            out.push((centres[c * dim + j] + normal(&mut rng)) as f32);
        }
    }
    out
}

/// Base vectors and queries of one [`clustered`] data set (20 clusters):
/// the queries come from the same clusters, drawn after the base points.
pub fn base_and_queries(n: usize, n_queries: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut all = clustered(n + n_queries, dim, 20, seed);
    let queries = all.split_off(n * dim);
    (all, queries)
}

/// An index of `base` (vectors of `dim` values back to back) with ids
/// `0..n`, built with `insert_many`; its graph invariants are verified.
pub fn build_index(
    base: &[f32],
    dim: usize,
    metric: Metric,
    m: usize,
    ef_construction: usize,
    seed: u64,
) -> Hnsw {
    let mut index = Hnsw::builder(dim, metric)
        .m(m)
        .ef_construction(ef_construction)
        .seed(seed)
        .build()
        .expect("valid parameters");
    let ids: Vec<u64> = (0..(base.len() / dim) as u64).collect();
    index.insert_many(&ids, base).expect("valid data");
    index.verify().expect("graph invariants hold");
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests wrote these expressions by hand before; their data must not move.
    #[test]
    fn uniform_matches_the_plain_expressions_bit_for_bit() {
        type ByHand = fn(f32) -> f32;
        let cases: [(Range<f32>, ByHand); 3] = [
            (0.0..1.0, |u| u),
            (-0.5..0.5, |u| u - 0.5),
            (-1.0..1.0, |u| u * 2.0 - 1.0),
        ];
        for (seed, (range, by_hand)) in cases.into_iter().enumerate() {
            let mut rng = SplitMix64::new(seed as u64);
            let want: Vec<u32> = (0..300)
                .map(|_| by_hand(rng.next_f64() as f32).to_bits())
                .collect();
            let got: Vec<u32> = uniform(100, 3, range, seed as u64)
                .iter()
                .map(|x| x.to_bits())
                .collect();
            assert_eq!(got, want);
        }
    }
}
