//! `leased`: the lease daemon. Everything lives in `lease::daemon`.

use std::process::ExitCode;

use clap::Parser;
use lease::daemon::{Config, LeasedArgs};

fn main() -> ExitCode {
    let args = LeasedArgs::parse();
    init_logging();
    let config = match Config::load(&args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("leased: {err}");
            return ExitCode::from(lease::cli::exit::USAGE);
        }
    };
    if args.print_config {
        print!("{}", toml::to_string(&config).expect("the configuration serializes"));
        return ExitCode::SUCCESS;
    }
    match lease::daemon::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("leased: {err}");
            ExitCode::from(lease::cli::exit::SOFTWARE)
        }
    }
}

/// Logs to stderr; under systemd (JOURNAL_STREAM set) without timestamps,
/// which the journal adds. `RUST_LOG` sets the level (default info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}
