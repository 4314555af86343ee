//! Where a new version of a stored index is written before it replaces the
//! old one: an OPFS temporary file or a new IndexedDB generation. Imports
//! and saves both write through it, and it commits or discards.
//!
//! Every writer of a stored name (a save, an import, a removal) holds that
//! name's Web Lock while it runs (`vectrove:opfs/<name>` or
//! `vectrove:idb/<name>`), so writers in other tabs and workers wait for
//! each other instead of interleaving; a tab or worker that dies lets go of
//! its locks. Without the Web Locks API the stores still stay whole:
//! IndexedDB commits check what they replace, and OPFS writers never share
//! a temporary file.

use js_sys::Function;
use wasm_bindgen::{JsCast, JsValue};

use crate::errors::{js_error, name};
use crate::idb::IdbWriter;
use crate::opfs::TmpWriter;
use crate::options::JsResult;

/// The Web Lock of one stored name, held until dropped: the release
/// function the JS side got with it (none without the Web Locks API).
#[derive(Default)]
pub(crate) struct NameLock(Option<Function>);

impl NameLock {
    pub(crate) fn new(release: JsValue) -> NameLock {
        NameLock(release.dyn_into().ok())
    }
}

impl Drop for NameLock {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }
}

/// Where a new version of a stored index is being written.
pub(crate) enum Sink {
    Opfs(TmpWriter),
    Idb(IdbWriter),
}

impl Sink {
    /// The next bytes of the file (for IndexedDB: of the vectors).
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> JsResult<()> {
        match self {
            Sink::Opfs(w) => write_tmp(w, bytes),
            Sink::Idb(w) => w.write(bytes).await,
        }
    }

    /// Put the new version in place if everything was written, else delete
    /// what was (the previous version stays either way on failure).
    pub(crate) async fn finish(self, written: JsResult<()>) -> JsResult<()> {
        match (self, written) {
            (Sink::Opfs(mut w), Ok(())) => {
                let committed = w.commit().await;
                if committed.is_err() {
                    w.discard().await;
                }
                committed
            }
            (Sink::Idb(w), Ok(())) => w.commit().await,
            (Sink::Opfs(w), Err(e)) => {
                w.discard().await;
                Err(e)
            }
            (Sink::Idb(w), Err(e)) => {
                w.discard().await;
                Err(e)
            }
        }
    }
}

pub(crate) fn write_tmp(w: &mut TmpWriter, bytes: &[u8]) -> JsResult<()> {
    use std::io::Write;
    w.write_all(bytes).map_err(|e| {
        w.failed
            .take()
            .unwrap_or_else(|| js_error(name::STORAGE, e.to_string()))
    })
}
