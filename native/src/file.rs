//! Index files on disk: atomic [`save`] and [`open`] with the vectors in
//! memory, memory-mapped or read on demand through a page cache.
//!
//! ```
//! use vectrove::file::{self, Storage};
//! use vectrove::{Hnsw, Metric};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("points.vtrv");
//! let mut index = Hnsw::builder(2, Metric::L2).build()?;
//! index.insert(1, &[0.0, 1.0])?;
//! index.insert(2, &[5.0, 5.0])?;
//! file::save(&index, &path)?;
//!
//! let mapped = file::open::<f32>(&path, Storage::Mmap)?;
//! assert_eq!(mapped.search(&[4.0, 4.0], 1, 16)?[0].id, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// What [`save`] takes: an [`Hnsw`], an [`Ivf`] or an [`AnyIndex`].
pub use vectrove_core::format::WriteIndex;
use vectrove_core::format::{self, Header, IndexKind, VectorChecksums};
use vectrove_core::store::{Access, FeatureStore, MemoryStore};
use vectrove_core::{AnyIndex, Element, Error, Hnsw, IndexFile, Ivf, Result};

use crate::stores::{FileSource, MmapStore, PreadStore, pread_store};

/// Where an opened index keeps its vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Read everything into memory.
    Memory,
    /// Map the file; the OS pages vectors in and out (they count as shared,
    /// file-backed memory, not as the process's private memory).
    Mmap,
    /// Read vectors with positional reads through a page cache of at most
    /// `cache_bytes`.
    Paged {
        /// Byte budget of the page cache.
        cache_bytes: usize,
    },
}

impl std::str::FromStr for Storage {
    type Err = String;

    /// `memory`, `mmap` or `paged` (with a 64 MiB cache; set another with
    /// [`Storage::Paged`] directly).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "memory" => Ok(Storage::Memory),
            "mmap" => Ok(Storage::Mmap),
            "paged" => Ok(Storage::Paged {
                cache_bytes: 64 << 20,
            }),
            _ => Err(format!(
                "unknown storage `{s}` (expected memory, mmap or paged)"
            )),
        }
    }
}

impl Storage {
    /// The name used on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Storage::Memory => "memory",
            Storage::Mmap => "mmap",
            Storage::Paged { .. } => "paged",
        }
    }
}

/// The store behind an opened index: one type for the three [`Storage`] modes.
#[derive(Debug)]
pub enum FileStore<T: Element = f32> {
    /// All vectors in memory.
    Memory(MemoryStore<T>),
    /// A memory map of the file.
    Mmap(MmapStore<T>),
    /// Positional reads through a page cache.
    Paged(PreadStore<T>),
}

impl<T: Element> FeatureStore for FileStore<T> {
    type Elem = T;

    fn dim(&self) -> usize {
        match self {
            FileStore::Memory(s) => s.dim(),
            FileStore::Mmap(s) => s.dim(),
            FileStore::Paged(s) => s.dim(),
        }
    }

    fn len(&self) -> usize {
        match self {
            FileStore::Memory(s) => s.len(),
            FileStore::Mmap(s) => s.len(),
            FileStore::Paged(s) => s.len(),
        }
    }

    #[inline]
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[T]) -> R) -> Result<Access<R>> {
        match self {
            FileStore::Memory(s) => s.with_vector(slot, f),
            FileStore::Mmap(s) => s.with_vector(slot, f),
            FileStore::Paged(s) => s.with_vector(slot, f),
        }
    }

    fn with_vectors(
        &self,
        slots: &[u32],
        f: impl FnMut(u32, &[T]),
        missing: &mut Vec<u32>,
    ) -> Result<()> {
        match self {
            FileStore::Memory(s) => s.with_vectors(slots, f, missing),
            FileStore::Mmap(s) => s.with_vectors(slots, f, missing),
            FileStore::Paged(s) => s.with_vectors(slots, f, missing),
        }
    }

    #[inline]
    fn prefetch(&self, slots: &[u32]) {
        match self {
            FileStore::Memory(s) => s.prefetch(slots),
            FileStore::Mmap(s) => s.prefetch(slots),
            FileStore::Paged(s) => s.prefetch(slots),
        }
    }

    fn may_miss(&self) -> bool {
        match self {
            FileStore::Memory(s) => s.may_miss(),
            FileStore::Mmap(s) => s.may_miss(),
            FileStore::Paged(s) => s.may_miss(),
        }
    }
}

/// How to open an index file.
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    /// Where the vectors live.
    pub storage: Storage,
    /// Check the vectors' checksums while opening (on by default). Turning it
    /// off makes opening a huge mapped or paged index instant; the metadata
    /// (graph, ids, deletions) is always checked.
    pub verify_vectors: bool,
}

impl OpenOptions {
    /// Options for `storage`, verifying everything.
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            verify_vectors: true,
        }
    }
}

/// Save `index` to `path` atomically: the bytes go to a temporary file in
/// the same directory, which is flushed to disk and then renamed over `path`.
/// A crash at any point leaves either the old file or the new one, never a
/// mix. Indexes already open on the old file keep reading the old bytes.
pub fn save(index: &impl WriteIndex, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".vectrove-").suffix(".tmp");
    // A new index gets the usual permissions of a data file (temporary
    // files are private by default); a replaced one keeps its own.
    let permissions = match std::fs::metadata(path) {
        Ok(m) => Some(m.permissions()),
        Err(_) => default_permissions(),
    };
    if let Some(p) = permissions {
        builder.permissions(p);
    }
    let tmp = builder.tempfile_in(dir)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        index.write_index(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| Error::Io(e.error))?;
    sync_dir(dir);
    Ok(())
}

#[cfg(unix)]
fn default_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions() -> Option<std::fs::Permissions> {
    None
}

/// Make the rename durable (best effort: not every platform can open a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Read and check the header of an index file.
pub fn read_header(path: impl AsRef<Path>) -> Result<Header> {
    let source = FileSource::open(path)?;
    Ok(format::read_meta(&source)?.0)
}

/// Open the index at `path` with its vectors in `storage`, checking everything.
pub fn open<T: Element>(path: impl AsRef<Path>, storage: Storage) -> Result<Hnsw<FileStore<T>>> {
    open_with(path, OpenOptions::new(storage))
}

/// Open the HNSW index at `path` with `options`. Every section's checksum
/// and every structural invariant is checked; a damaged file is an
/// [`Error::Corrupt`] and nothing is allocated
/// beyond what the file's size justifies.
pub fn open_with<T: Element>(
    path: impl AsRef<Path>,
    options: OpenOptions,
) -> Result<Hnsw<FileStore<T>>> {
    open_kind(path.as_ref(), options, Some(IndexKind::Hnsw))?.into_hnsw()
}

/// Open the IVF index at `path` (see [`open`]).
pub fn open_ivf(path: impl AsRef<Path>, storage: Storage) -> Result<Ivf<FileStore<f32>>> {
    open_ivf_with(path, OpenOptions::new(storage))
}

/// Open the IVF index at `path` with `options` (see [`open_with`]).
pub fn open_ivf_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<Ivf<FileStore<f32>>> {
    open_kind(path.as_ref(), options, Some(IndexKind::Ivf))?.into_ivf()
}

/// Open the index at `path`, of whichever kind the file holds (see
/// [`open_with`]).
pub fn open_any<T: Element>(
    path: impl AsRef<Path>,
    options: OpenOptions,
) -> Result<AnyIndex<FileStore<T>>> {
    open_kind(path.as_ref(), options, None)
}

/// The one opening sequence: the core reads and checks the metadata, this
/// crate only chooses the byte source and the store.
fn open_kind<T: Element>(
    path: &Path,
    options: OpenOptions,
    kind: Option<IndexKind>,
) -> Result<AnyIndex<FileStore<T>>> {
    let file = File::open(path)?;
    let source = FileSource::new(file.try_clone()?)?;
    let (header, meta) = format::read_meta(&source)?;
    header.check_elem::<T>()?;
    if let Some(kind) = kind {
        header.check_kind(kind)?;
    }
    let decoded = IndexFile::decode(header, &meta)?;
    drop(meta);
    let store = open_store(file, &source, &decoded, options)?;
    decoded.into_index(store)
}

/// The store of a checked file's vectors.
fn open_store<T: Element>(
    file: File,
    source: &FileSource,
    decoded: &IndexFile,
    options: OpenOptions,
) -> Result<FileStore<T>> {
    let header = decoded.header();
    let sums: &VectorChecksums = decoded.vector_checksums();
    let v = header.vectors();
    let stride = header.vector_stride();
    if options.storage != Storage::Memory && options.verify_vectors {
        format::verify_vectors(source, header, sums)?;
    }
    Ok(match options.storage {
        Storage::Memory => {
            let mut bytes = vec![0u8; header.vector_bytes() as usize];
            vectrove_core::store::ByteSource::read_at(source, v.base_offset, &mut bytes)?;
            FileStore::Memory(decoded.memory_store(&bytes)?)
        }
        Storage::Mmap => {
            FileStore::Mmap(MmapStore::open(&file, v.base_offset, v.len, v.dim, stride)?)
        }
        Storage::Paged { cache_bytes } => FileStore::Paged(pread_store(
            file,
            v.base_offset,
            v.len,
            v.dim,
            stride,
            cache_bytes,
        )?),
    })
}
