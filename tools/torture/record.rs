//! What a torture client leaves behind: the events of its per-client log
//! (one JSON object a line, appended as they happen so a killed client's
//! log is complete up to its death) and the identity record it writes into
//! its resource's sector of the witness file.
//!
//! Times are `CLOCK_BOOTTIME` nanoseconds (leased's clock), the same clock in every process
//! of the machine, so the parent can order events of different clients.

use serde::{Deserialize, Serialize};

/// Bytes of the witness file per resource: one 4 KiB block, aligned for
/// O_DIRECT on any sector size.
pub const WITNESS_BLOCK: usize = 4096;

/// One line of a client's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// The acquire reply granted `res` exclusively at `lver`.
    Acquired { res: usize, lver: u64, t: u64 },
    /// A convert of the held `res` to `mode` (`EX` or `SH`) succeeded.
    Converted { res: usize, mode: String, lver: u64, t: u64 },
    /// About to write the identity record of `res` (the write lands after).
    Writing { res: usize, t: u64 },
    /// The record re-read at the end of a hold was not ours.
    Overwritten { res: usize, found: String, t: u64 },
    /// About to ask for the release of `res`: the hold ends here.
    Releasing { res: usize, t: u64 },
    /// An acquire answered busy (held by another).
    Busy { res: usize, t: u64 },
    /// A request failed: `kind` is `OP:CODE`.
    Failed { kind: String, msg: String, t: u64 },
}

/// The identity record a holder writes into its resource's witness block.
pub fn identity(host: usize, pid: u32, res: usize, lver: u64, seq: u64) -> String {
    format!("host={host} pid={pid} res={res} lver={lver} seq={seq}")
}

/// The text of a witness block: up to its first NUL byte.
pub fn block_text(block: &[u8]) -> String {
    let end = block.iter().position(|&b| b == 0).unwrap_or(block.len());
    String::from_utf8_lossy(&block[..end]).into_owned()
}
