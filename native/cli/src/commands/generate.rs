//! `vectrove generate`: a synthetic data set with its exact ground truth.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use vectrove::Metric;
use vectrove::data;

use crate::error::{CliResult, fail};
use crate::output::print_json;
use crate::progress::bar;
use crate::synth::dataset;

#[derive(Args)]
pub struct GenerateArgs {
    /// Base points
    #[arg(long)]
    n: usize,
    /// Dimension
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Query points
    #[arg(long, default_value_t = 10_000)]
    queries: usize,
    /// Neighbours per query in the ground truth
    #[arg(long, default_value_t = 100)]
    k: usize,
    /// Metric of the ground truth
    #[arg(long, default_value = "l2")]
    metric: Metric,
    /// Seed
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Directory for base.fvecs, queries.fvecs and groundtruth.ivecs
    #[arg(long)]
    output: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

pub fn generate(a: GenerateArgs) -> CliResult<()> {
    if a.n == 0 || a.dim == 0 || a.queries == 0 || a.k == 0 || a.k > a.n {
        return fail("--n, --dim, --queries and --k must be positive, and --k at most --n");
    }
    std::fs::create_dir_all(&a.output)?;
    let t = Instant::now();
    let (base, queries) = dataset(a.n, a.queries, a.dim, a.seed)?;
    let pb = bar(1, "truth", a.json);
    pb.set_length(1);
    let truth = vectrove::exact_knn(a.metric, a.dim, &base, &queries, a.k)?;
    pb.finish_and_clear();
    let gt: Vec<i32> = truth
        .iter()
        .flat_map(|r| r.iter().map(|&(i, _)| i as i32))
        .collect();
    let (bp, qp, gp) = (
        a.output.join("base.fvecs"),
        a.output.join("queries.fvecs"),
        a.output.join("groundtruth.ivecs"),
    );
    data::write_fvecs(&bp, a.dim, &base)?;
    data::write_fvecs(&qp, a.dim, &queries)?;
    data::write_ivecs(&gp, a.k, &gt)?;
    let secs = t.elapsed().as_secs_f64();
    if a.json {
        print_json(&json!({
            "base": bp.display().to_string(), "queries": qp.display().to_string(),
            "groundtruth": gp.display().to_string(), "points": a.n, "dim": a.dim,
            "k": a.k, "metric": a.metric.name(), "seconds": secs,
        }))?;
    } else {
        crate::outln!(
            "wrote {} ({} x {}), {} and {} ({} {} neighbours each) in {secs:.1} s",
            bp.display(),
            a.n,
            a.dim,
            qp.display(),
            gp.display(),
            a.k,
            a.metric
        );
    }
    Ok(())
}
