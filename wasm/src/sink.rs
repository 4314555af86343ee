//! Where a new version of a stored index is written before it replaces the
//! old one: an OPFS temporary file or a new IndexedDB generation. Imports
//! and saves both write through it, and it commits or discards.

use crate::errors::{js_error, name};
use crate::idb::IdbWriter;
use crate::opfs::TmpWriter;
use crate::options::JsResult;

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
            (Sink::Opfs(w), Ok(())) => w.commit().await,
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
