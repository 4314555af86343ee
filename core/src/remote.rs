//! Reading an index file in place where it is published: a static host, a
//! CDN or an object store, by range requests, fetching only the bytes a
//! query needs.
//!
//! The core does no I/O here. A front end supplies a [`Fetch`] (the
//! browser's `fetch`, an object store client natively) that reads byte
//! ranges of one file, pinned when it was opened. [`open`] reads and checks
//! the metadata in a few rounds; the vectors, and the codes of an IVF file
//! that has their block checksums, stay in the file behind a
//! [`RemoteFile`]: a [`ByteSource`] that answers from a cache of
//! checksum-verified blocks and [`SourceRead::Pending`] for anything else.
//! [`search`] then runs the one resumable search of either index kind and,
//! whenever a step lacks bytes, fetches all of them in one batch: one
//! dependent round trip, its ranges merged where they are close and
//! requested concurrently otherwise.
//!
//! Every block is checked against the file's checksums before it is cached
//! (the vectors' 64 KiB blocks of `VSUM`, the codes' blocks of `QSUM`), so
//! a response with the wrong bytes is an error and is never used.
//!
//! ```
//! use std::ops::Range;
//! use std::sync::Arc;
//! use vectrove_core::remote::{self, Fetch, RemoteFile};
//! use vectrove_core::store::PagedStore;
//! use vectrove_core::{Hnsw, Metric, Result, SearchParams};
//!
//! /// A "remote" file that is a buffer here; a real one sends range requests.
//! struct Bytes(Vec<u8>);
//! impl Fetch for Bytes {
//!     async fn fetch(&self, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>> {
//!         Ok(ranges.iter().map(|r| self.0[r.start as usize..r.end as usize].to_vec()).collect())
//!     }
//! }
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let waker = std::task::Waker::noop();
//! #     let mut cx = std::task::Context::from_waker(waker);
//! #     let mut f = std::pin::pin!(f);
//! #     loop { if let std::task::Poll::Ready(x) = f.as_mut().poll(&mut cx) { return x; } }
//! # }
//! let mut index = Hnsw::builder(2, Metric::L2).build()?;
//! for i in 0..100u64 {
//!     index.insert(i, &[i as f32, 0.5])?;
//! }
//! let file = Bytes(index.to_bytes()?);
//! let len = file.0.len() as u64;
//! block_on(async {
//!     let first = file.fetch(&[0..len.min(remote::PREFIX_BYTES)]).await?.remove(0);
//!     let (meta, remote) = remote::open(&file, len, first, 1 << 20).await?;
//!     let remote = Arc::new(remote);
//!     let store = PagedStore::<_, f32>::new(remote.clone(), meta.header().vectors(), 1 << 20)?;
//!     let opened = meta.into_index(store)?;
//!     let pages = |slots: &[u32]| opened.store().pages_for(slots);
//!     let params = SearchParams::default();
//!     let (hits, trips) =
//!         remote::search(&opened, &remote, pages, &file, &[42.2, 0.5], 1, &params, |_| true).await?;
//!     assert_eq!(hits[0].id, 42);
//!     assert!(trips.rounds >= 1);
//!     Ok::<(), vectrove_core::Error>(())
//! })?;
//! # Ok::<(), vectrove_core::Error>(())
//! ```

use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache::{Page, PageCache};
use crate::error::{Error, RemoteFailure, Result};
use crate::format::{Header, IndexFile, MetaReader, VectorChecksums, checksum};
use crate::hnsw::Step;
use crate::index::{AnyIndex, SearchParams};
use crate::neighbor::Neighbor;
use crate::quant::Quant;
use crate::store::{ByteSource, FeatureStore, PageRequest, SourceRead};

/// Bytes a transport asks for first (`Range: bytes=0-65535`): the header,
/// the section table and, for a small file, everything. From that answer it
/// learns the file's length and pins its version.
pub const PREFIX_BYTES: u64 = 64 << 10;

/// Reads byte ranges of one remote file, as it was when it was opened.
pub trait Fetch {
    /// The bytes of every range of `ranges` (disjoint, ascending), in the
    /// same order, each exactly as long as its range. A transport sends them
    /// concurrently, one request each. A failure is an
    /// [`Error::Remote`] saying which ([`RemoteFailure`]); a response that
    /// is not exactly the bytes asked for is never returned as if it were.
    fn fetch(&self, ranges: &[Range<u64>]) -> impl Future<Output = Result<Vec<Vec<u8>>>>;
}

/// Read and check the metadata of a remote file of `file_len` bytes through
/// `fetch`, given `first`, the bytes from its start that the transport
/// already has (the answer to its first request; may be empty). The
/// sections after the header go out in one batch. Returns the decoded file
/// (everything but the vectors, and the codes of an IVF file with code
/// checksums) and the file as a source of its remaining bytes, whose block
/// cache holds at most `cache_bytes`.
pub async fn open<F: Fetch>(
    fetch: &F,
    file_len: u64,
    first: Vec<u8>,
    cache_bytes: usize,
) -> Result<(IndexFile, RemoteFile)> {
    let mut reader = MetaReader::for_remote(file_len);
    // Fetched pieces: (offset, bytes).
    let mut have: Vec<(u64, Vec<u8>)> = vec![(0, first)];
    let covered = |have: &[(u64, Vec<u8>)], r: &Range<u64>| {
        have.iter()
            .position(|(at, b)| *at <= r.start && r.end <= at + b.len() as u64)
    };
    while let Some(want) = reader.wants() {
        let Some(i) = covered(&have, &want) else {
            let need: Vec<Range<u64>> = reader
                .remaining()
                .into_iter()
                .filter(|r| covered(&have, r).is_none())
                .collect();
            let got = fetch_checked(fetch, &need).await?;
            have.extend(need.iter().map(|r| r.start).zip(got));
            continue;
        };
        let (at, bytes) = &have[i];
        let from = (want.start - at) as usize;
        reader.feed(&bytes[from..from + (want.end - want.start) as usize])?;
    }
    drop(have);
    let (header, meta) = reader.finish()?;
    let file = IndexFile::decode(header, &meta)?;
    let remote = RemoteFile::new(&file, cache_bytes)?;
    Ok((file, remote))
}

/// `fetch.fetch(ranges)`, its answer checked to be one piece of the right
/// length per range.
async fn fetch_checked<F: Fetch>(fetch: &F, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let got = fetch.fetch(ranges).await?;
    let ok = got.len() == ranges.len()
        && got
            .iter()
            .zip(ranges)
            .all(|(b, r)| b.len() as u64 == r.end - r.start);
    if !ok {
        return Err(Error::Remote {
            failure: RemoteFailure::Length,
            message: "the transport returned other bytes than the ranges asked for".into(),
        });
    }
    Ok(got)
}

/// What one search fetched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trips {
    /// Dependent round trips: batches fetched one after another.
    pub rounds: u32,
    /// Requests (ranges) over all rounds.
    pub requests: u32,
    /// Bytes fetched.
    pub bytes: u64,
}

/// Counters of a [`RemoteFile`] since it was opened (the metadata read by
/// [`open`] not included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteStats {
    /// Batches fetched.
    pub rounds: u64,
    /// Ranges fetched.
    pub requests: u64,
    /// Bytes fetched.
    pub bytes: u64,
}

/// How a batch's missing blocks become requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coalesce {
    /// Merge the closest runs of blocks until a batch is at most this many
    /// requests (browsers run six HTTP/1.1 requests to a host at once; more
    /// wait for a free connection, which costs another round trip)...
    pub max_requests: usize,
    /// ...but never read through a gap longer than this many bytes.
    pub max_gap_bytes: u64,
}

impl Default for Coalesce {
    fn default() -> Self {
        Self {
            max_requests: 6,
            max_gap_bytes: 256 << 10,
        }
    }
}

/// A stretch of the file with block checksums.
#[derive(Debug)]
struct Region {
    start: u64,
    end: u64,
    block: u64,
    check: Check,
    /// Cache key of block 0.
    first_key: u64,
}

#[derive(Debug)]
enum Check {
    /// The vectors section: `VSUM`, which also checks the values are finite.
    Vectors(VectorChecksums),
    /// The codes section: `QSUM`.
    Codes(Vec<u32>),
}

impl Region {
    fn blocks(&self) -> u64 {
        (self.end - self.start).div_ceil(self.block)
    }

    /// The byte range of block `b` in the file.
    fn block_range(&self, b: u64) -> Range<u64> {
        let start = self.start + b * self.block;
        start..(start + self.block).min(self.end)
    }

    fn verify(&self, b: u64, bytes: &[u8]) -> Result<()> {
        match &self.check {
            Check::Vectors(sums) => sums.verify_block(b as usize, bytes),
            Check::Codes(sums) => match sums.get(b as usize) {
                Some(&crc) if checksum(bytes) == crc => Ok(()),
                _ => Err(Error::Corrupt {
                    section: "codes",
                    reason: format!("checksum mismatch in block {b}"),
                }),
            },
        }
    }
}

/// The parts of a remote index file that stay remote (the vectors, and the
/// codes of an IVF file that has their block checksums), as a
/// [`ByteSource`]: reads answer from a cache of blocks checked against the
/// file's checksums, [`SourceRead::Pending`] when a block is not cached.
/// [`search`] fetches what a step lacks and [`fill`](Self::fill)s it in.
#[derive(Debug)]
pub struct RemoteFile {
    len: u64,
    regions: Vec<Region>,
    cache: PageCache,
    coalesce: Coalesce,
    rounds: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl RemoteFile {
    /// The remote parts of `file`, with a block cache of at most
    /// `cache_bytes` (at least one block of the largest kind).
    pub fn new(file: &IndexFile, cache_bytes: usize) -> Result<Self> {
        let h: &Header = file.header();
        let sums = file.vector_checksums();
        let vectors = h.vectors().base_offset;
        let mut regions = vec![Region {
            start: vectors,
            end: vectors + sums.total(),
            block: crate::format::VECTOR_BLOCK_BYTES,
            check: Check::Vectors(sums.clone()),
            first_key: 0,
        }];
        if let Some(Quant::Lazy(lazy)) = file.quant() {
            let len = lazy.count as u64 * lazy.codes.code_len() as u64;
            regions.push(Region {
                start: lazy.offset,
                end: lazy.offset + len,
                block: lazy.block,
                check: Check::Codes(lazy.sums.clone()),
                first_key: 0,
            });
        }
        // At most two regions: the codes (in the metadata) come first.
        if regions.len() == 2 && regions[1].start < regions[0].start {
            regions.swap(0, 1);
        }
        let largest = regions.iter().map(|r| r.block).max().unwrap_or(1) as usize;
        let cache = PageCache::new(largest, cache_bytes.max(largest))?;
        for r in &mut regions {
            r.first_key = cache.reserve_page_numbers(r.blocks())?;
        }
        Ok(Self {
            len: h.file_len,
            regions,
            cache,
            coalesce: Coalesce::default(),
            rounds: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    /// Set how missing blocks are merged into requests.
    pub fn set_coalesce(&mut self, c: Coalesce) {
        self.coalesce = Coalesce {
            max_requests: c.max_requests.max(1),
            ..c
        };
    }

    /// Counters since the file was opened.
    pub fn stats(&self) -> RemoteStats {
        RemoteStats {
            rounds: self.rounds.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// The block cache (its budget and counters).
    pub fn cache(&self) -> &PageCache {
        &self.cache
    }

    /// The number of the region holding byte `at`.
    fn region_index(&self, at: u64) -> Option<usize> {
        let i = self.regions.partition_point(|r| r.end <= at);
        self.regions.get(i).filter(|r| r.start <= at).map(|_| i)
    }

    /// The region holding byte `at`.
    fn region(&self, at: u64) -> Option<&Region> {
        self.region_index(at).map(|i| &self.regions[i])
    }

    /// The requests that fetch every block `ranges` touch that the cache
    /// lacks: whole blocks, adjacent ones in one request, close runs merged
    /// as [`Coalesce`] allows, ascending. Bytes outside the remote parts are
    /// ignored (the metadata is in memory).
    pub fn plan(&self, ranges: &[Range<u64>]) -> Vec<Range<u64>> {
        // The cache key of every block touched: keys ascend with the file
        // offset across regions, so one sort of integers orders them.
        let mut keys: Vec<u64> = Vec::new();
        for r in ranges.iter().filter(|r| r.start < r.end) {
            let Some(region) = self.region(r.start) else {
                continue;
            };
            let first = (r.start - region.start) / region.block;
            let last = (r.end.min(region.end) - 1 - region.start) / region.block;
            keys.extend((first..=last).map(|b| region.first_key + b));
        }
        keys.sort_unstable();
        keys.dedup();
        // Runs of adjacent missing blocks, each one request.
        let mut runs: Vec<(usize, Range<u64>)> = Vec::new();
        for key in keys.into_iter().filter(|&k| !self.cache.contains(k)) {
            let ri = self
                .regions
                .partition_point(|r| r.first_key + r.blocks() <= key);
            let region = &self.regions[ri];
            let br = region.block_range(key - region.first_key);
            match runs.last_mut() {
                Some((rj, run)) if *rj == ri && run.end == br.start => run.end = br.end,
                _ => runs.push((ri, br)),
            }
        }
        // Merge the closest neighbours (within a region: a merged request
        // reads the blocks between, which are checked like the rest) while
        // there are more requests than one round should send.
        let c = self.coalesce;
        while runs.len() > c.max_requests {
            let best = (1..runs.len())
                .filter(|&i| runs[i - 1].0 == runs[i].0)
                .map(|i| (runs[i].1.start - runs[i - 1].1.end, i))
                .min();
            match best {
                Some((gap, i)) if gap <= c.max_gap_bytes => {
                    let end = runs.remove(i).1.end;
                    runs[i - 1].1.end = end;
                }
                _ => break,
            }
        }
        runs.into_iter().map(|(_, r)| r).collect()
    }

    /// Check the bytes of `range`, one of the requests [`plan`](Self::plan)
    /// made, without caching them: whole blocks of the remote parts, each
    /// matching its checksum. A front end that keeps fetched blocks
    /// elsewhere (a warm cache on disk) checks them with this before it
    /// keeps them and again when it reads them back.
    pub fn check(&self, range: Range<u64>, bytes: &[u8]) -> Result<()> {
        self.blocks(&range, bytes, |region, b, block| region.verify(b, block))
    }

    /// Cache the bytes of `range`, one of the requests [`plan`](Self::plan)
    /// made, as fetched: every block in it is checked against its checksum
    /// first, and none is cached unless all are good.
    pub fn fill(&self, range: Range<u64>, bytes: &[u8]) -> Result<()> {
        self.check(range.clone(), bytes)?;
        self.blocks(&range, bytes, |region, b, block| {
            let key = region.first_key + b;
            // A block already cached (one a merged request read through)
            // is marked used too, so that the blocks after it cannot evict it.
            if !self.cache.touch(key) {
                self.cache.insert_used(key, Page::from_bytes(block));
            }
            Ok(())
        })
    }

    /// Run `f` on every block of `range` (whole blocks of one region) with
    /// its bytes out of `bytes`.
    fn blocks(
        &self,
        range: &Range<u64>,
        bytes: &[u8],
        mut f: impl FnMut(&Region, u64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let bad = |why: &str| Error::Remote {
            failure: RemoteFailure::Length,
            message: format!("bytes {}..{}: {why}", range.start, range.end),
        };
        if bytes.len() as u64 != range.end - range.start {
            return Err(bad("the response is not as long as the range asked for"));
        }
        let Some(region) = self.region(range.start) else {
            return Err(bad("not in the vectors or codes"));
        };
        let at = range.start - region.start;
        if !at.is_multiple_of(region.block) || range.end > region.end {
            return Err(bad("not whole blocks"));
        }
        let (mut b, mut off) = (at / region.block, 0usize);
        while off < bytes.len() {
            let br = region.block_range(b);
            let n = (br.end - br.start) as usize;
            let block = bytes
                .get(off..off + n)
                .ok_or_else(|| bad("not whole blocks"))?;
            f(region, b, block)?;
            off += n;
            b += 1;
        }
        Ok(())
    }

    /// Whether every block of `range` (one of [`plan`](Self::plan)'s) is cached.
    fn holds(&self, range: &Range<u64>) -> bool {
        let Some(region) = self.region(range.start) else {
            return false;
        };
        let first = (range.start - region.start) / region.block;
        let last = (range.end - 1 - region.start) / region.block;
        (first..=last).all(|b| self.cache.contains(region.first_key + b))
    }

    /// Fetch every block `ranges` touch that the cache lacks, in one round,
    /// and cache it. Returns what was fetched.
    pub async fn fetch_missing<F: Fetch>(&self, fetch: &F, ranges: &[Range<u64>]) -> Result<Trips> {
        let plan = self.plan(ranges);
        if plan.is_empty() {
            return Ok(Trips::default());
        }
        let got = fetch_checked(fetch, &plan).await?;
        let bytes: u64 = got.iter().map(|b| b.len() as u64).sum();
        for (r, b) in plan.iter().zip(&got) {
            self.fill(r.clone(), b)?;
        }
        // A cache smaller than one step's bytes would evict some of them
        // before the step reads them, and the search would fetch forever.
        if let Some(r) = plan.iter().find(|r| !self.holds(r)) {
            return Err(Error::FetchIncomplete {
                count: (r.end - r.start) as usize,
            });
        }
        self.rounds.fetch_add(1, Ordering::Relaxed);
        self.requests
            .fetch_add(plan.len() as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(Trips {
            rounds: 1,
            requests: plan.len() as u32,
            bytes,
        })
    }
}

impl ByteSource for RemoteFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        if buf.is_empty() {
            return Ok(SourceRead::Done);
        }
        let end = offset.saturating_add(buf.len() as u64);
        let region = self
            .region(offset)
            .filter(|r| end <= r.end)
            .ok_or_else(|| Error::InvalidParameter {
                name: "offset",
                reason: format!("bytes {offset}..{end} are not in the remote parts of the file"),
            })?;
        let mut b = (offset - region.start) / region.block;
        let mut at = offset;
        let mut out = 0usize;
        while out < buf.len() {
            let Some(page) = self.cache.get(region.first_key + b) else {
                return Ok(SourceRead::Pending);
            };
            let br = region.block_range(b);
            let from = (at - br.start) as usize;
            let n = (page.as_bytes().len() - from).min(buf.len() - out);
            buf[out..out + n].copy_from_slice(&page.as_bytes()[from..from + n]);
            out += n;
            at += n as u64;
            b += 1;
        }
        Ok(SourceRead::Done)
    }

    fn is_async(&self) -> bool {
        true
    }

    fn spans_pay(&self) -> bool {
        true
    }
}

/// The state of a search of either kind that an asynchronous store can
/// interrupt (see [`AnyIndex::start_search_with`]).
pub enum AnySearch<T: crate::distance::Element> {
    /// Of an HNSW index.
    Hnsw(crate::hnsw::SearchState<T>),
    /// Of an IVF index.
    Ivf(crate::ivf::IvfSearch<T>),
}

impl<T: crate::distance::Element> AnySearch<T> {
    /// The slots whose vectors the store lacked in the last resume.
    pub fn missing(&self) -> &[u32] {
        match self {
            AnySearch::Hnsw(s) => s.missing(),
            AnySearch::Ivf(s) => s.missing(),
        }
    }

    /// The file bytes (codes) the last resume lacked.
    pub fn missing_ranges(&self) -> &[Range<u64>] {
        match self {
            AnySearch::Hnsw(_) => &[],
            AnySearch::Ivf(s) => s.missing_ranges(),
        }
    }
}

impl<S: FeatureStore> AnyIndex<S> {
    /// Start a search that an asynchronous store can interrupt:
    /// [`resume`](Self::resume) it until it is [`Step::Done`], fetching
    /// what [`AnySearch::missing`] and [`AnySearch::missing_ranges`] name
    /// after each [`Step::Missing`].
    pub fn start_search_with(
        &self,
        query: &[S::Elem],
        k: usize,
        params: &SearchParams,
    ) -> Result<AnySearch<S::Elem>> {
        Ok(match self {
            AnyIndex::Hnsw(h) => AnySearch::Hnsw(h.start_search_with(query, k, params)?),
            AnyIndex::Ivf(i) => AnySearch::Ivf(i.start_search_with(query, k, params)?),
        })
    }

    /// Run a search as far as the store allows (see
    /// [`Hnsw::resume`](crate::Hnsw::resume), [`Ivf::resume`](crate::Ivf::resume)).
    pub fn resume(
        &self,
        state: &mut AnySearch<S::Elem>,
        filter: impl Fn(u64) -> bool,
    ) -> Result<Step> {
        match (self, state) {
            (AnyIndex::Hnsw(h), AnySearch::Hnsw(s)) => h.resume(s, filter),
            (AnyIndex::Ivf(i), AnySearch::Ivf(s)) => i.resume(s, filter),
            _ => Err(Error::InvalidParameter {
                name: "state",
                reason: "a search of the other index kind".into(),
            }),
        }
    }

    /// The results of a search that answered [`Step::Done`], nearest first.
    pub fn finish_search(&self, state: AnySearch<S::Elem>) -> Vec<Neighbor> {
        match (self, state) {
            (AnyIndex::Hnsw(h), AnySearch::Hnsw(s)) => h.finish_search(s),
            (AnyIndex::Ivf(i), AnySearch::Ivf(s)) => i.finish_search(s),
            _ => Vec::new(),
        }
    }
}

/// Rounds after which a search that still lacks bytes gives up: every
/// round fetches all that a step lacks, so only a cache too small for one
/// step's bytes gets here.
const MAX_IDLE_ROUNDS: u32 = 3;

/// Search `index`, whose store reads `remote`, fetching through `fetch`
/// whatever a step lacks, one batch a step. `pages` names the byte ranges
/// of the pages holding some vectors (`|slots| paged_store.pages_for(slots)`).
/// Returns the hits and what this search fetched.
#[allow(clippy::too_many_arguments)]
pub async fn search<S: FeatureStore, F: Fetch>(
    index: &AnyIndex<S>,
    remote: &RemoteFile,
    pages: impl Fn(&[u32]) -> Vec<PageRequest>,
    fetch: &F,
    query: &[S::Elem],
    k: usize,
    params: &SearchParams,
    filter: impl Fn(u64) -> bool,
) -> Result<(Vec<Neighbor>, Trips)> {
    let mut state = index.start_search_with(query, k, params)?;
    let mut trips = Trips::default();
    let mut idle = 0;
    while let Step::Missing = index.resume(&mut state, &filter)? {
        let mut ranges: Vec<Range<u64>> = state.missing_ranges().to_vec();
        ranges.extend(
            pages(state.missing())
                .into_iter()
                .map(|p| p.offset..p.offset + p.len as u64),
        );
        let got = remote.fetch_missing(fetch, &ranges).await?;
        if got.requests == 0 {
            idle += 1;
            if idle >= MAX_IDLE_ROUNDS {
                return Err(Error::FetchIncomplete {
                    count: state.missing().len() + state.missing_ranges().len(),
                });
            }
        }
        trips.rounds += got.rounds;
        trips.requests += got.requests;
        trips.bytes += got.bytes;
    }
    Ok((index.finish_search(state), trips))
}
