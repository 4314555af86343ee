//! Sequences of API calls on small indexes (HNSW over f32 with L2, cosine and
//! inner product, HNSW over bytes with Hamming, IVF-Flat with the f32
//! metrics) checked against a brute-force model after every step:
//!
//! - inserts, batch inserts and deletes succeed exactly when the model says
//!   they should (new distinct ids, non-zero vectors for cosine, live ids),
//!   and a refused batch changes nothing;
//! - the live ids, `len`, `contains` and `get` equal the model's;
//! - a search returns at most `k` distinct live ids (only those the filter
//!   accepts), nearest first, each with exactly the model's distance; and
//!   the exact top `k` where the index promises it: IVF probing every list,
//!   HNSW with `ef` at least the slot count while the graph has one level
//!   (the search then starts at slot 0, whose never-pruned parent links reach
//!   every node, and visits all of them);
//! - the same once the index has 8-bit codes (trained at the end of every
//!   run): an exhaustive search, reranking every candidate, is still exact;
//! - saving and reopening gives the same bytes again, an index that
//!   verifies and the same results, and every later call behaves on the
//!   reopened index exactly as on a twin that was never saved.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use vectrove_core::distance::DistanceFn;
use vectrove_core::{
    Element, Hnsw, IndexFile, Ivf, IvfParams, MemoryStore, Metric, Neighbor, Quantization, Result,
    SearchParams,
};
use vectrove_fuzz_common::check;

/// The operations of an index under test.
trait Engine: Sized {
    type T: Element;
    fn metric(&self) -> Metric;
    fn insert(&mut self, id: u64, v: &[Self::T]) -> Result<()>;
    fn insert_many(&mut self, ids: &[u64], v: &[Self::T]) -> Result<()>;
    fn delete(&mut self, id: u64) -> Result<()>;
    fn get(&self, id: u64) -> Result<Vec<Self::T>>;
    fn contains(&self, id: u64) -> bool;
    fn len(&self) -> usize;
    fn slot_count(&self) -> usize;
    /// `param` is `ef` for HNSW and `nprobe` for IVF.
    fn search(
        &self,
        q: &[Self::T],
        k: usize,
        param: usize,
        filter: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<Neighbor>>;
    /// Whether a search with `param` must return the exact top `k`.
    fn exact(&self, param: usize) -> bool;
    /// A `param` that makes the search exact when the index can be.
    fn widest(&self) -> usize;
    fn to_bytes(&self) -> Result<Vec<u8>>;
    /// Train 8-bit codes on the stored vectors and search on them.
    fn quantize(&mut self) -> Result<()>;
    /// Reopen from file bytes, through the kind's `from_bytes` or through
    /// the kind-agnostic `IndexFile`.
    fn reopen(bytes: &[u8], any: bool) -> Result<Self>;
    /// The checks any opened index passes.
    fn check(&self);
}

impl<T: Element> Engine for Hnsw<MemoryStore<T>> {
    type T = T;
    fn metric(&self) -> Metric {
        Hnsw::metric(self)
    }
    fn insert(&mut self, id: u64, v: &[T]) -> Result<()> {
        Hnsw::insert(self, id, v)
    }
    fn insert_many(&mut self, ids: &[u64], v: &[T]) -> Result<()> {
        Hnsw::insert_many(self, ids, v)
    }
    fn delete(&mut self, id: u64) -> Result<()> {
        Hnsw::delete(self, id)
    }
    fn get(&self, id: u64) -> Result<Vec<T>> {
        Hnsw::get(self, id)
    }
    fn contains(&self, id: u64) -> bool {
        Hnsw::contains(self, id)
    }
    fn len(&self) -> usize {
        Hnsw::len(self)
    }
    fn slot_count(&self) -> usize {
        Hnsw::slot_count(self)
    }
    fn search(
        &self,
        q: &[T],
        k: usize,
        ef: usize,
        filter: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<Neighbor>> {
        // Where the search must be exact, every candidate is reranked.
        let rerank = if self.exact(ef) { usize::MAX } else { 0 };
        let p = SearchParams {
            ef,
            rerank,
            ..SearchParams::default()
        };
        self.search_with(q, k, &p, filter)
    }
    fn exact(&self, ef: usize) -> bool {
        self.max_level() == 0 && ef >= self.slot_count()
    }
    fn widest(&self) -> usize {
        self.slot_count().max(1)
    }
    fn to_bytes(&self) -> Result<Vec<u8>> {
        Hnsw::to_bytes(self)
    }
    fn quantize(&mut self) -> Result<()> {
        Hnsw::quantize(self, Quantization::Sq8)
    }
    fn reopen(bytes: &[u8], any: bool) -> Result<Self> {
        if any {
            IndexFile::from_bytes::<MemoryStore<T>>(bytes)?.into_hnsw()
        } else {
            Hnsw::from_bytes(bytes)
        }
    }
    fn check(&self) {
        check::check_hnsw(self);
    }
}

impl Engine for Ivf<MemoryStore<f32>> {
    type T = f32;
    fn metric(&self) -> Metric {
        Ivf::metric(self)
    }
    fn insert(&mut self, id: u64, v: &[f32]) -> Result<()> {
        Ivf::insert(self, id, v)
    }
    fn insert_many(&mut self, ids: &[u64], v: &[f32]) -> Result<()> {
        Ivf::insert_many(self, ids, v)
    }
    fn delete(&mut self, id: u64) -> Result<()> {
        Ivf::delete(self, id)
    }
    fn get(&self, id: u64) -> Result<Vec<f32>> {
        Ivf::get(self, id)
    }
    fn contains(&self, id: u64) -> bool {
        Ivf::contains(self, id)
    }
    fn len(&self) -> usize {
        Ivf::len(self)
    }
    fn slot_count(&self) -> usize {
        Ivf::slot_count(self)
    }
    fn search(
        &self,
        q: &[f32],
        k: usize,
        nprobe: usize,
        filter: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<Neighbor>> {
        let rerank = if self.exact(nprobe) { usize::MAX } else { 0 };
        let p = SearchParams {
            nprobe,
            rerank,
            ..SearchParams::default()
        };
        self.search_with(q, k, &p, filter)
    }
    fn exact(&self, nprobe: usize) -> bool {
        nprobe >= self.nlist()
    }
    fn widest(&self) -> usize {
        self.nlist()
    }
    fn to_bytes(&self) -> Result<Vec<u8>> {
        Ivf::to_bytes(self)
    }
    fn quantize(&mut self) -> Result<()> {
        Ivf::quantize(self, Quantization::Sq8)
    }
    fn reopen(bytes: &[u8], any: bool) -> Result<Self> {
        if any {
            IndexFile::from_bytes::<MemoryStore<f32>>(bytes)?.into_ivf()
        } else {
            Ivf::from_bytes(bytes)
        }
    }
    fn check(&self) {
        check::check_ivf(self);
    }
}

/// Elements the script's bytes stand for: a few coarse values (so that
/// distances tie) for f32, any byte for u8.
trait Gen: Element {
    fn from_byte(b: u8) -> Self;
}

impl Gen for f32 {
    fn from_byte(b: u8) -> f32 {
        f32::from(b % 9) * 0.5 - 2.0
    }
}

impl Gen for u8 {
    fn from_byte(b: u8) -> u8 {
        b
    }
}

/// The brute-force model: the stored (prepared) vector of every live id.
struct Model<T> {
    metric: Metric,
    dim: usize,
    live: BTreeMap<u64, Vec<T>>,
    slots: usize,
    dist: DistanceFn<T>,
}

struct Run<'a, 'b, E: Engine> {
    u: &'a mut Unstructured<'b>,
    index: E,
    /// Never saved and reopened: must behave exactly like `index`.
    twin: E,
    model: Model<E::T>,
    reopens: usize,
}

fn vector<T: Gen>(u: &mut Unstructured, dim: usize) -> ArbResult<Vec<T>> {
    (0..dim)
        .map(|_| u.arbitrary::<u8>().map(T::from_byte))
        .collect()
}

impl<E: Engine> Run<'_, '_, E>
where
    E::T: Gen,
{
    fn id(&mut self) -> ArbResult<u64> {
        Ok(u64::from(self.u.int_in_range(0..=31u8)?))
    }

    fn check_state(&self) {
        let (m, index) = (&self.model, &self.index);
        assert_eq!(index.len(), m.live.len(), "len differs from the model");
        assert_eq!(
            index.slot_count(),
            m.slots,
            "slot count differs from the model"
        );
        assert_eq!(self.twin.len(), m.live.len());
    }

    fn insert(&mut self, ids: &[u64], flat: &[E::T], many: bool) {
        let m = &self.model;
        let mut prepared = Vec::new();
        let mut distinct = BTreeSet::new();
        let mut ok = true;
        for (&id, v) in ids.iter().zip(flat.chunks_exact(m.dim)) {
            ok &= !m.live.contains_key(&id) && distinct.insert(id);
            match check::prepared(m.metric, v) {
                Some(p) => prepared.push(p),
                None => ok = false,
            }
        }
        let (got, twin) = if many {
            (
                self.index.insert_many(ids, flat),
                self.twin.insert_many(ids, flat),
            )
        } else {
            (
                self.index.insert(ids[0], flat),
                self.twin.insert(ids[0], flat),
            )
        };
        assert_eq!(got.is_ok(), ok, "insert {ids:?} of {flat:?}: {got:?}");
        assert_eq!(twin.is_ok(), ok);
        if ok {
            for (&id, p) in ids.iter().zip(prepared) {
                self.model.live.insert(id, p);
            }
            self.model.slots += ids.len();
        }
        self.check_state();
    }

    fn delete(&mut self, id: u64) {
        let got = self.index.delete(id);
        assert_eq!(self.twin.delete(id).is_ok(), got.is_ok());
        let live = self.model.live.remove(&id).is_some();
        assert_eq!(got.is_ok(), live, "delete {id}: {got:?}");
        assert!(!self.index.contains(id));
        self.check_state();
    }

    fn get(&self, id: u64) {
        let got = self.index.get(id);
        match self.model.live.get(&id) {
            Some(v) => {
                assert_eq!(got.as_ref().ok(), Some(v), "get {id}");
                assert!(self.index.contains(id));
            }
            None => {
                assert!(got.is_err(), "get of a dead id {id}: {got:?}");
                assert!(!self.index.contains(id));
            }
        }
    }

    fn search(&self, q: &[E::T], k: usize, param: usize, filter: u8) {
        let accept = move |id: u64| match filter % 3 {
            0 => true,
            1 => id.is_multiple_of(2),
            _ => !id.is_multiple_of(3),
        };
        let got = self.index.search(q, k, param, &accept);
        let twin = self.twin.search(q, k, param, &accept);
        let m = &self.model;
        let Some(p) = check::prepared(m.metric, q) else {
            assert!(got.is_err(), "a refused query searched");
            return;
        };
        let hits = got.expect("search");
        assert_eq!(
            hits,
            twin.expect("search"),
            "the reopened index and its never-saved twin disagree"
        );
        check::check_hits(&hits, k, &p, m.dist, |id| {
            accept(id).then(|| m.live.get(&id).cloned()).flatten()
        });
        if self.index.exact(param) {
            assert_eq!(
                check::hit_distances(&hits),
                check::exact_distances(&m.live, &p, k, m.dist, accept),
                "not the exact top {k} ({} live, param {param})",
                m.live.len()
            );
        }
    }

    /// Codes train on any stored f32 vectors (deleted ones count) and
    /// nothing else.
    fn quantize(&mut self) {
        let ok = self.model.slots > 0 && E::T::as_f32(&[E::T::default()]).is_some();
        let (got, twin) = (self.index.quantize(), self.twin.quantize());
        assert_eq!(got.is_ok(), ok, "quantize: {got:?}");
        assert_eq!(twin.is_ok(), ok);
        self.check_state();
    }

    fn reopen(&mut self) {
        let bytes = self.index.to_bytes().expect("save");
        self.reopens += 1;
        let reopened =
            E::reopen(&bytes, self.reopens.is_multiple_of(2)).expect("reopen what was saved");
        assert_eq!(
            reopened.to_bytes().expect("save again"),
            bytes,
            "saving the reopened index gives other bytes"
        );
        reopened.check();
        // The same results for a query at every live point and a fixed one.
        let dim = self.model.dim;
        let mut queries: Vec<Vec<E::T>> = self.model.live.values().take(2).cloned().collect();
        queries.push((0..dim).map(|i| E::T::from_byte(i as u8 * 3 + 1)).collect());
        for q in &queries {
            for (k, param) in [(3, 4), (self.model.slots + 1, self.index.widest())] {
                let before = self.index.search(q, k, param, &|_| true);
                let after = reopened.search(q, k, param, &|_| true);
                assert_eq!(before.ok(), after.ok(), "reopening changed a search");
            }
        }
        self.index = reopened;
        self.check_state();
    }

    fn step(&mut self) -> ArbResult<()> {
        let dim = self.model.dim;
        match self.u.int_in_range(0..=7u8)? {
            0 | 1 => {
                let id = self.id()?;
                let v = vector(self.u, dim)?;
                self.insert(&[id], &v, false);
            }
            2 => {
                let n = self.u.int_in_range(0..=5usize)?;
                let ids = (0..n).map(|_| self.id()).collect::<ArbResult<Vec<_>>>()?;
                let v = vector(self.u, n * dim)?;
                self.insert(&ids, &v, true);
            }
            3 => {
                let id = self.id()?;
                self.delete(id);
            }
            4 => {
                let id = self.id()?;
                self.get(id);
            }
            5 | 6 => {
                let q = vector(self.u, dim)?;
                let k = self.u.int_in_range(0..=8usize)?;
                let param = match self.u.int_in_range(0..=3u8)? {
                    0 => self.index.widest(),
                    _ => self.u.int_in_range(0..=12usize)?,
                };
                let filter = self.u.arbitrary()?;
                self.search(&q, k, param, filter);
            }
            _ => self.reopen(),
        }
        Ok(())
    }
}

fn run<E: Engine>(u: &mut Unstructured, index: E, twin: E, dim: usize) -> ArbResult<()>
where
    E::T: Gen,
{
    let metric = index.metric();
    let model = Model {
        metric,
        dim,
        live: BTreeMap::new(),
        slots: 0,
        dist: E::T::distance_fn(metric).expect("the index's metric fits its elements"),
    };
    let mut r = Run {
        u,
        index,
        twin,
        model,
        reopens: 0,
    };
    for _ in 0..64 {
        if r.u.is_empty() {
            break;
        }
        r.step()?;
    }
    // Always end with a save and reopen, and a search of everything.
    r.reopen();
    let q: Vec<E::T> = (0..dim).map(|i| E::T::from_byte(i as u8)).collect();
    let widest = r.index.widest();
    r.search(&q, r.model.slots + 1, widest, 0);
    // Then the same on codes: they survive a reopen, an exhaustive search
    // is still exact, and a narrow one keeps every other promise.
    r.quantize();
    r.reopen();
    r.search(&q, r.model.slots + 1, widest, 0);
    r.search(&q, 3, 2, 1);
    Ok(())
}

fn hnsw<T: Element>(
    u: &mut Unstructured,
    dim: usize,
    metric: Metric,
) -> ArbResult<Hnsw<MemoryStore<T>>> {
    let m = u.int_in_range(2..=6usize)?;
    let m0 = m * u.int_in_range(1..=2usize)?;
    let ef = u.int_in_range(1..=24usize)?;
    let seed = u.arbitrary()?;
    Ok(Hnsw::builder(dim, metric)
        .m(m)
        .m0(m0)
        .ef_construction(ef)
        .seed(seed)
        .build_with_store(MemoryStore::<T>::new(dim).expect("a store"))
        .expect("valid parameters"))
}

fn script(u: &mut Unstructured) -> ArbResult<()> {
    let f32_metric =
        [Metric::L2, Metric::Cosine, Metric::InnerProduct][u.int_in_range(0..=2usize)?];
    match u.int_in_range(0..=2u8)? {
        0 => {
            let dim = u.int_in_range(1..=4usize)?;
            let seed_bytes = u.bytes(8)?.to_vec();
            let index = hnsw::<f32>(&mut Unstructured::new(&seed_bytes), dim, f32_metric)?;
            let twin = hnsw::<f32>(&mut Unstructured::new(&seed_bytes), dim, f32_metric)?;
            run(u, index, twin, dim)
        }
        1 => {
            let dim = u.int_in_range(1..=3usize)?;
            let seed_bytes = u.bytes(8)?.to_vec();
            let index = hnsw::<u8>(&mut Unstructured::new(&seed_bytes), dim, Metric::Hamming)?;
            let twin = hnsw::<u8>(&mut Unstructured::new(&seed_bytes), dim, Metric::Hamming)?;
            run(u, index, twin, dim)
        }
        _ => {
            let dim = u.int_in_range(1..=4usize)?;
            let n = u.int_in_range(1..=16usize)?;
            let training = vector::<f32>(u, n * dim)?;
            let params = IvfParams {
                nlist: u.int_in_range(1..=n.min(5))?,
                iters: u.int_in_range(0..=4usize)?,
                seed: u.arbitrary()?,
                ..IvfParams::default()
            };
            let store = MemoryStore::from_flat(dim, &training).expect("a training store");
            // Training may refuse its data (all zero for cosine, say).
            let (Ok(index), Ok(twin)) = (
                Ivf::train(f32_metric, params, &store),
                Ivf::train(f32_metric, params, &store),
            ) else {
                return Ok(());
            };
            run(u, index, twin, dim)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = script(&mut Unstructured::new(data));
});
