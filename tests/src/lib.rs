//! Integration tests of vectrove at scale on real data (debian-384); the tests are in `tests/`. Their helpers, shared with the
//! crates' own tests and the benchmarks, are in `vectrove-testkit`
//! (`tests/kit/`). Tests that need the core alone live in `core/tests/`.
