//! Shared by the native (`determinism`) and wasm32 (`wasm`) tests: the
//! golden determinism snapshot and its comparison. The data and the index
//! come from `vectrove-testkit`.
//!
//! The golden file `tests/golden/determinism.txt` records, for a fixed index,
//! every node's level and the top-10 of 20 fixed queries. It is embedded
//! with `include_str!` because wasm32 tests have no file system. Regenerate
//! it (natively) after a deliberate change to the graph or the generator:
//!
//! ```text
//! VECTROVE_BLESS=1 cargo test -p vectrove-core --test integration determinism
//! ```
#![allow(
    dead_code,
    reason = "the native and the wasm32 tests each use a part of it"
)]

use std::fmt::Write as _;

use vectrove_core::{Metric, Neighbor};
use vectrove_testkit::{base_and_queries, build_index};

/// The golden snapshot, as committed.
pub const GOLDEN: &str = include_str!("../golden/determinism.txt");

/// Where `VECTROVE_BLESS=1` writes the golden snapshot.
pub const GOLDEN_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/determinism.txt");

/// The golden index: 1,000 x 16-d, data seed 42, M = 8, ef_construction = 64, L2.
pub const N: usize = 1_000;
/// Dimension of the golden index.
pub const DIM: usize = 16;
/// Seed of the data and of the index.
pub const SEED: u64 = 42;
/// Queries recorded in the golden file.
pub const QUERIES: usize = 20;
/// Results recorded per query.
pub const K: usize = 10;
/// Beam width of the recorded searches.
pub const EF: usize = 32;
/// Largest difference (relative to `max(1, |d|)`) between a distance computed
/// natively and on wasm32 that still counts as equal.
pub const TOL: f32 = 1e-5;

/// What the golden file records.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    /// Distance kernels that computed the results (`simd::kernels().isa`).
    pub isa: String,
    /// The level of every slot.
    pub levels: Vec<usize>,
    /// The top-`K` of every query, nearest first.
    pub results: Vec<Vec<Neighbor>>,
}

/// Build the golden index and record its snapshot on this target.
pub fn snapshot() -> Snapshot {
    let (base, queries) = base_and_queries(N, QUERIES, DIM, SEED);
    let index = build_index(&base, DIM, Metric::L2, 8, 64, SEED);
    let levels = (0..index.slot_count() as u32)
        .map(|s| index.node_level(s).expect("slot exists"))
        .collect();
    let results = queries
        .chunks_exact(DIM)
        .map(|q| index.search(q, K, EF).expect("valid query"))
        .collect();
    Snapshot {
        isa: vectrove_core::simd::kernels().isa.to_string(),
        levels,
        results,
    }
}

impl Snapshot {
    /// The golden file's text. Distances are written with `{:?}`, the
    /// shortest decimal that parses back to the same `f32`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("# vectrove determinism golden file: see core/tests/common/mod.rs.\n");
        s.push_str(
            "# Regenerate: VECTROVE_BLESS=1 cargo test -p vectrove-core --test integration determinism\n",
        );
        let _ = writeln!(
            s,
            "# index: {N} x {DIM}-d L2, seed {SEED}, m 8, ef_construction 64; {QUERIES} queries, k {K}, ef {EF}"
        );
        let _ = writeln!(s, "isa {}", self.isa);
        for chunk in self.levels.chunks(50) {
            let line: Vec<String> = chunk.iter().map(usize::to_string).collect();
            let _ = writeln!(s, "levels {}", line.join(" "));
        }
        for r in &self.results {
            let line: Vec<String> = r
                .iter()
                .map(|n| format!("{}:{:?}", n.id, n.distance))
                .collect();
            let _ = writeln!(s, "query {}", line.join(" "));
        }
        s
    }

    /// Parse a golden file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut snap = Snapshot {
            isa: String::new(),
            levels: Vec::new(),
            results: Vec::new(),
        };
        for (no, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
            let bad = |what: &str| format!("golden line {no}: {what}: {line:?}");
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "isa" => snap.isa = rest.to_string(),
                "levels" => {
                    for v in rest.split_whitespace() {
                        snap.levels.push(v.parse().map_err(|_| bad("bad level"))?);
                    }
                }
                "query" => {
                    let mut r = Vec::new();
                    for pair in rest.split_whitespace() {
                        let (id, d) = pair
                            .split_once(':')
                            .ok_or_else(|| bad("expected id:distance"))?;
                        r.push(Neighbor {
                            id: id.parse().map_err(|_| bad("bad id"))?,
                            distance: d.parse().map_err(|_| bad("bad distance"))?,
                        });
                    }
                    snap.results.push(r);
                }
                _ => return Err(bad("unknown line")),
            }
        }
        if snap.levels.is_empty() || snap.results.is_empty() {
            return Err("the golden file is empty; bless it (see core/tests/common/mod.rs)".into());
        }
        Ok(snap)
    }
}

/// The committed snapshot.
pub fn golden() -> Snapshot {
    Snapshot::parse(GOLDEN).unwrap_or_else(|e| panic!("{e}"))
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= TOL * b.abs().max(1.0)
}

/// Compare `got` with the golden `want`; returns every difference found.
///
/// Levels come from the seeded generator alone, so they must be equal on
/// every target. With `exact`, results must be equal bit for bit (same
/// target, same kernels). Otherwise (wasm32: no FMA, another summation
/// order) distances may differ by [`TOL`], which may reorder near-ties, so:
/// - at every rank the distance matches the golden one within `TOL`;
/// - where the ids at a rank differ, the id found is either in the golden
///   list at a rank whose distance is within `TOL` of this rank's (two
///   near-equal neighbours swapped), or absent from it and within `TOL` of
///   the golden `K`-th distance (a near-tie with the `K+1`-th neighbour
///   pushed in);
/// - every golden id missing from the results is within `TOL` of the golden
///   `K`-th distance (the one pushed out).
pub fn compare(got: &Snapshot, want: &Snapshot, exact: bool) -> Vec<String> {
    let mut errs = Vec::new();
    if got.levels != want.levels {
        let first = got
            .levels
            .iter()
            .zip(&want.levels)
            .position(|(a, b)| a != b);
        errs.push(format!(
            "levels differ ({} vs {} slots; first difference at slot {first:?})",
            got.levels.len(),
            want.levels.len()
        ));
    }
    if got.results.len() != want.results.len() {
        errs.push(format!(
            "{} queries, golden has {}",
            got.results.len(),
            want.results.len()
        ));
    }
    for (q, (g, w)) in got.results.iter().zip(&want.results).enumerate() {
        if exact {
            if g != w {
                errs.push(format!("query {q}: got {g:?}, golden {w:?}"));
            }
            continue;
        }
        if g.len() != w.len() {
            errs.push(format!(
                "query {q}: {} results, golden has {}",
                g.len(),
                w.len()
            ));
            continue;
        }
        let Some(kth) = w.last().map(|n| n.distance) else {
            continue;
        };
        for (r, (a, b)) in g.iter().zip(w).enumerate() {
            if !close(a.distance, b.distance) {
                errs.push(format!(
                    "query {q} rank {r}: distance {} vs golden {}",
                    a.distance, b.distance
                ));
            }
            if a.id == b.id {
                continue;
            }
            let explained = match w.iter().find(|n| n.id == a.id) {
                Some(n) => close(n.distance, b.distance),
                None => close(a.distance, kth),
            };
            if !explained {
                errs.push(format!(
                    "query {q} rank {r}: id {} vs golden {} is not a near-tie swap",
                    a.id, b.id
                ));
            }
        }
        for n in w.iter().filter(|n| !g.iter().any(|x| x.id == n.id)) {
            if !close(n.distance, kth) {
                errs.push(format!(
                    "query {q}: golden id {} (distance {}) is missing and was not tied with the {K}th",
                    n.id, n.distance
                ));
            }
        }
    }
    errs
}

/// The CRC-32s of the codes sections (`QPAR`, `QCOD`) of the golden index
/// with 8-bit codes: encoding is plain `f32` arithmetic in a fixed order,
/// so every target writes the same bytes.
pub const GOLDEN_CODES: (u32, u32) = (0x727a_bb17, 0xe8ed_0d70);

/// The golden index's codes section checksums on this target, and the ids
/// its first query finds on codes.
pub fn code_checksums() -> ((u32, u32), Vec<u64>) {
    let (base, queries) = base_and_queries(N, QUERIES, DIM, SEED);
    let mut index = build_index(&base, DIM, Metric::L2, 8, 64, SEED);
    index
        .quantize(vectrove_core::Quantization::Sq8)
        .expect("quantize");
    let bytes = index.to_bytes().expect("to_bytes");
    let header = vectrove_core::format::Header::parse(&bytes, bytes.len() as u64).expect("header");
    let crc = |tag: &[u8; 4]| header.section(*tag).expect("codes section").crc;
    let ids = index
        .search(&queries[..DIM], K, EF)
        .expect("search")
        .iter()
        .map(|n| n.id)
        .collect();
    ((crc(b"QPAR"), crc(b"QCOD")), ids)
}
