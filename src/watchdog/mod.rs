//! The watchdog: the host resets itself before anyone may take its leases.
//!
//! [`Multiplexer`] holds one expiry per client (each lockspace, and any
//! other local program sharing the device) and decides, at each test,
//! whether the device may be petted (only while every client's expiry is
//! still ahead) and when to test next (sooner as an expiry nears). Once it
//! stops, the device fires at most F after the last keepalive, which came
//! before the earliest expiry: the host is reset by `expiry + F`, which is
//! when other hosts may start treating it as dead.
//!
//! The multiplexer runs inside `leased` ([`Watchdog`]), on a thread of its
//! own, rather than as a separate daemon as sanlock's wdmd does:
//! - the renewals that move the lockspace expiries happen in the same
//!   process, so an expiry is a memory write, with no socket between a
//!   renewal and the decision to pet;
//! - a hung `leased` fences itself either way: a stopped process (SIGSTOP)
//!   pets nothing, and hung storage stops the renewals, not the watchdog
//!   thread, which then lets the expiries pass;
//! - one process less to install, start in order, and watch.
//!
//! Other local programs share the device through `leased`'s socket, or
//! wdmd's (sanlock among them, [`crate::wdmd`]): each registers with an
//! expiry it keeps renewing, and when one lapses the
//! device is no longer petted, for all. The device is held from start to a
//! clean stop; if `leased` dies, the device is left armed and resets the
//! host, as it would if wdmd died.

mod device;
mod keeper;
mod mux;

pub use device::{
    AUTO_PATHS, Device, DeviceSpec, FileDevice, LinuxDevice, NoDevice, PetLog, WatchdogError,
};
pub use keeper::{Stopped, Watchdog};
pub use mux::{
    ClientId, Decision, GUARD, Multiplexer, Verdict, last_keepalive_lead, lockspace_margin,
    test_interval_for,
};
