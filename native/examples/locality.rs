//! How many pages of an index file a search touches, and renumbering an
//! index for locality.
//!
//! ```text
//! cargo run --release -p vectrove --example locality -- pages INDEX QUERIES [EF] [QUERIES_USED]
//! cargo run --release -p vectrove --example locality -- reorder IN OUT [nested|bfs]
//! ```
//!
//! `pages` searches every query (k = 10, `ef` 64 by default) and reports,
//! per query, the distinct vectors read and the distinct 4 KiB and 64 KiB
//! pages of the file they lie on (what a cold memory map and a cold page
//! cache would read), then the pages a 64 MiB page cache really reads per
//! query over the whole run. `reorder` loads IN into memory, renumbers it
//! (the nested order of `Hnsw::reorder`, or a plain breadth-first walk from
//! the entry point over level 0) and saves OUT, timing the pass.

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::Instant;

use vectrove::file::{self, Storage};
use vectrove::format::{IndexFile, read_meta};
use vectrove::stores::FileSource;
use vectrove::{Access, FeatureStore, Hnsw, MemoryStore, Result};

/// A store that remembers every slot read.
struct Counting {
    inner: MemoryStore<f32>,
    read: RefCell<Vec<u32>>,
}

impl FeatureStore for Counting {
    type Elem = f32;

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[f32]) -> R) -> Result<Access<R>> {
        self.read.borrow_mut().push(slot);
        self.inner.with_vector(slot, f)
    }
}

fn pages(index_path: &str, queries_path: &str, ef: usize, limit: Option<usize>) -> Result<()> {
    let k = 10;
    let queries = vectrove::data::read_f32(queries_path, limit).expect("read the queries");
    let bytes = std::fs::read(index_path)?;
    let (header, meta) = read_meta(&FileSource::open(index_path)?)?;
    let meta_len = header.meta_len as usize;
    let stride = header.dim * 4;
    let file = IndexFile::decode(header, &meta)?;
    let store = Counting {
        inner: file.memory_store(&bytes[meta_len..])?,
        read: RefCell::new(Vec::new()),
    };
    drop(bytes);
    let index = file.into_index(store)?.into_hnsw()?;
    let (mut vectors, mut small, mut large) = (0usize, 0usize, 0usize);
    let mut seen = HashSet::new();
    for q in queries.data.chunks_exact(queries.dim) {
        index.store().read.borrow_mut().clear();
        index.search(q, k, ef)?;
        let read = index.store().read.borrow();
        for (count, page) in [(&mut vectors, 0), (&mut small, 4096), (&mut large, 65536)] {
            seen.clear();
            for &s in read.iter() {
                let at = meta_len + s as usize * stride;
                seen.insert(at.checked_div(page).unwrap_or(s as usize));
            }
            *count += seen.len();
        }
    }
    let nq = queries.len() as f64;
    println!(
        "{index_path}: ef {ef}, {} queries: per query {:.1} vectors, {:.1} distinct 4 KiB pages, {:.1} distinct 64 KiB pages",
        queries.len(),
        vectors as f64 / nq,
        small as f64 / nq,
        large as f64 / nq
    );
    drop(index);

    let paged = file::open::<f32>(
        index_path,
        Storage::Paged {
            cache_bytes: 64 << 20,
        },
    )?;
    let Some(store) = paged.store().paged() else {
        unreachable!("opened paged");
    };
    let before = store.stats();
    let t = Instant::now();
    for q in queries.data.chunks_exact(queries.dim) {
        paged.search(q, k, ef)?;
    }
    let secs = t.elapsed().as_secs_f64();
    let after = store.stats();
    println!(
        "  paged, 64 MiB cache: {:.1} pages read per query ({:.1}% of page lookups), {:.0} QPS",
        (after.misses - before.misses) as f64 / nq,
        100.0 * (after.misses - before.misses) as f64
            / ((after.misses + after.hits) - (before.misses + before.hits)).max(1) as f64,
        nq / secs
    );
    Ok(())
}

fn reorder(input: &str, output: &str, how: &str) -> Result<()> {
    let t = Instant::now();
    let mut index: Hnsw = Hnsw::from_bytes(&std::fs::read(input)?)?;
    let load = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let order = match how {
        "bfs" => {
            let n = index.slot_count();
            let mut order = Vec::with_capacity(n);
            let mut seen = vec![false; n];
            if let Some(e) = index.entry_point() {
                order.push(e);
                seen[e as usize] = true;
            }
            let mut head = 0;
            while let Some(&node) = order.get(head) {
                head += 1;
                for &nb in index.neighbors(node, 0).unwrap_or(&[]) {
                    if !std::mem::replace(&mut seen[nb as usize], true) {
                        order.push(nb);
                    }
                }
            }
            order.extend((0..n as u32).filter(|&s| !seen[s as usize]));
            order
        }
        _ => index.locality_order()?,
    };
    let ordered = t.elapsed().as_secs_f64();
    index.renumber(&order)?;
    let total = t.elapsed().as_secs_f64();
    index.verify()?;
    file::save(&index, output)?;
    println!(
        "{input} -> {output} ({how}): loaded in {load:.2} s, order in {ordered:.2} s, renumbered in {total:.2} s in all"
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    match (arg(0), arg(1), arg(2)) {
        (Some("pages"), Some(index), Some(queries)) => {
            let ef = arg(3).map_or(64, |s| s.parse().expect("EF is a number"));
            let limit = arg(4).map(|s| s.parse().expect("QUERIES_USED is a number"));
            pages(index, queries, ef, limit)
        }
        (Some("reorder"), Some(input), Some(output)) => {
            reorder(input, output, arg(3).unwrap_or("nested"))
        }
        _ => {
            eprintln!(
                "usage: locality pages INDEX QUERIES [EF] [QUERIES_USED] | reorder IN OUT [nested|bfs]"
            );
            std::process::exit(2);
        }
    }
}
