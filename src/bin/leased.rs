//! `leased`: the lease daemon. Everything lives in `lease::daemon`; run
//! through a link named `sanlock`, it takes sanlock's command line instead
//! (`lease::cli::sanlock`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os();
    if lease::cli::sanlock::invoked_as_sanlock(args.next().as_ref()) {
        return lease::cli::sanlock::main(args.collect());
    }
    lease::daemon::main(&lease::daemon::LeasedArgs::parse())
}
