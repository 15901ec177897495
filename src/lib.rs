//! `lease`: a shared-storage lease manager, compatible on disk with sanlock 3.8.
//!
//! Hosts that share a block device or file get unique host_ids from *delta
//! leases* in a lockspace area and lock resources with *Disk Paxos leases*
//! in resource areas. The disk is the only thing hosts share.
//!
//! - [`client`]: library mode: acquire and release through `leased`;
//! - [`direct`]: lease areas with no daemon: init, dump, read_leader and
//!   one-shot lease steps;
//! - [`ondisk`]: the records, byte for byte (pure, no I/O);
//! - [`disk`]: the [`disk::Disk`] trait, O_DIRECT files and a simulated disk;
//! - [`rindex`]: sanlock's resource index: leases found by name, created
//!   and deleted on disk (the caller holds the index's lease);
//! - [`clock`]: monotonic time behind a trait;
//! - [`delta`], [`paxos`]: the lease algorithms as sans-I/O state machines,
//!   with [`timeouts`] deriving every delay; [`driver`] runs them on real
//!   disks and [`sim`] in the deterministic simulator;
//! - [`lease_table`]: the resources a host holds or is working on, and
//!   when each may be used again (sans-I/O: the daemon and [`sim`] both
//!   execute it);
//! - [`daemon`], [`api`]: `leased` and its socket protocol;
//! - [`sanlock`]: sanlock 3.8's client socket protocol, byte for byte (pure,
//!   no I/O);
//! - [`spec`]: sanlock's `LOCKSPACE` and `RESOURCE` strings;
//! - [`wdmd`]: sanlock's watchdog multiplexer protocol, so that sanlock
//!   shares `leased`'s watchdog device;
//! - [`cli`]: the `lease` command line.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod api;
pub mod cli;
pub mod client;
pub mod clock;
pub mod daemon;
pub mod delta;
pub mod direct;
pub mod disk;
pub mod driver;
pub mod groups;
pub mod host;
#[cfg(test)]
mod hostile_records;
pub mod idle_names;
pub mod lease_table;
pub mod names;
pub mod ondisk;
pub mod paxos;
pub mod pidfd;
pub mod rindex;
pub mod rng;
pub mod sanlock;
pub mod sim;
pub mod spec;
pub mod step;
#[cfg(test)]
pub(crate) mod testing;
pub mod timeouts;
pub mod watchdog;
pub mod wdmd;
