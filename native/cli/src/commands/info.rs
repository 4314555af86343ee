//! `vectrove info`: what an index file holds, with every checksum checked.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};
use vectrove::file::{self, Storage};
use vectrove::remote::RemoteInfo;
use vectrove::{AnyIndex, FeatureStore, Ivf};

use crate::error::{CliResult, fail, with_context};
use crate::mem;
use crate::open::{Opened, open_any};
use crate::output::print_json;
use crate::remote::{self, RemoteArgs, url_of};

#[derive(Args)]
pub struct InfoArgs {
    /// Index file, or its http:// or https:// URL (only the metadata is
    /// fetched; the vectors' checksums are checked as searches read them)
    index: PathBuf,
    #[command(flatten)]
    remote: RemoteArgs,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

pub fn info(a: InfoArgs) -> CliResult<()> {
    if let Some(url) = url_of(&a.index) {
        let ix = remote::open(url, 1 << 20, &a.remote)?;
        let header = ix.header().clone();
        return describe(&a, &header, ix.index(), Some(&ix.info()));
    }
    let header = with_context(file::read_header(&a.index), &a.index)?;
    // Opening with a small page cache checks every checksum and invariant
    // without loading the vectors.
    let storage = Storage::Paged {
        cache_bytes: (1 << 20).max(4 * header.vector_stride()),
    };
    match open_any(&a.index, storage)? {
        Opened::F32(ix) => describe(&a, &header, &ix, None),
        Opened::U8(AnyIndex::Ivf(_)) => {
            fail(format!("{}: an IVF index of u8 vectors", a.index.display()))
        }
        Opened::U8(ix) => describe(&a, &header, &ix, None),
    }
}

/// Where a remote file was pinned and what opening it fetched, for the JSON output.
fn remote_json(r: Option<&RemoteInfo>) -> Value {
    r.map_or(Value::Null, |r| {
        json!({
            "etag": r.etag, "last_modified": r.last_modified.map(|t| t.to_rfc2822()),
            "open_round_trips": r.opened.rounds, "open_requests": r.opened.requests,
            "open_bytes": r.opened.bytes,
        })
    })
}

/// The text line of a remote file.
fn print_remote(r: Option<&RemoteInfo>) -> CliResult<()> {
    if let Some(r) = r {
        let pin = match (&r.etag, r.last_modified) {
            (Some(tag), _) => format!("ETag {tag}"),
            (None, Some(t)) => format!("Last-Modified {}", t.to_rfc2822()),
            (None, None) => "its length only".into(),
        };
        crate::outln!(
            "  remote       pinned to {pin}; opened in {} round trips ({} requests, {})",
            r.opened.rounds,
            r.opened.requests,
            mem::human(r.opened.bytes)
        );
    }
    Ok(())
}

fn describe<S: FeatureStore>(
    a: &InfoArgs,
    header: &vectrove::format::Header,
    any: &AnyIndex<S>,
    remote: Option<&RemoteInfo>,
) -> CliResult<()> {
    let ix = match any {
        AnyIndex::Hnsw(ix) => ix,
        AnyIndex::Ivf(ix) => return info_ivf(a, header, ix, remote),
    };
    let (len, slots, params, max_level, graph_bytes) = (
        ix.len(),
        ix.slot_count(),
        ix.params(),
        ix.max_level(),
        ix.graph_bytes(),
    );
    let v = header.vectors();
    let sections = sections_json(header);
    let checksums = if remote.is_some() {
        "metadata ok"
    } else {
        "ok"
    };
    if a.json {
        print_json(&json!({
            "file": a.index.display().to_string(), "format_version": header.version,
            "kind": header.kind.name(), "element": vectrove::format::elem_name(header.elem),
            "metric": header.metric.name(), "dim": header.dim, "points": len, "slots": slots,
            "deleted": slots - len, "m": params.m, "m0": params.m0,
            "ef_construction": params.ef_construction, "seed": params.seed,
            "max_level": max_level, "file_bytes": header.file_len,
            "vectors_offset": v.base_offset, "vector_stride": header.vector_stride(),
            "graph_memory_bytes": graph_bytes, "sections": sections, "checksums": checksums,
            "remote": remote_json(remote),
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
    print_remote(remote)?;
    print_sections(header, checksums)
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

fn print_sections(header: &vectrove::format::Header, checksums: &str) -> CliResult<()> {
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
    crate::outln!("  checksums    {checksums}");
    Ok(())
}

fn info_ivf<S: FeatureStore>(
    a: &InfoArgs,
    header: &vectrove::format::Header,
    ix: &Ivf<S>,
    remote: Option<&RemoteInfo>,
) -> CliResult<()> {
    let checksums = if remote.is_some() {
        "metadata ok"
    } else {
        "ok"
    };
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
            "max_points_per_centroid": p.max_points_per_centroid, "kmeans_init": p.init.name(),
            "list_min": min, "list_median": median, "list_max": max,
            "file_bytes": header.file_len, "vectors_offset": v.base_offset, "vector_stride": header.vector_stride(),
            "sections": sections_json(header), "checksums": checksums,
            "remote": remote_json(remote),
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
        "  parameters   nlist={} (trained {} iterations from a {} start, seed {}); lists hold {min} / {median} / {max} points (min / median / max)",
        p.nlist,
        p.iters,
        p.init.name(),
        p.seed
    );
    crate::outln!(
        "  file         {} (vectors at byte {}, {} bytes each)",
        mem::human(header.file_len),
        v.base_offset,
        header.vector_stride()
    );
    print_remote(remote)?;
    print_sections(header, checksums)
}
