//! IVF-Flat recall on real sentence embeddings (debian-384), and the file
//! round trip on them.

use vectrove_core::{Ivf, IvfParams, MemoryStore, Metric};
use vectrove_testkit::{Debian, recall};

#[test]
fn ivf_recall_grows_with_nprobe_and_is_exact_with_every_list() {
    let Some(data) = Debian::load(10_000, 500, 10) else {
        return;
    };
    let params = IvfParams {
        nlist: 64,
        seed: 7,
        ..IvfParams::default()
    };
    let training = MemoryStore::from_flat(data.dim, &data.base).unwrap();
    let mut ivf = Ivf::train(Metric::Cosine, params, &training).unwrap();
    let ids: Vec<u64> = (0..data.n_base() as u64).collect();
    ivf.insert_many(&ids, &data.base).unwrap();
    let run = |ivf: &Ivf, nprobe: usize| -> f64 {
        let results: Vec<_> = (0..data.n_queries())
            .map(|i| ivf.search(data.query(i), 10, nprobe).unwrap())
            .collect();
        recall(&results, &data.truth, 10)
    };
    let mut last = 0.0;
    for (nprobe, min) in [(1, 0.45), (4, 0.7), (16, 0.88), (64, 0.999)] {
        let r = run(&ivf, nprobe);
        eprintln!("IVF nlist 64, nprobe {nprobe}: recall@10 {r:.4}");
        assert!(
            r >= min && r >= last,
            "nprobe {nprobe}: recall {r:.4} (< {min} or < {last})"
        );
        last = r;
    }
    let copy = Ivf::from_bytes(&ivf.to_bytes().unwrap()).unwrap();
    assert_eq!(run(&copy, 4), run(&ivf, 4));
}
