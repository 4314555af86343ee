//! The Origin Private File System: index files under the `vectrove`
//! directory, read lazily through a `FileSystemSyncAccessHandle` (dedicated
//! workers only) or whole through the asynchronous file API (anywhere).
//!
//! Saving never overwrites in place. The synchronous path writes a
//! temporary file of its own, `<name>.vtrv.<random hex>.tmp`, flushes and
//! closes it, then moves it over `<name>.vtrv`; the asynchronous path writes
//! through a writable stream, which the browser applies only when it is
//! closed. Either holds the name's Web Lock throughout. A tab or worker that
//! dies halfway leaves the previous file, and perhaps its temporary file:
//! the next save, removal or open of that name deletes every temporary file
//! of the name while holding the lock (so never one a live save is writing).

use js_sys::{Object, Reflect, Uint8Array};
use vectrove_core::store::{ByteSource, SourceRead};
use vectrove_core::{Error, Result};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemReadWriteOptions,
    FileSystemSyncAccessHandle,
};

use crate::errors::{from_dom, js_error, name};
use crate::js::{await_value, call_method, global};
use crate::sink::NameLock;

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
const held = new Set(); // the keys this context holds
function lock(key, wait) {
  const locks = globalThis.navigator && navigator.locks;
  if (!locks) return Promise.resolve(undefined);
  return new Promise((granted) => {
    locks.request("vectrove:" + key, wait ? {} : { ifAvailable: true },
      (l) => l ? new Promise((release) => {
        held.add(key);
        granted(() => { held.delete(key); release(); });
      }) : granted(null))
      .catch(() => granted(undefined));
  });
}
async function sweep(dir, name) {
  const pre = name + ".vtrv.";
  const stale = [];
  for await (const k of dir.keys()) {
    if (k.startsWith(pre) && k.endsWith(".tmp") && /^[0-9a-f]*$/.test(k.slice(pre.length, -4))) stale.push(k);
  }
  for (const k of stale) await dir.removeEntry(k).catch(() => {});
}
export async function opfsLock(dir, name) {
  const release = await lock("opfs/" + name, true);
  await sweep(dir, name).catch(() => {});
  return release;
}
// For an open: waits for a writer of the name elsewhere to end, unless this context is the
// writer (a save reopening the file it wrote).
export function opfsOpenLock(dir, name) {
  return held.has("opfs/" + name) ? undefined : opfsLock(dir, name);
}
export function opfsTidy(dir, name) {
  lock("opfs/" + name, false).then((release) => release && sweep(dir, name).catch(() => {}).finally(release));
}
export async function opfsBegin(dir, name) {
  const release = await opfsLock(dir, name);
  try {
    const tmp = `${name}.vtrv.${Math.floor(Math.random() * 2 ** 48).toString(16)}.tmp`;
    const file = await dir.getFileHandle(tmp, { create: true });
    return [release, tmp, await file.createSyncAccessHandle()];
  } catch (e) {
    if (release) release();
    throw e;
  }
}
// `move` within a directory replaces the target in one step.
export async function opfsMove(dir, tmp, target) {
  await (await dir.getFileHandle(tmp)).move(dir, target);
}
export async function opfsRead(dir, file) {
  const handle = await dir.getFileHandle(file);
  return new Uint8Array(await (await handle.getFile()).arrayBuffer());
}
export async function opfsRemove(dir, name) {
  const release = await opfsLock(dir, name);
  try {
    await dir.removeEntry(name + ".vtrv");
  } catch (e) {
    if (e.name !== "NotFoundError") throw e;
  } finally {
    if (release) release();
  }
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = opfsLock)]
    fn opfs_lock(dir: &FileSystemDirectoryHandle, name: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = opfsOpenLock)]
    fn opfs_open_lock(dir: &FileSystemDirectoryHandle, name: &str) -> JsValue;
    #[wasm_bindgen(js_name = opfsTidy)]
    fn opfs_tidy(dir: &FileSystemDirectoryHandle, name: &str);
    #[wasm_bindgen(js_name = opfsBegin)]
    fn opfs_begin(dir: &FileSystemDirectoryHandle, name: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = opfsMove)]
    fn opfs_move(dir: &FileSystemDirectoryHandle, tmp: &str, target: &str) -> JsValue;
    #[wasm_bindgen(js_name = opfsRead)]
    fn opfs_read(dir: &FileSystemDirectoryHandle, file: &str) -> JsValue;
    #[wasm_bindgen(js_name = opfsRemove)]
    fn opfs_remove(dir: &FileSystemDirectoryHandle, name: &str) -> js_sys::Promise;
}

/// The directory every index file lives in.
const DIR: &str = "vectrove";

/// The file name of index `name`.
pub(crate) fn file_name(name: &str) -> String {
    format!("{name}.vtrv")
}

/// The `vectrove` directory of the origin's private file system.
pub(crate) async fn dir() -> Result<FileSystemDirectoryHandle, JsValue> {
    let nav = Reflect::get(&global(), &"navigator".into())?;
    let storage = if nav.is_object() {
        Reflect::get(&nav, &"storage".into())?
    } else {
        JsValue::UNDEFINED
    };
    if !storage.is_object() {
        return Err(js_error(
            name::UNSUPPORTED,
            "the Origin Private File System is not available here (no navigator.storage)",
        ));
    }
    let root = await_value(call_method(&storage, "getDirectory", &[])?)
        .await
        .map_err(|e| from_dom(e, "opening the origin private file system"))?;
    let options = Object::new();
    crate::js::set(&options, "create", true);
    let d = await_value(call_method(
        &root,
        "getDirectoryHandle",
        &[DIR.into(), options.into()],
    )?)
    .await
    .map_err(|e| from_dom(e, "opening the vectrove directory in OPFS"))?;
    Ok(d.unchecked_into())
}

async fn file_handle(
    dir: &FileSystemDirectoryHandle,
    file: &str,
    create: bool,
) -> Result<FileSystemFileHandle, JsValue> {
    let options = Object::new();
    crate::js::set(&options, "create", create);
    match await_value(call_method(
        dir,
        "getFileHandle",
        &[file.into(), options.into()],
    )?)
    .await
    {
        Ok(h) => Ok(h.unchecked_into()),
        Err(e) => Err(from_dom(e, &format!("opening {file} in OPFS"))),
    }
}

/// Whether index `name` exists in OPFS.
pub(crate) async fn exists(name: &str) -> Result<bool, JsValue> {
    let d = dir().await?;
    match file_handle(&d, &file_name(name), false).await {
        Ok(_) => Ok(true),
        Err(e) if is_named(&e, name::NOT_FOUND) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Remove index `name` (and stale temporary files) from OPFS, holding the
/// name's lock.
pub(crate) async fn remove(name: &str) -> Result<(), JsValue> {
    let d = dir().await?;
    await_value(opfs_remove(&d, name).into())
        .await
        .map_err(|e| from_dom(e, &format!("removing index \"{name}\" from OPFS")))?;
    Ok(())
}

pub(crate) fn is_named(e: &JsValue, n: &str) -> bool {
    e.dyn_ref::<js_sys::Error>().is_some_and(|e| e.name() == n)
}

fn not_found(name: &str) -> JsValue {
    js_error(
        name::NOT_FOUND,
        format!("no index named \"{name}\" in OPFS (import or save one first)"),
    )
}

/// The whole file of index `name`, read with the asynchronous API.
pub(crate) async fn read_all(name: &str) -> Result<Vec<u8>, JsValue> {
    let d = dir().await?;
    opfs_tidy(&d, name);
    read_file(&d, &file_name(name)).await.map_err(|e| {
        if is_named(&e, name::NOT_FOUND) {
            not_found(name)
        } else {
            e
        }
    })
}

/// The whole of `file` (which another context may hold open).
async fn read_file(d: &FileSystemDirectoryHandle, file: &str) -> Result<Vec<u8>, JsValue> {
    let bytes = await_value(opfs_read(d, file))
        .await
        .map_err(|e| from_dom(e, "reading an index file in OPFS"))?;
    Ok(Uint8Array::new(&bytes).to_vec())
}

/// Write `bytes` as index `name` through a writable stream: the browser
/// swaps the new contents in only when the stream closes.
pub(crate) async fn write_all_async(name: &str, bytes: &[u8]) -> Result<(), JsValue> {
    let d = dir().await?;
    let what = format!("saving index \"{name}\" to OPFS");
    let _lock = NameLock::new(await_value(opfs_lock(&d, name).into()).await?);
    let h = file_handle(&d, &file_name(name), true).await?;
    let stream = await_value(call_method(&h, "createWritable", &[])?)
        .await
        .map_err(|e| from_dom(e, &what))?;
    const CHUNK: usize = 8 << 20;
    for part in bytes
        .chunks(CHUNK)
        .chain(bytes.is_empty().then_some(&[][..]))
    {
        let arr = Uint8Array::from(part);
        if let Err(e) = await_value(call_method(&stream, "write", &[arr.into()])?).await {
            let _ = call_method(&stream, "abort", &[]).map(await_value);
            return Err(from_dom(e, &what));
        }
    }
    await_value(call_method(&stream, "close", &[])?)
        .await
        .map_err(|e| from_dom(e, &what))?;
    Ok(())
}

/// An open sync access handle: exclusive, so a second handle on the same
/// file (another tab or worker) fails with `IndexLockedError`.
pub(crate) struct SyncFile {
    handle: FileSystemSyncAccessHandle,
    len: u64,
    /// One options object for every read (its `at` set each time), so a
    /// read allocates nothing on the JS side.
    at: FileSystemReadWriteOptions,
}

impl SyncFile {
    /// Open `file` for synchronous access (dedicated workers only).
    pub(crate) async fn open(
        dir: &FileSystemDirectoryHandle,
        file: &str,
        create: bool,
    ) -> Result<SyncFile, JsValue> {
        let h = file_handle(dir, file, create).await?;
        let handle: FileSystemSyncAccessHandle =
            await_value(call_method(&h, "createSyncAccessHandle", &[])?)
                .await
                .map_err(|e| from_dom(e, &format!("opening {file} in OPFS")))?
                .unchecked_into();
        let len = handle
            .get_size()
            .map_err(|e| from_dom(e, &format!("reading the size of {file}")))?
            as u64;
        Ok(SyncFile {
            handle,
            len,
            at: FileSystemReadWriteOptions::new(),
        })
    }

    /// A sync access handle opened by JS.
    pub(crate) fn from_handle(handle: FileSystemSyncAccessHandle) -> Result<SyncFile, JsValue> {
        let len = handle
            .get_size()
            .map_err(|e| from_dom(e, "reading the size of a file in OPFS"))?
            as u64;
        Ok(SyncFile {
            handle,
            len,
            at: FileSystemReadWriteOptions::new(),
        })
    }

    /// Index `name`'s file, locked for as long as this lives.
    pub(crate) async fn open_index(name: &str) -> Result<SyncFile, JsValue> {
        let d = dir().await?;
        // A save of the name elsewhere lets go of the file for a moment:
        // wait for it to end rather than take the file from it.
        let _lock = NameLock::new(await_value(opfs_open_lock(&d, name)).await?);
        Self::open(&d, &file_name(name), false).await.map_err(|e| {
            if is_named(&e, name::NOT_FOUND) {
                not_found(name)
            } else {
                e
            }
        })
    }

    pub(crate) fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            self.at.set_at((offset + done as u64) as f64);
            let n = self
                .handle
                .read_with_u8_array_and_options(&mut buf[done..], &self.at)
                .map_err(|e| storage_error(e, "reading an index file in OPFS"))?
                as usize;
            if n == 0 {
                return Err(Error::Corrupt {
                    section: "file",
                    reason: format!(
                        "truncated: wanted {} bytes at offset {offset}, the file is {} bytes",
                        buf.len(),
                        self.len
                    ),
                });
            }
            done += n;
        }
        Ok(())
    }

    /// The file's length.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Write what was written through to the disk.
    pub(crate) fn flush(&self) -> Result<(), JsValue> {
        self.handle
            .flush()
            .map_err(|e| from_dom(e, "flushing a file in OPFS"))
    }

    /// Cut the file to `len` bytes.
    pub(crate) fn truncate(&mut self, len: u64) -> Result<(), JsValue> {
        self.handle
            .truncate_with_f64(len as f64)
            .map_err(|e| from_dom(e, "truncating a file in OPFS"))?;
        self.len = len;
        Ok(())
    }

    pub(crate) fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), JsValue> {
        let mut done = 0;
        while done < bytes.len() {
            let options = FileSystemReadWriteOptions::new();
            options.set_at((offset + done as u64) as f64);
            let n = self
                .handle
                .write_with_u8_array_and_options(&bytes[done..], &options)
                .map_err(|e| from_dom(e, "writing an index file in OPFS"))?
                as usize;
            if n == 0 {
                return Err(js_error(name::STORAGE, "OPFS wrote nothing"));
            }
            done += n;
        }
        self.len = self.len.max(offset + bytes.len() as u64);
        Ok(())
    }

    pub(crate) fn close(&self) {
        self.handle.close();
    }
}

impl Drop for SyncFile {
    fn drop(&mut self) {
        // Closing twice is harmless; this releases the lock when an index is
        // freed without `close()`.
        self.handle.close();
    }
}

fn storage_error(e: JsValue, what: &str) -> Error {
    let message = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| e.message().as_string().unwrap_or_default())
        .unwrap_or_else(|| format!("{e:?}"));
    Error::Storage {
        message: format!("{what}: {message}"),
    }
}

/// The bytes of an index file behind a sync access handle, for the page
/// cache.
pub(crate) struct OpfsSource {
    pub(crate) file: SyncFile,
}

impl ByteSource for OpfsSource {
    fn len(&self) -> u64 {
        self.file.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        self.file.read_exact_at(offset, buf)?;
        Ok(SourceRead::Done)
    }
}

/// Streams a new version of index `name` into a temporary file of its own
/// through a sync access handle, holding the name's Web Lock;
/// [`commit`](Self::commit) moves it into place.
pub(crate) struct TmpWriter {
    dir: FileSystemDirectoryHandle,
    name: String,
    tmp: String,
    file: Option<SyncFile>,
    at: u64,
    /// The first JS error a write met: `std::io::Write` cannot carry it.
    pub(crate) failed: Option<JsValue>,
    lock: NameLock,
}

impl TmpWriter {
    pub(crate) async fn create(name: &str) -> Result<TmpWriter, JsValue> {
        let dir = dir().await?;
        let got: js_sys::Array = await_value(opfs_begin(&dir, name).into())
            .await
            .map_err(|e| from_dom(e, "starting to save an index to OPFS"))?
            .unchecked_into();
        Ok(TmpWriter {
            dir,
            name: name.to_string(),
            tmp: got.get(1).as_string().unwrap_or_default(),
            file: Some(SyncFile {
                handle: got.get(2).unchecked_into(),
                len: 0,
                at: FileSystemReadWriteOptions::new(),
            }),
            at: 0,
            failed: None,
            lock: NameLock::new(got.get(0)),
        })
    }

    /// The name's lock, for a caller with more to do before other writers
    /// of the name may start (the writer then no longer holds it).
    pub(crate) fn take_lock(&mut self) -> NameLock {
        std::mem::take(&mut self.lock)
    }

    /// Flush and close the temporary file, then move it over the index.
    /// The index file must not be open (its handle closed) by then. On
    /// failure the index is as it was and the temporary file stays until
    /// [`discard`](Self::discard).
    pub(crate) async fn commit(&mut self) -> Result<(), JsValue> {
        if let Some(file) = self.file.take() {
            file.handle
                .flush()
                .map_err(|e| from_dom(e, "flushing a new index file in OPFS"))?;
        }
        let target = file_name(&self.name);
        await_value(opfs_move(&self.dir, &self.tmp, &target))
            .await
            .map_err(|e| from_dom(e, &format!("moving the new {target} into place")))?;
        Ok(())
    }

    /// The whole new version (committed or not): the index file once
    /// moved, else the temporary file.
    pub(crate) async fn read_back(&self, moved: bool) -> Result<Vec<u8>, JsValue> {
        let file = if moved {
            file_name(&self.name)
        } else {
            self.tmp.clone()
        };
        read_file(&self.dir, &file).await
    }

    /// Give up: close and delete the temporary file (best effort).
    pub(crate) async fn discard(mut self) {
        self.file.take();
        if let Ok(p) = call_method(&self.dir, "removeEntry", &[self.tmp.clone().into()]) {
            let _ = await_value(p).await;
        }
    }
}

impl std::io::Write for TmpWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Err(std::io::Error::other("the writer is closed"));
        };
        if let Err(e) = file.write_at(self.at, buf) {
            let message = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| e.message().as_string().unwrap_or_default())
                .unwrap_or_default();
            self.failed = Some(e);
            return Err(std::io::Error::other(message));
        }
        self.at += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
