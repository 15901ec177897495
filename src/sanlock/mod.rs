//! sanlock 3.8's client socket protocol, byte for byte (pure, no I/O).
//!
//! Existing sanlock clients (libsanlock, python3-sanlock, libvirt's lock
//! plugin, lvmlockd, vdsm) talk to the daemon over `$SANLOCK_RUN_DIR/sanlock.sock`
//! with this protocol; a front end that speaks it lets them use `leased`
//! unchanged.
//!
//! ```text
//! request:  sm_header (32 bytes) | fixed-size C structs for this command
//! reply:    sm_header (32 bytes, data = result) | structs or a string
//! ```
//!
//! - **Native byte order.** libsanlock sends its C structs raw: host byte
//!   order and C natural alignment, with no serialization layer. Everything
//!   here reads and writes with `from_ne_bytes`/`to_ne_bytes`; the on-disk
//!   records in [`crate::ondisk`] are little-endian, the socket is not.
//! - **Fixed sizes per command.** Each command's payload is a known sequence
//!   of structs ([`wire::LOCKSPACE_BYTES`], [`wire::RESOURCE_BYTES`] plus
//!   `num_disks` × [`wire::DISK_BYTES`], …); the daemon reads exactly those.
//! - **`length` is not trusted.** The stock client lies about it for
//!   `HOST_STATUS`, `RENEWAL` and `LOOKUP_RINDEX`; only `SET_LVB` uses it (for
//!   the LVB size), bounded by [`wire::MAX_LVB`].
//! - **Untrusted input.** Every decoder takes bytes from a socket and returns
//!   `Result<_, WireError>`; none panics (a property test and the
//!   `sanlock_wire` fuzz target feed them arbitrary bytes).
//!
//! [`wire`] holds the header, the structs, the command numbers, flags and
//! `SANLK_*` result values; [`strings`] the resource strings INQUIRE answers
//! with and the `key=value` state strings of STATUS.
//!
//! Source of every layout: `reference/sanlock-protocol.md` §1.2–1.7
//! (`src/sanlock.h`, `src/sanlock_sock.h`, `src/sanlock_rv.h` of 3.8.5).

pub mod strings;
pub mod wire;

pub use strings::{res_to_bytes, res_to_str, state_text};
pub use wire::{
    Cmd, Disk, EventCb, Header, Host, HostEvent, Lockspace, Options, Rentry, Resource, Rindex,
    State, WireError,
};
