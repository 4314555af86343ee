//! The index file format: one layout for every target, described in
//! `docs/format.md`.
//!
//! A file is a fixed header, a table of sections, the metadata sections
//! (parameters, graph, ids, deletions, vector checksums) and, last, the
//! vectors, contiguous and aligned to [`VECTOR_ALIGN`] so vector `i` sits at
//! `vectors_offset + i * stride`. Everything is little-endian and every
//! section carries a CRC-32.
//!
//! This module works on bytes only (no file system): natively the `vectrove`
//! crate reads and writes files with it, in the browser the same code reads
//! OPFS files and IndexedDB chunks. Reading never loads the vectors until a
//! store asks for them: [`MetaReader`] asks for the first
//! [`Header::PREFIX_LEN`] bytes, then the section table, then the rest of
//! the metadata ([`Header::meta_len`] bytes in all), checking each piece;
//! [`IndexFile::decode`] turns the metadata into either kind of index, over
//! a store that reaches the vectors where [`Header::vectors`] says.
//!
//! Nothing here trusts the bytes: every length, count and offset is checked
//! against the others and against the real file length before it is used, so
//! a truncated or corrupted file is an [`Error::Corrupt`], never a panic or an
//! allocation the file's size does not justify.

mod checksum;
mod hnsw;
mod ivf;
mod quant;
mod read;
mod write;

pub use crate::index::IndexKind;
pub(crate) use crate::index::not_kind;
pub use checksum::{ChecksumBuilder, VectorChecksums, reseal};
pub use hnsw::HnswFile;
pub use ivf::IvfFile;
pub use read::{IndexFile, MetaReader, read_meta, verify_vectors};
pub use write::WriteIndex;
pub(crate) use write::Writer;

use crate::error::{Error, Result};
use crate::store::{VectorLayout, VectorType};

/// The first eight bytes of every index file.
pub const MAGIC: [u8; 8] = *b"VECTROVE";

/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

/// Alignment of the vectors section within the file (a memory page, so a map
/// of the file and an OPFS or HTTP range read line up with it).
pub const VECTOR_ALIGN: u64 = 4096;

/// Alignment of every other section.
pub(crate) const SECTION_ALIGN: u64 = 8;

/// Bytes of vector data covered by one checksum.
pub const VECTOR_BLOCK_BYTES: u64 = 64 << 10;

/// Most sections a file may declare.
const MAX_SECTIONS: usize = 64;

/// Bytes of one section table entry.
pub(crate) const ENTRY_LEN: usize = 32;

/// Highest dimension a file may declare.
pub const MAX_DIM: usize = 1 << 20;

/// Section tags.
pub(crate) mod tag {
    pub const PARAMS: [u8; 4] = *b"PARM";
    pub const LEVELS: [u8; 4] = *b"LEVL";
    pub const GRAPH: [u8; 4] = *b"GRPH";
    pub const PARENTS: [u8; 4] = *b"PRNT";
    pub const ENTRY_LINKS: [u8; 4] = *b"ELNK";
    pub const IDS: [u8; 4] = *b"IDS_";
    pub const DELETED: [u8; 4] = *b"DELS";
    pub const VECTOR_SUMS: [u8; 4] = *b"VSUM";
    pub const VECTORS: [u8; 4] = *b"VECS";
    pub const CENTROIDS: [u8; 4] = *b"CENT";
    pub const LISTS: [u8; 4] = *b"LIST";
    pub const QUANT_PARAMS: [u8; 4] = *b"QPAR";
    pub const CODES: [u8; 4] = *b"QCOD";
    pub const CODE_SUMS: [u8; 4] = *b"QSUM";
}

/// Flag of a section a reader may skip if it does not know the tag.
pub(crate) const FLAG_OPTIONAL: u32 = 1;

/// `corrupt(section, "{text} {n}")`: one out-of-line formatter for the
/// many errors that name a number, so the decoders stay small (the browser
/// package compiles them).
#[cold]
#[inline(never)]
pub(crate) fn corrupt_n(section: &'static str, text: &str, n: u64) -> Error {
    corrupt(section, format!("{text} {n}"))
}

/// `corrupt("header", "section {tag} {text}")`.
#[cold]
#[inline(never)]
fn corrupt_section(tag: [u8; 4], text: &str) -> Error {
    corrupt("header", format!("section {} {text}", tag.escape_ascii()))
}

#[cold]
#[inline(never)]
pub(crate) fn corrupt(section: &'static str, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        section,
        reason: reason.into(),
    }
}

/// CRC-32 (IEEE) of `bytes`.
pub fn checksum(bytes: &[u8]) -> u32 {
    let mut h = crate::simd::Crc32::new();
    h.update(bytes);
    h.finalize()
}

/// One entry of the section table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    /// Four ASCII bytes naming the section.
    pub tag: [u8; 4],
    /// Flags (bit 0: optional).
    pub flags: u32,
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// CRC-32 of the section's bytes (for the vectors: of the block checksums).
    pub crc: u32,
}

impl Section {
    /// The tag as text.
    pub fn name(&self) -> String {
        self.tag.escape_ascii().to_string()
    }
}

/// The parsed header and section table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Kind of index.
    pub kind: IndexKind,
    /// Element type code ([`Element::CODE`](crate::distance::Element::CODE)).
    pub elem: u32,
    /// Metric code.
    pub metric: crate::distance::Metric,
    /// Elements per vector.
    pub dim: usize,
    /// Number of slots (points, deleted ones included).
    pub count: usize,
    /// Bytes from the start of the file to the start of the vectors: what a
    /// reader must load to decode everything but the vectors.
    pub meta_len: u64,
    /// Total length of the file.
    pub file_len: u64,
    /// The section table.
    pub sections: Vec<Section>,
    /// Whether this reader leaves the codes (`QCOD`) out of the metadata and
    /// reads them in blocks when a search needs them (see
    /// [`MetaReader::for_remote`]).
    pub(crate) lazy_codes: bool,
}

pub(crate) fn kind_code(kind: IndexKind) -> u32 {
    match kind {
        IndexKind::Hnsw => 1,
        IndexKind::Ivf => 2,
    }
}

fn kind_from_code(code: u32) -> Result<IndexKind> {
    match code {
        1 => Ok(IndexKind::Hnsw),
        2 => Ok(IndexKind::Ivf),
        _ => Err(corrupt_n("header", "unknown index kind", code.into())),
    }
}

pub(crate) fn metric_code(m: crate::distance::Metric) -> u32 {
    match m {
        crate::distance::Metric::L2 => 1,
        crate::distance::Metric::Cosine => 2,
        crate::distance::Metric::InnerProduct => 3,
        crate::distance::Metric::Hamming => 4,
    }
}

fn metric_from_code(code: u32) -> Result<crate::distance::Metric> {
    Ok(match code {
        1 => crate::distance::Metric::L2,
        2 => crate::distance::Metric::Cosine,
        3 => crate::distance::Metric::InnerProduct,
        4 => crate::distance::Metric::Hamming,
        _ => return Err(corrupt_n("header", "unknown metric code", code.into())),
    })
}

/// Element size for a code.
pub(crate) fn elem_size(code: u32) -> Result<usize> {
    match VectorType::from_code(code) {
        Some(t) => Ok(t.size()),
        None => Err(corrupt_n("header", "unknown element type", code.into())),
    }
}

/// The name of an element type code (`f32`, `f16`, `u8`).
pub fn elem_name(code: u32) -> &'static str {
    VectorType::from_code(code).map_or("unknown", VectorType::name)
}

impl Header {
    /// Bytes [`parse`](Self::parse) needs to learn the full header length.
    pub const PREFIX_LEN: usize = 64;

    /// The length of the header and section table, from the first
    /// [`PREFIX_LEN`](Self::PREFIX_LEN) bytes (checking only the magic and version).
    pub fn header_len(prefix: &[u8]) -> Result<usize> {
        if prefix.len() < Self::PREFIX_LEN {
            return Err(corrupt(
                "header",
                format!(
                    "{} bytes is too short for an index file (the header alone is {})",
                    prefix.len(),
                    Self::PREFIX_LEN
                ),
            ));
        }
        if prefix[..8] != MAGIC {
            return Err(corrupt("header", "not a vectrove index file (bad magic)"));
        }
        let version = u32_at(prefix, 8);
        if version != VERSION {
            return Err(corrupt(
                "header",
                format!("format version {version}; this build reads version {VERSION}"),
            ));
        }
        let n = u32_at(prefix, 56) as usize;
        if n > MAX_SECTIONS {
            return Err(corrupt_n("header", "sections declared:", n as u64));
        }
        Ok(Self::PREFIX_LEN + n * ENTRY_LEN)
    }

    /// Parse the header of a file of `file_len` bytes from its first bytes
    /// (at least [`header_len`](Self::header_len) of them).
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<Header> {
        let header_len = Self::header_len(bytes)?;
        if bytes.len() < header_len {
            return Err(corrupt_n(
                "header",
                "truncated: header bytes",
                bytes.len() as u64,
            ));
        }
        let stored = u32_at(bytes, 60);
        let mut h = crate::simd::Crc32::new();
        h.update(&bytes[..60]);
        h.update(&[0; 4]);
        h.update(&bytes[64..header_len]);
        if h.finalize() != stored {
            return Err(corrupt("header", "checksum mismatch"));
        }
        if u32_at(bytes, 12) as usize != header_len {
            return Err(corrupt(
                "header",
                "header length disagrees with the section count",
            ));
        }
        let declared_len = u64_at(bytes, 48);
        if declared_len != file_len {
            return Err(corrupt(
                "header",
                format!(
                    "the file is {file_len} bytes but its header says {declared_len} (truncated or extended)"
                ),
            ));
        }
        let kind = kind_from_code(u32_at(bytes, 16))?;
        let elem = u32_at(bytes, 20);
        let esize = elem_size(elem)?;
        let metric = metric_from_code(u32_at(bytes, 24))?;
        // Hamming is the one metric of u8 vectors and is defined for nothing
        // else: any other pairing has no distance, so no index could use it.
        if (metric == crate::distance::Metric::Hamming)
            != (elem == <u8 as crate::distance::Element>::CODE)
        {
            return Err(corrupt("header", "metric not defined for the element type"));
        }
        let dim = u32_at(bytes, 28) as usize;
        if dim == 0 || dim > MAX_DIM {
            return Err(corrupt_n("header", "dimension out of range:", dim as u64));
        }
        let count = u64_at(bytes, 32);
        if count >= u64::from(u32::MAX) {
            return Err(corrupt_n("header", "points over the limit:", count));
        }
        let count = count as usize;
        let meta_len = u64_at(bytes, 40);
        if meta_len < header_len as u64
            || meta_len > file_len
            || !meta_len.is_multiple_of(VECTOR_ALIGN)
        {
            return Err(corrupt_n("header", "invalid metadata length", meta_len));
        }
        let n = (header_len - Self::PREFIX_LEN) / ENTRY_LEN;
        let mut sections = Vec::with_capacity(n);
        for i in 0..n {
            let at = Self::PREFIX_LEN + i * ENTRY_LEN;
            let s = Section {
                tag: [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]],
                flags: u32_at(bytes, at + 4),
                offset: u64_at(bytes, at + 8),
                len: u64_at(bytes, at + 16),
                crc: u32_at(bytes, at + 24),
            };
            let end = s.offset.checked_add(s.len).filter(|&e| e <= file_len);
            if s.offset < header_len as u64 || end.is_none() {
                return Err(corrupt_section(s.tag, "lies outside the file"));
            }
            if sections.iter().any(|o: &Section| o.tag == s.tag) {
                return Err(corrupt_section(s.tag, "appears twice"));
            }
            sections.push(s);
        }
        let header = Header {
            version: VERSION,
            kind,
            elem,
            metric,
            dim,
            count,
            meta_len,
            file_len,
            sections,
            lazy_codes: false,
        };
        // The vectors: exactly `count` of them at `meta_len`, nothing after.
        let v = header.section(tag::VECTORS)?;
        let stride = dim * esize;
        if v.offset != meta_len
            || Some(v.len) != (stride as u64).checked_mul(count as u64)
            || v.offset + v.len != file_len
        {
            return Err(corrupt_n(
                "header",
                "the vectors section does not hold `count` vectors ending the file; its length:",
                v.len,
            ));
        }
        let mut end = header_len as u64;
        for s in &header.sections {
            if s.tag != tag::VECTORS && s.offset + s.len > meta_len {
                return Err(corrupt_section(s.tag, "overlaps the vectors"));
            }
            if s.tag != tag::VECTORS {
                end = end.max(s.offset + s.len);
            }
        }
        // The metadata ends with its last section (rounded up to the
        // vectors' alignment), so a reader never loads more than it needs.
        if meta_len != end.next_multiple_of(VECTOR_ALIGN) {
            return Err(corrupt_n(
                "header",
                "the metadata does not end at its last section; its length:",
                meta_len,
            ));
        }
        Ok(header)
    }

    /// The section with `tag`, or an error naming it.
    pub fn section(&self, tag: [u8; 4]) -> Result<Section> {
        self.sections
            .iter()
            .find(|s| s.tag == tag)
            .copied()
            .ok_or_else(|| corrupt_section(tag, "is missing"))
    }

    /// Whether a reader of this file's kind skips section `s`: a tag it
    /// does not know, flagged optional.
    fn skips(&self, s: &Section) -> bool {
        let known: &[[u8; 4]] = match self.kind {
            IndexKind::Hnsw => &hnsw::SECTIONS,
            IndexKind::Ivf => &ivf::SECTIONS,
        };
        (!known.contains(&s.tag) && s.flags & FLAG_OPTIONAL != 0)
            || (self.lazy_codes && s.tag == tag::CODES)
    }

    /// Leave the codes out of the metadata, to be read in blocks as
    /// searches need them: only for an IVF file whose codes have block
    /// checksums (`QSUM`), so that every block can be checked as it arrives
    /// (HNSW walks read codes at every step, so they stay resident).
    pub(crate) fn defer_codes(&mut self) {
        let has = |t: [u8; 4]| self.sections.iter().any(|s| s.tag == t);
        self.lazy_codes = self.kind == IndexKind::Ivf && has(tag::CODES) && has(tag::CODE_SUMS);
    }

    /// Whether the codes are read lazily, in blocks as searches need them (an
    /// IVF file read by [`MetaReader::for_remote`] that has `QSUM`).
    pub fn codes_deferred(&self) -> bool {
        self.lazy_codes
    }

    /// The sections of the file that a reader of its kind does not know
    /// and may skip (flagged optional), as `(start, end)` byte offsets in
    /// the file, ascending.
    pub fn skipped(&self) -> Vec<(u64, u64)> {
        self.spans(true)
    }

    /// The `(start, end)` offsets of the metadata sections (of the skipped
    /// ones only, if `skipped_only`), ascending.
    fn spans(&self, skipped_only: bool) -> Vec<(u64, u64)> {
        let mut spans: Vec<(u64, u64)> = self
            .sections
            .iter()
            .filter(|s| s.tag != tag::VECTORS && (!skipped_only || self.skips(s)))
            .map(|s| (s.offset, s.offset + s.len))
            .collect();
        spans.sort_unstable();
        spans
    }

    /// Where byte `at` of the file (not in a skipped section) is in the
    /// metadata bytes `meta`: the start of the file (at least
    /// [`meta_len`](Self::meta_len) bytes), or its first `meta_len` bytes
    /// without the [`skipped`](Self::skipped) sections (as
    /// [`MetaReader::for_source`] reads them).
    #[inline(never)]
    fn meta_offset(&self, meta: &[u8], at: u64) -> Result<usize> {
        if meta.len() as u64 >= self.meta_len {
            return Ok(at as usize);
        }
        let (mut total, mut before) = (0, 0);
        for s in self.sections.iter().filter(|s| self.skips(s)) {
            total += s.len;
            if s.offset + s.len <= at {
                before += s.len;
            }
        }
        if meta.len() as u64 != self.meta_len - total {
            return Err(corrupt("header", "metadata truncated"));
        }
        Ok((at - before) as usize)
    }

    /// The bytes of section `tag` out of the metadata bytes `meta` (see
    /// [`meta_offset`](Self::meta_offset)), checksum verified.
    pub(crate) fn section_bytes<'a>(
        &self,
        meta: &'a [u8],
        tag: [u8; 4],
        name: &'static str,
    ) -> Result<&'a [u8]> {
        let s = self.section(tag)?;
        let start = self.meta_offset(meta, s.offset)?;
        let end = start + s.len as usize;
        if end > meta.len() {
            return Err(corrupt(name, "truncated"));
        }
        let bytes = &meta[start..end];
        if checksum(bytes) != s.crc {
            return Err(corrupt(name, "checksum mismatch"));
        }
        Ok(bytes)
    }

    /// Check that no two sections overlap and that the metadata bytes no
    /// section covers (the padding) are zero, so that every byte of a file
    /// is checked by something.
    pub(crate) fn check_padding(&self, meta: &[u8]) -> Result<()> {
        let spans = self.spans(false);
        let mut at = (Self::PREFIX_LEN + self.sections.len() * ENTRY_LEN) as u64;
        for (start, end) in spans.into_iter().chain([(self.meta_len, self.meta_len)]) {
            // Sorted by start: one starting before the furthest end so far
            // shares bytes with another section.
            if start < at {
                return Err(corrupt("header", "two sections overlap"));
            }
            if start > at
                && meta[self.meta_offset(meta, at)?..self.meta_offset(meta, start)?]
                    .iter()
                    .any(|&b| b != 0)
            {
                return Err(corrupt_n("header", "non-zero padding at byte", at));
            }
            at = at.max(end);
        }
        Ok(())
    }

    /// Check that no section this build does not know is required.
    pub(crate) fn check_known(&self, known: &[[u8; 4]]) -> Result<()> {
        for s in &self.sections {
            if !known.contains(&s.tag) && s.flags & FLAG_OPTIONAL == 0 {
                return Err(corrupt_section(
                    s.tag,
                    "is required but unknown to this build",
                ));
            }
        }
        Ok(())
    }

    /// Where the vectors are: vector `i` at `meta_len + i * stride`, its
    /// elements stored as [`vector_type`](Self::vector_type).
    pub fn vectors(&self) -> VectorLayout {
        VectorLayout::new(self.dim, self.count)
            .with_offset(self.meta_len)
            .with_stride(self.vector_stride())
            .with_vector_type(self.vector_type())
    }

    /// How the file stores its vectors (`f32`, `f16` or `u8`). An index
    /// opened from it takes and returns the element type of
    /// [`VectorType::element`]: `f32` for a file of `f16`.
    pub fn vector_type(&self) -> VectorType {
        VectorType::from_code(self.elem).unwrap_or(VectorType::F32)
    }

    /// Bytes from one vector to the next.
    pub fn vector_stride(&self) -> usize {
        self.dim * elem_size(self.elem).unwrap_or(1)
    }

    /// Bytes of all vectors.
    pub fn vector_bytes(&self) -> u64 {
        self.vector_stride() as u64 * self.count as u64
    }

    /// Check that the file holds an index of `kind`.
    pub fn check_kind(&self, kind: IndexKind) -> Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(not_kind(kind))
        }
    }

    /// Check that the file holds vectors of element type `T`: `T` itself,
    /// or `f32` values stored as `f16` for `T = f32`.
    pub fn check_elem<T: crate::distance::Element>(&self) -> Result<()> {
        if self.vector_type().holds::<T>() {
            Ok(())
        } else {
            Err(Error::ElementMismatch {
                expected: elem_name(self.elem),
                got: T::NAME,
            })
        }
    }
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `v` as little-endian bytes.
pub(crate) fn u32s(v: impl IntoIterator<Item = u32>) -> Vec<u8> {
    let mut out = Vec::new();
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// `v` as little-endian bytes.
pub(crate) fn u64s(v: impl IntoIterator<Item = u64>) -> Vec<u8> {
    let mut out = Vec::new();
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// A copy of `bytes`, for `what`; running out of memory is an error.
#[inline(never)]
pub(crate) fn copy_bytes(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    let mut out = crate::alloc::zeroed(bytes.len(), what)?;
    out.copy_from_slice(bytes);
    Ok(out)
}

/// The little-endian `u32`s of `bytes` (a whole number of them), for
/// `what`; running out of memory is an error.
#[inline(never)]
pub(crate) fn le_u32s(bytes: &[u8], what: &str) -> Result<Vec<u32>> {
    let mut out = crate::alloc::zeroed(bytes.len() / 4, what)?;
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *o = u32_at(c, 0);
    }
    Ok(out)
}

/// The little-endian `u64`s of `bytes` (a whole number of them), for
/// `what`; running out of memory is an error.
#[inline(never)]
pub(crate) fn le_u64s(bytes: &[u8], what: &str) -> Result<Vec<u64>> {
    let mut out = crate::alloc::zeroed(bytes.len() / 8, what)?;
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        *o = u64_at(c, 0);
    }
    Ok(out)
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// A cursor over a section's bytes that errors instead of running past the end.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    section: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], section: &'static str) -> Self {
        Self {
            bytes,
            at: 0,
            section,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(corrupt(self.section, "ends early"));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32_at(self.take(4)?, 0))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64_at(self.take(8)?, 0))
    }

    pub(crate) fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(corrupt_n(
                self.section,
                "unexpected trailing bytes:",
                self.remaining() as u64,
            ));
        }
        Ok(())
    }
}
