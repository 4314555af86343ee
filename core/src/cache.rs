//! A page cache with a byte budget, shared by every byte-addressed backend
//! (positional file reads, an OPFS sync handle, IndexedDB chunks).
//!
//! Pages are immutable and reference counted, so a reader clones a [`Page`]
//! out under the lock and computes on it after the lock is released. The
//! budget bounds the bytes the cache itself holds: a page a caller still has a
//! clone of lives on after eviction until that clone is dropped, so peak memory
//! is the budget plus whatever callers hold at that moment.
//!
//! Eviction is CLOCK (second chance): a hit sets a page's reference bit, and
//! the hand spares a referenced page once, clearing its bit. A page read once
//! by a scan is never referenced again and goes first, while a page that is
//! hit between two passes of the hand (an HNSW entry point, say) stays.
//! Unlike LRU, a hit only sets a flag, so it never reorders a list.
//!
//! A batch of lookups ([`PageCache::get_many`]) takes the lock once. The
//! buffers of evicted pages that no reader holds are kept (a few, see
//! [`PageCache::fill_page`]) for the next pages read, so a miss in a full
//! cache neither allocates nor frees.

use std::collections::hash_map::Entry::{Occupied, Vacant};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};

/// One cache line; pages (and the in-memory store) are arrays of these so
/// their bytes start 64-byte aligned and can be cast to `f32` or `u8` vectors
/// without a copy.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line(pub(crate) [u8; 64]);

// SAFETY: `Line` is a plain array of bytes with no padding (size 64, align 64),
// so every bit pattern is valid and all-zeroes is a valid value.
unsafe impl bytemuck::Zeroable for Line {}
// SAFETY: as above; it is also `Copy`, `repr(C)` and holds no references.
unsafe impl bytemuck::Pod for Line {}

/// One cached page: an immutable byte buffer whose first byte is 64-byte
/// aligned. Cloning is a reference-count increment.
#[derive(Clone)]
pub struct Page {
    lines: Arc<[Line]>,
    len: usize,
}

impl Page {
    /// A page of `len` bytes, zeroed, then handed to `fill` to write, so a
    /// loader reads straight into the page's buffer. An error from `fill` is
    /// returned as is and the buffer is dropped.
    pub fn fill<R>(len: usize, fill: impl FnOnce(&mut [u8]) -> Result<R>) -> Result<(Page, R)> {
        let (page, out) = Self::build(len, fill);
        Ok((page, out?))
    }

    /// A page holding a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Page {
        Self::build(bytes.len(), |buf| buf.copy_from_slice(bytes)).0
    }

    fn build<R>(len: usize, write: impl FnOnce(&mut [u8]) -> R) -> (Page, R) {
        // One allocation, zeroed in one go (building it from an iterator of
        // lines costs more than the read that follows).
        let mut uninit = Arc::<[Line]>::new_uninit_slice(len.div_ceil(64));
        let Some(buf) = Arc::get_mut(&mut uninit) else {
            unreachable!("a new Arc is unique")
        };
        buf.fill(std::mem::MaybeUninit::new(Line([0; 64])));
        // SAFETY: every line of the buffer was written just above.
        let mut lines: Arc<[Line]> = unsafe { uninit.assume_init() };
        // Unique, as said above.
        let Some(lines_mut) = Arc::get_mut(&mut lines) else {
            unreachable!("a new Arc is unique")
        };
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(lines_mut);
        let out = write(&mut bytes[..len]);
        (Page { lines, len }, out)
    }

    /// The page's bytes (also reachable through `Deref`).
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<Line, u8>(&self.lines)[..self.len]
    }

    /// Whether `a` and `b` share one buffer (one is a clone of the other).
    pub fn ptr_eq(a: &Page, b: &Page) -> bool {
        Arc::ptr_eq(&a.lines, &b.lines)
    }
}

impl std::ops::Deref for Page {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The contents are up to a page of raw bytes; the length is what helps.
        f.debug_struct("Page").field("len", &self.len).finish()
    }
}

/// Counters of a [`PageCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found their page.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Pages dropped to stay within the budget.
    pub evictions: u64,
    /// Bytes of the pages held now.
    pub resident_bytes: usize,
    /// Pages held now.
    pub resident_pages: usize,
}

/// Page numbers are dense integers; SipHash's protection against chosen keys
/// buys nothing here and would cost more than the rest of a lookup.
#[derive(Default)]
struct PageNoHasher(u64);

impl Hasher for PageNoHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fold the high half down so both the bucket bits (low) and the
        // control bits (high) of hashbrown depend on every bit of the key.
        let h = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }
}

struct Entry {
    page: Page,
    referenced: bool,
}

struct State {
    map: HashMap<u64, Entry, BuildHasherDefault<PageNoHasher>>,
    /// Every resident page number exactly once; the hand is the front.
    clock: VecDeque<u64>,
    budget: usize,
    bytes: usize,
    next_reserved: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
    /// Buffers of evicted pages no reader held, for the next pages read
    /// (see [`SPARE_BUFFERS`]).
    spare: Vec<Arc<[Line]>>,
}

/// Buffers of evicted pages kept for reuse, at most: a miss then costs no
/// allocation, no zeroing and no free. They are outside the budget, and
/// together hold at most a sixteenth of it.
const SPARE_BUFFERS: usize = 16;

impl State {
    /// Evict until `need` more bytes fit. Each turn either evicts a page or
    /// clears a bit a hit set, so the work is amortised over those hits.
    fn make_room(&mut self, need: usize) {
        while self.bytes.saturating_add(need) > self.budget {
            let Some(no) = self.clock.pop_front() else {
                return;
            };
            match self.map.entry(no) {
                Occupied(mut e) if e.get().referenced => {
                    e.get_mut().referenced = false;
                    self.clock.push_back(no);
                }
                Occupied(e) => {
                    let Page { lines, len } = e.remove().page;
                    self.bytes -= len;
                    self.evictions += 1;
                    let room = self.budget / 16 / SPARE_BUFFERS;
                    if self.spare.len() < SPARE_BUFFERS
                        && lines.len() * 64 <= room
                        && Arc::strong_count(&lines) == 1
                    {
                        self.spare.push(lines);
                    }
                }
                Vacant(_) => {}
            }
        }
    }
}

impl State {
    fn get(&mut self, page_no: u64) -> Option<Page> {
        match self.map.get_mut(&page_no) {
            Some(e) => {
                e.referenced = true;
                self.hits += 1;
                Some(e.page.clone())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    fn insert(&mut self, page_no: u64, page: Page, referenced: bool) -> Page {
        if let Some(e) = self.map.get_mut(&page_no) {
            e.referenced = true;
            return e.page.clone();
        }
        // An empty page costs nothing to rebuild and would let the page count
        // grow without bound under a byte budget.
        if page.is_empty() || page.len() > self.budget {
            return page;
        }
        self.make_room(page.len());
        self.bytes += page.len();
        self.clock.push_back(page_no);
        let entry = Entry {
            page: page.clone(),
            referenced,
        };
        self.map.insert(page_no, entry);
        page
    }
}

/// A cache of immutable pages keyed by page number, holding at most a budget
/// of bytes. All methods take `&self`; the cache is `Send + Sync` and is
/// meant to be shared (in an `Arc`) by every store reading through it.
pub struct PageCache {
    page_size: usize,
    state: Mutex<State>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("page_size", &self.page_size)
            .field("budget", &self.budget())
            .field("stats", &self.stats())
            .finish()
    }
}

impl PageCache {
    /// A cache of (nominally) `page_size`-byte pages holding at most
    /// `budget_bytes`. The budget must hold at least one full page.
    pub fn new(page_size: usize, budget_bytes: usize) -> Result<Self> {
        if page_size == 0 {
            return Err(Error::InvalidParameter {
                name: "page_size",
                reason: "must be at least 1".into(),
            });
        }
        check_budget(page_size, budget_bytes)?;
        Ok(Self {
            page_size,
            state: Mutex::new(State {
                map: HashMap::default(),
                clock: VecDeque::new(),
                budget: budget_bytes,
                bytes: 0,
                next_reserved: 0,
                hits: 0,
                misses: 0,
                evictions: 0,
                spare: Vec::new(),
            }),
        })
    }

    /// Nominal page size in bytes: what stores aim for when they cut a source
    /// into pages. Pages of other lengths are accepted and accounted exactly.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Budget in bytes.
    pub fn budget(&self) -> usize {
        self.lock().budget
    }

    /// Change the budget, evicting at once if the cache now holds too much.
    /// Refused (and nothing changes) if it would not hold one full page.
    pub fn set_budget(&self, budget_bytes: usize) -> Result<()> {
        check_budget(self.page_size, budget_bytes)?;
        let mut s = self.lock();
        s.budget = budget_bytes;
        s.make_room(0);
        Ok(())
    }

    /// `count` consecutive page numbers no other caller of this method gets;
    /// returns the first. Stores sharing one cache take their page numbers
    /// from here so their pages cannot collide. Numbers are never reused.
    pub fn reserve_page_numbers(&self, count: u64) -> Result<u64> {
        let mut s = self.lock();
        let first = s.next_reserved;
        s.next_reserved = first
            .checked_add(count)
            .ok_or_else(|| Error::InvalidParameter {
                name: "count",
                reason: "the cache has run out of page numbers".into(),
            })?;
        Ok(first)
    }

    /// The page `page_no` if it is cached. Counts a hit or a miss; a hit
    /// spares the page from the next pass of the clock hand.
    pub fn get(&self, page_no: u64) -> Option<Page> {
        self.lock().get(page_no)
    }

    /// [`get`](Self::get) for every page of `page_nos` under one lock:
    /// `out[i]` becomes page `page_nos[i]` if it is cached, `None` if not.
    /// `out` must be at least as long as `page_nos`.
    pub fn get_many(&self, page_nos: &[u64], out: &mut [Option<Page>]) {
        let mut s = self.lock();
        for (&no, slot) in page_nos.iter().zip(out) {
            *slot = s.get(no);
        }
    }

    /// Whether page `page_no` is cached, without counting a lookup or
    /// marking the page used.
    pub fn contains(&self, page_no: u64) -> bool {
        self.lock().map.contains_key(&page_no)
    }

    /// Cache `page` as `page_no`, evicting as needed, and return the cached
    /// page. If `page_no` is already cached (another reader loaded it first)
    /// the cached page is kept and returned, so all readers share one copy.
    /// An empty page, or one larger than the whole budget, is returned without
    /// being cached.
    pub fn insert(&self, page_no: u64, page: Page) -> Page {
        self.lock().insert(page_no, page, false)
    }

    /// [`insert`](Self::insert), the page marked as used: the clock passes
    /// it over once before it may evict it. For a page fetched for a reader
    /// that reads it later (an asynchronous fetch of a batch): a new page is
    /// otherwise the first candidate once the clock has cleared the marks
    /// of the pages before it, and a batch could evict its own pages.
    pub fn insert_used(&self, page_no: u64, page: Page) -> Page {
        self.lock().insert(page_no, page, true)
    }

    /// Mark page `page_no` as used, as a hit would (without counting one):
    /// whether it is cached.
    pub fn touch(&self, page_no: u64) -> bool {
        match self.lock().map.get_mut(&page_no) {
            Some(e) => {
                e.referenced = true;
                true
            }
            None => false,
        }
    }

    /// The page `page_no`, loading it on a miss: `load` gets a zeroed buffer
    /// of `len` bytes and returns `Ok(true)` once it has filled it, or
    /// `Ok(false)` if the bytes cannot be had now (an asynchronous source),
    /// in which case nothing is cached and the result is `None`.
    ///
    /// The lock is not held while `load` runs, so readers of other pages are
    /// never stuck behind I/O. Two readers missing the same page at once both
    /// load it; the first to finish is cached and the other's copy dropped.
    /// Waiting for the first instead would need a condition variable, which
    /// wasm32 without threads cannot block on.
    pub fn get_or_load(
        &self,
        page_no: u64,
        len: usize,
        load: impl FnOnce(&mut [u8]) -> Result<bool>,
    ) -> Result<Option<Page>> {
        if let Some(page) = self.get(page_no) {
            return Ok(Some(page));
        }
        let (page, filled) = Page::fill(len, load)?;
        Ok(filled.then(|| self.insert(page_no, page)))
    }

    /// The counters, and what the cache holds now.
    pub fn stats(&self) -> CacheStats {
        let s = self.lock();
        CacheStats {
            hits: s.hits,
            misses: s.misses,
            evictions: s.evictions,
            resident_bytes: s.bytes,
            resident_pages: s.map.len(),
        }
    }

    /// Drop every cached page. The counters keep counting; the pages dropped
    /// here are not counted as evictions.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.map.clear();
        s.clock.clear();
        s.spare.clear();
        s.bytes = 0;
    }

    /// A page of `len` bytes that `fill` writes, as [`Page::fill`], but in the
    /// buffer of an evicted page when one of the size is spare: its bytes are
    /// then those of the old page until `fill` overwrites them, so `fill`
    /// must write all of them (a source's `read_at` does, or fails).
    pub fn fill_page<R>(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<R>,
    ) -> Result<(Page, R)> {
        let spare = {
            let mut s = self.lock();
            // Pages of one store are one size but the last.
            let fits = s.spare.last().is_some_and(|b| b.len() == len.div_ceil(64));
            if fits { s.spare.pop() } else { None }
        };
        match spare {
            Some(mut lines) => {
                let out = match Arc::get_mut(&mut lines) {
                    Some(buf) => fill(&mut bytemuck::cast_slice_mut(buf)[..len])?,
                    None => return Page::fill(len, fill),
                };
                Ok((Page { lines, len }, out))
            }
            None => Page::fill(len, fill),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No caller code runs under the lock and every update leaves the state
        // consistent, so a panic elsewhere cannot have left it half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Recount the state from scratch and check it against the running totals.
    #[cfg(test)]
    pub(crate) fn audit(&self) {
        let s = self.lock();
        let bytes: usize = s.map.values().map(|e| e.page.len()).sum();
        assert_eq!(bytes, s.bytes);
        assert!(s.bytes <= s.budget);
        assert_eq!(s.clock.len(), s.map.len());
        assert!(s.clock.iter().all(|no| s.map.contains_key(no)));
    }
}

fn check_budget(page_size: usize, budget_bytes: usize) -> Result<()> {
    if budget_bytes < page_size {
        return Err(crate::error::invalid_n(
            "budget_bytes",
            "too small for one page of bytes",
            page_size as u64,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// The bytes every test stores as page `no`, so a wrong page is noticed.
    fn content(no: u64, len: usize) -> Vec<u8> {
        (0..len).map(|i| (no as usize * 31 + i) as u8).collect()
    }

    fn page(no: u64, len: usize) -> Page {
        Page::from_bytes(&content(no, len))
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(matches!(
            PageCache::new(0, 100),
            Err(Error::InvalidParameter {
                name: "page_size",
                ..
            })
        ));
        assert!(matches!(
            PageCache::new(10, 9),
            Err(Error::InvalidParameter {
                name: "budget_bytes",
                ..
            })
        ));
        let c = PageCache::new(10, 10).unwrap();
        assert!(c.set_budget(9).is_err());
        assert_eq!(c.budget(), 10);
        c.reserve_page_numbers(u64::MAX).unwrap();
        assert!(c.reserve_page_numbers(1).is_err());
    }

    #[test]
    fn page_bytes_are_64_byte_aligned() {
        for len in [1, 3, 63, 64, 65, 1000, 4096] {
            let p = page(len as u64, len);
            assert_eq!(p.as_ptr() as usize % 64, 0);
            assert_eq!(&p[..], &content(len as u64, len)[..]);
            let (q, n) = Page::fill(len, |b| {
                b.fill(7);
                Ok(b.len())
            })
            .unwrap();
            assert_eq!((q.as_ptr() as usize % 64, n), (0, len));
            assert!(q.iter().all(|&b| b == 7));
            let f: &[f32] = bytemuck::cast_slice(&q[..len / 4 * 4]);
            assert_eq!(f.len(), len / 4);
        }
        assert!(Page::fill(8, |_| Err::<(), _>(Error::ZeroVector)).is_err());
    }

    #[test]
    fn counts_on_a_known_sequence() {
        let c = PageCache::new(10, 30).unwrap();
        for no in 1..=3 {
            c.insert(no, page(no, 10));
        }
        assert!(c.get(1).is_some());
        assert!(c.get(4).is_none());
        // The hand spares 1 (referenced) and evicts 2, the oldest unreferenced.
        c.insert(4, page(4, 10));
        assert!(c.contains(1) && !c.contains(2) && c.contains(3) && c.contains(4));
        let want = CacheStats {
            hits: 1,
            misses: 1,
            evictions: 1,
            resident_bytes: 30,
            resident_pages: 3,
        };
        assert_eq!(c.stats(), want);
        // Re-inserting keeps the cached copy and changes no counter.
        let cached = c.get(3).unwrap();
        let again = c.insert(3, page(99, 10));
        assert!(Page::ptr_eq(&cached, &again));
        c.clear();
        let s = c.stats();
        assert_eq!((s.resident_bytes, s.resident_pages, s.evictions), (0, 0, 1));
        c.audit();
    }

    #[test]
    fn short_pages_are_accounted_exactly() {
        let c = PageCache::new(10, 25).unwrap();
        c.insert(0, page(0, 10));
        c.insert(1, page(1, 10));
        c.insert(2, page(2, 5));
        assert_eq!(c.stats().resident_bytes, 25);
        assert_eq!(c.stats().evictions, 0);
        c.insert(3, page(3, 5));
        assert_eq!(c.stats().resident_bytes, 20);
        assert_eq!(c.stats().evictions, 1);
        // Too big for the budget, or empty: returned but not cached.
        let big = c.insert(4, page(4, 26));
        assert_eq!(big.len(), 26);
        assert!(!c.contains(4));
        c.insert(5, Page::from_bytes(&[]));
        assert!(!c.contains(5));
        c.set_budget(12).unwrap();
        assert!(c.stats().resident_bytes <= 12);
        c.audit();
    }

    #[test]
    fn hot_page_survives_a_scan() {
        let c = PageCache::new(100, 400).unwrap();
        c.insert(0, page(0, 100));
        for no in 1..1000 {
            if no % 2 == 0 {
                assert!(c.get(0).is_some(), "hot page evicted before {no}");
            }
            c.insert(no, page(no, 100));
            c.audit();
        }
        assert!(c.stats().evictions >= 990);
    }

    #[test]
    fn budget_holds_over_a_random_workload() {
        let c = PageCache::new(100, 1000).unwrap();
        let mut rng = SplitMix64::new(11);
        for _ in 0..20_000 {
            let no = rng.below(60);
            let len = 1 + rng.below(100) as usize;
            match rng.below(5) {
                0 => {
                    if let Some(p) = c.get(no) {
                        assert_eq!(&p[..], &content(no, p.len())[..]);
                    }
                }
                1 => {
                    let _ = c.contains(no);
                }
                2 => {
                    let p = c.insert(no, page(no, len));
                    assert_eq!(&p[..], &content(no, p.len())[..]);
                }
                3 => {
                    let p = c.get_or_load(no, len, |b| {
                        b.copy_from_slice(&content(no, len));
                        Ok(true)
                    });
                    let p = p.unwrap().unwrap();
                    assert_eq!(&p[..], &content(no, p.len())[..]);
                }
                _ => {
                    let p = c.get_or_load(no, len, |_| Ok(false)).unwrap();
                    assert!(p.is_none() || c.contains(no));
                }
            }
            assert!(c.stats().resident_bytes <= 1000);
            c.audit();
        }
        let s = c.stats();
        assert!(s.hits > 0 && s.misses > 0 && s.evictions > 0);
    }

    #[test]
    fn load_errors_and_pending_loads_cache_nothing() {
        let c = PageCache::new(10, 100).unwrap();
        let err = c.get_or_load(1, 10, |_| Err(Error::ZeroVector));
        assert!(matches!(err, Err(Error::ZeroVector)));
        assert!(c.get_or_load(1, 10, |_| Ok(false)).unwrap().is_none());
        assert!(!c.contains(1));
        assert_eq!(c.stats().misses, 2);
    }

    #[test]
    fn two_threads_share_the_cache_within_budget() {
        let c = PageCache::new(256, 256 * 8).unwrap();
        std::thread::scope(|scope| {
            for seed in 0..2 {
                let c = &c;
                scope.spawn(move || {
                    let mut rng = SplitMix64::new(seed);
                    for _ in 0..5000 {
                        let no = rng.below(32);
                        let len = 200 + (no as usize % 57);
                        let p = c.get_or_load(no, len, |b| {
                            b.copy_from_slice(&content(no, len));
                            Ok(true)
                        });
                        let p = p.unwrap().unwrap();
                        assert_eq!(&p[..], &content(no, len)[..]);
                        assert!(c.stats().resident_bytes <= 256 * 8);
                    }
                });
            }
        });
        c.audit();
        let s = c.stats();
        assert_eq!(s.hits + s.misses, 10_000);
    }

    #[test]
    fn batched_lookups_and_recycled_buffers() {
        let c = PageCache::new(64, 64 * 256).unwrap();
        for no in 0..4 {
            c.insert(no, page(no, 64));
        }
        let mut out = vec![None; 6];
        c.get_many(&[3, 9, 0, 3, 2], &mut out);
        let found: Vec<bool> = out.iter().map(Option::is_some).collect();
        assert_eq!(found, [true, false, true, true, true, false]);
        assert_eq!(&out[0].as_ref().unwrap()[..], &content(3, 64)[..]);
        assert_eq!((c.stats().hits, c.stats().misses), (4, 1));
        // A page a reader holds is never handed out again as a buffer.
        let held = c.get(1).unwrap();
        for no in 10..2000 {
            let (p, ()) = c
                .fill_page(64, |b| {
                    b.copy_from_slice(&content(no, 64));
                    Ok(())
                })
                .unwrap();
            let p = c.insert(no, p);
            assert_eq!(&p[..], &content(no, 64)[..]);
            c.audit();
        }
        assert_eq!(&held[..], &content(1, 64)[..]);
        assert!(!c.contains(1) && c.stats().evictions > 1000);
        // A failed fill caches nothing and leaves the cache whole.
        let err = c.fill_page(64, |_| Err::<(), _>(Error::ZeroVector));
        assert!(err.is_err());
        // Odd sizes get buffers of their own.
        let (p, ()) = c
            .fill_page(100, |b| {
                b.fill(3);
                Ok(())
            })
            .unwrap();
        assert!(p.len() == 100 && p.iter().all(|&b| b == 3));
        c.clear();
        c.audit();
    }
}
