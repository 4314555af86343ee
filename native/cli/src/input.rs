//! Reading the commands' input files: vector files by extension (the
//! library's `.fvecs`, `.bvecs`, `.ivecs`, `.npy`), HDF5 files in the
//! ann-benchmarks layout, and id files for `build --ids`.
//!
//! An ann-benchmarks file holds the datasets `train` (base vectors, n x d),
//! `test` (queries), `neighbors` (the exact neighbours of every query, as row
//! numbers of `train`) and `distances`; each command reads the one its role
//! names. The reader is pure Rust (`hdf5-pure`), streaming: it reads the
//! rows it needs, so `--limit` on a large file reads only the first rows.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use hdf5_pure::{AttrValue, DType};
use vectrove::Metric;
use vectrove::data::{self, Matrix};

use crate::error::{CliResult, fail};

/// What a file is read for: names the HDF5 dataset taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Base vectors: `train`.
    Base,
    /// Queries: `test`.
    Queries,
    /// Exact neighbours of the queries: `neighbors`.
    Truth,
}

impl Role {
    fn dataset(self) -> &'static str {
        match self {
            Role::Base => "train",
            Role::Queries => "test",
            Role::Truth => "neighbors",
        }
    }
}

/// The widest vector an input may have (the index format's limit).
const MAX_DIM: u64 = 1 << 20;

/// Values read from an HDF5 dataset per call (bounds the reader's buffers).
const WINDOW_VALUES: u64 = 1 << 20;

/// Whether `path` names an HDF5 file (`.hdf5` or `.h5`, any case).
pub fn is_hdf5(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("hdf5") || e.eq_ignore_ascii_case("h5"))
}

/// `f32` vectors from a vector file or an HDF5 file's dataset for `role`.
pub fn read_f32(path: &Path, role: Role, limit: Option<usize>) -> CliResult<Matrix<f32>> {
    if !is_hdf5(path) {
        return Ok(data::read_f32(path, limit)?);
    }
    read_hdf5(
        path,
        role,
        limit,
        "f32",
        |t| matches!(t, DType::F32 | DType::F64 | DType::U8),
        |ds, start, n| ds.read_f32_rows(start, n),
    )
}

/// Byte vectors (Hamming codes) from a vector file or an HDF5 dataset of
/// `u8` values.
pub fn read_u8(path: &Path, role: Role, limit: Option<usize>) -> CliResult<Matrix<u8>> {
    if !is_hdf5(path) {
        return Ok(data::read_u8(path, limit)?);
    }
    read_hdf5(
        path,
        role,
        limit,
        "u8",
        |t| matches!(t, DType::U8),
        |ds, start, n| ds.read_u8_rows(start, n),
    )
}

/// Ground-truth neighbour ids from an `.ivecs`/`.npy` file or an HDF5
/// file's `neighbors` (any integer type; every id must fit an `i32`).
pub fn read_i32(path: &Path, role: Role, limit: Option<usize>) -> CliResult<Matrix<i32>> {
    if !is_hdf5(path) {
        return Ok(data::read_i32(path, limit)?);
    }
    let integer = |t: &DType| {
        matches!(
            t,
            DType::I8
                | DType::I16
                | DType::I32
                | DType::I64
                | DType::U8
                | DType::U16
                | DType::U32
                | DType::U64
        )
    };
    read_hdf5(path, role, limit, "integer", integer, |ds, start, n| {
        let wide = ds.read_i64_rows(start, n)?;
        Ok(wide
            .into_iter()
            // An id outside i32 matches no result: -1 is what .ivecs pads with.
            .map(|v| i32::try_from(v).unwrap_or(-1))
            .collect())
    })
}

/// Reads the first `limit` rows of `role`'s dataset of `path` with `read`
/// (rows `start..start + n` at a time), after checking its rank, dimension
/// and element type (`accepts`; `wanted` names it in errors).
fn read_hdf5<T: Clone>(
    path: &Path,
    role: Role,
    limit: Option<usize>,
    wanted: &str,
    accepts: impl Fn(&DType) -> bool,
    read: impl Fn(&hdf5_pure::Dataset, u64, u64) -> Result<Vec<T>, hdf5_pure::Error>,
) -> CliResult<Matrix<T>> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let name = role.dataset();
    let file = hdf5_pure::File::open_streaming(path).map_err(|e| at(&e))?;
    let ds = file.dataset(name).map_err(|_| {
        at(&format!(
            "no dataset `{name}` (an ann-benchmarks file holds train, test, neighbors and distances)"
        ))
    })?;
    let shape = ds.shape().map_err(|e| at(&e))?;
    let &[rows, dim] = &shape[..] else {
        return fail(at(&format!(
            "dataset `{name}` has shape {shape:?}, expected (rows, dimension)"
        )));
    };
    if dim == 0 || dim > MAX_DIM {
        return fail(at(&format!(
            "dataset `{name}` has dimension {dim}, expected 1 to {MAX_DIM}"
        )));
    }
    let dtype = ds.dtype().map_err(|e| at(&e))?;
    if !accepts(&dtype) {
        return fail(at(&format!(
            "dataset `{name}` holds {dtype} values, which cannot be read as {wanted}"
        )));
    }
    let n = limit.map_or(rows, |l| rows.min(l as u64));
    // The shape comes from the file: room for it is asked for, not assumed,
    // so a file claiming a huge dataset is an error rather than an abort.
    let total = n
        .checked_mul(dim)
        .and_then(|t| usize::try_from(t).ok())
        .ok_or_else(|| at(&format!("dataset `{name}` is too large ({rows} x {dim})")))?;
    let mut out: Vec<T> = Vec::new();
    if out.try_reserve_exact(total).is_err() {
        return fail(at(&format!(
            "not enough memory for dataset `{name}` ({n} x {dim})"
        )));
    }
    let step = (WINDOW_VALUES / dim).max(1);
    let mut start = 0;
    while start < n {
        let count = step.min(n - start);
        let part = read(&ds, start, count).map_err(|e| at(&format!("dataset `{name}`: {e}")))?;
        if part.len() as u64 != count * dim {
            return fail(at(&format!(
                "dataset `{name}`: read {} values of rows {start}.., expected {}",
                part.len(),
                count * dim
            )));
        }
        out.extend_from_slice(&part);
        start += count;
    }
    Ok(Matrix {
        dim: dim as usize,
        data: out,
    })
}

/// The metric an ann-benchmarks file's `distance` attribute names, if
/// `path` is an HDF5 file with one: `angular` is cosine, `euclidean` l2,
/// `hamming` hamming; `dot`/`ip` inner product.
pub fn hdf5_metric(path: &Path) -> CliResult<Option<Metric>> {
    if !is_hdf5(path) {
        return Ok(None);
    }
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = hdf5_pure::File::open_streaming(path).map_err(|e| at(&e))?;
    let attrs = file.root().attrs().map_err(|e| at(&e))?;
    let name = match attrs.get("distance") {
        Some(AttrValue::String(s) | AttrValue::AsciiString(s)) => s.clone(),
        Some(AttrValue::StringSized { value, .. }) => value.clone(),
        _ => return Ok(None),
    };
    Ok(
        match name.trim_end_matches('\0').to_ascii_lowercase().as_str() {
            "angular" | "cosine" => Some(Metric::Cosine),
            "euclidean" | "l2" => Some(Metric::L2),
            "hamming" => Some(Metric::Hamming),
            "dot" | "ip" | "inner_product" => Some(Metric::InnerProduct),
            other => {
                let shown: String = other.chars().take(32).collect();
                return fail(at(&format!(
                    "distance `{shown}` has no vectrove metric: give --metric"
                )));
            }
        },
    )
}

/// Longest line of an id file (a u64 has at most 20 digits).
const MAX_ID_LINE: usize = 64;

/// The user ids of `build --ids`: `count` ids, one per vector, from `path`.
///
/// `.u64` (or `.bin`) files are raw little-endian `u64`s back to back; any
/// other file is text, one decimal id per line (surrounding spaces and a
/// final newline allowed). With `at_least`, the file may hold more ids than
/// `count` and the first `count` are taken (`--limit`). A wrong count, a
/// line that is not a u64, or an id given twice is an error naming the line.
pub fn read_ids(path: &Path, count: usize, at_least: bool) -> CliResult<Vec<u64>> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(|e| at(&e))?;
    let raw = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("u64") || e.eq_ignore_ascii_case("bin"));
    let (ids, lines) = if raw {
        read_raw_ids(file, path, count, at_least)?
    } else {
        read_text_ids(file, path, count)?
    };
    let mut ids = ids;
    if ids.len() < count {
        return fail(at(&format!("{} ids for {count} vectors", ids.len())));
    }
    if ids.len() > count {
        if !at_least {
            return fail(at(&format!("more than {count} ids for {count} vectors")));
        }
        ids.truncate(count);
    }
    let mut first: HashMap<u64, usize> = HashMap::new();
    if first.try_reserve(count).is_err() {
        return fail(at(&"not enough memory to check the ids"));
    }
    for (i, &id) in ids.iter().enumerate() {
        if let Some(&j) = first.get(&id) {
            return fail(if lines {
                format!(
                    "{}:{}: id {id} repeats line {}",
                    path.display(),
                    i + 1,
                    j + 1
                )
            } else {
                at(&format!("id {id} at position {i} repeats position {j}"))
            });
        }
        first.insert(id, i);
    }
    Ok(ids)
}

/// Raw little-endian `u64`s: the count is checked from the length first.
/// Returns the ids and `false` (positions are ids, not lines).
fn read_raw_ids(
    file: File,
    path: &Path,
    count: usize,
    at_least: bool,
) -> CliResult<(Vec<u64>, bool)> {
    let len = file.metadata()?.len();
    if len % 8 != 0 {
        return fail(format!(
            "{}: {len} bytes is not a whole number of 8-byte u64 ids",
            path.display()
        ));
    }
    let have = len / 8;
    if have < count as u64 || (!at_least && have > count as u64) {
        return fail(format!(
            "{}: {have} ids for {count} vectors",
            path.display()
        ));
    }
    let mut bytes = Vec::new();
    file.take(count as u64 * 8).read_to_end(&mut bytes)?;
    let ids: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .collect();
    Ok((ids, false))
}

/// Decimal ids, one a line. Stops reading after `count + 1` ids: one more
/// than needed is enough to say there are too many. Returns the ids and
/// `true` (positions are lines).
fn read_text_ids(file: File, path: &Path, count: usize) -> CliResult<(Vec<u64>, bool)> {
    let mut r = BufReader::new(file);
    let mut ids = Vec::new();
    let mut line = Vec::with_capacity(MAX_ID_LINE);
    let mut number = 0usize;
    loop {
        line.clear();
        // At most one byte past the longest line is read into it.
        let n = (&mut r)
            .take(MAX_ID_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        number += 1;
        let at = |what: String| fail(format!("{}:{number}: {what}", path.display()));
        let long = line.last() != Some(&b'\n') && line.len() > MAX_ID_LINE;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if long {
            let shown: String = text.chars().take(32).collect();
            return at(format!("`{shown}...` is not an id (a decimal u64)"));
        }
        match text.parse::<u64>() {
            Ok(id) => ids.push(id),
            Err(_) if text.is_empty() => return at("empty line, expected an id".into()),
            Err(_) => {
                let shown: String = text.chars().take(32).collect();
                return at(format!("`{shown}` is not an id (a decimal u64)"));
            }
        }
        if ids.len() > count {
            break;
        }
    }
    Ok((ids, true))
}
