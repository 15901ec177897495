//! The Paxos machines driven step by step: given these sectors on disk, the
//! exact reads and writes each operation makes, and how it ends.

use std::time::Duration;

use super::*;
use crate::clock::MonoTime;
use crate::delta::HostTable;
use crate::ondisk::RecordProblem;
use crate::ondisk::area::fill_resource;
use crate::ondisk::dblock::{DBLOCK_FLAG_RELEASED, MODE_FLAG_SHARED};
use crate::ondisk::geometry::SectorSize;
use crate::ondisk::leader::{LEADER_FLAG_SHORT_HOLD, LeaderRecord};
use crate::ondisk::request::{ForceMode, RequestRecord};
use crate::step::{IoFailure, IoRequest};
use crate::testing::{Areas, Fate, run, untouched};
use crate::timeouts::Timeouts;

const US: (u64, u64) = (1, 2);
const BALLOT_READ: &str = "read res 0+3072";
const OUR_DBLOCK_WRITE: &str = "write res 1024+512";
const LEADER_WRITE: &str = "write res 0+512";
const LEADER_READ: &str = "read res 0+512";

fn secs(s: u64) -> MonoTime {
    MonoTime::from_secs(s)
}

fn timeouts() -> Timeouts {
    // N = 1 s, F = 10 s: 8N = 8 s, host_dead = 18 s.
    Timeouts::new(1, Duration::from_secs(10))
}

fn resource() -> ResourceRef {
    ResourceRef {
        lockspace: Name::new("ls").unwrap(),
        name: Name::new("r").unwrap(),
        geometry: Geometry::default_for(SectorSize::B512),
        num_hosts: 4,
    }
}

fn areas() -> Areas {
    let r = resource();
    let mut area = vec![0u8; r.geometry.area_bytes() as usize];
    fill_resource(&mut area, r.geometry, r.lockspace, r.name, r.num_hosts);
    Areas { lockspace: Vec::new(), resource: area }
}

fn leader(areas: &Areas) -> LeaderRecord {
    LeaderRecord::decode_prefix(&areas.resource)
}

fn set_leader(areas: &mut Areas, change: impl FnOnce(&mut LeaderRecord)) {
    let mut record = leader(areas);
    change(&mut record);
    record.encode_into(&mut areas.resource);
}

fn dblock(areas: &Areas, host_id: u64) -> (Dblock, ModeBlock) {
    let at = resource().dblock_offset(host_id) as usize;
    let sector = &areas.resource[at..at + 512];
    (Dblock::decode_prefix(sector), ModeBlock::decode_from_sector(sector))
}

fn set_dblock(areas: &mut Areas, host_id: u64, block: Dblock, mode: ModeBlock) {
    let at = resource().dblock_offset(host_id) as usize;
    areas.resource[at..at + 512].copy_from_slice(&dblock_sector(&block, &mode, 512));
}

/// Held by host 2 generation 3 at lver 5, written by host 2.
fn held_by_host2(areas: &mut Areas) {
    set_leader(areas, |l| {
        l.owner_id = 2;
        l.owner_generation = 3;
        l.timestamp = 50;
        l.lver = 5;
        l.write_id = 2;
    });
    let block = Dblock { mbal: 2, bal: 2, inp: 2, inp2: 3, inp3: 50, lver: 5, ..Dblock::default() };
    set_dblock(areas, 2, block, ModeBlock::default());
}

fn delta(host_id: u64, generation: u64, timestamp: u64) -> LeaderRecord {
    let g = Geometry::default_for(SectorSize::B512);
    LeaderRecord {
        owner_id: host_id,
        owner_generation: generation,
        timestamp,
        ..LeaderRecord::new_delta(g, Name::new("ls").unwrap(), 1)
    }
}

/// A table that saw host `h` renewing at 100-102 s and then nothing; with
/// `silent_until`, a read at that time still saw its last timestamp.
fn table(h: u64, generation: u64, silent_until: Option<u64>) -> HostTable {
    let mut t = HostTable::new(timeouts());
    t.observe(h, &delta(h, generation, 40), secs(100), secs(100));
    t.observe(h, &delta(h, generation, 42), secs(102), secs(102));
    if let Some(at) = silent_until {
        t.observe(h, &delta(h, generation, 42), secs(at), secs(at));
    }
    t
}

fn acquire(options: AcquireOptions) -> PaxosAcquire {
    PaxosAcquire::new(resource(), US.0, US.1, timeouts(), options)
}

fn exclusive() -> AcquireOptions {
    AcquireOptions::exclusive(7)
}

#[test]
fn free_lease_takes_three_reads_and_three_writes() {
    let mut a = areas();
    let mut hosts = HostTable::new(timeouts());
    let (trace, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(500), untouched);
    assert_eq!(
        trace,
        [BALLOT_READ, OUR_DBLOCK_WRITE, BALLOT_READ, OUR_DBLOCK_WRITE, BALLOT_READ, LEADER_WRITE]
    );
    let held = result.unwrap();
    assert_eq!((held.mode, held.lver, held.takeover), (Mode::Exclusive, 1, None));
    let l = leader(&a);
    assert_eq!(
        (l.owner_id, l.owner_generation, l.lver, l.timestamp, l.write_id),
        (1, 2, 1, 500, 1)
    );
    let (block, _) = dblock(&a, 1);
    assert_eq!((block.mbal, block.bal, block.inp, block.inp2, block.lver), (1, 1, 1, 2, 1));
}

#[test]
fn shared_acquire_marks_the_mode_block_and_frees_the_leader() {
    let mut a = areas();
    let mut hosts = HostTable::new(timeouts());
    let options = AcquireOptions { mode: Mode::Shared, ..exclusive() };
    let (trace, result) = run(acquire(options), &mut a, &mut hosts, secs(500), untouched);
    assert_eq!(
        trace,
        [
            BALLOT_READ,
            OUR_DBLOCK_WRITE,
            BALLOT_READ,
            OUR_DBLOCK_WRITE,
            BALLOT_READ,
            LEADER_WRITE,
            OUR_DBLOCK_WRITE,
            LEADER_WRITE
        ]
    );
    assert_eq!(result.unwrap().mode, Mode::Shared);
    let l = leader(&a);
    assert_eq!((l.timestamp, l.lver, l.flags & LEADER_FLAG_SHORT_HOLD), (0, 1, 0));
    let (block, mode) = dblock(&a, 1);
    assert!(block.released());
    assert_eq!((mode.flags, mode.generation), (MODE_FLAG_SHARED, 2));
    // A second SH acquire of our own finds it held: one read, no writes.
    let options = AcquireOptions { mode: Mode::Shared, ..exclusive() };
    let (trace, result) = run(acquire(options), &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(trace, [BALLOT_READ]);
    assert_eq!(result.unwrap().mode, Mode::Shared);
}

#[test]
fn live_owner_is_refused_with_one_read() {
    let mut a = areas();
    held_by_host2(&mut a);
    let mut hosts = table(2, 3, None);
    let (trace, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(103), untouched);
    assert_eq!(trace, [BALLOT_READ]);
    assert_eq!(result.unwrap_err(), PaxosError::OwnerAlive { owner_id: 2, generation: 3 });
}

#[test]
fn ballot_lost_to_a_higher_mbal_backs_off_and_wins_the_next() {
    cov_mark::check!(ballot_lost_to_higher_mbal);
    let mut a = areas();
    let mut hosts = HostTable::new(timeouts());
    // Host 3 starts a higher ballot just before our phase 1 read.
    let hook = |index: usize, _: &IoRequest, areas: &mut Areas| {
        if index == 2 {
            let rival = Dblock { mbal: 2003, lver: 1, ..Dblock::default() };
            set_dblock(areas, 3, rival, ModeBlock::default());
        }
        Fate::Complete
    };
    let (trace, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(500), hook);
    assert_eq!(&trace[..3], [BALLOT_READ, OUR_DBLOCK_WRITE, BALLOT_READ]);
    assert!(trace[3].starts_with("wait "), "{trace:?}");
    assert_eq!(
        &trace[4..],
        [BALLOT_READ, OUR_DBLOCK_WRITE, BALLOT_READ, OUR_DBLOCK_WRITE, BALLOT_READ, LEADER_WRITE]
    );
    assert_eq!(result.unwrap().lver, 1);
    // Our second ballot is above the rival's and still ours modulo max_hosts.
    assert_eq!(dblock(&a, 1).0.mbal, 4001);
}

#[test]
fn dead_owner_is_taken_over() {
    cov_mark::check!(owner_dead_takeover);
    let mut a = areas();
    held_by_host2(&mut a);
    let mut hosts = table(2, 3, Some(111));
    let (trace, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(121), untouched);
    assert_eq!(trace.len(), 6, "{trace:?}");
    let held = result.unwrap();
    assert_eq!((held.lver, held.takeover), (6, Some(owner::OwnerVerdict::OwnerDead)));
    assert_eq!((leader(&a).owner_id, leader(&a).lver), (1, 6));
}

#[test]
fn failing_owner_is_waited_out_when_asked() {
    let mut a = areas();
    held_by_host2(&mut a);
    let mut hosts = table(2, 3, Some(111));
    // At 112 s host 2 is FAIL: it may be dead from 120 s.
    let (trace, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(112), untouched);
    assert_eq!(trace, [BALLOT_READ]);
    assert!(
        matches!(result, Err(PaxosError::OwnerFailing { owner_id: 2, dead_at, .. }) if dead_at == secs(120))
    );
    let options = AcquireOptions { wait_for_dead_owner: true, ..exclusive() };
    let (trace, result) = run(acquire(options), &mut a, &mut hosts, secs(112), untouched);
    assert_eq!(&trace[..3], [BALLOT_READ, "wait 8s", BALLOT_READ]);
    assert_eq!(result.unwrap().takeover, Some(owner::OwnerVerdict::OwnerDead));
}

#[test]
fn released_owner_dblock_frees_a_leader_someone_else_wrote() {
    cov_mark::check!(owner_released_dblock);
    let mut a = areas();
    held_by_host2(&mut a);
    set_leader(&mut a, |l| l.write_id = 3);
    let released = Dblock {
        mbal: 2,
        bal: 2,
        inp: 2,
        inp2: 3,
        inp3: 50,
        lver: 5,
        flags: DBLOCK_FLAG_RELEASED,
        ..Dblock::default()
    };
    set_dblock(&mut a, 2, released, ModeBlock::default());
    let mut hosts = table(2, 3, None);
    let (_, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(103), untouched);
    assert_eq!(result.unwrap().takeover, Some(owner::OwnerVerdict::Released));
}

#[test]
fn live_shared_holder_blocks_exclusive_and_a_dead_one_is_disregarded() {
    let mut a = areas();
    let shared = ModeBlock { flags: MODE_FLAG_SHARED, generation: 3 };
    let block = Dblock {
        mbal: 2,
        bal: 2,
        inp: 2,
        inp2: 3,
        inp3: 50,
        lver: 1,
        flags: DBLOCK_FLAG_RELEASED,
        ..Dblock::default()
    };
    set_dblock(&mut a, 2, block, shared);
    set_leader(&mut a, |l| l.lver = 1);
    let mut hosts = table(2, 3, None);
    let (trace, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(103), untouched);
    assert_eq!(trace, [BALLOT_READ]);
    assert_eq!(result.unwrap_err(), PaxosError::SharedHeld { holder_id: 2 });
    // Shared holders share.
    let options = AcquireOptions { mode: Mode::Shared, ..exclusive() };
    let (_, result) = run(acquire(options), &mut a.clone(), &mut hosts, secs(103), untouched);
    assert_eq!(result.unwrap().mode, Mode::Shared);

    cov_mark::check!(dead_shared_holder_disregarded);
    let mut hosts = table(2, 3, Some(111));
    let (trace, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(121), untouched);
    assert_eq!(trace.len(), 6);
    assert_eq!(result.unwrap().lver, 2);
    assert!(dblock(&a, 2).1.shared(), "another host's sector is never written");
}

#[test]
fn shared_holder_appearing_during_the_ballot_makes_exclusive_withdraw() {
    let mut a = areas();
    let mut hosts = table(3, 1, None);
    let hook = |index: usize, _: &IoRequest, areas: &mut Areas| {
        if index == 4 {
            let mode = ModeBlock { flags: MODE_FLAG_SHARED, generation: 1 };
            set_dblock(areas, 3, Dblock::default(), mode);
        }
        Fate::Complete
    };
    let mut machine = acquire(exclusive());
    let (trace, result) = run(&mut machine, &mut a, &mut hosts, secs(103), hook);
    assert_eq!(
        trace,
        [
            BALLOT_READ,
            OUR_DBLOCK_WRITE,
            BALLOT_READ,
            OUR_DBLOCK_WRITE,
            BALLOT_READ,
            OUR_DBLOCK_WRITE
        ]
    );
    assert_eq!(result.unwrap_err(), PaxosError::SharedHeld { holder_id: 3 });
    assert!(dblock(&a, 1).0.released(), "our proposal is withdrawn");
    assert_eq!(leader(&a).timestamp, 0, "nothing was committed");
    assert!(machine.withdrawal().is_none(), "the withdrawal landed");
}

#[test]
fn torn_leader_is_an_error_not_a_free_lease() {
    let mut a = areas();
    a.resource[110] ^= 0x01;
    let mut hosts = HostTable::new(timeouts());
    let (trace, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(500), untouched);
    assert_eq!(trace, [BALLOT_READ]);
    assert!(matches!(
        result,
        Err(PaxosError::Corrupt { offset: 0, problem: RecordProblem::BadChecksum { .. } })
    ));
}

#[test]
fn damaged_dblock_of_another_host_is_skipped() {
    cov_mark::check!(damaged_dblock_skipped);
    let mut a = areas();
    set_dblock(&mut a, 4, Dblock { mbal: 9, lver: 1, ..Dblock::default() }, ModeBlock::default());
    let at = resource().dblock_offset(4) as usize;
    a.resource[at + 3] ^= 0xff;
    let mut hosts = HostTable::new(timeouts());
    let (_, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(500), untouched);
    assert_eq!(result.unwrap().lver, 1);
}

#[test]
fn an_accepted_value_of_another_host_is_committed_for_it() {
    cov_mark::check!(ballot_chose_another_owner);
    let mut a = areas();
    // Host 2 completed phase 2 for lver 1 and then stopped.
    let accepted =
        Dblock { mbal: 2, bal: 2, inp: 2, inp2: 3, inp3: 77, lver: 1, ..Dblock::default() };
    set_dblock(&mut a, 2, accepted, ModeBlock::default());
    let mut hosts = HostTable::new(timeouts());
    let (trace, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(500), untouched);
    assert_eq!(trace.len(), 6);
    assert_eq!(result.unwrap_err(), PaxosError::OtherOwner { owner_id: 2, generation: 3 });
    let l = leader(&a);
    assert_eq!((l.owner_id, l.owner_generation, l.timestamp, l.lver, l.write_id), (2, 3, 77, 1, 1));
    // Anyone trying next sees the instance decided and names the owner.
    let (_, result) = run(acquire(exclusive()), &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(result.unwrap_err(), PaxosError::OwnerAlive { owner_id: 2, generation: 3 });
}

#[test]
fn expected_lver_is_checked_before_any_write() {
    let mut a = areas();
    set_leader(&mut a, |l| l.lver = 4);
    let mut hosts = HostTable::new(timeouts());
    let options = AcquireOptions { expected_lver: Some(3), ..exclusive() };
    let (trace, result) = run(acquire(options), &mut a, &mut hosts, secs(500), untouched);
    assert_eq!(trace, [BALLOT_READ]);
    assert_eq!(result.unwrap_err(), PaxosError::LverMismatch { expected: 3, found: 4 });
    let options = AcquireOptions { expected_lver: Some(4), ..exclusive() };
    let (_, result) = run(acquire(options), &mut a, &mut hosts, secs(500), untouched);
    assert_eq!(result.unwrap().lver, 5);
}

#[test]
fn failed_phase_write_withdraws_the_proposal() {
    let mut a = areas();
    let mut hosts = HostTable::new(timeouts());
    let hook = |index: usize, _: &IoRequest, _: &mut Areas| {
        if index == 3 { Fate::Fail(IoFailure::Timeout) } else { Fate::Complete }
    };
    let mut machine = acquire(exclusive());
    let (trace, result) = run(&mut machine, &mut a, &mut hosts, secs(500), hook);
    assert_eq!(
        trace,
        [BALLOT_READ, OUR_DBLOCK_WRITE, BALLOT_READ, "write res 1024+512 failed", OUR_DBLOCK_WRITE]
    );
    assert_eq!(result.unwrap_err(), PaxosError::Io(IoFailure::Timeout));
    assert!(dblock(&a, 1).0.released());
    assert!(machine.withdrawal().is_none());
    // When the withdrawal cannot be written either, the caller gets it.
    let hook = |index: usize, _: &IoRequest, _: &mut Areas| {
        if index >= 3 { Fate::Fail(IoFailure::Error) } else { Fate::Complete }
    };
    let mut machine = acquire(exclusive());
    let (_, result) = run(&mut machine, &mut areas(), &mut hosts, secs(500), hook);
    assert_eq!(result.unwrap_err(), PaxosError::Io(IoFailure::Error));
    let left = machine.withdrawal().expect("a proposal may be on disk");
    assert_eq!((left.held.lver, left.held.block.mbal), (1, 1));
}

fn held(a: &mut Areas) -> Held {
    let mut hosts = HostTable::new(timeouts());
    run(acquire(exclusive()), a, &mut hosts, secs(500), untouched).1.unwrap()
}

#[test]
fn exclusive_release_marks_released_then_frees_the_leader_it_wrote() {
    let mut a = areas();
    let lease = held(&mut a);
    let mut hosts = HostTable::new(timeouts());
    let release = PaxosRelease::new(lease, timeouts(), None);
    let (trace, result) = run(release, &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(trace, [OUR_DBLOCK_WRITE, LEADER_READ, LEADER_WRITE]);
    assert_eq!(result.unwrap(), Some((Mode::Exclusive, 1)));
    assert_eq!(leader(&a).timestamp, 0);
    assert_eq!(leader(&a).lver, 1);
    let (block, _) = dblock(&a, 1);
    assert!(block.released());
    assert_eq!((block.bal, block.inp), (1, 1), "the accepted value is kept");
}

#[test]
fn release_leaves_a_leader_written_by_another_host() {
    let mut a = areas();
    let lease = held(&mut a);
    set_leader(&mut a, |l| l.write_id = 3);
    let mut hosts = HostTable::new(timeouts());
    let (trace, result) =
        run(PaxosRelease::new(lease, timeouts(), None), &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(trace, [OUR_DBLOCK_WRITE, LEADER_READ]);
    assert!(result.is_ok());
    assert_eq!(leader(&a).timestamp, 500, "our RELEASED dblock frees it for others");
}

#[test]
fn release_writes_the_lvb_first_and_acquire_reads_it() {
    let mut a = areas();
    let lease = held(&mut a);
    let mut hosts = HostTable::new(timeouts());
    let release = PaxosRelease::new(lease, timeouts(), Some(b"seqno 42".to_vec()));
    let (trace, _) = run(release, &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(trace[0], format!("write res {}+512", 2002 * 512));
    let options = AcquireOptions { read_lvb: true, ..exclusive() };
    let (trace, result) = run(acquire(options), &mut a, &mut hosts, secs(502), untouched);
    assert_eq!(trace.last().unwrap(), &format!("read res {}+512", 2002 * 512));
    assert_eq!(&result.unwrap().lvb.unwrap()[..8], b"seqno 42");
}

#[test]
fn a_release_with_a_rename_frees_the_leader_under_the_new_name() {
    let mut a = areas();
    let mut lease = held(&mut a);
    let name = crate::ondisk::name::Name::new("#unused").unwrap();
    lease.rename = Some(name);
    let mut hosts = HostTable::new(timeouts());
    let (trace, result) =
        run(PaxosRelease::new(lease, timeouts(), None), &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(trace, [OUR_DBLOCK_WRITE, LEADER_READ, LEADER_WRITE]);
    assert!(result.is_ok());
    let freed = leader(&a);
    assert_eq!(freed.timestamp, 0, "freed");
    assert!(freed.resource_name.same_as(&name), "renamed: {}", freed.resource_name);
}

#[test]
fn a_release_leaves_a_leader_of_another_name_alone() {
    // The area was written afresh under another name since the lease was
    // taken (its release renamed it, and a new resource was made there),
    // and that new lease names us at the same generation and lver.
    let mut a = areas();
    let lease = held(&mut a);
    let other = crate::ondisk::name::Name::new("lv2").unwrap();
    set_leader(&mut a, |l| l.resource_name = other);
    let before = leader(&a);
    let mut hosts = HostTable::new(timeouts());
    let (trace, result) =
        run(PaxosRelease::new(lease, timeouts(), None), &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(trace, [OUR_DBLOCK_WRITE, LEADER_READ]);
    assert!(result.is_ok());
    assert_eq!(leader(&a), before, "the new lease's leader is not freed");
}

#[test]
fn cleanup_finds_what_we_hold_or_nothing() {
    let mut a = areas();
    let mut hosts = HostTable::new(timeouts());
    let cleanup = || PaxosRelease::cleanup(resource(), US.0, US.1, timeouts());
    let (trace, result) = run(cleanup(), &mut a, &mut hosts, secs(500), untouched);
    assert_eq!(trace, ["read res 0+1536"]);
    assert_eq!(result.unwrap(), None);
    held(&mut a);
    let (trace, result) = run(cleanup(), &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(trace, ["read res 0+1536", OUR_DBLOCK_WRITE, LEADER_READ, LEADER_WRITE]);
    assert_eq!(result.unwrap(), Some((Mode::Exclusive, 1)));
}

#[test]
fn request_then_examine() {
    let mut a = areas();
    let lease = held(&mut a);
    let mut hosts = HostTable::new(timeouts());
    let request = |lver, mode| PaxosRequest::new(resource(), lver, mode, timeouts());
    let (_, result) =
        run(request(Some(1), ForceMode::Force), &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(result.unwrap_err(), PaxosError::RequestLverTooLow { lver: 1, current: 1 });
    let (trace, result) =
        run(request(None, ForceMode::Graceful), &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(trace, ["read res 0+1024", "write res 512+512"]);
    assert_eq!(result.unwrap(), Some(1), "the owner to signal");
    let record = RequestRecord::decode_prefix(&a.resource[512..]);
    assert_eq!((record.lver, record.force_mode), (2, 2));
    let examine = PaxosExamine::new(resource(), lease.lver, timeouts());
    let (trace, result) = run(examine, &mut a, &mut hosts, secs(502), untouched);
    assert_eq!(trace, ["read res 512+512"]);
    assert_eq!(result.unwrap(), Some(ForceMode::Graceful));
    let (_, result) = run(request(None, ForceMode::None), &mut a, &mut hosts, secs(503), untouched);
    assert_eq!(result.unwrap(), None);
    let examine = PaxosExamine::new(resource(), lease.lver, timeouts());
    assert_eq!(run(examine, &mut a, &mut hosts, secs(504), untouched).1.unwrap(), None);
}

#[test]
fn exclusive_to_shared_adds_the_shared_mode_before_letting_exclusive_go() {
    let mut a = areas();
    let lease = held(&mut a);
    let mut hosts = HostTable::new(timeouts());
    let share = PaxosShare::new(lease.clone(), timeouts());
    let (trace, result) = run(share, &mut a, &mut hosts, secs(501), untouched);
    assert_eq!(trace, [OUR_DBLOCK_WRITE, OUR_DBLOCK_WRITE, LEADER_READ, LEADER_WRITE]);
    let shared = result.unwrap();
    assert_eq!((shared.mode, shared.lver), (Mode::Shared, 1));
    let (block, mode) = dblock(&a, 1);
    assert!(block.released());
    assert_eq!((mode.flags, mode.generation), (MODE_FLAG_SHARED, 2));
    assert_eq!((block.mbal, block.bal), (lease.block.mbal, lease.block.bal));
    assert_eq!(leader(&a).timestamp, 0);
}

#[test]
fn exclusive_to_shared_failing_first_leaves_exclusive_then_never_less_than_shared() {
    // The first write fails: the exclusive lease stands, untouched.
    let mut a = areas();
    let lease = held(&mut a);
    let before = a.resource.clone();
    let mut hosts = HostTable::new(timeouts());
    let fail_at = |at: usize| {
        move |index: usize, _: &IoRequest, _: &mut Areas| {
            if index == at { Fate::Fail(IoFailure::Timeout) } else { Fate::Complete }
        }
    };
    let share = PaxosShare::new(lease.clone(), timeouts());
    let (_, result) = run(share, &mut a, &mut hosts, secs(501), fail_at(0));
    assert_eq!(result.unwrap_err(), PaxosError::Io(IoFailure::Timeout));
    assert!(a.resource == before, "nothing of the exclusive lease changed");
    // The second fails: shared, and the disk still refuses others as an
    // exclusive owner would (leader ours, our dblock not released).
    let share = PaxosShare::new(lease, timeouts());
    let (trace, result) = run(share, &mut a, &mut hosts, secs(501), fail_at(1));
    assert_eq!(trace, [OUR_DBLOCK_WRITE, "write res 1024+512 failed"]);
    assert_eq!(result.unwrap().mode, Mode::Shared);
    let (block, mode) = dblock(&a, 1);
    assert!(!block.released());
    assert!(mode.shared());
    assert_eq!((leader(&a).owner_id, leader(&a).timestamp), (1, 500));
}

#[test]
fn failed_shared_to_exclusive_conversion_keeps_the_shared_mode() {
    let mut a = areas();
    let mut hosts = HostTable::new(timeouts());
    let options = AcquireOptions { mode: Mode::Shared, ..exclusive() };
    run(acquire(options), &mut a, &mut hosts, secs(500), untouched).1.unwrap();
    // Converting to EX: phase 2's write times out, then the machine's own
    // retraction lands: our dblock is RELEASED and still SHARED.
    let hook = |index: usize, _: &IoRequest, _: &mut Areas| {
        if index == 3 { Fate::Fail(IoFailure::Timeout) } else { Fate::Complete }
    };
    let mut machine = acquire(exclusive());
    let (_, result) = run(&mut machine, &mut a, &mut hosts, secs(501), hook);
    assert_eq!(result.unwrap_err(), PaxosError::Io(IoFailure::Timeout));
    let (block, mode) = dblock(&a, 1);
    assert!(block.released());
    assert_eq!((mode.flags, mode.generation), (MODE_FLAG_SHARED, 2));
    let last = machine.last_written().expect("it wrote");
    assert_eq!(
        (last.mbal, last.bal, last.lver, last.flags),
        (block.mbal, block.bal, 2, block.flags)
    );
    // The retraction fails too: the withdrawal the caller runs keeps it.
    let hook = |index: usize, _: &IoRequest, _: &mut Areas| {
        if index >= 3 { Fate::Fail(IoFailure::Error) } else { Fate::Complete }
    };
    let mut machine = acquire(exclusive());
    run(&mut machine, &mut a, &mut hosts, secs(502), hook).1.unwrap_err();
    let withdrawal = machine.withdrawal().expect("a proposal may be on disk");
    assert!(withdrawal.keep.shared());
    run(PaxosRelease::withdraw(withdrawal, timeouts()), &mut a, &mut hosts, secs(503), untouched)
        .1
        .unwrap();
    let (block, mode) = dblock(&a, 1);
    assert!(block.released());
    assert!(mode.shared(), "the shared lease is still on disk");
}

#[test]
fn an_instance_won_and_released_is_not_won_again_behind_a_stale_leader() {
    let mut a = areas();
    let mut hosts = HostTable::new(timeouts());
    let first = held(&mut a);
    let stale = a.resource[..512].to_vec();
    run(PaxosRelease::new(first, timeouts(), None), &mut a, &mut hosts, secs(501), untouched)
        .1
        .unwrap();
    // Another host's late write puts the leader of lver 1 back, though
    // instance 2 was won by us and let go of since.
    let second = run(acquire(exclusive()), &mut a, &mut hosts, secs(502), untouched).1.unwrap();
    assert_eq!(second.lver, 2);
    run(PaxosRelease::new(second, timeouts(), None), &mut a, &mut hosts, secs(503), untouched)
        .1
        .unwrap();
    a.resource[..512].copy_from_slice(&stale);
    assert_eq!(leader(&a).lver, 1);
    cov_mark::check!(released_instance_not_taken_again);
    let third = run(acquire(exclusive()), &mut a, &mut hosts, secs(504), untouched).1.unwrap();
    assert_eq!(third.lver, 3, "lver 2 was handed out already");
    assert_eq!((leader(&a).lver, leader(&a).owner_id), (3, 1));
}

#[test]
fn a_failed_leader_write_for_another_owner_is_left_to_withdraw() {
    // Host 2's accepted value is carried on, so our commit writes a leader
    // naming host 2; that write times out and may still land.
    let mut a = areas();
    let accepted =
        Dblock { mbal: 2, bal: 2, inp: 2, inp2: 3, inp3: 77, lver: 1, ..Dblock::default() };
    set_dblock(&mut a, 2, accepted, ModeBlock::default());
    let mut hosts = HostTable::new(timeouts());
    let hook = |_: usize, request: &IoRequest, _: &mut Areas| match request {
        IoRequest::Write { offset: 0, .. } => Fate::Fail(IoFailure::Timeout),
        _ => Fate::Complete,
    };
    let mut machine = acquire(exclusive());
    let (trace, result) = run(&mut machine, &mut a, &mut hosts, secs(500), hook);
    assert_eq!(trace[5], "write res 0+512 failed");
    assert_eq!(trace[6], OUR_DBLOCK_WRITE, "our proposal is retracted");
    assert_eq!(result.unwrap_err(), PaxosError::Io(IoFailure::Timeout));
    // The dblock retraction does not cover the leader sector: until a
    // withdrawal finds nothing of ours in flight there, the resource is
    // not ours to acquire again.
    let left = machine.withdrawal().expect("the leader write may still be in flight");
    assert_eq!(left.held.lver, 1);
}
