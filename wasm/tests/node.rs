//! The JS API on the in-memory storage, under Node (the default mode of
//! `wasm-bindgen-test-runner`): building, searching, errors, the native
//! golden file, IVF, k-means and PCA.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use js_sys::{Array, Float64Array, Reflect};
use vectrove_wasm::{Index, KMeans, Pca};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

#[wasm_bindgen(inline_js = r#"
export function hostile(kind) {
  switch (kind) {
    case "throwing ids":
      return new Proxy([1, 2], { get(t, k) { if (k === "length") return 2; throw new RangeError("no ids here"); } });
    case "endless ids":
      return new Proxy([], { get(t, k) { return k === "length" ? 2 ** 32 - 1 : 1; } });
    case "odd error stream":
      return new ReadableStream({
        start(c) {
          const e = new Error("x");
          Object.defineProperty(e, "name", { value: 42 });
          Object.defineProperty(e, "message", { get() { throw new Error("no message"); } });
          c.error(e);
        },
      });
    case "lying view": {
      class Lying extends Uint8Array { get byteOffset() { return 2 ** 40; } }
      return new Lying(64);
    }
  }
}
"#)]
extern "C" {
    fn hostile(kind: &str) -> JsValue;
}

fn small_index() -> Index {
    let index = Index::new(
        JsValue::from(3),
        options(&[("metric", "l2".into()), ("seed", 7.into())]),
    )
    .expect("new index");
    for (id, v) in [
        (1, [1.0, 0.0, 0.0]),
        (2, [0.0, 1.0, 0.0]),
        (3, [0.9, 0.1, 0.0]),
    ] {
        index.add(JsValue::from(id), f32s(&v)).expect("add");
    }
    index
}

#[wasm_bindgen_test]
async fn build_search_delete_get() {
    let index = small_index();
    assert_eq!(index.length().unwrap(), 3);
    assert_eq!(index.dim().unwrap(), 3);
    assert_eq!(index.metric().unwrap(), "l2");
    assert_eq!(index.kind().unwrap(), "hnsw");
    assert_eq!(index.storage().unwrap(), "memory");
    let found = hits(
        &index
            .search_sync(
                f32s(&[1.0, 0.05, 0.0]),
                JsValue::from(2),
                JsValue::UNDEFINED,
            )
            .unwrap(),
    );
    assert_eq!(found.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 3]);
    let async_found = hits(
        &await_js(index.search(
            f32s(&[1.0, 0.05, 0.0]),
            JsValue::from(2),
            JsValue::UNDEFINED,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(found, async_found);
    // A filter sees ids and keeps only what it accepts.
    let even = js_sys::Function::new_with_args("id", "return id % 2 === 0");
    let filtered = hits(
        &index
            .search_sync(
                f32s(&[1.0, 0.0, 0.0]),
                JsValue::from(3),
                options(&[("filter", even.into())]),
            )
            .unwrap(),
    );
    assert_eq!(filtered.iter().map(|h| h.0).collect::<Vec<_>>(), [2]);
    assert!(index.delete(JsValue::from(1)).unwrap());
    assert!(!index.delete(JsValue::from(1)).unwrap());
    assert!(!index.contains(JsValue::from(1)).unwrap());
    assert!(index.get(JsValue::from(1)).unwrap().is_none());
    assert_eq!(
        index.get(JsValue::from(2)).unwrap().unwrap().to_vec(),
        [0.0, 1.0, 0.0]
    );
    let after = hits(
        &index
            .search_sync(f32s(&[1.0, 0.0, 0.0]), JsValue::from(3), JsValue::UNDEFINED)
            .unwrap(),
    );
    assert_eq!(after.iter().map(|h| h.0).collect::<Vec<_>>(), [3, 2]);
    // k beyond the index; k = 0 asks for nothing and is refused.
    assert_eq!(
        hits(
            &index
                .search_sync(
                    f32s(&[1.0, 0.0, 0.0]),
                    JsValue::from(50),
                    JsValue::UNDEFINED
                )
                .unwrap()
        )
        .len(),
        2
    );
    assert_error(
        index.search_sync(f32s(&[1.0, 0.0, 0.0]), JsValue::from(0), JsValue::UNDEFINED),
        "InvalidArgumentError",
    );
}

#[wasm_bindgen_test]
fn bad_input_gets_named_errors_and_changes_nothing() {
    let index = small_index();
    let before = index.to_bytes().unwrap();
    assert_error(
        index.add(JsValue::from(9), f32s(&[1.0, 2.0])),
        "DimensionMismatchError",
    );
    assert_error(
        index.add(JsValue::from(9), f32s(&[f32::NAN, 0.0, 0.0])),
        "InvalidVectorError",
    );
    assert_error(
        index.add(JsValue::from(1), f32s(&[1.0, 0.0, 0.0])),
        "DuplicateIdError",
    );
    assert_error(
        index.add(JsValue::from(-1), f32s(&[1.0, 0.0, 0.0])),
        "InvalidArgumentError",
    );
    assert_error(
        index.add(JsValue::from(1.5), f32s(&[1.0, 0.0, 0.0])),
        "InvalidArgumentError",
    );
    assert_error(
        index.add(JsValue::from("7"), f32s(&[1.0, 0.0, 0.0])),
        "TypeError",
    );
    assert_error(
        index.search_sync(f32s(&[1.0]), JsValue::from(1), JsValue::UNDEFINED),
        "DimensionMismatchError",
    );
    assert_error(
        index.search_sync(
            f32s(&[1.0, 0.0, 0.0]),
            JsValue::from(-3),
            JsValue::UNDEFINED,
        ),
        "InvalidArgumentError",
    );
    assert_error(
        index.search_sync(
            f32s(&[1.0, 0.0, 0.0]),
            JsValue::from(1),
            options(&[("ef", "wide".into())]),
        ),
        "TypeError",
    );
    assert_error(
        Index::new(JsValue::from(0), JsValue::UNDEFINED),
        "InvalidArgumentError",
    );
    assert_error(
        Index::new(JsValue::from(4), options(&[("metric", "manhattan".into())])),
        "InvalidArgumentError",
    );
    let cos = Index::new(JsValue::from(2), JsValue::UNDEFINED).unwrap();
    assert_error(
        cos.add(JsValue::from(1), f32s(&[0.0, 0.0])),
        "InvalidVectorError",
    );
    // A filter that throws: its exception comes back, the index is intact.
    let boom = js_sys::Function::new_with_args("id", "throw new RangeError('no ' + id)");
    let e = index
        .search_sync(
            f32s(&[1.0, 0.0, 0.0]),
            JsValue::from(1),
            options(&[("filter", boom.into())]),
        )
        .unwrap_err();
    assert_eq!(error_name(&e), "RangeError");
    assert_eq!(index.to_bytes().unwrap(), before);
    // A closed index refuses calls with a clear error.
    index.close().unwrap();
    assert_error(index.length(), "InvalidArgumentError");
}

#[wasm_bindgen_test]
fn native_golden_file_round_trips_byte_for_byte() {
    let index = Index::from_bytes(GOLDEN, JsValue::UNDEFINED).expect("open the native file");
    assert_eq!(index.length().unwrap(), 2000);
    assert_eq!(index.metric().unwrap(), "cosine");
    assert_eq!(
        index.to_bytes().unwrap(),
        GOLDEN,
        "re-encoding changed the bytes"
    );
}

#[wasm_bindgen_test]
async fn native_golden_file_gives_native_results() {
    let index = Index::from_bytes(GOLDEN, JsValue::UNDEFINED).unwrap();
    assert_matches_native(&index).await;
    let r = recall(&index, 64).await;
    console_log!("memory: recall@10 {r:.3} at ef 64 (debian-384 2k, 100 queries)");
    assert!(r >= 0.95, "recall@10 {r}");
}

#[wasm_bindgen_test]
fn damaged_files_are_refused() {
    let mut bad = GOLDEN.to_vec();
    let at = bad.len() / 2;
    bad[at] ^= 0x40;
    let msg = assert_error(
        Index::from_bytes(&bad, JsValue::UNDEFINED),
        "CorruptIndexError",
    );
    assert!(msg.contains("checksum"), "{msg}");
    assert_error(
        Index::from_bytes(&GOLDEN[..GOLDEN.len() - 1], JsValue::UNDEFINED),
        "CorruptIndexError",
    );
    assert_error(
        Index::from_bytes(&GOLDEN[..100], JsValue::UNDEFINED),
        "CorruptIndexError",
    );
    assert_error(
        Index::from_bytes(b"not an index at all", JsValue::UNDEFINED),
        "CorruptIndexError",
    );
}

#[wasm_bindgen_test]
async fn add_many_builds_with_progress_and_aborts() {
    let base = base();
    let n = 600;
    let ids = Float64Array::new_with_length(n as u32);
    for i in 0..n {
        ids.set_index(i as u32, i as f64);
    }
    let index = Index::new(JsValue::from(DIM as u32), options(&[("seed", 1.into())])).unwrap();
    let calls = js_sys::Array::new();
    let record =
        js_sys::Function::new_with_args("done, total", "this.push([done, total])").bind0(&calls);
    await_js(index.add_many(
        ids.clone().into(),
        f32s(&base[..n * DIM]),
        options(&[("onProgress", record.into())]),
    ))
    .await
    .expect("addMany");
    assert_eq!(index.length().unwrap(), n);
    assert!(calls.length() >= 1);
    let last: js_sys::Array = calls.get(calls.length() - 1).into();
    assert_eq!(last.get(0).as_f64(), Some(n as f64));
    // Bad batches change nothing: a duplicate id, a wrong length.
    let dup = Float64Array::new_with_length(2);
    dup.set_index(0, 5000.0);
    dup.set_index(1, 3.0);
    let e = await_js(index.add_many(dup.into(), f32s(&base[..2 * DIM]), JsValue::UNDEFINED)).await;
    assert_error(e, "DuplicateIdError");
    assert_eq!(index.length().unwrap(), n);
    let e = await_js(index.add_many(
        js_sys::Array::of1(&9000.into()).into(),
        f32s(&[1.0; 5]),
        JsValue::UNDEFINED,
    ))
    .await;
    assert_error(e, "DimensionMismatchError");
    // An already aborted signal stops before anything is added.
    let controller = web_sys_abort();
    let signal = js_sys::Reflect::get(&controller, &"signal".into()).unwrap();
    js_sys::Reflect::apply(
        &js_sys::Reflect::get(&controller, &"abort".into())
            .unwrap()
            .into(),
        &controller,
        &js_sys::Array::new(),
    )
    .unwrap();
    let more = Float64Array::new_with_length(10);
    for i in 0..10 {
        more.set_index(i, 10_000.0 + f64::from(i));
    }
    let e = await_js(index.add_many(
        more.into(),
        f32s(&base[..10 * DIM]),
        options(&[("signal", signal)]),
    ))
    .await;
    assert_error(e, "AbortError");
    assert_eq!(index.length().unwrap(), n);
}

/// `new AbortController()`.
fn web_sys_abort() -> JsValue {
    let ctor: js_sys::Function = js_sys::Reflect::get(&js_sys::global(), &"AbortController".into())
        .unwrap()
        .into();
    js_sys::Reflect::construct(&ctor, &js_sys::Array::new()).unwrap()
}

#[wasm_bindgen_test]
async fn ivf_in_memory() {
    let base = base();
    let index = Index::train_ivf(
        JsValue::from(DIM as u32),
        f32s(&base.clone()),
        options(&[("nlist", 16.into()), ("seed", 3.into())]),
    )
    .expect("train");
    assert_eq!(index.kind().unwrap(), "ivf");
    let ids = Float64Array::new_with_length(2000);
    for i in 0..2000 {
        ids.set_index(i, f64::from(i));
    }
    await_js(index.add_many(ids.into(), f32s(&base), JsValue::UNDEFINED))
        .await
        .unwrap();
    let found: Vec<Vec<u64>> = queries()
        .chunks_exact(DIM)
        .map(|q| {
            hit_ids(
                &index
                    .search_sync(
                        f32s(q),
                        JsValue::from(10),
                        options(&[("nprobe", 16.into())]),
                    )
                    .unwrap(),
            )
        })
        .collect();
    // Probing every list is exact: all 100 x 10 true neighbours are found.
    assert_eq!(found.len(), 100);
    assert_eq!(vectrove_core::recall_at_k(&found, &truth(), 10), 1.0);
    let copy = Index::from_bytes(&index.to_bytes().unwrap(), JsValue::UNDEFINED).unwrap();
    assert_eq!(copy.kind().unwrap(), "ivf");
    assert_eq!(copy.to_bytes().unwrap(), index.to_bytes().unwrap());
    // Without `nlist` the core's default for the training set applies
    // (about 4 sqrt(n)); an explicit 0 is refused.
    let auto = Index::train_ivf(
        JsValue::from(DIM as u32),
        f32s(&common::base()),
        JsValue::UNDEFINED,
    )
    .unwrap();
    let lists = vectrove_core::IvfParams::default_nlist(2000);
    assert_eq!(
        vectrove_core::Ivf::from_bytes(&auto.to_bytes().unwrap())
            .unwrap()
            .nlist(),
        lists
    );
    assert_error(
        Index::train_ivf(
            JsValue::from(DIM as u32),
            f32s(&common::base()),
            options(&[("nlist", 0.into())]),
        ),
        "InvalidArgumentError",
    );
    // The k-means options reach the quantiser and the file.
    let hier = Index::train_ivf(
        JsValue::from(DIM as u32),
        f32s(&common::base()),
        options(&[
            ("nlist", 30.into()),
            ("init", "hierarchical".into()),
            ("maxPointsPerCentroid", 20.into()),
        ]),
    )
    .unwrap();
    let p = vectrove_core::Ivf::from_bytes(&hier.to_bytes().unwrap())
        .unwrap()
        .params();
    assert_eq!(
        (p.nlist, p.init, p.max_points_per_centroid),
        (30, vectrove_core::kmeans::Init::Hierarchical, 20)
    );
    assert_error(
        Index::train_ivf(
            JsValue::from(DIM as u32),
            f32s(&common::base()),
            options(&[("init", "best".into())]),
        ),
        "InvalidArgumentError",
    );
}

#[wasm_bindgen_test]
fn kmeans_trains_and_assigns() {
    let base = base();
    let seen = js_sys::Array::new();
    let record = js_sys::Function::new_with_args("it, inertia", "this.push(inertia)").bind0(&seen);
    let km = KMeans::train(
        f32s(&base),
        JsValue::from(DIM as u32),
        options(&[
            ("k", 8.into()),
            ("seed", 5.into()),
            ("iters", 10.into()),
            ("onProgress", record.into()),
        ]),
    )
    .expect("train");
    assert_eq!((km.k(), km.dim()), (8, DIM));
    assert_eq!(km.centroids().length() as usize, 8 * DIM);
    assert!(seen.length() >= 1 && seen.length() <= 10);
    let a = km.assign(f32s(&base[..10 * DIM])).unwrap().to_vec();
    assert!(a.iter().all(|&c| c < 8));
    // The same seed gives the same centroids.
    let again = KMeans::train(
        f32s(&base),
        JsValue::from(DIM as u32),
        options(&[("k", 8.into()), ("seed", 5.into()), ("iters", 10.into())]),
    )
    .unwrap();
    assert_eq!(again.centroids().to_vec(), km.centroids().to_vec());
    assert_error(
        KMeans::train(
            f32s(&base[..5]),
            JsValue::from(DIM as u32),
            options(&[("k", 2.into())]),
        )
        .map(|_| ()),
        "DimensionMismatchError",
    );
    assert_error(
        KMeans::train(f32s(&base), JsValue::from(DIM as u32), JsValue::UNDEFINED).map(|_| ()),
        "InvalidArgumentError",
    );
    // The hierarchical start: the same centroids as the core's, other than
    // k-means++'s; an unknown start is refused.
    let hier = KMeans::train(
        f32s(&base),
        JsValue::from(DIM as u32),
        options(&[
            ("k", 40.into()),
            ("seed", 5.into()),
            ("iters", 4.into()),
            ("init", "hierarchical".into()),
        ]),
    )
    .expect("hierarchical");
    let params = vectrove_core::kmeans::KMeansParams {
        k: 40,
        seed: 5,
        max_iters: 4,
        init: vectrove_core::kmeans::Init::Hierarchical,
        ..Default::default()
    };
    let store = vectrove_core::MemoryStore::from_flat(DIM, &base).unwrap();
    let core = vectrove_core::KMeans::fit(&params, &store, |_| true).unwrap();
    assert_eq!(hier.centroids().to_vec(), core.centroids());
    assert_error(
        KMeans::train(
            f32s(&base),
            JsValue::from(DIM as u32),
            options(&[("k", 4.into()), ("init", "k-means++".into())]),
        )
        .map(|_| ()),
        "InvalidArgumentError",
    );
}

#[wasm_bindgen_test]
fn pca_fits_and_projects() {
    // Points spread along two known orthogonal directions of 8-d space (the
    // first with the larger spread), plus a little noise and an offset.
    const D: usize = 8;
    let mut rng = vectrove_core::rng::SplitMix64::new(3);
    let u = [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0].map(|x: f64| x / 2.0);
    let v = [0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 1.0, -1.0].map(|x: f64| x / 2.0);
    let mut data = Vec::new();
    for _ in 0..500 {
        let (a, b) = (rng.next_f64() * 2.0 - 1.0, rng.next_f64() * 2.0 - 1.0);
        for j in 0..D {
            let noise = (rng.next_f64() - 0.5) * 0.01;
            data.push((5.0 + 4.0 * a * u[j] + 1.5 * b * v[j] + noise) as f32);
        }
    }
    let pca = Pca::fit(
        f32s(&data),
        JsValue::from(D as u32),
        options(&[("components", 3.into()), ("seed", 5.into())]),
    )
    .expect("fit");
    assert_eq!((pca.dim(), pca.n_components()), (D, 3));
    assert!(pca.iterations() >= 1);
    let c = pca.components().to_vec();
    assert_eq!(c.len(), 3 * D);
    assert_eq!(pca.mean().length() as usize, D);
    for i in 0..3 {
        for j in 0..3 {
            let d: f32 = (0..D).map(|t| c[i * D + t] * c[j * D + t]).sum();
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((d - want).abs() < 1e-5, "({i}, {j}): {d}");
        }
    }
    let along = |i: usize, axis: &[f64; D]| -> f64 {
        (0..D)
            .map(|t| f64::from(c[i * D + t]) * axis[t])
            .sum::<f64>()
            .abs()
    };
    assert!(along(0, &u) > 0.999 && along(1, &v) > 0.999);
    let var = pca.explained_variance().to_vec();
    let ratio = pca.explained_variance_ratio().to_vec();
    assert_eq!((var.len(), ratio.len()), (3, 3));
    assert!(var[0] >= var[1] && var[1] >= var[2], "{var:?}");
    assert!(ratio[0] + ratio[1] > 0.99 && ratio.iter().sum::<f64>() <= 1.0 + 1e-9);
    let projected = pca.transform(f32s(&data[..10 * D])).expect("transform");
    assert_eq!(projected.length(), 10 * 3);
    // The same seed gives the same model.
    let again = Pca::fit(
        f32s(&data),
        JsValue::from(D as u32),
        options(&[("components", 3.into()), ("seed", 5.into())]),
    )
    .unwrap();
    assert_eq!(again.components().to_vec(), c);
    // The real embeddings, to 2-D with the defaults.
    let base = base();
    let real = Pca::fit(f32s(&base), JsValue::from(DIM as u32), JsValue::UNDEFINED).unwrap();
    assert_eq!(real.n_components(), 2);
    assert_eq!(
        real.transform(f32s(&base)).unwrap().length() as usize,
        base.len() / DIM * 2
    );
    // Bad input.
    assert_error(
        Pca::fit(
            f32s(&data[..5]),
            JsValue::from(D as u32),
            JsValue::UNDEFINED,
        )
        .map(|_| ()),
        "DimensionMismatchError",
    );
    assert_error(
        Pca::fit(
            f32s(&data),
            JsValue::from(D as u32),
            options(&[("components", 9.into())]),
        )
        .map(|_| ()),
        "InvalidArgumentError",
    );
    assert_error(
        Pca::fit(f32s(&[]), JsValue::from(D as u32), JsValue::UNDEFINED).map(|_| ()),
        "InvalidArgumentError",
    );
    let mut nan = data.clone();
    nan[3] = f32::NAN;
    assert_error(
        Pca::fit(f32s(&nan), JsValue::from(D as u32), JsValue::UNDEFINED).map(|_| ()),
        "InvalidVectorError",
    );
    assert_error(
        pca.transform(f32s(&data[..D - 1])).map(|_| ()),
        "DimensionMismatchError",
    );
}

#[wasm_bindgen_test]
async fn opfs_outside_a_worker_is_a_clear_error() {
    let e = await_js(Index::open(
        "x".into(),
        options(&[("storage", "opfs".into())]),
    ))
    .await;
    let msg = assert_error(e, "UnsupportedError");
    assert!(msg.contains("worker"), "{msg}");
}

#[wasm_bindgen_test]
async fn huge_k_gives_every_point_and_leaves_the_index_usable() {
    let index = Index::from_bytes(GOLDEN, JsValue::UNDEFINED).unwrap();
    assert_huge_k_gives_everything(&index).await;
    let q = &queries()[..DIM];
    for k in [2f64.powi(31), 2f64.powi(28), 2f64.powi(53) - 1.0] {
        let all = index
            .search_sync(
                f32s(q),
                JsValue::from(k),
                options(&[("ef", JsValue::from(k))]),
            )
            .expect("searchSync with a huge k");
        assert_eq!(hits(&all).len(), 2000, "k = {k}");
    }
    // Deleted points are never counted in.
    assert!(index.delete(JsValue::from(3)).unwrap());
    let all = hits(
        &index
            .search_sync(f32s(q), JsValue::from(2f64.powi(31)), JsValue::UNDEFINED)
            .unwrap(),
    );
    assert_eq!(all.len(), 1999);
    assert!(!all.iter().any(|h| h.0 == 3));
    index
        .add(JsValue::from(3), f32s(q))
        .expect("the index is not left borrowed");
    // IVF: every point of the probed lists.
    let base = base();
    let ivf = Index::train_ivf(
        JsValue::from(DIM as u32),
        f32s(&base[..200 * DIM]),
        options(&[("nlist", 4.into()), ("seed", 3.into())]),
    )
    .unwrap();
    let ids = Float64Array::new_with_length(200);
    for i in 0..200 {
        ids.set_index(i, f64::from(i));
    }
    await_js(ivf.add_many(ids.into(), f32s(&base[..200 * DIM]), JsValue::UNDEFINED))
        .await
        .unwrap();
    let every = options(&[("nprobe", JsValue::from(2f64.powi(31)))]);
    for k in [2f64.powi(31), 2f64.powi(28)] {
        let all = ivf
            .search_sync(f32s(q), JsValue::from(k), every.clone())
            .unwrap();
        assert_eq!(hits(&all).len(), 200, "k = {k}");
        let all = await_js(ivf.search(f32s(q), JsValue::from(k), every.clone()))
            .await
            .unwrap();
        assert_eq!(hits(&all).len(), 200, "k = {k}");
    }
    assert_eq!(
        hits(
            &ivf.search_sync(f32s(q), JsValue::from(5), JsValue::UNDEFINED)
                .unwrap()
        )
        .len(),
        5
    );
}

#[wasm_bindgen_test]
fn hostile_numbers_get_typed_errors() {
    let index = Index::from_bytes(GOLDEN, JsValue::UNDEFINED).unwrap();
    let q = &queries()[..DIM];
    // Numbers out of range are InvalidArgumentError; values that are not
    // numbers at all, TypeError.
    let bad_k = [
        (JsValue::from(0), "InvalidArgumentError"),
        (JsValue::from(-1), "InvalidArgumentError"),
        (JsValue::from(-0.5), "InvalidArgumentError"),
        (JsValue::from(1.5), "InvalidArgumentError"),
        (JsValue::from(f64::NAN), "InvalidArgumentError"),
        (JsValue::from(f64::INFINITY), "InvalidArgumentError"),
        (JsValue::from(2f64.powi(60)), "InvalidArgumentError"),
        (JsValue::from("10"), "TypeError"),
        (JsValue::NULL, "TypeError"),
        (JsValue::UNDEFINED, "TypeError"),
        (js_sys::BigInt::from(10u32).into(), "TypeError"),
        (js_sys::Object::new().into(), "TypeError"),
    ];
    for (k, name) in &bad_k {
        let msg = assert_error(
            index.search_sync(f32s(q), k.clone(), JsValue::UNDEFINED),
            name,
        );
        assert!(msg.contains("`k`"), "{msg}");
    }
    for (key, v, name) in [
        ("ef", JsValue::from(-1), "InvalidArgumentError"),
        ("ef", JsValue::from(f64::NAN), "InvalidArgumentError"),
        (
            "nprobe",
            JsValue::from(f64::INFINITY),
            "InvalidArgumentError",
        ),
        ("filter", JsValue::from(3), "TypeError"),
        ("efSearch", JsValue::from(3), "TypeError"),
    ] {
        let msg = assert_error(
            index.search_sync(f32s(q), JsValue::from(3), options(&[(key, v)])),
            name,
        );
        assert!(msg.contains(key), "{msg}");
    }
    assert_error(
        index.search_sync(f32s(q), JsValue::from(3), JsValue::from("fast")),
        "TypeError",
    );
    // Vectors that are not numbers: a TypeError naming the element, not NaN.
    let strings = js_sys::Array::of3(&"1".into(), &"2".into(), &"3".into());
    let msg = assert_error(
        index.search_sync(strings.into(), JsValue::from(3), JsValue::UNDEFINED),
        "TypeError",
    );
    assert!(msg.contains("query[0]"), "{msg}");
    assert_error(
        index.search_sync("abc".into(), JsValue::from(3), JsValue::UNDEFINED),
        "TypeError",
    );
    assert_error(
        index.search_sync(f32s(&q[..DIM - 1]), JsValue::from(3), JsValue::UNDEFINED),
        "DimensionMismatchError",
    );
    assert_error(
        index.search_sync(f32s(&[]), JsValue::from(3), JsValue::UNDEFINED),
        "DimensionMismatchError",
    );
    let mut nan = q.to_vec();
    nan[7] = f32::NAN;
    assert_error(
        index.search_sync(f32s(&nan), JsValue::from(3), JsValue::UNDEFINED),
        "InvalidVectorError",
    );
    for id in [
        JsValue::from(-1),
        JsValue::from(2f64.powi(53)),
        JsValue::from(f64::NAN),
        js_sys::BigInt::from(-1i32).into(),
    ] {
        assert_error(index.get(id.clone()), "InvalidArgumentError");
        assert_error(index.contains(id.clone()), "InvalidArgumentError");
        assert_error(index.delete(id.clone()), "InvalidArgumentError");
        assert_error(index.add(id, f32s(q)), "InvalidArgumentError");
    }
    // Ids the index does not hold, up to 2^64 - 1. An index of numbers
    // cannot give back an id above 2^53 - 1, so only a "bigint" one takes it.
    let top: JsValue = js_sys::BigInt::from(u64::MAX).into();
    assert!(index.get(top.clone()).unwrap().is_none());
    assert!(!index.delete(top.clone()).unwrap());
    assert_error(index.add(top.clone(), f32s(q)), "InvalidArgumentError");
    let wide = Index::from_bytes(GOLDEN, options(&[("idType", "bigint".into())])).unwrap();
    wide.add(top.clone(), f32s(q)).unwrap();
    assert!(wide.contains(top.clone()).unwrap());
    let found = wide
        .search_sync(f32s(q), JsValue::from(1), JsValue::UNDEFINED)
        .unwrap();
    let id = Reflect::get(&Array::from(&found).get(0), &"id".into()).unwrap();
    assert_eq!(u64::try_from(id).unwrap(), u64::MAX);
    // Dimensions the file format cannot hold (it stops at 2^20).
    for dim in [0.0, 2f64.powi(20) + 1.0, 2f64.powi(31), 2f64.powi(40), -3.0] {
        assert_error(
            Index::new(JsValue::from(dim), JsValue::UNDEFINED),
            "InvalidArgumentError",
        );
        assert_error(
            Index::train_ivf(JsValue::from(dim), f32s(&[1.0; 8]), JsValue::UNDEFINED),
            "InvalidArgumentError",
        );
    }
    for (key, v) in [("m", 2f64.powi(40)), ("m", 0.0), ("efConstruction", 0.0)] {
        assert_error(
            Index::new(JsValue::from(4), options(&[(key, JsValue::from(v))])),
            "InvalidArgumentError",
        );
    }
    assert_error(
        Index::train_ivf(JsValue::from(4), f32s(&[]), JsValue::UNDEFINED),
        "InvalidArgumentError",
    );
    assert_error(
        Index::train_ivf(
            JsValue::from(4),
            f32s(&[1.0; 8]),
            options(&[("nlist", 2f64.powi(31).into())]),
        ),
        "InvalidArgumentError",
    );
    assert_eq!(index.length().unwrap(), 2000);
    assert_eq!(wide.length().unwrap(), 2001);
}

#[wasm_bindgen_test]
async fn searches_at_once_in_memory() {
    let index = Index::from_bytes(GOLDEN, JsValue::UNDEFINED).unwrap();
    assert_concurrent_searches(&index, 12).await;
    let index = assert_changes_beside_searches(index).await;
    assert_concurrent_searches(&index, 8).await;
}

/// The index still works, synchronously and asynchronously.
async fn assert_still_working(index: &Index) {
    let n = index.length().unwrap();
    let ids = js_sys::Array::of2(&10.into(), &11.into());
    await_js(index.add_many(ids.into(), f32s(&[0.5; 6]), JsValue::UNDEFINED))
        .await
        .expect("addMany after a hostile call");
    assert_eq!(index.length().unwrap(), n + 2);
    let found =
        await_js(index.search(f32s(&[1.0, 0.0, 0.0]), JsValue::from(2), JsValue::UNDEFINED))
            .await
            .unwrap();
    assert_eq!(hit_ids(&found), [1, 3]);
}

fn import_memory(source: JsValue) -> js_sys::Promise {
    Index::import("x".into(), source, options(&[("storage", "memory".into())]))
}

#[wasm_bindgen_test]
async fn ids_that_throw_or_claim_too_many_entries_get_errors() {
    let index = small_index();
    let v = vec![0.5f32; 6];
    // An ids array whose elements throw: its exception comes back.
    let e = await_js(index.add_many(
        hostile("throwing ids"),
        f32s(&v.clone()),
        JsValue::UNDEFINED,
    ))
    .await
    .unwrap_err();
    assert_eq!(error_name(&e), "RangeError");
    // An ids array claiming 2^32 - 1 entries for two vectors.
    let e = await_js(index.add_many(hostile("endless ids"), f32s(&v), JsValue::UNDEFINED)).await;
    assert_error(e, "InvalidArgumentError");
    assert_still_working(&index).await;
}

#[wasm_bindgen_test]
async fn a_stream_failing_with_an_odd_error_gets_a_storage_error() {
    // An Error whose name is a number and whose message getter throws; the
    // errored stream's cancel is not left to reject unhandled.
    let e = await_js(import_memory(hostile("odd error stream"))).await;
    assert_error(e, "StorageError");
    assert_still_working(&small_index()).await;
}

#[wasm_bindgen_test]
async fn a_view_whose_offset_lies_gets_an_error() {
    let e = await_js(import_memory(hostile("lying view"))).await;
    assert_error(e, "StorageError");
    assert_still_working(&small_index()).await;
}

/// Mean overlap of two lists of result lists (ids only), from 0 to 1.
fn overlap(a: &[Vec<(u64, f32)>], b: &[Vec<(u64, f32)>]) -> f64 {
    let (mut same, mut total) = (0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        total += y.len();
        same += x.iter().filter(|h| y.iter().any(|g| g.0 == h.0)).count();
    }
    same as f64 / total.max(1) as f64
}

#[wasm_bindgen_test]
async fn quantize_option_method_and_typed_errors() {
    let base = base();
    // Chosen at creation: codes train at the insert that reaches 1,000.
    let index = Index::new(
        JsValue::from(DIM as u32),
        options(&[
            ("quantize", "sq8".into()),
            ("efConstruction", 40.into()),
            ("seed", 3.into()),
        ]),
    )
    .expect("new index with codes");
    assert_eq!(
        index.quantization().unwrap().as_string().as_deref(),
        Some("sq8")
    );
    assert!(!index.quantized().unwrap());
    let ids: Vec<f64> = (0..999).map(f64::from).collect();
    await_js(index.add_many(
        Float64Array::from(&ids[..]).into(),
        f32s(&base[..999 * DIM]),
        JsValue::UNDEFINED,
    ))
    .await
    .expect("addMany");
    assert!(!index.quantized().unwrap(), "trained before 1,000 vectors");
    index
        .add(JsValue::from(999), f32s(&base[999 * DIM..1000 * DIM]))
        .unwrap();
    assert!(index.quantized().unwrap());
    // Later vectors are encoded as they come, and found.
    index
        .add(JsValue::from(5000), f32s(&base[1500 * DIM..1501 * DIM]))
        .unwrap();
    let own = search_hits(&index, &base[1500 * DIM..1501 * DIM], 1.0).await;
    assert_eq!(own[0].0, 5000);
    // Through the file: the codes come along, and so do the results.
    let copy = Index::from_bytes(&index.to_bytes().unwrap(), JsValue::UNDEFINED).unwrap();
    assert!(copy.quantized().unwrap());
    for q in queries().chunks_exact(DIM).take(20) {
        assert_eq!(
            search_hits(&copy, q, 10.0).await,
            search_hits(&index, q, 10.0).await
        );
    }
    // Pending codes (fewer than 1,000 vectors) survive a round trip too.
    let pending = Index::new(JsValue::from(3), options(&[("quantize", "sq8".into())])).unwrap();
    pending
        .add(JsValue::from(1), f32s(&[1.0, 2.0, 3.0]))
        .unwrap();
    let back = Index::from_bytes(&pending.to_bytes().unwrap(), JsValue::UNDEFINED).unwrap();
    assert_eq!(
        back.quantization().unwrap().as_string().as_deref(),
        Some("sq8")
    );
    assert!(!back.quantized().unwrap());

    // Bad input: typed errors, nothing changed.
    for (bad, name) in [
        (JsValue::from("pq4"), "InvalidArgumentError"),
        (JsValue::from(8), "TypeError"),
        (JsValue::from("SQ8"), "InvalidArgumentError"),
    ] {
        assert_error(
            Index::new(JsValue::from(3), options(&[("quantize", bad.clone())])),
            name,
        );
        assert_error(
            Index::train_ivf(
                JsValue::from(1),
                f32s(&[0.0, 1.0, 2.0, 3.0]),
                options(&[("nlist", 2.into()), ("quantize", bad)]),
            ),
            name,
        );
    }
    let empty = Index::new(JsValue::from(3), JsValue::UNDEFINED).unwrap();
    let msg = assert_error(empty.quantize("sq8".into()), "InvalidArgumentError");
    assert!(msg.contains("no vectors"), "{msg}");
    assert!(empty.quantization().unwrap().is_null());
    let small = small_index();
    assert_error(small.quantize("sq2".into()), "InvalidArgumentError");
    for bad in [JsValue::from(8), JsValue::NULL, JsValue::UNDEFINED] {
        assert_error(small.quantize(bad), "TypeError");
    }
    assert!(small.quantization().unwrap().is_null());
    assert!(!small.quantized().unwrap());
    small.quantize("sq8".into()).expect("quantize");
    assert!(small.quantized().unwrap());
    assert_eq!(small.length().unwrap(), 3);
    // Quantising again retrains; results stay right.
    small.quantize("sq8".into()).expect("quantize again");
    let q = [1.0, 0.0, 0.0];
    for (bad, name) in [
        (JsValue::from(-1), "InvalidArgumentError"),
        (JsValue::from(1.5), "InvalidArgumentError"),
        (JsValue::from("many"), "TypeError"),
    ] {
        assert_error(
            small.search_sync(f32s(&q), JsValue::from(1), options(&[("rerank", bad)])),
            name,
        );
    }
    // k and rerank beyond the index: every point, nearest first.
    for rerank in [0.0, 1.0, 1e6, 2f64.powi(40)] {
        let top = hits(
            &small
                .search_sync(
                    f32s(&q),
                    JsValue::from(10),
                    options(&[("rerank", JsValue::from(rerank))]),
                )
                .unwrap(),
        );
        let ids: Vec<u64> = top.iter().map(|h| h.0).collect();
        assert_eq!(ids, [1, 3, 2], "rerank {rerank}");
    }
    assert!(small.delete(JsValue::from(1)).unwrap());
    let top = hit_ids(
        &small
            .search_sync(f32s(&q), JsValue::from(10), JsValue::UNDEFINED)
            .unwrap(),
    );
    assert_eq!(top, [3, 2]);
}

#[wasm_bindgen_test]
async fn codes_search_like_the_exact_index_and_open_byte_for_byte() {
    let exact = Index::from_bytes(GOLDEN, JsValue::UNDEFINED).unwrap();
    let exact_hits = all_hits(&exact, &[]).await;
    let r_exact = recall(&exact, 64).await;
    let sq8 = Index::from_bytes(GOLDEN, JsValue::UNDEFINED).unwrap();
    sq8.quantize("sq8".into()).expect("quantize");
    assert!(sq8.quantized().unwrap());
    let r16 = recall(&sq8, 16).await;
    let r64 = recall(&sq8, 64).await;
    console_log!("recall@10 at ef 64: exact {r_exact:.3}, sq8 {r64:.3} (ef 16: {r16:.3})");
    assert!(r64 >= r_exact - 0.02, "sq8 {r64} against exact {r_exact}");
    // Quantised here, the file is the one the native CLI writes with
    // `--quantize sq8`: the same codes from the same vectors.
    assert_eq!(sq8.to_bytes().unwrap(), GOLDEN_SQ8);
    // The native file opens byte for byte and searches like native.
    let native = Index::from_bytes(GOLDEN_SQ8, JsValue::UNDEFINED).unwrap();
    assert_eq!(
        native.quantization().unwrap().as_string().as_deref(),
        Some("sq8")
    );
    assert!(native.quantized().unwrap());
    assert_eq!(native.to_bytes().unwrap(), GOLDEN_SQ8);
    assert_matches_top10(&native, GOLDEN_SQ8_TOP10, "golden sq8").await;
    assert_eq!(all_hits(&native, &[]).await, all_hits(&sq8, &[]).await);
    // Distances are exact (the rerank), so hits found by both agree.
    let codes_hits = all_hits(&native, &[]).await;
    for (a, b) in codes_hits.iter().zip(&exact_hits) {
        for h in a {
            if let Some(g) = b.iter().find(|g| g.0 == h.0) {
                assert_eq!(h.1, g.1, "id {}", h.0);
            }
        }
    }
    // A longer rerank never finds less.
    let long = all_hits(&native, &[("rerank", 64.into())]).await;
    assert!(overlap(&long, &exact_hits) >= overlap(&codes_hits, &exact_hits) - 1e-9);
    // Filters, deletions and huge k behave as without codes.
    let even = [("filter", even_ids())];
    let filtered = all_hits(&native, &even).await;
    let exact_filtered = all_hits(&exact, &even).await;
    assert!(
        filtered
            .iter()
            .all(|l| l.len() == 10 && l.iter().all(|h| h.0 % 2 == 0))
    );
    let o = overlap(&filtered, &exact_filtered);
    console_log!("filtered (even ids): sq8 finds {o:.3} of the exact index's hits");
    assert!(o >= 0.95, "{o}");
    let q = &queries()[..DIM];
    let top = search_hits(&native, q, 10.0).await[0].0;
    assert!(native.delete(JsValue::from(top as f64)).unwrap());
    assert!(exact.delete(JsValue::from(top as f64)).unwrap());
    let after = search_hits(&native, q, 10.0).await;
    assert!(!after.iter().any(|h| h.0 == top));
    assert_eq!(after, search_hits(&exact, q, 10.0).await);
    assert_huge_k_gives_everything(&native).await;
}

#[wasm_bindgen_test]
async fn ivf_takes_the_quantize_option() {
    let base = base();
    let train = |quantize: bool| {
        let mut o = vec![("nlist", JsValue::from(16)), ("seed", JsValue::from(5))];
        if quantize {
            o.push(("quantize", "sq8".into()));
        }
        Index::train_ivf(JsValue::from(DIM as u32), f32s(&base.clone()), options(&o)).unwrap()
    };
    let ids: Vec<f64> = (0..2000).map(f64::from).collect();
    let (exact, sq8) = (train(false), train(true));
    assert_eq!(
        sq8.quantization().unwrap().as_string().as_deref(),
        Some("sq8")
    );
    assert!(!sq8.quantized().unwrap());
    for index in [&exact, &sq8] {
        await_js(index.add_many(
            Float64Array::from(&ids[..]).into(),
            f32s(&base.clone()),
            JsValue::UNDEFINED,
        ))
        .await
        .expect("addMany");
    }
    assert!(sq8.quantized().unwrap());
    let nprobe = [("nprobe", JsValue::from(4))];
    let (a, b) = (
        all_hits(&exact, &nprobe).await,
        all_hits(&sq8, &nprobe).await,
    );
    let o = overlap(&b, &a);
    console_log!("ivf nprobe 4: sq8 finds {o:.3} of the exact scan's hits");
    assert!(o >= 0.97, "{o}");
    let copy = Index::from_bytes(&sq8.to_bytes().unwrap(), JsValue::UNDEFINED).unwrap();
    assert!(copy.quantized().unwrap());
    assert_eq!(all_hits(&copy, &nprobe).await, b);
    // `quantize` on an IVF index trains now.
    exact.quantize("sq8".into()).unwrap();
    assert!(exact.quantized().unwrap());
    assert_eq!(all_hits(&exact, &nprobe).await, b);
}
