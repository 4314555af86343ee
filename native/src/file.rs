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

use vectrove_core::format::VectorChecksums;
use vectrove_core::format::{Header, VectorsSection};
use vectrove_core::store::{Access, FeatureStore, MemoryStore};
use vectrove_core::{Element, Error, Hnsw, HnswFile, Ivf, IvfFile, Result};

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

/// An index that can be written in the file format: [`Hnsw`] or [`Ivf`].
pub trait WriteIndex {
    /// Write the whole file to `out`.
    fn write_index(&self, out: &mut dyn Write) -> Result<()>;
}

impl<S: FeatureStore> WriteIndex for Hnsw<S> {
    fn write_index(&self, mut out: &mut dyn Write) -> Result<()> {
        self.write_to(&mut out)
    }
}

impl<S: FeatureStore<Elem = f32>> WriteIndex for Ivf<S> {
    fn write_index(&self, mut out: &mut dyn Write) -> Result<()> {
        self.write_to(&mut out)
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
    let file = File::open(path)?;
    let (header, _) = read_meta(&file)?;
    Ok(header)
}

/// The header and the metadata bytes of `file`.
fn read_meta(file: &File) -> Result<(Header, Vec<u8>)> {
    let source = FileSource::new(file.try_clone()?)?;
    let len = vectrove_core::store::ByteSource::len(&source);
    let read = |offset: u64, n: usize| -> Result<Vec<u8>> {
        let mut buf = vec![0; n];
        vectrove_core::store::ByteSource::read_at(&source, offset, &mut buf)?;
        Ok(buf)
    };
    let prefix = read(0, (Header::PREFIX_LEN as u64).min(len) as usize)?;
    let header_len = Header::header_len(&prefix)?;
    if header_len as u64 > len {
        return Err(vectrove_core::Error::Corrupt {
            section: "header",
            reason: format!("truncated: the file is {len} bytes"),
        });
    }
    let head = read(0, header_len)?;
    let header = Header::parse(&head, len)?;
    // `meta_len` was checked against the real file length, so this read is
    // bounded by the file.
    let meta = read(0, header.meta_len as usize)?;
    Ok((header, meta))
}

/// Check the vectors' block checksums by streaming them from `file`.
fn verify_vectors(file: &File, v: &VectorsSection, sums: &VectorChecksums) -> Result<()> {
    let source = FileSource::new(file.try_clone()?)?;
    let mut buf = Vec::new();
    for i in 0..sums.blocks() {
        let r = sums.block_range(i);
        buf.resize((r.end - r.start) as usize, 0);
        vectrove_core::store::ByteSource::read_at(&source, v.offset + r.start, &mut buf)?;
        sums.verify_block(i, &buf)?;
    }
    Ok(())
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
    let file = File::open(path)?;
    let (header, meta) = read_meta(&file)?;
    check_elem::<T>(&header)?;
    let decoded = HnswFile::decode(header, &meta)?;
    drop(meta);
    let store = open_store(file, decoded.header(), decoded.vector_checksums(), options)?;
    decoded.into_index(store)
}

/// Open the IVF index at `path` (see [`open`]).
pub fn open_ivf(path: impl AsRef<Path>, storage: Storage) -> Result<Ivf<FileStore<f32>>> {
    open_ivf_with(path, OpenOptions::new(storage))
}

/// Open the IVF index at `path` with `options` (see [`open_with`]).
pub fn open_ivf_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<Ivf<FileStore<f32>>> {
    let file = File::open(path)?;
    let (header, meta) = read_meta(&file)?;
    check_elem::<f32>(&header)?;
    let decoded = IvfFile::decode(header, &meta)?;
    drop(meta);
    let store = open_store(file, decoded.header(), decoded.vector_checksums(), options)?;
    decoded.into_index(store)
}

fn check_elem<T: Element>(header: &Header) -> Result<()> {
    if header.elem != T::CODE {
        return Err(Error::InvalidParameter {
            name: "element type",
            reason: format!(
                "the file holds {} vectors, not {}",
                vectrove_core::format::elem_name(header.elem),
                T::NAME
            ),
        });
    }
    Ok(())
}

/// The store of a checked file's vectors.
fn open_store<T: Element>(
    file: File,
    header: &Header,
    sums: &VectorChecksums,
    options: OpenOptions,
) -> Result<FileStore<T>> {
    let v = header.vectors();
    Ok(match options.storage {
        Storage::Memory => {
            let mut bytes = vec![0u8; v.byte_len() as usize];
            let source = FileSource::new(file.try_clone()?)?;
            vectrove_core::store::ByteSource::read_at(&source, v.offset, &mut bytes)?;
            sums.verify_all(&bytes)?;
            FileStore::Memory(MemoryStore::from_le_bytes(v.dim, &bytes)?)
        }
        Storage::Mmap => {
            if options.verify_vectors {
                verify_vectors(&file, &v, sums)?;
            }
            FileStore::Mmap(MmapStore::open(&file, v.offset, v.count, v.dim, v.stride)?)
        }
        Storage::Paged { cache_bytes } => {
            if options.verify_vectors {
                verify_vectors(&file, &v, sums)?;
            }
            FileStore::Paged(pread_store(
                file,
                v.offset,
                v.count,
                v.dim,
                v.stride,
                cache_bytes,
            )?)
        }
    })
}
