//! A page cache with a byte budget, shared by every byte-addressed backend.
// (interface stub; implementation lands with its tests)

use std::sync::Arc;

use crate::error::Result;

/// One cached page: an immutable, 64-byte aligned byte buffer.
#[derive(Clone, Debug)]
pub struct Page(Arc<[u8]>);

impl std::ops::Deref for Page {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Counters of a [`PageCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found their page.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Pages dropped to stay within the budget.
    pub evictions: u64,
    /// Bytes of the pages held now.
    pub resident_bytes: usize,
    /// Pages held now.
    pub resident_pages: usize,
}

/// A page cache.
#[derive(Debug)]
pub struct PageCache {
    page_size: usize,
    budget: usize,
}

impl PageCache {
    /// A cache of `page_size`-byte pages holding at most `budget_bytes`.
    pub fn new(page_size: usize, budget_bytes: usize) -> Result<Self> {
        Ok(Self {
            page_size,
            budget: budget_bytes,
        })
    }
    /// Page size in bytes.
    pub fn page_size(&self) -> usize {
        self.page_size
    }
    /// Budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }
}
