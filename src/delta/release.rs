//! Leaving a lockspace: our sector's timestamp goes to 0, so others see the
//! host_id free at once instead of waiting for it to die.
//!
//! Only a host that no longer holds any resource lease in the lockspace may
//! do this: others take a free host_id's resource leases without waiting.

use super::lease::HostLease;
use super::{DeltaError, HostTable};
use crate::clock::MonoTime;
use crate::step::{Area, IoRequest, IoResult, Machine, Step};

/// Releases `lease`.
#[derive(Debug)]
pub struct DeltaRelease {
    lease: HostLease,
    state: State,
}

#[derive(Debug)]
enum State {
    Write,
    Writing,
    Finished(Result<(), DeltaError>),
    Done,
}

impl DeltaRelease {
    pub fn new(lease: HostLease) -> DeltaRelease {
        DeltaRelease { lease, state: State::Write }
    }
}

impl Machine for DeltaRelease {
    type Output = Result<(), DeltaError>;

    fn next(&mut self, now: MonoTime, _hosts: &mut HostTable) -> Step<Self::Output> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Write => {
                self.state = State::Writing;
                Step::Io(IoRequest::Write {
                    area: Area::Lockspace,
                    offset: self.lease.offset(),
                    data: self.lease.released_sector(),
                    deadline: now + self.lease.timeouts.io_timeout(),
                })
            }
            State::Finished(result) => Step::Done(result),
            other => unreachable!("next() while waiting for I/O: {other:?}"),
        }
    }

    fn complete(&mut self, _now: MonoTime, _hosts: &mut HostTable, result: IoResult<'_>) {
        assert!(matches!(self.state, State::Writing), "complete() answers the write");
        self.state = State::Finished(match result {
            IoResult::Written => Ok(()),
            IoResult::Failed(failure) => Err(DeltaError::Io(failure)),
            IoResult::Read(_) => unreachable!("a write completes without data"),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ondisk::leader::LeaderRecord;
    use crate::ondisk::name::Name;
    use crate::testing::{Areas, fresh_lockspace, join_as, run, untouched};
    use crate::timeouts::Timeouts;

    #[test]
    fn release_writes_timestamp_zero_and_keeps_the_rest() {
        let (ls, area) = fresh_lockspace(1);
        let mut areas = Areas { lockspace: area, resource: Vec::new() };
        let timeouts = Timeouts::new(1, Duration::from_secs(10));
        let mut hosts = HostTable::new(timeouts);
        let lease = join_as(ls, 3, timeouts, &mut areas, &mut hosts, MonoTime::from_secs(50));
        let (trace, result) = run(
            DeltaRelease::new(lease),
            &mut areas,
            &mut hosts,
            MonoTime::from_secs(53),
            untouched,
        );
        assert_eq!(trace, ["write ls 1024+512"]);
        assert_eq!(result, Ok(()));
        let leader = LeaderRecord::decode_prefix(&areas.lockspace[1024..]);
        assert_eq!((leader.timestamp, leader.owner_id, leader.owner_generation), (0, 3, 1));
        assert!(
            leader.resource_name.same_as(&Name::new("us").unwrap()),
            "the name stays for a fast rejoin"
        );
    }
}
