//! The default store: every vector in one contiguous, 64-byte aligned buffer.

use std::marker::PhantomData;

use super::vector_type::{check_storable, elem_bytes, encode_f16};
use super::{Access, Decoder, FeatureStore, FeatureStoreMut, VectorType, with_decoded};
use crate::cache::Line;
use crate::distance::Element;
use crate::error::{Error, Result};
use crate::simd;

/// Vectors packed back to back (vector `i` at element `i * dim`), in a buffer
/// aligned to a cache line, the layout hnswlib's speed comes from.
///
/// A store of `f32` vectors can keep them as `f16` instead
/// ([`with_type`](Self::with_type) and [`VectorType::F16`]): half the
/// memory, each value rounded to the nearest `f16` when it is pushed and
/// decoded back to `f32` when it is read. Such a store has no borrowed
/// `f32` view ([`get`](Self::get) and [`as_flat`](Self::as_flat) give
/// nothing); read it through [`FeatureStore`].
#[derive(Clone)]
pub struct MemoryStore<T: Element = f32> {
    lines: Vec<Line>,
    dim: usize,
    len: usize,
    vector_type: VectorType,
    /// Bytes of one stored vector.
    vector_bytes: usize,
    _elem: PhantomData<T>,
}

impl<T: Element> std::fmt::Debug for MemoryStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("dim", &self.dim)
            .field("len", &self.len)
            .field("vector_type", &self.vector_type)
            .finish()
    }
}

impl<T: Element> MemoryStore<T> {
    /// An empty store of `dim`-element vectors.
    pub fn new(dim: usize) -> Result<Self> {
        Self::with_type(dim, VectorType::of::<T>())
    }

    /// An empty store of `dim`-element vectors kept as `vector_type`
    /// (`VectorType::F16` for `f32` vectors in half the memory).
    pub fn with_type(dim: usize, vector_type: VectorType) -> Result<Self> {
        vector_type.check::<T>()?;
        if dim == 0 {
            return Err(Error::InvalidParameter {
                name: "dim",
                reason: "must be at least 1".into(),
            });
        }
        let vector_bytes = dim
            .checked_mul(elem_bytes::<T>(vector_type))
            .ok_or_else(|| Error::InvalidParameter {
                name: "dim",
                reason: "too large".into(),
            })?;
        Ok(Self {
            lines: Vec::new(),
            dim,
            len: 0,
            vector_type,
            vector_bytes,
            _elem: PhantomData,
        })
    }

    /// A store holding `data`, `dim` elements per vector.
    pub fn from_flat(dim: usize, data: &[T]) -> Result<Self> {
        Self::from_flat_as(VectorType::of::<T>(), dim, data)
    }

    /// A store holding `data`, `dim` elements per vector, kept as
    /// `vector_type`. Values that type cannot keep are an error.
    pub fn from_flat_as(vector_type: VectorType, dim: usize, data: &[T]) -> Result<Self> {
        Self::with_type(dim, vector_type)?;
        if !data.len().is_multiple_of(dim) {
            return Err(Error::DimensionMismatch {
                expected: dim,
                got: data.len() % dim,
            });
        }
        check_storable(vector_type, data)?;
        let mut s = Self::zeroed_as(vector_type, dim, data.len() / dim)?;
        s.write_elems(0, data);
        Ok(s)
    }

    /// A store holding the vectors encoded in `bytes` (little-endian, back
    /// to back, as in the index file format).
    pub fn from_le_bytes(dim: usize, bytes: &[u8]) -> Result<Self> {
        Self::from_le_bytes_as(VectorType::of::<T>(), dim, bytes)
    }

    /// A store holding the vectors encoded in `bytes` as `vector_type`
    /// (little-endian, back to back, as in the index file format), kept as
    /// they are.
    pub fn from_le_bytes_as(vector_type: VectorType, dim: usize, bytes: &[u8]) -> Result<Self> {
        let size = Self::with_type(dim, vector_type).map_or(0, |s| s.vector_bytes);
        if size == 0 || !bytes.len().is_multiple_of(size) {
            return Err(crate::error::invalid_n(
                "bytes",
                "not whole vectors: bytes",
                bytes.len() as u64,
            ));
        }
        let mut s = Self::zeroed_as(vector_type, dim, bytes.len() / size)?;
        match vector_type {
            // Kept as the file has them (little-endian, as every target is).
            VectorType::F16 => s.bytes_mut().copy_from_slice(bytes),
            _ => T::read_le(bytes, s.elems_mut()),
        }
        Ok(s)
    }

    /// A store of `len` zeroed vectors kept as `vector_type`.
    fn zeroed_as(vector_type: VectorType, dim: usize, len: usize) -> Result<Self> {
        let mut s = Self::with_type(dim, vector_type)?;
        let bytes = len
            .checked_mul(s.vector_bytes)
            .ok_or_else(|| Error::StoreFull {
                reason: "vector count times dimension overflows".into(),
            })?;
        s.len = len;
        // Sized by the caller's count (a file's vectors): fallible.
        s.lines = crate::alloc::zeroed(bytes.div_ceil(64), "the vectors")?;
        Ok(s)
    }

    /// Lines holding `len` vectors.
    fn lines_for(&self, len: usize) -> usize {
        (len * self.vector_bytes).div_ceil(64)
    }

    /// The stored bytes of every vector, `len` vectors back to back.
    pub fn as_bytes(&self) -> &[u8] {
        let bytes: &[u8] = bytemuck::cast_slice(&self.lines);
        &bytes[..self.len * self.vector_bytes]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let n = self.len * self.vector_bytes;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.lines);
        &mut bytes[..n]
    }

    /// Whether the vectors are kept as `T` itself, so they can be borrowed.
    #[inline]
    fn native(&self) -> bool {
        self.vector_type != VectorType::F16
    }

    /// All vectors as one slice, `len * dim` elements; empty for a store
    /// that keeps `f32` vectors as `f16` (see [`as_bytes`](Self::as_bytes)).
    pub fn as_flat(&self) -> &[T] {
        if !self.native() {
            return &[];
        }
        bytemuck::cast_slice(self.as_bytes())
    }

    pub(crate) fn elems_mut(&mut self) -> &mut [T] {
        if !self.native() {
            return &mut [];
        }
        bytemuck::cast_slice_mut(self.bytes_mut())
    }

    /// Store `data` (whole vectors, values the type can keep) from vector
    /// `at` on.
    fn write_elems(&mut self, at: usize, data: &[T]) {
        let (start, vector_type) = (at * self.vector_bytes, self.vector_type);
        match (vector_type, T::as_f32(data)) {
            (VectorType::F16, Some(v)) => {
                let bytes = self.bytes_mut();
                encode_f16(v, &mut bytes[start..start + 2 * v.len()]);
            }
            _ => {
                let start = at * self.dim;
                self.elems_mut()[start..start + data.len()].copy_from_slice(data);
            }
        }
    }

    /// Vector `slot`, borrowed; `None` when out of range, or when the store
    /// keeps `f32` vectors as `f16` (read those through [`FeatureStore`]).
    /// In-memory callers may use this directly; generic code goes through
    /// [`FeatureStore`].
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&[T]> {
        let i = slot as usize;
        if i >= self.len {
            return None;
        }
        let flat = self.as_flat();
        flat.get(i * self.dim..(i + 1) * self.dim)
    }

    /// The stored bytes of vector `slot`, if there is one.
    #[inline]
    fn raw(&self, slot: u32) -> Option<&[u8]> {
        let i = slot as usize;
        if i >= self.len {
            return None;
        }
        let bytes: &[u8] = bytemuck::cast_slice(&self.lines);
        bytes.get(i * self.vector_bytes..(i + 1) * self.vector_bytes)
    }

    fn out_of_range(&self, slot: u32) -> Error {
        Error::SlotOutOfRange {
            slot,
            len: self.len,
        }
    }

    /// Keep the vectors as `vector_type` from now on (`f16` halves the
    /// memory of `f32` vectors; back to `f32` gives the rounded values). A
    /// value the new type cannot keep is an error and changes nothing.
    pub fn convert(&mut self, vector_type: VectorType) -> Result<()> {
        vector_type.check::<T>()?;
        if vector_type == self.vector_type {
            return Ok(());
        }
        let converted = if self.native() {
            Self::from_flat_as(vector_type, self.dim, self.as_flat())?
        } else {
            let mut flat: Vec<T> = crate::alloc::zeroed(self.len * self.dim, "the vectors")?;
            let mut decoder = Decoder::new(self.vector_type);
            let bytes = self.as_bytes();
            for (out, v) in flat
                .chunks_exact_mut(self.dim)
                .zip(bytes.chunks_exact(self.vector_bytes))
            {
                out.copy_from_slice(decoder.decode(v));
            }
            Self::from_flat_as(vector_type, self.dim, &flat)?
        };
        *self = converted;
        Ok(())
    }

    /// Heap bytes held by the vectors.
    pub fn heap_bytes(&self) -> usize {
        self.lines.capacity() * 64
    }

    /// Renumber the vectors: new slot `s` takes the vector of old slot
    /// `order[s]`. `order` is a permutation of the slots (checked by the
    /// caller) and `done` a zeroed bit a slot. The vectors move in place,
    /// cycle by cycle; nothing can fail.
    pub(crate) fn permute(&mut self, order: &[u32], done: &mut [u64]) {
        let row = self.vector_bytes;
        let bytes = self.bytes_mut();
        let mut held = vec![0u8; row];
        for start in 0..order.len() {
            if done[start / 64] & (1 << (start % 64)) != 0 {
                continue;
            }
            held.copy_from_slice(&bytes[start * row..(start + 1) * row]);
            let mut to = start;
            loop {
                done[to / 64] |= 1 << (to % 64);
                let from = order[to] as usize;
                if from == start {
                    bytes[to * row..(to + 1) * row].copy_from_slice(&held);
                    break;
                }
                bytes.copy_within(from * row..(from + 1) * row, to * row);
                to = from;
            }
        }
    }
}

impl<T: Element> FeatureStore for MemoryStore<T> {
    type Elem = T;

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[T]) -> R) -> Result<Access<R>> {
        if self.native() {
            return match self.get(slot) {
                Some(v) => Ok(Access::Ready(f(v))),
                None => Err(self.out_of_range(slot)),
            };
        }
        let bytes = self.raw(slot).ok_or_else(|| self.out_of_range(slot))?;
        Ok(Access::Ready(with_decoded(self.vector_type, bytes, f)))
    }

    /// Vectors kept as `f16` are decoded one after another into one buffer.
    fn with_vectors(
        &self,
        slots: &[u32],
        mut f: impl FnMut(u32, &[T]),
        _missing: &mut Vec<u32>,
    ) -> Result<()> {
        if self.native() {
            for &slot in slots {
                f(slot, self.get(slot).ok_or_else(|| self.out_of_range(slot))?);
            }
            return Ok(());
        }
        let mut decoder = Decoder::new(self.vector_type);
        for &slot in slots {
            let bytes = self.raw(slot).ok_or_else(|| self.out_of_range(slot))?;
            f(slot, decoder.decode(bytes));
        }
        Ok(())
    }

    #[inline]
    fn rows(&self) -> Option<super::RowSlice<'_, T>> {
        if !self.native() {
            return None;
        }
        super::RowSlice::new(self.as_flat(), self.dim, self.dim)
    }

    #[inline]
    fn prefetch(&self, slots: &[u32]) {
        for &s in slots {
            if let Some(v) = self.raw(s) {
                // The first lines are enough to start the hardware prefetcher.
                simd::prefetch(v.as_ptr());
                if v.len() > 64 {
                    simd::prefetch(v[64..].as_ptr());
                }
            }
        }
    }

    fn vector_type(&self) -> VectorType {
        self.vector_type
    }
}

impl<T: Element> FeatureStoreMut for MemoryStore<T> {
    fn push(&mut self, v: &[T]) -> Result<u32> {
        if v.len() != self.dim {
            return Err(Error::DimensionMismatch {
                expected: self.dim,
                got: v.len(),
            });
        }
        check_storable(self.vector_type, v)?;
        let slot = u32::try_from(self.len).map_err(|_| Error::StoreFull {
            reason: "more than 2^32 vectors".into(),
        })?;
        let need = self.lines_for(self.len + 1);
        if need > self.lines.len() {
            self.lines.resize(need, Line([0; 64]));
        }
        self.len += 1;
        self.write_elems(self.len - 1, v);
        Ok(slot)
    }

    fn truncate(&mut self, len: usize) -> Result<()> {
        if len < self.len {
            self.len = len;
            self.lines.truncate(self.lines_for(len));
        }
        Ok(())
    }

    fn reserve(&mut self, additional: usize) {
        let need = self.lines_for(self.len + additional);
        self.lines.reserve(need.saturating_sub(self.lines.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_and_alignment() {
        let mut s = MemoryStore::<f32>::new(3).unwrap();
        for i in 0..100 {
            let v = [i as f32, 1.0, 2.0];
            assert_eq!(s.push(&v).unwrap(), i);
        }
        assert_eq!(s.len(), 100);
        assert_eq!(s.get(42).unwrap(), &[42.0, 1.0, 2.0]);
        assert_eq!(s.as_flat().as_ptr() as usize % 64, 0);
        assert!(matches!(
            s.with_vector(100, |_| ()),
            Err(Error::SlotOutOfRange {
                slot: 100,
                len: 100
            })
        ));
        assert!(matches!(
            s.push(&[1.0]),
            Err(Error::DimensionMismatch {
                expected: 3,
                got: 1
            })
        ));
        s.truncate(10).unwrap();
        assert_eq!(s.len(), 10);
        assert!(s.get(10).is_none());
    }

    #[test]
    fn from_flat_round_trips() {
        let data: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let s = MemoryStore::from_flat(4, &data).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.as_flat(), &data[..]);
        assert!(MemoryStore::from_flat(5, &data).is_err());
        assert!(MemoryStore::<f32>::new(0).is_err());
    }

    #[test]
    fn f16_vectors_are_rounded_refused_out_of_range_and_moved_whole() {
        let mut s = MemoryStore::<f32>::with_type(3, VectorType::F16).unwrap();
        assert_eq!(s.vector_type(), VectorType::F16);
        assert!(MemoryStore::<u8>::with_type(3, VectorType::F16).is_err());
        for i in 0..40 {
            let v = [i as f32 + 0.1, -1.0 / 3.0, 65504.0];
            assert_eq!(s.push(&v).unwrap(), i);
        }
        assert_eq!(s.as_bytes().len(), 40 * 6);
        assert!(s.get(0).is_none() && s.as_flat().is_empty() && s.rows().is_none());
        let want =
            |i: u32| [i as f32 + 0.1, -1.0 / 3.0, 65504.0].map(|x| half::f16::from_f32(x).to_f32());
        assert_eq!(
            s.with_vector(7, <[f32]>::to_vec).unwrap(),
            Access::Ready(want(7).to_vec())
        );
        let mut seen = vec![];
        s.with_vectors(&[39, 2], |i, v| seen.push((i, v.to_vec())), &mut vec![])
            .unwrap();
        assert_eq!(seen, [(39, want(39).to_vec()), (2, want(2).to_vec())]);
        assert!(s.with_vectors(&[1, 40], |_, _| (), &mut vec![]).is_err());
        // Out of range or not finite: refused, nothing stored.
        assert!(s.push(&[0.0, 65505.0, 0.0]).is_err());
        assert!(matches!(
            s.push(&[f32::NAN, 0.0, 0.0]),
            Err(Error::NonFinite { position: 0 })
        ));
        assert_eq!(s.len(), 40);
        // Renumbering moves whole f16 vectors.
        let order: Vec<u32> = (0..40).rev().collect();
        s.permute(&order, &mut [0]);
        assert_eq!(
            s.with_vector(0, <[f32]>::to_vec).unwrap(),
            Access::Ready(want(39).to_vec())
        );
        let copy = MemoryStore::<f32>::from_le_bytes_as(VectorType::F16, 3, s.as_bytes()).unwrap();
        assert_eq!(copy.as_bytes(), s.as_bytes());
        let flat = MemoryStore::from_flat_as(VectorType::F16, 3, &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(
            flat.with_vector(0, <[f32]>::to_vec).unwrap(),
            Access::Ready(vec![1.0, 2.0, 3.0])
        );
        assert!(MemoryStore::from_flat_as(VectorType::F16, 1, &[1e6]).is_err());
    }
}
