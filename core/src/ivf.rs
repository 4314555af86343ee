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
use std::io::Write;

use crate::distance::{DistanceFn, Element, Metric};
use crate::error::{Error, Result};
use crate::format::{Header, IndexKind, Reader, VectorChecksums, Writer, corrupt, tag};
use crate::Neighbor;
use crate::hnsw::ids::{self, Ids};
use crate::kmeans::{KMeans, KMeansParams};
use crate::persist::{check_store, decode_ids, decode_vector_sums, finish_index, u32s};
use crate::store::{Access, FeatureStore, FeatureStoreMut, MemoryStore};

/// How the coarse quantiser is trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IvfParams {
    /// Number of inverted lists (k-means centroids).
    pub nlist: usize,
    /// Most k-means iterations.
    pub iters: usize,
    /// Seed of the k-means sampling and initialisation.
    pub seed: u64,
    /// Train on at most `nlist` times this many points (a random sample).
    pub max_points_per_centroid: usize,
}

impl Default for IvfParams {
    fn default() -> Self {
        Self {
            nlist: 256,
            iters: 25,
            seed: 1,
            max_points_per_centroid: 256,
        }
    }
}

impl IvfParams {
    /// The k-means parameters that train the quantiser for `metric`.
    pub fn kmeans(&self, metric: Metric) -> KMeansParams {
        KMeansParams {
            k: self.nlist,
            metric,
            max_iters: self.iters,
            seed: self.seed,
            max_points_per_centroid: self.max_points_per_centroid,
            ..KMeansParams::default()
        }
    }
}

/// An IVF-Flat index over the `f32` vectors of a [`FeatureStore`].
pub struct Ivf<S: FeatureStore<Elem = f32> = MemoryStore<f32>> {
    params: IvfParams,
    metric: Metric,
    dist: DistanceFn<f32>,
    quantizer: KMeans,
    /// The slots of every list, in insertion order.
    lists: Vec<Vec<u32>>,
    /// The list of every slot.
    list_of: Vec<u32>,
    ids: Ids,
    deleted: Vec<u64>,
    n_deleted: usize,
    store: S,
}

impl<S: FeatureStore<Elem = f32>> std::fmt::Debug for Ivf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ivf")
            .field("dim", &self.dim())
            .field("metric", &self.metric)
            .field("params", &self.params)
            .field("len", &self.len())
            .finish()
    }
}

/// A max-heap entry: the worst of the best `k` on top.
#[derive(PartialEq)]
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

impl Ivf<MemoryStore<f32>> {
    /// Train the quantiser on the vectors of `training` (sampled as
    /// [`KMeans::fit`] does) and return an empty in-memory index.
    pub fn train<T: FeatureStore<Elem = f32>>(
        metric: Metric,
        params: IvfParams,
        training: &T,
    ) -> Result<Self> {
        let km = KMeans::fit(&params.kmeans(metric), training, |_| true)?;
        Ivf::with_quantizer(km, params, MemoryStore::new(training.dim())?)
    }
}

impl<S: FeatureStore<Elem = f32>> Ivf<S> {
    /// An empty index with a quantiser trained elsewhere (for example with
    /// [`KMeans::train_parallel`] on `params.kmeans(metric)`), over an empty
    /// `store`.
    pub fn with_quantizer(quantizer: KMeans, params: IvfParams, store: S) -> Result<Self> {
        if store.dim() != quantizer.dim() {
            return Err(Error::DimensionMismatch {
                expected: quantizer.dim(),
                got: store.dim(),
            });
        }
        if !store.is_empty() {
            return Err(Error::InvalidParameter {
                name: "store",
                reason: "a new index needs an empty store".into(),
            });
        }
        let metric = quantizer.metric();
        Ok(Ivf {
            params: IvfParams {
                nlist: quantizer.k(),
                ..params
            },
            metric,
            dist: f32::distance_fn(metric)?,
            lists: vec![Vec::new(); quantizer.k()],
            quantizer,
            list_of: Vec::new(),
            ids: Ids::default(),
            deleted: Vec::new(),
            n_deleted: 0,
            store,
        })
    }

    /// Elements per vector.
    pub fn dim(&self) -> usize {
        self.quantizer.dim()
    }

    /// The distance.
    pub fn metric(&self) -> Metric {
        self.metric
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
        self.ids.len() - self.n_deleted
    }

    /// Whether the index has no live point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots, deleted ones included.
    pub fn slot_count(&self) -> usize {
        self.ids.len()
    }

    /// Whether `id` is a live point.
    pub fn contains(&self, id: u64) -> bool {
        self.ids.slot(id, &self.deleted).is_some()
    }

    /// The store holding the vectors.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The stored vector of `id` (normalised if the metric is cosine).
    pub fn get(&self, id: u64) -> Result<Vec<f32>> {
        crate::persist::get_vector(&self.store, &self.ids, &self.deleted, id)
    }

    /// Delete `id`: it is never returned again. The id may be inserted again.
    pub fn delete(&mut self, id: u64) -> Result<()> {
        self.ids.delete(id, &mut self.deleted)?;
        self.n_deleted += 1;
        Ok(())
    }

    fn is_deleted(&self, slot: u32) -> bool {
        ids::is_deleted(&self.deleted, slot)
    }

    fn prepare(&self, v: &[f32]) -> Result<Vec<f32>> {
        if v.len() != self.dim() {
            return Err(Error::DimensionMismatch {
                expected: self.dim(),
                got: v.len(),
            });
        }
        let mut out = Vec::with_capacity(v.len());
        f32::prepare(self.metric, v, &mut out)?;
        Ok(out)
    }

    /// The `k` nearest neighbours of `query` among the points of its
    /// `nprobe` nearest lists, nearest first (ties by insertion order).
    pub fn search(&self, query: &[f32], k: usize, nprobe: usize) -> Result<Vec<Neighbor>> {
        self.search_filtered(query, k, nprobe, |_| true)
    }

    /// Like [`search`](Self::search), returning only ids that `filter` accepts.
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        nprobe: usize,
        filter: impl Fn(u64) -> bool,
    ) -> Result<Vec<Neighbor>> {
        let q = self.prepare(query)?;
        if k == 0 || nprobe == 0 {
            return Ok(Vec::new());
        }
        let mut heap = BinaryHeap::with_capacity(k + 1);
        let mut failed = None;
        for (list, _) in self.quantizer.nearest_prepared(&q, nprobe) {
            for &slot in &self.lists[list as usize] {
                if self.is_deleted(slot) || !filter(self.ids.id(slot)) {
                    continue;
                }
                let d = match self.store.with_vector(slot, |v| (self.dist)(&q, v)) {
                    Ok(Access::Ready(d)) => d,
                    Ok(Access::Missing) => {
                        failed = Some(Error::NotResident { count: 1 });
                        break;
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                if heap.len() < k {
                    heap.push(Hit(d, slot));
                } else if heap.peek().is_some_and(|w| Hit(d, slot) < *w) {
                    heap.pop();
                    heap.push(Hit(d, slot));
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(heap
            .into_sorted_vec()
            .into_iter()
            .map(|Hit(distance, slot)| Neighbor {
                id: self.ids.id(slot),
                distance,
            })
            .collect())
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
        ids::check_new(ids, vectors.len(), dim, |id| self.contains(id))?;
        if self.ids.len() + ids.len() >= u32::MAX as usize {
            return Err(Error::StoreFull {
                reason: "the index holds 2^32 - 1 points".into(),
            });
        }
        let mut prepared = Vec::with_capacity(vectors.len());
        for v in vectors.chunks_exact(dim) {
            prepared.extend_from_slice(&self.prepare(v)?);
        }
        let lists = self.quantizer.assign_many(&prepared)?;
        // Stored list by list, so a list's points sit together in the store
        // and a probe reads them in one sweep.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        // (list, position): the order a stable sort by list gives.
        order.sort_unstable_by_key(|&i| (lists[i].0, i));
        self.store.reserve(ids.len());
        for i in order {
            let (id, v, list) = (ids[i], &prepared[i * dim..(i + 1) * dim], lists[i].0);
            let slot = self.store.push(v)?;
            debug_assert_eq!(slot as usize, self.ids.len());
            self.ids.push(id, &self.deleted);
            if self.deleted.len() * 64 < self.ids.len() {
                self.deleted.push(0);
            }
            self.list_of.push(list);
            self.lists[list as usize].push(slot);
        }
        Ok(())
    }
}

/// Every section an IVF file has.
const SECTIONS: [[u8; 4]; 7] = [
    tag::PARAMS,
    tag::CENTROIDS,
    tag::LISTS,
    tag::IDS,
    tag::DELETED,
    tag::VECTOR_SUMS,
    tag::VECTORS,
];

impl<S: FeatureStore<Elem = f32>> Ivf<S> {
    /// Write the index in the file format (`docs/format.md`). The store's
    /// vectors must all be readable synchronously.
    pub fn write_to<W: Write>(&self, out: &mut W) -> Result<()> {
        let count = self.ids.len();
        if self.dim() > crate::format::MAX_DIM {
            return Err(Error::InvalidParameter {
                name: "index",
                reason: format!(
                    "the file format holds at most {} dimensions",
                    crate::format::MAX_DIM
                ),
            });
        }
        let mut w = Writer::new(IndexKind::Ivf, f32::CODE, self.metric, self.dim(), count);
        let mut params = Vec::with_capacity(24);
        for x in [
            self.lists.len(),
            self.params.iters,
            self.params.max_points_per_centroid,
            0,
        ] {
            params.extend_from_slice(&(x.min(u32::MAX as usize) as u32).to_le_bytes());
        }
        params.extend_from_slice(&self.params.seed.to_le_bytes());
        w.section(tag::PARAMS, params);
        let mut cent = Vec::new();
        f32::write_le(self.quantizer.centroids(), &mut cent);
        w.section(tag::CENTROIDS, cent);
        w.section(tag::LISTS, u32s(self.list_of.iter().copied()));
        finish_index(w, out, &self.store, count, &self.ids, &self.deleted)
    }

    /// The index as file bytes (see [`write_to`](Self::write_to)).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

impl Ivf<MemoryStore<f32>> {
    /// Load an index from file bytes into memory, checking every section.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let header = Header::parse(bytes, bytes.len() as u64)?;
        let v = header.vectors();
        let file = IvfFile::decode(header, &bytes[..v.offset as usize])?;
        let vectors = &bytes[v.offset as usize..];
        file.vector_checksums().verify_all(vectors)?;
        file.into_index(MemoryStore::from_le_bytes(v.dim, vectors)?)
    }
}

/// A decoded IVF file without its vectors; attach a store for them with
/// [`into_index`](Self::into_index).
#[derive(Debug)]
pub struct IvfFile {
    header: Header,
    params: IvfParams,
    quantizer: KMeans,
    list_of: Vec<u32>,
    ids: Ids,
    deleted: Vec<u64>,
    sums: VectorChecksums,
}

impl IvfFile {
    /// Decode and check everything but the vectors. `meta` is the start of
    /// the file, at least [`Header::meta_len`] bytes.
    pub fn decode(header: Header, meta: &[u8]) -> Result<Self> {
        if header.kind != IndexKind::Ivf {
            return Err(corrupt("header", "not an IVF index"));
        }
        if header.elem != f32::CODE {
            return Err(corrupt("header", "IVF indexes hold f32 vectors"));
        }
        header.check_known(&SECTIONS)?;
        header.check_padding(meta)?;
        let (count, dim) = (header.count, header.dim);

        let mut r = Reader::new(
            header.section_bytes(meta, tag::PARAMS, "parameters")?,
            "parameters",
        );
        let nlist = r.u32()? as usize;
        let iters = r.u32()? as usize;
        let max_points_per_centroid = r.u32()? as usize;
        if r.u32()? != 0 {
            return Err(corrupt("parameters", "reserved field is not zero"));
        }
        let seed = r.u64()?;
        r.finish()?;

        let bytes = header.section_bytes(meta, tag::CENTROIDS, "centroids")?;
        if nlist == 0 || bytes.len() as u64 != nlist as u64 * dim as u64 * 4 {
            return Err(corrupt("centroids", "wrong length"));
        }
        let mut centroids = vec![0f32; nlist * dim];
        f32::read_le(bytes, &mut centroids);
        let quantizer = KMeans::from_centroids(header.metric, dim, centroids)
            .map_err(|e| corrupt("centroids", e.to_string()))?;

        let bytes = header.section_bytes(meta, tag::LISTS, "lists")?;
        if bytes.len() != 4 * count {
            return Err(corrupt("lists", "wrong length"));
        }
        let list_of: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if list_of.iter().any(|&l| l as usize >= nlist) {
            return Err(corrupt("lists", "a point is in a list that does not exist"));
        }
        let (ids, deleted) = decode_ids(&header, meta)?;
        let sums = decode_vector_sums(&header, meta)?;
        Ok(Self {
            header,
            params: IvfParams {
                nlist,
                iters,
                seed,
                max_points_per_centroid,
            },
            quantizer,
            list_of,
            ids,
            deleted,
            sums,
        })
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The checksums of the vectors section, for stores that verify what they load.
    pub fn vector_checksums(&self) -> &VectorChecksums {
        &self.sums
    }

    /// The index over `store`, which must hold the file's vectors.
    pub fn into_index<S: FeatureStore<Elem = f32>>(self, store: S) -> Result<Ivf<S>> {
        let h = &self.header;
        check_store(h, &store)?;
        let mut lists = vec![Vec::new(); self.quantizer.k()];
        for (slot, &l) in self.list_of.iter().enumerate() {
            lists[l as usize].push(slot as u32);
        }
        let n_deleted = self.deleted.iter().map(|w| w.count_ones() as usize).sum();
        Ok(Ivf {
            params: self.params,
            metric: h.metric,
            dist: f32::distance_fn(h.metric).map_err(|e| corrupt("header", e.to_string()))?,
            quantizer: self.quantizer,
            lists,
            list_of: self.list_of,
            ids: self.ids,
            deleted: self.deleted,
            n_deleted,
            store,
        })
    }
}
