//! Property tests: the parallel build's invariants, saving and opening in the
//! middle of a sequence of inserts, and the page cache and paged store
//! against plain models. Each keeps to a few seconds (cases are capped).

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use vectrove_core::rng::SplitMix64;
use vectrove_core::store::{ByteSource, PagedStore, SourceRead, VectorLayout};
use vectrove_core::{
    Access, FeatureStore, Hnsw, Ivf, IvfParams, MemoryStore, Metric, PageCache, Result,
};

// On wasm32 the same tests run in Node.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn points(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n * dim)
        .map(|_| rng.next_f64() as f32 * 2.0 - 1.0)
        .collect()
}

fn config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The graph is valid (`verify`), and what `verify` does not check: every
/// slot's id is one of `ids`, each present once; levels within the top
/// level, the entry point on it; every node reachable from the entry point
/// on level 0.
fn check_points_and_levels(index: &Hnsw, ids: &[u64]) -> std::result::Result<(), TestCaseError> {
    index
        .verify()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let n = ids.len();
    prop_assert_eq!(index.slot_count(), n);
    let live = ids.iter().filter(|&&id| index.contains(id)).count();
    prop_assert_eq!(index.len(), live);
    let mut slot_ids: Vec<u64> = (0..n as u32).map(|s| index.slot_id(s).unwrap()).collect();
    slot_ids.sort_unstable();
    let mut want = ids.to_vec();
    want.sort_unstable();
    prop_assert_eq!(slot_ids, want, "every id once");
    if n == 0 {
        prop_assert!(index.entry_point().is_none());
        return Ok(());
    }
    let entry = index.entry_point().unwrap();
    let top = (0..n as u32).map(|s| index.node_level(s).unwrap()).max();
    prop_assert_eq!(top, Some(index.max_level()));
    prop_assert_eq!(index.node_level(entry), Some(index.max_level()));
    let mut seen = vec![false; n];
    let mut stack = vec![entry];
    seen[entry as usize] = true;
    while let Some(s) = stack.pop() {
        for &nb in index.neighbors(s, 0).unwrap() {
            if !std::mem::replace(&mut seen[nb as usize], true) {
                stack.push(nb);
            }
        }
    }
    prop_assert!(seen.iter().all(|&x| x), "a node is unreachable");
    Ok(())
}

#[cfg(feature = "parallel")]
proptest! {
    #![proptest_config(config(20, 0xBA7C_4001))]

    /// The parallel build: a valid graph holding every id once with
    /// consistent levels, the same graph whatever the number of threads,
    /// and (on sets small enough that no list is ever pruned) exact results
    /// when `ef` covers every point.
    #[test]
    fn parallel_build_invariants(
        n in prop_oneof![0usize..40, 500usize..3000],
        dim in 1usize..6,
        m in 2usize..10,
        ef in 1usize..40,
        seed in any::<u64>(),
        metric in prop::sample::select(vec![Metric::L2, Metric::Cosine, Metric::InnerProduct]),
    ) {
        let data = points(n, dim, seed);
        let ids: Vec<u64> = (0..n as u64).map(|i| i.wrapping_mul(0x9E37_79B9) ^ seed).collect();
        let build = |threads: usize| -> Hnsw {
            let mut index = Hnsw::builder(dim, metric).m(m).ef_construction(ef).seed(seed).build().unwrap();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| index.insert_many_parallel(&ids, &data)).unwrap();
            index
        };
        let one = build(1);
        check_points_and_levels(&one, &ids)?;
        prop_assert_eq!(one.len(), n);
        let three = build(3);
        prop_assert_eq!(one.to_bytes().unwrap(), three.to_bytes().unwrap(), "threads change the graph");

        if n <= 2 * m + 1 {
            let truth = vectrove_core::exact_knn(metric, dim, &data, &data, n).unwrap();
            for (q, want) in data.chunks_exact(dim).zip(&truth) {
                let got: Vec<u64> = one.search(q, n, n).unwrap().iter().map(|h| h.id).collect();
                let want: Vec<u64> = want.iter().map(|&(i, _)| ids[i as usize]).collect();
                prop_assert_eq!(got, want);
            }
        }
    }
}

/// One step of a random history.
#[derive(Clone, Debug)]
enum Op {
    Insert,
    Delete(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![4 => Just(Op::Insert), 1 => any::<usize>().prop_map(Op::Delete)],
        1..160,
    )
}

/// Apply `ops` from position `from` to `hnsw` (and to `ids`, the ids
/// inserted so far), vectors drawn from `rng`.
fn apply(hnsw: &mut Hnsw, ops: &[Op], ids: &mut Vec<u64>, rng: &mut SplitMix64) {
    for op in ops {
        match op {
            Op::Insert => {
                let v: Vec<f32> = (0..hnsw.dim())
                    .map(|_| rng.next_f64() as f32 - 0.5)
                    .collect();
                let id = 10 * ids.len() as u64 + 3;
                hnsw.insert(id, &v).unwrap();
                ids.push(id);
            }
            Op::Delete(i) if !ids.is_empty() => {
                let id = ids[i % ids.len()];
                if hnsw.contains(id) {
                    hnsw.delete(id).unwrap();
                }
            }
            Op::Delete(_) => {}
        }
    }
}

proptest! {
    #![proptest_config(config(128, 0x5A7E_0E11))]

    /// Saving and opening anywhere in a history of inserts and deletions
    /// changes nothing: the index that went through a file ends with the
    /// same bytes as the one that never did.
    #[test]
    fn save_open_insert_is_insert_save_open(
        ops in ops(),
        cut in any::<prop::sample::Index>(),
        dim in 1usize..5,
        m in 2usize..8,
        seed in any::<u64>(),
        metric in prop::sample::select(vec![Metric::L2, Metric::Cosine, Metric::InnerProduct]),
    ) {
        let cut = cut.index(ops.len() + 1);
        let fresh = || Hnsw::builder(dim, metric).m(m).ef_construction(24).seed(seed).build().unwrap();

        let (mut direct, mut ids, mut rng) = (fresh(), Vec::new(), SplitMix64::new(seed));
        apply(&mut direct, &ops, &mut ids, &mut rng);
        let direct: Hnsw = Hnsw::from_bytes(&direct.to_bytes().unwrap()).unwrap();

        let (mut first, mut ids, mut rng) = (fresh(), Vec::new(), SplitMix64::new(seed));
        apply(&mut first, &ops[..cut], &mut ids, &mut rng);
        let mut reopened: Hnsw = Hnsw::from_bytes(&first.to_bytes().unwrap()).unwrap();
        apply(&mut reopened, &ops[cut..], &mut ids, &mut rng);
        check_points_and_levels(&reopened, &ids)?;

        prop_assert_eq!(reopened.to_bytes().unwrap(), direct.to_bytes().unwrap());
        if let Some(&id) = ids.last() && direct.contains(id) {
            let q = direct.get(id).unwrap();
            prop_assert_eq!(reopened.search(&q, 5, 16).unwrap(), direct.search(&q, 5, 16).unwrap());
        }
    }

    /// The same for IVF: inserts after opening go where they would have.
    #[test]
    fn ivf_save_open_insert_is_insert_save_open(
        n in 1usize..300,
        cut in any::<prop::sample::Index>(),
        dim in 1usize..5,
        nlist in 1usize..8,
        seed in any::<u64>(),
        metric in prop::sample::select(vec![Metric::L2, Metric::Cosine, Metric::InnerProduct]),
    ) {
        let cut = cut.index(n + 1);
        let data = points(n, dim, seed);
        let training = MemoryStore::from_flat(dim, &data).unwrap();
        let params = IvfParams { nlist: nlist.min(n), seed, ..IvfParams::default() };
        let empty = Ivf::train(metric, params, &training).unwrap();
        let ids: Vec<u64> = (0..n as u64).map(|i| i * 7 + 1).collect();
        let mut direct = Ivf::from_bytes(&empty.to_bytes().unwrap()).unwrap();
        direct.insert_many(&ids, &data).unwrap();
        let mut half = Ivf::from_bytes(&empty.to_bytes().unwrap()).unwrap();
        half.insert_many(&ids[..cut], &data[..cut * dim]).unwrap();
        let mut reopened = Ivf::from_bytes(&half.to_bytes().unwrap()).unwrap();
        reopened.insert_many(&ids[cut..], &data[cut * dim..]).unwrap();
        let mut split = Ivf::from_bytes(&empty.to_bytes().unwrap()).unwrap();
        split.insert_many(&ids[..cut], &data[..cut * dim]).unwrap();
        split.insert_many(&ids[cut..], &data[cut * dim..]).unwrap();
        prop_assert_eq!(reopened.to_bytes().unwrap(), split.to_bytes().unwrap());
        prop_assert_eq!(reopened.len(), direct.len());
        let q = &data[..dim];
        let k = n.min(10);
        let got: Vec<u64> = reopened.search(q, k, nlist).unwrap().iter().map(|h| h.id).collect();
        let mut want: Vec<u64> = direct.search(q, k, nlist).unwrap().iter().map(|h| h.id).collect();
        let mut got_sorted = got.clone();
        got_sorted.sort_unstable();
        want.sort_unstable();
        // The same points in every list, in another slot order: the same set.
        prop_assert_eq!(got_sorted, want);
    }
}

/// The bytes of page `no` of `len` bytes, as a pure function of both.
fn page_bytes(no: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (no as usize * 31 + i * 7 + len) as u8)
        .collect()
}

#[derive(Clone, Debug)]
enum CacheOp {
    Get(u64),
    Insert(u64, usize),
    Load(u64, usize, bool),
    Budget(usize),
    Clear,
}

fn cache_ops(pages: u64, page: usize) -> impl Strategy<Value = Vec<CacheOp>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0..pages).prop_map(CacheOp::Get),
            3 => (0..pages, 0..=page).prop_map(|(n, l)| CacheOp::Insert(n, l)),
            4 => (0..pages, 0..=page, prop::bool::weighted(0.9)).prop_map(|(n, l, ok)| CacheOp::Load(n, l, ok)),
            1 => (page..8 * page).prop_map(CacheOp::Budget),
            1 => Just(CacheOp::Clear),
        ],
        1..300,
    )
}

/// Bytes at offsets, recording nothing: the plain source a paged store reads.
struct Bytes(Vec<u8>);

impl ByteSource for Bytes {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        let start = offset as usize;
        buf.copy_from_slice(&self.0[start..start + buf.len()]);
        Ok(SourceRead::Done)
    }
}

proptest! {
    #![proptest_config(config(256, 0xCAC4_E001))]

    /// The page cache against a model: what it returns is what was put in
    /// (pages are immutable here: a page number always has the same
    /// bytes), it never holds more than its budget, its byte and page
    /// counts are those of the pages it says it holds, and every lookup is
    /// counted once.
    #[test]
    fn page_cache_matches_a_model(
        page in 1usize..64,
        budget_pages in 1usize..6,
        ops in cache_ops(24, 64),
    ) {
        let budget = page * budget_pages;
        let cache = PageCache::new(page, budget).unwrap();
        let mut budget = budget;
        // The length each page number was first given (pages of a number
        // are immutable, so later inserts of another length are skipped).
        let mut lens: HashMap<u64, usize> = HashMap::new();
        let mut lookups = 0u64;
        for op in ops {
            match op {
                CacheOp::Get(no) => {
                    lookups += 1;
                    if let Some(p) = cache.get(no) {
                        prop_assert_eq!(p.as_bytes(), &page_bytes(no, lens[&no])[..]);
                    }
                }
                CacheOp::Insert(no, len) => {
                    let len = *lens.entry(no).or_insert(len);
                    let p = cache.insert(no, vectrove_core::cache::Page::from_bytes(&page_bytes(no, len)));
                    prop_assert_eq!(p.as_bytes(), &page_bytes(no, len)[..]);
                    if len > 0 && len <= budget {
                        prop_assert!(cache.contains(no), "an inserted page is held");
                    }
                }
                CacheOp::Load(no, len, ok) => {
                    lookups += 1;
                    let len = *lens.entry(no).or_insert(len);
                    let got = cache.get_or_load(no, len, |buf| {
                        buf.copy_from_slice(&page_bytes(no, len));
                        Ok(ok)
                    }).unwrap();
                    if let Some(p) = got {
                        prop_assert_eq!(p.as_bytes(), &page_bytes(no, len)[..]);
                    }
                }
                CacheOp::Budget(b) => {
                    cache.set_budget(b).unwrap();
                    budget = b;
                }
                CacheOp::Clear => cache.clear(),
            }
            let s = cache.stats();
            prop_assert!(s.resident_bytes <= budget, "{} bytes over a budget of {}", s.resident_bytes, budget);
            let held: Vec<u64> = (0..24).filter(|&no| cache.contains(no)).collect();
            prop_assert_eq!(s.resident_pages, held.len());
            prop_assert_eq!(s.resident_bytes, held.iter().map(|no| lens[no]).sum::<usize>());
            prop_assert_eq!(s.hits + s.misses, lookups);
        }
    }

    /// A paged store against the bytes themselves: every read (single or
    /// batched, in any order, with pages evicted under a small budget) gives
    /// the vector the bytes hold, slots past the end are errors, and the
    /// shared cache never holds more than its budget.
    #[test]
    fn paged_store_reads_what_the_bytes_hold(
        dim in 1usize..9,
        count in 1usize..120,
        pad in 0usize..9,
        offset_words in 0u64..10,
        page in 4usize..200,
        budget_pages in 1usize..4,
        reads in prop::collection::vec(prop::collection::vec(0u32..130, 1..6), 1..200),
    ) {
        let offset = 4 * offset_words; // f32s sit at multiples of 4
        let stride = dim * 4 + pad * 4;
        let mut rng = SplitMix64::new(dim as u64 * 1000 + count as u64);
        let len = offset as usize + count * stride;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
        let page = page.max(stride);
        let budget = page * budget_pages;
        let cache = Arc::new(PageCache::new(page, budget).unwrap());
        let layout = VectorLayout::new(dim, count).with_offset(offset).with_stride(stride);
        // A second store on the same cache, so pages of both compete.
        let other = PagedStore::<_, f32>::with_cache(Bytes(bytes.clone()), layout, cache.clone()).unwrap();
        let store = PagedStore::<_, f32>::with_cache(Bytes(bytes.clone()), layout, cache.clone()).unwrap();
        let expect = |slot: u32| -> Vec<f32> {
            let at = offset as usize + slot as usize * stride;
            bytes[at..at + 4 * dim]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()) && a.len() == b.len();
        for (i, batch) in reads.iter().enumerate() {
            let s = if i % 3 == 2 { &other } else { &store };
            if batch.iter().all(|&slot| (slot as usize) < count) {
                let mut seen = Vec::new();
                let mut missing = Vec::new();
                s.with_vectors(batch, |slot, v| seen.push((slot, v.to_vec())), &mut missing).unwrap();
                prop_assert!(missing.is_empty());
                prop_assert_eq!(seen.len(), batch.len());
                for (slot, v) in &seen {
                    prop_assert!(same(v, &expect(*slot)), "slot {}", slot);
                }
            }
            for &slot in batch {
                match s.with_vector(slot, |v| v.to_vec()) {
                    Ok(Access::Ready(v)) => {
                        prop_assert!((slot as usize) < count);
                        prop_assert!(same(&v, &expect(slot)), "slot {}", slot);
                    }
                    Ok(Access::Missing) => prop_assert!(false, "a synchronous source never misses"),
                    Err(_) => prop_assert!(slot as usize >= count, "slot {} failed", slot),
                }
            }
            prop_assert!(cache.stats().resident_bytes <= budget);
        }
    }
}
