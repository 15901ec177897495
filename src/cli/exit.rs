//! Exit codes of the `lease` command, documented in lease(8).
//!
//! They follow sysexits(3) where one fits, so scripts can tell "the lease is
//! held elsewhere" (1) from "try again" (75) from "something is broken".

/// Success.
pub const OK: u8 = 0;
/// A valid request was refused: the lease is held elsewhere, or the area is
/// in use.
pub const REFUSED: u8 = 1;
/// The command line was invalid.
pub const USAGE: u8 = 2;
/// What is on disk is damaged or not a lease area (EX_DATAERR).
pub const DATA: u8 = 65;
/// The daemon could not be reached (EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;
/// An internal error (EX_SOFTWARE).
pub const SOFTWARE: u8 = 70;
/// The device could not be opened, read or written (EX_IOERR).
pub const IO: u8 = 74;
/// A temporary failure, such as an I/O timeout: retrying may succeed
/// (EX_TEMPFAIL).
pub const TEMPFAIL: u8 = 75;
/// Permission denied (EX_NOPERM).
pub const NOPERM: u8 = 77;
