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

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
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
    let wanted = Wanted {
        name: "f32",
        accepts: &[ValueType::F32, ValueType::U8],
        expected_dtype: "'<f4' or '|u1'",
    };
    read_with(path, wanted, limit, |t, b| match t {
        ValueType::U8 => f32::from(b[0]),
        _ => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
    })
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
    write_vecs(path.as_ref(), dim, data, |v, out| {
        out.extend_from_slice(&v.to_le_bytes())
    })
}

/// Writes `i32` vectors of dimension `dim` as an `.ivecs` file, like [`write_fvecs`].
pub fn write_ivecs(path: impl AsRef<Path>, dim: usize, data: &[i32]) -> Result<(), DataError> {
    write_vecs(path.as_ref(), dim, data, |v, out| {
        out.extend_from_slice(&v.to_le_bytes())
    })
}

/// Writes byte vectors of dimension `dim` as a `.bvecs` file, like [`write_fvecs`].
pub fn write_bvecs(path: impl AsRef<Path>, dim: usize, data: &[u8]) -> Result<(), DataError> {
    write_vecs(path.as_ref(), dim, data, |v, out| out.push(*v))
}

/// Bytes read from disk per call.
const CHUNK_BYTES: usize = 1 << 20;

/// The longest `.npy` header accepted (NumPy itself refuses more than 10,000 bytes by default).
const MAX_NPY_HEADER: u64 = 1 << 20;

/// How deeply the Python literal in an `.npy` header may nest.
const MAX_NESTING: usize = 8;

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
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    match stored {
        Some(value_type) => open_vecs(file, len, format, value_type),
        None => open_npy(&mut file, len, wanted).map(|npy| Source {
            file,
            format,
            value_type: npy.value_type,
            len,
            rows: npy.rows,
            dim: npy.dim,
            data_offset: npy.data_offset,
            record: (npy.dim * npy.value_type.size()) as u64,
            remainder: 0,
        }),
    }
}

fn open_vecs(
    mut file: File,
    len: u64,
    format: Format,
    value_type: ValueType,
) -> Result<Source, DataErrorKind> {
    if len == 0 {
        return Err(DataErrorKind::NoVectors);
    }
    if len < 4 {
        return Err(DataErrorKind::TooShort { len });
    }
    let mut header = [0u8; 4];
    file.read_exact(&mut header)?;
    let dim = i32::from_le_bytes(header);
    if dim <= 0 {
        return Err(DataErrorKind::InvalidDimension {
            vector: 0,
            dim: i64::from(dim),
        });
    }
    let dim = dim.unsigned_abs();
    // At most 4 + (2^31 - 1) * 4: no overflow.
    let record = 4 + u64::from(dim) * value_type.size() as u64;
    if record > len {
        return Err(DataErrorKind::DimensionTooLarge {
            vector: 0,
            dim: u64::from(dim),
            record,
            len,
        });
    }
    let rows = usize::try_from(len / record).map_err(|_| too_large_for_platform())?;
    let dim = usize::try_from(dim).map_err(|_| too_large_for_platform())?;
    Ok(Source {
        file,
        format,
        value_type,
        len,
        rows,
        dim,
        data_offset: 0,
        record,
        remainder: len % record,
    })
}

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
    let value_type = source.value_type;
    let size = value_type.size();
    // `record` bytes per row are on disk for each of the `n` rows, so this
    // allocation is bounded by the file's size.
    let record = usize::try_from(source.record).map_err(|_| too_large_for_platform())?;
    let header = record - dim * size;
    let mut data = Vec::with_capacity(n * dim);
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
            data.extend(
                rec[header..]
                    .chunks_exact(size)
                    .map(|b| decode(value_type, b)),
            );
        }
        done += k;
    }
    // A damaged tail matters only to a caller who asked for it.
    if limit.is_none_or(|limit| limit > source.rows) && source.remainder != 0 {
        return Err(DataErrorKind::Truncated {
            len: source.len,
            record: source.record,
        });
    }
    Ok(Matrix { dim, data })
}

fn write_vecs<T>(
    path: &Path,
    dim: usize,
    data: &[T],
    encode: impl Fn(&T, &mut Vec<u8>),
) -> Result<(), DataError> {
    let fail = |kind| DataError::new(path, kind);
    if dim == 0 {
        return Err(fail(DataErrorKind::InvalidMatrix("dimension 0".into())));
    }
    let header = i32::try_from(dim).map_err(|_| {
        fail(DataErrorKind::InvalidMatrix(format!(
            "dimension {dim} does not fit the format's i32 header"
        )))
    })?;
    if !data.len().is_multiple_of(dim) {
        return Err(fail(DataErrorKind::InvalidMatrix(format!(
            "{} values is not a whole number of vectors of dimension {dim}",
            data.len()
        ))));
    }
    (|| -> io::Result<()> {
        let mut out = BufWriter::with_capacity(CHUNK_BYTES, File::create(path)?);
        let mut row_bytes = Vec::new();
        for row in data.chunks_exact(dim) {
            row_bytes.clear();
            row_bytes.extend_from_slice(&header.to_le_bytes());
            for v in row {
                encode(v, &mut row_bytes);
            }
            out.write_all(&row_bytes)?;
        }
        out.flush()?;
        Ok(())
    })()
    .map_err(|e| fail(DataErrorKind::Io(e)))
}

/// The parts of an `.npy` header that matter here.
struct NpyHeader {
    value_type: ValueType,
    rows: usize,
    dim: usize,
    data_offset: u64,
}

fn open_npy(file: &mut File, len: u64, wanted: &Wanted) -> Result<NpyHeader, DataErrorKind> {
    let bad = |m: String| DataErrorKind::InvalidNpyHeader(m);
    if len < 10 {
        return Err(bad(format!("the file is only {len} bytes long")));
    }
    let mut lead = [0u8; 8];
    file.read_exact(&mut lead)?;
    if &lead[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic; not an .npy file".into()));
    }
    let (major, minor) = (lead[6], lead[7]);
    let (header_len, prefix) = match major {
        1 => {
            let mut b = [0u8; 2];
            file.read_exact(&mut b)?;
            (u64::from(u16::from_le_bytes(b)), 10u64)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            file.read_exact(&mut b)?;
            (u64::from(u32::from_le_bytes(b)), 12u64)
        }
        _ => return Err(bad(format!("unsupported format version {major}.{minor}"))),
    };
    if prefix + header_len > len {
        return Err(bad(format!(
            "header length {header_len} runs past the end of the {len}-byte file"
        )));
    }
    if header_len > MAX_NPY_HEADER {
        return Err(bad(format!(
            "header length {header_len} is over the {MAX_NPY_HEADER}-byte limit"
        )));
    }
    let mut text = vec![0u8; header_len as usize];
    file.read_exact(&mut text)?;
    let text = std::str::from_utf8(&text).map_err(|_| bad("not valid text".into()))?;
    let fields = parse_npy_dict(text).map_err(bad)?;

    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| bad(format!("missing '{name}'")))
    };
    let descr = field("descr")?;
    let fortran_order = field("fortran_order")?;
    let shape = field("shape")?;

    let dtype = match descr {
        Py::Str(s) => s.clone(),
        _ => {
            return Err(DataErrorKind::UnsupportedDtype {
                found: "of a structured array".into(),
                expected: wanted.expected_dtype,
            });
        }
    };
    let value_type = match dtype.as_str() {
        "<f4" => Some(ValueType::F32),
        "<i4" => Some(ValueType::I32),
        "|u1" | "<u1" | ">u1" => Some(ValueType::U8),
        _ => None,
    }
    .filter(|t| wanted.accepts.contains(t))
    .ok_or_else(|| DataErrorKind::UnsupportedDtype {
        found: format!("'{dtype}'"),
        expected: wanted.expected_dtype,
    })?;

    match fortran_order {
        Py::Bool(false) => {}
        Py::Bool(true) => {
            return Err(DataErrorKind::UnsupportedArray(
                "Fortran-order array (save a C-order copy: np.ascontiguousarray)".into(),
            ));
        }
        _ => return Err(bad("'fortran_order' is not True or False".into())),
    }

    let Py::Seq(items) = shape else {
        return Err(bad("'shape' is not a tuple".into()));
    };
    let mut extents = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Py::Int(v) if *v >= 0 => extents.push(*v as u128),
            _ => return Err(bad("'shape' holds something other than a size".into())),
        }
    }
    let shape_text = match extents.as_slice() {
        [one] => format!("({one},)"),
        many => format!(
            "({})",
            many.iter()
                .map(u128::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let (rows, dim) = match extents.as_slice() {
        [d] => (1, *d),
        [n, d] => (*n, *d),
        other => {
            return Err(DataErrorKind::UnsupportedArray(format!(
                "{}-dimensional array of shape {shape_text} (expected 2-D, or 1-D for one vector)",
                other.len()
            )));
        }
    };
    if dim == 0 {
        return Err(DataErrorKind::UnsupportedArray(format!(
            "shape {shape_text} has vectors of dimension 0"
        )));
    }
    let data_offset = prefix + header_len;
    let available = len - data_offset;
    let needed = rows
        .checked_mul(dim)
        .and_then(|v| v.checked_mul(value_type.size() as u128))
        .ok_or_else(|| {
            DataErrorKind::UnsupportedArray(format!("shape {shape_text} is impossibly large"))
        })?;
    // Checked before anything is allocated; afterwards the shape describes
    // exactly the bytes on disk.
    if needed != u128::from(available) {
        return Err(DataErrorKind::SizeMismatch {
            shape: shape_text,
            dtype,
            needed,
            available,
        });
    }
    let rows = usize::try_from(rows).map_err(|_| too_large_for_platform())?;
    let dim = usize::try_from(dim).map_err(|_| too_large_for_platform())?;
    Ok(NpyHeader {
        value_type,
        rows,
        dim,
        data_offset,
    })
}

/// A Python literal as found in an `.npy` header.
#[derive(Debug, PartialEq)]
enum Py {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    /// A tuple or a list.
    Seq(Vec<Py>),
    Dict(Vec<(String, Py)>),
}

/// Parses the header's dictionary literal into its key/value pairs.
fn parse_npy_dict(text: &str) -> Result<Vec<(String, Py)>, String> {
    let mut parser = PyParser {
        s: text.as_bytes(),
        i: 0,
    };
    parser.skip_ws();
    if parser.peek() != Some(b'{') {
        return Err("does not start with a dictionary".into());
    }
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.i != parser.s.len() {
        return Err(format!(
            "unexpected text after the dictionary at byte {}",
            parser.i
        ));
    }
    match value {
        Py::Dict(fields) => Ok(fields),
        _ => Err("does not start with a dictionary".into()),
    }
}

struct PyParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl PyParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expected(&self, what: &str) -> String {
        match self.peek() {
            Some(c) => format!("expected {what} at byte {}, found {:?}", self.i, c as char),
            None => format!("expected {what}, found the end of the header"),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Py, String> {
        if depth > MAX_NESTING {
            return Err("nested too deeply".into());
        }
        self.skip_ws();
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => self.string(q).map(Py::Str),
            Some(b'(') => self.seq(b')', depth).map(Py::Seq),
            Some(b'[') => self.seq(b']', depth).map(Py::Seq),
            Some(b'{') => self.dict(depth),
            Some(b'-' | b'+' | b'0'..=b'9') => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Py::Bool(true)),
                    b"False" => Ok(Py::Bool(false)),
                    b"None" => Ok(Py::None),
                    word => Err(format!(
                        "unexpected word '{}' at byte {start}",
                        String::from_utf8_lossy(word)
                    )),
                }
            }
            _ => Err(self.expected("a value")),
        }
    }

    fn string(&mut self, quote: u8) -> Result<String, String> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(format!("unterminated string starting at byte {start}")),
                Some(c) if c == quote => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) => out.push(c),
                        None => {
                            return Err(format!("unterminated string starting at byte {start}"));
                        }
                    }
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| format!("string at byte {start} is not valid text"))
    }

    fn int(&mut self) -> Result<Py, String> {
        let start = self.i;
        let negative = match self.peek() {
            Some(b'-') => {
                self.i += 1;
                true
            }
            Some(b'+') => {
                self.i += 1;
                false
            }
            _ => false,
        };
        let digits_start = self.i;
        let mut v: i128 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(i128::from(c - b'0')))
                .ok_or_else(|| format!("integer at byte {start} is too large"))?;
            self.i += 1;
        }
        if self.i == digits_start {
            return Err(self.expected("a digit"));
        }
        // Python 2 wrote long integers with an `L` suffix.
        if matches!(self.peek(), Some(b'L' | b'l')) {
            self.i += 1;
        }
        Ok(Py::Int(if negative { -v } else { v }))
    }

    /// Items up to `close`, comma-separated, a trailing comma allowed.
    fn seq(&mut self, close: u8, depth: usize) -> Result<Vec<Py>, String> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(self.expected(&format!("',' or '{}'", close as char))),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Py, String> {
        self.i += 1;
        let mut fields: Vec<(String, Py)> = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Py::Dict(fields));
                }
                Some(q @ (b'\'' | b'"')) => {
                    let key = self.string(q)?;
                    self.skip_ws();
                    if self.peek() != Some(b':') {
                        return Err(self.expected("':'"));
                    }
                    self.i += 1;
                    let value = self.value(depth + 1)?;
                    if fields.iter().any(|(k, _)| *k == key) {
                        return Err(format!("key '{key}' appears twice"));
                    }
                    fields.push((key, value));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(self.expected("',' or '}'")),
                    }
                }
                _ => return Err(self.expected("a quoted key or '}'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    /// An `.npy` file as NumPy writes it: magic, version, header padded with
    /// spaces to a multiple of 64 bytes and ended by a newline, then `data`.
    fn npy_bytes(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let prefix = if major == 1 { 10 } else { 12 };
        let mut header = dict.to_string();
        while !(prefix + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY".to_vec();
        out.extend_from_slice(&[major, 0]);
        if major == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn npy_dict(descr: &str, shape: &str) -> String {
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
    }

    fn le_f32(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn le_i32(values: &[i32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// The error's message, checked to be one line starting with the path.
    fn message(err: DataError, path: &Path) -> String {
        let text = err.to_string();
        assert!(!text.contains('\n'), "multi-line message: {text:?}");
        let prefix = format!("{}: ", path.display());
        assert!(text.starts_with(&prefix), "{text:?} does not name {path:?}");
        text[prefix.len()..].to_string()
    }

    #[test]
    fn fvecs_round_trip() {
        let dir = tmp();
        let path = dir.path().join("base.fvecs");
        let data: Vec<f32> = (0..5 * 3).map(|i| i as f32 * 0.5 - 2.0).collect();
        write_fvecs(&path, 3, &data).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 5 * (4 + 12));
        let m = read_f32(&path, None).unwrap();
        assert_eq!(
            m,
            Matrix {
                dim: 3,
                data: data.clone()
            }
        );
        assert_eq!(m.len(), 5);
        assert_eq!(m.row(2), &data[6..9]);
        assert_eq!(m.rows().count(), 5);
        assert_eq!(m.rows().nth(4), Some(&data[12..15]));
        assert_eq!(m.get(5), None);
        let info = inspect(&path).unwrap();
        assert_eq!(
            info,
            FileInfo {
                format: Format::Fvecs,
                value_type: ValueType::F32,
                rows: 5,
                dim: 3
            }
        );
    }

    #[test]
    fn ivecs_round_trip() {
        let dir = tmp();
        let path = dir.path().join("gt.ivecs");
        let data = vec![0, -1, i32::MAX, i32::MIN, 7, 42];
        write_ivecs(&path, 2, &data).unwrap();
        assert_eq!(read_i32(&path, None).unwrap(), Matrix { dim: 2, data });
        assert_eq!(inspect(&path).unwrap().value_type, ValueType::I32);
    }

    #[test]
    fn bvecs_round_trip_and_conversion() {
        let dir = tmp();
        let path = dir.path().join("b.BVECS");
        let data: Vec<u8> = (0..=255).collect();
        write_bvecs(&path, 64, &data).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 * (4 + 64));
        assert_eq!(
            read_u8(&path, None).unwrap(),
            Matrix {
                dim: 64,
                data: data.clone()
            }
        );
        let f = read_f32(&path, Some(2)).unwrap();
        assert_eq!(f.dim, 64);
        assert_eq!(
            f.data,
            data[..128]
                .iter()
                .map(|&b| f32::from(b))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn limit_reads_only_the_first_rows() {
        let dir = tmp();
        let path = dir.path().join("x.fvecs");
        let data: Vec<f32> = (0..1000 * 4).map(|i| i as f32).collect();
        write_fvecs(&path, 4, &data).unwrap();
        assert_eq!(read_f32(&path, Some(3)).unwrap().data, &data[..12]);
        assert_eq!(
            read_f32(&path, Some(0)).unwrap(),
            Matrix {
                dim: 4,
                data: vec![]
            }
        );
        assert_eq!(read_f32(&path, Some(5000)).unwrap().len(), 1000);

        // Damage past the limit is not read, hence not noticed.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[(4 + 16) * 10..][..4].copy_from_slice(&7i32.to_le_bytes());
        bytes.extend_from_slice(&[1, 2]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_f32(&path, Some(10)).unwrap().data, &data[..40]);
        let err = read_f32(&path, Some(11)).unwrap_err();
        assert_eq!(message(err, &path), "vector 10 has dimension 7, expected 4");
    }

    #[test]
    fn large_files_are_read_across_chunks() {
        // Rows larger than and not dividing the chunk size, to cross chunk edges.
        let dir = tmp();
        let path = dir.path().join("big.fvecs");
        let dim = 1000;
        let data: Vec<f32> = (0..700 * dim).map(|i| (i % 9973) as f32).collect();
        write_fvecs(&path, dim, &data).unwrap();
        let m = read_f32(&path, None).unwrap();
        assert_eq!(m.len(), 700);
        assert!(m.data == data);
        assert!(read_f32(&path, Some(300)).unwrap().data == data[..300 * dim]);
    }

    #[test]
    fn npy_v1_f32() {
        let dir = tmp();
        let path = dir.path().join("q.npy");
        let values = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let bytes = npy_bytes(1, &npy_dict("<f4", "(3, 2)"), &le_f32(&values));
        assert_eq!(bytes.len() % 64, 24, "header padded to 64 bytes");
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            read_f32(&path, None).unwrap(),
            Matrix {
                dim: 2,
                data: values.to_vec()
            }
        );
        assert_eq!(read_f32(&path, Some(2)).unwrap().data, &values[..4]);
        let info = inspect(&path).unwrap();
        assert_eq!((info.format, info.rows, info.dim), (Format::Npy, 3, 2));
    }

    #[test]
    fn npy_v2_and_v3_headers() {
        let dir = tmp();
        let values = [0.5f32, -1.5, 8.0, 1e-3];
        for major in [2, 3] {
            let path = dir.path().join(format!("v{major}.npy"));
            // Double quotes, no spaces, keys in another order and no trailing comma.
            let dict = "{\"shape\":(2,2),\"fortran_order\":False,\"descr\":\"<f4\"}";
            std::fs::write(&path, npy_bytes(major, dict, &le_f32(&values))).unwrap();
            assert_eq!(
                read_f32(&path, None).unwrap(),
                Matrix {
                    dim: 2,
                    data: values.to_vec()
                }
            );
        }
    }

    #[test]
    fn npy_u8_and_i32() {
        let dir = tmp();
        let path = dir.path().join("codes.npy");
        let bytes: Vec<u8> = (0..12).map(|i| i * 20).collect();
        std::fs::write(&path, npy_bytes(1, &npy_dict("|u1", "(4, 3)"), &bytes)).unwrap();
        assert_eq!(
            read_u8(&path, None).unwrap(),
            Matrix {
                dim: 3,
                data: bytes.clone()
            }
        );
        assert_eq!(
            read_f32(&path, Some(1)).unwrap().data,
            vec![0.0, 20.0, 40.0]
        );

        let path = dir.path().join("gt.npy");
        let ids = [3, -4, 100_000, 0];
        // Python 2 style long integers in the shape.
        let dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 2L), }";
        std::fs::write(&path, npy_bytes(1, dict, &le_i32(&ids))).unwrap();
        assert_eq!(
            read_i32(&path, None).unwrap(),
            Matrix {
                dim: 2,
                data: ids.to_vec()
            }
        );
    }

    #[test]
    fn npy_one_dimensional_is_one_vector_and_empty_keeps_its_dim() {
        let dir = tmp();
        let path = dir.path().join("one.npy");
        std::fs::write(
            &path,
            npy_bytes(1, &npy_dict("<f4", "(3,)"), &le_f32(&[1.0, 2.0, 3.0])),
        )
        .unwrap();
        assert_eq!(
            read_f32(&path, None).unwrap(),
            Matrix {
                dim: 3,
                data: vec![1.0, 2.0, 3.0]
            }
        );

        let path = dir.path().join("empty.npy");
        std::fs::write(&path, npy_bytes(1, &npy_dict("<f4", "(0, 16)"), &[])).unwrap();
        let m = read_f32(&path, None).unwrap();
        assert_eq!((m.dim, m.len(), m.is_empty()), (16, 0, true));
    }

    #[test]
    fn unknown_extension() {
        let dir = tmp();
        for name in ["x.txt", "noextension"] {
            let path = dir.path().join(name);
            std::fs::write(&path, [0u8; 8]).unwrap();
            assert_eq!(
                message(read_f32(&path, None).unwrap_err(), &path),
                "unknown vector file extension (expected .fvecs, .ivecs, .bvecs or .npy)"
            );
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let dir = tmp();
        let path = dir.path().join("absent.fvecs");
        let err = read_f32(&path, None).unwrap_err();
        assert!(matches!(err.kind(), DataErrorKind::Io(e) if e.kind() == io::ErrorKind::NotFound));
        message(err, &path);
    }

    #[test]
    fn wrong_value_type_for_the_format() {
        let dir = tmp();
        let path = dir.path().join("gt.ivecs");
        write_ivecs(&path, 1, &[1, 2]).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            ".ivecs files hold i32 values, which cannot be read as f32"
        );
        let path = dir.path().join("x.fvecs");
        write_fvecs(&path, 1, &[1.0]).unwrap();
        assert_eq!(
            message(read_u8(&path, None).unwrap_err(), &path),
            ".fvecs files hold f32 values, which cannot be read as u8"
        );
    }

    #[test]
    fn dimension_mismatch() {
        let dir = tmp();
        let path = dir.path().join("base.fvecs");
        let mut bytes = Vec::new();
        for (i, dim) in [4, 4, 3].into_iter().enumerate() {
            bytes.extend_from_slice(&(dim as i32).to_le_bytes());
            bytes.extend_from_slice(&le_f32(&vec![i as f32; dim]));
        }
        bytes.extend_from_slice(&le_f32(&[0.0])); // makes the length a multiple of 20
        assert_eq!(bytes.len() % 20, 0);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "vector 2 has dimension 3, expected 4"
        );
        assert_eq!(read_f32(&path, Some(2)).unwrap().len(), 2);
    }

    #[test]
    fn truncated_file() {
        let dir = tmp();
        let path = dir.path().join("x.fvecs");
        let data = vec![1.0f32; 128 * 2];
        write_fvecs(&path, 128, &data).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(1000);
        std::fs::write(&path, bytes).unwrap();
        let expected = "truncated: 1000 bytes is not a whole number of 516-byte vectors";
        assert_eq!(message(read_f32(&path, None).unwrap_err(), &path), expected);
        assert_eq!(message(inspect(&path).unwrap_err(), &path), expected);
        // The whole first vector can still be taken.
        assert_eq!(read_f32(&path, Some(1)).unwrap().len(), 1);
    }

    #[test]
    fn hostile_dimension_fields() {
        let dir = tmp();
        let path = dir.path().join("x.fvecs");
        let mut bytes = i32::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 996]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "vector 0 claims dimension 2147483647 (8589934592 bytes per vector), \
             but the file has only 1000 bytes"
        );

        bytes[..4].copy_from_slice(&(-5i32).to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            message(read_f32(&path, Some(1)).unwrap_err(), &path),
            "vector 0 has invalid dimension -5"
        );

        bytes[..4].copy_from_slice(&0i32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "vector 0 has invalid dimension 0"
        );

        let path = dir.path().join("b.bvecs");
        let mut bytes = 2i32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[1, 2]);
        bytes.extend_from_slice(&(-1i32).to_le_bytes());
        bytes.extend_from_slice(&[3, 4]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            message(read_u8(&path, None).unwrap_err(), &path),
            "vector 1 has dimension -1, expected 2"
        );
    }

    #[test]
    fn tiny_and_empty_files() {
        let dir = tmp();
        let path = dir.path().join("x.fvecs");
        std::fs::write(&path, [1u8, 0, 0]).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "truncated: 3 bytes is too short for a 4-byte dimension header"
        );
        std::fs::write(&path, []).unwrap();
        let err = read_f32(&path, Some(0)).unwrap_err();
        assert!(matches!(err.kind(), DataErrorKind::NoVectors));
        assert_eq!(message(err, &path), "no vectors (empty file)");

        let path = dir.path().join("x.npy");
        std::fs::write(&path, b"\x93NUM").unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "invalid .npy header: the file is only 4 bytes long"
        );
    }

    #[test]
    fn npy_unsupported_dtypes() {
        let dir = tmp();
        let path = dir.path().join("q.npy");
        std::fs::write(&path, npy_bytes(1, &npy_dict("<f8", "(1, 2)"), &[0u8; 16])).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "unsupported dtype '<f8' (expected '<f4' or '|u1')"
        );
        std::fs::write(&path, npy_bytes(1, &npy_dict(">f4", "(1, 2)"), &[0u8; 8])).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "unsupported dtype '>f4' (expected '<f4' or '|u1')"
        );
        std::fs::write(&path, npy_bytes(1, &npy_dict("<f4", "(1, 2)"), &[0u8; 8])).unwrap();
        assert_eq!(
            message(read_i32(&path, None).unwrap_err(), &path),
            "unsupported dtype '<f4' (expected '<i4')"
        );
        assert_eq!(
            message(read_u8(&path, None).unwrap_err(), &path),
            "unsupported dtype '<f4' (expected '|u1')"
        );
        let dict =
            "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }";
        std::fs::write(&path, npy_bytes(1, dict, &[0u8; 8])).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "unsupported dtype of a structured array (expected '<f4' or '|u1')"
        );
    }

    #[test]
    fn npy_hostile_shapes_and_sizes() {
        let dir = tmp();
        let path = dir.path().join("x.npy");
        let huge = "(1000000000000, 1000000000000)";
        std::fs::write(&path, npy_bytes(1, &npy_dict("<f4", huge), &[0u8; 64])).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "shape (1000000000000, 1000000000000) of dtype '<f4' needs \
             4000000000000000000000000 data bytes, but the file has 64"
        );
        let overflow = "(340282366920938463463374607431768211455, 2)";
        std::fs::write(&path, npy_bytes(1, &npy_dict("<f4", overflow), &[0u8; 64])).unwrap();
        let err = message(read_f32(&path, None).unwrap_err(), &path);
        assert!(
            err.contains("too large") || err.contains("impossibly large"),
            "{err}"
        );

        std::fs::write(&path, npy_bytes(1, &npy_dict("<f4", "(2, 3)"), &[0u8; 20])).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "shape (2, 3) of dtype '<f4' needs 24 data bytes, but the file has 20"
        );
        std::fs::write(&path, npy_bytes(1, &npy_dict("<f4", "(2, -3)"), &[0u8; 24])).unwrap();
        message(read_f32(&path, None).unwrap_err(), &path);
        std::fs::write(&path, npy_bytes(1, &npy_dict("<f4", "(2, 0)"), &[])).unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "unsupported array: shape (2, 0) has vectors of dimension 0"
        );
        std::fs::write(
            &path,
            npy_bytes(1, &npy_dict("<f4", "(2, 2, 2)"), &[0u8; 32]),
        )
        .unwrap();
        assert_eq!(
            message(read_f32(&path, None).unwrap_err(), &path),
            "unsupported array: 3-dimensional array of shape (2, 2, 2) \
             (expected 2-D, or 1-D for one vector)"
        );
        std::fs::write(&path, npy_bytes(1, &npy_dict("<f4", "()"), &[0u8; 4])).unwrap();
        message(read_f32(&path, None).unwrap_err(), &path);
    }

    #[test]
    fn npy_malformed_headers() {
        let dir = tmp();
        let path = dir.path().join("x.npy");
        let fails = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            message(read_f32(&path, None).unwrap_err(), &path)
        };

        let mut not_npy = b"PK\x03\x04".to_vec();
        not_npy.resize(100, 0);
        assert!(fails(&not_npy).contains("magic"));

        // A v2 header length of 4 GB in a small file.
        let mut long = b"\x93NUMPY\x02\x00".to_vec();
        long.extend_from_slice(&u32::MAX.to_le_bytes());
        long.extend_from_slice(&[b' '; 100]);
        assert_eq!(
            fails(&long),
            "invalid .npy header: header length 4294967295 runs past the end of the 112-byte file"
        );

        let mut version = npy_bytes(1, &npy_dict("<f4", "(1,)"), &[0u8; 4]);
        version[6] = 9;
        assert!(fails(&version).contains("version 9.0"));

        let fortran = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }";
        assert!(fails(&npy_bytes(1, fortran, &[0u8; 16])).contains("Fortran-order"));

        let no_shape = "{'descr': '<f4', 'fortran_order': False}";
        assert_eq!(
            fails(&npy_bytes(1, no_shape, &[])),
            "invalid .npy header: missing 'shape'"
        );

        let deep = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': {}1{}}}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert!(fails(&npy_bytes(2, &deep, &[])).contains("nested too deeply"));

        for garbage in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2) ",
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1, 2)}",
            "{'descr': '<f4, 'fortran_order': False, 'shape': (1, 2)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)} trailing",
            "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (1, 2)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': 12}",
            "['descr']",
            "",
        ] {
            let text = fails(&npy_bytes(1, garbage, &[0u8; 8]));
            assert!(
                text.starts_with("invalid .npy header: "),
                "{garbage}: {text}"
            );
        }

        let mut binary = npy_bytes(1, &npy_dict("<f4", "(1,)"), &[0u8; 4]);
        binary[12] = 0xff;
        assert!(fails(&binary).contains("not valid text"));
    }

    #[test]
    fn writers_refuse_partial_vectors() {
        let dir = tmp();
        let path = dir.path().join("out.fvecs");
        assert_eq!(
            message(write_fvecs(&path, 3, &[1.0; 7]).unwrap_err(), &path),
            "invalid matrix: 7 values is not a whole number of vectors of dimension 3"
        );
        assert_eq!(
            message(write_bvecs(&path, 0, &[]).unwrap_err(), &path),
            "invalid matrix: dimension 0"
        );
        assert!(!path.exists(), "nothing written for an invalid matrix");
        let unwritable = dir.path().join("no/such/dir/out.ivecs");
        let err = write_ivecs(&unwritable, 1, &[1]).unwrap_err();
        assert!(matches!(err.kind(), DataErrorKind::Io(_)));
        message(err, &unwritable);
    }

    #[test]
    fn matrix_accessors_tolerate_inconsistent_fields() {
        let m = Matrix {
            dim: 0,
            data: vec![1.0f32, 2.0],
        };
        assert_eq!((m.len(), m.rows().count(), m.get(0)), (0, 0, None));
        let m = Matrix {
            dim: 2,
            data: vec![1u8, 2, 3],
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m.rows().collect::<Vec<_>>(), vec![&[1u8, 2][..]]);
    }

    #[test]
    #[should_panic(expected = "row 1 is out of range")]
    fn row_out_of_range_panics() {
        Matrix {
            dim: 2,
            data: vec![0i32; 2],
        }
        .row(1);
    }
}
