//! The native stores against the backend conformance suite, on real files,
//! plus what the suite cannot know about them: files too short for their
//! vectors, a long run of pushes, and a page cache that must evict.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use vectrove::store::{ByteSource, PagedStore, VectorLayout};
use vectrove::stores::{FileSource, MmapStore, PreadStore, TempFileStore, pread_store};
use vectrove::{Access, Error, FeatureStore, FeatureStoreMut, PageCache, Result};
use vectrove_core::conformance::{check_mut, check_read};
use vectrove_testkit::uniform;

/// Where the vectors start in the test files: past a header, on a page.
const OFFSET: u64 = 4096;

/// Writes each store's vectors into a new file of a temporary directory.
struct Files {
    dir: tempfile::TempDir,
    count: AtomicUsize,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
            count: AtomicUsize::new(0),
        }
    }

    /// A file holding junk up to `offset`, then `data` as `dim`-element rows
    /// every `stride` bytes (junk in the padding), then `tail` junk bytes.
    fn write(
        &self,
        data: &[f32],
        dim: usize,
        offset: u64,
        stride: usize,
        tail: usize,
    ) -> Result<PathBuf> {
        let n = data.len().checked_div(dim).unwrap_or(0);
        let mut bytes = vec![0x5A; offset as usize + n * stride + tail];
        for (i, v) in data.chunks_exact(dim.max(1)).enumerate() {
            let row: Vec<u8> = v.iter().flat_map(|x| x.to_ne_bytes()).collect();
            bytes[offset as usize + i * stride..][..row.len()].copy_from_slice(&row);
        }
        let k = self.count.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("vectors-{k}.bin"));
        File::create(&path)?.write_all(&bytes)?;
        Ok(path)
    }
}

fn no_fill<S>(_: &S, _: &[u32]) -> Result<()> {
    Ok(())
}

#[test]
fn mmap_store_conforms() {
    let files = Files::new();
    let mut make = |dim: usize, data: &[f32]| -> Result<MmapStore> {
        let path = files.write(data, dim, OFFSET, dim * 4, 0)?;
        MmapStore::open(
            &File::open(path)?,
            OFFSET,
            data.len() / dim.max(1),
            dim,
            dim * 4,
        )
    };
    check_read(&mut make, &mut no_fill).unwrap();
}

#[test]
fn mmap_store_off_a_page_with_padded_rows_conforms() {
    let files = Files::new();
    // Vector 0 at byte 4100 (not a page boundary), 8 bytes of padding a row.
    let mut make = |dim: usize, data: &[f32]| -> Result<MmapStore> {
        let stride = dim * 4 + 8;
        let path = files.write(data, dim, OFFSET + 4, stride, 3)?;
        MmapStore::from_path(path, OFFSET + 4, data.len() / dim.max(1), dim, stride)
    };
    check_read(&mut make, &mut no_fill).unwrap();
}

#[test]
fn temp_file_store_conforms() {
    let files = Files::new();
    check_mut(&mut |dim| TempFileStore::new_in(dim, files.dir.path())).unwrap();
}

#[test]
fn pread_store_conforms() {
    let files = Files::new();
    // An 8 KiB budget: one page, so nearly every read is a miss.
    let mut make = |dim: usize, data: &[f32]| -> Result<PreadStore> {
        let path = files.write(data, dim, OFFSET, dim * 4, 0)?;
        pread_store(
            File::open(path)?,
            OFFSET,
            data.len() / dim.max(1),
            dim,
            dim * 4,
            8 << 10,
        )
    };
    check_read(&mut make, &mut no_fill).unwrap();
}

#[test]
fn pread_store_with_a_shared_cache_and_padded_rows_conforms() {
    let files = Files::new();
    // Two 4 KiB pages shared by every store the suite makes.
    let cache = Arc::new(PageCache::new(4096, 2 * 4096).unwrap());
    let mut make = |dim: usize, data: &[f32]| -> Result<PreadStore> {
        let stride = dim * 4 + 4;
        let path = files.write(data, dim, 100, stride, 0)?;
        let layout = VectorLayout::new(dim, data.len() / dim.max(1))
            .with_offset(100)
            .with_stride(stride);
        PagedStore::with_cache(FileSource::open(path)?, layout, cache.clone())
    };
    check_read(&mut make, &mut no_fill).unwrap();
    assert!(cache.stats().evictions > 1000, "{:?}", cache.stats());
}

fn is_corrupt(r: &Result<MmapStore>) -> bool {
    matches!(
        r,
        Err(Error::Corrupt {
            section: "vectors",
            ..
        })
    )
}

fn is_invalid(r: &Result<MmapStore>, param: &str) -> bool {
    matches!(r, Err(Error::InvalidParameter { name, .. }) if *name == param)
}

#[test]
fn mmap_store_refuses_bad_layouts() {
    let files = Files::new();
    let data: Vec<f32> = (0..40).map(|x| x as f32).collect();
    // 10 vectors of 4, ending at byte 4096 + 160.
    let path = files.write(&data, 4, OFFSET, 16, 0).unwrap();
    let file = File::open(&path).unwrap();
    let open = |offset, len, dim, stride| MmapStore::<f32>::open(&file, offset, len, dim, stride);
    assert!(open(OFFSET, 10, 4, 16).is_ok());
    assert!(open(OFFSET + 16, 9, 4, 16).is_ok());
    assert!(open(OFFSET + 160, 0, 4, 16).is_ok());
    // The file is too short for what is asked.
    assert!(is_corrupt(&open(OFFSET, 11, 4, 16)));
    assert!(is_corrupt(&open(OFFSET + 4, 10, 4, 16)));
    assert!(is_corrupt(&open(OFFSET, 10, 4, 20)));
    assert!(is_corrupt(&open(OFFSET + 164, 0, 4, 16)));
    assert!(is_corrupt(&open(u64::MAX - 3, 1, 1, 4)));
    assert!(is_corrupt(&open(0, u32::MAX as usize, 4, 64)));
    assert!(is_corrupt(&open(0, 3, 4, usize::MAX - 3)));
    // Parameters no file could satisfy.
    assert!(is_invalid(&open(OFFSET, 10, 0, 16), "dim"));
    assert!(is_invalid(&open(OFFSET, 1, usize::MAX, 16), "dim"));
    assert!(is_invalid(&open(OFFSET, 10, 4, 12), "stride_bytes"));
    assert!(is_invalid(&open(OFFSET, 10, 4, 18), "stride_bytes"));
    assert!(is_invalid(&open(OFFSET + 2, 10, 4, 16), "offset"));
    assert!(is_invalid(&open(OFFSET, usize::MAX, 4, 16), "len"));
    // A byte-sized element type has no alignment to respect.
    let bytes = MmapStore::<u8>::open(&file, OFFSET + 1, 7, 3, 3).unwrap();
    let got = bytes
        .with_vector(0, <[u8]>::to_vec)
        .unwrap()
        .ready()
        .unwrap();
    let raw = std::fs::read(&path).unwrap();
    assert_eq!(got, raw[OFFSET as usize + 1..][..3]);
}

#[test]
fn mmap_store_outlives_its_file_handle_and_a_replaced_file() {
    let files = Files::new();
    let data: Vec<f32> = (0..300).map(|x| x as f32 * 0.5).collect();
    let path = files.write(&data, 3, OFFSET, 12, 0).unwrap();
    let store = MmapStore::<f32>::from_path(&path, OFFSET, 100, 3, 12).unwrap();
    // Save the way vectrove does: a new file renamed over the old one.
    let other: Vec<f32> = data.iter().map(|x| -x).collect();
    let new = files.write(&other, 3, OFFSET, 12, 0).unwrap();
    std::fs::rename(&new, &path).unwrap();
    for i in 0..100u32 {
        let v = store
            .with_vector(i, <[f32]>::to_vec)
            .unwrap()
            .ready()
            .unwrap();
        assert_eq!(v, data[i as usize * 3..][..3]);
    }
    assert_eq!(store.mapped_bytes(), 1200);
    assert_eq!(store.stride(), 12);
}

#[test]
fn temp_file_store_round_trips_100k_vectors() {
    let (n, dim) = (100_000, 16);
    let data = uniform(n, dim, 0.0..1.0, 3);
    let mut store = TempFileStore::<f32>::new(dim).unwrap();
    let mut growths = 0;
    let mut capacity = store.capacity();
    for (i, v) in data.chunks_exact(dim).enumerate() {
        assert_eq!(store.push(v).unwrap() as usize, i);
        if store.capacity() != capacity {
            assert!(store.capacity() >= 2 * capacity, "grows geometrically");
            capacity = store.capacity();
            growths += 1;
        }
    }
    assert!(growths <= 12, "{growths} growths for {n} pushes");
    assert_eq!(store.len(), n);
    assert_eq!(store.as_flat(), &data[..]);
    for i in (0..n).rev() {
        let v = store
            .with_vector(i as u32, <[f32]>::to_vec)
            .unwrap()
            .ready()
            .unwrap();
        assert_eq!(v, data[i * dim..][..dim]);
    }
    let mut seen = 0;
    let slots: Vec<u32> = (0..n as u32).step_by(97).collect();
    store
        .with_vectors(
            &slots,
            |s, v| {
                assert_eq!(v, &data[s as usize * dim..][..dim]);
                seen += 1;
            },
            &mut Vec::new(),
        )
        .unwrap();
    assert_eq!(seen, slots.len());
}

#[test]
fn pread_store_with_a_two_page_budget_evicts_and_reads_right() {
    let files = Files::new();
    // 4096 vectors of 32 f32: 512 KiB, 128 pages of 4 KiB.
    let (n, dim) = (4096, 32);
    let data = uniform(n, dim, 0.0..1.0, 9);
    let path = files.write(&data, dim, OFFSET, dim * 4, 0).unwrap();
    let budget = 2 * vectrove::stores::PREAD_PAGE_BYTES;
    let store: PreadStore =
        pread_store(File::open(&path).unwrap(), OFFSET, n, dim, dim * 4, budget).unwrap();
    assert_eq!(store.page_count(), 128);
    for _ in 0..2 {
        for i in 0..n {
            let v = store.with_vector(i as u32, <[f32]>::to_vec).unwrap();
            assert_eq!(v, Access::Ready(data[i * dim..][..dim].to_vec()));
        }
    }
    let stats = store.stats();
    assert_eq!(stats.misses, 256, "{stats:?}");
    assert_eq!(stats.evictions, 254, "{stats:?}");
    assert!(stats.resident_bytes <= budget, "{stats:?}");
}

#[test]
fn file_source_reads_exactly_or_fails() {
    let files = Files::new();
    let path = files.write(&[], 1, 100, 4, 0).unwrap();
    let source = FileSource::open(&path).unwrap();
    assert_eq!(source.len(), 100);
    let mut buf = [0u8; 20];
    source.read_at(80, &mut buf).unwrap();
    assert_eq!(buf, [0x5A; 20]);
    for offset in [81, 100, 1000, u64::MAX - 5] {
        match source.read_at(offset, &mut buf) {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}"),
            other => panic!("read of 20 bytes at {offset} of 100 gave {other:?}"),
        }
    }
    source.read_at(100, &mut []).unwrap();
    // A layout past the end of the file is refused when the store is made.
    let short = pread_store::<f32>(File::open(&path).unwrap(), 0, 26, 1, 4, 4096);
    assert!(matches!(short, Err(Error::InvalidParameter { .. })));
}

#[test]
fn stores_are_send_and_sync() {
    fn both<S: Send + Sync>() {}
    both::<MmapStore>();
    both::<MmapStore<u8>>();
    both::<TempFileStore>();
    both::<FileSource>();
    both::<PreadStore>();
}

#[test]
fn an_index_builds_on_a_temp_file_store() {
    let files = Files::new();
    let (n, dim) = (2000, 24);
    let data = uniform(n, dim, 0.0..1.0, 5);
    let ids: Vec<u64> = (0..n as u64).collect();
    let store = TempFileStore::new_in(dim, files.dir.path()).unwrap();
    let mut index = vectrove::Hnsw::builder(dim, vectrove::Metric::L2)
        .seed(2)
        .build_with_store(store)
        .unwrap();
    index.insert_many(&ids, &data).unwrap();
    let mut memory = vectrove::Hnsw::builder(dim, vectrove::Metric::L2)
        .seed(2)
        .build()
        .unwrap();
    memory.insert_many(&ids, &data).unwrap();
    for q in data.chunks_exact(dim).step_by(101) {
        let a = index.search(q, 10, 64).unwrap();
        let b = memory.search(q, 10, 64).unwrap();
        assert_eq!(a, b);
    }
    assert_eq!(index.store().as_flat(), &data[..]);
}

/// The store of an opened index file, with vectors appended in memory after
/// the mapped or paged ones: read with half of them in each layer, and
/// filled by pushes alone.
#[test]
fn file_stores_with_appended_vectors_conform() {
    use vectrove::file::FileStore;
    let files = Files::new();
    for paged in [false, true] {
        let open = |path: PathBuf, n: usize, dim: usize| -> Result<FileStore> {
            let file = File::open(path)?;
            match paged {
                false => FileStore::from_mmap(MmapStore::open(&file, OFFSET, n, dim, dim * 4)?),
                true => FileStore::from_paged(pread_store(file, OFFSET, n, dim, dim * 4, 1 << 16)?),
            }
        };
        let mut split = |dim: usize, data: &[f32]| -> Result<FileStore> {
            if dim == 0 {
                return Err(Error::InvalidParameter {
                    name: "dim",
                    reason: "0".into(),
                });
            }
            let n = data.len() / dim;
            let half = n / 2;
            let path = files.write(&data[..half * dim], dim, OFFSET, dim * 4, 0)?;
            let mut s = open(path, half, dim)?;
            for v in data[half * dim..].chunks_exact(dim) {
                s.push(v)?;
            }
            assert_eq!(s.appended(), n - half);
            Ok(s)
        };
        check_read(&mut split, &mut no_fill).unwrap();
        let mut empty = |dim: usize| -> Result<FileStore> {
            let path = files.write(&[], dim.max(1), OFFSET, dim.max(1) * 4, 0)?;
            open(path, 0, dim)
        };
        check_mut(&mut empty).unwrap();
    }
}
