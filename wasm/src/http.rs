//! An index file read in place from a web server, a CDN or an object store
//! by HTTP range requests (`storage: "http"`): the core's
//! [`remote`](vectrove_core::remote) reading over the browser's `fetch`.
//!
//! The transport is a few lines of JS. The first request asks for the
//! file's first 64 KiB, learns its length from `Content-Range` and pins its
//! version (the `ETag`, else `Last-Modified`); every later request sends
//! that pin in `If-Range` and must come back as status 206 with exactly the
//! bytes asked for, out of a file of the same length and version. A batch's
//! ranges go out at once, one request each, under one timeout; the first
//! failure aborts the rest, and nothing of a failed batch is kept. Every
//! failure reaches Rust as a [`RemoteFailure`] code, and JS as a named
//! error (see `errors.rs`).

use std::cell::OnceCell;
use std::ops::Range;
use std::sync::Arc;

use js_sys::{Array, Reflect, Uint8Array};
use vectrove_core::remote::{self, Fetch, RemoteFile};
use vectrove_core::{Error, RemoteFailure, Result};
use wasm_bindgen::prelude::*;

use crate::errors::{from_core, unsupported};
use crate::js::{await_value, in_dedicated_worker};
use crate::open;
use crate::options::JsResult;
use crate::state::Engine;
use crate::store::{Source, Store};
use crate::warm::Warm;

#[wasm_bindgen(inline_js = r#"
function fail(f, m, status) {
  const e = new Error(m);
  e.f = f;
  e.status = status;
  return e;
}
function drop(res) {
  try { res.body && res.body.cancel().catch(() => {}); } catch {}
}
function statusFail(c, res) {
  drop(res);
  return fail(3, `${c.url}: HTTP ${res.status} ${res.statusText}`.trim(), res.status);
}
function span(res) {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("Content-Range") || "");
  return m && { start: +m[1], end: +m[2] + 1, total: +m[3] };
}
function noSpan(c) {
  return fail(1, `${c.url}: a range response without a readable Content-Range (a server on another origin must send Access-Control-Expose-Headers: Content-Range, ETag)`);
}
// Whether a response comes from another version of the file than the pinned one.
function moved(c, res) {
  const tag = res.headers.get("ETag");
  const mod = res.headers.get("Last-Modified");
  return tag ? tag !== c.tag : !c.tag && !!mod && mod !== c.mod;
}
function changed(c) {
  return fail(0, `${c.url} changed since it was opened (another ETag, date or length): open it again`);
}
// Runs `go(signal)` within `c.ms` milliseconds; every failure becomes a coded error.
async function timed(c, go) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), c.ms);
  try {
    return await go(ctl.signal);
  } catch (e) {
    if (e && e.f !== undefined) throw e;
    if (ctl.signal.aborted) throw fail(4, `${c.url}: no answer within ${c.ms} ms`);
    throw fail(5, `${c.url}: the request failed (network down, connection refused, or blocked by CORS): ${e && e.message || e}`);
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
}
async function body(c, res, n) {
  const b = new Uint8Array(await res.arrayBuffer());
  if (b.length !== n) throw fail(2, `${c.url}: ${b.length} bytes in a response of ${n}`);
  c.requests++;
  c.bytes += n;
  return b;
}
// The URL made absolute (against the page or worker), which names its warm cache.
export function httpHref(url) {
  try { return new URL(url, globalThis.location && location.href).href; } catch { return url; }
}
export function httpOpen(url, ms, prefix) {
  const c = { url, ms, tag: null, mod: null, pin: null, total: 0, requests: 0, bytes: 0, first: null };
  return timed(c, async (signal) => {
    const res = await fetch(url, { headers: { Range: `bytes=0-${prefix - 1}` }, signal });
    if (res.status === 200) {
      drop(res);
      throw fail(1, `${url}: the server sent the whole file (status 200) for a range request: it does not serve byte ranges, so the index cannot be read in place (download it with Index.import instead)`);
    }
    if (res.status !== 206) throw statusFail(c, res);
    const s = span(res);
    if (!s || s.start !== 0 || s.end > s.total) { drop(res); throw noSpan(c); }
    c.tag = res.headers.get("ETag");
    c.mod = res.headers.get("Last-Modified");
    // If-Range takes a strong ETag or a date.
    c.pin = c.tag && !c.tag.startsWith("W/") ? c.tag : c.mod;
    c.total = s.total;
    c.first = await body(c, res, s.end);
    return c;
  });
}
async function one(c, start, end, signal) {
  const headers = { Range: `bytes=${start}-${end - 1}` };
  if (c.pin) headers["If-Range"] = c.pin;
  const res = await fetch(c.url, { headers, signal });
  if (res.status === 200) {
    drop(res);
    const len = res.headers.get("Content-Length");
    if (moved(c, res) || (len !== null && +len !== c.total)) throw changed(c);
    throw fail(1, `${c.url}: the server sent the whole file (status 200) for a range request`);
  }
  // 416: the range is past the end, so the file is shorter now, or the server is wrong.
  const t = /\/(\d+)$/.exec(res.headers.get("Content-Range") || "");
  if ((res.status === 206 || res.status === 416) && (moved(c, res) || (t && +t[1] !== c.total))) {
    drop(res);
    throw changed(c);
  }
  if (res.status !== 206) throw statusFail(c, res);
  const s = span(res);
  if (!s) { drop(res); throw noSpan(c); }
  if (s.start !== start || s.end !== end) {
    drop(res);
    throw fail(2, `${c.url}: the server sent bytes ${s.start}-${s.end - 1} for bytes ${start}-${end - 1}`);
  }
  return body(c, res, end - start);
}
export function httpGet(c, flat) {
  return timed(c, (signal) => {
    const all = [];
    for (let i = 0; i < flat.length; i += 2) all.push(one(c, flat[i], flat[i + 1], signal));
    return Promise.all(all);
  });
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = httpOpen)]
    fn http_open(url: &str, timeout_ms: f64, prefix: f64) -> js_sys::Promise;
    #[wasm_bindgen(js_name = httpGet)]
    fn http_get(conn: &JsValue, flat: &[f64]) -> js_sys::Promise;
    #[wasm_bindgen(js_name = httpHref)]
    pub(crate) fn http_href(url: &str) -> String;
}

/// The default time a batch of requests may take.
pub(crate) const DEFAULT_TIMEOUT_MS: f64 = 30_000.0;

/// A number the JS side set on `v`.
fn field(v: &JsValue, key: &str) -> f64 {
    Reflect::get(v, &key.into())
        .ok()
        .and_then(|x| x.as_f64())
        .unwrap_or(0.0)
}

/// The core error for a failure of the JS transport.
fn remote_error(e: JsValue) -> Error {
    let failure = match field(&e, "f") as u32 {
        0 => RemoteFailure::Changed,
        1 => RemoteFailure::RangeIgnored,
        2 => RemoteFailure::Length,
        3 => RemoteFailure::Status(field(&e, "status") as u16),
        4 => RemoteFailure::Timeout,
        _ => RemoteFailure::Network,
    };
    let message = Reflect::get(&e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| crate::idb::describe_error(&e));
    Error::Remote { failure, message }
}

/// One remote file, pinned: the JS transport's state (its URL, timeout,
/// pinned version, length and counters), and the warm cache on disk, if
/// the index keeps one.
pub(crate) struct Http {
    conn: JsValue,
    warm: Option<Warm>,
    /// The remote parts of the file, which check fetched blocks (set once
    /// the open has read the metadata).
    remote: OnceCell<Arc<RemoteFile>>,
}

impl Http {
    /// Range requests sent and bytes received so far, the opening ones
    /// included.
    pub(crate) fn counts(&self) -> (f64, f64) {
        (field(&self.conn, "requests"), field(&self.conn, "bytes"))
    }

    /// Whether fetched bytes are kept in OPFS, and the bytes read back
    /// from there so far.
    pub(crate) fn warm(&self) -> (bool, u64) {
        self.warm
            .as_ref()
            .map_or((false, 0), |w| (w.active(), w.bytes_read()))
    }

    /// `r` out of the warm cache, if it is there and (for a block of the
    /// vectors or codes) still matches its checksum.
    fn read_kept(&self, r: &Range<u64>) -> Option<Vec<u8>> {
        let warm = self.warm.as_ref()?;
        let bytes = warm.get(r)?;
        if let Some(remote) = self.remote.get()
            && remote.check(r.clone(), &bytes).is_err()
        {
            warm.forget(r);
            return None;
        }
        Some(bytes)
    }
}

impl Http {
    /// What the warm cache holds of each of `ranges`, and the flat
    /// `[start, end, ...]` list of the rest, for the network. (Apart from
    /// the async fetch, so that it is compiled once.)
    #[inline(never)]
    fn split(&self, ranges: &[Range<u64>]) -> (Vec<Option<Vec<u8>>>, Vec<f64>) {
        let out: Vec<Option<Vec<u8>>> = ranges.iter().map(|r| self.read_kept(r)).collect();
        let flat = ranges
            .iter()
            .zip(&out)
            .filter(|(_, o)| o.is_none())
            .flat_map(|(r, _)| [r.start as f64, r.end as f64])
            .collect();
        (out, flat)
    }

    /// Put what the network brought into the gaps of `out`, keeping it in
    /// the warm cache: blocks only when they are good, metadata to be
    /// recorded once the open has checked it.
    #[inline(never)]
    fn merge(
        &self,
        ranges: &[Range<u64>],
        mut out: Vec<Option<Vec<u8>>>,
        got: Array,
    ) -> Vec<Vec<u8>> {
        let mut got = got.iter();
        let mut fetched = Vec::new();
        for (i, o) in out.iter_mut().enumerate() {
            if o.is_none() {
                *o = got
                    .next()
                    .map(|b| b.unchecked_into::<Uint8Array>().to_vec());
                fetched.push(i);
            }
        }
        let out: Vec<Vec<u8>> = out.into_iter().map(Option::unwrap_or_default).collect();
        if let Some(warm) = &self.warm {
            match self.remote.get() {
                Some(remote) => {
                    let good: Vec<(u64, &[u8])> = fetched
                        .iter()
                        .filter(|&&i| remote.check(ranges[i].clone(), &out[i]).is_ok())
                        .map(|&i| (ranges[i].start, &out[i][..]))
                        .collect();
                    warm.keep(&good);
                }
                None => {
                    for &i in &fetched {
                        warm.hold(ranges[i].start, &out[i]);
                    }
                }
            }
        }
        out
    }
}

impl Fetch for Http {
    async fn fetch(&self, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>> {
        let (out, flat) = self.split(ranges);
        let got = if flat.is_empty() {
            Array::new()
        } else {
            await_value(http_get(&self.conn, &flat).into())
                .await
                .map_err(remote_error)?
                .unchecked_into()
        };
        Ok(self.merge(ranges, out, got))
    }
}

/// What an index read over HTTP needs to fetch what a search lacks.
pub(crate) struct HttpLink {
    pub(crate) http: Http,
    pub(crate) remote: Arc<RemoteFile>,
}

/// Open the index file at `url`: its metadata is read and checked now, its
/// vectors (and an IVF file's codes) stay on the server, fetched by
/// searches into a cache of `cache_bytes` (three quarters for fetched
/// blocks, a quarter for the vectors read out of them).
///
/// With `persist`, what is fetched is also kept in OPFS (see `warm.rs`),
/// and what was kept before is read from there: only the first request
/// (which pins the file's version) must go to the server. Dedicated
/// workers only; a server that sends neither `ETag` nor `Last-Modified`
/// gives no version to check a kept copy against, so nothing is kept.
pub(crate) async fn open(
    url: &str,
    cache_bytes: usize,
    timeout_ms: f64,
    persist: bool,
) -> JsResult<(Engine, HttpLink)> {
    if persist && !in_dedicated_worker() {
        return Err(unsupported(
            "persist keeps fetched blocks in OPFS through sync access handles, which only \
             dedicated workers have: open the index in one (see createIndexWorker)",
        ));
    }
    let conn = await_value(http_open(url, timeout_ms, remote::PREFIX_BYTES as f64).into())
        .await
        .map_err(|e| from_core(remote_error(e)))?;
    let first = Reflect::get(&conn, &"first".into()).unwrap_or(JsValue::UNDEFINED);
    let first = first.unchecked_into::<Uint8Array>().to_vec();
    let _ = Reflect::set(&conn, &"first".into(), &JsValue::NULL);
    let total = field(&conn, "total") as u64;
    let pin = Reflect::get(&conn, &"pin".into())
        .ok()
        .and_then(|p| p.as_string());
    let warm = match (persist, pin) {
        // Held by another tab or worker, or OPFS out of reach: the index
        // reads from the network alone.
        (true, Some(pin)) => Warm::open(&http_href(url), &pin, total).await.ok(),
        _ => None,
    };
    let http = Http {
        conn,
        warm,
        remote: OnceCell::new(),
    };
    let budget = cache_bytes / 4 * 3;
    // Metadata read back from the disk that fails the open's checks: start
    // the cache again and read it all from the server (one call site, so
    // the open is compiled once).
    let mut retried = false;
    let opened = loop {
        match remote::open(&http, total, first.clone(), budget).await {
            Err(Error::Corrupt { .. }) if !retried && http.warm().1 > 0 => {
                if let Some(w) = &http.warm {
                    w.reset();
                }
                retried = true;
            }
            r => break r,
        }
    };
    let checked = opened.and_then(|(file, remote)| {
        file.header().check_elem::<f32>()?;
        Ok((file, remote))
    });
    let (file, remote) = match checked {
        Ok(opened) => opened,
        Err(e) => {
            // Nothing the failed open read is recorded.
            if let Some(w) = &http.warm {
                w.drop_pending();
            }
            return Err(from_core(e));
        }
    };
    if let Some(w) = &http.warm {
        w.commit();
    }
    let remote = Arc::new(remote);
    let _ = http.remote.set(remote.clone());
    let pages = (cache_bytes / 4).max(file.header().vector_stride());
    let page = open::opfs_page_bytes(file.header().vector_stride(), pages);
    let store = open::paged(Source::Http(remote.clone()), &file, page, pages)?;
    let engine = file
        .into_index(Store::over(store).map_err(from_core)?)
        .map_err(from_core)?;
    Ok((engine, HttpLink { http, remote }))
}
