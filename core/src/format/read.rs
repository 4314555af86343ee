//! Reading a file: one sequence for every byte source and both index kinds.
//!
//! [`MetaReader`] says which bytes it needs next (the fixed prefix, the
//! section table, the rest of the metadata) and checks each piece as it is
//! fed, so the same steps serve a file read at an offset, an OPFS handle, a
//! stream that arrives in order and an HTTP range. [`IndexFile::decode`]
//! then turns the metadata into either kind of index without its vectors,
//! and [`IndexFile::into_index`] attaches the store the caller chose for
//! them. Opening never trusts the bytes: see the module above.

use std::ops::Range;

use super::checksum::VectorChecksums;
use super::{Header, IndexKind, checksum, corrupt, corrupt_n, le_u32s, le_u64s, tag};
use super::{HnswFile, IvfFile};
use crate::distance::{DistanceFn, Element};
use crate::error::{Error, Result};
use crate::index::AnyIndex;
use crate::points::Points;
use crate::points::ids::Ids;
use crate::store::{ByteSource, FeatureStore, MemoryStore, SourceRead};

/// Reads the header and metadata of a file, a step at a time: ask
/// [`wants`](Self::wants) for the next byte range, fetch it however the
/// source can, and [`feed`](Self::feed) it back.
///
/// Two kinds of source: a stream ([`new`](Self::new)) gets asked for every
/// byte of the metadata in order, and the reader's buffer grows only as
/// bytes arrive, so a header that claims gigabytes costs nothing until they
/// come; a source that can read anywhere and knows its real length
/// ([`for_source`](Self::for_source), which [`read_meta`] uses) is not asked
/// for the sections this build does not know and may skip (optional ones),
/// and the buffer is sized once by the metadata the file really holds.
///
/// ```
/// use vectrove_core::format::MetaReader;
/// use vectrove_core::{Hnsw, Metric};
///
/// let mut index = Hnsw::builder(2, Metric::L2).build()?;
/// index.insert(1, &[0.5, 0.5])?;
/// let bytes = index.to_bytes()?;
/// let mut reader = MetaReader::new(Some(bytes.len() as u64));
/// while let Some(r) = reader.wants() {
///     reader.feed(&bytes[r.start as usize..r.end as usize])?;
/// }
/// let (header, meta) = reader.finish()?;
/// assert_eq!((header.count, meta.len() as u64), (1, header.meta_len));
/// # Ok::<(), vectrove_core::Error>(())
/// ```
#[derive(Debug)]
pub struct MetaReader {
    file_len: Option<u64>,
    /// Whether unknown optional sections are skipped (and the length is real).
    skip_unknown: bool,
    /// Whether an IVF file's codes are left out, to be read in blocks.
    defer_codes: bool,
    /// Room for the bytes asked for so far; the first `have` are filled.
    /// Skipped sections take no room: byte `i` of the file sits at `i`
    /// minus the skipped bytes before it.
    bytes: Vec<u8>,
    have: usize,
    /// The metadata's length in `bytes` once the header is known.
    target: usize,
    /// The skipped byte ranges of the file, `(start, end)`, ascending.
    skipped: Vec<(u64, u64)>,
    header: Option<Header>,
}

/// The most a stream's buffer grows ahead of the bytes that arrived.
const STREAM_STEP: usize = 1 << 20;

impl MetaReader {
    /// A reader for a stream of `file_len` bytes, or of the length its header
    /// declares when the stream cannot tell. Every metadata byte is asked
    /// for, in order.
    pub fn new(file_len: Option<u64>) -> Self {
        let prefix = Header::PREFIX_LEN as u64;
        let want = file_len.map_or(prefix, |len| len.min(prefix));
        Self {
            file_len,
            skip_unknown: false,
            defer_codes: false,
            bytes: vec![0; want as usize],
            have: 0,
            target: 0,
            skipped: Vec::new(),
            header: None,
        }
    }

    /// A reader for a source of `file_len` bytes (its real length) that can
    /// read any range: unknown optional sections are not asked for, and
    /// [`finish`](Self::finish) returns the metadata without them (which
    /// [`IndexFile::decode`] takes as it takes the whole metadata).
    pub fn for_source(file_len: u64) -> Self {
        Self {
            skip_unknown: true,
            ..Self::new(Some(file_len))
        }
    }

    /// A reader for a remote file of `file_len` bytes read by range
    /// requests: as [`for_source`](Self::for_source), and the codes of an
    /// IVF file that has their block checksums are left out too (a search
    /// reads the probed lists' codes in blocks as it needs them; see
    /// [`Header::codes_deferred`]).
    pub fn for_remote(file_len: u64) -> Self {
        Self {
            defer_codes: true,
            ..Self::for_source(file_len)
        }
    }

    /// Every byte range still wanted, in order: once the header is known,
    /// the whole rest of the metadata (so a source that reads ranges
    /// concurrently can fetch them at once, then feed them in order);
    /// before, the same as [`wants`](Self::wants).
    pub fn remaining(&self) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        let mut at = self.have;
        while at < self.bytes.len() {
            let (start, end) = self.file_offset(at);
            let n = (end - start).min((self.bytes.len() - at) as u64);
            out.push(start..start + n);
            at += n as usize;
        }
        out
    }

    /// Where byte `at` of `bytes` is in the file, and where the piece that
    /// holds it ends there (at the next skipped range or the metadata's end).
    fn file_offset(&self, at: usize) -> (u64, u64) {
        let mut pos = at as u64;
        for &(start, end) in &self.skipped {
            if start <= pos {
                pos += end - start;
            } else {
                return (pos, start);
            }
        }
        (pos, pos + (self.bytes.len() - at) as u64)
    }

    /// The byte range to read next, or `None` once the metadata is whole.
    pub fn wants(&self) -> Option<Range<u64>> {
        if self.have >= self.bytes.len() {
            return None;
        }
        let (start, end) = self.file_offset(self.have);
        let end = end.min(start + (self.bytes.len() - self.have) as u64);
        Some(start..end)
    }

    /// The bytes of the range [`wants`](Self::wants) named; they are checked
    /// before the next range is asked for.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<()> {
        self.fill(|_, buf| {
            if buf.len() != bytes.len() {
                return Err(corrupt_n(
                    "header",
                    "truncated: bytes fed",
                    bytes.len() as u64,
                ));
            }
            buf.copy_from_slice(bytes);
            Ok(())
        })
    }

    /// Let `read(offset, buf)` fill the range [`wants`](Self::wants) names in
    /// place (a source that reads into a buffer saves a copy), then check it.
    pub fn fill(&mut self, read: impl FnOnce(u64, &mut [u8]) -> Result<()>) -> Result<()> {
        let Some(r) = self.wants() else {
            return Err(corrupt("header", "more bytes fed than the metadata holds"));
        };
        let end = self.have + (r.end - r.start) as usize;
        read(r.start, &mut self.bytes[self.have..end])?;
        self.have = end;
        self.advance()
    }

    /// Check what has arrived and size the next range.
    fn advance(&mut self) -> Result<()> {
        let have = self.have;
        if have < self.bytes.len() {
            return Ok(());
        }
        if self.header.is_none() && have <= Header::PREFIX_LEN {
            let header_len = Header::header_len(&self.bytes)?;
            if let Some(len) = self.file_len.filter(|&len| header_len as u64 > len) {
                return Err(corrupt_n("header", "truncated: the file's length is", len));
            }
            if header_len > have {
                self.bytes.resize(header_len, 0);
                return Ok(());
            }
        }
        if self.header.is_none() {
            let claimed = super::u64_at(&self.bytes, 48);
            let mut header = Header::parse(&self.bytes, self.file_len.unwrap_or(claimed))?;
            if self.defer_codes {
                header.defer_codes();
            }
            if self.skip_unknown {
                self.skipped = header.skipped();
            }
            let skipped: u64 = self.skipped.iter().map(|(s, e)| e - s).sum();
            // (A claim beyond the address space cannot be held either.)
            self.target = usize::try_from(header.meta_len - skipped)
                .map_err(|_| crate::alloc::out_of_memory("the metadata", usize::MAX))?;
            self.header = Some(header);
        }
        // A source's length is its own, and `meta_len` was checked against
        // it: the bytes are there, so the buffer takes them all at once. A
        // stream's grows by at most what has arrived (and a step), so it
        // never runs far ahead of the bytes; a new buffer each time and a
        // copy, each byte copied about once as the growth is geometric.
        let next = match self.skip_unknown {
            true => self.target,
            false => self.target.min(have + have.max(STREAM_STEP)),
        };
        if next > have {
            let mut more = crate::alloc::zeroed(next, "the metadata")?;
            more[..have].copy_from_slice(&self.bytes[..have]);
            self.bytes = more;
        }
        Ok(())
    }

    /// The checked header and the metadata bytes: the first
    /// [`Header::meta_len`] bytes of the file, without the sections a
    /// reader made with [`for_source`](Self::for_source) skipped.
    pub fn finish(self) -> Result<(Header, Vec<u8>)> {
        match self.header {
            Some(h) if self.wants().is_none() && self.have == self.target => Ok((h, self.bytes)),
            // An empty file never got as far as the prefix check: say what
            // that check says of it.
            None if self.have < Header::PREFIX_LEN => {
                Header::header_len(&self.bytes[..self.have])?;
                Err(corrupt("header", "truncated: the metadata is incomplete"))
            }
            _ => Err(corrupt("header", "truncated: the metadata is incomplete")),
        }
    }
}

/// Read the header and metadata of the file in `source`, which must answer
/// synchronously. Optional sections this build does not know are not read
/// (see [`MetaReader::for_source`]).
pub fn read_meta(source: &impl ByteSource) -> Result<(Header, Vec<u8>)> {
    let mut reader = MetaReader::for_source(source.len());
    while reader.wants().is_some() {
        reader.fill(|offset, buf| read_now(source, offset, buf))?;
    }
    reader.finish()
}

fn read_now(source: &impl ByteSource, offset: u64, buf: &mut [u8]) -> Result<()> {
    match source.read_at(offset, buf)? {
        SourceRead::Done => Ok(()),
        SourceRead::Pending => Err(Error::NotResident { count: 1 }),
    }
}

/// Check every block of the vectors in `source` against `sums`, reading one
/// block at a time.
pub fn verify_vectors(
    source: &impl ByteSource,
    header: &Header,
    sums: &VectorChecksums,
) -> Result<()> {
    let offset = header.vectors().base_offset;
    let mut block = Vec::new();
    for i in 0..sums.blocks() {
        let r = sums.block_range(i);
        block.resize((r.end - r.start) as usize, 0);
        read_now(source, offset + r.start, &mut block)?;
        sums.verify_block(i, &block)?;
    }
    Ok(())
}

/// A decoded file of either kind, without its vectors.
#[derive(Debug)]
pub enum IndexFile {
    /// An HNSW graph.
    Hnsw(HnswFile),
    /// IVF-Flat lists.
    Ivf(IvfFile),
}

impl IndexFile {
    /// Decode and check everything but the vectors. `meta` is the start of
    /// the file, at least [`Header::meta_len`] bytes, or the metadata as
    /// [`read_meta`](crate::format::read_meta) returns it (without the
    /// optional sections this build does not know).
    pub fn decode(header: Header, meta: &[u8]) -> Result<Self> {
        Ok(match header.kind {
            IndexKind::Hnsw => IndexFile::Hnsw(HnswFile::decode(header, meta)?),
            IndexKind::Ivf => IndexFile::Ivf(IvfFile::decode(header, meta)?),
        })
    }

    /// Read and decode the metadata of the file in `source`.
    pub fn read(source: &impl ByteSource) -> Result<Self> {
        let (header, meta) = read_meta(source)?;
        Self::decode(header, &meta)
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        match self {
            IndexFile::Hnsw(f) => f.header(),
            IndexFile::Ivf(f) => f.header(),
        }
    }

    /// The codes as the file holds them.
    pub(crate) fn quant(&self) -> Option<&crate::quant::Quant> {
        Some(match self {
            IndexFile::Hnsw(f) => &f.points().quant,
            IndexFile::Ivf(f) => &f.points().quant,
        })
    }

    /// The checksums of the vectors section, for stores that verify what they load.
    pub fn vector_checksums(&self) -> &VectorChecksums {
        match self {
            IndexFile::Hnsw(f) => f.vector_checksums(),
            IndexFile::Ivf(f) => f.vector_checksums(),
        }
    }

    /// The index over `store`, which must hold the file's vectors (same
    /// element type, dimension and count).
    pub fn into_index<S: FeatureStore>(self, store: S) -> Result<AnyIndex<S>> {
        Ok(match self {
            IndexFile::Hnsw(f) => AnyIndex::Hnsw(f.into_index(store)?),
            IndexFile::Ivf(f) => AnyIndex::Ivf(f.into_index(store)?),
        })
    }

    /// The vectors of this file in memory, from the bytes of its vectors
    /// section, every block checked, kept as the file stores them (`f16`
    /// stays `f16`).
    pub fn memory_store<T: Element>(&self, vectors: &[u8]) -> Result<MemoryStore<T>> {
        let h = self.header();
        h.check_elem::<T>()?;
        self.vector_checksums().verify_all(vectors)?;
        MemoryStore::from_le_bytes_as(h.vector_type(), h.dim, vectors)
    }

    /// An index from the bytes of a whole file, its vectors in memory (in a
    /// [`MemoryStore`], or a store made from one), every section and every
    /// vector block checked.
    pub fn from_bytes<S>(bytes: &[u8]) -> Result<AnyIndex<S>>
    where
        S: FeatureStore + From<MemoryStore<S::Elem>>,
    {
        let header = Header::parse(bytes, bytes.len() as u64)?;
        let (file, store) = decode_whole::<S::Elem>(bytes, header)?;
        file.into_index(S::from(store))
    }
}

/// The decoded metadata and the vectors in memory of the whole file
/// `bytes`, which must hold an index of `kind`.
pub(crate) fn whole_file<T: Element>(
    bytes: &[u8],
    kind: IndexKind,
) -> Result<(IndexFile, MemoryStore<T>)> {
    let header = Header::parse(bytes, bytes.len() as u64)?;
    header.check_kind(kind)?;
    decode_whole(bytes, header)
}

fn decode_whole<T: Element>(bytes: &[u8], header: Header) -> Result<(IndexFile, MemoryStore<T>)> {
    header.check_elem::<T>()?;
    let meta_len = header.meta_len as usize;
    let file = IndexFile::decode(header, &bytes[..meta_len])?;
    let store = file.memory_store(&bytes[meta_len..])?;
    Ok((file, store))
}

/// What every kind's file holds about its points: the header, the ids,
/// the deletion bits and the vectors' checksums, decoded and checked.
#[derive(Debug)]
pub(crate) struct PointsFile {
    pub(crate) header: Header,
    ids: Ids,
    deleted: Vec<u64>,
    pub(crate) sums: VectorChecksums,
    quant: crate::quant::Quant,
}

impl PointsFile {
    /// Decode the sections every kind shares.
    pub(crate) fn decode(header: Header, meta: &[u8]) -> Result<Self> {
        let (ids, deleted) = decode_ids(&header, meta)?;
        let sums = decode_vector_sums(&header, meta)?;
        let quant = super::quant::decode(&header, meta)?;
        Ok(Self {
            header,
            ids,
            deleted,
            sums,
            quant,
        })
    }

    /// The points table over `store`, which must hold the file's vectors
    /// (same element type, dimension and count), and the distance of the
    /// file's metric for them.
    pub(crate) fn into_points<S: FeatureStore>(
        self,
        store: S,
    ) -> Result<(Points<S>, DistanceFn<S::Elem>)> {
        check_store(&self.header, &store)?;
        let metric = self.header.metric;
        let dist = S::Elem::distance_fn(metric).map_err(|e| corrupt("header", e.to_string()))?;
        let mut points = Points::from_parts(store, metric, self.ids, self.deleted);
        points.quant = self.quant;
        Ok((points, dist))
    }
}

/// Read and check the ids and deletions sections.
fn decode_ids(header: &Header, meta: &[u8]) -> Result<(Ids, Vec<u64>)> {
    let count = header.count;
    let bytes = header.section_bytes(meta, tag::IDS, "ids")?;
    if bytes.len() != 8 * count {
        return Err(corrupt("ids", "wrong length"));
    }
    let ids = le_u64s(bytes, "the ids")?;
    let bytes = header.section_bytes(meta, tag::DELETED, "deletions")?;
    if bytes.len() != 8 * count.div_ceil(64) {
        return Err(corrupt("deletions", "wrong length"));
    }
    let deleted = le_u64s(bytes, "the deletions")?;
    if !count.is_multiple_of(64) && deleted.last().is_some_and(|w| w >> (count % 64) != 0) {
        return Err(corrupt("deletions", "bits set past the last node"));
    }
    let ids =
        Ids::from_slots(ids, &deleted).ok_or_else(|| corrupt("ids", "a live id appears twice"))?;
    Ok((ids, deleted))
}

/// Read and check the vector block checksums section.
fn decode_vector_sums(header: &Header, meta: &[u8]) -> Result<VectorChecksums> {
    let bytes = header.section_bytes(meta, tag::VECTOR_SUMS, "vector checksums")?;
    let vec_section = header.section(tag::VECTORS)?;
    if checksum(bytes) != vec_section.crc || bytes.len() % 4 != 0 {
        return Err(corrupt("vector checksums", "checksum mismatch"));
    }
    let sums = le_u32s(bytes, "the vector checksums")?;
    VectorChecksums::from_parts(sums, vec_section.len, header.vector_type())
}

/// Check that `store` can hold the vectors of the file `h` describes:
/// same element type, dimension and count. (How the store keeps them is
/// its own affair: a file of `f16` opens over any `f32` store of its values,
/// and the index then saves as that store keeps them.)
fn check_store<S: FeatureStore>(h: &Header, store: &S) -> Result<()> {
    h.check_elem::<S::Elem>()?;
    if store.dim() != h.dim {
        return Err(Error::DimensionMismatch {
            expected: h.dim,
            got: store.dim(),
        });
    }
    if store.len() != h.count {
        return Err(crate::error::invalid_n(
            "store",
            "holds the wrong number of vectors:",
            store.len() as u64,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distance::Metric;
    use crate::hnsw::Hnsw;

    fn file() -> Vec<u8> {
        let mut index = Hnsw::builder(3, Metric::L2).seed(2).build().unwrap();
        for i in 0..50u64 {
            index.insert(i, &[i as f32, 1.0, 2.0]).unwrap();
        }
        index.to_bytes().unwrap()
    }

    /// Feed `bytes` to a reader the way a stream of `len` bytes (or of
    /// unknown length, for `None`) would, stopping at the first error.
    fn read(bytes: &[u8], len: Option<u64>) -> Result<(Header, Vec<u8>)> {
        feed(MetaReader::new(len), bytes)
    }

    /// The same through a reader for a source of `bytes.len()` bytes.
    fn read_source(bytes: &[u8]) -> Result<(Header, Vec<u8>)> {
        feed(MetaReader::for_source(bytes.len() as u64), bytes)
    }

    fn feed(mut reader: MetaReader, bytes: &[u8]) -> Result<(Header, Vec<u8>)> {
        while let Some(r) = reader.wants() {
            let end = (r.end as usize).min(bytes.len());
            reader.feed(&bytes[(r.start as usize).min(end)..end])?;
        }
        reader.finish()
    }

    #[test]
    fn the_same_metadata_from_a_file_and_a_stream() {
        let bytes = file();
        let whole = Header::parse(&bytes, bytes.len() as u64).unwrap();
        for len in [Some(bytes.len() as u64), None] {
            let (header, meta) = read(&bytes, len).unwrap();
            assert_eq!(header, whole);
            assert_eq!(meta, bytes[..whole.meta_len as usize]);
        }
        assert_eq!(
            read_source(&bytes).unwrap().1,
            bytes[..whole.meta_len as usize]
        );
    }

    #[test]
    fn truncated_or_short_input_is_an_error() {
        let bytes = file();
        let meta_len = Header::parse(&bytes, bytes.len() as u64).unwrap().meta_len as usize;
        for cut in [
            0,
            1,
            63,
            64,
            65,
            200,
            meta_len - 1,
            meta_len,
            bytes.len() - 1,
        ] {
            let part = &bytes[..cut];
            assert!(read(part, Some(cut as u64)).is_err(), "a {cut}-byte file");
            assert!(read_source(part).is_err(), "a {cut}-byte source");
            // A stream that ends early: the reader is fed short pieces.
            if cut < meta_len {
                assert!(read(part, None).is_err(), "a stream of {cut} bytes");
            }
        }
        let empty = read(&[], Some(0)).unwrap_err().to_string();
        assert!(empty.contains("0 bytes is too short"), "{empty}");
        let empty = read_source(&[]).unwrap_err().to_string();
        assert!(empty.contains("0 bytes is too short"), "{empty}");
        let mut reader = MetaReader::new(None);
        assert!(
            reader.feed(&bytes[..10]).is_err(),
            "a piece of the wrong size"
        );
    }
}
