//! The assignment pruned on leading directions, for large `k` in many
//! dimensions (L2 and cosine).
//!
//! Before the iterations, `d1 = dim / 4` orthonormal directions spanning
//! about the leading principal subspace of the training points are found
//! (a randomised range finder on a few thousand of them); `P x` is a
//! point's coordinates on them and `||Rx||^2 = ||x||^2 - ||Px||^2` its
//! squared length off them. Because the rows of `P` are orthonormal,
//! `||P(x - c)||^2 + (||Rx|| - ||Rc||)^2 <= ||x - c||^2`: a lower bound of
//! the distance from a quarter of the products. Each iteration projects the
//! centroids; each block of points is projected and multiplied by the
//! projected centroids with the blocked kernel. A point then scores exactly
//! (with the full vectors) the centroid nearest in the projection, and after
//! it only the centroids whose lower bound is not above the best score found,
//! with room for rounding. The answer is the full scan's up to scores that
//! tie within that rounding: the exact scores come from
//! [`simd::Kernels::dot`], whose sums may round in the last bits differently
//! from the blocked kernel's. Directions that leave many centroids to score
//! (points far from the origin, whose rounding room swallows the bounds) are
//! given up after one iteration.
//!
//! It pays where the leading directions carry most of the spread, as in text
//! and image embeddings (on debian-384 a quarter of the directions holds
//! about 70% of the variance); on data without such directions (isotropic
//! clusters) few centroids are ruled out. So it is used only when the
//! directions hold at least [`MIN_SHARE`] of the variance of the points they
//! were fitted on; otherwise training keeps the full scan (or the bounds, for
//! L2).

use super::{CHUNK, KMeansParams, Partial, Step, read_block};
use std::sync::{Arc, OnceLock};

use crate::distance::Element;
use crate::distance::Metric;
use crate::error::Result;
use crate::pca::orthonormalize;
use crate::rng::SplitMix64;
use crate::simd;
use crate::store::Access;
use crate::store::FeatureStore;

/// The smallest `k` that tries it: below it the blocked full scan is cheap.
const MIN_K: usize = 512;

/// The smallest dimension that tries it.
const MIN_DIM: usize = 128;

/// The largest: the fit's buffers grow as `FIT_POINTS * dim` and
/// `dim^2 / 4` (about 60 MB at this dimension).
const MAX_DIM: usize = 2048;

/// The share of the variance the leading directions must hold.
pub(super) const MIN_SHARE: f64 = 0.5;

/// Points the directions are fitted on, at most.
const FIT_POINTS: usize = 2048;

/// Power iterations of that fit: the directions need only hold most of the
/// spread, not be exact eigenvectors.
const FIT_ITERS: usize = 2;

/// At most [`FIT_POINTS`] evenly spaced points of `store`, prepared for
/// `metric`, one after another; `None` if one cannot be read.
fn sample<S: FeatureStore<Elem = f32>>(store: &S, metric: Metric) -> Option<Vec<f32>> {
    let (n, dim) = (store.len(), store.dim());
    let m = n.min(FIT_POINTS);
    let mut x = Vec::with_capacity(m * dim);
    let mut one = Vec::with_capacity(dim);
    for i in 0..m {
        let slot = (i as u64 * n as u64 / m as u64) as u32;
        match store.with_vector(slot, |v| f32::prepare(metric, v, &mut one)) {
            Ok(Access::Ready(Ok(()))) => x.extend_from_slice(&one),
            _ => return None,
        }
    }
    Some(x)
}

/// `d1` orthonormal directions (rows of `dim` values) spanning about the
/// leading principal subspace of the points `x`, and the share of their
/// variance the directions hold. A randomised range finder: a random block,
/// multiplied [`FIT_ITERS`] times by the points' covariance (as two blocked
/// products with the centred points), orthonormalised after each. Only the
/// subspace matters here, so no eigenproblem is solved.
fn directions(mut x: Vec<f32>, dim: usize, d1: usize, seed: u64) -> (Vec<f32>, f64) {
    let kern = simd::kernels();
    let m = x.len() / dim;
    // Centred, then also transposed (a row per coordinate) for the second
    // product.
    let mut mean = vec![0f64; dim];
    for p in x.chunks_exact(dim) {
        for (s, &v) in mean.iter_mut().zip(p) {
            *s += f64::from(v);
        }
    }
    let mean: Vec<f32> = mean.iter().map(|&s| (s / m as f64) as f32).collect();
    for p in x.chunks_exact_mut(dim) {
        for (v, &t) in p.iter_mut().zip(&mean) {
            *v -= t;
        }
    }
    let total: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let xt = {
        let mut t = vec![0f32; dim * m];
        for (i, p) in x.chunks_exact(dim).enumerate() {
            for (d, &v) in p.iter().enumerate() {
                t[d * m + i] = v;
            }
        }
        kern.pack(&t, m)
    };
    let mut rng = SplitMix64::new(seed);
    let mut q: Vec<f64> = (0..d1 * dim).map(|_| rng.next_f64() - 0.5).collect();
    orthonormalize(&mut q, dim, &mut rng);
    let mut z = vec![0f32; m * d1];
    let mut zt = vec![0f32; d1 * m];
    let mut y = vec![0f32; d1 * dim];
    for _ in 0..FIT_ITERS {
        // q <- orth(X^T X q^T): Z = X Q^T, then Y = Z^T X.
        let qs: Vec<f32> = q.iter().map(|&v| v as f32).collect();
        (kern.dots)(&x, &kern.pack(&qs, dim), &mut z);
        for (i, r) in z.chunks_exact(d1).enumerate() {
            for (c, &v) in r.iter().enumerate() {
                zt[c * m + i] = v;
            }
        }
        (kern.dots)(&zt, &xt, &mut y);
        q.iter_mut().zip(&y).for_each(|(a, &b)| *a = f64::from(b));
        orthonormalize(&mut q, dim, &mut rng);
    }
    let basis: Vec<f32> = q.iter().map(|&v| v as f32).collect();
    (kern.dots)(&x, &kern.pack(&basis, dim), &mut z);
    let held: f64 = z.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let share = if total > 0.0 { held / total } else { 0.0 };
    (basis, share)
}

/// What a test asks for: a test that forces the bounds or the full scan gets
/// no directions unless it asks for them too.
#[cfg(test)]
fn forced() -> Option<bool> {
    let tests = (
        super::tests::FORCE_LEAD.get(),
        super::tests::FORCE_BOUNDS.get(),
    );
    tests.0.or(tests.1.map(|_| false))
}

#[cfg(not(test))]
fn forced() -> Option<bool> {
    None
}

/// The leading directions, packed for the blocked products.
#[derive(Clone, Debug)]
pub(super) struct Lead {
    basis: simd::Panels,
    d1: usize,
    /// How far the packed directions may be from orthonormal: the squared
    /// length of a projection is at most `1 + spread` times the vector's.
    spread: f64,
    /// The points' projections, a chunk at a time, kept from the first
    /// iteration that makes them when the points are in memory (or mapped)
    /// and the projections take at most [`MAX_KEPT_BYTES`]; `None` makes
    /// every iteration project again.
    kept: Option<Kept>,
}

/// The points' projections, one slot a chunk, each set once.
type Kept = Arc<[OnceLock<Box<[f32]>>]>;

/// The most bytes of kept projections.
const MAX_KEPT_BYTES: usize = 256 << 20;

impl Lead {
    /// The directions for training `params` on `store`, or `None` where they
    /// would not pay (metric, `k`, dimension, or too little variance on
    /// them). A store the PCA cannot read (a non-finite value, say) also
    /// gives `None`: the training's own reads report it.
    pub(super) fn fit<S: FeatureStore<Elem = f32>>(
        params: &KMeansParams,
        store: &S,
    ) -> Option<Lead> {
        let (n, dim) = (store.len(), store.dim());
        let wanted = matches!(params.metric, Metric::L2 | Metric::Cosine)
            && params.k >= MIN_K
            && (MIN_DIM..=MAX_DIM).contains(&dim);
        let forced = forced();
        let d1 = dim / 4;
        if !forced.unwrap_or(wanted) || !matches!(params.metric, Metric::L2 | Metric::Cosine) {
            return None;
        }
        if d1 == 0 || n < 2 * d1 || dim > MAX_DIM {
            return None;
        }
        let points = sample(store, params.metric)?;
        let keep =
            store.rows().is_some() && n.checked_mul(d1 * 4).is_some_and(|b| b <= MAX_KEPT_BYTES);
        Lead::from_sample(points, n, dim, d1, params.seed, forced.is_some(), keep)
    }

    /// [`fit`](Self::fit) once the points are read, for `n` training
    /// points; `forced` skips the variance test, `keep` keeps projections.
    fn from_sample(
        points: Vec<f32>,
        n: usize,
        dim: usize,
        d1: usize,
        seed: u64,
        forced: bool,
        keep: bool,
    ) -> Option<Lead> {
        let (comps, share) = directions(points, dim, d1, seed);
        if !forced && (share.is_nan() || share < MIN_SHARE) {
            return None;
        }
        // The directions are orthonormal in f64 (Gram-Schmidt twice) and
        // then rounded to f32, each entry by at most half an f32 unit: the
        // rounding's spectral norm is at most that times `sqrt(d1)` (its
        // Frobenius norm), so the squared length of a projection grows by at
        // most about twice it. Four times covers it.
        let spread = 4.0 * f64::from(f32::EPSILON) * (d1 as f64).sqrt();
        let kept = keep.then(|| (0..n.div_ceil(CHUNK)).map(|_| OnceLock::new()).collect());
        Some(Lead {
            basis: simd::kernels().pack(&comps, dim),
            d1,
            spread,
            kept,
        })
    }

    /// The centroids of one iteration seen through the directions.
    pub(super) fn step(&self, metric: Metric, centroids: &[f32], dim: usize) -> LeadStep {
        let kern = simd::kernels();
        let k = centroids.len() / dim;
        let d1 = self.d1;
        let mut proj = vec![0f32; k * d1];
        (kern.dots)(centroids, &self.basis, &mut proj);
        let norms: Vec<f32> = centroids
            .chunks_exact(dim)
            .map(|c| (kern.dot)(c, c))
            .collect();
        // The projected distance is `||Px||^2 + ||Pc||^2 - 2 Px.Pc`; what a
        // point compares, centroid by centroid, is `bias[j] - 2 Px.Pc_j`.
        let bias = proj
            .chunks_exact(d1)
            .zip(&norms)
            .map(|(q, &cn)| {
                let qn = (kern.dot)(q, q);
                match metric {
                    Metric::L2 => qn,
                    _ => qn - cn,
                }
            })
            .collect();
        let max_norm = norms.iter().map(|&x| f64::from(x)).fold(0f64, f64::max);
        let slack = slack(dim, d1, self.spread);
        let (rest_lo, rest_hi) = proj
            .chunks_exact(d1)
            .zip(&norms)
            .map(|(q, &cn)| rest(cn, (kern.dot)(q, q), slack))
            .unzip();
        LeadStep {
            basis: self.basis.clone(),
            kept: self.kept.clone(),
            d1,
            proj: kern.pack(&proj, d1),
            bias,
            rest_lo,
            rest_hi,
            rows: centroids.to_vec(),
            max_norm,
            slack,
        }
    }
}

/// One iteration's centroids for [`Step::chunk_lead`].
#[derive(Clone, Debug)]
pub(super) struct LeadStep {
    basis: simd::Panels,
    kept: Option<Kept>,
    d1: usize,
    /// The projected centroids, packed.
    proj: simd::Panels,
    /// `||Pc||^2` for L2, `||Pc||^2 - ||c||^2` for cosine.
    bias: Vec<f32>,
    /// Bounds of the length of each centroid off the directions, `||Rc||`.
    rest_lo: Vec<f32>,
    rest_hi: Vec<f32>,
    /// The centroids, one after another.
    rows: Vec<f32>,
    max_norm: f64,
    /// The rounding allowed for, per unit of squared length.
    slack: f64,
}

/// Rounding, per unit of `||p||^2 + ||c||^2`: as in the bounds module, a
/// dot product of `dim` terms rounds by at most `dim` units of
/// `(||p||^2 + ||c||^2) / 2`, and four times that covers the sums around it;
/// each of the `d1` projected coordinates carries up to `dim` units of the
/// vector's length, which moves `||P(p - c)||^2` by at most
/// `4 sqrt(d1) dim` units; the directions' distance from orthonormal adds
/// `spread` of `||p - c||^2 <= 2 (||p||^2 + ||c||^2)`.
fn slack(dim: usize, d1: usize, spread: f64) -> f64 {
    let unit = f64::from(f32::EPSILON);
    4.0 * (2 * dim + 8) as f64 * unit + 4.0 * (d1 as f64).sqrt() * dim as f64 * unit + 2.0 * spread
}

/// Bounds of `||Rv||`, the length of `v` off the directions, from `||v||^2`
/// and `||Pv||^2` (`||Rv||^2` is their difference), widened for rounding.
fn rest(norm: f32, lead_norm: f32, slack: f64) -> (f32, f32) {
    let (n, l) = (f64::from(norm), f64::from(lead_norm));
    let err = 2.0 * slack * n;
    let lo = (n - l - err).max(0.0).sqrt() as f32;
    let hi = (n - l + err).max(0.0).sqrt() as f32;
    // `as f32` rounds to nearest: one step down and up keeps the bounds.
    (
        f32::from_bits(lo.to_bits().saturating_sub(1)).max(0.0),
        f32::from_bits(hi.to_bits() + 1),
    )
}

impl Step {
    /// [`Step::chunk`] pruned on the leading directions of `lead`. Only the
    /// reads depend on the store type; the work is in [`Scan`], compiled
    /// once.
    pub(super) fn chunk_lead<S: FeatureStore<Elem = f32>>(
        &self,
        lead: &LeadStep,
        store: &S,
        c: usize,
    ) -> Result<Partial> {
        let start = c * CHUNK;
        let end = (start + CHUNK).min(store.len());
        let rows = block_rows(self.k);
        let mut scan = Scan::new(self, lead, c, end - start);
        let mut buf = Vec::with_capacity(rows * self.dim);
        let mut b = start;
        while b < end {
            let e = (b + rows).min(end);
            read_block(store, b, e, self.metric, &mut buf)?;
            scan.block(&buf, b - start);
            b = e;
        }
        Ok(scan.finish())
    }
}

/// Points a block: the block's scores (`rows x k` floats) stay within
/// about 1 MiB, in 8 to 256 rows.
fn block_rows(k: usize) -> usize {
    ((1 << 20) / (4 * k.max(1))).clamp(8, 256)
}

/// One chunk's assignment on leading directions, block by block.
struct Scan<'a> {
    step: &'a Step,
    lead: &'a LeadStep,
    part: Partial,
    local: Vec<u32>,
    px: Vec<f32>,
    dots: Vec<f32>,
    cands: Vec<(u32, f32)>,
    /// The chunk's kept projections, or room to keep them now.
    slot: Option<&'a OnceLock<Box<[f32]>>>,
    done: Option<&'a [f32]>,
    fresh: Option<Vec<f32>>,
}

impl<'a> Scan<'a> {
    fn new(step: &'a Step, lead: &'a LeadStep, c: usize, points: usize) -> Scan<'a> {
        let (k, rows, d1) = (step.k, block_rows(step.k), lead.d1);
        let mut part = Partial::new();
        part.reserve(k.min(points), step.dim);
        let slot = lead.kept.as_ref().and_then(|kept| kept.get(c));
        let done = slot.and_then(|s| s.get()).map(|b| &b[..]);
        let fresh = (slot.is_some() && done.is_none()).then(|| Vec::with_capacity(points * d1));
        Scan {
            step,
            lead,
            part,
            local: vec![u32::MAX; k],
            px: vec![0f32; rows * d1],
            dots: vec![0f32; rows * k],
            cands: Vec::with_capacity(k),
            slot,
            done,
            fresh,
        }
    }

    /// Assign the prepared points of `buf`, the chunk's from `at` on.
    fn block(&mut self, buf: &[f32], at: usize) {
        let (step, lead) = (self.step, self.lead);
        let (k, dim, d1) = (step.k, step.dim, lead.d1);
        let kern = step.kernels;
        let m = buf.len() / dim;
        let px = match self.done {
            // A kept chunk of another length (a store that changed size) is
            // projected again.
            Some(all) if all.len() >= (at + m) * d1 => &all[at * d1..(at + m) * d1],
            _ => {
                (kern.dots)(buf, &lead.basis, &mut self.px[..m * d1]);
                if let Some(f) = &mut self.fresh {
                    f.extend_from_slice(&self.px[..m * d1]);
                }
                &self.px[..m * d1]
            }
        };
        (kern.dots)(px, &lead.proj, &mut self.dots[..m * k]);
        // A score is `c_norms[j] + scale * p.c_j`, as in the full scan; its
        // lower bound from the projection is `(lower - ||p||^2 - t) / per`,
        // with `t` 0 (L2) or `||c_j||^2` (cosine, already in `bias`).
        let (scale, per) = match step.metric {
            Metric::L2 => (-2.0f32, 1.0f32),
            _ => (-1.0, 2.0),
        };
        let exact = |p: &[f32], j: usize| {
            step.c_norms[j] + scale * (kern.dot)(p, &lead.rows[j * dim..(j + 1) * dim])
        };
        let (lo, hi) = (&lead.rest_lo, &lead.rest_hi);
        for (i, p) in buf.chunks_exact(dim).enumerate() {
            let row = &self.dots[i * k..(i + 1) * k];
            let q = &px[i * d1..(i + 1) * d1];
            let pn = (kern.dot)(p, p);
            let qn = (kern.dot)(q, q);
            let room = (lead.slack * (f64::from(pn) + lead.max_norm)) as f32;
            let r = rest(pn, qn, lead.slack);
            // The centroid nearest in the projection first: its exact score
            // is the bar every other one must get under.
            let (first, _) = (kern.argmin)(row, -2.0, &lead.bias);
            let first = first as usize;
            let mut best = (first, exact(p, first));
            // The squared distance is at least the projected one plus
            // `(||Rp|| - ||Rc||)^2`, so `bias[j] - 2 row[j] + gap^2 <= bar`
            // (the kernel's bound) is `lower bound <= best + room`.
            let bar = |s: f32| per * (s + room) + pn - qn;
            let mut limit = bar(best.1);
            let mut others = 0usize;
            // The centroids whose bound is within the bar, then those still
            // within it as the bar drops.
            self.cands.clear();
            (kern.lower_below)(row, &lead.bias, lo, hi, r, limit, &mut self.cands);
            for &(j, low) in &self.cands {
                let j = j as usize;
                if low <= limit && j != first {
                    others += 1;
                    let s = exact(p, j);
                    if s < best.1 || (s == best.1 && j < best.0) {
                        best = (j, s);
                        limit = bar(s);
                    }
                }
            }
            if others == 0 {
                self.part.pruned += 1;
            }
            self.part.scored += others;
            // The point's squared length is at hand: not computed again.
            let score = step.score_of(|| pn, best.1);
            self.part.add(&mut self.local, best.0, score, p, kern);
        }
    }

    /// The chunk's sums; its projections kept if they are to be.
    fn finish(self) -> Partial {
        if let (Some(slot), Some(f)) = (self.slot, self.fresh) {
            // Another thread cannot have set it: a chunk is one task.
            let _ = slot.set(f.into_boxed_slice());
        }
        self.part
    }
}
