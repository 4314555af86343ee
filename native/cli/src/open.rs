//! Opening an index file of either kind (HNSW or IVF) in the element type
//! its header names: the core's [`AnyIndex`] over the file's store, once for
//! `f32` vectors and once for `u8` codes.

use std::path::Path;

use vectrove::data::Matrix;
use vectrove::file::{self, FileStore, OpenOptions, Storage};
use vectrove::format::IndexKind;
use vectrove::{AnyIndex, Element, FeatureStore, SearchParams};

use crate::error::{CliResult, fail, with_context};

/// An opened index, in its file's element type.
pub enum Opened {
    F32(AnyIndex<FileStore<f32>>),
    U8(AnyIndex<FileStore<u8>>),
}

/// Opens `path` as the kind and element type its header names.
pub fn open_any(path: &Path, storage: Storage) -> CliResult<Opened> {
    let header = with_context(file::read_header(path), path)?;
    let opts = OpenOptions::new(storage);
    Ok(if header.elem == u8::CODE {
        Opened::U8(with_context(file::open_any(path, opts), path)?)
    } else {
        Opened::F32(with_context(file::open_any(path, opts), path)?)
    })
}

/// Run `$body` with `$ix` bound to the typed index and `$q` to the queries
/// read in its element type.
macro_rules! typed {
    ($any:expr, $queries:expr, $limit:expr, |$ix:ident, $q:ident| $body:expr) => {
        match $any {
            $crate::open::Opened::F32($ix) => {
                let $q = $crate::input::read_f32($queries, $crate::input::Role::Queries, $limit)?;
                $body
            }
            $crate::open::Opened::U8($ix) => {
                let $q = $crate::input::read_u8($queries, $crate::input::Role::Queries, $limit)?;
                $body
            }
        }
    };
}
// A path to the macro, so the commands import it like any other item.
pub(crate) use typed;

/// The name of the one speed/recall knob of `ix`'s kind.
pub fn knob_name<S: FeatureStore>(ix: &AnyIndex<S>) -> &'static str {
    match ix.kind() {
        IndexKind::Hnsw => "ef",
        IndexKind::Ivf => "nprobe",
    }
}

/// Search parameters with the knob at `knob` (each kind reads its own),
/// and `rerank` candidates reranked on an index with codes (0: the default).
pub fn knob_params(knob: usize, rerank: usize) -> SearchParams {
    SearchParams {
        ef: knob,
        nprobe: knob,
        rerank,
    }
}

/// Refuses queries of another dimension than the index's, or none at all.
pub fn check_queries<S: FeatureStore>(
    ix: &AnyIndex<S>,
    q: &Matrix<S::Elem>,
    path: &Path,
) -> CliResult<()> {
    if q.dim != ix.dim() {
        return fail(format!(
            "{}: queries have dimension {}, the index {}",
            path.display(),
            q.dim,
            ix.dim()
        ));
    }
    if q.is_empty() {
        return fail(format!("{}: no queries", path.display()));
    }
    Ok(())
}
