//! Reading the options objects and arguments JS passes in: one parser per
//! option, shared by every class.

use std::cell::RefCell;
use std::collections::HashSet;

use js_sys::{Array, BigUint64Array, Float64Array, Function, Reflect, Uint32Array};
use vectrove_core::{Metric, Quantization, SearchParams};
use wasm_bindgen::prelude::*;

use crate::errors::{from_core, invalid_argument, type_error};
use crate::js::{IdType, describe, opt, opt_string, opt_usize, to_id};
use crate::state::Engine;

/// What every binding returns: a value, or the JS error to throw.
pub(crate) type JsResult<T> = Result<T, JsValue>;

/// The `metric` option ("l2", "cosine" or "ip"), `default` when absent.
pub(crate) fn metric(options: &JsValue, default: Metric) -> JsResult<Metric> {
    match opt_string(options, "metric")?.as_deref() {
        None => Ok(default),
        Some("l2") => Ok(Metric::L2),
        Some("cosine") => Ok(Metric::Cosine),
        Some("ip") => Ok(Metric::InnerProduct),
        Some(m) => Err(invalid_argument(format!(
            "unknown metric \"{m}\": use \"l2\", \"cosine\" or \"ip\""
        ))),
    }
}

/// The `init` option of k-means ("kmeans++", "random" or "hierarchical"),
/// k-means++ when absent.
pub(crate) fn kmeans_init(options: &JsValue) -> JsResult<vectrove_core::kmeans::Init> {
    use vectrove_core::kmeans::Init;
    match opt_string(options, "init")? {
        None => Ok(Init::KMeansPlusPlus),
        Some(name) => Init::from_name(&name).ok_or_else(|| {
            invalid_argument(format!(
                "unknown init \"{name}\": use \"kmeans++\", \"random\" or \"hierarchical\""
            ))
        }),
    }
}

/// The `quantize` option ("sq8" or "sq4"), `None` when absent.
pub(crate) fn quantization(options: &JsValue) -> JsResult<Option<Quantization>> {
    opt_string(options, "quantize")?
        .map(|q| parse_quantization(&q))
        .transpose()
}

/// A quantisation's name, as `quantize` options and `Index.quantize` take it.
pub(crate) fn parse_quantization(name: &str) -> JsResult<Quantization> {
    name.parse().map_err(from_core)
}

/// Where a JS index keeps its vectors.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Storage {
    Memory,
    Opfs,
    Idb,
    Http,
    /// Node's file system; the name is a path.
    File,
}

impl Storage {
    pub(crate) fn parse(options: &JsValue) -> JsResult<Option<Storage>> {
        Ok(match opt_string(options, "storage")?.as_deref() {
            None => None,
            Some("memory") => Some(Storage::Memory),
            Some("opfs") => Some(Storage::Opfs),
            Some("indexeddb") => Some(Storage::Idb),
            Some("http") => Some(Storage::Http),
            Some("file") => Some(Storage::File),
            Some(other) => {
                return Err(invalid_argument(format!(
                    "unknown storage \"{other}\": use \"memory\", \"opfs\", \"indexeddb\", \"http\" \
                     or (under Node) \"file\""
                )));
            }
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Storage::Memory => "memory",
            Storage::Opfs => "opfs",
            Storage::Idb => "indexeddb",
            Storage::Http => "http",
            Storage::File => "file",
        }
    }
}

impl Storage {
    /// The storage when none is given: "file" under Node, "opfs" elsewhere.
    pub(crate) fn default_here() -> Storage {
        if crate::nodefs::is_node() {
            Storage::File
        } else {
            Storage::Opfs
        }
    }

    /// Whether the name is a path on Node's file system: storage "file",
    /// or "memory" (the file read whole) under Node.
    pub(crate) fn is_file_path(self) -> bool {
        self == Storage::File || (self == Storage::Memory && crate::nodefs::is_node())
    }
}

/// Refuse a path that no file system takes (storage "file").
pub(crate) fn check_path(path: &str) -> JsResult<()> {
    if path.is_empty() || path.contains('\0') || path.len() > 4096 {
        return Err(invalid_argument(
            "a file path must have 1 to 4096 characters and no NUL",
        ));
    }
    Ok(())
}

/// Refuse index names that are not a plain file name.
pub(crate) fn check_name(name: &str) -> JsResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.contains(['/', '\\', '\0'])
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(invalid_argument(format!(
            "invalid index name \"{name}\": use 1 to 200 characters without / or \\"
        )))
    }
}

/// A search's `filter` as a Rust predicate: a function of the id (its
/// first exception is kept and rethrown once the search returns), a
/// bitmap of the ids allowed (a `Uint8Array`), or a collection of them
/// (any other iterable: an array, a `Set`, a typed array), read once
/// before the search starts.
pub(crate) struct JsFilter {
    f: Option<Function>,
    id_type: IdType,
    ids: Option<HashSet<u64>>,
    /// A bitmap: id `i` is allowed when bit `i % 8` of byte `i / 8` is set.
    bits: Option<Vec<u8>>,
    thrown: RefCell<Option<JsValue>>,
}

impl JsFilter {
    pub(crate) fn new(options: &JsValue, id_type: IdType) -> JsResult<JsFilter> {
        let (mut f, mut ids, mut bits) = (None, None, None);
        match opt(options, "filter")? {
            None => {}
            Some(v) if v.is_function() => f = Some(v.unchecked_into()),
            Some(v) => match v.dyn_ref::<js_sys::Uint8Array>() {
                Some(b) => bits = Some(b.to_vec()),
                None => ids = Some(id_set(&v)?),
            },
        }
        Ok(JsFilter {
            f,
            id_type,
            ids,
            bits,
            thrown: RefCell::new(None),
        })
    }

    pub(crate) fn accept(&self, id: u64) -> bool {
        if let Some(bits) = &self.bits {
            return usize::try_from(id / 8)
                .ok()
                .and_then(|i| bits.get(i))
                .is_some_and(|b| b & (1 << (id % 8)) != 0);
        }
        if let Some(ids) = &self.ids {
            return ids.contains(&id);
        }
        let Some(f) = &self.f else { return true };
        if self.thrown.borrow().is_some() {
            return false;
        }
        match f.call1(&JsValue::NULL, &self.id_type.value(id)) {
            Ok(v) => v.is_truthy(),
            Err(e) => {
                *self.thrown.borrow_mut() = Some(e);
                false
            }
        }
    }

    pub(crate) fn finish(self) -> JsResult<()> {
        match self.thrown.into_inner() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The ids of a filter given as a collection. Typed arrays are copied in
/// one go; any other iterable is walked.
fn id_set(v: &JsValue) -> JsResult<HashSet<u64>> {
    if let Some(a) = v.dyn_ref::<Uint32Array>() {
        return Ok(a.to_vec().into_iter().map(u64::from).collect());
    }
    if let Some(a) = v.dyn_ref::<BigUint64Array>() {
        return Ok(a.to_vec().into_iter().collect());
    }
    let mut ids = HashSet::new();
    if let Some(a) = v.dyn_ref::<Float64Array>() {
        for x in a.to_vec() {
            ids.insert(to_id(&x.into(), "filter")?);
        }
        return Ok(ids);
    }
    let iterable = if v.is_object() {
        js_sys::try_iter(v)?
    } else {
        None
    };
    let iter = iterable.ok_or_else(|| {
        type_error(format!(
            "`filter` must be a function of the id or a collection of ids (an array, a Set, a \
             typed array), got {}",
            describe(v)
        ))
    })?;
    for item in iter {
        ids.insert(to_id(&item?, "filter")?);
    }
    Ok(ids)
}

/// `k` and how hard to try, for either kind of index.
pub(crate) struct SearchArgs {
    pub(crate) k: usize,
    pub(crate) params: SearchParams,
}

impl SearchArgs {
    /// `k` must be a positive integer. Asking for more than `engine` holds
    /// asks for all of it, and no beam is wider than the index: neither
    /// sizes anything beyond the index, whatever JS passes.
    pub(crate) fn parse(k: &JsValue, options: &JsValue, engine: &Engine) -> JsResult<SearchArgs> {
        let k = match crate::js::to_usize(k, "k")? {
            0 => return Err(invalid_argument("`k` must be at least 1")),
            k => k.min(engine.len()),
        };
        let d = SearchParams::default();
        let ef = opt_usize(options, "ef")?
            .unwrap_or(d.ef)
            .min(engine.slot_count())
            .max(k);
        let nprobe = opt_usize(options, "nprobe")?.unwrap_or(d.nprobe);
        // As with `ef`, no rerank list is longer than the index.
        let rerank = opt_usize(options, "rerank")?
            .unwrap_or(d.rerank)
            .min(engine.slot_count());
        Ok(SearchArgs {
            k,
            params: SearchParams { ef, nprobe, rerank },
        })
    }
}

/// The `ids` argument: an array or typed array of numbers or BigInts, at
/// most `max` of them (one per vector, so a hostile length never sizes
/// anything).
pub(crate) fn to_ids(ids: &JsValue, max: usize) -> JsResult<Vec<u64>> {
    if !(Array::is_array(ids) || js_sys::ArrayBuffer::is_view(ids)) {
        return Err(invalid_argument(
            "`ids` must be an array or a typed array of ids",
        ));
    }
    // Through `Reflect`, whose failures come back as errors: an array can
    // be a proxy or have getters that throw.
    let len = crate::js::to_usize(&Reflect::get(ids, &"length".into())?, "ids.length")?;
    if len > max {
        return Err(invalid_argument("more `ids` than vectors"));
    }
    (0..len as u32)
        .map(|i| to_id(&Reflect::get_u32(ids, i)?, "ids[i]"))
        .collect()
}
