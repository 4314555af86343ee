//! `vectrove compact`: an index with deleted points rewritten without their
//! slots, keeping the ids, vectors, metric, vector type and codes of the live
//! points, for HNSW and IVF, over a new file or in place.

use std::collections::BTreeSet;

use vectrove::file::{self, Storage};
use vectrove::store::VectorType;
use vectrove::{FeatureStore, Hnsw, Ivf, IvfParams, Metric, Quantization, SearchParams};

use crate::common;

use common::{ok, s, vectrove};

const DIM: usize = 16;

/// Row `i` of a data set of uniform random values (a fixed generator).
fn row(i: usize) -> Vec<f32> {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn rows(n: usize) -> Vec<f32> {
    (0..n).flat_map(row).collect()
}

fn compact_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["compact"];
    all.extend_from_slice(args);
    all.push("--json");
    serde_json::from_str(&ok(&all)).unwrap()
}

#[test]
fn hnsw_loses_its_deleted_slots_and_keeps_ids_vectors_type_and_codes() {
    let dir = tempfile::tempdir().unwrap();
    let n = 1_500;
    let mut h = Hnsw::builder(DIM, Metric::L2).m(8).seed(3).build().unwrap();
    let ids: Vec<u64> = (0..n as u64).map(|i| 1_000_000_007 * i + 5).collect();
    h.insert_many(&ids, &rows(n)).unwrap();
    // Every third point deleted.
    let mut live = BTreeSet::new();
    for (i, &id) in ids.iter().enumerate() {
        if i % 3 == 0 {
            h.delete(id).unwrap();
        } else {
            live.insert(id);
        }
    }
    h.set_vector_type(VectorType::F16).unwrap();
    h.quantize(Quantization::Sq8).unwrap();
    let before = dir.path().join("before.vtrv");
    file::save(&h, &before).unwrap();
    let bytes_before = std::fs::metadata(&before).unwrap().len();

    let after = dir.path().join("after.vtrv");
    let v = compact_json(&["--index", s(&before), "--output", s(&after)]);
    assert_eq!(v["index_type"], "hnsw");
    assert_eq!(v["points"], live.len());
    assert_eq!(v["slots_before"], n);
    assert_eq!(v["removed"], n - live.len());
    assert_eq!(v["bytes_before"], bytes_before);
    let bytes_after = v["file_bytes"].as_u64().unwrap();
    assert_eq!(bytes_after, std::fs::metadata(&after).unwrap().len());
    assert!(
        bytes_after < bytes_before * 3 / 4,
        "{bytes_after} vs {bytes_before}"
    );
    // The source is untouched.
    assert_eq!(std::fs::metadata(&before).unwrap().len(), bytes_before);

    let c = file::open::<f32>(&after, Storage::Memory).unwrap();
    c.verify().unwrap();
    assert_eq!(c.slot_count(), live.len());
    assert_eq!(c.ids().collect::<BTreeSet<_>>(), live);
    assert_eq!(c.params(), h.params());
    assert_eq!(c.store().vector_type(), VectorType::F16);
    assert_eq!(c.quantization(), Some(Quantization::Sq8));
    assert!(c.is_quantized());
    for &id in &live {
        assert_eq!(c.get(id).unwrap(), h.get(id).unwrap(), "vector of {id}");
    }
    // Every live point finds itself first; deleted ones are gone.
    let p = SearchParams {
        ef: 64,
        ..SearchParams::default()
    };
    let mut found = 0;
    for (i, &id) in ids.iter().enumerate() {
        let hits = c.search_with(&row(i), 1, &p, |_| true).unwrap();
        if i % 3 == 0 {
            assert!(!c.contains(id));
            assert!(hits.iter().all(|h| h.id != id));
        } else if hits[0].id == id {
            found += 1;
        }
    }
    assert!(
        found * 100 >= live.len() * 99,
        "self-recall {found} of {}",
        live.len()
    );

    // In place: the file is replaced whole; compacting again removes nothing.
    let v = compact_json(&["--index", s(&after), "--deterministic"]);
    assert_eq!(
        (v["removed"].as_u64(), v["points"].as_u64()),
        (Some(0), Some(live.len() as u64))
    );
    let again = file::open::<f32>(&after, Storage::Mmap).unwrap();
    again.verify().unwrap();
    assert_eq!(again.ids().collect::<BTreeSet<_>>(), live);
}

#[test]
fn ivf_keeps_its_centroids_so_every_point_stays_in_its_list() {
    let dir = tempfile::tempdir().unwrap();
    let n = 2_000;
    let data = rows(n);
    let training = vectrove::MemoryStore::from_flat(DIM, &data).unwrap();
    let params = IvfParams {
        nlist: 16,
        seed: 2,
        ..IvfParams::default()
    };
    let mut ivf = Ivf::train(Metric::Cosine, params, &training).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    ivf.insert_many(&ids, &data).unwrap();
    for id in (0..n as u64).filter(|i| i % 4 == 1) {
        ivf.delete(id).unwrap();
    }
    let before = dir.path().join("ivf.vtrv");
    file::save(&ivf, &before).unwrap();
    let bytes_before = std::fs::metadata(&before).unwrap().len();

    let v = compact_json(&["--index", s(&before)]);
    assert_eq!(v["index_type"], "ivf");
    assert_eq!(v["removed"], n / 4);
    assert!(v["file_bytes"].as_u64().unwrap() < bytes_before);

    let c = file::open_ivf(&before, Storage::Memory).unwrap();
    assert_eq!(c.slot_count(), n - n / 4);
    assert_eq!(c.quantizer().centroids(), ivf.quantizer().centroids());
    // The same lists, less the deleted points: the same answers, probe by probe.
    let sizes: Vec<usize> = c.list_sizes();
    assert_eq!(sizes.iter().sum::<usize>(), n - n / 4);
    for q in (0..n).step_by(97) {
        for nprobe in [1, 3] {
            let a = ivf.search(&row(q), 10, nprobe).unwrap();
            let b = c.search(&row(q), 10, nprobe).unwrap();
            let ids = |v: &[vectrove::Neighbor]| v.iter().map(|h| h.id).collect::<Vec<_>>();
            assert_eq!(ids(&a), ids(&b), "query {q}, nprobe {nprobe}");
        }
    }
}

#[test]
fn a_bad_index_is_one_line_and_stays_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.vtrv");
    std::fs::write(&bad, b"not an index file at all").unwrap();
    let out = vectrove(&["compact", "--index", s(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let msg = String::from_utf8(out.stderr).unwrap();
    assert_eq!(msg.trim_end().lines().count(), 1, "{msg}");
    assert!(msg.contains("bad.vtrv"), "{msg}");
    assert_eq!(std::fs::read(&bad).unwrap(), b"not an index file at all");
    let missing = dir.path().join("missing.vtrv");
    let out = vectrove(&["compact", "--index", s(&missing), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["kind"], "failed");
    assert!(v["error"].as_str().unwrap().contains("missing.vtrv"));
}
