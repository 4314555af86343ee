//! The core on wasm32, in Node (`cargo test -p vectrove-core --target
//! wasm32-unknown-unknown`; the runner is set in `.cargo/config.toml`).
//! Plain `#[test]`s are skipped on wasm32, so these use `wasm_bindgen_test`.
#![cfg(target_arch = "wasm32")]

use crate::common;

use vectrove_core::{Error, Hnsw, Metric};
use vectrove_testkit::{base_and_queries, build_index, exact_ids, hnsw_recall};
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

const RECALL_SEED: u64 = 7;

fn recall_at_10(metric: Metric) {
    let (n, n_queries, dim) = (2_000, 200, 32);
    let (base, queries) = base_and_queries(n, n_queries, dim, RECALL_SEED);
    let index = build_index(&base, dim, metric, 16, 100, RECALL_SEED);
    let truth = exact_ids(metric, dim, &base, &queries, 10);
    // ef 64 is the bar; ef 16 (about 0.98 natively) notices a weaker graph
    // long before ef 64 does.
    for (ef, min) in [(16, 0.90), (64, 0.95)] {
        let recall = hnsw_recall(&index, &queries, &truth, 10, ef);
        console_log!(
            "{metric}: recall@10 = {recall:.4} at ef {ef} (seed {RECALL_SEED}, {n} x {dim}-d)"
        );
        assert!(
            recall >= min,
            "{metric}: recall@10 {recall:.4} < {min} at ef {ef} (seed {RECALL_SEED}, {n} x {dim}-d)"
        );
    }
}

#[wasm_bindgen_test]
fn recall_l2() {
    recall_at_10(Metric::L2);
}

#[wasm_bindgen_test]
fn recall_cosine() {
    recall_at_10(Metric::Cosine);
}

/// The same seed gives the same levels as natively, and the same results up
/// to near-ties (see `common::compare` for the exact rule).
#[wasm_bindgen_test]
fn matches_native_golden_file() {
    let got = common::snapshot();
    let want = common::golden();
    let exact = got.isa == want.isa;
    let errs = common::compare(&got, &want, exact);
    assert!(
        errs.is_empty(),
        "differs from the golden file (isa {} vs golden {}):\n{}",
        got.isa,
        want.isa,
        errs.join("\n")
    );
    let pairs = || got.results.iter().zip(&want.results);
    let swapped = pairs()
        .filter(|(g, w)| g.iter().map(|n| n.id).ne(w.iter().map(|n| n.id)))
        .count();
    let max_diff = pairs()
        .flat_map(|(g, w)| g.iter().zip(w))
        .map(|(a, b)| (a.distance - b.distance).abs() / b.distance.abs().max(1.0))
        .fold(0.0f32, f32::max);
    console_log!(
        "golden: {} levels equal; {swapped} of {} queries reorder near-ties; \
         largest distance difference {max_diff:e} (isa {} vs golden {})",
        got.levels.len(),
        got.results.len(),
        got.isa,
        want.isa
    );
}

/// Codes are the same bytes as natively, and a search on them finds the
/// same ids (code distances are exact integer sums on every target).
#[wasm_bindgen_test]
fn codes_match_native() {
    let (crcs, ids) = common::code_checksums();
    assert_eq!(crcs, common::GOLDEN_CODES, "codes differ: {crcs:#010x?}");
    let golden = common::golden();
    let want: Vec<u64> = golden.results[0].iter().map(|n| n.id).collect();
    let common = ids.iter().filter(|i| want.contains(i)).count();
    assert!(common >= 9, "{ids:?} on codes vs {want:?} exact");
    // The code kernel's sums are exact.
    let k = vectrove_core::simd::code_kernels();
    for dim in [1usize, 7, 8, 15, 16, 17, 33, 384] {
        let q: Vec<i16> = (0..dim)
            .map(|i| ((i * 7919) % 4095) as i16 - 2047)
            .collect();
        let c: Vec<u8> = (0..dim).map(|i| (i * 31 % 256) as u8).collect();
        let want: i32 = q
            .iter()
            .zip(&c)
            .map(|(&w, &x)| i32::from(w) * i32::from(x))
            .sum();
        assert_eq!((k.dot)(&q, &c), want, "{} dim {dim}", k.isa);
        // The same values as 4-bit codes, packed in blocks of 32.
        let blocks = dim.div_ceil(32);
        let mut w = q.clone();
        w.resize(blocks * 32, 0);
        let mut u: Vec<u8> = c.iter().map(|x| x & 15).collect();
        u.resize(blocks * 32, 0);
        let packed: Vec<u8> = u
            .chunks_exact(32)
            .flat_map(|b| (0..16).map(move |j| b[j] | (b[16 + j] << 4)))
            .collect();
        let want4: i32 = w
            .iter()
            .zip(&u)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum();
        assert_eq!((k.dot4)(&w, &packed), want4, "{} dim {dim}", k.isa);
    }
    assert_eq!(
        vectrove_core::simd::code_kernels().isa,
        if cfg!(target_feature = "simd128") {
            "simd128"
        } else {
            "scalar"
        }
    );
}

#[wasm_bindgen_test]
fn uses_simd128_when_built_with_it() {
    let isa = vectrove_core::simd::kernels().isa;
    if cfg!(target_feature = "simd128") {
        assert_eq!(isa, "simd128");
    } else {
        assert_eq!(isa, "scalar");
    }
}

#[wasm_bindgen_test]
fn bad_input_is_an_error_and_changes_nothing() {
    let mut index = Hnsw::builder(4, Metric::L2).seed(1).build().unwrap();
    index.insert(1, &[0.0, 1.0, 2.0, 3.0]).unwrap();

    let short = index.insert(2, &[1.0, 2.0]);
    assert!(
        matches!(
            short,
            Err(Error::DimensionMismatch {
                expected: 4,
                got: 2
            })
        ),
        "{short:?}"
    );
    let nan = index.insert(3, &[1.0, f32::NAN, 0.0, 0.0]);
    assert!(
        matches!(nan, Err(Error::NonFinite { position: 1 })),
        "{nan:?}"
    );
    let inf = index.insert(4, &[f32::INFINITY, 0.0, 0.0, 0.0]);
    assert!(
        matches!(inf, Err(Error::NonFinite { position: 0 })),
        "{inf:?}"
    );
    let dup = index.insert(1, &[0.0; 4]);
    assert!(matches!(dup, Err(Error::DuplicateId { id: 1 })), "{dup:?}");
    let many = index.insert_many(&[5, 6], &[0.0; 7]);
    assert!(
        matches!(many, Err(Error::DimensionMismatch { .. })),
        "{many:?}"
    );
    assert_eq!(index.len(), 1, "a refused insert must not change the index");

    let long = index.search(&[0.0; 5], 1, 16);
    assert!(
        matches!(
            long,
            Err(Error::DimensionMismatch {
                expected: 4,
                got: 5
            })
        ),
        "{long:?}"
    );
    let nan = index.search(&[0.0, 0.0, f32::NAN, 0.0], 1, 16);
    assert!(
        matches!(nan, Err(Error::NonFinite { position: 2 })),
        "{nan:?}"
    );

    let mut cosine = Hnsw::builder(2, Metric::Cosine).build().unwrap();
    assert!(matches!(
        cosine.insert(1, &[0.0, 0.0]),
        Err(Error::ZeroVector)
    ));
    assert!(Hnsw::builder(2, Metric::Hamming).build().is_err());
    assert!(Hnsw::builder(2, Metric::L2).m(1).build().is_err());
}

#[wasm_bindgen_test]
fn empty_index_and_k_beyond_len() {
    let mut index = Hnsw::builder(3, Metric::L2).seed(3).build().unwrap();
    assert!(index.search(&[1.0, 2.0, 3.0], 10, 32).unwrap().is_empty());
    assert!(index.search(&[1.0, 2.0, 3.0], 0, 32).unwrap().is_empty());

    for i in 0..5u64 {
        let x = i as f32;
        index.insert(i, &[x, x * 2.0, 1.0]).unwrap();
    }
    let hits = index.search(&[0.0, 0.0, 1.0], 50, 8).unwrap();
    assert_eq!(hits.len(), 5, "k > len returns every point");
    let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4]);
    assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
    assert_eq!(hits[0].distance, 0.0);
}

/// The blocked product and the argmin kernel of the selected table (simd128
/// when the module is built with it) agree with pair-by-pair products.
#[wasm_bindgen_test]
fn blocked_products_match_pairwise() {
    let k = vectrove_core::simd::kernels();
    let mut rng = vectrove_core::rng::SplitMix64::new(11);
    for (na, nb, dim) in [(1, 1, 1), (7, 9, 5), (13, 17, 33), (4, 8, 384)] {
        let mut draw = |n: usize| -> Vec<f32> {
            (0..n * dim)
                .map(|_| rng.next_f64() as f32 * 2.0 - 1.0)
                .collect()
        };
        let (a, b) = (draw(na), draw(nb));
        let mut out = vec![f32::NAN; na * nb];
        (k.dots)(&a, &k.pack(&b, dim), &mut out);
        for i in 0..na {
            for j in 0..nb {
                let want = (k.dot)(&a[i * dim..(i + 1) * dim], &b[j * dim..(j + 1) * dim]);
                let got = out[i * nb + j];
                assert!(
                    (got - want).abs() <= 1e-4 * dim as f32,
                    "{} {i},{j}: {got} vs {want}",
                    k.isa
                );
            }
        }
        let row = &out[..nb];
        let (j, s) = (k.argmin)(row, -1.0, &vec![0.0; nb]);
        let best = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!((row[j as usize], s), (best, -best));
    }
}

/// k-means on wasm32: finds planted clusters and gives the same centroids
/// for the same seed.
#[wasm_bindgen_test]
fn kmeans_is_deterministic_and_finds_clusters() {
    use vectrove_core::kmeans::{KMeans, KMeansParams};
    let centres = [
        [5.0f32, 0.0, 0.0, 0.0],
        [0.0, 5.0, 0.0, 0.0],
        [0.0, 0.0, 5.0, 5.0],
    ];
    let mut rng = vectrove_core::rng::SplitMix64::new(4);
    let mut data = Vec::new();
    for i in 0..3000 {
        for x in centres[i % 3] {
            data.push(x + rng.next_f64() as f32 - 0.5);
        }
    }
    let store = vectrove_core::MemoryStore::from_flat(4, &data).unwrap();
    let params = KMeansParams {
        k: 3,
        seed: 9,
        ..KMeansParams::default()
    };
    let a = KMeans::train(&params, &store, |_| true).unwrap();
    let b = KMeans::train(&params, &store, |_| true).unwrap();
    let bits = |k: &KMeans| {
        k.centroids()
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&a), bits(&b));
    for c in centres {
        let near = a
            .centroids()
            .chunks_exact(4)
            .map(|x| x.iter().zip(c).map(|(p, q)| (p - q).powi(2)).sum::<f32>())
            .fold(f32::INFINITY, f32::min);
        assert!(near < 0.01, "no centroid near {c:?}: {near}");
    }
    let inertia = a.stats().last().unwrap().inertia;
    console_log!(
        "k-means on wasm32: {} iterations, inertia {inertia:.1}",
        a.stats().len()
    );
    // Uniform noise in [-0.5, 0.5]^4: 3000 x 4 / 12.
    assert!((inertia - 1000.0).abs() < 100.0, "inertia {inertia}");
}
