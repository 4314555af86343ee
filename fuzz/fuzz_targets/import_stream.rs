//! An index file arriving as a stream, the way the browser imports one: the
//! core's `MetaReader` asks for the prefix, the section table and the rest of
//! the metadata, each read out of chunks of fuzzer-chosen sizes, trusting
//! the lengths the header claims when the stream's total is unknown; then
//! the vectors arrive block by block, each checked against its checksum.
//!
//! Checked: no panic and no allocation beyond what the bytes justify (a
//! header that claims gigabytes must not get them before they arrive); the
//! metadata read is the file's; and the streamed import succeeds exactly
//! when opening the whole file at once does, with the same index.
//!
//! The same file is also opened the way native files and OPFS handles are:
//! `IndexFile::read` over a byte source that reads any range (unknown
//! optional sections skipped), the vector blocks verified in place, and the
//! vectors left in the source behind a `PagedStore` with a tiny page cache.
//! That must succeed exactly when the whole-file opening does, and every
//! search must return what the in-memory index returns.
//!
//! Input: a flags byte, three bytes that shape the chunk sizes, then the
//! file (or, with flag 16, a sample's number and patches for it).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use vectrove_core::format::{self, Header, MetaReader};
use vectrove_core::rng::SplitMix64;
use vectrove_core::store::{ByteSource, PagedStore, SourceRead};
use vectrove_core::{
    AnyIndex, Element, Error, FeatureStore, IndexFile, MemoryStore, PageCache, Result, SearchParams,
};
use vectrove_fuzz_common::alloc::{Cap, CappedAlloc};
use vectrove_fuzz_common::{check, files, patch};

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

/// Bytes that arrive in chunks of varying sizes; `read_exact` assembles
/// exactly `n` bytes as the browser's stream reader does, or returns what
/// was left when the stream ends first.
struct Stream<'a> {
    data: &'a [u8],
    pos: usize,
    /// End of the chunk being consumed.
    chunk_end: usize,
    rng: SplitMix64,
    max_chunk: u64,
    chunks: usize,
}

impl Stream<'_> {
    fn read_exact(&mut self, n: usize) -> std::result::Result<Vec<u8>, Vec<u8>> {
        let mut out = Vec::with_capacity(n.min(self.data.len() - self.pos));
        while out.len() < n {
            if self.pos == self.chunk_end {
                if self.pos == self.data.len() {
                    return Err(out);
                }
                let size = 1 + self.rng.below(self.max_chunk) as usize;
                self.chunk_end = (self.pos + size).min(self.data.len());
                self.chunks += 1;
            }
            let take = (n - out.len()).min(self.chunk_end - self.pos);
            out.extend_from_slice(&self.data[self.pos..self.pos + take]);
            self.pos += take;
        }
        Ok(out)
    }

    fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }
}

/// The import: metadata, decode, vectors block by block, nothing after.
/// Returns the metadata and the whole file as assembled.
fn import(s: &mut Stream, total: Option<u64>, short_feed: bool) -> Result<(Header, Vec<u8>)> {
    let mut reader = MetaReader::new(total);
    while let Some(r) = reader.wants() {
        let n = (r.end - r.start) as usize;
        assert!(
            total.is_none_or(|t| r.end <= t),
            "the reader wants bytes past the known length"
        );
        let piece = match s.read_exact(n) {
            Ok(p) => p,
            // Either say so, as the browser does, or hand the reader the
            // short piece, which it must refuse.
            Err(rest) if short_feed => {
                assert!(reader.feed(&rest).is_err(), "a short piece was accepted");
                return Err(Error::NotResident { count: 0 });
            }
            Err(_) => return Err(Error::NotResident { count: 0 }),
        };
        reader.feed(&piece)?;
    }
    let (header, meta) = reader.finish()?;
    assert_eq!(meta.len() as u64, header.meta_len);
    let file = IndexFile::decode(header.clone(), &meta)?;
    let sums = file.vector_checksums().clone();
    let mut bytes = meta;
    for i in 0..sums.blocks() {
        let r = sums.block_range(i);
        let block = s
            .read_exact((r.end - r.start) as usize)
            .map_err(|_| Error::NotResident { count: 0 })?;
        sums.verify_block(i, &block)?;
        bytes.extend_from_slice(&block);
    }
    if !s.at_end() {
        return Err(Error::NotResident { count: 0 });
    }
    Ok((header, bytes))
}

/// The file as a source that reads any range, like a file on disk.
struct Source<'a>(&'a [u8]);

impl ByteSource for Source<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        let start = usize::try_from(offset).ok().filter(|&o| o <= self.0.len());
        let piece = start.and_then(|o| self.0[o..].get(..buf.len()));
        let Some(piece) = piece else {
            panic!(
                "a read of {} bytes at {offset} past the source's {} bytes",
                buf.len(),
                self.0.len()
            );
        };
        buf.copy_from_slice(piece);
        Ok(SourceRead::Done)
    }
}

/// Open `file` from a source: metadata read by range, vectors verified in
/// place and paged in through a cache of two small pages.
fn open_source<T: Element>(file: &[u8]) -> Result<AnyIndex<PagedStore<Source<'_>, T>>> {
    let source = Source(file);
    let decoded = IndexFile::read(&source)?;
    let header = decoded.header().clone();
    header.check_elem::<T>()?;
    format::verify_vectors(&source, &header, decoded.vector_checksums())?;
    // Pages of one vector, two of them cached: every search evicts.
    let stride = header.vector_stride();
    let cache = PageCache::new(stride, 2 * stride)?;
    let store = PagedStore::with_cache(source, header.vectors(), Arc::new(cache))?;
    decoded.into_index(store)
}

/// The paged index answers every query as the in-memory one does.
fn check_paged<T: Element, S: FeatureStore<Elem = T>>(
    paged: &AnyIndex<S>,
    memory: &AnyIndex<MemoryStore<T>>,
) {
    assert_eq!(
        (paged.kind(), paged.len(), paged.slot_count()),
        (memory.kind(), memory.len(), memory.slot_count())
    );
    let slots = memory.slot_count();
    for slot in 0..slots.min(3) as u32 {
        let q = memory.store().get(slot).expect("a stored vector").to_vec();
        for (k, ef, nprobe) in [(1, 1, 1), (4, 8, 2), (slots + 1, slots + 1, usize::MAX)] {
            let p = SearchParams {
                ef,
                nprobe,
                rerank: 0,
            };
            let a = paged.search(&q, k, &p).map_err(|e| e.to_string());
            let b = memory.search(&q, k, &p).map_err(|e| e.to_string());
            let bits = |r: &std::result::Result<Vec<vectrove_core::Neighbor>, String>| {
                r.as_ref()
                    .map(|h| {
                        h.iter()
                            .map(|n| (n.id, n.distance.to_bits()))
                            .collect::<Vec<_>>()
                    })
                    .map_err(Clone::clone)
            };
            assert_eq!(bits(&a), bits(&b), "paged and in-memory searches differ");
        }
    }
}

fn open_whole<T: Element>(bytes: &[u8]) -> Result<AnyIndex<MemoryStore<T>>> {
    IndexFile::from_bytes::<MemoryStore<T>>(bytes)
}

fn check_same<T: Element>(a: &AnyIndex<MemoryStore<T>>, b: &AnyIndex<MemoryStore<T>>) {
    assert_eq!(a.kind(), b.kind());
    assert_eq!(
        (a.dim(), a.len(), a.slot_count()),
        (b.dim(), b.len(), b.slot_count())
    );
    assert_eq!(
        check::bits(a.store().as_flat()),
        check::bits(b.store().as_flat())
    );
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (params, file) = data.split_at(4);
    let flags = params[0];
    // Either the bytes as they are, or (flag 16) a sample file patched as
    // the resealed target does, which reaches claims of huge lengths that
    // the header's checks accept.
    let mut file = match file.split_first() {
        Some((&which, patches)) if flags & 16 != 0 => {
            let mut bytes = files::sample(which).bytes.clone();
            let layout = patch::Layout::of(&bytes);
            patch::apply(&mut bytes, &layout, patches);
            bytes
        }
        _ => file.to_vec(),
    };
    if flags & 2 != 0 {
        format::reseal(&mut file);
    }
    let _cap = Cap::for_input(file.len());
    let total = (flags & 1 == 0).then_some(file.len() as u64);
    let mut stream = Stream {
        data: &file,
        pos: 0,
        chunk_end: 0,
        rng: SplitMix64::new(u64::from(u16::from_le_bytes([params[1], params[2]]))),
        max_chunk: 1 + u64::from(params[3]) * 64,
        chunks: 0,
    };
    let streamed = import(&mut stream, total, flags & 4 != 0);
    let (f32_whole, u8_whole) = (open_whole::<f32>(&file), open_whole::<u8>(&file));
    if flags & 8 != 0 {
        let f32_paged = open_source::<f32>(&file);
        let u8_paged = open_source::<u8>(&file);
        assert_eq!(
            (f32_paged.is_ok(), u8_paged.is_ok()),
            (f32_whole.is_ok(), u8_whole.is_ok()),
            "opening from a source and from the whole file disagree: {:?} {:?} / {:?} {:?}",
            f32_paged.as_ref().err(),
            u8_paged.as_ref().err(),
            f32_whole.as_ref().err(),
            u8_whole.as_ref().err()
        );
        if let (Ok(p), Ok(m)) = (&f32_paged, &f32_whole) {
            check_paged(p, m);
        }
        if let (Ok(p), Ok(m)) = (&u8_paged, &u8_whole) {
            check_paged(p, m);
        }
    }
    let opens = f32_whole.is_ok() || u8_whole.is_ok();
    assert_eq!(
        streamed.is_ok(),
        opens,
        "streaming and whole-file opening disagree: stream {:?}, f32 {:?}, u8 {:?}",
        streamed.as_ref().err(),
        f32_whole.as_ref().err(),
        u8_whole.as_ref().err()
    );
    let Ok((header, bytes)) = streamed else {
        return;
    };
    assert_eq!(bytes, file, "the streamed bytes are not the file");
    assert_eq!(header, Header::parse(&file, file.len() as u64).unwrap());
    // What the streamed bytes open to is what the file opens to.
    if let Ok(index) = &f32_whole {
        check::check_any(index);
        check_same(index, &open_whole::<f32>(&bytes).unwrap());
    }
    if let Ok(index) = &u8_whole {
        check_same(index, &open_whole::<u8>(&bytes).unwrap());
        if let AnyIndex::Hnsw(h) = index {
            check::check_hnsw(h);
        }
    }
});
