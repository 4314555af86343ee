//! How a store keeps its vectors: as their element type, or `f32` values
//! kept as IEEE binary16 (`f16`), half the bytes in memory and in a file,
//! turned back into `f32` when a vector is handed to a search.
//!
//! The conversions are the `half` crate's (F16C instructions natively when
//! the CPU has them, found at run time; portable code elsewhere).

use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

use crate::distance::Element;
use crate::error::{Error, Result};

/// The largest finite `f16`: a value of greater magnitude cannot be kept as
/// one, and an index of [`VectorType::F16`] refuses it.
pub const F16_MAX: f32 = 65504.0;

/// How vectors are stored: the element type of the index file format's
/// header and of a store's bytes.
///
/// An index always takes and returns its element type (`f32` or `u8`);
/// [`F16`](Self::F16) only changes how `f32` vectors are kept.
///
/// ```
/// use vectrove_core::store::VectorType;
/// use vectrove_core::{FeatureStore, Hnsw, Metric};
///
/// let mut index = Hnsw::builder(2, Metric::L2).vector_type(VectorType::F16).build()?;
/// index.insert(1, &[0.1, 2.5])?;
/// assert_eq!(index.store().vector_type(), VectorType::F16);
/// // Stored rounded to the nearest f16: 0.1 becomes 0.099975586.
/// assert_eq!(index.get(1)?, [0.099975586, 2.5]);
/// # Ok::<(), vectrove_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VectorType {
    /// 32-bit floats, 4 bytes an element.
    F32,
    /// `f32` values kept as IEEE binary16, 2 bytes an element. Each value
    /// is rounded to the nearest `f16` when it is inserted (about three
    /// significant decimal digits; magnitudes below 6.1e-5 lose more, below
    /// 3e-8 become zero); a magnitude above [`F16_MAX`] is an error.
    F16,
    /// Bytes, 1 an element (packed binary codes, for Hamming).
    U8,
}

impl VectorType {
    /// The element type code of the file format.
    pub const fn code(self) -> u32 {
        match self {
            VectorType::F32 => 1,
            VectorType::U8 => 2,
            VectorType::F16 => 3,
        }
    }

    /// The type of a file format code.
    pub const fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(VectorType::F32),
            2 => Some(VectorType::U8),
            3 => Some(VectorType::F16),
            _ => None,
        }
    }

    /// Bytes an element takes.
    pub const fn size(self) -> usize {
        match self {
            VectorType::F32 => 4,
            VectorType::F16 => 2,
            VectorType::U8 => 1,
        }
    }

    /// The name (`f32`, `f16`, `u8`).
    pub const fn name(self) -> &'static str {
        match self {
            VectorType::F32 => "f32",
            VectorType::F16 => "f16",
            VectorType::U8 => "u8",
        }
    }

    /// Vectors kept as their element type `T`.
    pub fn of<T: Element>() -> Self {
        Self::from_code(T::CODE)
            .filter(|&t| t != VectorType::F16)
            .unwrap_or(VectorType::F32)
    }

    /// The element type the vectors are handed out as: `f32` for `f16`.
    pub const fn element(self) -> Self {
        match self {
            VectorType::F16 => VectorType::F32,
            t => t,
        }
    }

    /// Whether a store of `T` elements can keep its vectors as `self`.
    pub fn holds<T: Element>(self) -> bool {
        self.element() == Self::of::<T>()
    }

    /// `Ok` if a store of `T` elements can keep its vectors as `self`.
    pub(crate) fn check<T: Element>(self) -> Result<()> {
        if self.holds::<T>() {
            Ok(())
        } else {
            Err(Error::InvalidParameter {
                name: "vector_type",
                reason: format!("{} vectors cannot be stored as {}", T::NAME, self.name()),
            })
        }
    }
}

impl std::fmt::Display for VectorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for VectorType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(VectorType::F32),
            "f16" => Ok(VectorType::F16),
            "u8" => Ok(VectorType::U8),
            _ => Err(Error::InvalidParameter {
                name: "vector_type",
                reason: format!("unknown vector type `{s}` (expected f32, f16 or u8)"),
            }),
        }
    }
}

/// Bytes an element of a store of `T` kept as `ty` takes.
#[inline]
pub(crate) fn elem_bytes<T: Element>(ty: VectorType) -> usize {
    match ty {
        VectorType::F16 => 2,
        _ => std::mem::size_of::<T>(),
    }
}

/// Check that `v` can be kept as `ty`: for `f16`, every value finite and of
/// magnitude at most [`F16_MAX`] (finite values are rounded to the nearest
/// `f16`). Nothing to check for the other types.
pub fn check_storable<T: Element>(ty: VectorType, v: &[T]) -> Result<()> {
    if ty != VectorType::F16 {
        return Ok(());
    }
    let Some(v) = T::as_f32(v) else {
        return ty.check::<T>();
    };
    // A branch-free pass first (it vectorises); the position only when
    // something is wrong.
    if v.iter().fold(true, |ok, x| ok & (x.abs() <= F16_MAX)) {
        return Ok(());
    }
    out_of_range(v)
}

#[cold]
#[inline(never)]
fn out_of_range(v: &[f32]) -> Result<()> {
    let position = v
        .iter()
        .position(|x| !x.is_finite() || x.abs() > F16_MAX)
        .unwrap_or(0);
    let x = v[position];
    if !x.is_finite() {
        return Err(Error::NonFinite { position });
    }
    Err(Error::InvalidParameter {
        name: "vector",
        reason: format!(
            "the value {x} at position {position} is beyond the range of the f16 values this \
             index stores (at most {F16_MAX} in magnitude)"
        ),
    })
}

/// Encode `v` as little-endian `f16`s into `out` (`2 * v.len()` bytes),
/// each value rounded to the nearest `f16`.
pub fn encode_f16(v: &[f32], out: &mut [u8]) {
    let out = &mut out[..2 * v.len()];
    match bytemuck::try_cast_slice_mut::<u8, u16>(out) {
        Ok(h) => h.reinterpret_cast_mut::<f16>().convert_from_f32_slice(v),
        Err(_) => {
            for (o, &x) in out.chunks_exact_mut(2).zip(v) {
                o.copy_from_slice(&f16::from_f32(x).to_le_bytes());
            }
        }
    }
}

/// Decode the little-endian `f16`s of `bytes` (`2 * out.len()` of them)
/// into `out`.
pub fn decode_f16(bytes: &[u8], out: &mut [f32]) {
    let bytes = &bytes[..2 * out.len()];
    match bytemuck::try_cast_slice::<u8, u16>(bytes) {
        Ok(h) => h.reinterpret_cast::<f16>().convert_to_f32_slice(out),
        Err(_) => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
    }
}

/// Append `v`, kept as `ty`, to `out` as the bytes of a file's vectors.
pub(crate) fn write_vector<T: Element>(ty: VectorType, v: &[T], out: &mut Vec<u8>) {
    match (ty, T::as_f32(v)) {
        (VectorType::F16, Some(v)) => {
            let at = out.len();
            out.resize(at + 2 * v.len(), 0);
            encode_f16(v, &mut out[at..]);
        }
        _ => T::write_le(v, out),
    }
}

std::thread_local! {
    /// A buffer for decoding one vector at a time, so that a store handing
    /// out single `f16` vectors does not allocate for each one. Taken out
    /// while in use: a nested call finds it empty and allocates its own.
    static SPARE: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Run `f` on the elements of one vector's `bytes`, stored as `ty`: in
/// place when they are the elements themselves (and aligned), decoded into
/// a buffer the thread keeps for `f16`.
#[inline]
pub fn with_decoded<T: Element, R>(ty: VectorType, bytes: &[u8], f: impl FnOnce(&[T]) -> R) -> R {
    if ty != VectorType::F16 || T::CODE != f32::CODE {
        return f(Decoder::new(ty).decode(bytes));
    }
    let mut buf = SPARE.take();
    buf.resize(bytes.len() / 2, 0.0);
    decode_f16(bytes, &mut buf);
    let r = f(bytemuck::cast_slice(&buf));
    SPARE.set(buf);
    r
}

/// Turns the bytes of stored vectors into the elements a store hands out:
/// in place when they are the elements themselves (and aligned), decoded
/// into a buffer it keeps (for `f16`) otherwise. One decoder serves a whole
/// batch, so a batch allocates at most once.
#[derive(Debug)]
pub struct Decoder<T> {
    ty: VectorType,
    buf: Vec<T>,
}

impl<T: Element> Decoder<T> {
    /// A decoder of vectors kept as `ty`.
    pub fn new(ty: VectorType) -> Self {
        Self {
            ty,
            buf: Vec::new(),
        }
    }

    /// The elements of one vector's `bytes`.
    #[inline]
    pub fn decode<'a>(&'a mut self, bytes: &'a [u8]) -> &'a [T] {
        if self.ty != VectorType::F16 {
            if let Ok(v) = bytemuck::try_cast_slice(bytes) {
                return v;
            }
            return self.copy(bytes);
        }
        self.widen(bytes)
    }

    /// A copy of misaligned elements.
    #[cold]
    #[inline(never)]
    fn copy(&mut self, bytes: &[u8]) -> &[T] {
        let size = std::mem::size_of::<T>();
        let n = bytes.len() / size;
        self.buf.resize(n, T::zeroed());
        bytemuck::cast_slice_mut::<T, u8>(&mut self.buf).copy_from_slice(&bytes[..n * size]);
        &self.buf
    }

    /// `f16`s decoded to `f32` (`T` is `f32` for every store kept as `f16`).
    #[inline(never)]
    fn widen(&mut self, bytes: &[u8]) -> &[T] {
        let n = bytes.len() / 2;
        self.buf.resize(n, T::zeroed());
        if let Ok(out) = bytemuck::try_cast_slice_mut::<T, f32>(&mut self.buf) {
            decode_f16(bytes, out);
        }
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_names_and_elements() {
        for t in [VectorType::F32, VectorType::F16, VectorType::U8] {
            assert_eq!(VectorType::from_code(t.code()), Some(t));
            assert_eq!(t.name().parse::<VectorType>().unwrap(), t);
        }
        assert_eq!(VectorType::from_code(0), None);
        assert!("f64".parse::<VectorType>().is_err());
        assert_eq!(VectorType::of::<f32>(), VectorType::F32);
        assert_eq!(VectorType::of::<u8>(), VectorType::U8);
        assert!(VectorType::F16.holds::<f32>() && !VectorType::F16.holds::<u8>());
        assert!(!VectorType::F32.holds::<u8>());
    }

    #[test]
    fn round_to_nearest_and_back() {
        let v = [
            0.0,
            -0.0,
            1.0,
            0.1,
            -2.5,
            65504.0,
            -65504.0,
            1e-6,
            3.0e-8,
            1.0 / 3.0,
        ];
        let mut bytes = vec![0; 2 * v.len()];
        encode_f16(&v, &mut bytes);
        let mut back = vec![0.0; v.len()];
        decode_f16(&bytes, &mut back);
        for (&x, &y) in v.iter().zip(&back) {
            assert_eq!(y, f16::from_f32(x).to_f32());
            assert!((x - y).abs() <= x.abs() / 2048.0 + 6e-8, "{x} -> {y}");
        }
        // Misaligned bytes decode the same.
        let mut shifted = vec![0; bytes.len() + 1];
        shifted[1..].copy_from_slice(&bytes);
        let mut again = vec![0.0; v.len()];
        decode_f16(&shifted[1..], &mut again);
        assert_eq!(again, back);
        let mut d = Decoder::<f32>::new(VectorType::F16);
        assert_eq!(d.decode(&bytes), &back[..]);
    }

    #[test]
    fn out_of_range_and_non_finite_values_are_refused() {
        let ty = VectorType::F16;
        assert!(check_storable(ty, &[65504.0f32, -65504.0, 0.0]).is_ok());
        let e = check_storable(ty, &[1.0f32, 65505.0]).unwrap_err();
        assert!(e.to_string().contains("position 1"), "{e}");
        assert!(matches!(
            check_storable(ty, &[f32::NAN]),
            Err(Error::NonFinite { position: 0 })
        ));
        assert!(matches!(
            check_storable(ty, &[0.0, f32::NEG_INFINITY]),
            Err(Error::NonFinite { position: 1 })
        ));
        assert!(check_storable(VectorType::F32, &[1e30f32]).is_ok());
        assert!(check_storable(ty, &[1u8]).is_err());
    }
}
