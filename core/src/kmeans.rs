//! k-means clustering over any [`FeatureStore`].
//!
//! Training reads its points through the storage contract, block by block,
//! every iteration, so the training set can live in memory, in a temporary
//! file or in browser storage with the same code. Large inputs are first
//! sampled (at most [`KMeansParams::max_points_per_centroid`] points per
//! centroid, drawn at random, not the leading rows).
//!
//! Initialisation is k-means++ (or uniform random); each Lloyd iteration
//! assigns every point to its nearest centroid and moves each centroid to the
//! mean of its points. A centroid left without points is repaired by
//! splitting a large cluster in two, as faiss does. Everything random comes
//! from one seeded generator and every sum runs in point order, so a seed
//! gives the same centroids on every target.

use crate::distance::{Element, Metric};
use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use crate::simd;
use crate::store::{Access, FeatureStore, FeatureStoreMut};

/// How the first centroids are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// k-means++: each next centroid drawn with probability proportional to
    /// its squared distance from the nearest centroid so far.
    KMeansPlusPlus,
    /// `k` distinct points drawn uniformly.
    Random,
}

/// Training parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KMeansParams {
    /// Number of centroids.
    pub k: usize,
    /// L2 (squared distances, means), cosine (spherical k-means: unit points
    /// and centroids) or inner product (assign by largest dot product).
    pub metric: Metric,
    /// Most Lloyd iterations.
    pub max_iters: usize,
    /// Stop when the objective improves by less than this fraction.
    pub tolerance: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Initialisation.
    pub init: Init,
    /// Train on at most `k` times this many points (a random sample).
    pub max_points_per_centroid: usize,
}

impl Default for KMeansParams {
    fn default() -> Self {
        Self {
            k: 256,
            metric: Metric::L2,
            max_iters: 25,
            tolerance: 1e-4,
            seed: 1234,
            init: Init::KMeansPlusPlus,
            max_points_per_centroid: 256,
        }
    }
}

/// What one iteration did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IterationStats {
    /// Iteration number, from 1.
    pub iteration: usize,
    /// The objective after the assignment step: the sum of squared L2
    /// distances to the nearest centroid (L2), of `1 - cosine` (cosine) or of
    /// the negated best dot product (inner product).
    pub inertia: f64,
    /// Empty clusters repaired by splitting another.
    pub repaired: usize,
}

/// Trained centroids.
#[derive(Clone, Debug)]
pub struct KMeans {
    dim: usize,
    metric: Metric,
    centroids: Vec<f32>,
    stats: Vec<IterationStats>,
}

/// Points read per block during an iteration.
const BLOCK: usize = 256;

/// Relative size of the perturbation that splits a cluster.
const SPLIT_EPS: f32 = 1.0 / 1024.0;

impl KMeansParams {
    fn validate(&self, n: usize) -> Result<()> {
        let bad = |name, reason: String| Err(Error::InvalidParameter { name, reason });
        if self.k == 0 {
            return bad("k", "must be at least 1".into());
        }
        if self.k > n {
            return bad(
                "k",
                format!(
                    "{} centroids need at least as many points (got {n})",
                    self.k
                ),
            );
        }
        if self.metric == Metric::Hamming {
            return bad(
                "metric",
                "k-means works on f32 vectors (l2, cosine or ip)".into(),
            );
        }
        if self.max_points_per_centroid == 0 {
            return bad("max_points_per_centroid", "must be at least 1".into());
        }
        if self.tolerance.is_nan() || self.tolerance < 0.0 {
            return bad("tolerance", "must be a number >= 0".into());
        }
        Ok(())
    }
}

/// The slots of `store` training should use: all of them, or a sorted random
/// sample of `k * max_points_per_centroid` when there are more.
pub fn sample_slots(params: &KMeansParams, n: usize) -> Vec<u32> {
    let cap = params.k.saturating_mul(params.max_points_per_centroid);
    if n <= cap {
        return (0..n as u32).collect();
    }
    // Partial Fisher-Yates over a virtual identity permutation: only the
    // swapped positions are stored.
    let mut rng = SplitMix64::new(params.seed ^ 0x5A3D_1E5A_4D9E_0001);
    let mut moved = std::collections::HashMap::with_capacity(cap * 2);
    let mut out = Vec::with_capacity(cap);
    for i in 0..cap {
        let j = i + rng.below((n - i) as u64) as usize;
        let vj = *moved.get(&j).unwrap_or(&j);
        let vi = *moved.get(&i).unwrap_or(&i);
        moved.insert(j, vi);
        out.push(vj as u32);
    }
    out.sort_unstable();
    out
}

/// Copy `slots` of `src` into `dst` (an empty store: memory or a spill file),
/// the training set [`KMeans::train`] then reads.
pub fn copy_sample<S, D>(src: &S, slots: &[u32], dst: &mut D) -> Result<()>
where
    S: FeatureStore<Elem = f32>,
    D: FeatureStoreMut<Elem = f32>,
{
    dst.reserve(slots.len());
    let mut err = None;
    let mut missing = Vec::new();
    for chunk in slots.chunks(BLOCK) {
        src.with_vectors(
            chunk,
            |_, v| {
                if err.is_none()
                    && let Err(e) = dst.push(v)
                {
                    err = Some(e);
                }
            },
            &mut missing,
        )?;
        if !missing.is_empty() {
            return Err(Error::NotResident {
                count: missing.len(),
            });
        }
        if let Some(e) = err.take() {
            return Err(e);
        }
    }
    Ok(())
}

fn read_block<S: FeatureStore<Elem = f32>>(
    store: &S,
    start: usize,
    end: usize,
    metric: Metric,
    buf: &mut Vec<f32>,
) -> Result<()> {
    let dim = store.dim();
    buf.clear();
    let mut one = Vec::with_capacity(dim);
    for slot in start..end {
        // Refuses NaN and infinities, and normalises for cosine.
        let got = store.with_vector(slot as u32, |v| {
            f32::prepare(metric, v, &mut one).map(|()| buf.extend_from_slice(&one))
        })?;
        match got {
            Access::Ready(r) => r?,
            Access::Missing => return Err(Error::NotResident { count: 1 }),
        }
    }
    Ok(())
}

/// Score of a point against a centroid: smaller is nearer.
#[inline]
fn score(
    metric: Metric,
    p: &[f32],
    p_norm: f32,
    c: &[f32],
    c_norm: f32,
    dot: fn(&[f32], &[f32]) -> f32,
) -> f32 {
    match metric {
        // ||p - c||^2 = ||p||^2 - 2 p.c + ||c||^2, from one dot product.
        Metric::L2 => (p_norm - 2.0 * dot(p, c) + c_norm).max(0.0),
        Metric::Cosine => 1.0 - dot(p, c),
        _ => -dot(p, c),
    }
}

impl KMeans {
    /// Train on every vector of `store` (sample first with [`sample_slots`]
    /// and [`copy_sample`] for big inputs; [`KMeans::fit`] does both into
    /// memory). `progress` sees each iteration's statistics and may stop
    /// training early by returning `false`.
    pub fn train<S: FeatureStore<Elem = f32>>(
        params: &KMeansParams,
        store: &S,
        mut progress: impl FnMut(&IterationStats) -> bool,
    ) -> Result<KMeans> {
        let n = store.len();
        let dim = store.dim();
        params.validate(n)?;
        let k = params.k;
        let metric = params.metric;
        let dot = simd::kernels().dot;
        let mut rng = SplitMix64::new(params.seed);
        let mut buf = Vec::with_capacity(BLOCK * dim);

        let mut centroids = Self::initial(params, store, &mut rng, &mut buf)?;
        let mut stats = Vec::new();
        let mut assign = vec![0u32; n];
        let mut prev = f64::INFINITY;
        for iteration in 1..=params.max_iters.max(1) {
            // Assignment, then sums in point order.
            let c_norms: Vec<f32> = centroids.chunks_exact(dim).map(|c| dot(c, c)).collect();
            let mut sums = vec![0f64; k * dim];
            let mut counts = vec![0usize; k];
            let mut inertia = 0f64;
            let mut start = 0;
            while start < n {
                let end = (start + BLOCK).min(n);
                read_block(store, start, end, metric, &mut buf)?;
                for (i, p) in buf.chunks_exact(dim).enumerate() {
                    let p_norm = if metric == Metric::L2 { dot(p, p) } else { 0.0 };
                    let (mut best, mut best_s) = (0usize, f32::INFINITY);
                    for (c, cv) in centroids.chunks_exact(dim).enumerate() {
                        let s = score(metric, p, p_norm, cv, c_norms[c], dot);
                        if s < best_s {
                            best = c;
                            best_s = s;
                        }
                    }
                    assign[start + i] = best as u32;
                    inertia += f64::from(best_s);
                    counts[best] += 1;
                    for (s, &x) in sums[best * dim..(best + 1) * dim].iter_mut().zip(p) {
                        *s += f64::from(x);
                    }
                }
                start = end;
            }
            // Update.
            for c in 0..k {
                if counts[c] > 0 {
                    let inv = 1.0 / counts[c] as f64;
                    for (o, s) in centroids[c * dim..(c + 1) * dim]
                        .iter_mut()
                        .zip(&sums[c * dim..(c + 1) * dim])
                    {
                        *o = (s * inv) as f32;
                    }
                }
            }
            let repaired = Self::repair(&mut centroids, &mut counts, dim, &mut rng);
            if metric == Metric::Cosine {
                for c in centroids.chunks_exact_mut(dim) {
                    normalize_in_place(c);
                }
            }
            let s = IterationStats {
                iteration,
                inertia,
                repaired,
            };
            stats.push(s);
            let go_on = progress(&s);
            let converged = prev.is_finite()
                && repaired == 0
                && (prev - inertia).abs() <= params.tolerance * prev.abs().max(f64::MIN_POSITIVE);
            prev = inertia;
            if !go_on || converged {
                break;
            }
        }
        Ok(KMeans {
            dim,
            metric,
            centroids,
            stats,
        })
    }

    /// Sample `store` into memory and train (see [`train`](Self::train)).
    pub fn fit<S: FeatureStore<Elem = f32>>(
        params: &KMeansParams,
        store: &S,
        progress: impl FnMut(&IterationStats) -> bool,
    ) -> Result<KMeans> {
        params.validate(store.len())?;
        let slots = sample_slots(params, store.len());
        if slots.len() == store.len() {
            return Self::train(params, store, progress);
        }
        let mut sample = crate::store::MemoryStore::new(store.dim())?;
        copy_sample(store, &slots, &mut sample)?;
        Self::train(params, &sample, progress)
    }

    fn initial<S: FeatureStore<Elem = f32>>(
        params: &KMeansParams,
        store: &S,
        rng: &mut SplitMix64,
        buf: &mut Vec<f32>,
    ) -> Result<Vec<f32>> {
        let (n, dim, k) = (store.len(), store.dim(), params.k);
        let mut centroids = Vec::with_capacity(k * dim);
        let mut take = |slot: usize, centroids: &mut Vec<f32>| -> Result<()> {
            read_block(store, slot, slot + 1, params.metric, buf)?;
            centroids.extend_from_slice(buf);
            Ok(())
        };
        match params.init {
            Init::Random => {
                let mut p = KMeansParams {
                    k,
                    max_points_per_centroid: 1,
                    ..*params
                };
                p.seed = rng.next_u64();
                for s in sample_slots(&p, n) {
                    take(s as usize, &mut centroids)?;
                }
            }
            Init::KMeansPlusPlus => {
                let dot = simd::kernels().dot;
                let l2 = simd::kernels().l2_sq;
                take(rng.below(n as u64) as usize, &mut centroids)?;
                // Squared distance of every point to its nearest centroid.
                let mut near = vec![f64::INFINITY; n];
                let mut block = Vec::with_capacity(BLOCK * dim);
                while centroids.len() < k * dim {
                    let last = centroids[centroids.len() - dim..].to_vec();
                    let mut total = 0f64;
                    let mut start = 0;
                    while start < n {
                        let end = (start + BLOCK).min(n);
                        read_block(store, start, end, params.metric, &mut block)?;
                        for (i, p) in block.chunks_exact(dim).enumerate() {
                            let d = match params.metric {
                                Metric::L2 => l2(p, &last),
                                Metric::Cosine => (1.0 - dot(p, &last)).max(0.0),
                                // Points far in angle from the chosen ones.
                                _ => l2(p, &last),
                            };
                            near[start + i] = near[start + i].min(f64::from(d));
                            total += near[start + i];
                        }
                        start = end;
                    }
                    let pick = if total > 0.0 {
                        let target = rng.next_f64() * total;
                        let mut acc = 0.0;
                        near.iter()
                            .position(|&d| {
                                acc += d;
                                acc > target
                            })
                            .unwrap_or(n - 1)
                    } else {
                        // Every point coincides with a centroid: any will do.
                        rng.below(n as u64) as usize
                    };
                    take(pick, &mut centroids)?;
                }
            }
        }
        Ok(centroids)
    }

    /// Give every empty cluster half of a big one: pick a cluster with
    /// probability growing with its size, copy its centroid and push the two
    /// copies slightly apart.
    fn repair(
        centroids: &mut [f32],
        counts: &mut [usize],
        dim: usize,
        rng: &mut SplitMix64,
    ) -> usize {
        let k = counts.len();
        let n: usize = counts.iter().sum();
        let mut repaired = 0;
        for ci in 0..k {
            if counts[ci] != 0 {
                continue;
            }
            // Sizes decide which cluster splits: a cluster of size s is
            // chosen with probability (s - 1) / (n - k), as in faiss.
            let cj = loop {
                let r = rng.next_f64() * (n.saturating_sub(k).max(1)) as f64;
                let mut acc = 0.0;
                let mut pick = None;
                for (j, &s) in counts.iter().enumerate() {
                    acc += s.saturating_sub(1) as f64;
                    if acc > r {
                        pick = Some(j);
                        break;
                    }
                }
                match pick {
                    Some(j) => break j,
                    // No cluster has two points: nothing can be split.
                    None if counts.iter().all(|&s| s <= 1) => return repaired,
                    None => continue,
                }
            };
            for j in 0..dim {
                let x = centroids[cj * dim + j];
                let (a, b) = if j % 2 == 0 {
                    (x * (1.0 + SPLIT_EPS), x * (1.0 - SPLIT_EPS))
                } else {
                    (x * (1.0 - SPLIT_EPS), x * (1.0 + SPLIT_EPS))
                };
                centroids[ci * dim + j] = a;
                centroids[cj * dim + j] = b;
            }
            counts[ci] = counts[cj] / 2;
            counts[cj] -= counts[ci];
            repaired += 1;
        }
        repaired
    }

    /// Elements per centroid.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of centroids.
    pub fn k(&self) -> usize {
        self.centroids.len() / self.dim
    }

    /// The metric trained with.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// All centroids back to back.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// Statistics of every iteration run.
    pub fn stats(&self) -> &[IterationStats] {
        &self.stats
    }

    /// The nearest centroid of `v` and its score (see [`IterationStats::inertia`]).
    pub fn assign(&self, v: &[f32]) -> Result<(u32, f32)> {
        if v.len() != self.dim {
            return Err(Error::DimensionMismatch {
                expected: self.dim,
                got: v.len(),
            });
        }
        let mut p = Vec::with_capacity(self.dim);
        f32::prepare(self.metric, v, &mut p)?;
        let dot = simd::kernels().dot;
        let p_norm = dot(&p, &p);
        let mut best = (0u32, f32::INFINITY);
        for (c, cv) in self.centroids.chunks_exact(self.dim).enumerate() {
            let s = score(self.metric, &p, p_norm, cv, dot(cv, cv), dot);
            if s < best.1 {
                best = (c as u32, s);
            }
        }
        Ok(best)
    }
}

fn normalize_in_place(v: &mut [f32]) {
    let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}
