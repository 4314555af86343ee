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
//! Input: a flags byte, three bytes that shape the chunk sizes, then the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vectrove_core::format::{self, Header, MetaReader};
use vectrove_core::rng::SplitMix64;
use vectrove_core::{AnyIndex, Element, Error, IndexFile, MemoryStore, Result};
use vectrove_fuzz_common::alloc::{Cap, CappedAlloc};
use vectrove_fuzz_common::check;

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
    let mut file = file.to_vec();
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
    assert_eq!(
        streamed.is_ok(),
        f32_whole.is_ok() || u8_whole.is_ok(),
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
