//! Storage backends that need an operating system: vectors in a memory map,
//! in a growable temporary file, and read from a file with positional reads.
//!
//! | store | reads | writes | memory |
//! |---|---|---|---|
//! | [`MmapStore`] | in place, no copy | read-only | the OS page cache |
//! | [`TempFileStore`] | in place, no copy | `push`, `truncate` | the OS page cache, spills to disk |
//! | [`PreadStore`] | `pread` a page at a time | read-only | a [`PageCache`](crate::PageCache) with a byte budget |
//!
//! All three implement [`FeatureStore`], so an index or a clustering run
//! works on them unchanged; [`TempFileStore`] also implements
//! [`FeatureStoreMut`], so an index can be built into it. Each one passes the
//! backend conformance suite (`vectrove_core::conformance`, run in
//! `native/tests/integration/stores.rs`).
//!
//! The stores view the bytes of a file as vectors in place, so the file must
//! hold them in the machine's byte order: little-endian, as vectrove's index
//! files do and every target vectrove supports is. Where the vectors lie is
//! the core's [`VectorLayout`], checked once into its [`Rows`].
//!
//! (A little over 600 lines: the three OS-backed stores share the in-place
//! casts and the prefetch at the top.)

use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use memmap2::{Mmap, MmapMut, MmapOptions};
use vectrove_core::simd;
use vectrove_core::store::{
    Access, ByteSource, Decoder, FeatureStore, FeatureStoreMut, PagedStore, RowSlice, Rows,
    SourceRead, VectorLayout, VectorType, with_decoded,
};
use vectrove_core::{Element, Error, Result};

fn invalid(name: &'static str, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}

/// `bytes` viewed as elements of `T`, if they are aligned for `T` and a
/// whole number of elements long.
fn cast<T: Element>(bytes: &[u8]) -> Option<&[T]> {
    bytemuck::try_cast_slice(bytes).ok()
}

/// `bytes` (vector 0 onwards, as `rows` lays them out) as a [`RowSlice`],
/// if they are `T`s (not `f16`s), aligned for `T`, and the stride is whole
/// elements.
fn rows_of<'a, T: Element>(bytes: &'a [u8], rows: &Rows) -> Option<RowSlice<'a, T>> {
    if rows.vector_type == VectorType::F16 {
        return None;
    }
    let size = std::mem::size_of::<T>();
    if !rows.stride.is_multiple_of(size) {
        return None;
    }
    let view = RowSlice::new(cast::<T>(bytes)?, rows.dim, rows.stride / size)?;
    (view.len() == rows.len).then_some(view)
}

/// Start the CPU loading the first cache lines of each vector in `slots`.
fn prefetch_rows(bytes: &[u8], rows: &Rows, slots: &[u32]) {
    for &slot in slots {
        if let Ok(start) = rows.start(slot) {
            // In range: `start + vector_bytes <= bytes.len()` by construction.
            let v = &bytes[start..start + rows.vector_bytes];
            simd::prefetch(v.as_ptr());
            if v.len() > 64 {
                simd::prefetch(v[64..].as_ptr());
            }
        }
    }
}

/// Read-only vectors in a memory map of a region of a file: no copy and no
/// cache of its own, the operating system pages the file in and out.
///
/// Vector `i` starts at byte `offset + i * stride_bytes` of the file and
/// holds `dim` elements of `T`. Only the bytes from the first vector to the
/// end of the last are mapped (rounded out to whole pages by the OS).
///
/// # The file must not change while it is mapped
///
/// A map shows the file's current contents: if another writer (this process
/// or another) truncates the file, reads of the lost pages crash the process
/// with `SIGBUS`, and if it writes the vectors, reads see the new bytes.
/// vectrove never does either to an index file: it saves by writing a new
/// file and renaming it over the old one, and an open map keeps the old file
/// (its inode) alive, unchanged, until the map is dropped. Other programs
/// must follow the same rule for files they give to this store; for files
/// nobody vouches for, [`PreadStore`] reads the same layout and reports a
/// truncated file as an error instead.
pub struct MmapStore<T: Element = f32> {
    /// `None` when there are no vectors (an empty map is not allowed).
    map: Option<Mmap>,
    rows: Rows,
    _elem: PhantomData<T>,
}

impl<T: Element> std::fmt::Debug for MmapStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapStore")
            .field("dim", &self.rows.dim)
            .field("len", &self.rows.len)
            .field("stride", &self.rows.stride)
            .finish()
    }
}

impl<T: Element> MmapStore<T> {
    /// Map `len` vectors of `dim` elements that start at byte `offset` of
    /// `file`, one every `stride_bytes` bytes (`dim * size_of::<T>()` when
    /// packed). The file handle may be closed afterwards; the map keeps its
    /// own reference to the file.
    ///
    /// A zero `dim`, a stride shorter than a vector or not a multiple of
    /// `T`'s alignment, an offset that is not such a multiple, or more than
    /// 2^32 vectors are [`Error::InvalidParameter`]; a file too short for the
    /// vectors is [`Error::Corrupt`] (section `"vectors"`).
    pub fn open(
        file: &File,
        offset: u64,
        len: usize,
        dim: usize,
        stride_bytes: usize,
    ) -> Result<Self> {
        let layout = VectorLayout::new(dim, len)
            .with_offset(offset)
            .with_stride(stride_bytes);
        Self::with_layout(file, layout)
    }

    /// Map the vectors of `file` where `layout` says (an index file's
    /// [`Header::vectors`](vectrove_core::format::Header::vectors), say),
    /// checked as [`open`](Self::open) checks its figures.
    pub fn with_layout(file: &File, layout: VectorLayout) -> Result<Self> {
        let rows = layout.rows::<T>()?;
        let (offset, len, stride_bytes) = (rows.offset, rows.len, rows.stride);
        let file_len = file.metadata()?.len();
        let span = rows.span();
        let end = span.and_then(|s| offset.checked_add(s as u64));
        if end.is_none_or(|end| end > file_len) {
            let reason = format!(
                "{len} vectors of {} bytes every {stride_bytes} bytes from byte {offset} \
                 do not fit in a {file_len}-byte file",
                rows.vector_bytes
            );
            return Err(Error::Corrupt {
                section: "vectors",
                reason,
            });
        }
        // `end` exists, so `span` does.
        let span = span.unwrap_or(0);
        let map = if span == 0 {
            None
        } else {
            // SAFETY: mapping a file is unsafe because the memory it gives
            // back changes (or, after a truncation, faults) if the file does.
            // The range lies within the file, as checked just above, and the
            // type's contract (see "The file must not change while it is
            // mapped") requires that nothing truncates or writes the file
            // while the store exists; vectrove replaces index files by rename,
            // which leaves a mapped file untouched.
            let map = unsafe { MmapOptions::new().offset(offset).len(span).map(file)? };
            Some(map)
        };
        Ok(Self {
            map,
            rows,
            _elem: PhantomData,
        })
    }

    /// [`open`](Self::open) the file at `path`.
    pub fn from_path(
        path: impl AsRef<Path>,
        offset: u64,
        len: usize,
        dim: usize,
        stride_bytes: usize,
    ) -> Result<Self> {
        Self::open(&File::open(path)?, offset, len, dim, stride_bytes)
    }

    /// Bytes from the start of one vector to the next.
    pub fn stride(&self) -> usize {
        self.rows.stride
    }

    /// Bytes of the file this store maps.
    pub fn mapped_bytes(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// Ask the operating system to read the whole mapped region ahead
    /// (`madvise(MADV_WILLNEED)`), for example before a batch of searches on
    /// a cold file. Only a hint; the store works the same without it.
    #[cfg(unix)]
    pub fn will_need(&self) -> Result<()> {
        if let Some(map) = &self.map {
            map.advise(memmap2::Advice::WillNeed)?;
        }
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

impl<T: Element> FeatureStore for MmapStore<T> {
    type Elem = T;

    fn dim(&self) -> usize {
        self.rows.dim
    }

    fn len(&self) -> usize {
        self.rows.len
    }

    #[inline]
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[T]) -> R) -> Result<Access<R>> {
        let start = self.rows.start(slot)?;
        // In range, so within the map (its length is the rows' span).
        let bytes = &self.bytes()[start..start + self.rows.vector_bytes];
        Ok(Access::Ready(with_decoded(self.rows.vector_type, bytes, f)))
    }

    /// Vectors kept as `f16` are decoded one after another into one buffer.
    fn with_vectors(
        &self,
        slots: &[u32],
        mut f: impl FnMut(u32, &[T]),
        _missing: &mut Vec<u32>,
    ) -> Result<()> {
        let mut decoder = Decoder::new(self.rows.vector_type);
        for &slot in slots {
            let start = self.rows.start(slot)?;
            let bytes = &self.bytes()[start..start + self.rows.vector_bytes];
            f(slot, decoder.decode(bytes));
        }
        Ok(())
    }

    /// CPU prefetches only: a system call per vector would cost more than
    /// the distance it prepares. See [`will_need`](Self::will_need).
    fn prefetch(&self, slots: &[u32]) {
        prefetch_rows(self.bytes(), &self.rows, slots);
    }

    /// The map as rows, when it holds `T`s (not `f16`s) aligned for `T` and
    /// the stride is whole elements (always, for files of `T` this crate
    /// writes).
    fn rows(&self) -> Option<RowSlice<'_, T>> {
        rows_of(self.bytes(), &self.rows)
    }

    fn vector_type(&self) -> VectorType {
        self.rows.vector_type
    }
}

/// The least a [`TempFileStore`] grows its file by, in bytes.
const MIN_GROWTH_BYTES: usize = 64 << 10;

/// A growable store that spills to disk: vectors are appended to an
/// anonymous temporary file and read back through a memory map of it, so a
/// build or a training run can hold more vectors than fit in memory. The
/// operating system keeps the recently used pages in memory and writes the
/// rest back to the file.
///
/// Vectors are packed (vector `i` at byte `i * dim * size_of::<T>()`). The
/// file grows by doubling, so `push` is amortised O(1); every growth maps
/// the file again, which `&mut self` makes safe, as no vector borrowed
/// through [`with_vector`](FeatureStore::with_vector) outlives its closure.
/// `truncate` keeps the file's size for later pushes. The file has no name
/// and is deleted when the store is dropped (or the process ends).
///
/// ```
/// use vectrove::stores::TempFileStore;
/// use vectrove::{FeatureStore, Hnsw, Metric};
///
/// let store = TempFileStore::<f32>::new(2)?;
/// let mut index = Hnsw::builder(2, Metric::L2).seed(1).build_with_store(store)?;
/// index.insert(7, &[0.0, 1.0])?;
/// index.insert(8, &[1.0, 0.0])?;
/// assert_eq!(index.search(&[0.9, 0.1], 1, 16)?[0].id, 8);
/// assert_eq!(index.store().len(), 2);
/// # Ok::<(), vectrove::Error>(())
/// ```
pub struct TempFileStore<T: Element = f32> {
    file: File,
    /// A map of the whole file; `None` while the file is empty.
    map: Option<MmapMut>,
    /// Vectors the file has room for.
    capacity: usize,
    len: usize,
    dim: usize,
    vector_bytes: usize,
    _elem: PhantomData<T>,
}

impl<T: Element> std::fmt::Debug for TempFileStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempFileStore")
            .field("dim", &self.dim)
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<T: Element> TempFileStore<T> {
    /// An empty store of `dim`-element vectors in a temporary file in the
    /// system's temporary directory.
    pub fn new(dim: usize) -> Result<Self> {
        Self::with_file(dim, tempfile::tempfile()?)
    }

    /// An empty store of `dim`-element vectors in a temporary file in `dir`
    /// (a disk with room for the vectors, say).
    pub fn new_in(dim: usize, dir: impl AsRef<Path>) -> Result<Self> {
        Self::with_file(dim, tempfile::tempfile_in(dir)?)
    }

    fn with_file(dim: usize, file: File) -> Result<Self> {
        let vector_bytes = match dim.checked_mul(std::mem::size_of::<T>()) {
            Some(0) | None => return Err(invalid("dim", format!("{dim} is not a dimension"))),
            Some(n) => n,
        };
        Ok(Self {
            file,
            map: None,
            capacity: 0,
            len: 0,
            dim,
            vector_bytes,
            _elem: PhantomData,
        })
    }

    /// Vectors the file has room for before it grows again.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// All vectors as one slice, `len * dim` elements.
    pub fn as_flat(&self) -> &[T] {
        match &self.map {
            // The map starts on a page boundary, so it is aligned for `T`,
            // and `len * vector_bytes` is within it.
            Some(map) => cast(&map[..self.len * self.vector_bytes]).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Grow the file (and its map) to hold at least `need` vectors, at least
    /// doubling it. On failure the store is unchanged.
    fn grow(&mut self, need: usize) -> Result<()> {
        let full = || Error::StoreFull {
            reason: format!(
                "a temporary file of {need} {}-byte vectors",
                self.vector_bytes
            ),
        };
        let min = MIN_GROWTH_BYTES.div_ceil(self.vector_bytes);
        let capacity = need.max(self.capacity.saturating_mul(2)).max(min);
        let bytes = capacity.checked_mul(self.vector_bytes).ok_or_else(full)?;
        let old = self.capacity * self.vector_bytes;
        // Windows cannot resize a file while a view of it is mapped; POSIX
        // can, and keeping the old map there leaves it valid if growing fails.
        #[cfg(windows)]
        {
            self.map = None;
        }
        let grown = self
            .file
            .set_len(bytes as u64)
            .and_then(|()| self.map_file(bytes));
        match grown {
            Ok(map) => {
                self.map = Some(map);
                self.capacity = capacity;
                Ok(())
            }
            Err(e) => {
                if self.map.is_none() && old > 0 {
                    match self.map_file(old) {
                        Ok(map) => self.map = Some(map),
                        Err(_) => {
                            // The vectors are lost with the view; say so
                            // rather than serve them from nowhere.
                            self.capacity = 0;
                            self.len = 0;
                        }
                    }
                }
                Err(e.into())
            }
        }
    }

    fn map_file(&self, bytes: usize) -> io::Result<MmapMut> {
        // SAFETY: the file is an anonymous temporary file that only this
        // store has a handle to, so nothing else writes or truncates it
        // (short of another process of the same user opening it through
        // /proc, which this store cannot prevent and does not support). The
        // store itself only ever lengthens it, to at least `bytes` before
        // mapping them, and holds `&mut self` while it does, so no borrow of
        // the previous map is alive.
        unsafe { MmapOptions::new().len(bytes).map_mut(&self.file) }
    }
}

impl<T: Element> FeatureStore for TempFileStore<T> {
    type Elem = T;

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[T]) -> R) -> Result<Access<R>> {
        let i = slot as usize;
        match &self.map {
            Some(map) if i < self.len => {
                let bytes = &map[i * self.vector_bytes..(i + 1) * self.vector_bytes];
                Ok(Access::Ready(with_decoded(VectorType::of::<T>(), bytes, f)))
            }
            _ => Err(Error::SlotOutOfRange {
                slot,
                len: self.len,
            }),
        }
    }

    fn prefetch(&self, slots: &[u32]) {
        let rows = Rows {
            dim: self.dim,
            len: self.len,
            offset: 0,
            stride: self.vector_bytes,
            vector_bytes: self.vector_bytes,
            vector_type: VectorType::of::<T>(),
        };
        prefetch_rows(self.map.as_deref().unwrap_or(&[]), &rows, slots);
    }
}

impl<T: Element> FeatureStoreMut for TempFileStore<T> {
    fn push(&mut self, v: &[T]) -> Result<u32> {
        if v.len() != self.dim {
            return Err(Error::DimensionMismatch {
                expected: self.dim,
                got: v.len(),
            });
        }
        let slot = u32::try_from(self.len).map_err(|_| Error::StoreFull {
            reason: "more than 2^32 vectors".into(),
        })?;
        if self.len == self.capacity {
            self.grow(self.len + 1)?;
        }
        let start = self.len * self.vector_bytes;
        match &mut self.map {
            Some(map) => {
                map[start..start + self.vector_bytes]
                    .copy_from_slice(bytemuck::cast_slice::<T, u8>(v));
            }
            // `grow` succeeded, so the file is mapped.
            None => {
                return Err(Error::Storage {
                    message: "the temporary file is not mapped".into(),
                });
            }
        }
        self.len += 1;
        Ok(slot)
    }

    fn truncate(&mut self, len: usize) -> Result<()> {
        self.len = self.len.min(len);
        Ok(())
    }

    /// Grows the file ahead of time; if that fails, the next `push` that
    /// needs the room reports the error.
    fn reserve(&mut self, additional: usize) {
        match self.len.checked_add(additional) {
            Some(need) if need > self.capacity => {
                let _ = self.grow(need);
            }
            _ => {}
        }
    }
}

/// A [`ByteSource`] over a file, read with positional reads (`pread` on
/// Unix, `ReadFile` at an offset on Windows): they take `&self` and move no
/// shared cursor, so several threads read one handle at once.
///
/// The length is the file's when the source was made; reads beyond it are
/// refused, and a file that shrinks meanwhile makes reads past its new end
/// fail. Neither is ever a short read.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    len: u64,
    /// System calls made by reads so far.
    reads: AtomicU64,
}

impl FileSource {
    /// A source over `file`, which must be open for reading.
    pub fn new(file: File) -> Result<Self> {
        let len = file.metadata()?.len();
        let reads = AtomicU64::new(0);
        Ok(Self { file, len, reads })
    }

    /// A source over the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::new(File::open(path)?)
    }

    /// The read system calls this source has made so far (a read may take
    /// more than one, when the OS returns fewer bytes than asked).
    pub fn reads(&self) -> u64 {
        self.reads.load(Relaxed)
    }

    /// The file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The file, giving up the source.
    pub fn into_inner(self) -> File {
        self.file
    }
}

/// One positional read: as many bytes as the OS gives, 0 at the end of the file.
fn read_some_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        // Moves the handle's cursor, which nothing here relies on.
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (file, buf, offset);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "positional file reads are not available on this platform",
        ))
    }
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    /// Reads until `buf` is full. A read past [`len`](ByteSource::len), or
    /// a file that ends first (it shrank), is an [`Error::Io`] of kind
    /// `UnexpectedEof`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.len) {
            let msg = format!(
                "{} bytes at {offset} run past the end of a {}-byte file",
                buf.len(),
                self.len
            );
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg).into());
        }
        let (mut buf, mut at) = (buf, offset);
        while !buf.is_empty() {
            self.reads.fetch_add(1, Relaxed);
            match read_some_at(&self.file, buf, at) {
                Ok(0) => {
                    let msg = format!(
                        "the file ends before byte {} (reading {} bytes at {offset})",
                        at + buf.len() as u64,
                        (at - offset) as usize + buf.len()
                    );
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg).into());
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    at += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(SourceRead::Done)
    }

    /// A read is a system call, which costs more than copying a few pages.
    fn spans_pay(&self) -> bool {
        true
    }
}

/// Page size of [`pread_store`]: one file-system block (chosen by measuring
/// graph walks, see [`pread_store`]).
pub const PREAD_PAGE_BYTES: usize = 4096;

/// Vectors read from a file with positional reads through a page cache with
/// a byte budget: the store for files larger than memory when the process
/// must bound its memory (a map leaves that to the OS). See [`pread_store`].
pub type PreadStore<T = f32> = PagedStore<FileSource, T>;

/// A [`PreadStore`] of `len` vectors of `dim` elements of `T` starting at
/// byte `offset` of `file`, one every `stride_bytes` bytes, read through a
/// cache of its own holding at most `cache_budget_bytes`, in pages of
/// [`PREAD_PAGE_BYTES`] (or one vector, if larger; or the budget, if smaller). For a cache shared by several stores, use
/// [`PagedStore::with_cache`] over a [`FileSource`].
///
/// A layout that does not fit in the file, or a budget that cannot hold one
/// vector, is an [`Error::InvalidParameter`].
///
/// ```no_run
/// # fn main() -> vectrove::Result<()> {
/// use vectrove::FeatureStore;
/// use vectrove::stores::pread_store;
///
/// // 1000 packed 128-d f32 vectors after a 4096-byte header, 1 MiB of cache.
/// let file = std::fs::File::open("vectors.bin")?;
/// let store = pread_store::<f32>(file, 4096, 1000, 128, 128 * 4, 1 << 20)?;
/// let first = store.with_vector(0, |v| v[0])?;
/// # Ok(())
/// # }
/// ```
pub fn pread_store<T: Element>(
    file: File,
    offset: u64,
    len: usize,
    dim: usize,
    stride_bytes: usize,
    cache_budget_bytes: usize,
) -> Result<PreadStore<T>> {
    let layout = VectorLayout::new(dim, len)
        .with_offset(offset)
        .with_stride(stride_bytes);
    pread_store_with_layout(file, layout, cache_budget_bytes)
}

/// A [`PreadStore`] of the vectors of `file` where `layout` says (an index
/// file's [`Header::vectors`](vectrove_core::format::Header::vectors), whose
/// vectors may be stored as `f16`), as [`pread_store`] makes it.
pub fn pread_store_with_layout<T: Element>(
    file: File,
    layout: VectorLayout,
    cache_budget_bytes: usize,
) -> Result<PreadStore<T>> {
    let stride_bytes = layout.rows::<T>()?.stride;
    // Searches touch vectors all over the file: small pages waste the least
    // of each read and of the cache. On the 1M x 128-d benchmark (renumbered
    // graph, 64 MiB cache) 1 KiB and 4 KiB pages search at the same speed,
    // 16 KiB pages at half of it and 64 KiB pages at a sixth: a bigger page
    // saves no misses, it only copies more per miss.
    let page = std::env::var("VTRV_PAGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PREAD_PAGE_BYTES)
        .max(stride_bytes)
        .min(cache_budget_bytes.max(stride_bytes));
    let cache = std::sync::Arc::new(vectrove_core::PageCache::new(page, cache_budget_bytes)?);
    PagedStore::with_cache(FileSource::new(file)?, layout, cache)
}
