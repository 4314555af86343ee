//! The texmex vector files: per vector, its dimension as a little-endian
//! 32-bit integer, then that many little-endian values (`f32` in `.fvecs`,
//! 32-bit ids in `.ivecs`).
//!
//! The parsers are strict: every record must carry the first record's
//! dimension and the file must end on a record boundary, so a truncated or
//! mixed file is an error rather than silently fewer vectors.

use std::fmt;

/// Why the bytes of a vector file were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecsError(String);

impl fmt::Display for VecsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VecsError {}

fn word(bytes: &[u8]) -> [u8; 4] {
    bytes[..4].try_into().expect("a 4-byte word")
}

/// Check the framing of a whole file and return its dimension and its
/// records' values (the dimension fields stripped), at most `limit` of them.
fn records(bytes: &[u8], limit: usize) -> Result<(usize, Vec<&[u8]>), VecsError> {
    let err = |what: String| Err(VecsError(what));
    if bytes.len() < 4 {
        return err(format!(
            "{} bytes: too short for a vector (a file holds at least one)",
            bytes.len()
        ));
    }
    let dim = u32::from_le_bytes(word(bytes)) as usize;
    let Some(record) = dim.checked_mul(4).and_then(|b| b.checked_add(4)) else {
        return err(format!("vector 0 has dimension {dim}, too large"));
    };
    if dim == 0 {
        return err("vector 0 has dimension 0".into());
    }
    if !bytes.len().is_multiple_of(record) {
        return err(format!(
            "{} bytes is not a whole number of {record}-byte records (dimension {dim}): \
             the file is truncated or its dimensions differ",
            bytes.len()
        ));
    }
    let mut out = Vec::with_capacity((bytes.len() / record).min(limit));
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let d = u32::from_le_bytes(word(r)) as usize;
        if d != dim {
            return err(format!("vector {i} has dimension {d}, expected {dim}"));
        }
        if out.len() < limit {
            out.push(&r[4..]);
        }
    }
    Ok((dim, out))
}

/// The first `limit` vectors (`usize::MAX` for all) of an `.fvecs` file's
/// bytes: its dimension and the values back to back.
///
/// ```
/// let mut file = Vec::new();
/// for v in [[1.0f32, 2.0], [3.0, 4.0]] {
///     file.extend(2u32.to_le_bytes());
///     v.iter().for_each(|x| file.extend(x.to_le_bytes()));
/// }
/// assert_eq!(vectrove_testkit::parse_fvecs(&file, 1).unwrap(), (2, vec![1.0, 2.0]));
/// assert!(vectrove_testkit::parse_fvecs(&file[..file.len() - 1], 1).is_err());
/// ```
pub fn parse_fvecs(bytes: &[u8], limit: usize) -> Result<(usize, Vec<f32>), VecsError> {
    let (dim, rows) = records(bytes, limit)?;
    let values = rows
        .iter()
        .flat_map(|r| r.chunks_exact(4).map(|c| f32::from_le_bytes(word(c))))
        .collect();
    Ok((dim, values))
}

/// The first `limit` rows (`usize::MAX` for all) of an `.ivecs` file's
/// bytes, such as a ground-truth file's neighbour ids, nearest first.
pub fn parse_ivecs(bytes: &[u8], limit: usize) -> Result<Vec<Vec<u32>>, VecsError> {
    let (_, rows) = records(bytes, limit)?;
    Ok(rows
        .iter()
        .map(|r| {
            r.chunks_exact(4)
                .map(|c| u32::from_le_bytes(word(c)))
                .collect()
        })
        .collect())
}

#[cfg(not(target_arch = "wasm32"))]
fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// [`parse_fvecs`] of a file; panics with the path and the reason when the
/// file cannot be read or is malformed.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_fvecs(path: &std::path::Path, limit: usize) -> (usize, Vec<f32>) {
    parse_fvecs(&read(path), limit).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// [`parse_ivecs`] of a file; panics with the path and the reason when the
/// file cannot be read or is malformed.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_ivecs(path: &std::path::Path, limit: usize) -> Vec<Vec<u32>> {
    parse_ivecs(&read(path), limit).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rows: &[&[u32]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in rows {
            out.extend((r.len() as u32).to_le_bytes());
            r.iter().for_each(|x| out.extend(x.to_le_bytes()));
        }
        out
    }

    #[test]
    fn reads_whole_files_up_to_the_limit() {
        let bytes = file(&[&[1, 2, 3], &[4, 5, 6]]);
        assert_eq!(
            parse_ivecs(&bytes, usize::MAX).unwrap(),
            [[1, 2, 3], [4, 5, 6]]
        );
        assert_eq!(parse_ivecs(&bytes, 1).unwrap(), [[1, 2, 3]]);
        assert_eq!(parse_ivecs(&bytes, 0).unwrap(), Vec::<Vec<u32>>::new());
        let floats = file(&[&[1.5f32.to_bits(), (-2.0f32).to_bits()]]);
        assert_eq!(
            parse_fvecs(&floats, usize::MAX).unwrap(),
            (2, vec![1.5, -2.0])
        );
    }

    #[test]
    fn refuses_short_mixed_and_empty_files() {
        let bytes = file(&[&[1, 2, 3], &[4, 5, 6]]);
        for len in 0..bytes.len() {
            if len != 16 {
                assert!(
                    parse_ivecs(&bytes[..len], usize::MAX).is_err(),
                    "{len} bytes"
                );
            }
        }
        // Even when the limit stops before the damage.
        assert!(parse_ivecs(&bytes[..bytes.len() - 4], 1).is_err());
        let mixed = file(&[&[1, 2], &[3, 4, 5], &[6]]);
        let e = parse_ivecs(&mixed, usize::MAX).unwrap_err();
        assert_eq!(e.to_string(), "vector 1 has dimension 3, expected 2");
        assert!(parse_fvecs(&file(&[&[]]), usize::MAX).is_err());
    }
}
