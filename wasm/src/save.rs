//! Saving a JS index: atomically, to an OPFS file or a new IndexedDB
//! generation, through one [`Sink`] that commits or discards.

use vectrove_core::format::Header;
use wasm_bindgen::prelude::*;

use crate::errors::{from_core, from_dom, invalid_argument, unsupported};
use crate::idb::{self, IdbWriter};
use crate::js::in_dedicated_worker;
use crate::nodefs::{self, FileWriter};
use crate::open::{engine_from_bytes, open_file, open_opfs};
use crate::opfs::{self, TmpWriter};
use crate::options::{JsResult, Storage, check_name, check_path};
use crate::sink::Sink;
use crate::state::Inner;
use crate::store::Source;

/// Save `inner` under `name` (default: the name it was opened or last
/// saved under), to the storage `options` names.
pub(crate) async fn save(
    inner: &mut Inner,
    name: Option<String>,
    options: &JsValue,
) -> JsResult<()> {
    let name = match name.or_else(|| inner.name.clone()) {
        Some(n) => n,
        None => {
            return Err(invalid_argument(
                "save() needs a name for an index that was not opened by name",
            ));
        }
    };
    let target = Storage::parse(options)?.unwrap_or(match inner.storage {
        Storage::Idb => Storage::Idb,
        Storage::File => Storage::File,
        _ if nodefs::is_node() => Storage::File,
        _ if in_dedicated_worker() => Storage::Opfs,
        _ => Storage::Memory,
    });
    if target.is_file_path() {
        check_path(&name)?;
    } else {
        check_name(&name)?;
    }
    if inner.storage == Storage::Http {
        return Err(unsupported(
            "an index opened with storage \"http\" is read-only: download it with Index.import \
             and save that",
        ));
    }
    if inner.storage == Storage::Idb {
        return Err(unsupported(
            "an index opened from IndexedDB is read lazily and cannot be written back; \
             build or open it in memory (or OPFS) and save that",
        ));
    }
    match target {
        _ if target.is_file_path() => save_file(inner, &name).await?,
        Storage::Idb => {
            let bytes = inner.engine.to_bytes().map_err(from_core)?;
            store_idb(&name, &bytes).await?;
        }
        Storage::Memory => {
            let bytes = inner.engine.to_bytes().map_err(from_core)?;
            opfs::write_all_async(&name, &bytes).await?;
        }
        Storage::Opfs if !in_dedicated_worker() => {
            let bytes = inner.engine.to_bytes().map_err(from_core)?;
            opfs::write_all_async(&name, &bytes).await?;
        }
        Storage::Opfs => save_opfs(inner, &name).await?,
        Storage::File => unreachable_file()?,
        Storage::Http => {
            return Err(unsupported(
                "nothing is saved over HTTP: publish the bytes of toBytes() on a web server",
            ));
        }
    }
    if inner.storage == Storage::Memory {
        inner.name = Some(name);
    }
    Ok(())
}

/// Save to OPFS through a temporary file (in a dedicated worker). An index
/// read lazily from the very file it replaces lets go of it for the move,
/// then goes on from the new file. If the move fails, or the new file
/// cannot be opened (another tab or worker took it first), it goes on from
/// a whole copy of the new version in memory (`storage` becomes "memory"):
/// it never stays on a closed file, and no unsaved addition is lost.
async fn save_opfs(inner: &mut Inner, name: &str) -> JsResult<()> {
    let mut w = TmpWriter::create(name).await?;
    if let Err(e) = inner.engine.write_to(&mut w) {
        let err = w.failed.take().unwrap_or_else(|| from_core(e));
        w.discard().await;
        return Err(from_dom(err, &format!("saving index \"{name}\" to OPFS")));
    }
    let reopen = inner.storage == Storage::Opfs && inner.name.as_deref() == Some(name);
    let old = match inner.engine.store().base().map(|b| b.source()) {
        Some(Source::Opfs(s)) if reopen => Some(&s.file),
        _ => None,
    };
    // No other writer of the name may start before the index is on a live
    // source again.
    let _lock = w.take_lock();
    // The move needs the old file's handle released.
    if let Some(f) = old {
        f.close();
    }
    let mut result = w.commit().await;
    if reopen {
        let opened = match result {
            Ok(()) => open_opfs(name, inner.cache_bytes, false).await,
            Err(_) => Err(JsValue::NULL),
        };
        match opened {
            Ok(engine) => inner.engine = engine,
            Err(_) => match w
                .read_back(result.is_ok())
                .await
                .and_then(|bytes| engine_from_bytes(&bytes))
            {
                Ok(engine) => {
                    inner.engine = engine;
                    inner.storage = Storage::Memory;
                }
                Err(e) => result = result.and(Err(e)),
            },
        }
    }
    if result.is_err() {
        w.discard().await;
    }
    result
}

/// Storage "file" always names a path (a guard above takes it).
fn unreachable_file() -> JsResult<()> {
    Err(unsupported("storage \"file\" is for Node"))
}

/// Save to the file at `path` under Node through a temporary file beside
/// it, flushed to the disk and renamed over `path`. An index read lazily
/// from that very file goes on from the new one; if that fails it stays on
/// the old file's descriptor, which still reads the previous version whole.
async fn save_file(inner: &mut Inner, path: &str) -> JsResult<()> {
    nodefs::ready().await?;
    let mut w = FileWriter::create(path)?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut w);
        let written = inner
            .engine
            .write_to(&mut out)
            .and_then(|()| std::io::Write::flush(&mut out).map_err(vectrove_core::Error::from));
        drop(out);
        if let Err(e) = written {
            return Err(w.failed.take().unwrap_or_else(|| from_core(e)));
        }
    }
    w.commit()?;
    if inner.storage == Storage::File
        && inner.name.as_deref() == Some(path)
        && let Ok(engine) = open_file(path, inner.cache_bytes, false).await
    {
        inner.engine = engine;
    }
    Ok(())
}

/// Write a whole file into IndexedDB as index `name`.
async fn store_idb(name: &str, bytes: &[u8]) -> JsResult<()> {
    let header = Header::parse(bytes, bytes.len() as u64).map_err(from_core)?;
    let meta_len = header.meta_len as usize;
    let page_bytes = idb::DEFAULT_PAGE_BYTES.max(header.vector_stride());
    let lens = idb::page_lens(&header, page_bytes)?;
    let mut sink = Sink::Idb(
        IdbWriter::start(
            name,
            bytes[..meta_len].to_vec(),
            header.file_len,
            page_bytes,
            lens,
        )
        .await?,
    );
    let written = async {
        for part in bytes[meta_len..].chunks(1 << 20) {
            sink.write(part).await?;
        }
        Ok(())
    }
    .await;
    sink.finish(written).await
}
