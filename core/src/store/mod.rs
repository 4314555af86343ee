//! The storage contract: where vectors live and how the algorithms reach them.
//!
//! A [`FeatureStore`] hands out a vector only for the duration of a closure,
//! so no caller can hold a borrow that a later read invalidates (the defect of
//! the seed's `get(&self, i) -> &T`). Every access is fallible. A store that
//! cannot answer at once (IndexedDB is asynchronous only) answers
//! [`Access::Missing`]; the resumable search then reports every vector an
//! expansion step is missing in one batch, an asynchronous driver fetches
//! them together, and the same search resumes where it stopped.

mod layered;
mod layout;
mod memory;
mod paged;
mod vector_type;

pub use layered::LayeredStore;
pub use layout::{Rows, VectorLayout};
pub use memory::MemoryStore;
pub use paged::{
    ByteSource, DEFAULT_PAGE_BYTES, MAX_GAP_BYTES, PageRequest, PagedStore, SourceRead,
};
pub(crate) use vector_type::write_vector;
pub use vector_type::{
    Decoder, F16_MAX, VectorType, check_storable, decode_f16, encode_f16, with_decoded,
};

use crate::distance::Element;
use crate::error::Result;

/// Outcome of asking a store for a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Access<R> {
    /// The vector was resident; this is what the closure returned.
    Ready(R),
    /// The vector is not resident and this store cannot load it synchronously;
    /// fetch it (with the others a step needs) and ask again.
    Missing,
}

impl<R> Access<R> {
    /// The value, if the vector was resident.
    pub fn ready(self) -> Option<R> {
        match self {
            Access::Ready(r) => Some(r),
            Access::Missing => None,
        }
    }
}

/// Read access to a set of equal-length vectors addressed by dense `u32` slots.
pub trait FeatureStore {
    /// The element type of the vectors.
    type Elem: Element;

    /// Elements per vector.
    fn dim(&self) -> usize;

    /// Number of vectors (slots `0..len`).
    fn len(&self) -> usize;

    /// Whether the store holds no vector.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Run `f` on vector `slot`. The borrow ends with the closure, so it can
    /// never outlive the data behind it. An out-of-range slot or a failed read
    /// is an error; a vector an asynchronous store has not loaded yet is
    /// [`Access::Missing`].
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[Self::Elem]) -> R) -> Result<Access<R>>;

    /// Run `f(slot, vector)` for every resident slot of `slots`, in order, and
    /// append the slots that are not resident to `missing`. Stores that can
    /// read several vectors in one go override this.
    fn with_vectors(
        &self,
        slots: &[u32],
        mut f: impl FnMut(u32, &[Self::Elem]),
        missing: &mut Vec<u32>,
    ) -> Result<()> {
        for &slot in slots {
            if let Access::Missing = self.with_vector(slot, |v| f(slot, v))? {
                missing.push(slot);
            }
        }
        Ok(())
    }

    /// A hint that `slots` will be read soon: in-memory stores issue CPU
    /// prefetches, lazy stores may start loading. Never required for correctness.
    fn prefetch(&self, _slots: &[u32]) {}

    /// Whether [`with_vector`](Self::with_vector) can answer
    /// [`Access::Missing`]. Synchronous drivers refuse such stores up front.
    fn may_miss(&self) -> bool {
        false
    }

    /// Every vector as a row of one borrowed slice, when the store keeps
    /// them so (in memory or mapped). Searches over such a store compute a
    /// step's distances in one kernel call that reads the rows directly and
    /// prefetches ahead; other stores are read through
    /// [`with_vectors`](Self::with_vectors).
    fn rows(&self) -> Option<RowSlice<'_, Self::Elem>> {
        None
    }

    /// How the store keeps its vectors, which is also how an index file
    /// written from it stores them: as the element type itself, or `f32`
    /// values as [`VectorType::F16`], decoded when they are handed out.
    fn vector_type(&self) -> VectorType {
        VectorType::of::<Self::Elem>()
    }

    /// The file the store reads its vectors from, addressed as the whole
    /// file (the store's vectors at their offset in it), if it reads one
    /// through a [`ByteSource`]: an index reads other parts of the file
    /// through it that it does not hold in memory (the codes of an IVF
    /// index opened remotely).
    fn byte_source(&self) -> Option<&dyn ByteSource> {
        None
    }
}

/// Vectors stored as rows of one slice: vector `i` is the `dim` elements
/// from `i * stride`.
#[derive(Clone, Copy, Debug)]
pub struct RowSlice<'a, T> {
    data: &'a [T],
    dim: usize,
    stride: usize,
    len: usize,
}

impl<'a, T> RowSlice<'a, T> {
    /// Rows of `dim` elements, one every `stride` elements, as many as
    /// `data` holds whole. `None` if `dim` is 0 or `stride < dim`.
    pub fn new(data: &'a [T], dim: usize, stride: usize) -> Option<Self> {
        if dim == 0 || stride < dim {
            return None;
        }
        let len = match data.len().checked_sub(dim) {
            Some(rest) => rest / stride + 1,
            None => 0,
        };
        Some(Self {
            data,
            dim,
            stride,
            len,
        })
    }

    /// Elements per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Elements from one row's start to the next's.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All the elements the rows are cut from.
    pub fn data(&self) -> &'a [T] {
        self.data
    }

    /// Row `i`, if there is one.
    #[inline]
    pub fn get(&self, i: u32) -> Option<&'a [T]> {
        let at = (i as usize).checked_mul(self.stride)?;
        self.data.get(at..at.checked_add(self.dim)?)
    }
}

/// A store that takes new vectors at the end.
pub trait FeatureStoreMut: FeatureStore {
    /// Append a vector (already checked to have [`dim`](FeatureStore::dim)
    /// elements) and return its slot. A value the store cannot keep (see
    /// [`check_storable`]) is an error and changes nothing.
    fn push(&mut self, v: &[Self::Elem]) -> Result<u32>;

    /// Remove the last `n` vectors (used to undo a failed batch insert).
    fn truncate(&mut self, len: usize) -> Result<()>;

    /// Reserve room for `additional` more vectors.
    fn reserve(&mut self, _additional: usize) {}
}

/// Copy vector `slot` out of `store` into `out`. A convenience for callers
/// that need an owned vector (for example `get` on an index).
pub fn copy_vector<S: FeatureStore + ?Sized>(
    store: &S,
    slot: u32,
    out: &mut Vec<S::Elem>,
) -> Result<Access<()>> {
    store.with_vector(slot, |v| {
        out.clear();
        out.extend_from_slice(v);
    })
}
