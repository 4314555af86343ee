//! k-means clustering over any [`FeatureStore`].
//!
//! Training reads its points through the storage contract, block by block,
//! every iteration, so the training set can live in memory, in a temporary
//! file or in browser storage with the same code. Large inputs are first
//! sampled (at most [`KMeansParams::max_points_per_centroid`] points per
//! centroid, drawn at random, not the leading rows).
//!
//! | call | samples | threads |
//! |---|---|---|
//! | [`KMeans::fit`], [`KMeans::fit_with`] (a spill store for the sample) | yes | all of rayon's, with the `parallel` feature |
//! | [`KMeans::train`] | no: every vector | the caller's |
//! | [`KMeans::train_parallel`] | no: every vector | all of rayon's |
//!
//! All of them give the same centroids for the same points and seed, on
//! any number of threads.
//!
//! Initialisation is k-means++ (or uniform random), with the distances the
//! triangle inequality rules out skipped (the `seed` module), or for very
//! large `k` a split into about `sqrt(k)` parts clustered one by one (the
//! `hier` module); each Lloyd iteration assigns every point to its nearest
//! centroid and moves each
//! centroid to the mean of its points. For L2 at large `k` the assignment
//! keeps bounds across iterations and skips the centroids they rule out,
//! with the labels of the full scan (the `bounds` module); at large `k` in
//! many dimensions, where a quarter of the principal directions holds most
//! of the variance (embeddings), L2 and cosine assignment score exactly only
//! the centroids a bound on those directions cannot rule out (the `lead`
//! module). A centroid left without points is repaired by
//! splitting a large cluster in two, as faiss does. Everything random comes
//! from one seeded generator and every sum runs in point order, so a seed
//! gives the same centroids on every target.
//!
//! (Longer than most files: seeding, the Lloyd loop, the blocked assignment
//! and empty-cluster repair share one set of private types.)

use crate::distance::{Element, Metric};
use crate::error::{Error, Result, invalid_n};
use crate::rng::SplitMix64;
use crate::simd;
use crate::store::{Access, FeatureStore, FeatureStoreMut};

mod bounds;
mod hier;
mod lead;
mod seed;

use bounds::{Bound, Moves};
use lead::{Lead, LeadStep};
use seed::Seeding;

/// How the first centroids are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// k-means++: each next centroid drawn with probability proportional to
    /// its squared distance from the nearest centroid so far, among a
    /// random sample of 8 points per centroid (at least 8192; all when
    /// fewer).
    KMeansPlusPlus,
    /// `k` distinct points drawn uniformly.
    Random,
    /// For very large `k` (tens of thousands): split the points into about
    /// `sqrt(k)` parts by a small k-means, cluster each part into its share
    /// of the `k` centroids (proportional to its size), and start Lloyd's
    /// iterations over all the points from those centroids. It costs a
    /// small fraction of k-means++ seeding at large `k`; the iterations
    /// that follow (`max_iters` of them, reported to `progress`) refine the
    /// start exactly as after any other. Below `k = 4` it is k-means++.
    Hierarchical,
}

impl Init {
    /// The name the CLI and the browser package use: `"kmeans++"`,
    /// `"random"` or `"hierarchical"`.
    pub fn name(self) -> &'static str {
        match self {
            Init::KMeansPlusPlus => "kmeans++",
            Init::Random => "random",
            Init::Hierarchical => "hierarchical",
        }
    }

    /// The initialisation named `name` (see [`name`](Self::name)).
    pub fn from_name(name: &str) -> Option<Init> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Every initialisation, in the order of the codes IVF files store
    /// (0, what files written before the code existed hold, is k-means++).
    const ALL: [Init; 3] = [Init::KMeansPlusPlus, Init::Random, Init::Hierarchical];

    /// The code an IVF file stores for this initialisation.
    pub(crate) fn code(self) -> u32 {
        Self::ALL.iter().position(|&i| i == self).unwrap_or(0) as u32
    }

    /// The initialisation of a stored code, if it is one.
    pub(crate) fn from_code(code: u32) -> Option<Init> {
        Self::ALL.get(code as usize).copied()
    }
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
    /// Points whose bounds showed their centroid unchanged without the
    /// full scan (L2 at large `k`), or whose bound on the leading directions
    /// ruled out every centroid but the one nearest in the projection (L2
    /// and cosine at large `k` in many dimensions); 0 on the first iteration.
    pub skipped: usize,
}

/// Trained centroids.
#[derive(Clone, Debug)]
pub struct KMeans {
    dim: usize,
    metric: Metric,
    centroids: Vec<f32>,
    stats: Vec<IterationStats>,
    /// The centroids packed for the blocked products of [`KMeans::assign`].
    step: Step,
}

/// Where [`KMeans::fit_with`] trains: on the input itself, on a spill
/// store holding the sample, or on an in-memory copy of it.
enum Training<D> {
    Whole,
    Spilled(D),
    Copied(crate::store::MemoryStore<f32>),
}

impl<D: FeatureStoreMut<Elem = f32>> Training<D> {
    fn gather<S: FeatureStore<Elem = f32>>(
        params: &KMeansParams,
        store: &S,
        spill: Option<D>,
    ) -> Result<Self> {
        params.validate(store.len())?;
        let slots = sample_slots(params, store.len());
        Ok(match spill {
            // Nothing is left out: the input is the training set, wherever
            // it lives, and a copy would only double it.
            _ if slots.len() == store.len() => Training::Whole,
            Some(mut d) => {
                copy_sample(store, &slots, &mut d)?;
                Training::Spilled(d)
            }
            None => {
                let mut m = crate::store::MemoryStore::new(store.dim())?;
                copy_sample(store, &slots, &mut m)?;
                Training::Copied(m)
            }
        })
    }
}

/// Points read per block during an iteration.
const BLOCK: usize = 256;

/// k-means++ seeding draws from a sample of this many points per centroid
/// (at least [`PP_MIN_POINTS`]).
const PP_POINTS_PER_CENTROID: usize = 8;

/// Smallest k-means++ seeding sample.
const PP_MIN_POINTS: usize = 8192;

/// The size of the k-means++ seeding sample for `k` centroids: 8 points per
/// centroid, at least 8192. Every round of seeding may measure the whole
/// sample, so its cost grows as `k` times the sample; 8 points of every
/// cluster are what the draw needs, and Lloyd's iterations then see the
/// whole training set. (On debian-384 at k = 1024, seeds 1-8, 32 points per
/// centroid gave a mean objective after four iterations of 26,667 against
/// 26,672 with 8, within the seeds' spread of 26,630-26,741, for 1.7 times
/// the time of the first iteration.)
fn pp_sample(k: usize) -> usize {
    k.saturating_mul(PP_POINTS_PER_CENTROID).max(PP_MIN_POINTS)
}

/// The assignment on leading directions is dropped when it scores exactly
/// more than `1 / LEAD_GIVE_UP` of the centroids for the average point.
const LEAD_GIVE_UP: usize = 8;

/// Smallest `k` whose L2 assignment keeps bounds across iterations.
const BOUNDS_MIN_K: usize = 512;

/// Most centroids training takes: the assignment kernel keeps centroid
/// numbers in f32 lanes, exact up to 2^24.
pub const MAX_K: usize = 1 << 24;

/// Relative size of the perturbation that splits a cluster.
const SPLIT_EPS: f32 = 1.0 / 1024.0;

impl KMeansParams {
    fn validate(&self, n: usize) -> Result<()> {
        let bad = |name, reason: String| Err(Error::InvalidParameter { name, reason });
        if self.k == 0 {
            return bad("k", "must be at least 1".into());
        }
        if self.k > MAX_K {
            return bad("k", format!("at most {MAX_K} centroids"));
        }
        if self.k > n {
            return Err(invalid_n(
                "k",
                "more centroids than points; points:",
                n as u64,
            ));
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
    crate::sample::random_slots(n, cap, params.seed ^ SAMPLE_SALT)
}

/// Mixed into the seed of k-means' training sample, so that it differs
/// from other draws made with the same seed.
pub(crate) const SAMPLE_SALT: u64 = 0x5A3D_1E5A_4D9E_0001;

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

/// Points per unit of work. Fixed, so the partial sums, and the order they
/// are added in, do not depend on the number of threads.
const CHUNK: usize = 4096;

/// What the assignment step learned from one chunk of points: the clusters
/// it touched (in order of first touch) with their point counts and sums.
struct Partial {
    inertia: f64,
    clusters: Vec<u32>,
    counts: Vec<usize>,
    sums: Vec<f64>,
    /// Points whose bounds spared them the full scan.
    pruned: usize,
    /// Exact scores beyond the first one of each point (the assignment on
    /// leading directions).
    scored: usize,
}

impl Partial {
    fn new() -> Partial {
        Partial {
            inertia: 0.0,
            clusters: Vec::new(),
            counts: Vec::new(),
            sums: Vec::new(),
            pruned: 0,
            scored: 0,
        }
    }

    /// Room for the sums of `clusters` clusters of `dim` values, so that
    /// they do not move while they grow.
    fn reserve(&mut self, clusters: usize, dim: usize) {
        self.clusters.reserve(clusters);
        self.counts.reserve(clusters);
        self.sums.reserve(clusters * dim);
    }

    /// Count point `p` in cluster `best` with its score. `local` maps a
    /// cluster to its place in `clusters` (`u32::MAX`: not touched yet).
    #[inline]
    fn add(&mut self, local: &mut [u32], best: usize, score: f32, p: &[f32], kern: &simd::Kernels) {
        let dim = p.len();
        self.inertia += f64::from(score);
        if local[best] == u32::MAX {
            local[best] = self.clusters.len() as u32;
            self.clusters.push(best as u32);
            self.counts.push(0);
            self.sums.resize(self.sums.len() + dim, 0.0);
        }
        let l = local[best] as usize;
        self.counts[l] += 1;
        (kern.widen_add)(&mut self.sums[l * dim..(l + 1) * dim], p);
    }
}

/// The centroids of one iteration, ready for the blocked products.
#[derive(Clone, Debug)]
struct Step {
    metric: Metric,
    k: usize,
    dim: usize,
    panels: simd::Panels,
    /// ||c||^2 for L2, zeros otherwise.
    c_norms: Vec<f32>,
    kernels: &'static simd::Kernels,
    /// Set when the assignment keeps bounds across iterations.
    moves: Option<Moves>,
    /// Set when the assignment is pruned on leading directions.
    lead: Option<Box<LeadStep>>,
}

impl Step {
    fn new(metric: Metric, centroids: &[f32], dim: usize) -> Step {
        let kernels = simd::kernels();
        Step {
            moves: None,
            lead: None,
            metric,
            k: centroids.len() / dim,
            dim,
            panels: kernels.pack(centroids, dim),
            c_norms: centroids
                .chunks_exact(dim)
                .map(|c| match metric {
                    Metric::L2 => (kernels.dot)(c, c),
                    _ => 0.0,
                })
                .collect(),
            kernels,
        }
    }

    /// Points per call of the blocked kernel.
    fn rows(&self) -> usize {
        256
    }

    /// The kernel's answers for a block of prepared points: for each, the
    /// centroid with the smallest `||c||^2 - 2 p.c` (L2) or `-p.c` (the
    /// others; `c_norms` holds zeros for them), that term, and the next
    /// smallest. `found` is overwritten.
    fn nearest_block(&self, pts: &[f32], found: &mut Vec<simd::Nearest>) {
        let scale = match self.metric {
            Metric::L2 => -2.0,
            _ => -1.0,
        };
        let none = simd::Nearest {
            index: 0,
            score: f32::INFINITY,
            second: f32::INFINITY,
        };
        found.clear();
        found.resize(pts.len() / self.dim, none);
        (self.kernels.nearest)(pts, &self.panels, scale, &self.c_norms, found);
    }

    /// The score of prepared point `p` at its nearest centroid, from the
    /// kernel's answer: the squared distance for L2, `1 - cos` for cosine,
    /// `-p.c` for inner product.
    #[inline]
    fn score(&self, p: &[f32], near: &simd::Nearest) -> f32 {
        let norm = || (self.kernels.dot)(p, p);
        self.score_of(norm, near.score)
    }

    /// [`score`](Self::score) from the kernel's score and the point's
    /// squared length (asked for only for L2).
    #[inline]
    fn score_of(&self, norm: impl FnOnce() -> f32, score: f32) -> f32 {
        match self.metric {
            Metric::L2 => (norm() + score).max(0.0),
            Metric::Cosine => 1.0 + score,
            _ => score,
        }
    }

    /// Assign the points of chunk `c` and sum them per cluster; `state`
    /// holds their bounds when the step keeps them (empty otherwise).
    fn run<S: FeatureStore<Elem = f32>>(
        &self,
        store: &S,
        c: usize,
        state: &mut [Bound],
    ) -> Result<Partial> {
        match (&self.lead, &self.moves) {
            (Some(l), _) => self.chunk_lead(l, store, c),
            (None, Some(m)) => self.chunk_bounded(m, store, c, state),
            (None, None) => self.chunk(store, c),
        }
    }

    /// Assign the points of chunk `c` by the full scan and sum them per
    /// cluster.
    fn chunk<S: FeatureStore<Elem = f32>>(&self, store: &S, c: usize) -> Result<Partial> {
        let (k, dim) = (self.k, self.dim);
        let start = c * CHUNK;
        let end = (start + CHUNK).min(store.len());
        let rows = self.rows();
        let mut part = Partial::new();
        let mut local = vec![u32::MAX; k];
        part.reserve(k.min(end - start), dim);
        let mut buf = Vec::with_capacity(rows * dim);
        let mut found = Vec::with_capacity(rows);
        let mut b = start;
        while b < end {
            let e = (b + rows).min(end);
            read_block(store, b, e, self.metric, &mut buf)?;
            self.nearest_block(&buf, &mut found);
            for (p, near) in buf.chunks_exact(dim).zip(&found) {
                let score = self.score(p, near);
                part.add(&mut local, near.index as usize, score, p, self.kernels);
            }
            b = e;
        }
        Ok(part)
    }
}

/// Runs a step over a range of chunk numbers, serially or on threads, and
/// returns the results in chunk order. The slice holds the bounds of those
/// chunks' points, `CHUNK` a chunk (empty when the step keeps none).
type Runner<'r> =
    dyn FnMut(&Step, std::ops::Range<usize>, &mut [Bound]) -> Vec<Result<Partial>> + 'r;

/// The bounds of each chunk of `chunks`, an empty slice where there are none.
fn per_chunk(state: &mut [Bound], chunks: usize) -> Vec<&mut [Bound]> {
    let mut out: Vec<&mut [Bound]> = state.chunks_mut(CHUNK).collect();
    out.resize_with(chunks, Default::default);
    out
}

impl KMeans {
    /// Train on every vector of `store`, on the caller's thread, with no
    /// sampling: the building block under [`fit`](Self::fit), which is the
    /// call to use (it samples big inputs and uses every thread).
    /// `progress` sees each iteration's statistics and may stop training
    /// early by returning `false`.
    pub fn train<S: FeatureStore<Elem = f32>>(
        params: &KMeansParams,
        store: &S,
        progress: impl FnMut(&IterationStats) -> bool,
    ) -> Result<KMeans> {
        let mut run = |step: &Step, chunks: std::ops::Range<usize>, state: &mut [Bound]| {
            let parts = per_chunk(state, chunks.len());
            chunks
                .zip(parts)
                .map(|(c, s)| step.run(store, c, s))
                .collect()
        };
        Self::lloyd(params, store, progress, 1, &mut run)
    }

    /// [`train`](Self::train) (every vector, no sampling) on all of
    /// rayon's threads (run it inside a `rayon::ThreadPool::install` to
    /// choose them). The centroids are bit for bit those of `train`,
    /// whatever the number of threads.
    #[cfg(feature = "parallel")]
    pub fn train_parallel<S: FeatureStore<Elem = f32> + Sync>(
        params: &KMeansParams,
        store: &S,
        progress: impl FnMut(&IterationStats) -> bool,
    ) -> Result<KMeans> {
        use rayon::prelude::*;
        let mut run = |step: &Step, chunks: std::ops::Range<usize>, state: &mut [Bound]| {
            let parts = per_chunk(state, chunks.len());
            chunks
                .into_par_iter()
                .zip(parts)
                .map(|(c, s)| step.run(store, c, s))
                .collect()
        };
        Self::lloyd(
            params,
            store,
            progress,
            rayon::current_num_threads(),
            &mut run,
        )
    }

    /// Whether the assignment keeps bounds across iterations (see the
    /// `bounds` module): for L2 at large `k`, where they save most of the
    /// products; the blocked full scan serves small `k` and the other
    /// metrics.
    fn keeps_bounds(params: &KMeansParams) -> bool {
        #[cfg(test)]
        if let Some(b) = tests::FORCE_BOUNDS.get() {
            return b && params.metric == Metric::L2;
        }
        params.metric == Metric::L2 && params.k >= BOUNDS_MIN_K
    }

    fn lloyd<S: FeatureStore<Elem = f32>>(
        params: &KMeansParams,
        store: &S,
        mut progress: impl FnMut(&IterationStats) -> bool,
        threads: usize,
        run: &mut Runner<'_>,
    ) -> Result<KMeans> {
        let n = store.len();
        let dim = store.dim();
        params.validate(n)?;
        let k = params.k;
        let metric = params.metric;
        let mut rng = SplitMix64::new(params.seed);
        let mut buf = Vec::with_capacity(dim);

        let mut centroids = Self::initial(params, store, &mut rng, &mut buf, threads > 1)?;
        let mut stats = Vec::new();
        let mut prev = f64::INFINITY;
        let chunks = n.div_ceil(CHUNK);
        // Chunks in flight at once: enough to keep every thread busy, few
        // enough to bound the partial sums held in memory.
        let window = (2 * threads).max(1);
        // Leading directions where they pay (they serve from the second
        // iteration on); else bounds where they pay.
        let mut lead = (params.max_iters > 1)
            .then(|| Lead::fit(params, store))
            .flatten();
        let mut bounded = lead.is_none() && Self::keeps_bounds(params);
        let mut state = vec![Bound::default(); if bounded { n } else { 0 }];
        let mut moves = bounded.then(|| Moves::first(&centroids, dim));
        for iteration in 1..=params.max_iters.max(1) {
            let mut step = Step::new(metric, &centroids, dim);
            step.moves = moves.take();
            // From the second iteration, once the centroids are means: the
            // first ones (points drawn by the seeding) lie far off the
            // directions, and the full scan assigns to them faster.
            if iteration > 1 {
                step.lead = lead
                    .as_ref()
                    .map(|l| Box::new(l.step(metric, &centroids, dim)));
            }
            let old = bounded.then(|| centroids.clone());
            let mut sums = vec![0f64; k * dim];
            let mut counts = vec![0usize; k];
            let mut inertia = 0f64;
            let mut skipped = 0;
            let mut scored = 0;
            let mut first = 0;
            while first < chunks {
                let last = (first + window).min(chunks);
                // Added in chunk order: the same sums for any thread count.
                let st = match bounded {
                    true => &mut state[first * CHUNK..(last * CHUNK).min(n)],
                    false => &mut [],
                };
                for part in run(&step, first..last, st) {
                    let part = part?;
                    inertia += part.inertia;
                    skipped += part.pruned;
                    scored += part.scored;
                    for (l, &c) in part.clusters.iter().enumerate() {
                        let c = c as usize;
                        counts[c] += part.counts[l];
                        let src = &part.sums[l * dim..(l + 1) * dim];
                        for (s, &x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(src) {
                            *s += x;
                        }
                    }
                }
                first = last;
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
            if let Some(old) = old {
                moves = Some(Moves::since(&old, &centroids, dim));
            }
            // Directions that leave more than an eighth of the centroids to
            // score exactly do not pay (data far from the origin, say, whose
            // rounding room swallows the bounds): the rest of the training
            // goes without them, with bounds where those pay. The counts do
            // not depend on the threads, so neither does the switch.
            #[cfg(test)]
            if step.lead.is_some() {
                tests::LEAD_ITERATIONS.set(tests::LEAD_ITERATIONS.get() + 1);
            }
            if step.lead.is_some() && scored > n.saturating_mul(k) / LEAD_GIVE_UP {
                lead = None;
                if Self::keeps_bounds(params) {
                    bounded = true;
                    state = vec![Bound::default(); n];
                    moves = Some(Moves::first(&centroids, dim));
                }
            }
            let s = IterationStats {
                iteration,
                inertia,
                repaired,
                skipped,
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
            step: Step::new(metric, &centroids, dim),
            centroids,
            stats,
        })
    }

    /// Sample `store` into memory and train, on every thread of the
    /// current rayon pool with the `parallel` feature (run it inside a
    /// `rayon::ThreadPool::install` to choose them; the browser package,
    /// built without it, trains on its own thread). This is the call to
    /// train with: the centroids depend only on `params` (its seed
    /// included) and the data, bit for bit, never on the number of
    /// threads. `progress` sees each iteration's statistics and may stop
    /// training early by returning `false`.
    ///
    /// At most `k * max_points_per_centroid` points are trained on, a
    /// random sample drawn with the seed when `store` holds more (copied
    /// into memory; [`fit_with`](Self::fit_with) copies it to a store of
    /// your choice instead, a temporary file say). A store holding no more
    /// is read in place.
    ///
    /// ```
    /// use vectrove_core::kmeans::{KMeans, KMeansParams};
    /// use vectrove_core::{MemoryStore, Metric};
    ///
    /// // 3,000 points around three centres; at most 2 x 500 are trained on.
    /// let mut data = Vec::new();
    /// for i in 0..3_000 {
    ///     let c = (i % 3) as f32 * 10.0;
    ///     data.extend([c + (i % 7) as f32 * 0.01, c - (i % 5) as f32 * 0.01]);
    /// }
    /// let store = MemoryStore::from_flat(2, &data)?;
    /// let params = KMeansParams {
    ///     k: 3,
    ///     metric: Metric::L2,
    ///     max_points_per_centroid: 500,
    ///     seed: 7,
    ///     ..KMeansParams::default()
    /// };
    /// let km = KMeans::fit(&params, &store, |_| true)?;
    /// assert_eq!(km.k(), 3);
    /// let (near_ten, _) = km.assign(&[10.0, 10.0])?;
    /// let (near_zero, _) = km.assign(&[0.0, 0.0])?;
    /// assert_ne!(near_ten, near_zero);
    ///
    /// // The same centroids on one thread as on every thread.
    /// # #[cfg(feature = "parallel")] {
    /// let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    /// let again = one.install(|| KMeans::fit(&params, &store, |_| true))?;
    /// assert_eq!(again.centroids(), km.centroids());
    /// # }
    /// # Ok::<(), vectrove_core::Error>(())
    /// ```
    pub fn fit<S: FeatureStore<Elem = f32> + Sync>(
        params: &KMeansParams,
        store: &S,
        progress: impl FnMut(&IterationStats) -> bool,
    ) -> Result<KMeans> {
        Self::fit_with(
            params,
            store,
            None::<crate::store::MemoryStore<f32>>,
            progress,
        )
    }

    /// [`fit`](Self::fit), training on the sample [`sample_slots`] draws
    /// from `store`. When nothing is left out, training reads `store`
    /// itself. Otherwise, with a `spill` store (empty; a temporary file
    /// natively, say), the sample is copied there and training reads it
    /// from there, so it never needs to be in memory; without one, it
    /// trains on an in-memory copy of the sample. The centroids are the
    /// same bit for bit in every case, on any number of threads.
    pub fn fit_with<S, D>(
        params: &KMeansParams,
        store: &S,
        spill: Option<D>,
        progress: impl FnMut(&IterationStats) -> bool,
    ) -> Result<KMeans>
    where
        S: FeatureStore<Elem = f32> + Sync,
        D: FeatureStoreMut<Elem = f32> + Sync,
    {
        match Training::gather(params, store, spill)? {
            Training::Whole => Self::train_all(params, store, progress),
            Training::Spilled(d) => Self::train_all(params, &d, progress),
            Training::Copied(m) => Self::train_all(params, &m, progress),
        }
    }

    /// [`fit_with`](Self::fit_with), which now trains on all of rayon's
    /// threads itself.
    #[cfg(feature = "parallel")]
    #[deprecated(note = "`fit_with` trains on all threads now; call it instead")]
    pub fn fit_parallel_with<S, D>(
        params: &KMeansParams,
        store: &S,
        spill: Option<D>,
        progress: impl FnMut(&IterationStats) -> bool,
    ) -> Result<KMeans>
    where
        S: FeatureStore<Elem = f32> + Sync,
        D: FeatureStoreMut<Elem = f32> + Sync,
    {
        Self::fit_with(params, store, spill, progress)
    }

    /// Lloyd on every vector of `store`: on rayon's threads with the
    /// `parallel` feature, on the caller's without.
    fn train_all<S: FeatureStore<Elem = f32> + Sync>(
        params: &KMeansParams,
        store: &S,
        progress: impl FnMut(&IterationStats) -> bool,
    ) -> Result<KMeans> {
        #[cfg(feature = "parallel")]
        return Self::train_parallel(params, store, progress);
        #[cfg(not(feature = "parallel"))]
        Self::train(params, store, progress)
    }

    fn initial<S: FeatureStore<Elem = f32>>(
        params: &KMeansParams,
        store: &S,
        rng: &mut SplitMix64,
        buf: &mut Vec<f32>,
        parallel: bool,
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
            Init::Hierarchical if k >= hier::MIN_K => {
                centroids = hier::start(params, store, rng, parallel)?;
            }
            Init::KMeansPlusPlus | Init::Hierarchical => {
                // Seeding looks at a random sample (every point when there
                // are few): over the whole input it would cost more than
                // the Lloyd iterations themselves.
                let cap = pp_sample(k);
                let p = KMeansParams {
                    k: 1,
                    max_points_per_centroid: cap,
                    seed: rng.next_u64(),
                    ..*params
                };
                let slots = sample_slots(&p, n);
                let mut pts = Vec::with_capacity(slots.len() * dim);
                for &s in &slots {
                    read_block(store, s as usize, s as usize + 1, params.metric, buf)?;
                    pts.extend_from_slice(buf);
                }
                centroids = Seeding::new(pts, dim, k, parallel).run(rng);
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

    /// Centroids trained elsewhere (or loaded from a file), `k` of `dim`
    /// values back to back, as for `metric` (unit length for cosine).
    pub fn from_centroids(metric: Metric, dim: usize, centroids: Vec<f32>) -> Result<KMeans> {
        let bad = |reason: String| {
            Err(Error::InvalidParameter {
                name: "centroids",
                reason,
            })
        };
        if dim == 0 || centroids.is_empty() || !centroids.len().is_multiple_of(dim) {
            return Err(invalid_n(
                "centroids",
                "not a whole, non-zero number of centroids: values",
                centroids.len() as u64,
            ));
        }
        if metric == Metric::Hamming {
            return bad("k-means works on f32 vectors (l2, cosine or ip)".into());
        }
        if let Some(i) = centroids.iter().position(|x| !x.is_finite()) {
            return Err(invalid_n("centroids", "a value is not finite at", i as u64));
        }
        Ok(KMeans {
            dim,
            metric,
            step: Step::new(metric, &centroids, dim),
            centroids,
            stats: Vec::new(),
        })
    }

    /// The `n` nearest centroids of a vector already prepared for the
    /// metric (finite; unit length for cosine), nearest first, with their
    /// scores; ties go to the lower number.
    pub fn nearest_prepared(&self, p: &[f32], n: usize) -> Vec<(u32, f32)> {
        let step = &self.step;
        let mut dots = vec![0f32; step.k];
        (step.kernels.dots)(p, &step.panels, &mut dots);
        let p_norm = (step.kernels.dot)(p, p);
        let scores: Vec<f32> = dots
            .iter()
            .zip(&step.c_norms)
            .map(|(&d, &cn)| match self.metric {
                Metric::L2 => (p_norm + (cn + -2.0 * d)).max(0.0),
                Metric::Cosine => 1.0 + -d,
                _ => -d,
            })
            .collect();
        // Score and number in one integer: the score's bits made to order as
        // `f32::total_cmp` does (negatives' bits flipped, positives' sign bit
        // set) above the number, so a plain integer sort orders by score,
        // then number. (One sort of `u64`s, which other code also sorts,
        // rather than one more sort of pairs: a smaller browser package.)
        let mut all: Vec<u64> = scores
            .iter()
            .enumerate()
            .map(|(j, &s)| {
                let b = s.to_bits();
                let ord = if b >> 31 == 1 { !b } else { b | 0x8000_0000 };
                (u64::from(ord) << 32) | j as u64
            })
            .collect();
        let n = n.min(all.len());
        if n == 0 {
            return Vec::new();
        }
        if n < all.len() {
            all.select_nth_unstable(n - 1);
            all.truncate(n);
        }
        all.sort_unstable();
        all.into_iter()
            .map(|key| {
                let j = key as u32;
                (j, scores[j as usize])
            })
            .collect()
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

    /// The nearest centroid of `v` and its score (see
    /// [`IterationStats::inertia`]), computed as training computes it.
    pub fn assign(&self, v: &[f32]) -> Result<(u32, f32)> {
        if v.len() != self.dim {
            return Err(Error::DimensionMismatch {
                expected: self.dim,
                got: v.len(),
            });
        }
        Ok(self.assign_many(v)?[0])
    }

    /// [`assign`](Self::assign) for many vectors back to back, in blocks.
    /// Their length must be a multiple of [`dim`](Self::dim).
    pub fn assign_many(&self, vectors: &[f32]) -> Result<Vec<(u32, f32)>> {
        let dim = self.dim;
        if !vectors.len().is_multiple_of(dim) {
            return Err(invalid_n(
                "vectors",
                "not a whole number of vectors: values",
                vectors.len() as u64,
            ));
        }
        let step = &self.step;
        let rows = step.rows();
        let mut out = Vec::with_capacity(vectors.len() / dim);
        let mut buf = Vec::with_capacity(rows * dim);
        let mut one = Vec::with_capacity(dim);
        let mut found = Vec::with_capacity(rows);
        for block in vectors.chunks(rows * dim) {
            buf.clear();
            for v in block.chunks_exact(dim) {
                f32::prepare(self.metric, v, &mut one)?;
                buf.extend_from_slice(&one);
            }
            step.nearest_block(&buf, &mut found);
            for (p, near) in buf.chunks_exact(dim).zip(&found) {
                out.push((near.index, step.score(p, near)));
            }
        }
        Ok(out)
    }
}

fn normalize_in_place(v: &mut [f32]) {
    let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests;
