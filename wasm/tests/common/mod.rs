//! Shared by the browser and Node tests: the debian-384 fixtures written by
//! `scripts/wasm-fixtures.sh`, their exact neighbours, recall through the JS
//! API, the golden comparison, and helpers for awaiting the JS API from Rust.
//! Parsing, ground truth and recall themselves come from `vectrove-testkit`.
#![allow(dead_code)]

use js_sys::{Array, Object, Promise, Reflect};
use vectrove_core::{Metric, recall_at_k};
use vectrove_testkit::{exact_ids, parse_fvecs, parse_ivecs};
use vectrove_wasm::Index;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

pub const DIM: usize = 384;
pub const BASE: &[u8] = include_bytes!("../../../target/wasm-fixtures/debian-2k.fvecs");
pub const QUERIES: &[u8] = include_bytes!("../../../target/wasm-fixtures/queries-100.fvecs");
/// An HNSW index of `BASE` (cosine, M 16, ef_construction 200, seed 1)
/// built by the native CLI.
pub const GOLDEN: &[u8] = include_bytes!("../../../target/wasm-fixtures/golden.vtrv");
/// The native CLI's top 10 for `QUERIES` on `GOLDEN` at ef 64.
pub const GOLDEN_TOP10: &[u8] = include_bytes!("../../../target/wasm-fixtures/golden-top10.ivecs");
/// `GOLDEN` with 8-bit codes (`vectrove build --quantize sq8`), by the native CLI.
pub const GOLDEN_SQ8: &[u8] = include_bytes!("../../../target/wasm-fixtures/golden-sq8.vtrv");
/// An IVF-Flat index of `BASE` (cosine, seed 1, the default nlist) built by
/// the native CLI.
pub const GOLDEN_IVF: &[u8] = include_bytes!("../../../target/wasm-fixtures/golden-ivf.vtrv");
/// `GOLDEN_IVF` with 8-bit codes (`--quantize sq8`).
pub const GOLDEN_IVF_SQ8: &[u8] =
    include_bytes!("../../../target/wasm-fixtures/golden-ivf-sq8.vtrv");
/// The native CLI's top 10 for `QUERIES` on `GOLDEN_SQ8` at ef 64 (searched
/// on the codes, the default rerank).
pub const GOLDEN_SQ8_TOP10: &[u8] =
    include_bytes!("../../../target/wasm-fixtures/golden-sq8-top10.ivecs");

/// The vectors of a fixture `.fvecs` file, back to back, checked to be of
/// dimension `DIM`.
fn fvecs(name: &str, bytes: &[u8]) -> Vec<f32> {
    let (dim, values) = parse_fvecs(bytes, usize::MAX).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(dim, DIM, "{name}");
    values
}

/// Vectors as JS passes them: a `Float32Array`.
pub fn f32s(v: &[f32]) -> JsValue {
    js_sys::Float32Array::from(v).into()
}

/// The base vectors, back to back.
pub fn base() -> Vec<f32> {
    fvecs("debian-2k.fvecs", BASE)
}

/// The queries, back to back.
pub fn queries() -> Vec<f32> {
    fvecs("queries-100.fvecs", QUERIES)
}

/// Exact top-10 ids (cosine) of every query among the base vectors.
pub fn truth() -> Vec<Vec<u32>> {
    exact_ids(Metric::Cosine, DIM, &base(), &queries(), 10)
}

/// The ids of a search result array, in its order.
pub fn hit_ids(v: &JsValue) -> Vec<u64> {
    hits(v).into_iter().map(|(id, _)| id).collect()
}

pub async fn await_js(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

/// An options object from key/value pairs.
pub fn options(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

/// The ids and distances of a search result array.
pub fn hits(v: &JsValue) -> Vec<(u64, f32)> {
    let arr: &Array = v.dyn_ref().expect("an array of hits");
    arr.iter()
        .map(|h| {
            let id = Reflect::get(&h, &"id".into()).unwrap().as_f64().unwrap() as u64;
            let d = Reflect::get(&h, &"distance".into())
                .unwrap()
                .as_f64()
                .unwrap() as f32;
            (id, d)
        })
        .collect()
}

/// The error's `name`, or a panic naming what came instead.
pub fn error_name(e: &JsValue) -> String {
    let e: &js_sys::Error = e.dyn_ref().unwrap_or_else(|| panic!("not an Error: {e:?}"));
    String::from(e.name())
}

pub fn error_message(e: &JsValue) -> String {
    let e: &js_sys::Error = e.dyn_ref().unwrap_or_else(|| panic!("not an Error: {e:?}"));
    String::from(e.message())
}

/// Assert `r` failed with error `name`.
pub fn assert_error<T>(r: Result<T, JsValue>, name: &str) -> String {
    match r {
        Ok(_) => panic!("expected {name}, the call succeeded"),
        Err(e) => {
            assert_eq!(error_name(&e), name, "message: {}", error_message(&e));
            error_message(&e)
        }
    }
}

/// Mean recall@10 of `index` over the queries at `ef`, with `search`
/// (async) so it works on every storage.
pub async fn recall(index: &Index, ef: usize) -> f64 {
    let mut found = Vec::new();
    for q in queries().chunks_exact(DIM) {
        found.push(hit_ids(
            &await_js(index.search(
                f32s(q),
                JsValue::from(10),
                options(&[("ef", JsValue::from(ef as u32))]),
            ))
            .await
            .expect("search"),
        ));
    }
    recall_at_k(&found, &truth(), 10)
}

/// Check `index` (opened from the golden file in any storage) returns the
/// native CLI's top 10 at ef 64, allowing only reorders of near-ties: where
/// the lists differ, the two ids' distances to the query differ by < 1e-5.
pub async fn assert_matches_native(index: &Index) {
    assert_matches_top10(index, GOLDEN_TOP10, "golden").await;
}

/// [`assert_matches_native`] against the native top 10 in `top10` (an
/// `.ivecs` fixture), named `label` in messages.
pub async fn assert_matches_top10(index: &Index, top10: &[u8], label: &str) {
    let want = parse_ivecs(top10, usize::MAX).unwrap_or_else(|e| panic!("{label} top 10: {e}"));
    let base = base();
    let mut swapped = 0;
    for (qi, (q, want)) in queries().chunks_exact(DIM).zip(&want).enumerate() {
        let got = hits(
            &await_js(index.search(
                f32s(q),
                JsValue::from(10),
                options(&[("ef", JsValue::from(64))]),
            ))
            .await
            .expect("search"),
        );
        assert_eq!(got.len(), want.len(), "query {qi}: result count");
        let cos = |id: u64| {
            let v = &base[id as usize * DIM..][..DIM];
            let (mut dot, mut nq, mut nv) = (0f64, 0f64, 0f64);
            for (a, b) in q.iter().zip(v) {
                dot += f64::from(*a) * f64::from(*b);
                nq += f64::from(*a) * f64::from(*a);
                nv += f64::from(*b) * f64::from(*b);
            }
            1.0 - dot / (nq.sqrt() * nv.sqrt())
        };
        for (pos, ((id, _), &w)) in got.iter().zip(want).enumerate() {
            if *id != u64::from(w) {
                swapped += 1;
                let diff = (cos(*id) - cos(u64::from(w))).abs();
                assert!(
                    diff < 1e-5,
                    "query {qi}, rank {pos}: got id {id}, native {w}; distances differ by {diff:e}"
                );
            }
        }
    }
    wasm_bindgen_test::console_log!("{label}: 100 queries match native ({swapped} near-tie swaps)");
}

/// The hits of every query at ef 64, with `extra` search options.
pub async fn all_hits(index: &Index, extra: &[(&str, JsValue)]) -> Vec<Vec<(u64, f32)>> {
    let mut pairs = vec![("ef", JsValue::from(64))];
    pairs.extend(extra.iter().cloned());
    let mut out = Vec::new();
    for q in queries().chunks_exact(DIM) {
        out.push(hits(
            &await_js(index.search(f32s(q), JsValue::from(10), options(&pairs)))
                .await
                .expect("search"),
        ));
    }
    out
}

/// A number from `index.stats()`.
pub fn stat(index: &Index, key: &str) -> f64 {
    Reflect::get(&index.stats().expect("stats"), &key.into())
        .unwrap()
        .as_f64()
        .unwrap()
}

/// A filter option accepting even ids only.
pub fn even_ids() -> JsValue {
    js_sys::Function::new_with_args("id", "return id % 2 === 0").into()
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export async function changesDuringAddMany(index, ids, vectors, query) {
  const seen = [];
  let during = null;
  await index.addMany(ids, vectors, {
    onProgress: (done, total) => {
      if (done === total || during !== null) return;
      // addMany is between two slices: searches answer, changes wait for it.
      during = index.search(query, 3).then(() => "ok", (e) => e.name);
      const calls = [
        () => index.searchSync(query, 3),
        () => index.add(1e12, query),
        () => index.delete(0),
        () => index.length,
      ];
      for (const call of calls) {
        try { call(); seen.push("ok"); } catch (e) { seen.push(e.name); }
      }
    },
  });
  if (during === null) return "addMany ended in one slice";
  seen.push(await during);
  return seen.join(",");
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = changesDuringAddMany)]
    fn changes_during_add_many(
        index: &JsValue,
        ids: &JsValue,
        vectors: &js_sys::Float32Array,
        query: &js_sys::Float32Array,
    ) -> Promise;
}

fn ef64() -> JsValue {
    options(&[("ef", JsValue::from(64))])
}

/// The hits of `index.search(q, k)` at ef 64.
pub async fn search_hits(index: &Index, q: &[f32], k: f64) -> Vec<(u64, f32)> {
    hits(
        &await_js(index.search(f32s(q), JsValue::from(k), ef64()))
            .await
            .expect("search"),
    )
}

/// Start `n` searches for different queries at once, then check that each
/// gave what the same search gives run alone, one after the other.
pub async fn assert_concurrent_searches(index: &Index, n: usize) {
    let queries = queries();
    let started: Array = queries
        .chunks_exact(DIM)
        .take(n)
        .map(|q| JsValue::from(index.search(f32s(q), JsValue::from(10), ef64())))
        .collect();
    let together: Array = await_js(Promise::all(&started))
        .await
        .expect("searches at once")
        .unchecked_into();
    assert_eq!(together.length() as usize, n);
    for (i, q) in queries.chunks_exact(DIM).take(n).enumerate() {
        let alone = search_hits(index, q, 10.0).await;
        assert_eq!(alone.len(), 10, "query {i}");
        assert_eq!(hits(&together.get(i as u32)), alone, "query {i}");
    }
}

/// A `k` far beyond the index (2^31, 2^28) asks for every point, and the
/// index answers normally afterwards.
pub async fn assert_huge_k_gives_everything(index: &Index) {
    let q = &queries()[..DIM];
    let live = index.length().unwrap();
    let normal = search_hits(index, q, 10.0).await;
    for k in [2f64.powi(31), 2f64.powi(28)] {
        let all = search_hits(index, q, k).await;
        assert_eq!(all.len(), live, "k = {k}");
        let mut ids: Vec<u64> = all.iter().map(|h| h.0).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), live, "k = {k}: repeated ids");
        assert!(all.windows(2).all(|w| w[0].1 <= w[1].1), "k = {k}: order");
        assert_eq!(all[..10], normal[..], "k = {k}: the nearest ten");
    }
    assert_eq!(search_hits(index, q, 10.0).await, normal);
    assert_eq!(index.length().unwrap(), live);
}

/// On a store that never waits (memory, OPFS): a search started and a
/// change made before it resolves both succeed, and the search sees the
/// index either before or after the change. A change during `addMany`
/// (from its progress callback, between two slices) is refused with
/// `BusyError`, while searches then answer (on the points inserted so
/// far). Returns the index.
pub async fn assert_changes_beside_searches(index: Index) -> Index {
    use wasm_bindgen::convert::TryFromJsValue;
    let q = queries()[..DIM].to_vec();
    let before = search_hits(&index, &q, 10.0).await;
    let nearest = before[0].0;
    let p = index.search(f32s(&q.clone()), JsValue::from(10), ef64());
    assert!(index.delete(JsValue::from(nearest)).unwrap());
    let during = hits(&await_js(p).await.expect("search beside a delete"));
    let after = search_hits(&index, &q, 10.0).await;
    assert!(!after.iter().any(|h| h.0 == nearest));
    assert!(during == before || during == after, "{during:?}");
    let p = index.search(f32s(&q.clone()), JsValue::from(10), ef64());
    index
        .add(JsValue::from(4e9), f32s(&q))
        .expect("add beside a search");
    let during = hits(&await_js(p).await.expect("search beside an add"));
    let again = search_hits(&index, &q, 10.0).await;
    assert_eq!(again[0].0, 4_000_000_000);
    assert!(during == after || during == again, "{during:?}");
    // Changes while addMany is under way.
    let base = base();
    let ids: Vec<f64> = (0..100).map(|i| 1e9 + f64::from(i)).collect();
    let ids = js_sys::Float64Array::from(&ids[..]);
    let vectors = js_sys::Float32Array::from(&base[..100 * DIM]);
    let len = index.length().unwrap();
    let js = JsValue::from(index);
    let seen = await_js(changes_during_add_many(
        &js,
        &ids.into(),
        &vectors,
        &js_sys::Float32Array::from(&q[..]),
    ))
    .await
    .expect("addMany");
    assert_eq!(seen.as_string().unwrap(), "ok,BusyError,BusyError,ok,ok");
    let index = Index::try_from_js_value(js).expect("an Index");
    assert_eq!(index.length().unwrap(), len + 100);
    assert_eq!(search_hits(&index, &q, 10.0).await[0].0, 4_000_000_000);
    index
}

/// The head of an index file whose header claims 512 vectors of 2^20
/// dimensions (2 GiB) and whose metadata is valid for them (block sums
/// of zero vectors), followed by only `carried` zero bytes of vectors.
pub fn claims_two_gib(carried: usize) -> Vec<u8> {
    use vectrove_core::format::checksum;
    let mut small = vectrove_core::Hnsw::builder(1, Metric::L2)
        .m(2)
        .ef_construction(8)
        .build()
        .unwrap();
    for i in 0..512u64 {
        small.insert(i, &[i as f32]).unwrap();
    }
    let file = small.to_bytes().unwrap();
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let put = |b: &mut Vec<u8>, at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    let sections = u32_at(&file, 56) as usize;
    let header_len = 64 + 32 * sections;
    let entries: Vec<usize> = (0..sections).map(|i| 64 + 32 * i).collect();
    let entry = |tag: &[u8]| {
        *entries
            .iter()
            .find(|&&at| &file[at..at + 4] == tag)
            .unwrap()
    };
    let (sums_at, vecs_at) = (entry(b"VSUM"), entry(b"VECS"));
    let mut head = file[..u64_at(&file, 40) as usize].to_vec();
    // The old block sums become zero padding; the new ones go after the
    // other sections.
    let (off, len) = (u64_at(&file, sums_at + 8), u64_at(&file, sums_at + 16));
    head[off as usize..(off + len) as usize].fill(0);
    let end = entries
        .iter()
        .filter(|&&at| at != sums_at && at != vecs_at)
        .map(|&at| u64_at(&file, at + 8) + u64_at(&file, at + 16))
        .max()
        .unwrap()
        .next_multiple_of(8) as usize;
    let vector_bytes: u64 = 512 * (1 << 20) * 4;
    let block_sum = checksum(&[0u8; 1 << 16]).to_le_bytes();
    let sums: Vec<u8> = (0..vector_bytes >> 16).flat_map(|_| block_sum).collect();
    let meta_len = (end + sums.len()).next_multiple_of(4096);
    head.resize(meta_len, 0);
    put(&mut head, end, &sums);
    let sums_crc = checksum(&sums).to_le_bytes();
    put(&mut head, sums_at + 8, &(end as u64).to_le_bytes());
    put(&mut head, sums_at + 16, &(sums.len() as u64).to_le_bytes());
    put(&mut head, sums_at + 24, &sums_crc);
    put(&mut head, vecs_at + 8, &(meta_len as u64).to_le_bytes());
    put(&mut head, vecs_at + 16, &vector_bytes.to_le_bytes());
    put(&mut head, vecs_at + 24, &sums_crc);
    put(&mut head, 28, &(1u32 << 20).to_le_bytes());
    put(&mut head, 40, &(meta_len as u64).to_le_bytes());
    put(
        &mut head,
        48,
        &(meta_len as u64 + vector_bytes).to_le_bytes(),
    );
    put(&mut head, 60, &[0; 4]);
    let crc = checksum(&head[..header_len]).to_le_bytes();
    put(&mut head, 60, &crc);
    head.resize(meta_len + carried, 0);
    head
}

/// A `ReadableStream` of `bytes` that announces no length (a Response's
/// body), so only the header says how long the file is.
pub fn stream_of(bytes: &[u8]) -> JsValue {
    let construct = |class: &str, arg: &JsValue| {
        let ctor: js_sys::Function = Reflect::get(&js_sys::global(), &class.into())
            .unwrap()
            .unchecked_into();
        Reflect::construct(&ctor, &Array::of1(arg)).unwrap()
    };
    let blob = construct("Blob", &Array::of1(&js_sys::Uint8Array::from(bytes)).into());
    Reflect::get(&construct("Response", &blob), &"body".into()).unwrap()
}

/// The head of an index file whose header puts a section 3 GiB in, so that
/// its metadata alone claims 3 GiB; only the first 150 KiB or so follow.
pub fn claims_three_gib_of_metadata() -> Vec<u8> {
    use vectrove_core::format::checksum;
    let mut head = claims_two_gib(0);
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let sections = u32::from_le_bytes(head[56..60].try_into().unwrap()) as usize;
    let header_len = 64 + 32 * sections;
    let at = |tag: &[u8]| {
        (0..sections)
            .map(|i| 64 + 32 * i)
            .find(|&e| &head[e..e + 4] == tag)
    };
    let (sums, vecs) = (at(b"VSUM").unwrap(), at(b"VECS").unwrap());
    let far: u64 = 3 << 30;
    let meta_len = (far + u64_at(&head, sums + 16)).next_multiple_of(4096);
    let vector_bytes = u64_at(&head, vecs + 16);
    head[sums + 8..sums + 16].copy_from_slice(&far.to_le_bytes());
    head[vecs + 8..vecs + 16].copy_from_slice(&meta_len.to_le_bytes());
    head[40..48].copy_from_slice(&meta_len.to_le_bytes());
    head[48..56].copy_from_slice(&(meta_len + vector_bytes).to_le_bytes());
    head[60..64].fill(0);
    let crc = checksum(&head[..header_len]).to_le_bytes();
    head[60..64].copy_from_slice(&crc);
    head
}
