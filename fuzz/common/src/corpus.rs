//! The committed seed corpus, written by `cargo run -p vectrove-fuzz-common
//! --bin fuzz-seeds`: small valid inputs for every target, the same bytes
//! every time.

use std::io;
use std::path::Path;

use vectrove_core::rng::SplitMix64;

use crate::files::samples;

/// An `.npy` file: the magic, version `major`, the header padded to a
/// multiple of 64 bytes, then `data`.
pub fn npy(major: u8, descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let prefix = if major == 1 { 10 } else { 12 };
    while (prefix + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A `.fvecs`/`.ivecs`/`.bvecs` file: every row behind its dimension.
pub fn vecs(dim: usize, rows: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        out.extend_from_slice(&(dim as i32).to_le_bytes());
        out.extend_from_slice(r);
    }
    out
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i32s(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The vector files the `vector_files` target starts from: its input is a
/// selector byte (the format, then the row limit) and the file's bytes.
pub fn vector_files() -> Vec<(&'static str, Vec<u8>)> {
    let f = f32s(&[1.0, 2.0, 3.0, 4.0, 0.5, -0.5, 1e-3, 7.0, 0.0, 1.0, 2.0, 3.0]);
    let i = i32s(&[1, 2, 3, 4, 5, 6]);
    let b: Vec<u8> = (0..12).collect();
    let frows: Vec<&[u8]> = f.chunks(16).collect();
    let irows: Vec<&[u8]> = i.chunks(8).collect();
    let brows: Vec<&[u8]> = b.chunks(3).collect();
    let with = |sel: u8, file: Vec<u8>| [vec![sel], file].concat();
    vec![
        ("fvecs", with(0, vecs(4, &frows))),
        ("ivecs", with(1, vecs(2, &irows))),
        ("bvecs", with(2, vecs(3, &brows))),
        ("npy-f4-v1", with(3, npy(1, "<f4", "(3, 4)", &f))),
        ("npy-u1-v2", with(3 | 8, npy(2, "|u1", "(4, 3)", &b))),
        ("npy-i4-v3", with(3 | 16, npy(3, "<i4", "(3, 2)", &i))),
        ("npy-1d", with(3, npy(1, "<f4", "(12,)", &f))),
        ("npy-empty", with(3, npy(1, "<f4", "(0, 5)", &[]))),
        ("fvecs-limit", with(32, vecs(4, &frows))),
    ]
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(format!("seed-{name}")), bytes)
}

/// Write every target's seeds under `dir/<target>/`.
pub fn write_all(dir: &Path) -> io::Result<()> {
    for (i, s) in samples().iter().enumerate() {
        write(dir, "open_bytes", s.name, &s.bytes)?;
        let i = i as u8;
        // No patch: the sample as it is; then one patch of a few kinds.
        write(dir, "open_resealed", s.name, &[i])?;
        write(
            dir,
            "open_resealed",
            &format!("{}-word", s.name),
            &[i, 1, 3, 8, 0, 4],
        )?;
        write(
            dir,
            "open_resealed",
            &format!("{}-field", s.name),
            &[i, 3, 4, 5],
        )?;
        // A patched sample whose header claims a huge section or count, in
        // a stream of unknown length.
        let claims = [
            (
                "claim-section",
                vec![16 | 2 | 1, 7, 1, 3, i, 8, 2, 4, 0, 0, 0, 0],
            ),
            (
                "claim-count",
                vec![16 | 2 | 1, 7, 1, 3, i, 9, 2, 0, 0, 0, 0],
            ),
        ];
        for (what, input) in claims {
            write(dir, "import_stream", &format!("{}-{what}", s.name), &input)?;
        }
        write(
            dir,
            "open_resealed",
            &format!("{}-claim", s.name),
            &[i, 8, 1, 0, 0, 0, 0, 0],
        )?;
        // Known length and unknown, odd chunk sizes.
        for flags in [0u8, 1 | 8] {
            let input = [&[flags, 7, 1, 3][..], &s.bytes].concat();
            write(dir, "import_stream", &format!("{}-{flags}", s.name), &input)?;
        }
    }
    for (name, bytes) in vector_files() {
        write(dir, "vector_files", name, &bytes)?;
    }
    let mut rng = SplitMix64::new(99);
    for n in [16usize, 64, 200, 600] {
        let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
        write(dir, "api_ops", &format!("random-{n}"), &bytes)?;
    }
    Ok(())
}
