//! The `lease` command line: argument definitions and dispatch. The binary
//! in `src/bin/lease.rs` only calls [`main`]; the definitions live here so
//! that man pages and completions are generated from them.

mod client;
mod demo;
mod direct;
pub mod docs;
pub mod exit;
mod group;
mod index;
mod output;
pub mod sanlock;
mod watchdog;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use output::Failure;

/// The `lease` command.
#[derive(Debug, Parser)]
#[command(
    name = "lease",
    version,
    about = "Shared-storage leases: host ids and resource locks on a shared disk",
    long_about = "lease manages leases on storage shared by several hosts: delta leases give \
                  each host a unique host_id in a lockspace, and Disk Paxos leases lock \
                  resources. The on-disk format is sanlock's, so areas written by either \
                  tool are read by the other.\n\n\
                  The direct commands work on the disk itself, with no daemon.",
    disable_help_subcommand = true,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Work on lease areas directly on the disk, with no daemon
    #[command(subcommand)]
    Direct(direct::DirectCommand),
    /// Join a lockspace (the daemon renews the host_id from then on)
    AddLockspace(client::AddLockspaceArgs),
    /// Leave a lockspace, releasing its leases and host_id
    #[command(
        long_about = "Leave a lockspace: refuse new leases there, wait for the acquires and \
                        releases under way, stop or refuse its holders, release its leases and \
                        then the host_id. Operations that keep failing on a resource's device \
                        are waited for 8 io_timeouts at most; the removal is then refused \
                        (exit 75, try again) and the lockspace goes on. With --force, releases \
                        that keep failing are given up: the host_id release lets other hosts \
                        take them."
    )]
    RemLockspace(client::RemLockspaceArgs),
    /// Acquire resources for a process (all or none)
    Acquire(client::AcquireArgs),
    /// Release resources
    Release(client::ReleaseArgs),
    /// List the leases this host holds, or one process's
    Inquire(client::InquireArgs),
    /// Switch a held resource between exclusive and shared
    Convert(client::ConvertArgs),
    /// Ask a resource's owner to give it up
    Request(client::RequestArgs),
    /// Show lockspaces, renewals and leases
    Status(client::StatusArgs),
    /// Show the hosts of a lockspace and their liveness
    Hosts(client::HostsArgs),
    /// Find leases by name: a lockspace's name index
    #[command(subcommand)]
    Index(index::IndexCommand),
    /// Groups of processes, with capabilities and a leader, kept in the name index
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Run a command while holding resources, like flock(1) for shared storage
    Run(client::RunArgs),
    /// Share the host's watchdog: have the host reset unless this keeps renewing
    Watchdog(watchdog::WatchdogArgs),
    /// Demonstrate lease areas on a scratch file in a temporary directory
    Demo(demo::DemoArgs),
    /// Write man pages or shell completions (for packaging)
    #[command(subcommand, hide = true)]
    Generate(docs::GenerateCommand),
    /// Run the daemon, as `leased` does (lets `lease demo` start hosts from one binary)
    #[command(hide = true)]
    Leased(crate::daemon::LeasedArgs),
}

/// Runs the `lease` command line and returns its exit status.
pub fn main() -> ExitCode {
    let mut args = std::env::args_os();
    if sanlock::invoked_as_sanlock(args.next().as_ref()) {
        return sanlock::main(args.collect());
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Direct(command) => direct::run(command),
        Command::AddLockspace(args) => client::add_lockspace(&args),
        Command::RemLockspace(args) => client::rem_lockspace(&args),
        Command::Acquire(args) => client::acquire(&args),
        Command::Release(args) => client::release(&args),
        Command::Inquire(args) => client::inquire(&args),
        Command::Convert(args) => client::convert(&args),
        Command::Request(args) => client::request(&args),
        Command::Status(args) => client::status(&args),
        Command::Hosts(args) => client::hosts(&args),
        Command::Index(command) => index::run(&command),
        Command::Group(command) => group::run(&command),
        Command::Run(args) => client::run(&args),
        Command::Watchdog(args) => watchdog::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Generate(command) => docs::run(command),
        Command::Leased(args) => return crate::daemon::main(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => failure.report(),
    }
}
