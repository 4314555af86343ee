//! Shared helpers of the integration tests: dataset readers and recall.
