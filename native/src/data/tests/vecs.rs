//! `.fvecs`, `.ivecs` and `.bvecs`.

use super::*;

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
