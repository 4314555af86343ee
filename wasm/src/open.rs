//! Opening and importing indexes: the browser's byte sources and stores
//! around the core's one reading sequence. The core reads and checks the
//! metadata of either kind ([`format::MetaReader`], [`IndexFile`]); this
//! module only chooses where the bytes come from and which store holds the
//! vectors.

use std::cell::Cell;
use std::sync::Arc;

use js_sys::Function;
use vectrove_core::format::{self, Header, MetaReader};
use vectrove_core::store::PagedStore;
use vectrove_core::{IndexFile, PageCache};
use wasm_bindgen::prelude::*;

use crate::errors::{corrupt, from_core, js_error, name, unsupported};
use crate::idb::{self, IdbLink, IdbSource, IdbWriter};
use crate::js::in_dedicated_worker;
use crate::nodefs::{self, FileWriter, NodeFile};
use crate::opfs::{self, OpfsSource, SyncFile, TmpWriter};
use crate::options::{JsResult, Storage, check_name, check_path};
use crate::sink::Sink;
use crate::source::{ByteStream, grow};
use crate::state::{Engine, Inner};
use crate::store::{Source, Store};

/// The smallest page of an OPFS-backed store. Pages are otherwise one
/// vector: a graph walk reads scattered vectors, so a second vector in a
/// page is almost always cache space wasted, and OPFS reads have no
/// alignment to respect.
const OPFS_PAGE_BYTES: usize = 1024;

/// Decode (and so check) an index's metadata; its vectors come after.
fn decode(header: Header, meta: &[u8]) -> JsResult<IndexFile> {
    header.check_elem::<f32>().map_err(from_core)?;
    IndexFile::decode(header, meta).map_err(from_core)
}

/// The lazily read vectors of `file` in `source`, through a page cache of
/// `budget` bytes in pages of `page` bytes.
pub(crate) fn paged(
    source: Source,
    file: &IndexFile,
    page: usize,
    budget: usize,
) -> JsResult<PagedStore<Source, f32>> {
    let cache = Arc::new(PageCache::new(page, budget).map_err(from_core)?);
    PagedStore::with_cache(source, file.header().vectors(), cache).map_err(from_core)
}

/// An index from a whole file in memory.
pub(crate) fn engine_from_bytes(bytes: &[u8]) -> JsResult<Engine> {
    IndexFile::from_bytes::<Store>(bytes).map_err(from_core)
}

pub(crate) fn opfs_page_bytes(stride: usize, budget: usize) -> usize {
    OPFS_PAGE_BYTES.max(stride).min(budget.max(stride))
}

/// Open index `name` from OPFS, its vectors read lazily.
pub(crate) async fn open_opfs(name: &str, cache_bytes: usize, verify: bool) -> JsResult<Engine> {
    if !in_dedicated_worker() {
        return Err(unsupported(
            "storage \"opfs\" reads through a FileSystemSyncAccessHandle, which browsers offer \
             only in dedicated workers: open the index in a worker (see createIndexWorker), or \
             use storage \"memory\" or \"indexeddb\"",
        ));
    }
    let source = Source::Opfs(OpfsSource {
        file: SyncFile::open_index(name).await?,
    });
    lazy_index(source, cache_bytes, verify)
}

/// An index whose vectors are read lazily from a file that reads at once
/// (OPFS, Node's file system): the metadata now, the vectors in pages of
/// about one vector through a cache of `cache_bytes`.
fn lazy_index(source: Source, cache_bytes: usize, verify: bool) -> JsResult<Engine> {
    let (header, meta) = format::read_meta(&source).map_err(from_core)?;
    let file = decode(header, &meta)?;
    drop(meta);
    let h = file.header();
    if verify {
        format::verify_vectors(&source, h, file.vector_checksums()).map_err(from_core)?;
    }
    let page = opfs_page_bytes(h.vector_stride(), cache_bytes);
    let store = Store::over(paged(source, &file, page, cache_bytes)?);
    file.into_index(store.map_err(from_core)?)
        .map_err(from_core)
}

/// Open the index file at `path` under Node, its vectors read lazily
/// through a file descriptor.
pub(crate) async fn open_file(path: &str, cache_bytes: usize, verify: bool) -> JsResult<Engine> {
    nodefs::ready().await?;
    lazy_index(Source::File(NodeFile::open(path)?), cache_bytes, verify)
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
    // The record holds the whole metadata, so the header parses at once.
    let header = Header::parse(&record.head, record.file_len).map_err(from_core)?;
    if header.meta_len != record.head.len() as u64 {
        return Err(corrupt(
            "the IndexedDB record's head does not end where the vectors start",
        ));
    }
    let page_bytes = record.page_bytes;
    let n_pages = record.crcs.len();
    let file = decode(header, &record.head)?;
    let budget = cache_bytes.max(page_bytes);
    let source = Source::Idb(IdbSource {
        len: record.file_len,
    });
    let store = paged(source, &file, page_bytes, budget)?;
    if store.page_count() != n_pages as u64 {
        return Err(corrupt(format!(
            "{} page checksums for {} pages",
            n_pages,
            store.page_count()
        )));
    }
    let store = Store::over(store).map_err(from_core)?;
    let engine = file.into_index(store).map_err(from_core)?;
    let link = IdbLink {
        db,
        name: name.to_string(),
        generation: record.generation,
        crcs: record.crcs,
        transactions: Cell::new(0),
    };
    Ok((engine, link))
}

/// Open the stored index `name` with its vectors in `storage` (for
/// "http", `name` is the file's URL).
pub(crate) async fn open(
    name: String,
    storage: Storage,
    cache_bytes: usize,
    verify: bool,
    timeout_ms: f64,
    persist: bool,
) -> JsResult<Inner> {
    let (mut idb, mut http) = (None, None);
    let engine = match storage {
        Storage::Http => {
            let (e, link) = crate::http::open(&name, cache_bytes, timeout_ms, persist).await?;
            http = Some(link);
            e
        }
        _ if storage.is_file_path() => {
            check_path(&name)?;
            if storage == Storage::File {
                open_file(&name, cache_bytes, verify).await?
            } else {
                nodefs::ready().await?;
                engine_from_bytes(&nodefs::read_all(&name)?)?
            }
        }
        _ => {
            check_name(&name)?;
            match storage {
                Storage::Memory => engine_from_bytes(&opfs::read_all(&name).await?)?,
                Storage::Opfs => open_opfs(&name, cache_bytes, verify).await?,
                _ => {
                    let (e, link) = open_idb(&name, cache_bytes).await?;
                    idb = Some(link);
                    e
                }
            }
        }
    };
    Ok(Inner {
        engine,
        storage,
        name: Some(name),
        cache_bytes,
        idb,
        http,
        fetches: Cell::new(0),
    })
}

/// Store the index file `source` (any of the kinds [`ByteStream`] reads)
/// under `name`, then open it.
pub(crate) async fn import(
    name: String,
    source: JsValue,
    storage: Storage,
    cache_bytes: usize,
    progress: Option<Function>,
) -> JsResult<Inner> {
    if storage.is_file_path() {
        check_path(&name)?;
        nodefs::ready().await?;
    } else {
        check_name(&name)?;
    }
    if storage == Storage::Http {
        return Err(unsupported(
            "storage \"http\" reads an index where it is published and stores nothing: open it \
             with Index.open(url, { storage: \"http\" })",
        ));
    }
    if storage == Storage::Opfs && !in_dedicated_worker() {
        // Fail before reading anything.
        return Err(unsupported(
            "storage \"opfs\" needs a dedicated worker (see createIndexWorker); use \"memory\" or \"indexeddb\" here",
        ));
    }
    let mut s = ByteStream::new(source, progress).await?;
    let result = import_stream(&name, &mut s, storage, cache_bytes).await;
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
) -> JsResult<Inner> {
    let truncated = || corrupt("truncated: the data ends inside the index");
    // The stream's length, when it announces one, must be the header's.
    let mut reader = MetaReader::new(s.total);
    while let Some(r) = reader.wants() {
        let piece = s.read_exact(r.end - r.start).await?.ok_or_else(truncated)?;
        reader.feed(&piece).map_err(from_core)?;
    }
    let (header, meta) = reader.finish().map_err(from_core)?;
    // Decode (and so check) everything but the vectors before storing a
    // byte; the vectors are checked block by block as they arrive.
    header.check_elem::<f32>().map_err(from_core)?;
    let sums = IndexFile::decode(header.clone(), &meta)
        .map_err(from_core)?
        .vector_checksums()
        .clone();
    let mut blocks = (0..sums.blocks()).map(|i| (i, sums.block_range(i)));
    let mut next_block = async |s: &mut ByteStream| -> JsResult<Option<Vec<u8>>> {
        let Some((i, r)) = blocks.next() else {
            return Ok(None);
        };
        let block = s.read_exact(r.end - r.start).await?.ok_or_else(truncated)?;
        sums.verify_block(i, &block).map_err(from_core)?;
        Ok(Some(block))
    };
    match storage {
        Storage::Memory | Storage::File if storage.is_file_path() => {
            let mut w = FileWriter::create(name)?;
            w.write_all_js(&meta)?;
            while let Some(b) = next_block(s).await? {
                w.write_all_js(&b)?;
            }
            ensure_end(s).await?;
            w.commit()?;
            open(name.to_string(), storage, cache_bytes, false, 0.0, false).await
        }
        Storage::Memory => {
            // Grown block by block: the header's claim is not trusted
            // with an allocation before the bytes are there.
            let mut bytes = meta;
            while let Some(b) = next_block(s).await? {
                grow(&mut bytes, b.len())?;
                bytes.extend_from_slice(&b);
            }
            ensure_end(s).await?;
            let engine = engine_from_bytes(&bytes)?;
            opfs::write_all_async(name, &bytes).await?;
            let mut inner = Inner::memory(engine);
            inner.name = Some(name.to_string());
            Ok(inner)
        }
        _ => {
            let mut sink = if storage == Storage::Opfs {
                Sink::Opfs(TmpWriter::create(name).await?)
            } else {
                let page_bytes = idb::DEFAULT_PAGE_BYTES.max(header.vector_stride());
                let lens = idb::page_lens(&header, page_bytes)?;
                Sink::Idb(
                    IdbWriter::start(name, meta.clone(), header.file_len, page_bytes, lens).await?,
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
            open(name.to_string(), storage, cache_bytes, false, 0.0, false).await
        }
    }
}

async fn ensure_end(s: &mut ByteStream) -> JsResult<()> {
    if s.at_end().await? {
        Ok(())
    } else {
        Err(corrupt("unexpected bytes after the end of the index"))
    }
}
