//! A store over any byte-addressed source, read through the page cache.
// (interface stub; implementation lands with its tests)

use crate::error::Result;

/// The outcome of a read from a [`ByteSource`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceRead {
    /// The buffer was filled.
    Done,
    /// The source is asynchronous and cannot read now.
    Pending,
}

/// Bytes addressed by offset: a file, an OPFS sync handle, IndexedDB chunks.
pub trait ByteSource {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fill `buf` from `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead>;
}

/// Vectors in a byte source.
#[derive(Debug)]
pub struct PagedStore<B> {
    source: B,
}

impl<B: ByteSource> PagedStore<B> {
    /// The source.
    pub fn source(&self) -> &B {
        &self.source
    }
}
