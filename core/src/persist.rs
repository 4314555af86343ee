//! Pieces of the file format shared by every index kind: the vectors
//! section and its block checksums, ids and deletion bits.

use crate::distance::Element;
use crate::error::{Error, Result};
use crate::format::{Header, VECTOR_BLOCK_BYTES, VectorChecksums, Writer, checksum, corrupt, tag};
use crate::hnsw::ids::Ids;
use crate::store::{Access, FeatureStore};

/// Feeds bytes to per-block checksums.
struct BlockSums {
    sums: Vec<u32>,
    hasher: crate::simd::Crc32,
    in_block: u64,
    total: u64,
}

impl BlockSums {
    fn new() -> Self {
        Self {
            sums: Vec::new(),
            hasher: crate::simd::Crc32::new(),
            in_block: 0,
            total: 0,
        }
    }

    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = (VECTOR_BLOCK_BYTES - self.in_block) as usize;
            let n = room.min(bytes.len());
            self.hasher.update(&bytes[..n]);
            self.in_block += n as u64;
            self.total += n as u64;
            bytes = &bytes[n..];
            if self.in_block == VECTOR_BLOCK_BYTES {
                let h = std::mem::replace(&mut self.hasher, crate::simd::Crc32::new());
                self.sums.push(h.finalize());
                self.in_block = 0;
            }
        }
    }

    fn finish(mut self) -> (Vec<u32>, u64) {
        if self.in_block > 0 {
            self.sums.push(self.hasher.finalize());
        }
        (self.sums, self.total)
    }
}

pub(crate) fn u32s(v: impl IntoIterator<Item = u32>) -> Vec<u8> {
    v.into_iter().flat_map(u32::to_le_bytes).collect()
}

/// Pass the first `count` vectors of `store`, as file bytes, to `f` in
/// chunks of about 64 KiB.
pub(crate) fn vector_bytes<S: FeatureStore>(
    store: &S,
    count: usize,
    mut f: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::with_capacity(VECTOR_BLOCK_BYTES as usize + 4096);
    for slot in 0..count as u32 {
        match store.with_vector(slot, |v| S::Elem::write_le(v, &mut buf))? {
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

/// The vector block checksums section of `store`'s first `count` vectors:
/// its bytes, their CRC (the vectors section's CRC) and the vector bytes.
pub(crate) fn vector_sums<S: FeatureStore>(store: &S, count: usize) -> Result<(Vec<u8>, u32, u64)> {
    let mut sums = BlockSums::new();
    vector_bytes(store, count, |b| {
        sums.update(b);
        Ok(())
    })?;
    let (sums, total) = sums.finish();
    let bytes = u32s(sums);
    let crc = checksum(&bytes);
    Ok((bytes, crc, total))
}

/// Add the ids and deletions sections.
pub(crate) fn ids_sections(w: &mut Writer, ids: &Ids, deleted: &[u64]) {
    w.section(
        tag::IDS,
        (0..ids.len() as u32)
            .flat_map(|s| ids.id(s).to_le_bytes())
            .collect(),
    );
    w.section(
        tag::DELETED,
        deleted.iter().flat_map(|x| x.to_le_bytes()).collect(),
    );
}

/// Read and check the ids and deletions sections.
pub(crate) fn decode_ids(header: &Header, meta: &[u8]) -> Result<(Ids, Vec<u64>)> {
    let count = header.count;
    let words = |bytes: &[u8]| -> Vec<u64> {
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect()
    };
    let bytes = header.section_bytes(meta, tag::IDS, "ids")?;
    if bytes.len() != 8 * count {
        return Err(corrupt("ids", "wrong length"));
    }
    let ids = words(bytes);
    let bytes = header.section_bytes(meta, tag::DELETED, "deletions")?;
    if bytes.len() != 8 * count.div_ceil(64) {
        return Err(corrupt("deletions", "wrong length"));
    }
    let deleted = words(bytes);
    if !count.is_multiple_of(64) && deleted.last().is_some_and(|w| w >> (count % 64) != 0) {
        return Err(corrupt("deletions", "bits set past the last node"));
    }
    let ids =
        Ids::from_slots(ids, &deleted).ok_or_else(|| corrupt("ids", "a live id appears twice"))?;
    Ok((ids, deleted))
}

/// Read and check the vector block checksums section.
pub(crate) fn decode_vector_sums(header: &Header, meta: &[u8]) -> Result<VectorChecksums> {
    let bytes = header.section_bytes(meta, tag::VECTOR_SUMS, "vector checksums")?;
    let vec_section = header.section(tag::VECTORS)?;
    if checksum(bytes) != vec_section.crc || bytes.len() % 4 != 0 {
        return Err(corrupt("vector checksums", "checksum mismatch"));
    }
    VectorChecksums::from_parts(
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        vec_section.len,
    )
}

/// Check that `store` can hold the vectors of the file `h` describes:
/// same element type, dimension and count.
pub(crate) fn check_store<S: FeatureStore>(h: &Header, store: &S) -> Result<()> {
    if h.elem != S::Elem::CODE {
        return Err(elem_mismatch::<S::Elem>(h));
    }
    if store.dim() != h.dim {
        return Err(Error::DimensionMismatch {
            expected: h.dim,
            got: store.dim(),
        });
    }
    if store.len() != h.count {
        return Err(Error::InvalidParameter {
            name: "store",
            reason: format!("holds {} vectors, the index {}", store.len(), h.count),
        });
    }
    Ok(())
}

/// The error for a store whose element type differs from the file's.
pub(crate) fn elem_mismatch<T: Element>(h: &Header) -> Error {
    Error::InvalidParameter {
        name: "store",
        reason: format!(
            "the file holds {} vectors, the store {}",
            crate::format::elem_name(h.elem),
            T::NAME
        ),
    }
}

/// The end every index kind's file shares: the ids and deletions, the
/// vector block checksums, then the vectors themselves, written to `out`.
pub(crate) fn finish_index<S: FeatureStore, W: std::io::Write>(
    mut w: Writer,
    out: &mut W,
    store: &S,
    count: usize,
    ids: &Ids,
    deleted: &[u64],
) -> Result<()> {
    let (sum_bytes, sum_crc, total) = vector_sums(store, count)?;
    ids_sections(&mut w, ids, deleted);
    w.section(tag::VECTOR_SUMS, sum_bytes);
    w.finish(out, total, sum_crc, |out| {
        vector_bytes(store, count, |b| out.write_all(b).map_err(Error::from))
    })
}

/// The stored vector of `id`, for every index kind's `get`.
pub(crate) fn get_vector<S: FeatureStore>(
    store: &S,
    ids: &Ids,
    deleted: &[u64],
    id: u64,
) -> Result<Vec<S::Elem>> {
    let slot = ids.slot(id, deleted).ok_or(Error::UnknownId { id })?;
    let mut out = Vec::with_capacity(store.dim());
    match crate::store::copy_vector(store, slot, &mut out)? {
        Access::Ready(()) => Ok(out),
        Access::Missing => Err(Error::NotResident { count: 1 }),
    }
}
