//! `vectrove compact`: an index file rewritten without the slots of its
//! deleted points.
//!
//! A deleted point keeps its slot (its vector, its id and, for HNSW, its
//! place in the graph, so that searches still route through it) until the
//! index is rewritten. `compact` reads the live points and builds the index
//! again from them with the same parameters: the same ids, metric, vector
//! type and codes; for HNSW the same M, M0, ef_construction and seed (the
//! graph is linked anew, so results may differ from before up to near-ties);
//! for IVF the same centroids, so every point stays in its list.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use vectrove::file::{self, FileStore, Storage};
use vectrove::{AnyIndex, Element, FeatureStore, Hnsw, Ivf, MemoryStore};

use super::build::link;
use crate::args::pool;
use crate::error::{CliError, CliResult, fail, with_context};
use crate::mem;
use crate::open::{Opened, open_any};
use crate::output::print_json;
use crate::progress::bar;

#[derive(Args)]
pub struct CompactArgs {
    /// Index file to compact
    #[arg(long)]
    index: PathBuf,
    /// Where to write the compacted index. Default: over --index (the new
    /// file replaces the old one atomically)
    #[arg(long)]
    output: Option<PathBuf>,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
    /// HNSW: link with the batched algorithm, which gives the same graph for
    /// a seed on any number of threads
    #[arg(long)]
    deterministic: bool,
    /// HNSW: keep the slots in insertion order (by default they are
    /// renumbered for locality, as `build` does)
    #[arg(long)]
    no_reorder: bool,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

/// What a compaction did, for the report.
struct Compacted {
    kind: &'static str,
    live: usize,
    slots_before: usize,
    seconds: f64,
}

pub fn compact(a: CompactArgs) -> CliResult<()> {
    let output = a.output.clone().unwrap_or_else(|| a.index.clone());
    let before = with_context(std::fs::metadata(&a.index), &a.index)?.len();
    // Memory-mapped: the vectors are read once, in order, and the old file
    // stays readable while the new one is written over its name.
    let t = Instant::now();
    let done = match open_any(&a.index, Storage::Mmap)? {
        Opened::F32(ix) => compact_typed(&a, ix, &output)?,
        Opened::U8(ix) => compact_typed(&a, ix, &output)?,
    };
    let seconds = t.elapsed().as_secs_f64();
    let after = std::fs::metadata(&output)?.len();
    let removed = done.slots_before - done.live;
    if a.json {
        print_json(&json!({
            "index_type": done.kind, "points": done.live, "slots_before": done.slots_before,
            "removed": removed, "bytes_before": before, "file_bytes": after,
            "build_seconds": done.seconds, "seconds": seconds,
            "output": output.display().to_string(),
        }))?;
    } else {
        crate::outln!(
            "compacted {} index: {} live points, {removed} deleted slot(s) removed, in {:.2} s",
            done.kind,
            done.live,
            seconds
        );
        crate::outln!(
            "wrote {} ({}, was {})",
            output.display(),
            mem::human(after),
            mem::human(before)
        );
    }
    Ok(())
}

fn compact_typed<T: Element>(
    a: &CompactArgs,
    ix: AnyIndex<FileStore<T>>,
    output: &std::path::Path,
) -> CliResult<Compacted> {
    let failed = |e: vectrove::Error| CliError::Message(format!("{}: {e}", a.index.display()));
    let slots_before = ix.slot_count();
    let dim = ix.dim();
    let ids: Vec<u64> = ix.ids().collect();
    let n = ids.len();
    // Every live vector, in slot order; room is asked for, not assumed.
    let total = n
        .checked_mul(dim)
        .ok_or_else(|| CliError::Message(format!("{}: too many vectors", a.index.display())))?;
    let mut vectors: Vec<T> = Vec::new();
    if vectors.try_reserve_exact(total).is_err() {
        return fail(format!(
            "{}: not enough memory for {n} vectors of dimension {dim}",
            a.index.display()
        ));
    }
    for &id in &ids {
        vectors.extend_from_slice(&ix.get(id).map_err(failed)?);
    }
    let pool = pool(a.threads)?;
    let t = Instant::now();
    match ix {
        AnyIndex::Hnsw(h) => {
            let vector_type = h.store().vector_type();
            let quantization = h.quantization();
            let p = h.params();
            let mut index = Hnsw::builder(dim, h.metric())
                .params(p)
                .build_with_store(MemoryStore::<T>::new(dim)?)?;
            drop(h);
            let pb = bar(n as u64, "linking", a.json);
            link(&mut index, &ids, &vectors, a.deterministic, &pool, &pb).map_err(failed)?;
            pb.finish_and_clear();
            drop(vectors);
            if !a.no_reorder {
                index.reorder()?;
            }
            index.set_vector_type(vector_type).map_err(failed)?;
            if let Some(q) = quantization {
                index.quantize(q)?;
            }
            let seconds = t.elapsed().as_secs_f64();
            with_context(file::save(&index, output), output)?;
            Ok(Compacted {
                kind: "hnsw",
                live: n,
                slots_before,
                seconds,
            })
        }
        AnyIndex::Ivf(i) => {
            if a.deterministic || a.no_reorder {
                return fail("--deterministic and --no-reorder apply to HNSW indexes");
            }
            // IVF holds f32 vectors: any other element type is not an IVF file.
            let Some(vectors) = (&vectors as &dyn std::any::Any).downcast_ref::<Vec<f32>>() else {
                return fail(format!(
                    "{}: an IVF index of non-f32 vectors",
                    a.index.display()
                ));
            };
            let store = MemoryStore::with_type(dim, i.store().vector_type())?;
            let quantization = i.quantization();
            let mut index = Ivf::with_quantizer(i.quantizer().clone(), i.params(), store)?;
            drop(i);
            pool.install(|| index.insert_many(&ids, vectors))
                .map_err(failed)?;
            if let Some(q) = quantization {
                index.quantize(q)?;
            }
            let seconds = t.elapsed().as_secs_f64();
            with_context(file::save(&index, output), output)?;
            Ok(Compacted {
                kind: "ivf",
                live: n,
                slots_before,
                seconds,
            })
        }
    }
}
