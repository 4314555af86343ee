//! The result type every index kind returns.

/// A search result: the user id and its distance to the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// The id the point was inserted with.
    pub id: u64,
    /// Its distance to the query (smaller is nearer; see [`Metric`](crate::Metric)).
    pub distance: f32,
}
