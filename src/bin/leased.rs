//! `leased`: the lease daemon. Everything lives in `lease::daemon`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    lease::daemon::main(&lease::daemon::LeasedArgs::parse())
}
