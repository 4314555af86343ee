//! The same seed gives the same graph and the same results: checked here
//! natively against the golden file that `tests/wasm.rs` checks on wasm32.
//!
//! Regenerate the golden file after a deliberate change:
//! `VECTROVE_BLESS=1 cargo test -p vectrove-core --test integration determinism`
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use common::{Snapshot, compare, golden, snapshot};

#[test]
fn matches_golden_file() {
    let got = snapshot();
    if std::env::var("VECTROVE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(common::GOLDEN_PATH, got.render()).expect("write the golden file");
        eprintln!("blessed {}", common::GOLDEN_PATH);
        return;
    }
    let want = golden();
    // Bit-exact where the same kernels produced the golden file; a machine
    // with other kernels (no AVX2, aarch64) sums differently, like wasm32.
    let exact = got.isa == want.isa;
    let errs = compare(&got, &want, exact);
    assert!(
        errs.is_empty(),
        "differs from the golden file (isa {} vs golden {}, exact = {exact}):\n{}",
        got.isa,
        want.isa,
        errs.join("\n")
    );
}

#[test]
fn same_seed_same_index_twice() {
    assert_eq!(snapshot(), snapshot());
}

#[test]
fn render_parse_round_trip() {
    let got = snapshot();
    assert_eq!(Snapshot::parse(&got.render()).unwrap(), got);
}

#[test]
fn tolerant_comparison_accepts_near_ties_only() {
    use vectrove_core::Neighbor;
    let n = |id, distance| Neighbor { id, distance };
    let want = Snapshot {
        isa: "x".into(),
        levels: vec![0, 1],
        results: vec![vec![n(1, 1.0), n(2, 2.0), n(3, 2.000_001), n(4, 3.0)]],
    };
    let with = |results| Snapshot {
        isa: "y".into(),
        levels: vec![0, 1],
        results: vec![results],
    };
    // Ranks 1 and 2 swapped: a near-tie.
    let swapped = with(vec![n(1, 1.0), n(3, 2.000_001), n(2, 2.0), n(4, 3.0)]);
    assert!(compare(&swapped, &want, false).is_empty());
    assert!(!compare(&swapped, &want, true).is_empty());
    // The last neighbour replaced by one at a near-equal distance.
    let pushed = with(vec![n(1, 1.0), n(2, 2.0), n(3, 2.000_001), n(9, 3.000_01)]);
    assert!(compare(&pushed, &want, false).is_empty());
    // A real difference: another point at rank 0.
    let wrong = with(vec![n(7, 1.0), n(2, 2.0), n(3, 2.000_001), n(4, 3.0)]);
    assert!(!compare(&wrong, &want, false).is_empty());
    // A distance off by more than the tolerance.
    let far = with(vec![n(1, 1.1), n(2, 2.0), n(3, 2.000_001), n(4, 3.0)]);
    assert!(!compare(&far, &want, false).is_empty());
    // Levels must always match.
    let mut levels = with(want.results[0].clone());
    levels.levels[1] = 0;
    assert!(!compare(&levels, &want, false).is_empty());
}

#[test]
fn codes_match_the_golden_checksums() {
    let (crcs, _) = common::code_checksums();
    assert_eq!(crcs, common::GOLDEN_CODES, "codes differ: {crcs:#010x?}");
}

/// A serial build is the same graph however its points are split into
/// calls (the browser inserts in slices whose sizes depend on timing).
#[test]
fn serial_build_is_the_same_however_it_is_split() {
    let (dim, n) = (16, 2_500);
    let (base, _) = vectrove_testkit::base_and_queries(n, 0, dim, 9);
    let ids: Vec<u64> = (0..n as u64).collect();
    let build = |cuts: &[usize]| {
        let mut index = vectrove_core::Hnsw::builder(dim, vectrove_core::Metric::L2)
            .m(8)
            .build()
            .unwrap();
        for w in cuts.windows(2) {
            let (a, z) = (w[0], w[1]);
            index
                .insert_many(&ids[a..z], &base[a * dim..z * dim])
                .unwrap();
        }
        index.to_bytes().unwrap()
    };
    let whole = build(&[0, n]);
    assert!(build(&[0, 7, 1_200, 1_201, n]) == whole, "split in four");
    assert!(build(&[0, 999, 2_000, n]) == whole, "split in three");
}
