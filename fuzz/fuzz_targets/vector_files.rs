//! Arbitrary bytes as a `.fvecs`, `.ivecs`, `.bvecs` or `.npy` file, read by
//! the `vectrove::data` readers from a real file, as the CLI does. Reading
//! must fail with an error or give a matrix that agrees with `inspect`, with
//! the row limit and, for the texmex formats, with a reference decoder
//! written here; it must never panic or allocate beyond the file's size.
//!
//! Input: a selector byte (bits 0-1 the format, bits 5-7 the row limit),
//! then the file's bytes.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vectrove::data::{self, Format, Matrix, ValueType};
use vectrove_fuzz_common::alloc::{Cap, CappedAlloc};

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

const FORMATS: [(&str, Format); 4] = [
    ("fvecs", Format::Fvecs),
    ("ivecs", Format::Ivecs),
    ("bvecs", Format::Bvecs),
    ("npy", Format::Npy),
];

/// One scratch file per format for this process, in memory when possible.
fn scratch(ext: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("vectrove-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("a scratch directory");
        d
    });
    dir.join(format!("input.{ext}"))
}

/// The texmex formats decoded the obvious way: every record is a positive
/// dimension, the first one's, then that many values of `size` bytes.
fn reference(bytes: &[u8], size: usize) -> Option<(usize, Vec<&[u8]>)> {
    let dim = i32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let dim = usize::try_from(dim).ok().filter(|&d| d > 0)?;
    let record = 4 + dim * size;
    if !bytes.len().is_multiple_of(record) {
        return None;
    }
    let mut values = Vec::new();
    for rec in bytes.chunks_exact(record) {
        if rec[..4] != bytes[..4] {
            return None;
        }
        values.extend(rec[4..].chunks_exact(size));
    }
    Some((dim, values))
}

/// A matrix read with `limit` agrees with what `inspect` said of the file.
fn check_shape<T>(m: &Matrix<T>, info: &data::FileInfo, limit: Option<usize>) {
    let rows = limit.map_or(info.rows, |l| l.min(info.rows));
    assert_eq!(
        m.dim, info.dim,
        "read and inspect disagree on the dimension"
    );
    assert_eq!(m.len(), rows, "read and inspect disagree on the rows");
    assert_eq!(m.data.len(), rows * info.dim);
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, file)) = data.split_first() else {
        return;
    };
    let (ext, format) = FORMATS[usize::from(sel & 3)];
    let limit = [
        None,
        Some(0),
        Some(1),
        Some(2),
        Some(3),
        Some(7),
        Some(1 << 40),
        None,
    ][usize::from(sel >> 5)];
    let path = scratch(ext);
    std::fs::write(&path, file).expect("the scratch file is written");
    let _cap = Cap::for_input(file.len());

    let info = data::inspect(&path);
    let f = data::read_f32(&path, limit);
    let u = data::read_u8(&path, limit);
    let i = data::read_i32(&path, limit);
    if let Ok(info) = &info {
        assert_eq!(info.format, format);
        assert!(info.dim > 0);
        let data_bytes = (info.rows as u128) * (info.dim as u128) * info.value_type.size() as u128;
        if format == Format::Npy {
            assert!(
                data_bytes <= file.len() as u128,
                "the shape needs more than the file"
            );
        } else {
            let headers = 4 * info.rows as u128;
            assert_eq!(
                data_bytes + headers,
                file.len() as u128,
                "the rows do not fill the file"
            );
        }
    }
    // Each reader takes the types it documents and refuses the others.
    let t = info.as_ref().ok().map(|i| i.value_type);
    for (name, ok, takes) in [
        (
            "read_f32",
            f.is_ok(),
            [ValueType::F32, ValueType::U8].as_slice(),
        ),
        ("read_u8", u.is_ok(), &[ValueType::U8]),
        ("read_i32", i.is_ok(), &[ValueType::I32]),
    ] {
        if ok && limit.is_none() {
            assert!(
                t.is_some_and(|t| takes.contains(&t)),
                "{name} read a file inspect refused"
            );
        }
    }
    if let Ok(info) = &info {
        if let Ok(m) = &f {
            check_shape(m, info, limit);
        }
        if let Ok(m) = &u {
            check_shape(m, info, limit);
        }
        if let Ok(m) = &i {
            check_shape(m, info, limit);
        }
        // An .npy file whose header checks out reads in full (the texmex
        // formats have a dimension per vector, which inspect does not read:
        // the reference decoder below judges those).
        if limit.is_none() && format == Format::Npy {
            match info.value_type {
                ValueType::F32 => assert!(f.is_ok(), "{:?}", f.err()),
                ValueType::U8 => assert!(u.is_ok() && f.is_ok()),
                ValueType::I32 => assert!(i.is_ok(), "{:?}", i.err()),
                other => panic!("inspect reported an unknown type {other:?}"),
            }
        }
    }
    // The texmex formats against the reference decoder.
    let (size, result): (usize, Option<Vec<Vec<u8>>>) = match format {
        Format::Fvecs => (
            4,
            f.as_ref().ok().map(|m| bytes_of(&m.data, f32::to_le_bytes)),
        ),
        Format::Ivecs => (
            4,
            i.as_ref().ok().map(|m| bytes_of(&m.data, i32::to_le_bytes)),
        ),
        Format::Bvecs => (
            1,
            u.as_ref()
                .ok()
                .map(|m| m.data.iter().map(|&b| vec![b]).collect()),
        ),
        _ => return,
    };
    let expected = reference(file, size);
    if limit.is_none() {
        assert_eq!(
            result.is_some(),
            expected.is_some(),
            "the reader and the reference disagree on whether the file is valid"
        );
    }
    if let (Some(got), Some((_, want))) = (result, expected) {
        let n = got.len();
        assert!(n <= want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(&g[..], *w, "a value differs from the file's");
        }
    }
});

fn bytes_of<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<Vec<u8>> {
    v.iter().map(|&x| f(x).to_vec()).collect()
}
