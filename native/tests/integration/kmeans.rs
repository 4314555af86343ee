//! Training on a sample spilled to a temporary file gives the same centroids,
//! bit for bit, as training on the same sample in memory, and so does
//! training on any number of threads.

use vectrove::kmeans::{Init, KMeans, KMeansParams, copy_sample, sample_slots};
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

/// `fit` samples and trains on every thread in one call: on a memory map
/// and on positional reads of a real file, with or without a spill file,
/// in pools of 1, 2 and 3 threads, its centroids are those of the serial
/// `train` on the same sample in memory, bit for bit.
#[test]
fn fit_samples_and_runs_on_any_thread_count_with_the_same_centroids() {
    use std::io::Write;
    use vectrove::stores::{MmapStore, pread_store};
    let (n, dim) = (20_000, 24);
    let data = uniform(n, dim, 0.0..1.0, 8);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors.bin");
    let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let mapped = MmapStore::<f32>::open(&file, 0, n, dim, dim * 4).unwrap();
    let paged = pread_store::<f32>(file.try_clone().unwrap(), 0, n, dim, dim * 4, 1 << 20).unwrap();
    let bits = |k: &KMeans| {
        k.centroids()
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    };
    // Sampled (8,000 of 20,000 points) and whole (every point); k-means++
    // and the hierarchical start.
    for (metric, max_points_per_centroid, init) in [
        (Metric::L2, 200, Init::KMeansPlusPlus),
        (Metric::Cosine, 1_000, Init::KMeansPlusPlus),
        (Metric::L2, 200, Init::Hierarchical),
        (Metric::Cosine, 1_000, Init::Hierarchical),
    ] {
        let params = KMeansParams {
            k: 40,
            init,
            metric,
            max_iters: 5,
            max_points_per_centroid,
            seed: 17,
            ..KMeansParams::default()
        };
        let input = MemoryStore::from_flat(dim, &data).unwrap();
        let slots = sample_slots(&params, n);
        let mut sample = MemoryStore::new(dim).unwrap();
        copy_sample(&input, &slots, &mut sample).unwrap();
        let want = KMeans::train(&params, &sample, |_| true).unwrap();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let runs = pool.install(|| {
                [
                    KMeans::fit(&params, &mapped, |_| true),
                    KMeans::fit(&params, &paged, |_| true),
                    KMeans::fit_with(&params, &paged, TempFileStore::new(dim).ok(), |_| true),
                    KMeans::fit_with(
                        &params,
                        &mapped,
                        Some(MemoryStore::new(dim).unwrap()),
                        |_| true,
                    ),
                ]
            });
            for (i, km) in runs.into_iter().enumerate() {
                let km = km.unwrap();
                let what = format!("{metric}, {init:?}, {threads} threads, run {i}");
                assert_eq!(bits(&km), bits(&want), "{what}");
                assert_eq!(km.stats(), want.stats(), "{what}");
            }
        }
    }
}

/// With the `parallel` feature (always on in this crate), `fit` uses the
/// threads of the pool it runs in.
#[test]
fn fit_runs_on_the_threads_of_its_pool() {
    use std::collections::HashSet;
    use std::sync::Mutex;
    let (n, dim) = (40_000, 8);
    let data = uniform(n, dim, 0.0..1.0, 3);
    let input = MemoryStore::from_flat(dim, &data).unwrap();
    let params = KMeansParams {
        k: 8,
        max_iters: 3,
        max_points_per_centroid: 10_000,
        ..KMeansParams::default()
    };
    let seen = Mutex::new(HashSet::new());
    // A store that notes which pool threads read it (at the first point of
    // each chunk of work).
    struct Noting<'a>(&'a MemoryStore, &'a Mutex<HashSet<Option<usize>>>);
    impl FeatureStore for Noting<'_> {
        type Elem = f32;
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn with_vector<R>(
            &self,
            slot: u32,
            f: impl FnOnce(&[f32]) -> R,
        ) -> vectrove::Result<vectrove::Access<R>> {
            if slot.is_multiple_of(4096) {
                self.1.lock().unwrap().insert(rayon::current_thread_index());
                // Time for the other thread to take the next chunk.
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            self.0.with_vector(slot, f)
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| KMeans::fit(&params, &Noting(&input, &seen), |_| true))
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.contains(&Some(0)) && seen.contains(&Some(1)),
        "{seen:?}"
    );
}
