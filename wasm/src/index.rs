//! The JS `Index` class: HNSW or IVF-Flat over vectors in memory, in OPFS
//! or in IndexedDB, persisted by name.
//!
//! An asynchronous call holds the index's `RefCell` across its awaits on
//! purpose: every entry point borrows with `try_borrow`/`try_borrow_mut`, so
//! a call that overlaps a conflicting one (a search during `addMany`, say)
//! gets a `BusyError` instead of seeing a half-changed index, and nothing
//! can panic.
#![allow(clippy::await_holding_refcell_ref)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use js_sys::{Array, Float32Array, Function, Object, Promise, Reflect};
use vectrove_core::format::{Header, IndexKind, VectorChecksums};
use vectrove_core::hnsw::Step;
use vectrove_core::store::{PagedStore, VectorLayout};
use vectrove_core::{
    FeatureStore, Hnsw, HnswFile, Ivf, IvfFile, IvfParams, MemoryStore, Metric, Neighbor, PageCache,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::errors::{busy, from_core, invalid_argument, js_error, name, unsupported};
use crate::idb::{self, IdbLink, IdbSource, IdbWriter};
use crate::js::{
    id_value, in_dedicated_worker, now_ms, opt, opt_function, opt_string, opt_u64, opt_usize, set,
    to_id, yield_now,
};
use crate::opfs::{self, OpfsSource, SyncFile, TmpWriter};
use crate::source::ByteStream;
use crate::store::{Source, Store};

type JsResult<T> = Result<T, JsValue>;

/// The default cache budget of lazily read indexes.
const DEFAULT_CACHE_BYTES: usize = 32 << 20;

/// The smallest page of an OPFS-backed store. Pages are otherwise one
/// vector: a graph walk reads scattered vectors, so a second vector in a
/// page is almost always cache space wasted, and OPFS reads have no
/// alignment to respect.
const OPFS_PAGE_BYTES: usize = 1024;

pub(crate) enum Engine {
    Hnsw(Hnsw<Store>),
    Ivf(Ivf<Store>),
}

impl Engine {
    fn store(&self) -> &Store {
        match self {
            Engine::Hnsw(h) => h.store(),
            Engine::Ivf(i) => i.store(),
        }
    }

    fn write_to<W: std::io::Write>(&self, out: &mut W) -> vectrove_core::Result<()> {
        match self {
            Engine::Hnsw(h) => h.write_to(out),
            Engine::Ivf(i) => i.write_to(out),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Storage {
    Memory,
    Opfs,
    Idb,
}

impl Storage {
    fn parse(options: &JsValue) -> JsResult<Option<Storage>> {
        Ok(match opt_string(options, "storage")?.as_deref() {
            None => None,
            Some("memory") => Some(Storage::Memory),
            Some("opfs") => Some(Storage::Opfs),
            Some("indexeddb") => Some(Storage::Idb),
            Some(other) => {
                return Err(invalid_argument(format!(
                    "unknown storage \"{other}\": use \"memory\", \"opfs\" or \"indexeddb\""
                )));
            }
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Storage::Memory => "memory",
            Storage::Opfs => "opfs",
            Storage::Idb => "indexeddb",
        }
    }
}

struct Inner {
    engine: Engine,
    storage: Storage,
    name: Option<String>,
    cache_bytes: usize,
    idb: Option<IdbLink>,
    fetches: u64,
}

/// A vector index (HNSW, or IVF-Flat from [`Index::train_ivf`]) over `f32`
/// vectors, in memory or backed by OPFS or IndexedDB.
#[wasm_bindgen]
pub struct Index {
    inner: Rc<RefCell<Option<Inner>>>,
}

fn closed() -> JsValue {
    invalid_argument("the index is closed")
}

fn metric_from(options: &JsValue, default: Metric) -> JsResult<Metric> {
    match opt_string(options, "metric")? {
        None => Ok(default),
        Some(m) => match m.as_str() {
            "l2" | "cosine" | "ip" => m.parse().map_err(from_core),
            _ => Err(invalid_argument(format!(
                "unknown metric \"{m}\": use \"l2\", \"cosine\" or \"ip\""
            ))),
        },
    }
}

fn check_name(name: &str) -> JsResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.contains(['/', '\\', '\0'])
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(invalid_argument(format!(
            "invalid index name \"{name}\": use 1 to 200 characters without / or \\"
        )))
    }
}

fn corrupt(reason: impl Into<String>) -> JsValue {
    from_core(vectrove_core::Error::Corrupt {
        section: "file",
        reason: reason.into(),
    })
}

/// Decode an index from its header and metadata, on a store made once the
/// metadata has been checked.
fn build_engine(
    header: Header,
    meta: &[u8],
    make_store: impl FnOnce(&Header, &VectorChecksums) -> JsResult<Store>,
) -> JsResult<Engine> {
    if header.elem != 1 {
        return Err(unsupported(format!(
            "this index holds {} vectors; the browser package reads f32 indexes",
            vectrove_core::format::elem_name(header.elem)
        )));
    }
    match header.kind {
        IndexKind::Hnsw => {
            let file = HnswFile::decode(header, meta).map_err(from_core)?;
            let store = make_store(file.header(), file.vector_checksums())?;
            Ok(Engine::Hnsw(file.into_index(store).map_err(from_core)?))
        }
        IndexKind::Ivf => {
            let file = IvfFile::decode(header, meta).map_err(from_core)?;
            let store = make_store(file.header(), file.vector_checksums())?;
            Ok(Engine::Ivf(file.into_index(store).map_err(from_core)?))
        }
    }
}

/// An index from a whole file in memory.
fn engine_from_bytes(bytes: &[u8]) -> JsResult<Engine> {
    let header = Header::parse(bytes, bytes.len() as u64).map_err(from_core)?;
    let v = header.vectors();
    let meta = &bytes[..v.offset as usize];
    build_engine(header.clone(), meta, |_, sums| {
        let vectors = &bytes[v.offset as usize..];
        sums.verify_all(vectors).map_err(from_core)?;
        Ok(Store::memory(
            MemoryStore::from_le_bytes(v.dim, vectors).map_err(from_core)?,
        ))
    })
}

fn layout(header: &Header) -> VectorLayout {
    let v = header.vectors();
    VectorLayout::new(v.dim, v.count)
        .with_offset(v.offset)
        .with_stride(v.stride)
}

fn cache(page: usize, budget: usize) -> JsResult<Arc<PageCache>> {
    Ok(Arc::new(PageCache::new(page, budget).map_err(from_core)?))
}

fn opfs_page_bytes(stride: usize, budget: usize) -> usize {
    OPFS_PAGE_BYTES.max(stride).min(budget.max(stride))
}

/// Open index `name` from OPFS, its vectors read lazily.
async fn open_opfs(name: &str, cache_bytes: usize, verify: bool) -> JsResult<Engine> {
    if !in_dedicated_worker() {
        return Err(unsupported(
            "storage \"opfs\" reads through a FileSystemSyncAccessHandle, which browsers offer \
             only in dedicated workers: open the index in a worker (see createIndexWorker), or \
             use storage \"memory\" or \"indexeddb\"",
        ));
    }
    let file = SyncFile::open_index(name).await?;
    let len = file.len();
    let read = |offset: u64, n: usize| -> JsResult<Vec<u8>> {
        let mut buf = vec![0; n];
        file.read_exact_at(offset, &mut buf).map_err(from_core)?;
        Ok(buf)
    };
    let prefix = read(0, (Header::PREFIX_LEN as u64).min(len) as usize)?;
    let header_len = Header::header_len(&prefix).map_err(from_core)?;
    if header_len as u64 > len {
        return Err(corrupt(format!("truncated: the file is {len} bytes")));
    }
    let header = Header::parse(&read(0, header_len)?, len).map_err(from_core)?;
    let meta = read(0, header.meta_len as usize)?;
    build_engine(header, &meta, move |h, sums| {
        let v = h.vectors();
        if verify {
            let mut block = Vec::new();
            for i in 0..sums.blocks() {
                let r = sums.block_range(i);
                block.resize((r.end - r.start) as usize, 0);
                file.read_exact_at(v.offset + r.start, &mut block)
                    .map_err(from_core)?;
                sums.verify_block(i, &block).map_err(from_core)?;
            }
        }
        let page = opfs_page_bytes(v.stride, cache_bytes);
        let source = Source::Opfs(OpfsSource { file });
        let paged = PagedStore::with_cache(source, layout(h), cache(page, cache_bytes)?)
            .map_err(from_core)?;
        Store::lazy(paged).map_err(from_core)
    })
}

/// Open index `name` from IndexedDB, its vectors fetched lazily.
async fn open_idb(name: &str, cache_bytes: usize) -> JsResult<(Engine, IdbLink)> {
    let db = idb::open_db().await?;
    let Some(record) = idb::get_record(&db, name).await? else {
        return Err(js_error(
            name::NOT_FOUND,
            format!("no index named \"{name}\" in IndexedDB (import or save one first)"),
        ));
    };
    let header = Header::parse(&record.head, record.file_len).map_err(from_core)?;
    if header.meta_len != record.head.len() as u64 {
        return Err(corrupt(
            "the IndexedDB record's head does not end where the vectors start",
        ));
    }
    if header.kind == IndexKind::Ivf {
        return Err(unsupported(
            "IVF indexes open with storage \"memory\" or \"opfs\"; IndexedDB holds HNSW indexes",
        ));
    }
    let page_bytes = record.page_bytes;
    let n_pages = record.crcs.len();
    let engine = build_engine(header, &record.head, |h, _| {
        let budget = cache_bytes.max(page_bytes);
        let source = Source::Idb(IdbSource {
            len: record.file_len,
        });
        let paged = PagedStore::with_cache(source, layout(h), cache(page_bytes, budget)?)
            .map_err(from_core)?;
        if paged.page_count() != n_pages as u64 {
            return Err(corrupt(format!(
                "{} page checksums for {} pages",
                n_pages,
                paged.page_count()
            )));
        }
        Store::lazy(paged).map_err(from_core)
    })?;
    let link = IdbLink {
        db,
        name: name.to_string(),
        generation: record.generation,
        crcs: record.crcs,
        transactions: Cell::new(0),
    };
    Ok((engine, link))
}

/// The page lengths an IndexedDB store of `header`'s vectors uses.
fn idb_pages(header: &Header, page_bytes: usize) -> JsResult<Vec<usize>> {
    let source = IdbSource {
        len: header.file_len,
    };
    let v = header.vectors();
    let budget = page_bytes.max(v.stride);
    let paged: PagedStore<IdbSource, f32> =
        PagedStore::with_cache(source, layout(header), cache(page_bytes, budget)?)
            .map_err(from_core)?;
    let lens: Vec<usize> = (0..paged.page_count())
        .filter_map(|p| paged.page_request(p).map(|r| r.len))
        .collect();
    if lens.iter().map(|&l| l as u64).sum::<u64>() != v.byte_len() {
        return Err(corrupt("the vectors do not tile into pages"));
    }
    Ok(lens)
}

/// Write a whole file into IndexedDB as index `name`.
async fn store_idb(name: &str, bytes: &[u8]) -> JsResult<()> {
    let header = Header::parse(bytes, bytes.len() as u64).map_err(from_core)?;
    let meta_len = header.meta_len as usize;
    let page_bytes = idb::DEFAULT_PAGE_BYTES.max(header.vectors().stride);
    let lens = idb_pages(&header, page_bytes)?;
    let mut sink = Sink::Idb(
        IdbWriter::start(
            name,
            bytes[..meta_len].to_vec(),
            header.file_len,
            page_bytes,
            lens,
        )
        .await?,
    );
    let written = async {
        for part in bytes[meta_len..].chunks(1 << 20) {
            sink.write(part).await?;
        }
        Ok(())
    }
    .await;
    sink.finish(written).await
}

/// Where a new version of a stored index is being written.
enum Sink {
    Opfs(TmpWriter),
    Idb(IdbWriter),
}

impl Sink {
    /// The next bytes of the file (for IndexedDB: of the vectors).
    async fn write(&mut self, bytes: &[u8]) -> JsResult<()> {
        match self {
            Sink::Opfs(w) => write_tmp(w, bytes),
            Sink::Idb(w) => w.write(bytes).await,
        }
    }

    /// Put the new version in place if everything was written, else delete
    /// what was (the previous version stays either way on failure).
    async fn finish(self, written: JsResult<()>) -> JsResult<()> {
        match (self, written) {
            (Sink::Opfs(w), Ok(())) => w.commit().await,
            (Sink::Idb(w), Ok(())) => w.commit().await,
            (Sink::Opfs(w), Err(e)) => {
                w.discard().await;
                Err(e)
            }
            (Sink::Idb(w), Err(e)) => {
                w.discard().await;
                Err(e)
            }
        }
    }
}

/// Turn neighbours into `[{ id, distance }, ...]`.
fn hits(neighbors: &[Neighbor]) -> JsValue {
    let out = Array::new_with_length(neighbors.len() as u32);
    for (i, n) in neighbors.iter().enumerate() {
        let o = Object::new();
        set(&o, "id", id_value(n.id));
        set(&o, "distance", n.distance);
        out.set(i as u32, o.into());
    }
    out.into()
}

/// A JS filter as a Rust predicate; the first exception it throws is kept
/// and rethrown once the search returns.
struct JsFilter {
    f: Option<Function>,
    thrown: RefCell<Option<JsValue>>,
}

impl JsFilter {
    fn new(options: &JsValue) -> JsResult<JsFilter> {
        Ok(JsFilter {
            f: opt_function(options, "filter")?,
            thrown: RefCell::new(None),
        })
    }

    fn accept(&self, id: u64) -> bool {
        let Some(f) = &self.f else { return true };
        if self.thrown.borrow().is_some() {
            return false;
        }
        match f.call1(&JsValue::NULL, &id_value(id)) {
            Ok(v) => v.is_truthy(),
            Err(e) => {
                *self.thrown.borrow_mut() = Some(e);
                false
            }
        }
    }

    fn finish(self) -> JsResult<()> {
        match self.thrown.into_inner() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

struct SearchArgs {
    k: usize,
    ef: usize,
    nprobe: usize,
}

impl SearchArgs {
    fn parse(k: &JsValue, options: &JsValue) -> JsResult<SearchArgs> {
        let k = crate::js::to_usize(k, "k")?;
        let ef = opt_usize(options, "ef")?.unwrap_or(64).max(k);
        let nprobe = opt_usize(options, "nprobe")?.unwrap_or(8);
        Ok(SearchArgs { k, ef, nprobe })
    }
}

/// How many of a search's best candidates an IndexedDB fetch looks ahead
/// to: their neighbours' vectors come along with the vectors a step lacks.
const LOOKAHEAD: usize = 8;

/// The search on an IndexedDB-backed HNSW index: the one resumable search,
/// with one read transaction whenever a step lacks vectors. Returns the
/// hits and the number of fetches.
async fn search_idb(
    h: &Hnsw<Store>,
    link: &IdbLink,
    query: &[f32],
    a: &SearchArgs,
    filter: &JsFilter,
) -> vectrove_core::Result<(Vec<Neighbor>, u64)> {
    let store = h
        .store()
        .base
        .as_ref()
        .expect("IndexedDB-backed stores have a base");
    let mut state = h.start_search(query, a.k, a.ef)?;
    let mut fetches = 0;
    let mut ahead = Vec::new();
    while let Step::Missing = h.resume(&mut state, |id| filter.accept(id))? {
        ahead.clear();
        let level = state.level();
        for node in state.upcoming(LOOKAHEAD) {
            if let Some(nb) = h.neighbors(node, level) {
                ahead.extend_from_slice(nb);
            }
        }
        link.fetch(store, state.missing(), &ahead).await?;
        fetches += 1;
    }
    Ok((h.finish_search(state), fetches))
}

fn search_sync(
    inner: &Inner,
    query: &[f32],
    a: &SearchArgs,
    filter: &JsFilter,
) -> JsResult<JsValue> {
    let found = match &inner.engine {
        Engine::Hnsw(h) => h.search_filtered(query, a.k, a.ef, |id| filter.accept(id)),
        Engine::Ivf(i) => i.search_filtered(query, a.k, a.nprobe, |id| filter.accept(id)),
    }
    .map_err(from_core)?;
    Ok(hits(&found))
}

fn to_ids(ids: &JsValue) -> JsResult<Vec<u64>> {
    if !(Array::is_array(ids) || js_sys::ArrayBuffer::is_view(ids)) {
        return Err(invalid_argument(
            "`ids` must be an array or a typed array of ids",
        ));
    }
    let arr = Array::from(ids);
    (0..arr.length())
        .map(|i| to_id(&arr.get(i), "ids[i]"))
        .collect()
}

fn aborted(signal: &Option<JsValue>) -> bool {
    signal.as_ref().is_some_and(|s| {
        Reflect::get(s, &"aborted".into())
            .map(|a| a.is_truthy())
            .unwrap_or(false)
    })
}

fn abort_error(done: usize, total: usize) -> JsValue {
    js_error(
        name::ABORT,
        format!("addMany was aborted after {done} of {total} vectors (those stay in the index)"),
    )
}

impl Index {
    fn wrap(inner: Inner) -> Index {
        Index {
            inner: Rc::new(RefCell::new(Some(inner))),
        }
    }

    fn memory(engine: Engine) -> Index {
        Index::wrap(Inner {
            engine,
            storage: Storage::Memory,
            name: None,
            cache_bytes: DEFAULT_CACHE_BYTES,
            idb: None,
            fetches: 0,
        })
    }

    fn with<R>(&self, f: impl FnOnce(&Inner) -> JsResult<R>) -> JsResult<R> {
        let guard = self.inner.try_borrow().map_err(|_| busy())?;
        f(guard.as_ref().ok_or_else(closed)?)
    }

    fn with_mut<R>(&self, f: impl FnOnce(&mut Inner) -> JsResult<R>) -> JsResult<R> {
        let mut guard = self.inner.try_borrow_mut().map_err(|_| busy())?;
        f(guard.as_mut().ok_or_else(closed)?)
    }

    async fn open_inner(
        name: String,
        storage: Storage,
        cache_bytes: usize,
        verify: bool,
    ) -> JsResult<Index> {
        check_name(&name)?;
        let (engine, idb) = match storage {
            Storage::Memory => (engine_from_bytes(&opfs::read_all(&name).await?)?, None),
            Storage::Opfs => (open_opfs(&name, cache_bytes, verify).await?, None),
            Storage::Idb => {
                let (e, link) = open_idb(&name, cache_bytes).await?;
                (e, Some(link))
            }
        };
        Ok(Index::wrap(Inner {
            engine,
            storage,
            name: Some(name),
            cache_bytes,
            idb,
            fetches: 0,
        }))
    }

    async fn import_inner(
        name: String,
        source: JsValue,
        storage: Storage,
        cache_bytes: usize,
        progress: Option<Function>,
    ) -> JsResult<Index> {
        check_name(&name)?;
        if storage == Storage::Opfs && !in_dedicated_worker() {
            // Fail before reading anything.
            return Err(unsupported(
                "storage \"opfs\" needs a dedicated worker (see createIndexWorker); use \"memory\" or \"indexeddb\" here",
            ));
        }
        let mut s = ByteStream::new(source, progress).await?;
        let result = Self::import_stream(&name, &mut s, storage, cache_bytes).await;
        if result.is_err() {
            s.cancel();
        }
        result
    }

    async fn import_stream(
        name: &str,
        s: &mut ByteStream,
        storage: Storage,
        cache_bytes: usize,
    ) -> JsResult<Index> {
        let truncated = || corrupt("truncated: the data ends inside the index");
        let mut meta = s
            .read_exact(Header::PREFIX_LEN)
            .await?
            .ok_or_else(truncated)?;
        let header_len = Header::header_len(&meta).map_err(from_core)?;
        meta.extend(
            s.read_exact(header_len - meta.len())
                .await?
                .ok_or_else(truncated)?,
        );
        let claimed = u64::from_le_bytes(meta[48..56].try_into().expect("8 bytes"));
        if let Some(total) = s.total.filter(|&t| t != claimed) {
            return Err(corrupt(format!(
                "the header says {claimed} bytes but the data is {total} bytes"
            )));
        }
        let header = Header::parse(&meta, claimed).map_err(from_core)?;
        let v = header.vectors();
        meta.extend(
            s.read_exact(header.meta_len as usize - header_len)
                .await?
                .ok_or_else(truncated)?,
        );
        // Decode (and so check) everything but the vectors before storing
        // a byte; the vectors are checked block by block as they arrive.
        if header.elem != 1 {
            return Err(unsupported("the browser package reads f32 indexes"));
        }
        let sums = match header.kind {
            IndexKind::Hnsw => HnswFile::decode(header.clone(), &meta)
                .map_err(from_core)?
                .vector_checksums()
                .clone(),
            IndexKind::Ivf => IvfFile::decode(header.clone(), &meta)
                .map_err(from_core)?
                .vector_checksums()
                .clone(),
        };
        if storage == Storage::Idb && header.kind == IndexKind::Ivf {
            return Err(unsupported(
                "IVF indexes are stored with storage \"memory\" or \"opfs\"",
            ));
        }
        let mut blocks = (0..sums.blocks()).map(|i| (i, sums.block_range(i)));
        let mut next_block = async |s: &mut ByteStream| -> JsResult<Option<Vec<u8>>> {
            let Some((i, r)) = blocks.next() else {
                return Ok(None);
            };
            let block = s
                .read_exact((r.end - r.start) as usize)
                .await?
                .ok_or_else(truncated)?;
            sums.verify_block(i, &block).map_err(from_core)?;
            Ok(Some(block))
        };
        match storage {
            Storage::Memory => {
                let mut bytes = meta;
                bytes.reserve(v.byte_len() as usize);
                while let Some(b) = next_block(s).await? {
                    bytes.extend_from_slice(&b);
                }
                ensure_end(s).await?;
                let engine = engine_from_bytes(&bytes)?;
                opfs::write_all_async(name, &bytes).await?;
                let mut index = Index::memory(engine);
                index.set_name(name, Storage::Memory);
                Ok(index)
            }
            Storage::Opfs | Storage::Idb => {
                let mut sink = if storage == Storage::Opfs {
                    Sink::Opfs(TmpWriter::create(name).await?)
                } else {
                    let page_bytes = idb::DEFAULT_PAGE_BYTES.max(v.stride);
                    let lens = idb_pages(&header, page_bytes)?;
                    let head = meta.clone();
                    Sink::Idb(
                        IdbWriter::start(name, head, header.file_len, page_bytes, lens).await?,
                    )
                };
                let written = async {
                    if let Sink::Opfs(_) = sink {
                        // The OPFS file holds the head too; IndexedDB keeps it
                        // in the index's record.
                        sink.write(&meta).await?;
                    }
                    while let Some(b) = next_block(s).await? {
                        sink.write(&b).await?;
                    }
                    ensure_end(s).await
                }
                .await;
                sink.finish(written).await?;
                Self::open_inner(name.to_string(), storage, cache_bytes, false).await
            }
        }
    }

    fn set_name(&mut self, name: &str, storage: Storage) {
        if let Some(inner) = self.inner.borrow_mut().as_mut() {
            inner.name = Some(name.to_string());
            inner.storage = storage;
        }
    }

    async fn save_inner(
        rc: Rc<RefCell<Option<Inner>>>,
        name: Option<String>,
        options: JsValue,
    ) -> JsResult<()> {
        let mut guard = rc.try_borrow_mut().map_err(|_| busy())?;
        let inner = guard.as_mut().ok_or_else(closed)?;
        let name = match name.or_else(|| inner.name.clone()) {
            Some(n) => n,
            None => {
                return Err(invalid_argument(
                    "save() needs a name for an index that was not opened by name",
                ));
            }
        };
        check_name(&name)?;
        let target = Storage::parse(&options)?.unwrap_or(match inner.storage {
            Storage::Idb => Storage::Idb,
            _ if in_dedicated_worker() => Storage::Opfs,
            _ => Storage::Memory,
        });
        if inner.storage == Storage::Idb {
            return Err(unsupported(
                "an index opened from IndexedDB is read lazily and cannot be written back; \
                 build or open it in memory (or OPFS) and save that",
            ));
        }
        match target {
            Storage::Idb => {
                let bytes = to_bytes(&inner.engine)?;
                store_idb(&name, &bytes).await?;
            }
            Storage::Memory => {
                let bytes = to_bytes(&inner.engine)?;
                opfs::write_all_async(&name, &bytes).await?;
            }
            Storage::Opfs if !in_dedicated_worker() => {
                let bytes = to_bytes(&inner.engine)?;
                opfs::write_all_async(&name, &bytes).await?;
            }
            Storage::Opfs => {
                let mut w = TmpWriter::create(&name).await?;
                if let Err(e) = inner.engine.write_to(&mut w) {
                    let err = w.failed.take().unwrap_or_else(|| from_core(e));
                    w.discard().await;
                    return Err(crate::errors::from_dom(
                        err,
                        &format!("saving index \"{name}\" to OPFS"),
                    ));
                }
                let reopen = inner.storage == Storage::Opfs && inner.name.as_deref() == Some(&name);
                if reopen {
                    // The move below needs the old file's handle released.
                    if let Some(Source::Opfs(s)) =
                        inner.engine.store().base.as_ref().map(|b| b.source())
                    {
                        s.file.close();
                    }
                }
                let committed = w.commit().await;
                if reopen {
                    // Reopen whichever version is now in place (the new one, or
                    // the old one if the move failed).
                    let tail = inner.engine.store().tail_len();
                    if tail > 0 && committed.is_err() {
                        // Nothing lost: the engine still holds the tail in memory,
                        // but the base handle is closed; reopen it below.
                    }
                    let engine = open_opfs(&name, inner.cache_bytes, false).await?;
                    if committed.is_ok() || tail == 0 {
                        inner.engine = engine;
                    }
                }
                committed?;
            }
        }
        if inner.storage == Storage::Memory {
            inner.name = Some(name);
        }
        Ok(())
    }
}

async fn ensure_end(s: &mut ByteStream) -> JsResult<()> {
    if s.at_end().await? {
        Ok(())
    } else {
        Err(corrupt("unexpected bytes after the end of the index"))
    }
}

fn write_tmp(w: &mut TmpWriter, bytes: &[u8]) -> JsResult<()> {
    use std::io::Write;
    w.write_all(bytes).map_err(|e| {
        w.failed
            .take()
            .unwrap_or_else(|| js_error(name::STORAGE, e.to_string()))
    })
}

fn to_bytes(engine: &Engine) -> JsResult<Vec<u8>> {
    let mut out = Vec::new();
    engine.write_to(&mut out).map_err(from_core)?;
    Ok(out)
}

#[wasm_bindgen]
impl Index {
    /// A new, empty in-memory HNSW index of `dim`-dimensional vectors.
    /// Options: `metric` ("l2", "cosine" or "ip"; default "cosine"), `m`,
    /// `efConstruction`, `seed`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        dim: JsValue,
        #[wasm_bindgen(unchecked_param_type = "IndexOptions")] options: JsValue,
    ) -> JsResult<Index> {
        let dim = crate::js::to_usize(&dim, "dim")?;
        let metric = metric_from(&options, Metric::Cosine)?;
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
        let store = Store::memory(MemoryStore::new(dim).map_err(from_core)?);
        Ok(Index::memory(Engine::Hnsw(
            b.build_with_store(store).map_err(from_core)?,
        )))
    }

    /// A new, empty in-memory IVF-Flat index whose coarse quantiser is
    /// trained on `training` (vectors back to back). Options: `metric`
    /// (default "cosine"), `nlist` (default 4·√n), `iters`, `seed`.
    #[wasm_bindgen(js_name = trainIvf)]
    pub fn train_ivf(
        dim: JsValue,
        training: Vec<f32>,
        #[wasm_bindgen(unchecked_param_type = "IvfOptions")] options: JsValue,
    ) -> JsResult<Index> {
        let dim = crate::js::to_usize(&dim, "dim")?;
        if dim == 0 || !training.len().is_multiple_of(dim) {
            return Err(from_core(vectrove_core::Error::DimensionMismatch {
                expected: dim,
                got: training.len() % dim.max(1),
            }));
        }
        let n = training.len() / dim;
        let metric = metric_from(&options, Metric::Cosine)?;
        let mut params = IvfParams {
            nlist: ((n as f64).sqrt() * 4.0)
                .round()
                .clamp(1.0, n.max(1) as f64) as usize,
            ..IvfParams::default()
        };
        if let Some(nlist) = opt_usize(&options, "nlist")? {
            params.nlist = nlist;
        }
        if let Some(iters) = opt_usize(&options, "iters")? {
            params.iters = iters;
        }
        if let Some(seed) = opt_u64(&options, "seed")? {
            params.seed = seed;
        }
        let data = MemoryStore::from_flat(dim, &training).map_err(from_core)?;
        // What `Ivf::train` does, on the store every JS index uses.
        let quantizer = vectrove_core::KMeans::fit(&params.kmeans(metric), &data, |_| true)
            .map_err(from_core)?;
        let store = Store::memory(MemoryStore::new(dim).map_err(from_core)?);
        let ivf = Ivf::with_quantizer(quantizer, params, store).map_err(from_core)?;
        Ok(Index::memory(Engine::Ivf(ivf)))
    }

    /// An in-memory index from the bytes of an index file (the native CLI's
    /// output, or [`toBytes`](Self::to_bytes)). Every section is checked.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> JsResult<Index> {
        Ok(Index::memory(engine_from_bytes(bytes)?))
    }

    /// The index as file bytes, the same format the native crate writes.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> JsResult<Vec<u8>> {
        self.with(|i| to_bytes(&i.engine))
    }

    /// Add one vector under `id` (an integer up to 2^53 - 1, or a BigInt).
    pub fn add(&self, id: JsValue, vector: &[f32]) -> JsResult<()> {
        let id = to_id(&id, "id")?;
        self.with_mut(|i| {
            match &mut i.engine {
                Engine::Hnsw(h) => h.insert(id, vector),
                Engine::Ivf(x) => x.insert(id, vector),
            }
            .map_err(from_core)
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
        vectors: Vec<f32>,
        #[wasm_bindgen(unchecked_param_type = "AddManyOptions")] options: JsValue,
    ) -> Promise {
        let rc = self.inner.clone();
        future_to_promise(async move {
            let ids = to_ids(&ids)?;
            let progress = opt_function(&options, "onProgress")?;
            let signal = opt(&options, "signal")?;
            let total = ids.len();
            if aborted(&signal) {
                return Err(abort_error(0, total));
            }
            let mut guard = rc.try_borrow_mut().map_err(|_| busy())?;
            let inner = guard.as_mut().ok_or_else(closed)?;
            let dim = inner.engine.store().dim();
            match &mut inner.engine {
                Engine::Hnsw(h) => h.check_batch(&ids, &vectors).map_err(from_core)?,
                Engine::Ivf(x) => {
                    x.insert_many(&ids, &vectors).map_err(from_core)?;
                    if let Some(f) = &progress {
                        f.call2(
                            &JsValue::NULL,
                            &(total as f64).into(),
                            &(total as f64).into(),
                        )?;
                    }
                    return Ok(JsValue::UNDEFINED);
                }
            }
            let Engine::Hnsw(h) = &mut inner.engine else {
                unreachable!()
            };
            let mut done = 0;
            let mut slice = 16usize;
            while done < total {
                let n = slice.min(total - done);
                let t0 = now_ms();
                h.insert_many(&ids[done..done + n], &vectors[done * dim..(done + n) * dim])
                    .map_err(from_core)?;
                done += n;
                // Aim for slices of about 50 ms, growing at most twofold
                // at a time so that one quick slice cannot overshoot.
                let took = (now_ms() - t0).max(0.01);
                let aim = (n as f64 * 50.0 / took) as usize;
                slice = aim.clamp(1, (2 * n).min(4096));
                if let Some(f) = &progress {
                    f.call2(
                        &JsValue::NULL,
                        &(done as f64).into(),
                        &(total as f64).into(),
                    )?;
                }
                if done < total {
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
    /// `nprobe` (IVF lists to scan, default 8), `filter(id) => boolean`.
    /// Works on every storage: an IndexedDB-backed index fetches the
    /// vectors each search step lacks in one transaction.
    #[wasm_bindgen(unchecked_return_type = "Promise<SearchHit[]>")]
    pub fn search(
        &self,
        query: Vec<f32>,
        k: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SearchOptions")] options: JsValue,
    ) -> Promise {
        let rc = self.inner.clone();
        future_to_promise(async move {
            let a = SearchArgs::parse(&k, &options)?;
            let filter = JsFilter::new(&options)?;
            let guard = rc.try_borrow().map_err(|_| busy())?;
            let inner = guard.as_ref().ok_or_else(closed)?;
            let result = match (&inner.engine, &inner.idb) {
                (Engine::Hnsw(h), Some(link)) => {
                    let found = search_idb(h, link, &query, &a, &filter).await;
                    drop(guard);
                    let (found, fetches) = found.map_err(from_core)?;
                    if let Some(i) = rc.borrow_mut().as_mut() {
                        i.fetches += fetches;
                    }
                    hits(&found)
                }
                _ => search_sync(inner, &query, &a, &filter)?,
            };
            filter.finish()?;
            Ok(result)
        })
    }

    /// Like [`search`](Self::search), synchronously: for indexes in memory
    /// or OPFS. An IndexedDB-backed index throws `NotResidentError` when a
    /// vector it needs is not in its cache.
    #[wasm_bindgen(js_name = searchSync, unchecked_return_type = "SearchHit[]")]
    pub fn search_sync(
        &self,
        query: &[f32],
        k: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SearchOptions")] options: JsValue,
    ) -> JsResult<JsValue> {
        let a = SearchArgs::parse(&k, &options)?;
        let filter = JsFilter::new(&options)?;
        let out = self.with(|i| search_sync(i, query, &a, &filter))?;
        filter.finish()?;
        Ok(out)
    }

    /// Delete `id`; returns whether it was there. Searches never return a
    /// deleted id.
    pub fn delete(&self, id: JsValue) -> JsResult<bool> {
        let id = to_id(&id, "id")?;
        self.with_mut(|i| {
            let r = match &mut i.engine {
                Engine::Hnsw(h) => h.delete(id),
                Engine::Ivf(x) => x.delete(id),
            };
            match r {
                Ok(()) => Ok(true),
                Err(vectrove_core::Error::UnknownId { .. }) => Ok(false),
                Err(e) => Err(from_core(e)),
            }
        })
    }

    /// Whether `id` is in the index (and not deleted).
    pub fn contains(&self, id: JsValue) -> JsResult<bool> {
        let id = to_id(&id, "id")?;
        self.with(|i| {
            Ok(match &i.engine {
                Engine::Hnsw(h) => h.contains(id),
                Engine::Ivf(x) => x.contains(id),
            })
        })
    }

    /// The stored vector of `id` (normalised for cosine), or `undefined`.
    pub fn get(&self, id: JsValue) -> JsResult<Option<Float32Array>> {
        let id = to_id(&id, "id")?;
        self.with(|i| {
            let r = match &i.engine {
                Engine::Hnsw(h) => h.get(id),
                Engine::Ivf(x) => x.get(id),
            };
            match r {
                Ok(v) => Ok(Some(Float32Array::from(&v[..]))),
                Err(vectrove_core::Error::UnknownId { .. }) => Ok(None),
                Err(e) => Err(from_core(e)),
            }
        })
    }

    /// Number of vectors (deleted ones excluded).
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> JsResult<usize> {
        self.with(|i| {
            Ok(match &i.engine {
                Engine::Hnsw(h) => h.len(),
                Engine::Ivf(x) => x.len(),
            })
        })
    }

    /// Elements per vector.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> JsResult<usize> {
        self.with(|i| Ok(i.engine.store().dim()))
    }

    /// "l2", "cosine" or "ip".
    #[wasm_bindgen(getter)]
    pub fn metric(&self) -> JsResult<String> {
        self.with(|i| {
            Ok(match &i.engine {
                Engine::Hnsw(h) => h.metric(),
                Engine::Ivf(x) => x.metric(),
            }
            .to_string())
        })
    }

    /// "hnsw" or "ivf".
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> JsResult<String> {
        self.with(|i| {
            Ok(match &i.engine {
                Engine::Hnsw(_) => "hnsw",
                Engine::Ivf(_) => "ivf",
            }
            .to_string())
        })
    }

    /// "memory", "opfs" or "indexeddb".
    #[wasm_bindgen(getter)]
    pub fn storage(&self) -> JsResult<String> {
        self.with(|i| Ok(i.storage.as_str().to_string()))
    }

    /// The name the index was opened or saved under.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> JsResult<Option<String>> {
        self.with(|i| Ok(i.name.clone()))
    }

    /// Counters since the index was opened: `fetches` (asynchronous fetch
    /// rounds), `transactions` (IndexedDB read transactions), `cacheHits`,
    /// `cacheMisses`, `cacheBytes` (held now) and `cacheBudget`.
    #[wasm_bindgen(unchecked_return_type = "IndexStats")]
    pub fn stats(&self) -> JsResult<JsValue> {
        self.with(|i| {
            let o = Object::new();
            let (hits, misses, bytes, budget) = match &i.engine.store().base {
                Some(b) => {
                    let s = b.stats();
                    (s.hits, s.misses, s.resident_bytes, b.cache().budget())
                }
                None => (0, 0, 0, 0),
            };
            set(&o, "fetches", i.fetches as f64);
            let tx = i.idb.as_ref().map_or(0, |l| l.transactions.get());
            set(&o, "transactions", tx as f64);
            set(&o, "cacheHits", hits as f64);
            set(&o, "cacheMisses", misses as f64);
            set(&o, "cacheBytes", bytes as f64);
            set(&o, "cacheBudget", budget as f64);
            Ok(o.into())
        })
    }

    /// Open index `name`. Options: `storage` ("opfs": the OPFS file read
    /// lazily, dedicated workers only; "memory": the OPFS file read whole;
    /// "indexeddb": pages fetched lazily), `cacheBytes` (the lazy stores'
    /// budget, default 32 MiB), `verify` (check every vector's checksum on
    /// open; default false for lazy stores).
    #[wasm_bindgen(unchecked_return_type = "Promise<Index>")]
    pub fn open(
        name: String,
        #[wasm_bindgen(unchecked_param_type = "OpenOptions")] options: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            let storage = Storage::parse(&options)?.unwrap_or(Storage::Opfs);
            let cache_bytes = opt_usize(&options, "cacheBytes")?.unwrap_or(DEFAULT_CACHE_BYTES);
            let verify = opt(&options, "verify")?.is_some_and(|v| v.is_truthy());
            Ok(Index::open_inner(name, storage, cache_bytes, verify)
                .await?
                .into())
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
            let storage = Storage::parse(&options)?.unwrap_or(Storage::Opfs);
            let cache_bytes = opt_usize(&options, "cacheBytes")?.unwrap_or(DEFAULT_CACHE_BYTES);
            let progress = opt_function(&options, "onProgress")?;
            Ok(
                Index::import_inner(name, source, storage, cache_bytes, progress)
                    .await?
                    .into(),
            )
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
        future_to_promise(async move {
            Index::save_inner(rc, name, options).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Whether an index `name` is stored (`storage` "indexeddb", or the
    /// OPFS file otherwise).
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn exists(
        name: String,
        #[wasm_bindgen(unchecked_param_type = "SaveOptions")] options: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            check_name(&name)?;
            Ok(match Storage::parse(&options)? {
                Some(Storage::Idb) => {
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

    /// Delete the stored index `name`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn remove(
        name: String,
        #[wasm_bindgen(unchecked_param_type = "SaveOptions")] options: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            check_name(&name)?;
            match Storage::parse(&options)? {
                Some(Storage::Idb) => idb::remove(&idb::open_db().await?, &name).await?,
                _ => opfs::remove(&name).await?,
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Release the index: an OPFS-backed index lets go of its file lock.
    /// Later calls on this object throw.
    pub fn close(&self) -> JsResult<()> {
        let mut guard = self.inner.try_borrow_mut().map_err(|_| busy())?;
        guard.take();
        Ok(())
    }
}
