//! `vectrove`: build, search, benchmark and inspect vector indexes from the
//! command line. Run `vectrove --help`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::app::main()
}
