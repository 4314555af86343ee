//! Hierarchical navigable small world graphs (Malkov & Yashunin, 2016).
//!
//! [`Hnsw`] owns a [`FeatureStore`] of vectors (in memory by default) and a
//! compact `u32` graph. Users address points by their own `u64` ids; the
//! index maps them to dense internal slots.

mod concurrent;
mod graph;
mod insert;
#[cfg(feature = "parallel")]
mod parallel;
mod reorder;
mod search;
mod visited;

use std::sync::Mutex;

pub use concurrent::SharedHnsw;
pub use search::{Fetcher, SearchState, SearchStats, Step};

pub use crate::neighbor::Neighbor;

use crate::distance::{DistanceFn, Element, Metric};
use crate::error::{Error, Result};
use crate::points::Points;
use crate::rng::SplitMix64;
use crate::store::{FeatureStore, MemoryStore};
pub(crate) use graph::Graph;
use visited::Visited;

/// Levels are capped so a level fits a byte; with `m >= 2` a level above 24
/// has a probability below 2^-24 per node.
pub(crate) const MAX_LEVEL: usize = 24;

/// The parent of the first node.
pub(crate) const NO_PARENT: u32 = u32::MAX;

/// Construction parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HnswParams {
    /// Neighbour bound on the upper levels (and the number of links a new
    /// node makes on each level).
    pub m: usize,
    /// Neighbour bound on level 0 (usually `2 * m`).
    pub m0: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Seed of the level generator: the same seed and inserts give the same graph.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            m: 16,
            m0: 32,
            ef_construction: 200,
            seed: 0x5EED,
        }
    }
}

impl HnswParams {
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |name, reason: &str| {
            Err(Error::InvalidParameter {
                name,
                reason: reason.into(),
            })
        };
        if !(2..=1024).contains(&self.m) {
            return bad("m", "must be between 2 and 1024");
        }
        if !(self.m..=2048).contains(&self.m0) {
            return bad("m0", "must be between m and 2048");
        }
        if self.ef_construction == 0 {
            return bad("ef_construction", "must be at least 1");
        }
        Ok(())
    }
}

/// Builds an [`Hnsw`]; start with [`Hnsw::builder`].
#[derive(Clone, Debug)]
pub struct HnswBuilder {
    dim: usize,
    metric: Metric,
    params: HnswParams,
    quantize: Option<crate::Quantization>,
    vector_type: Option<crate::store::VectorType>,
    build_on_codes: bool,
}

impl HnswBuilder {
    /// Neighbour bound on the upper levels; also sets `m0 = 2 * m`.
    pub fn m(mut self, m: usize) -> Self {
        self.params.m = m;
        self.params.m0 = m.saturating_mul(2);
        self
    }

    /// Neighbour bound on level 0 (call after [`m`](Self::m)).
    pub fn m0(mut self, m0: usize) -> Self {
        self.params.m0 = m0;
        self
    }

    /// Beam width while inserting (default 200).
    pub fn ef_construction(mut self, ef: usize) -> Self {
        self.params.ef_construction = ef;
        self
    }

    /// Seed of the level generator.
    pub fn seed(mut self, seed: u64) -> Self {
        self.params.seed = seed;
        self
    }

    /// All parameters at once.
    pub fn params(mut self, params: HnswParams) -> Self {
        self.params = params;
        self
    }

    /// Search on codes of `kind`: the quantiser trains itself on the stored
    /// vectors at the end of the insert that brings the index to
    /// [`TRAIN_AT`](crate::quant::TRAIN_AT) points (insert a representative
    /// batch first; [`Hnsw::quantize`] retrains at any time).
    pub fn quantize(mut self, kind: crate::Quantization) -> Self {
        self.quantize = Some(kind);
        self
    }

    /// Keep the vectors as `vector_type`: [`VectorType::F16`](crate::store::VectorType::F16)
    /// stores `f32` vectors in half the memory (and half the file), each
    /// value rounded to the nearest `f16` on insert; the index still takes
    /// and returns `f32`. Applies to [`build`](Self::build);
    /// [`build_with_store`](Self::build_with_store) checks its store keeps
    /// vectors so. Inserts into such an index decode every vector their
    /// searches read (a build of 10,000 debian-384 vectors took 2.3 times as
    /// long): to build a large batch, build in `f32` and call
    /// [`Hnsw::set_vector_type`] before saving, as `vectrove build --vectors
    /// f16` does.
    pub fn vector_type(mut self, vector_type: crate::store::VectorType) -> Self {
        self.vector_type = Some(vector_type);
        self
    }

    /// Whether the multi-threaded builds ([`Hnsw::insert_many_parallel`]
    /// and [`Hnsw::insert_many_concurrent`]) search for each point's
    /// neighbours on 8-bit codes of the vectors (default `true`): the
    /// searches then read a quarter of the bytes, and every link is still
    /// chosen on exact distances (the candidates found are measured again
    /// on the vectors), so the graph is as good. An index with `sq8` codes
    /// of its own builds on them; one without holds codes for the build
    /// alone while it runs (a byte a dimension and point), when the build
    /// adds at least as many points as the index held and 1,000 or more in
    /// all. `false` searches the vectors themselves, as [`Hnsw::insert`],
    /// [`Hnsw::insert_many`] (so that a serial build is the same graph
    /// however its points are split into calls) and [`SharedHnsw`] always
    /// do. Code distances are integer sums, so a batched build is the same
    /// graph on every machine either way.
    pub fn build_on_codes(mut self, on: bool) -> Self {
        self.build_on_codes = on;
        self
    }

    /// An empty index of `f32` vectors in memory (kept as the
    /// [`vector_type`](Self::vector_type) chosen, `f32` by default).
    pub fn build(self) -> Result<Hnsw<MemoryStore<f32>>> {
        let ty = self.vector_type.unwrap_or(crate::store::VectorType::F32);
        let store = MemoryStore::with_type(self.dim, ty)?;
        self.build_with_store(store)
    }

    /// An empty index over `store`, which must be empty and of the builder's
    /// dimension (for example `MemoryStore::<u8>` for Hamming codes).
    pub fn build_with_store<S: FeatureStore>(self, store: S) -> Result<Hnsw<S>> {
        self.params.validate()?;
        if store.dim() != self.dim {
            return Err(Error::DimensionMismatch {
                expected: self.dim,
                got: store.dim(),
            });
        }
        if let Some(ty) = self.vector_type.filter(|&t| t != store.vector_type()) {
            return Err(Error::InvalidParameter {
                name: "vector_type",
                reason: format!("the store keeps {} vectors, not {ty}", store.vector_type()),
            });
        }
        let dist = S::Elem::distance_fn(self.metric)?;
        let mut points = Points::new(store, self.metric)?;
        if let Some(kind) = self.quantize {
            points.quantize_later(kind)?;
        }
        Ok(Hnsw {
            params: self.params,
            dist,
            points,
            graph: Graph::new(self.params.m, self.params.m0),
            parent: Vec::new(),
            entry_links: Vec::new(),
            entry: None,
            max_level: 0,
            rng: SplitMix64::new(self.params.seed),
            visited_pool: Mutex::new(Vec::new()),
            build_on_codes: self.build_on_codes,
        })
    }
}

/// An HNSW index over the vectors of a [`FeatureStore`].
pub struct Hnsw<S: FeatureStore = MemoryStore<f32>> {
    pub(crate) params: HnswParams,
    pub(crate) dist: DistanceFn<S::Elem>,
    /// Vectors, ids and tombstones.
    pub(crate) points: Points<S>,
    pub(crate) graph: Graph,
    /// For every node, the node whose level-0 edge first reached it. These
    /// edges form a spanning tree that pruning never cuts, which (with
    /// `entry_links`) keeps every node reachable from the entry point.
    pub(crate) parent: Vec<u32>,
    /// Level-0 edges from each entry point to the one it replaced, also never pruned.
    pub(crate) entry_links: Vec<(u32, u32)>,
    pub(crate) entry: Option<u32>,
    pub(crate) max_level: usize,
    pub(crate) rng: SplitMix64,
    pub(crate) visited_pool: Mutex<Vec<Visited>>,
    /// Whether the concurrent build searches on codes
    /// ([`HnswBuilder::build_on_codes`]).
    pub(crate) build_on_codes: bool,
}

impl<S: FeatureStore> std::fmt::Debug for Hnsw<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hnsw")
            .field("dim", &self.dim())
            .field("metric", &self.points.metric)
            .field("params", &self.params)
            .field("len", &self.len())
            .field("max_level", &self.max_level)
            .finish()
    }
}

impl Hnsw<MemoryStore<f32>> {
    /// Start building an index of `dim`-dimensional vectors compared with `metric`.
    pub fn builder(dim: usize, metric: Metric) -> HnswBuilder {
        HnswBuilder {
            dim,
            metric,
            params: HnswParams::default(),
            quantize: None,
            vector_type: None,
            build_on_codes: true,
        }
    }
}

impl<T: crate::distance::Element> Hnsw<MemoryStore<T>> {
    /// Keep the vectors as `vector_type` from now on: `VectorType::F16`
    /// halves the memory and the file of `f32` vectors. Building in `f32`
    /// and converting before saving gives a graph linked on the exact
    /// values, and builds faster than inserting into `f16`. A value beyond
    /// the new type's range is an error and changes nothing; codes are
    /// encoded again from the values now stored.
    pub fn set_vector_type(&mut self, vector_type: crate::store::VectorType) -> Result<()> {
        self.points.convert_vectors(vector_type)
    }
}

impl<S: FeatureStore> Hnsw<S> {
    /// Elements per vector.
    pub fn dim(&self) -> usize {
        self.points.dim()
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.points.metric
    }

    /// The construction parameters.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Choose whether builds search on 8-bit codes (see
    /// [`HnswBuilder::build_on_codes`]; an opened index does).
    pub fn set_build_on_codes(&mut self, on: bool) {
        self.build_on_codes = on;
    }

    /// Number of live (not deleted) points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the index has no live point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    /// Train codes of `kind` on the stored vectors now, encode them all, and
    /// search on them from now on: traversal on codes, then the best
    /// [`SearchParams::rerank`](crate::SearchParams::rerank) candidates
    /// reranked with exact distances from the store. Later inserts are
    /// encoded with the same quantiser (values outside the range it was
    /// trained on clamp to it; call again to retrain). `f32` vectors only.
    ///
    /// ```
    /// use vectrove_core::{Hnsw, Metric, Quantization};
    ///
    /// let mut index = Hnsw::builder(3, Metric::L2).build()?;
    /// for i in 0..100u64 {
    ///     let x = i as f32;
    ///     index.insert(i, &[x, 100.0 - x, (x * 0.1).sin()])?;
    /// }
    /// index.quantize(Quantization::Sq8)?;
    /// assert!(index.is_quantized());
    /// let hits = index.search(&[42.0, 58.0, 0.0], 1, 32)?;
    /// assert_eq!(hits[0].id, 42);
    /// # Ok::<(), vectrove_core::Error>(())
    /// ```
    pub fn quantize(&mut self, kind: crate::Quantization) -> Result<()> {
        self.points.quantize(kind)
    }

    /// The codes this index searches on (or will, once trained).
    pub fn quantization(&self) -> Option<crate::Quantization> {
        self.points.quant.kind()
    }

    /// Whether searches traverse on codes now (trained, one for every slot).
    pub fn is_quantized(&self) -> bool {
        self.points.codes().is_some()
    }

    /// Bring the codes up to date after inserts.
    pub(crate) fn sync_codes(&mut self) {
        let _ = self.points.sync_codes();
    }

    /// The stored vector of `id` (normalised if the metric is cosine).
    pub fn get(&self, id: u64) -> Result<Vec<S::Elem>> {
        self.points.get(id)
    }

    /// Delete `id`: it is never returned again, but its node keeps serving as
    /// a waypoint so the graph stays navigable. The id may be inserted again.
    pub fn delete(&mut self, id: u64) -> Result<()> {
        self.points.delete(id).map(drop)
    }

    /// Number of internal slots, deleted ones included.
    pub fn slot_count(&self) -> usize {
        self.points.slot_count()
    }

    /// The user id stored in `slot`.
    pub fn slot_id(&self, slot: u32) -> Option<u64> {
        ((slot as usize) < self.points.slot_count()).then(|| self.points.id(slot))
    }

    /// Whether `slot` holds a deleted point.
    pub fn is_deleted(&self, slot: u32) -> bool {
        self.points.is_deleted(slot)
    }

    /// The entry point's slot (`None` when nothing was ever inserted).
    pub fn entry_point(&self) -> Option<u32> {
        self.entry
    }

    /// The highest level of the graph.
    pub fn max_level(&self) -> usize {
        self.max_level
    }

    /// The level of `slot`'s node.
    pub fn node_level(&self, slot: u32) -> Option<usize> {
        ((slot as usize) < self.graph.len()).then(|| self.graph.level(slot))
    }

    /// The neighbours of `slot` on `level`, if the node has that level.
    pub fn neighbors(&self, slot: u32, level: usize) -> Option<&[u32]> {
        let has = self.node_level(slot).is_some_and(|l| l >= level);
        has.then(|| self.graph.neighbors(slot, level))
    }

    /// Check the graph's invariants: no list over its bound, no edge to a
    /// missing node or a level the target lacks, no self-loop or repeated edge.
    pub fn verify(&self) -> Result<()> {
        self.graph.validate()
    }

    /// Approximate heap bytes of the graph and id maps (not the store).
    pub fn graph_bytes(&self) -> usize {
        self.graph.heap_bytes() + self.parent.capacity() * 4 + self.points.heap_bytes()
    }

    fn take_visited(&self) -> Visited {
        let mut pool = self.visited_pool.lock().unwrap_or_else(|e| e.into_inner());
        pool.pop().unwrap_or_default()
    }

    fn return_visited(&self, v: Visited) {
        let mut pool = self.visited_pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 64 {
            pool.push(v);
        }
    }
}
