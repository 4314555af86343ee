//! Index files on the file system under Node: storage "file", where an
//! index's name is a path. The vectors are read lazily through a file
//! descriptor with positional synchronous reads (`fs.readSync`), the way
//! the native crate reads a paged file; saves and imports write a
//! temporary file beside the target, flush it to the disk and rename it
//! over the target, so a reader sees the old file or the new one, whole.
//!
//! Node's `fs` module is loaded once, on the first call that needs it,
//! through a dynamic import whose specifier bundlers for the browser leave
//! alone.

use vectrove_core::store::{ByteSource, SourceRead};
use vectrove_core::{Error, Result};
use wasm_bindgen::prelude::*;

use crate::errors::{js_error, name, unsupported};
use crate::options::JsResult;

#[wasm_bindgen(inline_js = r#"
let fs = null;
export function isNode() {
  return typeof process === "object" && process !== null &&
    typeof process.versions === "object" && typeof process.versions.node === "string";
}
export async function loadFs() {
  if (fs === null) {
    const specifier = "node:fs";
    fs = await import(/* @vite-ignore */ specifier);
  }
}
export function fsOpen(path, flags) { return fs.openSync(path, flags); }
export function fsSize(fd) { return fs.fstatSync(fd).size; }
export function fsRead(fd, buf, pos) { return fs.readSync(fd, buf, 0, buf.length, pos); }
export function fsWrite(fd, buf) { return fs.writeSync(fd, buf); }
export function fsSync(fd) { fs.fsyncSync(fd); }
export function fsClose(fd) { try { fs.closeSync(fd); } catch {} }
export function fsRename(from, to) { fs.renameSync(from, to); }
export function fsUnlink(path) {
  try { fs.unlinkSync(path); return true; } catch (e) { if (e.code === "ENOENT") return false; throw e; }
}
export function fsIsFile(path) {
  try { return fs.statSync(path).isFile(); } catch (e) { if (e.code === "ENOENT") return false; throw e; }
}
export function fsReadAll(path) { return fs.readFileSync(path); }
export function errorCode(e) { return e && typeof e.code === "string" ? e.code : ""; }
export function errorMessage(e) { return e && typeof e.message === "string" ? e.message : String(e); }
export function tmpSuffix() { return "." + Math.floor(Math.random() * 2 ** 48).toString(16) + ".tmp"; }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = isNode)]
    fn is_node_js() -> bool;
    #[wasm_bindgen(js_name = loadFs, catch)]
    async fn load_fs() -> JsResult<()>;
    #[wasm_bindgen(js_name = fsOpen, catch)]
    fn fs_open(path: &str, flags: &str) -> JsResult<f64>;
    #[wasm_bindgen(js_name = fsSize, catch)]
    fn fs_size(fd: f64) -> JsResult<f64>;
    #[wasm_bindgen(js_name = fsRead, catch)]
    fn fs_read(fd: f64, buf: &mut [u8], pos: f64) -> JsResult<f64>;
    #[wasm_bindgen(js_name = fsWrite, catch)]
    fn fs_write(fd: f64, buf: &[u8]) -> JsResult<f64>;
    #[wasm_bindgen(js_name = fsSync, catch)]
    fn fs_sync(fd: f64) -> JsResult<()>;
    #[wasm_bindgen(js_name = fsClose)]
    fn fs_close(fd: f64);
    #[wasm_bindgen(js_name = fsRename, catch)]
    fn fs_rename(from: &str, to: &str) -> JsResult<()>;
    #[wasm_bindgen(js_name = fsUnlink, catch)]
    fn fs_unlink(path: &str) -> JsResult<bool>;
    #[wasm_bindgen(js_name = fsIsFile, catch)]
    fn fs_is_file(path: &str) -> JsResult<bool>;
    #[wasm_bindgen(js_name = fsReadAll, catch)]
    fn fs_read_all(path: &str) -> JsResult<Vec<u8>>;
    #[wasm_bindgen(js_name = errorCode)]
    fn error_code(e: &JsValue) -> String;
    #[wasm_bindgen(js_name = errorMessage)]
    fn error_message(e: &JsValue) -> String;
    #[wasm_bindgen(js_name = tmpSuffix)]
    fn tmp_suffix() -> String;
}

/// Whether this runs under Node (where storage "file" is the default).
pub(crate) fn is_node() -> bool {
    is_node_js()
}

/// Load Node's `fs`, or say that storage "file" needs Node.
pub(crate) async fn ready() -> JsResult<()> {
    if !is_node() {
        return Err(unsupported(
            "storage \"file\" reads and writes the file system, which only Node offers: in a \
             browser use \"opfs\", \"memory\" or \"indexeddb\"",
        ));
    }
    load_fs().await
}

/// A Node `fs` error as one of the library's errors, naming the path.
fn fs_error(e: &JsValue, what: &str, path: &str) -> JsValue {
    let code = error_code(e);
    let n = match code.as_str() {
        "ENOENT" => name::NOT_FOUND,
        "ENOSPC" | "EDQUOT" => name::QUOTA,
        _ => name::STORAGE,
    };
    js_error(n, format!("{what} {path}: {}", error_message(e)))
}

/// The error of a failed read, for the core (which carries no JS value).
fn read_error(e: &JsValue, path: &str) -> Error {
    Error::Storage {
        message: format!("reading {path}: {}", error_message(e)),
    }
}

/// An index file open for reading: its descriptor, closed when dropped.
pub(crate) struct NodeFile {
    fd: f64,
    len: u64,
    path: String,
}

impl NodeFile {
    /// Open the index file at `path` ([`ready`] first).
    pub(crate) fn open(path: &str) -> JsResult<NodeFile> {
        let fd = fs_open(path, "r").map_err(|e| fs_error(&e, "opening", path))?;
        let len = match fs_size(fd) {
            Ok(len) => len as u64,
            Err(e) => {
                fs_close(fd);
                return Err(fs_error(&e, "reading the size of", path));
            }
        };
        Ok(NodeFile {
            fd,
            len,
            path: path.to_string(),
        })
    }
}

impl Drop for NodeFile {
    fn drop(&mut self) {
        fs_close(self.fd);
    }
}

impl ByteSource for NodeFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let n = fs_read(self.fd, &mut buf[done..], at as f64)
                .map_err(|e| read_error(&e, &self.path))? as usize;
            if n == 0 {
                return Err(Error::Corrupt {
                    section: "file",
                    reason: format!(
                        "truncated: wanted {} bytes at offset {offset} of {}, which has {} bytes",
                        buf.len(),
                        self.path,
                        self.len
                    ),
                });
            }
            done += n;
        }
        Ok(SourceRead::Done)
    }
}

/// The whole file at `path` ([`ready`] first).
pub(crate) fn read_all(path: &str) -> JsResult<Vec<u8>> {
    fs_read_all(path).map_err(|e| fs_error(&e, "reading", path))
}

/// Whether a file is at `path` ([`ready`] first).
pub(crate) fn exists(path: &str) -> JsResult<bool> {
    fs_is_file(path).map_err(|e| fs_error(&e, "looking for", path))
}

/// Delete the file at `path`, if there is one ([`ready`] first).
pub(crate) fn remove(path: &str) -> JsResult<()> {
    fs_unlink(path)
        .map(drop)
        .map_err(|e| fs_error(&e, "deleting", path))
}

/// A new version of the file at `path`, written into a temporary file of
/// its own beside it; [`commit`](Self::commit) renames it over `path`, and
/// dropping it uncommitted deletes it.
pub(crate) struct FileWriter {
    fd: Option<f64>,
    path: String,
    tmp: String,
    /// The first JS error a write met: `std::io::Write` cannot carry it.
    pub(crate) failed: Option<JsValue>,
}

impl FileWriter {
    /// Start writing a new version of `path` ([`ready`] first).
    pub(crate) fn create(path: &str) -> JsResult<FileWriter> {
        let tmp = format!("{path}{}", tmp_suffix());
        // "wx": a file of our own, never one that is there already.
        let fd = fs_open(&tmp, "wx").map_err(|e| fs_error(&e, "creating", &tmp))?;
        Ok(FileWriter {
            fd: Some(fd),
            path: path.to_string(),
            tmp,
            failed: None,
        })
    }

    /// Append `bytes`.
    pub(crate) fn write_all_js(&mut self, mut bytes: &[u8]) -> JsResult<()> {
        let Some(fd) = self.fd else {
            return Err(js_error(name::STORAGE, "write after the file was closed"));
        };
        while !bytes.is_empty() {
            let n = fs_write(fd, bytes).map_err(|e| fs_error(&e, "writing", &self.tmp))? as usize;
            if n == 0 {
                return Err(js_error(
                    name::STORAGE,
                    format!("writing {}: nothing was written", self.tmp),
                ));
            }
            bytes = &bytes[n.min(bytes.len())..];
        }
        Ok(())
    }

    /// Flush the new version to the disk and rename it over the target.
    pub(crate) fn commit(mut self) -> JsResult<()> {
        let Some(fd) = self.fd.take() else {
            return Err(js_error(
                name::STORAGE,
                "the file was closed before its commit",
            ));
        };
        let synced = fs_sync(fd).map_err(|e| fs_error(&e, "flushing", &self.tmp));
        fs_close(fd);
        synced?;
        fs_rename(&self.tmp, &self.path).map_err(|e| fs_error(&e, "replacing", &self.path))?;
        self.tmp.clear();
        Ok(())
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            fs_close(fd);
        }
        if !self.tmp.is_empty() {
            let _ = fs_unlink(&self.tmp);
        }
    }
}

impl std::io::Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.write_all_js(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                self.failed.get_or_insert(e);
                Err(std::io::Error::other("writing the index file failed"))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
