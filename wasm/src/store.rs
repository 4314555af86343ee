//! The store behind every JS index: vectors in memory, or a lazily read
//! base (OPFS or IndexedDB pages through the page cache) with the vectors
//! added since it was opened kept in memory after it.

use vectrove_core::store::{ByteSource, PagedStore, SourceRead};
use vectrove_core::{Access, FeatureStore, FeatureStoreMut, MemoryStore, Result};

use crate::idb::IdbSource;
use crate::opfs::OpfsSource;

/// Where a lazily opened index reads its vectors.
pub(crate) enum Source {
    Opfs(OpfsSource),
    Idb(IdbSource),
}

impl ByteSource for Source {
    fn len(&self) -> u64 {
        match self {
            Source::Opfs(s) => s.len(),
            Source::Idb(s) => s.len(),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        match self {
            Source::Opfs(s) => s.read_at(offset, buf),
            Source::Idb(s) => s.read_at(offset, buf),
        }
    }

    fn is_async(&self) -> bool {
        matches!(self, Source::Idb(_))
    }
}

/// Vectors `0..base_len` in `base` (if any), the rest in `tail`.
pub(crate) struct Store {
    pub(crate) base: Option<PagedStore<Source, f32>>,
    base_len: usize,
    tail: MemoryStore<f32>,
}

impl Store {
    pub(crate) fn memory(tail: MemoryStore<f32>) -> Store {
        Store {
            base: None,
            base_len: 0,
            tail,
        }
    }

    pub(crate) fn lazy(base: PagedStore<Source, f32>) -> Result<Store> {
        Ok(Store {
            base_len: base.len(),
            tail: MemoryStore::new(base.dim())?,
            base: Some(base),
        })
    }

    /// Vectors added in memory after the lazily read ones.
    pub(crate) fn tail_len(&self) -> usize {
        self.tail.len()
    }
}

impl FeatureStore for Store {
    type Elem = f32;

    fn dim(&self) -> usize {
        self.tail.dim()
    }

    fn len(&self) -> usize {
        self.base_len + self.tail.len()
    }

    #[inline]
    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[f32]) -> R) -> Result<Access<R>> {
        match &self.base {
            Some(base) if (slot as usize) < self.base_len => base.with_vector(slot, f),
            Some(_) => match self.tail.with_vector(slot - self.base_len as u32, f) {
                Err(vectrove_core::Error::SlotOutOfRange { .. }) => {
                    Err(vectrove_core::Error::SlotOutOfRange {
                        slot,
                        len: self.len(),
                    })
                }
                other => other,
            },
            None => self.tail.with_vector(slot, f),
        }
    }

    fn with_vectors(
        &self,
        slots: &[u32],
        mut f: impl FnMut(u32, &[f32]),
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
}

impl FeatureStoreMut for Store {
    fn push(&mut self, v: &[f32]) -> Result<u32> {
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
