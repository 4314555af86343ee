//! The resumable search against a store that answers `Missing` for vectors
//! it has not loaded: the asynchronous driver must return exactly what the
//! synchronous search returns, fetching at most one batch per expansion step.

use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use vectrove_core::hnsw::Fetcher;
use vectrove_core::rng::SplitMix64;
use vectrove_core::store::FeatureStoreMut;
use vectrove_core::{Access, Error, FeatureStore, Hnsw, MemoryStore, Metric, Result};

/// Vectors in memory, but only the "resident" ones are handed out; the rest
/// answer `Missing` the way an IndexedDB-backed store does before a fetch.
struct LazyStore {
    inner: MemoryStore<f32>,
    resident: RefCell<Vec<bool>>,
}

impl LazyStore {
    fn new(dim: usize) -> Self {
        Self {
            inner: MemoryStore::new(dim).unwrap(),
            resident: RefCell::new(Vec::new()),
        }
    }

    fn evict_all(&self) {
        self.resident
            .borrow_mut()
            .iter_mut()
            .for_each(|r| *r = false);
    }
}

impl FeatureStore for LazyStore {
    type Elem = f32;
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[f32]) -> R) -> Result<Access<R>> {
        match self.resident.borrow().get(slot as usize) {
            Some(true) => self.inner.with_vector(slot, f),
            Some(false) => Ok(Access::Missing),
            None => Err(Error::SlotOutOfRange {
                slot,
                len: self.len(),
            }),
        }
    }
    fn may_miss(&self) -> bool {
        true
    }
}

impl FeatureStoreMut for LazyStore {
    fn push(&mut self, v: &[f32]) -> Result<u32> {
        let slot = self.inner.push(v)?;
        self.resident.get_mut().push(true);
        Ok(slot)
    }
    fn truncate(&mut self, len: usize) -> Result<()> {
        self.inner.truncate(len)?;
        self.resident.get_mut().truncate(len);
        Ok(())
    }
}

/// Loads every requested slot in one batch and records the batches.
struct BatchFetcher<'a> {
    store: &'a LazyStore,
    batches: Vec<Vec<u32>>,
}

impl Fetcher for BatchFetcher<'_> {
    async fn fetch(&mut self, slots: &[u32]) -> Result<()> {
        let mut r = self.store.resident.borrow_mut();
        for &s in slots {
            r[s as usize] = true;
        }
        self.batches.push(slots.to_vec());
        Ok(())
    }
}

/// Fetches nothing: the driver must report it, not spin.
struct DeadFetcher;

impl Fetcher for DeadFetcher {
    async fn fetch(&mut self, _slots: &[u32]) -> Result<()> {
        Ok(())
    }
}

/// Poll a future that never really waits (our fetchers complete at once).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn gaussian(rng: &mut SplitMix64) -> f32 {
    let u = rng.next_f64().max(1e-12);
    let v = rng.next_f64();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

fn build(n: usize, dim: usize) -> (Hnsw<LazyStore>, Hnsw, Vec<f32>) {
    let mut rng = SplitMix64::new(11);
    let data: Vec<f32> = (0..n * dim).map(|_| gaussian(&mut rng)).collect();
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 3 + 1).collect();
    let builder = Hnsw::builder(dim, Metric::L2)
        .m(8)
        .ef_construction(64)
        .seed(5);
    let mut lazy = builder
        .clone()
        .build_with_store(LazyStore::new(dim))
        .unwrap();
    let mut eager = builder.build().unwrap();
    lazy.insert_many(&ids, &data).unwrap();
    eager.insert_many(&ids, &data).unwrap();
    let queries: Vec<f32> = (0..50 * dim).map(|_| gaussian(&mut rng)).collect();
    (lazy, eager, queries)
}

#[test]
fn async_driver_matches_sync_search_with_one_batch_per_step() {
    let dim = 12;
    let (lazy, eager, queries) = build(2_000, dim);
    let mut total_batches = 0;
    for (qi, q) in queries.chunks_exact(dim).enumerate() {
        let expected = eager.search(q, 10, 48).unwrap();
        lazy.store().evict_all();
        let mut fetcher = BatchFetcher {
            store: lazy.store(),
            batches: Vec::new(),
        };
        let (got, stats) = block_on(lazy.search_async(q, 10, 48, |_| true, &mut fetcher)).unwrap();
        assert_eq!(got, expected, "query {qi}");
        // The entry point is one batch; after that at most one per expansion.
        assert!(
            fetcher.batches.len() <= stats.expansions as usize + 1,
            "query {qi}: {} batches for {} expansions",
            fetcher.batches.len(),
            stats.expansions
        );
        assert_eq!(fetcher.batches.len(), stats.misses as usize);
        for b in &fetcher.batches {
            let distinct: HashSet<_> = b.iter().collect();
            assert_eq!(distinct.len(), b.len(), "a batch repeats a slot");
        }
        // Nothing is fetched twice within a search.
        let all: Vec<u32> = fetcher.batches.concat();
        let distinct: HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        total_batches += fetcher.batches.len();
        assert!(!fetcher.batches.is_empty());
    }
    eprintln!("50 queries: {total_batches} fetch batches");
}

#[test]
fn filtered_async_search_matches_sync() {
    let dim = 8;
    let (lazy, eager, queries) = build(1_000, dim);
    let filter = |id: u64| id.is_multiple_of(2);
    for q in queries.chunks_exact(dim).take(20) {
        let expected = eager.search_filtered(q, 5, 32, filter).unwrap();
        assert!(expected.iter().all(|n| filter(n.id)));
        lazy.store().evict_all();
        let mut fetcher = BatchFetcher {
            store: lazy.store(),
            batches: Vec::new(),
        };
        let (got, _) = block_on(lazy.search_async(q, 5, 32, filter, &mut fetcher)).unwrap();
        assert_eq!(got, expected);
    }
}

#[test]
fn sync_search_on_unloaded_store_is_an_error() {
    let dim = 8;
    let (lazy, _, queries) = build(200, dim);
    lazy.store().evict_all();
    assert!(matches!(
        lazy.search(&queries[..dim], 5, 16),
        Err(Error::NotResident { .. })
    ));
}

#[test]
fn a_fetcher_that_loads_nothing_gives_an_error_not_a_hang() {
    let dim = 8;
    let (lazy, _, queries) = build(200, dim);
    lazy.store().evict_all();
    let r = block_on(lazy.search_async(&queries[..dim], 5, 16, |_| true, &mut DeadFetcher));
    assert!(matches!(r, Err(Error::FetchIncomplete { .. })), "{r:?}");
}

#[test]
fn a_search_on_codes_fetches_once_the_rerank_list() {
    let dim = 12;
    let (mut lazy, mut eager, queries) = build(2_000, dim);
    lazy.quantize(vectrove_core::Quantization::Sq8).unwrap();
    eager.quantize(vectrove_core::Quantization::Sq8).unwrap();
    let params = vectrove_core::SearchParams {
        ef: 48,
        rerank: 30,
        ..Default::default()
    };
    for (qi, q) in queries.chunks_exact(dim).enumerate() {
        let expected = eager.search_with(q, 10, &params, |_| true).unwrap();
        lazy.store().evict_all();
        let mut fetcher = BatchFetcher {
            store: lazy.store(),
            batches: Vec::new(),
        };
        let mut state = lazy.start_search_with(q, 10, &params).unwrap();
        while let vectrove_core::hnsw::Step::Missing = lazy.resume(&mut state, |_| true).unwrap() {
            block_on(fetcher.fetch(state.missing())).unwrap();
        }
        let got = lazy.finish_search(state);
        assert_eq!(got, expected, "query {qi}");
        // The traversal runs on resident codes: the one fetch is the rerank.
        assert_eq!(fetcher.batches.len(), 1, "query {qi}");
        assert_eq!(fetcher.batches[0].len(), 30, "query {qi}");
    }
}
