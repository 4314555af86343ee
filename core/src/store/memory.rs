//! The default store: every vector in one contiguous, 64-byte aligned buffer.

use std::marker::PhantomData;

use super::{Access, FeatureStore, FeatureStoreMut};
use crate::cache::Line;
use crate::distance::Element;
use crate::error::{Error, Result};
use crate::simd;

/// Vectors packed back to back (vector `i` at element `i * dim`), in a buffer
/// aligned to a cache line, the layout hnswlib's speed comes from.
#[derive(Clone)]
pub struct MemoryStore<T: Element = f32> {
    lines: Vec<Line>,
    dim: usize,
    len: usize,
    _elem: PhantomData<T>,
}

impl<T: Element> std::fmt::Debug for MemoryStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("dim", &self.dim)
            .field("len", &self.len)
            .finish()
    }
}

impl<T: Element> MemoryStore<T> {
    /// An empty store of `dim`-element vectors.
    pub fn new(dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::InvalidParameter {
                name: "dim",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            lines: Vec::new(),
            dim,
            len: 0,
            _elem: PhantomData,
        })
    }

    /// A store holding `data`, `dim` elements per vector.
    pub fn from_flat(dim: usize, data: &[T]) -> Result<Self> {
        let mut s = Self::new(dim)?;
        if !data.len().is_multiple_of(dim) {
            return Err(Error::DimensionMismatch {
                expected: dim,
                got: data.len() % dim,
            });
        }
        s.len = data.len() / dim;
        s.lines = vec![Line([0; 64]); Self::lines_for(data.len())];
        s.elems_mut().copy_from_slice(data);
        Ok(s)
    }

    /// A store holding the vectors encoded in `bytes` (little-endian, back
    /// to back, as in the index file format).
    pub fn from_le_bytes(dim: usize, bytes: &[u8]) -> Result<Self> {
        let size = dim.checked_mul(std::mem::size_of::<T>()).unwrap_or(0);
        if size == 0 || !bytes.len().is_multiple_of(size) {
            return Err(crate::error::invalid_n(
                "bytes",
                "not whole vectors: bytes",
                bytes.len() as u64,
            ));
        }
        let mut s = Self::zeroed(dim, bytes.len() / size)?;
        T::read_le(bytes, s.elems_mut());
        Ok(s)
    }

    /// A store of `len` zeroed vectors, to be filled through `elems_mut`.
    pub(crate) fn zeroed(dim: usize, len: usize) -> Result<Self> {
        let mut s = Self::new(dim)?;
        let elems = len.checked_mul(dim).ok_or_else(|| Error::StoreFull {
            reason: "vector count times dimension overflows".into(),
        })?;
        s.len = len;
        // Sized by the caller's count (a file's vectors): fallible.
        s.lines = crate::alloc::zeroed(Self::lines_for(elems), "the vectors")?;
        Ok(s)
    }

    fn lines_for(elems: usize) -> usize {
        (elems * std::mem::size_of::<T>()).div_ceil(64)
    }

    /// All vectors as one slice, `len * dim` elements.
    pub fn as_flat(&self) -> &[T] {
        let bytes: &[u8] = bytemuck::cast_slice(&self.lines);
        bytemuck::cast_slice(&bytes[..self.len * self.dim * std::mem::size_of::<T>()])
    }

    pub(crate) fn elems_mut(&mut self) -> &mut [T] {
        let n = self.len * self.dim * std::mem::size_of::<T>();
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.lines);
        bytemuck::cast_slice_mut(&mut bytes[..n])
    }

    /// Vector `slot`, borrowed; `None` when out of range. In-memory callers
    /// may use this directly; generic code goes through [`FeatureStore`].
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&[T]> {
        let i = slot as usize;
        if i >= self.len {
            return None;
        }
        let flat = self.as_flat();
        Some(&flat[i * self.dim..(i + 1) * self.dim])
    }

    /// Heap bytes held by the vectors.
    pub fn heap_bytes(&self) -> usize {
        self.lines.capacity() * 64
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
        match self.get(slot) {
            Some(v) => Ok(Access::Ready(f(v))),
            None => Err(Error::SlotOutOfRange {
                slot,
                len: self.len,
            }),
        }
    }

    #[inline]
    fn rows(&self) -> Option<super::RowSlice<'_, T>> {
        super::RowSlice::new(self.as_flat(), self.dim, self.dim)
    }

    #[inline]
    fn prefetch(&self, slots: &[u32]) {
        for &s in slots {
            if let Some(v) = self.get(s) {
                // The first lines are enough to start the hardware prefetcher.
                simd::prefetch(v.as_ptr());
                if std::mem::size_of_val(v) > 64 {
                    simd::prefetch(v.as_ptr().wrapping_add(64 / std::mem::size_of::<T>()));
                }
            }
        }
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
        let slot = u32::try_from(self.len).map_err(|_| Error::StoreFull {
            reason: "more than 2^32 vectors".into(),
        })?;
        let need = Self::lines_for((self.len + 1) * self.dim);
        if need > self.lines.len() {
            self.lines.resize(need, Line([0; 64]));
        }
        self.len += 1;
        let dim = self.dim;
        let start = (self.len - 1) * dim;
        self.elems_mut()[start..start + dim].copy_from_slice(v);
        Ok(slot)
    }

    fn truncate(&mut self, len: usize) -> Result<()> {
        if len < self.len {
            self.len = len;
            self.lines.truncate(Self::lines_for(len * self.dim));
        }
        Ok(())
    }

    fn reserve(&mut self, additional: usize) {
        let need = Self::lines_for((self.len + additional) * self.dim);
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
}
