//! Writes the seed corpus: `fuzz-seeds [DIR]` (default `fuzz/corpus`).

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    vectrove_fuzz_common::corpus::write_all(std::path::Path::new(&dir))
}
