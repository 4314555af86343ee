//! Reading an index file from whatever JS hands us: bytes, a `Blob`, a
//! `Response`, a `ReadableStream` or a URL, as a stream of chunks so that a
//! large file never has to be in memory at once.

use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::errors::{from_dom, invalid_argument, js_error, name};
use crate::js::{await_value, call_method, describe, global};

enum Inner {
    Bytes(Option<Vec<u8>>),
    Reader(JsValue),
}

/// An index file arriving in chunks, with a progress callback.
pub(crate) struct ByteStream {
    inner: Inner,
    /// Bytes read but not yet taken.
    pending: Vec<u8>,
    at: usize,
    pub(crate) read: u64,
    pub(crate) total: Option<u64>,
    progress: Option<Function>,
}

impl ByteStream {
    /// A stream over `source`: ArrayBuffer, a typed array or DataView, Blob,
    /// Response, ReadableStream, or a URL (string or `URL`) to fetch.
    pub(crate) async fn new(
        source: JsValue,
        progress: Option<Function>,
    ) -> Result<ByteStream, JsValue> {
        let (inner, total) = Self::open(source).await?;
        Ok(ByteStream {
            inner,
            pending: Vec::new(),
            at: 0,
            read: 0,
            total,
            progress,
        })
    }

    async fn open(source: JsValue) -> Result<(Inner, Option<u64>), JsValue> {
        if source.is_instance_of::<js_sys::ArrayBuffer>() || js_sys::ArrayBuffer::is_view(&source) {
            let bytes = view_bytes(&source)?;
            let n = bytes.len() as u64;
            return Ok((Inner::Bytes(Some(bytes)), Some(n)));
        }
        let url = if source.is_string() {
            Some(source.clone())
        } else if is_instance(&source, "URL") {
            Some(call_method(&source, "toString", &[])?)
        } else {
            None
        };
        if let Some(url) = url {
            let fetch: Function = Reflect::get(&global(), &"fetch".into())?
                .dyn_into()
                .map_err(|_| js_error(name::UNSUPPORTED, "fetch() is not available here"))?;
            let response = await_value(fetch.call1(&global(), &url)?)
                .await
                .map_err(|e| {
                    from_dom(
                        e,
                        &format!("fetching {}", url.as_string().unwrap_or_default()),
                    )
                })?;
            return Box::pin(Self::open(response)).await;
        }
        if is_instance(&source, "Response") {
            let ok = Reflect::get(&source, &"ok".into())?
                .as_bool()
                .unwrap_or(false);
            if !ok {
                // An HTTP status is a small integer.
                let status = Reflect::get(&source, &"status".into())?
                    .as_f64()
                    .unwrap_or(0.0) as u16;
                let url = Reflect::get(&source, &"url".into())?
                    .as_string()
                    .unwrap_or_default();
                let n = if status == 404 {
                    name::NOT_FOUND
                } else {
                    name::STORAGE
                };
                return Err(js_error(
                    n,
                    format!("fetching the index file {url} failed with HTTP status {status}"),
                ));
            }
            let total = call_method(
                &Reflect::get(&source, &"headers".into())?,
                "get",
                &["content-length".into()],
            )?
            .as_string()
            .and_then(|s| s.trim().parse::<u64>().ok());
            let body = Reflect::get(&source, &"body".into())?;
            if body.is_null() || body.is_undefined() {
                return Ok((Inner::Bytes(Some(Vec::new())), Some(0)));
            }
            let (inner, _) = Box::pin(Self::open(body)).await?;
            return Ok((inner, total));
        }
        if is_instance(&source, "Blob") {
            let size = Reflect::get(&source, &"size".into())?
                .as_f64()
                .map(|x| x as u64);
            let stream = call_method(&source, "stream", &[])?;
            let (inner, _) = Box::pin(Self::open(stream)).await?;
            return Ok((inner, size));
        }
        if is_instance(&source, "ReadableStream") {
            let reader = call_method(&source, "getReader", &[])?;
            return Ok((Inner::Reader(reader), None));
        }
        Err(invalid_argument(format!(
            "cannot read an index from {}: pass an ArrayBuffer, a Uint8Array, a Blob, a Response, a ReadableStream or a URL",
            describe(&source)
        )))
    }

    /// The next chunk from the source; `None` at the end.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, JsValue> {
        let chunk = match &mut self.inner {
            Inner::Bytes(b) => b.take(),
            Inner::Reader(reader) => {
                let r = await_value(call_method(reader, "read", &[])?)
                    .await
                    .map_err(|e| from_dom(e, "reading the index file"))?;
                if Reflect::get(&r, &"done".into())?.as_bool().unwrap_or(true) {
                    None
                } else {
                    let v = Reflect::get(&r, &"value".into())?;
                    if !js_sys::ArrayBuffer::is_view(&v) {
                        return Err(invalid_argument("the stream must yield Uint8Array chunks"));
                    }
                    Some(view_bytes(&v)?)
                }
            }
        };
        if let Some(c) = &chunk {
            self.read += c.len() as u64;
            if let Some(f) = &self.progress {
                let total = self
                    .total
                    .map_or(JsValue::UNDEFINED, |t| JsValue::from_f64(t as f64));
                f.call2(&JsValue::NULL, &JsValue::from_f64(self.read as f64), &total)?;
            }
        }
        Ok(chunk)
    }

    /// Make sure unread bytes are pending; `false` at the end of the source.
    async fn refill(&mut self) -> Result<bool, JsValue> {
        while self.at == self.pending.len() {
            match self.next_chunk().await? {
                Some(c) => {
                    self.pending = c;
                    self.at = 0;
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Exactly `n` bytes, or `None` if the source ends first. The buffer
    /// grows with the bytes that arrive, never with what `n` claims.
    pub(crate) async fn read_exact(&mut self, n: u64) -> Result<Option<Vec<u8>>, JsValue> {
        let mut out = Vec::new();
        while (out.len() as u64) < n {
            if !self.refill().await? {
                return Ok(None);
            }
            let take = (n - out.len() as u64).min((self.pending.len() - self.at) as u64) as usize;
            grow(&mut out, take)?;
            out.extend_from_slice(&self.pending[self.at..self.at + take]);
            self.at += take;
        }
        Ok(Some(out))
    }

    /// Whether the source has ended (no byte left).
    pub(crate) async fn at_end(&mut self) -> Result<bool, JsValue> {
        Ok(!self.refill().await?)
    }

    /// Stop reading (cancels a stream so a fetch does not run on).
    pub(crate) fn cancel(&self) {
        if let Inner::Reader(reader) = &self.inner {
            cancel_quietly(reader);
        }
    }
}

#[wasm_bindgen(inline_js = r#"
export function viewBytes(v) {
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
export function cancelQuietly(reader) {
  try { Promise.resolve(reader.cancel()).catch(() => {}); } catch {}
}
"#)]
extern "C" {
    /// The bytes of an ArrayBuffer, or those a typed array or `DataView`
    /// shows whatever its element type (a view's getters may be
    /// overridden, so it can throw).
    #[wasm_bindgen(js_name = viewBytes, catch)]
    fn view_u8(view: &JsValue) -> Result<Uint8Array, JsValue>;
    /// Cancel a stream's reader, ignoring how that ends (an errored
    /// stream's cancel rejects, which must not go unhandled).
    #[wasm_bindgen(js_name = cancelQuietly)]
    fn cancel_quietly(reader: &JsValue);
}

fn view_bytes(view: &JsValue) -> Result<Vec<u8>, JsValue> {
    view_u8(view)
        .map(|b| b.to_vec())
        .map_err(|e| from_dom(e, "reading the index file"))
}

/// Make room for `more` bytes in `buf`, or fail with a typed error when
/// memory runs out (instead of aborting).
pub(crate) fn grow(buf: &mut Vec<u8>, more: usize) -> Result<(), JsValue> {
    buf.try_reserve(more)
        .map_err(|_| js_error(name::STORAGE, "out of memory for the index file"))
}

fn is_instance(v: &JsValue, class: &str) -> bool {
    Reflect::get(&global(), &class.into())
        .ok()
        .and_then(|c| c.dyn_into::<Function>().ok())
        .is_some_and(|c| {
            let proto = Reflect::get(&c, &"prototype".into()).unwrap_or(JsValue::UNDEFINED);
            proto.dyn_ref::<js_sys::Object>().is_some_and(|p| {
                v.dyn_ref::<js_sys::Object>()
                    .is_some_and(|o| p.is_prototype_of(o))
            })
        })
}
