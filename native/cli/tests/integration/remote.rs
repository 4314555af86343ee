//! The `vectrove` binary with index URLs: `info`, `search` and `bench` over
//! a loopback server give what they give on the file, and a failing host
//! is a one-line error with a non-zero exit.

use std::path::Path;

use vectrove::data;
use vectrove_testkit::http::{Failure, Server};

use crate::common;

use common::{err, ok, s};

#[test]
fn info_search_and_bench_take_index_urls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    ok(&[
        "generate",
        "--n",
        "3000",
        "--dim",
        "16",
        "--queries",
        "40",
        "--k",
        "10",
        "--output",
        s(d),
    ]);
    let (base, queries, gt) = (p("base.fvecs"), p("queries.fvecs"), p("groundtruth.ivecs"));
    ok(&[
        "build",
        "--input",
        &base,
        "--metric",
        "l2",
        "--m",
        "8",
        "--output",
        &p("h.vtrv"),
    ]);
    ok(&[
        "build",
        "--input",
        &base,
        "--index-type",
        "ivf",
        "--nlist",
        "20",
        "--metric",
        "l2",
        "--quantize",
        "sq8",
        "--output",
        &p("i.vtrv"),
    ]);
    let server = Server::serve_dir("127.0.0.1:0", d).unwrap();
    for name in ["h.vtrv", "i.vtrv"] {
        let url = server.url(name);
        let remote: serde_json::Value =
            serde_json::from_str(&ok(&["info", &url, "--json"])).unwrap();
        let local: serde_json::Value =
            serde_json::from_str(&ok(&["info", &p(name), "--json"])).unwrap();
        for field in ["kind", "points", "dim", "metric", "file_bytes", "sections"] {
            assert_eq!(remote[field], local[field], "{name} {field}");
        }
        assert_eq!(remote["file"], url.as_str());
        assert!(remote["remote"]["etag"].is_string(), "{remote}");
        assert!(ok(&["info", &url]).contains("pinned to ETag"));

        // The same ids from the file and from its URL.
        let (here, there) = (
            p(&format!("{name}.local.ivecs")),
            p(&format!("{name}.http.ivecs")),
        );
        ok(&[
            "search",
            "--index",
            &p(name),
            "--queries",
            &queries,
            "--output",
            &here,
        ]);
        let text = ok(&[
            "search",
            "--index",
            &url,
            "--queries",
            &queries,
            "--output",
            &there,
        ]);
        assert!(text.contains("round trips"), "{text}");
        assert_eq!(
            data::read_i32(Path::new(&here), None).unwrap().data,
            data::read_i32(Path::new(&there), None).unwrap().data,
            "{name}"
        );

        let bench: serde_json::Value = serde_json::from_str(&ok(&[
            "bench",
            "--index",
            &url,
            "--queries",
            &queries,
            "--groundtruth",
            &gt,
            "--ef",
            "32",
            "--nprobe",
            "4",
            "--json",
        ]))
        .unwrap();
        let row = &bench["runs"][0]["rows"][0];
        assert_eq!(bench["runs"][0]["storage"], "http");
        assert!(row["recall"].as_f64().unwrap() > 0.8, "{row}");
        // Each row starts cold: its first queries fetch.
        assert!(
            row["round_trips_per_query"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        assert!(row["bytes_per_query"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["requests_per_query"].as_f64().is_some(), "{row}");
    }

    // A missing file: one line naming the URL and the status.
    let missing = server.url("missing.vtrv");
    let msg = err(&["info", &missing]);
    assert!(msg.contains(&missing) && msg.contains("404"), "{msg}");
    let msg = err(&["search", "--index", &missing, "--queries", &queries]);
    assert!(msg.contains("404"), "{msg}");
    // A host that ignores ranges.
    server.set_failure(Failure::IgnoreRange);
    let msg = err(&[
        "search",
        "--index",
        &server.url("h.vtrv"),
        "--queries",
        &queries,
    ]);
    assert!(msg.contains("byte ranges"), "{msg}");
    server.set_failure(Failure::None);
    let msg = err(&["info", &server.url("h.vtrv"), "--timeout-s", "0"]);
    assert!(msg.contains("--timeout-s"), "{msg}");
}
