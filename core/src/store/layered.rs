//! A store of two layers: an opened base (a file read lazily, a map, a
//! browser store) holding the vectors an index was opened with, and the
//! vectors added since, in memory after them. It lets an index opened from
//! any read-only store take inserts; saving writes both layers as one file.

use crate::error::{Error, Result};
use crate::store::{Access, FeatureStore, FeatureStoreMut, MemoryStore, RowSlice, VectorType};

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

impl<B: FeatureStore + std::fmt::Debug> std::fmt::Debug for LayeredStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayeredStore")
            .field("base", &self.base)
            .field("tail_len", &self.tail.len())
            .finish()
    }
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

    /// The vectors added after the base's, in memory.
    pub fn tail(&self) -> &MemoryStore<B::Elem> {
        &self.tail
    }

    /// The base and the tail, giving up the store.
    pub fn into_parts(self) -> (Option<B>, MemoryStore<B::Elem>) {
        (self.base, self.tail)
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

    /// Each run of consecutive slots in one layer is one call of that
    /// layer's `with_vectors`, so a paged base still reads a step's
    /// vectors in one go.
    fn with_vectors(
        &self,
        slots: &[u32],
        mut f: impl FnMut(u32, &[B::Elem]),
        missing: &mut Vec<u32>,
    ) -> Result<()> {
        let Some(base) = &self.base else {
            return self.tail.with_vectors(slots, f, missing);
        };
        if self.tail.is_empty() {
            return base.with_vectors(slots, f, missing);
        }
        let in_base = |s: &u32| (*s as usize) < self.base_len;
        let offset = self.base_len as u32;
        let mut rest = slots;
        while let Some(first) = rest.first() {
            let base_run = in_base(first);
            let n = rest
                .iter()
                .position(|s| in_base(s) != base_run)
                .unwrap_or(rest.len());
            let (run, after) = rest.split_at(n);
            if base_run {
                base.with_vectors(run, &mut f, missing)?;
            } else {
                for &slot in run {
                    let got = self.tail.with_vector(slot - offset, |v| f(slot, v));
                    match got {
                        Ok(_) => {}
                        Err(Error::SlotOutOfRange { .. }) => {
                            return Err(Error::SlotOutOfRange {
                                slot,
                                len: self.len(),
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            rest = after;
        }
        Ok(())
    }

    fn prefetch(&self, slots: &[u32]) {
        match &self.base {
            None => self.tail.prefetch(slots),
            Some(base) if self.tail.is_empty() => base.prefetch(slots),
            // A hint only: the base's share is the one worth giving.
            Some(base) => {
                if slots.iter().all(|&s| (s as usize) < self.base_len) {
                    base.prefetch(slots);
                }
            }
        }
    }

    /// The rows of whichever layer holds every vector: all of them while
    /// nothing was added to a base that keeps rows, or the tail of a store
    /// with no base. Once both layers hold vectors, none (searches read
    /// through [`with_vectors`](FeatureStore::with_vectors)).
    fn rows(&self) -> Option<RowSlice<'_, B::Elem>> {
        match &self.base {
            None => self.tail.rows(),
            Some(base) if self.tail.is_empty() => base.rows(),
            Some(_) => None,
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

    /// Counts the base's batched reads.
    struct Counting(MemoryStore, std::cell::Cell<usize>);

    impl FeatureStore for Counting {
        type Elem = f32;
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[f32]) -> R) -> Result<Access<R>> {
            self.0.with_vector(slot, f)
        }
        fn with_vectors(
            &self,
            slots: &[u32],
            f: impl FnMut(u32, &[f32]),
            missing: &mut Vec<u32>,
        ) -> Result<()> {
            self.1.set(self.1.get() + 1);
            self.0.with_vectors(slots, f, missing)
        }
        fn rows(&self) -> Option<RowSlice<'_, f32>> {
            self.0.rows()
        }
    }

    #[test]
    fn runs_of_base_slots_are_read_in_one_call_and_rows_cover_every_slot() {
        let base = MemoryStore::from_flat(1, &[0.0, 1.0, 2.0, 3.0]).unwrap();
        let mut s = LayeredStore::over(Counting(base, Default::default())).unwrap();
        assert_eq!(s.rows().map(|r| r.len()), Some(4));
        s.push(&[4.0]).unwrap();
        s.push(&[5.0]).unwrap();
        // Rows would leave the tail out.
        assert!(s.rows().is_none());
        let mut seen = Vec::new();
        let mut missing = Vec::new();
        s.with_vectors(
            &[0, 1, 4, 5, 2, 3, 1],
            |i, v| seen.push((i, v[0])),
            &mut missing,
        )
        .unwrap();
        let want = [0, 1, 4, 5, 2, 3, 1].map(|i| (i, i as f32));
        assert_eq!(seen, want);
        assert_eq!(s.base().unwrap().1.get(), 2);
        assert!(matches!(
            s.with_vectors(&[1, 6], |_, _| (), &mut missing),
            Err(Error::SlotOutOfRange { slot: 6, len: 6 })
        ));
        // With no base, the tail's rows are every slot.
        let only: LayeredStore<MemoryStore> =
            LayeredStore::memory(MemoryStore::from_flat(1, &[7.0]).unwrap());
        assert_eq!(only.rows().map(|r| r.len()), Some(1));
    }
}
