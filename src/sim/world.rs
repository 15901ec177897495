//! The simulation's event loop: virtual time, the shared disk, the hosts.
//!
//! Events are processed in (time, sequence) order; every random choice comes
//! from generators forked off the run's seed, so a seed replays exactly.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Duration;

use super::host::{
    Client, HostClock, Job, Membership, Outcome, SimHost, SimLease, Slot, Stopped, Wait,
};
use super::io::{IoFaults, Plan, plan_late_write, plan_read, plan_write, read_parts};
use super::oracle::{Holder, Oracle};
use super::{Canary, Geometries, SimConfig, SimReport};
use crate::clock::SimClock;
use crate::delta::{
    DeltaAcquire, DeltaError, DeltaRelease, HostTable, JoinOptions, LockspaceRef, RenewalCommand,
    RenewalSchedule, Watch,
};
use crate::disk::{Atomicity, SimDisk, WriteFate};
use crate::lease_table::{
    Conversion, LeaseKey, LeaseTable, LetGo, LetGoError, Occupant, Settle, Settling, TableMutation,
};
use crate::ondisk::area::{fill_lockspace, fill_resource};
use crate::ondisk::dblock::Dblock;
use crate::ondisk::geometry::{AlignSize, Geometry, SectorSize};
use crate::ondisk::leader::{LeaderKind, LeaderRecord};
use crate::ondisk::name::Name;
use crate::ondisk::request::ForceMode;
use crate::paxos::{
    AcquireOptions, Held, Mode, PaxosAcquire, PaxosError, PaxosExamine, PaxosRequest, ResourceRef,
    Withdrawal,
};
use crate::rng::Rng;
use crate::step::{Area, IoFailure, IoRequest, IoResult, Step};
use crate::timeouts::Timeouts;
use crate::watchdog::{GUARD, Multiplexer, Verdict, lockspace_margin, test_interval_for};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
/// The simulated device's sector and, on devices that promise it, its atomic
/// unit: records of a 4096-byte-sector area span eight of them.
const DEVICE_SECTOR: usize = 512;
/// Share of kills of lease holders that fail (a process stuck in the
/// kernel), leaving the reset to the watchdog.
const KILL_FAIL_PPM: u32 = 250_000;

/// Chance that a holder converts its lease at the end of a hold instead of
/// releasing it, in parts per million.
const CONVERT_PPM: u32 = 150_000;

/// Resources half the attempts go to, so that clients of one host contend
/// for one resource as often as hosts do.
const HOT_RESOURCES: u64 = 4;

/// Chance that an acquire asks for the lease version its host last
/// acquired, in parts per million.
const EXPECT_LVER_PPM: u32 = 100_000;

/// Chance that an acquire refused by a live owner asks the owner to give
/// the resource up, in parts per million.
const REQUEST_PPM: u32 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Wake { host: usize, epoch: u64 },
    Sample { io: u64, start: usize, len: usize },
    Land { io: u64 },
    Answer { io: u64 },
    Resolve { io: u64 },
    Tick { host: usize, epoch: u64 },
    Fire { host: usize, epoch: u64, pets: u64, test_ns: u64 },
    Fault,
    Resume { host: usize, epoch: u64 },
    Restart { host: usize },
}

#[derive(Debug, PartialEq, Eq)]
struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What an I/O will answer.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Data,
    Written,
    Failed(IoFailure),
}

/// An I/O between submission and its last event.
#[derive(Debug)]
struct Pending {
    host: usize,
    epoch: u64,
    slot: usize,
    offset: u64,
    /// Read: the bytes gathered so far. Write: the bytes to land.
    data: Vec<u8>,
    write: bool,
    /// Write: how many bytes land (all, or a torn prefix).
    land_len: usize,
    landed: bool,
    /// The device is done with it (always, for reads).
    resolved: bool,
    /// Its answer reached the host, or the host that asked is gone.
    delivered: bool,
    answer: Answer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Faults,
    Liveness { since_ns: u64 },
    Over,
}

pub struct World {
    config: SimConfig,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    hosts: Vec<SimHost>,
    disk: SimDisk,
    ios: BTreeMap<u64, Pending>,
    next_io: u64,
    /// Writes not yet left the device, by (host, offset): a host never has
    /// two writes to one sector in flight (the disk layer refuses it).
    writes_in_flight: BTreeSet<(usize, u64)>,
    /// Renewal writes each host issued (for slow_renewal_writes).
    renewal_writes: Vec<u64>,
    oracle: Oracle,
    report: SimReport,
    /// The slowest host's timing: the bounds of the whole run.
    timeouts: Timeouts,
    /// Where a crash may cut a write short.
    atomicity: Atomicity,
    /// Sectors (disk offsets) a crash tore: the only ones a machine may
    /// report corrupt.
    torn: BTreeSet<u64>,
    /// The machine configured with another's host_id, if any.
    twin: Option<usize>,
    faults: IoFaults,
    phase: Phase,
    lockspace: LockspaceRef,
    resources: Vec<ResourceRef>,
    /// Disk bytes per area: the simulated disk keeps only the sectors its
    /// hosts use (the leader, request and dblock sectors of a resource, the
    /// host sectors of the lockspace), so an 8M-aligned geometry costs no
    /// more memory than a 1M one.
    area_stride: u64,
    sector_len: usize,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).expect("simulated durations fit in u64 ns")
}

impl World {
    pub fn new(config: &SimConfig) -> World {
        assert!(config.hosts >= 2 && config.resources >= 1 && config.clients_per_host >= 1);
        let mut rng = Rng::new(config.seed);
        let io_timeout_s = rng.between(1, 2);
        let fire_s = io_timeout_s * rng.between(3, 10);
        let geometry = draw_geometry(&mut rng, config.geometries);
        let sector_len = geometry.sector_bytes() as usize;
        let area_stride = (2 + config.hosts) * sector_len as u64;
        let disk_bytes = area_stride * (1 + config.resources);
        let disk = SimDisk::new(disk_bytes, DEVICE_SECTOR as u32, config.seed, SimClock::default());
        let space = Name::new("sim").expect("valid name");
        let mut area = vec![0u8; geometry.area_bytes() as usize];
        let committed = fill_lockspace(&mut area, geometry, space, io_timeout_s as u8);
        area[..committed.len()].copy_from_slice(&committed);
        disk.apply(0, &area[..area_stride as usize]);
        let mut resources = Vec::new();
        for index in 0..config.resources {
            let name = Name::new(&format!("r{index}")).expect("valid name");
            fill_resource(&mut area, geometry, space, name, config.hosts);
            disk.apply(area_stride * (1 + index), &area[..area_stride as usize]);
            resources.push(ResourceRef {
                lockspace: space,
                name,
                geometry,
                num_hosts: config.hosts,
            });
        }
        let setup = HostSetup::draw(&mut rng, config, io_timeout_s);
        let atomicity = if config.faults && rng.chance_ppm(500_000) {
            Atomicity::Nothing
        } else {
            Atomicity::Units(DEVICE_SECTOR)
        };
        let fire = Duration::from_secs(fire_s);
        let host_timeouts: Vec<Timeouts> =
            setup.io_timeouts_s.iter().map(|n| Timeouts::new(*n as u8, fire)).collect();
        let slowest = Timeouts::new(*setup.io_timeouts_s.iter().max().expect("hosts") as u8, fire);
        let report = SimReport {
            seed: config.seed,
            canary: format!("{:?}", config.canary),
            hosts: config.hosts,
            resources: config.resources,
            io_timeout_s,
            host_io_timeouts_s: if setup.io_timeouts_s.iter().all(|n| *n == io_timeout_s) {
                Vec::new()
            } else {
                setup.io_timeouts_s.clone()
            },
            twin_of_host_id: setup.twin.map(|twin| setup.host_ids[twin]),
            shared_name: setup.shared_name,
            torn_at_any_byte: atomicity == Atomicity::Nothing,
            watchdog_fire_s: fire_s,
            sector_size: sector_len as u32,
            ..SimReport::default()
        };
        let hosts = (0..setup.host_ids.len())
            .map(|index| {
                let timeouts = host_timeouts[index];
                let host_id = setup.host_ids[index];
                SimHost {
                    host_id,
                    name: setup.names[index],
                    joined_generation: None,
                    timeouts,
                    epoch: 0,
                    alive: false,
                    paused: false,
                    clock: HostClock::default(),
                    table: HostTable::new(timeouts),
                    watch: sim_watch(config.hosts, host_id),
                    membership: Membership::Joining,
                    slots: Vec::new(),
                    clients: Vec::new(),
                    leases: LeaseTable::default(),
                    leaving: None,
                    wants: vec![None; config.clients_per_host],
                    mux: Multiplexer::new(test_interval_for(timeouts.watchdog_fire())),
                    pets: 0,
                    deferred: Vec::new(),
                    wakes: BTreeSet::new(),
                    outage_until_ns: 0,
                    last_errors: vec![String::new(); config.clients_per_host],
                    seen_lver: BTreeMap::new(),
                    bits: Vec::new(),
                }
            })
            .collect();
        let faults = if config.faults { IoFaults::ALL } else { IoFaults::NONE };
        World {
            config: config.clone(),
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            hosts,
            disk,
            ios: BTreeMap::new(),
            next_io: 1,
            writes_in_flight: BTreeSet::new(),
            renewal_writes: vec![0; setup.host_ids.len()],
            oracle: Oracle::default(),
            report,
            timeouts: slowest,
            atomicity,
            torn: BTreeSet::new(),
            twin: setup.twin,
            faults,
            phase: Phase::Faults,
            lockspace: LockspaceRef { name: space, geometry },
            resources,
            area_stride,
            sector_len,
        }
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { at: at.max(self.now), seq: self.seq, event }));
    }

    /// Asks for `host` to be woken at `at`; one event per distinct time.
    fn wake(&mut self, host: usize, at: u64) {
        let at = at.max(self.now);
        let h = &mut self.hosts[host];
        if h.wakes.insert(at) {
            let epoch = h.epoch;
            self.schedule(at, Event::Wake { host, epoch });
        }
    }

    pub fn run(mut self) -> SimReport {
        for host in 0..self.hosts.len() {
            let at = self.rng.between(0, SEC);
            self.schedule(at, Event::Restart { host });
        }
        if self.config.faults {
            let at = self.next_fault_delay();
            self.schedule(at, Event::Fault);
        }
        while let Some(Reverse(Scheduled { at, event, .. })) = self.queue.pop() {
            assert!(at >= self.now, "time never goes backwards");
            self.now = at;
            self.report.steps += 1;

            self.handle(event);
            if self.report.first_violation_step.is_none() && self.oracle.violations > 0 {
                self.report.first_violation_step = Some(self.report.steps);
            }
            self.check_phase();
            if self.phase == Phase::Over {
                break;
            }
        }
        self.report.virtual_seconds = self.now as f64 / 1e9;
        self.report.acquisitions = self.oracle.acquisitions;
        self.report.violations = self.oracle.violations;
        self.report.lver_regressions = self.oracle.lver_regressions;
        self.report.needless_fences = self.oracle.needless_fences;
        self.report.first_violation = self.oracle.first_violation.clone();
        self.report
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Wake { host, epoch } => {
                if self.hosts[host].epoch == epoch {
                    self.hosts[host].wakes.remove(&self.now);
                }
                if self.current(host, epoch) {
                    self.host_wake(host);
                }
            }
            Event::Sample { io, start, len } => {
                if let Some(pending) = self.ios.get_mut(&io) {
                    let bytes = self.disk.snapshot(pending.offset + start as u64, len);
                    pending.data[start..start + len].copy_from_slice(&bytes);
                }
            }
            Event::Land { io } => self.land(io),
            Event::Answer { io } => self.answer(io),
            Event::Resolve { io } => self.resolve(io),
            Event::Tick { host, epoch } if self.current(host, epoch) => self.tick(host),
            Event::Tick { .. } => {}
            Event::Fire { host, epoch, pets, test_ns } => {
                let h = &self.hosts[host];
                if h.alive && h.epoch == epoch && h.pets == pets {
                    // The last keepalive was F ago; the test after it, at
                    // `test_ns`, withheld the next, as it may within the
                    // lockspace's margin (its io_timeout) of the expiry.
                    let fire = ns(h.timeouts.watchdog_fire());
                    let window = fire + (test_ns + fire).saturating_sub(self.now);
                    let margin =
                        lockspace_margin(h.timeouts.io_timeout(), h.timeouts.watchdog_fire());
                    let due = test_ns + ns(margin.max(GUARD));
                    self.oracle.fenced(host, "watchdog reset", self.now, due, window);
                    self.report.faults.watchdog_resets += 1;
                    self.reset(host);
                }
            }
            Event::Fault => self.inject_fault(),
            Event::Resume { host, epoch } => {
                let h = &self.hosts[host];
                if h.alive && h.epoch == epoch && h.paused {
                    self.resume(host);
                }
            }
            Event::Restart { host } => {
                let retired = self.twin == Some(host) && self.phase != Phase::Faults;
                if !self.hosts[host].alive && !retired {
                    self.boot(host);
                }
            }
        }
    }

    /// Whether events of `epoch` still concern the running, unpaused host.
    fn current(&self, host: usize, epoch: u64) -> bool {
        let h = &self.hosts[host];
        h.alive && !h.paused && h.epoch == epoch
    }

    // ---- hosts -----------------------------------------------------------

    fn boot(&mut self, host: usize) {
        let slots = self.config.clients_per_host + 1;
        let boot_local_ns = self.rng.between(SEC, 1000 * SEC);
        let lockspace = self.lockspace;
        let timeouts = self.hosts[host].timeouts;
        let now = self.now;
        let h = &mut self.hosts[host];
        h.alive = true;
        h.paused = false;
        h.outage_until_ns = 0;
        h.epoch += 1;
        h.clock = HostClock::booted(now, boot_local_ns);
        h.table = HostTable::new(timeouts);
        h.watch = sim_watch(self.config.hosts, h.host_id);
        h.mux = Multiplexer::new(test_interval_for(timeouts.watchdog_fire()));
        h.pets = 0;
        h.deferred.clear();
        h.wakes.clear();
        h.slots = (0..slots).map(|_| Slot::idle()).collect();
        h.clients = (1..slots).map(|_| Client::Idle { until_ns: now }).collect();
        h.leases = LeaseTable::mutated(self.config.canary.table_mutation());
        h.leaving = None;
        h.membership = Membership::Joining;
        // A reset host's holders are gone: taking its host_id back at once
        // is safe.
        let join = DeltaAcquire::new(
            lockspace,
            h.host_id,
            h.name,
            timeouts,
            JoinOptions { reacquire: h.reacquire(self.config.canary, true) },
        );
        h.slots[0].job = Some(Job::Join(join));
        let epoch = h.epoch;
        self.schedule(now, Event::Tick { host, epoch });
        self.wake(host, now);
    }

    /// The host is reset: its processes are gone at once, and each of its
    /// writes still in the device lands now or never.
    fn reset(&mut self, host: usize) {
        self.oracle.reset(host);
        let ids: Vec<u64> =
            self.ios.iter().filter(|(_, p)| p.host == host).map(|(id, _)| *id).collect();
        for id in ids {
            let pending = self.ios.remove(&id).expect("listed");
            if pending.write {
                if !pending.landed {
                    self.land_at_crash(&pending);
                }
                self.writes_in_flight.remove(&(host, pending.offset));
            }
        }
        let h = &mut self.hosts[host];
        h.alive = false;
        h.paused = false;
        h.epoch += 1;
        h.slots.clear();
        h.clients.clear();
        h.deferred.clear();
        let down = self.rng.between(10 * MS, 2 * ns(self.hosts[host].timeouts.host_dead()));
        let at = if matches!(self.phase, Phase::Faults) { self.now + down } else { self.now };
        self.schedule(at, Event::Restart { host });
    }

    fn resume(&mut self, host: usize) {
        let h = &mut self.hosts[host];
        h.paused = false;
        h.clock.resume(self.now);
        let epoch = h.epoch;
        let deferred = std::mem::take(&mut h.deferred);
        for io in deferred {
            self.deliver(io);
        }
        self.schedule(self.now, Event::Tick { host, epoch });
        self.wake(host, self.now);
    }

    fn tick(&mut self, host: usize) {
        let h = &mut self.hosts[host];
        let fire = ns(h.timeouts.watchdog_fire());
        let local = h.local(self.now);
        let decision = h.mux.check(local);
        let keep_petting = self.config.canary == Canary::KeepPetting;
        let next = self.now + ns(decision.next_test.saturating_since(local));
        if keep_petting || decision.verdict == Verdict::Pet {
            h.pets += 1;
            let (epoch, pets) = (h.epoch, h.pets);
            self.schedule(self.now + fire, Event::Fire { host, epoch, pets, test_ns: next });
        }
        let epoch = self.hosts[host].epoch;
        self.schedule(next, Event::Tick { host, epoch });
    }

    fn host_wake(&mut self, host: usize) {
        self.leave_progress(host);
        self.membership_wake(host);
        for client in 0..self.hosts[host].clients.len() {
            self.client_wake(host, client);
        }
        for slot in 0..self.hosts[host].slots.len() {
            self.step_slot(host, slot);
        }
    }

    fn membership_wake(&mut self, host: usize) {
        let now = self.now;
        let idle = self.hosts[host].slots[0].job.is_none();
        match &self.hosts[host].membership {
            Membership::Joined { .. } if idle => self.follow_schedule(host),
            Membership::Lost { rejoin_ns } if idle => {
                let rejoin_ns = *rejoin_ns;
                if now < rejoin_ns {
                    self.wake(host, rejoin_ns);
                    return;
                }
                let h = &mut self.hosts[host];
                let join = DeltaAcquire::new(
                    self.lockspace,
                    h.host_id,
                    h.name,
                    h.timeouts,
                    JoinOptions { reacquire: h.reacquire(self.config.canary, false) },
                );
                h.slots[0].job = Some(Job::Join(join));
                h.membership = Membership::Joining;
            }
            _ => {}
        }
    }

    /// Does what the host's renewal schedule says, as the daemon's
    /// lockspace thread does, until it has to wait or a renewal starts.
    fn follow_schedule(&mut self, host: usize) {
        loop {
            let in_flight = self.lockspace_write_in_flight(host);
            let now = self.now;
            let early = match self.config.canary {
                Canary::FenceEarly => 4 * self.hosts[host].timeouts.io_timeout(),
                _ => Duration::ZERO,
            };
            let h = &mut self.hosts[host];
            let clock = h.clock;
            let local = clock.local(now);
            let Membership::Joined { schedule, client } = &mut h.membership else {
                unreachable!("a schedule is followed while joined")
            };
            // The lockspace fails where the schedule says; the FenceEarly
            // canary declares it failed `early` before.
            let fail_at = schedule.expiry() - early;
            let command = match schedule.next(local) {
                _ if local >= fail_at => RenewalCommand::Fail(DeltaError::Expired),
                command => command,
            };
            match command {
                RenewalCommand::Renew => {
                    for (host_id, until) in h.bits.drain(..) {
                        schedule.set_bit(host_id, until);
                    }
                    let read = h.watch.next_read();
                    h.slots[0].job = Some(Job::Renew(schedule.renewal(read)));
                    return;
                }
                RenewalCommand::WaitUntil(until) => {
                    return self.wake(host, clock.global(until.min(fail_at)));
                }
                // The write's resolution wakes the host.
                RenewalCommand::AwaitWrite { until } if in_flight => {
                    return self.wake(host, clock.global(until.min(fail_at)));
                }
                RenewalCommand::AwaitWrite { .. } => schedule.write_settled(),
                RenewalCommand::Renewed { expiry } => {
                    h.mux.renewed(*client, expiry);
                    self.oracle.renewed(host, clock.global(expiry));
                }
                RenewalCommand::Retry { .. } | RenewalCommand::Warn { .. } => {}
                // Expired: the host fences itself, on time unless a canary
                // runs; the oracle judges whether it had to.
                RenewalCommand::Fail(DeltaError::Expired) => {
                    self.oracle.fenced(host, "lease recovery", now, now, 0);
                    return self.recover(host);
                }
                RenewalCommand::Fail(_) => {
                    self.oracle.lost(host);
                    return self.recover(host);
                }
            }
        }
    }

    /// Whether a write of `host`'s to the lockspace area is still in the
    /// device.
    fn lockspace_write_in_flight(&self, host: usize) -> bool {
        self.writes_in_flight.range((host, 0)..(host, self.area_stride)).next().is_some()
    }

    /// The lease was lost: kill the lease holders; if all die, the host
    /// lives on and rejoins; if one does not, the watchdog resets the host.
    /// The host_id lease's end ends every lease of the table with it: what
    /// was being acquired, converted or let go of has nothing left to
    /// write, and abandoned slots are forgotten, as when the lockspace is
    /// left.
    fn recover(&mut self, host: usize) {
        self.report.faults.recoveries += 1;
        let mut hung = false;
        for client in 0..self.hosts[host].clients.len() {
            let slot = client + 1;
            self.hosts[host].slots[slot] = Slot::idle();
            let was = std::mem::replace(
                &mut self.hosts[host].clients[client],
                Client::Idle { until_ns: self.now },
            );
            match (was.using(), was) {
                (_, Client::Satisfied) => self.hosts[host].clients[client] = Client::Satisfied,
                (Some(resource), _) => {
                    let hangs = self.rng.chance_ppm(KILL_FAIL_PPM);
                    if hangs {
                        self.report.faults.kills_failed += 1;
                        self.hosts[host].clients[client] = Client::Hung { resource };
                        hung = true;
                    } else {
                        self.oracle.end(resource, host, client);
                    }
                }
                _ => {}
            }
        }
        let mutation = self.config.canary.table_mutation();
        self.hosts[host].leases = LeaseTable::mutated(mutation);
        self.hosts[host].leaving = None;
        self.hosts[host].slots[0] = Slot::idle();
        let h = &mut self.hosts[host];
        let membership = std::mem::replace(&mut h.membership, Membership::AwaitingReset);
        if let Membership::Joined { client, .. } | Membership::Leaving { client } = membership {
            if hung {
                return;
            }
            h.mux.unregister(client);
        }
        if !hung {
            let delay = self.rng.between(0, 2 * ns(self.hosts[host].timeouts.io_timeout()));
            self.hosts[host].membership = Membership::Lost { rejoin_ns: self.now + delay };
            self.wake(host, self.now + delay);
        }
    }

    fn client_wake(&mut self, host: usize, client: usize) {
        let now = self.now;
        let slot = client + 1;
        if self.hosts[host].slots[slot].job.is_some() {
            return;
        }
        match self.hosts[host].clients[client] {
            // Without a valid lease, the next join wakes the clients.
            Client::Idle { until_ns } if now >= until_ns && self.hosts[host].lease_valid(now) => {
                self.start_acquire(host, client)
            }
            Client::Idle { until_ns } if now >= until_ns => {}
            Client::Idle { until_ns } => self.wake(host, until_ns),
            Client::Holding { until_ns, .. } if now >= until_ns => {
                let closed = self.hosts[host].leases.is_closed(&self.lockspace.name);
                if !closed && self.rng.chance_ppm(CONVERT_PPM) {
                    self.start_convert(host, client)
                } else {
                    self.stop_holding(host, client)
                }
            }
            Client::Holding { until_ns, .. } => self.wake(host, until_ns),
            Client::LettingGo { retry_ns: Some(at), .. } if now >= at => {
                self.attempt_let_go(host, client)
            }
            Client::LettingGo { retry_ns: Some(at), .. } => self.wake(host, at),
            _ => {}
        }
    }

    /// The table key of `resource`.
    fn key(&self, resource: usize) -> LeaseKey {
        lease_key(&self.resources[resource])
    }

    fn generation(&self, host: usize) -> Option<u64> {
        match self.hosts[host].membership {
            Membership::Joined { ref schedule, .. } => Some(schedule.generation()),
            _ => None,
        }
    }

    fn start_acquire(&mut self, host: usize, client: usize) {
        let generation = self.generation(host).expect("a valid lease has a generation");
        let resource = match (self.phase, self.hosts[host].wants[client]) {
            (Phase::Liveness { .. }, Some((wanted, _))) => wanted,
            // Half the attempts go to a few hot resources, which clients
            // of one host contend for too.
            _ if self.rng.chance_ppm(500_000) => {
                self.rng.below(self.config.resources.min(HOT_RESOURCES)) as usize
            }
            _ => self.rng.below(self.config.resources) as usize,
        };
        let key = self.key(resource);
        if self.hosts[host].leases.is_closed(&key.lockspace) {
            *self.report.refusals.entry("lockspace being left".to_owned()).or_default() += 1;
            let retry = self.now + self.rng.between(10 * MS, 100 * MS);
            self.hosts[host].clients[client] = Client::Idle { until_ns: retry };
            self.wake(host, retry);
            return;
        }
        if self.hosts[host].leases.reserve(&[key]).is_err() {
            *self.report.refusals.entry("busy on this host".to_owned()).or_default() += 1;
            let retry = self.now + self.rng.between(MS, 20 * MS);
            self.hosts[host].clients[client] = Client::Idle { until_ns: retry };
            self.wake(host, retry);
            return;
        }
        let mode = if self.rng.chance_ppm(250_000) { Mode::Shared } else { Mode::Exclusive };
        let expect = self.phase == Phase::Faults && self.rng.chance_ppm(EXPECT_LVER_PPM);
        let options = AcquireOptions {
            mode,
            expected_lver: self.hosts[host].seen_lver.get(&resource).copied().filter(|_| expect),
            wait_for_dead_owner: self.rng.chance_ppm(300_000),
            read_lvb: false,
            seed: self.rng.next_u64(),
            mutation: self.config.canary.mutation(),
        };
        let h = &mut self.hosts[host];
        let machine = Box::new(PaxosAcquire::new(
            self.resources[resource],
            h.host_id,
            generation,
            h.timeouts,
            options,
        ));
        h.slots[client + 1].job = Some(Job::Acquire { machine, resource, mode });
        h.clients[client] = Client::Acquiring;
        self.report.attempts += 1;
    }

    /// The holder stops using the resource, then releases it on disk if the
    /// host's lease still allows I/O.
    fn stop_holding(&mut self, host: usize, client: usize) {
        let Client::Holding { resource, .. } =
            std::mem::replace(&mut self.hosts[host].clients[client], Client::Satisfied)
        else {
            unreachable!("stop_holding of a holder")
        };
        self.oracle.end(resource, host, client);
        let key = self.key(resource);
        let lease = self.hosts[host].leases.take(&key).expect("a holder's lease is in the table");
        self.start_let_go(host, client, resource, LetGo::Release(lease.held), None);
    }

    /// A client that let go of its resource: idle again, or done for good
    /// once it got what it wanted in the liveness phase.
    fn after_release(&mut self, host: usize, client: usize) {
        let think = self.rng.between(0, 50 * MS);
        let h = &mut self.hosts[host];
        h.clients[client] = match (self.phase, h.wants[client]) {
            (Phase::Liveness { .. }, None) => Client::Satisfied,
            _ => Client::Idle { until_ns: self.now + think },
        };
        self.wake(host, self.now + think);
    }

    /// Starts letting go of `op` by the table's retry rule.
    fn start_let_go(
        &mut self,
        host: usize,
        client: usize,
        resource: usize,
        op: LetGo,
        restore: Option<(Box<Held>, u64)>,
    ) {
        let op = Box::new(op);
        let settling = Settling::default();
        self.hosts[host].clients[client] =
            Client::LettingGo { resource, op, settling, retry_ns: None, restore };
        self.attempt_let_go(host, client);
    }

    /// One attempt at what the client lets go of, unless the host_id lease
    /// it was made under is gone: then there is nothing to write.
    fn attempt_let_go(&mut self, host: usize, client: usize) {
        let Client::LettingGo { resource, op, .. } = &self.hosts[host].clients[client] else {
            unreachable!("attempting a let-go of a client letting go")
        };
        let (resource, generation) = (*resource, op.held().generation);
        if !self.generation_lives(host, generation) {
            return self.let_go_attempted(host, client, Err(LetGoError::Gone));
        }
        let h = &mut self.hosts[host];
        let Client::LettingGo { op, retry_ns, .. } = &mut h.clients[client] else {
            unreachable!("checked above")
        };
        *retry_ns = None;
        let machine = op.machine(h.timeouts);
        h.slots[client + 1].job = Some(Job::LetGo { machine, resource });
    }

    /// Whether the host_id lease of `generation` is still ours.
    fn generation_lives(&self, host: usize, generation: u64) -> bool {
        self.hosts[host].lease_valid(self.now) && self.generation(host) == Some(generation)
    }

    /// An attempt at letting go ended: retried, or settled by the table.
    fn let_go_attempted(&mut self, host: usize, client: usize, attempt: Result<(), LetGoError>) {
        let leaving = self.hosts[host].leases.may_give_up(&self.lockspace.name);
        let h = &mut self.hosts[host];
        let local = h.local(self.now);
        let timeouts = h.timeouts;
        let Client::LettingGo { settling, retry_ns, .. } = &mut h.clients[client] else {
            unreachable!("an attempt of a client letting go")
        };
        let settle = settling.after(attempt, local, &timeouts, leaving);
        if let Settle::RetryAt(at) = settle {
            let at = h.clock.global(at);
            *retry_ns = Some(at);
            self.wake(host, at);
            return;
        }
        let Client::LettingGo { resource, op, restore, .. } =
            std::mem::replace(&mut self.hosts[host].clients[client], Client::Satisfied)
        else {
            unreachable!("checked above")
        };
        let key = self.key(resource);
        match restore {
            // The withdrawal of a failed conversion: the holder goes on
            // with the lease as it was.
            Some((held, until_ns)) => {
                self.hosts[host].leases.put(Box::new(SimLease {
                    key,
                    resource,
                    held: *held,
                    client,
                }));
                self.hosts[host].clients[client] = Client::Holding { resource, until_ns };
                self.wake(host, until_ns);
            }
            None => {
                let lives = self.generation_lives(host, op.held().generation);
                if matches!(settle, Settle::GiveUp(_)) {
                    self.report.faults.let_go_given_up += 1;
                }
                let freed_at_failure = matches!(*op, LetGo::Withdraw(_))
                    && self.config.canary.table_mutation() == TableMutation::LateWithdrawal;
                if !freed_at_failure {
                    self.hosts[host].leases.settled(&key, &settle, lives);
                }
                self.after_release(host, client);
            }
        }
    }

    /// The holder converts its lease to the other mode, and goes on holding
    /// it meanwhile in the mode it has.
    fn start_convert(&mut self, host: usize, client: usize) {
        let Client::Holding { resource, .. } = self.hosts[host].clients[client] else {
            unreachable!("start_convert of a holder")
        };
        let key = self.key(resource);
        let until_ns = self.now + self.rng.between(5 * MS, 200 * MS);
        let seed = self.rng.next_u64();
        let h = &mut self.hosts[host];
        let lease = h.leases.take(&key).expect("a holder's lease is in the table");
        let to = match lease.held.mode {
            Mode::Exclusive => Mode::Shared,
            Mode::Shared => Mode::Exclusive,
        };
        let mutation = self.config.canary.mutation();
        let machine =
            Conversion::new(&lease.held, to, h.timeouts, seed, mutation).expect("the other mode");
        let (host_id, lver) = (h.host_id, lease.held.lver);
        let held = Box::new(lease.held);
        h.slots[client + 1].job = Some(Job::Convert { machine, resource, held });
        h.clients[client] = Client::Converting { resource, until_ns };
        self.report.conversions += 1;
        if to == Mode::Shared {
            // A holder that asks for its lease shared has stopped using it
            // exclusively, whatever the answer: others may share it as
            // soon as our SHARED mode block is on disk.
            let who = Holder { machine: host, host_id, slot: client };
            self.oracle.convert(resource, who, Mode::Shared, lver, self.now);
        }
    }

    /// A conversion ended: the holder goes on in the new mode, or in the
    /// old one once what the failed conversion left is withdrawn.
    fn converted(
        &mut self,
        host: usize,
        client: usize,
        resource: usize,
        result: Result<Held, PaxosError>,
        kept: Box<Held>,
        withdraw: Option<LetGo>,
    ) {
        let Client::Converting { until_ns, .. } = self.hosts[host].clients[client] else {
            unreachable!("a conversion of a converting client")
        };
        let key = self.key(resource);
        let held = match result {
            Ok(converted) => {
                if converted.mode == Mode::Exclusive {
                    let host_id = self.hosts[host].host_id;
                    let who = Holder { machine: host, host_id, slot: client };
                    self.oracle.convert(resource, who, Mode::Exclusive, converted.lver, self.now);
                }
                converted
            }
            Err(err) => {
                if let PaxosError::Corrupt { offset, .. } = err {
                    self.reported_corrupt(self.area_base(resource) + offset);
                }
                *self
                    .report
                    .refusals
                    .entry(format!("convert: {}", refusal_kind(&err)))
                    .or_default() += 1;
                if let Some(op) = withdraw {
                    let restore = Some((kept, until_ns));
                    return self.start_let_go(host, client, resource, op, restore);
                }
                *kept
            }
        };
        self.hosts[host].leases.put(Box::new(SimLease { key, resource, held, client }));
        self.hosts[host].clients[client] = Client::Holding { resource, until_ns };
        self.wake(host, until_ns);
    }

    // ---- slots and their I/O ---------------------------------------------

    fn step_slot(&mut self, host: usize, slot: usize) {
        loop {
            let now = self.now;
            let h = &mut self.hosts[host];
            if !h.alive || h.paused || slot >= h.slots.len() {
                return;
            }
            match h.slots[slot].wait {
                Wait::Io(_) => return,
                Wait::Until(at) if at > now => return,
                _ => {}
            }
            let local = h.local(now);
            let SimHost { slots, table, .. } = h;
            let Some(job) = slots[slot].job.as_mut() else { return };
            match job.next(local, table) {
                Step::Io(request) => {
                    let id = self.submit(host, slot, request);
                    self.hosts[host].slots[slot].wait = Wait::Io(id);
                    return;
                }
                Step::Wait(until) => {
                    let at = self.hosts[host].global(until);
                    self.hosts[host].slots[slot].wait = Wait::Until(at);
                    self.wake(host, at);
                    return;
                }
                Step::Done(outcome) => {
                    self.hosts[host].slots[slot] = Slot::idle();
                    self.on_done(host, slot, outcome);
                }
            }
        }
    }

    fn area_offset(&self, host: usize, slot: usize, area: Area) -> u64 {
        match area {
            Area::Lockspace => 0,
            Area::Resource => match &self.hosts[host].slots[slot].job {
                Some(
                    Job::Acquire { resource, .. }
                    | Job::LetGo { resource, .. }
                    | Job::Convert { resource, .. }
                    | Job::Request { resource, .. }
                    | Job::Examine { resource, .. },
                ) => self.area_base(*resource),
                other => unreachable!("a resource I/O from {other:?}"),
            },
        }
    }

    fn submit(&mut self, host: usize, slot: usize, request: IoRequest) -> u64 {
        let id = self.next_io;
        self.next_io += 1;
        let in_area = request.offset() + request.len() as u64;
        assert!(in_area <= self.area_stride, "the simulated disk keeps the sectors hosts use");
        let offset = self.area_offset(host, slot, request.area()) + request.offset();
        let h = &self.hosts[host];
        let deadline_ns = h.global(request.deadline()).max(self.now);
        let epoch = h.epoch;
        let outage = self.now < h.outage_until_ns;
        let (write, data) = match request {
            IoRequest::Read { len, .. } => (false, vec![0u8; len]),
            IoRequest::Write { data, .. } => (true, data),
        };
        // The disk layer refuses a second write to bytes an earlier one of
        // ours may still change: it fails at once and never reaches the
        // device.
        let refused = write && !self.writes_in_flight.insert((host, offset));
        let plan = if write && !refused && !outage && self.slow_renewal_write(host, slot) {
            self.report.faults.late_writes += 1;
            let io_timeout = self.hosts[host].timeouts.io_timeout();
            plan_late_write(&mut self.rng, io_timeout, self.now, deadline_ns)
        } else {
            self.plan(host, write, data.len(), deadline_ns, outage, refused)
        };
        let timed_out = plan.finish_ns > deadline_ns;
        let answer = match (write, plan.fate, plan.failed) {
            // As the daemon's driver answers it: a device that has not
            // answered the earlier write yet.
            _ if refused => Answer::Failed(IoFailure::Timeout),
            (_, WriteFate::Lost | WriteFate::Late, _) => Answer::Failed(IoFailure::Timeout),
            _ if timed_out => Answer::Failed(IoFailure::Timeout),
            (_, _, true) => Answer::Failed(IoFailure::Error),
            (false, _, false) => Answer::Data,
            (true, _, false) => Answer::Written,
        };
        let land_len = match plan.fate {
            WriteFate::Torn { bytes } => bytes,
            _ => data.len(),
        };
        let len = data.len();
        self.ios.insert(
            id,
            Pending {
                host,
                epoch,
                slot,
                offset,
                data,
                write,
                land_len,
                landed: refused,
                resolved: !write || refused,
                delivered: false,
                answer,
            },
        );
        if write && !refused {
            if let Some(at) = plan.land_ns {
                self.schedule(at, Event::Land { io: id });
            }
            self.schedule(plan.finish_ns, Event::Resolve { io: id });
        } else if !write {
            let sectors = len / self.sector_len;
            let parts = read_parts(&mut self.rng, sectors);
            if parts.len() > 1 {
                self.report.faults.torn_reads += 1;
            }
            for (first, count) in parts {
                let at = self.rng.between(self.now, plan.finish_ns.min(deadline_ns));
                let (start, len) = (first * self.sector_len, count * self.sector_len);
                self.schedule(at, Event::Sample { io: id, start, len });
            }
        }
        self.schedule(plan.finish_ns.min(deadline_ns), Event::Answer { io: id });
        id
    }

    /// Whether this write, from `slot` of `host`, is a renewal's that
    /// [`SimConfig::slow_renewal_writes`] makes slow: every second one.
    fn slow_renewal_write(&mut self, host: usize, slot: usize) -> bool {
        let renewing = matches!(self.hosts[host].slots[slot].job, Some(Job::Renew(_)));
        if !self.config.slow_renewal_writes || !renewing {
            return false;
        }
        self.renewal_writes[host] += 1;
        self.renewal_writes[host].is_multiple_of(2)
    }

    /// Draws what happens to a request, and counts the faults drawn.
    fn plan(
        &mut self,
        host: usize,
        write: bool,
        len: usize,
        deadline_ns: u64,
        outage: bool,
        refused: bool,
    ) -> Plan {
        let now = self.now;
        if refused || outage {
            if refused {
                self.report.faults.writes_refused_in_flight += 1;
            }
            // Refused: fails at once. Outage: nothing reaches the device,
            // so the request times out.
            let finish_ns = if refused { now } else { deadline_ns + 1 };
            return Plan {
                finish_ns,
                land_ns: None,
                fate: WriteFate::Fails,
                failed: true,
                slow: false,
            };
        }
        let io_timeout = self.hosts[host].timeouts.io_timeout();
        let plan = if write {
            plan_write(
                &mut self.rng,
                &self.faults,
                io_timeout,
                now,
                deadline_ns,
                len,
                DEVICE_SECTOR,
            )
        } else {
            plan_read(&mut self.rng, &self.faults, io_timeout, now)
        };
        let counter = match (write, plan.fate) {
            (false, _) if plan.failed => Some(&mut self.report.faults.read_errors),
            (true, WriteFate::Fails) => Some(&mut self.report.faults.write_errors),
            (true, WriteFate::Torn { .. }) => Some(&mut self.report.faults.torn_writes),
            (true, WriteFate::Lost) => Some(&mut self.report.faults.lost_writes),
            (true, WriteFate::Late) => Some(&mut self.report.faults.late_writes),
            _ => None,
        };
        if let Some(counter) = counter {
            *counter += 1;
        }
        if plan.slow {
            self.report.faults.slow_ios += 1;
        }
        plan
    }

    fn land(&mut self, io: u64) {
        if let Some(pending) = self.ios.get_mut(&io)
            && !pending.landed
        {
            pending.landed = true;
            self.disk.apply(pending.offset, &pending.data[..pending.land_len]);
        }
    }

    fn resolve(&mut self, io: u64) {
        if let Some(pending) = self.ios.get_mut(&io) {
            pending.resolved = true;
            let key = (pending.host, pending.offset);
            self.writes_in_flight.remove(&key);
            self.forget_if_done(io);
            // A renewal schedule may be awaiting this write.
            if key.1 < self.area_stride {
                self.wake(key.0, self.now);
            }
        }
    }

    /// Drops an I/O once the device is done with it and its answer is out.
    fn forget_if_done(&mut self, io: u64) {
        if self.ios.get(&io).is_some_and(|p| p.resolved && p.delivered) {
            self.ios.remove(&io);
        }
    }

    fn answer(&mut self, io: u64) {
        let Some(pending) = self.ios.get_mut(&io) else { return };
        let (host, epoch) = (pending.host, pending.epoch);
        let h = &mut self.hosts[host];
        if !h.alive || h.epoch != epoch {
            pending.delivered = true;
            self.forget_if_done(io);
            return;
        }
        if h.paused {
            h.deferred.push(io);
            return;
        }
        self.deliver(io);
    }

    /// Hands an I/O's answer to the slot waiting for it, if it still is.
    fn deliver(&mut self, io: u64) {
        let Some(pending) = self.ios.get_mut(&io) else { return };
        pending.delivered = true;
        let (host, slot, answer) = (pending.host, pending.slot, pending.answer);
        let data = if pending.write { Vec::new() } else { std::mem::take(&mut pending.data) };
        self.forget_if_done(io);
        let now = self.now;
        let h = &mut self.hosts[host];
        if slot >= h.slots.len() || h.slots[slot].wait != Wait::Io(io) {
            return;
        }
        let local = h.local(now);
        let SimHost { slots, table, .. } = h;
        let job = slots[slot].job.as_mut().expect("a slot waiting for I/O has a job");
        let result = match answer {
            Answer::Data => IoResult::Read(&data),
            Answer::Written => IoResult::Written,
            Answer::Failed(failure) => IoResult::Failed(failure),
        };
        job.complete(local, table, result);
        slots[slot].wait = Wait::Ready;
        self.step_slot(host, slot);
    }

    // ---- outcomes ---------------------------------------------------------

    fn on_done(&mut self, host: usize, slot: usize, outcome: Outcome) {
        let now = self.now;
        match outcome {
            Outcome::Joined(Ok(lease)) => {
                self.report.joins += 1;
                let h = &mut self.hosts[host];
                h.joined_generation = Some(lease.generation);
                self.oracle.renewed(host, h.global(lease.expiry()));
                let margin = lockspace_margin(h.timeouts.io_timeout(), h.timeouts.watchdog_fire());
                let client = h.mux.register("lockspace sim", lease.expiry(), margin);
                let schedule = Box::new(RenewalSchedule::new(lease));
                h.membership = Membership::Joined { schedule, client };
                self.follow_schedule(host);
                for client in 0..self.hosts[host].clients.len() {
                    self.client_wake(host, client);
                }
            }
            Outcome::Joined(Err(err)) => {
                match err {
                    DeltaError::Busy { .. } => self.report.faults.joins_refused += 1,
                    DeltaError::Corrupt { offset, .. } => self.reported_corrupt(offset),
                    _ => {}
                }
                let retry = now + ns(self.hosts[host].timeouts.io_timeout());
                self.hosts[host].membership = Membership::Lost { rejoin_ns: retry };
                self.wake(host, retry);
            }
            Outcome::Renewed(renewal) => self.renewed(host, renewal),
            Outcome::Acquired { resource, mode, result, withdrawal } => {
                self.acquired(host, slot - 1, resource, mode, result, withdrawal)
            }
            Outcome::LetGo { resource, result } => {
                if let Err(PaxosError::Corrupt { offset, .. }) = result {
                    self.reported_corrupt(self.area_base(resource) + offset);
                }
                let attempt = match result {
                    // Whatever the outcome, a write of ours to the area may
                    // still land.
                    _ if self.resource_write_in_flight(host, resource) => Err(LetGoError::InFlight),
                    Ok(_) => Ok(()),
                    Err(err) => Err(LetGoError::Paxos(err)),
                };
                self.let_go_attempted(host, slot - 1, attempt);
            }
            Outcome::Converted { resource, result, kept, withdraw } => {
                self.converted(host, slot - 1, resource, result, kept, withdraw)
            }
            Outcome::Requested { resource, result } => {
                self.requested(host, slot - 1, resource, result)
            }
            Outcome::Examined { resource, result } => {
                self.examined(host, slot - 1, resource, result)
            }
            Outcome::Left(result) => {
                if let Err(DeltaError::Corrupt { offset, .. }) = result {
                    self.reported_corrupt(offset);
                }
                self.left(host)
            }
        }
        // A slot may have settled that a leave waits for.
        self.leave_progress(host);
    }

    /// A client refused by a live owner asks it to give the resource up.
    fn start_request(&mut self, host: usize, client: usize, resource: usize) {
        self.report.requests += 1;
        let h = &mut self.hosts[host];
        let machine =
            PaxosRequest::new(self.resources[resource], None, ForceMode::Force, h.timeouts);
        h.slots[client + 1].job = Some(Job::Request { machine, resource });
        h.clients[client] = Client::Requesting;
    }

    /// The request is written: the owner's bit is set at our next renewal,
    /// as the daemon does, and the client tries again later.
    fn requested(
        &mut self,
        host: usize,
        client: usize,
        resource: usize,
        result: Result<Option<u64>, PaxosError>,
    ) {
        if let Err(PaxosError::Corrupt { offset, .. }) = &result {
            self.reported_corrupt(self.area_base(resource) + offset);
        }
        let h = &mut self.hosts[host];
        if let Ok(Some(owner_id)) = result {
            let until = h.local(self.now) + h.timeouts.renewal_warn();
            h.bits.push((owner_id, until));
        }
        let retry = self.now + self.rng.between(10 * MS, 100 * MS);
        self.hosts[host].clients[client] = Client::Idle { until_ns: retry };
        self.wake(host, retry);
    }

    /// Hosts set our bit: each holder's resource is examined for a request
    /// above the lver it holds, on the holder's slot, as the daemon does on
    /// a worker.
    fn examine_requests(&mut self, host: usize) {
        let h = &mut self.hosts[host];
        for client in 0..h.clients.len() {
            let Client::Holding { resource, .. } = h.clients[client] else { continue };
            if h.slots[client + 1].job.is_some() {
                continue;
            }
            let Some(lease) = h.leases.get(&lease_key(&self.resources[resource])) else { continue };
            let machine = PaxosExamine::new(lease.held.resource, lease.held.lver, h.timeouts);
            h.slots[client + 1].job = Some(Job::Examine { machine, resource });
        }
    }

    /// A holder's resource was examined: a request for it stops the holder,
    /// whose lease is then released.
    fn examined(
        &mut self,
        host: usize,
        client: usize,
        resource: usize,
        result: Result<Option<ForceMode>, PaxosError>,
    ) {
        let holding = matches!(
            self.hosts[host].clients[client],
            Client::Holding { resource: held, .. } if held == resource
        );
        match result {
            Ok(Some(_)) if holding => {
                self.report.requested_releases += 1;
                self.stop_holding(host, client);
            }
            _ => self.wake(host, self.now),
        }
    }

    /// Starts leaving the lockspace, as `rem-lockspace --force` (or a
    /// shutdown) does: it is closed in the table at once.
    fn start_leave(&mut self, host: usize) {
        let h = &mut self.hosts[host];
        if h.leaving.is_some() || !matches!(h.membership, Membership::Joined { .. }) {
            return;
        }
        self.report.faults.leaves += 1;
        h.leases.close(&self.lockspace.name);
        h.leaving = Some(Stopped::NotYet);
        self.leave_progress(host);
    }

    /// Takes a leave as far as it can go now: once the acquires and
    /// conversions under way have ended (the table says when), the
    /// holders are stopped and their leases released; once those have
    /// settled and no write to a resource is in flight, the host_id is
    /// released.
    fn leave_progress(&mut self, host: usize) {
        let name = self.lockspace.name;
        let h = &self.hosts[host];
        if !h.alive || h.paused || !matches!(h.membership, Membership::Joined { .. }) {
            return;
        }
        match h.leaving {
            None => {}
            Some(Stopped::NotYet) if h.leases.settled_in(&name) => {
                for client in 0..self.hosts[host].clients.len() {
                    if let Client::Holding { resource, .. } = self.hosts[host].clients[client] {
                        self.oracle.end(resource, host, client);
                        self.hosts[host].clients[client] = Client::Idle { until_ns: self.now };
                        // An examination of its resource has nobody to stop.
                        self.hosts[host].slots[client + 1] = Slot::idle();
                    }
                }
                self.hosts[host].leaving = Some(Stopped::Yes);
                self.hosts[host].leases.commit_leave(&name);
                let leases = self.hosts[host].leases.take_in(&name);
                for lease in leases {
                    let SimLease { resource, held, client, .. } = *lease;
                    self.start_let_go(host, client, resource, LetGo::Release(held), None);
                }
            }
            Some(Stopped::NotYet) => {}
            Some(Stopped::Yes) => {
                let busy = !h.leases.settled_in(&name) || h.slots[0].job.is_some();
                let writing = self
                    .writes_in_flight
                    .range((host, self.area_stride)..(host, u64::MAX))
                    .next()
                    .is_some();
                if busy || writing {
                    return;
                }
                let h = &mut self.hosts[host];
                let Membership::Joined { schedule, client } =
                    std::mem::replace(&mut h.membership, Membership::AwaitingReset)
                else {
                    unreachable!("checked above")
                };
                let Some(lease) = schedule.into_lease() else {
                    unreachable!("no renewal runs: slot 0 is idle")
                };
                h.membership = Membership::Leaving { client };
                h.slots[0].job = Some(Job::Leave(DeltaRelease::new(lease)));
                self.step_slot(host, 0);
            }
        }
    }

    /// The host_id is released (or its release failed: it expires): the
    /// host rejoins later.
    fn left(&mut self, host: usize) {
        let name = self.lockspace.name;
        let delay = self.rng.between(10 * MS, 2 * ns(self.hosts[host].timeouts.io_timeout()));
        let h = &mut self.hosts[host];
        let Membership::Leaving { client } =
            std::mem::replace(&mut h.membership, Membership::Lost { rejoin_ns: self.now + delay })
        else {
            unreachable!("a leave ends while leaving")
        };
        h.mux.unregister(client);
        h.leases.reopen(&name);
        h.leases.forget_abandoned_in(&name);
        h.leaving = None;
        self.oracle.lost(host);
        self.wake(host, self.now + delay);
    }

    /// Whether a write of `host`'s to `resource`'s area is still in the
    /// device.
    fn resource_write_in_flight(&self, host: usize, resource: usize) -> bool {
        let base = self.area_base(resource);
        self.writes_in_flight.range((host, base)..(host, base + self.area_stride)).next().is_some()
    }

    fn renewed(&mut self, host: usize, mut renewal: crate::delta::Renewal) {
        self.report.renewals += 1;
        if !std::mem::take(&mut renewal.requested_by).is_empty() {
            self.examine_requests(host);
        }
        let in_flight = self.lockspace_write_in_flight(host);
        match &renewal.result {
            Err(DeltaError::Lost { .. }) => self.report.faults.leases_lost += 1,
            Err(DeltaError::Corrupt { offset, .. }) => self.reported_corrupt(*offset),
            _ => {}
        }
        let h = &mut self.hosts[host];
        let local = h.local(self.now);
        h.watch.settle(&mut h.table);
        let Membership::Joined { schedule, .. } = &mut h.membership else {
            unreachable!("a renewal runs while joined")
        };
        schedule.renewed(local, renewal, in_flight);
        self.follow_schedule(host);
    }

    fn acquired(
        &mut self,
        host: usize,
        client: usize,
        resource: usize,
        mode: Mode,
        result: Result<Held, PaxosError>,
        withdrawal: Option<Withdrawal>,
    ) {
        let now = self.now;
        match result {
            Ok(held) => {
                // Handed to the client only if the host_id lease it was
                // taken under lives and the lockspace is not being left;
                // else let go of (with nothing to write if the host_id
                // lease is gone).
                let lives = self.generation_lives(host, held.generation);
                let (lver, takeover) = (held.lver, held.takeover);
                let key = self.key(resource);
                let lease = Box::new(SimLease { key, resource, held, client });
                if let Err(mut refused) = self.hosts[host].leases.admit(vec![lease], |_| lives) {
                    let Some(lease) = refused.pop() else { unreachable!("one was given") };
                    return self.start_let_go(
                        host,
                        client,
                        resource,
                        LetGo::Release(lease.held),
                        None,
                    );
                }
                let host_id = self.hosts[host].host_id;
                let who = Holder { machine: host, host_id, slot: client };
                self.oracle.start(resource, who, mode, lver, now);
                self.hosts[host].seen_lver.insert(resource, lver);
                if let Some(how) = takeover {
                    *self.report.takeovers.entry(how.as_str().to_owned()).or_default() += 1;
                }
                if let (Phase::Liveness { .. }, Some((wanted, _))) =
                    (self.phase, self.hosts[host].wants[client])
                    && wanted == resource
                {
                    self.report.liveness.granted += 1;
                    self.hosts[host].wants[client] = None;
                }
                // Mostly short holds; while faults come, some as long as a
                // VM's, outlasting whatever fault comes along.
                let faults = self.phase == Phase::Faults;
                let hold = if faults && self.rng.chance_ppm(100_000) {
                    self.rng.between(SEC, 4 * ns(self.hosts[host].timeouts.renewal_fail()))
                } else {
                    self.rng.between(5 * MS, 200 * MS)
                };
                self.hosts[host].clients[client] =
                    Client::Holding { resource, until_ns: now + hold };
                self.wake(host, now + hold);
            }
            Err(err) => {
                *self.report.refusals.entry(refusal_kind(&err).to_owned()).or_default() += 1;
                if let PaxosError::Corrupt { offset, .. } = err {
                    self.reported_corrupt(self.area_base(resource) + offset);
                }
                if let PaxosError::OwnerAlive { owner_id: id, .. }
                | PaxosError::ShortHold { owner_id: id }
                | PaxosError::SharedHeld { holder_id: id } = err
                {
                    self.hosts[host].watch.cover(id);
                }
                self.hosts[host].last_errors[client] = err.to_string();
                let key = self.key(resource);
                if let Some(op) = self.hosts[host].leases.acquire_failed(&key, withdrawal) {
                    return self.start_let_go(host, client, resource, op, None);
                }
                if matches!(err, PaxosError::OwnerAlive { .. })
                    && self.phase == Phase::Faults
                    && self.rng.chance_ppm(REQUEST_PPM)
                {
                    return self.start_request(host, client, resource);
                }
                let backoff = match err {
                    PaxosError::OwnerFailing { dead_at, .. } => {
                        self.hosts[host].global(dead_at) + self.rng.between(0, 50 * MS)
                    }
                    _ => now + self.rng.between(MS, 50 * MS),
                };
                self.hosts[host].clients[client] = Client::Idle { until_ns: backoff.max(now) };
                self.wake(host, backoff);
            }
        }
    }

    // ---- faults and phases ---------------------------------------------

    fn next_fault_delay(&mut self) -> u64 {
        self.now + self.rng.between(SEC, 10 * SEC)
    }

    fn inject_fault(&mut self) {
        if self.phase != Phase::Faults {
            return;
        }
        let host = self.rng.below(self.hosts.len() as u64) as usize;
        if self.hosts[host].alive && !self.hosts[host].paused {
            let timeouts = self.hosts[host].timeouts;
            let lease = ns(timeouts.renewal_fail());
            let reset = ns(timeouts.host_dead());
            let fire = ns(timeouts.watchdog_fire());
            let kinds = if self.config.suspensions { 5 } else { 4 };
            match self.rng.below(kinds) {
                3 => self.start_leave(host),
                0 => {
                    self.report.faults.crashes += 1;
                    self.reset(host);
                }
                1 => {
                    // The host loses its path to the storage while it runs on.
                    self.report.faults.outages += 1;
                    let length = self.rng.between(lease / 2, 2 * reset);
                    self.hosts[host].outage_until_ns = self.now + length;
                }
                2 => {
                    self.report.faults.pauses += 1;
                    let pause = match self.rng.below(3) {
                        0 => self.rng.between(MS, lease * 3 / 4),
                        1 => self.rng.between(lease * 3 / 4, reset),
                        _ => self.rng.between(reset, 2 * reset),
                    };
                    self.stall(host, pause);
                }
                _ => {
                    // Around the fire timeout: below it the host resumes
                    // with a clock that missed the suspension; above it the
                    // watchdog, counting real time, has reset it.
                    self.report.faults.suspensions += 1;
                    let length = match self.rng.below(3) {
                        0 => self.rng.between(MS, fire / 2),
                        1 => self.rng.between(fire / 2, fire * 3 / 2),
                        _ => self.rng.between(fire, 2 * reset),
                    };
                    if self.config.canary == Canary::MonotonicClock {
                        self.hosts[host].clock.suspend(self.now);
                    }
                    self.stall(host, length);
                }
            }
        }
        let at = self.next_fault_delay();
        self.schedule(at, Event::Fault);
    }

    /// The host stops for `length`: it runs nothing and pets nothing.
    fn stall(&mut self, host: usize, length: u64) {
        self.hosts[host].paused = true;
        self.oracle.stalled(host, self.now + length);
        let epoch = self.hosts[host].epoch;
        self.schedule(self.now + length, Event::Resume { host, epoch });
    }

    /// A crash caught `pending` in the device: it lands whole, not at all,
    /// or cut where the device allows.
    fn land_at_crash(&mut self, pending: &Pending) {
        let data = &pending.data[..pending.land_len];
        match self.rng.below(3) {
            0 => self.disk.apply(pending.offset, data),
            1 => {}
            _ => {
                let cut = self.atomicity.cut(&mut self.rng, data.len());
                if cut > 0 {
                    self.report.faults.crash_torn_writes += 1;
                    self.disk.apply(pending.offset, &data[..cut]);
                    let sector = self.sector_len as u64;
                    self.torn.insert((pending.offset + cut as u64) / sector * sector);
                }
            }
        }
    }

    /// A machine reported the record at disk offset `at` corrupt: only a
    /// crash can have damaged it.
    fn reported_corrupt(&mut self, at: u64) {
        self.report.faults.corrupt_reports += 1;
        if !self.torn.contains(&at) {
            self.oracle.violation(format!(
                "t={:.6}s the record at disk offset {at} was reported corrupt, but no crash \
                 tore it",
                self.now as f64 / 1e9
            ));
        }
    }

    /// Whether the record at disk offset `at`, of `kind`, was torn by a
    /// crash and fails its checks now.
    fn damaged(&self, at: u64, kind: Option<LeaderKind>) -> bool {
        if !self.torn.contains(&at) {
            return false;
        }
        let sector = self.disk.snapshot(at, self.sector_len);
        match kind {
            Some(kind) => {
                LeaderRecord::decode_prefix(&sector).verify_in(kind, &self.lockspace.name).is_err()
            }
            None => Dblock::decode_prefix(&sector).verify().is_err(),
        }
    }

    /// Whether a damaged record stops `host` from ever getting `resource`:
    /// its own delta sector, the resource's leader or its own dblock, or the
    /// delta sector of the leader's owner (whose liveness nobody can judge
    /// any more, so its lease is never taken over).
    fn blocked_by_damage(&self, host: usize, resource: usize) -> bool {
        let host_id = self.hosts[host].host_id;
        let base = self.area_base(resource);
        let dblock = base + self.resources[resource].dblock_offset(host_id);
        let leader = LeaderRecord::decode_prefix(&self.disk.snapshot(base, self.sector_len));
        let delta = |id: u64| self.damaged(self.lockspace.host_offset(id), Some(LeaderKind::Delta));
        delta(host_id)
            || self.damaged(base, Some(LeaderKind::Paxos))
            || self.damaged(dblock, None)
            || (leader.owner_id != 0 && leader.timestamp != 0 && delta(leader.owner_id))
    }

    fn area_base(&self, resource: usize) -> u64 {
        self.area_stride * (1 + resource as u64)
    }

    fn check_phase(&mut self) {
        match self.phase {
            Phase::Faults if self.report.attempts >= self.config.attempts => self.start_liveness(),
            Phase::Liveness { since_ns } => {
                let wants_left =
                    self.hosts.iter().flat_map(|h| h.wants.iter()).filter(|w| w.is_some()).count();
                let bound = 3 * ns(self.timeouts.host_dead()) + 60 * SEC;
                if wants_left == 0 || self.now > since_ns + bound {
                    self.report_starved();
                    self.report.liveness.seconds = (self.now - since_ns) as f64 / 1e9;
                    self.phase = Phase::Over;
                }
            }
            _ => {}
        }
    }

    /// Describes every want not granted: the client, and the leader of the
    /// resource it waits for.
    fn report_starved(&mut self) {
        for (host, h) in self.hosts.iter().enumerate() {
            for (client, want) in h.wants.iter().enumerate() {
                let Some((resource, since)) = want else { continue };
                if self.blocked_by_damage(host, *resource) {
                    self.report.liveness.blocked_by_damage += 1;
                    continue;
                }
                // Refused on this host by design until its host_id lease
                // ends: a release there was given up (see lease_table).
                let key = self.key(*resource);
                if h.leases.occupant(&key) == Some(Occupant::Abandoned) {
                    self.report.liveness.blocked_by_abandoned += 1;
                    continue;
                }
                let at = self.area_base(*resource);
                let leader = LeaderRecord::decode_prefix(&self.disk.snapshot(at, DEVICE_SECTOR));
                self.report.liveness.starved.push(format!(
                    "host {} client {client}: resource {resource} wanted since t={:.3}s, not \
                     granted by t={:.3}s; client {:?}, last error {:?}; leader lver {} owner {} \
                     generation {} timestamp {} written by {}",
                    h.host_id,
                    *since as f64 / 1e9,
                    self.now as f64 / 1e9,
                    h.clients.get(client),
                    h.last_errors.get(client),
                    leader.lver,
                    leader.owner_id,
                    leader.owner_generation,
                    leader.timestamp,
                    leader.write_id,
                ));
            }
        }
    }

    /// Faults stop; every client now wants one resource and must get it.
    fn start_liveness(&mut self) {
        self.phase = Phase::Liveness { since_ns: self.now };
        self.faults = IoFaults::NONE;
        let now = self.now;
        if let Some(twin) = self.twin {
            // The operator found the duplicate host_id and retired it.
            if self.hosts[twin].alive {
                self.reset(twin);
            }
        }
        for host in 0..self.hosts.len() {
            if self.twin == Some(host) {
                continue;
            }
            for client in 0..self.config.clients_per_host {
                let resource = self.rng.below(self.config.resources) as usize;
                self.hosts[host].wants[client] = Some((resource, now));
                self.report.liveness.wants += 1;
            }
            self.hosts[host].outage_until_ns = 0;
            let h = &self.hosts[host];
            if !h.alive {
                self.schedule(now, Event::Restart { host });
            } else if h.paused {
                let epoch = h.epoch;
                self.schedule(now, Event::Resume { host, epoch });
            }
        }
    }
}

/// The table key of a resource.
fn lease_key(resource: &ResourceRef) -> LeaseKey {
    LeaseKey { lockspace: resource.lockspace, name: resource.name }
}

/// The renewals' read range of a simulated host: in chunks of 2 with a
/// whole-area read every 4 renewals, so that with 8 hosts the range starts
/// short of most of them and the widening is exercised.
fn sim_watch(hosts: u64, host_id: u64) -> Watch {
    Watch::new(hosts, host_id, 2, 4)
}

fn refusal_kind(err: &PaxosError) -> &'static str {
    match err {
        PaxosError::Corrupt { .. } => "corrupt",
        PaxosError::NumHostsChanged { .. } => "num_hosts_changed",
        PaxosError::HostIdAboveNumHosts { .. } => "host_id_above_num_hosts",
        PaxosError::LverMismatch { .. } => "lver_mismatch",
        PaxosError::OwnerAlive { .. } => "owner_alive",
        PaxosError::OwnerFailing { .. } => "owner_failing",
        PaxosError::ShortHold { .. } => "short_hold",
        PaxosError::SharedHeld { .. } => "shared_held",
        PaxosError::OtherOwner { .. } => "other_owner",
        PaxosError::Contended { .. } => "contended",
        PaxosError::RequestLverTooLow { .. } | PaxosError::RequestOlder { .. } => "request",
        PaxosError::NotHeld { .. } => "not_held",
        PaxosError::LvbTooLarge { .. } => "lvb_too_large",
        PaxosError::Io(IoFailure::Timeout) => "io_timeout",
        PaxosError::Io(IoFailure::Error) => "io_error",
    }
}

/// How each machine is configured: host_id, name and io_timeout.
struct HostSetup {
    host_ids: Vec<u64>,
    names: Vec<Name>,
    io_timeouts_s: Vec<u64>,
    /// The machine given another's host_id.
    twin: Option<usize>,
    /// Two host_ids whose hosts were given one name.
    shared_name: Option<(u64, u64)>,
}

impl HostSetup {
    /// Host `i` is host_id `i + 1` named `host-<id>`, all with io_timeout
    /// `io_timeout_s`, except where the seed (with faults on) draws peers
    /// with their own io_timeout, a twin of one host_id, or a shared name.
    fn draw(rng: &mut Rng, config: &SimConfig, io_timeout_s: u64) -> HostSetup {
        let name = |text: String| Name::new(&text).expect("valid name");
        let mut host_ids: Vec<u64> = (1..=config.hosts).collect();
        let mut names: Vec<Name> = host_ids.iter().map(|id| name(format!("host-{id}"))).collect();
        let twin_wanted =
            config.canary == Canary::TwinSameName || (config.faults && rng.chance_ppm(500_000));
        let twin = twin_wanted.then(|| {
            let partner = rng.below(config.hosts) as usize;
            host_ids.push(host_ids[partner]);
            names.push(match config.canary {
                Canary::TwinSameName => names[partner],
                _ => name(format!("host-{}-twin", host_ids[partner])),
            });
            host_ids.len() - 1
        });
        let shared_name = (config.faults && rng.chance_ppm(500_000)).then(|| {
            let (a, b) = (rng.below(config.hosts), rng.below(config.hosts - 1));
            let b = if b >= a { b + 1 } else { b };
            names[b as usize] = names[a as usize];
            (a + 1, b + 1)
        });
        let mixed = rng.chance_ppm(500_000);
        let io_timeouts_s =
            host_ids.iter().map(|_| if mixed { rng.between(1, 2) } else { io_timeout_s }).collect();
        HostSetup { host_ids, names, io_timeouts_s, twin, shared_name }
    }
}

/// The geometry of a run: 512/1M, 4096/1M or 4096/8M.
fn draw_geometry(rng: &mut Rng, geometries: Geometries) -> Geometry {
    let (sector, align) = match geometries {
        Geometries::B512 => (SectorSize::B512, AlignSize::M1),
        Geometries::B4096 => (SectorSize::B4096, AlignSize::M1),
        Geometries::B4096M8 => (SectorSize::B4096, AlignSize::M8),
        Geometries::Mixed => match rng.below(4) {
            0 | 1 => (SectorSize::B512, AlignSize::M1),
            2 => (SectorSize::B4096, AlignSize::M1),
            _ => (SectorSize::B4096, AlignSize::M8),
        },
    };
    Geometry::new(sector, align).expect("valid geometry")
}
