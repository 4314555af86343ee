//! Index files on disk: the three storage modes answer alike, saving is
//! atomic, and damaged files are refused in every mode.

use std::path::Path;

use vectrove::file::{self, OpenOptions, Storage};
use vectrove::{Error, Hnsw, Metric};
use vectrove_testkit::uniform;

const MODES: [Storage; 3] = [
    Storage::Memory,
    Storage::Mmap,
    Storage::Paged {
        cache_bytes: 16 << 10,
    },
];

fn index(n: usize, dim: usize, seed: u64) -> Hnsw {
    let data = uniform(n, dim, 0.0..1.0, seed);
    let mut ix = Hnsw::builder(dim, Metric::Cosine)
        .m(8)
        .ef_construction(64)
        .seed(seed)
        .build()
        .unwrap();
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 3 + 1).collect();
    ix.insert_many(&ids, &data).unwrap();
    ix.delete(4).unwrap();
    ix
}

fn answers<S: vectrove::FeatureStore<Elem = f32>>(ix: &Hnsw<S>) -> Vec<Vec<u64>> {
    vectrove_testkit::search_ids(ix, &uniform(50, ix.dim(), 0.0..1.0, 99), 10, 48)
}

#[test]
fn every_storage_mode_answers_like_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.vtrv");
    let ix = index(2_000, 24, 1);
    file::save(&ix, &path).unwrap();
    let expected = answers(&ix);
    for mode in MODES {
        let opened = file::open::<f32>(&path, mode).unwrap();
        assert_eq!(opened.len(), ix.len(), "{mode:?}");
        assert!(!opened.contains(4));
        assert_eq!(opened.get(7).unwrap(), ix.get(7).unwrap(), "{mode:?}");
        assert_eq!(answers(&opened), expected, "{mode:?}");
    }
}

#[test]
fn saving_replaces_the_file_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.vtrv");
    let first = index(500, 8, 2);
    file::save(&first, &path).unwrap();
    // A mapped reader of the first version keeps its bytes when a new
    // version is saved over it (the save writes a new file and renames it).
    let mapped = file::open::<f32>(&path, Storage::Mmap).unwrap();
    let before = answers(&mapped);
    let second = index(800, 8, 3);
    file::save(&second, &path).unwrap();
    assert_eq!(answers(&mapped), before);
    let reopened = file::open::<f32>(&path, Storage::Memory).unwrap();
    assert_eq!(reopened.slot_count(), 800);
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn a_failed_save_leaves_the_previous_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.vtrv");
    file::save(&index(300, 8, 4), &path).unwrap();
    let good = std::fs::read(&path).unwrap();
    // Saving into a directory that does not exist fails before touching anything.
    let bad = dir.path().join("missing").join("a.vtrv");
    assert!(file::save(&index(10, 8, 5), &bad).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), good);
}

fn write_damaged(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn damaged_files_are_refused_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.vtrv");
    file::save(&index(400, 16, 6), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let header = vectrove::format::Header::parse(&bytes, bytes.len() as u64).unwrap();
    let damaged = dir.path().join("bad.vtrv");
    let vec_at = header.meta_len as usize + 100;
    for (what, at) in [
        ("header", 20),
        (
            "graph",
            header.section(*b"GRPH").unwrap().offset as usize + 9,
        ),
        ("ids", header.section(*b"IDS_").unwrap().offset as usize + 3),
        ("vectors", vec_at),
    ] {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        write_damaged(&damaged, &b);
        for mode in MODES {
            match file::open::<f32>(&damaged, mode) {
                Err(e) if matches!(e.inner(), Error::Corrupt { .. }) => {
                    assert_eq!(e.path(), Some(damaged.as_path()), "{e}");
                }
                Err(e) => panic!("{what} / {mode:?}: unexpected error {e}"),
                Ok(_) => panic!("{what} / {mode:?}: damage not detected"),
            }
        }
    }
    // With vector checks off, a lazily opened index still refuses damaged metadata.
    let mut b = bytes.clone();
    b[header.section(*b"GRPH").unwrap().offset as usize + 9] ^= 1;
    write_damaged(&damaged, &b);
    let lazy = OpenOptions {
        storage: Storage::Mmap,
        verify_vectors: false,
    };
    assert!(file::open_with::<f32>(&damaged, lazy).is_err());
    // Truncated files.
    for len in [0, 10, 64, 300, header.meta_len as usize, bytes.len() - 1] {
        write_damaged(&damaged, &bytes[..len]);
        for mode in MODES {
            let e = file::open::<f32>(&damaged, mode).unwrap_err();
            assert_eq!(
                e.path(),
                Some(damaged.as_path()),
                "{len} bytes, {mode:?}: {e}"
            );
            assert!(
                e.to_string().starts_with(&damaged.display().to_string()),
                "{e}"
            );
            assert!(
                matches!(e.inner(), Error::Corrupt { .. } | Error::Io(_)),
                "{len} bytes, {mode:?}: {e}"
            );
        }
        let e = file::read_header(&damaged).unwrap_err();
        assert_eq!(e.path(), Some(damaged.as_path()), "{e}");
    }
}

#[test]
fn every_error_of_opening_names_the_file_and_what_went_wrong() {
    use std::io::ErrorKind;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.vtrv");
    file::save(&index(300, 8, 5), &path).unwrap();
    let named = |e: &Error, p: &Path| {
        assert_eq!(e.path(), Some(p), "{e}");
        assert!(e.to_string().starts_with(&p.display().to_string()), "{e}");
    };
    for mode in MODES {
        // A missing file.
        let nope = dir.path().join("nope.vtrv");
        let e = file::open::<f32>(&nope, mode).unwrap_err();
        named(&e, &nope);
        assert!(matches!(e.inner(), Error::Io(io) if io.kind() == ErrorKind::NotFound));
        // Vectors of another element type.
        let e = file::open::<u8>(&path, mode).unwrap_err();
        named(&e, &path);
        assert!(matches!(
            e.inner(),
            Error::ElementMismatch {
                expected: "f32",
                got: "u8"
            }
        ));
        // Not an index file at all (bad magic).
        let junk = dir.path().join("junk.vtrv");
        std::fs::write(&junk, vec![7u8; 4096]).unwrap();
        let e = file::open::<f32>(&junk, mode).unwrap_err();
        named(&e, &junk);
        assert!(
            matches!(
                e.inner(),
                Error::Corrupt {
                    section: "header",
                    ..
                }
            ),
            "{e}"
        );
        // An HNSW file opened as IVF.
        let e = file::open_ivf(&path, mode).unwrap_err();
        named(&e, &path);
        assert!(matches!(e.inner(), Error::Corrupt { .. }), "{e}");
        // A directory.
        let e = file::open::<f32>(dir.path(), mode).unwrap_err();
        named(&e, dir.path());
    }
    let e = file::open_any::<f32>(dir.path().join("nope"), OpenOptions::new(Storage::Mmap));
    assert!(e.unwrap_err().path().is_some());
    let e = file::read_header(dir.path().join("nope")).unwrap_err();
    assert!(matches!(e.inner(), Error::Io(io) if io.kind() == ErrorKind::NotFound));
    // No permission to read (root reads anything: nothing to check then).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked.vtrv");
        std::fs::copy(&path, &locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::File::open(&locked).is_err() {
            let e = file::open::<f32>(&locked, Storage::Memory).unwrap_err();
            named(&e, &locked);
            assert!(
                matches!(e.inner(), Error::Io(io) if io.kind() == ErrorKind::PermissionDenied),
                "{e}"
            );
        }
    }
    // Saving into a directory that does not exist names the target.
    let target = dir.path().join("no/such/dir/a.vtrv");
    let e = file::save(&index(10, 8, 5), &target).unwrap_err();
    named(&e, &target);
    assert!(matches!(e.inner(), Error::Io(_)));
}

#[test]
fn a_paged_index_whose_file_is_cut_short_under_it_fails_cleanly() {
    // What a mapped index cannot survive (see `Storage::Mmap`): another
    // program truncating the file in place while it is open.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.vtrv");
    file::save(&index(2_000, 16, 8), &path).unwrap();
    let meta_len = file::read_header(&path).unwrap().meta_len;
    let paged = file::open::<f32>(&path, Storage::Paged { cache_bytes: 4096 }).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(meta_len)
        .unwrap();
    let queries = uniform(20, 16, 0.0..1.0, 99);
    let mut failed = 0;
    for q in queries.chunks(16) {
        match paged.search(q, 10, 48) {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
                failed += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(found) => assert!(found.len() <= 10),
        }
    }
    assert!(failed > 0, "no search needed the lost vectors");
}

#[test]
fn ivf_files_open_in_every_storage_mode() {
    use vectrove::{Ivf, IvfParams, MemoryStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ivf.vtrv");
    let dim = 8;
    let data = uniform(2000, dim, 0.0..1.0, 4);
    let params = IvfParams {
        nlist: 16,
        ..IvfParams::default()
    };
    let training = MemoryStore::from_flat(dim, &data).unwrap();
    let mut ivf = Ivf::train(vectrove::Metric::L2, params, &training).unwrap();
    let ids: Vec<u64> = (100..2100).collect();
    ivf.insert_many(&ids, &data).unwrap();
    ivf.delete(150).unwrap();
    vectrove::file::save(&ivf, &path).unwrap();
    let q = &data[50 * dim..51 * dim];
    let want = ivf.search(q, 10, 4).unwrap();
    for storage in [
        Storage::Memory,
        Storage::Mmap,
        Storage::Paged { cache_bytes: 8192 },
    ] {
        let opened = vectrove::file::open_ivf(&path, storage).unwrap();
        assert_eq!(opened.search(q, 10, 4).unwrap(), want, "{}", storage.name());
        assert_eq!(opened.len(), 1999);
        assert!(!opened.contains(150));
        // An HNSW reader refuses the file, and the reverse.
        assert!(vectrove::file::open::<f32>(&path, storage).is_err());
    }
    // Damage anywhere is refused in every mode.
    let good = std::fs::read(&path).unwrap();
    for at in [10, 300, good.len() / 2, good.len() - 1] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x40;
        let bad = dir.path().join("bad.vtrv");
        std::fs::write(&bad, &bytes).unwrap();
        for storage in [Storage::Memory, Storage::Mmap] {
            assert!(
                vectrove::file::open_ivf(&bad, storage).is_err(),
                "byte {at}"
            );
        }
    }
}

#[test]
fn batch_search_of_an_opened_file_answers_as_one_search_a_query() {
    use vectrove::SearchParams;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.vtrv");
    file::save(&index(1_500, 16, 12), &path).unwrap();
    let queries = uniform(40, 16, 0.0..1.0, 13);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for mode in MODES {
        let ix = file::open::<f32>(&path, mode).unwrap();
        let one: Vec<_> = queries
            .chunks_exact(16)
            .map(|q| ix.search(q, 10, 48).unwrap())
            .collect();
        assert_eq!(
            pool.install(|| ix.search_many(&queries, 10, 48)).unwrap(),
            one
        );
        let any = file::open_any::<f32>(&path, OpenOptions::new(mode)).unwrap();
        let p = SearchParams {
            ef: 48,
            ..SearchParams::default()
        };
        assert_eq!(
            pool.install(|| any.search_many(&queries, 10, &p)).unwrap(),
            one
        );
        // A batch that is not whole queries is refused.
        assert!(matches!(
            ix.search_many(&queries[..17], 10, 48),
            Err(Error::InvalidParameter {
                name: "queries",
                ..
            })
        ));
    }
}
