//! What the fuzz targets share: an allocator that turns an oversized
//! allocation into a crash ([`alloc`]), the small valid files they start
//! from ([`files`]), the checks an opened index must pass ([`check`]), the
//! patches that damage a file behind its checksums ([`patch`]) and the
//! seed corpus ([`corpus`]).

pub mod alloc;
pub mod check;
pub mod corpus;
pub mod files;
pub mod patch;
