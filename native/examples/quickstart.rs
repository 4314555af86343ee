//! The main job, end to end: generate 20,000 vectors of 128 dimensions,
//! build an HNSW index, and measure recall@10 against exact brute-force
//! neighbours and single-thread queries per second at several beam widths.
//!
//! ```text
//! cargo run --release -p vectrove --example quickstart
//! ```
//!
//! Everything is seeded, so the recall figures repeat exactly from run to
//! run on one machine; the timings are whatever the machine gives.

use std::time::{Duration, Instant};

use vectrove::distance::l2_squared;
use vectrove::rng::SplitMix64;
use vectrove::{Hnsw, Metric};

const N: usize = 20_000;
const DIM: usize = 128;
const CLUSTERS: usize = 100;
const QUERIES: usize = 500;
const K: usize = 10;
const SEED: u64 = 42;
const M: usize = 16;
const EF_CONSTRUCTION: usize = 200;

/// A standard normal value (Box-Muller).
fn gaussian(rng: &mut SplitMix64) -> f64 {
    let u1 = 1.0 - rng.next_f64(); // in (0, 1], so ln is finite
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `n` points around `CLUSTERS` Gaussian centres, back to back. A cluster is
/// as wide as the spread of the centres, so clusters overlap and the true
/// neighbours of a point are not simply the rest of its cluster.
fn generate(rng: &mut SplitMix64, centres: &[f64], n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        let c = rng.below(CLUSTERS as u64) as usize;
        let centre = &centres[c * DIM..(c + 1) * DIM];
        out.extend(centre.iter().map(|&x| (x + gaussian(rng)) as f32));
    }
    out
}

/// The exact `K` nearest base ids of every query.
fn ground_truth(base: &[f32], queries: &[f32]) -> Vec<Vec<u64>> {
    queries
        .chunks_exact(DIM)
        .map(|q| {
            let mut d: Vec<(f32, u64)> = base
                .chunks_exact(DIM)
                .zip(0u64..)
                .map(|(b, id)| (l2_squared(q, b), id))
                .collect();
            d.select_nth_unstable_by(K - 1, |a, b| a.0.total_cmp(&b.0));
            d.truncate(K);
            d.into_iter().map(|(_, id)| id).collect()
        })
        .collect()
}

fn main() -> vectrove::Result<()> {
    let mut rng = SplitMix64::new(SEED);
    let centres: Vec<f64> = (0..CLUSTERS * DIM).map(|_| gaussian(&mut rng)).collect();
    let base = generate(&mut rng, &centres, N);
    let queries = generate(&mut rng, &centres, QUERIES);
    println!(
        "vectrove quickstart: {N} x {DIM}-d vectors in {CLUSTERS} Gaussian clusters, seed {SEED}"
    );
    println!("distance kernels: {}", vectrove::simd::kernels().isa);

    let t = Instant::now();
    let mut index = Hnsw::builder(DIM, Metric::L2)
        .m(M)
        .ef_construction(EF_CONSTRUCTION)
        .seed(SEED)
        .build()?;
    let ids: Vec<u64> = (0..N as u64).collect();
    index.insert_many(&ids, &base)?;
    let build = t.elapsed().as_secs_f64();
    println!(
        "build (M={M}, ef_construction={EF_CONSTRUCTION}, one thread): {build:.2} s, {:.0} points/s",
        N as f64 / build
    );

    let t = Instant::now();
    let truth = ground_truth(&base, &queries);
    println!(
        "exact ground truth for {QUERIES} queries by brute force: {:.2} s",
        t.elapsed().as_secs_f64()
    );

    println!("\n{:>5} {:>10} {:>10}", "ef", "recall@10", "QPS");
    for ef in [16, 32, 64, 128] {
        let mut hits = 0;
        for (q, t) in queries.chunks_exact(DIM).zip(&truth) {
            let found = index.search(q, K, ef)?;
            hits += found.iter().filter(|n| t.contains(&n.id)).count();
        }
        let recall = hits as f64 / (K * QUERIES) as f64;

        // Timed separately, over repeated passes of at least half a second,
        // so the figure does not depend on one short, noisy pass.
        let (mut searched, t) = (0usize, Instant::now());
        while searched == 0 || t.elapsed() < Duration::from_millis(500) {
            for q in queries.chunks_exact(DIM) {
                std::hint::black_box(index.search(q, K, ef)?);
            }
            searched += QUERIES;
        }
        let qps = searched as f64 / t.elapsed().as_secs_f64();
        println!("{ef:>5} {recall:>10.4} {qps:>10.0}");
    }
    Ok(())
}
