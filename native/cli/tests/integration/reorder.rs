//! `vectrove build` renumbers an HNSW index for locality unless told not
//! to; either file answers every query with the same ids.

use vectrove::data;

use crate::common;

use common::{ok, vectrove};

#[test]
fn builds_renumber_unless_told_not_to_and_answer_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    ok(&[
        "generate",
        "--n",
        "2000",
        "--dim",
        "12",
        "--queries",
        "50",
        "--k",
        "10",
        "--output",
        &p(""),
    ]);
    let base = p("base.fvecs");
    let build = |out: &str, extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "build",
            "--input",
            &base,
            "--metric",
            "l2",
            "--m",
            "6",
            "--ef-construction",
            "40",
            "--output",
            out,
            "--json",
        ];
        args.extend_from_slice(extra);
        let v = ok(&args);
        serde_json::from_str(&v).unwrap()
    };
    let (plain, reordered) = (p("plain.vtrv"), p("reordered.vtrv"));
    let v = build(&plain, &["--no-reorder"]);
    assert_eq!(v["reordered"], false);
    assert!(v["reorder_seconds"].is_null());
    let v = build(&reordered, &[]);
    assert_eq!(v["reordered"], true);
    assert!(v["reorder_seconds"].as_f64().unwrap() >= 0.0);

    // The same points and graph, numbered differently.
    let (a, b) = (
        std::fs::read(&plain).unwrap(),
        std::fs::read(&reordered).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    assert_ne!(a, b);
    for file in [&plain, &reordered] {
        let info: serde_json::Value = serde_json::from_str(&ok(&["info", file, "--json"])).unwrap();
        assert_eq!(info["points"], 2000);
        assert_eq!(info["checksums"], "ok");
    }

    // Every storage mode of either file gives the same ids.
    let mut found = Vec::new();
    for file in [&plain, &reordered] {
        for storage in ["memory", "mmap", "paged"] {
            let ids = p("ids.ivecs");
            ok(&[
                "search",
                "--index",
                file,
                "--queries",
                &p("queries.fvecs"),
                "--k",
                "10",
                "--ef",
                "48",
                "--storage",
                storage,
                "--cache-mb",
                "1",
                "--output",
                &ids,
            ]);
            found.push(data::read_i32(&ids, None).unwrap().data);
        }
    }
    assert!(found.windows(2).all(|w| w[0] == w[1]));

    // The flag is documented, and refused where it means nothing.
    assert!(ok(&["build", "--help"]).contains("--no-reorder"));
    let out = vectrove(&[
        "build",
        "--index-type",
        "ivf",
        "--no-reorder",
        "--input",
        &p("base.fvecs"),
        "--output",
        &p("ivf.vtrv"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-reorder applies to"));
}
