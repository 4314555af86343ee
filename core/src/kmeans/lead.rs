//! The assignment pruned on leading directions, for large `k` in many
//! dimensions (L2 and cosine).
//!
//! Before the iterations a PCA of a few thousand training points gives
//! `d1 = dim / 4` orthonormal directions; `P x` is a point's coordinates on
//! them. Because the rows of `P` are orthonormal, `||P(x - c)||^2` is at most
//! `||x - c||^2`: the distance over the leading directions bounds the full
//! one from below. Each iteration projects the centroids; each block of
//! points is projected and multiplied by the projected centroids with the
//! blocked kernel, a quarter of the products of the full scan. A point then
//! scores exactly (with the full vectors) the centroid nearest in the
//! projection, and after it only the centroids whose lower bound is not
//! above the best score found, with room for rounding. The answer is the
//! full scan's up to scores that tie within that rounding: the exact scores
//! come from [`simd::Kernels::dot`], whose sums may round in the last bits
//! differently from the blocked kernel's.
//!
//! It pays where the leading directions carry most of the spread, as in text
//! and image embeddings (on debian-384, 96 directions hold about 70% of the
//! variance, and at k = 1024 about 5% of the centroids are scored exactly);
//! on data without such directions (isotropic clusters) few centroids are
//! ruled out. So it is used only when the directions hold at least
//! [`MIN_SHARE`] of the variance of the points it was fitted on; otherwise
//! training keeps the full scan (or the bounds, for L2).

use super::{CHUNK, KMeansParams, Partial, Step, read_block};
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

/// The share of the variance the leading directions must hold.
pub(super) const MIN_SHARE: f64 = 0.5;

/// Points the directions are fitted on, at most.
const FIT_POINTS: usize = 2048;

/// Power iterations of that fit: the directions need only hold most of the
/// spread, not be exact eigenvectors.
const FIT_ITERS: usize = 2;

/// `d1` orthonormal directions (rows of `dim` values) spanning about the
/// leading principal subspace of the points of `store`, prepared for
/// `metric`, and the share of their variance the directions hold; `None` if
/// the points cannot be read. A randomised range finder: a random block,
/// multiplied [`FIT_ITERS`] times by the covariance of at most
/// [`FIT_POINTS`] evenly spaced points (as two blocked products with the
/// centred points), orthonormalised after each. Only the subspace matters
/// here, so no eigenproblem is solved.
fn directions<S: FeatureStore<Elem = f32>>(
    store: &S,
    metric: Metric,
    d1: usize,
    seed: u64,
) -> Option<(Vec<f32>, f64)> {
    let (n, dim) = (store.len(), store.dim());
    let kern = simd::kernels();
    let m = n.min(FIT_POINTS);
    let mut x = Vec::with_capacity(m * dim);
    let mut one = Vec::with_capacity(dim);
    for i in 0..m {
        let slot = (i * n / m) as u32;
        match store.with_vector(slot, |v| f32::prepare(metric, v, &mut one)) {
            Ok(Access::Ready(Ok(()))) => x.extend_from_slice(&one),
            _ => return None,
        }
    }
    // Centred, and transposed (a row per coordinate) for the second product.
    let mut mean = vec![0f64; dim];
    for p in x.chunks_exact(dim) {
        for (s, &v) in mean.iter_mut().zip(p) {
            *s += f64::from(v);
        }
    }
    for (p, s) in x.chunks_exact_mut(dim).zip(std::iter::repeat(&mean)) {
        for (v, &t) in p.iter_mut().zip(s) {
            *v -= (t / m as f64) as f32;
        }
    }
    let total: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let mut xt = vec![0f32; dim * m];
    for (i, p) in x.chunks_exact(dim).enumerate() {
        for (d, &v) in p.iter().enumerate() {
            xt[d * m + i] = v;
        }
    }
    let xt = kern.pack(&xt, m);
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
    Some((basis, share))
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
}

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
            && dim >= MIN_DIM;
        let forced = forced();
        let d1 = dim / 4;
        if !forced.unwrap_or(wanted) || !matches!(params.metric, Metric::L2 | Metric::Cosine) {
            return None;
        }
        if d1 == 0 || n < 2 * d1 {
            return None;
        }
        let (comps, share) = directions(store, params.metric, d1, params.seed)?;
        if forced.is_none() && share < MIN_SHARE {
            return None;
        }
        let comps = &comps[..];
        // The Gram matrix of the f32 directions: its eigenvalues lie within
        // `d1` times its largest off-identity entry of 1 (Gershgorin).
        let mut worst = 0f64;
        for i in 0..d1 {
            let a = &comps[i * dim..(i + 1) * dim];
            for j in i..d1 {
                let b = &comps[j * dim..(j + 1) * dim];
                let g: f64 = a
                    .iter()
                    .zip(b)
                    .map(|(&x, &y)| f64::from(x) * f64::from(y))
                    .sum();
                let off = if i == j { (g - 1.0).abs() } else { g.abs() };
                worst = worst.max(off);
            }
        }
        let spread = d1 as f64 * worst;
        // Directions this far from orthonormal are a failed fit.
        if spread.is_nan() || spread >= 1e-2 {
            return None;
        }
        Some(Lead {
            basis: simd::kernels().pack(comps, dim),
            d1,
            spread,
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
        let slack = slack(dim, self.spread);
        let (rest_lo, rest_hi) = proj
            .chunks_exact(d1)
            .zip(&norms)
            .map(|(q, &cn)| rest(cn, (kern.dot)(q, q), slack))
            .unzip();
        LeadStep {
            basis: self.basis.clone(),
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

/// Rounding: as in the bounds module, a dot product of `dim` terms rounds by
/// at most `dim` units of `(||p||^2 + ||c||^2) / 2`, four times that covers
/// the sums around it, and the directions' distance from orthonormal adds
/// `spread` of `||p - c||^2 <= 2 (||p||^2 + ||c||^2)`.
fn slack(dim: usize, spread: f64) -> f64 {
    4.0 * (2 * dim + 8) as f64 * f64::from(f32::EPSILON) + 2.0 * spread
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

/// Centroids whose bounds are computed together.
const LANES: usize = 16;

/// Into `out`, for each centroid `j` of a block: `bias[j] - 2 dots[j] +
/// gap^2`, `gap` the distance between the point's interval of `||Rp||`
/// (`rp`) and the centroid's. Returns the filled part of `out`.
#[inline]
fn lower_bounds<'o>(
    dots: &[f32],
    bias: &[f32],
    lo: &[f32],
    hi: &[f32],
    rp: (f32, f32),
    out: &'o mut [f32; LANES],
) -> &'o [f32] {
    let n = dots.len().min(LANES);
    let out = &mut out[..n];
    for ((((o, &x), &t), &l), &h) in out.iter_mut().zip(dots).zip(bias).zip(lo).zip(hi) {
        let a = rp.0 - h;
        let b = l - rp.1;
        // Plain comparisons rather than `f32::max` (no NaN can occur here):
        // they map to single vector instructions.
        let g = if a > b { a } else { b };
        let g = if g > 0.0 { g } else { 0.0 };
        *o = t - 2.0 * x + g * g;
    }
    out
}

impl Step {
    /// [`Step::chunk`] pruned on the leading directions of `lead`.
    pub(super) fn chunk_lead<S: FeatureStore<Elem = f32>>(
        &self,
        lead: &LeadStep,
        store: &S,
        c: usize,
    ) -> Result<Partial> {
        let (k, dim, d1) = (self.k, self.dim, lead.d1);
        let start = c * CHUNK;
        let end = (start + CHUNK).min(store.len());
        let rows = self.rows();
        let kern = self.kernels;
        let mut part = Partial::new();
        part.reserve(k.min(end - start), dim);
        let mut local = vec![u32::MAX; k];
        let mut buf = Vec::with_capacity(rows * dim);
        let mut px = vec![0f32; rows * d1];
        let mut dots = vec![0f32; rows * k];
        // A score is `c_norms[j] + scale * p.c_j`, as in the full scan; its
        // lower bound from the projection is `(lower - ||p||^2 - t) / per`,
        // with `t` 0 (L2) or `||c_j||^2` (cosine, already in `bias`).
        let (scale, per) = match self.metric {
            Metric::L2 => (-2.0f32, 1.0f32),
            _ => (-1.0, 2.0),
        };
        let slack = lead.slack;
        let exact = |p: &[f32], j: usize| {
            self.c_norms[j] + scale * (kern.dot)(p, &lead.rows[j * dim..(j + 1) * dim])
        };
        let mut b = start;
        while b < end {
            let e = (b + rows).min(end);
            let m = e - b;
            read_block(store, b, e, self.metric, &mut buf)?;
            (kern.dots)(&buf, &lead.basis, &mut px[..m * d1]);
            (kern.dots)(&px[..m * d1], &lead.proj, &mut dots[..m * k]);
            for (i, p) in buf.chunks_exact(dim).enumerate() {
                let row = &dots[i * k..(i + 1) * k];
                let q = &px[i * d1..(i + 1) * d1];
                let pn = (kern.dot)(p, p);
                let qn = (kern.dot)(q, q);
                let room = (slack * (f64::from(pn) + lead.max_norm)) as f32;
                let (r_lo, r_hi) = rest(pn, qn, slack);
                // The centroid nearest in the projection first: its exact
                // score is the bar every other one must get under.
                let (first, _) = (kern.argmin)(row, -2.0, &lead.bias);
                let first = first as usize;
                let mut best = (first, exact(p, first));
                // The squared distance is at least the projected one plus
                // `(||Rp|| - ||Rc||)^2`, so `bias[j] - 2 row[j] + gap^2 <= bar`
                // is `lower bound <= best + room`.
                let bar = |s: f32| per * (s + room) + pn - qn;
                let mut limit = bar(best.1);
                let mut others = 0usize;
                let mut bounds = [0f32; LANES];
                for j0 in (0..k).step_by(LANES) {
                    let j1 = (j0 + LANES).min(k);
                    // A block of bounds at a time, in a loop the compiler
                    // turns into vector instructions; most blocks hold no
                    // survivor.
                    let got = lower_bounds(
                        &row[j0..j1],
                        &lead.bias[j0..j1],
                        &lead.rest_lo[j0..j1],
                        &lead.rest_hi[j0..j1],
                        (r_lo, r_hi),
                        &mut bounds,
                    );
                    // The smallest bound, by a fold without an early exit
                    // (which also vectorises).
                    let least = got
                        .iter()
                        .fold(f32::INFINITY, |a, &b| if b < a { b } else { a });
                    if least > limit {
                        continue;
                    }
                    for (j, &low) in (j0..j1).zip(got.iter()) {
                        if low <= limit && j != first {
                            others += 1;
                            let s = exact(p, j);
                            if s < best.1 || (s == best.1 && j < best.0) {
                                best = (j, s);
                                limit = bar(s);
                            }
                        }
                    }
                }
                if others == 0 {
                    part.pruned += 1;
                }

                let near = simd::Nearest {
                    index: best.0 as u32,
                    score: best.1,
                    second: f32::INFINITY,
                };
                let score = self.score(p, &near);
                part.add(&mut local, best.0, score, p, kern);
            }
            b = e;
        }
        Ok(part)
    }
}
