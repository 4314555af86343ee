//! The warm cache of an index read over HTTP (`persist: true`): what its
//! searches fetched, kept in the Origin Private File System, so that a later
//! visit reads it from the disk instead of the network.
//!
//! Each URL has two files in `vectrove/http-cache/`, named by a hash of the
//! URL:
//!
//! - `<hash>.data` mirrors the remote file: bytes fetched from offset `o`
//!   are written at `o` (the file is sparse where nothing was fetched).
//! - `<hash>.log` says which bytes of it are there: a header (the URL, the
//!   file's length and pinned version, with a CRC), then one 20-byte record
//!   per stretch written (start, end, CRC of the two).
//!
//! A record is appended only after its bytes are written and flushed (in
//! batches of a few MiB, and when the index is closed), and
//! the bytes were good when they arrived (a block of the vectors or codes
//! matched its checksum; the metadata passed the open's checks), so every
//! record stays true; a torn last record is dropped when the log is read.
//! What is read back is checked again (blocks against their checksums, the
//! metadata by the open), so a damaged cache costs a refetch, never a wrong
//! answer. A file whose length or version on the server differs from the
//! log's starts an empty cache.
//!
//! Sync access handles exist only in dedicated workers, and are exclusive:
//! a second context that opens the same URL with `persist` reads from the
//! network alone. Every failure of the disk (a full quota, say) turns the
//! cache off for the rest of the session and the searches go on.

use std::cell::{Cell, RefCell};
use std::ops::Range;

use vectrove_core::format::checksum;
use wasm_bindgen::{JsCast, JsValue};

use crate::errors::{from_dom, js_error, name};
use crate::js::await_value;
use crate::opfs::SyncFile;

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
async function dir() {
  const root = await navigator.storage.getDirectory();
  const top = await root.getDirectoryHandle("vectrove", { create: true });
  return top.getDirectoryHandle("http-cache", { create: true });
}
export async function warmOpen(stem) {
  const d = await dir();
  const log = await (await d.getFileHandle(stem + ".log", { create: true })).createSyncAccessHandle();
  try {
    const data = await (await d.getFileHandle(stem + ".data", { create: true })).createSyncAccessHandle();
    return [log, data];
  } catch (e) {
    log.close();
    throw e;
  }
}
export async function warmExists(stem) {
  try {
    await (await dir()).getFileHandle(stem + ".log");
    return true;
  } catch (e) {
    if (e && e.name === "NotFoundError") return false;
    throw e;
  }
}
// The log first: without it, the data names nothing.
export async function warmRemove(stem) {
  const d = await dir();
  for (const ext of [".log", ".data"]) {
    await d.removeEntry(stem + ext).catch((e) => { if (!e || e.name !== "NotFoundError") throw e; });
  }
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = warmOpen)]
    fn warm_open(stem: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = warmExists)]
    fn warm_exists(stem: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = warmRemove)]
    fn warm_remove(stem: &str) -> js_sys::Promise;
}

const MAGIC: &[u8; 4] = b"VTRW";
const VERSION: u32 = 1;
const RECORD: usize = 20;
/// Kept bytes waiting for their records before they are flushed and
/// recorded together.
const RECORD_BATCH_BYTES: u64 = 8 << 20;
/// A log longer than this is not read (it would be a damaged one): the
/// cache starts empty.
const MAX_LOG_BYTES: u64 = 64 << 20;

/// The file names of `url`'s cache: FNV-1a, 64 bits, of the URL.
fn stem(url: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn header(url: &str, pin: &str, file_len: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(28 + url.len() + pin.len());
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&file_len.to_le_bytes());
    h.extend_from_slice(&(pin.len() as u32).to_le_bytes());
    h.extend_from_slice(&(url.len() as u32).to_le_bytes());
    h.extend_from_slice(pin.as_bytes());
    h.extend_from_slice(url.as_bytes());
    let crc = checksum(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

fn record(r: &Range<u64>) -> [u8; RECORD] {
    let mut rec = [0u8; RECORD];
    rec[..8].copy_from_slice(&r.start.to_le_bytes());
    rec[8..16].copy_from_slice(&r.end.to_le_bytes());
    let crc = checksum(&rec[..16]);
    rec[16..].copy_from_slice(&crc.to_le_bytes());
    rec
}

/// The stretches the records after the header name, in order, up to the
/// first that is torn or out of the file.
fn records(log: &[u8], file_len: u64) -> Vec<Range<u64>> {
    log.chunks_exact(RECORD)
        .map_while(|rec| {
            let word = |i: usize| u64::from_le_bytes(rec[i..i + 8].try_into().unwrap_or([0; 8]));
            let crc = u32::from_le_bytes(rec[16..].try_into().unwrap_or([0; 4]));
            let r = word(0)..word(8);
            (crc == checksum(&rec[..16]) && r.start < r.end && r.end <= file_len).then_some(r)
        })
        .collect()
}

/// Add `r` to `have` (sorted, disjoint, merged where they touch).
fn add(have: &mut Vec<Range<u64>>, r: Range<u64>) {
    let i = have.partition_point(|h| h.end < r.start);
    let mut j = i;
    let mut merged = r;
    while j < have.len() && have[j].start <= merged.end {
        merged.start = merged.start.min(have[j].start);
        merged.end = merged.end.max(have[j].end);
        j += 1;
    }
    have.splice(i..j, [merged]);
}

/// Take `r` out of `have`.
fn remove(have: &mut Vec<Range<u64>>, r: &Range<u64>) {
    let mut out = Vec::with_capacity(have.len() + 1);
    for h in have.drain(..) {
        if h.end <= r.start || r.end <= h.start {
            out.push(h);
            continue;
        }
        if h.start < r.start {
            out.push(h.start..r.start);
        }
        if r.end < h.end {
            out.push(r.end..h.end);
        }
    }
    *have = out;
}

fn covers(have: &[Range<u64>], r: &Range<u64>) -> bool {
    let i = have.partition_point(|h| h.end <= r.start);
    have.get(i)
        .is_some_and(|h| h.start <= r.start && r.end <= h.end)
}

struct Disk {
    data: SyncFile,
    log: SyncFile,
    header_len: u64,
    have: Vec<Range<u64>>,
    /// Stretches written but not recorded yet: the open's, recorded once
    /// it succeeds, and the searches', recorded in batches.
    pending: Vec<Range<u64>>,
    /// Their bytes.
    pending_bytes: u64,
}

/// A URL's warm cache, or nothing once the disk failed.
pub(crate) struct Warm {
    disk: RefCell<Option<Disk>>,
    url: String,
    pin: String,
    file_len: u64,
    /// Bytes read back from the disk.
    read: Cell<u64>,
}

impl Warm {
    /// Open (or start) the warm cache of `url`, a file of `file_len` bytes
    /// pinned as `pin`. Fails when the files are held elsewhere or OPFS is
    /// out of reach.
    pub(crate) async fn open(url: &str, pin: &str, file_len: u64) -> Result<Warm, JsValue> {
        let files: js_sys::Array = await_value(warm_open(&stem(url)).into())
            .await
            .map_err(|e| from_dom(e, "opening the warm cache in OPFS"))?
            .unchecked_into();
        let handle =
            |i: u32| -> web_sys::FileSystemSyncAccessHandle { files.get(i).unchecked_into() };
        let (mut log, mut data) = match (
            SyncFile::from_handle(handle(0)),
            SyncFile::from_handle(handle(1)),
        ) {
            (Ok(log), Ok(data)) => (log, data),
            // Let go of both files (a SyncFile closes its own when dropped).
            (log, data) => {
                for (i, f) in [log, data].into_iter().enumerate() {
                    if f.is_err() {
                        handle(i as u32).close();
                    }
                }
                return Err(js_error(
                    name::STORAGE,
                    "the warm cache's files could not be read",
                ));
            }
        };
        let head = header(url, pin, file_len);
        let header_len = head.len() as u64;
        let mut have = Vec::new();
        let mut kept = 0usize;
        let len = log.len();
        if len >= header_len && len <= MAX_LOG_BYTES {
            let mut bytes = vec![0u8; len as usize];
            let read = log.read_exact_at(0, &mut bytes).is_ok();
            if read && bytes[..head.len()] == head[..] {
                let recs = records(&bytes[head.len()..], file_len);
                kept = recs.len();
                for r in recs {
                    add(&mut have, r);
                }
                // A torn or damaged record ends what is read: cut it off, so
                // that later records follow the good ones.
                let good = header_len + (kept * RECORD) as u64;
                if good < len {
                    log.truncate(good)?;
                    log.flush()?;
                }
            }
        }
        let warm = |have: Vec<Range<u64>>, data, log| Warm {
            disk: RefCell::new(Some(Disk {
                data,
                log,
                header_len,
                have,
                pending: Vec::new(),
                pending_bytes: 0,
            })),
            url: url.to_string(),
            pin: pin.to_string(),
            file_len,
            read: Cell::new(0),
        };
        if have.is_empty() {
            // Nothing usable: a new URL, another version, or a damaged log.
            log.truncate(0)?;
            data.truncate(0)?;
            log.write_at(0, &head)?;
            log.flush()?;
            return Ok(warm(have, data, log));
        }
        // The log names the same bytes over and over in places: write the
        // merged list instead when it is much shorter. Every record either
        // way is true, so stopping halfway loses nothing.
        if kept > 2 * have.len() + 64 {
            let mut out = Vec::with_capacity(have.len() * RECORD);
            for r in &have {
                out.extend_from_slice(&record(r));
            }
            log.write_at(header_len, &out)?;
            log.truncate(header_len + out.len() as u64)?;
            log.flush()?;
        }
        Ok(warm(have, data, log))
    }

    /// Whether the cache still works.
    pub(crate) fn active(&self) -> bool {
        self.disk.borrow().is_some()
    }

    /// Bytes read back from the disk so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read.get()
    }

    /// Turn the cache off after a failure of the disk (the files stay; the
    /// next session reads what their log names).
    fn fail(&self) {
        self.disk.borrow_mut().take();
    }

    /// The bytes of `r`, if the cache holds all of them.
    pub(crate) fn get(&self, r: &Range<u64>) -> Option<Vec<u8>> {
        let mut disk = self.disk.borrow_mut();
        let d = disk.as_mut()?;
        if !covers(&d.have, r) {
            return None;
        }
        let mut buf = Vec::new();
        buf.try_reserve_exact((r.end - r.start) as usize).ok()?;
        buf.resize((r.end - r.start) as usize, 0);
        if d.data.read_exact_at(r.start, &mut buf).is_err() {
            // Shorter than its log says: forget the stretch.
            remove(&mut d.have, r);
            return None;
        }
        self.read.set(self.read.get() + buf.len() as u64);
        Some(buf)
    }

    /// Forget `r` (its bytes read back were bad); a refetch rewrites it.
    pub(crate) fn forget(&self, r: &Range<u64>) {
        if let Some(d) = self.disk.borrow_mut().as_mut() {
            remove(&mut d.have, r);
        }
    }

    /// Keep the pieces `(start, bytes)` of one fetch, each fetched from
    /// `start` and found good. They are written now (and read back from the
    /// copy by this session), and recorded in batches: once
    /// [`RECORD_BATCH_BYTES`] are waiting, and when the index is closed,
    /// the data is flushed once and the log appended and flushed once. A
    /// session that ends abruptly loses only its last unrecorded stretches,
    /// which a later visit fetches again.
    pub(crate) fn keep(&self, pieces: &[(u64, &[u8])]) {
        let mut due = false;
        for &(start, bytes) in pieces {
            let r = start..start + bytes.len() as u64;
            if r.is_empty() || r.end > self.file_len {
                continue;
            }
            if self.write(&r, bytes).is_err() {
                return self.fail();
            }
            if let Some(d) = self.disk.borrow_mut().as_mut() {
                add(&mut d.have, r.clone());
                d.pending_bytes += r.end - r.start;
                due = d.pending_bytes >= RECORD_BATCH_BYTES;
                d.pending.push(r);
            }
        }
        if due {
            self.commit();
        }
    }

    /// Write `bytes`, fetched from `start` while opening, to be recorded by
    /// [`commit`](Self::commit) once the open has checked them.
    pub(crate) fn hold(&self, start: u64, bytes: &[u8]) {
        let r = start..start + bytes.len() as u64;
        if r.is_empty() || r.end > self.file_len {
            return;
        }
        match self.write(&r, bytes) {
            Ok(()) => {
                if let Some(d) = self.disk.borrow_mut().as_mut() {
                    d.pending.push(r);
                }
            }
            Err(_) => self.fail(),
        }
    }

    /// Record what [`hold`](Self::hold) and [`keep`](Self::keep) wrote.
    pub(crate) fn commit(&self) {
        let pending = match self.disk.borrow_mut().as_mut() {
            Some(d) => {
                d.pending_bytes = 0;
                std::mem::take(&mut d.pending)
            }
            None => return,
        };
        if self
            .flush_data()
            .and_then(|()| self.record(&pending))
            .is_err()
        {
            self.fail();
        }
    }

    /// Forget what [`hold`](Self::hold) wrote (an open that failed): it is
    /// never recorded.
    pub(crate) fn drop_pending(&self) {
        if let Some(d) = self.disk.borrow_mut().as_mut() {
            d.pending.clear();
            d.pending_bytes = 0;
        }
    }

    /// Empty the cache (what it held did not pass the open's checks).
    pub(crate) fn reset(&self) {
        let mut disk = self.disk.borrow_mut();
        let Some(d) = disk.as_mut() else { return };
        d.have.clear();
        d.pending.clear();
        let head = header(&self.url, &self.pin, self.file_len);
        let ok = d
            .log
            .truncate(0)
            .and_then(|()| d.data.truncate(0))
            .and_then(|()| d.log.write_at(0, &head))
            .and_then(|()| d.log.flush());
        if ok.is_err() {
            disk.take();
        }
    }

    /// Write `bytes` at `r.start` of the copy (nothing once the cache is
    /// off; the callers keep to the file's bounds).
    fn write(&self, r: &Range<u64>, bytes: &[u8]) -> Result<(), JsValue> {
        match self.disk.borrow_mut().as_mut() {
            Some(d) => d.data.write_at(r.start, bytes),
            None => Ok(()),
        }
    }

    fn flush_data(&self) -> Result<(), JsValue> {
        match self.disk.borrow().as_ref() {
            Some(d) => d.data.flush(),
            None => Ok(()),
        }
    }

    /// Flush the data, then append a record of each of `rs` and flush it.
    fn record(&self, rs: &[Range<u64>]) -> Result<(), JsValue> {
        let mut disk = self.disk.borrow_mut();
        let Some(d) = disk.as_mut() else {
            return Ok(());
        };
        if rs.is_empty() {
            return Ok(());
        }
        d.data.flush()?;
        let mut out = Vec::with_capacity(rs.len() * RECORD);
        for r in rs {
            out.extend_from_slice(&record(r));
        }
        let at = d.log.len().max(d.header_len);
        d.log.write_at(at, &out)?;
        d.log.flush()?;
        for r in rs {
            add(&mut d.have, r.clone());
        }
        Ok(())
    }
}

impl Drop for Warm {
    /// Closing the index records what its searches kept.
    fn drop(&mut self) {
        self.commit();
    }
}

/// Whether a warm cache of `url` is kept.
pub(crate) async fn exists(url: &str) -> Result<bool, JsValue> {
    let kept = await_value(warm_exists(&stem(url)).into())
        .await
        .map_err(|e| from_dom(e, "looking for a warm cache in OPFS"))?;
    Ok(kept.is_truthy())
}

/// Delete the warm cache of `url` (nothing if there is none). Fails with
/// `IndexLockedError` while an open index uses it.
pub(crate) async fn remove_cache(url: &str) -> Result<(), JsValue> {
    await_value(warm_remove(&stem(url)).into())
        .await
        .map_err(|e| from_dom(e, &format!("removing the warm cache of {url}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_merge_and_split() {
        let mut have = Vec::new();
        add(&mut have, 10..20);
        add(&mut have, 30..40);
        add(&mut have, 20..30);
        assert_eq!(have, vec![10..40]);
        add(&mut have, 50..60);
        assert!(covers(&have, &(12..40)));
        assert!(!covers(&have, &(35..55)));
        remove(&mut have, &(15..52));
        assert_eq!(have, vec![10..15, 52..60]);
    }

    #[test]
    fn a_torn_record_ends_the_log() {
        let mut log = Vec::new();
        log.extend_from_slice(&record(&(0..100)));
        log.extend_from_slice(&record(&(200..300)));
        let mut bad = record(&(400..500));
        bad[3] ^= 1;
        log.extend_from_slice(&bad);
        log.extend_from_slice(&record(&(600..700)));
        log.extend_from_slice(&[1, 2, 3]);
        assert_eq!(records(&log, 1000), vec![0..100, 200..300]);
        // A record past the file's end is not believed either.
        assert_eq!(records(&log, 250), vec![0..100]);
    }

    #[test]
    fn headers_differ_by_url_version_and_length() {
        let a = header("https://x/a.vtrv", "\"1\"", 10);
        assert_ne!(a, header("https://x/b.vtrv", "\"1\"", 10));
        assert_ne!(a, header("https://x/a.vtrv", "\"2\"", 10));
        assert_ne!(a, header("https://x/a.vtrv", "\"1\"", 11));
        assert_ne!(stem("https://x/a.vtrv"), stem("https://x/b.vtrv"));
    }
}
