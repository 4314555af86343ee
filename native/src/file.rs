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

use std::fs::{File, TryLockError};
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// What [`save`] takes: an [`Hnsw`], an [`Ivf`] or an [`AnyIndex`].
pub use vectrove_core::format::WriteIndex;
use vectrove_core::format::{self, Header, IndexKind, VectorChecksums};
use vectrove_core::store::{
    Access, FeatureStore, FeatureStoreMut, LayeredStore, MemoryStore, VectorType,
};
use vectrove_core::{AnyIndex, Element, Error, Hnsw, IndexFile, Ivf, Result};

use crate::stores::{FileSource, MmapStore, PreadStore, pread_store_with_layout};

/// Where an opened index keeps its vectors.
///
/// [`Storage::Memory`] and [`Storage::Paged`] work on any file, whatever
/// other processes do to it; [`Storage::Paged`] is the one for large files
/// you do not control. [`Storage::Mmap`] is the fastest way to search a
/// large file but trusts the file not to change under it: see its
/// documentation.
///
/// An index opened in any mode takes inserts and deletes. The file is
/// never written in place: with `Mmap` and `Paged` the vectors inserted
/// after opening are kept in memory, beside the file's, and [`save`] writes
/// all of them to a new file (atomically, so the same path is fine). A
/// mapped index with such vectors searches somewhat slower than a freshly
/// opened one (its searches no longer read the map's rows in place), so an
/// application that appends much and searches much saves and reopens now
/// and then, or opens with `Memory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Read everything into memory.
    Memory,
    /// Map the file; the OS pages vectors in and out (they count as shared,
    /// file-backed memory, not as the process's private memory).
    ///
    /// **This mode trusts the file**, as [`memmap2::Mmap::map`] does: no
    /// process may truncate the file or write it in place while the index
    /// is open. If one truncates it, the next read of a lost page kills this
    /// process with `SIGBUS`, which no `Result` can report (Windows refuses to
    /// truncate a mapped file). If one writes it in place, searches read the
    /// new bytes, which the checksums checked at opening no longer cover.
    ///
    /// vectrove's own writers never do either: [`save`] writes a new file
    /// and renames it over the old one, and a mapped index keeps reading
    /// the old file, whole, until it is dropped; a new [`open`] sees the new
    /// one. Use [`Storage::Paged`] for files that something else may change:
    /// there a truncated file is an [`Error::Io`], never a crash.
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
///
/// It takes new vectors in every mode, so an opened index accepts
/// `insert` and `delete` and can be saved again. With
/// [`Storage::Memory`] they join the others in memory. With
/// [`Storage::Mmap`] and [`Storage::Paged`] the file is never written: the
/// vectors it holds stay mapped or paged, and those inserted since it was
/// opened are kept in memory after them ([`appended`](Self::appended));
/// [`save`] writes both as one new file. While a mapped index holds
/// appended vectors, searches read through the store instead of the map's
/// rows in place, which costs some speed; save and open it again to get it
/// back.
#[derive(Debug)]
pub struct FileStore<T: Element = f32> {
    inner: Layers<T>,
}

#[derive(Debug)]
enum Layers<T: Element> {
    Memory(MemoryStore<T>),
    Mmap(LayeredStore<MmapStore<T>>),
    Paged(LayeredStore<PreadStore<T>>),
}

/// `$s` bound to the store of whichever mode `$self` is in.
macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Layers::Memory($s) => $e,
            Layers::Mmap($s) => $e,
            Layers::Paged($s) => $e,
        }
    };
}

impl<T: Element> FileStore<T> {
    /// All vectors in memory.
    pub fn from_memory(store: MemoryStore<T>) -> Self {
        Self {
            inner: Layers::Memory(store),
        }
    }

    /// The vectors of a memory map, taking more in memory after them.
    pub fn from_mmap(store: MmapStore<T>) -> Result<Self> {
        Ok(Self {
            inner: Layers::Mmap(LayeredStore::over(store)?),
        })
    }

    /// The vectors of a paged file, taking more in memory after them.
    pub fn from_paged(store: PreadStore<T>) -> Result<Self> {
        Ok(Self {
            inner: Layers::Paged(LayeredStore::over(store)?),
        })
    }

    /// The in-memory store, if the index was opened with [`Storage::Memory`].
    pub fn memory(&self) -> Option<&MemoryStore<T>> {
        match &self.inner {
            Layers::Memory(s) => Some(s),
            _ => None,
        }
    }

    /// The memory map of the file's vectors, if the index was opened with
    /// [`Storage::Mmap`].
    pub fn mmap(&self) -> Option<&MmapStore<T>> {
        match &self.inner {
            Layers::Mmap(s) => s.base(),
            _ => None,
        }
    }

    /// The paged store of the file's vectors (its cache statistics, its
    /// source), if the index was opened with [`Storage::Paged`].
    pub fn paged(&self) -> Option<&PreadStore<T>> {
        match &self.inner {
            Layers::Paged(s) => s.base(),
            _ => None,
        }
    }

    /// The name of the mode the index was opened in, as
    /// [`Storage::name`] gives it.
    pub fn storage_name(&self) -> &'static str {
        match &self.inner {
            Layers::Memory(_) => "memory",
            Layers::Mmap(_) => "mmap",
            Layers::Paged(_) => "paged",
        }
    }

    /// Vectors held in memory beside a mapped or paged file's (inserted
    /// since it was opened); 0 for [`Storage::Memory`], where every vector
    /// is in memory anyway.
    pub fn appended(&self) -> usize {
        match &self.inner {
            Layers::Memory(_) => 0,
            Layers::Mmap(s) => s.tail_len(),
            Layers::Paged(s) => s.tail_len(),
        }
    }
}

impl<T: Element> FeatureStore for FileStore<T> {
    type Elem = T;

    fn dim(&self) -> usize {
        each!(&self.inner, s => s.dim())
    }

    fn len(&self) -> usize {
        each!(&self.inner, s => s.len())
    }

    #[inline]
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[T]) -> R) -> Result<Access<R>> {
        each!(&self.inner, s => s.with_vector(slot, f))
    }

    fn with_vectors(
        &self,
        slots: &[u32],
        f: impl FnMut(u32, &[T]),
        missing: &mut Vec<u32>,
    ) -> Result<()> {
        each!(&self.inner, s => s.with_vectors(slots, f, missing))
    }

    #[inline]
    fn rows(&self) -> Option<vectrove_core::store::RowSlice<'_, T>> {
        each!(&self.inner, s => s.rows())
    }

    #[inline]
    fn prefetch(&self, slots: &[u32]) {
        each!(&self.inner, s => s.prefetch(slots))
    }

    fn may_miss(&self) -> bool {
        each!(&self.inner, s => s.may_miss())
    }

    fn vector_type(&self) -> VectorType {
        each!(&self.inner, s => s.vector_type())
    }
}

/// New vectors go in memory, in every mode; the file is never written.
impl<T: Element> FeatureStoreMut for FileStore<T> {
    fn push(&mut self, v: &[T]) -> Result<u32> {
        each!(&mut self.inner, s => s.push(v))
    }

    fn truncate(&mut self, len: usize) -> Result<()> {
        each!(&mut self.inner, s => s.truncate(len))
    }

    fn reserve(&mut self, additional: usize) {
        each!(&mut self.inner, s => s.reserve(additional))
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

/// How vectrove names its temporary files: `.vectrove-<random>.tmp`, beside
/// the index being saved.
const TEMP_PREFIX: &str = ".vectrove-";
const TEMP_SUFFIX: &str = ".tmp";

/// Save `index` to `path` atomically: the bytes go to a temporary file in
/// the same directory, which is flushed to disk and then renamed over `path`,
/// and the directory is flushed too. A crash at any point leaves either the
/// old file or the new one, never a mix. The file at `path` is never written
/// in place, so indexes already open on the old file (in any [`Storage`]
/// mode, memory-mapped ones included) keep reading the old bytes, whole.
///
/// The temporary file holds an exclusive advisory lock while it is written.
/// A save killed before its rename leaves it behind; the next save or
/// [`open`] of an index in that directory removes it (see
/// [`remove_stale_temp_files`]).
///
/// If every byte is on disk and renamed but the directory cannot be flushed,
/// the error says so: the new index is in place, but may not survive a power
/// loss.
pub fn save(index: &impl WriteIndex, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    save_to(index, path).map_err(|e| e.in_file(path))
}

fn save_to(index: &impl WriteIndex, path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    // Best effort: a directory that cannot be listed only keeps its leftovers.
    let _ = remove_stale_temp_files(dir);
    // A new index gets the usual permissions of a data file (temporary
    // files are private by default); a replaced one keeps its own.
    let permissions = match std::fs::metadata(path) {
        Ok(m) => Some(m.permissions()),
        Err(_) => default_permissions(),
    };
    let tmp = locked_temp_file(dir, permissions)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        index.write_index(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    // The lock goes with the file (now at `path`) and is released when it
    // is closed, at the end of this function; nothing else locks index files.
    let _file = tmp.persist(path).map_err(|e| Error::Io(e.error))?;
    sync_dir(dir).map_err(|e| {
        Error::Io(io::Error::new(
            e.kind(),
            format!(
                "saved, but its directory could not be flushed to disk, so the \
                 new version may not survive a power loss: {e}"
            ),
        ))
    })
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// How many times [`locked_temp_file`] tries a new name before giving up.
const TEMP_ATTEMPTS: usize = 8;

/// A new temporary file in `dir`, exclusively locked before anything is
/// written to it.
///
/// Between its creation and its lock, a cleanup in another process can see
/// the file unlocked and remove it. So after locking, the file is checked to
/// still be the one at its name; if a cleanup won (it holds the lock, or the
/// name is gone), another name is tried. Once the lock is held and the name
/// checked, no cleanup can remove it: cleanups remove only files they lock.
fn locked_temp_file(
    dir: &Path,
    permissions: Option<std::fs::Permissions>,
) -> Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    if let Some(p) = permissions {
        builder.permissions(p);
    }
    for _ in 0..TEMP_ATTEMPTS {
        let tmp = builder.tempfile_in(dir)?;
        match tmp.as_file().try_lock() {
            Ok(()) => {}
            // A cleanup locked it first and is removing it.
            Err(TryLockError::WouldBlock) => continue,
            // No advisory locks here (some network or FUSE file systems):
            // cleanups cannot lock it either, so they leave it alone.
            Err(TryLockError::Error(_)) => return Ok(tmp),
        }
        let linked = std::fs::symlink_metadata(tmp.path())
            .is_ok_and(|named| same_file(&named, &tmp.as_file().metadata().ok()));
        if linked {
            return Ok(tmp);
        }
    }
    Err(Error::Io(io::Error::other(format!(
        "{TEMP_ATTEMPTS} new temporary files in {} were removed by other processes \
         before they could be locked",
        dir.display()
    ))))
}

/// Whether `a` and `b` are the same file (same device and inode). Where
/// that cannot be told, assumed true.
fn same_file(a: &std::fs::Metadata, b: &Option<std::fs::Metadata>) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        b.as_ref()
            .is_some_and(|b| a.dev() == b.dev() && a.ino() == b.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        true
    }
}

/// Remove the temporary files that killed saves left in `dir` (named
/// `.vectrove-*.tmp`), and return how many were removed. [`save`] and
/// [`open`] call it on the index's directory; it is public for applications
/// that want to tidy a directory without saving or opening anything.
///
/// A file is removed only if this process can take its exclusive advisory
/// lock, so the temporary file of a save still running in another process
/// (or this one) is never touched. Where the file system has no advisory
/// locks, nothing is removed. Files that cannot be opened or removed are
/// skipped; only a directory that cannot be listed is an error.
pub fn remove_stale_temp_files(dir: impl AsRef<Path>) -> Result<usize> {
    let dir = dir.as_ref();
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name.len() > TEMP_PREFIX.len() + TEMP_SUFFIX.len()
            && name.starts_with(TEMP_PREFIX)
            && name.ends_with(TEMP_SUFFIX);
        // Regular files only: opening a FIFO could block, and a symbolic
        // link's target is not ours.
        if !ours || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        // Locked: no save is writing it. Still the file at that name (a save
        // may have just renamed it into place and let go of its lock)?
        let named = std::fs::symlink_metadata(&path);
        if named.is_ok_and(|m| same_file(&m, &file.metadata().ok()))
            && std::fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
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

/// Flush `dir` itself to disk, which makes a rename in it durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir)?.sync_all() {
        Err(e) if dir_sync_unsupported(&e) => Ok(()),
        r => r,
    }
}

/// Windows cannot open a directory as a `File`, and NTFS records a rename
/// in its journal; there is nothing more to flush.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Whether a directory's `fsync` failed only because its file system cannot
/// flush directories: `EINVAL`, which POSIX gives for a file that "does not
/// support synchronization" and some FUSE and network file systems give for
/// directories. Such a file system offers no way to make the rename more
/// durable than it is, and the file's own bytes were flushed, so the save
/// stands. Every other error (`EIO` above all: the write-back failed) is
/// returned.
#[cfg(unix)]
fn dir_sync_unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidInput
}

/// Read and check the header of an index file. Errors name the file
/// ([`Error::File`]).
pub fn read_header(path: impl AsRef<Path>) -> Result<Header> {
    let path = path.as_ref();
    let header = FileSource::open(path).and_then(|source| Ok(format::read_meta(&source)?.0));
    header.map_err(|e| e.in_file(path))
}

/// Open the index at `path` with its vectors in `storage`, checking everything.
///
/// The index takes inserts and deletes in every [`Storage`] mode and can be
/// saved again, over the same path or elsewhere. The file itself is never
/// written: with [`Storage::Mmap`] and [`Storage::Paged`] the vectors it
/// holds stay where they are and new ones are kept in memory beside them
/// (see [`FileStore`]), until [`save`] writes a new file with both.
///
/// Every error names the file ([`Error::File`]); [`Error::inner`] is what
/// went wrong: [`Error::Io`] (a missing file, no permission, a read that
/// failed), [`Error::Corrupt`] (not an index file, truncated, a failed
/// checksum, an IVF file opened as HNSW), [`Error::ElementMismatch`]
/// (vectors of another element type) or [`Error::Storage`] (out of memory).
///
/// ```
/// use vectrove::file::{self, Storage};
/// use vectrove::{Error, Hnsw, Metric};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("points.vtrv");
/// let mut index = Hnsw::builder(2, Metric::L2).build()?;
/// index.insert(1, &[0.0, 1.0])?;
/// file::save(&index, &path)?;
///
/// // Open, add, delete and save again, whichever the storage.
/// let mut index = file::open::<f32>(&path, Storage::Mmap)?;
/// index.insert(2, &[5.0, 5.0])?;
/// index.delete(1)?;
/// assert_eq!(index.store().appended(), 1);
/// file::save(&index, &path)?;
/// let again = file::open::<f32>(&path, Storage::Memory)?;
/// assert_eq!((again.len(), again.search(&[4.0, 4.0], 1, 16)?[0].id), (1, 2));
///
/// // Errors say which file, and what went wrong with it.
/// let missing = dir.path().join("missing.vtrv");
/// let e = file::open::<f32>(&missing, Storage::Memory).unwrap_err();
/// assert_eq!(e.path(), Some(missing.as_path()));
/// assert!(matches!(e.inner(), Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open<T: Element>(path: impl AsRef<Path>, storage: Storage) -> Result<Hnsw<FileStore<T>>> {
    open_with(path, OpenOptions::new(storage))
}

/// Open the HNSW index at `path` with `options`. Every section's checksum
/// and every structural invariant is checked; a damaged file is an
/// [`Error::Corrupt`] (inside the [`Error::File`] that names it, as every
/// error of opening is) and nothing is allocated beyond what the file's
/// size justifies. The index takes inserts as [`open`] describes.
///
/// Opening also removes the temporary files that killed saves left in the
/// file's directory, where it may (see [`remove_stale_temp_files`]).
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
    open_file(path, options, kind).map_err(|e| e.in_file(path))
}

fn open_file<T: Element>(
    path: &Path,
    options: OpenOptions,
    kind: Option<IndexKind>,
) -> Result<AnyIndex<FileStore<T>>> {
    let file = File::open(path)?;
    // Best effort, and cheap (one listing of the directory): a reader may
    // have no right to remove anything.
    let _ = remove_stale_temp_files(parent_dir(path));
    let source = FileSource::new(file.try_clone()?)?;
    let (header, meta) = format::read_meta(&source)?;
    header.check_elem::<T>()?;
    if let Some(kind) = kind {
        header.check_kind(kind)?;
    }
    let decoded = IndexFile::decode(header, &meta)?;
    drop(meta);
    let header = decoded.header().clone();
    let mapped = options.storage == Storage::Mmap;
    let codes_file = if mapped && header.codes_offset().is_some() {
        Some(file.try_clone()?)
    } else {
        None
    };
    let store = open_store(file, &source, &decoded, options)?;
    let mut index = decoded.into_index(store)?;
    if let Some(f) = codes_file {
        // SAFETY: as for the vectors' map in `MmapStore::with_layout`:
        // `Storage::Mmap` requires that nothing truncates or writes the
        // file while the index exists. The codes were read and checked from
        // these bytes a moment ago, and `share_codes` compares them again
        // before it reads them in place.
        let map = unsafe { memmap2::Mmap::map(&f)? };
        // The codes' private copy goes; the map keeps the file's pages.
        index.share_codes(std::sync::Arc::new(map), &header);
    }
    Ok(index)
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
    if options.storage != Storage::Memory && options.verify_vectors {
        format::verify_vectors(source, header, sums)?;
    }
    Ok(match options.storage {
        Storage::Memory => {
            // Sized by a header checked against the file's length; still,
            // memory may run short.
            let n = usize::try_from(header.vector_bytes()).unwrap_or(usize::MAX);
            let mut bytes = Vec::new();
            bytes.try_reserve_exact(n).map_err(|_| Error::Storage {
                message: format!("out of memory reading {n} bytes of vectors"),
            })?;
            bytes.resize(n, 0);
            vectrove_core::store::ByteSource::read_at(source, v.base_offset, &mut bytes)?;
            FileStore::from_memory(decoded.memory_store(&bytes)?)
        }
        Storage::Mmap => FileStore::from_mmap(MmapStore::with_layout(&file, v)?)?,
        Storage::Paged { cache_bytes } => {
            FileStore::from_paged(pread_store_with_layout(file, v, cache_bytes)?)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn directory_sync_errors_are_returned_except_einval() {
        let dir = tempfile::tempdir().unwrap();
        sync_dir(dir.path()).unwrap();
        let missing = dir.path().join("missing");
        assert_eq!(
            sync_dir(&missing).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        // EINVAL (22 on every Unix vectrove targets) means "cannot flush a
        // directory here"; EIO (5) is a failed write-back and must surface.
        assert!(dir_sync_unsupported(&io::Error::from_raw_os_error(22)));
        assert!(!dir_sync_unsupported(&io::Error::from_raw_os_error(5)));
    }

    fn temp_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn stale_temp_files_are_removed_but_locked_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // Two leftovers of killed saves: unlocked, one empty, one not.
        std::fs::write(dir.path().join(".vectrove-stale1.tmp"), b"").unwrap();
        std::fs::write(dir.path().join(".vectrove-stale2.tmp"), b"partial").unwrap();
        // A save in progress: its own handle holds the lock (a second
        // handle, even in this process, cannot take it).
        let live = locked_temp_file(dir.path(), None).unwrap();
        // Not ours: other names, and a directory with our pattern.
        std::fs::write(dir.path().join("vectrove-x.tmp"), b"keep").unwrap();
        std::fs::write(dir.path().join(".vectrove-.tmp"), b"keep").unwrap();
        std::fs::create_dir(dir.path().join(".vectrove-dir.tmp")).unwrap();

        assert_eq!(remove_stale_temp_files(dir.path()).unwrap(), 2);
        let live_name = live.path().file_name().unwrap().to_str().unwrap();
        let mut expected = [".vectrove-.tmp", ".vectrove-dir.tmp", live_name];
        expected.sort_unstable();
        assert_eq!(temp_names(dir.path()), expected);
        assert!(dir.path().join("vectrove-x.tmp").exists());
        // Once the save lets go of it (killed: the OS drops its locks), it
        // is stale too.
        let kept = live.into_temp_path().keep().unwrap();
        assert_eq!(remove_stale_temp_files(dir.path()).unwrap(), 1);
        assert!(!kept.exists());
    }

    #[test]
    fn save_and_open_remove_leftovers_of_killed_saves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.vtrv");
        let mut ix = Hnsw::builder(2, vectrove_core::Metric::L2).build().unwrap();
        ix.insert(1, &[0.0, 1.0]).unwrap();
        std::fs::write(dir.path().join(".vectrove-killed1.tmp"), b"VECTROVE").unwrap();
        save(&ix, &path).unwrap();
        assert!(temp_names(dir.path()).is_empty());
        std::fs::write(dir.path().join(".vectrove-killed2.tmp"), b"VECTROVE").unwrap();
        open::<f32>(
            &path,
            Storage::Paged {
                cache_bytes: 1 << 16,
            },
        )
        .unwrap();
        assert!(temp_names(dir.path()).is_empty());
    }
}
