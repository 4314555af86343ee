//! The command line: one module per subcommand.

use clap::{Parser, Subcommand};

use crate::error::CliResult;

mod bench;
pub mod build;
mod compact;
mod demo;
mod generate;
mod info;
mod kmeans;
mod search;

// Doc comments here would become help text, so plain comments.
#[derive(Parser)]
#[command(
    name = "vectrove",
    version,
    about = "HNSW vector search: build, search, benchmark and inspect index files",
    long_about = "HNSW vector search: build, search, benchmark and inspect index files.\n\n\
        Vector inputs: .fvecs, .bvecs (u8, for hamming), .npy (f32 or u8), or ann-benchmarks .hdf5/.h5 files \
        (train, test and neighbors datasets); ground truth: .ivecs, .npy (int32) or .hdf5.\n\
        Add --json to any command for machine-readable output on stdout (and errors as JSON on stderr)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Build an index from a vector file and save it
    Build(build::BuildArgs),
    /// Search an index with a file of queries and write the ids found
    Search(search::SearchArgs),
    /// Measure recall@k, QPS, latency and memory for several ef values
    Bench(Box<bench::BenchArgs>),
    /// Describe an index file and check every checksum
    Info(info::InfoArgs),
    /// Rewrite an index without the slots of deleted points (same ids)
    Compact(compact::CompactArgs),
    /// Generate a data set, build, save, reopen memory-mapped and search it
    Demo(demo::DemoArgs),
    /// Write a generated data set with exact ground truth (for benchmarks)
    Generate(generate::GenerateArgs),
    /// Cluster a vector file with k-means and write the centroids
    Kmeans(kmeans::KmeansArgs),
}

/// Runs one command.
pub fn run(command: Command) -> CliResult<()> {
    match command {
        Command::Build(a) => build::build(a),
        Command::Search(a) => search::search(a),
        Command::Bench(a) => bench::bench(*a),
        Command::Info(a) => info::info(a),
        Command::Compact(a) => compact::compact(a),
        Command::Demo(a) => demo::demo(a),
        Command::Generate(a) => generate::generate(a),
        Command::Kmeans(a) => kmeans::kmeans(a),
    }
}
