//! Property tests: the lease machines fed records that pass every checksum
//! but whose fields are otherwise arbitrary, as a buggy or hostile writer
//! could leave them. Built with the real encoders, so checksums are right
//! and the values reach the logic behind them.
//!
//! Each case lays out a lockspace and a resource area, lets other hosts'
//! writes land between the machine's requests, and runs the delta and
//! paxos machines through [`crate::testing::run`]. Nothing may panic (no
//! assertion, index or overflow reachable from those bytes); every output
//! is a typed error or a result that keeps the machines' promises:
//! an acquired lease is ours, a renewal's timestamp grows, and no host is
//! ever judged dead before `8N + F` of its own N.

use std::time::Duration;

use proptest::prelude::*;

use crate::clock::MonoTime;
use crate::delta::{
    DeltaAcquire, DeltaRelease, DeltaRenew, HostLease, HostTable, JoinOptions, LockspaceRef,
    Reacquire,
};
use crate::ondisk::dblock::{DBLOCK_BYTES, Dblock, ModeBlock};
use crate::ondisk::geometry::{Geometry, SectorSize};
use crate::ondisk::leader::{LeaderKind, LeaderRecord};
use crate::ondisk::name::{NAME_BYTES, Name};
use crate::ondisk::request::{ForceMode, REQUEST_BYTES, RequestRecord};
use crate::paxos::{
    AcquireOptions, Mode, PaxosAcquire, PaxosExamine, PaxosRelease, PaxosRequest, ResourceRef,
};
use crate::step::{Area, IoFailure, IoRequest};
use crate::testing::{Areas, Fate, run};
use crate::timeouts::Timeouts;

const SECTOR: usize = 512;
/// Dblocks in the resource, and host sectors read in the lockspace.
const HOSTS: u64 = 4;
/// After this many requests a run's I/O fails, ending any machine.
const MAX_REQUESTS: usize = 64;

fn geometry() -> Geometry {
    Geometry::default_for(SectorSize::B512)
}

fn name(text: &str) -> Name {
    Name::new(text).expect("a valid name")
}

/// Numbers near every edge the code has: 0, host_ids, max_hosts, u64::MAX.
fn edgy() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..6,
        1 => Just(2000u64),
        1 => Just(2001u64),
        1 => (u64::MAX - 3)..=u64::MAX,
        2 => any::<u64>(),
    ]
}

fn some_name(usual: &'static str) -> impl Strategy<Value = Name> {
    prop_oneof![
        4 => Just(name(usual)),
        1 => Just(name("us")),
        1 => prop::array::uniform32(any::<u8>()).prop_map(|head| {
            let mut bytes = [0u8; NAME_BYTES];
            bytes[..32].copy_from_slice(&head);
            Name::from_disk(bytes)
        }),
    ]
}

/// A leader of `kind` (mostly: its magic, version and geometry may be
/// wrong too) with arbitrary fields.
fn leader(kind: LeaderKind, resource: &'static str) -> BoxedStrategy<LeaderRecord> {
    let header = (
        prop_oneof![9 => Just(kind.magic()), 1 => any::<u32>()],
        prop_oneof![9 => Just(kind.version()), 1 => any::<u32>()],
        prop_oneof![Just(0x10u32), Just(0x11), Just(0), Just(0x20), any::<u32>()],
        prop_oneof![8 => Just(512u32), 1 => Just(4096), 1 => any::<u32>()],
    );
    let counts = (edgy(), edgy(), edgy(), edgy(), edgy(), edgy());
    let rest = (
        some_name("ls"),
        some_name(resource),
        prop_oneof![Just(0u16), Just(1), Just(2), Just(255), any::<u16>()],
        edgy(),
        edgy(),
        edgy(),
    );
    (header, counts, rest)
        .prop_map(
            |(
                (magic, version, flags, sector_size),
                (num_hosts, max_hosts, owner_id, owner_generation, lver, timestamp),
                (
                    space_name,
                    resource_name,
                    io_timeout,
                    write_id,
                    write_generation,
                    write_timestamp,
                ),
            )| LeaderRecord {
                magic,
                version,
                flags,
                sector_size,
                num_hosts,
                max_hosts,
                owner_id,
                owner_generation,
                lver,
                space_name,
                resource_name,
                timestamp,
                unused1: 0,
                checksum: 0,
                unused2: 0,
                io_timeout,
                write_id,
                write_generation,
                write_timestamp,
            },
        )
        .boxed()
}

/// A dblock sector: arbitrary dblock and mode block, right checksum.
fn dblock_sector() -> impl Strategy<Value = Vec<u8>> {
    let block = (edgy(), edgy(), edgy(), edgy(), edgy(), edgy(), any::<u32>());
    let mode = (prop_oneof![Just(0u32), Just(1), any::<u32>()], edgy());
    (block, mode).prop_map(|((mbal, bal, inp, inp2, inp3, lver, flags), (mflags, generation))| {
        let block = Dblock { mbal, bal, inp, inp2, inp3, lver, checksum: 0, flags };
        let mut sector = vec![0u8; SECTOR];
        sector[..DBLOCK_BYTES].copy_from_slice(&block.encode());
        ModeBlock { flags: mflags, generation }.encode_into_sector(&mut sector);
        sector
    })
}

fn request_sector() -> impl Strategy<Value = Vec<u8>> {
    let magic = prop_oneof![9 => Just(RequestRecord::empty().magic), 1 => any::<u32>()];
    let mode = prop_oneof![Just(0u32), Just(1), Just(2), any::<u32>()];
    (magic, edgy(), mode).prop_map(|(magic, lver, force_mode)| {
        let record = RequestRecord { magic, lver, force_mode, ..RequestRecord::empty() };
        let mut sector = vec![0u8; SECTOR];
        sector[..REQUEST_BYTES].copy_from_slice(&record.encode());
        sector
    })
}

fn leader_sector(kind: LeaderKind, resource: &'static str) -> impl Strategy<Value = Vec<u8>> {
    leader(kind, resource).prop_map(|leader| {
        let mut sector = vec![0u8; SECTOR];
        leader.encode_into(&mut sector);
        sector
    })
}

/// A sector another host writes: the area, the sector's index, its bytes.
type Landing = (Area, u64, Vec<u8>);

/// A sector of either area, as another host might write it.
fn any_sector() -> impl Strategy<Value = Landing> {
    prop_oneof![
        (0..HOSTS, leader_sector(LeaderKind::Delta, "other")).prop_map(|(i, s)| (
            Area::Lockspace,
            i,
            s
        )),
        leader_sector(LeaderKind::Paxos, "r").prop_map(|s| (Area::Resource, 0, s)),
        request_sector().prop_map(|s| (Area::Resource, 1, s)),
        (2..2 + HOSTS, dblock_sector()).prop_map(|(i, s)| (Area::Resource, i, s)),
    ]
}

/// One case: both areas, the writes that land between requests, and who
/// we are.
#[derive(Clone, Debug)]
struct Case {
    lockspace: Vec<Vec<u8>>,
    resource: Vec<Vec<u8>>,
    /// (request index, area, sector, bytes): lands before that request.
    landing: Vec<(usize, Landing)>,
    host_id: u64,
    generation: u64,
    io_timeout_s: u8,
    fire_s: u64,
    lver: Option<u64>,
    shared: bool,
    wait: bool,
}

fn case() -> BoxedStrategy<Case> {
    let areas = (
        prop::collection::vec(leader_sector(LeaderKind::Delta, "other"), HOSTS as usize),
        leader_sector(LeaderKind::Paxos, "r"),
        request_sector(),
        prop::collection::vec(dblock_sector(), HOSTS as usize),
    );
    let landing = prop::collection::vec((0..12usize, any_sector()), 0..6);
    let us = (1..=HOSTS, 1..=u64::MAX, 1u8..=3, 0u64..=30);
    let options = (prop::option::of(edgy()), any::<bool>(), any::<bool>());
    (areas, landing, us, options)
        .prop_map(
            |(
                (lockspace, leader, request, dblocks),
                landing,
                (host_id, generation, io_timeout_s, extra_fire_s),
                (lver, shared, wait),
            )| {
                let mut resource = vec![leader, request];
                resource.extend(dblocks);
                Case {
                    lockspace,
                    resource,
                    landing,
                    host_id,
                    generation,
                    io_timeout_s,
                    fire_s: u64::from(io_timeout_s) + extra_fire_s,
                    lver,
                    shared,
                    wait,
                }
            },
        )
        .boxed()
}

fn layout(sectors: &[Vec<u8>]) -> Vec<u8> {
    let mut area = vec![0u8; geometry().area_bytes() as usize];
    for (i, sector) in sectors.iter().enumerate() {
        area[i * SECTOR..(i + 1) * SECTOR].copy_from_slice(sector);
    }
    area
}

impl Case {
    fn timeouts(&self) -> Timeouts {
        Timeouts::new(self.io_timeout_s, Duration::from_secs(self.fire_s))
    }

    fn areas(&self) -> Areas {
        Areas { lockspace: layout(&self.lockspace), resource: layout(&self.resource) }
    }

    fn lockspace(&self) -> LockspaceRef {
        LockspaceRef { name: name("ls"), geometry: geometry() }
    }

    fn resource(&self) -> ResourceRef {
        ResourceRef { lockspace: name("ls"), name: name("r"), geometry: geometry(), num_hosts: 4 }
    }

    /// Lets the case's writes land before their requests; fails every
    /// request past [`MAX_REQUESTS`] so every run ends.
    fn hook(&self) -> impl FnMut(usize, &IoRequest, &mut Areas) -> Fate + '_ {
        move |index, _, areas| {
            for (_, (area, sector, bytes)) in self.landing.iter().filter(|(at, _)| *at == index) {
                let at = *sector as usize * SECTOR;
                areas.area_mut(*area)[at..at + SECTOR].copy_from_slice(bytes);
            }
            if index < MAX_REQUESTS { Fate::Complete } else { Fate::Fail(IoFailure::Timeout) }
        }
    }

    /// A host table that has seen the lockspace twice, 100 s apart.
    fn hosts(&self, areas: &Areas, now: MonoTime) -> HostTable {
        let mut hosts = HostTable::new(self.timeouts());
        for at in [MonoTime::from_secs(1), now] {
            for (index, sector) in areas.lockspace.chunks_exact(SECTOR).take(4).enumerate() {
                let leader = LeaderRecord::decode_prefix(sector);
                if leader.verify_in(LeaderKind::Delta, &name("ls")).is_ok() {
                    hosts.observe(index as u64 + 1, &leader, at, at);
                }
            }
        }
        hosts
    }
}

/// No host is DEAD before `first_seen + 8N + F` by its own N and our F.
fn check_judgement(hosts: &HostTable, fire: Duration, now: MonoTime) {
    for (host_id, entry) in hosts.entries() {
        let n = Duration::from_secs(u64::from(entry.io_timeout_s.max(1)));
        let earliest = entry.first_seen + 8 * n + fire;
        if let Some(dead_at) = hosts.dead_at(host_id) {
            assert!(dead_at >= earliest, "host {host_id} dead at {dead_at}, before {earliest}");
        }
        for t in [now, earliest, earliest + Duration::from_secs(1)] {
            let _ = hosts.state(host_id, t);
        }
    }
}

fn now() -> MonoTime {
    MonoTime::from_secs(101)
}

fn paxos(case: &Case) {
    let mut areas = case.areas();
    let mut hosts = case.hosts(&areas, now());
    let mut options = AcquireOptions::exclusive(case.generation);
    options.mode = if case.shared { Mode::Shared } else { Mode::Exclusive };
    options.expected_lver = case.lver.filter(|_| case.wait);
    options.wait_for_dead_owner = case.wait;
    options.read_lvb = case.shared;
    let timeouts = case.timeouts();
    let acquire =
        PaxosAcquire::new(case.resource(), case.host_id, case.generation, timeouts, options);
    let (_, acquired) = run(acquire, &mut areas, &mut hosts, now(), case.hook());
    if let Ok(held) = acquired {
        assert_eq!((held.host_id, held.generation), (case.host_id, case.generation));
        assert_eq!(held.mode, options.mode);
        let release = PaxosRelease::new(held, timeouts, Some(vec![7; 8]));
        let _ = run(release, &mut areas, &mut hosts, now(), case.hook());
    }
    let cleanup = PaxosRelease::cleanup(case.resource(), case.host_id, case.generation, timeouts);
    let _ = run(cleanup, &mut areas, &mut hosts, now(), case.hook());
    let mode = if case.shared { ForceMode::None } else { ForceMode::Force };
    let request = PaxosRequest::new(case.resource(), case.lver, mode, timeouts);
    let _ = run(request, &mut areas, &mut hosts, now(), case.hook());
    let examine = PaxosExamine::new(case.resource(), case.lver.unwrap_or(0), timeouts);
    let _ = run(examine, &mut areas, &mut hosts, now(), case.hook());
    check_judgement(&hosts, timeouts.watchdog_fire(), now());
}

fn delta(case: &Case) {
    let mut areas = case.areas();
    let mut hosts = case.hosts(&areas, now());
    let timeouts = case.timeouts();
    let us = name("us");
    let join = DeltaAcquire::new(
        case.lockspace(),
        case.host_id,
        us,
        timeouts,
        JoinOptions { reacquire: if case.wait { Reacquire::Any } else { Reacquire::Wait } },
    );
    let (_, joined) = run(join, &mut areas, &mut hosts, now(), case.hook());
    let at = (case.host_id as usize - 1) * SECTOR;
    let sector = areas.lockspace[at..at + SECTOR].to_vec();
    let lease = match joined {
        Ok(lease) => {
            assert_eq!((lease.host_id, lease.name), (case.host_id, us));
            assert_ne!(lease.timestamp(), 0);
            Some(lease)
        }
        // Take up whatever our sector holds, as `direct renew-id` does.
        Err(_) => {
            HostLease::resume(case.lockspace(), case.host_id, &us, timeouts, sector, now()).ok()
        }
    };
    if let Some(mut lease) = lease {
        let later = now() + Duration::from_secs(1);
        for host_id in [0, 1, 3, 2048, u64::MAX] {
            lease.set_bit(host_id, later + timeouts.renewal_warn());
        }
        let before = lease.timestamp();
        let renewal =
            run(DeltaRenew::new(lease, HOSTS), &mut areas, &mut hosts, later, case.hook());
        let renewal = renewal.1;
        if renewal.result.is_ok() {
            assert!(renewal.lease.timestamp() > before, "a renewal's timestamp grows");
        }
        let _ = run(DeltaRelease::new(renewal.lease), &mut areas, &mut hosts, later, case.hook());
    }
    check_judgement(&hosts, timeouts.watchdog_fire(), now());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn paxos_machines_survive_checksum_valid_records(case in case()) {
        paxos(&case);
    }

    #[test]
    fn delta_machines_survive_checksum_valid_records(case in case()) {
        delta(&case);
    }
}
