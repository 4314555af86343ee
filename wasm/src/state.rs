//! The state behind a JS `Index`: either kind of index over the store
//! every JS index uses, where it is stored, and what a lazily read one needs.

use std::cell::Cell;

use vectrove_core::AnyIndex;

use crate::http::HttpLink;
use crate::idb::IdbLink;
use crate::options::Storage;
use crate::store::Store;

/// Either kind of index over the store every JS index uses.
pub(crate) type Engine = AnyIndex<Store>;

/// The default cache budget of lazily read indexes.
pub(crate) const DEFAULT_CACHE_BYTES: usize = 32 << 20;

/// The state behind a JS `Index`: the index, where it lives, and what a
/// lazily read one needs.
pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) storage: Storage,
    pub(crate) name: Option<String>,
    pub(crate) cache_bytes: usize,
    pub(crate) idb: Option<IdbLink>,
    pub(crate) http: Option<HttpLink>,
    /// Fetch rounds of the asynchronous searches so far (counted through
    /// the shared borrow a search holds).
    pub(crate) fetches: Cell<u64>,
}

impl Inner {
    /// An index in memory, not stored anywhere yet.
    pub(crate) fn memory(engine: Engine) -> Inner {
        Inner {
            engine,
            storage: Storage::Memory,
            name: None,
            cache_bytes: DEFAULT_CACHE_BYTES,
            idb: None,
            http: None,
            fetches: Cell::new(0),
        }
    }
}
