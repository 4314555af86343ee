//! A store of two layers: an opened base (a file read lazily, a map, a
//! browser store) holding the vectors an index was opened with, and the
//! vectors added since, in memory after them. It lets an index opened from
//! any read-only store take inserts; saving writes both layers as one file.

use crate::error::{Error, Result};
use crate::store::{Access, FeatureStore, FeatureStoreMut, MemoryStore, VectorType};

/// Vectors `0..base_len` in `base` (if any), the rest in `tail`.
///
/// ```
/// use vectrove_core::store::LayeredStore;
/// use vectrove_core::{FeatureStore, FeatureStoreMut, MemoryStore};
///
/// let base = MemoryStore::from_flat(2, &[1.0, 2.0])?;
/// let mut s = LayeredStore::over(base)?;
/// assert_eq!(s.push(&[3.0, 4.0])?, 1);
/// assert_eq!((s.len(), s.tail_len()), (2, 1));
/// # Ok::<(), vectrove_core::Error>(())
/// ```
pub struct LayeredStore<B: FeatureStore> {
    base: Option<B>,
    base_len: usize,
    tail: MemoryStore<B::Elem>,
}

impl<B: FeatureStore> LayeredStore<B> {
    /// All vectors in memory, no base.
    pub fn memory(tail: MemoryStore<B::Elem>) -> Self {
        Self {
            base: None,
            base_len: 0,
            tail,
        }
    }

    /// The vectors of `base`, with room for more in memory after them,
    /// kept as the base keeps its own (`f16`, say).
    pub fn over(base: B) -> Result<Self> {
        Ok(Self {
            base_len: base.len(),
            tail: MemoryStore::with_type(base.dim(), base.vector_type())?,
            base: Some(base),
        })
    }

    /// The base store, if there is one.
    pub fn base(&self) -> Option<&B> {
        self.base.as_ref()
    }

    /// Vectors added in memory after the base's.
    pub fn tail_len(&self) -> usize {
        self.tail.len()
    }
}

impl<B: FeatureStore> FeatureStore for LayeredStore<B> {
    type Elem = B::Elem;

    fn dim(&self) -> usize {
        self.tail.dim()
    }

    fn len(&self) -> usize {
        self.base_len + self.tail.len()
    }

    #[inline]
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[B::Elem]) -> R) -> Result<Access<R>> {
        match &self.base {
            Some(base) if (slot as usize) < self.base_len => base.with_vector(slot, f),
            Some(_) => match self.tail.with_vector(slot - self.base_len as u32, f) {
                Err(Error::SlotOutOfRange { .. }) => Err(Error::SlotOutOfRange {
                    slot,
                    len: self.len(),
                }),
                other => other,
            },
            None => self.tail.with_vector(slot, f),
        }
    }

    fn with_vectors(
        &self,
        slots: &[u32],
        mut f: impl FnMut(u32, &[B::Elem]),
        missing: &mut Vec<u32>,
    ) -> Result<()> {
        match &self.base {
            None => self.tail.with_vectors(slots, f, missing),
            Some(base) if self.tail.is_empty() => base.with_vectors(slots, f, missing),
            Some(_) => {
                for &slot in slots {
                    if let Access::Missing = self.with_vector(slot, |v| f(slot, v))? {
                        missing.push(slot);
                    }
                }
                Ok(())
            }
        }
    }

    fn prefetch(&self, slots: &[u32]) {
        match &self.base {
            None => self.tail.prefetch(slots),
            Some(base) if self.tail.is_empty() => base.prefetch(slots),
            Some(_) => {}
        }
    }

    fn may_miss(&self) -> bool {
        self.base.as_ref().is_some_and(|b| b.may_miss())
    }

    fn vector_type(&self) -> VectorType {
        self.tail.vector_type()
    }

    fn byte_source(&self) -> Option<&dyn crate::store::ByteSource> {
        self.base.as_ref().and_then(FeatureStore::byte_source)
    }
}

impl<B: FeatureStore> FeatureStoreMut for LayeredStore<B> {
    fn push(&mut self, v: &[B::Elem]) -> Result<u32> {
        let slot = self.tail.push(v)?;
        Ok(slot + self.base_len as u32)
    }

    fn truncate(&mut self, len: usize) -> Result<()> {
        self.tail.truncate(len.saturating_sub(self.base_len))
    }

    fn reserve(&mut self, additional: usize) {
        self.tail.reserve(additional);
    }
}

/// A whole index read into memory has no base.
impl<B: FeatureStore> From<MemoryStore<B::Elem>> for LayeredStore<B> {
    fn from(tail: MemoryStore<B::Elem>) -> Self {
        Self::memory(tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_on_from_the_base_into_the_tail() {
        let base = MemoryStore::from_flat(2, &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let mut s = LayeredStore::over(base).unwrap();
        assert_eq!(s.push(&[5.0, 6.0]).unwrap(), 2);
        let mut seen = Vec::new();
        let mut missing = Vec::new();
        s.with_vectors(&[2, 0, 1], |slot, v| seen.push((slot, v[0])), &mut missing)
            .unwrap();
        assert_eq!(seen, [(2, 5.0), (0, 1.0), (1, 3.0)]);
        assert!(missing.is_empty());
        assert!(matches!(
            s.with_vector(3, |_| ()),
            Err(Error::SlotOutOfRange { slot: 3, len: 3 })
        ));
        s.truncate(2).unwrap();
        assert_eq!((s.len(), s.tail_len()), (2, 0));
        assert!(!s.may_miss());
    }
}
