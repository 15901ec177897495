//! Letting go of what stands on disk for a slot: a held lease, or what a
//! failed acquire left, and the rule for retrying until that is done.
//!
//! Letting go is retried for as long as the host_id lease it was made under
//! lives: what it failed to write may leave the disk naming us as the
//! resource's owner, which no other host can take from a live host, so
//! giving up would lock the resource for the whole cluster. The slot stays
//! busy meanwhile: a failure that may leave a write of ours in flight (a
//! timeout, a write refused because an earlier one is still in the kernel,
//! or one still in flight when the machine ends) must not let a new
//! operation of ours race it.
//!
//! Only once a leave of the lockspace has stopped its holders and is bound
//! to release the host_id, failures that leave nothing in flight are given
//! up after [`GIVE_UP_AFTER`] in a row, so that a failed device does not
//! hold up the leave for ever: once our host_id is released, other hosts
//! may take what the disk still says we hold.

use crate::clock::MonoTime;
use crate::paxos::{Held, PaxosError, PaxosRelease, Withdrawal};
use crate::step::IoFailure;
use crate::timeouts::Timeouts;

/// Failures in a row, none of which can leave a write in flight, after
/// which a release or withdrawal is given up.
pub const GIVE_UP_AFTER: u32 = 3;

/// What to let go of on disk before a slot is freed.
#[derive(Clone, Debug)]
pub enum LetGo {
    /// A held lease.
    Release(Held),
    /// What a failed acquire or conversion left.
    Withdraw(Withdrawal),
}

impl LetGo {
    /// The lease it lets go of, with the generation it was made under.
    pub fn held(&self) -> &Held {
        match self {
            LetGo::Release(held) => held,
            LetGo::Withdraw(withdrawal) => &withdrawal.held,
        }
    }

    /// The machine that writes it, once.
    pub fn machine(&self, timeouts: Timeouts) -> PaxosRelease {
        match self {
            // A lock value block read at acquire (and maybe set since) is
            // written back first, as sanlock does.
            LetGo::Release(held) => PaxosRelease::new(held.clone(), timeouts, held.lvb.clone()),
            LetGo::Withdraw(withdrawal) => PaxosRelease::withdraw(withdrawal.clone(), timeouts),
        }
    }

    pub fn what(&self) -> &'static str {
        match self {
            LetGo::Release(_) => "release",
            LetGo::Withdraw(_) => "withdrawal",
        }
    }

    pub fn done(&self) -> &'static str {
        match self {
            LetGo::Release(_) => "released",
            LetGo::Withdraw(_) => "withdrawn",
        }
    }
}

/// Why one attempt at letting go did not do it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LetGoError {
    /// The host_id lease it was made under is gone, and the lease with it.
    #[error("the host_id lease is gone")]
    Gone,
    #[error(transparent)]
    Paxos(PaxosError),
    /// Done, but an earlier write of ours to the resource's area is still
    /// in the kernel: a new operation on it would be refused, or raced.
    #[error("an earlier write to the resource area is still in flight")]
    InFlight,
}

/// What follows an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Let go of: the slot may be freed.
    Done,
    /// The host_id lease is gone: nothing is left to write.
    Gone,
    /// Try again at this time.
    RetryAt(MonoTime),
    /// Given up: nothing of it is in flight, but the disk may still name
    /// us.
    GiveUp(LetGoError),
}

impl Settle {
    /// Whether letting go is over, one way or another.
    pub fn is_final(&self) -> bool {
        !matches!(self, Settle::RetryAt(_))
    }
}

/// The retry rule's memory: failures in a row that left nothing in flight.
#[derive(Clone, Copy, Debug, Default)]
pub struct Settling {
    failures: u32,
}

impl Settling {
    /// What follows `attempt`, which ended at `now`; `leaving` if a leave
    /// of the lockspace is committed ([`super::LeaseTable::commit_leave`]).
    pub fn after(
        &mut self,
        attempt: Result<(), LetGoError>,
        now: MonoTime,
        timeouts: &Timeouts,
        leaving: bool,
    ) -> Settle {
        let retry = Settle::RetryAt(now + timeouts.renewal_retry());
        match attempt {
            Ok(()) => Settle::Done,
            Err(LetGoError::Gone) => Settle::Gone,
            Err(LetGoError::Paxos(PaxosError::Io(IoFailure::Timeout)) | LetGoError::InFlight) => {
                self.failures = 0;
                retry
            }
            Err(err) => {
                self.failures += 1;
                if leaving && self.failures >= GIVE_UP_AFTER { Settle::GiveUp(err) } else { retry }
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ondisk::geometry::{Geometry, SectorSize};
    use crate::ondisk::name::Name;
    use crate::paxos::{Mode, ResourceRef};
    use std::time::Duration;

    pub(crate) fn withdrawal() -> Withdrawal {
        let resource = ResourceRef {
            lockspace: Name::new("ls").unwrap(),
            name: Name::new("a").unwrap(),
            geometry: Geometry::default_for(SectorSize::B512),
            num_hosts: 4,
        };
        let held = Held {
            resource,
            mode: Mode::Exclusive,
            lver: 1,
            host_id: 1,
            generation: 1,
            block: Default::default(),
            lvb: None,
            rename: None,
            takeover: None,
        };
        Withdrawal { held, keep: Default::default() }
    }

    #[test]
    fn retried_while_the_lockspace_lives_and_given_up_only_by_a_leave() {
        let timeouts = Timeouts::new(1, Duration::from_secs(10));
        let now = MonoTime::from_secs(100);
        let retry = Settle::RetryAt(now + timeouts.renewal_retry());
        let error = || Err(LetGoError::Paxos(PaxosError::Io(IoFailure::Error)));
        let timeout = || Err(LetGoError::Paxos(PaxosError::Io(IoFailure::Timeout)));
        let mut settling = Settling::default();
        for _ in 0..100 {
            assert_eq!(settling.after(error(), now, &timeouts, false), retry);
        }
        let mut settling = Settling::default();
        assert_eq!(settling.after(error(), now, &timeouts, true), retry);
        assert_eq!(settling.after(error(), now, &timeouts, true), retry);
        // What may leave a write in flight starts the count again.
        assert_eq!(settling.after(timeout(), now, &timeouts, true), retry);
        for _ in 0..100 {
            assert_eq!(settling.after(Err(LetGoError::InFlight), now, &timeouts, true), retry);
        }
        assert_eq!(settling.after(error(), now, &timeouts, true), retry);
        assert_eq!(settling.after(error(), now, &timeouts, true), retry);
        let given_up = settling.after(error(), now, &timeouts, true);
        assert!(matches!(given_up, Settle::GiveUp(LetGoError::Paxos(_))), "{given_up:?}");
        assert!(given_up.is_final());
        let gone = Settling::default().after(Err(LetGoError::Gone), now, &timeouts, false);
        assert_eq!(gone, Settle::Gone);
        assert_eq!(Settling::default().after(Ok(()), now, &timeouts, false), Settle::Done);
    }
}
