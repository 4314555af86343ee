//! k-means: finds planted clusters, is deterministic for a seed, repairs
//! empty clusters, samples at random, and refuses bad input.

use vectrove_core::kmeans::{Init, KMeans, KMeansParams, copy_sample, sample_slots};
use vectrove_core::rng::SplitMix64;
use vectrove_core::{Error, FeatureStore, MemoryStore, Metric};

const CENTRES: [[f32; 3]; 4] = [
    [10.0, 0.0, 0.0],
    [0.0, 10.0, 0.0],
    [0.0, 0.0, 10.0],
    [-10.0, -10.0, -10.0],
];

fn blobs(per: usize, seed: u64) -> MemoryStore {
    let mut rng = SplitMix64::new(seed);
    let mut data = Vec::new();
    for i in 0..per * CENTRES.len() {
        let c = CENTRES[i % CENTRES.len()];
        for x in c {
            data.push(x + rng.next_f64() as f32 - 0.5);
        }
    }
    MemoryStore::from_flat(3, &data).unwrap()
}

fn params(k: usize, seed: u64) -> KMeansParams {
    KMeansParams {
        k,
        seed,
        ..KMeansParams::default()
    }
}

#[test]
fn finds_planted_clusters() {
    let store = blobs(250, 1);
    // Random initialisation may put two seeds in one blob and stall in that
    // local minimum; it only has to run.
    let random = KMeansParams {
        init: Init::Random,
        ..params(4, 7)
    };
    assert_eq!(KMeans::train(&random, &store, |_| true).unwrap().k(), 4);
    for init in [Init::KMeansPlusPlus, Init::Hierarchical] {
        let p = KMeansParams {
            init,
            ..params(4, 7)
        };
        let mut seen = Vec::new();
        let km = KMeans::train(&p, &store, |s| {
            seen.push(s.inertia);
            true
        })
        .unwrap();
        assert_eq!(km.k(), 4);
        // Every planted centre has a centroid within 0.2 of it.
        for c in CENTRES {
            let near = km
                .centroids()
                .chunks_exact(3)
                .map(|x| x.iter().zip(c).map(|(a, b)| (a - b).powi(2)).sum::<f32>())
                .fold(f32::INFINITY, f32::min);
            assert!(near < 0.04, "{init:?}: no centroid near {c:?} ({near})");
        }
        // Noise is uniform in [-0.5, 0.5]^3: 1000 points x 3 x 1/12.
        let last = *seen.last().unwrap();
        assert!((last - 250.0).abs() < 40.0, "{init:?}: inertia {last}");
        assert_eq!(km.stats().len(), seen.len());
        let (c, _) = km.assign(&[9.0, 0.5, 0.0]).unwrap();
        let got = &km.centroids()[c as usize * 3..c as usize * 3 + 3];
        assert!(got[0] > 9.0, "{got:?}");
    }
}

#[test]
fn same_seed_same_centroids_bit_for_bit() {
    let store = blobs(300, 2);
    let run = |seed| {
        KMeans::train(&params(6, seed), &store, |_| true)
            .unwrap()
            .centroids()
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn empty_clusters_are_repaired() {
    // Three distinct points, many copies, and five clusters: some start
    // empty or become empty and must be split off others.
    let mut data = Vec::new();
    for i in 0..300 {
        data.extend_from_slice(&CENTRES[i % 3]);
    }
    let store = MemoryStore::from_flat(3, &data).unwrap();
    let mut repaired = 0;
    let km = KMeans::train(&params(5, 3), &store, |s| {
        repaired += s.repaired;
        true
    })
    .unwrap();
    assert!(km.centroids().iter().all(|x| x.is_finite()));
    assert!(repaired > 0, "no repair happened");
    // Every point sits on (a slightly perturbed copy of) a centroid.
    assert!(km.stats().last().unwrap().inertia < 1.0);
}

#[test]
fn cosine_and_inner_product_variants() {
    let store = blobs(100, 4);
    let km = KMeans::train(
        &KMeansParams {
            metric: Metric::Cosine,
            ..params(4, 1)
        },
        &store,
        |_| true,
    )
    .unwrap();
    for c in km.centroids().chunks_exact(3) {
        let norm: f32 = c.iter().map(|x| x * x).sum();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "spherical centroid of norm {norm}"
        );
    }
    let km = KMeans::train(
        &KMeansParams {
            metric: Metric::InnerProduct,
            ..params(4, 1)
        },
        &store,
        |_| true,
    )
    .unwrap();
    assert_eq!(km.k(), 4);
}

#[test]
fn samples_at_random_not_the_first_rows() {
    let p = KMeansParams {
        max_points_per_centroid: 10,
        ..params(8, 9)
    };
    let s = sample_slots(&p, 10_000);
    assert_eq!(s.len(), 80);
    assert!(s.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
    assert!(*s.last().unwrap() > 5_000, "drawn from the whole input");
    assert_eq!(sample_slots(&p, 50).len(), 50);
    // Training on a sample copied to another store is the same as `fit`.
    let store = blobs(500, 5);
    let slots = sample_slots(&p, store.len());
    let mut sample = MemoryStore::new(3).unwrap();
    copy_sample(&store, &slots, &mut sample).unwrap();
    let a = KMeans::train(&p, &sample, |_| true).unwrap();
    let b = KMeans::fit(&p, &store, |_| true).unwrap();
    assert_eq!(a.centroids(), b.centroids());
}

#[test]
fn progress_can_stop_training() {
    let store = blobs(100, 6);
    let p = KMeansParams {
        tolerance: 0.0,
        ..params(4, 1)
    };
    let km = KMeans::train(&p, &store, |s| s.iteration < 3).unwrap();
    assert_eq!(km.stats().len(), 3);
}

#[test]
fn bad_input_is_an_error() {
    let store = blobs(10, 7);
    assert!(KMeans::train(&params(0, 1), &store, |_| true).is_err());
    assert!(KMeans::train(&params(41, 1), &store, |_| true).is_err());
    // Past the kernel's limit on centroid numbers: refused before anything else.
    let huge = params(vectrove_core::kmeans::MAX_K + 1, 1);
    match KMeans::train(&huge, &store, |_| true) {
        Err(Error::InvalidParameter { name: "k", reason }) => {
            assert!(reason.contains("at most"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let hamming = KMeansParams {
        metric: Metric::Hamming,
        ..params(2, 1)
    };
    assert!(KMeans::train(&hamming, &store, |_| true).is_err());
    let nan = MemoryStore::from_flat(2, &[0.0, 1.0, f32::NAN, 2.0, 3.0, 4.0]).unwrap();
    assert!(matches!(
        KMeans::train(&params(2, 1), &nan, |_| true),
        Err(Error::NonFinite { .. })
    ));
    let km = KMeans::train(&params(2, 1), &store, |_| true).unwrap();
    assert!(km.assign(&[1.0]).is_err());
}
