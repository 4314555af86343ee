//! The texmex formats (`.fvecs`, `.ivecs`, `.bvecs`): every vector is its
//! dimension as a little-endian `i32`, then its values. There is no file
//! header, so the first record's dimension fixes the dimension of all.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use super::{
    CHUNK_BYTES, DataError, DataErrorKind, Format, Source, ValueType, too_large_for_platform,
};

/// Checks the first dimension field against the file's length; the others
/// are checked as the vectors are read.
pub(super) fn open(
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

/// Writes whole vectors of dimension `dim`, each behind its dimension field.
pub(super) fn write<T>(
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
