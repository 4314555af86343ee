//! Typed JS errors. Every failure reaches JS as an `Error` whose `name` is
//! one of a fixed set (so callers can branch on it) and whose `message` is
//! one clear line.

use vectrove_core::{Error, RemoteFailure};
use wasm_bindgen::{JsCast, JsValue};

/// The stable error names, as JS sees them.
pub(crate) mod name {
    pub const DIMENSION: &str = "DimensionMismatchError";
    pub const INVALID_VECTOR: &str = "InvalidVectorError";
    pub const DUPLICATE_ID: &str = "DuplicateIdError";
    pub const UNKNOWN_ID: &str = "UnknownIdError";
    pub const INVALID_ARGUMENT: &str = "InvalidArgumentError";
    pub const CORRUPT: &str = "CorruptIndexError";
    pub const STORAGE: &str = "StorageError";
    pub const QUOTA: &str = "QuotaExceededError";
    pub const LOCKED: &str = "IndexLockedError";
    pub const NOT_FOUND: &str = "NotFoundError";
    pub const NOT_RESIDENT: &str = "NotResidentError";
    pub const UNSUPPORTED: &str = "UnsupportedError";
    pub const ABORT: &str = "AbortError";
    pub const BUSY: &str = "BusyError";
    pub const CHANGED: &str = "IndexChangedError";
    pub const HTTP: &str = "HttpError";
    pub const TIMEOUT: &str = "TimeoutError";
    pub const NETWORK: &str = "NetworkError";
}

const ALL: [&str; 18] = [
    name::DIMENSION,
    name::INVALID_VECTOR,
    name::DUPLICATE_ID,
    name::UNKNOWN_ID,
    name::INVALID_ARGUMENT,
    name::CORRUPT,
    name::STORAGE,
    name::QUOTA,
    name::LOCKED,
    name::NOT_FOUND,
    name::NOT_RESIDENT,
    name::UNSUPPORTED,
    name::ABORT,
    name::BUSY,
    name::CHANGED,
    name::HTTP,
    name::TIMEOUT,
    name::NETWORK,
];

/// A JS `Error` with `name` set.
pub(crate) fn js_error(name: &str, message: impl AsRef<str>) -> JsValue {
    let e = js_sys::Error::new(message.as_ref());
    e.set_name(name);
    e.into()
}

/// A real `TypeError` (the JS built-in, `name` "TypeError"): an option
/// nobody takes, or a value of the wrong type.
pub(crate) fn type_error(message: impl AsRef<str>) -> JsValue {
    js_sys::TypeError::new(message.as_ref()).into()
}

pub(crate) fn invalid_argument(message: impl AsRef<str>) -> JsValue {
    js_error(name::INVALID_ARGUMENT, message)
}

pub(crate) fn unsupported(message: impl AsRef<str>) -> JsValue {
    js_error(name::UNSUPPORTED, message)
}

pub(crate) fn busy() -> JsValue {
    js_error(
        name::BUSY,
        "the index is in use by an unfinished asynchronous call; await it first",
    )
}

/// The JS error name of a core error; `None` only for a variant added to
/// the core after this list was written (the test below catches that).
fn core_name(e: &Error) -> Option<&'static str> {
    Some(match e {
        Error::DimensionMismatch { .. } => name::DIMENSION,
        Error::NonFinite { .. } | Error::ZeroVector => name::INVALID_VECTOR,
        Error::DuplicateId { .. } => name::DUPLICATE_ID,
        Error::UnknownId { .. } => name::UNKNOWN_ID,
        Error::InvalidParameter { .. } | Error::UnsupportedMetric { .. } => name::INVALID_ARGUMENT,
        Error::ElementMismatch { .. } => name::UNSUPPORTED,
        Error::Corrupt { .. } => name::CORRUPT,
        Error::File { source, .. } => return core_name(source),
        Error::NotResident { .. } => name::NOT_RESIDENT,
        Error::SlotOutOfRange { .. }
        | Error::StoreFull { .. }
        | Error::FetchIncomplete { .. }
        | Error::Io(_)
        | Error::Storage { .. } => name::STORAGE,
        Error::Remote { failure, .. } => match failure {
            RemoteFailure::Changed => name::CHANGED,
            RemoteFailure::RangeIgnored => name::UNSUPPORTED,
            RemoteFailure::Length => name::CORRUPT,
            RemoteFailure::Status(404 | 410) => name::NOT_FOUND,
            RemoteFailure::Status(_) => name::HTTP,
            RemoteFailure::Timeout => name::TIMEOUT,
            RemoteFailure::Network => name::NETWORK,
            _ => name::STORAGE,
        },
        _ => return None,
    })
}

/// The JS error for a core error; an HTTP status the server answered
/// with is its `status`.
pub(crate) fn from_core(e: Error) -> JsValue {
    let js = js_error(core_name(&e).unwrap_or(name::STORAGE), e.to_string());
    if let Error::Remote {
        failure: RemoteFailure::Status(s),
        ..
    } = e
    {
        let _ = js_sys::Reflect::set(&js, &"status".into(), &s.into());
    }
    js
}

/// The JS error for a damaged index file or stream.
pub(crate) fn corrupt(reason: impl Into<String>) -> JsValue {
    from_core(vectrove_core::Error::Corrupt {
        section: "file",
        reason: reason.into(),
    })
}

/// The JS error for a failed browser storage call (a `DOMException` or any
/// thrown value), with `what` saying what was being done.
pub(crate) fn from_dom(e: JsValue, what: &str) -> JsValue {
    // Read through `Reflect`: a thrown value may be anything, an `Error`
    // whose `name` is not a string or whose getters throw included.
    let field = |key: &str| {
        js_sys::Reflect::get(&e, &key.into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let (dom_name, message) = if e.is_instance_of::<js_sys::Error>() {
        (field("name"), field("message"))
    } else {
        (
            String::new(),
            e.as_string().unwrap_or_else(|| format!("{e:?}")),
        )
    };
    // An error that is already one of ours (raised in a callback or by a
    // nested call) passes through unchanged.
    if ALL.contains(&dom_name.as_str())
        && !matches!(
            dom_name.as_str(),
            "NotFoundError" | "QuotaExceededError" | "AbortError" | "TimeoutError" | "NetworkError"
        )
    {
        return e;
    }
    let n = match dom_name.as_str() {
        "QuotaExceededError" => name::QUOTA,
        "NoModificationAllowedError" => name::LOCKED,
        // No IndexedDB (Node, some private modes), or an API the browser lacks.
        "NotSupportedError" => name::UNSUPPORTED,
        "NotFoundError" => name::NOT_FOUND,
        "AbortError" => name::ABORT,
        _ => name::STORAGE,
    };
    let message = match n {
        name::QUOTA => format!("{what}: the browser's storage quota is exhausted ({message})"),
        name::LOCKED => format!(
            "{what}: the index is open elsewhere (another tab, worker or handle holds it): {message}"
        ),
        _ if message.is_empty() => format!("{what}: {dom_name}"),
        _ => format!("{what}: {message}"),
    };
    js_error(n, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_error_has_a_js_name() {
        for e in Error::samples() {
            let n = core_name(&e);
            assert!(n.is_some_and(|n| ALL.contains(&n)), "{e:?} has no JS name");
        }
    }

    #[test]
    fn every_remote_failure_has_its_own_name() {
        use RemoteFailure::*;
        let cases = [
            (Changed, name::CHANGED),
            (RangeIgnored, name::UNSUPPORTED),
            (Length, name::CORRUPT),
            (Status(404), name::NOT_FOUND),
            (Status(410), name::NOT_FOUND),
            (Status(403), name::HTTP),
            (Status(500), name::HTTP),
            (Timeout, name::TIMEOUT),
            (Network, name::NETWORK),
        ];
        for (failure, expected) in cases {
            let e = Error::Remote {
                failure,
                message: String::new(),
            };
            assert_eq!(core_name(&e), Some(expected), "{failure:?}");
        }
    }
}
