//! The JS API on the main thread of a headless Chromium page: IndexedDB
//! (lazy, asynchronous), the in-memory storage persisted to OPFS through the
//! asynchronous file API, imports from a Blob, a Response and a stream, and
//! the clear error for OPFS sync access outside a worker.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use vectrove_wasm::Index;
use wasm_bindgen::JsValue;
use wasm_bindgen::convert::TryFromJsValue;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function streamOf(bytes, kind) {
  return new ReadableStream({
    start(c) {
      for (let at = 0; at < bytes.length; at += 4096) {
        const n = Math.min(4096, bytes.length - at);
        // Each chunk sits 8 bytes into its own buffer.
        const buf = new ArrayBuffer(n + 16);
        new Uint8Array(buf, 8, n).set(bytes.subarray(at, at + n));
        if (kind === "DataView") c.enqueue(new DataView(buf, 8, n));
        else if (kind === "Float32Array") c.enqueue(new Float32Array(buf, 8, n / 4));
        else if (kind === "string") c.enqueue("not bytes");
        else if (kind === "error") { c.error(new TypeError("the network went away")); return; }
        else c.enqueue(new Uint8Array(buf, 8, n));
      }
      c.close();
    },
  });
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = streamOf)]
    fn stream_of_kind(bytes: &[u8], kind: &str) -> JsValue;
}

fn storage(s: &str) -> JsValue {
    options(&[("storage", s.into())])
}

async fn import_from(name: &str, source: JsValue, s: &str) -> Result<Index, JsValue> {
    let v = await_js(Index::import(
        name.into(),
        source,
        options(&[("storage", s.into()), ("cacheBytes", (1u32 << 20).into())]),
    ))
    .await?;
    Ok(Index::try_from_js_value(v).expect("an Index"))
}

async fn open(name: &str, s: &str) -> Result<Index, JsValue> {
    let v = await_js(Index::open(name.into(), storage(s))).await?;
    Ok(Index::try_from_js_value(v).expect("an Index"))
}

fn blob() -> JsValue {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(GOLDEN));
    web_blob(&parts)
}

fn web_blob(parts: &js_sys::Array) -> JsValue {
    let ctor: js_sys::Function = js_sys::Reflect::get(&js_sys::global(), &"Blob".into())
        .unwrap()
        .into();
    js_sys::Reflect::construct(&ctor, &js_sys::Array::of1(parts)).unwrap()
}

fn response(body: JsValue) -> JsValue {
    let ctor: js_sys::Function = js_sys::Reflect::get(&js_sys::global(), &"Response".into())
        .unwrap()
        .into();
    js_sys::Reflect::construct(&ctor, &js_sys::Array::of1(&body)).unwrap()
}

#[wasm_bindgen_test]
async fn indexeddb_on_the_main_thread_from_a_blob_and_a_stream() {
    await_js(Index::remove("page-idb".into(), storage("indexeddb")))
        .await
        .unwrap();
    let index = import_from("page-idb", blob(), "indexeddb")
        .await
        .expect("import a Blob");
    assert_matches_native(&index).await;
    let r = recall(&index, 64).await;
    console_log!("page, indexeddb: recall@10 {r:.3}");
    assert!(r >= 0.95);
    index.close().unwrap();
    // From a ReadableStream (a Response's body), replacing the first.
    let stream = js_sys::Reflect::get(&response(blob()), &"body".into()).unwrap();
    let again = import_from("page-idb", stream, "indexeddb")
        .await
        .expect("import a stream");
    assert_matches_native(&again).await;
    assert!(
        await_js(Index::exists("page-idb".into(), storage("indexeddb")))
            .await
            .unwrap()
            .is_truthy()
    );
    await_js(Index::remove("page-idb".into(), storage("indexeddb")))
        .await
        .unwrap();
    assert!(
        !await_js(Index::exists("page-idb".into(), storage("indexeddb")))
            .await
            .unwrap()
            .is_truthy()
    );
}

#[wasm_bindgen_test]
async fn memory_storage_persists_through_opfs_on_the_main_thread() {
    let progress = js_sys::Array::new();
    let record =
        js_sys::Function::new_with_args("n, total", "this.push([n, total])").bind0(&progress);
    let v = await_js(Index::import(
        "page-mem".into(),
        response(blob()),
        options(&[("storage", "memory".into()), ("onProgress", record.into())]),
    ))
    .await
    .expect("import a Response");
    let index = Index::try_from_js_value(v).unwrap();
    assert!(progress.length() >= 1);
    assert_eq!(index.to_bytes().unwrap(), GOLDEN);
    let reopened = open("page-mem", "memory").await.expect("open from OPFS");
    assert_matches_native(&reopened).await;
    // Changes saved and read back.
    reopened
        .add(JsValue::from(77_777), f32s(&base()[..384]))
        .unwrap();
    await_js(reopened.save(None, JsValue::UNDEFINED))
        .await
        .expect("save");
    let back = open("page-mem", "memory").await.unwrap();
    assert!(back.contains(JsValue::from(77_777)).unwrap());
    assert_eq!(back.to_bytes().unwrap(), reopened.to_bytes().unwrap());
}

#[wasm_bindgen_test]
async fn opfs_sync_access_needs_a_worker() {
    let msg = assert_error(open("page-mem", "opfs").await, "UnsupportedError");
    assert!(msg.contains("createIndexWorker"), "{msg}");
    let e = await_js(Index::import("x".into(), blob(), storage("opfs"))).await;
    assert_error(e, "UnsupportedError");
    let e = await_js(Index::import(
        "x".into(),
        JsValue::from(42),
        storage("indexeddb"),
    ))
    .await;
    assert_error(e, "InvalidArgumentError");
    let e = await_js(Index::import("../x".into(), blob(), storage("indexeddb"))).await;
    assert_error(e, "InvalidArgumentError");
}

fn stat(index: &Index, key: &str) -> f64 {
    js_sys::Reflect::get(&index.stats().unwrap(), &key.into())
        .unwrap()
        .as_f64()
        .unwrap()
}

/// A fresh handle on the golden index in IndexedDB, with an empty cache.
async fn cold_idb(name: &str) -> Index {
    await_js(Index::remove(name.into(), storage("indexeddb")))
        .await
        .unwrap();
    import_from(name, blob(), "indexeddb")
        .await
        .expect("import")
        .close()
        .unwrap();
    let v = await_js(Index::open(
        name.into(),
        options(&[
            ("storage", "indexeddb".into()),
            ("cacheBytes", (1u32 << 20).into()),
        ]),
    ))
    .await
    .expect("open");
    Index::try_from_js_value(v).unwrap()
}

#[wasm_bindgen_test]
async fn searches_at_once_on_indexeddb_and_in_memory() {
    // IndexedDB: every search waits on its own reads, all at the same time.
    let index = cold_idb("page-at-once").await;
    assert_concurrent_searches(&index, 12).await;
    assert!(stat(&index, "fetches") > 0.0);
    assert_huge_k_gives_everything(&index).await;
    assert_concurrent_searches(&index, 8).await;
    // Memory.
    let mem = Index::from_bytes(GOLDEN, JsValue::UNDEFINED).unwrap();
    assert_concurrent_searches(&mem, 12).await;
    assert_huge_k_gives_everything(&mem).await;
    let mem = assert_changes_beside_searches(mem).await;
    assert_concurrent_searches(&mem, 8).await;
}

#[wasm_bindgen_test]
async fn a_change_during_an_indexeddb_search_is_busy() {
    let index = cold_idb("page-busy").await;
    let q = queries()[..DIM].to_vec();
    let alone = {
        let other = cold_idb("page-busy-alone").await;
        search_hits(&other, &q, 10.0).await
    };
    for round in 0..2 {
        let p = index.search(f32s(&q.clone()), JsValue::from(10), JsValue::UNDEFINED);
        // The search starts in a microtask and then waits for IndexedDB,
        // whose answer comes in a later task: after this await it is
        // waiting.
        await_js(js_sys::Promise::resolve(&JsValue::UNDEFINED))
            .await
            .unwrap();
        if round == 0 {
            assert_eq!(stat(&index, "transactions"), 1.0, "the search is under way");
        }
        assert_error(index.add(JsValue::from(9999), f32s(&q)), "BusyError");
        assert_error(index.delete(JsValue::from(5)), "BusyError");
        assert_error(index.close(), "BusyError");
        assert_error(
            await_js(index.save(None, JsValue::UNDEFINED)).await,
            "BusyError",
        );
        // Reading alongside is fine.
        assert_eq!(index.length().unwrap(), 2000);
        let during = hits(&await_js(p).await.expect("the search"));
        assert_eq!(during, alone);
    }
    // Once it is done, changes go through.
    assert!(index.delete(JsValue::from(alone[0].0)).unwrap());
    let after = search_hits(&index, &q, 10.0).await;
    assert_eq!(after[..9], alone[1..], "the rest moves up");
    index.close().unwrap();
}

#[wasm_bindgen_test]
async fn a_stream_claiming_more_than_it_carries_is_refused() {
    // 2 GiB of vectors claimed, 1 MiB carried.
    let bytes = claims_two_gib(1 << 20);
    for s in ["memory", "indexeddb"] {
        let e = await_js(Index::import(
            "page-claims".into(),
            stream_of(&bytes),
            storage(s),
        ))
        .await;
        let msg = assert_error(e, "CorruptIndexError");
        assert!(msg.contains("the data ends inside the index"), "{s}: {msg}");
    }
    assert!(
        !await_js(Index::exists("page-claims".into(), storage("indexeddb")))
            .await
            .unwrap()
            .is_truthy()
    );
    assert!(
        !await_js(Index::exists("page-claims".into(), JsValue::UNDEFINED))
            .await
            .unwrap()
            .is_truthy()
    );
    // 3 GiB of metadata claimed, 150 KiB carried.
    let bytes = claims_three_gib_of_metadata();
    for s in ["memory", "indexeddb"] {
        let e = await_js(Index::import(
            "page-claims".into(),
            stream_of(&bytes),
            storage(s),
        ))
        .await;
        let msg = assert_error(e, "CorruptIndexError");
        assert!(msg.contains("truncated"), "{s}: {msg}");
    }
    // The module is fine afterwards.
    let index = import_from("page-claims", blob(), "memory").await.unwrap();
    assert_matches_native(&index).await;
}

#[wasm_bindgen_test]
async fn streams_of_any_view_import_and_bad_streams_are_refused() {
    for kind in ["Uint8Array", "DataView", "Float32Array"] {
        let index = import_from("page-views", stream_of_kind(GOLDEN, kind), "memory")
            .await
            .unwrap_or_else(|e| panic!("{kind}: {}", error_message(&e)));
        assert_eq!(index.to_bytes().unwrap(), GOLDEN, "{kind}");
    }
    let e = import_from("page-views", stream_of_kind(GOLDEN, "string"), "memory").await;
    assert_error(e, "InvalidArgumentError");
    let e = import_from("page-views", stream_of_kind(GOLDEN, "error"), "indexeddb").await;
    let msg = assert_error(e, "StorageError");
    assert!(msg.contains("the network went away"), "{msg}");
    for bad in [
        JsValue::NULL,
        JsValue::UNDEFINED,
        js_sys::Object::new().into(),
    ] {
        let e = import_from("page-views", bad, "memory").await;
        assert_error(e, "InvalidArgumentError");
    }
    // What was stored is still there.
    let back = open("page-views", "memory").await.unwrap();
    assert_eq!(back.to_bytes().unwrap(), GOLDEN);
}
