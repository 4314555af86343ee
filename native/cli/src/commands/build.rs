//! `vectrove build`: an HNSW or IVF index from a vector file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde_json::{Value, json};
use vectrove::data::Matrix;
use vectrove::file;
use vectrove::store::VectorType;
use vectrove::{Element, Hnsw, Ivf, IvfParams, Metric};

use crate::args::pool;
use crate::error::{CliError, CliResult, fail, with_context};
use crate::input::{self, Role};
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
    /// Base vectors (.fvecs, .bvecs, .npy, or an ann-benchmarks .hdf5/.h5
    /// file, whose `train` dataset is read)
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    options: BuildOptions,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
    /// Use only the first N vectors (and the first N ids of --ids)
    #[arg(long)]
    limit: Option<usize>,
    /// Where to write the index
    #[arg(long)]
    output: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

/// How to build an index: the options `build` and `bench --input` share.
#[derive(Args)]
pub struct BuildOptions {
    /// The user id of every vector, in order: a text file of one decimal
    /// u64 a line, or a .u64/.bin file of little-endian u64s. Default: the
    /// row numbers 0, 1, 2, ...
    #[arg(long)]
    ids: Option<PathBuf>,
    /// hnsw or ivf
    #[arg(long, value_enum, default_value = "hnsw")]
    index_type: IndexType,
    /// IVF: number of lists (default 4 * sqrt(points))
    #[arg(long)]
    nlist: Option<usize>,
    /// IVF: most k-means iterations training the lists
    #[arg(long, default_value_t = 25)]
    iters: usize,
    /// IVF: how k-means starts: kmeans++ (default), random, or
    /// hierarchical (for nlist in the tens of thousands: far cheaper than
    /// k-means++ there, a slightly higher objective)
    #[arg(long, value_parser = crate::args::parse_init)]
    kmeans_init: Option<vectrove::kmeans::Init>,
    /// IVF: train the lists on at most nlist times this many points, a
    /// random sample (default 256)
    #[arg(long)]
    max_points_per_list: Option<usize>,
    /// Distance: cosine, l2, ip or hamming (hamming needs u8 input).
    /// Default: cosine, or what an HDF5 file's `distance` attribute names
    /// (angular: cosine, euclidean: l2)
    #[arg(long)]
    metric: Option<Metric>,
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
    /// HNSW: build with the batched algorithm, which gives the same index
    /// for a seed on any number of threads and machines. The default links
    /// points on all threads at once (as hnswlib does): faster, as good, but
    /// the graph depends on how the threads interleave
    #[arg(long)]
    deterministic: bool,
    /// HNSW: search for each point's neighbours on its f32 values. By
    /// default the build searches on 8-bit codes made for it (a byte a
    /// dimension and point, freed when it ends) and measures the candidates
    /// it finds exactly before linking them: a faster build of the same
    /// recall
    #[arg(long)]
    exact_build: bool,
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
}

/// What one build did: its JSON report and the lines `build` prints.
pub struct Built {
    pub json: Value,
    pub lines: Vec<String>,
    pub build_seconds: f64,
}

/// Everything a build reads and writes.
struct Job<'a> {
    input: &'a Path,
    o: &'a BuildOptions,
    metric: Metric,
    threads: Option<usize>,
    limit: Option<usize>,
    output: &'a Path,
    quiet: bool,
}

fn parse_vectors(s: &str) -> Result<VectorType, String> {
    match s.parse() {
        Ok(t @ (VectorType::F32 | VectorType::F16)) => Ok(t),
        _ => Err(format!("`{s}` is not f32 or f16")),
    }
}

pub fn build(a: BuildArgs) -> CliResult<()> {
    let built = build_index(&a.input, &a.options, a.threads, a.limit, &a.output, a.json)?;
    if a.json {
        print_json(&built.json)?;
    } else {
        for l in &built.lines {
            crate::outln!("{l}");
        }
    }
    Ok(())
}

/// Builds an index of `input` as `o` says and saves it to `output`
/// (progress bars unless `quiet`).
pub fn build_index(
    input: &Path,
    o: &BuildOptions,
    threads: Option<usize>,
    limit: Option<usize>,
    output: &Path,
    quiet: bool,
) -> CliResult<Built> {
    let metric = match o.metric {
        Some(m) => m,
        None => crate::input::hdf5_metric(input)?.unwrap_or(Metric::Cosine),
    };
    let a = Job {
        input,
        o,
        metric,
        threads,
        limit,
        output,
        quiet,
    };
    if o.index_type == IndexType::Ivf {
        if o.no_reorder {
            // IVF files already keep the points of each list together.
            return fail("--no-reorder applies to --index-type hnsw");
        }
        if o.deterministic {
            return fail("--deterministic applies to --index-type hnsw");
        }
        if o.exact_build {
            return fail("--exact-build applies to --index-type hnsw");
        }
        return build_ivf(&a);
    }
    if o.nlist.is_some() {
        return fail("--nlist applies to --index-type ivf");
    }
    if o.kmeans_init.is_some() {
        return fail("--kmeans-init applies to --index-type ivf");
    }
    if o.max_points_per_list.is_some() {
        return fail("--max-points-per-list applies to --index-type ivf");
    }
    if metric == Metric::Hamming {
        if o.quantize.is_some() {
            return fail("--quantize needs f32 vectors: Hamming codes are compact already");
        }
        if o.vectors != VectorType::F32 {
            return fail("--vectors f16 needs f32 vectors: Hamming codes are bytes");
        }
        let m = input::read_u8(input, Role::Base, limit)?;
        build_typed(&a, m, VectorType::U8)
    } else {
        let m = input::read_f32(input, Role::Base, limit)?;
        build_typed(&a, m, o.vectors)
    }
}

/// The ids of the `n` vectors read: `--ids`, or the row numbers.
fn ids_for(a: &Job, n: usize) -> CliResult<Vec<u64>> {
    match &a.o.ids {
        Some(p) => input::read_ids(p, n, a.limit.is_some()),
        None => Ok((0..n as u64).collect()),
    }
}

/// Inserts `ids` and their `vectors` into `index` on the threads of `pool`:
/// concurrently, or with the batched algorithm that gives the same graph
/// for a seed on any number of threads (`deterministic`). `pb` counts them.
pub fn link<T: Element>(
    index: &mut Hnsw<vectrove::MemoryStore<T>>,
    ids: &[u64],
    vectors: &[T],
    deterministic: bool,
    pool: &rayon::ThreadPool,
    pb: &indicatif::ProgressBar,
) -> vectrove::Result<()> {
    let progress = |done: usize| pb.set_position(done as u64);
    if deterministic {
        // In one call, so the build's codes are made once.
        pool.install(|| index.insert_many_parallel_with(ids, vectors, &progress))
    } else {
        pool.install(|| index.insert_many_concurrent_with(ids, vectors, &progress))
    }
}

fn build_typed<T: Element>(a: &Job, m: Matrix<T>, vectors: VectorType) -> CliResult<Built> {
    let (o, input, output) = (a.o, a.input, a.output);
    let n = m.len();
    if n == 0 {
        return fail(format!("{}: no vectors", input.display()));
    }
    let ids = ids_for(a, n)?;
    let mut builder = Hnsw::builder(m.dim, a.metric)
        .m(o.m)
        .ef_construction(o.ef_construction)
        .seed(o.seed)
        .build_on_codes(!o.exact_build);
    if let Some(m0) = o.m0 {
        builder = builder.m0(m0);
    }
    // Linked on the exact values (the rows kernels read f32 in place, and
    // no vector is decoded), then stored as asked before saving.
    let mut index = builder.build_with_store(vectrove::MemoryStore::<T>::new(m.dim)?)?;
    let pool = pool(a.threads)?;
    let threads = pool.current_num_threads();
    let pb = bar(n as u64, "building", a.quiet);
    let t = Instant::now();
    let failed = |e: vectrove::Error| CliError::Message(format!("{}: {e}", input.display()));
    link(&mut index, &ids, &m.data, o.deterministic, &pool, &pb).map_err(failed)?;
    pb.finish_and_clear();
    let build_s = t.elapsed().as_secs_f64();
    let dim = m.dim;
    // The input is in the index now; its memory makes room for the pass.
    drop(m);
    drop(ids);
    let reorder_s = if o.no_reorder {
        None
    } else {
        let t = Instant::now();
        index.reorder()?;
        Some(t.elapsed().as_secs_f64())
    };
    index.set_vector_type(vectors).map_err(failed)?;
    if let Some(q) = o.quantize {
        index.quantize(q)?;
    }
    with_context(file::save(&index, output), output)?;
    let bytes = std::fs::metadata(output)?.len();
    let json = json!({
        "points": n, "dim": dim, "metric": a.metric.name(),
        "m": index.params().m, "m0": index.params().m0,
        "ef_construction": o.ef_construction, "threads": threads,
        "build_seconds": build_s, "deterministic": o.deterministic,
        "exact_build": o.exact_build,
        "reordered": reorder_s.is_some(),
        "quantize": o.quantize.map(|q| q.name()), "vectors": vectors.name(),
        "reorder_seconds": reorder_s, "file_bytes": bytes,
        "ids": o.ids.as_ref().map(|p| p.display().to_string()),
        "output": output.display().to_string(),
    });
    let mut lines = vec![format!(
        "built {n} x {dim}-d {vectors} ({}, M={}, M0={}, ef_construction={}) on {threads} thread(s) in {build_s:.2} s",
        a.metric,
        index.params().m,
        index.params().m0,
        o.ef_construction
    )];
    if let Some(s) = reorder_s {
        lines.push(format!("renumbered the points for locality in {s:.2} s"));
    }
    lines.push(format!(
        "wrote {} ({})",
        output.display(),
        mem::human(bytes)
    ));
    Ok(Built {
        json,
        lines,
        build_seconds: build_s + reorder_s.unwrap_or(0.0),
    })
}

fn build_ivf(a: &Job) -> CliResult<Built> {
    let (o, input, output) = (a.o, a.input, a.output);
    if a.metric == Metric::Hamming {
        return fail("IVF indexes hold f32 vectors: use --metric l2, cosine or ip");
    }
    let m = input::read_f32(input, Role::Base, a.limit)?;
    let n = m.len();
    if n == 0 {
        return fail(format!("{}: no vectors", input.display()));
    }
    let ids = ids_for(a, n)?;
    // An explicit `--nlist 0` is refused by training, not taken as "auto".
    let nlist = o.nlist.unwrap_or_else(|| IvfParams::default_nlist(n));
    if o.max_points_per_list == Some(0) {
        return fail("--max-points-per-list must be at least 1");
    }
    let defaults = IvfParams::default();
    let params = IvfParams {
        nlist,
        iters: o.iters,
        seed: o.seed,
        init: o.kmeans_init.unwrap_or(defaults.init),
        max_points_per_centroid: o
            .max_points_per_list
            .unwrap_or(defaults.max_points_per_centroid),
    };
    let pool = pool(a.threads)?;
    let threads = pool.current_num_threads();
    let store = vectrove::MemoryStore::from_flat(m.dim, &m.data)?;
    let t = Instant::now();
    // The quantiser trains on a random sample of at most
    // --max-points-per-list points a list.
    let kp = params.kmeans(a.metric);
    let trained_on = n.min(kp.k.saturating_mul(kp.max_points_per_centroid));
    let pb = bar(o.iters as u64, "training lists", a.quiet);
    let quantizer = pool.install(|| {
        let progress = |s: &vectrove::kmeans::IterationStats| {
            pb.set_position(s.iteration as u64);
            true
        };
        let spill: Option<vectrove::MemoryStore<f32>> = None;
        vectrove::KMeans::fit_with(&kp, &store, spill, progress)
    })?;
    pb.finish_and_clear();
    let train_s = t.elapsed().as_secs_f64();
    let lists = vectrove::MemoryStore::with_type(m.dim, o.vectors)?;
    let mut index = Ivf::with_quantizer(quantizer, params, lists)?;
    drop(store);
    // One batch: the index stores each list's points together.
    let r = index.insert_many(&ids, &m.data);
    r.map_err(|e| CliError::Message(format!("{}: {e}", input.display())))?;
    if let Some(q) = o.quantize {
        index.quantize(q)?;
    }
    let build_s = t.elapsed().as_secs_f64();
    with_context(file::save(&index, output), output)?;
    let bytes = std::fs::metadata(output)?.len();
    let sizes = index.list_sizes();
    let (min, max) = (
        sizes.iter().min().copied().unwrap_or(0),
        sizes.iter().max().copied().unwrap_or(0),
    );
    let json = json!({
        "index_type": "ivf", "points": n, "dim": m.dim, "metric": a.metric.name(),
        "nlist": nlist, "iters": o.iters, "kmeans_init": params.init.name(),
        "trained_on": trained_on, "threads": threads,
        "train_seconds": train_s, "build_seconds": build_s, "file_bytes": bytes,
        "list_min": min, "list_max": max, "quantize": o.quantize.map(|q| q.name()),
        "vectors": o.vectors.name(),
        "ids": o.ids.as_ref().map(|p| p.display().to_string()),
        "output": output.display().to_string(),
    });
    let lines = vec![
        format!(
            "built IVF {n} x {}-d {} ({}, nlist={nlist}, lists of {min}..{max} points) on {threads} thread(s) in {build_s:.2} s ({train_s:.2} s training on {trained_on} points)",
            m.dim, o.vectors, a.metric,
        ),
        format!("wrote {} ({})", output.display(), mem::human(bytes)),
    ];
    Ok(Built {
        json,
        lines,
        build_seconds: build_s,
    })
}
