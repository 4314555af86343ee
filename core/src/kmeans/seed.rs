//! k-means++ seeding that skips the distances the triangle inequality
//! already rules out.
//!
//! Every sampled point remembers its nearest centre so far (its owner) and
//! the squared distance to it; every centre keeps an upper bound on the
//! distances of the points it owns (its radius). When a new centre `c`
//! arrives, a point `x` owned by `a` can only move to `c` if
//! `d(c, a) < 2 d(x, a)` (otherwise `d(x, c) >= d(c, a) - d(x, a) >= d(x, a)`),
//! so a point is measured only when its own distance allows a move, and
//! the points of a centre with `d(c, a) >= 2 * radius` not at all. The
//! points are visited in their order, so the ones measured are read from
//! memory front to back.
//!
//! The draw of the next centre is plain k-means++'s (probability
//! proportional to the squared distance to the nearest centre, in point
//! order). Threads work on fixed chunks of points, each point on its own,
//! and the chunks' sums are added in chunk order, so the centres do not
//! depend on the number of threads.
//!
//! **On codes.** Every round may read the whole sample, and reading it is
//! what a round costs: at 384 dimensions a sample of 32,768 points is 50 MB
//! of `f32`, read once per centre. So the distances are taken between 8-bit
//! codes of the points, a quarter of the bytes (at 128 dimensions the codes
//! of the whole sample stay in the last-level cache). One scale serves
//! every dimension (`x[d] ≈ lo[d] + step · c[d]`), so the squared distance
//! of two codes is `step²` times an integer, computed exactly: the draw and
//! the triangle tests run on those integers, the same on every target and
//! thread count. The centres chosen are the sampled points themselves, in
//! full precision; only which point is drawn is steered by the codes, and
//! a code's distance is within half a step per dimension of the true one.
//! Above [`MAX_CODE_DIM`] dimensions (where the sums could overflow `i32`)
//! the distances are computed on the `f32` points.

use crate::rng::SplitMix64;
use crate::simd;

/// The most dimensions whose code products (`255 × 255` a dimension) sum
/// within `i32`.
const MAX_CODE_DIM: usize = (i32::MAX / (255 * 255)) as usize;

/// The sample as 8-bit codes on one scale for every dimension.
struct Codes {
    /// `m × dim` codes.
    codes: Vec<u8>,
    /// `Σ c[d]²` of every code.
    norms: Vec<u32>,
}

impl Codes {
    /// Codes of `pts`, or `None` past [`MAX_CODE_DIM`] dimensions.
    fn new(pts: &[f32], dim: usize) -> Option<Codes> {
        if dim == 0 || dim > MAX_CODE_DIM {
            return None;
        }
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for p in pts.chunks_exact(dim) {
            for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(p) {
                *l = l.min(x);
                *h = h.max(x);
            }
        }
        let range = lo.iter().zip(&hi).map(|(l, h)| h - l).fold(0f32, f32::max);
        // A point set on one spot (or no finite range) codes to zeros: all
        // distances are then 0 and the draw falls back to a uniform one.
        let inv = if range.is_finite() && range > 0.0 {
            255.0 / range
        } else {
            0.0
        };
        let codes: Vec<u8> = pts
            .chunks_exact(dim)
            .flat_map(|p| {
                p.iter()
                    .zip(&lo)
                    // `as u8` saturates (and takes NaN to 0).
                    .map(|(&x, &l)| ((x - l) * inv).round() as u8)
                    .collect::<Vec<u8>>()
            })
            .collect();
        let norms = codes
            .chunks_exact(dim)
            .map(|c| c.iter().map(|&x| u32::from(x) * u32::from(x)).sum())
            .collect();
        Some(Codes { codes, norms })
    }

    /// Code `i` widened, for the code kernels.
    fn wide(&self, i: usize, dim: usize) -> Vec<i16> {
        self.codes[i * dim..(i + 1) * dim]
            .iter()
            .map(|&x| i16::from(x))
            .collect()
    }

    /// The squared distance, in steps², between the widened code `q` (code
    /// number `qi`) and code `x`: exact.
    #[inline]
    fn l2_sq(&self, kern: &simd::CodeKernels, q: &[i16], qi: usize, x: usize, dim: usize) -> f64 {
        let dot = (kern.dot)(q, &self.codes[x * dim..(x + 1) * dim]);
        let d = i64::from(self.norms[qi]) + i64::from(self.norms[x]) - 2 * i64::from(dot);
        d as f64
    }
}

/// Distances computed per unit of parallel work.
#[cfg(feature = "parallel")]
const PAR_CHUNK: usize = 512;

/// Fewer distances than this in a round are computed on the calling thread
/// (handing them out would cost more than they do).
#[cfg(feature = "parallel")]
const PAR_MIN: usize = 4 * PAR_CHUNK;

/// Points per chunk of a round (a unit of parallel work).
const CHUNK: usize = 2048;

/// The state of one seeding run.
pub(super) struct Seeding {
    pts: Vec<f32>,
    /// The points' codes, which the distances are taken on when present.
    codes: Option<Codes>,
    /// Sample number of every centre so far.
    picks: Vec<usize>,
    dim: usize,
    k: usize,
    parallel: bool,
    /// Squared distance of every point to its nearest centre so far.
    near: Vec<f64>,
    /// That centre.
    owner: Vec<u32>,
    /// An upper bound of `near` over each centre's points.
    radius2: Vec<f64>,
    centres: Vec<f32>,
}

/// What a round learned from one chunk of points.
#[derive(Clone, Copy, Default)]
struct Round {
    /// Sum of `near` after the round.
    total: f64,
    /// Largest `near` of the points the new centre took.
    radius2: f64,
}

impl Seeding {
    /// Seeding over `pts` (prepared points back to back), for `k` centres,
    /// on rayon's threads when `parallel` (and the `parallel` feature) is
    /// on.
    pub(super) fn new(pts: Vec<f32>, dim: usize, k: usize, parallel: bool) -> Seeding {
        let m = pts.len() / dim;
        Seeding {
            codes: Codes::new(&pts, dim),
            picks: Vec::with_capacity(k),
            pts,
            dim,
            k,
            parallel,
            near: vec![f64::INFINITY; m],
            owner: vec![0; m],
            radius2: Vec::with_capacity(k),
            centres: Vec::with_capacity(k * dim),
        }
    }

    /// Choose the `k` centres; returns them back to back.
    pub(super) fn run(mut self, rng: &mut SplitMix64) -> Vec<f32> {
        let m = self.near.len();
        let dim = self.dim;
        let kern = simd::kernels();
        let ckern = simd::code_kernels();
        let mut pick = rng.below(m as u64) as usize;
        // Per old centre: the squared distance to the new one when its
        // points need a look, infinity when the radius rules them out.
        let mut reach = Vec::new();
        let mut rounds = Vec::new();
        loop {
            let t = self.radius2.len();
            let c: Vec<f32> = self.pts[pick * dim..(pick + 1) * dim].to_vec();
            self.centres.extend_from_slice(&c);
            self.picks.push(pick);
            if t + 1 == self.k {
                break;
            }
            let cq = self.codes.as_ref().map(|q| q.wide(pick, dim));
            let (pts, codes, cq) = (&self.pts, &self.codes, &cq);
            // The squared distance from the new centre to sample point `x`.
            let dist = |x: usize| -> f64 {
                match (codes, cq) {
                    (Some(q), Some(cq)) => q.l2_sq(ckern, cq, pick, x, dim),
                    _ => f64::from((kern.l2_sq)(&c, &pts[x * dim..(x + 1) * dim])),
                }
            };
            reach.resize(t, 0f64);
            let (picks, radius2) = (&self.picks, &self.radius2);
            par_fill(self.parallel, &mut reach, |a| {
                let d = dist(picks[a]);
                if d >= 4.0 * radius2[a] {
                    f64::INFINITY
                } else {
                    d
                }
            });
            let reach = &reach;
            let round = |start: usize, near: &mut [f64], owner: &mut [u32]| {
                let mut r = Round::default();
                for (i, (n, o)) in near.iter_mut().zip(owner.iter_mut()).enumerate() {
                    // The first centre measures every point.
                    let look = t == 0 || reach[*o as usize] < 4.0 * *n;
                    if look {
                        let d = dist(start + i);
                        if d < *n {
                            *n = d;
                            *o = t as u32;
                            r.radius2 = r.radius2.max(d);
                        }
                    }
                    r.total += *n;
                }
                r
            };
            chunked(
                self.parallel,
                &mut self.near,
                &mut self.owner,
                &mut rounds,
                round,
            );
            let total: f64 = rounds.iter().map(|r| r.total).sum();
            let radius2 = rounds.iter().map(|r| r.radius2).fold(0.0, f64::max);
            self.radius2.push(radius2);
            pick = self.draw(rng, total, &rounds);
        }
        self.centres
    }

    /// The next centre: a point drawn with probability proportional to
    /// `near`, found through the chunks' totals.
    fn draw(&self, rng: &mut SplitMix64, total: f64, rounds: &[Round]) -> usize {
        let m = self.near.len();
        if total <= 0.0 {
            // Every point coincides with a centre: any will do.
            return rng.below(m as u64) as usize;
        }
        let target = rng.next_f64() * total;
        let mut acc = 0.0;
        for (ci, r) in rounds.iter().enumerate() {
            if acc + r.total > target {
                let start = ci * CHUNK;
                let end = (start + CHUNK).min(m);
                for x in start..end {
                    acc += self.near[x];
                    if acc > target {
                        return x;
                    }
                }
                // Rounding left the target past this chunk's points.
                return end - 1;
            }
            acc += r.total;
        }
        // Rounding left the target past the total.
        m - 1
    }
}

/// Run `round` over the points in chunks of [`CHUNK`] (on rayon's threads
/// when `parallel`), collecting one [`Round`] a chunk, in chunk order.
fn chunked(
    parallel: bool,
    near: &mut [f64],
    owner: &mut [u32],
    out: &mut Vec<Round>,
    round: impl Fn(usize, &mut [f64], &mut [u32]) -> Round + Sync + Send,
) {
    #[cfg(feature = "parallel")]
    if parallel && near.len() > CHUNK {
        use rayon::prelude::*;
        near.par_chunks_mut(CHUNK)
            .zip(owner.par_chunks_mut(CHUNK))
            .enumerate()
            .map(|(c, (n, o))| round(c * CHUNK, n, o))
            .collect_into_vec(out);
        return;
    }
    let _ = parallel;
    out.clear();
    for (c, (n, o)) in near
        .chunks_mut(CHUNK)
        .zip(owner.chunks_mut(CHUNK))
        .enumerate()
    {
        out.push(round(c * CHUNK, n, o));
    }
}

/// `out[i] = f(i)` for every `i`, on rayon's threads when `parallel` is set
/// and there is enough work (each value is computed on its own, so where it
/// is computed does not change it).
fn par_fill(parallel: bool, out: &mut [f64], f: impl Fn(usize) -> f64 + Sync + Send) {
    #[cfg(feature = "parallel")]
    if parallel && out.len() >= PAR_MIN {
        use rayon::prelude::*;
        out.par_chunks_mut(PAR_CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| {
                for (i, o) in chunk.iter_mut().enumerate() {
                    *o = f(c * PAR_CHUNK + i);
                }
            });
        return;
    }
    let _ = parallel;
    for (i, o) in out.iter_mut().enumerate() {
        *o = f(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(m: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        (0..m * dim)
            .map(|_| rng.next_f64() as f32 * 2.0 - 1.0)
            .collect()
    }

    #[test]
    fn code_distances_are_the_exact_integers() {
        let dim = 37;
        let pts = points(50, dim, 3);
        let codes = Codes::new(&pts, dim).unwrap();
        assert!(codes.codes.contains(&0) && codes.codes.contains(&255));
        let kern = simd::code_kernels();
        for q in [0, 7, 49] {
            let wide = codes.wide(q, dim);
            for x in 0..50 {
                let want: i64 = (0..dim)
                    .map(|d| {
                        let e = i64::from(codes.codes[q * dim + d])
                            - i64::from(codes.codes[x * dim + d]);
                        e * e
                    })
                    .sum();
                assert_eq!(codes.l2_sq(kern, &wide, q, x, dim), want as f64);
            }
        }
    }

    #[test]
    fn centres_are_sample_points_one_per_far_cluster() {
        // Four tight clusters far apart: the draw takes one point of each.
        let dim = 16;
        let mut pts = points(400, dim, 5);
        for (i, p) in pts.chunks_exact_mut(dim).enumerate() {
            for x in p.iter_mut() {
                *x = *x * 0.01 + (i % 4) as f32 * 10.0;
            }
        }
        let mut rng = SplitMix64::new(9);
        let centres = Seeding::new(pts.clone(), dim, 4, true).run(&mut rng);
        let mut clusters: Vec<usize> = centres
            .chunks_exact(dim)
            .map(|c| {
                let i = pts.chunks_exact(dim).position(|p| p == c).unwrap();
                i % 4
            })
            .collect();
        clusters.sort_unstable();
        assert_eq!(clusters, [0, 1, 2, 3]);
    }

    #[test]
    fn past_the_code_limit_the_distances_are_on_the_points() {
        let dim = MAX_CODE_DIM + 1;
        let pts = points(6, dim, 11);
        assert!(Codes::new(&pts, dim).is_none());
        let mut rng = SplitMix64::new(1);
        let centres = Seeding::new(pts.clone(), dim, 3, false).run(&mut rng);
        assert_eq!(centres.len(), 3 * dim);
        for c in centres.chunks_exact(dim) {
            assert!(pts.chunks_exact(dim).any(|p| p == c));
        }
    }

    #[test]
    fn points_on_one_spot_seed_without_dividing_by_zero() {
        let pts = vec![0.5f32; 20 * 8];
        let codes = Codes::new(&pts, 8).unwrap();
        assert!(codes.codes.iter().all(|&c| c == 0));
        let mut rng = SplitMix64::new(2);
        let centres = Seeding::new(pts, 8, 5, false).run(&mut rng);
        assert_eq!(centres, vec![0.5f32; 5 * 8]);
    }
}
