//! The watchdog: the host resets itself before anyone may take its leases.
//!
//! [`Multiplexer`] holds one expiry per client (each lockspace, and any
//! other local program sharing the device) and decides, every test
//! interval, whether the device may be petted: only while every client's
//! expiry is more than one interval away. Once it stops, the device fires
//! at most F after the last keepalive, which came before the earliest
//! expiry: the host is reset by `expiry + F`, which is when other hosts may
//! start treating it as dead.

mod mux;

pub use mux::{ClientId, Multiplexer, Verdict, test_interval_for};
