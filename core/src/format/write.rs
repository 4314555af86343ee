//! Writing a file: the metadata sections first, then the vectors. Every
//! index kind hands its own sections to a [`Writer`] and ends with
//! [`finish_index`], which adds what all kinds share.

use std::io::Write;

use super::checksum::ChecksumBuilder;
use super::{
    ENTRY_LEN, Header, IndexKind, MAGIC, SECTION_ALIGN, Section, VECTOR_ALIGN, VECTOR_BLOCK_BYTES,
    VERSION, checksum, metric_code, tag, u64s,
};
use crate::error::{Error, Result};
use crate::points::Points;
use crate::store::{Access, FeatureStore, VectorType, write_vector};

/// Assembles a file: metadata sections first, then the vectors.
pub(crate) struct Writer {
    kind: IndexKind,
    elem: u32,
    metric: crate::distance::Metric,
    dim: usize,
    count: usize,
    /// Tag, bytes, flags and alignment of every metadata section.
    sections: Vec<([u8; 4], Vec<u8>, u32, u64)>,
}

impl Writer {
    pub(crate) fn new(
        kind: IndexKind,
        elem: u32,
        metric: crate::distance::Metric,
        dim: usize,
        count: usize,
    ) -> Self {
        Self {
            kind,
            elem,
            metric,
            dim,
            count,
            sections: Vec::new(),
        }
    }

    pub(crate) fn section(&mut self, tag: [u8; 4], bytes: Vec<u8>) {
        self.sections.push((tag, bytes, 0, SECTION_ALIGN));
    }

    /// A section readers that do not know it skip, starting on a cache line
    /// (codes are read in place).
    pub(crate) fn optional_section(&mut self, tag: [u8; 4], bytes: Vec<u8>) {
        self.sections.push((tag, bytes, super::FLAG_OPTIONAL, 64));
    }

    /// Write the file: `vectors` writes the vectors section's bytes, in
    /// order, to the writer it is given; `vector_bytes` is their length and
    /// `vector_crc` the CRC of their block checksums.
    pub(crate) fn finish(
        self,
        out: &mut dyn Write,
        vector_bytes: u64,
        vector_crc: u32,
        vectors: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<()> {
        let n = self.sections.len() + 1;
        let header_len = Header::PREFIX_LEN + n * ENTRY_LEN;
        let mut table = Vec::with_capacity(n);
        let mut at = header_len as u64;
        for (tag, bytes, flags, align) in &self.sections {
            at = at.next_multiple_of(*align);
            table.push(Section {
                tag: *tag,
                flags: *flags,
                offset: at,
                len: bytes.len() as u64,
                crc: checksum(bytes),
            });
            at += bytes.len() as u64;
        }
        let meta_len = at.next_multiple_of(VECTOR_ALIGN);
        table.push(Section {
            tag: tag::VECTORS,
            flags: 0,
            offset: meta_len,
            len: vector_bytes,
            crc: vector_crc,
        });
        let file_len = meta_len + vector_bytes;

        let mut head = Vec::with_capacity(header_len);
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&(header_len as u32).to_le_bytes());
        head.extend_from_slice(&super::kind_code(self.kind).to_le_bytes());
        head.extend_from_slice(&self.elem.to_le_bytes());
        head.extend_from_slice(&metric_code(self.metric).to_le_bytes());
        head.extend_from_slice(&(self.dim as u32).to_le_bytes());
        head.extend_from_slice(&(self.count as u64).to_le_bytes());
        head.extend_from_slice(&meta_len.to_le_bytes());
        head.extend_from_slice(&file_len.to_le_bytes());
        head.extend_from_slice(&(n as u32).to_le_bytes());
        head.extend_from_slice(&[0; 4]);
        for s in &table {
            head.extend_from_slice(&s.tag);
            head.extend_from_slice(&s.flags.to_le_bytes());
            head.extend_from_slice(&s.offset.to_le_bytes());
            head.extend_from_slice(&s.len.to_le_bytes());
            head.extend_from_slice(&s.crc.to_le_bytes());
            head.extend_from_slice(&[0; 4]);
        }
        let crc = checksum(&head);
        head[60..64].copy_from_slice(&crc.to_le_bytes());
        out.write_all(&head)?;

        let mut pos = header_len as u64;
        let zeros = [0u8; VECTOR_ALIGN as usize];
        for ((_, bytes, _, _), s) in self.sections.iter().zip(&table) {
            out.write_all(&zeros[..(s.offset - pos) as usize])?;
            out.write_all(bytes)?;
            pos = s.offset + s.len;
        }
        out.write_all(&zeros[..(meta_len - pos) as usize])?;
        vectors(out)
    }
}

/// The element type code of a file written from `store`: the code of
/// how it keeps its vectors.
pub(crate) fn elem_code<S: FeatureStore>(store: &S) -> u32 {
    match store.vector_type() {
        VectorType::F16 if VectorType::F16.holds::<S::Elem>() => VectorType::F16.code(),
        _ => <S::Elem as crate::distance::Element>::CODE,
    }
}

/// Pass the first `count` vectors of `store`, as file bytes (stored as the
/// store keeps them), to `f` in chunks of about 64 KiB.
pub(crate) fn vector_bytes<S: FeatureStore>(
    store: &S,
    count: usize,
    f: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::with_capacity(VECTOR_BLOCK_BYTES as usize + 4096);
    let vector_type = store.vector_type();
    for slot in 0..count as u32 {
        match store.with_vector(slot, |v| write_vector(vector_type, v, &mut buf))? {
            Access::Ready(()) => {}
            Access::Missing => return Err(Error::NotResident { count: 1 }),
        }
        if buf.len() >= VECTOR_BLOCK_BYTES as usize {
            f(&buf)?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        f(&buf)?;
    }
    Ok(())
}

/// The end every index kind's file shares: the ids and deletions, the
/// vector block checksums, then the vectors themselves, written to `out`.
pub(crate) fn finish_index<S: FeatureStore>(
    mut w: Writer,
    out: &mut dyn Write,
    points: &Points<S>,
) -> Result<()> {
    let count = points.slot_count();
    let mut sums = ChecksumBuilder::new();
    vector_bytes(&points.store, count, &mut |b| {
        sums.update(b);
        Ok(())
    })?;
    let sums = sums.finish();
    let (sum_bytes, sum_crc) = sums.section();
    w.section(tag::IDS, u64s((0..count as u32).map(|s| points.id(s))));
    w.section(tag::DELETED, u64s(points.deleted.iter().copied()));
    w.section(tag::VECTOR_SUMS, sum_bytes);
    for (tag, bytes) in super::quant::sections(points)? {
        w.optional_section(tag, bytes);
    }
    w.finish(out, sums.total(), sum_crc, |out| {
        vector_bytes(&points.store, count, &mut |b| {
            out.write_all(b).map_err(Error::from)
        })
    })
}

/// An index that can be written as a file: [`Hnsw`](crate::Hnsw),
/// [`Ivf`](crate::Ivf) or [`AnyIndex`](crate::AnyIndex). Savers that
/// take any of them (a native file, a browser store) take this.
pub trait WriteIndex {
    /// Write the whole file to `out`.
    fn write_index(&self, out: &mut dyn Write) -> Result<()>;
}

impl<S: FeatureStore> WriteIndex for crate::hnsw::Hnsw<S> {
    fn write_index(&self, out: &mut dyn Write) -> Result<()> {
        self.write_file(out)
    }
}

impl<S: FeatureStore> WriteIndex for crate::ivf::Ivf<S> {
    fn write_index(&self, out: &mut dyn Write) -> Result<()> {
        self.write_file(out)
    }
}

impl<S: FeatureStore> WriteIndex for crate::index::AnyIndex<S> {
    fn write_index(&self, out: &mut dyn Write) -> Result<()> {
        match self {
            crate::index::AnyIndex::Hnsw(h) => h.write_file(out),
            crate::index::AnyIndex::Ivf(i) => i.write_file(out),
        }
    }
}
