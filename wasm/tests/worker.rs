//! OPFS and IndexedDB storage in a dedicated worker of headless Chromium
//! (the only place browsers offer OPFS sync access handles): recall and the
//! native golden results on each backend, persistence across close and
//! reopen, atomic saves, locking, and damaged stored data.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use vectrove_wasm::Index;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen(inline_js = r#"
export async function opfsWrite(name, bytes) {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle("vectrove", { create: true });
  const file = await dir.getFileHandle(name, { create: true });
  const w = await file.createWritable();
  await w.write(bytes);
  await w.close();
}
export async function opfsFiles() {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle("vectrove", { create: true });
  const names = [];
  for await (const [name] of dir.entries()) names.push(name);
  return names.sort().join(",");
}
export function idbDamage(name, page) {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open("vectrove", 1);
    r.onerror = () => reject(r.error);
    r.onsuccess = () => {
      const db = r.result;
      const tx = db.transaction(["indexes", "chunks"], "readwrite");
      const rec = tx.objectStore("indexes").get(name);
      rec.onsuccess = () => {
        const key = [name, rec.result.gen, page];
        const c = tx.objectStore("chunks").get(key);
        c.onsuccess = () => {
          const bytes = new Uint8Array(c.result.slice(0));
          bytes[7] ^= 0x10;
          tx.objectStore("chunks").put(bytes.buffer, key);
        };
      };
      tx.oncomplete = () => { db.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  });
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = opfsWrite)]
    fn opfs_write(name: &str, bytes: &[u8]) -> js_sys::Promise;
    #[wasm_bindgen(js_name = opfsFiles)]
    fn opfs_files() -> js_sys::Promise;
    #[wasm_bindgen(js_name = idbDamage)]
    fn idb_damage(name: &str, page: u32) -> js_sys::Promise;
}

/// A quarter of the golden index's vector bytes: the cache the targets name.
const QUARTER: u32 = 2000 * 384 * 4 / 4;

fn storage(s: &str) -> JsValue {
    options(&[("storage", s.into())])
}

fn lazy(s: &str) -> JsValue {
    options(&[("storage", s.into()), ("cacheBytes", QUARTER.into())])
}

fn golden_bytes() -> JsValue {
    js_sys::Uint8Array::from(GOLDEN).into()
}

async fn fresh(name: &str, s: &str) {
    await_js(Index::remove(name.into(), storage(s)))
        .await
        .expect("remove");
}

async fn import(name: &str, s: &str) -> Result<Index, JsValue> {
    let v = await_js(Index::import(name.into(), golden_bytes(), lazy(s))).await?;
    Ok(v.into_index())
}

async fn open(name: &str, options: JsValue) -> Result<Index, JsValue> {
    let v = await_js(Index::open(name.into(), options)).await?;
    Ok(v.into_index())
}

/// `Index` objects come back from promises as plain JS values.
trait IntoIndex {
    fn into_index(self) -> Index;
}

impl IntoIndex for JsValue {
    fn into_index(self) -> Index {
        use wasm_bindgen::convert::TryFromJsValue;
        Index::try_from_js_value(self).expect("an Index")
    }
}

#[wasm_bindgen_test]
async fn opfs_lazy_store_matches_native_and_persists() {
    fresh("golden-opfs", "opfs").await;
    let index = import("golden-opfs", "opfs")
        .await
        .expect("import into OPFS");
    assert_eq!(index.storage().unwrap(), "opfs");
    assert_matches_native(&index).await;
    let r = recall(&index, 64).await;
    let stats = index.stats().unwrap();
    console_log!("opfs: recall@10 {r:.3} at ef 64, cache 25% of the vectors: {stats:?}");
    assert!(r >= 0.95);
    let misses = js_sys::Reflect::get(&stats, &"cacheMisses".into())
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(misses > 0.0, "the lazy store never read OPFS");
    index.close().unwrap();
    // Reopened by name: the same results, no import.
    let again = open("golden-opfs", lazy("opfs")).await.expect("reopen");
    assert_eq!(again.length().unwrap(), 2000);
    assert_matches_native(&again).await;
    // The whole file read into memory instead.
    again.close().unwrap();
    let mem = open("golden-opfs", storage("memory"))
        .await
        .expect("open in memory");
    assert_eq!(mem.storage().unwrap(), "memory");
    assert_eq!(mem.to_bytes().unwrap(), GOLDEN);
}

#[wasm_bindgen_test]
async fn a_second_handle_on_an_opfs_index_is_refused() {
    fresh("locked", "opfs").await;
    let first = import("locked", "opfs").await.unwrap();
    let msg = assert_error(open("locked", lazy("opfs")).await, "IndexLockedError");
    assert!(msg.contains("open elsewhere"), "{msg}");
    // Replacing it while it is open is refused too, and changes nothing.
    assert_error(import("locked", "opfs").await, "IndexLockedError");
    assert_eq!(first.length().unwrap(), 2000);
    first.close().unwrap();
    let second = open("locked", lazy("opfs"))
        .await
        .expect("open after close");
    assert_eq!(second.length().unwrap(), 2000);
}

#[wasm_bindgen_test]
async fn opfs_save_is_atomic_and_keeps_changes() {
    fresh("saved", "opfs").await;
    let index = import("saved", "opfs").await.unwrap();
    let v: Vec<f32> = (0..384).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
    index.add(JsValue::from(5000), f32s(&v)).unwrap();
    assert!(index.delete(JsValue::from(17)).unwrap());
    await_js(index.save(None, JsValue::UNDEFINED))
        .await
        .expect("save");
    // Still usable after the save, and the changes are in the new file.
    assert_eq!(index.length().unwrap(), 2000);
    let top = hits(
        &index
            .search_sync(f32s(&v), JsValue::from(1), JsValue::UNDEFINED)
            .unwrap(),
    );
    assert_eq!(top[0].0, 5000);
    index.close().unwrap();
    let files = await_js(opfs_files()).await.unwrap().as_string().unwrap();
    assert!(
        !files.contains("saved.vtrv.tmp"),
        "a temporary file was left: {files}"
    );
    let back = open("saved", lazy("opfs")).await.unwrap();
    assert!(back.contains(JsValue::from(5000)).unwrap());
    assert!(!back.contains(JsValue::from(17)).unwrap());
    assert_eq!(back.length().unwrap(), 2000);
    // A memory index saved to OPFS from the worker.
    let small = Index::new(JsValue::from(2), options(&[("metric", "l2".into())])).unwrap();
    small.add(JsValue::from(1), f32s(&[1.0, 2.0])).unwrap();
    await_js(small.save(Some("small".into()), storage("opfs")))
        .await
        .unwrap();
    let small_back = open("small", storage("memory")).await.unwrap();
    assert_eq!(small_back.to_bytes().unwrap(), small.to_bytes().unwrap());
}

#[wasm_bindgen_test]
async fn damaged_stored_data_gives_clear_errors() {
    // A bad import leaves the index of that name as it was.
    fresh("damaged", "opfs").await;
    let good = import("damaged", "opfs").await.unwrap();
    good.close().unwrap();
    let mut bad = GOLDEN.to_vec();
    let n = bad.len();
    bad[n - 100] ^= 1;
    let e = await_js(Index::import(
        "damaged".into(),
        js_sys::Uint8Array::from(&bad[..]).into(),
        lazy("opfs"),
    ))
    .await;
    assert_error(e, "CorruptIndexError");
    let e = await_js(Index::import(
        "damaged".into(),
        js_sys::Uint8Array::from(&GOLDEN[..n - 10]).into(),
        lazy("opfs"),
    ))
    .await;
    assert_error(e, "CorruptIndexError");
    let still = open("damaged", lazy("opfs"))
        .await
        .expect("the earlier index survives");
    assert_matches_native(&still).await;
    still.close().unwrap();
    // Damage written straight into the stored file.
    let mut meta = GOLDEN.to_vec();
    meta[200] ^= 0x08;
    await_js(opfs_write("damaged.vtrv", &meta)).await.unwrap();
    assert_error(open("damaged", lazy("opfs")).await, "CorruptIndexError");
    assert_error(
        open("damaged", storage("memory")).await,
        "CorruptIndexError",
    );
    await_js(opfs_write("damaged.vtrv", &bad)).await.unwrap();
    let msg = assert_error(
        open(
            "damaged",
            options(&[("storage", "opfs".into()), ("verify", true.into())]),
        )
        .await,
        "CorruptIndexError",
    );
    assert!(msg.contains("checksum"), "{msg}");
    await_js(opfs_write("damaged.vtrv", &GOLDEN[..5000]))
        .await
        .unwrap();
    assert_error(open("damaged", lazy("opfs")).await, "CorruptIndexError");
    assert_error(open("no-such-index", lazy("opfs")).await, "NotFoundError");
}

#[wasm_bindgen_test]
async fn indexeddb_store_matches_native_and_persists() {
    fresh("golden-idb", "indexeddb").await;
    let index = import("golden-idb", "indexeddb")
        .await
        .expect("import into IndexedDB");
    assert_eq!(index.storage().unwrap(), "indexeddb");
    assert_matches_native(&index).await;
    let r = recall(&index, 64).await;
    let stats = index.stats().unwrap();
    let tx = js_sys::Reflect::get(&stats, &"transactions".into())
        .unwrap()
        .as_f64()
        .unwrap();
    console_log!(
        "indexeddb: recall@10 {r:.3} at ef 64, cache 25%: {:.1} transactions per query over 200 searches; {stats:?}",
        tx / 200.0
    );
    assert!(r >= 0.95);
    assert!(tx > 0.0);
    // The synchronous search cannot wait for IndexedDB: a clear error.
    let cold = open("golden-idb", lazy("indexeddb")).await.unwrap();
    assert_error(
        cold.search_sync(
            f32s(&queries()[..384]),
            JsValue::from(10),
            JsValue::UNDEFINED,
        ),
        "NotResidentError",
    );
    // Reopened after close: the same results.
    index.close().unwrap();
    let again = open("golden-idb", lazy("indexeddb")).await.unwrap();
    assert_matches_native(&again).await;
    // Lazily opened IndexedDB indexes are not written back.
    assert_error(
        await_js(again.save(None, JsValue::UNDEFINED)).await,
        "UnsupportedError",
    );
    assert_error(
        open("no-such-index", storage("indexeddb")).await,
        "NotFoundError",
    );
}

#[wasm_bindgen_test]
async fn damaged_indexeddb_pages_give_clear_errors() {
    fresh("idb-damaged", "indexeddb").await;
    import("idb-damaged", "indexeddb")
        .await
        .unwrap()
        .close()
        .unwrap();
    await_js(idb_damage("idb-damaged", 0))
        .await
        .expect("damage a page");
    let index = open(
        "idb-damaged",
        options(&[
            ("storage", "indexeddb".into()),
            ("cacheBytes", 65536.into()),
        ]),
    )
    .await
    .unwrap();
    // Some search reads page 0 (slots 0..5): searching for slot 0 itself.
    let q = base()[..384].to_vec();
    let e = await_js(index.search(f32s(&q), JsValue::from(10), JsValue::UNDEFINED)).await;
    let msg = assert_error(e, "CorruptIndexError");
    assert!(msg.contains("page 0"), "{msg}");
    // A failed import keeps the earlier version.
    let mut bad = GOLDEN.to_vec();
    bad[GOLDEN.len() - 3] ^= 4;
    let e = await_js(Index::import(
        "golden-idb2".into(),
        js_sys::Uint8Array::from(&bad[..]).into(),
        lazy("indexeddb"),
    ))
    .await;
    assert_error(e, "CorruptIndexError");
    assert_error(
        open("golden-idb2", storage("indexeddb")).await,
        "NotFoundError",
    );
}

#[wasm_bindgen_test]
async fn searches_at_once_on_opfs_and_indexeddb() {
    fresh("at-once", "opfs").await;
    let index = import("at-once", "opfs").await.unwrap();
    assert_concurrent_searches(&index, 12).await;
    assert_huge_k_gives_everything(&index).await;
    let index = assert_changes_beside_searches(index).await;
    assert_concurrent_searches(&index, 8).await;
    index.close().unwrap();
    // IndexedDB, from an empty cache: every search waits on its own reads.
    fresh("at-once", "indexeddb").await;
    import("at-once", "indexeddb")
        .await
        .unwrap()
        .close()
        .unwrap();
    let index = open("at-once", lazy("indexeddb")).await.unwrap();
    assert_concurrent_searches(&index, 12).await;
    assert_huge_k_gives_everything(&index).await;
}

#[wasm_bindgen_test]
async fn a_stream_claiming_more_than_it_carries_leaves_opfs_as_it_was() {
    fresh("claims", "opfs").await;
    import("claims", "opfs").await.unwrap().close().unwrap();
    // 2 GiB of vectors claimed, 1 MiB carried.
    let bytes = claims_two_gib(1 << 20);
    for s in ["opfs", "memory", "indexeddb"] {
        let e = await_js(Index::import("claims".into(), stream_of(&bytes), lazy(s))).await;
        let msg = assert_error(e, "CorruptIndexError");
        assert!(msg.contains("the data ends inside the index"), "{s}: {msg}");
    }
    let files = await_js(opfs_files()).await.unwrap().as_string().unwrap();
    assert!(!files.contains("claims.vtrv.tmp"), "{files}");
    let still = open("claims", lazy("opfs"))
        .await
        .expect("the earlier index");
    assert_matches_native(&still).await;
}

async fn import_bytes(name: &str, bytes: &[u8], options: JsValue) -> Result<Index, JsValue> {
    let source = js_sys::Uint8Array::from(bytes).into();
    let v = await_js(Index::import(name.into(), source, options)).await?;
    Ok(v.into_index())
}

/// The index file's vector stride and the IndexedDB page size it is
/// stored in (one 384-d f32 vector, 2 KiB pages).
const STRIDE: f64 = 384.0 * 4.0;
const IDB_PAGE: f64 = 2048.0;

#[wasm_bindgen_test]
async fn codes_in_opfs_and_indexeddb_search_like_memory() {
    let mem = Index::from_bytes(GOLDEN_SQ8, JsValue::UNDEFINED).unwrap();
    let want = all_hits(&mem, &[]).await;
    // OPFS, read lazily with a quarter of the vectors cached.
    fresh("sq8-opfs", "opfs").await;
    let opfs = import_bytes("sq8-opfs", GOLDEN_SQ8, lazy("opfs"))
        .await
        .expect("import into OPFS");
    assert!(opfs.quantized().unwrap());
    assert_eq!(all_hits(&opfs, &[]).await, want);
    assert_matches_top10(&opfs, GOLDEN_SQ8_TOP10, "opfs sq8").await;
    opfs.close().unwrap();
    let opfs = open("sq8-opfs", lazy("opfs")).await.expect("reopen");
    assert_eq!(
        opfs.quantization().unwrap().as_string().as_deref(),
        Some("sq8")
    );
    assert_eq!(all_hits(&opfs, &[]).await, want);
    opfs.close().unwrap();
    let whole = open("sq8-opfs", storage("memory")).await.unwrap();
    assert!(whole.quantized().unwrap());
    assert_eq!(whole.to_bytes().unwrap(), GOLDEN_SQ8);

    // IndexedDB from a cold cache: the walk is on the resident codes, so a
    // search reads vectors once, for the rerank: at most one transaction.
    fresh("sq8-idb", "indexeddb").await;
    import_bytes("sq8-idb", GOLDEN_SQ8, lazy("indexeddb"))
        .await
        .expect("import into IndexedDB")
        .close()
        .unwrap();
    let idb = open("sq8-idb", lazy("indexeddb")).await.unwrap();
    assert!(idb.quantized().unwrap());
    let mut most = 0.0f64;
    for (i, q) in queries().chunks_exact(DIM).enumerate() {
        let before = stat(&idb, "transactions");
        let got = search_hits(&idb, q, 10.0).await;
        let tx = stat(&idb, "transactions") - before;
        most = most.max(tx);
        assert!(tx <= 2.0, "query {i}: {tx} read transactions");
        assert_eq!(got, want[i], "query {i}");
    }
    // A second one only when the page cache let go of a page of the batch
    // before the rerank read it.
    let total = stat(&idb, "transactions");
    console_log!(
        "indexeddb sq8: {:.2} read transactions per query (most {most}), cache 25%",
        total / 100.0
    );
    assert!(total <= 110.0, "{total} read transactions for 100 queries");
    // The rerank reads what was asked for: `rerank` vectors, in one
    // transaction, and nothing ahead.
    for rerank in [16u32, 48] {
        let cold = open(
            "sq8-idb",
            options(&[
                ("storage", "indexeddb".into()),
                ("cacheBytes", (1u32 << 22).into()),
            ]),
        )
        .await
        .unwrap();
        let q = queries()[DIM..2 * DIM].to_vec();
        await_js(cold.search(
            f32s(&q),
            JsValue::from(10),
            options(&[("ef", 64.into()), ("rerank", rerank.into())]),
        ))
        .await
        .expect("search");
        assert_eq!(stat(&cold, "transactions"), 1.0);
        let read = stat(&cold, "cacheBytes");
        let r = f64::from(rerank);
        console_log!("rerank {rerank}: {read} bytes read");
        assert!(
            read >= r * STRIDE && read <= 2.0 * r * IDB_PAGE,
            "rerank {rerank}: {read} bytes"
        );
    }
    // Filters, deletions (of an in-memory copy) and huge k as without codes.
    let even = [("filter", even_ids())];
    assert_eq!(all_hits(&idb, &even).await, all_hits(&mem, &even).await);
    assert_huge_k_gives_everything(&idb).await;
    // Quantising in place would read every vector from IndexedDB: refused.
    let msg = assert_error(idb.quantize("sq8".into()), "UnsupportedError");
    assert!(msg.contains("IndexedDB"), "{msg}");
    // A memory index quantised here and saved to IndexedDB.
    let made = Index::from_bytes(GOLDEN, JsValue::UNDEFINED).unwrap();
    made.quantize("sq8".into()).unwrap();
    fresh("sq8-idb-made", "indexeddb").await;
    await_js(made.save(Some("sq8-idb-made".into()), storage("indexeddb")))
        .await
        .expect("save to IndexedDB");
    let back = open("sq8-idb-made", lazy("indexeddb")).await.unwrap();
    assert!(back.quantized().unwrap());
    assert_eq!(all_hits(&back, &[]).await, want);
}

#[wasm_bindgen_test]
async fn an_opfs_index_quantised_in_place_keeps_its_codes() {
    fresh("sq8-made", "opfs").await;
    let index = import("sq8-made", "opfs").await.unwrap();
    assert!(index.quantization().unwrap().is_null());
    index
        .quantize("sq8".into())
        .expect("quantize a lazy OPFS index");
    assert!(index.quantized().unwrap());
    let want = all_hits(
        &Index::from_bytes(GOLDEN_SQ8, JsValue::UNDEFINED).unwrap(),
        &[],
    )
    .await;
    assert_eq!(all_hits(&index, &[]).await, want);
    let base = base();
    let v: Vec<f32> = (0..DIM)
        .map(|i| base[7 * DIM + i] + base[8 * DIM + i])
        .collect();
    index.add(JsValue::from(9000), f32s(&v)).unwrap();
    let before = all_hits(&index, &[]).await;
    await_js(index.save(None, JsValue::UNDEFINED))
        .await
        .expect("save");
    index.close().unwrap();
    let back = open("sq8-made", lazy("opfs")).await.unwrap();
    assert!(back.quantized().unwrap());
    assert_eq!(search_hits(&back, &v, 1.0).await[0].0, 9000);
    assert_eq!(all_hits(&back, &[]).await, before);
}

/// The transactions each query took on `index`, and its hits, for every
/// query, with search options `extra`.
async fn per_query(index: &Index, extra: &[(&str, JsValue)]) -> (Vec<f64>, Vec<Vec<(u64, f32)>>) {
    let (mut tx, mut got) = (Vec::new(), Vec::new());
    for q in queries().chunks_exact(DIM) {
        let before = stat(index, "transactions");
        got.push(hits(
            &await_js(index.search(f32s(q), JsValue::from(10), options(extra)))
                .await
                .expect("search"),
        ));
        tx.push(stat(index, "transactions") - before);
    }
    (tx, got)
}

#[wasm_bindgen_test]
async fn ivf_in_indexeddb_searches_like_memory() {
    for (name, bytes) in [("ivf-idb", GOLDEN_IVF), ("ivf-sq8-idb", GOLDEN_IVF_SQ8)] {
        let nprobe = [("nprobe", JsValue::from(8))];
        let mem = Index::from_bytes(bytes, JsValue::UNDEFINED).unwrap();
        let (_, want) = per_query(&mem, &nprobe).await;
        fresh(name, "indexeddb").await;
        import_bytes(name, bytes, lazy("indexeddb"))
            .await
            .expect("import an IVF index into IndexedDB")
            .close()
            .unwrap();
        // From a cold cache holding a quarter of the vectors: the probed
        // lists' vectors (or, with codes, the rerank's) in one transaction.
        let idb = open(name, lazy("indexeddb")).await.unwrap();
        assert_eq!(idb.kind().unwrap(), "ivf");
        assert_eq!(idb.storage().unwrap(), "indexeddb");
        let (tx, got) = per_query(&idb, &nprobe).await;
        assert_eq!(got, want, "{name}: the hits of the file in memory");
        let most = tx.iter().cloned().fold(0.0, f64::max);
        let total: f64 = tx.iter().sum();
        console_log!(
            "{name}: {:.2} read transactions per query (most {most}), cache 25%",
            total / 100.0
        );
        assert!(most <= 2.0, "{name}: {most} transactions for one query");
        assert!(
            (1.0..=110.0).contains(&total),
            "{name}: {total} transactions"
        );
        // Filters, and more lists.
        let even = [("nprobe", JsValue::from(16)), ("filter", even_ids())];
        assert_eq!(
            per_query(&idb, &even).await.1,
            per_query(&mem, &even).await.1,
            "{name}: filtered"
        );
        assert_concurrent_searches(&idb, 8).await;
        // Reopened after close, and saved there from memory: the same.
        idb.close().unwrap();
        let again = open(name, lazy("indexeddb")).await.unwrap();
        assert_eq!(per_query(&again, &nprobe).await.1, want, "{name}: reopened");
        let saved = format!("{name}-saved");
        fresh(&saved, "indexeddb").await;
        await_js(mem.save(Some(saved.clone()), storage("indexeddb")))
            .await
            .expect("save an IVF index to IndexedDB");
        let back = open(&saved, lazy("indexeddb")).await.unwrap();
        assert_eq!(per_query(&back, &nprobe).await.1, want, "{name}: saved");
        assert_error(
            await_js(back.save(None, JsValue::UNDEFINED)).await,
            "UnsupportedError",
        );
    }
}
