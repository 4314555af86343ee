//! Recall/throughput sweep of vectrove against the rust-cv `hnsw` crate on
//! debian-384: both built single-threaded with M = 16, ef_construction = 200,
//! then searched on one thread over a range of ef, k = 10.
//!
//! ```text
//! cargo bench -p vectrove-benches --bench sweep             # 50k base
//! cargo bench -p vectrove-benches --bench sweep -- --quick  # 10k base
//! SWEEP_N=20000 cargo bench -p vectrove-benches --bench sweep
//! ```
//!
//! A plain `main` rather than criterion: the output is a curve and a table.
//! The CSV goes to `target/sweep.csv`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use vectrove_benches::Debian;
use vectrove_benches::curve::{SweepPoint, fmt_kqps, max_recall, qps_at};
use vectrove_benches::data::DIM;
use vectrove_benches::peer::{Peer, unit_point};
use vectrove_core::{Hnsw, Metric, recall_at_k};

const K: usize = 10;
const M: usize = 16;
const EF_CONSTRUCTION: usize = 200;
const SEED: u64 = 42;
const N_QUERIES: usize = 1_000;
const PASSES: usize = 3;
const EFS: [usize; 18] = [
    10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 200, 256, 320, 400, 512,
];
const TARGETS: [f64; 3] = [0.90, 0.95, 0.99];

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n_base = match std::env::var("SWEEP_N") {
        Ok(v) => v.parse().expect("SWEEP_N is a number of base vectors"),
        Err(_) if quick => 10_000,
        Err(_) => 50_000,
    };

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "vectrove sweep: debian-384, k={K}, M={M}, ef_construction={EF_CONSTRUCTION}, seed={SEED}"
    );
    println!(
        "kernel isa: {} | cores: {cores} | search/build threads: 1 | queries: {N_QUERIES} | QPS: best of {PASSES} passes",
        vectrove_core::simd::kernels().isa
    );

    let Some(data) = Debian::load(n_base, N_QUERIES, K) else {
        println!("SKIPPED: debian-384 not found (set VECTROVE_DATA to its folder)");
        return;
    };
    assert_eq!(data.dim, DIM, "the peer is compiled for {DIM}-d points");
    let n = data.n_base();
    let n_q = data.queries.len() / data.dim;
    let truth_src = if n >= 50_000 {
        "groundtruth.ivecs"
    } else {
        "exact brute force"
    };
    println!("base: {n} vectors | queries: {n_q} | truth: {truth_src}\n");

    // vectrove
    let ids: Vec<u64> = (0..n as u64).collect();
    let t = Instant::now();
    let mut index = Hnsw::builder(data.dim, Metric::Cosine)
        .m(M)
        .ef_construction(EF_CONSTRUCTION)
        .seed(SEED)
        .build()
        .expect("valid parameters");
    index.insert_many(&ids, &data.base).expect("valid data");
    let v_build = t.elapsed();
    println!("vectrove build: {:.1} s", v_build.as_secs_f64());
    let queries: Vec<&[f32]> = data.queries.chunks_exact(data.dim).collect();
    let v_curve = sweep("vectrove", &data.truth, |ef, out| {
        for (q, o) in queries.iter().zip(out.iter_mut()) {
            let hits = index.search(q, K, ef).expect("valid query");
            *o = hits.iter().map(|h| h.id).collect();
        }
    });
    drop(index);

    // rust-cv hnsw
    let t = Instant::now();
    let mut peer = Peer::build(&data.base, EF_CONSTRUCTION, SEED);
    let p_build = t.elapsed();
    assert_eq!(peer.len(), n);
    println!("hnsw 0.11 build: {:.1} s", p_build.as_secs_f64());
    // Its metric assumes unit vectors; vectrove normalises queries inside
    // `search`, so here it happens once, outside the timing.
    let unit_queries: Vec<_> = queries.iter().map(|q| unit_point(q)).collect();
    let p_curve = sweep("hnsw 0.11", &data.truth, |ef, out| {
        for (q, o) in unit_queries.iter().zip(out.iter_mut()) {
            *o = peer.search(q, K, ef);
        }
    });

    print_report(n, &v_curve, v_build, &p_curve, p_build);
    write_csv(
        n,
        &[
            ("vectrove", &v_curve, v_build),
            ("hnsw-0.11", &p_curve, p_build),
        ],
    );
}

/// Run `search_all(ef, results)` over all queries for every ef: recall from
/// the first pass, QPS from the fastest of `PASSES`.
fn sweep(
    name: &str,
    truth: &[Vec<u32>],
    mut search_all: impl FnMut(usize, &mut [Vec<u64>]),
) -> Vec<SweepPoint> {
    let mut out = vec![Vec::new(); truth.len()];
    let mut curve = Vec::with_capacity(EFS.len());
    for ef in EFS {
        let mut best = Duration::MAX;
        let mut rec = 0.0;
        for pass in 0..PASSES {
            let t = Instant::now();
            search_all(ef, &mut out);
            best = best.min(t.elapsed());
            black_box(&out);
            if pass == 0 {
                rec = recall_at_k(&out, truth, K);
            }
        }
        let qps = truth.len() as f64 / best.as_secs_f64();
        eprintln!("  {name:<9} ef={ef:<4} recall@{K}={rec:.4} qps={qps:.0}");
        curve.push(SweepPoint {
            ef,
            recall: rec,
            qps,
        });
    }
    curve
}

fn print_report(
    n: usize,
    v: &[SweepPoint],
    v_build: Duration,
    p: &[SweepPoint],
    p_build: Duration,
) {
    println!("\nrecall@{K} and QPS by ef (debian-384 {n}, 1 thread)");
    println!("| ef | vectrove recall | vectrove QPS | hnsw 0.11 recall | hnsw 0.11 QPS |");
    println!("|---:|---:|---:|---:|---:|");
    for (a, b) in v.iter().zip(p) {
        println!(
            "| {} | {:.4} | {:.0} | {:.4} | {:.0} |",
            a.ef, a.recall, a.qps, b.recall, b.qps
        );
    }

    println!(
        "\nsummary: QPS at recall@{K} (linear interpolation between sweep points), 1 search thread"
    );
    let mut head = String::from("| library |");
    let mut rule = String::from("|---|");
    for t in TARGETS {
        let _ = write!(head, " {t:.2} |");
        rule.push_str("---:|");
    }
    println!("{head} max recall | build, 1 thread |");
    println!("{rule}---:|---:|");
    for (name, c, b) in [("vectrove", v, v_build), ("rust-cv hnsw 0.11", p, p_build)] {
        let mut row = format!("| {name} |");
        for t in TARGETS {
            let _ = write!(row, " {} |", fmt_kqps(qps_at(c, t)));
        }
        println!("{row} {:.4} | {:.1} s |", max_recall(c), b.as_secs_f64());
    }
    for t in TARGETS {
        if let (Some(a), Some(b)) = (qps_at(v, t), qps_at(p, t)) {
            println!("vectrove / hnsw 0.11 at {t:.2}: {:.2}x", a / b);
        }
    }
    for (name, c) in [("vectrove", v), ("hnsw 0.11", p)] {
        if let Some(f) = c.first().filter(|f| f.recall >= TARGETS[0]) {
            println!(
                "note: {name} is already at recall {:.4} at ef={}; its QPS there is a lower bound",
                f.recall, f.ef
            );
        }
    }
}

fn write_csv(n: usize, runs: &[(&str, &[SweepPoint], Duration)]) {
    let mut csv = String::from("library,n_base,k,ef,recall,qps,build_s\n");
    for (name, curve, build) in runs {
        for p in *curve {
            let _ = writeln!(
                csv,
                "{name},{n},{K},{},{:.5},{:.1},{:.2}",
                p.ef,
                p.recall,
                p.qps,
                build.as_secs_f64()
            );
        }
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the benches crate sits in the workspace")
        .join("target/sweep.csv");
    match std::fs::write(&path, csv) {
        Ok(()) => println!("\nwrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
