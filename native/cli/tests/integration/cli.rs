//! The `vectrove` binary end to end: real files in, real files out, and a
//! one-line error with a non-zero exit for every kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vectrove::data;

use crate::common;

use common::{ok, vectrove};

/// Runs a command that must fail and returns its one-line message.
fn err(args: &[&str]) -> String {
    let out = vectrove(args);
    assert!(!out.status.success(), "vectrove {args:?} should fail");
    assert_eq!(out.status.code(), Some(if args.is_empty() { 2 } else { 1 }));
    let msg = String::from_utf8(out.stderr).unwrap();
    assert_eq!(msg.trim_end().lines().count(), 1, "not one line: {msg}");
    assert!(
        !msg.contains("panicked") && !msg.contains("backtrace"),
        "{msg}"
    );
    msg
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        ok(&[
            "generate",
            "--n",
            "3000",
            "--dim",
            "16",
            "--queries",
            "100",
            "--k",
            "10",
            "--output",
            s(&path),
        ]);
        Fixture {
            _dir: dir,
            dir: path,
        }
    }

    fn p(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }
}

#[test]
fn build_info_search_bench_round_trip() {
    let f = Fixture::new();
    let (base, queries, gt, index) = (
        f.p("base.fvecs"),
        f.p("queries.fvecs"),
        f.p("groundtruth.ivecs"),
        f.p("index.vtrv"),
    );
    // The same build searching the vectors instead of codes while linking.
    let exact = f.p("exact.vtrv");
    let build = |output: &str, extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "build",
            "--input",
            &base,
            "--metric",
            "l2",
            "--m",
            "8",
            "--ef-construction",
            "64",
            "--threads",
            "2",
            "--output",
            output,
            "--json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let v = build(&index, &[]);
    assert_eq!(v["points"], 3000);
    assert_eq!(v["m0"], 16);
    assert_eq!(v["exact_build"], false);
    let v = build(&exact, &["--exact-build"]);
    assert_eq!(v["exact_build"], true);
    let recall = |file: &str| {
        let out = ok(&[
            "bench",
            "--index",
            file,
            "--queries",
            &queries,
            "--groundtruth",
            &gt,
            "--ef",
            "32",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["runs"][0]["rows"][0]["recall"].as_f64().unwrap()
    };
    let (coded, exact_r) = (recall(&index), recall(&exact));
    assert!(
        coded >= exact_r - 0.02,
        "built on codes {coded}, on the vectors {exact_r}"
    );
    let e = err(&[
        "build",
        "--index-type",
        "ivf",
        "--input",
        &base,
        "--output",
        &exact,
        "--exact-build",
    ]);
    assert!(e.contains("applies to --index-type hnsw"), "{e}");

    let info: serde_json::Value = serde_json::from_str(&ok(&["info", &index, "--json"])).unwrap();
    assert_eq!(info["points"], 3000);
    assert_eq!(info["dim"], 16);
    assert_eq!(info["metric"], "l2");
    assert_eq!(info["checksums"], "ok");
    assert!(ok(&["info", &index]).contains("checksums    ok"));

    // Search writes one row of k ids per query, the same in every storage mode.
    let mut found = Vec::new();
    for storage in ["memory", "mmap", "paged"] {
        let ids = f.p(&format!("ids-{storage}.ivecs"));
        ok(&[
            "search",
            "--index",
            &index,
            "--queries",
            &queries,
            "--k",
            "10",
            "--ef",
            "64",
            "--storage",
            storage,
            "--cache-mb",
            "1",
            "--output",
            &ids,
        ]);
        let m = data::read_i32(&ids, None).unwrap();
        assert_eq!((m.len(), m.dim), (100, 10));
        found.push(m);
    }
    assert!(found.windows(2).all(|w| w[0] == w[1]));
    // And it agrees with the exact ground truth most of the time.
    let truth = data::read_i32(&gt, None).unwrap();
    let hits: usize = (0..100)
        .map(|i| {
            found[0]
                .row(i)
                .iter()
                .filter(|x| truth.row(i).contains(x))
                .count()
        })
        .sum();
    assert!(
        hits as f64 / 1000.0 > 0.9,
        "recall {}",
        hits as f64 / 1000.0
    );

    // Bench: one row per ef, several storage modes on one plot.
    let plot = f.p("curve.svg");
    let out = ok(&[
        "bench",
        "--index",
        &index,
        "--queries",
        &queries,
        "--groundtruth",
        &gt,
        "--k",
        "10",
        "--ef",
        "16,64",
        "--storage",
        "memory,mmap",
        "--json",
        "--plot",
        &plot,
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        let rows = run["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[1]["recall"].as_f64().unwrap() > 0.9);
        assert!(rows[1]["qps"].as_f64().unwrap() > 0.0);
        assert!(rows[1]["p99_us"].as_f64().unwrap() >= rows[1]["p50_us"].as_f64().unwrap());
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("vectrove memory") && svg.contains("vectrove mmap"));
    // An earlier run can be drawn next to a new one.
    let saved = f.p("run.json");
    std::fs::write(&saved, out).unwrap();
    let plot2 = f.p("compare.svg");
    let text = ok(&[
        "bench",
        "--index",
        &index,
        "--queries",
        &queries,
        "--groundtruth",
        &gt,
        "--ef",
        "32",
        "--storage",
        "paged",
        "--label",
        "paged 1 MiB",
        "--cache-mb",
        "1",
        "--plot",
        &plot2,
        "--compare",
        &saved,
    ]);
    assert!(text.contains("recall@k"), "{text}");
    let svg = std::fs::read_to_string(&plot2).unwrap();
    assert!(svg.contains("paged 1 MiB") && svg.contains("vectrove mmap"));
}

#[test]
fn bad_input_gives_one_line_and_a_failure_code() {
    let f = Fixture::new();
    let (base, queries, gt, index) = (
        f.p("base.fvecs"),
        f.p("queries.fvecs"),
        f.p("groundtruth.ivecs"),
        f.p("index.vtrv"),
    );
    ok(&[
        "build", "--input", &base, "--metric", "l2", "--m", "4", "--output", &index,
    ]);

    // Missing and unknown files.
    assert!(err(&["info", &f.p("nope.vtrv")]).contains("nope.vtrv"));
    assert!(err(&["build", "--input", &f.p("x.txt"), "--output", &index]).contains("extension"));
    // A vector file that is cut short.
    let cut = f.p("cut.fvecs");
    let bytes = std::fs::read(&base).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    assert!(err(&["build", "--input", &cut, "--output", &f.p("y.vtrv")]).contains("truncated"));
    // Queries of the wrong dimension.
    let wrong = f.p("wrong.fvecs");
    data::write_fvecs(&wrong, 8, &[0.5; 80]).unwrap();
    assert!(err(&["search", "--index", &index, "--queries", &wrong]).contains("dimension"));
    // Hamming needs bytes.
    assert!(
        !err(&[
            "build", "--input", &base, "--metric", "hamming", "--output", &index
        ])
        .is_empty()
    );
    // Bad parameters.
    assert!(
        err(&[
            "build",
            "--input",
            &base,
            "--m",
            "1",
            "--output",
            &f.p("z.vtrv")
        ])
        .contains("m")
    );
    assert!(
        err(&[
            "search",
            "--index",
            &index,
            "--queries",
            &queries,
            "--storage",
            "tape"
        ])
        .contains("tape")
    );
    assert!(
        err(&[
            "bench",
            "--index",
            &index,
            "--queries",
            &queries,
            "--groundtruth",
            &gt,
            "--k",
            "50"
        ])
        .contains("ground truth")
    );
    // A damaged index, in every mode, and the good one is still intact.
    let damaged = f.p("damaged.vtrv");
    let mut b = std::fs::read(&index).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(&damaged, &b).unwrap();
    for storage in ["memory", "mmap", "paged"] {
        let msg = err(&[
            "search",
            "--index",
            &damaged,
            "--queries",
            &queries,
            "--storage",
            storage,
        ]);
        assert!(msg.contains("not a valid vectrove index"), "{msg}");
    }
    std::fs::write(&damaged, &b[..1000]).unwrap();
    assert!(err(&["info", &damaged]).contains("not a valid vectrove index"));
    ok(&["info", &index]);
    // A file that is not an index at all.
    assert!(err(&["info", &base]).contains("magic"));
}

#[test]
fn hamming_index_from_bvecs() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("codes.bvecs");
    let index = dir.path().join("codes.vtrv");
    let codes: Vec<u8> = (0..500u32 * 8)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    data::write_bvecs(&base, 8, &codes).unwrap();
    ok(&[
        "build",
        "--input",
        s(&base),
        "--metric",
        "hamming",
        "--m",
        "8",
        "--output",
        s(&index),
    ]);
    let ids = dir.path().join("ids.ivecs");
    ok(&[
        "search",
        "--index",
        s(&index),
        "--queries",
        s(&base),
        "--k",
        "1",
        "--ef",
        "64",
        "--output",
        s(&ids),
    ]);
    let m = data::read_i32(&ids, None).unwrap();
    let found = (0..500).filter(|&i| m.row(i)[0] == i as i32).count();
    assert!(found >= 490, "{found} of 500 codes found themselves");
}

#[test]
fn demo_runs_and_reports() {
    let out = ok(&[
        "demo",
        "--n",
        "2000",
        "--dim",
        "16",
        "--queries",
        "50",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows[3]["recall"].as_f64().unwrap() > 0.95);
    assert!(v["memory"]["rss_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn kmeans_writes_centroids_and_on_disk_matches_memory() {
    let f = Fixture::new();
    let base = f.p("base.fvecs");
    let (a, b) = (f.p("a.fvecs"), f.p("b.fvecs"));
    let out = ok(&[
        "kmeans", "--input", &base, "--k", "16", "--iters", "8", "--seed", "3", "--output", &a,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["k"], 16);
    assert!(v["inertia"].as_f64().unwrap() > 0.0);
    assert!(v["per_iteration"].as_array().unwrap().len() <= 8);
    let text = ok(&[
        "kmeans",
        "--input",
        &base,
        "--k",
        "16",
        "--iters",
        "8",
        "--seed",
        "3",
        "--output",
        &b,
        "--on-disk",
        "--threads",
        "2",
    ]);
    assert!(text.contains("per iteration"), "{text}");
    let (ca, cb) = (
        data::read_f32(&a, None).unwrap(),
        data::read_f32(&b, None).unwrap(),
    );
    assert_eq!((ca.len(), ca.dim), (16, 16));
    assert_eq!(ca, cb, "on-disk and in-memory centroids differ");
    assert!(err(&["kmeans", "--input", &base, "--k", "0"]).contains("k"));
    assert!(err(&["kmeans", "--input", &base, "--k", "5000"]).contains("k"));

    // The hierarchical start, on disk and in memory alike.
    let (h, hd) = (f.p("h.fvecs"), f.p("hd.fvecs"));
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "kmeans",
            "--input",
            &base,
            "--k",
            "40",
            "--iters",
            "5",
            "--init",
            "hierarchical",
            "--output",
            out,
            "--json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str::<serde_json::Value>(&ok(&args)).unwrap()
    };
    let v = run(&h, &[]);
    assert_eq!(
        (v["k"].as_u64(), v["init"].as_str()),
        (Some(40), Some("hierarchical"))
    );
    run(&hd, &["--on-disk"]);
    let (ch, chd) = (
        data::read_f32(&h, None).unwrap(),
        data::read_f32(&hd, None).unwrap(),
    );
    assert_eq!(ch.len(), 40);
    assert_eq!(
        ch, chd,
        "on-disk and in-memory hierarchical centroids differ"
    );
    assert_ne!(ch, data::read_f32(&a, None).unwrap());
    // A misspelt start is a usage error (exit 2) that names the choices.
    let out = vectrove(&["kmeans", "--input", &base, "--k", "4", "--init", "kmeans+"]);
    let e = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("kmeans++, random or hierarchical"), "{e}");
}

#[test]
fn ivf_build_info_search_bench() {
    let f = Fixture::new();
    let (base, queries, gt, index) = (
        f.p("base.fvecs"),
        f.p("queries.fvecs"),
        f.p("groundtruth.ivecs"),
        f.p("ivf.vtrv"),
    );
    let out = ok(&[
        "build",
        "--index-type",
        "ivf",
        "--nlist",
        "32",
        "--metric",
        "l2",
        "--input",
        &base,
        "--output",
        &index,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["index_type"].as_str(), v["nlist"].as_u64()),
        (Some("ivf"), Some(32))
    );
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", &index, "--json"])).unwrap();
    assert_eq!(info["kind"], "ivf");
    assert_eq!(info["points"], 3000);
    assert_eq!(info["nlist"], 32);
    assert!(ok(&["info", &index]).contains("nlist=32"));
    assert_eq!(info["kmeans_init"], "kmeans++");

    // The k-means options of IVF training, kept in the file.
    let hier = f.p("ivf-hier.vtrv");
    let out = ok(&[
        "build",
        "--index-type",
        "ivf",
        "--nlist",
        "64",
        "--kmeans-init",
        "hierarchical",
        "--max-points-per-list",
        "20",
        "--metric",
        "l2",
        "--input",
        &base,
        "--output",
        &hier,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["kmeans_init"].as_str(), v["trained_on"].as_u64()),
        (Some("hierarchical"), Some(1280))
    );
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", &hier, "--json"])).unwrap();
    assert_eq!(
        (
            info["kmeans_init"].as_str(),
            info["max_points_per_centroid"].as_u64()
        ),
        (Some("hierarchical"), Some(20))
    );
    assert!(ok(&["info", &hier]).contains("from a hierarchical start"));
    for (flag, value) in [
        ("--kmeans-init", "hierarchical"),
        ("--max-points-per-list", "8"),
    ] {
        let e = err(&["build", "--input", &base, "--output", &hier, flag, value]);
        assert!(e.contains("applies to --index-type ivf"), "{e}");
    }
    let e = err(&[
        "build",
        "--index-type",
        "ivf",
        "--input",
        &base,
        "--output",
        &hier,
        "--max-points-per-list",
        "0",
    ]);
    assert!(e.contains("at least 1"), "{e}");
    let out = ok(&[
        "bench",
        "--index",
        &index,
        "--queries",
        &queries,
        "--groundtruth",
        &gt,
        "--nprobe",
        "1,8,32",
        "--storage",
        "memory,mmap,paged",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for run in runs {
        let rows = run["rows"].as_array().unwrap();
        let recall: Vec<f64> = rows.iter().map(|r| r["recall"].as_f64().unwrap()).collect();
        assert_eq!(rows[0]["nprobe"], 1);
        assert!(
            recall[0] <= recall[1] && recall[1] <= recall[2],
            "{recall:?}"
        );
        // Every list probed: an exact scan (ties aside).
        assert!(recall[2] > 0.99, "{recall:?}");
    }
    let ids = f.p("ids.ivecs");
    let text = ok(&[
        "search",
        "--index",
        &index,
        "--queries",
        &queries,
        "--nprobe",
        "32",
        "--output",
        &ids,
    ]);
    assert!(text.contains("nprobe=32"), "{text}");
    assert_eq!(data::read_i32(&ids, None).unwrap().len(), 100);
    // IVF holds f32 vectors only, and --nlist needs --index-type ivf.
    assert!(
        err(&[
            "build",
            "--index-type",
            "ivf",
            "--metric",
            "hamming",
            "--input",
            &base,
            "--output",
            &index
        ])
        .contains("f32")
    );
    assert!(
        err(&[
            "build", "--nlist", "4", "--input", &base, "--output", &index
        ])
        .contains("ivf")
    );
    assert!(
        err(&[
            "build",
            "--index-type",
            "ivf",
            "--nlist",
            "0",
            "--input",
            &base,
            "--output",
            &f.p("x.vtrv")
        ])
        .contains("k")
    );
    // A damaged IVF file is refused with one line and the file left as it was.
    let mut bytes = std::fs::read(&index).unwrap();
    bytes[400] ^= 1;
    let bad = f.p("bad.vtrv");
    std::fs::write(&bad, &bytes).unwrap();
    assert!(err(&["info", &bad]).contains("bad.vtrv"));
}

/// Runs `vectrove args` with its stdout a pipe that nobody reads any more
/// (its reading end closed before the command starts, like `| head` that
/// has already quit), and stderr captured.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_vectrove"))
        .args(args)
        .stdout(writer)
        .output()
        .expect("run the vectrove binary")
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let f = Fixture::new();
    let (base, queries, gt, index) = (
        f.p("base.fvecs"),
        f.p("queries.fvecs"),
        f.p("groundtruth.ivecs"),
        f.p("index.vtrv"),
    );
    let ids = f.p("ids.ivecs");
    let centroids = f.p("centroids.fvecs");
    let generated = f.p("generated");
    let commands: Vec<Vec<&str>> = vec![
        vec![
            "build", "--input", &base, "--metric", "l2", "--m", "4", "--output", &index,
        ],
        vec![
            "build", "--input", &base, "--m", "4", "--output", &index, "--json",
        ],
        vec!["info", &index],
        vec!["info", &index, "--json"],
        vec![
            "search",
            "--index",
            &index,
            "--queries",
            &queries,
            "--output",
            &ids,
        ],
        vec!["search", "--index", &index, "--queries", &queries, "--json"],
        vec![
            "bench",
            "--index",
            &index,
            "--queries",
            &queries,
            "--groundtruth",
            &gt,
            "--ef",
            "16",
        ],
        vec![
            "bench",
            "--index",
            &index,
            "--queries",
            &queries,
            "--groundtruth",
            &gt,
            "--json",
        ],
        vec![
            "kmeans", "--input", &base, "--k", "4", "--iters", "3", "--output", &centroids,
        ],
        vec![
            "generate",
            "--n",
            "100",
            "--dim",
            "4",
            "--queries",
            "5",
            "--k",
            "3",
            "--output",
            &generated,
        ],
        vec!["demo", "--n", "500", "--dim", "8", "--queries", "10"],
        vec![
            "demo",
            "--n",
            "500",
            "--dim",
            "8",
            "--queries",
            "10",
            "--json",
        ],
        vec!["--help"],
        vec!["--version"],
    ];
    for args in &commands {
        let out = with_closed_stdout(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "vectrove {args:?}: {} with stderr {stderr:?}",
            out.status
        );
    }
    // The work was done all the same.
    assert_eq!(data::read_i32(&ids, None).unwrap().len(), 100);
    assert_eq!(data::read_f32(&centroids, None).unwrap().len(), 4);
    // A closed stderr does not turn an error into a crash either: exit 1.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(env!("CARGO_BIN_EXE_vectrove"))
        .args(["info", &f.p("missing.vtrv")])
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn numeric_options_at_zero_or_huge_give_one_line() {
    let f = Fixture::new();
    let (base, queries, index) = (f.p("base.fvecs"), f.p("queries.fvecs"), f.p("index.vtrv"));
    ok(&[
        "build", "--input", &base, "--metric", "l2", "--m", "4", "--output", &index,
    ]);
    // `search` on the fixture with `extra` options.
    let search = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["search", "--index", &index, "--queries", &queries];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect()
    };
    let run_err = |v: Vec<String>| err(&strs(&v));
    let run_ok = |v: Vec<String>| ok(&strs(&v));

    let msg = err(&[
        "kmeans",
        "--input",
        &base,
        "--k",
        "4",
        "--max-points-per-centroid",
        "0",
    ]);
    assert!(msg.contains("--max-points-per-centroid"), "{msg}");
    assert!(err(&["kmeans", "--input", &base, "--k", "2147483648"]).contains("k"));
    assert!(run_err(search(&["--k", "0"])).contains("--k"));
    assert!(run_err(search(&["--k", "2147483648"])).contains("--k"));
    assert!(run_err(search(&["--threads", "0"])).contains("--threads"));
    assert!(run_err(search(&["--threads", "1000000"])).contains("--threads"));
    assert!(run_err(search(&["--storage", "paged", "--cache-mb", "0"])).contains("bytes"));
    assert!(
        run_err(search(&[
            "--storage",
            "paged",
            "--cache-mb",
            "18446744073709551615"
        ]))
        .contains("--cache-mb")
    );
    // Beam widths and probes of 0 or far beyond the index are searched as
    // the index allows, in every storage mode.
    for storage in ["memory", "mmap", "paged"] {
        for ef in ["0", "1", "1099511627776", "18446744073709551615"] {
            run_ok(search(&["--ef", ef, "--storage", storage]));
        }
    }
    // Generated data too large for memory is refused before any work.
    let big = [
        "--n",
        "10000000000000",
        "--dim",
        "1000000",
        "--output",
        &f.p("big"),
    ];
    assert!(err(&[&["generate"][..], &big].concat()).contains("memory"));
    assert!(err(&["demo", "--n", "18446744073709551615"]).contains("memory"));
    assert!(err(&["demo", "--n", "10", "--dim", "18446744073709551615"]).contains("--dim"));
}

#[test]
fn truncated_and_foreign_files_give_one_line_in_every_storage_mode() {
    let f = Fixture::new();
    let (base, queries, index) = (f.p("base.fvecs"), f.p("queries.fvecs"), f.p("index.vtrv"));
    ok(&[
        "build", "--input", &base, "--metric", "l2", "--m", "4", "--output", &index,
    ]);
    let bytes = std::fs::read(&index).unwrap();
    let cut = f.p("cut.vtrv");
    let empty = f.p("empty.vtrv");
    std::fs::write(&empty, b"").unwrap();
    for len in [0, 8, 64, 4096, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        for storage in ["memory", "mmap", "paged"] {
            let msg = err(&[
                "search",
                "--index",
                &cut,
                "--queries",
                &queries,
                "--storage",
                storage,
            ]);
            assert!(msg.contains("cut.vtrv"), "{len} bytes, {storage}: {msg}");
        }
        assert!(err(&["info", &cut]).contains("cut.vtrv"));
    }
    // Files of another kind where an index, vectors or ground truth belong.
    for storage in ["memory", "mmap", "paged"] {
        let msg = err(&[
            "search",
            "--index",
            &queries,
            "--queries",
            &queries,
            "--storage",
            storage,
        ]);
        assert!(msg.contains("magic"), "{msg}");
    }
    assert!(err(&["info", &empty]).contains("empty.vtrv"));
    assert!(err(&["search", "--index", &index, "--queries", &index]).contains("extension"));
    let gt = f.p("groundtruth.ivecs");
    assert!(err(&["search", "--index", &index, "--queries", &gt]).contains("i32"));
    assert!(
        err(&[
            "bench",
            "--index",
            &index,
            "--queries",
            &queries,
            "--groundtruth",
            &base
        ])
        .contains("f32")
    );
    assert!(err(&["build", "--input", &index, "--output", &f.p("x.vtrv")]).contains("extension"));
    // The good index was never touched.
    assert_eq!(std::fs::read(&index).unwrap(), bytes);
}
