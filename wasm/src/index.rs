//! The JS `Index` class: HNSW or IVF-Flat over vectors in memory, in OPFS
//! or in IndexedDB, persisted by name, or read in place over HTTP. Only the
//! JS surface lives here: opening and importing are in `open.rs`, saving in
//! `save.rs`, the IndexedDB page logic in `idb.rs`, the HTTP transport in
//! `http.rs`, option parsing in `options.rs`.
//!
//! An asynchronous call holds the index's `RefCell` across its awaits on
//! purpose, and every entry point borrows with `try_borrow`/`try_borrow_mut`
//! only: searches share the index (any number run at once, each with its own
//! search state), while a call that would change it (`add`, `addMany`,
//! `delete`, `save`, `close`) overlapping another gets a `BusyError` instead
//! of seeing a half-changed index. No borrow is ever taken that could panic,
//! so an error never leaves the index borrowed.
#![allow(clippy::await_holding_refcell_ref)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Float32Array, Object, Promise, Reflect};
use vectrove_core::format::MAX_DIM;
use vectrove_core::{AnyIndex, Hnsw, Ivf, IvfParams, MemoryStore, Metric, Neighbor};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::errors::{busy, from_core, invalid_argument, js_error, name, type_error, unsupported};
use crate::js::{
    IdType, MAX_SAFE_ID, check_keys, now_ms, opt, opt_bool, opt_f64, opt_function, opt_u64,
    opt_usize, set, to_f32s, to_id, yield_now,
};
use crate::lazy::{self, Lazy};
use crate::open;
use crate::opfs;
use crate::options::{
    self, JsFilter, JsResult, SearchArgs, Storage, check_name, check_path, to_ids,
};
use crate::save;
use crate::state::{DEFAULT_CACHE_BYTES, Engine, Inner};
use crate::store::Store;
use crate::{http, idb, nodefs, warm};

/// A vector index (HNSW, or IVF-Flat from [`Index::train_ivf`]) over `f32`
/// vectors, in memory or backed by OPFS or IndexedDB.
#[wasm_bindgen]
pub struct Index {
    inner: Rc<RefCell<Option<Inner>>>,
    /// Set while an `addMany` runs: it lets go of the index between its
    /// slices so that searches answer meanwhile, and every other change
    /// (or a second `addMany`) gets a `BusyError` until it ends.
    ingesting: Rc<Cell<bool>>,
    /// What ids come back as, fixed for the index's life.
    id_type: IdType,
}

/// Clears the `ingesting` flag when an `addMany` ends, however it ends.
struct Ingesting(Rc<Cell<bool>>);

impl Drop for Ingesting {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

fn ingest_busy() -> JsValue {
    js_error(
        name::BUSY,
        "an addMany is still running on this index: await it first (searches may run meanwhile)",
    )
}

/// The `dim` argument: 1 to 2^20 elements, what the file format holds.
fn dim_arg(dim: &JsValue) -> JsResult<usize> {
    match crate::js::to_usize(dim, "dim")? {
        d @ 1..=MAX_DIM => Ok(d),
        _ => Err(invalid_argument("`dim` must be from 1 to 2^20")),
    }
}

/// The options every search takes.
const SEARCH_OPTIONS: &[&str] = &["ef", "nprobe", "rerank", "filter"];

/// The options of `Index.open`. `save`, `exists` and `remove` take them too,
/// so that one options object can describe where a named index lives; of
/// those calls' options only `storage` matters.
const OPEN_OPTIONS: &[&str] = &[
    "storage",
    "cacheBytes",
    "verify",
    "timeoutMs",
    "persist",
    "idType",
];

fn closed() -> JsValue {
    invalid_argument("the index is closed")
}

/// Turn neighbours into `[{ id, distance }, ...]`.
fn hits(neighbors: &[Neighbor], id_type: IdType) -> JsValue {
    let out = Array::new_with_length(neighbors.len() as u32);
    for (i, n) in neighbors.iter().enumerate() {
        let o = Object::new();
        set(&o, "id", id_type.value(n.id));
        set(&o, "distance", n.distance);
        out.set(i as u32, o.into());
    }
    out.into()
}

/// A search that never waits (one instance for both search calls).
fn search_now(
    engine: &Engine,
    query: &[f32],
    a: &SearchArgs,
    filter: &JsFilter,
) -> vectrove_core::Result<Vec<Neighbor>> {
    engine.search_filtered(query, a.k, &a.params, |id| filter.accept(id))
}

fn aborted(signal: &Option<JsValue>) -> bool {
    signal.as_ref().is_some_and(|s| {
        Reflect::get(s, &"aborted".into())
            .map(|a| a.is_truthy())
            .unwrap_or(false)
    })
}

/// Refuse a change to an index read over HTTP.
fn writable(i: &Inner) -> JsResult<()> {
    if i.http.is_some() {
        return Err(unsupported(
            "an index opened with storage \"http\" is read-only: download it with Index.import \
             (or Index.fromBytes) to change or save it",
        ));
    }
    Ok(())
}

fn abort_error(done: usize, total: usize) -> JsValue {
    js_error(
        name::ABORT,
        format!("addMany was aborted after {done} of {total} vectors (those stay in the index)"),
    )
}

/// The searches behind `search` (`many` is `None`: `queries` is one query)
/// and `searchMany` (`queries` holds many back to back): each query's hits,
/// and the `k` they were asked for. A shared borrow is held for the whole
/// batch, across its fetches: other searches run alongside (each with its
/// own state), while a change or a save gets a `BusyError` until it ends.
async fn searches(
    rc: Rc<RefCell<Option<Inner>>>,
    queries: &JsValue,
    k: &JsValue,
    options: &JsValue,
    id_type: IdType,
    many: Option<()>,
) -> JsResult<(Vec<Vec<Neighbor>>, usize)> {
    let (call, what) = match many {
        None => ("search", "query"),
        Some(()) => ("searchMany", "queries"),
    };
    check_keys(options, call, SEARCH_OPTIONS)?;
    let queries = to_f32s(queries, what)?;
    let filter = JsFilter::new(options, id_type)?;
    let guard = rc.try_borrow().map_err(|_| busy())?;
    let inner = guard.as_ref().ok_or_else(closed)?;
    let a = SearchArgs::parse(k, options, &inner.engine)?;
    let engine = &inner.engine;
    let dim = engine.dim();
    let rows: Vec<&[f32]> = match many {
        None => vec![&queries[..]],
        Some(()) if queries.len().is_multiple_of(dim) => queries.chunks_exact(dim).collect(),
        Some(()) => {
            return Err(from_core(vectrove_core::Error::DimensionMismatch {
                expected: dim,
                got: queries.len() % dim,
            }));
        }
    };
    let lazy = match (&inner.idb, &inner.http) {
        (Some(l), _) => Some(Lazy::Idb(l)),
        (_, Some(l)) => Some(Lazy::Http(l)),
        _ => None,
    };
    let mut out = Vec::with_capacity(rows.len());
    let mut since_yield = now_ms();
    let mut failed = None;
    for query in rows {
        let searched = match (engine.store().base(), lazy) {
            (Some(base), Some(lazy)) => lazy::search(engine, base, lazy, query, &a, &filter).await,
            _ => search_now(engine, query, &a, &filter).map(|f| (f, 0)),
        };
        match searched {
            Ok((found, fetches)) => {
                inner.fetches.set(inner.fetches.get() + fetches);
                out.push(found);
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        // Keep the event loop turning on long batches in memory.
        if many.is_some() && now_ms() - since_yield > 50.0 {
            yield_now().await?;
            since_yield = now_ms();
        }
    }
    drop(guard);
    filter.finish()?;
    match failed {
        Some(e) => Err(from_core(e)),
        None => Ok((out, a.k)),
    }
}

impl Index {
    /// The JS object over `inner`, its ids given back as `id_type`. An
    /// index of numbers refuses an opened file with an id above 2^53 - 1
    /// (which no number holds exactly) rather than give back wrong ids.
    fn wrap(inner: Inner, id_type: IdType) -> JsResult<Index> {
        if id_type == IdType::Number
            && let Some(big) = inner.engine.ids().find(|&id| id as f64 > MAX_SAFE_ID)
        {
            return Err(invalid_argument(format!(
                "the index holds id {big}, above 2^53 - 1, which a JS number cannot hold: \
                 open it with {{ idType: \"bigint\" }}"
            )));
        }
        Ok(Index {
            inner: Rc::new(RefCell::new(Some(inner))),
            ingesting: Rc::new(Cell::new(false)),
            id_type,
        })
    }

    fn with<R>(&self, f: impl FnOnce(&Inner) -> JsResult<R>) -> JsResult<R> {
        let guard = self.inner.try_borrow().map_err(|_| busy())?;
        f(guard.as_ref().ok_or_else(closed)?)
    }

    fn with_mut<R>(&self, f: impl FnOnce(&mut Inner) -> JsResult<R>) -> JsResult<R> {
        if self.ingesting.get() {
            return Err(ingest_busy());
        }
        let mut guard = self.inner.try_borrow_mut().map_err(|_| busy())?;
        f(guard.as_mut().ok_or_else(closed)?)
    }
}

#[wasm_bindgen]
impl Index {
    /// A new, empty in-memory HNSW index of `dim`-dimensional vectors.
    /// Options: `metric` ("l2", "cosine" or "ip"; default "cosine"), `m`,
    /// `efConstruction`, `seed`, `quantize` ("sq8" or "sq4": search on 8-
    /// or 4-bit codes, trained on the first 1,000 vectors once the index
    /// holds them).
    #[wasm_bindgen(constructor)]
    pub fn new(
        dim: JsValue,
        #[wasm_bindgen(unchecked_param_type = "IndexOptions")] options: JsValue,
    ) -> JsResult<Index> {
        check_keys(
            &options,
            "new Index",
            &[
                "metric",
                "m",
                "efConstruction",
                "seed",
                "quantize",
                "idType",
            ],
        )?;
        let dim = dim_arg(&dim)?;
        let id_type = IdType::parse(&options)?;
        let metric = options::metric(&options, Metric::Cosine)?;
        let mut b = Hnsw::builder(dim, metric);
        if let Some(m) = opt_usize(&options, "m")? {
            b = b.m(m);
        }
        if let Some(ef) = opt_usize(&options, "efConstruction")? {
            b = b.ef_construction(ef);
        }
        if let Some(seed) = opt_u64(&options, "seed")? {
            b = b.seed(seed);
        }
        if let Some(kind) = options::quantization(&options)? {
            b = b.quantize(kind);
        }
        let store = Store::memory(MemoryStore::new(dim).map_err(from_core)?);
        Index::wrap(
            Inner::memory(AnyIndex::Hnsw(
                b.build_with_store(store).map_err(from_core)?,
            )),
            id_type,
        )
    }

    /// A new, empty in-memory IVF-Flat index whose coarse quantiser is
    /// trained on `training` (vectors back to back). Options: `metric`
    /// (default "cosine"), `nlist` (default 4·√n), `iters`, `seed`,
    /// `init` (how k-means starts: "kmeans++", "random" or "hierarchical"),
    /// `maxPointsPerCentroid` (train on at most `nlist` times this many
    /// points, default 256), `quantize` ("sq8" or "sq4": scan lists on
    /// codes, trained once the index holds 1,000 vectors).
    #[wasm_bindgen(js_name = trainIvf)]
    pub fn train_ivf(
        dim: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] training: JsValue,
        #[wasm_bindgen(unchecked_param_type = "IvfOptions")] options: JsValue,
    ) -> JsResult<Index> {
        check_keys(
            &options,
            "Index.trainIvf",
            &[
                "metric",
                "nlist",
                "iters",
                "seed",
                "init",
                "maxPointsPerCentroid",
                "quantize",
                "idType",
            ],
        )?;
        let training = to_f32s(&training, "training")?;
        let dim = dim_arg(&dim)?;
        if !training.len().is_multiple_of(dim) {
            return Err(from_core(vectrove_core::Error::DimensionMismatch {
                expected: dim,
                got: training.len() % dim,
            }));
        }
        let id_type = IdType::parse(&options)?;
        let metric = options::metric(&options, Metric::Cosine)?;
        let quantize = options::quantization(&options)?;
        // Left out, `nlist` is the core's default for the training set; an
        // explicit 0 is refused (to the core, 0 would mean that default).
        let mut params = IvfParams::default();
        if let Some(nlist) = opt_usize(&options, "nlist")? {
            if nlist == 0 {
                return Err(invalid_argument("`nlist` must be at least 1"));
            }
            params.nlist = nlist;
        }
        if let Some(iters) = opt_usize(&options, "iters")? {
            params.iters = iters;
        }
        if let Some(seed) = opt_u64(&options, "seed")? {
            params.seed = seed;
        }
        params.init = options::kmeans_init(&options)?;
        if let Some(m) = opt_usize(&options, "maxPointsPerCentroid")? {
            params.max_points_per_centroid = m;
        }
        let data = MemoryStore::from_flat(dim, &training).map_err(from_core)?;
        let store = Store::memory(MemoryStore::new(dim).map_err(from_core)?);
        let mut ivf = Ivf::train_into(metric, params, &data, store).map_err(from_core)?;
        if let Some(kind) = quantize {
            ivf.quantize_later(kind).map_err(from_core)?;
        }
        Index::wrap(Inner::memory(AnyIndex::Ivf(ivf)), id_type)
    }

    /// An in-memory index from the bytes of an index file (the native CLI's
    /// output, or [`toBytes`](Self::to_bytes)). Every section is checked.
    /// Options: `idType` ("number", the default, or "bigint").
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(
        bytes: &[u8],
        #[wasm_bindgen(unchecked_param_type = "FromBytesOptions")] options: JsValue,
    ) -> JsResult<Index> {
        check_keys(&options, "Index.fromBytes", &["idType"])?;
        let id_type = IdType::parse(&options)?;
        Index::wrap(Inner::memory(open::engine_from_bytes(bytes)?), id_type)
    }

    /// What ids come back as: "number" (the default) or "bigint", as
    /// chosen with the `idType` option when the index was created or
    /// opened.
    #[wasm_bindgen(getter = idType, unchecked_return_type = "IdType")]
    pub fn id_type(&self) -> String {
        self.id_type.as_str().to_string()
    }

    /// The index as file bytes, the same format the native crate writes.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> JsResult<Vec<u8>> {
        self.with(|i| {
            writable(i)?;
            i.engine.to_bytes().map_err(from_core)
        })
    }

    /// Add one vector under `id` (an integer up to 2^53 - 1, or a BigInt).
    pub fn add(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Id")] id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] vector: JsValue,
    ) -> JsResult<()> {
        let id = self.id_type.admit(to_id(&id, "id")?)?;
        let vector = to_f32s(&vector, "vector")?;
        self.with_mut(|i| {
            writable(i)?;
            i.engine.insert(id, &vector).map_err(from_core)
        })
    }

    /// Add many vectors (`vectors` holds `ids.length` of them back to back).
    /// The whole batch is checked first, then inserted in slices with the
    /// event loop free between them, so `onProgress(done, total)` can paint
    /// and `signal` can abort (the vectors added before the abort stay).
    #[wasm_bindgen(js_name = addMany, unchecked_return_type = "Promise<void>")]
    pub fn add_many(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ArrayLike<number | bigint>")] ids: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] vectors: JsValue,
        #[wasm_bindgen(unchecked_param_type = "AddManyOptions")] options: JsValue,
    ) -> Promise {
        let rc = self.inner.clone();
        let ingesting = self.ingesting.clone();
        let id_type = self.id_type;
        future_to_promise(async move {
            check_keys(&options, "addMany", &["onProgress", "signal"])?;
            let vectors = to_f32s(&vectors, "vectors")?;
            let ids = to_ids(&ids, vectors.len())?;
            for &id in &ids {
                id_type.admit(id)?;
            }
            let progress = opt_function(&options, "onProgress")?;
            let signal = opt(&options, "signal")?;
            let total = ids.len();
            if aborted(&signal) {
                return Err(abort_error(0, total));
            }
            if ingesting.get() {
                return Err(ingest_busy());
            }
            let report = |done: usize| match &progress {
                Some(f) => f
                    .call2(
                        &JsValue::NULL,
                        &(done as f64).into(),
                        &(total as f64).into(),
                    )
                    .map(drop),
                None => Ok(()),
            };
            let dim = {
                let mut guard = rc.try_borrow_mut().map_err(|_| busy())?;
                let inner = guard.as_mut().ok_or_else(closed)?;
                writable(inner)?;
                match &mut inner.engine {
                    AnyIndex::Hnsw(h) => h.check_batch(&ids, &vectors).map_err(from_core)?,
                    AnyIndex::Ivf(x) => {
                        // IVF inserts are cheap (one list each): one go.
                        x.insert_many(&ids, &vectors).map_err(from_core)?;
                        drop(guard);
                        report(total)?;
                        return Ok(JsValue::UNDEFINED);
                    }
                }
                inner.engine.dim()
            };
            // The batch is checked whole, and nothing else may change the
            // index until this ends, so each slice inserts what was checked.
            ingesting.set(true);
            let _clear = Ingesting(ingesting.clone());
            let mut done = 0;
            let mut slice = 16usize;
            while done < total {
                let n = slice.min(total - done);
                // A search waiting on storage holds the index: wait for it.
                let mut guard = loop {
                    match rc.try_borrow_mut() {
                        Ok(g) => break g,
                        Err(_) => {
                            yield_now().await?;
                            if aborted(&signal) {
                                return Err(abort_error(done, total));
                            }
                        }
                    }
                };
                let inner = guard.as_mut().ok_or_else(closed)?;
                let AnyIndex::Hnsw(h) = &mut inner.engine else {
                    return Err(busy());
                };
                let t0 = now_ms();
                h.insert_many(&ids[done..done + n], &vectors[done * dim..(done + n) * dim])
                    .map_err(from_core)?;
                drop(guard);
                done += n;
                // Aim for slices of about 50 ms, growing at most twofold
                // at a time so that one quick slice cannot overshoot.
                let took = (now_ms() - t0).max(0.01);
                let aim = (n as f64 * 50.0 / took) as usize;
                slice = aim.clamp(1, (2 * n).min(4096));
                report(done)?;
                if done < total {
                    // Searches run here, on the points inserted so far.
                    yield_now().await?;
                    if aborted(&signal) {
                        return Err(abort_error(done, total));
                    }
                }
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The `k` nearest neighbours of `query`, nearest first, as
    /// `[{ id, distance }]`. Options: `ef` (HNSW beam width, default 64),
    /// `nprobe` (IVF lists to scan, default 8), `rerank` (for an index with
    /// codes: the candidates given exact distances, in one read; default
    /// max(4k, 32)), `filter(id) => boolean`.
    /// Works on every storage: an IndexedDB-backed index fetches the
    /// vectors each search step lacks in one transaction, an index over
    /// HTTP in one batch of range requests.
    #[wasm_bindgen(unchecked_return_type = "Promise<SearchHit[]>")]
    pub fn search(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] query: JsValue,
        k: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SearchOptions")] options: JsValue,
    ) -> Promise {
        let rc = self.inner.clone();
        let id_type = self.id_type;
        future_to_promise(async move {
            let (mut rows, _) = searches(rc, &query, &k, &options, id_type, None).await?;
            Ok(hits(&rows.pop().unwrap_or_default(), id_type))
        })
    }

    /// Search for each of many queries (`queries` holds them back to back):
    /// `{ k, ids, distances, counts }`, row `i` at `[i * k, i * k +
    /// counts[i])` of `ids` (a `Float64Array`, or a `BigUint64Array` for
    /// `idType` "bigint") and `distances` (a `Float32Array`), nearest first;
    /// a row with fewer than `k` hits (a filter, a small index) is padded
    /// with id 0 and distance `Infinity`. Options as for
    /// [`search`](Self::search), for every query.
    #[wasm_bindgen(js_name = searchMany, unchecked_return_type = "Promise<SearchBatch>")]
    pub fn search_many(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] queries: JsValue,
        k: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SearchOptions")] options: JsValue,
    ) -> Promise {
        let rc = self.inner.clone();
        let id_type = self.id_type;
        future_to_promise(async move {
            let (rows, width) = searches(rc, &queries, &k, &options, id_type, Some(())).await?;
            let n = rows.len();
            let mut ids = vec![0u64; n * width];
            let mut distances = vec![f32::INFINITY; n * width];
            let mut counts = vec![0u32; n];
            for (i, found) in rows.iter().enumerate() {
                counts[i] = found.len() as u32;
                for (j, hit) in found.iter().enumerate().take(width) {
                    ids[i * width + j] = hit.id;
                    distances[i * width + j] = hit.distance;
                }
            }
            let out = Object::new();
            set(&out, "k", width as f64);
            let ids: JsValue = match id_type {
                IdType::Number => {
                    let as_f64: Vec<f64> = ids.iter().map(|&id| id as f64).collect();
                    js_sys::Float64Array::from(&as_f64[..]).into()
                }
                IdType::BigInt => js_sys::BigUint64Array::from(&ids[..]).into(),
            };
            set(&out, "ids", ids);
            set(&out, "distances", Float32Array::from(&distances[..]));
            set(&out, "counts", js_sys::Uint32Array::from(&counts[..]));
            Ok(out.into())
        })
    }

    /// Like [`search`](Self::search), synchronously: for indexes in memory
    /// or OPFS. An IndexedDB-backed index throws `NotResidentError` when a
    /// vector it needs is not in its cache.
    #[wasm_bindgen(js_name = searchSync, unchecked_return_type = "SearchHit[]")]
    pub fn search_sync(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] query: JsValue,
        k: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SearchOptions")] options: JsValue,
    ) -> JsResult<JsValue> {
        check_keys(&options, "searchSync", SEARCH_OPTIONS)?;
        let query = to_f32s(&query, "query")?;
        let filter = JsFilter::new(&options, self.id_type)?;
        let out = self.with(|i| {
            let a = SearchArgs::parse(&k, &options, &i.engine)?;
            search_now(&i.engine, &query, &a, &filter).map_err(from_core)
        });
        filter.finish()?;
        Ok(hits(&out?, self.id_type))
    }

    /// Train codes of `kind` ("sq8" or "sq4") on the stored vectors now and search
    /// on them from now on: traversal on the codes, then the best `rerank`
    /// candidates get exact distances. Vectors added later are encoded too;
    /// calling it again retrains. Not for an index whose vectors IndexedDB
    /// holds (it would read every vector; quantise before storing it).
    pub fn quantize(&self, kind: JsValue) -> JsResult<()> {
        let kind = kind
            .as_string()
            .ok_or_else(|| type_error("`kind` must be a string such as \"sq8\""))?;
        let kind = options::parse_quantization(&kind)?;
        self.with_mut(|i| {
            writable(i)?;
            if i.idb.is_some() {
                return Err(unsupported(
                    "an index read lazily from IndexedDB cannot be quantised in place (it would \
                     read every vector): quantise it before saving or importing it",
                ));
            }
            i.engine.quantize(kind).map_err(from_core)
        })
    }

    /// The codes the index searches on, or will once trained ("sq8" or
    /// "sq4"), or
    /// `null` without any.
    #[wasm_bindgen(getter, unchecked_return_type = "Quantization | null")]
    pub fn quantization(&self) -> JsResult<JsValue> {
        self.with(|i| {
            Ok(match i.engine.quantization() {
                Some(q) => q.name().into(),
                None => JsValue::NULL,
            })
        })
    }

    /// Whether searches traverse on codes now: false without codes, and
    /// for `quantize` chosen at creation until the index holds 1,000
    /// vectors.
    #[wasm_bindgen(getter)]
    pub fn quantized(&self) -> JsResult<bool> {
        self.with(|i| Ok(i.engine.is_quantized()))
    }

    /// Delete `id`; returns whether it was there. Searches never return a
    /// deleted id.
    pub fn delete(&self, id: JsValue) -> JsResult<bool> {
        let id = to_id(&id, "id")?;
        self.with_mut(|i| {
            writable(i)?;
            match i.engine.delete(id) {
                Ok(()) => Ok(true),
                Err(vectrove_core::Error::UnknownId { .. }) => Ok(false),
                Err(e) => Err(from_core(e)),
            }
        })
    }

    /// Whether `id` is in the index (and not deleted).
    pub fn contains(&self, id: JsValue) -> JsResult<bool> {
        let id = to_id(&id, "id")?;
        self.with(|i| Ok(i.engine.contains(id)))
    }

    /// The stored vector of `id` (normalised for cosine), or `undefined`.
    pub fn get(&self, id: JsValue) -> JsResult<Option<Float32Array>> {
        let id = to_id(&id, "id")?;
        self.with(|i| match i.engine.get(id) {
            Ok(v) => Ok(Some(Float32Array::from(&v[..]))),
            Err(vectrove_core::Error::UnknownId { .. }) => Ok(None),
            Err(e) => Err(from_core(e)),
        })
    }

    /// The stored vectors of `ids`, one after the other in one array
    /// (`ids.length * dim` values, normalised for cosine): the bulk form of
    /// `get`, for exporting vectors (to train k-means or a projection, say).
    /// An id that is not in the index is an `UnknownIdError` naming it.
    #[wasm_bindgen(js_name = getMany)]
    pub fn get_many(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ArrayLike<number | bigint>")] ids: JsValue,
    ) -> JsResult<Float32Array> {
        let ids = to_ids(&ids, usize::MAX)?;
        self.with(|i| {
            let dim = i.engine.dim();
            let mut out: Vec<f32> = Vec::new();
            ids.len()
                .checked_mul(dim)
                .and_then(|n| out.try_reserve_exact(n).ok())
                .ok_or_else(|| invalid_argument("getMany: too many ids for this memory"))?;
            for &id in &ids {
                out.extend_from_slice(&i.engine.get(id).map_err(from_core)?);
            }
            Ok(Float32Array::from(&out[..]))
        })
    }

    /// Number of vectors (deleted ones excluded).
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> JsResult<usize> {
        self.with(|i| Ok(i.engine.len()))
    }

    /// Elements per vector.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> JsResult<usize> {
        self.with(|i| Ok(i.engine.dim()))
    }

    /// "l2", "cosine" or "ip".
    #[wasm_bindgen(getter)]
    pub fn metric(&self) -> JsResult<String> {
        self.with(|i| Ok(i.engine.metric().to_string()))
    }

    /// "hnsw" or "ivf".
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> JsResult<String> {
        self.with(|i| Ok(i.engine.kind().name().to_string()))
    }

    /// "memory", "opfs", "indexeddb" or "http".
    #[wasm_bindgen(getter)]
    pub fn storage(&self) -> JsResult<String> {
        self.with(|i| Ok(i.storage.as_str().to_string()))
    }

    /// The name the index was opened or saved under (the URL for "http").
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> JsResult<Option<String>> {
        self.with(|i| Ok(i.name.clone()))
    }

    /// Counters since the index was opened: `fetches` (asynchronous fetch
    /// rounds of searches), `transactions` (IndexedDB read transactions),
    /// `requests` and `bytes` (HTTP range requests and the bytes they
    /// brought, opening included), `persisted` (whether fetched bytes are
    /// kept in OPFS) and `persistedReads` (bytes read back from there
    /// instead of the network), `cacheHits`, `cacheMisses`, `cacheBytes`
    /// (held now) and `cacheBudget`.
    #[wasm_bindgen(unchecked_return_type = "IndexStats")]
    pub fn stats(&self) -> JsResult<JsValue> {
        self.with(|i| {
            let o = Object::new();
            let (hits, misses, mut bytes, mut budget) = match &i.engine.store().base() {
                Some(b) => {
                    let s = b.stats();
                    (s.hits, s.misses, s.resident_bytes, b.cache().budget())
                }
                None => (0, 0, 0, 0),
            };
            set(&o, "fetches", i.fetches.get() as f64);
            let tx = i.idb.as_ref().map_or(0, |l| l.transactions.get());
            set(&o, "transactions", tx as f64);
            let (persisted, read_back) = i.http.as_ref().map_or((false, 0), |l| l.http.warm());
            set(&o, "persisted", persisted);
            set(&o, "persistedReads", read_back as f64);
            let (requests, got) = i.http.as_ref().map_or((0.0, 0.0), |l| {
                // The fetched blocks count in the cache too.
                let c = l.remote.cache();
                bytes += c.stats().resident_bytes;
                budget += c.budget();
                l.http.counts()
            });
            set(&o, "requests", requests);
            set(&o, "bytes", got);
            set(&o, "cacheHits", hits as f64);
            set(&o, "cacheMisses", misses as f64);
            set(&o, "cacheBytes", bytes as f64);
            set(&o, "cacheBudget", budget as f64);
            Ok(o.into())
        })
    }

    /// Open index `name`. Options: `storage` ("opfs": the OPFS file read
    /// lazily, dedicated workers only; "memory": the OPFS file read whole;
    /// "indexeddb": pages fetched lazily; "http": `name` is the URL of an
    /// index file, read in place by range requests), `cacheBytes` (the lazy
    /// stores' budget, default 32 MiB), `verify` (check every vector's
    /// checksum on open; default false for lazy stores), `timeoutMs` (HTTP:
    /// how long one batch of requests may take, default 30,000), `persist`
    /// (HTTP, in a dedicated worker: keep what is fetched in OPFS, so that
    /// a later visit reads it from the disk; default false).
    #[wasm_bindgen(unchecked_return_type = "Promise<Index>")]
    pub fn open(
        name: String,
        #[wasm_bindgen(unchecked_param_type = "OpenOptions")] options: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            check_keys(&options, "Index.open", OPEN_OPTIONS)?;
            let storage = Storage::parse(&options)?.unwrap_or_else(Storage::default_here);
            let id_type = IdType::parse(&options)?;
            let cache_bytes = opt_usize(&options, "cacheBytes")?.unwrap_or(DEFAULT_CACHE_BYTES);
            let verify = opt_bool(&options, "verify")?.unwrap_or(false);
            let timeout = opt_f64(&options, "timeoutMs")?.unwrap_or(http::DEFAULT_TIMEOUT_MS);
            if timeout <= 0.0 {
                return Err(invalid_argument("`timeoutMs` must be positive"));
            }
            let persist = opt_bool(&options, "persist")?.unwrap_or(false);
            if persist && storage != Storage::Http {
                return Err(invalid_argument(
                    "`persist` is for storage \"http\" (the other storages keep everything already)",
                ));
            }
            let inner = open::open(name, storage, cache_bytes, verify, timeout, persist).await?;
            Ok(Index::wrap(inner, id_type)?.into())
        })
    }

    /// Store an index file under `name` and open it. `source` is an
    /// ArrayBuffer, a typed array, a Blob, a Response, a ReadableStream or
    /// a URL; it is read as a stream and checked as it arrives, and a
    /// failure leaves any earlier index of that name as it was. Options:
    /// `storage`, `cacheBytes`, `onProgress(bytesRead, totalBytes)`.
    #[wasm_bindgen(js_name = "import", unchecked_return_type = "Promise<Index>")]
    pub fn import(
        name: String,
        #[wasm_bindgen(unchecked_param_type = "IndexSource")] source: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ImportOptions")] options: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            check_keys(
                &options,
                "Index.import",
                &["storage", "cacheBytes", "onProgress", "idType"],
            )?;
            let storage = Storage::parse(&options)?.unwrap_or_else(Storage::default_here);
            let cache_bytes = opt_usize(&options, "cacheBytes")?.unwrap_or(DEFAULT_CACHE_BYTES);
            let progress = opt_function(&options, "onProgress")?;
            let id_type = IdType::parse(&options)?;
            let inner = open::import(name, source, storage, cache_bytes, progress).await?;
            Ok(Index::wrap(inner, id_type)?.into())
        })
    }

    /// Save the index under `name` (default: the name it was opened or
    /// last saved under), atomically. Options: `storage` ("opfs" or
    /// "memory": the OPFS file; "indexeddb").
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn save(
        &self,
        name: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "SaveOptions")] options: JsValue,
    ) -> Promise {
        let rc = self.inner.clone();
        let ingesting = self.ingesting.clone();
        future_to_promise(async move {
            check_keys(&options, "save", OPEN_OPTIONS)?;
            if ingesting.get() {
                return Err(ingest_busy());
            }
            let mut guard = rc.try_borrow_mut().map_err(|_| busy())?;
            let inner = guard.as_mut().ok_or_else(closed)?;
            save::save(inner, name, &options).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Whether an index `name` is stored (`storage` "indexeddb", or the
    /// OPFS file otherwise); with `storage` "http", whether fetched parts
    /// of the file at URL `name` are kept in OPFS (`persist`).
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn exists(
        name: String,
        #[wasm_bindgen(unchecked_param_type = "SaveOptions")] options: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            check_keys(&options, "exists", OPEN_OPTIONS)?;
            let storage = Storage::parse(&options)?;
            if storage == Some(Storage::Http) {
                return Ok(warm::exists(&http::http_href(&name)).await?.into());
            }
            let storage = storage.unwrap_or_else(Storage::default_here);
            if storage.is_file_path() {
                check_path(&name)?;
                nodefs::ready().await?;
                return Ok(nodefs::exists(&name)?.into());
            }
            check_name(&name)?;
            Ok(match storage {
                Storage::Idb => {
                    let db = idb::open_db().await?;
                    idb::get_record(&db, &name)
                        .await
                        .map(|r| r.is_some())
                        .unwrap_or(true)
                }
                _ => opfs::exists(&name).await?,
            }
            .into())
        })
    }

    /// Delete the stored index `name`; with `storage` "http", the parts of
    /// the file at URL `name` kept in OPFS (`persist`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn remove(
        name: String,
        #[wasm_bindgen(unchecked_param_type = "SaveOptions")] options: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            check_keys(&options, "remove", OPEN_OPTIONS)?;
            let storage = Storage::parse(&options)?;
            if storage == Some(Storage::Http) {
                warm::remove_cache(&http::http_href(&name)).await?;
                return Ok(JsValue::UNDEFINED);
            }
            let storage = storage.unwrap_or_else(Storage::default_here);
            if storage.is_file_path() {
                check_path(&name)?;
                nodefs::ready().await?;
                nodefs::remove(&name)?;
                return Ok(JsValue::UNDEFINED);
            }
            check_name(&name)?;
            match storage {
                Storage::Idb => idb::remove(&idb::open_db().await?, &name).await?,
                _ => opfs::remove(&name).await?,
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Release the index: an OPFS-backed index lets go of its file lock.
    /// Later calls on this object throw.
    pub fn close(&self) -> JsResult<()> {
        if self.ingesting.get() {
            return Err(ingest_busy());
        }
        let mut guard = self.inner.try_borrow_mut().map_err(|_| busy())?;
        guard.take();
        Ok(())
    }
}
