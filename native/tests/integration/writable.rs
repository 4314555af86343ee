//! An opened index file takes inserts and deletes in every storage mode,
//! searches find what was added, and saving it again (over the very file
//! it was opened from, mapped or not) gives a file that opens with the
//! same answers.

use vectrove::file::{self, OpenOptions, Storage};
use vectrove::{AnyIndex, Error, FeatureStore, Hnsw, IvfParams, Metric, Quantization};
use vectrove_testkit::uniform;

const MODES: [Storage; 3] = [
    Storage::Memory,
    Storage::Mmap,
    Storage::Paged {
        cache_bytes: 16 << 10,
    },
];

const DIM: usize = 16;

fn base(n: usize, seed: u64) -> Hnsw {
    let data = uniform(n, DIM, 0.0..1.0, seed);
    let mut ix = Hnsw::builder(DIM, Metric::L2)
        .m(8)
        .ef_construction(64)
        .seed(seed)
        .build()
        .unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    ix.insert_many(&ids, &data).unwrap();
    ix
}

fn ids_of<S: FeatureStore<Elem = f32>>(ix: &Hnsw<S>, queries: &[f32]) -> Vec<Vec<u64>> {
    vectrove_testkit::search_ids(ix, queries, 10, 64)
}

#[test]
fn an_opened_hnsw_file_takes_inserts_and_deletes_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.vtrv");
    file::save(&base(1_000, 1), &path).unwrap();
    let extra = uniform(300, DIM, 0.0..1.0, 2);
    let extra_ids: Vec<u64> = (10_000..10_300).collect();
    let queries = uniform(30, DIM, 0.0..1.0, 3);
    let mut want = None;
    for mode in MODES {
        let mut ix = file::open::<f32>(&path, mode).unwrap();
        ix.insert(5_000, &extra[..DIM]).unwrap();
        ix.insert_many(&extra_ids[1..], &extra[DIM..]).unwrap();
        for id in [0, 7, 10_001] {
            ix.delete(id).unwrap();
        }
        let appended = if mode == Storage::Memory { 0 } else { 300 };
        assert_eq!(ix.store().appended(), appended, "{}", mode.name());
        assert_eq!(ix.store().len(), 1_300);
        assert_eq!(ix.len(), 1_297);
        // Bad input is refused and changes nothing.
        assert!(matches!(
            ix.insert(1, &extra[..DIM]),
            Err(Error::DuplicateId { id: 1 })
        ));
        assert!(matches!(
            ix.insert(77_777, &[0.5; 3]),
            Err(Error::DimensionMismatch { .. })
        ));
        assert_eq!(ix.store().len(), 1_300);
        // Every added point is found by searching for itself; deleted ones never.
        for (i, v) in extra.chunks_exact(DIM).enumerate() {
            let id = if i == 0 { 5_000 } else { extra_ids[i] };
            let hits = ix.search(v, 3, 64).unwrap();
            if id == 10_001 {
                assert!(hits.iter().all(|h| h.id != id));
            } else {
                assert_eq!(hits[0].id, id, "{}: point {i}", mode.name());
            }
        }
        assert!(ix.contains(5_000) && !ix.contains(7));
        // The same answers whatever the mode.
        let got = ids_of(&ix, &queries);
        match &want {
            None => want = Some(got),
            Some(w) => assert_eq!(&got, w, "{}", mode.name()),
        }
        // Saved elsewhere, it opens with the same answers in every mode.
        let out = dir.path().join(format!("out-{}.vtrv", mode.name()));
        file::save(&ix, &out).unwrap();
        for again in MODES {
            let reopened = file::open::<f32>(&out, again).unwrap();
            assert_eq!(reopened.len(), 1_297);
            assert_eq!(&ids_of(&reopened, &queries), want.as_ref().unwrap());
        }
    }
}

#[test]
fn a_mapped_index_saved_over_its_own_file_keeps_reading_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.vtrv");
    file::save(&base(800, 4), &path).unwrap();
    let extra = uniform(200, DIM, 0.0..1.0, 5);
    let ids: Vec<u64> = (1_000..1_200).collect();
    for mode in [Storage::Mmap, Storage::Paged { cache_bytes: 8192 }] {
        let mut ix = file::open::<f32>(&path, mode).unwrap();
        let before = ix.len();
        ix.insert_many(&ids, &extra).unwrap();
        // Over the same path: a new file is renamed into place, the open
        // one is untouched and still serves every vector.
        file::save(&ix, &path).unwrap();
        for (i, v) in extra.chunks_exact(DIM).enumerate().step_by(17) {
            assert_eq!(ix.search(v, 1, 64).unwrap()[0].id, ids[i]);
        }
        let reopened = file::open::<f32>(&path, mode).unwrap();
        assert_eq!(reopened.len(), before + 200);
        assert_eq!(reopened.store().appended(), 0);
        assert_eq!(
            reopened.get(ids[5]).unwrap(),
            ix.get(ids[5]).unwrap(),
            "{}",
            mode.name()
        );
        // The next round adds new ids to the grown file.
        let ids2: Vec<u64> = ids.iter().map(|i| i + 10_000).collect();
        let mut ix = reopened;
        ix.insert_many(&ids2, &extra).unwrap();
        file::save(&ix, &path).unwrap();
        assert_eq!(
            file::open::<f32>(&path, Storage::Memory).unwrap().len(),
            before + 400
        );
        // Back to the size the other mode starts from.
        file::save(&base(800, 4), &path).unwrap();
    }
}

#[test]
fn an_opened_index_with_codes_takes_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.vtrv");
    let mut ix = base(1_000, 6);
    ix.quantize(Quantization::Sq8).unwrap();
    file::save(&ix, &path).unwrap();
    let extra = uniform(100, DIM, 0.0..1.0, 7);
    let ids: Vec<u64> = (5_000..5_100).collect();
    for mode in MODES {
        let mut opened = file::open::<f32>(&path, mode).unwrap();
        assert!(opened.is_quantized());
        opened.insert_many(&ids, &extra).unwrap();
        for (i, v) in extra.chunks_exact(DIM).enumerate() {
            assert_eq!(opened.search(v, 1, 64).unwrap()[0].id, ids[i]);
        }
        let out = dir.path().join("q2.vtrv");
        file::save(&opened, &out).unwrap();
        let again = file::open::<f32>(&out, Storage::Mmap).unwrap();
        assert!(again.is_quantized() && again.len() == 1_100);
        assert_eq!(again.search(&extra[..DIM], 1, 64).unwrap()[0].id, ids[0]);
    }
}

#[test]
fn an_opened_mapped_index_takes_concurrent_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.vtrv");
    file::save(&base(500, 8), &path).unwrap();
    let extra = uniform(400, DIM, 0.0..1.0, 9);
    let ids: Vec<u64> = (1_000..1_400).collect();
    let mut ix = file::open::<f32>(&path, Storage::Mmap).unwrap();
    ix.insert_many_concurrent(&ids, &extra).unwrap();
    assert_eq!((ix.len(), ix.store().appended()), (900, 400));
    let found = extra
        .chunks_exact(DIM)
        .enumerate()
        .filter(|(i, v)| ix.search(v, 1, 64).unwrap()[0].id == ids[*i])
        .count();
    assert!(found >= 396, "{found} of 400 found themselves");
}

#[test]
fn opened_ivf_and_any_indexes_take_inserts_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ivf.vtrv");
    let data = uniform(2_000, DIM, 0.0..1.0, 10);
    let training = vectrove::MemoryStore::from_flat(DIM, &data).unwrap();
    let params = IvfParams {
        nlist: 16,
        ..IvfParams::default()
    };
    let mut ivf = vectrove::Ivf::train(Metric::L2, params, &training).unwrap();
    let ids: Vec<u64> = (0..1_000).collect();
    ivf.insert_many(&ids, &data[..1_000 * DIM]).unwrap();
    file::save(&ivf, &path).unwrap();
    let rest = &data[1_000 * DIM..];
    let rest_ids: Vec<u64> = (1_000..2_000).collect();
    for mode in MODES {
        let mut opened = file::open_ivf(&path, mode).unwrap();
        opened.insert_many(&rest_ids, rest).unwrap();
        opened.delete(3).unwrap();
        assert_eq!(opened.len(), 1_999);
        for (i, v) in rest.chunks_exact(DIM).enumerate().step_by(50) {
            assert_eq!(opened.search(v, 1, 16).unwrap()[0].id, rest_ids[i]);
        }
        let out = dir.path().join("ivf2.vtrv");
        file::save(&opened, &out).unwrap();

        let mut any: AnyIndex<_> = file::open_any::<f32>(&out, OpenOptions::new(mode)).unwrap();
        any.insert(9_999, &data[..DIM]).unwrap();
        any.delete(9_999).unwrap();
        assert_eq!(any.len(), 1_999);
        file::save(&any, &out).unwrap();
        let again = file::open_ivf(&out, Storage::Memory).unwrap();
        assert_eq!(again.len(), 1_999);
        assert!(!again.contains(3) && !again.contains(9_999) && again.contains(1_999));
    }
}
