//! The backend conformance suite on the core's own stores:
//! `cargo test -p vectrove-core --features conformance --test integration conformance::`.
//! On wasm32 the same tests run in Node through `wasm_bindgen_test`.
#![cfg(feature = "conformance")]

use std::sync::Arc;

use vectrove_core::conformance::{MAX_FILLED, check_mut, check_read};
use vectrove_core::store::{ByteSource, PagedStore, SourceRead, VectorLayout};
use vectrove_core::{Access, FeatureStore, FeatureStoreMut, MemoryStore, PageCache, Result};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// Bytes in memory that answer like a file or, when `pending`, like an
/// asynchronous store that must be filled page by page.
struct Bytes {
    data: Vec<u8>,
    pending: bool,
}

impl ByteSource for Bytes {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        if self.pending {
            return Ok(SourceRead::Pending);
        }
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let src = self
            .data
            .get(start..)
            .and_then(|d| d.get(..buf.len()))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(SourceRead::Done)
    }

    fn is_async(&self) -> bool {
        self.pending
    }
}

const PAGE: usize = 4096;

/// `data` as `dim`-element vectors after a 64-byte header, every `pad`
/// bytes of padding after each vector, with junk in the header and the
/// padding so a misplaced read shows.
fn paged(
    dim: usize,
    data: &[f32],
    pad: usize,
    pending: bool,
    cache_pages: usize,
) -> Result<PagedStore<Bytes>> {
    const HEADER: usize = 64;
    let n = data.len().checked_div(dim).unwrap_or(0);
    let vector_bytes = dim * 4;
    let stride = vector_bytes + pad;
    let mut bytes = vec![0xA5; HEADER + n * stride];
    for (i, v) in data.chunks_exact(dim.max(1)).enumerate() {
        bytes[HEADER + i * stride..][..vector_bytes].copy_from_slice(bytemuck::cast_slice(v));
    }
    let layout = VectorLayout::new(dim, n)
        .with_offset(HEADER as u64)
        .with_stride(stride);
    let cache = PageCache::new(PAGE, cache_pages * PAGE)?;
    let source = Bytes {
        data: bytes,
        pending,
    };
    PagedStore::with_cache(source, layout, Arc::new(cache))
}

/// Fetch the pages `slots` need, as an asynchronous driver would.
fn fill(store: &PagedStore<Bytes>, slots: &[u32]) -> Result<()> {
    for req in store.pages_for(slots) {
        let start = req.offset as usize;
        store.fill_page(req.page_no, &store.source().data[start..start + req.len])?;
    }
    Ok(())
}

fn no_fill<S>(_: &S, _: &[u32]) -> Result<()> {
    Ok(())
}

#[test]
fn memory_store_reads() {
    check_read(&mut MemoryStore::<f32>::from_flat, &mut no_fill).unwrap();
}

#[test]
fn memory_store_mutates() {
    check_mut(&mut MemoryStore::<f32>::new).unwrap();
}

#[test]
fn paged_store_with_a_two_page_cache() {
    let mut make = |dim: usize, data: &[f32]| paged(dim, data, 0, false, 2);
    check_read(&mut make, &mut no_fill).unwrap();
}

#[test]
fn paged_store_with_padded_rows() {
    let mut make = |dim: usize, data: &[f32]| paged(dim, data, 12, false, 3);
    check_read(&mut make, &mut no_fill).unwrap();
}

#[test]
fn paged_store_filled_asynchronously() {
    let pages = 2 * MAX_FILLED;
    let mut make = |dim: usize, data: &[f32]| paged(dim, data, 4, true, pages);
    check_read(&mut make, &mut fill).unwrap();
}

/// The suite must notice a store that hands back the wrong vector.
#[test]
fn a_store_with_a_wrong_slot_fails() {
    let mut make = |dim: usize, data: &[f32]| {
        let mut data = data.to_vec();
        if data.len() >= 3 * dim {
            data.copy_within(dim..2 * dim, 2 * dim);
        }
        MemoryStore::from_flat(dim, &data)
    };
    let err = check_read(&mut make, &mut no_fill).unwrap_err();
    assert!(err.contains("slot 2"), "{err}");
}

/// A store with a broken cache: it remembers vectors under `slot % 64`,
/// so it answers with a stale vector once two slots share an entry.
struct StaleCache {
    inner: MemoryStore,
    lines: std::cell::RefCell<std::collections::HashMap<u32, Vec<f32>>>,
}

impl FeatureStore for StaleCache {
    type Elem = f32;
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[f32]) -> R) -> Result<Access<R>> {
        let mut lines = self.lines.borrow_mut();
        if let Some(v) = lines.get(&(slot % 64)) {
            return Ok(Access::Ready(f(v)));
        }
        let v = self.inner.with_vector(slot, <[f32]>::to_vec)?;
        let Access::Ready(v) = v else {
            return Ok(Access::Missing);
        };
        Ok(Access::Ready(f(lines.entry(slot % 64).or_insert(v))))
    }
}

#[test]
fn a_store_with_a_stale_cache_fails() {
    let mut make = |dim: usize, data: &[f32]| {
        Ok(StaleCache {
            inner: MemoryStore::from_flat(dim, data)?,
            lines: Default::default(),
        })
    };
    let err = check_read(&mut make, &mut no_fill).unwrap_err();
    assert!(err.contains("slot 64 reads"), "{err}");
}

/// A store whose `truncate` does nothing.
struct NoTruncate(MemoryStore);

impl FeatureStore for NoTruncate {
    type Elem = f32;
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[f32]) -> R) -> Result<Access<R>> {
        self.0.with_vector(slot, f)
    }
}

impl FeatureStoreMut for NoTruncate {
    fn push(&mut self, v: &[f32]) -> Result<u32> {
        self.0.push(v)
    }
    fn truncate(&mut self, _len: usize) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_store_that_ignores_truncate_fails() {
    let err = check_mut(&mut |dim| Ok(NoTruncate(MemoryStore::new(dim)?))).unwrap_err();
    assert!(err.contains("truncate("), "{err}");
}
