//! The store behind every JS index: the core's layered store over a lazily
//! read base (OPFS, IndexedDB pages, a file over HTTP or on Node's file system, through the page
//! cache), or vectors in memory alone.

use std::sync::Arc;

use vectrove_core::Result;
use vectrove_core::remote::RemoteFile;
use vectrove_core::store::{ByteSource, LayeredStore, PagedStore, SourceRead};

use crate::idb::IdbSource;
use crate::nodefs::NodeFile;
use crate::opfs::OpfsSource;

/// Where a lazily opened index reads its vectors.
pub(crate) enum Source {
    Opfs(OpfsSource),
    Idb(IdbSource),
    Http(Arc<RemoteFile>),
    /// An index file under Node (storage "file").
    File(NodeFile),
}

impl ByteSource for Source {
    fn len(&self) -> u64 {
        match self {
            Source::Opfs(s) => s.len(),
            Source::Idb(s) => s.len(),
            Source::Http(s) => s.len(),
            Source::File(s) => s.len(),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        match self {
            Source::Opfs(s) => s.read_at(offset, buf),
            Source::Idb(s) => s.read_at(offset, buf),
            Source::Http(s) => s.read_at(offset, buf),
            Source::File(s) => s.read_at(offset, buf),
        }
    }

    fn is_async(&self) -> bool {
        !matches!(self, Source::Opfs(_) | Source::File(_))
    }
}

/// Vectors in memory, or a lazily read base with the vectors added since
/// after it.
pub(crate) type Store = LayeredStore<PagedStore<Source, f32>>;
