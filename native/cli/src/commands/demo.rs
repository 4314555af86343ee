//! `vectrove demo`: the whole round trip on generated data, in one command.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use vectrove::file::{self, Storage};
use vectrove::{Hnsw, Metric};

use super::bench::percentile;
use crate::error::{CliResult, fail, with_context};
use crate::mem;
use crate::output::{mem_json, mem_text, print_json};
use crate::progress::bar;
use crate::synth::dataset;

#[derive(Args)]
pub struct DemoArgs {
    /// Points to generate
    #[arg(long, default_value_t = 20_000)]
    n: usize,
    /// Dimension
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Queries to run
    #[arg(long, default_value_t = 1_000)]
    queries: usize,
    /// Seed of the data and the index
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Keep the index file here (default: a temporary directory)
    #[arg(long)]
    output: Option<PathBuf>,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

pub fn demo(a: DemoArgs) -> CliResult<()> {
    if a.n < 2 || a.dim == 0 || a.queries == 0 {
        return fail("--n must be at least 2, --dim and --queries positive");
    }
    let say = |s: String| -> CliResult<()> {
        if !a.json {
            crate::outln!("{s}");
        }
        Ok(())
    };
    let k = 10.min(a.n);
    let t = Instant::now();
    let (base, queries) = dataset(a.n, a.queries, a.dim, a.seed)?;
    let truth = vectrove::exact_knn(Metric::L2, a.dim, &base, &queries, k)?;
    let truth_ids: Vec<Vec<u32>> = truth
        .iter()
        .map(|r| r.iter().map(|&(i, _)| i).collect())
        .collect();
    say(format!(
        "generated {} x {}-d clustered points and {} queries with exact top-{k} in {:.2} s",
        a.n,
        a.dim,
        a.queries,
        t.elapsed().as_secs_f64()
    ))?;

    let mut index = Hnsw::builder(a.dim, Metric::L2)
        .m(16)
        .ef_construction(200)
        .seed(a.seed)
        .build()?;
    let ids: Vec<u64> = (0..a.n as u64).collect();
    let threads = rayon::current_num_threads();
    let pb = bar(a.n as u64, "building", a.json);
    let t = Instant::now();
    let chunk = (a.n / 100).max(1_000);
    for (ids, vecs) in ids.chunks(chunk).zip(base.chunks(chunk * a.dim)) {
        index.insert_many_parallel(ids, vecs)?;
        pb.inc(ids.len() as u64);
    }
    pb.finish_and_clear();
    let build_s = t.elapsed().as_secs_f64();
    say(format!(
        "built the index (M=16, ef_construction=200) on {threads} thread(s) in {build_s:.2} s"
    ))?;

    let tmp = tempfile::tempdir()?;
    let path = a
        .output
        .clone()
        .unwrap_or_else(|| tmp.path().join("demo.vtrv"));
    with_context(file::save(&index, &path), &path)?;
    let bytes = std::fs::metadata(&path)?.len();
    drop(index);
    let t = Instant::now();
    let index = with_context(file::open::<f32>(&path, Storage::Mmap), &path)?;
    say(format!(
        "saved {} ({}) and reopened it memory-mapped in {:.3} s",
        path.display(),
        mem::human(bytes),
        t.elapsed().as_secs_f64()
    ))?;

    let mut rows = Vec::new();
    say(format!(
        "{:>6} {:>10} {:>10} {:>10}",
        "ef", "recall@10", "QPS", "p50 us"
    ))?;
    for ef in [16, 32, 64, 128] {
        let mut lat = Vec::with_capacity(a.queries);
        let mut found = Vec::with_capacity(a.queries);
        let t = Instant::now();
        for qv in queries.chunks_exact(a.dim) {
            let s = Instant::now();
            let r = index.search(qv, k, ef)?;
            lat.push(s.elapsed());
            found.push(r.iter().map(|n| n.id).collect::<Vec<u64>>());
        }
        let wall = t.elapsed().as_secs_f64();
        lat.sort_unstable();
        let recall = vectrove::recall_at_k(&found, &truth_ids, k);
        let qps = a.queries as f64 / wall;
        let p50 = percentile(&lat, 0.5);
        say(format!("{ef:>6} {recall:>10.4} {qps:>10.0} {p50:>10.1}"))?;
        rows.push(json!({"ef": ef, "recall": recall, "qps": qps, "p50_us": p50}));
    }
    let m = mem::current();
    say(format!(
        "memory: {} (search on 1 thread; vectors memory-mapped)",
        mem_text(m)
    ))?;
    if a.json {
        print_json(&json!({
            "points": a.n, "dim": a.dim, "queries": a.queries, "threads": threads,
            "build_seconds": build_s, "file_bytes": bytes, "rows": rows, "memory": mem_json(m),
        }))?;
    }
    Ok(())
}
