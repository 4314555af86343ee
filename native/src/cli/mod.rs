//! Support code for the `vectrove` command-line tool.
pub mod app;
pub mod mem;
pub mod plot;
