//! Tests of what every format shares: errors, extensions, the matrix type.

use super::*;

mod npy;
mod vecs;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn le_f32(values: &[f32]) -> Vec<u8> {
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
