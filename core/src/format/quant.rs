//! The codes sections every index kind may carry: `QPAR`, the quantiser,
//! and `QCOD`, one code per slot. Both are flagged optional, so a reader
//! that does not know them opens the file and searches it exactly.

use super::{Header, Reader, corrupt, tag};
use crate::distance::Element;
use crate::error::Result;
use crate::points::Points;
use crate::quant::{Codes, Quant, Quantization, Sq8};
use crate::store::{Access, FeatureStore};

/// `QPAR` state: chosen, to train once the index holds enough points.
const PENDING: u32 = 0;
/// `QPAR` state: trained, with `QCOD` holding every slot's code.
const TRAINED: u32 = 1;

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
            Ok(vec![(tag::QUANT_PARAMS, par), (tag::CODES, bytes)])
        }
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
            let codes = header.section_bytes(meta, tag::CODES, "codes")?;
            if codes.len() as u64 != header.count as u64 * kind.code_len(dim) as u64 {
                return Err(corrupt("codes", "wrong length"));
            }
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
