//! A store over any byte-addressed source, read through a [`PageCache`].
//!
//! The source holds `len` vectors of `dim` elements starting at a byte
//! offset, one every `stride` bytes. The store cuts them into pages of whole
//! vectors, so a vector never straddles two pages and a page is one
//! `read_at`. A page starts at a vector and ends with the last byte of its
//! last vector, so the trailing padding of the final vector is never read.
//!
//! A synchronous source (a file) is read on a miss inside
//! [`with_vector`](FeatureStore::with_vector) and
//! [`with_vectors`](FeatureStore::with_vectors). A batch (a search step's
//! vectors) looks each of its pages up once, under one lock of the cache,
//! and reads its missing pages together: over a source whose reads are
//! costly ([`ByteSource::spans_pay`]), pages at most [`MAX_GAP_BYTES`]
//! apart are read with one `read_at` of the bytes spanning them. An
//! asynchronous source (IndexedDB)
//! answers [`SourceRead::Pending`]; the store then reports the vector
//! [`Access::Missing`], and the driver asks [`PagedStore::pages_for`] which
//! pages a search step lacks, fetches them in one go and hands them back with
//! [`PagedStore::fill_page`].
//!
//! (Longer than most files: over a third of it is the store's own tests.)

use std::marker::PhantomData;
use std::sync::Arc;

use super::{Access, Decoder, FeatureStore, VectorLayout, VectorType, with_decoded};
use crate::cache::{CacheStats, Page, PageCache};
use crate::distance::Element;
use crate::error::{Error, Result, invalid_n};

/// The page size [`PagedStore::new`] aims for: a graph walk reads a few
/// vectors here and there, so a bigger page mostly copies bytes it never
/// uses (on a million 512-byte vectors, 64 KiB pages searched six times
/// slower than 4 KiB ones, with no fewer misses).
pub const DEFAULT_PAGE_BYTES: usize = 4 << 10;

/// Pages a batched read looks up at once; a longer batch is taken in parts.
const BATCH: usize = 64;

/// The most bytes a batched read reads through between two missing pages
/// rather than read them apart: about what a read's fixed cost would copy.
pub const MAX_GAP_BYTES: u64 = 8 << 10;

/// The most bytes one read of a batch spans (and no more than the cache's
/// budget when the store is made).
const MAX_SPAN_BYTES: u64 = 1 << 20;

/// The outcome of a read from a [`ByteSource`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceRead {
    /// The buffer was filled.
    Done,
    /// The source is asynchronous and cannot read now.
    Pending,
}

/// Bytes addressed by offset: a file, an OPFS sync handle, IndexedDB chunks.
pub trait ByteSource {
    /// Total length in bytes.
    fn len(&self) -> u64;

    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fill all of `buf` with the bytes from `offset`, or answer
    /// [`SourceRead::Pending`] if they cannot be had synchronously. A read
    /// that cannot fill the buffer is an error, never a short read.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead>;

    /// Whether [`read_at`](Self::read_at) can answer [`SourceRead::Pending`].
    fn is_async(&self) -> bool {
        false
    }

    /// Whether one read of the bytes spanning several close pages costs
    /// less than a read of each: true for sources whose every read has a
    /// high fixed cost (a system call). A [`PagedStore`] over such a source
    /// reads a batch's missing pages at most [`MAX_GAP_BYTES`] apart together.
    fn spans_pay(&self) -> bool {
        false
    }
}

/// Lets several stores (or a store and its writer) share one source.
impl<S: ByteSource + ?Sized> ByteSource for Arc<S> {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        (**self).read_at(offset, buf)
    }
    fn is_async(&self) -> bool {
        (**self).is_async()
    }
    fn spans_pay(&self) -> bool {
        (**self).spans_pay()
    }
}

/// A page a store needs and does not hold: read `len` bytes at `offset` of
/// the source and pass them to [`PagedStore::fill_page`] as page `page_no`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// The page's number within its store.
    pub page_no: u64,
    /// Byte offset of the page in the source.
    pub offset: u64,
    /// Length of the page in bytes.
    pub len: usize,
}

/// Vectors in a byte source, read a page at a time through a shared
/// [`PageCache`]. Several stores may share one cache, and so one memory
/// budget; each takes its own range of the cache's page numbers.
#[derive(Debug)]
pub struct PagedStore<B, T = f32> {
    source: B,
    cache: Arc<PageCache>,
    dim: usize,
    len: usize,
    base_offset: u64,
    stride: usize,
    vector_bytes: usize,
    per_page: usize,
    pages: u64,
    /// This store's page `p` is the cache's page `first_key + p`.
    first_key: u64,
    /// A read of a batch reads through at most this many pages between two
    /// it needs, and spans at most `run_pages` pages.
    run_gap: u64,
    run_pages: u64,
    vector_type: VectorType,
    _elem: PhantomData<T>,
}

impl<B: ByteSource, T: Element> PagedStore<B, T> {
    /// A store over `source` with a cache of its own holding at most
    /// `cache_budget_bytes`, cut into pages of about `DEFAULT_PAGE_BYTES`
    /// (smaller if the budget is).
    pub fn new(source: B, layout: VectorLayout, cache_budget_bytes: usize) -> Result<Self> {
        let page_size = DEFAULT_PAGE_BYTES.min(cache_budget_bytes);
        let cache = PageCache::new(page_size, cache_budget_bytes)?;
        Self::with_cache(source, layout, Arc::new(cache))
    }

    /// A store over `source` reading through `cache`, which may be shared
    /// with other stores. Pages hold as many whole vectors as fit in the
    /// cache's page size, and at least one. The layout's vector type says
    /// how the source stores the elements (`f32` vectors may be stored as
    /// `f16`, decoded when they are read).
    pub fn with_cache(source: B, layout: VectorLayout, cache: Arc<PageCache>) -> Result<Self> {
        let rows = layout.rows::<T>()?;
        let (dim, len, base_offset, stride, vector_bytes, vector_type) = (
            rows.dim,
            rows.len,
            rows.offset,
            rows.stride,
            rows.vector_bytes,
            rows.vector_type,
        );
        let end = (len as u64)
            .saturating_sub(1)
            .checked_mul(stride as u64)
            .and_then(|x| x.checked_add(vector_bytes as u64))
            .and_then(|x| x.checked_add(base_offset));
        if len > 0 && end.is_none_or(|end| end > source.len()) {
            let why = "the vectors overrun a source of bytes";
            return Err(invalid_n("layout", why, source.len()));
        }
        let per_page = (cache.page_size() / stride).clamp(1, len.max(1));
        // Cannot overflow: with several vectors a page is at most
        // per_page * stride <= page_size bytes, with one it is vector_bytes.
        let page_bytes = (per_page - 1) * stride + vector_bytes;
        if page_bytes > cache.budget() {
            let why = "too small for a page of bytes";
            return Err(invalid_n("cache_budget_bytes", why, page_bytes as u64));
        }
        let pages = len.div_ceil(per_page) as u64;
        let first_key = cache.reserve_page_numbers(pages)?;
        // Pages start every `page_stride` bytes (at most the cache's page
        // size, or one vector's stride).
        let page_stride = (per_page * stride) as u64;
        let run_gap = MAX_GAP_BYTES / page_stride;
        let run_pages = (MAX_SPAN_BYTES.min(cache.budget() as u64) / page_stride).max(1);
        Ok(Self {
            source,
            cache,
            dim,
            len,
            base_offset,
            stride,
            vector_bytes,
            per_page,
            pages,
            first_key,
            run_gap,
            run_pages,
            vector_type,
            _elem: PhantomData,
        })
    }

    /// The source.
    pub fn source(&self) -> &B {
        &self.source
    }

    /// The cache, possibly shared with other stores.
    pub fn cache(&self) -> &Arc<PageCache> {
        &self.cache
    }

    /// The cache's counters; for a shared cache they cover every store on it.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Vectors per page (the last page may hold fewer).
    pub fn vectors_per_page(&self) -> usize {
        self.per_page
    }

    /// Number of pages.
    pub fn page_count(&self) -> u64 {
        self.pages
    }

    /// Where page `page_no` is in the source, or `None` past the last page.
    pub fn page_request(&self, page_no: u64) -> Option<PageRequest> {
        (page_no < self.pages).then(|| self.extent(page_no))
    }

    /// Where page `page_no` (which must exist) is in the source. Within the
    /// layout validated at construction, so nothing overflows.
    fn extent(&self, page_no: u64) -> PageRequest {
        let first = page_no * self.per_page as u64;
        let count = (self.len as u64 - first).min(self.per_page as u64) as usize;
        PageRequest {
            page_no,
            offset: self.base_offset + first * self.stride as u64,
            len: (count - 1) * self.stride + self.vector_bytes,
        }
    }

    /// The distinct pages that `slots` need and the cache does not hold, in
    /// ascending order: what an asynchronous driver fetches before it resumes
    /// a search. Slots out of range are skipped (reading them is the error).
    pub fn pages_for(&self, slots: &[u32]) -> Vec<PageRequest> {
        let mut pages: Vec<u64> = slots
            .iter()
            .filter(|&&s| (s as usize) < self.len)
            .map(|&s| self.locate(s).0)
            .collect();
        pages.sort_unstable();
        pages.dedup();
        pages
            .into_iter()
            .filter(|&p| !self.cache.contains(self.first_key + p))
            .map(|p| self.extent(p))
            .collect()
    }

    /// Cache `bytes`, fetched from the source, as page `page_no`. Their
    /// length must be the page's, as given by [`pages_for`](Self::pages_for).
    pub fn fill_page(&self, page_no: u64, bytes: &[u8]) -> Result<()> {
        let Some(req) = self.page_request(page_no) else {
            return Err(invalid_n("page_no", "no such page:", page_no));
        };
        if bytes.len() != req.len {
            let why = "the wrong length for its page:";
            return Err(invalid_n("bytes", why, bytes.len() as u64));
        }
        let key = self.first_key + page_no;
        if !self.cache.contains(key) {
            self.cache.insert_used(key, Page::from_bytes(bytes));
        }
        Ok(())
    }

    fn check(&self, slot: u32) -> Result<()> {
        let len = self.len;
        if (slot as usize) < len {
            Ok(())
        } else {
            Err(Error::SlotOutOfRange { slot, len })
        }
    }

    /// The page holding `slot` and the slot's index within it.
    fn locate(&self, slot: u32) -> (u64, usize) {
        let slot = slot as usize;
        ((slot / self.per_page) as u64, slot % self.per_page)
    }

    /// [`with_vectors`](FeatureStore::with_vectors) for at most [`BATCH`]
    /// slots, with no allocation when every page is cached.
    fn batch(
        &self,
        slots: &[u32],
        f: &mut impl FnMut(u32, &[T]),
        missing: &mut Vec<u32>,
    ) -> Result<()> {
        let mut pages: [Option<Page>; BATCH] = [const { None }; BATCH];
        let mut page_of = [0u8; BATCH];
        self.gather(slots, &mut pages, &mut page_of)?;
        let mut decoder = Decoder::new(self.vector_type);
        for (&slot, &p) in slots.iter().zip(&page_of) {
            match &pages[p as usize] {
                Some(page) => f(
                    slot,
                    decoder.decode(self.vector(page, self.locate(slot).1)?),
                ),
                None => missing.push(slot),
            }
        }
        Ok(())
    }

    /// The pages of `slots` (at most [`BATCH`], and no more than `pages` and
    /// `page_of` hold): slot `i` is in `pages[page_of[i]]`, `None` if the
    /// source cannot read it now. Kept apart from the closure so that it is
    /// compiled once per store type.
    fn gather(&self, slots: &[u32], pages: &mut [Option<Page>], page_of: &mut [u8]) -> Result<()> {
        // Page number and position in `slots` in one integer (a page number
        // has at most 32 bits), sorted.
        let mut order = [0u64; BATCH];
        let count = slots.len().min(BATCH);
        for ((o, &slot), i) in order.iter_mut().zip(slots).zip(0u64..) {
            self.check(slot)?;
            *o = (self.locate(slot).0 << 8) | i;
        }
        order[..count].sort_unstable();
        // The distinct pages as cache keys, and which of them each slot's is.
        let (mut keys, mut n) = ([0u64; BATCH], 0);
        for &x in &order[..count] {
            let key = self.first_key + (x >> 8);
            if n == 0 || keys[n - 1] != key {
                keys[n] = key;
                n += 1;
            }
            page_of[(x & 0xFF) as usize] = (n - 1) as u8;
        }
        let pages = &mut pages[..n];
        self.cache.get_many(&keys[..n], pages);
        let mut at = 0;
        while let Some(first) = (at..n).find(|&i| pages[i].is_none()) {
            // A run: the next missing pages whose gaps are small enough that
            // reading through them costs less than another read.
            let (mut last, mut next) = (first, first + 1);
            while next < n && self.source.spans_pay() {
                if pages[next].is_none() {
                    let (gap, span) = (keys[next] - keys[last] - 1, keys[next] - keys[first]);
                    if gap > self.run_gap || span >= self.run_pages {
                        break;
                    }
                    last = next;
                }
                next += 1;
            }
            self.read_run(&keys[first..=last], &mut pages[first..=last])?;
            at = last + 1;
        }
        Ok(())
    }

    /// Read the pages of `keys` whose entry in `pages` is `None` with one
    /// read of the bytes from the first to the end of the last (which are
    /// missing), cache them and put them in `pages`. A source that cannot
    /// read now leaves them `None`.
    fn read_run(&self, keys: &[u64], pages: &mut [Option<Page>]) -> Result<()> {
        let ext = |key: u64| self.extent(key - self.first_key);
        let (first, last) = (ext(keys[0]), ext(keys[keys.len() - 1]));
        let span = (last.offset - first.offset) as usize + last.len;
        let (buf, done) =
            (self.cache).fill_page(span, |buf| self.source.read_at(first.offset, buf))?;
        if done == SourceRead::Pending {
            return Ok(());
        }
        for (&key, page) in keys.iter().zip(pages.iter_mut()) {
            if page.is_none() {
                let r = ext(key);
                let at = (r.offset - first.offset) as usize;
                // A run of one page was read straight into the page.
                let bytes = if keys.len() == 1 {
                    buf.clone()
                } else {
                    let from = &buf[at..at + r.len];
                    (self.cache)
                        .fill_page(r.len, |b| {
                            b.copy_from_slice(from);
                            Ok(())
                        })?
                        .0
                };
                *page = Some(self.cache.insert(key, bytes));
            }
        }
        Ok(())
    }

    /// The bytes of vector `index` of `page`.
    fn vector<'p>(&self, page: &'p Page, index: usize) -> Result<&'p [u8]> {
        let start = index * self.stride;
        page.get(start..start + self.vector_bytes)
            .ok_or_else(|| Error::Storage {
                message: "a cached page is too short".into(),
            })
    }
}

impl<B: ByteSource, T: Element> FeatureStore for PagedStore<B, T> {
    type Elem = T;

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.len
    }

    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[T]) -> R) -> Result<Access<R>> {
        let mut page = [None];
        self.gather(&[slot], &mut page, &mut [0])?;
        match &page[0] {
            Some(page) => {
                let bytes = self.vector(page, self.locate(slot).1)?;
                Ok(Access::Ready(with_decoded(self.vector_type, bytes, f)))
            }
            None => Ok(Access::Missing),
        }
    }

    /// Looks each page up once however many of `slots` it holds, all under
    /// one lock of the cache; the pages missing are read with as few reads
    /// as their places in the source allow (see [`MAX_GAP_BYTES`]) and
    /// cached together. Every page the batch touches is kept alive until
    /// the call ends, so a batch wider than the cache budget still reads
    /// correctly (for a synchronous source). A failed read is returned at
    /// once; the pages read before it stay cached, and nothing of the failed
    /// read is.
    fn with_vectors(
        &self,
        slots: &[u32],
        mut f: impl FnMut(u32, &[T]),
        missing: &mut Vec<u32>,
    ) -> Result<()> {
        for chunk in slots.chunks(BATCH) {
            self.batch(chunk, &mut f, missing)?;
        }
        Ok(())
    }

    fn may_miss(&self) -> bool {
        self.source.is_async()
    }

    fn vector_type(&self) -> VectorType {
        self.vector_type
    }

    fn byte_source(&self) -> Option<&dyn ByteSource> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    /// Bytes in memory, answering like a file (`Ok`), like IndexedDB
    /// (`Pending`) or like a failing disk, and counting the reads it serves.
    struct Bytes(Vec<u8>, Result<(), bool>, AtomicUsize);

    impl ByteSource for Bytes {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
            match self.1 {
                Err(true) => return Ok(SourceRead::Pending),
                Err(false) => return Err(std::io::Error::other("disk on fire").into()),
                Ok(()) => self.2.fetch_add(1, Relaxed),
            };
            buf.copy_from_slice(&self.0[offset as usize..][..buf.len()]);
            Ok(SourceRead::Done)
        }
        fn is_async(&self) -> bool {
            self.1 == Err(true)
        }
    }

    /// `vectors` every `stride` bytes after a `header`, with junk in the
    /// header and the padding so a misplaced read shows.
    fn bytes<T: Element>(
        vectors: &[Vec<T>],
        header: usize,
        stride: usize,
        mode: Result<(), bool>,
    ) -> Bytes {
        let mut b = vec![0xA5; header + vectors.len() * stride];
        for (i, v) in vectors.iter().enumerate() {
            let raw: &[u8] = bytemuck::cast_slice(v);
            b[header + i * stride..][..raw.len()].copy_from_slice(raw);
        }
        Bytes(b, mode, AtomicUsize::new(0))
    }

    fn vectors(n: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut rng = SplitMix64::new(5);
        (0..n)
            .map(|_| (0..dim).map(|_| rng.next_f64() as f32).collect())
            .collect()
    }

    fn store<T: Element>(
        src: Bytes,
        layout: VectorLayout,
        page: usize,
        budget: usize,
    ) -> Result<PagedStore<Bytes, T>> {
        PagedStore::with_cache(src, layout, Arc::new(PageCache::new(page, budget)?))
    }

    fn read<S: FeatureStore>(s: &S, slot: u32) -> Option<Vec<S::Elem>> {
        s.with_vector(slot, <[S::Elem]>::to_vec).unwrap().ready()
    }

    #[test]
    fn f32_and_u8_vectors_read_back_exactly() {
        let data = vectors(300, 5);
        let layout = VectorLayout::new(5, 300).with_offset(16).with_stride(24);
        let s = store::<f32>(bytes(&data, 16, 24, Ok(())), layout, 256, 1024).unwrap();
        assert_eq!(
            (s.dim(), s.len(), s.vectors_per_page(), s.may_miss()),
            (5, 300, 10, false)
        );
        for (i, v) in data.iter().enumerate() {
            assert_eq!(read(&s, i as u32).as_ref(), Some(v));
        }
        // A batch reads each of its pages once, however many slots share one.
        s.cache().clear();
        let (slots, mut seen, mut missing) = ([250, 3, 251, 4, 299, 252, 0], vec![], vec![]);
        s.with_vectors(&slots, |i, v| seen.push((i, v.to_vec())), &mut missing)
            .unwrap();
        let want: Vec<_> = slots
            .iter()
            .map(|&i| (i, data[i as usize].clone()))
            .collect();
        // Pages 25 and 29 are close, but this source does not gain from
        // reading them together (and one read of both would span more than
        // the 1 KiB budget).
        assert_eq!(
            (seen, missing.len(), s.source().2.load(Relaxed)),
            (want, 0, 30 + 3)
        );

        let mut rng = SplitMix64::new(9);
        let data: Vec<Vec<u8>> = (0..200)
            .map(|_| (0..7).map(|_| rng.next_u32() as u8).collect())
            .collect();
        let s = PagedStore::<_, u8>::new(
            bytes(&data, 3, 7, Ok(())),
            VectorLayout::new(7, 200).with_offset(3),
            1 << 20,
        )
        .unwrap();
        assert_eq!(s.page_count(), 1);
        for (i, v) in data.iter().enumerate() {
            assert_eq!(read(&s, i as u32).as_ref(), Some(v));
        }
    }

    #[test]
    fn bad_slots_and_layouts_are_errors_not_panics() {
        let data = vectors(10, 4);
        let make = |l: VectorLayout| store::<f32>(bytes(&data, 0, 16, Ok(())), l, 64, 4096);
        let s = make(VectorLayout::new(4, 10)).unwrap();
        let err = s.with_vector(10, |_| ());
        assert!(matches!(
            err,
            Err(Error::SlotOutOfRange { slot: 10, len: 10 })
        ));
        assert!(
            s.with_vectors(&[1, u32::MAX], |_, _| (), &mut vec![])
                .is_err()
        );
        assert!(s.pages_for(&[u32::MAX]).is_empty());
        assert!(make(VectorLayout::new(4, 0)).is_ok());
        for layout in [
            VectorLayout::new(4, 11),
            VectorLayout::new(4, 10).with_offset(4),
            VectorLayout::new(0, 10),
            VectorLayout::new(usize::MAX, 1),
            VectorLayout::new(usize::MAX / 4, 2),
            VectorLayout::new(4, usize::MAX),
            VectorLayout::new(4, u32::MAX as usize),
            VectorLayout::new(4, 2).with_stride(usize::MAX - 3),
            VectorLayout::new(4, 1).with_offset(u64::MAX - 3),
            VectorLayout::new(4, 2).with_stride(8),
            VectorLayout::new(3, 2).with_stride(13),
            VectorLayout::new(4, 2).with_offset(2),
        ] {
            assert!(
                matches!(make(layout), Err(Error::InvalidParameter { .. })),
                "{layout:?}"
            );
        }
        // A vector larger than the whole budget could never be cached.
        let big = bytes(&vectors(2, 2048), 0, 8192, Ok(()));
        assert!(PagedStore::<_, f32>::new(big, VectorLayout::new(2048, 2), 4096).is_err());
        let src = bytes(&data, 0, 16, Ok(()));
        assert!(PagedStore::<_, f32>::new(src, VectorLayout::new(4, 10), 0).is_err());
    }

    #[test]
    fn two_page_budget_over_a_hundred_pages() {
        let data = vectors(1000, 8);
        let s = store::<f32>(
            bytes(&data, 0, 32, Ok(())),
            VectorLayout::new(8, 1000),
            320,
            640,
        )
        .unwrap();
        assert_eq!(s.page_count(), 100);
        let mut rng = SplitMix64::new(1);
        for round in 0..3000 {
            let i = if round < 1000 {
                round
            } else {
                rng.below(1000) as usize
            };
            assert_eq!(read(&s, i as u32).as_ref(), Some(&data[i]));
            assert!(s.stats().resident_bytes <= 640);
        }
        let (slots, mut n, mut missing): (Vec<u32>, _, _) =
            ((0..1000).step_by(7).collect(), 0, vec![]);
        let check = |i: u32, v: &[f32]| {
            assert_eq!(v, &data[i as usize][..]);
            n += 1;
        };
        s.with_vectors(&slots, check, &mut missing).unwrap();
        assert_eq!((n, missing.len()), (slots.len(), 0));
        let st = s.stats();
        assert!(st.resident_pages <= 2 && st.evictions > 0 && st.hits > 0);
    }

    #[test]
    fn pending_pages_are_filled_by_the_driver() {
        let data = vectors(100, 4);
        let s = store::<f32>(
            bytes(&data, 8, 16, Err(true)),
            VectorLayout::new(4, 100).with_offset(8),
            160,
            1600,
        )
        .unwrap();
        assert!(s.may_miss());
        let (slots, mut missing) = ([42, 45, 3, 99, 41, 7], vec![]);
        assert_eq!(read(&s, 42), None);
        s.with_vectors(&slots, |_, _| panic!("nothing is resident"), &mut missing)
            .unwrap();
        assert_eq!(missing, slots);
        let reqs = s.pages_for(&slots);
        let nos: Vec<u64> = reqs.iter().map(|r| r.page_no).collect();
        assert_eq!(
            (nos, reqs[0]),
            (
                vec![0, 4, 9],
                PageRequest {
                    page_no: 0,
                    offset: 8,
                    len: 160
                }
            )
        );
        for r in &reqs {
            let page = &s.source().0[r.offset as usize..][..r.len];
            assert!(s.fill_page(r.page_no, &page[1..]).is_err());
            s.fill_page(r.page_no, page).unwrap();
        }
        assert!(s.fill_page(10, &[]).is_err());
        assert!(s.pages_for(&slots).is_empty());
        for &i in &slots {
            assert_eq!(read(&s, i).as_ref(), Some(&data[i as usize]));
        }
        missing.clear();
        s.with_vectors(&[44, 50], |_, _| (), &mut missing).unwrap();
        assert_eq!(missing, [50]);
    }

    #[test]
    fn shared_cache_keeps_stores_apart_and_io_errors_surface() {
        let a = vectors(50, 4);
        let b: Vec<Vec<f32>> = a
            .iter()
            .map(|v| v.iter().map(|x| x + 10.0).collect())
            .collect();
        let cache = Arc::new(PageCache::new(64, 6400).unwrap());
        let layout = VectorLayout::new(4, 50);
        let sa = PagedStore::<_, f32>::with_cache(bytes(&a, 0, 16, Ok(())), layout, cache.clone())
            .unwrap();
        let sb = PagedStore::<_, f32>::with_cache(bytes(&b, 0, 16, Ok(())), layout, cache.clone())
            .unwrap();
        for i in 0..50 {
            assert_eq!(read(&sa, i).as_ref(), Some(&a[i as usize]));
            assert_eq!(read(&sb, i).as_ref(), Some(&b[i as usize]));
        }
        assert_eq!(cache.stats().resident_pages, 26);

        let s = PagedStore::<_, f32>::new(bytes(&a, 0, 16, Err(false)), layout, 4096).unwrap();
        assert!(matches!(s.with_vector(0, |_| ()), Err(Error::Io(_))));
        assert!(matches!(
            s.with_vectors(&[1], |_, _| (), &mut vec![]),
            Err(Error::Io(_))
        ));
        assert_eq!(s.stats().resident_pages, 0);
    }

    /// Bytes in memory that log every read and can be told to fail one.
    struct Logged {
        bytes: Vec<u8>,
        reads: std::sync::Mutex<Vec<(u64, usize)>>,
        /// The read (counting from 1) that fails; 0 for none.
        fail_at: AtomicUsize,
    }

    impl ByteSource for Logged {
        fn len(&self) -> u64 {
            self.bytes.len() as u64
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
            let mut log = self.reads.lock().unwrap();
            log.push((offset, buf.len()));
            if log.len() == self.fail_at.load(Relaxed) {
                return Err(std::io::Error::other("bad sector").into());
            }
            buf.copy_from_slice(&self.bytes[offset as usize..][..buf.len()]);
            Ok(SourceRead::Done)
        }
        fn spans_pay(&self) -> bool {
            true
        }
    }

    impl Logged {
        fn take(&self) -> Vec<(u64, usize)> {
            std::mem::take(&mut self.reads.lock().unwrap())
        }
    }

    /// `n` vectors of 1024 f32 (4 KiB, one a page), vector `i` all `i`.
    fn logged(n: usize, cache: &Arc<PageCache>) -> PagedStore<Logged, f32> {
        let bytes = (0..n)
            .flat_map(|i| std::iter::repeat_n(i as f32, 1024))
            .flat_map(f32::to_le_bytes)
            .collect();
        let src = Logged {
            bytes,
            reads: Default::default(),
            fail_at: AtomicUsize::new(0),
        };
        PagedStore::with_cache(src, VectorLayout::new(1024, n), cache.clone()).unwrap()
    }

    /// Run a batch; the slots seen (each checked to hold its own vector) and
    /// the slots missing.
    fn batch<B: ByteSource>(s: &PagedStore<B, f32>, slots: &[u32]) -> Result<(Vec<u32>, Vec<u32>)> {
        let (mut seen, mut missing) = (vec![], vec![]);
        s.with_vectors(
            slots,
            |i, v| {
                assert!(
                    v.len() == 1024 && v.iter().all(|&x| x == i as f32),
                    "slot {i}"
                );
                seen.push(i);
            },
            &mut missing,
        )?;
        Ok((seen, missing))
    }

    #[test]
    fn batches_look_pages_up_once_and_read_close_pages_together() {
        let cache = Arc::new(PageCache::new(4096, 64 * 4096).unwrap());
        let s = logged(100, &cache);
        assert_eq!(s.vectors_per_page(), 1);
        // Three adjacent pages, one asked for twice: one read of all three.
        let slots = [2, 0, 1, 2];
        assert_eq!(batch(&s, &slots).unwrap(), (slots.to_vec(), vec![]));
        assert_eq!(s.source().take(), [(0, 3 * 4096)]);
        let st = cache.stats();
        assert_eq!((st.hits, st.misses, st.resident_pages), (0, 3, 3));
        // Hits read nothing; a page one page away from another is read
        // through (within MAX_GAP_BYTES) but only the two asked for are kept.
        assert_eq!(batch(&s, &[1, 20, 0, 22]).unwrap().1, Vec::<u32>::new());
        assert_eq!(s.source().take(), [(20 * 4096, 3 * 4096)]);
        assert!(cache.contains(s.first_key + 22) && !cache.contains(s.first_key + 21));
        // Pages far apart are read apart; hits between them are not read.
        assert_eq!(batch(&s, &[90, 30, 2, 60]).unwrap().1, Vec::<u32>::new());
        let far = [(30 * 4096, 4096), (60 * 4096, 4096), (90 * 4096, 4096)];
        assert_eq!(s.source().take(), far);
        // A batch wider than BATCH is taken in parts.
        let all: Vec<u32> = (0..100).rev().chain(0..100).collect();
        assert_eq!(batch(&s, &all).unwrap(), (all.clone(), vec![]));
        assert!(s.source().take().len() <= 4);
        cache.audit();
    }

    #[test]
    fn a_failed_read_in_a_batch_leaves_the_cache_consistent() {
        let cache = Arc::new(PageCache::new(4096, 64 * 4096).unwrap());
        let s = logged(100, &cache);
        // Three runs; the second read fails.
        s.source().fail_at.store(2, Relaxed);
        let err = batch(&s, &[80, 0, 40, 1]);
        assert!(matches!(err, Err(Error::Io(_))));
        cache.audit();
        assert_eq!(s.source().take().len(), 2);
        assert!(cache.contains(s.first_key) && cache.contains(s.first_key + 1));
        assert!(!cache.contains(s.first_key + 40) && !cache.contains(s.first_key + 80));
        // The next try reads only what is still missing, and gets it right.
        s.source().fail_at.store(0, Relaxed);
        assert_eq!(batch(&s, &[80, 0, 40, 1]).unwrap().1, Vec::<u32>::new());
        assert_eq!(s.source().take().len(), 2);
        // A slot out of range fails the batch before any read.
        assert!(matches!(
            batch(&s, &[5, 100]),
            Err(Error::SlotOutOfRange {
                slot: 100,
                len: 100
            })
        ));
        assert!(s.source().take().is_empty());
        cache.audit();
    }

    #[test]
    fn batches_under_a_tiny_budget_evict_and_stay_correct() {
        let cache = Arc::new(PageCache::new(4096, 2 * 4096).unwrap());
        let s = logged(100, &cache);
        let mut rng = SplitMix64::new(3);
        for _ in 0..200 {
            let slots: Vec<u32> = (0..1 + rng.below(30))
                .map(|_| rng.below(100) as u32)
                .collect();
            assert_eq!(batch(&s, &slots).unwrap(), (slots.clone(), vec![]));
            // No read spans more than the budget.
            assert!(s.source().take().iter().all(|&(_, len)| len <= 2 * 4096));
            assert!(cache.stats().resident_bytes <= 2 * 4096);
            cache.audit();
        }
        assert!(cache.stats().evictions > 100);
    }

    #[test]
    fn two_stores_batch_through_one_cache() {
        let cache = Arc::new(PageCache::new(4096, 16 * 4096).unwrap());
        let a = logged(30, &cache);
        // The second store's vector `i` holds `i + 1000`.
        let b = {
            let bytes = (0..30)
                .flat_map(|i| std::iter::repeat_n(i as f32 + 1000.0, 1024))
                .flat_map(f32::to_le_bytes)
                .collect();
            let src = Logged {
                bytes,
                reads: Default::default(),
                fail_at: AtomicUsize::new(0),
            };
            PagedStore::<_, f32>::with_cache(src, VectorLayout::new(1024, 30), cache.clone())
                .unwrap()
        };
        let mut rng = SplitMix64::new(8);
        for _ in 0..100 {
            let slots: Vec<u32> = (0..10).map(|_| rng.below(30) as u32).collect();
            assert_eq!(batch(&a, &slots).unwrap().0, slots);
            let mut seen = vec![];
            b.with_vectors(
                &slots,
                |i, v| {
                    assert!(v.iter().all(|&x| x == i as f32 + 1000.0));
                    seen.push(i);
                },
                &mut vec![],
            )
            .unwrap();
            assert_eq!(seen, slots);
            assert!(cache.stats().resident_bytes <= 16 * 4096);
        }
        cache.audit();
        assert!(cache.stats().hits > 0 && cache.stats().evictions > 0);
    }

    #[test]
    fn f16_vectors_are_decoded_in_batches_and_alone() {
        let data = vectors(120, 6);
        let mut raw = vec![0xA5; 8 + 120 * 12];
        for (i, v) in data.iter().enumerate() {
            crate::store::encode_f16(v, &mut raw[8 + i * 12..][..12]);
        }
        let layout = VectorLayout::new(6, 120)
            .with_offset(8)
            .with_vector_type(VectorType::F16);
        let src = Bytes(raw, Ok(()), AtomicUsize::new(0));
        let s = store::<f32>(src, layout, 120, 1200).unwrap();
        assert_eq!(
            (s.vector_type(), s.vectors_per_page()),
            (VectorType::F16, 10)
        );
        let want = |i: usize| -> Vec<f32> {
            data[i]
                .iter()
                .map(|&x| half::f16::from_f32(x).to_f32())
                .collect()
        };
        for i in 0..120 {
            assert_eq!(read(&s, i as u32), Some(want(i)));
        }
        let (mut seen, mut missing) = (vec![], vec![]);
        s.with_vectors(
            &[119, 0, 55],
            |i, v| seen.push((i, v.to_vec())),
            &mut missing,
        )
        .unwrap();
        assert_eq!(seen, [(119, want(119)), (0, want(0)), (55, want(55))]);
        // f16 is for f32 vectors only, and its rows are two-byte aligned.
        let src = Bytes(vec![0; 4096], Ok(()), AtomicUsize::new(0));
        assert!(store::<u8>(src, layout, 120, 1200).is_err());
        let odd = VectorLayout::new(6, 10)
            .with_offset(1)
            .with_vector_type(VectorType::F16);
        let src = Bytes(vec![0; 4096], Ok(()), AtomicUsize::new(0));
        assert!(store::<f32>(src, odd, 120, 1200).is_err());
    }
}
