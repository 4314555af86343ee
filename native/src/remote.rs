//! Searching an index file where it is published — a static HTTP(S) host,
//! a CDN, S3, GCS or Azure — by range requests, reading only the bytes a
//! query needs (feature `remote`).
//!
//! [`RemoteIndex::open`] takes an `http://` or `https://` URL;
//! [`RemoteIndex::open_store`] takes any [`ObjectStore`] and a path in it,
//! so an S3, GCS or Azure store built by `object_store` (with its own
//! credentials) plugs in the same way. Opening reads the file's first
//! 64 KiB and the rest of its metadata (the graph or the inverted lists,
//! the ids, the checksums) in a few round trips; every search then fetches
//! the vectors (and, for IVF with codes, the probed lists' codes) it lacks,
//! all the ranges of one step at once, and keeps them in a bounded cache of
//! checksum-verified blocks.
//!
//! The file is pinned when it is opened: its length and its `ETag` (else
//! its `Last-Modified`) go with every later request (`If-Match` /
//! `If-Unmodified-Since`), and every answer must be exactly the bytes
//! asked for, of a file of that length. Whatever goes wrong is an
//! [`Error::Remote`] whose [`RemoteFailure`] says what:
//!
//! | what happened | failure |
//! |---|---|
//! | the file changed since it was opened (`412`, another `ETag`, length or modification time) | [`RemoteFailure::Changed`]: open it again |
//! | the server ignores `Range` (`200` with the whole file, or no `Content-Range`) | [`RemoteFailure::RangeIgnored`] |
//! | a body shorter or longer than the range, other bytes than asked for | [`RemoteFailure::Length`] |
//! | any other `4xx` / `5xx` (`404` too) | [`RemoteFailure::Status`] |
//! | no answer within [`RemoteOptions::timeout`] | [`RemoteFailure::Timeout`] |
//! | connection refused or reset, DNS | [`RemoteFailure::Network`] |
//!
//! A failed search caches nothing it could not verify: the next search
//! (once the server is fixed) works, except after
//! [`RemoteFailure::Changed`], which every later request meets again.
//!
//! The API is blocking: a [`RemoteIndex`] owns a small tokio runtime that
//! runs its requests (call it from ordinary threads, several at once if
//! you like). From async code use the `_async` methods, which run on that
//! same runtime and can be awaited from any executor.
//!
//! ```no_run
//! use vectrove::SearchParams;
//! use vectrove::remote::{RemoteIndex, RemoteOptions};
//!
//! let index = RemoteIndex::open("https://example.com/embeddings.vtrv", RemoteOptions::default())?;
//! let query = vec![0.0f32; index.dim()];
//! let (hits, trips) = index.search_with_trips(&query, 10, &SearchParams::default())?;
//! println!("{} hits in {} round trips ({} bytes)", hits.len(), trips.rounds, trips.bytes);
//! # Ok::<(), vectrove::Error>(())
//! ```

use std::error::Error as StdError;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::future::try_join_all;
use object_store::client::{HttpError, HttpErrorKind};
use object_store::http::HttpBuilder;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, GetResultPayload, ObjectStore, RetryConfig,
};
use tokio::runtime::Runtime;
use vectrove_core::format::Header;
use vectrove_core::remote;
/// The core's side of remote reading, for code that drives it itself.
pub use vectrove_core::remote::{
    Coalesce, Fetch, PREFIX_BYTES, RemoteFile, RemoteStats, Trips, open as open_file,
    search as search_file,
};
use vectrove_core::store::PagedStore;
use vectrove_core::{AnyIndex, Element, Error, Neighbor, RemoteFailure, Result, SearchParams};

/// How a [`RemoteIndex`] reads its file.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// Bytes of the file kept in memory between searches: three quarters
    /// for verified blocks of vectors and codes as fetched, a quarter for
    /// decoded pages of vectors (64 MiB by default). The metadata read at
    /// opening (graph, lists, ids) is held besides, in full. At least
    /// [`MIN_CACHE_BYTES`]; a search whose one step reads more than the
    /// cache holds fails with [`Error::InvalidParameter`].
    pub cache_bytes: usize,
    /// How long one request may take, its body included, before it fails
    /// with [`RemoteFailure::Timeout`] (30 s by default). Also bounds the
    /// time spent retrying it.
    pub timeout: Duration,
    /// Retries of a request that met a `5xx` status, a refused connection
    /// or a timeout, after a short pause (1 by default; `4xx` answers are
    /// never retried).
    pub retries: usize,
    /// How the blocks one search step lacks become requests (see
    /// [`Coalesce`]); natively up to 16 requests go out at once.
    pub coalesce: Coalesce,
    /// Options of the HTTP client that [`RemoteIndex::open`] builds
    /// (headers, proxy, certificates); its timeouts are set from
    /// [`timeout`](Self::timeout), and plain `http://` is allowed.
    pub client: ClientOptions,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 64 << 20,
            timeout: Duration::from_secs(30),
            retries: 1,
            coalesce: Coalesce {
                max_requests: 16,
                ..Coalesce::default()
            },
            client: ClientOptions::new(),
        }
    }
}

impl RemoteOptions {
    /// The retry policy of these options: at most [`retries`](Self::retries)
    /// quick retries, none once [`timeout`](Self::timeout) has passed.
    fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(500),
                base: 2.0,
            },
            max_retries: self.retries,
            retry_timeout: self.timeout,
        }
    }
}

/// What a file was pinned to when it was opened.
#[derive(Clone, Debug)]
struct Pin {
    len: u64,
    etag: Option<String>,
    modified: Option<DateTime<Utc>>,
}

/// A [`Fetch`] over an [`ObjectStore`]: byte ranges of one object, pinned
/// to the version the first request saw. Each range is one `GET` with a
/// `Range` header (and `If-Match` or `If-Unmodified-Since`); the ranges of
/// one call go out concurrently.
///
/// [`RemoteIndex`] uses it; it is public for code that drives
/// [`vectrove_core::remote`] itself.
#[derive(Debug)]
pub struct ObjectFetch {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// The file as messages name it (its URL for an HTTP store).
    name: String,
    pin: Pin,
    calls: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// Requests and bytes a transport sent and received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Batches (calls of [`Fetch::fetch`], and the first request).
    pub rounds: u64,
    /// Requests.
    pub requests: u64,
    /// Body bytes received.
    pub bytes: u64,
}

impl ObjectFetch {
    /// Reads the first [`remote::PREFIX_BYTES`] of `path` in `store` and
    /// pins the object: its length, and its `ETag` or else its modification
    /// time. Returns the transport and those first bytes. `name` is how
    /// errors name the file.
    pub async fn connect(
        store: Arc<dyn ObjectStore>,
        path: Path,
        name: impl Into<String>,
    ) -> Result<(Self, Vec<u8>)> {
        let name = name.into();
        let options = GetOptions {
            range: Some(GetRange::Bounded(0..remote::PREFIX_BYTES)),
            ..GetOptions::default()
        };
        let got = store
            .get_opts(&path, options)
            .await
            .map_err(|e| map_error(&e, &name, Phase::Head))?;
        let len = got.meta.size;
        let want = 0..len.min(remote::PREFIX_BYTES);
        if got.range != want {
            return Err(wrong_range(&name, &want, &got.range));
        }
        // A modification time of 0 is object_store's "none given".
        let modified = Some(got.meta.last_modified).filter(|t| t.timestamp() != 0);
        let pin = Pin {
            len,
            etag: got.meta.e_tag.clone(),
            modified,
        };
        let first = read_body(got.payload, want.end - want.start, &name, &want).await?;
        let fetch = Self {
            store,
            path,
            name,
            pin,
            calls: AtomicU64::new(1),
            requests: AtomicU64::new(1),
            bytes: AtomicU64::new(first.len() as u64),
        };
        Ok((fetch, first))
    }

    /// The object's length, as pinned.
    pub fn len(&self) -> u64 {
        self.pin.len
    }

    /// Whether the object is empty (it never is for an index file).
    pub fn is_empty(&self) -> bool {
        self.pin.len == 0
    }

    /// The `ETag` the object was pinned to, if the server sent one.
    pub fn etag(&self) -> Option<&str> {
        self.pin.etag.as_deref()
    }

    /// The modification time the object was pinned to, if the server sent
    /// one (and no `ETag`, or both).
    pub fn last_modified(&self) -> Option<DateTime<Utc>> {
        self.pin.modified
    }

    /// How errors name the file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What this transport has fetched so far, the first request included.
    pub fn stats(&self) -> FetchStats {
        FetchStats {
            rounds: self.calls.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// One range, exactly.
    async fn get(&self, r: Range<u64>) -> Result<Vec<u8>> {
        if r.start == r.end {
            return Ok(Vec::new());
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(r.clone())),
            if_match: self.pin.etag.clone(),
            if_unmodified_since: if self.pin.etag.is_none() {
                self.pin.modified
            } else {
                None
            },
            ..GetOptions::default()
        };
        let name = &self.name;
        let got = self
            .store
            .get_opts(&self.path, options)
            .await
            .map_err(|e| map_error(&e, name, Phase::Head))?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let meta = &got.meta;
        let changed = |what: String| {
            Err(remote_err(
                RemoteFailure::Changed,
                format!("{name} changed since it was opened ({what}): open it again"),
            ))
        };
        if meta.size != self.pin.len {
            return changed(format!("{} bytes, then {}", self.pin.len, meta.size));
        }
        if let (Some(pinned), Some(now)) = (&self.pin.etag, &meta.e_tag)
            && pinned != now
        {
            return changed(format!("ETag {pinned}, now {now}"));
        }
        if self.pin.etag.is_none()
            && let Some(pinned) = self.pin.modified
            && meta.last_modified.timestamp() != 0
            && meta.last_modified != pinned
        {
            return changed(format!("modified {pinned}, now {}", meta.last_modified));
        }
        if got.range != r {
            return Err(wrong_range(name, &r, &got.range));
        }
        let body = read_body(got.payload, r.end - r.start, name, &r).await?;
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(body)
    }
}

impl Fetch for ObjectFetch {
    async fn fetch(&self, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>> {
        if let Some(r) = ranges
            .iter()
            .find(|r| r.start > r.end || r.end > self.pin.len)
        {
            return Err(Error::InvalidParameter {
                name: "ranges",
                reason: format!(
                    "bytes {}..{} are not in {} ({} bytes)",
                    r.start, r.end, self.name, self.pin.len
                ),
            });
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        try_join_all(ranges.iter().map(|r| self.get(r.clone()))).await
    }
}

/// Collects a body that must be exactly `want` bytes: never more is held
/// than that (a longer body fails as soon as it passes it), and the buffer
/// is sized by the range asked for, not by any header.
async fn read_body(
    payload: GetResultPayload,
    want: u64,
    name: &str,
    r: &Range<u64>,
) -> Result<Vec<u8>> {
    let wrong = |got: u64, more: bool| {
        remote_err(
            RemoteFailure::Length,
            format!(
                "{name}: bytes {}..{}: the answer held {}{got} bytes instead of {want}",
                r.start,
                r.end,
                if more { "more than " } else { "" }
            ),
        )
    };
    let cap = usize::try_from(want).map_err(|_| wrong(0, true))?;
    let mut out = Vec::new();
    out.try_reserve_exact(cap).map_err(|_| Error::Storage {
        message: format!("cannot allocate {want} bytes for a response"),
    })?;
    match payload {
        GetResultPayload::Stream(mut s) => {
            while let Some(chunk) = s.next().await {
                let chunk = chunk.map_err(|e| map_error(&e, name, Phase::Body))?;
                if (out.len() + chunk.len()) as u64 > want {
                    return Err(wrong(want, true));
                }
                out.extend_from_slice(&chunk);
            }
        }
        #[allow(unreachable_patterns)]
        _ => {
            return Err(remote_err(
                RemoteFailure::Network,
                format!("{name}: the store answered with a local file, not a stream"),
            ));
        }
    }
    if out.len() as u64 != want {
        return Err(wrong(out.len() as u64, false));
    }
    Ok(out)
}

fn remote_err(failure: RemoteFailure, message: String) -> Error {
    Error::Remote { failure, message }
}

/// Where a request failed: before its body (status, headers), or reading it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Body,
}

/// The HTTP status an error's chain of sources names, if any
/// (`object_store` keeps it in a type it does not export, and writes it as
/// "status code: 503 Service Unavailable").
fn status_in(e: &(dyn StdError + 'static)) -> Option<u16> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if let Some(i) = text.find("status code: ") {
            let digits: String = text[i + 13..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(code) = digits.parse::<u16>() {
                return Some(code);
            }
        }
        cur = err.source();
    }
    None
}

/// The transport error in an error's chain of sources, if any.
fn http_kind(e: &(dyn StdError + 'static)) -> Option<HttpErrorKind> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<HttpError>() {
            return Some(h.kind());
        }
        cur = err.source();
    }
    None
}

/// Whether any error of the chain says `needle`.
fn chain_says(e: &(dyn StdError + 'static), needle: &str) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains(needle) {
            return true;
        }
        cur = err.source();
    }
    false
}

/// An `object_store` error as the [`RemoteFailure`] it is.
fn map_error(e: &object_store::Error, name: &str, phase: Phase) -> Error {
    use object_store::Error as E;
    let chain: &(dyn StdError + 'static) = e;
    let status = status_in(chain);
    let (failure, what) = match e {
        E::Precondition { .. } => (RemoteFailure::Changed, "changed since it was opened".into()),
        E::NotFound { .. } => {
            let code = status.unwrap_or(404);
            (
                RemoteFailure::Status(code),
                format!("not found (HTTP {code})"),
            )
        }
        E::NotSupported { .. } => (
            RemoteFailure::RangeIgnored,
            "the server does not serve byte ranges (it answered with the whole file)".into(),
        ),
        _ if status == Some(412) => (
            RemoteFailure::Changed,
            "changed since it was opened (HTTP 412)".into(),
        ),
        _ if status.is_some() => {
            let code = status.unwrap_or_default();
            (RemoteFailure::Status(code), format!("HTTP status {code}"))
        }
        _ if chain_says(chain, "non-partial response")
            || chain_says(chain, "Content-Range header not present") =>
        {
            (
                RemoteFailure::RangeIgnored,
                "the server does not serve byte ranges".into(),
            )
        }
        _ if chain_says(chain, "Requested ") && chain_says(chain, ", got ") => (
            RemoteFailure::Length,
            "the answer holds other bytes than asked for".into(),
        ),
        _ => match http_kind(chain) {
            Some(HttpErrorKind::Timeout) => (
                RemoteFailure::Timeout,
                "no answer in the time allowed".into(),
            ),
            _ if phase == Phase::Body => (
                RemoteFailure::Length,
                "the answer ended before all the bytes asked for".into(),
            ),
            Some(HttpErrorKind::Connect) => (RemoteFailure::Network, "cannot connect".into()),
            _ => (RemoteFailure::Network, "the request failed".into()),
        },
    };
    remote_err(
        failure,
        format!("{name}: {what} ({})", one_line(&e.to_string())),
    )
}

/// `text` on one line (a server's error page may span many) and at most
/// 300 characters.
fn one_line(text: &str) -> String {
    let mut out: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.len() > 300 {
        let mut cut = 300;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

/// An index file searched where it is published (see the [module](self)).
pub struct RemoteIndex<T: Element = f32> {
    inner: Arc<Inner<T>>,
    /// `None` only while dropping.
    runtime: Option<Runtime>,
}

/// The index over the remote file.
pub type RemoteAny<T> = AnyIndex<PagedStore<Arc<RemoteFile>, T>>;

struct Inner<T: Element> {
    index: RemoteAny<T>,
    remote: Arc<RemoteFile>,
    fetch: ObjectFetch,
    header: Header,
    opened: Trips,
    cache_bytes: usize,
}

/// What [`RemoteIndex::info`] tells about the file.
#[derive(Clone, Debug)]
pub struct RemoteInfo {
    /// The file's URL (or its path in its store).
    pub location: String,
    /// Its length in bytes.
    pub file_len: u64,
    /// The `ETag` it was pinned to.
    pub etag: Option<String>,
    /// The modification time it was pinned to.
    pub last_modified: Option<DateTime<Utc>>,
    /// What opening fetched: rounds, requests and bytes.
    pub opened: Trips,
}

impl<T: Element> std::fmt::Debug for RemoteIndex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteIndex")
            .field("location", &self.inner.fetch.name)
            .field("kind", &self.inner.header.kind)
            .field("len", &self.inner.index.len())
            .finish()
    }
}

fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("vectrove-remote")
        .enable_all()
        .build()
        .map_err(Error::Io)
}

/// Refuses to block a thread that runs async tasks (tokio would panic).
fn check_not_async() -> Result<()> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::InvalidParameter {
            name: "runtime",
            reason: "a blocking RemoteIndex call inside an async runtime: use the _async methods"
                .into(),
        });
    }
    Ok(())
}

impl<T: Element> RemoteIndex<T> {
    /// Open the index file at `url` (`http://` or `https://`).
    pub fn open(url: &str, options: RemoteOptions) -> Result<Self> {
        let store = http_store(url, &options)?;
        Self::open_with(store, Path::default(), url.to_string(), options)
    }

    /// Open the index file at `path` in `store` (S3, GCS, Azure, an HTTP
    /// store, or any other [`ObjectStore`]). The store's own client options
    /// (timeouts, retries) apply to its requests; `options` sets the cache.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{ObjectStoreExt, memory::InMemory, path::Path};
    /// use vectrove::remote::{RemoteIndex, RemoteOptions};
    /// use vectrove::{Hnsw, Metric, SearchParams};
    ///
    /// let mut index = Hnsw::builder(2, Metric::L2).build()?;
    /// for i in 0..100u64 {
    ///     index.insert(i, &[i as f32, 1.0])?;
    /// }
    /// // Any object store: S3, GCS and Azure ones are built the same way.
    /// let store = Arc::new(InMemory::new());
    /// let path = Path::from("indexes/points.vtrv");
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(store.put(&path, index.to_bytes()?.into()))?;
    ///
    /// let remote = RemoteIndex::<f32>::open_store(store, path, RemoteOptions::default())?;
    /// let hits = remote.search(&[41.8, 1.0], 1, &SearchParams::default())?;
    /// assert_eq!(hits[0].id, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_store(
        store: Arc<dyn ObjectStore>,
        path: Path,
        options: RemoteOptions,
    ) -> Result<Self> {
        let name = format!("{path} in {store}");
        Self::open_with(store, path, name, options)
    }

    fn open_with(
        store: Arc<dyn ObjectStore>,
        path: Path,
        name: String,
        options: RemoteOptions,
    ) -> Result<Self> {
        check_not_async()?;
        let runtime = runtime()?;
        let inner = runtime.block_on(open_inner(store, path, name, options))?;
        Ok(Self {
            inner: Arc::new(inner),
            runtime: Some(runtime),
        })
    }

    /// [`open`](Self::open) from async code (any executor).
    pub async fn open_async(url: &str, options: RemoteOptions) -> Result<Self> {
        let store = http_store(url, &options)?;
        Self::open_store_named(store, Path::default(), url.to_string(), options).await
    }

    /// [`open_store`](Self::open_store) from async code (any executor).
    pub async fn open_store_async(
        store: Arc<dyn ObjectStore>,
        path: Path,
        options: RemoteOptions,
    ) -> Result<Self> {
        let name = format!("{path} in {store}");
        Self::open_store_named(store, path, name, options).await
    }

    async fn open_store_named(
        store: Arc<dyn ObjectStore>,
        path: Path,
        name: String,
        options: RemoteOptions,
    ) -> Result<Self> {
        let runtime = runtime()?;
        let task = runtime.spawn(open_inner(store, path, name, options));
        let inner = task.await.map_err(join_error)??;
        Ok(Self {
            inner: Arc::new(inner),
            runtime: Some(runtime),
        })
    }

    fn block_on<F: Future>(&self, f: F) -> Result<F::Output> {
        check_not_async()?;
        match &self.runtime {
            Some(rt) => Ok(rt.block_on(f)),
            None => Err(Error::InvalidParameter {
                name: "runtime",
                reason: "the index is being dropped".into(),
            }),
        }
    }

    /// The `k` nearest neighbours of `query`, nearest first (`params.ef`
    /// for HNSW, `params.nprobe` for IVF, `params.rerank` with codes).
    pub fn search(&self, query: &[T], k: usize, params: &SearchParams) -> Result<Vec<Neighbor>> {
        Ok(self.search_with_trips(query, k, params)?.0)
    }

    /// [`search`](Self::search), with what it fetched: dependent round
    /// trips, requests and bytes.
    pub fn search_with_trips(
        &self,
        query: &[T],
        k: usize,
        params: &SearchParams,
    ) -> Result<(Vec<Neighbor>, Trips)> {
        self.search_filtered(query, k, params, |_| true)
    }

    /// [`search_with_trips`](Self::search_with_trips) among the ids `filter`
    /// accepts.
    pub fn search_filtered(
        &self,
        query: &[T],
        k: usize,
        params: &SearchParams,
        filter: impl Fn(u64) -> bool,
    ) -> Result<(Vec<Neighbor>, Trips)> {
        self.block_on(self.inner.search(query, k, params, filter))?
    }

    /// [`search_with_trips`](Self::search_with_trips) from async code (any
    /// executor): the search runs on the index's runtime.
    pub async fn search_async(
        &self,
        query: &[T],
        k: usize,
        params: &SearchParams,
    ) -> Result<(Vec<Neighbor>, Trips)> {
        let Some(rt) = &self.runtime else {
            return Err(Error::InvalidParameter {
                name: "runtime",
                reason: "the index is being dropped".into(),
            });
        };
        let inner = self.inner.clone();
        let query = query.to_vec();
        let params = *params;
        let task = rt.spawn(async move { inner.search(&query, k, &params, |_| true).await });
        task.await.map_err(join_error)?
    }

    /// The file's header (kind, metric, dimension, sections).
    pub fn header(&self) -> &Header {
        &self.inner.header
    }

    /// Where the file is, what it was pinned to and what opening it fetched.
    pub fn info(&self) -> RemoteInfo {
        let f = &self.inner.fetch;
        RemoteInfo {
            location: f.name.clone(),
            file_len: f.pin.len,
            etag: f.pin.etag.clone(),
            last_modified: f.pin.modified,
            opened: self.inner.opened,
        }
    }

    /// The index itself (parameters, list sizes, ids). Its own search
    /// methods cannot fetch: they fail on vectors not yet cached; search
    /// through this type instead.
    pub fn index(&self) -> &RemoteAny<T> {
        &self.inner.index
    }

    /// Live points.
    pub fn len(&self) -> usize {
        self.inner.index.len()
    }

    /// Whether the index has no live points.
    pub fn is_empty(&self) -> bool {
        self.inner.index.is_empty()
    }

    /// Dimension of the vectors.
    pub fn dim(&self) -> usize {
        self.inner.index.dim()
    }

    /// What searches have fetched since the file was opened.
    pub fn stats(&self) -> RemoteStats {
        self.inner.remote.stats()
    }

    /// Empty the caches of fetched blocks and pages: the next searches
    /// fetch what they need again (for cold-cache measurements).
    pub fn clear_cache(&self) {
        self.inner.remote.cache().clear();
        self.inner.index.store().cache().clear();
    }

    /// What the transport has fetched, opening included.
    pub fn fetch_stats(&self) -> FetchStats {
        self.inner.fetch.stats()
    }
}

impl<T: Element> Drop for RemoteIndex<T> {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids in async code;
        // letting its threads finish in the background is always allowed.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl<T: Element> Inner<T> {
    async fn search(
        &self,
        query: &[T],
        k: usize,
        params: &SearchParams,
        filter: impl Fn(u64) -> bool,
    ) -> Result<(Vec<Neighbor>, Trips)> {
        let pages = |slots: &[u32]| self.index.store().pages_for(slots);
        remote::search(
            &self.index,
            &self.remote,
            pages,
            &self.fetch,
            query,
            k,
            params,
            filter,
        )
        .await
        .map_err(|e| match e {
            // Only a cache too small for one step's bytes gets there.
            Error::FetchIncomplete { .. } => Error::InvalidParameter {
                name: "cache_bytes",
                reason: format!(
                    "{}: the cache ({} bytes) cannot hold what one search step reads: give it more",
                    self.fetch.name, self.cache_bytes
                ),
            },
            e => e,
        })
    }
}

fn join_error(e: tokio::task::JoinError) -> Error {
    remote_err(
        RemoteFailure::Network,
        format!("the request task stopped: {e}"),
    )
}

/// An HTTP store for the file at `url` itself (its path, query string
/// included, is the store's URL; the object's path is empty).
fn http_store(url: &str, options: &RemoteOptions) -> Result<Arc<dyn ObjectStore>> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(Error::InvalidParameter {
            name: "url",
            reason: format!("{url}: not an http:// or https:// URL"),
        });
    }
    let client = options
        .client
        .clone()
        .with_allow_http(true)
        .with_timeout(options.timeout)
        .with_connect_timeout(options.timeout);
    let store = HttpBuilder::new()
        .with_url(url)
        .with_client_options(client)
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| Error::InvalidParameter {
            name: "url",
            reason: format!("{url}: {e}"),
        })?;
    Ok(Arc::new(store))
}

async fn open_inner<T: Element>(
    store: Arc<dyn ObjectStore>,
    path: Path,
    name: String,
    options: RemoteOptions,
) -> Result<Inner<T>> {
    let (fetch, first) = ObjectFetch::connect(store, path, name).await?;
    let cache_bytes = options.cache_bytes.max(MIN_CACHE_BYTES);
    let remote_cache = cache_bytes / 4 * 3;
    let (file, mut remote) = remote::open(&fetch, fetch.len(), first, remote_cache)
        .await
        .map_err(|e| name_error(e, &fetch.name))?;
    file.header().check_elem::<T>()?;
    remote.set_coalesce(options.coalesce);
    let header = file.header().clone();
    let remote = Arc::new(remote);
    let pages = (cache_bytes / 4).max(header.vector_stride());
    let store = PagedStore::<_, T>::new(remote.clone(), header.vectors(), pages)?;
    let index = file.into_index(store)?;
    let s = fetch.stats();
    let opened = Trips {
        rounds: u32::try_from(s.rounds).unwrap_or(u32::MAX),
        requests: u32::try_from(s.requests).unwrap_or(u32::MAX),
        bytes: s.bytes,
    };
    Ok(Inner {
        index,
        remote,
        fetch,
        header,
        opened,
        cache_bytes,
    })
}

/// The smallest cache a [`RemoteIndex`] takes (a smaller
/// [`RemoteOptions::cache_bytes`] is raised to it): a few dozen blocks.
pub const MIN_CACHE_BYTES: usize = 4 << 20;

/// Puts the file's name in front of a format error (a remote error names
/// it already).
fn name_error(e: Error, name: &str) -> Error {
    match e {
        Error::Corrupt { section, reason } => Error::Corrupt {
            section,
            reason: format!("{name}: {reason}"),
        },
        e => e,
    }
}

/// The error for an answer that holds other bytes than the range asked for.
fn wrong_range(name: &str, want: &Range<u64>, got: &Range<u64>) -> Error {
    remote_err(
        RemoteFailure::Length,
        format!(
            "{name}: asked for bytes {}..{}, the answer holds {}..{}",
            want.start, want.end, got.start, got.end
        ),
    )
}
