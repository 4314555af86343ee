//! The codes sections every index kind may carry: `QPAR`, the quantiser,
//! and `QCOD`, one code per slot. Both are flagged optional, so a reader
//! that does not know them opens the file and searches it exactly.

use super::{Header, Reader, corrupt, tag};
use crate::distance::Element;
use crate::error::Result;
use crate::points::Points;
use crate::quant::{Codes, LazyCodes, Quant, Quantization, Sq8};
use crate::store::{Access, FeatureStore};

/// `QPAR` state: chosen, to train once the index holds enough points.
const PENDING: u32 = 0;
/// `QPAR` state: trained, with `QCOD` holding every slot's code.
const TRAINED: u32 = 1;

/// Bytes per checksummed block of `QCOD` in the files this build writes:
/// a probe of a remote IVF list reads whole blocks, so they are small.
pub(crate) const CODE_BLOCK: usize = 16 << 10;

/// `QSUM`: the block size, a zero, then the CRC-32 of every block of `codes`.
fn block_sums(codes: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + 4 * codes.len().div_ceil(CODE_BLOCK));
    b.extend_from_slice(&(CODE_BLOCK as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for block in codes.chunks(CODE_BLOCK) {
        b.extend_from_slice(&super::checksum(block).to_le_bytes());
    }
    b
}

/// The codes sections of `points`, if it has a quantiser: `QPAR`, and
/// `QCOD` when trained (slots without a code yet are encoded here).
pub(crate) fn sections<S: FeatureStore>(points: &Points<S>) -> Result<Vec<([u8; 4], Vec<u8>)>> {
    let dim = points.dim() as u32;
    let head = |kind: Quantization, state: u32| {
        let mut b = Vec::new();
        for x in [kind.code(), state, dim, 0] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b
    };
    match &points.quant {
        Quant::None => Ok(Vec::new()),
        Quant::Pending(kind) => Ok(vec![(tag::QUANT_PARAMS, head(*kind, PENDING))]),
        Quant::Trained(codes) => {
            let mut par = head(codes.kind, TRAINED);
            f32::write_le(codes.sq.lo(), &mut par);
            f32::write_le(codes.sq.step(), &mut par);
            let n = points.slot_count();
            let mut bytes = Vec::new();
            crate::alloc::reserve(&mut bytes, n * dim as usize, "the codes")?;
            let have = codes.len().min(n);
            bytes.extend_from_slice(&codes.bytes[..have * codes.code_len()]);
            for slot in have as u32..n as u32 {
                let r = points.store.with_vector(slot, |v| {
                    S::Elem::as_f32(v).map(|v| codes.encode_into(v, &mut bytes))
                })?;
                match r {
                    Access::Ready(Some(())) => {}
                    Access::Ready(None) => return Err(corrupt("codes", "vectors are not f32")),
                    Access::Missing => return Err(crate::Error::NotResident { count: 1 }),
                }
            }
            let sums = block_sums(&bytes);
            Ok(vec![
                (tag::QUANT_PARAMS, par),
                (tag::CODE_SUMS, sums),
                (tag::CODES, bytes),
            ])
        }
        // Written only by indexes that hold their codes.
        Quant::Lazy(l) => Err(crate::Error::NotResident { count: l.count }),
    }
}

/// The quantiser and codes of a file, checked: the kind known, the
/// parameters finite, one code per slot.
pub(crate) fn decode(header: &Header, meta: &[u8]) -> Result<Quant> {
    if !header.sections.iter().any(|s| s.tag == tag::QUANT_PARAMS) {
        if header.sections.iter().any(|s| s.tag == tag::CODES) {
            return Err(corrupt("codes", "codes without a quantiser"));
        }
        return Ok(Quant::None);
    }
    let bytes = header.section_bytes(meta, tag::QUANT_PARAMS, "quantiser")?;
    let mut r = Reader::new(bytes, "quantiser");
    let kind = Quantization::from_code(r.u32()?)
        .ok_or_else(|| corrupt("quantiser", "unknown quantisation"))?;
    let (state, dim, zero) = (r.u32()?, r.u32()? as usize, r.u32()?);
    if dim != header.dim || zero != 0 {
        return Err(corrupt("quantiser", "wrong dimension"));
    }
    if header.check_elem::<f32>().is_err() {
        return Err(corrupt("quantiser", "codes need f32 vectors"));
    }
    let has_codes = header.sections.iter().any(|s| s.tag == tag::CODES);
    match state {
        PENDING if !has_codes => {
            r.finish()?;
            Ok(Quant::Pending(kind))
        }
        TRAINED if has_codes => {
            let mut lo = crate::alloc::zeroed(dim, "the quantiser")?;
            f32::read_le(r.take(4 * dim)?, &mut lo);
            let mut step = crate::alloc::zeroed(dim, "the quantiser")?;
            f32::read_le(r.take(4 * dim)?, &mut step);
            r.finish()?;
            let sq = Sq8::from_parts_top(lo, step, kind.top())
                .map_err(|_| corrupt("quantiser", "parameters not finite or a step below zero"))?;
            let section = header.section(tag::CODES)?;
            if section.len != header.count as u64 * kind.code_len(dim) as u64 {
                return Err(corrupt("codes", "wrong length"));
            }
            let sums = decode_sums(header, meta, section.len)?;
            if header.codes_deferred() {
                let (block, sums) = sums.ok_or_else(|| corrupt("codes", "no block checksums"))?;
                return Ok(Quant::Lazy(LazyCodes {
                    codes: Codes::new(kind, sq, header.metric),
                    offset: section.offset,
                    count: header.count,
                    block,
                    sums,
                }));
            }
            let codes = header.section_bytes(meta, tag::CODES, "codes")?;
            let bytes = super::copy_bytes(codes, "the codes")?;
            Ok(Quant::Trained(Codes::with_bytes(
                kind,
                sq,
                header.metric,
                bytes,
            )?))
        }
        PENDING | TRAINED => Err(corrupt("codes", "codes and quantiser state disagree")),
        _ => Err(corrupt("quantiser", "unknown state")),
    }
}

/// The block checksums of the codes (`QSUM`), if the file has them: the
/// block size and one CRC-32 a block of the `len` bytes of `QCOD`.
fn decode_sums(header: &Header, meta: &[u8], len: u64) -> Result<Option<(u64, Vec<u32>)>> {
    if !header.sections.iter().any(|s| s.tag == tag::CODE_SUMS) {
        return Ok(None);
    }
    let bytes = header.section_bytes(meta, tag::CODE_SUMS, "code checksums")?;
    let mut r = Reader::new(bytes, "code checksums");
    let block = u64::from(r.u32()?);
    if r.u32()? != 0 || !(64..=1 << 24).contains(&block) {
        return Err(corrupt("code checksums", "bad block size"));
    }
    let blocks = len.div_ceil(block);
    if (bytes.len() as u64 - 8) != 4 * blocks {
        return Err(corrupt("code checksums", "wrong length"));
    }
    let sums = super::le_u32s(&bytes[8..], "the code checksums")?;
    Ok(Some((block, sums)))
}
