//! Where vectors sit in bytes: one description for the file format, the
//! paged stores and the stores that view a file in place.

use super::VectorType;
use super::vector_type::elem_bytes;
use crate::distance::Element;
use crate::error::{Error, Result, invalid_n};

/// Where the vectors are in a [`ByteSource`](super::ByteSource): vector `i` starts at byte
/// `base_offset + i * stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorLayout {
    /// Elements per vector.
    pub dim: usize,
    /// Number of vectors.
    pub len: usize,
    /// Byte offset of vector 0 in the source.
    pub base_offset: u64,
    /// Bytes from the start of one vector to the next; `None` packs them
    /// back to back (`dim` elements of the vector type).
    pub stride: Option<usize>,
    /// How the elements are stored; `None` as the store's element type
    /// itself. `Some(VectorType::F16)` for `f32` vectors kept as `f16`.
    pub vector_type: Option<VectorType>,
}

impl VectorLayout {
    /// `len` packed vectors of `dim` elements at the start of the source.
    pub fn new(dim: usize, len: usize) -> Self {
        Self {
            dim,
            len,
            base_offset: 0,
            stride: None,
            vector_type: None,
        }
    }

    /// The same layout with vector 0 at byte `base_offset` (after a header).
    pub fn with_offset(self, base_offset: u64) -> Self {
        Self {
            base_offset,
            ..self
        }
    }

    /// The same layout with one vector every `stride` bytes (padded rows).
    pub fn with_stride(self, stride: usize) -> Self {
        Self {
            stride: Some(stride),
            ..self
        }
    }

    /// The same layout with the elements stored as `vector_type`.
    pub fn with_vector_type(self, vector_type: VectorType) -> Self {
        Self {
            vector_type: Some(vector_type),
            ..self
        }
    }
}

/// A [`VectorLayout`] checked for one element type: every figure a store
/// needs to address vector `i` without overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    /// Elements per vector.
    pub dim: usize,
    /// Number of vectors.
    pub len: usize,
    /// Byte offset of vector 0.
    pub offset: u64,
    /// Bytes from one vector to the next.
    pub stride: usize,
    /// Bytes of one vector (`dim` elements of the vector type).
    pub vector_bytes: usize,
    /// How the elements are stored.
    pub vector_type: VectorType,
}

impl VectorLayout {
    /// Check the layout for elements of `T`: a vector type that holds
    /// `T`, a non-zero dimension, a stride that holds a vector and keeps
    /// every vector aligned for its stored elements, an aligned offset, and
    /// at most 2^32 vectors (slots are `u32`).
    pub fn rows<T: Element>(&self) -> Result<Rows> {
        let vector_type = self.vector_type.unwrap_or_else(VectorType::of::<T>);
        vector_type.check::<T>()?;
        let size = elem_bytes::<T>(vector_type);
        let align = match vector_type {
            VectorType::F16 => 2,
            _ => std::mem::align_of::<T>(),
        };
        let vector_bytes = match self.dim.checked_mul(size) {
            Some(0) | None => {
                return Err(invalid_n("dim", "not a dimension:", self.dim as u64));
            }
            Some(n) => n,
        };
        let stride = self.stride.unwrap_or(vector_bytes);
        if stride < vector_bytes || !stride.is_multiple_of(align) {
            let why = "too small for a vector, or not a multiple of the element size:";
            return Err(invalid_n("stride_bytes", why, stride as u64));
        }
        if !self.base_offset.is_multiple_of(align as u64) {
            let why = "not a multiple of the element size:";
            return Err(invalid_n("offset", why, self.base_offset));
        }
        if self.len as u64 > u64::from(u32::MAX) + 1 {
            return Err(invalid_n(
                "len",
                "vectors beyond the u32 slots:",
                self.len as u64,
            ));
        }
        Ok(Rows {
            dim: self.dim,
            len: self.len,
            offset: self.base_offset,
            stride,
            vector_bytes,
            vector_type,
        })
    }
}

impl Rows {
    /// Bytes from the start of the first vector to the end of the last (the
    /// last vector's padding is not needed), if that fits in a `usize`.
    pub fn span(&self) -> Option<usize> {
        match self.len {
            0 => Some(0),
            n => (n - 1)
                .checked_mul(self.stride)?
                .checked_add(self.vector_bytes),
        }
    }

    /// The byte of the span where vector `slot` starts, or the error for a
    /// slot out of range.
    pub fn start(&self, slot: u32) -> Result<usize> {
        let i = slot as usize;
        if i < self.len {
            Ok(i * self.stride)
        } else {
            Err(Error::SlotOutOfRange {
                slot,
                len: self.len,
            })
        }
    }
}
