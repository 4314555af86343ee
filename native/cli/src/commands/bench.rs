//! `vectrove bench`: recall, throughput, latency and memory over a sweep of
//! the search knob, optionally drawn as a plot.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use rayon::prelude::*;
use serde_json::{Value, json};
use vectrove::data::Matrix;
use vectrove::file;
use vectrove::file::FileStore;
use vectrove::{AnyIndex, Element, Neighbor, SearchParams};

use super::build::{self, BuildOptions};
use crate::args::{StorageArgs, pool};
use crate::error::{CliError, CliResult, fail, with_context};
use crate::input::{self, Role};
use crate::mem::{self, MemoryUsage};
use crate::open::{Opened, check_queries, knob_name, knob_params, open_any};
use crate::output::{mem_json, mem_text, print_json};
use crate::plot::{self, Series};
use crate::progress::bar;
use crate::remote::{self, RemoteArgs, url_of};

#[derive(Args)]
pub struct BenchArgs {
    /// Index file, or its http:// or https:// URL (read by range requests;
    /// each row starts with an empty cache)
    #[arg(long)]
    index: PathBuf,
    /// Query vectors (an .hdf5/.h5 file: its `test` dataset)
    #[arg(long)]
    queries: PathBuf,
    /// Exact neighbours of every query (.ivecs, int32 .npy, or an .hdf5/.h5
    /// file's `neighbors`). Default: the `neighbors` of --queries when it is
    /// an HDF5 file
    #[arg(long)]
    groundtruth: Option<PathBuf>,
    /// Build the index first from these base vectors (an .hdf5/.h5 file: its
    /// `train`) and save it as --index, with the build options below on all
    /// cores; the report then includes the build time
    #[arg(long)]
    input: Option<PathBuf>,
    #[command(flatten)]
    build: BuildOptions,
    /// Results per query
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Beam widths, comma-separated (HNSW)
    #[arg(long, default_value = "16,32,64,128", value_delimiter = ',')]
    ef: Vec<usize>,
    /// Lists scanned per query, comma-separated (IVF)
    #[arg(long, default_value = "1,4,16,64", value_delimiter = ',')]
    nprobe: Vec<usize>,
    /// Candidates reranked exactly on an index with codes (default max(4k, 32))
    #[arg(long, default_value_t = 0)]
    rerank: usize,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    remote: RemoteArgs,
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

struct Row {
    knob: usize,
    recall: f64,
    qps: f64,
    p50_us: f64,
    p99_us: f64,
    mem: Option<MemoryUsage>,
    /// Paged storage only: what the timed queries read.
    io: Option<PagedIo>,
    /// An index URL only: what the timed queries fetched.
    fetched: Option<FetchedIo>,
}

/// What the queries of one row fetched over the network, per query.
#[derive(Clone, Copy)]
struct FetchedIo {
    rounds: f64,
    requests: f64,
    bytes: f64,
}

/// The counters a row's figures are the differences of.
#[derive(Clone, Copy)]
enum Counters {
    /// A paged store's cache hits, cache misses and read system calls.
    Paged(u64, u64, u64),
    /// A remote index's round trips, requests and bytes.
    Remote(u64, u64, u64),
}

/// One measured configuration: how it was opened and its rows.
struct Run {
    label: String,
    storage: &'static str,
    open_s: f64,
    after_open: Option<MemoryUsage>,
    knob: &'static str,
    rows: Vec<Row>,
}

/// What the queries of one row read from a paged store, per query.
#[derive(Clone, Copy)]
struct PagedIo {
    /// Pages read into the cache (its misses).
    pages: f64,
    /// Read system calls.
    reads: f64,
    /// Share of page lookups the cache answered.
    hit_rate: f64,
}

/// The paged store's counters: cache hits, cache misses, read system calls.
fn paged_counters<T: Element>(ix: &AnyIndex<FileStore<T>>) -> Option<Counters> {
    let s = ix.store().paged()?;
    let st = s.stats();
    Some(Counters::Paged(st.hits, st.misses, s.source().reads()))
}

/// The latency at quantile `p` of `sorted`, in microseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

pub fn bench(a: BenchArgs) -> CliResult<()> {
    if a.k == 0 || a.k > 1 << 16 || a.ef.is_empty() || a.nprobe.is_empty() {
        return fail("--k must be between 1 and 65536, and --ef and --nprobe not empty");
    }
    let gt_path = match &a.groundtruth {
        Some(p) => p.clone(),
        None if input::is_hdf5(&a.queries) => a.queries.clone(),
        None => return fail("--groundtruth is needed unless --queries is an HDF5 file"),
    };
    let gt = input::read_i32(&gt_path, Role::Truth, a.limit)?;
    if gt.dim < a.k {
        return fail(format!(
            "{}: ground truth has {} neighbours per query, fewer than --k {}",
            gt_path.display(),
            gt.dim,
            a.k
        ));
    }
    let pool = pool(Some(a.threads))?;
    let built = match &a.input {
        Some(_) if url_of(&a.index).is_some() => {
            return fail("--input builds a local index: give --index a file path");
        }
        Some(base) => {
            let b = build::build_index(base, &a.build, None, None, &a.index, a.json)?;
            if !a.json {
                for l in &b.lines {
                    crate::outln!("{l}");
                }
            }
            Some(b)
        }
        None => None,
    };
    let mut runs = Vec::new();
    let file_bytes;
    let mut series = Vec::new();
    if let Some(url) = url_of(&a.index) {
        let q = input::read_f32(&a.queries, Role::Queries, a.limit)?;
        let t = Instant::now();
        let ix = remote::open(url, a.storage.cache_bytes()?, &a.remote)?;
        file_bytes = ix.header().file_len;
        let open_s = t.elapsed().as_secs_f64();
        let after_open = mem::current();
        check_queries(ix.index(), &q, &a.queries)?;
        let knob = knob_name(ix.index());
        let counters = || {
            let st = ix.stats();
            Some(Counters::Remote(st.rounds, st.requests, st.bytes))
        };
        let rows = bench_rows(
            &a,
            knob,
            &q,
            &gt,
            &pool,
            &|v, p| ix.search(v, a.k, p),
            &counters,
            &|| ix.clear_cache(),
        )?;
        let run = Run {
            label: a.label.clone().unwrap_or_else(|| "vectrove http".into()),
            storage: "http",
            open_s,
            after_open,
            knob,
            rows,
        };
        report(&a, run, &mut runs, &mut series)?;
    } else {
        // The queries are read before the index is opened, so the memory
        // figures after opening and after the queries differ by the index only.
        let header = with_context(file::read_header(&a.index), &a.index)?;
        file_bytes = header.file_len;
        if !a.json {
            crate::outln!("{}: {}", a.index.display(), mem::human(file_bytes));
        }
        let queries = if header.elem == u8::CODE {
            Queries::U8(input::read_u8(&a.queries, Role::Queries, a.limit)?)
        } else {
            Queries::F32(input::read_f32(&a.queries, Role::Queries, a.limit)?)
        };
        for storage in a.storage.modes()? {
            let t = Instant::now();
            let any = open_any(&a.index, storage)?;
            let open_s = t.elapsed().as_secs_f64();
            let after_open = mem::current();
            let (knob, rows) = match (any, &queries) {
                (Opened::F32(ix), Queries::F32(q)) => {
                    (knob_name(&ix), bench_typed(&a, &ix, q, &gt, &pool)?)
                }
                (Opened::U8(ix), Queries::U8(q)) => {
                    (knob_name(&ix), bench_typed(&a, &ix, q, &gt, &pool)?)
                }
                _ => return fail(format!("{}: changed while benchmarking", a.index.display())),
            };
            let label = match &a.label {
                Some(l) if a.storage.storage.len() == 1 => l.clone(),
                Some(l) => format!("{l} ({})", storage.name()),
                None => format!("vectrove {}", storage.name()),
            };
            let run = Run {
                label,
                storage: storage.name(),
                open_s,
                after_open,
                knob,
                rows,
            };
            report(&a, run, &mut runs, &mut series)?;
        }
    }
    if let Some(path) = &a.plot {
        for c in &a.compare {
            series.extend(read_runs(c)?);
        }
        let title = format!("recall@{} vs QPS, {} thread(s)", a.k, a.threads);
        plot::recall_qps_svg(path, &title, &series)
            .map_err(|e| CliError::Message(format!("{}: {e}", path.display())))?;
        if !a.json {
            crate::outln!("wrote {}", path.display());
        }
    }
    if a.json {
        print_json(&json!({
            "index": a.index.display().to_string(), "file_bytes": file_bytes,
            "build_seconds": built.as_ref().map(|b| b.build_seconds),
            "build": built.map(|b| b.json), "runs": runs,
        }))?;
    }
    Ok(())
}

/// Prints one run (unless `--json`) and adds it to the JSON runs and the plot.
fn report(
    a: &BenchArgs,
    run: Run,
    runs: &mut Vec<Value>,
    series: &mut Vec<Series>,
) -> CliResult<()> {
    let Run {
        label,
        storage,
        open_s,
        after_open,
        knob,
        rows,
    } = run;
    if !a.json {
        crate::outln!(
            "{label}: opened in {open_s:.3} s, memory after opening {}",
            mem_text(after_open)
        );
        let paged = rows.iter().any(|r| r.io.is_some());
        let fetched = rows.iter().any(|r| r.fetched.is_some());
        let io_head = if paged {
            "  pages/q  reads/q   hits"
        } else if fetched {
            "  trips/q   reqs/q   KiB/q"
        } else {
            ""
        };
        crate::outln!(
            "{:>6} {:>9} {:>10} {:>10} {:>10}{io_head}  memory after queries",
            knob,
            "recall@k",
            "QPS",
            "p50 us",
            "p99 us"
        );
        for r in &rows {
            let mut io = r.io.map_or(String::new(), |io| {
                format!(
                    " {:>8.1} {:>8.1} {:>5.1}%",
                    io.pages,
                    io.reads,
                    io.hit_rate * 100.0
                )
            });
            if let Some(f) = r.fetched {
                io = format!(
                    " {:>8.2} {:>8.2} {:>7.1}",
                    f.rounds,
                    f.requests,
                    f.bytes / 1024.0
                );
            }
            crate::outln!(
                "{:>6} {:>9.4} {:>10.0} {:>10.1} {:>10.1}{io}  {}",
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
        "label": label, "storage": storage, "open_seconds": open_s,
        "threads": a.threads, "k": a.k, "memory_after_open": mem_json(after_open),
        "rows": rows.iter().map(|r| {
            let mut row = json!({
                knob: r.knob, "recall": r.recall, "qps": r.qps, "p50_us": r.p50_us,
                "p99_us": r.p99_us, "memory": mem_json(r.mem),
            });
            if let Some(io) = r.io {
                row["pages_read_per_query"] = json!(io.pages);
                row["reads_per_query"] = json!(io.reads);
                row["cache_hit_rate"] = json!(io.hit_rate);
            }
            if let Some(f) = r.fetched {
                row["round_trips_per_query"] = json!(f.rounds);
                row["requests_per_query"] = json!(f.requests);
                row["bytes_per_query"] = json!(f.bytes);
            }
            row
        }).collect::<Vec<_>>(),
    }));
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

/// Queries in the element type of an index.
enum Queries {
    F32(Matrix<f32>),
    U8(Matrix<u8>),
}

fn bench_typed<T: Element>(
    a: &BenchArgs,
    ix: &AnyIndex<FileStore<T>>,
    q: &Matrix<T>,
    gt: &Matrix<i32>,
    pool: &rayon::ThreadPool,
) -> CliResult<Vec<Row>> {
    check_queries(ix, q, &a.queries)?;
    bench_rows(
        a,
        knob_name(ix),
        q,
        gt,
        pool,
        &|v, p| ix.search(v, a.k, p),
        &|| paged_counters(ix),
        &|| {},
    )
}

/// A search of one query with some parameters.
type SearchFn<'a, T> = dyn Fn(&[T], &SearchParams) -> vectrove::Result<Vec<Neighbor>> + Sync + 'a;

/// One row per knob value: `search` over every query, timed; `counters`
/// read before and after each row; `before_row` run before each.
#[allow(clippy::too_many_arguments)]
fn bench_rows<T: Element>(
    a: &BenchArgs,
    knob_name: &str,
    q: &Matrix<T>,
    gt: &Matrix<i32>,
    pool: &rayon::ThreadPool,
    search: &SearchFn<'_, T>,
    counters: &dyn Fn() -> Option<Counters>,
    before_row: &dyn Fn(),
) -> CliResult<Vec<Row>> {
    let nq = q.len();
    if gt.len() < nq {
        return fail(format!(
            "{}: {} ground-truth rows for {nq} queries",
            a.groundtruth.as_deref().unwrap_or(&a.queries).display(),
            gt.len()
        ));
    }
    // Each query reports its latency and how many true neighbours it found,
    // so nothing but two numbers a query is kept.
    let knobs = if knob_name == "ef" { &a.ef } else { &a.nprobe };
    let run = |knob: usize| -> vectrove::Result<Vec<(Duration, usize)>> {
        pool.install(|| {
            q.data
                .par_chunks(q.dim)
                .enumerate()
                .with_max_len(16)
                .map(|(i, v)| {
                    let t = Instant::now();
                    let r = search(v, &knob_params(knob, a.rerank))?;
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
    let per = |x: u64| x as f64 / nq.max(1) as f64;
    let mut rows = Vec::new();
    let pb = bar(knobs.len() as u64, "bench", a.json);
    for &knob in knobs {
        before_row();
        let before = counters();
        let t = Instant::now();
        let out = run(knob)?;
        let wall = t.elapsed().as_secs_f64();
        let (mut io, mut fetched) = (None, None);
        match before.zip(counters()) {
            Some((Counters::Paged(h0, m0, r0), Counters::Paged(h1, m1, r1))) => {
                let (hits, misses) = (h1.saturating_sub(h0) as f64, m1.saturating_sub(m0) as f64);
                io = Some(PagedIo {
                    pages: misses / nq.max(1) as f64,
                    reads: per(r1.saturating_sub(r0)),
                    hit_rate: if hits + misses > 0.0 {
                        hits / (hits + misses)
                    } else {
                        0.0
                    },
                });
            }
            Some((Counters::Remote(t0, q0, b0), Counters::Remote(t1, q1, b1))) => {
                fetched = Some(FetchedIo {
                    rounds: per(t1.saturating_sub(t0)),
                    requests: per(q1.saturating_sub(q0)),
                    bytes: per(b1.saturating_sub(b0)),
                });
            }
            _ => {}
        }
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
            io,
            fetched,
        });
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(rows)
}
