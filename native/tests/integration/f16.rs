//! Index files of f16 vectors on disk: every storage mode opens them,
//! answers alike and keeps them f16, damage is refused, and on the
//! debian-384 embeddings recall matches the f32 index.

use vectrove::file::{self, OpenOptions, Storage};
use vectrove::format::IndexKind;
use vectrove::store::VectorType;
use vectrove::{AnyIndex, Error, FeatureStore, Hnsw, Ivf, IvfParams, MemoryStore, Metric};
use vectrove::{Quantization, SearchParams};
use vectrove_testkit::{Debian, clustered, recall};

const MODES: [Storage; 3] = [
    Storage::Memory,
    Storage::Mmap,
    Storage::Paged {
        cache_bytes: 16 << 10,
    },
];

fn build(data: &[f32], dim: usize, ty: VectorType, quantize: bool) -> Hnsw {
    let mut b = Hnsw::builder(dim, Metric::Cosine)
        .m(8)
        .ef_construction(64)
        .seed(5)
        .vector_type(ty);
    if quantize {
        b = b.quantize(Quantization::Sq8);
    }
    let mut ix = b.build().unwrap();
    let ids: Vec<u64> = (0..(data.len() / dim) as u64).map(|i| i * 3 + 1).collect();
    ix.insert_many(&ids, data).unwrap();
    ix.delete(4).unwrap();
    ix.reorder().unwrap();
    ix
}

fn answer<S: FeatureStore<Elem = f32>>(
    ix: &Hnsw<S>,
    queries: &[f32],
) -> Vec<Vec<vectrove::Neighbor>> {
    let params = SearchParams {
        ef: 48,
        ..SearchParams::default()
    };
    queries
        .chunks_exact(ix.dim())
        .map(|q| ix.search_with(q, 10, &params, |_| true).unwrap())
        .collect()
}

#[test]
fn every_storage_mode_opens_an_f16_file_and_answers_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (2_500, 24);
    let data = clustered(n, dim, 20, 1);
    let queries = clustered(40, dim, 20, 2);
    for quantize in [false, true] {
        let ix = build(&data, dim, VectorType::F16, quantize);
        let path = dir.path().join(format!("f16-{quantize}.vtrv"));
        file::save(&ix, &path).unwrap();
        let header = file::read_header(&path).unwrap();
        assert_eq!(header.vector_type(), VectorType::F16);
        assert_eq!(header.vector_stride(), dim * 2);
        let f32_ix = build(&data, dim, VectorType::F32, quantize);
        let f32_path = dir.path().join(format!("f32-{quantize}.vtrv"));
        file::save(&f32_ix, &f32_path).unwrap();
        let vec_bytes = |p: &std::path::Path| {
            let h = file::read_header(p).unwrap();
            h.file_len - h.meta_len
        };
        assert_eq!(2 * vec_bytes(&path), vec_bytes(&f32_path));

        let expected = answer(&ix, &queries);
        for mode in MODES {
            let opened = file::open::<f32>(&path, mode).unwrap();
            assert_eq!(opened.store().vector_type(), VectorType::F16, "{mode:?}");
            assert_eq!(opened.quantization().is_some(), quantize);
            assert_eq!(opened.get(7).unwrap(), ix.get(7).unwrap(), "{mode:?}");
            assert!(!opened.contains(4));
            assert_eq!(answer(&opened, &queries), expected, "{mode:?}");
            // Saved again from any mode, the file is the same bytes.
            let again = dir.path().join("again.vtrv");
            file::save(&opened, &again).unwrap();
            assert_eq!(
                std::fs::read(&again).unwrap(),
                std::fs::read(&path).unwrap()
            );
        }
    }
}

#[test]
fn an_opened_f16_index_takes_inserts_and_refuses_what_f16_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 8;
    let data = clustered(300, dim, 5, 3);
    let path = dir.path().join("a.vtrv");
    file::save(&build(&data, dim, VectorType::F16, false), &path).unwrap();
    let opened = file::open::<f32>(&path, Storage::Memory).unwrap();
    // A file's index takes inserts over the core's layered store.
    let bytes = std::fs::read(&path).unwrap();
    let mut ix =
        vectrove::IndexFile::from_bytes::<vectrove::store::LayeredStore<MemoryStore>>(&bytes)
            .unwrap()
            .into_hnsw()
            .unwrap();
    assert_eq!(ix.get(7).unwrap(), opened.get(7).unwrap());
    let before = ix.to_bytes().unwrap();
    let mut v = data[..dim].to_vec();
    v[2] = 1e5;
    // Cosine normalises first: only a value beyond f16 after that fails.
    ix.insert(9_999, &v).unwrap();
    assert_eq!(ix.store().vector_type(), VectorType::F16);
    v[2] = f32::NAN;
    assert!(matches!(
        ix.insert(10_000, &v),
        Err(Error::NonFinite { position: 2 })
    ));
    assert!(ix.contains(9_999) && !ix.contains(10_000));
    assert_ne!(ix.to_bytes().unwrap(), before);
    file::save(&ix, &path).unwrap();
    let back = file::open::<f32>(&path, Storage::Mmap).unwrap();
    assert_eq!(back.get(9_999).unwrap(), ix.get(9_999).unwrap());
    // An L2 index refuses values beyond the f16 range and changes nothing.
    let mut l2 = Hnsw::builder(dim, Metric::L2)
        .vector_type(VectorType::F16)
        .build()
        .unwrap();
    l2.insert(1, &data[..dim]).unwrap();
    let before = l2.to_bytes().unwrap();
    let mut v = data[..dim].to_vec();
    v[0] = -65536.0;
    let err = l2.insert(2, &v).unwrap_err();
    assert!(err.to_string().contains("f16"), "{err}");
    assert_eq!(l2.to_bytes().unwrap(), before);
}

#[test]
fn damaged_f16_files_are_refused_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 16;
    let path = dir.path().join("a.vtrv");
    file::save(
        &build(&clustered(400, dim, 4, 6), dim, VectorType::F16, false),
        &path,
    )
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let header = vectrove::format::Header::parse(&bytes, bytes.len() as u64).unwrap();
    let damaged = dir.path().join("bad.vtrv");
    let at = header.meta_len as usize + 101;
    let mut flipped = bytes.clone();
    flipped[at] ^= 0x10;
    // An infinity with every checksum recomputed: caught by the finiteness
    // check on the decoded values.
    let mut inf = bytes.clone();
    inf[at - 1..at + 1].copy_from_slice(&0x7C00u16.to_le_bytes());
    vectrove::format::reseal(&mut inf);
    for (what, b) in [("a flipped bit", flipped), ("an infinity", inf)] {
        std::fs::write(&damaged, &b).unwrap();
        for mode in MODES {
            match file::open::<f32>(&damaged, mode) {
                Err(e) if matches!(e.inner(), Error::Corrupt { .. }) => {}
                Err(e) => panic!("{what} / {mode:?}: unexpected error {e}"),
                Ok(_) => panic!("{what} / {mode:?}: damage not detected"),
            }
        }
    }
    // f16 vectors are f32 values: opening them as u8 is a clear error.
    let err = file::open::<u8>(&path, Storage::Memory).unwrap_err();
    assert!(err.to_string().contains("f16"), "{err}");
}

#[test]
fn ivf_f16_files_open_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (3_000, 16);
    let data = clustered(n, dim, 16, 7);
    let training = MemoryStore::from_flat(dim, &data).unwrap();
    let params = IvfParams {
        nlist: 20,
        ..IvfParams::default()
    };
    let store = MemoryStore::with_type(dim, VectorType::F16).unwrap();
    let mut ix = Ivf::train_into(Metric::L2, params, &training, store).unwrap();
    ix.insert_many(&(0..n as u64).collect::<Vec<_>>(), &data)
        .unwrap();
    ix.quantize(Quantization::Sq8).unwrap();
    let path = dir.path().join("ivf.vtrv");
    file::save(&ix, &path).unwrap();
    let expected: Vec<_> = data
        .chunks_exact(dim)
        .step_by(151)
        .map(|q| ix.search(q, 5, 4).unwrap())
        .collect();
    for mode in MODES {
        let any = file::open_any::<f32>(&path, OpenOptions::new(mode)).unwrap();
        assert_eq!(any.kind(), IndexKind::Ivf);
        let AnyIndex::Ivf(opened) = any else {
            unreachable!()
        };
        assert_eq!(opened.store().vector_type(), VectorType::F16);
        let got: Vec<_> = data
            .chunks_exact(dim)
            .step_by(151)
            .map(|q| opened.search(q, 5, 4).unwrap())
            .collect();
        assert_eq!(got, expected, "{mode:?}");
    }
}

/// On real sentence embeddings, f16 storage loses no recall worth the name:
/// the values keep about three significant digits, the distances between
/// neighbours differ in the fourth. Skipped when the data is absent.
#[test]
fn debian_recall_with_f16_is_that_of_f32() {
    let Some(d) = Debian::load(10_000, 200, 10) else {
        eprintln!("debian-384 not found; skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut figures = Vec::new();
    for ty in [VectorType::F32, VectorType::F16] {
        let ix = build(&d.base, d.dim, ty, true);
        let path = dir.path().join(format!("{ty}.vtrv"));
        file::save(&ix, &path).unwrap();
        let h = file::read_header(&path).unwrap();
        let bytes = (h.file_len, h.file_len - h.meta_len);
        let opened = file::open::<f32>(
            &path,
            Storage::Paged {
                cache_bytes: 4 << 20,
            },
        )
        .unwrap();
        let params = SearchParams {
            ef: 64,
            ..SearchParams::default()
        };
        // The ids were inserted as `row * 3 + 1`.
        let hits: Vec<Vec<vectrove::Neighbor>> = (0..d.n_queries())
            .map(|i| {
                let mut h = opened
                    .search_with(d.query(i), 10, &params, |_| true)
                    .unwrap();
                h.iter_mut().for_each(|n| n.id = (n.id - 1) / 3);
                h
            })
            .collect();
        let r = recall(&hits, &d.truth, 10);
        println!(
            "debian-384 10k, sq8 + {ty}: recall@10 {r:.4}, file {} bytes ({} of vectors)",
            bytes.0, bytes.1
        );
        figures.push((r, bytes));
    }
    let ((r32, b32), (r16, b16)) = (figures[0], figures[1]);
    assert!(r16 > r32 - 0.01, "f16 {r16} against f32 {r32}");
    assert_eq!(2 * b16.1, b32.1, "the vectors take half the bytes");
    assert!(b16.0 < b32.0 * 2 / 3, "{b16:?} bytes against {b32:?}");
}
