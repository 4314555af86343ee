//! Exact assignment that skips most centroids at large `k` (L2), with
//! bounds kept across Lloyd iterations, after Hamerly.
//!
//! Every point keeps its centroid and a lower bound on its distance to any
//! other. When the centroids move, that bound drops by the largest move of
//! another centroid; the point's own distance is measured again (one
//! distance, not `k`). While the own distance stays below the bound, no
//! other centroid can be nearer and the point keeps its centroid without
//! the `k` products; otherwise it goes through the blocked products with
//! the points of its block that also need them, exactly as the full scan
//! would, and its bound is set afresh from its second-best centroid.
//!
//! The test leaves room for rounding: the full scan compares computed
//! scores `||c||^2 - 2 p.c`, which may differ from the exact ones by a few
//! units in the last place of `||p||^2 + ||c||^2`, so a point is kept only
//! when its bounds are apart by more than twice that error. The labels are
//! then those of the full scan, ties included, and so are the sums and the
//! centroids, bit for bit; only the objective differs in its last bits, the
//! kept points' distances being computed directly.

use super::{CHUNK, Partial, Step, read_block};
use crate::error::Result;
use crate::simd;
use crate::store::FeatureStore;

/// What a point remembers between iterations.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Bound {
    /// Its centroid in the last full or kept assignment.
    label: u32,
    /// A lower bound on its distance (not squared) to every other centroid.
    lower: f32,
}

/// How far the centroids moved since the bounds were set.
#[derive(Clone, Debug)]
pub(super) struct Moves {
    /// Centroids back to back (for a point's distance to its own).
    centroids: Vec<f32>,
    /// Whether the points hold bounds yet (not on the first iteration).
    known: bool,
    /// The centroids that moved most (ascending numbers), measured afresh
    /// for every point in blocked products, so that their moves do not
    /// weaken the bounds of all points.
    far: Vec<u32>,
    /// Those centroids packed, and their `||c||^2`.
    far_panels: Option<simd::Panels>,
    far_norms: Vec<f32>,
    /// The largest move of the other centroids (an upper bound).
    rest: f64,
    /// Largest `||c||^2`, for the rounding allowance.
    max_norm: f64,
    /// Rounding allowance per unit of `||p||^2 + ||c||^2`.
    slack: f64,
}

/// One centroid in this many is measured afresh in every iteration (the
/// ones that moved most): on clustered data a few centroids jump far (an
/// empty cluster repaired, two centroids sharing a cluster parting) and
/// would otherwise loosen every point's bound by their jump.
const FAR_SHARE: usize = 16;

impl Moves {
    /// The bounds of the first iteration: none yet.
    pub(super) fn first(centroids: &[f32], dim: usize) -> Moves {
        Moves::new(centroids, dim, false, Vec::new(), 0.0)
    }

    /// From `old` to `new` centroids.
    pub(super) fn since(old: &[f32], new: &[f32], dim: usize) -> Moves {
        let mut moved: Vec<(f64, u32)> = old
            .chunks_exact(dim)
            .zip(new.chunks_exact(dim))
            .enumerate()
            .map(|(j, (a, b))| {
                let d2: f64 = a
                    .iter()
                    .zip(b)
                    .map(|(&x, &y)| {
                        let e = f64::from(x) - f64::from(y);
                        e * e
                    })
                    .sum();
                // Rounded up, so it stays an upper bound.
                (d2.sqrt() * (1.0 + 1e-12), j as u32)
            })
            .collect();
        // Largest first; ties by number, so the choice is deterministic.
        moved.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let nfar = moved.len() / FAR_SHARE;
        let rest = moved.get(nfar).map_or(0.0, |m| m.0);
        let mut far: Vec<u32> = moved[..nfar].iter().map(|m| m.1).collect();
        far.sort_unstable();
        Moves::new(new, dim, true, far, rest)
    }

    fn new(centroids: &[f32], dim: usize, known: bool, far: Vec<u32>, rest: f64) -> Moves {
        let max_norm = centroids
            .chunks_exact(dim)
            .map(|c| c.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>())
            .fold(0f64, f64::max);
        // A dot product of `dim` terms rounds by at most `dim` units of
        // `|p| |c| <= (||p||^2 + ||c||^2) / 2`, the norms likewise, and the
        // sums a few more: four times that covers them with room to spare.
        let slack = 4.0 * (2 * dim + 8) as f64 * f64::from(f32::EPSILON);
        let kern = simd::kernels();
        let picked: Vec<f32> = far
            .iter()
            .flat_map(|&j| {
                centroids[j as usize * dim..(j as usize + 1) * dim]
                    .iter()
                    .copied()
            })
            .collect();
        let far_norms = picked.chunks_exact(dim).map(|c| (kern.dot)(c, c)).collect();
        Moves {
            centroids: centroids.to_vec(),
            known,
            far_panels: (!far.is_empty()).then(|| kern.pack(&picked, dim)),
            far,
            far_norms,
            rest,
            max_norm,
            slack,
        }
    }
}

impl Step {
    /// [`Step::chunk`] keeping bounds: `state` holds the points of chunk
    /// `c`, one each.
    pub(super) fn chunk_bounded<S: FeatureStore<Elem = f32>>(
        &self,
        moves: &Moves,
        store: &S,
        c: usize,
        state: &mut [Bound],
    ) -> Result<Partial> {
        let (k, dim) = (self.k, self.dim);
        let start = c * CHUNK;
        let end = (start + CHUNK).min(store.len());
        let rows = self.rows();
        let kern = self.kernels;
        let mut part = Partial::new();
        part.reserve(k.min(end - start), dim);
        let mut local = vec![u32::MAX; k];
        // The whole chunk is read first: the points the bounds cannot keep
        // are gathered across it, so the blocked products run on full
        // blocks (a few rows would pay for reading every centroid).
        let mut buf = Vec::with_capacity((end - start) * dim);
        read_block(store, start, end, self.metric, &mut buf)?;
        let mut found = vec![(0u32, 0f32); end - start];
        let mut todo = Vec::with_capacity(rows);
        let mut sub = Vec::with_capacity(rows * dim);
        let mut near = Vec::with_capacity(rows);
        let nf = moves.far.len();
        let mut far_dots = vec![0f32; rows * nf];
        let mut full = |todo: &mut Vec<usize>,
                        sub: &mut Vec<f32>,
                        state: &mut [Bound],
                        found: &mut [(u32, f32)]| {
            self.nearest_block(sub, &mut near);
            for ((&i, p), n) in todo.iter().zip(sub.chunks_exact(dim)).zip(&near) {
                let (best, score, second) = (n.index, self.score(p, n), n.second);
                let pn = f64::from((kern.dot)(p, p));
                let room = moves.slack * (pn + moves.max_norm);
                let lower = (f64::from(second) + pn - room).max(0.0).sqrt();
                state[i] = Bound {
                    label: best,
                    lower: down(lower),
                };
                found[i] = (best, score);
            }
            todo.clear();
            sub.clear();
        };
        for b in (0..end - start).step_by(rows) {
            let e = (b + rows).min(end - start);
            let block = &buf[b * dim..e * dim];
            if let (true, Some(panels)) = (moves.known, &moves.far_panels) {
                (kern.dots)(block, panels, &mut far_dots[..(e - b) * nf]);
            }
            for (i, p) in block.chunks_exact(dim).enumerate() {
                let s = &mut state[b + i];
                if moves.known {
                    let a = s.label as usize;
                    let own = f64::from((kern.l2_sq)(p, &moves.centroids[a * dim..(a + 1) * dim]));
                    let pn = f64::from((kern.dot)(p, p));
                    let room = moves.slack * (pn + moves.max_norm);
                    let mut lower = (f64::from(s.lower) - moves.rest).max(0.0);
                    if nf > 0 {
                        // The far movers other than the point's own.
                        let dots = &mut far_dots[i * nf..(i + 1) * nf];
                        if let Ok(at) = moves.far.binary_search(&s.label) {
                            dots[at] = f32::NEG_INFINITY;
                        }
                        let (_, t) = (kern.argmin)(dots, -2.0, &moves.far_norms);
                        lower = lower.min((f64::from(t) + pn - room).max(0.0).sqrt());
                    }
                    // `own` rounds by far less than the room allowed.
                    if own * (1.0 + moves.slack) + 2.0 * room < lower * lower {
                        s.lower = down(lower);
                        found[b + i] = (s.label, own as f32);
                        part.pruned += 1;
                        continue;
                    }
                }
                todo.push(b + i);
                sub.extend_from_slice(p);
                if todo.len() == rows {
                    full(&mut todo, &mut sub, state, &mut found);
                }
            }
        }
        if !todo.is_empty() {
            full(&mut todo, &mut sub, state, &mut found);
        }
        for (p, &(best, score)) in buf.chunks_exact(dim).zip(&found) {
            part.add(&mut local, best as usize, score, p, kern);
        }
        Ok(part)
    }
}

/// `x` as an f32 no larger than it.
fn down(x: f64) -> f32 {
    let y = x as f32;
    if f64::from(y) > x {
        // One step towards zero (x is not negative).
        f32::from_bits(y.to_bits() - 1).max(0.0)
    } else {
        y
    }
}
