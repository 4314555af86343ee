//! The error type shared by every part of the core.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the core. User input never panics: it
/// comes back as one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector's length differs from the index's dimension.
    #[error("dimension mismatch: expected {expected} values, got {got}")]
    DimensionMismatch {
        /// The dimension the index or store was created with.
        expected: usize,
        /// The length that was passed.
        got: usize,
    },
    /// A vector holds NaN or an infinity.
    #[error("vector holds a non-finite value (NaN or infinity) at position {position}")]
    NonFinite {
        /// Position of the first offending value.
        position: usize,
    },
    /// A zero vector has no direction, so it cannot be used with the cosine metric.
    #[error("a zero vector cannot be used with the cosine metric")]
    ZeroVector,
    /// The user id is already in the index.
    #[error("id {id} is already in the index")]
    DuplicateId {
        /// The repeated user id.
        id: u64,
    },
    /// The user id is not in the index (or was deleted).
    #[error("id {id} is not in the index")]
    UnknownId {
        /// The missing user id.
        id: u64,
    },
    /// An internal vector slot outside the store.
    #[error("vector slot {slot} is out of range (store holds {len})")]
    SlotOutOfRange {
        /// The slot asked for.
        slot: u32,
        /// How many vectors the store holds.
        len: usize,
    },
    /// A parameter is outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why the value was refused.
        reason: String,
    },
    /// The element type and the metric do not go together (e.g. Hamming on `f32`).
    #[error("metric {metric} is not defined for {element} vectors")]
    UnsupportedMetric {
        /// The metric's name.
        metric: &'static str,
        /// The element type's name.
        element: &'static str,
    },
    /// Vectors of one element type were given where another is held (an
    /// index file of `u8` codes opened as `f32`, a store of the wrong type).
    #[error("element type mismatch: the index holds {expected} vectors, not {got}")]
    ElementMismatch {
        /// The element type the index or file holds.
        expected: &'static str,
        /// The element type that was asked for.
        got: &'static str,
    },
    /// The store is full or read-only.
    #[error("the store cannot take more vectors: {reason}")]
    StoreFull {
        /// Why the store refused.
        reason: String,
    },
    /// A synchronous operation met vectors that an asynchronous store has not
    /// loaded yet; use the asynchronous search driver with such a store.
    #[error("{count} vectors are not resident; this store needs the asynchronous driver")]
    NotResident {
        /// How many vectors were missing.
        count: usize,
    },
    /// The asynchronous driver fetched vectors but the store still reports
    /// them missing (for example a cache budget smaller than one batch).
    #[error("the store still misses {count} vectors after fetching them")]
    FetchIncomplete {
        /// How many vectors are still missing.
        count: usize,
    },
    /// An index file (or bytes claiming to be one) failed validation.
    #[error("not a valid vectrove index: {section}: {reason}")]
    Corrupt {
        /// The part of the file that failed: "header", "graph", "ids", ...
        section: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// An I/O error from a storage backend.
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A storage backend failed in a way that is not an I/O error (for
    /// example a browser storage API).
    #[error("storage error: {message}")]
    Storage {
        /// What the backend reported.
        message: String,
    },
    /// A remote file (read by HTTP range requests or from an object store)
    /// could not be read as it was when it was opened.
    #[error("remote file: {message}")]
    Remote {
        /// What went wrong, for code that reacts to it.
        failure: RemoteFailure,
        /// What happened, for people.
        message: String,
    },
    /// Something went wrong with the file at `path` (opening, reading or
    /// saving an index file): `source` is what, as it would be without a
    /// file to name. Match on [`Error::inner`] to tell the cases apart
    /// whether or not a path is attached.
    ///
    /// ```
    /// use vectrove_core::Error;
    ///
    /// let e = Error::Corrupt { section: "header", reason: "bad magic".into() }
    ///     .in_file("/data/points.vtrv");
    /// assert_eq!(e.path().unwrap().to_str(), Some("/data/points.vtrv"));
    /// assert!(matches!(e.inner(), Error::Corrupt { section: "header", .. }));
    /// assert!(e.to_string().starts_with("/data/points.vtrv: "));
    /// ```
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong with it (never itself an [`Error::File`]).
        source: Box<Error>,
    },
}

impl Error {
    /// This error, naming the file at `path` it happened in (an error that
    /// names a file already keeps its own).
    pub fn in_file(self, path: impl Into<PathBuf>) -> Error {
        match self {
            e @ Error::File { .. } => e,
            e => Error::File {
                path: path.into(),
                source: Box::new(e),
            },
        }
    }

    /// The file this error happened in, if it names one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::File { path, .. } => Some(path),
            _ => None,
        }
    }

    /// What went wrong, without the file it happened in: the error under
    /// an [`Error::File`], or this error itself.
    pub fn inner(&self) -> &Error {
        match self {
            Error::File { source, .. } => source.inner(),
            e => e,
        }
    }

    /// [`inner`](Self::inner), by value.
    pub fn into_inner(self) -> Error {
        match self {
            Error::File { source, .. } => source.into_inner(),
            e => e,
        }
    }
}

/// Why a read of a remote file failed ([`Error::Remote`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteFailure {
    /// The file changed since it was opened (another ETag, modification
    /// time or length): open it again.
    Changed,
    /// The server answered a range request with the whole file (status
    /// 200), or without saying which bytes it sent: it does not serve
    /// ranges, so the file cannot be read in place.
    RangeIgnored,
    /// A response held more or fewer bytes than were asked for.
    Length,
    /// The server answered with this HTTP status (4xx, 5xx).
    Status(u16),
    /// No answer within the time allowed.
    Timeout,
    /// The request never got an answer (connection refused or reset, DNS,
    /// CORS, an offline browser).
    Network,
}

/// `Error::InvalidParameter { name, reason: "{text} {n}" }`: one
/// out-of-line formatter for the refusals that name a number, so the code
/// that checks them stays small (the browser package compiles it).
#[cold]
#[inline(never)]
pub(crate) fn invalid_n(name: &'static str, text: &str, n: u64) -> Error {
    Error::InvalidParameter {
        name,
        reason: format!("{text} {n}"),
    }
}

/// `Result` with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// One value of every variant, for front ends that map errors onto
    /// their own (the JS error names): their tests check that each maps to
    /// a specific one, and the test below keeps this list complete, so a
    /// new variant cannot slip through as a generic error.
    #[cfg(any(test, feature = "conformance"))]
    #[doc(hidden)]
    pub fn samples() -> Vec<Error> {
        let text = || String::from("sample");
        vec![
            Error::DimensionMismatch {
                expected: 2,
                got: 3,
            },
            Error::NonFinite { position: 0 },
            Error::ZeroVector,
            Error::DuplicateId { id: 1 },
            Error::UnknownId { id: 1 },
            Error::SlotOutOfRange { slot: 1, len: 0 },
            Error::InvalidParameter {
                name: "k",
                reason: text(),
            },
            Error::UnsupportedMetric {
                metric: "hamming",
                element: "f32",
            },
            Error::ElementMismatch {
                expected: "f32",
                got: "u8",
            },
            Error::StoreFull { reason: text() },
            Error::NotResident { count: 1 },
            Error::FetchIncomplete { count: 1 },
            Error::Corrupt {
                section: "header",
                reason: text(),
            },
            Error::Io(std::io::Error::other("sample")),
            Error::Storage { message: text() },
            Error::Remote {
                failure: RemoteFailure::Changed,
                message: text(),
            },
            Error::Corrupt {
                section: "header",
                reason: text(),
            }
            .in_file("sample.vtrv"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    /// The position of `e`'s variant in [`Error::samples`]; the match has no
    /// catch-all, so a new variant does not compile until it is listed.
    fn variant(e: &Error) -> usize {
        match e {
            Error::DimensionMismatch { .. } => 0,
            Error::NonFinite { .. } => 1,
            Error::ZeroVector => 2,
            Error::DuplicateId { .. } => 3,
            Error::UnknownId { .. } => 4,
            Error::SlotOutOfRange { .. } => 5,
            Error::InvalidParameter { .. } => 6,
            Error::UnsupportedMetric { .. } => 7,
            Error::ElementMismatch { .. } => 8,
            Error::StoreFull { .. } => 9,
            Error::NotResident { .. } => 10,
            Error::FetchIncomplete { .. } => 11,
            Error::Corrupt { .. } => 12,
            Error::Io(_) => 13,
            Error::Storage { .. } => 14,
            Error::Remote { .. } => 15,
            Error::File { .. } => 16,
        }
    }

    #[test]
    fn samples_hold_every_variant_once() {
        let found: Vec<usize> = Error::samples().iter().map(variant).collect();
        assert_eq!(found, (0..17).collect::<Vec<_>>());
    }

    #[test]
    fn a_path_wraps_once_and_unwraps_to_the_cause() {
        let e = Error::ZeroVector.in_file("a").in_file("b");
        assert_eq!(e.path(), Some(std::path::Path::new("a")));
        assert!(matches!(e.inner(), Error::ZeroVector));
        assert_eq!(e.to_string(), format!("a: {}", Error::ZeroVector));
        let source = std::error::Error::source(&e).map(|s| s.to_string());
        assert_eq!(source, Some(Error::ZeroVector.to_string()));
        assert!(matches!(e.into_inner(), Error::ZeroVector));
        assert_eq!(Error::ZeroVector.path(), None);
    }
}
