//! IVF-Flat: a k-means coarse quantiser splits the points into `nlist`
//! inverted lists; a search scores the query against the centroids and scans
//! the `nprobe` nearest lists exactly. Vectors live in any [`FeatureStore`],
//! in insertion order, as in HNSW; ids, filters and deletion work the same.
//!
//! ```
//! use vectrove_core::{Ivf, IvfParams, MemoryStore, Metric};
//!
//! let points: Vec<f32> = (0..400).map(|i| (i % 20) as f32 + (i / 20) as f32 * 0.01).collect();
//! let training = MemoryStore::from_flat(2, &points)?;
//! let params = IvfParams { nlist: 4, ..IvfParams::default() };
//! let mut index = Ivf::train(Metric::L2, params, &training)?;
//! let ids: Vec<u64> = (0..200).collect();
//! index.insert_many(&ids, &points)?;
//! let hits = index.search(&points[20..22], 1, 2)?;
//! assert_eq!(hits[0].id, 10);
//! # Ok::<(), vectrove_core::Error>(())
//! ```

use std::collections::BinaryHeap;
use std::ops::Range;

use crate::distance::{DistanceFn, Element, Metric};
use crate::error::{Error, Result};
use crate::hnsw::Step;
use crate::kmeans::{Init, KMeans, KMeansParams};
use crate::neighbor::Neighbor;
use crate::points::Points;
use crate::store::{FeatureStore, FeatureStoreMut, MemoryStore, SourceRead};

/// How the coarse quantiser is trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IvfParams {
    /// Number of inverted lists (k-means centroids); 0 (the default) picks
    /// [`IvfParams::default_nlist`] of the training points.
    pub nlist: usize,
    /// Most k-means iterations.
    pub iters: usize,
    /// Seed of the k-means sampling and initialisation.
    pub seed: u64,
    /// Train on at most `nlist` times this many points (a random sample).
    pub max_points_per_centroid: usize,
    /// How k-means starts: k-means++ (the default), or
    /// [`Init::Hierarchical`] for `nlist` in the tens of thousands, where
    /// k-means++ seeding costs more than the iterations.
    pub init: Init,
}

impl Default for IvfParams {
    fn default() -> Self {
        Self {
            nlist: 0,
            iters: 25,
            seed: 1,
            max_points_per_centroid: 256,
            init: Init::KMeansPlusPlus,
        }
    }
}

impl IvfParams {
    /// The number of lists used when none is given for `n` training points:
    /// about `4 * sqrt(n)`, at least 1 and at most `n`, a common balance
    /// between the cost of scoring centroids and of scanning lists.
    pub fn default_nlist(n: usize) -> usize {
        ((4.0 * (n as f64).sqrt()).round() as usize).clamp(1, n.max(1))
    }

    /// These parameters with `nlist` decided for `n` training points.
    pub fn resolved(self, n: usize) -> Self {
        Self {
            nlist: match self.nlist {
                0 => Self::default_nlist(n),
                k => k,
            },
            ..self
        }
    }

    /// The k-means parameters that train the quantiser for `metric`
    /// (`nlist` must be decided: see [`resolved`](Self::resolved)).
    pub fn kmeans(&self, metric: Metric) -> KMeansParams {
        KMeansParams {
            k: self.nlist,
            metric,
            max_iters: self.iters,
            seed: self.seed,
            max_points_per_centroid: self.max_points_per_centroid,
            init: self.init,
            ..KMeansParams::default()
        }
    }
}

/// An IVF-Flat index over the vectors of a [`FeatureStore`]. The lists are
/// built on `f32` vectors; a store of another element type is refused.
pub struct Ivf<S: FeatureStore = MemoryStore<f32>> {
    pub(crate) params: IvfParams,
    pub(crate) dist: DistanceFn<S::Elem>,
    pub(crate) quantizer: KMeans,
    /// The slots of every list, in insertion order.
    pub(crate) lists: Vec<Vec<u32>>,
    /// The list of every slot.
    pub(crate) list_of: Vec<u32>,
    /// Vectors, ids and tombstones.
    pub(crate) points: Points<S>,
}

impl<S: FeatureStore> std::fmt::Debug for Ivf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ivf")
            .field("dim", &self.dim())
            .field("metric", &self.metric())
            .field("params", &self.params)
            .field("len", &self.len())
            .finish()
    }
}

/// A max-heap entry: the worst of the best `k` on top.
#[derive(Debug, PartialEq)]
struct Hit(f32, u32);

impl Eq for Hit {}

impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Hit {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// The error for IVF over vectors that are not `f32`.
pub(crate) fn not_f32<T: Element>() -> Error {
    Error::ElementMismatch {
        expected: f32::NAME,
        got: T::NAME,
    }
}

impl Ivf<MemoryStore<f32>> {
    /// Train the quantiser on the vectors of `training` (sampled as
    /// [`KMeans::fit`] does) and return an empty in-memory index.
    pub fn train<T: FeatureStore<Elem = f32> + Sync>(
        metric: Metric,
        params: IvfParams,
        training: &T,
    ) -> Result<Self> {
        Ivf::train_into(metric, params, training, MemoryStore::new(training.dim())?)
    }
}

impl<S: FeatureStore> Ivf<S> {
    /// Train the quantiser on the vectors of `training` (sampled as
    /// [`KMeans::fit`] does) and return an empty index over `store`, which
    /// must be empty.
    pub fn train_into<T: FeatureStore<Elem = f32> + Sync>(
        metric: Metric,
        params: IvfParams,
        training: &T,
        store: S,
    ) -> Result<Self> {
        let params = params.resolved(training.len());
        let km = KMeans::fit(&params.kmeans(metric), training, |_| true)?;
        Ivf::with_quantizer(km, params, store)
    }

    /// An empty index with a quantiser trained elsewhere (for example with
    /// `KMeans::fit_with` on `params.resolved(n).kmeans(metric)`),
    /// over an empty `store` of `f32` vectors.
    pub fn with_quantizer(quantizer: KMeans, params: IvfParams, store: S) -> Result<Self> {
        if S::Elem::CODE != f32::CODE {
            return Err(not_f32::<S::Elem>());
        }
        if store.dim() != quantizer.dim() {
            return Err(Error::DimensionMismatch {
                expected: quantizer.dim(),
                got: store.dim(),
            });
        }
        let metric = quantizer.metric();
        Ok(Ivf {
            params: IvfParams {
                nlist: quantizer.k(),
                ..params
            },
            dist: S::Elem::distance_fn(metric)?,
            lists: vec![Vec::new(); quantizer.k()],
            quantizer,
            list_of: Vec::new(),
            points: Points::new(store, metric)?,
        })
    }

    /// Elements per vector.
    pub fn dim(&self) -> usize {
        self.quantizer.dim()
    }

    /// The distance.
    pub fn metric(&self) -> Metric {
        self.points.metric
    }

    /// The parameters the quantiser was trained with.
    pub fn params(&self) -> IvfParams {
        self.params
    }

    /// Number of lists.
    pub fn nlist(&self) -> usize {
        self.lists.len()
    }

    /// The coarse quantiser.
    pub fn quantizer(&self) -> &KMeans {
        &self.quantizer
    }

    /// Points in each list, deleted ones included.
    pub fn list_sizes(&self) -> Vec<usize> {
        self.lists.iter().map(Vec::len).collect()
    }

    /// Number of live points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the index has no live point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots, deleted ones included.
    pub fn slot_count(&self) -> usize {
        self.points.slot_count()
    }

    /// The ids of the live (not deleted) points, in the order they are
    /// stored.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.points.live_ids()
    }

    /// Whether `id` is a live point.
    pub fn contains(&self, id: u64) -> bool {
        self.points.contains(id)
    }

    /// The store holding the vectors.
    pub fn store(&self) -> &S {
        &self.points.store
    }

    /// Train codes of `kind` on the stored vectors and scan lists on them
    /// from now on (see [`Hnsw::quantize`](crate::Hnsw::quantize)).
    pub fn quantize(&mut self, kind: crate::Quantization) -> Result<()> {
        self.points.quantize(kind)
    }

    /// Search on codes of `kind` once the index holds
    /// [`TRAIN_AT`](crate::quant::TRAIN_AT) points: the quantiser trains
    /// itself on the stored vectors at the end of the insert that gets there
    /// (now, if the index holds that many already), as
    /// [`HnswBuilder::quantize`](crate::HnswBuilder::quantize) does for HNSW.
    pub fn quantize_later(&mut self, kind: crate::Quantization) -> Result<()> {
        self.points.quantize_later(kind)?;
        self.points.sync_codes()
    }

    /// The codes this index searches on.
    pub fn quantization(&self) -> Option<crate::Quantization> {
        self.points.quant.kind()
    }

    /// Whether searches scan codes now (trained, one for every slot).
    pub fn is_quantized(&self) -> bool {
        self.points.codes().is_some()
    }

    /// The stored vector of `id` (normalised if the metric is cosine).
    pub fn get(&self, id: u64) -> Result<Vec<S::Elem>> {
        self.points.get(id)
    }

    /// Delete `id`: it is never returned again. The id may be inserted again.
    pub fn delete(&mut self, id: u64) -> Result<()> {
        self.points.delete(id).map(drop)
    }

    /// The `k` nearest neighbours of `query` among the points of its
    /// `nprobe` nearest lists, nearest first (ties by insertion order).
    pub fn search(&self, query: &[S::Elem], k: usize, nprobe: usize) -> Result<Vec<Neighbor>> {
        self.search_filtered(query, k, nprobe, |_| true)
    }

    /// Like [`search`](Self::search), returning only ids that `filter` accepts.
    pub fn search_filtered(
        &self,
        query: &[S::Elem],
        k: usize,
        nprobe: usize,
        filter: impl Fn(u64) -> bool,
    ) -> Result<Vec<Neighbor>> {
        let params = crate::SearchParams {
            nprobe,
            ..crate::SearchParams::default()
        };
        self.search_with(query, k, &params, filter)
    }

    /// [`search_filtered`](Self::search_filtered) with every knob of
    /// [`SearchParams`](crate::SearchParams): `nprobe`, and `rerank` for an
    /// index with codes (the lists are scanned on codes, then the best
    /// `rerank` candidates get exact distances, read in one batch).
    pub fn search_with(
        &self,
        query: &[S::Elem],
        k: usize,
        params: &crate::SearchParams,
        filter: impl Fn(u64) -> bool,
    ) -> Result<Vec<Neighbor>> {
        let mut state = self.start_search_with(query, k, params)?;
        match self.resume(&mut state, filter)? {
            Step::Done => Ok(self.finish_search(state)),
            Step::Missing => Err(Error::NotResident {
                count: state.missing().len() + state.missing_ranges().len(),
            }),
        }
    }

    /// Start a search that an asynchronous store can interrupt: the same
    /// search as [`search_with`](Self::search_with), run by
    /// [`resume`](Self::resume) until it answers [`Step::Done`].
    pub fn start_search_with(
        &self,
        query: &[S::Elem],
        k: usize,
        params: &crate::SearchParams,
    ) -> Result<IvfSearch<S::Elem>> {
        let q = self.points.prepare(query)?;
        let q32 = S::Elem::as_f32(&q).ok_or_else(not_f32::<S::Elem>)?;
        let lists = match (k, params.nprobe) {
            (0, _) | (_, 0) => Vec::new(),
            (_, nprobe) => (self.quantizer.nearest_prepared(q32, nprobe))
                .into_iter()
                .map(|(list, _)| list)
                .collect(),
        };
        let stage = match lists.is_empty() {
            true => Stage::Done(Vec::new()),
            false => Stage::Scan,
        };
        Ok(IvfSearch {
            q,
            k,
            rerank: params.rerank_for(k),
            lists,
            stage,
            missing: Vec::new(),
            ranges: Vec::new(),
        })
    }

    /// Run `state` as far as the store allows: [`Step::Done`] when the
    /// results are ready for [`finish_search`](Self::finish_search),
    /// [`Step::Missing`] when the store lacks the vectors in
    /// [`IvfSearch::missing`] or the file bytes in
    /// [`IvfSearch::missing_ranges`] (the codes of probed lists, for an
    /// index whose codes stay in a remote file): fetch them all, then resume.
    ///
    /// An index with codes asks for at most two batches: the probed lists'
    /// codes (if they are not in memory), then the vectors of the best
    /// `rerank` candidates. Without codes, the probed lists' vectors come
    /// in one batch.
    pub fn resume(
        &self,
        state: &mut IvfSearch<S::Elem>,
        filter: impl Fn(u64) -> bool,
    ) -> Result<Step> {
        state.missing.clear();
        state.ranges.clear();
        if let Stage::Scan = state.stage {
            state.stage = match self.points.codes() {
                Some(codes) => self.scan_codes(state, codes, &filter),
                None => match &self.points.quant {
                    crate::quant::Quant::Lazy(lazy) => self.scan_lazy(state, lazy, &filter)?,
                    _ => self.scan_exact(state, &filter)?,
                },
            };
        }
        if let Stage::Rerank(slots) = &state.stage {
            let mut exact = Vec::with_capacity(slots.len());
            let q = &state.q;
            self.points.store.with_vectors(
                slots,
                |slot, v| exact.push(Hit(finite((self.dist)(q, v)), slot)),
                &mut state.missing,
            )?;
            if !state.missing.is_empty() {
                return Ok(Step::Missing);
            }
            exact.sort_unstable();
            exact.truncate(state.k);
            state.stage = Stage::Done(exact);
        }
        Ok(match state.stage {
            Stage::Done(_) => Step::Done,
            _ => Step::Missing,
        })
    }

    /// The results of a search that answered [`Step::Done`], nearest first.
    pub fn finish_search(&self, state: IvfSearch<S::Elem>) -> Vec<Neighbor> {
        match state.stage {
            Stage::Done(hits) => hits
                .into_iter()
                .map(|Hit(distance, slot)| Neighbor {
                    id: self.points.id(slot),
                    distance,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `slot` is a live point `filter` accepts.
    fn admits(&self, slot: u32, filter: &impl Fn(u64) -> bool) -> bool {
        !self.points.is_deleted(slot) && filter(self.points.id(slot))
    }

    /// The slots of `list` that [`admits`](Self::admits), in `live`.
    fn live_slots(&self, list: u32, filter: &impl Fn(u64) -> bool, live: &mut Vec<u32>) {
        live.clear();
        let slots = self.lists[list as usize].iter().copied();
        live.extend(slots.filter(|&slot| self.admits(slot, filter)));
    }

    /// The probed lists scanned on codes in memory: the rerank candidates.
    fn scan_codes(
        &self,
        state: &IvfSearch<S::Elem>,
        codes: &crate::quant::Codes,
        filter: &impl Fn(u64) -> bool,
    ) -> Stage {
        let q32 = S::Elem::as_f32(&state.q).unwrap_or(&[]);
        let cq = codes.query(q32);
        let mut best = Best::new(state.rerank, self.points.slot_count());
        let (mut live, mut dists) = (Vec::new(), Vec::new());
        for &list in &state.lists {
            self.live_slots(list, filter, &mut live);
            codes.distances(&cq, &live, &mut dists);
            for (&slot, &d) in live.iter().zip(&dists) {
                best.offer(d, slot);
            }
        }
        Stage::Rerank(best.slots())
    }

    /// The probed lists scanned on codes read from the file: each run of
    /// consecutive slots of a list is one read of the source. Any run the
    /// source lacks makes the scan wait for all of them.
    fn scan_lazy(
        &self,
        state: &mut IvfSearch<S::Elem>,
        lazy: &crate::quant::LazyCodes,
        filter: &impl Fn(u64) -> bool,
    ) -> Result<Stage> {
        let Some(source) = self.points.store.byte_source() else {
            return Err(Error::NotResident { count: 1 });
        };
        let q32 = S::Elem::as_f32(&state.q).unwrap_or(&[]);
        let cq = lazy.codes.query(q32);
        let mut best = Best::new(state.rerank, self.points.slot_count());
        let (mut buf, mut dists) = (Vec::new(), Vec::new());
        for &list in &state.lists {
            for (first, n) in runs(&self.lists[list as usize]) {
                let r = lazy.range(first, n);
                buf.resize((r.end - r.start) as usize, 0);
                if source.read_at(r.start, &mut buf)? == SourceRead::Pending {
                    state.ranges.push(r);
                    continue;
                }
                if !state.ranges.is_empty() {
                    continue;
                }
                lazy.codes.distances_in(&cq, &buf, &mut dists);
                for (slot, &d) in (first..).zip(&dists) {
                    if self.admits(slot, filter) {
                        best.offer(d, slot);
                    }
                }
            }
        }
        if !state.ranges.is_empty() {
            return Ok(Stage::Scan);
        }
        Ok(Stage::Rerank(best.slots()))
    }

    /// The probed lists scanned exactly: the results, or (the stage left
    /// at the scan) every vector of them the store lacks.
    fn scan_exact(
        &self,
        state: &mut IvfSearch<S::Elem>,
        filter: &impl Fn(u64) -> bool,
    ) -> Result<Stage> {
        let mut best = Best::new(state.k, self.points.slot_count());
        let mut live = Vec::new();
        let q = &state.q;
        for &list in &state.lists {
            self.live_slots(list, filter, &mut live);
            self.points.store.with_vectors(
                &live,
                |slot, v| best.offer(finite((self.dist)(q, v)), slot),
                &mut state.missing,
            )?;
        }
        if !state.missing.is_empty() {
            return Ok(Stage::Scan);
        }
        Ok(Stage::Done(best.heap.into_sorted_vec()))
    }
}

/// A NaN (from an unchecked stored vector) ranks last.
fn finite(d: f32) -> f32 {
    if d.is_nan() { f32::INFINITY } else { d }
}

/// The runs of consecutive slots in `slots` (ascending), as `(first, len)`.
fn runs(slots: &[u32]) -> impl Iterator<Item = (u32, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let first = *slots.get(at)?;
        let mut n = 1;
        while slots.get(at + n) == Some(&(first + n as u32)) {
            n += 1;
        }
        at += n;
        Some((first, n))
    })
}

/// The best `cap` hits offered: a max-heap with the worst on top.
struct Best {
    cap: usize,
    heap: BinaryHeap<Hit>,
}

impl Best {
    fn new(cap: usize, slots: usize) -> Self {
        Self {
            cap,
            heap: BinaryHeap::with_capacity(cap.min(slots) + 1),
        }
    }

    fn offer(&mut self, d: f32, slot: u32) {
        if self.heap.len() < self.cap {
            self.heap.push(Hit(d, slot));
        } else if self.heap.peek().is_some_and(|w| Hit(d, slot) < *w) {
            self.heap.pop();
            self.heap.push(Hit(d, slot));
        }
    }

    /// The slots held, ascending (the order a store reads best).
    fn slots(self) -> Vec<u32> {
        let mut s: Vec<u32> = self.heap.into_iter().map(|Hit(_, s)| s).collect();
        s.sort_unstable();
        s
    }
}

/// Where an [`IvfSearch`] stands.
#[derive(Debug)]
enum Stage {
    /// Scoring the probed lists.
    Scan,
    /// Exact distances for these candidates (ascending slots).
    Rerank(Vec<u32>),
    /// The results, nearest first.
    Done(Vec<Hit>),
}

/// A search of an [`Ivf`] index in progress (see
/// [`Ivf::start_search_with`]): what it has found so far and, after
/// [`Step::Missing`], what it waits for.
#[derive(Debug)]
pub struct IvfSearch<T> {
    q: Vec<T>,
    k: usize,
    rerank: usize,
    lists: Vec<u32>,
    stage: Stage,
    missing: Vec<u32>,
    ranges: Vec<Range<u64>>,
}

impl<T> IvfSearch<T> {
    /// The slots whose vectors the store lacked in the last
    /// [`Ivf::resume`], ascending within each probed list.
    pub fn missing(&self) -> &[u32] {
        &self.missing
    }

    /// The byte ranges of the file the last [`Ivf::resume`] lacked (codes
    /// of probed lists, for an index whose codes stay in the file).
    pub fn missing_ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// The lists this search probes, nearest centroid first.
    pub fn lists(&self) -> &[u32] {
        &self.lists
    }
}

impl<S: FeatureStoreMut<Elem = f32>> Ivf<S> {
    /// Insert one point.
    pub fn insert(&mut self, id: u64, v: &[f32]) -> Result<()> {
        self.insert_many(&[id], v)
    }

    /// Insert points with `ids` and their vectors back to back. Input is
    /// checked first (dimension, finite values, zero vectors for cosine,
    /// duplicate ids): an error leaves the index as it was. A failing store
    /// midway leaves the points before it inserted.
    pub fn insert_many(&mut self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        let dim = self.dim();
        let prepared = self.points.prepare_flat(ids, vectors)?;
        let lists = self.quantizer.assign_many(&prepared)?;
        // Stored list by list, so a list's points sit together in the store
        // and a probe reads them in one sweep.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        // (list, position): the order a stable sort by list gives.
        order.sort_unstable_by_key(|&i| (lists[i].0, i));
        self.points.store.reserve(ids.len());
        for i in order {
            let (id, v, list) = (ids[i], &prepared[i * dim..(i + 1) * dim], lists[i].0);
            let slot = match self.points.push(id, v) {
                Ok(slot) => slot,
                Err(e) => {
                    let _ = self.points.sync_codes();
                    return Err(e);
                }
            };
            self.list_of.push(list);
            self.lists[list as usize].push(slot);
        }
        let _ = self.points.sync_codes();
        Ok(())
    }
}
