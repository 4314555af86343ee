//! Command-line parsing and the commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde_json::{Value, json};

use super::mem::{self, MemoryUsage};
use super::plot::{self, Series};
use vectrove::data::{self, Matrix};
use vectrove::file::{self, FileStore, OpenOptions, Storage};
use vectrove::rng::SplitMix64;
use vectrove::{Element, FeatureStore, Hnsw, Ivf, IvfParams, Metric, Neighbor};

/// A one-line error for the user.
pub struct CliError(String);

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

type CliResult<T> = Result<T, CliError>;

fn fail<T>(msg: impl Into<String>) -> CliResult<T> {
    Err(CliError(msg.into()))
}

#[derive(Parser)]
#[command(
    name = "vectrove",
    version,
    about = "HNSW vector search: build, search, benchmark and inspect index files",
    long_about = "HNSW vector search: build, search, benchmark and inspect index files.\n\n\
        Vector inputs: .fvecs, .bvecs (u8, for hamming), .npy (f32 or u8); ground truth: .ivecs or .npy (int32).\n\
        Add --json to any command for machine-readable output on stdout."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an index from a vector file and save it
    Build(BuildArgs),
    /// Search an index with a file of queries and write the ids found
    Search(SearchArgs),
    /// Measure recall@k, QPS, latency and memory for several ef values
    Bench(BenchArgs),
    /// Describe an index file and check every checksum
    Info(InfoArgs),
    /// Generate a data set, build, save, reopen memory-mapped and search it
    Demo(DemoArgs),
    /// Write a generated data set with exact ground truth (for benchmarks)
    Generate(GenerateArgs),
    /// Cluster a vector file with k-means and write the centroids
    Kmeans(KmeansArgs),
}

#[derive(Args)]
struct KmeansArgs {
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
    /// Train on at most k times this many points (a random sample)
    #[arg(long, default_value_t = 256)]
    max_points_per_centroid: usize,
    /// Spill the training sample to a temporary file instead of memory
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

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum IndexType {
    /// Graph index: the best recall for the time
    Hnsw,
    /// Inverted lists over k-means centroids (IVF-Flat)
    Ivf,
}

#[derive(Args)]
struct BuildArgs {
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
    /// Threads (default: all cores); the index is the same for any number
    #[arg(long)]
    threads: Option<usize>,
    /// Use only the first N vectors
    #[arg(long)]
    limit: Option<usize>,
    /// Where to write the index
    #[arg(long)]
    output: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct StorageArgs {
    /// Where the vectors live while searching: memory, mmap or paged
    /// (several, comma-separated, for bench)
    #[arg(long, default_value = "memory", value_delimiter = ',')]
    storage: Vec<String>,
    /// Page cache budget for --storage paged, in MiB
    #[arg(long, default_value_t = 64)]
    cache_mb: usize,
}

impl StorageArgs {
    fn modes(&self) -> CliResult<Vec<Storage>> {
        self.storage
            .iter()
            .map(|s| {
                let mode: Storage = s.parse().map_err(CliError)?;
                Ok(match mode {
                    Storage::Paged { .. } => Storage::Paged {
                        cache_bytes: self
                            .cache_mb
                            .checked_mul(1 << 20)
                            .ok_or_else(|| CliError("--cache-mb is too large".into()))?,
                    },
                    m => m,
                })
            })
            .collect()
    }
}

#[derive(Args)]
struct SearchArgs {
    /// Index file
    #[arg(long)]
    index: PathBuf,
    /// Query vectors
    #[arg(long)]
    queries: PathBuf,
    /// Results per query
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Beam width of the search (HNSW)
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Lists scanned per query (IVF)
    #[arg(long, default_value_t = 16)]
    nprobe: usize,
    #[command(flatten)]
    storage: StorageArgs,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
    /// Where to write the ids (.ivecs; -1 pads short result lists)
    #[arg(long)]
    output: Option<PathBuf>,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Index file
    #[arg(long)]
    index: PathBuf,
    /// Query vectors
    #[arg(long)]
    queries: PathBuf,
    /// Exact neighbours of every query (.ivecs or int32 .npy)
    #[arg(long)]
    groundtruth: PathBuf,
    /// Results per query
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Beam widths, comma-separated (HNSW)
    #[arg(long, default_value = "16,32,64,128", value_delimiter = ',')]
    ef: Vec<usize>,
    /// Lists scanned per query, comma-separated (IVF)
    #[arg(long, default_value = "1,4,16,64", value_delimiter = ',')]
    nprobe: Vec<usize>,
    #[command(flatten)]
    storage: StorageArgs,
    /// Search threads (QPS counts all of them)
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Use only the first N queries
    #[arg(long)]
    limit: Option<usize>,
    /// Skip the untimed warm-up pass over the queries
    #[arg(long)]
    no_warmup: bool,
    /// Draw recall against QPS into this SVG file
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Add the runs of an earlier `bench --json` output to the plot (repeatable)
    #[arg(long)]
    compare: Vec<PathBuf>,
    /// Name of this run in the plot (default: the storage mode)
    #[arg(long)]
    label: Option<String>,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct InfoArgs {
    /// Index file
    index: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DemoArgs {
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

#[derive(Args)]
struct GenerateArgs {
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

/// Entry point: parse, run, print one line on error.
pub fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown")
            .replace('\n', " ");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("vectrove: internal error{at}: {msg}");
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(a) => build(a),
        Command::Search(a) => search(a),
        Command::Bench(a) => bench(a),
        Command::Info(a) => info(a),
        Command::Demo(a) => demo(a),
        Command::Generate(a) => generate(a),
        Command::Kmeans(a) => kmeans(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(msg)) => {
            eprintln!("vectrove: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn pool(threads: Option<usize>) -> CliResult<rayon::ThreadPool> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        if t == 0 {
            return fail("--threads must be at least 1");
        }
        b = b.num_threads(t);
    }
    Ok(b.build()?)
}

fn bar(len: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn with_context<T, E: std::fmt::Display>(r: Result<T, E>, path: &Path) -> CliResult<T> {
    r.map_err(|e| CliError(format!("{}: {e}", path.display())))
}

// ---------------------------------------------------------------- build

fn build(a: BuildArgs) -> CliResult<()> {
    if a.index_type == IndexType::Ivf {
        return build_ivf(&a);
    }
    if a.nlist.is_some() {
        return fail("--nlist applies to --index-type ivf");
    }
    if a.metric == Metric::Hamming {
        let m = data::read_u8(&a.input, a.limit)?;
        build_typed(&a, m, vectrove::MemoryStore::<u8>::new)
    } else {
        let m = data::read_f32(&a.input, a.limit)?;
        build_typed(&a, m, vectrove::MemoryStore::<f32>::new)
    }
}

fn build_typed<T: Element>(
    a: &BuildArgs,
    m: Matrix<T>,
    store: fn(usize) -> vectrove::Result<vectrove::MemoryStore<T>>,
) -> CliResult<()> {
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
    let mut index = builder.build_with_store(store(m.dim)?)?;
    let pool = pool(a.threads)?;
    let threads = pool.current_num_threads();
    let pb = bar(n as u64, "building", a.json);
    let t = Instant::now();
    let chunk = (n / 100).max(1_000);
    let ids: Vec<u64> = (0..n as u64).collect();
    for (ids, vecs) in ids.chunks(chunk).zip(m.data.chunks(chunk * m.dim)) {
        // The batched build on any number of threads, so a command writes
        // the same file on every machine.
        let r = pool.install(|| index.insert_many_parallel(ids, vecs));
        r.map_err(|e| CliError(format!("{}: {e}", a.input.display())))?;
        pb.inc(ids.len() as u64);
    }
    pb.finish_and_clear();
    let build_s = t.elapsed().as_secs_f64();
    with_context(file::save(&index, &a.output), &a.output)?;
    let bytes = std::fs::metadata(&a.output)?.len();
    if a.json {
        print_json(&json!({
            "points": n, "dim": m.dim, "metric": a.metric.name(),
            "m": index.params().m, "m0": index.params().m0,
            "ef_construction": a.ef_construction, "threads": threads,
            "build_seconds": build_s, "file_bytes": bytes,
            "output": a.output.display().to_string(),
        }));
    } else {
        println!(
            "built {n} x {}-d ({}, M={}, M0={}, ef_construction={}) on {threads} thread(s) in {build_s:.2} s",
            m.dim,
            a.metric,
            index.params().m,
            index.params().m0,
            a.ef_construction
        );
        println!("wrote {} ({})", a.output.display(), mem::human(bytes));
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
    let nlist = a
        .nlist
        .unwrap_or_else(|| ((4.0 * (n as f64).sqrt()).round() as usize).clamp(1, n));
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
    let slots = vectrove::kmeans::sample_slots(&kp, n);
    let pb = bar(a.iters as u64, "training lists", a.json);
    let quantizer = pool.install(|| -> CliResult<_> {
        let progress = |s: &vectrove::kmeans::IterationStats| {
            pb.set_position(s.iteration as u64);
            true
        };
        Ok(if slots.len() == n {
            vectrove::KMeans::train_parallel(&kp, &input, progress)?
        } else {
            let mut sample = vectrove::MemoryStore::new(m.dim)?;
            vectrove::kmeans::copy_sample(&input, &slots, &mut sample)?;
            vectrove::KMeans::train_parallel(&kp, &sample, progress)?
        })
    })?;
    pb.finish_and_clear();
    let train_s = t.elapsed().as_secs_f64();
    let mut index = Ivf::with_quantizer(quantizer, params, vectrove::MemoryStore::new(m.dim)?)?;
    drop(input);
    // One batch: the index stores each list's points together.
    let ids: Vec<u64> = (0..n as u64).collect();
    let r = index.insert_many(&ids, &m.data);
    r.map_err(|e| CliError(format!("{}: {e}", a.input.display())))?;
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
            "nlist": nlist, "iters": a.iters, "trained_on": slots.len(), "threads": threads,
            "train_seconds": train_s, "build_seconds": build_s, "file_bytes": bytes,
            "list_min": min, "list_max": max, "output": a.output.display().to_string(),
        }));
    } else {
        println!(
            "built IVF {n} x {}-d ({}, nlist={nlist}, lists of {min}..{max} points) on {threads} thread(s) in {build_s:.2} s ({train_s:.2} s training on {} points)",
            m.dim,
            a.metric,
            slots.len()
        );
        println!("wrote {} ({})", a.output.display(), mem::human(bytes));
    }
    Ok(())
}

// ---------------------------------------------------------------- opening

/// An opened index of either element type.
enum AnyIndex {
    F32(Hnsw<FileStore<f32>>),
    U8(Hnsw<FileStore<u8>>),
    Ivf(Ivf<FileStore<f32>>),
}

fn open_any(path: &Path, storage: Storage) -> CliResult<AnyIndex> {
    let header = with_context(file::read_header(path), path)?;
    let opts = OpenOptions::new(storage);
    Ok(if header.kind == vectrove::format::IndexKind::Ivf {
        AnyIndex::Ivf(with_context(file::open_ivf_with(path, opts), path)?)
    } else if header.elem == u8::CODE {
        AnyIndex::U8(with_context(file::open_with(path, opts), path)?)
    } else {
        AnyIndex::F32(with_context(file::open_with(path, opts), path)?)
    })
}

/// Queries in the element type of an index.
enum AnyQueries {
    F32(Matrix<f32>),
    U8(Matrix<u8>),
}

/// Run `$body` with `$ix` bound to the typed index and `$q` to the queries
/// read in its element type.
macro_rules! typed {
    ($any:expr, $queries:expr, $limit:expr, |$ix:ident, $q:ident| $body:expr) => {
        match $any {
            AnyIndex::F32($ix) => {
                let $q = data::read_f32($queries, $limit)?;
                $body
            }
            AnyIndex::Ivf($ix) => {
                let $q = data::read_f32($queries, $limit)?;
                $body
            }
            AnyIndex::U8($ix) => {
                let $q = data::read_u8($queries, $limit)?;
                $body
            }
        }
    };
}

/// What search and bench need of an index: its dimension and a search with
/// one speed/recall knob (ef for HNSW, nprobe for IVF).
trait Searchable: Sync {
    type Elem: Element;
    /// Name of the knob.
    const KNOB: &'static str;
    fn dim(&self) -> usize;
    fn search_with(
        &self,
        q: &[Self::Elem],
        k: usize,
        knob: usize,
    ) -> vectrove::Result<Vec<Neighbor>>;
}

impl<S: FeatureStore + Sync> Searchable for Hnsw<S> {
    type Elem = S::Elem;
    const KNOB: &'static str = "ef";
    fn dim(&self) -> usize {
        Hnsw::dim(self)
    }
    fn search_with(&self, q: &[S::Elem], k: usize, ef: usize) -> vectrove::Result<Vec<Neighbor>> {
        self.search(q, k, ef)
    }
}

impl<S: FeatureStore<Elem = f32> + Sync> Searchable for Ivf<S> {
    type Elem = f32;
    const KNOB: &'static str = "nprobe";
    fn dim(&self) -> usize {
        Ivf::dim(self)
    }
    fn search_with(&self, q: &[f32], k: usize, nprobe: usize) -> vectrove::Result<Vec<Neighbor>> {
        self.search(q, k, nprobe)
    }
}

fn check_queries<I: Searchable>(ix: &I, q: &Matrix<I::Elem>, path: &Path) -> CliResult<()> {
    if q.dim != ix.dim() {
        return fail(format!(
            "{}: queries have dimension {}, the index {}",
            path.display(),
            q.dim,
            ix.dim()
        ));
    }
    if q.is_empty() {
        return fail(format!("{}: no queries", path.display()));
    }
    Ok(())
}

// ---------------------------------------------------------------- search

fn search(a: SearchArgs) -> CliResult<()> {
    let modes = a.storage.modes()?;
    let [storage] = modes[..] else {
        return fail("search takes one --storage mode");
    };
    let pool = pool(a.threads)?;
    let any = open_any(&a.index, storage)?;
    typed!(any, &a.queries, None, |ix, q| search_typed(
        &a, &ix, &q, &pool
    ))
}

fn search_typed<I: Searchable>(
    a: &SearchArgs,
    ix: &I,
    q: &Matrix<I::Elem>,
    pool: &rayon::ThreadPool,
) -> CliResult<()> {
    check_queries(ix, q, &a.queries)?;
    if a.k == 0 || a.k > 1 << 16 {
        return fail("--k must be between 1 and 65536");
    }
    let knob = if I::KNOB == "ef" { a.ef } else { a.nprobe };
    let t = Instant::now();
    let results: Vec<Vec<u64>> = pool.install(|| {
        q.data
            .par_chunks(q.dim)
            .map(|v| {
                ix.search_with(v, a.k, knob)
                    .map(|r| r.iter().map(|n| n.id).collect())
            })
            .collect::<vectrove::Result<_>>()
    })?;
    let secs = t.elapsed().as_secs_f64();
    if let Some(out) = &a.output {
        let mut flat = Vec::with_capacity(results.len() * a.k);
        for r in &results {
            for i in 0..a.k {
                let id = match r.get(i) {
                    Some(&id) => i32::try_from(id).map_err(|_| {
                        CliError(format!(
                            "id {id} does not fit the 32-bit integers of .ivecs"
                        ))
                    })?,
                    None => -1,
                };
                flat.push(id);
            }
        }
        data::write_ivecs(out, a.k, &flat)?;
    }
    let nq = results.len();
    if a.json {
        print_json(&json!({
            "queries": nq, "k": a.k, I::KNOB: knob, "seconds": secs,
            "qps": nq as f64 / secs, "threads": pool.current_num_threads(),
            "output": a.output.as_ref().map(|p| p.display().to_string()),
        }));
    } else {
        println!(
            "{nq} queries, k={}, {}={knob} on {} thread(s): {secs:.3} s ({:.0} QPS)",
            a.k,
            I::KNOB,
            pool.current_num_threads(),
            nq as f64 / secs
        );
        if let Some(out) = &a.output {
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- bench

struct Row {
    knob: usize,
    recall: f64,
    qps: f64,
    p50_us: f64,
    p99_us: f64,
    mem: Option<MemoryUsage>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn mem_json(m: Option<MemoryUsage>) -> Value {
    match m {
        Some(m) => {
            json!({"rss_bytes": m.rss_bytes, "private_bytes": m.private_bytes, "file_bytes": m.file_bytes})
        }
        None => Value::Null,
    }
}

fn mem_text(m: Option<MemoryUsage>) -> String {
    match m {
        Some(m) => format!(
            "{} ({} private)",
            mem::human(m.rss_bytes),
            mem::human(m.private_bytes)
        ),
        None => "n/a".into(),
    }
}

fn bench(a: BenchArgs) -> CliResult<()> {
    if a.k == 0 || a.k > 1 << 16 || a.ef.is_empty() || a.nprobe.is_empty() {
        return fail("--k must be between 1 and 65536, and --ef and --nprobe not empty");
    }
    let gt = data::read_i32(&a.groundtruth, a.limit)?;
    if gt.dim < a.k {
        return fail(format!(
            "{}: ground truth has {} neighbours per query, fewer than --k {}",
            a.groundtruth.display(),
            gt.dim,
            a.k
        ));
    }
    let pool = pool(Some(a.threads))?;
    // The queries are read before the index is opened, so the memory
    // figures after opening and after the queries differ by the index only.
    let header = with_context(file::read_header(&a.index), &a.index)?;
    let queries = if header.elem == u8::CODE {
        AnyQueries::U8(data::read_u8(&a.queries, a.limit)?)
    } else {
        AnyQueries::F32(data::read_f32(&a.queries, a.limit)?)
    };
    let mut runs = Vec::new();
    let mut series = Vec::new();
    for storage in a.storage.modes()? {
        let t = Instant::now();
        let any = open_any(&a.index, storage)?;
        let open_s = t.elapsed().as_secs_f64();
        let after_open = mem::current();
        let (knob, rows) = match (any, &queries) {
            (AnyIndex::F32(ix), AnyQueries::F32(q)) => ("ef", bench_typed(&a, &ix, q, &gt, &pool)?),
            (AnyIndex::U8(ix), AnyQueries::U8(q)) => ("ef", bench_typed(&a, &ix, q, &gt, &pool)?),
            (AnyIndex::Ivf(ix), AnyQueries::F32(q)) => {
                ("nprobe", bench_typed(&a, &ix, q, &gt, &pool)?)
            }
            _ => return fail(format!("{}: changed while benchmarking", a.index.display())),
        };

        let label = match &a.label {
            Some(l) if a.storage.storage.len() == 1 => l.clone(),
            Some(l) => format!("{l} ({})", storage.name()),
            None => format!("vectrove {}", storage.name()),
        };
        if !a.json {
            println!(
                "{label}: opened in {open_s:.3} s, memory after opening {}",
                mem_text(after_open)
            );
            println!(
                "{:>6} {:>9} {:>10} {:>10} {:>10}  memory after queries",
                knob, "recall@k", "QPS", "p50 us", "p99 us"
            );
            for r in &rows {
                println!(
                    "{:>6} {:>9.4} {:>10.0} {:>10.1} {:>10.1}  {}",
                    r.knob,
                    r.recall,
                    r.qps,
                    r.p50_us,
                    r.p99_us,
                    mem_text(r.mem)
                );
            }
        }
        series.push(Series {
            label: label.clone(),
            points: rows.iter().map(|r| (r.recall, r.qps)).collect(),
        });
        runs.push(json!({
            "label": label, "storage": storage.name(), "open_seconds": open_s,
            "threads": a.threads, "k": a.k, "memory_after_open": mem_json(after_open),
            "rows": rows.iter().map(|r| json!({
                knob: r.knob, "recall": r.recall, "qps": r.qps, "p50_us": r.p50_us,
                "p99_us": r.p99_us, "memory": mem_json(r.mem),
            })).collect::<Vec<_>>(),
        }));
    }
    if let Some(path) = &a.plot {
        for c in &a.compare {
            series.extend(read_runs(c)?);
        }
        let title = format!("recall@{} vs QPS, {} thread(s)", a.k, a.threads);
        plot::recall_qps_svg(path, &title, &series)
            .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
        if !a.json {
            println!("wrote {}", path.display());
        }
    }
    if a.json {
        print_json(&json!({ "index": a.index.display().to_string(), "runs": runs }));
    }
    Ok(())
}

/// The runs of an earlier `bench --json` output, as plot series.
fn read_runs(path: &Path) -> CliResult<Vec<Series>> {
    let text = with_context(std::fs::read_to_string(path), path)?;
    let v: Value = with_context(serde_json::from_str(&text), path)?;
    let Some(runs) = v.get("runs").and_then(Value::as_array) else {
        return fail(format!(
            "{}: not a `vectrove bench --json` output",
            path.display()
        ));
    };
    let mut out = Vec::new();
    for r in runs {
        let label = r.get("label").and_then(Value::as_str).unwrap_or("run");
        let points = r
            .get("rows")
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .filter_map(|row| {
                        Some((row.get("recall")?.as_f64()?, row.get("qps")?.as_f64()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Series {
            label: label.to_string(),
            points,
        });
    }
    Ok(out)
}

fn bench_typed<I: Searchable>(
    a: &BenchArgs,
    ix: &I,
    q: &Matrix<I::Elem>,
    gt: &Matrix<i32>,
    pool: &rayon::ThreadPool,
) -> CliResult<Vec<Row>> {
    check_queries(ix, q, &a.queries)?;
    let nq = q.len();
    if gt.len() < nq {
        return fail(format!(
            "{}: {} ground-truth rows for {nq} queries",
            a.groundtruth.display(),
            gt.len()
        ));
    }
    // Each query reports its latency and how many true neighbours it found,
    // so nothing but two numbers a query is kept.
    let knobs = if I::KNOB == "ef" { &a.ef } else { &a.nprobe };
    let run = |knob: usize| -> vectrove::Result<Vec<(Duration, usize)>> {
        pool.install(|| {
            q.data
                .par_chunks(q.dim)
                .enumerate()
                .with_max_len(16)
                .map(|(i, v)| {
                    let t = Instant::now();
                    let r = ix.search_with(v, a.k, knob)?;
                    let d = t.elapsed();
                    let truth = &gt.row(i)[..a.k];
                    let hits = r
                        .iter()
                        .filter(|n| truth.iter().any(|&t| i64::from(t) == n.id as i64))
                        .count();
                    Ok((d, hits))
                })
                .collect()
        })
    };
    if !a.no_warmup {
        run(knobs[0])?;
    }
    let mut rows = Vec::new();
    let pb = bar(knobs.len() as u64, "bench", a.json);
    for &knob in knobs {
        let t = Instant::now();
        let out = run(knob)?;
        let wall = t.elapsed().as_secs_f64();
        let hits: usize = out.iter().map(|o| o.1).sum();
        let mut lat: Vec<Duration> = out.iter().map(|o| o.0).collect();
        lat.sort_unstable();
        rows.push(Row {
            knob,
            recall: hits as f64 / (nq * a.k) as f64,
            qps: nq as f64 / wall,
            p50_us: percentile(&lat, 0.50),
            p99_us: percentile(&lat, 0.99),
            mem: mem::current(),
        });
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(rows)
}

// ---------------------------------------------------------------- info

fn info(a: InfoArgs) -> CliResult<()> {
    let header = with_context(file::read_header(&a.index), &a.index)?;
    // Opening with a small page cache checks every checksum and invariant
    // without loading the vectors.
    let storage = Storage::Paged {
        cache_bytes: (1 << 20).max(4 * header.vectors().stride),
    };
    let any = open_any(&a.index, storage)?;
    let (len, slots, params, max_level, graph_bytes) = match &any {
        AnyIndex::F32(ix) => (
            ix.len(),
            ix.slot_count(),
            ix.params(),
            ix.max_level(),
            ix.graph_bytes(),
        ),
        AnyIndex::U8(ix) => (
            ix.len(),
            ix.slot_count(),
            ix.params(),
            ix.max_level(),
            ix.graph_bytes(),
        ),
        AnyIndex::Ivf(ix) => return info_ivf(&a, &header, ix),
    };
    let v = header.vectors();
    let sections = sections_json(&header);
    if a.json {
        print_json(&json!({
            "file": a.index.display().to_string(), "format_version": header.version,
            "kind": header.kind.name(), "element": vectrove::format::elem_name(header.elem),
            "metric": header.metric.name(), "dim": header.dim, "points": len, "slots": slots,
            "deleted": slots - len, "m": params.m, "m0": params.m0,
            "ef_construction": params.ef_construction, "seed": params.seed,
            "max_level": max_level, "file_bytes": header.file_len,
            "vectors_offset": v.offset, "vector_stride": v.stride,
            "graph_memory_bytes": graph_bytes, "sections": sections, "checksums": "ok",
        }));
        return Ok(());
    }
    println!("{}", a.index.display());
    println!(
        "  format       vectrove v{} ({} index)",
        header.version,
        header.kind.name()
    );
    println!(
        "  vectors      {len} live, {} deleted, {}-d {}, metric {}",
        slots - len,
        header.dim,
        vectrove::format::elem_name(header.elem),
        header.metric
    );
    println!(
        "  parameters   M={} M0={} ef_construction={} seed={} top level {max_level}",
        params.m, params.m0, params.ef_construction, params.seed
    );
    println!(
        "  file         {} (vectors at byte {}, {} bytes each); graph in memory {}",
        mem::human(header.file_len),
        v.offset,
        v.stride,
        mem::human(graph_bytes as u64)
    );
    print_sections(&header);
    Ok(())
}

fn sections_json(header: &vectrove::format::Header) -> Vec<Value> {
    header
        .sections
        .iter()
        .map(|s| json!({"tag": s.name(), "offset": s.offset, "bytes": s.len, "crc32": format!("{:08x}", s.crc)}))
        .collect()
}

fn print_sections(header: &vectrove::format::Header) {
    println!("  sections");
    for s in &header.sections {
        println!(
            "    {:<5} {:>12} bytes at {:>10}  crc32 {:08x}",
            s.name(),
            s.len,
            s.offset,
            s.crc
        );
    }
    println!("  checksums    ok");
}

fn info_ivf(
    a: &InfoArgs,
    header: &vectrove::format::Header,
    ix: &Ivf<FileStore<f32>>,
) -> CliResult<()> {
    let p = ix.params();
    let mut sizes = ix.list_sizes();
    sizes.sort_unstable();
    let (min, median, max) = (sizes[0], sizes[sizes.len() / 2], sizes[sizes.len() - 1]);
    let (len, slots) = (ix.len(), ix.slot_count());
    let v = header.vectors();
    if a.json {
        print_json(&json!({
            "file": a.index.display().to_string(), "format_version": header.version,
            "kind": header.kind.name(), "element": vectrove::format::elem_name(header.elem),
            "metric": header.metric.name(), "dim": header.dim, "points": len, "slots": slots,
            "deleted": slots - len, "nlist": p.nlist, "iters": p.iters, "seed": p.seed,
            "max_points_per_centroid": p.max_points_per_centroid,
            "list_min": min, "list_median": median, "list_max": max,
            "file_bytes": header.file_len, "vectors_offset": v.offset, "vector_stride": v.stride,
            "sections": sections_json(header), "checksums": "ok",
        }));
        return Ok(());
    }
    println!("{}", a.index.display());
    println!(
        "  format       vectrove v{} ({} index)",
        header.version,
        header.kind.name()
    );
    println!(
        "  vectors      {len} live, {} deleted, {}-d f32, metric {}",
        slots - len,
        header.dim,
        header.metric
    );
    println!(
        "  parameters   nlist={} (trained {} iterations, seed {}); lists hold {min} / {median} / {max} points (min / median / max)",
        p.nlist, p.iters, p.seed
    );
    println!(
        "  file         {} (vectors at byte {}, {} bytes each)",
        mem::human(header.file_len),
        v.offset,
        v.stride
    );
    print_sections(header);
    Ok(())
}

// ---------------------------------------------------------------- data generation

/// Gaussian clusters: a point is a random centre plus noise, so the data has
/// the neighbourhood structure of real embeddings rather than uniform noise.
fn generate_points(n: usize, dim: usize, seed: u64, centres: &[f32]) -> Vec<f32> {
    let n_centres = centres.len() / dim;
    // Chunks get their own generators (seeded from the chunk number), so the
    // data is the same whatever the thread count.
    const CHUNK: usize = 4096;
    let mut out = vec![0f32; n * dim];
    out.par_chunks_mut(CHUNK * dim)
        .enumerate()
        .for_each(|(c, block)| {
            let mut rng = SplitMix64::new(seed ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for v in block.chunks_exact_mut(dim) {
                let centre = rng.below(n_centres as u64) as usize;
                let base = &centres[centre * dim..(centre + 1) * dim];
                for (x, &b) in v.iter_mut().zip(base) {
                    *x = b + 0.35 * gaussian(&mut rng);
                }
            }
        });
    out
}

fn gaussian(rng: &mut SplitMix64) -> f32 {
    // Box-Muller; one of the pair is enough here.
    let u = rng.next_f64().max(1e-12);
    let v = rng.next_f64();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

fn dataset(n: usize, nq: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix64::new(seed);
    let n_centres = (n / 200).clamp(16, 4096);
    let centres: Vec<f32> = (0..n_centres * dim).map(|_| gaussian(&mut rng)).collect();
    let base = generate_points(n, dim, seed.wrapping_add(1), &centres);
    let queries = generate_points(nq, dim, seed.wrapping_add(2), &centres);
    (base, queries)
}

fn generate(a: GenerateArgs) -> CliResult<()> {
    if a.n == 0 || a.dim == 0 || a.queries == 0 || a.k == 0 || a.k > a.n {
        return fail("--n, --dim, --queries and --k must be positive, and --k at most --n");
    }
    std::fs::create_dir_all(&a.output)?;
    let t = Instant::now();
    let (base, queries) = dataset(a.n, a.queries, a.dim, a.seed);
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
        }));
    } else {
        println!(
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

// ---------------------------------------------------------------- demo

fn demo(a: DemoArgs) -> CliResult<()> {
    if a.n < 2 || a.dim == 0 || a.queries == 0 {
        return fail("--n must be at least 2, --dim and --queries positive");
    }
    let say = |s: String| {
        if !a.json {
            println!("{s}");
        }
    };
    let k = 10.min(a.n);
    let t = Instant::now();
    let (base, queries) = dataset(a.n, a.queries, a.dim, a.seed);
    let truth = vectrove::exact_knn(Metric::L2, a.dim, &base, &queries, k)?;
    say(format!(
        "generated {} x {}-d clustered points and {} queries with exact top-{k} in {:.2} s",
        a.n,
        a.dim,
        a.queries,
        t.elapsed().as_secs_f64()
    ));

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
    ));

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
    ));

    let mut rows = Vec::new();
    say(format!(
        "{:>6} {:>10} {:>10} {:>10}",
        "ef", "recall@10", "QPS", "p50 us"
    ));
    for ef in [16, 32, 64, 128] {
        let mut lat = Vec::with_capacity(a.queries);
        let mut hits = 0usize;
        let t = Instant::now();
        for (qv, tr) in queries.chunks_exact(a.dim).zip(&truth) {
            let s = Instant::now();
            let r = index.search(qv, k, ef)?;
            lat.push(s.elapsed());
            hits += r
                .iter()
                .filter(|n| tr.iter().any(|&(i, _)| u64::from(i) == n.id))
                .count();
        }
        let wall = t.elapsed().as_secs_f64();
        lat.sort_unstable();
        let recall = hits as f64 / (a.queries * k) as f64;
        let qps = a.queries as f64 / wall;
        let p50 = percentile(&lat, 0.5);
        say(format!("{ef:>6} {recall:>10.4} {qps:>10.0} {p50:>10.1}"));
        rows.push(json!({"ef": ef, "recall": recall, "qps": qps, "p50_us": p50}));
    }
    let m = mem::current();
    say(format!(
        "memory: {} (search on 1 thread; vectors memory-mapped)",
        mem_text(m)
    ));
    if a.json {
        print_json(&json!({
            "points": a.n, "dim": a.dim, "queries": a.queries, "threads": threads,
            "build_seconds": build_s, "file_bytes": bytes, "rows": rows, "memory": mem_json(m),
        }));
    }
    Ok(())
}

// ---------------------------------------------------------------- kmeans

fn kmeans(a: KmeansArgs) -> CliResult<()> {
    use vectrove::kmeans::{KMeansParams, copy_sample, sample_slots};
    let m = data::read_f32(&a.input, None)?;
    if m.is_empty() {
        return fail(format!("{}: no vectors", a.input.display()));
    }
    let input = vectrove::MemoryStore::from_flat(m.dim, &m.data)?;
    drop(m);
    let params = KMeansParams {
        k: a.k,
        metric: a.metric,
        max_iters: a.iters,
        tolerance: a.tolerance,
        seed: a.seed,
        max_points_per_centroid: a.max_points_per_centroid,
        ..KMeansParams::default()
    };
    let slots = sample_slots(&params, input.len());
    let pool = pool(a.threads)?;
    let threads = pool.current_num_threads();
    let pb = bar(a.iters as u64, "k-means", a.json);
    let t = Instant::now();
    let (km, times) = pool.install(|| -> CliResult<_> {
        if a.on_disk {
            let mut spill = vectrove::stores::TempFileStore::new(input.dim())?;
            copy_sample(&input, &slots, &mut spill)?;
            train_timed(&params, &spill, &pb)
        } else if slots.len() == input.len() {
            train_timed(&params, &input, &pb)
        } else {
            let mut sample = vectrove::MemoryStore::new(input.dim())?;
            copy_sample(&input, &slots, &mut sample)?;
            train_timed(&params, &sample, &pb)
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
            "points": input.len(), "trained_on": slots.len(), "dim": km.dim(), "k": km.k(),
            "metric": a.metric.name(), "on_disk": a.on_disk, "threads": threads,
            "iterations": stats.len(),
            "inertia": stats.last().map(|s| s.inertia), "seconds_per_iteration": per_iter,
            "first_iteration_seconds": times.first(), "total_seconds": total,
            "per_iteration": stats.iter().zip(&times).map(|(s, t)| json!({
                "iteration": s.iteration, "inertia": s.inertia, "repaired": s.repaired, "seconds": t,
            })).collect::<Vec<_>>(),
        }));
    } else {
        for (s, t) in stats.iter().zip(&times) {
            println!(
                "iteration {:>3}: inertia {:.1}, {} repaired, {:.3} s",
                s.iteration, s.inertia, s.repaired, t
            );
        }
        println!(
            "{} x {}-d ({} trained on{}), k={}, {threads} thread{}: {} iterations, {per_iter:.3} s per iteration, {total:.2} s in all",
            input.len(),
            km.dim(),
            slots.len(),
            if a.on_disk { ", spilled to disk" } else { "" },
            km.k(),
            if threads == 1 { "" } else { "s" },
            stats.len()
        );
        if let Some(out) = &a.output {
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

/// Train on the current rayon pool, recording the seconds each iteration
/// took.
fn train_timed<S: FeatureStore<Elem = f32> + Sync>(
    params: &vectrove::kmeans::KMeansParams,
    store: &S,
    pb: &ProgressBar,
) -> CliResult<(vectrove::kmeans::KMeans, Vec<f64>)> {
    let mut times = Vec::new();
    let mut last = Instant::now();
    let km = vectrove::kmeans::KMeans::train_parallel(params, store, |s| {
        times.push(last.elapsed().as_secs_f64());
        last = Instant::now();
        pb.set_position(s.iteration as u64);
        true
    })?;
    Ok((km, times))
}
