//! Compact codes for traversal: 8-bit scalar quantisation.
//!
//! A search over codes reads a quarter of the bytes a search over `f32`
//! vectors reads, and the codes of a whole index stay resident (in memory or
//! in the metadata of a file) while the full vectors stay in whatever store
//! holds them. Distances on codes are approximate, so a search keeps a short
//! list of candidates and reranks it with exact distances from the store, in
//! one batched read.
//!
//! **The code.** Every dimension `d` has an affine map trained from the data,
//! `x ≈ lo[d] + step[d] · c` with `c` in `0..=255` (`lo` the smallest value
//! seen, `step` the range over 255; values outside the trained range clamp).
//! Encoding is plain IEEE `f32` arithmetic in a fixed order, so the same
//! vector gives the same code on every target.
//!
//! **The distance.** Every metric reduces to one integer product per code:
//! `q · x̂ = q · lo + Σ (q[d] · step[d]) · c[d]`. The query's weights
//! `q[d] · step[d]` are rounded to `i16` once per search (scaled so that the
//! largest is `QUERY_LEVELS`), and the kernel sums `i16 × u8` products in
//! `i32` ([`simd::CodeKernels`]). Inner product and
//! cosine use the product directly; squared L2 adds each code's decoded
//! squared norm, `|q|² + |x̂|² − 2 q · x̂`, kept beside the codes.

use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::simd;

/// The compact code a quantised index traverses on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Quantization {
    /// 8-bit scalar quantisation: one byte a dimension, a per-dimension
    /// affine map trained from the data.
    Sq8,
    /// 4-bit scalar quantisation: half a byte a dimension.
    Sq4,
}

impl Quantization {
    /// The code's short name (`sq8`).
    pub fn name(self) -> &'static str {
        match self {
            Quantization::Sq8 => "sq8",
            Quantization::Sq4 => "sq4",
        }
    }

    /// The largest code value.
    pub(crate) fn top(self) -> f32 {
        match self {
            Quantization::Sq8 => 255.0,
            Quantization::Sq4 => 15.0,
        }
    }

    /// Bytes of one code of `dim` dimensions.
    pub(crate) fn code_len(self, dim: usize) -> usize {
        match self {
            Quantization::Sq8 => dim,
            Quantization::Sq4 => dim.div_ceil(32) * 16,
        }
    }

    /// The code's number in the file format.
    pub(crate) fn code(self) -> u32 {
        match self {
            Quantization::Sq8 => 1,
            Quantization::Sq4 => 2,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Quantization::Sq8),
            2 => Some(Quantization::Sq4),
            _ => None,
        }
    }
}

impl std::fmt::Display for Quantization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Quantization {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sq8" => Ok(Quantization::Sq8),
            "sq4" => Ok(Quantization::Sq4),
            _ => Err(Error::InvalidParameter {
                name: "quantize",
                reason: format!("unknown quantisation `{s}` (expected sq8)"),
            }),
        }
    }
}

/// Points an index must hold before a quantiser chosen at build time
/// ([`HnswBuilder::quantize`](crate::HnswBuilder::quantize)) trains itself.
pub const TRAIN_AT: usize = 1000;

/// The largest query weight after rounding (a bound that keeps every sum of
/// `i16 × u8` products of up to 4,096 dimensions inside an `i32`; larger
/// dimensions get a smaller bound).
const QUERY_LEVELS: f32 = 2047.0;

/// A trained 8-bit scalar quantiser: `x[d] ≈ lo[d] + step[d] · c[d]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sq8 {
    lo: Vec<f32>,
    step: Vec<f32>,
    top: f32,
}

impl Sq8 {
    /// Train on `vectors` (`dim` values each, finite), range by range: the
    /// smallest and largest value of every dimension.
    pub fn train(dim: usize, vectors: impl IntoIterator<Item = impl AsRef<[f32]>>) -> Result<Self> {
        Self::train_top(dim, vectors, 255.0)
    }

    /// [`train`](Self::train) with codes `0..=top`.
    pub fn train_top(
        dim: usize,
        vectors: impl IntoIterator<Item = impl AsRef<[f32]>>,
        top: f32,
    ) -> Result<Self> {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        let mut any = false;
        for v in vectors {
            let v = v.as_ref();
            if v.len() != dim {
                return Err(Error::DimensionMismatch {
                    expected: dim,
                    got: v.len(),
                });
            }
            for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(v) {
                *l = l.min(x);
                *h = h.max(x);
            }
            any = true;
        }
        if !any {
            return Err(Error::InvalidParameter {
                name: "quantize",
                reason: "a quantiser trains on at least one vector".into(),
            });
        }
        let step = lo.iter().zip(&hi).map(|(l, h)| (h - l) / top).collect();
        Self::from_parts_top(lo, step, top)
    }

    /// A quantiser from its parameters (finite; steps not negative).
    pub(crate) fn from_parts(lo: Vec<f32>, step: Vec<f32>) -> Result<Self> {
        let finite = lo.iter().chain(&step).all(|x| x.is_finite());
        if lo.len() != step.len() || !finite || step.iter().any(|&s| s < 0.0) {
            return Err(Error::InvalidParameter {
                name: "quantize",
                reason: "quantiser parameters must be finite, with steps of at least zero".into(),
            });
        }
        Ok(Self {
            lo,
            step,
            top: 255.0,
        })
    }

    /// [`from_parts`](Self::from_parts) with codes `0..=top`.
    pub(crate) fn from_parts_top(lo: Vec<f32>, step: Vec<f32>, top: f32) -> Result<Self> {
        let mut sq = Self::from_parts(lo, step)?;
        sq.top = top;
        Ok(sq)
    }

    /// Dimensions.
    pub fn dim(&self) -> usize {
        self.lo.len()
    }

    /// The smallest value of every dimension (code 0).
    pub fn lo(&self) -> &[f32] {
        &self.lo
    }

    /// The value between two codes of every dimension.
    pub fn step(&self) -> &[f32] {
        &self.step
    }

    /// The code of `v`, appended to `out`.
    pub fn encode(&self, v: &[f32], out: &mut Vec<u8>) {
        out.extend(
            v.iter()
                .zip(&self.lo)
                .zip(&self.step)
                .map(|((&x, &lo), &step)| {
                    if step > 0.0 {
                        // `floor(t + 0.5)` rather than `round`: one instruction on every
                        // target, the same result everywhere.
                        let t = ((x - lo) / step).clamp(0.0, self.top);
                        (t + 0.5).floor() as u8
                    } else {
                        0
                    }
                }),
        );
    }

    /// The vector a code stands for.
    pub fn decode(&self, code: &[u8]) -> Vec<f32> {
        code.iter()
            .zip(&self.lo)
            .zip(&self.step)
            .map(|((&c, &lo), &step)| lo + step * f32::from(c))
            .collect()
    }

    /// The squared norm of the vector `code` stands for, summed in order.
    fn decoded_norm(&self, code: &[u8]) -> f32 {
        let mut sum = 0.0f32;
        for ((&c, &lo), &step) in code.iter().zip(&self.lo).zip(&self.step) {
            let x = lo + step * f32::from(c);
            sum += x * x;
        }
        sum
    }
}

/// The codes of an index's slots, with the quantiser that made them.
#[derive(Clone, Debug)]
pub(crate) struct Codes {
    pub(crate) kind: Quantization,
    pub(crate) sq: Sq8,
    pub(crate) metric: Metric,
    /// One code a slot, slot after slot.
    pub(crate) bytes: CodeBytes,
    /// The decoded squared norm of every code (squared L2 only).
    norms: Vec<f32>,
}

impl Codes {
    pub(crate) fn new(kind: Quantization, sq: Sq8, metric: Metric) -> Self {
        Self {
            kind,
            sq,
            metric,
            bytes: CodeBytes::Owned(Vec::new()),
            norms: Vec::new(),
        }
    }

    /// Codes read from a file: `bytes` holds whole codes.
    pub(crate) fn with_bytes(
        kind: Quantization,
        sq: Sq8,
        metric: Metric,
        bytes: Vec<u8>,
    ) -> Result<Self> {
        let mut c = Self::new(kind, sq, metric);
        c.bytes = CodeBytes::Owned(bytes);
        c.fill_norms()?;
        Ok(c)
    }

    pub(crate) fn dim(&self) -> usize {
        self.sq.dim()
    }

    /// Bytes of one code.
    pub(crate) fn code_len(&self) -> usize {
        self.kind.code_len(self.dim())
    }

    /// Slots with a code.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len().checked_div(self.code_len()).unwrap_or(0)
    }

    /// Append the code of `v` in this kind's layout: a byte a dimension, or
    /// for 4 bits, blocks of 16 bytes holding 32 dimensions (dimension
    /// `j` of a block in the low half of byte `j`, dimension `16 + j` in
    /// the high half).
    pub(crate) fn encode_into(&self, v: &[f32], out: &mut Vec<u8>) {
        match self.kind {
            Quantization::Sq8 => self.sq.encode(v, out),
            Quantization::Sq4 => {
                let mut c = Vec::with_capacity(v.len());
                self.sq.encode(v, &mut c);
                c.resize(v.len().div_ceil(32) * 32, 0);
                for b in c.chunks_exact(32) {
                    out.extend((0..16).map(|j| b[j] | (b[16 + j] << 4)));
                }
            }
        }
    }

    /// The one-byte-a-dimension codes of a stored code.
    fn unpack(&self, code: &[u8]) -> Vec<u8> {
        match self.kind {
            Quantization::Sq8 => code.to_vec(),
            Quantization::Sq4 => {
                let mut c = Vec::with_capacity(code.len() * 2);
                for b in code.chunks_exact(16) {
                    c.extend(b.iter().map(|x| x & 15));
                    c.extend(b.iter().map(|x| x >> 4));
                }
                c.truncate(self.dim());
                c
            }
        }
    }

    /// Heap bytes of the codes and norms.
    pub(crate) fn heap_bytes(&self) -> usize {
        let codes = match &self.bytes {
            CodeBytes::Owned(v) => v.capacity(),
            CodeBytes::Shared { .. } => 0,
        };
        codes + self.norms.capacity() * 4 + self.sq.dim() * 8
    }

    /// Append the code of the next slot's vector.
    pub(crate) fn push(&mut self, v: &[f32]) -> Result<()> {
        let len = self.code_len();
        let mut bytes = std::mem::take(self.bytes.owned()?);
        crate::alloc::reserve(&mut bytes, len, "the codes")?;
        if self.metric == Metric::L2 {
            crate::alloc::reserve(&mut self.norms, 1, "the codes")?;
        }
        let at = bytes.len();
        self.encode_into(v, &mut bytes);
        self.bytes = CodeBytes::Owned(bytes);
        if self.metric == Metric::L2 {
            let norm = self.sq.decoded_norm(&self.unpack(&self.bytes[at..]));
            self.norms.push(norm);
        }
        Ok(())
    }

    /// Forget the codes of slots `n..`.
    pub(crate) fn truncate(&mut self, n: usize) {
        let len = n * self.code_len();
        match &mut self.bytes {
            CodeBytes::Owned(v) => v.truncate(len),
            CodeBytes::Shared { len: have, .. } => *have = len.min(*have),
        }
        self.norms.truncate(n);
    }

    fn fill_norms(&mut self) -> Result<()> {
        self.norms.clear();
        if self.metric == Metric::L2 && self.dim() > 0 {
            self.norms = crate::alloc::zeroed(self.len(), "the codes")?;
            let mut norms = std::mem::take(&mut self.norms);
            for (n, c) in norms
                .iter_mut()
                .zip(self.bytes.chunks_exact(self.code_len()))
            {
                *n = self.sq.decoded_norm(&self.unpack(c));
            }
            self.norms = norms;
        }
        Ok(())
    }

    /// The code of `slot`.
    #[cfg(test)]
    pub(crate) fn code(&self, slot: u32) -> Option<Vec<u8>> {
        let len = self.code_len();
        let at = (slot as usize).checked_mul(len)?;
        self.bytes.get(at..at + len).map(|c| self.unpack(c))
    }

    /// Prepare a (prepared, stored-form) query for distances to codes.
    pub(crate) fn query(&self, q: &[f32]) -> CodeQuery {
        let dim = self.dim();
        let weights: Vec<f32> = q.iter().zip(&self.sq.step).map(|(x, s)| x * s).collect();
        let bias: f32 = q.iter().zip(&self.sq.lo).map(|(x, l)| x * l).sum();
        let top = weights.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        // Keep `dim × 255 × levels` inside an i32.
        let bound = (i32::MAX as f32 / (self.sq.top * dim.max(1) as f32)).min(QUERY_LEVELS);
        let levels = bound.floor().max(1.0);
        let scale = if top > 0.0 { levels / top } else { 0.0 };
        let mut weights: Vec<i16> = weights
            .iter()
            .map(|w| (w * scale).round().clamp(-levels, levels) as i16)
            .collect();
        if self.kind == Quantization::Sq4 {
            weights.resize(dim.div_ceil(32) * 32, 0);
        }
        CodeQuery {
            weights,
            inv_scale: if scale > 0.0 { 1.0 / scale } else { 0.0 },
            bias,
            q_norm: q.iter().map(|x| x * x).sum(),
        }
    }

    /// Approximate distances from `query` to the codes of `slots`
    /// (`out[i]` for `slots[i]`; +∞ for a slot without a code).
    pub(crate) fn distances(&self, query: &CodeQuery, slots: &[u32], out: &mut Vec<f32>) {
        self.sums(query, &self.bytes, slots, out);
        let l2 = self.metric == Metric::L2;
        let norms = slots.iter().map(|&s| match l2 {
            true => self.norms.get(s as usize).copied().unwrap_or(f32::NAN),
            false => 0.0,
        });
        self.finish(query, out, norms);
    }

    /// The distances from `query` to the codes in `bytes` (whole codes, one
    /// after another, as the codes section holds them), in `out`: for codes
    /// read from a file as a search needs them, which have no norms kept.
    pub(crate) fn distances_in(&self, query: &CodeQuery, bytes: &[u8], out: &mut Vec<f32>) {
        let len = self.code_len().max(1);
        let slots: Vec<u32> = (0..(bytes.len() / len) as u32).collect();
        self.sums(query, bytes, &slots, out);
        let l2 = self.metric == Metric::L2;
        let norms = bytes.chunks_exact(len).map(|code| match l2 {
            true => self.sq.decoded_norm(&self.unpack(code)),
            false => 0.0,
        });
        self.finish(query, out, norms);
    }

    /// The integer sums of `query` with the codes of `slots` in `bytes`.
    fn sums(&self, query: &CodeQuery, bytes: &[u8], slots: &[u32], out: &mut Vec<f32>) {
        out.resize(slots.len(), 0.0);
        let k = simd::code_kernels();
        match self.kind {
            Quantization::Sq8 => (k.rows)(&query.weights, bytes, self.dim(), slots, out),
            Quantization::Sq4 => (k.rows4)(&query.weights, bytes, self.code_len(), slots, out),
        }
    }

    /// Turn the sums in `out` into distances. Every metric is `offset +
    /// scale · sum`, plus the code's norm (the next of `norms`; zero but for
    /// squared L2): one pass. A slot past the codes (NaN from the kernel, or
    /// no norm) ranks after every other.
    fn finish(&self, query: &CodeQuery, out: &mut [f32], norms: impl Iterator<Item = f32>) {
        let (inv, bias) = (query.inv_scale, query.bias);
        let (offset, scale) = match self.metric {
            Metric::L2 => (query.q_norm - 2.0 * bias, -2.0 * inv),
            Metric::Cosine => (1.0 - bias, -inv),
            _ => (-bias, -inv),
        };
        for (d, norm) in out.iter_mut().zip(norms) {
            let x = offset + scale * *d + norm;
            *d = if x.is_nan() { f32::INFINITY } else { x };
        }
    }
}

/// Codes left in the file an index was opened from (an IVF index read by
/// range requests): a search reads the probed lists' codes in blocks, each
/// checked against its checksum as it arrives, instead of holding every
/// code in memory.
#[derive(Clone, Debug)]
pub(crate) struct LazyCodes {
    /// The quantiser (its codes stay empty).
    pub(crate) codes: Codes,
    /// Where the codes section starts in the file.
    pub(crate) offset: u64,
    /// Slots with a code.
    pub(crate) count: usize,
    /// Bytes per checksummed block of the codes section, and the blocks' CRC-32s.
    pub(crate) block: u64,
    pub(crate) sums: Vec<u32>,
}

impl LazyCodes {
    /// The file's bytes holding the codes of slots `first..first + n`.
    pub(crate) fn range(&self, first: u32, n: usize) -> std::ops::Range<u64> {
        let len = self.codes.code_len() as u64;
        let start = self.offset + u64::from(first) * len;
        start..start + n as u64 * len
    }
}

/// Where the codes are: owned, or in a buffer the codes share with others
/// (a memory map of the file they came from), from `start`, `len` bytes.
#[derive(Clone)]
pub(crate) enum CodeBytes {
    Owned(Vec<u8>),
    Shared {
        data: SharedBytes,
        start: usize,
        len: usize,
    },
}

/// Bytes someone else keeps alive (a memory map).
pub type SharedBytes = std::sync::Arc<dyn AsRef<[u8]> + Send + Sync>;

impl std::fmt::Debug for CodeBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodeBytes::Owned(v) => write!(f, "Owned({} bytes)", v.len()),
            CodeBytes::Shared { len, .. } => write!(f, "Shared({len} bytes)"),
        }
    }
}

impl std::ops::Deref for CodeBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            CodeBytes::Owned(v) => v,
            CodeBytes::Shared { data, start, len } => {
                let all = (**data).as_ref();
                all.get(*start..start.saturating_add(*len)).unwrap_or(&[])
            }
        }
    }
}

impl CodeBytes {
    /// The codes as an owned buffer, copied first if shared (an insert
    /// into a mapped index).
    fn owned(&mut self) -> Result<&mut Vec<u8>> {
        if let CodeBytes::Shared { .. } = self {
            let copy = crate::format::copy_bytes(&self[..], "the codes")?;
            *self = CodeBytes::Owned(copy);
        }
        match self {
            CodeBytes::Owned(v) => Ok(v),
            CodeBytes::Shared { .. } => unreachable!("made owned above"),
        }
    }
}

impl Codes {
    /// Read the codes from `data` (from byte `start`) instead of holding a
    /// copy, if they are the same bytes; returns whether they now are.
    pub(crate) fn share(&mut self, data: SharedBytes, start: usize) -> bool {
        let len = self.bytes.len();
        let same = (*data)
            .as_ref()
            .get(start..start.saturating_add(len))
            .is_some_and(|b| b == &self.bytes[..]);
        if same {
            self.bytes = CodeBytes::Shared { data, start, len };
        }
        same
    }
}

/// A query prepared for [`Codes::distances`].
#[derive(Clone, Debug)]
pub(crate) struct CodeQuery {
    weights: Vec<i16>,
    inv_scale: f32,
    bias: f32,
    q_norm: f32,
}

/// The quantisation state of an index: none, chosen but waiting for data to
/// train on, or trained with codes for (a prefix of) the slots.
#[derive(Clone, Debug, Default)]
pub(crate) enum Quant {
    #[default]
    None,
    Pending(Quantization),
    Trained(Codes),
    /// Trained, the codes read from the file as searches need them.
    Lazy(LazyCodes),
}

impl Quant {
    /// The chosen code, trained or not.
    pub(crate) fn kind(&self) -> Option<Quantization> {
        match self {
            Quant::None => None,
            Quant::Pending(k) => Some(*k),
            Quant::Trained(c) => Some(c.kind),
            Quant::Lazy(l) => Some(l.codes.kind),
        }
    }

    /// The codes, if every one of `slots` slots has one.
    pub(crate) fn complete(&self, slots: usize) -> Option<&Codes> {
        match self {
            Quant::Trained(c) if c.len() == slots => Some(c),
            _ => None,
        }
    }
}

/// Reading codes in place from a memory map of the file they came from.
impl<S: crate::FeatureStore> crate::points::Points<S> {
    fn share_codes(&mut self, file: SharedBytes, offset: Option<u64>) -> bool {
        match (
            &mut self.quant,
            offset.and_then(|o| usize::try_from(o).ok()),
        ) {
            (Quant::Trained(c), Some(at)) => c.share(file, at),
            _ => false,
        }
    }
}

macro_rules! share_codes {
    ($kind:ty) => {
        impl<S: crate::FeatureStore> $kind {
            /// Read the codes from `file`, the whole file this index was
            /// opened from (a memory map), instead of a private copy: the
            /// codes then cost no private memory, and the system may page
            /// them out and in again like the vectors of a map. `header`
            /// is the file's. Returns whether the codes are now read from
            /// `file` (not if the index has none, or `file` holds other
            /// bytes there). The first insert copies them back.
            pub fn share_codes(
                &mut self,
                file: SharedBytes,
                header: &crate::format::Header,
            ) -> bool {
                self.points.share_codes(file, header.codes_offset())
            }
        }
    };
}
share_codes!(crate::Hnsw<S>);
share_codes!(crate::Ivf<S>);

impl<S: crate::FeatureStore> crate::AnyIndex<S> {
    /// See [`Hnsw::share_codes`](crate::Hnsw::share_codes).
    pub fn share_codes(&mut self, file: SharedBytes, header: &crate::format::Header) -> bool {
        match self {
            crate::AnyIndex::Hnsw(i) => i.share_codes(file, header),
            crate::AnyIndex::Ivf(i) => i.share_codes(file, header),
        }
    }
}

impl crate::format::Header {
    /// Where the codes section starts in the file, if there is one.
    pub fn codes_offset(&self) -> Option<u64> {
        let codes = *b"QCOD";
        self.sections
            .iter()
            .find(|s| s.tag == codes)
            .map(|s| s.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<Vec<f32>> {
        let mut rng = crate::rng::SplitMix64::new(3);
        (0..200)
            .map(|_| (0..37).map(|_| rng.next_f64() as f32 * 4.0 - 2.0).collect())
            .collect()
    }

    #[test]
    fn codes_round_trip_within_half_a_step() {
        let v = data();
        let sq = Sq8::train(37, &v).unwrap();
        for x in &v {
            let mut c = Vec::new();
            sq.encode(x, &mut c);
            let back = sq.decode(&c);
            for d in 0..37 {
                assert!((back[d] - x[d]).abs() <= sq.step()[d] * 0.5 + 1e-6);
            }
        }
    }

    #[test]
    fn approximate_distances_track_exact_ones() {
        let v = data();
        let sq = Sq8::train(37, &v).unwrap();
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            let mut codes = Codes::new(Quantization::Sq8, sq.clone(), metric);
            for x in &v {
                codes.push(x).unwrap();
            }
            let q = &v[7];
            let query = codes.query(q);
            let slots: Vec<u32> = (0..200).collect();
            let mut out = Vec::new();
            codes.distances(&query, &slots, &mut out);
            for (s, &d) in slots.iter().zip(&out) {
                let x = sq.decode(&codes.code(*s).unwrap());
                let dot: f32 = q.iter().zip(&x).map(|(a, b)| a * b).sum();
                let exact = match metric {
                    Metric::L2 => q.iter().zip(&x).map(|(a, b)| (a - b) * (a - b)).sum(),
                    Metric::Cosine => 1.0 - dot,
                    _ => -dot,
                };
                assert!((d - exact).abs() < 0.05, "{metric}: {d} vs {exact}");
            }
        }
    }

    #[test]
    fn constant_dimensions_and_empty_training() {
        let sq = Sq8::train(2, [[1.0f32, 5.0], [1.0, 6.0]]).unwrap();
        let mut c = Vec::new();
        sq.encode(&[1.0, 9.0], &mut c);
        assert_eq!(c, [0, 255]);
        assert!(Sq8::train(2, Vec::<Vec<f32>>::new()).is_err());
        assert!(Sq8::from_parts(vec![0.0], vec![-1.0]).is_err());
        assert!(Sq8::from_parts(vec![f32::NAN], vec![1.0]).is_err());
    }
}
