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

/// The vectors of a fixture `.fvecs` file, back to back, checked to be of
/// dimension `DIM`.
fn fvecs(name: &str, bytes: &[u8]) -> Vec<f32> {
    let (dim, values) = parse_fvecs(bytes, usize::MAX).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(dim, DIM, "{name}");
    values
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
                q.to_vec(),
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
    let want =
        parse_ivecs(GOLDEN_TOP10, usize::MAX).unwrap_or_else(|e| panic!("golden-top10.ivecs: {e}"));
    let base = base();
    let mut swapped = 0;
    for (qi, (q, want)) in queries().chunks_exact(DIM).zip(&want).enumerate() {
        let got = hits(
            &await_js(index.search(
                q.to_vec(),
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
    wasm_bindgen_test::console_log!("golden: 100 queries match native ({swapped} near-tie swaps)");
}
