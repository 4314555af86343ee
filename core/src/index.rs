//! "An index of either kind": what a front end holds when it opens a file
//! without knowing in advance whether it is an HNSW graph or IVF lists.

use std::io::Write;

use crate::distance::Metric;
use crate::error::Result;
use crate::hnsw::Hnsw;
use crate::ivf::Ivf;
use crate::neighbor::Neighbor;
use crate::store::{FeatureStore, FeatureStoreMut, MemoryStore};

/// What kind of index a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexKind {
    /// A hierarchical navigable small world graph.
    Hnsw,
    /// Inverted lists over a k-means coarse quantiser (IVF-Flat).
    Ivf,
}

impl IndexKind {
    /// The kind's name as prose writes it ("HNSW", "IVF").
    pub fn label(self) -> &'static str {
        match self {
            IndexKind::Hnsw => "HNSW",
            IndexKind::Ivf => "IVF",
        }
    }

    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Hnsw => "hnsw",
            IndexKind::Ivf => "ivf",
        }
    }
}

/// The error for a file of another kind than `kind`.
pub(crate) fn not_kind(kind: IndexKind) -> crate::error::Error {
    crate::error::Error::Corrupt {
        section: "header",
        reason: format!("not an {} index", kind.label()),
    }
}

/// How hard a search tries, for either kind of index: `ef` is HNSW's beam
/// width, `nprobe` the number of IVF lists scanned. Each kind ignores the
/// other's knob. `rerank` matters only for an index with codes
/// ([`Quantization`](crate::Quantization)): that many of the best candidates
/// found on codes get exact distances from the store, in one batch.
///
/// ```
/// use vectrove_core::SearchParams;
/// let p = SearchParams { ef: 128, ..SearchParams::default() };
/// assert_eq!((p.nprobe, p.rerank_for(10)), (8, 40));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchParams {
    /// HNSW beam width (the search raises it to `k` when smaller).
    pub ef: usize,
    /// IVF lists to scan.
    pub nprobe: usize,
    /// Candidates reranked exactly after a search on codes (at least `k`);
    /// 0 picks the default, [`rerank_for`](Self::rerank_for).
    pub rerank: usize,
}

impl Default for SearchParams {
    fn default() -> Self {
        Self {
            ef: 64,
            nprobe: 8,
            rerank: 0,
        }
    }
}

impl SearchParams {
    /// Candidates reranked for `k` results: `rerank` if set, else
    /// `max(4k, 32)`; never below `k`.
    pub fn rerank_for(&self, k: usize) -> usize {
        match self.rerank {
            0 => k.saturating_mul(4).max(32),
            r => r.max(k),
        }
    }
}

/// An HNSW or IVF-Flat index over the vectors of `S`.
///
/// ```
/// use vectrove_core::{AnyIndex, Hnsw, Metric, SearchParams};
///
/// let mut hnsw = Hnsw::builder(2, Metric::L2).build()?;
/// hnsw.insert(4, &[1.0, 1.0])?;
/// let index = AnyIndex::from(hnsw);
/// let hits = index.search(&[0.9, 1.1], 1, &SearchParams::default())?;
/// assert_eq!((index.kind().name(), hits[0].id), ("hnsw", 4));
/// # Ok::<(), vectrove_core::Error>(())
/// ```
#[derive(Debug)]
pub enum AnyIndex<S: FeatureStore = MemoryStore<f32>> {
    /// A graph index.
    Hnsw(Hnsw<S>),
    /// Inverted lists.
    Ivf(Ivf<S>),
}

impl<S: FeatureStore> From<Hnsw<S>> for AnyIndex<S> {
    fn from(h: Hnsw<S>) -> Self {
        AnyIndex::Hnsw(h)
    }
}

impl<S: FeatureStore> From<Ivf<S>> for AnyIndex<S> {
    fn from(i: Ivf<S>) -> Self {
        AnyIndex::Ivf(i)
    }
}

/// The same call on whichever kind `$index` holds.
macro_rules! either {
    ($index:expr, $x:ident => $body:expr) => {
        match $index {
            AnyIndex::Hnsw($x) => $body,
            AnyIndex::Ivf($x) => $body,
        }
    };
}

impl<S: FeatureStore> AnyIndex<S> {
    /// Which kind this is.
    pub fn kind(&self) -> IndexKind {
        match self {
            AnyIndex::Hnsw(_) => IndexKind::Hnsw,
            AnyIndex::Ivf(_) => IndexKind::Ivf,
        }
    }

    /// Elements per vector.
    pub fn dim(&self) -> usize {
        either!(self, i => i.dim())
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        either!(self, i => i.metric())
    }

    /// Number of live (not deleted) points.
    pub fn len(&self) -> usize {
        either!(self, i => i.len())
    }

    /// Whether the index has no live point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots, deleted ones included.
    pub fn slot_count(&self) -> usize {
        either!(self, i => i.slot_count())
    }

    /// The ids of the live (not deleted) points, in the order they are
    /// stored.
    pub fn ids(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        either!(self, i => Box::new(i.ids()))
    }

    /// Whether `id` is a live point.
    pub fn contains(&self, id: u64) -> bool {
        either!(self, i => i.contains(id))
    }

    /// The stored vector of `id` (normalised if the metric is cosine).
    pub fn get(&self, id: u64) -> Result<Vec<S::Elem>> {
        either!(self, i => i.get(id))
    }

    /// Delete `id`; it is never returned again.
    pub fn delete(&mut self, id: u64) -> Result<()> {
        either!(self, i => i.delete(id))
    }

    /// The store holding the vectors.
    pub fn store(&self) -> &S {
        either!(self, i => i.store())
    }

    /// Train codes of `kind` on the stored vectors and search on them from
    /// now on (see [`Hnsw::quantize`]).
    pub fn quantize(&mut self, kind: crate::Quantization) -> Result<()> {
        either!(self, i => i.quantize(kind))
    }

    /// The codes this index searches on (or will, once trained).
    pub fn quantization(&self) -> Option<crate::Quantization> {
        either!(self, i => i.quantization())
    }

    /// Whether searches traverse on codes now (trained, one for every slot).
    pub fn is_quantized(&self) -> bool {
        either!(self, i => i.is_quantized())
    }

    /// The `k` nearest neighbours of `query`, nearest first.
    pub fn search(&self, query: &[S::Elem], k: usize, p: &SearchParams) -> Result<Vec<Neighbor>> {
        self.search_filtered(query, k, p, |_| true)
    }

    /// Like [`search`](Self::search), returning only ids `filter` accepts.
    pub fn search_filtered(
        &self,
        query: &[S::Elem],
        k: usize,
        p: &SearchParams,
        filter: impl Fn(u64) -> bool,
    ) -> Result<Vec<Neighbor>> {
        match self {
            AnyIndex::Hnsw(h) => h.search_with(query, k, p, filter),
            AnyIndex::Ivf(i) => i.search_with(query, k, p, filter),
        }
    }

    /// The `k` nearest neighbours of each query of `queries` (one after
    /// another, `dim` values each), in query order: with the `parallel`
    /// feature spread over the threads of the current rayon pool, each
    /// query's answer the same as [`search`](Self::search) gives it.
    ///
    /// ```
    /// use vectrove_core::{AnyIndex, Hnsw, Metric, SearchParams};
    /// let mut h = Hnsw::builder(2, Metric::L2).build()?;
    /// for i in 0..50u64 {
    ///     h.insert(i, &[i as f32, 1.0])?;
    /// }
    /// let index = AnyIndex::from(h);
    /// let all = index.search_many(&[3.1, 1.0, 40.2, 1.0], 2, &SearchParams::default())?;
    /// assert_eq!(all.len(), 2);
    /// assert_eq!((all[0][0].id, all[1][0].id), (3, 40));
    /// # Ok::<(), vectrove_core::Error>(())
    /// ```
    pub fn search_many(
        &self,
        queries: &[S::Elem],
        k: usize,
        p: &SearchParams,
    ) -> Result<Vec<Vec<Neighbor>>>
    where
        Self: Sync,
        S::Elem: Sync,
    {
        each_query(self.dim(), queries, |q| self.search(q, k, p))
    }

    /// Write the index in the file format.
    pub fn write_to<W: Write>(&self, out: &mut W) -> Result<()> {
        either!(self, i => i.write_file(out))
    }

    /// The index as file bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// The HNSW index, or the error that names what this is instead.
    pub fn into_hnsw(self) -> Result<Hnsw<S>> {
        match self {
            AnyIndex::Hnsw(h) => Ok(h),
            AnyIndex::Ivf(_) => Err(not_kind(IndexKind::Hnsw)),
        }
    }

    /// The IVF index, or the error that names what this is instead.
    pub fn into_ivf(self) -> Result<Ivf<S>> {
        match self {
            AnyIndex::Ivf(i) => Ok(i),
            AnyIndex::Hnsw(_) => Err(not_kind(IndexKind::Ivf)),
        }
    }

    /// The HNSW index, if this is one.
    pub fn as_hnsw(&self) -> Option<&Hnsw<S>> {
        match self {
            AnyIndex::Hnsw(h) => Some(h),
            AnyIndex::Ivf(_) => None,
        }
    }

    /// The IVF index, if this is one.
    pub fn as_ivf(&self) -> Option<&Ivf<S>> {
        match self {
            AnyIndex::Ivf(i) => Some(i),
            AnyIndex::Hnsw(_) => None,
        }
    }
}

impl<S: FeatureStoreMut<Elem = f32>> AnyIndex<S> {
    /// Insert one point.
    pub fn insert(&mut self, id: u64, v: &[f32]) -> Result<()> {
        either!(self, i => i.insert(id, v))
    }

    /// Insert points with `ids` and their vectors back to back; the whole
    /// batch is checked before anything is inserted.
    pub fn insert_many(&mut self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        either!(self, i => i.insert_many(ids, vectors))
    }
}

/// The answers of `one` for each `dim`-value query of `queries`, in query
/// order: with the `parallel` feature on the threads of the current rayon
/// pool.
fn each_query<T: Sync>(
    dim: usize,
    queries: &[T],
    one: impl Fn(&[T]) -> Result<Vec<Neighbor>> + Sync + Send,
) -> Result<Vec<Vec<Neighbor>>> {
    if dim == 0 || !queries.len().is_multiple_of(dim) {
        return Err(crate::Error::InvalidParameter {
            name: "queries",
            reason: format!(
                "{} values are not a whole number of {dim}-dimensional queries",
                queries.len()
            ),
        });
    }
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        queries.par_chunks_exact(dim).map(one).collect()
    }
    #[cfg(not(feature = "parallel"))]
    queries.chunks_exact(dim).map(one).collect()
}

impl<S: FeatureStore> Hnsw<S> {
    /// The `k` nearest neighbours of each query of `queries` (one after
    /// another, [`dim`](Self::dim) values each), in query order, searched
    /// with beam width `ef`: with the `parallel` feature spread over the
    /// threads of the current rayon pool, each query's answer the one
    /// [`search`](Self::search) gives it.
    ///
    /// ```
    /// use vectrove_core::{Hnsw, Metric};
    /// let mut index = Hnsw::builder(2, Metric::L2).build()?;
    /// for i in 0..50u64 {
    ///     index.insert(i, &[i as f32, 1.0])?;
    /// }
    /// let all = index.search_many(&[3.1, 1.0, 40.2, 1.0], 2, 32)?;
    /// assert_eq!((all[0][0].id, all[1][0].id), (3, 40));
    /// # Ok::<(), vectrove_core::Error>(())
    /// ```
    pub fn search_many(
        &self,
        queries: &[S::Elem],
        k: usize,
        ef: usize,
    ) -> Result<Vec<Vec<Neighbor>>>
    where
        Self: Sync,
        S::Elem: Sync,
    {
        each_query(self.dim(), queries, |q| self.search(q, k, ef))
    }
}

impl<S: FeatureStore> Ivf<S> {
    /// The `k` nearest neighbours of each query of `queries` (one after
    /// another, [`dim`](Self::dim) values each), in query order, scanning
    /// `nprobe` lists each: with the `parallel` feature spread over the
    /// threads of the current rayon pool, each query's answer the one
    /// [`search`](Self::search) gives it.
    ///
    /// ```
    /// use vectrove_core::{Ivf, IvfParams, MemoryStore, Metric};
    /// let data: Vec<f32> = (0..200).flat_map(|i| [i as f32, (i % 7) as f32]).collect();
    /// let training = MemoryStore::from_flat(2, &data)?;
    /// let params = IvfParams { nlist: 4, ..IvfParams::default() };
    /// let mut index = Ivf::train(Metric::L2, params, &training)?;
    /// index.insert_many(&(0..200).collect::<Vec<u64>>(), &data)?;
    /// let all = index.search_many(&data[20..24], 1, 4)?;
    /// assert_eq!((all[0][0].id, all[1][0].id), (10, 11));
    /// # Ok::<(), vectrove_core::Error>(())
    /// ```
    pub fn search_many(
        &self,
        queries: &[S::Elem],
        k: usize,
        nprobe: usize,
    ) -> Result<Vec<Vec<Neighbor>>>
    where
        Self: Sync,
        S::Elem: Sync,
    {
        each_query(self.dim(), queries, |q| self.search(q, k, nprobe))
    }
}
