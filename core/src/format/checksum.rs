//! The vectors' block checksums: one CRC-32 per [`VECTOR_BLOCK_BYTES`] of
//! the vectors section, so a lazy store can check what it loads block by
//! block, and an importer as the bytes arrive.

use super::{VECTOR_BLOCK_BYTES, checksum, corrupt};
use crate::error::Result;
use crate::simd::Crc32;

/// The checksums of the vectors section, one per [`VECTOR_BLOCK_BYTES`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VectorChecksums {
    pub(crate) sums: Vec<u32>,
    total: u64,
}

impl VectorChecksums {
    /// Checksums of `vectors` (the whole section).
    pub fn compute(vectors: &[u8]) -> Self {
        let mut b = ChecksumBuilder::new();
        b.update(vectors);
        b.finish()
    }

    /// The checksums' section bytes (little-endian `u32`s) and their CRC,
    /// which the vectors' entry of the section table carries.
    pub(crate) fn section(&self) -> (Vec<u8>, u32) {
        let bytes = super::write::u32s(self.sums.iter().copied());
        let crc = checksum(&bytes);
        (bytes, crc)
    }

    /// Bytes of vectors covered.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn from_parts(sums: Vec<u32>, total: u64) -> Result<Self> {
        if sums.len() as u64 != total.div_ceil(VECTOR_BLOCK_BYTES) {
            return Err(corrupt(
                "vector checksums",
                format!(
                    "{} block checksums for {total} bytes of vectors",
                    sums.len()
                ),
            ));
        }
        Ok(Self { sums, total })
    }

    /// Number of blocks.
    pub fn blocks(&self) -> usize {
        self.sums.len()
    }

    /// The byte range of block `i` within the vectors section.
    pub fn block_range(&self, i: usize) -> std::ops::Range<u64> {
        let start = (i as u64)
            .saturating_mul(VECTOR_BLOCK_BYTES)
            .min(self.total);
        start..start.saturating_add(VECTOR_BLOCK_BYTES).min(self.total)
    }

    /// Check block `i` against its checksum.
    pub fn verify_block(&self, i: usize, bytes: &[u8]) -> Result<()> {
        let ok = self.sums.get(i).is_some_and(|&s| {
            let r = self.block_range(i);
            bytes.len() as u64 == r.end - r.start && checksum(bytes) == s
        });
        if ok {
            Ok(())
        } else {
            Err(corrupt(
                "vectors",
                format!(
                    "checksum mismatch in block {i} (bytes {:?})",
                    self.block_range(i)
                ),
            ))
        }
    }

    /// Check the whole vectors section.
    pub fn verify_all(&self, vectors: &[u8]) -> Result<()> {
        if vectors.len() as u64 != self.total {
            return Err(corrupt("vectors", "truncated"));
        }
        for i in 0..self.blocks() {
            let r = self.block_range(i);
            self.verify_block(i, &vectors[r.start as usize..r.end as usize])?;
        }
        Ok(())
    }
}

/// Computes [`VectorChecksums`] from the vectors' bytes as they stream by,
/// in pieces of any size: what a writer or an importer feeds, block
/// boundaries fall where they fall.
pub struct ChecksumBuilder {
    sums: Vec<u32>,
    hasher: Crc32,
    in_block: u64,
    total: u64,
}

impl Default for ChecksumBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChecksumBuilder {
    /// A builder that has seen no byte.
    pub fn new() -> Self {
        Self {
            sums: Vec::new(),
            hasher: Crc32::new(),
            in_block: 0,
            total: 0,
        }
    }

    /// The next bytes of the vectors section.
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = (VECTOR_BLOCK_BYTES - self.in_block) as usize;
            let n = room.min(bytes.len());
            self.hasher.update(&bytes[..n]);
            self.in_block += n as u64;
            self.total += n as u64;
            bytes = &bytes[n..];
            if self.in_block == VECTOR_BLOCK_BYTES {
                let h = std::mem::replace(&mut self.hasher, Crc32::new());
                self.sums.push(h.finalize());
                self.in_block = 0;
            }
        }
    }

    /// The checksums of everything fed.
    pub fn finish(mut self) -> VectorChecksums {
        if self.in_block > 0 {
            self.sums.push(self.hasher.finalize());
        }
        VectorChecksums {
            sums: self.sums,
            total: self.total,
        }
    }
}
