//! IndexedDB: an index as one record (the file's bytes before the vectors,
//! plus the page layout and a checksum per page) and its vectors as one
//! record per page of the page cache, keyed `[name, generation, page]`.
//!
//! Reads are batched: every page a search step lacks is fetched with one
//! read transaction. Writes are atomic: a new version's pages go in under a
//! new generation, and one final transaction points the index record at it
//! and deletes the old generation; a failure before that (quota, a closed
//! tab) leaves the previous version as it was.

use std::cell::Cell;
use std::sync::Arc;

use js_sys::{Array, Reflect, Uint8Array};
use vectrove_core::format::{Header, checksum};
use vectrove_core::store::{ByteSource, PagedStore, SourceRead};
use vectrove_core::{Error, PageCache, Result};
use wasm_bindgen::prelude::*;

use crate::errors::corrupt;
use crate::errors::{from_core, from_dom, js_error, name};
use crate::js::await_value;
use crate::sink::NameLock;

#[wasm_bindgen(inline_js = r#"
function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = (ev) => { ev.preventDefault(); reject(r.error); };
  });
}
function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = (ev) => { ev.preventDefault(); };
    tx.onabort = () => reject(tx.error || new DOMException("the transaction was aborted", "AbortError"));
  });
}
export function idbOpen(dbName) {
  if (typeof indexedDB === "undefined") {
    return Promise.reject(new DOMException("IndexedDB is not available here", "NotSupportedError"));
  }
  const r = indexedDB.open(dbName, 1);
  r.onupgradeneeded = () => {
    const db = r.result;
    if (!db.objectStoreNames.contains("indexes")) db.createObjectStore("indexes");
    if (!db.objectStoreNames.contains("chunks")) db.createObjectStore("chunks");
  };
  return req(r).then((db) => { db.onversionchange = () => db.close(); return db; });
}
export function idbGetRecord(db, name) {
  lock("idb/" + name, false).then((release) => release && tidy(db, name).catch(() => {}).finally(release));
  const tx = db.transaction("indexes", "readonly");
  return req(tx.objectStore("indexes").get(name));
}
export function idbGetChunks(db, name, gen, pages) {
  const tx = db.transaction("chunks", "readonly");
  const st = tx.objectStore("chunks");
  return Promise.all(Array.from(pages, (p) => req(st.get([name, gen, p])))).then((got) => {
    if (!got.includes(undefined)) return got;
    // Missing pages: damage, unless a later save replaced the version this index reads.
    const tx = db.transaction("indexes", "readonly");
    return req(tx.objectStore("indexes").get(name)).then((r) => {
      if (genOf(r) === gen) return got;
      throw new Error(`index "${name}" was replaced or removed since it was opened (by a later save, import or removal); open it again`);
    });
  });
}
export function idbPutChunks(db, name, gen, first, chunks) {
  const tx = db.transaction("chunks", "readwrite");
  const st = tx.objectStore("chunks");
  for (let i = 0; i < chunks.length; i++) st.put(chunks[i], [name, gen, first + i]);
  return done(tx);
}
function generation(name, gen) {
  return IDBKeyRange.bound([name, gen], [name, gen, []]);
}
export function idbDropGeneration(db, name, gen) {
  const tx = db.transaction("chunks", "readwrite");
  tx.objectStore("chunks").delete(generation(name, gen));
  return done(tx);
}
function lock(key, wait) {
  const locks = globalThis.navigator && navigator.locks;
  if (!locks) return Promise.resolve(undefined);
  return new Promise((granted) => {
    locks.request("vectrove:" + key, wait ? {} : { ifAvailable: true },
      (l) => l ? new Promise((release) => granted(release)) : granted(null))
      .catch(() => granted(undefined));
  });
}
function dropOthers(st, name, gen) {
  st.delete(IDBKeyRange.bound([name], [name, gen], false, true));
  st.delete(IDBKeyRange.bound([name, gen, []], [name, []], true, true));
}
function genOf(r) {
  return r === null || r === undefined ? undefined : r.gen;
}
// Deletes the pages of `name` its record does not point to; only for a holder of the
// name's lock (others' pages would be a live writer's). Resolves to the record's gen.
function tidy(db, name) {
  const tx = db.transaction(["indexes", "chunks"], "readwrite");
  const st = tx.objectStore("chunks");
  const get = tx.objectStore("indexes").get(name);
  get.onsuccess = () => {
    const gen = genOf(get.result);
    if (typeof gen === "number") dropOthers(st, name, gen);
    else if (get.result === undefined) st.delete(IDBKeyRange.bound([name], [name, []]));
  };
  return done(tx).then(() => genOf(get.result));
}
export async function idbBegin(db, name) {
  const release = await lock("idb/" + name, true);
  try {
    const old = await tidy(db, name);
    let gen;
    do gen = Math.floor(Math.random() * 2 ** 53); while (gen === old || gen === 0);
    return [release, old, gen];
  } catch (e) {
    if (release) release();
    throw e;
  }
}
export function idbCommit(db, name, oldGen, gen, head, fileLen, pageBytes, crcs) {
  const record = { format: 1, gen, head: head.slice().buffer, fileLen, pageBytes, crcs: crcs.slice().buffer };
  const pages = crcs.length;
  const tx = db.transaction(["indexes", "chunks"], "readwrite");
  const ix = tx.objectStore("indexes");
  const st = tx.objectStore("chunks");
  const get = ix.get(name);
  const count = st.count(generation(name, record.gen));
  let clash = false;
  count.onsuccess = () => {
    if (genOf(get.result) !== oldGen || count.result !== pages) {
      clash = true;
      tx.abort();
      return;
    }
    ix.put(record, name);
    dropOthers(st, name, record.gen);
  };
  return done(tx).catch((e) => {
    if (!clash) throw e;
    const err = new Error(`saving index "${name}" to IndexedDB: another tab or worker saved or removed it while this save ran; this save was dropped and the stored index is theirs`);
    err.name = "BusyError";
    throw err;
  });
}
export async function idbRemove(db, name) {
  const release = await lock("idb/" + name, true);
  try {
    const tx = db.transaction(["indexes", "chunks"], "readwrite");
    tx.objectStore("indexes").delete(name);
    tx.objectStore("chunks").delete(IDBKeyRange.bound([name], [name, []]));
    await done(tx);
  } finally {
    if (release) release();
  }
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = idbOpen)]
    fn idb_open(db_name: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = idbGetRecord)]
    fn idb_get_record(db: &JsValue, name: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = idbGetChunks)]
    pub(crate) fn idb_get_chunks(
        db: &JsValue,
        name: &str,
        generation: f64,
        pages: &[f64],
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = idbPutChunks)]
    pub(crate) fn idb_put_chunks(
        db: &JsValue,
        name: &str,
        generation: f64,
        first: f64,
        chunks: &Array,
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = idbDropGeneration)]
    fn idb_drop_generation(db: &JsValue, name: &str, generation: f64) -> js_sys::Promise;
    #[wasm_bindgen(js_name = idbBegin)]
    fn idb_begin(db: &JsValue, name: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = idbCommit)]
    #[allow(clippy::too_many_arguments)]
    fn idb_commit(
        db: &JsValue,
        name: &str,
        old_gen: &JsValue,
        generation: f64,
        head: &[u8],
        file_len: f64,
        page_bytes: f64,
        crcs: &[u32],
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = idbRemove)]
    fn idb_remove(db: &JsValue, name: &str) -> js_sys::Promise;
}

/// The database every index lives in.
const DB_NAME: &str = "vectrove";

/// Default bytes per page (and so per record), raised to one vector when
/// vectors are larger: a search reads scattered vectors, so every other
/// vector of a page is most likely cache space and transfer wasted.
pub(crate) const DEFAULT_PAGE_BYTES: usize = 2 << 10;

/// Pages written per transaction when storing an index.
const PUT_BATCH_BYTES: usize = 4 << 20;

pub(crate) async fn open_db() -> Result<JsValue, JsValue> {
    await_value(idb_open(DB_NAME).into())
        .await
        .map_err(|e| from_dom(e, "opening IndexedDB"))
}

/// The stored description of an index.
pub(crate) struct Record {
    pub(crate) generation: f64,
    pub(crate) head: Vec<u8>,
    pub(crate) file_len: u64,
    pub(crate) page_bytes: usize,
    pub(crate) crcs: Vec<u32>,
}

impl Record {
    fn from_js(v: &JsValue, name: &str) -> Result<Record, JsValue> {
        let bad = |what: &str| {
            js_error(
                self::name::CORRUPT,
                format!("not a valid vectrove index: IndexedDB record of \"{name}\": {what}"),
            )
        };
        let get = |k: &str| Reflect::get(v, &k.into()).unwrap_or(JsValue::UNDEFINED);
        let num = |k: &str| get(k).as_f64().filter(|x| *x >= 0.0 && x.fract() == 0.0);
        let bytes = |k: &str| -> Option<Vec<u8>> {
            let b = get(k);
            b.is_instance_of::<js_sys::ArrayBuffer>()
                .then(|| Uint8Array::new(&b).to_vec())
        };
        if num("format") != Some(1.0) {
            return Err(bad("unknown record format"));
        }
        let crc_bytes = bytes("crcs").ok_or_else(|| bad("no page checksums"))?;
        if crc_bytes.len() % 4 != 0 {
            return Err(bad("page checksums are cut short"));
        }
        Ok(Record {
            generation: num("gen").ok_or_else(|| bad("no generation"))?,
            head: bytes("head").ok_or_else(|| bad("no head bytes"))?,
            file_len: num("fileLen").ok_or_else(|| bad("no file length"))? as u64,
            page_bytes: num("pageBytes")
                .filter(|&x| x >= 1.0 && x <= (1u64 << 30) as f64)
                .ok_or_else(|| bad("bad page size"))? as usize,
            crcs: crc_bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        })
    }
}

/// The record of index `name`, if there is one.
pub(crate) async fn get_record(db: &JsValue, name: &str) -> Result<Option<Record>, JsValue> {
    let v = await_value(idb_get_record(db, name).into())
        .await
        .map_err(|e| from_dom(e, &format!("reading index \"{name}\" from IndexedDB")))?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    Record::from_js(&v, name).map(Some)
}

pub(crate) async fn remove(db: &JsValue, name: &str) -> Result<(), JsValue> {
    await_value(idb_remove(db, name).into())
        .await
        .map_err(|e| from_dom(e, &format!("removing index \"{name}\" from IndexedDB")))?;
    Ok(())
}

/// The byte source of an IndexedDB-backed store: it never reads
/// synchronously, so every page the cache lacks is reported missing and
/// fetched by [`IdbLink::fetch`].
pub(crate) struct IdbSource {
    pub(crate) len: u64,
}

impl ByteSource for IdbSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, _offset: u64, _buf: &mut [u8]) -> Result<SourceRead> {
        Ok(SourceRead::Pending)
    }

    fn is_async(&self) -> bool {
        true
    }
}

/// What an open IndexedDB-backed index needs to fetch its pages.
pub(crate) struct IdbLink {
    pub(crate) db: JsValue,
    pub(crate) name: String,
    pub(crate) generation: f64,
    pub(crate) crcs: Vec<u32>,
    /// Read transactions so far.
    pub(crate) transactions: Cell<u64>,
}

impl IdbLink {
    /// Fetch every page `store` needs for `slots` in one transaction, check
    /// each against its checksum and hand it to the cache. Pages for
    /// `ahead` (vectors the next steps will likely read) ride along in the
    /// same transaction, as many as a quarter of the cache allows; they go
    /// into the cache first, so they never push out the pages of `slots`.
    pub(crate) async fn fetch<B: ByteSource>(
        &self,
        store: &PagedStore<B, f32>,
        slots: &[u32],
        ahead: &[u32],
    ) -> Result<()> {
        let needed = store.pages_for(slots);
        if needed.is_empty() {
            return Ok(());
        }
        let page_bytes = store.cache().page_size().max(1);
        let room = (store.cache().budget() / page_bytes / 4).saturating_sub(needed.len());
        let mut requests: Vec<_> = store
            .pages_for(ahead)
            .into_iter()
            .filter(|r| {
                needed
                    .binary_search_by_key(&r.page_no, |n| n.page_no)
                    .is_err()
            })
            .take(room)
            .collect();
        requests.extend(needed);
        let pages: Vec<f64> = requests.iter().map(|r| r.page_no as f64).collect();
        self.transactions.set(self.transactions.get() + 1);
        let got = await_value(idb_get_chunks(&self.db, &self.name, self.generation, &pages).into())
            .await
            .map_err(|e| Error::Storage {
                message: format!(
                    "reading vectors of index \"{}\" from IndexedDB: {}",
                    self.name,
                    describe_error(&e)
                ),
            })?;
        let got: Array = got.unchecked_into();
        for (i, r) in requests.iter().enumerate() {
            let v = got.get(i as u32);
            let bytes = v
                .is_instance_of::<js_sys::ArrayBuffer>()
                .then(|| Uint8Array::new(&v).to_vec());
            let ok = bytes.as_ref().is_some_and(|b| {
                b.len() == r.len
                    && self
                        .crcs
                        .get(r.page_no as usize)
                        .is_some_and(|&c| checksum(b) == c)
            });
            match bytes {
                Some(b) if ok => store.fill_page(r.page_no, &b)?,
                _ => {
                    return Err(Error::Corrupt {
                        section: "vectors",
                        reason: format!(
                            "page {} of index \"{}\" in IndexedDB is missing or damaged",
                            r.page_no, self.name
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn describe_error(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| {
            format!(
                "{}: {}",
                e.name().as_string().unwrap_or_default(),
                e.message().as_string().unwrap_or_default()
            )
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Writes a new generation of index `name`: feed it the file's bytes in
/// order ([`head`](Self::head), then vector bytes), then
/// [`commit`](Self::commit). It holds the name's Web Lock until it is
/// dropped, and its generation number is random, so no other writer ever
/// writes (or deletes) its pages. Dropping it without committing leaves the
/// previous version; [`discard`](Self::discard) also deletes the pages
/// written so far.
pub(crate) struct IdbWriter {
    db: JsValue,
    name: String,
    /// The generation of the record this version replaces, as read when
    /// the writer started (`undefined` when there was none).
    old_gen: JsValue,
    generation: f64,
    head: Vec<u8>,
    file_len: u64,
    page_bytes: usize,
    /// Byte length of each page, in order (from the store layout).
    page_lens: Vec<usize>,
    next_page: usize,
    current: Vec<u8>,
    batch: Vec<Vec<u8>>,
    batch_first: usize,
    batch_bytes: usize,
    crcs: Vec<u32>,
    _lock: NameLock,
}

impl IdbWriter {
    /// Start writing `name`, whose file is `file_len` bytes with the
    /// vectors cut into pages of `page_lens` bytes after `head`.
    pub(crate) async fn start(
        name: &str,
        head: Vec<u8>,
        file_len: u64,
        page_bytes: usize,
        page_lens: Vec<usize>,
    ) -> Result<IdbWriter, JsValue> {
        let db = open_db().await?;
        // Waits for the name's lock, then deletes the pages of writers
        // that died, and picks an unused generation.
        let got: Array = await_value(idb_begin(&db, name).into())
            .await
            .map_err(|e| from_dom(e, &format!("saving index \"{name}\" to IndexedDB")))?
            .unchecked_into();
        Ok(IdbWriter {
            db,
            name: name.to_string(),
            old_gen: got.get(1),
            generation: got.get(2).as_f64().unwrap_or(1.0),
            head,
            file_len,
            page_bytes,
            next_page: 0,
            current: Vec::new(),
            batch: Vec::new(),
            batch_first: 0,
            batch_bytes: 0,
            crcs: Vec::with_capacity(page_lens.len()),
            page_lens,
            _lock: NameLock::new(got.get(0)),
        })
    }

    /// Take the next vector bytes of the file.
    pub(crate) async fn write(&mut self, mut bytes: &[u8]) -> Result<(), JsValue> {
        while !bytes.is_empty() {
            let Some(&want) = self.page_lens.get(self.next_page) else {
                return Err(js_error(
                    name::CORRUPT,
                    "not a valid vectrove index: bytes after the last vector",
                ));
            };
            let n = (want - self.current.len()).min(bytes.len());
            self.current.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.current.len() == want {
                let page = std::mem::take(&mut self.current);
                self.crcs.push(checksum(&page));
                self.batch_bytes += page.len();
                if self.batch.is_empty() {
                    self.batch_first = self.next_page;
                }
                self.batch.push(page);
                self.next_page += 1;
                if self.batch_bytes >= PUT_BATCH_BYTES {
                    self.flush().await?;
                }
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), JsValue> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let chunks = Array::new();
        for page in self.batch.drain(..) {
            // A fresh buffer per page: a view into wasm memory would store
            // the whole memory.
            chunks.push(&Uint8Array::from(&page[..]).buffer());
        }
        self.batch_bytes = 0;
        let first = self.batch_first as f64;
        await_value(idb_put_chunks(&self.db, &self.name, self.generation, first, &chunks).into())
            .await
            .map_err(|e| from_dom(e, &format!("saving index \"{}\" to IndexedDB", self.name)))?;
        Ok(())
    }

    /// Store the last pages and switch the index over to them, if the
    /// record is still the one this writer started from and every page is
    /// there; otherwise (and on any failure) delete this writer's pages and
    /// leave what is stored as it is.
    pub(crate) async fn commit(mut self) -> Result<(), JsValue> {
        let committed = self.put_record().await;
        if committed.is_err() {
            self.discard().await;
        }
        committed
    }

    async fn put_record(&mut self) -> Result<(), JsValue> {
        if self.next_page != self.page_lens.len() || !self.current.is_empty() {
            return Err(js_error(
                name::CORRUPT,
                "not a valid vectrove index: the vectors are cut short",
            ));
        }
        self.flush().await?;
        await_value(
            idb_commit(
                &self.db,
                &self.name,
                &self.old_gen,
                self.generation,
                &self.head,
                self.file_len as f64,
                self.page_bytes as f64,
                &self.crcs,
            )
            .into(),
        )
        .await
        .map_err(|e| from_dom(e, &format!("saving index \"{}\" to IndexedDB", self.name)))?;
        Ok(())
    }

    /// Delete the pages written so far (best effort).
    pub(crate) async fn discard(self) {
        let _ =
            await_value(idb_drop_generation(&self.db, &self.name, self.generation).into()).await;
    }
}

/// The page lengths an IndexedDB store of `header`'s vectors uses.
pub(crate) fn page_lens(header: &Header, page_bytes: usize) -> Result<Vec<usize>, JsValue> {
    let source = IdbSource {
        len: header.file_len,
    };
    let budget = page_bytes.max(header.vector_stride());
    let paged: PagedStore<IdbSource, f32> = PagedStore::with_cache(
        source,
        header.vectors(),
        Arc::new(PageCache::new(page_bytes, budget).map_err(from_core)?),
    )
    .map_err(from_core)?;
    let lens: Vec<usize> = (0..paged.page_count())
        .filter_map(|p| paged.page_request(p).map(|r| r.len))
        .collect();
    if lens.iter().map(|&l| l as u64).sum::<u64>() != header.vector_bytes() {
        return Err(corrupt("the vectors do not tile into pages"));
    }
    Ok(lens)
}
