//! `vectrove kmeans`: centroids of a vector file.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use indicatif::ProgressBar;
use serde_json::json;
use vectrove::data;
use vectrove::{FeatureStore, Metric};

use crate::args::pool;
use crate::error::{CliResult, fail};
use crate::output::print_json;
use crate::progress::bar;

#[derive(Args)]
pub struct KmeansArgs {
    /// Vectors to cluster (.fvecs, .bvecs, .npy)
    #[arg(long)]
    input: PathBuf,
    /// Number of clusters
    #[arg(long)]
    k: usize,
    /// Most Lloyd iterations
    #[arg(long, default_value_t = 25)]
    iters: usize,
    /// Seed of the sampling, the initialisation and the repairs
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// l2, cosine (spherical k-means) or ip
    #[arg(long, default_value = "l2")]
    metric: Metric,
    /// Stop when the objective improves by less than this fraction
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f64,
    /// How to start: kmeans++, random, or hierarchical (for k in the tens
    /// of thousands: about sqrt(k) parts, each clustered on its own, then
    /// refined by the iterations over all points)
    #[arg(long, default_value = "kmeans++", value_parser = crate::args::parse_init)]
    init: vectrove::kmeans::Init,
    /// Train on at most k times this many points (a random sample)
    #[arg(long, default_value_t = 256)]
    max_points_per_centroid: usize,
    /// Keep the vectors in temporary files instead of memory: the input is
    /// streamed to one and the training sample drawn into another, so
    /// training needs memory for the centroids and per-point bounds only
    #[arg(long)]
    on_disk: bool,
    /// Threads (default: all cores); the centroids are the same for any number
    #[arg(long)]
    threads: Option<usize>,
    /// Where to write the centroids (.fvecs)
    #[arg(long)]
    output: Option<PathBuf>,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

pub fn kmeans(a: KmeansArgs) -> CliResult<()> {
    use vectrove::kmeans::KMeansParams;
    // Named as the option, before the input is read (the core's message
    // names its own field).
    if a.max_points_per_centroid == 0 {
        return fail("--max-points-per-centroid must be at least 1");
    }
    let input = read_input(&a.input, a.on_disk)?;
    let params = KMeansParams {
        k: a.k,
        metric: a.metric,
        max_iters: a.iters,
        tolerance: a.tolerance,
        seed: a.seed,
        max_points_per_centroid: a.max_points_per_centroid,
        init: a.init,
    };
    let trained_on = input
        .len()
        .min(params.k.saturating_mul(params.max_points_per_centroid));
    let pool = pool(a.threads)?;
    let threads = pool.current_num_threads();
    let pb = bar(a.iters as u64, "k-means", a.json);
    let t = Instant::now();
    let (km, times) = pool.install(|| -> CliResult<_> {
        // The sample goes to a temporary file with --on-disk; otherwise
        // training reads the input, or a copy of the sample, in memory.
        match &input {
            Input::Memory(m) => train_timed(&params, m, None, &pb),
            Input::Disk(d) => {
                let spill = vectrove::stores::TempFileStore::new(d.dim())?;
                train_timed(&params, d, Some(spill), &pb)
            }
        }
    })?;
    pb.finish_and_clear();
    let total = t.elapsed().as_secs_f64();
    // The first iteration also pays for the initialisation.
    let per_iter = if times.len() > 1 {
        times[1..].iter().sum::<f64>() / (times.len() - 1) as f64
    } else {
        times.iter().sum::<f64>()
    };
    if let Some(out) = &a.output {
        data::write_fvecs(out, km.dim(), km.centroids())?;
    }
    let stats = km.stats();
    if a.json {
        print_json(&json!({
            "points": input.len(), "trained_on": trained_on, "dim": km.dim(), "k": km.k(),
            "metric": a.metric.name(), "init": a.init.name(), "on_disk": a.on_disk, "threads": threads,
            "iterations": stats.len(),
            "inertia": stats.last().map(|s| s.inertia), "seconds_per_iteration": per_iter,
            "first_iteration_seconds": times.first(), "total_seconds": total,
            "per_iteration": stats.iter().zip(&times).map(|(s, t)| json!({
                "iteration": s.iteration, "inertia": s.inertia, "repaired": s.repaired, "seconds": t,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        for (s, t) in stats.iter().zip(&times) {
            crate::outln!(
                "iteration {:>3}: inertia {:.1}, {} repaired, {:.3} s",
                s.iteration,
                s.inertia,
                s.repaired,
                t
            );
        }
        crate::outln!(
            "{} x {}-d ({} trained on{}), k={}, {threads} thread{}: {} iterations, {per_iter:.3} s per iteration, {total:.2} s in all",
            input.len(),
            km.dim(),
            trained_on,
            if a.on_disk { ", spilled to disk" } else { "" },
            km.k(),
            if threads == 1 { "" } else { "s" },
            stats.len()
        );
        if let Some(out) = &a.output {
            crate::outln!("wrote {}", out.display());
        }
    }
    Ok(())
}

/// The vectors to cluster: in memory, or streamed to a temporary file.
enum Input {
    Memory(vectrove::MemoryStore<f32>),
    Disk(vectrove::stores::TempFileStore<f32>),
}

impl Input {
    fn len(&self) -> usize {
        match self {
            Input::Memory(m) => m.len(),
            Input::Disk(d) => d.len(),
        }
    }
}

fn read_input(path: &std::path::Path, on_disk: bool) -> CliResult<Input> {
    use vectrove::FeatureStoreMut;
    let input = if on_disk {
        let info = data::inspect(path)?;
        let mut store = vectrove::stores::TempFileStore::<f32>::new(info.dim)?;
        store.reserve(info.rows);
        data::stream_f32(path, None, |rows| {
            rows.chunks_exact(info.dim)
                .try_for_each(|v| store.push(v).map(drop))
                .map_err(std::io::Error::other)
        })?;
        Input::Disk(store)
    } else {
        let m = data::read_f32(path, None)?;
        Input::Memory(vectrove::MemoryStore::from_flat(m.dim, &m.data)?)
    };
    if input.len() == 0 {
        return fail(format!("{}: no vectors", path.display()));
    }
    Ok(input)
}

/// Train on the current rayon pool, recording the seconds each iteration
/// took.
fn train_timed<S: FeatureStore<Elem = f32> + Sync>(
    params: &vectrove::kmeans::KMeansParams,
    store: &S,
    spill: Option<vectrove::stores::TempFileStore<f32>>,
    pb: &ProgressBar,
) -> CliResult<(vectrove::kmeans::KMeans, Vec<f64>)> {
    let mut times = Vec::new();
    let mut last = Instant::now();
    let km = vectrove::kmeans::KMeans::fit_with(params, store, spill, |s| {
        times.push(last.elapsed().as_secs_f64());
        last = Instant::now();
        pb.set_position(s.iteration as u64);
        true
    })?;
    Ok((km, times))
}
