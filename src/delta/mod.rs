//! Delta leases (Chockler and Malkhi): unique host_ids in a lockspace.
//!
//! Host `h` owns sector `h - 1` of the lockspace area while it keeps writing
//! a fresh timestamp there every 2N. Every other host reads the area, and a
//! host whose timestamp stops changing is, after a wait long enough for its
//! watchdog to have reset it, dead: its host_id and its resource leases may
//! be taken.
//!
//! - [`DeltaAcquire`]: join (take a free host_id; take back our own at once;
//!   wait out a previous holder);
//! - [`DeltaRenew`]: one renewal (read the area, write our sector);
//! - [`RenewalSchedule`]: when to renew, and when the lockspace has failed;
//! - [`DeltaRelease`]: leave (timestamp 0);
//! - [`HostTable`]: the liveness of the other hosts, fed by renewals;
//! - [`Watch`]: which of their sectors the renewals read;
//! - [`Outbox`]: the host event we post to others in our sector.
//!
//! All are sans-I/O [`crate::step::Machine`]s: no clock, no disk, no threads.

mod acquire;
mod events;
mod hosts;
mod lease;
mod release;
mod renew;
mod schedule;
mod watch;

pub use acquire::{DeltaAcquire, JoinOptions, Reacquire};
pub use events::{BitChange, Event, EventError, Outbox, PostEvent, ReceivedEvent};
pub use hosts::{HostEntry, HostState, HostTable};
pub use lease::{HostLease, LockspaceRef, PendingBits};
pub use release::DeltaRelease;
pub use renew::{DeltaRenew, Renewal};
pub use schedule::{Command as RenewalCommand, RenewalSchedule};
pub use watch::Watch;

use crate::ondisk::RecordProblem;
use crate::ondisk::name::Name;
use crate::step::IoFailure;

/// Why a delta lease operation failed. Offsets are within the lockspace area.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    #[error("offset {offset}: {problem}")]
    Corrupt { offset: u64, problem: RecordProblem },
    #[error(
        "host_id is held by '{owner_name}' (generation {generation}): another host took it \
         while we were joining"
    )]
    Busy { owner_name: Name, generation: u64 },
    #[error(
        "our host_id sector now shows owner_id {owner_id} generation {generation} name \
         '{owner_name}': another host wrote it"
    )]
    Lost { owner_id: u64, generation: u64, owner_name: Name },
    #[error(
        "host_id is not held by us: its sector shows owner_id {owner_id} generation \
         {generation} name '{owner_name}' timestamp {timestamp}"
    )]
    NotHeld { owner_id: u64, generation: u64, owner_name: Name, timestamp: u64 },
    #[error("the host_id lease expired before it could be renewed")]
    Expired,
    #[error("{0}")]
    Io(IoFailure),
}
