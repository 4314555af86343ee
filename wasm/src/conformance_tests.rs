//! The backend conformance suite of the core, run against the browser
//! stores in a dedicated worker of headless Chromium: the OPFS store on real
//! OPFS files (sync access handles), and the IndexedDB store on pages that
//! went through a real IndexedDB database.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use js_sys::{Array, Uint8Array};
use vectrove_core::conformance::{check_mut, check_read};
use vectrove_core::store::{PagedStore, VectorLayout};
use vectrove_core::{MemoryStore, PageCache, Result};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

use crate::idb::{self, IdbSource};
use crate::js::await_value;
use crate::opfs::{self, OpfsSource, SyncFile};
use crate::store::{Source, Store};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// Vectors start here in the test files, after junk a header would hold.
const OFFSET: u64 = 4096;
/// A small cache, so the suite's reads run through many evictions.
const CACHE: usize = 64 << 10;

fn le_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|x| x.to_le_bytes()).collect()
}

async fn opfs_files(n: usize, prefix: &str) -> Vec<SyncFile> {
    let dir = opfs::dir().await.expect("OPFS");
    let mut files = Vec::new();
    for i in 0..n {
        files.push(
            SyncFile::open(&dir, &format!("{prefix}-{i}.bin"), true)
                .await
                .expect("a sync access handle"),
        );
    }
    files
}

fn opfs_store(files: &RefCell<Vec<SyncFile>>, dim: usize, data: &[f32]) -> Result<Store> {
    let mut file = files
        .borrow_mut()
        .pop()
        .expect("enough files for the suite");
    let fail = |e: wasm_bindgen::JsValue| vectrove_core::Error::Storage {
        message: format!("{e:?}"),
    };
    file.truncate(0).map_err(fail)?;
    file.write_at(0, &vec![0xA5; OFFSET as usize])
        .map_err(fail)?;
    file.write_at(OFFSET, &le_bytes(data)).map_err(fail)?;
    let n = data.len().checked_div(dim).unwrap_or(0);
    let layout = VectorLayout::new(dim, n).with_offset(OFFSET);
    let cache = Arc::new(PageCache::new(4096.max(dim * 4), CACHE.max(dim * 4))?);
    Store::over(PagedStore::with_cache(
        Source::Opfs(OpfsSource { file }),
        layout,
        cache,
    )?)
}

#[wasm_bindgen_test]
async fn opfs_store_conforms() {
    let files = RefCell::new(opfs_files(24, "conformance-read").await);
    let mut make = |dim: usize, data: &[f32]| opfs_store(&files, dim, data);
    let mut fill = |_: &Store, _: &[u32]| Ok(());
    check_read(&mut make, &mut fill).unwrap();
}

#[wasm_bindgen_test]
async fn opfs_store_with_vectors_added_conforms() {
    // The base holds no vector here: every push goes to the in-memory tail.
    let files = RefCell::new(opfs_files(24, "conformance-mut").await);
    let mut make_empty = |dim: usize| opfs_store(&files, dim, &[]);
    check_mut(&mut make_empty).unwrap();
}

#[wasm_bindgen_test]
async fn indexeddb_store_conforms() {
    // The suite builds stores synchronously, and IndexedDB answers only
    // asynchronously. So: a first run records the data sets it asks for;
    // each goes into IndexedDB page by page and is read back with the same
    // batched reads a search makes; a second run checks stores over those
    // pages, filled from what IndexedDB returned.
    let seen: RefCell<Vec<(usize, Vec<f32>)>> = RefCell::new(Vec::new());
    let mut record = |dim: usize, data: &[f32]| -> Result<MemoryStore<f32>> {
        seen.borrow_mut().push((dim, data.to_vec()));
        MemoryStore::from_flat(dim, data)
    };
    check_read(&mut record, &mut |_, _| Ok(())).unwrap();

    let recorded = seen.borrow().clone();
    let db = idb::open_db().await.expect("IndexedDB");
    let mut pages_read: Vec<HashMap<u64, Vec<u8>>> = Vec::new();
    for (k, (dim, data)) in recorded.iter().enumerate() {
        let mut pages = HashMap::new();
        if *dim > 0 {
            let store = idb_store(*dim, data).expect("a store");
            let base = store.base().expect("a lazy store");
            let bytes = le_bytes(data);
            let chunks = Array::new();
            let mut numbers = Vec::new();
            for p in 0..base.page_count() {
                let r = base.page_request(p).unwrap();
                let at = (r.offset - OFFSET) as usize;
                chunks.push(&Uint8Array::from(&bytes[at..at + r.len]).buffer());
                numbers.push(p as f64);
            }
            let name = format!("conformance-{k}");
            await_value(idb::idb_put_chunks(&db, &name, 1.0, 0.0, &chunks).into())
                .await
                .expect("store pages");
            let got: Array = await_value(idb::idb_get_chunks(&db, &name, 1.0, &numbers).into())
                .await
                .expect("read pages")
                .unchecked_into();
            for (i, v) in got.iter().enumerate() {
                pages.insert(i as u64, Uint8Array::new(&v).to_vec());
            }
        }
        pages_read.push(pages);
    }

    let next = RefCell::new(0usize);
    let mut make = |dim: usize, data: &[f32]| -> Result<Store> {
        let k = *next.borrow();
        *next.borrow_mut() += 1;
        assert_eq!(seen.borrow()[k].1, data, "the suite asked for other data");
        idb_store(dim, data)
    };
    // The suite fills each store right after building it, before the next.
    let mut fill = |s: &Store, slots: &[u32]| -> Result<()> {
        let base = s.base().expect("a lazy store");
        let k = (*next.borrow()).saturating_sub(1);
        for r in base.pages_for(slots) {
            let bytes = pages_read[k].get(&r.page_no).expect("a stored page");
            base.fill_page(r.page_no, bytes)?;
        }
        Ok(())
    };
    check_read(&mut make, &mut fill).unwrap();
}

fn idb_store(dim: usize, data: &[f32]) -> Result<Store> {
    let n = data.len().checked_div(dim).unwrap_or(0);
    let layout = VectorLayout::new(dim, n).with_offset(OFFSET);
    let source = Source::Idb(IdbSource {
        len: OFFSET + (data.len() * 4) as u64,
    });
    let cache = Arc::new(PageCache::new(2048.max(dim * 4), CACHE.max(dim * 4))?);
    Store::over(PagedStore::with_cache(source, layout, cache)?)
}
