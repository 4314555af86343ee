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

use crate::rng::SplitMix64;
use crate::simd;

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
        let mut pick = rng.below(m as u64) as usize;
        // Per old centre: the squared distance to the new one when its
        // points need a look, infinity when the radius rules them out.
        let mut reach = Vec::new();
        let mut rounds = Vec::new();
        loop {
            let t = self.radius2.len();
            let c: Vec<f32> = self.pts[pick * dim..(pick + 1) * dim].to_vec();
            self.centres.extend_from_slice(&c);
            if t + 1 == self.k {
                break;
            }
            reach.resize(t, 0f32);
            let (centres, radius2) = (&self.centres, &self.radius2);
            par_fill(self.parallel, &mut reach, |a| {
                let d = (kern.l2_sq)(&c, &centres[a * dim..(a + 1) * dim]);
                if f64::from(d) >= 4.0 * radius2[a] {
                    f32::INFINITY
                } else {
                    d
                }
            });
            let (pts, reach) = (&self.pts, &reach);
            let round = |start: usize, near: &mut [f64], owner: &mut [u32]| {
                let mut r = Round::default();
                for (i, (n, o)) in near.iter_mut().zip(owner.iter_mut()).enumerate() {
                    // The first centre measures every point.
                    let look = t == 0 || f64::from(reach[*o as usize]) < 4.0 * *n;
                    if look {
                        let x = start + i;
                        let d = f64::from((kern.l2_sq)(&c, &pts[x * dim..(x + 1) * dim]));
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
fn par_fill(parallel: bool, out: &mut [f32], f: impl Fn(usize) -> f32 + Sync + Send) {
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
