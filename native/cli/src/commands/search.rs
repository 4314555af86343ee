//! `vectrove search`: the k nearest neighbours of every query.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use rayon::prelude::*;
use serde_json::json;
use vectrove::data::{self, Matrix};
use vectrove::file::FileStore;
use vectrove::{AnyIndex, Element, Neighbor, SearchParams};

use crate::args::{StorageArgs, pool};
use crate::error::{CliError, CliResult, fail};
use crate::input::{self, Role};
use crate::open::{check_queries, knob_name, knob_params, open_any, typed};
use crate::output::print_json;
use crate::remote::{self, RemoteArgs, url_of};

#[derive(Args)]
pub struct SearchArgs {
    /// Index file, or its http:// or https:// URL (read by range requests)
    #[arg(long)]
    index: PathBuf,
    /// Query vectors (an .hdf5/.h5 file: its `test` dataset)
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
    /// Candidates reranked exactly on an index with codes (default max(4k, 32))
    #[arg(long, default_value_t = 0)]
    rerank: usize,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    remote: RemoteArgs,
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

pub fn search(a: SearchArgs) -> CliResult<()> {
    let pool = pool(a.threads)?;
    if let Some(url) = url_of(&a.index) {
        let ix = remote::open(url, a.storage.cache_bytes()?, &a.remote)?;
        let q = input::read_f32(&a.queries, Role::Queries, None)?;
        check_queries(ix.index(), &q, &a.queries)?;
        let name = knob_name(ix.index());
        let fetched = |nq: usize| {
            let st = ix.stats();
            let per = |x: u64| x as f64 / nq.max(1) as f64;
            Fetched {
                rounds: per(st.rounds),
                requests: per(st.requests),
                bytes: per(st.bytes),
            }
        };
        return run(&a, name, &q, &pool, |v, p| ix.search(v, a.k, p), fetched);
    }
    let modes = a.storage.modes()?;
    let [storage] = modes[..] else {
        return fail("search takes one --storage mode");
    };
    let any = open_any(&a.index, storage)?;
    typed!(any, &a.queries, None, |ix, q| search_typed(
        &a, &ix, &q, &pool
    ))
}

/// What the queries over a URL fetched, per query.
struct Fetched {
    rounds: f64,
    requests: f64,
    bytes: f64,
}

fn search_typed<T: Element>(
    a: &SearchArgs,
    ix: &AnyIndex<FileStore<T>>,
    q: &Matrix<T>,
    pool: &rayon::ThreadPool,
) -> CliResult<()> {
    check_queries(ix, q, &a.queries)?;
    run(
        a,
        knob_name(ix),
        q,
        pool,
        |v, p| ix.search(v, a.k, p),
        |_| None::<Fetched>,
    )
}

fn run<T: Element, F: Into<Option<Fetched>>>(
    a: &SearchArgs,
    name: &str,
    q: &Matrix<T>,
    pool: &rayon::ThreadPool,
    search: impl Fn(&[T], &SearchParams) -> vectrove::Result<Vec<Neighbor>> + Sync,
    fetched: impl Fn(usize) -> F,
) -> CliResult<()> {
    if a.k == 0 || a.k > 1 << 16 {
        return fail("--k must be between 1 and 65536");
    }
    let knob = if name == "ef" { a.ef } else { a.nprobe };
    let params = knob_params(knob, a.rerank);
    let t = Instant::now();
    let results: Vec<Vec<u64>> = pool.install(|| {
        q.data
            .par_chunks(q.dim)
            .map(|v| search(v, &params).map(|r| r.iter().map(|n| n.id).collect()))
            .collect::<vectrove::Result<_>>()
    })?;
    let secs = t.elapsed().as_secs_f64();
    if let Some(out) = &a.output {
        let mut flat = Vec::with_capacity(results.len() * a.k);
        for r in &results {
            for i in 0..a.k {
                let id = match r.get(i) {
                    Some(&id) => i32::try_from(id).map_err(|_| {
                        CliError::Message(format!(
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
    let fetched: Option<Fetched> = fetched(nq).into();
    if a.json {
        let mut out = json!({
            "queries": nq, "k": a.k, name: knob, "seconds": secs,
            "qps": nq as f64 / secs, "threads": pool.current_num_threads(),
            "output": a.output.as_ref().map(|p| p.display().to_string()),
        });
        if let Some(f) = &fetched {
            out["round_trips_per_query"] = json!(f.rounds);
            out["requests_per_query"] = json!(f.requests);
            out["bytes_per_query"] = json!(f.bytes);
        }
        print_json(&out)?;
    } else {
        crate::outln!(
            "{nq} queries, k={}, {}={knob} on {} thread(s): {secs:.3} s ({:.0} QPS)",
            a.k,
            name,
            pool.current_num_threads(),
            nq as f64 / secs
        );
        if let Some(f) = &fetched {
            crate::outln!(
                "fetched per query: {:.2} round trips, {:.2} requests, {:.1} KiB",
                f.rounds,
                f.requests,
                f.bytes / 1024.0
            );
        }
        if let Some(out) = &a.output {
            crate::outln!("wrote {}", out.display());
        }
    }
    Ok(())
}
