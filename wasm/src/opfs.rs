//! The Origin Private File System: index files under the `vectrove`
//! directory, read lazily through a `FileSystemSyncAccessHandle` (dedicated
//! workers only) or whole through the asynchronous file API (anywhere).
//!
//! Saving never overwrites in place. The synchronous path writes
//! `<name>.vtrv.tmp`, flushes and closes it, then moves it over
//! `<name>.vtrv`; the asynchronous path writes through a writable stream,
//! which the browser applies only when it is closed. A tab closed halfway
//! leaves the previous file (and perhaps a stale `.tmp`, which the next save
//! replaces).

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

/// The directory every index file lives in.
const DIR: &str = "vectrove";

/// The file name of index `name`.
pub(crate) fn file_name(name: &str) -> String {
    format!("{name}.vtrv")
}

fn tmp_name(name: &str) -> String {
    format!("{name}.vtrv.tmp")
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

/// Remove index `name` (and a stale temporary file) from OPFS.
pub(crate) async fn remove(name: &str) -> Result<(), JsValue> {
    let d = dir().await?;
    for file in [file_name(name), tmp_name(name)] {
        if let Err(e) = await_value(call_method(&d, "removeEntry", &[file.clone().into()])?).await {
            let e = from_dom(e, &format!("removing {file} from OPFS"));
            if !is_named(&e, name::NOT_FOUND) {
                return Err(e);
            }
        }
    }
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
    let h = file_handle(&d, &file_name(name), false)
        .await
        .map_err(|e| {
            if is_named(&e, name::NOT_FOUND) {
                not_found(name)
            } else {
                e
            }
        })?;
    let file = await_value(call_method(&h, "getFile", &[])?)
        .await
        .map_err(|e| from_dom(e, &format!("reading index \"{name}\" from OPFS")))?;
    let buf = await_value(call_method(&file, "arrayBuffer", &[])?)
        .await
        .map_err(|e| from_dom(e, &format!("reading index \"{name}\" from OPFS")))?;
    Ok(Uint8Array::new(&buf).to_vec())
}

/// Write `bytes` as index `name` through a writable stream: the browser
/// swaps the new contents in only when the stream closes.
pub(crate) async fn write_all_async(name: &str, bytes: &[u8]) -> Result<(), JsValue> {
    let d = dir().await?;
    let h = file_handle(&d, &file_name(name), true).await?;
    let what = format!("saving index \"{name}\" to OPFS");
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

    /// Index `name`'s file, locked for as long as this lives.
    pub(crate) async fn open_index(name: &str) -> Result<SyncFile, JsValue> {
        let d = dir().await?;
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
        .map(|e| String::from(e.message()))
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

/// Streams a new version of index `name` into `<name>.vtrv.tmp` through a
/// sync access handle; [`commit`](Self::commit) moves it into place.
pub(crate) struct TmpWriter {
    dir: FileSystemDirectoryHandle,
    name: String,
    file: Option<SyncFile>,
    at: u64,
    /// The first JS error a write met: `std::io::Write` cannot carry it.
    pub(crate) failed: Option<JsValue>,
}

impl TmpWriter {
    pub(crate) async fn create(name: &str) -> Result<TmpWriter, JsValue> {
        let dir = dir().await?;
        let mut file = SyncFile::open(&dir, &tmp_name(name), true).await?;
        file.truncate(0)?;
        Ok(TmpWriter {
            dir,
            name: name.to_string(),
            file: Some(file),
            at: 0,
            failed: None,
        })
    }

    /// Flush and close the temporary file, then move it over the index.
    /// The index file must not be open (its handle closed) by then.
    pub(crate) async fn commit(mut self) -> Result<(), JsValue> {
        let file = self.file.take().expect("a writer commits once");
        file.handle
            .flush()
            .map_err(|e| from_dom(e, "flushing a new index file in OPFS"))?;
        file.close();
        drop(file);
        let tmp = file_handle(&self.dir, &tmp_name(&self.name), false).await?;
        let target = file_name(&self.name);
        // `move` within a directory replaces the target in one step.
        await_value(call_method(
            &tmp,
            "move",
            &[self.dir.clone().into(), target.clone().into()],
        )?)
        .await
        .map_err(|e| from_dom(e, &format!("moving the new {target} into place")))?;
        Ok(())
    }

    /// Give up: close and delete the temporary file (best effort).
    pub(crate) async fn discard(mut self) {
        if let Some(file) = self.file.take() {
            file.close();
        }
        if let Ok(p) = call_method(&self.dir, "removeEntry", &[tmp_name(&self.name).into()]) {
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
                .map(|e| String::from(e.message()))
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
