//! Opening an index file of either kind (HNSW or IVF) and element type, and
//! searching it through one interface.

use std::path::Path;

use vectrove::data::Matrix;
use vectrove::file::{self, FileStore, OpenOptions, Storage};
use vectrove::{Element, FeatureStore, Hnsw, Ivf, Neighbor};

use crate::error::{CliResult, fail, with_context};

/// An opened index of either element type.
pub enum AnyIndex {
    F32(Hnsw<FileStore<f32>>),
    U8(Hnsw<FileStore<u8>>),
    Ivf(Ivf<FileStore<f32>>),
}

/// Opens `path` as the kind and element type its header names.
pub fn open_any(path: &Path, storage: Storage) -> CliResult<AnyIndex> {
    let header = with_context(file::read_header(path), path)?;
    let opts = OpenOptions::new(storage);
    Ok(if header.kind == vectrove::format::IndexKind::Ivf {
        AnyIndex::Ivf(with_context(file::open_ivf_with(path, opts), path)?)
    } else if header.elem == u8::CODE {
        AnyIndex::U8(with_context(file::open_with(path, opts), path)?)
    } else {
        AnyIndex::F32(with_context(file::open_with(path, opts), path)?)
    })
}

/// Queries in the element type of an index.
pub enum AnyQueries {
    F32(Matrix<f32>),
    U8(Matrix<u8>),
}

/// Run `$body` with `$ix` bound to the typed index and `$q` to the queries
/// read in its element type.
macro_rules! typed {
    ($any:expr, $queries:expr, $limit:expr, |$ix:ident, $q:ident| $body:expr) => {
        match $any {
            $crate::open::AnyIndex::F32($ix) => {
                let $q = vectrove::data::read_f32($queries, $limit)?;
                $body
            }
            $crate::open::AnyIndex::Ivf($ix) => {
                let $q = vectrove::data::read_f32($queries, $limit)?;
                $body
            }
            $crate::open::AnyIndex::U8($ix) => {
                let $q = vectrove::data::read_u8($queries, $limit)?;
                $body
            }
        }
    };
}
// A path to the macro, so the commands import it like any other item.
pub(crate) use typed;

/// What search and bench need of an index: its dimension and a search with
/// one speed/recall knob (ef for HNSW, nprobe for IVF).
pub trait Searchable: Sync {
    type Elem: Element;
    /// Name of the knob.
    const KNOB: &'static str;
    fn dim(&self) -> usize;
    fn search_with(
        &self,
        q: &[Self::Elem],
        k: usize,
        knob: usize,
    ) -> vectrove::Result<Vec<Neighbor>>;
}

impl<S: FeatureStore + Sync> Searchable for Hnsw<S> {
    type Elem = S::Elem;
    const KNOB: &'static str = "ef";
    fn dim(&self) -> usize {
        Hnsw::dim(self)
    }
    fn search_with(&self, q: &[S::Elem], k: usize, ef: usize) -> vectrove::Result<Vec<Neighbor>> {
        self.search(q, k, ef)
    }
}

impl<S: FeatureStore<Elem = f32> + Sync> Searchable for Ivf<S> {
    type Elem = f32;
    const KNOB: &'static str = "nprobe";
    fn dim(&self) -> usize {
        Ivf::dim(self)
    }
    fn search_with(&self, q: &[f32], k: usize, nprobe: usize) -> vectrove::Result<Vec<Neighbor>> {
        self.search(q, k, nprobe)
    }
}

/// Refuses queries of another dimension than the index's, or none at all.
pub fn check_queries<I: Searchable>(ix: &I, q: &Matrix<I::Elem>, path: &Path) -> CliResult<()> {
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
