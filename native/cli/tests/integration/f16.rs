//! `vectrove build --vectors f16` end to end: half the vectors' bytes,
//! `info` names the element type, `search` and `bench` read the file in
//! every storage mode with the recall of the f32 index.

use crate::common;

use common::{ok, vectrove};

#[test]
fn an_f16_index_builds_describes_itself_and_searches_like_f32() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let out = p("");
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
        &out,
    ]);
    let (base, queries, truth) = (p("base.fvecs"), p("queries.fvecs"), p("groundtruth.ivecs"));
    let mut bytes = Vec::new();
    let mut recall = Vec::new();
    for t in ["f32", "f16"] {
        let index = p(&format!("{t}.vtrv"));
        let built = ok(&[
            "build",
            "--input",
            &base,
            "--metric",
            "l2",
            "--m",
            "8",
            "--quantize",
            "sq8",
            "--vectors",
            t,
            "--deterministic",
            "--output",
            &index,
            "--json",
        ]);
        let built: serde_json::Value = serde_json::from_str(&built).unwrap();
        assert_eq!(built["vectors"], t);
        let info: serde_json::Value =
            serde_json::from_str(&ok(&["info", &index, "--json"])).unwrap();
        assert_eq!(info["element"], t);
        assert_eq!(info["vector_stride"], if t == "f16" { 32 } else { 64 });
        bytes.push(info["file_bytes"].as_u64().unwrap());
        assert!(ok(&["info", &index]).contains(if t == "f16" {
            "f32 stored as f16"
        } else {
            "16-d f32"
        }));
        let ids = p(&format!("{t}.ivecs"));
        ok(&[
            "search",
            "--index",
            &index,
            "--queries",
            &queries,
            "--k",
            "10",
            "--storage",
            "paged",
            "--output",
            &ids,
        ]);
        let bench = ok(&[
            "bench",
            "--index",
            &index,
            "--queries",
            &queries,
            "--groundtruth",
            &truth,
            "--ef",
            "64",
            "--storage",
            "memory,mmap,paged",
            "--json",
        ]);
        let bench: serde_json::Value = serde_json::from_str(&bench).unwrap();
        let text = bench.to_string();
        let r: Vec<f64> = bench["runs"]
            .as_array()
            .unwrap_or_else(|| panic!("{text}"))
            .iter()
            .flat_map(|run| run["rows"].as_array().unwrap().iter())
            .map(|pt| pt["recall"].as_f64().unwrap())
            .collect();
        assert_eq!(r.len(), 3, "{text}");
        assert!(
            r.iter().all(|&x| x == r[0]),
            "every storage mode alike: {r:?}"
        );
        recall.push(r[0]);
    }
    assert!(bytes[1] < bytes[0], "{bytes:?}");
    assert!(recall[1] > recall[0] - 0.02, "{recall:?}");
    // The type is f32 or f16; Hamming codes stay bytes.
    let bad = vectrove(&[
        "build",
        "--input",
        &base,
        "--vectors",
        "f64",
        "--output",
        &p("x.vtrv"),
    ]);
    assert!(!bad.status.success());
}
