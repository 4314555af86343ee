//! The search of an index whose store answers asynchronously (IndexedDB
//! pages, a file over HTTP): the core's one resumable search of either
//! kind, and whenever a step lacks bytes, one fetch of all of them (one
//! IndexedDB read transaction, or one batch of HTTP range requests), then
//! the same search goes on where it stopped.
//!
//! Both storages share this one loop, so the search code under it is
//! compiled once for the package.

use vectrove_core::hnsw::Step;
use vectrove_core::remote::AnySearch;
use vectrove_core::store::{ByteSource, LayeredStore, PagedStore};
use vectrove_core::{AnyIndex, Error, Neighbor, Result};

use crate::http::HttpLink;
use crate::idb::IdbLink;
use crate::options::{JsFilter, SearchArgs};

/// Where an index's missing bytes come from.
#[derive(Clone, Copy)]
pub(crate) enum Lazy<'a> {
    Idb(&'a IdbLink),
    Http(&'a HttpLink),
}

/// How many of a search's best candidates an IndexedDB fetch looks ahead
/// to: their neighbours' vectors come along with the vectors a step lacks.
const LOOKAHEAD: usize = 8;

/// Fetches in a row that bring nothing before a search gives up (as
/// `remote::search` does): only a cache too small for one step's bytes
/// gets there.
const MAX_IDLE_ROUNDS: u32 = 3;

/// Search `index`, whose lazily read base is `store`, fetching through
/// `lazy`. Returns the hits and the number of fetches (dependent rounds).
///
/// IndexedDB: on an index with codes the walk never lacks anything (the
/// codes are resident), so only the final rerank reads vectors, in one
/// transaction, and nothing is fetched ahead for it; an HNSW walk on
/// vectors fetches the neighbours of its next candidates along; an IVF scan
/// lacks a round's probed lists at once. HTTP: what a step lacks (vector
/// pages, and an IVF file's codes, which stay in the file) goes out as one
/// batch of ranges, checked against the file's checksums as it arrives.
pub(crate) async fn search<B: ByteSource>(
    index: &AnyIndex<LayeredStore<PagedStore<B, f32>>>,
    store: &PagedStore<B, f32>,
    lazy: Lazy<'_>,
    query: &[f32],
    a: &SearchArgs,
    filter: &JsFilter,
) -> Result<(Vec<Neighbor>, u64)> {
    let mut state = index.start_search_with(query, a.k, &a.params)?;
    let (mut fetches, mut idle) = (0, 0);
    let mut ahead = Vec::new();
    while let Step::Missing = index.resume(&mut state, |id| filter.accept(id))? {
        let fetched = match lazy {
            Lazy::Idb(link) => {
                ahead.clear();
                if let (AnyIndex::Hnsw(h), AnySearch::Hnsw(s)) = (index, &state)
                    && !h.is_quantized()
                {
                    let level = s.level();
                    for node in s.upcoming(LOOKAHEAD) {
                        if let Some(nb) = h.neighbors(node, level) {
                            ahead.extend_from_slice(nb);
                        }
                    }
                }
                // IndexedDB keeps everything but the vectors in the index's
                // record, so only vectors can be missing.
                link.fetch(store, state.missing(), &ahead).await?;
                !state.missing().is_empty()
            }
            Lazy::Http(link) => {
                let mut ranges = state.missing_ranges().to_vec();
                for p in store.pages_for(state.missing()) {
                    ranges.push(p.offset..p.offset + p.len as u64);
                }
                let got = link.remote.fetch_missing(&link.http, &ranges).await;
                got.map_err(|e| match e {
                    // The batch outgrew the cache before the step could read it.
                    Error::FetchIncomplete { .. } => Error::Storage {
                        message: "one search step needs more of the file than the cache holds: \
                                  open the index with a larger cacheBytes"
                            .into(),
                    },
                    e => e,
                })?
                .requests
                    > 0
            }
        };
        fetches += 1;
        idle = if fetched { 0 } else { idle + 1 };
        if idle >= MAX_IDLE_ROUNDS {
            return Err(Error::FetchIncomplete {
                count: state.missing().len() + state.missing_ranges().len(),
            });
        }
    }
    Ok((index.finish_search(state), fetches))
}
