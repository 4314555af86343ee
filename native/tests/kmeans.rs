//! Training on a sample spilled to a temporary file gives the same centroids,
//! bit for bit, as training on the same sample in memory, and so does
//! training on any number of threads.

use vectrove::kmeans::{KMeans, KMeansParams, copy_sample, sample_slots};
use vectrove::stores::TempFileStore;
use vectrove::{FeatureStore, MemoryStore, Metric};
use vectrove_testkit::uniform;

#[test]
fn on_disk_and_in_memory_training_agree_bit_for_bit() {
    let (n, dim) = (20_000, 32);
    let data = uniform(n, dim, 0.0..1.0, 21);
    let input = MemoryStore::from_flat(dim, &data).unwrap();
    for metric in [Metric::L2, Metric::Cosine] {
        let params = KMeansParams {
            k: 64,
            metric,
            max_iters: 10,
            max_points_per_centroid: 128,
            seed: 99,
            ..KMeansParams::default()
        };
        let slots = sample_slots(&params, input.len());
        assert_eq!(slots.len(), 64 * 128);
        let mut in_memory = MemoryStore::new(dim).unwrap();
        copy_sample(&input, &slots, &mut in_memory).unwrap();
        let mut on_disk = TempFileStore::new(dim).unwrap();
        copy_sample(&input, &slots, &mut on_disk).unwrap();
        let a = KMeans::train(&params, &in_memory, |_| true).unwrap();
        let b = KMeans::train(&params, &on_disk, |_| true).unwrap();
        let bits = |k: &KMeans| {
            k.centroids()
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&a), bits(&b), "{metric}");
        assert_eq!(a.stats(), b.stats());
        assert_eq!(a.stats().len(), 10);
    }
}

#[test]
fn any_thread_count_gives_the_same_centroids() {
    // 20,000 points are five chunks of work, so threads really split them.
    let (n, dim) = (20_000, 24);
    let data = uniform(n, dim, 0.0..1.0, 5);
    let input = MemoryStore::from_flat(dim, &data).unwrap();
    let mut spill = TempFileStore::new(dim).unwrap();
    copy_sample(&input, &(0..n as u32).collect::<Vec<_>>(), &mut spill).unwrap();
    for metric in [Metric::L2, Metric::InnerProduct] {
        let params = KMeansParams {
            k: 50,
            metric,
            max_iters: 6,
            max_points_per_centroid: 1000,
            seed: 3,
            ..KMeansParams::default()
        };
        let serial = KMeans::train(&params, &input, |_| true).unwrap();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for on_disk in [false, true] {
                let km = pool
                    .install(|| {
                        if on_disk {
                            KMeans::train_parallel(&params, &spill, |_| true)
                        } else {
                            KMeans::train_parallel(&params, &input, |_| true)
                        }
                    })
                    .unwrap();
                let same = km
                    .centroids()
                    .iter()
                    .zip(serial.centroids())
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{metric}, {threads} threads, on disk {on_disk}");
                assert_eq!(km.stats(), serial.stats());
            }
        }
    }
}
