//! `lease`: the command line. Everything lives in `lease::cli`.

fn main() -> std::process::ExitCode {
    lease::cli::main()
}
