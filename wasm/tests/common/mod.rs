//! Shared by the browser and Node tests: the debian-384 fixtures written by
//! `scripts/wasm-fixtures.sh`, exact neighbours, recall, the golden
//! comparison, and helpers for awaiting the JS API from Rust.
#![allow(dead_code)]

use js_sys::{Array, Object, Promise, Reflect};
use vectrove_core::{Metric, exact_knn};
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

/// Vectors of an .fvecs file, back to back.
pub fn fvecs(bytes: &[u8]) -> Vec<f32> {
    let mut out = Vec::new();
    for rec in bytes.chunks_exact(4 + DIM * 4) {
        assert_eq!(
            u32::from_le_bytes(rec[..4].try_into().unwrap()) as usize,
            DIM
        );
        out.extend(
            rec[4..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap())),
        );
    }
    out
}

/// Rows of an .ivecs file.
pub fn ivecs(bytes: &[u8]) -> Vec<Vec<i32>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let n = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 4;
        out.push(
            bytes[at..at + 4 * n]
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        );
        at += 4 * n;
    }
    out
}

pub fn base() -> Vec<f32> {
    fvecs(BASE)
}

pub fn queries() -> Vec<f32> {
    fvecs(QUERIES)
}

/// Exact top-10 ids (cosine) of every query among the base vectors.
pub fn truth() -> Vec<Vec<u64>> {
    exact_knn(Metric::Cosine, DIM, &base(), &queries(), 10)
        .expect("exact search")
        .into_iter()
        .map(|row| row.into_iter().map(|(slot, _)| u64::from(slot)).collect())
        .collect()
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
    let truth = truth();
    let mut hit = 0usize;
    for (q, want) in queries().chunks_exact(DIM).zip(&truth) {
        let got = hits(
            &await_js(index.search(
                q.to_vec(),
                JsValue::from(10),
                options(&[("ef", JsValue::from(ef as u32))]),
            ))
            .await
            .expect("search"),
        );
        hit += got.iter().filter(|(id, _)| want.contains(id)).count();
    }
    hit as f64 / (10 * truth.len()) as f64
}

/// Check `index` (opened from the golden file in any storage) returns the
/// native CLI's top 10 at ef 64, allowing only reorders of near-ties: where
/// the lists differ, the two ids' distances to the query differ by < 1e-5.
pub async fn assert_matches_native(index: &Index) {
    let want = ivecs(GOLDEN_TOP10);
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
            if *id != w as u64 {
                swapped += 1;
                let diff = (cos(*id) - cos(w as u64)).abs();
                assert!(
                    diff < 1e-5,
                    "query {qi}, rank {pos}: got id {id}, native {w}; distances differ by {diff:e}"
                );
            }
        }
    }
    wasm_bindgen_test::console_log!("golden: 100 queries match native ({swapped} near-tie swaps)");
}
