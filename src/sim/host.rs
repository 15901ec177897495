//! A simulated host: its clock, its lease machines and its clients.

use std::collections::{BTreeMap, BTreeSet};

use super::Canary;
use crate::clock::MonoTime;
use crate::delta::{
    DeltaAcquire, DeltaError, DeltaRelease, DeltaRenew, HostLease, HostTable, Reacquire, Renewal,
    RenewalSchedule, Watch,
};
use crate::lease_table::{Conversion, Entry, LeaseKey, LeaseTable, LetGo, Settling};
use crate::ondisk::name::Name;
use crate::ondisk::request::ForceMode;
use crate::paxos::{
    Held, Mode, PaxosAcquire, PaxosError, PaxosExamine, PaxosRelease, PaxosRequest, Released,
    Withdrawal,
};
use crate::step::{IoResult, Machine, Step};
use crate::timeouts::Timeouts;
use crate::watchdog::{ClientId, Multiplexer};

/// A lease operation in progress on one of a host's slots.
#[derive(Debug)]
pub enum Job {
    Join(DeltaAcquire),
    Renew(DeltaRenew),
    Acquire {
        machine: Box<PaxosAcquire>,
        resource: usize,
        mode: Mode,
    },
    /// One attempt at a release or withdrawal.
    LetGo {
        machine: PaxosRelease,
        resource: usize,
    },
    /// A conversion of `held`, as its holder uses it meanwhile.
    Convert {
        machine: Conversion,
        resource: usize,
        held: Box<Held>,
    },
    /// Releasing the host_id, leaving the lockspace.
    Leave(DeltaRelease),
    /// Asking a resource's owner to give it up.
    Request {
        machine: PaxosRequest,
        resource: usize,
    },
    /// Looking at a held resource's request record, after a host set our
    /// bit.
    Examine {
        machine: PaxosExamine,
        resource: usize,
    },
}

/// What a finished job yields.
#[derive(Debug)]
pub enum Outcome {
    Joined(Result<HostLease, DeltaError>),
    Renewed(Renewal),
    Acquired {
        resource: usize,
        mode: Mode,
        result: Result<Held, PaxosError>,
        /// What to withdraw after a failure, if anything.
        withdrawal: Option<Withdrawal>,
    },
    LetGo {
        resource: usize,
        result: Result<Released, PaxosError>,
    },
    Converted {
        resource: usize,
        result: Result<Held, PaxosError>,
        /// After a failure: the lease as the disk shows it, and what must
        /// be withdrawn before its holder goes on with it.
        kept: Box<Held>,
        withdraw: Option<LetGo>,
    },
    Left(Result<(), DeltaError>),
    Requested {
        resource: usize,
        result: Result<Option<u64>, PaxosError>,
    },
    Examined {
        resource: usize,
        result: Result<Option<ForceMode>, PaxosError>,
    },
}

fn map<T>(step: Step<T>, outcome: impl FnOnce(T) -> Outcome) -> Step<Outcome> {
    match step {
        Step::Io(request) => Step::Io(request),
        Step::Wait(until) => Step::Wait(until),
        Step::Done(output) => Step::Done(outcome(output)),
    }
}

impl Job {
    pub fn next(&mut self, now: MonoTime, hosts: &mut HostTable) -> Step<Outcome> {
        match self {
            Job::Join(machine) => map(machine.next(now, hosts), Outcome::Joined),
            Job::Renew(machine) => map(machine.next(now, hosts), Outcome::Renewed),
            Job::Acquire { machine, resource, mode } => {
                let (resource, mode) = (*resource, *mode);
                let step = machine.next(now, hosts);
                let withdrawal = matches!(step, Step::Done(Err(_))).then(|| machine.withdrawal());
                map(step, |result| Outcome::Acquired {
                    resource,
                    mode,
                    result,
                    withdrawal: withdrawal.flatten(),
                })
            }
            Job::LetGo { machine, resource } => {
                let resource = *resource;
                map(machine.next(now, hosts), |result| Outcome::LetGo { resource, result })
            }
            Job::Leave(machine) => map(machine.next(now, hosts), Outcome::Left),
            Job::Request { machine, resource } => {
                let resource = *resource;
                map(machine.next(now, hosts), |result| Outcome::Requested { resource, result })
            }
            Job::Examine { machine, resource } => {
                let resource = *resource;
                map(machine.next(now, hosts), |result| Outcome::Examined { resource, result })
            }
            Job::Convert { machine, resource, held } => {
                let resource = *resource;
                let step = machine.next(now, hosts);
                let mut kept = held.clone();
                let withdraw = match step {
                    Step::Done(Err(_)) => machine.failed(&mut kept),
                    _ => None,
                };
                map(step, |result| Outcome::Converted { resource, result, kept, withdraw })
            }
        }
    }

    pub fn complete(&mut self, now: MonoTime, hosts: &mut HostTable, result: IoResult<'_>) {
        match self {
            Job::Join(machine) => machine.complete(now, hosts, result),
            Job::Renew(machine) => machine.complete(now, hosts, result),
            Job::Acquire { machine, .. } => machine.complete(now, hosts, result),
            Job::LetGo { machine, .. } => machine.complete(now, hosts, result),
            Job::Convert { machine, .. } => machine.complete(now, hosts, result),
            Job::Leave(machine) => machine.complete(now, hosts, result),
            Job::Request { machine, .. } => machine.complete(now, hosts, result),
            Job::Examine { machine, .. } => machine.complete(now, hosts, result),
        }
    }
}

/// Where a slot's job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Call `next` now.
    Ready,
    /// Waiting for I/O `id` to be answered.
    Io(u64),
    /// Sleeping until a global time.
    Until(u64),
}

/// One concurrent activity of a host: slot 0 keeps the host_id, the others
/// are clients.
#[derive(Debug)]
pub struct Slot {
    pub job: Option<Job>,
    pub wait: Wait,
}

impl Slot {
    pub fn idle() -> Slot {
        Slot { job: None, wait: Wait::Ready }
    }
}

/// The host_id lease, as the host sees it.
#[derive(Debug)]
pub enum Membership {
    /// Joining (slot 0 runs the join).
    Joining,
    /// Joined: the renewal schedule keeps the lease (slot 0 runs the
    /// renewals it asks for).
    Joined { schedule: Box<RenewalSchedule>, client: ClientId },
    /// Leaving: the host_id is being released (slot 0 runs the release).
    Leaving { client: ClientId },
    /// The lease was lost and its holders killed, or the host left; rejoin
    /// at this global time.
    Lost { rejoin_ns: u64 },
    /// The lease was lost and a holder could not be killed: the watchdog
    /// must reset the host.
    AwaitingReset,
}

/// A client's activity.
#[derive(Debug)]
pub enum Client {
    Idle {
        until_ns: u64,
    },
    Acquiring,
    /// Holding the lease that stands in the host's table for it.
    Holding {
        resource: usize,
        until_ns: u64,
    },
    /// Holding, while its lease is converted; it goes on holding until
    /// `until_ns`.
    Converting {
        resource: usize,
        until_ns: u64,
    },
    /// A holder whose kill failed: it keeps the resource until the reset.
    Hung {
        resource: usize,
    },
    /// Letting go of `op` on disk (a release, or what a failed acquire or
    /// conversion left), by the table's retry rule: an attempt is running,
    /// or the next one is due at `retry_ns`.
    LettingGo {
        resource: usize,
        op: Box<LetGo>,
        settling: Settling,
        retry_ns: Option<u64>,
        /// After a failed conversion: the lease its holder goes on with,
        /// until `until_ns`, once the withdrawal is settled.
        restore: Option<(Box<Held>, u64)>,
    },
    /// Writing a request against a resource whose owner refused it.
    Requesting,
    /// Got what it wanted in the liveness phase; does nothing more.
    Satisfied,
}

/// Whether a leave has stopped the lockspace's holders yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Closed; waiting for the acquires and conversions under way to end.
    NotYet,
    /// Holders stopped and their leases being released.
    Yes,
}

/// A lease in a simulated host's table: the client holding it.
#[derive(Debug)]
pub struct SimLease {
    pub key: LeaseKey,
    pub resource: usize,
    pub held: Held,
    pub client: usize,
}

impl Entry for SimLease {
    fn key(&self) -> &LeaseKey {
        &self.key
    }

    fn pid(&self) -> Option<u32> {
        u32::try_from(self.client).ok()
    }
}

/// A simulated host.
#[derive(Debug)]
pub struct SimHost {
    /// As configured: two hosts may be given one host_id or one name by
    /// mistake.
    pub host_id: u64,
    pub name: Name,
    /// The generation this machine last joined with, kept through resets
    /// as the daemon keeps it in its state directory.
    pub joined_generation: Option<u64>,
    /// Its own io_timeout N (peers may differ) and the common F.
    pub timeouts: Timeouts,
    /// Bumped at every reset: events of an earlier life are ignored.
    pub epoch: u64,
    pub alive: bool,
    pub paused: bool,
    pub clock: HostClock,
    pub table: HostTable,
    pub watch: Watch,
    pub membership: Membership,
    pub slots: Vec<Slot>,
    pub clients: Vec<Client>,
    /// The resources the host holds or works on, by the daemon's rules.
    pub leases: LeaseTable<SimLease>,
    /// Leaving the lockspace (as `rem-lockspace --force` or a shutdown
    /// does): whether its holders were stopped yet.
    pub leaving: Option<Stopped>,
    /// Liveness phase: the resource each client wants, and since when.
    pub wants: Vec<Option<(usize, u64)>>,
    pub mux: Multiplexer,
    /// Keepalives sent to the device; a fire event names the count it saw.
    pub pets: u64,
    /// I/O answers that arrived while paused, delivered on resume.
    pub deferred: Vec<u64>,
    /// Global times at which a wake is already scheduled.
    pub wakes: BTreeSet<u64>,
    /// Until this global time the host's I/O never reaches the device.
    pub outage_until_ns: u64,
    /// Each client's last acquire error, for reports.
    pub last_errors: Vec<String>,
    /// The lver of this host's last acquisition of each resource: some
    /// acquires ask for the resource only at that version, as a client
    /// that knows what it last saw does.
    pub seen_lver: BTreeMap<usize, u64>,
    /// Host bits to set at the next renewal, each until a local time, as
    /// the daemon queues them for its renewal thread.
    pub bits: Vec<(u64, MonoTime)>,
}

/// A host's clock: it started at a random value when the host booted, so no
/// two hosts' clocks agree. Hosts read CLOCK_BOOTTIME, which runs on while
/// the host is suspended; [`HostClock::suspend`] stops it as CLOCK_MONOTONIC
/// would, for the canary that shows why.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostClock {
    /// Global time of the last boot.
    pub boot_ns: u64,
    /// The local clock's value then.
    pub boot_local_ns: u64,
    /// Global time spent suspended since boot, in suspensions that ended.
    pub stopped_ns: u64,
    /// When the current suspension began, if the host is suspended.
    pub stopped_at: Option<u64>,
}

impl HostClock {
    /// A clock that reads `boot_local_ns` at global time `boot_ns`.
    pub fn booted(boot_ns: u64, boot_local_ns: u64) -> HostClock {
        HostClock { boot_ns, boot_local_ns, stopped_ns: 0, stopped_at: None }
    }

    /// The local clock at global time `now_ns`.
    pub fn local(&self, now_ns: u64) -> MonoTime {
        let now_ns = self.stopped_at.map_or(now_ns, |at| at.min(now_ns));
        assert!(now_ns >= self.boot_ns + self.stopped_ns, "a host's clock starts at boot");
        MonoTime::from_nanos(now_ns - self.boot_ns - self.stopped_ns + self.boot_local_ns)
    }

    /// The global time at which the local clock reads `local`, if it runs
    /// on from now.
    pub fn global(&self, local: MonoTime) -> u64 {
        (local.as_nanos() + self.boot_ns + self.stopped_ns)
            .saturating_sub(self.boot_local_ns)
            .max(self.boot_ns)
    }

    /// The clock stops at global time `now_ns`.
    pub fn suspend(&mut self, now_ns: u64) {
        self.stopped_at.get_or_insert(now_ns);
    }

    /// The clock runs again from where it stopped.
    pub fn resume(&mut self, now_ns: u64) {
        if let Some(at) = self.stopped_at.take() {
            self.stopped_ns += now_ns - at;
        }
    }
}

impl Client {
    /// The resource this client's process uses now, if any.
    pub fn using(&self) -> Option<usize> {
        match self {
            Client::Holding { resource, .. }
            | Client::Converting { resource, .. }
            | Client::Hung { resource }
            | Client::LettingGo { resource, restore: Some(_), .. } => Some(*resource),
            _ => None,
        }
    }
}

impl SimHost {
    /// How a join of this host may take back a sector under its name, as
    /// the daemon's state directory allows: after a reset (`rebooted`), at
    /// once if it shows the generation it last joined with; in the same
    /// boot, never.
    pub fn reacquire(&self, canary: Canary, rebooted: bool) -> Reacquire {
        match (canary, self.joined_generation) {
            // As joins did before they checked the generation.
            (Canary::TwinSameName, _) => Reacquire::Any,
            (_, Some(generation)) if rebooted => Reacquire::Generation(generation),
            _ => Reacquire::Wait,
        }
    }

    /// This host's clock at global time `now_ns`.
    pub fn local(&self, now_ns: u64) -> MonoTime {
        self.clock.local(now_ns)
    }

    /// The global time at which this host's clock reads `local`.
    pub fn global(&self, local: MonoTime) -> u64 {
        self.clock.global(local)
    }

    /// Whether the host_id lease is valid at `now_ns`.
    pub fn lease_valid(&self, now_ns: u64) -> bool {
        match &self.membership {
            Membership::Joined { schedule, .. } => self.local(now_ns) < schedule.expiry(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suspended_clock_stands_still_then_runs_on() {
        let mut clock = HostClock::booted(1_000, 50_000);
        assert_eq!(clock.local(3_000), MonoTime::from_nanos(52_000));
        clock.suspend(3_000);
        assert_eq!(clock.local(9_000), MonoTime::from_nanos(52_000));
        clock.resume(10_000);
        assert_eq!(clock.local(10_500), MonoTime::from_nanos(52_500));
        assert_eq!(clock.global(MonoTime::from_nanos(52_500)), 10_500);
    }
}
