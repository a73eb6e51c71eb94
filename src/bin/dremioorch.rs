//! The `dremioorch` executable: see `dremioorch --help`.

fn main() -> std::process::ExitCode {
    dremioorch::cli::main()
}
