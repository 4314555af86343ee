//! `vectrove build`: an HNSW or IVF index from a vector file.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use vectrove::data::{self, Matrix};
use vectrove::file;
use vectrove::store::VectorType;
use vectrove::{Element, Hnsw, Ivf, IvfParams, Metric};

use crate::args::pool;
use crate::error::{CliError, CliResult, fail, with_context};
use crate::mem;
use crate::output::print_json;
use crate::progress::bar;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum IndexType {
    /// Graph index: the best recall for the time
    Hnsw,
    /// Inverted lists over k-means centroids (IVF-Flat)
    Ivf,
}

#[derive(Args)]
pub struct BuildArgs {
    /// Base vectors (.fvecs, .bvecs, .npy)
    #[arg(long)]
    input: PathBuf,
    /// hnsw or ivf
    #[arg(long, value_enum, default_value = "hnsw")]
    index_type: IndexType,
    /// IVF: number of lists (default 4 * sqrt(points))
    #[arg(long)]
    nlist: Option<usize>,
    /// IVF: most k-means iterations training the lists
    #[arg(long, default_value_t = 25)]
    iters: usize,
    /// Distance: cosine, l2, ip or hamming (hamming needs u8 input)
    #[arg(long, default_value = "cosine")]
    metric: Metric,
    /// Links per node on the upper levels
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// Links per node on level 0 (default 2 * m)
    #[arg(long)]
    m0: Option<usize>,
    /// Beam width while building
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Seed of the level generator
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
    /// HNSW: build with the batched algorithm, which gives the same index
    /// for a seed on any number of threads and machines. The default links
    /// points on all threads at once (as hnswlib does): faster, as good, but
    /// the graph depends on how the threads interleave
    #[arg(long)]
    deterministic: bool,
    /// Use only the first N vectors
    #[arg(long)]
    limit: Option<usize>,
    /// HNSW: keep the slots in insertion order. By default the points are
    /// renumbered before saving so that graph neighbours sit near each other
    /// in the file, which makes lazily read (mmap, paged) searches touch
    /// fewer pages; ids and results do not change
    #[arg(long)]
    no_reorder: bool,
    /// Also store compact codes, kept resident: sq8 (a byte a dimension) or
    /// sq4 (half a byte). Searches traverse on them and rerank the best
    /// candidates (--rerank) with exact distances. f32 vectors only
    #[arg(long)]
    quantize: Option<vectrove::Quantization>,
    /// How the index stores its vectors: f32, or f16 (half the file and
    /// memory, each value rounded to the nearest f16; values beyond
    /// +-65504 are an error). Searches still take f32 queries
    #[arg(long, default_value = "f32", value_parser = parse_vectors)]
    vectors: VectorType,
    /// Where to write the index
    #[arg(long)]
    output: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

fn parse_vectors(s: &str) -> Result<VectorType, String> {
    match s.parse() {
        Ok(t @ (VectorType::F32 | VectorType::F16)) => Ok(t),
        _ => Err(format!("`{s}` is not f32 or f16")),
    }
}

pub fn build(a: BuildArgs) -> CliResult<()> {
    if a.index_type == IndexType::Ivf {
        if a.no_reorder {
            // IVF files already keep the points of each list together.
            return fail("--no-reorder applies to --index-type hnsw");
        }
        if a.deterministic {
            return fail("--deterministic applies to --index-type hnsw");
        }
        return build_ivf(&a);
    }
    if a.nlist.is_some() {
        return fail("--nlist applies to --index-type ivf");
    }
    if a.metric == Metric::Hamming {
        if a.quantize.is_some() {
            return fail("--quantize needs f32 vectors: Hamming codes are compact already");
        }
        if a.vectors != VectorType::F32 {
            return fail("--vectors f16 needs f32 vectors: Hamming codes are bytes");
        }
        let m = data::read_u8(&a.input, a.limit)?;
        build_typed(&a, m, VectorType::U8)
    } else {
        let m = data::read_f32(&a.input, a.limit)?;
        build_typed(&a, m, a.vectors)
    }
}

fn build_typed<T: Element>(a: &BuildArgs, m: Matrix<T>, vectors: VectorType) -> CliResult<()> {
    let n = m.len();
    if n == 0 {
        return fail(format!("{}: no vectors", a.input.display()));
    }
    let mut builder = Hnsw::builder(m.dim, a.metric)
        .m(a.m)
        .ef_construction(a.ef_construction)
        .seed(a.seed);
    if let Some(m0) = a.m0 {
        builder = builder.m0(m0);
    }
    // Linked on the exact values (the rows kernels read f32 in place, and
    // no vector is decoded), then stored as asked before saving.
    let mut index = builder.build_with_store(vectrove::MemoryStore::<T>::new(m.dim)?)?;
    let pool = pool(a.threads)?;
    let threads = pool.current_num_threads();
    let pb = bar(n as u64, "building", a.json);
    let t = Instant::now();
    let ids: Vec<u64> = (0..n as u64).collect();
    let failed = |e: vectrove::Error| CliError::Message(format!("{}: {e}", a.input.display()));
    if a.deterministic {
        let chunk = (n / 100).max(1_000);
        for (ids, vecs) in ids.chunks(chunk).zip(m.data.chunks(chunk * m.dim)) {
            let r = pool.install(|| index.insert_many_parallel(ids, vecs));
            r.map_err(failed)?;
            pb.inc(ids.len() as u64);
        }
    } else {
        let progress = |done: usize| pb.set_position(done as u64);
        let r = pool.install(|| index.insert_many_concurrent_with(&ids, &m.data, &progress));
        r.map_err(failed)?;
    }
    pb.finish_and_clear();
    let build_s = t.elapsed().as_secs_f64();
    let dim = m.dim;
    // The input is in the index now; its memory makes room for the pass.
    drop(m);
    let reorder_s = if a.no_reorder {
        None
    } else {
        let t = Instant::now();
        index.reorder()?;
        Some(t.elapsed().as_secs_f64())
    };
    index.set_vector_type(vectors).map_err(failed)?;
    if let Some(q) = a.quantize {
        index.quantize(q)?;
    }
    with_context(file::save(&index, &a.output), &a.output)?;
    let bytes = std::fs::metadata(&a.output)?.len();
    if a.json {
        print_json(&json!({
            "points": n, "dim": dim, "metric": a.metric.name(),
            "m": index.params().m, "m0": index.params().m0,
            "ef_construction": a.ef_construction, "threads": threads,
            "build_seconds": build_s, "deterministic": a.deterministic,
            "reordered": reorder_s.is_some(),
            "quantize": a.quantize.map(|q| q.name()), "vectors": vectors.name(),
            "reorder_seconds": reorder_s, "file_bytes": bytes,
            "output": a.output.display().to_string(),
        }))?;
    } else {
        crate::outln!(
            "built {n} x {dim}-d {vectors} ({}, M={}, M0={}, ef_construction={}) on {threads} thread(s) in {build_s:.2} s",
            a.metric,
            index.params().m,
            index.params().m0,
            a.ef_construction
        );
        if let Some(s) = reorder_s {
            crate::outln!("renumbered the points for locality in {s:.2} s");
        }
        crate::outln!("wrote {} ({})", a.output.display(), mem::human(bytes));
    }
    Ok(())
}

fn build_ivf(a: &BuildArgs) -> CliResult<()> {
    if a.metric == Metric::Hamming {
        return fail("IVF indexes hold f32 vectors: use --metric l2, cosine or ip");
    }
    let m = data::read_f32(&a.input, a.limit)?;
    let n = m.len();
    if n == 0 {
        return fail(format!("{}: no vectors", a.input.display()));
    }
    // An explicit `--nlist 0` is refused by training, not taken as "auto".
    let nlist = a.nlist.unwrap_or_else(|| IvfParams::default_nlist(n));
    let params = IvfParams {
        nlist,
        iters: a.iters,
        seed: a.seed,
        ..IvfParams::default()
    };
    let pool = pool(a.threads)?;
    let threads = pool.current_num_threads();
    let input = vectrove::MemoryStore::from_flat(m.dim, &m.data)?;
    let t = Instant::now();
    // The quantiser trains on a random sample of at most 256 points a list.
    let kp = params.kmeans(a.metric);
    let trained_on = n.min(kp.k.saturating_mul(kp.max_points_per_centroid));
    let pb = bar(a.iters as u64, "training lists", a.json);
    let quantizer = pool.install(|| {
        let progress = |s: &vectrove::kmeans::IterationStats| {
            pb.set_position(s.iteration as u64);
            true
        };
        let spill: Option<vectrove::MemoryStore<f32>> = None;
        vectrove::KMeans::fit_with(&kp, &input, spill, progress)
    })?;
    pb.finish_and_clear();
    let train_s = t.elapsed().as_secs_f64();
    let store = vectrove::MemoryStore::with_type(m.dim, a.vectors)?;
    let mut index = Ivf::with_quantizer(quantizer, params, store)?;
    drop(input);
    // One batch: the index stores each list's points together.
    let ids: Vec<u64> = (0..n as u64).collect();
    let r = index.insert_many(&ids, &m.data);
    r.map_err(|e| CliError::Message(format!("{}: {e}", a.input.display())))?;
    if let Some(q) = a.quantize {
        index.quantize(q)?;
    }
    let build_s = t.elapsed().as_secs_f64();
    with_context(file::save(&index, &a.output), &a.output)?;
    let bytes = std::fs::metadata(&a.output)?.len();
    let sizes = index.list_sizes();
    let (min, max) = (
        sizes.iter().min().copied().unwrap_or(0),
        sizes.iter().max().copied().unwrap_or(0),
    );
    if a.json {
        print_json(&json!({
            "index_type": "ivf", "points": n, "dim": m.dim, "metric": a.metric.name(),
            "nlist": nlist, "iters": a.iters, "trained_on": trained_on, "threads": threads,
            "train_seconds": train_s, "build_seconds": build_s, "file_bytes": bytes,
            "list_min": min, "list_max": max, "quantize": a.quantize.map(|q| q.name()),
            "vectors": a.vectors.name(),
            "output": a.output.display().to_string(),
        }))?;
    } else {
        crate::outln!(
            "built IVF {n} x {}-d {} ({}, nlist={nlist}, lists of {min}..{max} points) on {threads} thread(s) in {build_s:.2} s ({train_s:.2} s training on {} points)",
            m.dim,
            a.vectors,
            a.metric,
            trained_on
        );
        crate::outln!("wrote {} ({})", a.output.display(), mem::human(bytes));
    }
    Ok(())
}
