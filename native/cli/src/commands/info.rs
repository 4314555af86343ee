//! `vectrove info`: what an index file holds, with every checksum checked.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};
use vectrove::file::{self, FileStore, Storage};
use vectrove::{AnyIndex, Ivf};

use crate::error::{CliResult, fail, with_context};
use crate::mem;
use crate::open::{Opened, open_any};
use crate::output::print_json;

#[derive(Args)]
pub struct InfoArgs {
    /// Index file
    index: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

pub fn info(a: InfoArgs) -> CliResult<()> {
    let header = with_context(file::read_header(&a.index), &a.index)?;
    // Opening with a small page cache checks every checksum and invariant
    // without loading the vectors.
    let storage = Storage::Paged {
        cache_bytes: (1 << 20).max(4 * header.vector_stride()),
    };
    let any = open_any(&a.index, storage)?;
    let (len, slots, params, max_level, graph_bytes) = match &any {
        Opened::F32(AnyIndex::Hnsw(ix)) => (
            ix.len(),
            ix.slot_count(),
            ix.params(),
            ix.max_level(),
            ix.graph_bytes(),
        ),
        Opened::U8(AnyIndex::Hnsw(ix)) => (
            ix.len(),
            ix.slot_count(),
            ix.params(),
            ix.max_level(),
            ix.graph_bytes(),
        ),
        Opened::F32(AnyIndex::Ivf(ix)) => return info_ivf(&a, &header, ix),
        Opened::U8(AnyIndex::Ivf(_)) => {
            return fail(format!("{}: an IVF index of u8 vectors", a.index.display()));
        }
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
            "vectors_offset": v.base_offset, "vector_stride": header.vector_stride(),
            "graph_memory_bytes": graph_bytes, "sections": sections, "checksums": "ok",
        }))?;
        return Ok(());
    }
    crate::outln!("{}", a.index.display());
    crate::outln!(
        "  format       vectrove v{} ({} index)",
        header.version,
        header.kind.name()
    );
    crate::outln!(
        "  vectors      {len} live, {} deleted, {}-d {}, metric {}",
        slots - len,
        header.dim,
        element_text(&header),
        header.metric
    );
    crate::outln!(
        "  parameters   M={} M0={} ef_construction={} seed={} top level {max_level}",
        params.m,
        params.m0,
        params.ef_construction,
        params.seed
    );
    crate::outln!(
        "  file         {} (vectors at byte {}, {} bytes each); graph in memory {}",
        mem::human(header.file_len),
        v.base_offset,
        header.vector_stride(),
        mem::human(graph_bytes as u64)
    );
    print_sections(&header)
}

/// The element type as the text output names it: `f32`, `u8`, or `f32
/// stored as f16`.
fn element_text(header: &vectrove::format::Header) -> String {
    match header.vector_type() {
        vectrove::store::VectorType::F16 => "f32 stored as f16".into(),
        t => t.name().into(),
    }
}

fn sections_json(header: &vectrove::format::Header) -> Vec<Value> {
    header
        .sections
        .iter()
        .map(|s| json!({"tag": s.name(), "offset": s.offset, "bytes": s.len, "crc32": format!("{:08x}", s.crc)}))
        .collect()
}

fn print_sections(header: &vectrove::format::Header) -> CliResult<()> {
    crate::outln!("  sections");
    for s in &header.sections {
        crate::outln!(
            "    {:<5} {:>12} bytes at {:>10}  crc32 {:08x}",
            s.name(),
            s.len,
            s.offset,
            s.crc
        );
    }
    crate::outln!("  checksums    ok");
    Ok(())
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
            "file_bytes": header.file_len, "vectors_offset": v.base_offset, "vector_stride": header.vector_stride(),
            "sections": sections_json(header), "checksums": "ok",
        }))?;
        return Ok(());
    }
    crate::outln!("{}", a.index.display());
    crate::outln!(
        "  format       vectrove v{} ({} index)",
        header.version,
        header.kind.name()
    );
    crate::outln!(
        "  vectors      {len} live, {} deleted, {}-d {}, metric {}",
        slots - len,
        header.dim,
        element_text(header),
        header.metric
    );
    crate::outln!(
        "  parameters   nlist={} (trained {} iterations, seed {}); lists hold {min} / {median} / {max} points (min / median / max)",
        p.nlist,
        p.iters,
        p.seed
    );
    crate::outln!(
        "  file         {} (vectors at byte {}, {} bytes each)",
        mem::human(header.file_len),
        v.base_offset,
        header.vector_stride()
    );
    print_sections(header)
}
