//! The vectors' block checksums: one CRC-32 per [`VECTOR_BLOCK_BYTES`] of
//! the vectors section, so a lazy store can check what it loads block by
//! block, and an importer as the bytes arrive.

use super::{ENTRY_LEN, Header, VECTOR_BLOCK_BYTES, checksum, corrupt, corrupt_n, tag, u64_at};
use crate::error::Result;
use crate::simd::Crc32;
use crate::store::VectorType;

/// The checksums of the vectors section, one per [`VECTOR_BLOCK_BYTES`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VectorChecksums {
    pub(crate) sums: Vec<u32>,
    total: u64,
    /// The floating-point type of the values, which a checked block must
    /// hold finite (known from a file's header; `None` for computed
    /// checksums and for bytes).
    float_values: Option<VectorType>,
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
        let bytes = super::u32s(self.sums.iter().copied());
        let crc = checksum(&bytes);
        (bytes, crc)
    }

    /// Bytes of vectors covered.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn from_parts(sums: Vec<u32>, total: u64, values: VectorType) -> Result<Self> {
        if sums.len() as u64 != total.div_ceil(VECTOR_BLOCK_BYTES) {
            return Err(corrupt_n(
                "vector checksums",
                "wrong number of block checksums:",
                sums.len() as u64,
            ));
        }
        let float_values = matches!(values, VectorType::F32 | VectorType::F16).then_some(values);
        Ok(Self {
            sums,
            total,
            float_values,
        })
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

    /// Check block `i` against its checksum and, for a file of `f32` or
    /// `f16` vectors, that every value in it is finite.
    pub fn verify_block(&self, i: usize, bytes: &[u8]) -> Result<()> {
        let r = self.block_range(i);
        let ok = self
            .sums
            .get(i)
            .is_some_and(|&s| bytes.len() as u64 == r.end - r.start && checksum(bytes) == s);
        if !ok {
            return Err(corrupt_n("vectors", "checksum mismatch in block", i as u64));
        }
        // Blocks start on a multiple of 4 bytes, so they hold whole values;
        // an exponent of all ones is an infinity or a NaN.
        let bad = match self.float_values {
            Some(VectorType::F32) => bytes
                .chunks_exact(4)
                .any(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & 0x7F80_0000 == 0x7F80_0000),
            Some(VectorType::F16) => bytes
                .chunks_exact(2)
                .any(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7C00 == 0x7C00),
            _ => false,
        };
        if bad {
            return Err(corrupt_n(
                "vectors",
                "a non-finite value in block",
                i as u64,
            ));
        }
        Ok(())
    }

    /// Check the whole vectors section, block by block (see
    /// [`verify_block`](Self::verify_block)).
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
            float_values: None,
        }
    }
}

/// Recompute every checksum of a file in place (header, sections, vector
/// blocks), so that tests and fuzzers can reach the checks behind them with
/// arbitrary contents. Bytes that do not parse as far as the section table
/// are left alone.
#[doc(hidden)]
pub fn reseal(bytes: &mut [u8]) {
    let Ok(header_len) = Header::header_len(bytes) else {
        return;
    };
    if bytes.len() < header_len {
        return;
    }
    let n = (header_len - Header::PREFIX_LEN) / ENTRY_LEN;
    let len = bytes.len() as u64;
    let entries: Vec<(usize, [u8; 4], u64, u64)> = (0..n)
        .map(|i| {
            let at = Header::PREFIX_LEN + i * ENTRY_LEN;
            let t = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            (at, t, u64_at(bytes, at + 8), u64_at(bytes, at + 16))
        })
        .collect();
    let in_file = |off: u64, l: u64| off.checked_add(l).is_some_and(|e| e <= len);
    // Vector block checksums first, then the sections (VSUM included), then
    // the vectors' entry (the CRC of VSUM), then the header.
    let vecs = entries.iter().find(|e| e.1 == tag::VECTORS).copied();
    let sums = entries.iter().find(|e| e.1 == tag::VECTOR_SUMS).copied();
    if let (Some(v), Some(s)) = (vecs, sums)
        && in_file(v.2, v.3)
        && in_file(s.2, s.3)
    {
        let fresh = VectorChecksums::compute(&bytes[v.2 as usize..(v.2 + v.3) as usize]);
        let out = &mut bytes[s.2 as usize..(s.2 + s.3) as usize];
        for (chunk, sum) in out.chunks_exact_mut(4).zip(&fresh.sums) {
            chunk.copy_from_slice(&sum.to_le_bytes());
        }
    }
    for &(at, t, off, l) in &entries {
        if !in_file(off, l) {
            continue;
        }
        let crc = if t == tag::VECTORS {
            match sums.filter(|s| in_file(s.2, s.3)) {
                Some(s) => checksum(&bytes[s.2 as usize..(s.2 + s.3) as usize]),
                None => continue,
            }
        } else {
            checksum(&bytes[off as usize..(off + l) as usize])
        };
        bytes[at + 24..at + 28].copy_from_slice(&crc.to_le_bytes());
    }
    bytes[60..64].fill(0);
    let crc = checksum(&bytes[..header_len]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
}
