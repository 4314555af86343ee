//! The binary on the inputs of benchmark sets and databases: `build --ids`,
//! ann-benchmarks HDF5 files, `bench --json`'s build and file figures, and
//! errors as JSON under `--json`.

use std::path::{Path, PathBuf};

use vectrove::data;
use vectrove::file::{self, OpenOptions, Storage};

use crate::common;

use common::{err, ok, s, vectrove};

/// An ann-benchmarks file written by h5py: contiguous datasets.
fn contiguous() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ann-contiguous.hdf5")
}

/// The same data, chunked (with partial edge chunks) and gzip-compressed,
/// `train` also shuffled.
fn gzip() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ann-gzip.h5")
}

/// Base vectors of dimension 8 whose row i is easy to find by itself.
fn base(dir: &Path, n: usize) -> PathBuf {
    let mut v = Vec::with_capacity(n * 8);
    for i in 0..n {
        for j in 0..8 {
            v.push(((i * 31 + j * 7) % 101) as f32 + (i as f32) * 0.01);
        }
    }
    let p = dir.join("base.fvecs");
    data::write_fvecs(&p, 8, &v).unwrap();
    p
}

#[test]
fn build_ids_text_and_raw_reach_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let input = base(dir.path(), 300);
    // Text: one id a line, beyond 32 bits, spaces and the final newline allowed.
    let ids: Vec<u64> = (0..300u64).map(|i| 5_000_000_000 + i * 7).collect();
    let text = dir.path().join("ids.txt");
    let body: String = ids.iter().map(|i| format!(" {i}\n")).collect();
    std::fs::write(&text, body).unwrap();
    // Raw little-endian u64s.
    let raw = dir.path().join("ids.u64");
    let bytes: Vec<u8> = ids.iter().rev().flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(&raw, bytes).unwrap();
    for (kind, ids_file) in [("hnsw", &text), ("ivf", &raw)] {
        let out = dir.path().join(format!("{kind}.vtrv"));
        let mut args = vec![
            "build",
            "--input",
            s(&input),
            "--metric",
            "l2",
            "--index-type",
            kind,
            "--ids",
            s(ids_file),
            "--output",
            s(&out),
            "--json",
        ];
        if kind == "ivf" {
            args.extend(["--nlist", "4"]);
        }
        let v: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        assert_eq!(v["points"], 300);
        let ix = file::open_any::<f32>(&out, OpenOptions::new(Storage::Memory)).unwrap();
        assert_eq!(ix.len(), 300);
        for (row, &id) in ids.iter().enumerate() {
            let id = if kind == "ivf" { ids[299 - row] } else { id };
            assert!(ix.contains(id), "{kind}: id {id} missing");
        }
        assert!(!ix.contains(0) && !ix.contains(299));
        // Row i, searched for itself, comes back under its id.
        let hits = ix
            .search(
                data::read_f32(&input, None).unwrap().row(17),
                1,
                &Default::default(),
            )
            .unwrap();
        let want = if kind == "ivf" {
            ids[299 - 17]
        } else {
            ids[17]
        };
        assert_eq!(hits[0].id, want);
    }
    // With --limit, the first ids are taken.
    let out = dir.path().join("limited.vtrv");
    ok(&[
        "build",
        "--input",
        s(&input),
        "--limit",
        "50",
        "--ids",
        s(&text),
        "--output",
        s(&out),
    ]);
    let ix = file::open_any::<f32>(&out, OpenOptions::new(Storage::Memory)).unwrap();
    assert!(ix.len() == 50 && ix.contains(ids[49]) && !ix.contains(ids[50]));
}

#[test]
fn bad_ids_files_name_the_file_and_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = base(dir.path(), 20);
    let out = dir.path().join("never.vtrv");
    let case = |name: &str, body: &[u8]| -> String {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        let msg = err(&[
            "build",
            "--input",
            s(&input),
            "--ids",
            s(&p),
            "--output",
            s(&out),
        ]);
        assert!(msg.contains(name), "{msg}");
        assert!(!out.exists(), "{name}: an index was written");
        msg
    };
    let lines = |v: &[&str]| v.iter().map(|l| format!("{l}\n")).collect::<String>();
    let mut twenty: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    // Unparsable: a word, a negative number, one past u64::MAX, an empty line.
    let mut bad = twenty.clone();
    bad[2] = "seven".into();
    assert!(case("word.txt", lines(&strs(&bad)).as_bytes()).contains("word.txt:3:"));
    bad[2] = "-3".into();
    assert!(case("neg.txt", lines(&strs(&bad)).as_bytes()).contains(":3:"));
    bad[2] = "18446744073709551616".into();
    assert!(case("big.txt", lines(&strs(&bad)).as_bytes()).contains(":3:"));
    bad[2] = String::new();
    assert!(case("empty-line.txt", lines(&strs(&bad)).as_bytes()).contains(":3: empty"));
    assert!(case("long.txt", &[b'9'; 5000]).contains(":1:"));
    assert!(case("binary.txt", &[0xff, 0xfe, 0, 1, b'\n']).contains(":1:"));
    // Wrong count, either way.
    assert!(case("short.txt", lines(&strs(&twenty[..19])).as_bytes()).contains("19 ids for 20"));
    twenty.push("20".into());
    assert!(case("long-list.txt", lines(&strs(&twenty)).as_bytes()).contains("more than 20"));
    twenty.pop();
    // A duplicate names both lines.
    twenty[15] = "4".into();
    let msg = case("dup.txt", lines(&strs(&twenty)).as_bytes());
    assert!(msg.contains("dup.txt:16: id 4 repeats line 5"), "{msg}");
    // Raw files: not whole u64s, wrong count, duplicates.
    assert!(case("odd.u64", &[0; 20 * 8 - 1]).contains("8-byte"));
    assert!(case("few.u64", &[0; 19 * 8]).contains("19 ids for 20"));
    let msg = case("same.bin", &[0; 20 * 8]);
    assert!(
        msg.contains("id 0 at position 1 repeats position 0"),
        "{msg}"
    );
    // Missing file.
    let msg = err(&[
        "build",
        "--input",
        s(&input),
        "--ids",
        s(&dir.path().join("none.txt")),
        "--output",
        s(&out),
    ]);
    assert!(msg.contains("none.txt"), "{msg}");
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn hdf5_files_build_search_and_bench_with_their_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, h5) in [("contiguous", contiguous()), ("gzip", gzip())] {
        let out = dir.path().join(format!("{name}.vtrv"));
        let v: serde_json::Value = serde_json::from_str(&ok(&[
            "build",
            "--input",
            s(&h5),
            "--deterministic",
            "--threads",
            "2",
            "--output",
            s(&out),
            "--json",
        ]))
        .unwrap();
        assert_eq!(
            (v["points"].as_u64(), v["dim"].as_u64()),
            (Some(200), Some(384))
        );
        // The file's `distance` attribute, angular, picked the metric.
        assert_eq!(v["metric"], "cosine");
        files.push(out);
    }
    // Both layouts decode to the same vectors: the same seeded build.
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        std::fs::read(&files[1]).unwrap()
    );
    // `test` as queries, `neighbors` as the ground truth, from either file.
    for queries in [contiguous(), gzip()] {
        let v: serde_json::Value = serde_json::from_str(&ok(&[
            "bench",
            "--index",
            s(&files[0]),
            "--queries",
            s(&queries),
            "--ef",
            "64",
            "--json",
        ]))
        .unwrap();
        let recall = v["runs"][0]["rows"][0]["recall"].as_f64().unwrap();
        assert!(recall >= 0.95, "recall {recall}");
    }
    let ids = dir.path().join("ids.ivecs");
    let out = ok(&[
        "search",
        "--index",
        s(&files[1]),
        "--queries",
        s(&gzip()),
        "--k",
        "10",
        "--output",
        s(&ids),
        "--json",
    ]);
    assert!(out.contains("\"queries\": 20"), "{out}");
    let found = data::read_i32(&ids, None).unwrap();
    let truth = neighbors(&gzip());
    let hits = (0..20)
        .map(|q| found.row(q).iter().filter(|i| truth[q].contains(i)).count())
        .sum::<usize>();
    assert!(hits >= 190, "{hits} of 200");
    // An explicit metric wins over the attribute; --limit reads the first rows.
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "build",
        "--input",
        s(&gzip()),
        "--metric",
        "l2",
        "--limit",
        "70",
        "--output",
        s(&dir.path().join("l2.vtrv")),
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        (v["metric"].as_str(), v["points"].as_u64()),
        (Some("l2"), Some(70))
    );
}

/// The `neighbors` dataset of an ann-benchmarks file, read here with the
/// same crate the binary uses.
fn neighbors(path: &Path) -> Vec<Vec<i32>> {
    let f = hdf5_pure::File::open(path).unwrap();
    let ds = f.dataset("neighbors").unwrap();
    let k = ds.shape().unwrap()[1] as usize;
    ds.read_i32()
        .unwrap()
        .chunks(k)
        .map(<[i32]>::to_vec)
        .collect()
}

#[test]
fn bad_hdf5_input_gives_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("i.vtrv");
    ok(&[
        "build",
        "--input",
        s(&contiguous()),
        "--m",
        "4",
        "--output",
        s(&index),
    ]);
    // Not an HDF5 file at all, and a cut-off one.
    let junk = dir.path().join("junk.hdf5");
    std::fs::write(&junk, b"this is not hdf5").unwrap();
    assert!(err(&["build", "--input", s(&junk), "--output", s(&index)]).contains("junk.hdf5"));
    let cut = dir.path().join("cut.h5");
    let bytes = std::fs::read(gzip()).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(err(&["build", "--input", s(&cut), "--output", s(&index)]).contains("cut.h5"));
    // Ground truth with fewer neighbours than k, and none where queries are not HDF5.
    let msg = err(&[
        "bench",
        "--index",
        s(&index),
        "--queries",
        s(&gzip()),
        "--k",
        "11",
    ]);
    assert!(msg.contains("fewer than --k"), "{msg}");
    let q = dir.path().join("q.fvecs");
    data::write_fvecs(&q, 384, &[0.5; 384]).unwrap();
    let msg = err(&["bench", "--index", s(&index), "--queries", s(&q)]);
    assert!(msg.contains("--groundtruth"), "{msg}");
    // The wrong element type for the role (ground truth read as vectors).
    let msg = err(&[
        "kmeans",
        "--input",
        s(&gzip()),
        "--k",
        "2",
        "--metric",
        "l2",
    ]);
    assert!(!msg.is_empty());
}

#[test]
fn bench_json_reports_the_build_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("built.vtrv");
    // Built by bench itself: the build's time and report are in the output.
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "bench",
        "--input",
        s(&contiguous()),
        "--m",
        "8",
        "--index",
        s(&index),
        "--queries",
        s(&contiguous()),
        "--ef",
        "32",
        "--json",
    ]))
    .unwrap();
    let size = std::fs::metadata(&index).unwrap().len();
    assert_eq!(v["file_bytes"].as_u64(), Some(size));
    assert!(v["build_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(v["build"]["points"], 200);
    assert_eq!(v["build"]["m"], 8);
    assert_eq!(v["build"]["file_bytes"].as_u64(), Some(size));
    // An existing index: its size, and no build time.
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "bench",
        "--index",
        s(&index),
        "--queries",
        s(&contiguous()),
        "--ef",
        "32",
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["file_bytes"].as_u64(), Some(size));
    assert!(v["build_seconds"].is_null() && v["build"].is_null());
    // Text output names the size too.
    let text = ok(&[
        "bench",
        "--index",
        s(&index),
        "--queries",
        s(&contiguous()),
        "--ef",
        "32",
    ]);
    assert!(text.lines().next().unwrap().contains("KB"), "{text}");
}

/// Runs a failing command under `--json`: one JSON line on stderr with the
/// error and its kind, nothing on stdout, the exit code given.
fn json_err(args: &[&str], code: i32) -> serde_json::Value {
    let out = vectrove(args);
    assert_eq!(out.status.code(), Some(code), "{args:?}");
    assert!(out.stdout.is_empty(), "{args:?}: stdout {:?}", out.stdout);
    let text = String::from_utf8(out.stderr).unwrap();
    assert_eq!(text.trim_end().lines().count(), 1, "not one line: {text}");
    let v: serde_json::Value = serde_json::from_str(text.trim_end())
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"));
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    v
}

#[test]
fn errors_under_json_are_json_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.fvecs");
    let m = s(&missing);
    let out = s(dir.path());
    let failing: [&[&str]; 7] = [
        &["build", "--input", m, "--output", "x.vtrv", "--json"],
        &["search", "--index", m, "--queries", m, "--json"],
        &[
            "bench",
            "--index",
            m,
            "--queries",
            m,
            "--groundtruth",
            m,
            "--json",
        ],
        &["info", m, "--json"],
        &["kmeans", "--input", m, "--k", "2", "--json"],
        &[
            "generate", "--n", "10", "--dim", "0", "--output", out, "--json",
        ],
        &["demo", "--n", "0", "--json"],
    ];
    for args in failing {
        let v = json_err(args, 1);
        assert_eq!(v["kind"], "failed", "{args:?}: {v}");
    }
    assert!(
        json_err(failing[0], 1)["error"]
            .as_str()
            .unwrap()
            .contains("missing.fvecs")
    );
    // Bad arguments: kind usage, clap's exit code.
    let v = json_err(&["build", "--input", m, "--json", "--m", "many"], 2);
    assert_eq!(v["kind"], "usage");
    let v = json_err(&["search", "--json"], 2);
    assert_eq!(v["kind"], "usage");
    // Help is still help, and without --json errors stay text.
    let help = vectrove(&["build", "--help", "--json"]);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--ids"));
    let text = vectrove(&["info", m]);
    assert!(String::from_utf8_lossy(&text.stderr).starts_with("vectrove: error: "));
}
