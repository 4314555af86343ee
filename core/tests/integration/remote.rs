//! Reading an index in place through `remote`: over a transport that serves
//! the file's bytes (and counts what it is asked for), both kinds, with and
//! without codes, give exactly what the index gives in memory, in the
//! promised number of round trips; damaged or wrong responses are errors
//! and are never cached.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::ops::Range;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use vectrove_core::remote::{self, Fetch, RemoteFile, Trips};
use vectrove_core::rng::SplitMix64;
use vectrove_core::store::PagedStore;
use vectrove_core::{
    AnyIndex, Error, Hnsw, IndexFile, Ivf, IvfParams, MemoryStore, Metric, Quantization,
    RemoteFailure, Result, SearchParams,
};

/// The futures here never wait: poll once.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(x) = f.as_mut().poll(&mut cx) {
            return x;
        }
    }
}

/// A file served from memory, as a range-serving host would; `damage`
/// flips a byte of every response that covers it, `short` cuts responses.
struct Host {
    bytes: Vec<u8>,
    requests: Cell<usize>,
    damage: Cell<Option<u64>>,
    short: Cell<bool>,
    log: RefCell<Vec<Range<u64>>>,
}

impl Host {
    fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            requests: Cell::new(0),
            damage: Cell::new(None),
            short: Cell::new(false),
            log: RefCell::new(Vec::new()),
        }
    }
}

impl Fetch for Host {
    async fn fetch(&self, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>> {
        self.requests.set(self.requests.get() + ranges.len());
        self.log.borrow_mut().extend(ranges.iter().cloned());
        let mut out = Vec::new();
        for r in ranges {
            let mut b = self.bytes[r.start as usize..r.end as usize].to_vec();
            if let Some(at) = self.damage.get().filter(|at| r.contains(at)) {
                b[(at - r.start) as usize] ^= 0x40;
            }
            if self.short.get() {
                b.pop();
            }
            out.push(b);
        }
        Ok(out)
    }
}

type Remote = AnyIndex<PagedStore<Arc<RemoteFile>, f32>>;

fn open(host: &Host, cache: usize) -> Result<(Remote, Arc<RemoteFile>, IndexFileHeader)> {
    let len = host.bytes.len() as u64;
    let first = host.bytes[..len.min(remote::PREFIX_BYTES) as usize].to_vec();
    let (file, remote) = block_on(remote::open(host, len, first, cache))?;
    let header = IndexFileHeader {
        deferred: file.header().codes_deferred(),
    };
    let remote = Arc::new(remote);
    let store = PagedStore::new(remote.clone(), file.header().vectors(), 1 << 20)?;
    Ok((file.into_index(store)?, remote, header))
}

struct IndexFileHeader {
    deferred: bool,
}

fn search(
    index: &Remote,
    remote: &RemoteFile,
    host: &Host,
    q: &[f32],
    p: &SearchParams,
) -> Result<(Vec<vectrove_core::Neighbor>, Trips)> {
    let pages = |s: &[u32]| index.store().pages_for(s);
    block_on(remote::search(index, remote, pages, host, q, 10, p, |_| {
        true
    }))
}

fn unit(rng: &mut SplitMix64) -> f32 {
    (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
}

/// `n` points of dimension `dim` around 20 centres, and 30 queries.
fn data(n: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix64::new(seed);
    let centres: Vec<f32> = (0..20 * dim).map(|_| unit(&mut rng) * 4.0 - 2.0).collect();
    let point = |rng: &mut SplitMix64| {
        let c = (rng.next_u64() % 20) as usize;
        (0..dim)
            .map(|d| centres[c * dim + d] + unit(rng) - 0.5)
            .collect::<Vec<f32>>()
    };
    let points = (0..n).flat_map(|_| point(&mut rng)).collect();
    let queries = (0..30).flat_map(|_| point(&mut rng)).collect();
    (points, queries)
}

fn hnsw(metric: Metric, codes: Option<Quantization>) -> Vec<u8> {
    let (points, _) = data(3000, 24, 1);
    let mut h = Hnsw::builder(24, metric).seed(3).build().unwrap();
    let ids: Vec<u64> = (0..3000).map(|i| i * 7 + 1).collect();
    h.insert_many(&ids, &points).unwrap();
    if let Some(kind) = codes {
        h.quantize(kind).unwrap();
    }
    h.to_bytes().unwrap()
}

fn ivf(metric: Metric, codes: Option<Quantization>) -> Vec<u8> {
    let (points, _) = data(6000, 32, 2);
    let training = MemoryStore::from_flat(32, &points).unwrap();
    let params = IvfParams {
        nlist: 40,
        ..IvfParams::default()
    };
    let mut index = Ivf::train(metric, params, &training).unwrap();
    let ids: Vec<u64> = (0..6000).map(|i| 100_000 - i).collect();
    index.insert_many(&ids, &points).unwrap();
    if let Some(kind) = codes {
        index.quantize(kind).unwrap();
    }
    index.to_bytes().unwrap()
}

/// Every query over the remote file gives what the index gives in memory,
/// each (from a cold cache) in at most `max_rounds` rounds; a repeated
/// query fetches nothing.
fn same_results(bytes: Vec<u8>, dim: usize, p: &SearchParams, max_rounds: u32) -> Vec<Trips> {
    let local: AnyIndex = IndexFile::from_bytes(&bytes).unwrap();
    let host = Host::new(bytes);
    let (index, remote, _) = open(&host, 64 << 20).unwrap();
    let (_, queries) = data(1, dim, 9);
    let mut trips = Vec::new();
    for q in queries.chunks_exact(dim) {
        let want = local.search(q, 10, p).unwrap();
        remote.cache().clear();
        index.store().cache().clear();
        let (got, t) = search(&index, &remote, &host, q, p).unwrap();
        assert_eq!(got, want);
        assert!(t.rounds <= max_rounds, "{t:?}");
        trips.push(t);
        let (again, t) = search(&index, &remote, &host, q, p).unwrap();
        assert_eq!(again, want);
        assert_eq!(
            t,
            Trips::default(),
            "a repeated query is answered from the cache"
        );
    }
    trips
}

#[test]
fn hnsw_with_codes_reads_the_vectors_once_a_query() {
    for kind in [Quantization::Sq8, Quantization::Sq4] {
        let p = SearchParams::default();
        let trips = same_results(hnsw(Metric::Cosine, Some(kind)), 24, &p, 1);
        assert!(trips.iter().all(|t| t.rounds == 1 && t.requests <= 6));
    }
}

#[test]
fn hnsw_without_codes_fetches_a_batch_a_step() {
    let p = SearchParams::default();
    let trips = same_results(hnsw(Metric::L2, None), 24, &p, 10_000);
    assert!(trips.iter().any(|t| t.rounds > 1));
}

#[test]
fn ivf_with_codes_takes_two_rounds_codes_then_vectors() {
    for (metric, kind) in [
        (Metric::L2, Quantization::Sq8),
        (Metric::Cosine, Quantization::Sq8),
        (Metric::InnerProduct, Quantization::Sq4),
    ] {
        let bytes = ivf(metric, Some(kind));
        let host = Host::new(bytes.clone());
        let (_, _, h) = open(&host, 1 << 20).unwrap();
        assert!(h.deferred, "the codes stay in the file");
        let p = SearchParams {
            nprobe: 6,
            ..SearchParams::default()
        };
        let trips = same_results(bytes, 32, &p, 2);
        assert!(trips.iter().all(|t| t.rounds == 2), "{trips:?}");
    }
}

#[test]
fn ivf_without_codes_reads_the_probed_lists_in_one_round() {
    let p = SearchParams {
        nprobe: 4,
        ..SearchParams::default()
    };
    let trips = same_results(ivf(Metric::L2, None), 32, &p, 1);
    assert!(trips.iter().all(|t| t.rounds == 1));
}

#[test]
fn the_metadata_comes_in_few_requests() {
    for bytes in [
        ivf(Metric::L2, Some(Quantization::Sq8)),
        hnsw(Metric::L2, None),
    ] {
        let host = Host::new(bytes);
        open(&host, 1 << 20).unwrap();
        // The first 64 KiB came with the open; the rest of the metadata is
        // one batch (a range before the codes and one after, at most).
        assert!(host.requests.get() <= 2, "{:?}", host.log.borrow());
    }
}

#[test]
fn damaged_or_short_responses_are_errors_and_never_cached() {
    let bytes = ivf(Metric::L2, Some(Quantization::Sq8));
    let local: AnyIndex = IndexFile::from_bytes(&bytes).unwrap();
    assert_eq!(local.len(), 6000);
    let host = Host::new(bytes);
    let (index, remote, _) = open(&host, 64 << 20).unwrap();
    let p = SearchParams::default();
    let (_, queries) = data(1, 32, 9);
    let q = &queries[..32];
    let want = local.search(q, 10, &p).unwrap();

    // A byte the query reads (of the codes or the vectors) is damaged in
    // the responses, in turn: the query fails, and once the host answers
    // right again it succeeds (nothing of a bad response was kept).
    remote.cache().clear();
    host.log.borrow_mut().clear();
    search(&index, &remote, &host, q, &p).unwrap();
    let read: Vec<Range<u64>> = host.log.borrow().clone();
    let mut tried = 0;
    for r in read.iter().step_by(1 + read.len() / 12) {
        for at in [r.start, (r.start + r.end) / 2, r.end - 1] {
            remote.cache().clear();
            index.store().cache().clear();
            host.damage.set(Some(at));
            match search(&index, &remote, &host, q, &p) {
                Err(Error::Corrupt { .. }) => {}
                other => panic!("byte {at}: {other:?}"),
            }
            host.damage.set(None);
            assert_eq!(search(&index, &remote, &host, q, &p).unwrap().0, want);
            tried += 1;
        }
    }
    assert!(tried >= 6);

    remote.cache().clear();
    index.store().cache().clear();
    host.short.set(true);
    match search(&index, &remote, &host, q, &p) {
        Err(Error::Remote {
            failure: RemoteFailure::Length,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    host.short.set(false);
    assert_eq!(search(&index, &remote, &host, q, &p).unwrap().0, want);
}

#[test]
fn a_cache_smaller_than_a_step_is_an_error_not_a_loop() {
    let bytes = ivf(Metric::L2, None);
    let host = Host::new(bytes);
    let (index, remote, _) = open(&host, 64 << 10).unwrap();
    let p = SearchParams {
        nprobe: 40,
        ..SearchParams::default()
    };
    let (_, queries) = data(1, 32, 9);
    match search(&index, &remote, &host, &queries[..32], &p) {
        Err(Error::FetchIncomplete { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_damaged_header_or_metadata_fails_the_open() {
    let bytes = hnsw(Metric::L2, Some(Quantization::Sq8));
    for at in [3usize, 70, 200, 5000] {
        let mut b = bytes.clone();
        b[at] ^= 1;
        let host = Host::new(b);
        assert!(matches!(open(&host, 1 << 20), Err(Error::Corrupt { .. })));
    }
}

#[test]
fn a_full_cache_keeps_the_blocks_a_round_fetched_until_the_search_reads_them() {
    // The cache fills after a few queries; from then on every round evicts
    // older blocks, never the ones it brought for the search in progress.
    let bytes = ivf(Metric::L2, Some(Quantization::Sq8));
    let local: AnyIndex = IndexFile::from_bytes(&bytes).unwrap();
    let host = Host::new(bytes);
    let (index, remote, _) = open(&host, 768 << 10).unwrap();
    let p = SearchParams {
        nprobe: 2,
        ..SearchParams::default()
    };
    let (_, queries) = data(1, 32, 11);
    for _ in 0..4 {
        for q in queries.chunks_exact(32) {
            let (got, t) = search(&index, &remote, &host, q, &p).unwrap();
            assert_eq!(got, local.search(q, 10, &p).unwrap());
            assert!(t.rounds <= 2, "{t:?}");
        }
    }
    assert!(remote.cache().stats().evictions > 0, "the cache was full");
}
