//! The error type shared by every part of the core.

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
}

/// `Result` with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
