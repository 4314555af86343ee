//! `.npy`.

use super::*;

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

fn le_i32(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
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
    let dict = "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }";
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
