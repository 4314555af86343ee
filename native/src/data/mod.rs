//! Reading and writing vector files: `.fvecs`, `.ivecs`, `.bvecs` and `.npy`.
//!
//! These are the formats the common ANN benchmark sets ship in (SIFT, GIST,
//! Deep1B, BIGANN, ...) and what NumPy writes with `np.save`.
//!
//! | extension | layout | read by |
//! |---|---|---|
//! | `.fvecs` | per vector: dimension as `i32` little-endian, then that many `f32` | [`read_f32`] |
//! | `.ivecs` | the same with `i32` values (ground-truth neighbour ids) | [`read_i32`] |
//! | `.bvecs` | the same with `u8` values | [`read_u8`], [`read_f32`] (converted) |
//! | `.npy` | NumPy format 1.0, 2.0 or 3.0 header, then a C-order array | by dtype, see below |
//!
//! A `.npy` file must hold a C-order (not Fortran-order) little-endian array of
//! dtype `'<f4'` ([`read_f32`]), `'|u1'` ([`read_u8`], or [`read_f32`]
//! converted) or `'<i4'` ([`read_i32`]). A 2-D array of shape `(n, d)` is `n`
//! vectors of dimension `d`; a 1-D array of shape `(d,)` is read as a single
//! vector of dimension `d`. Other ranks are refused.
//!
//! The reader is chosen from the file's extension (case-insensitively). Every
//! reader takes an optional row `limit` and then reads only the first `limit`
//! vectors from disk, so taking 1,000 queries from a 10 GB file is cheap.
//!
//! All readers check the file against its actual size before they allocate:
//! a corrupt or hostile file (a dimension field of 2³¹−1, a header claiming a
//! shape of 10¹² × 10¹², a truncated tail) gives a [`DataError`], never a panic
//! or a huge allocation. The error's message is one line naming the file and
//! the problem, for example
//! `base.fvecs: vector 17 has dimension 96, expected 128`.
//!
//! An empty `.fvecs`/`.ivecs`/`.bvecs` file holds no vector and so has no
//! dimension: reading it is the error [`DataErrorKind::NoVectors`]. An `.npy`
//! array of shape `(0, d)` does carry its dimension and reads as an empty
//! [`Matrix`] of dimension `d`.
//!
//! ```
//! use vectrove::data::{read_f32, write_fvecs};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("points.fvecs");
//! write_fvecs(&path, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
//!
//! let all = read_f32(&path, None)?;
//! assert_eq!((all.len(), all.dim), (2, 3));
//! assert_eq!(all.row(1), &[4.0, 5.0, 6.0]);
//!
//! let first = read_f32(&path, Some(1))?;
//! assert_eq!(first.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod npy;
mod vecs;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Vectors of one dimension stored back to back, row after row.
///
/// The fields are public; the accessors treat a matrix whose `data` is not a
/// whole number of rows as holding only its whole rows, and a matrix of
/// dimension 0 as empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matrix<T> {
    /// The number of values per vector.
    pub dim: usize,
    /// The values, `dim` per vector, vector after vector.
    pub data: Vec<T>,
}

impl<T> Matrix<T> {
    /// The number of vectors (rows).
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether the matrix holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vector `i`, or `None` if there are not that many.
    pub fn get(&self, i: usize) -> Option<&[T]> {
        if i >= self.len() {
            return None;
        }
        let start = i * self.dim;
        self.data.get(start..start + self.dim)
    }

    /// Vector `i`.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`, like slice indexing; use [`Matrix::get`] to avoid that.
    pub fn row(&self, i: usize) -> &[T] {
        match self.get(i) {
            Some(row) => row,
            None => panic!(
                "row {i} is out of range for a matrix of {} rows",
                self.len()
            ),
        }
    }

    /// The vectors in order.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, T> {
        self.data[..self.len() * self.dim].chunks_exact(self.dim.max(1))
    }
}

/// The on-disk formats this module knows, chosen by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// `.fvecs`: `i32` dimension, then `f32` values, per vector.
    Fvecs,
    /// `.ivecs`: `i32` dimension, then `i32` values, per vector.
    Ivecs,
    /// `.bvecs`: `i32` dimension, then `u8` values, per vector.
    Bvecs,
    /// `.npy`: a NumPy array file.
    Npy,
}

impl Format {
    /// The format named by `path`'s extension (case-insensitive), if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "fvecs" => Some(Format::Fvecs),
            "ivecs" => Some(Format::Ivecs),
            "bvecs" => Some(Format::Bvecs),
            "npy" => Some(Format::Npy),
            _ => None,
        }
    }

    /// The extension, with its dot (`".fvecs"`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Fvecs => ".fvecs",
            Format::Ivecs => ".ivecs",
            Format::Bvecs => ".bvecs",
            Format::Npy => ".npy",
        }
    }
}

/// The type of the values a file stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueType {
    /// 32-bit float (`.fvecs`, `.npy` `'<f4'`).
    F32,
    /// 32-bit signed integer (`.ivecs`, `.npy` `'<i4'`).
    I32,
    /// Byte (`.bvecs`, `.npy` `'|u1'`).
    U8,
}

impl ValueType {
    /// The Rust name of the type (`"f32"`).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::F32 => "f32",
            ValueType::I32 => "i32",
            ValueType::U8 => "u8",
        }
    }

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            ValueType::F32 | ValueType::I32 => 4,
            ValueType::U8 => 1,
        }
    }
}

/// What [`inspect`] learns about a vector file without reading its vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// The file's format.
    pub format: Format,
    /// The type of the stored values.
    pub value_type: ValueType,
    /// The number of vectors in the file.
    pub rows: usize,
    /// The number of values per vector.
    pub dim: usize,
}

/// An error reading or writing a vector file: the file's path and what went
/// wrong. Its message is a single line, `"<path>: <problem>"`.
#[derive(Debug)]
pub struct DataError {
    path: PathBuf,
    kind: DataErrorKind,
}

impl DataError {
    /// The file the error is about, as it was passed in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What went wrong.
    pub fn kind(&self) -> &DataErrorKind {
        &self.kind
    }

    /// What went wrong, by value.
    pub fn into_kind(self) -> DataErrorKind {
        self.kind
    }

    fn new(path: &Path, kind: DataErrorKind) -> Self {
        DataError {
            path: path.to_path_buf(),
            kind,
        }
    }
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.kind)
    }
}

// The problem's text, I/O errors included, is already in the message, so
// `source()` stays empty rather than printing it twice in error chains.
impl std::error::Error for DataError {}

/// The problem behind a [`DataError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataErrorKind {
    /// Opening, reading or writing the file failed.
    #[error("{0}")]
    Io(io::Error),
    /// The extension is not one of the supported formats.
    #[error("unknown vector file extension (expected .fvecs, .ivecs, .bvecs or .npy)")]
    UnknownExtension,
    /// The format stores values of another type than the reader returns.
    #[error("{format} files hold {stored} values, which cannot be read as {wanted}")]
    WrongValueType {
        /// The format's extension.
        format: &'static str,
        /// The type the format stores.
        stored: &'static str,
        /// The type that was asked for.
        wanted: &'static str,
    },
    /// The file holds no vector, so its dimension is unknown.
    #[error("no vectors (empty file)")]
    NoVectors,
    /// The file is shorter than one dimension header.
    #[error("truncated: {len} bytes is too short for a 4-byte dimension header")]
    TooShort {
        /// The file's length in bytes.
        len: u64,
    },
    /// The file's length is not a multiple of the vector record size.
    #[error("truncated: {len} bytes is not a whole number of {record}-byte vectors")]
    Truncated {
        /// The file's length in bytes.
        len: u64,
        /// Bytes per vector, dimension header included.
        record: u64,
    },
    /// The first vector's dimension is zero or negative.
    #[error("vector {vector} has invalid dimension {dim}")]
    InvalidDimension {
        /// The vector's position in the file.
        vector: u64,
        /// The dimension it claims.
        dim: i64,
    },
    /// The first vector's dimension would not fit in the file.
    #[error(
        "vector {vector} claims dimension {dim} ({record} bytes per vector), \
         but the file has only {len} bytes"
    )]
    DimensionTooLarge {
        /// The vector's position in the file.
        vector: u64,
        /// The dimension it claims.
        dim: u64,
        /// Bytes per vector that dimension implies.
        record: u64,
        /// The file's length in bytes.
        len: u64,
    },
    /// A vector's dimension differs from the first vector's.
    #[error("vector {vector} has dimension {found}, expected {expected}")]
    DimensionMismatch {
        /// The vector's position in the file.
        vector: u64,
        /// The dimension it claims.
        found: i64,
        /// The first vector's dimension.
        expected: usize,
    },
    /// The `.npy` dtype is not one this reader takes.
    #[error("unsupported dtype {found} (expected {expected})")]
    UnsupportedDtype {
        /// The dtype, quoted (`"'<f8'"`), or a description of a non-string one.
        found: String,
        /// The dtypes this reader takes.
        expected: &'static str,
    },
    /// The `.npy` header is malformed.
    #[error("invalid .npy header: {0}")]
    InvalidNpyHeader(String),
    /// The `.npy` array is well-formed but of a kind this module does not read.
    #[error("unsupported array: {0}")]
    UnsupportedArray(String),
    /// The `.npy` header's shape does not match the data that follows it.
    #[error(
        "shape {shape} of dtype '{dtype}' needs {needed} data bytes, but the file has {available}"
    )]
    SizeMismatch {
        /// The shape, as Python writes it (`"(1000, 128)"`).
        shape: String,
        /// The dtype.
        dtype: String,
        /// Bytes the shape implies.
        needed: u128,
        /// Bytes after the header.
        available: u64,
    },
    /// A writer was given values that do not form whole vectors.
    #[error("invalid matrix: {0}")]
    InvalidMatrix(String),
}

impl From<io::Error> for DataErrorKind {
    fn from(e: io::Error) -> Self {
        DataErrorKind::Io(e)
    }
}

/// Reads `f32` vectors from an `.fvecs`, `.bvecs` or `.npy` (`'<f4'` or
/// `'|u1'`) file. Bytes are converted to `f32` exactly (`200u8` → `200.0`).
///
/// With `limit`, reads (and checks) only the first `limit` vectors.
pub fn read_f32(path: impl AsRef<Path>, limit: Option<usize>) -> Result<Matrix<f32>, DataError> {
    let path = path.as_ref();
    read_with(path, AS_F32, limit, decode_f32)
}

/// Reads byte vectors from a `.bvecs` or `.npy` (`'|u1'`) file.
///
/// With `limit`, reads (and checks) only the first `limit` vectors.
pub fn read_u8(path: impl AsRef<Path>, limit: Option<usize>) -> Result<Matrix<u8>, DataError> {
    let path = path.as_ref();
    let wanted = Wanted {
        name: "u8",
        accepts: &[ValueType::U8],
        expected_dtype: "'|u1'",
    };
    read_with(path, wanted, limit, |_, b| b[0])
}

/// Reads `i32` vectors (typically ground-truth neighbour ids) from an
/// `.ivecs` or `.npy` (`'<i4'`) file.
///
/// With `limit`, reads (and checks) only the first `limit` vectors.
pub fn read_i32(path: impl AsRef<Path>, limit: Option<usize>) -> Result<Matrix<i32>, DataError> {
    let path = path.as_ref();
    let wanted = Wanted {
        name: "i32",
        accepts: &[ValueType::I32],
        expected_dtype: "'<i4'",
    };
    read_with(path, wanted, limit, |_, b| {
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    })
}

/// The format, value type, vector count and dimension of a vector file,
/// read from its header and size alone.
///
/// For `.fvecs`/`.ivecs`/`.bvecs` only the first vector's dimension is read:
/// the others are checked when the vectors are read. A length that is not a
/// whole number of vectors is an error here too.
pub fn inspect(path: impl AsRef<Path>) -> Result<FileInfo, DataError> {
    let path = path.as_ref();
    let wanted = Wanted {
        name: "vectors",
        accepts: &[ValueType::F32, ValueType::I32, ValueType::U8],
        expected_dtype: "'<f4', '<i4' or '|u1'",
    };
    let info = (|| -> Result<FileInfo, DataErrorKind> {
        let source = open(path, &wanted)?;
        if source.remainder != 0 {
            return Err(DataErrorKind::Truncated {
                len: source.len,
                record: source.record,
            });
        }
        Ok(FileInfo {
            format: source.format,
            value_type: source.value_type,
            rows: source.rows,
            dim: source.dim,
        })
    })();
    info.map_err(|kind| DataError::new(path, kind))
}

/// Writes `f32` vectors of dimension `dim`, stored back to back in `data`, as
/// an `.fvecs` file (buffered; the file is created or truncated).
///
/// `write_fvecs(path, m.dim, &m.data)` writes a [`Matrix`]. Zero vectors give
/// an empty file, which the readers refuse as [`DataErrorKind::NoVectors`].
pub fn write_fvecs(path: impl AsRef<Path>, dim: usize, data: &[f32]) -> Result<(), DataError> {
    vecs::write(path.as_ref(), dim, data, |v, out| {
        out.extend_from_slice(&v.to_le_bytes())
    })
}

/// Writes `i32` vectors of dimension `dim` as an `.ivecs` file, like [`write_fvecs`].
pub fn write_ivecs(path: impl AsRef<Path>, dim: usize, data: &[i32]) -> Result<(), DataError> {
    vecs::write(path.as_ref(), dim, data, |v, out| {
        out.extend_from_slice(&v.to_le_bytes())
    })
}

/// Writes byte vectors of dimension `dim` as a `.bvecs` file, like [`write_fvecs`].
pub fn write_bvecs(path: impl AsRef<Path>, dim: usize, data: &[u8]) -> Result<(), DataError> {
    vecs::write(path.as_ref(), dim, data, |v, out| out.push(*v))
}

/// Bytes read from disk per call.
const CHUNK_BYTES: usize = 1 << 20;

/// What a reader returns and which stored types it takes.
struct Wanted {
    name: &'static str,
    accepts: &'static [ValueType],
    expected_dtype: &'static str,
}

/// An opened vector file whose header has been checked against its size.
struct Source {
    file: File,
    format: Format,
    value_type: ValueType,
    /// File length in bytes.
    len: u64,
    /// Whole vectors in the file.
    rows: usize,
    dim: usize,
    /// Where the first vector starts.
    data_offset: u64,
    /// Bytes per vector on disk, dimension header included.
    record: u64,
    /// Bytes after the last whole vector (`*vecs` only).
    remainder: u64,
}

fn read_with<T>(
    path: &Path,
    wanted: Wanted,
    limit: Option<usize>,
    decode: impl Fn(ValueType, &[u8]) -> T,
) -> Result<Matrix<T>, DataError> {
    (|| -> Result<Matrix<T>, DataErrorKind> {
        let mut source = open(path, &wanted)?;
        read_rows(&mut source, limit, decode)
    })()
    .map_err(|kind| DataError::new(path, kind))
}

fn open(path: &Path, wanted: &Wanted) -> Result<Source, DataErrorKind> {
    let format = Format::from_path(path).ok_or(DataErrorKind::UnknownExtension)?;
    let stored = match format {
        Format::Fvecs => Some(ValueType::F32),
        Format::Ivecs => Some(ValueType::I32),
        Format::Bvecs => Some(ValueType::U8),
        Format::Npy => None,
    };
    if let Some(stored) = stored.filter(|t| !wanted.accepts.contains(t)) {
        return Err(DataErrorKind::WrongValueType {
            format: format.extension(),
            stored: stored.name(),
            wanted: wanted.name,
        });
    }
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    match stored {
        Some(value_type) => vecs::open(file, len, format, value_type),
        None => npy::open(file, len, wanted),
    }
}

/// Sizes beyond `usize` (a 32-bit target reading a file of more than 4 GiB).
fn too_large_for_platform() -> DataErrorKind {
    DataErrorKind::UnsupportedArray("too large for this platform's address space".into())
}

/// Reads the first `limit` vectors (all without a limit) of an opened file.
fn read_rows<T>(
    source: &mut Source,
    limit: Option<usize>,
    decode: impl Fn(ValueType, &[u8]) -> T,
) -> Result<Matrix<T>, DataErrorKind> {
    let n = limit.map_or(source.rows, |limit| limit.min(source.rows));
    let dim = source.dim;
    // `record` bytes per row are on disk for each of the `n` rows, so this
    // allocation is bounded by the file's size.
    let mut data = Vec::with_capacity(n * dim);
    // Every chunk stays where it was decoded.
    visit_rows(source, limit, decode, &mut data, |_| Ok(()))?;
    Ok(Matrix { dim, data })
}

/// Decodes the first `limit` vectors (all without a limit) of an opened
/// file onto the end of `out`, a chunk of about [`CHUNK_BYTES`] at a time,
/// checking every dimension header on the way, and calls `flush` with `out`
/// after each chunk (which may take the values out, or leave them).
fn visit_rows<T>(
    source: &mut Source,
    limit: Option<usize>,
    decode: impl Fn(ValueType, &[u8]) -> T,
    out: &mut Vec<T>,
    mut flush: impl FnMut(&mut Vec<T>) -> io::Result<()>,
) -> Result<(), DataErrorKind> {
    let n = limit.map_or(source.rows, |limit| limit.min(source.rows));
    let dim = source.dim;
    let value_type = source.value_type;
    let size = value_type.size();
    let record = usize::try_from(source.record).map_err(|_| too_large_for_platform())?;
    let header = record - dim * size;
    let per_chunk = (CHUNK_BYTES / record).max(1);
    let mut buf = vec![0u8; per_chunk.min(n) * record];
    source.file.seek(SeekFrom::Start(source.data_offset))?;
    let mut done = 0;
    while done < n {
        let k = per_chunk.min(n - done);
        let bytes = &mut buf[..k * record];
        source.file.read_exact(bytes)?;
        for (j, rec) in bytes.chunks_exact(record).enumerate() {
            if header == 4 {
                let found = i32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
                if usize::try_from(found).ok() != Some(dim) {
                    return Err(DataErrorKind::DimensionMismatch {
                        vector: (done + j) as u64,
                        found: i64::from(found),
                        expected: dim,
                    });
                }
            }
            out.extend(
                rec[header..]
                    .chunks_exact(size)
                    .map(|b| decode(value_type, b)),
            );
        }
        flush(out)?;
        done += k;
    }
    // A damaged tail matters only to a caller who asked for it.
    if limit.is_none_or(|limit| limit > source.rows) && source.remainder != 0 {
        return Err(DataErrorKind::Truncated {
            len: source.len,
            record: source.record,
        });
    }
    Ok(())
}

/// [`read_f32`] without holding the vectors: hands them to `sink` about
/// 1 MiB at a time (whole vectors, back to back), for inputs larger than
/// memory — copied to a temporary file, say. Returns the file's
/// [`FileInfo`] (from before the first chunk; [`inspect`] gives the same
/// up front). An error of `sink` ends the reading and is returned as
/// [`DataErrorKind::Io`].
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("v.fvecs");
/// vectrove::data::write_fvecs(&path, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
/// let mut sum = 0.0;
/// let info = vectrove::data::stream_f32(&path, None, |rows| {
///     sum += rows.iter().sum::<f32>();
///     Ok(())
/// })?;
/// assert_eq!((info.rows, info.dim, sum), (3, 2, 21.0));
/// # Ok::<(), vectrove::data::DataError>(())
/// ```
pub fn stream_f32(
    path: impl AsRef<Path>,
    limit: Option<usize>,
    mut sink: impl FnMut(&[f32]) -> io::Result<()>,
) -> Result<FileInfo, DataError> {
    let path = path.as_ref();
    (|| -> Result<FileInfo, DataErrorKind> {
        let mut source = open(path, &AS_F32)?;
        let info = FileInfo {
            format: source.format,
            value_type: source.value_type,
            rows: source.rows,
            dim: source.dim,
        };
        let mut rows = Vec::new();
        visit_rows(&mut source, limit, decode_f32, &mut rows, |rows| {
            sink(rows)?;
            rows.clear();
            Ok(())
        })?;
        Ok(info)
    })()
    .map_err(|kind| DataError::new(path, kind))
}

/// What the `f32` readers take.
const AS_F32: Wanted = Wanted {
    name: "f32",
    accepts: &[ValueType::F32, ValueType::U8],
    expected_dtype: "'<f4' or '|u1'",
};

/// `f32` from a stored value: bytes exactly (`200u8` is `200.0`).
fn decode_f32(t: ValueType, b: &[u8]) -> f32 {
    match t {
        ValueType::U8 => f32::from(b[0]),
        _ => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
    }
}

#[cfg(test)]
mod tests;
