//! The index on a simulated disk: the byte layout sanlock's own
//! `daemon_test.py` checks (test_format, test_create, test_delete,
//! test_lookup*), and every refusal writing nothing.

use super::*;
use crate::clock::SimClock;
use crate::disk::SimDisk;
use crate::ondisk::dblock::MODE_FLAG_SHARED;
use crate::ondisk::geometry::{AlignSize, SectorSize};
use crate::ondisk::leader::PAXOS_MAGIC;
use crate::ondisk::rindex::RINDEX_MAGIC;

const MIB: u64 = 1 << 20;
/// sanlock's tests/constants.py.
const RINDEX_ENTRIES_SECTORS: usize = 2000;

struct Fixture {
    disk: SimDisk,
    clock: SimClock,
}

impl Fixture {
    fn new(size: u64, sector: u32) -> Fixture {
        let clock = SimClock::starting_at(MonoTime::from_secs(100));
        Fixture { disk: SimDisk::new(size, sector, 7, clock.clone()), clock }
    }

    /// The index of lockspace "ls_name" at 1M, as the sanlock tests place it.
    fn rindex(&self) -> Rindex<'_> {
        self.rindex_of("ls_name")
    }

    fn rindex_of(&self, lockspace: &str) -> Rindex<'_> {
        Rindex {
            disk: &self.disk,
            clock: &self.clock,
            lockspace: Name::new(lockspace).unwrap(),
            offset: MIB,
            io_timeout: Duration::from_secs(10),
        }
    }

    fn format(&self, max_resources: Option<u32>) -> RindexHeader {
        let geometry = Geometry::default_for(SectorSize::B512);
        self.rindex().format(FormatOptions { geometry, max_resources, force: false }).unwrap()
    }

    fn u32_at(&self, offset: u64) -> u32 {
        u32::from_le_bytes(self.disk.snapshot(offset, 4).try_into().unwrap())
    }

    fn everything(&self) -> Vec<u8> {
        self.disk.snapshot(0, self.disk.size_bytes() as usize)
    }

    fn leader_at(&self, offset: u64) -> LeaderRecord {
        LeaderRecord::decode_prefix(&self.disk.snapshot(offset, 512))
    }

    fn put_leader(&self, offset: u64, leader: &LeaderRecord) {
        self.disk.apply(offset, &leader.encode());
    }
}

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

/// util.check_rindex_entry: `<Q L L 48s`.
fn check_rindex_entry(raw: &[u8], name: &[u8], offset: u64) {
    assert_eq!(u64::from_le_bytes(raw[..8].try_into().unwrap()), offset);
    assert_eq!(&raw[8..16], &[0; 8], "flags and unused");
    let mut padded = name.to_vec();
    padded.resize(48, 0);
    assert_eq!(&raw[16..64], &padded[..]);
}

#[test]
fn format_lays_out_header_zeroed_entries_and_the_rindex_lease() {
    let f = Fixture::new(3 * MIB, 512);
    f.disk.apply(MIB + 4096, &[0xAB; 512]);
    let header = f.format(None);
    assert_eq!(header.entries(), 4096);
    assert_eq!(f.u32_at(MIB), RINDEX_MAGIC);
    let entries_size = 512 * RINDEX_ENTRIES_SECTORS;
    assert!(f.disk.snapshot(MIB + 512, entries_size).iter().all(|&b| b == 0));
    assert_eq!(f.u32_at(2 * MIB), PAXOS_MAGIC);
    let lease = f.leader_at(2 * MIB);
    assert_eq!(lease.verify_in(LeaderKind::Paxos, &name("ls_name")), Ok(header.geometry));
    assert_eq!(lease.resource_name, name(RINDEX_LEASE_NAME));
    assert_eq!((lease.num_hosts, lease.max_hosts), (2000, 2000), "as sanlock formats it");
    assert_eq!(f.rindex().read_header().unwrap(), header);
}

#[test]
fn create_lookup_delete_as_sanlocks_daemon_tests_expect() {
    let f = Fixture::new(4 * MIB, 512);
    f.format(None);
    let rx = f.rindex();
    let entry = rx.create(&name("res"), None).unwrap();
    assert_eq!(entry, Entry { name: name("res"), offset: 3 * MIB });
    check_rindex_entry(&f.disk.snapshot(MIB + 512, 64), b"res", 3 * MIB);
    let rest = 512 * RINDEX_ENTRIES_SECTORS - 64;
    assert!(f.disk.snapshot(MIB + 512 + 64, rest).iter().all(|&b| b == 0));
    assert_eq!(f.u32_at(3 * MIB), PAXOS_MAGIC);
    let lease = f.leader_at(3 * MIB);
    assert_eq!(lease.resource_name, name("res"));
    assert_eq!(lease.owner_id, 0);
    assert_eq!(lease.num_hosts, 2000);

    // test_lookup: "name res offset 3145728".
    assert_eq!(rx.lookup(Some(&name("res")), None).unwrap(), Some(entry));
    assert_eq!(rx.lookup(None, Some(3 * MIB)).unwrap(), Some(entry));
    assert_eq!(rx.lookup(Some(&name("res")), Some(3 * MIB)).unwrap(), Some(entry));
    // With neither, the first free slot, whether or not the device has it
    // (sanlock prints "name - offset 4194304" here too).
    let free = rx.lookup(None, None).unwrap().unwrap();
    assert_eq!((free.name, free.offset), (Name::EMPTY, 4 * MIB));
    assert_eq!(rx.lookup(None, Some(4 * MIB)).unwrap(), None);
    assert!(matches!(
        rx.lookup(Some(&name("other")), Some(3 * MIB)),
        Err(RindexError::Differs { offset, .. }) if offset == 3 * MIB
    ));
    assert!(matches!(
        rx.lookup(None, Some(2 * MIB)),
        Err(RindexError::NotSlot { offset, .. }) if offset == 2 * MIB
    ));
    // test_lookup_missing: "lookup done -2".
    assert_eq!(rx.lookup(Some(&name("missing")), None).unwrap(), None);

    // test_delete.
    assert_eq!(rx.delete(&name("res")).unwrap(), entry);
    check_rindex_entry(&f.disk.snapshot(MIB + 512, 64), b"", 0);
    assert!(f.disk.snapshot(MIB + 512 + 64, rest).iter().all(|&b| b == 0));
    assert_eq!(f.u32_at(3 * MIB), PAXOS_CLEAR_MAGIC);
    assert_eq!(rx.lookup(Some(&name("res")), None).unwrap(), None);
    assert!(matches!(rx.delete(&name("res")), Err(RindexError::NotFound { .. })));
    // The cleared slot is free again.
    assert_eq!(rx.create(&name("again"), None).unwrap().offset, 3 * MIB);
}

#[test]
fn cleared_lease_differs_from_a_fresh_one_only_in_its_magic() {
    let f = Fixture::new(4 * MIB, 512);
    f.format(None);
    f.rindex().create(&name("res"), None).unwrap();
    let fresh = f.disk.snapshot(3 * MIB, MIB as usize);
    f.rindex().delete(&name("res")).unwrap();
    let cleared = f.disk.snapshot(3 * MIB, MIB as usize);
    assert_eq!(&cleared[..4], &PAXOS_CLEAR_MAGIC.to_le_bytes());
    assert_eq!(&cleared[4..], &fresh[4..], "what Debian's sanlock 3.8.5 leaves");
}

#[test]
fn uninitialized_index_is_reported_with_path_and_offset() {
    // test_lookup_uninitialized: sanlock says -2; we say why.
    let f = Fixture::new(MIB * 2, 512);
    let err = f.rindex().lookup(Some(&name("res")), None).unwrap_err();
    assert!(matches!(
        err,
        RindexError::Corrupt { offset: MIB, problem: RindexProblem::BadMagic { found: 0 }, .. }
    ));
    let message = err.to_string();
    assert!(message.starts_with("sim:7: offset 1048576: no resource index here"), "{message}");
}

#[test]
fn duplicate_create_is_refused_and_writes_nothing() {
    let f = Fixture::new(5 * MIB, 512);
    f.format(None);
    f.rindex().create(&name("res"), None).unwrap();
    let before = f.everything();
    let writes = f.disk.stats().writes;
    let err = f.rindex().create(&name("res"), None).unwrap_err();
    assert!(matches!(&err, RindexError::Exists { offset, .. } if *offset == 3 * MIB), "{err}");
    assert_eq!(f.disk.stats().writes, writes);
    assert_eq!(f.everything(), before);
}

#[test]
fn full_index_is_refused_and_writes_nothing() {
    let f = Fixture::new(6 * MIB, 512);
    f.format(Some(2));
    let rx = f.rindex();
    assert_eq!(rx.create(&name("a"), None).unwrap().offset, 3 * MIB);
    assert_eq!(rx.create(&name("b"), None).unwrap().offset, 4 * MIB);
    let before = f.everything();
    let err = rx.create(&name("c"), None).unwrap_err();
    assert!(matches!(err, RindexError::Full { offset: MIB, entries: 2, .. }), "{err}");
    assert_eq!(f.everything(), before);
    assert_eq!(rx.lookup(None, None).unwrap(), None, "no free slot");
    assert!(matches!(rx.lookup(None, Some(5 * MIB)), Err(RindexError::NotSlot { .. })));
}

#[test]
fn create_refuses_a_slot_past_the_end_of_the_device() {
    let f = Fixture::new(3 * MIB, 512);
    f.format(None);
    let before = f.everything();
    let err = f.rindex().create(&name("res"), None).unwrap_err();
    assert!(matches!(&err, RindexError::PastEnd { offset, .. } if *offset == 3 * MIB), "{err}");
    assert_eq!(f.everything(), before);
}

#[test]
fn delete_refuses_a_lease_a_host_holds() {
    let f = Fixture::new(4 * MIB, 512);
    f.format(None);
    let rx = f.rindex();
    rx.create(&name("res"), None).unwrap();
    let fresh = f.leader_at(3 * MIB);
    let owned = LeaderRecord {
        owner_id: 2,
        owner_generation: 5,
        lver: 1,
        timestamp: 1234,
        write_id: 2,
        ..fresh
    };
    f.put_leader(3 * MIB, &owned);
    let before = f.everything();
    let err = rx.delete(&name("res")).unwrap_err();
    assert!(
        matches!(
            &err,
            RindexError::Held { holder: Holder::Owner { owner_id: 2, generation: 5 }, .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("offset 3145728"), "{err}");
    assert_eq!(f.everything(), before, "neither entry nor lease touched");

    // Another host's lease the owner released: the leader keeps the owner's
    // id but its timestamp is 0.
    f.put_leader(3 * MIB, &LeaderRecord { timestamp: 0, ..owned });
    rx.delete(&name("res")).unwrap();
    assert_eq!(f.u32_at(3 * MIB), PAXOS_CLEAR_MAGIC);
}

#[test]
fn delete_refuses_a_lease_held_shared() {
    let f = Fixture::new(4 * MIB, 512);
    f.format(None);
    let rx = f.rindex();
    rx.create(&name("res"), None).unwrap();
    let g = Geometry::default_for(SectorSize::B512);
    let mut sector = vec![0u8; 512];
    ModeBlock { flags: MODE_FLAG_SHARED, generation: 3 }.encode_into_sector(&mut sector);
    f.disk.apply(3 * MIB + g.dblock_offset(7), &sector);
    let before = f.everything();
    let err = rx.delete(&name("res")).unwrap_err();
    assert!(matches!(err, RindexError::Held { holder: Holder::Shared { host_id: 7 }, .. }));
    assert_eq!(f.everything(), before);
}

#[test]
fn delete_refuses_a_slot_that_holds_something_else() {
    let f = Fixture::new(4 * MIB, 512);
    f.format(None);
    let rx = f.rindex();
    rx.create(&name("res"), None).unwrap();
    let renamed = LeaderRecord { resource_name: name("intruder"), ..f.leader_at(3 * MIB) };
    f.put_leader(3 * MIB, &renamed);
    let before = f.everything();
    let err = rx.delete(&name("res")).unwrap_err();
    assert!(
        matches!(&err, RindexError::BadLease { problem: RecordProblem::WrongResource { .. }, .. }),
        "{err}"
    );
    f.disk.apply(3 * MIB + 60, b"x");
    let err = rx.delete(&name("res")).unwrap_err();
    assert!(
        matches!(&err, RindexError::BadLease { problem: RecordProblem::BadChecksum { .. }, .. }),
        "{err}"
    );
    let mut changed = f.everything();
    changed[(3 * MIB + 60) as usize] = before[(3 * MIB + 60) as usize];
    assert_eq!(changed, before, "only our own poke changed the disk");
}

#[test]
fn create_will_not_overwrite_a_live_or_foreign_lease_in_a_free_slot() {
    let f = Fixture::new(4 * MIB, 512);
    f.format(None);
    let rx = f.rindex();
    let g = Geometry::default_for(SectorSize::B512);
    // A lease left by a create that crashed before its entry was written,
    // since acquired by offset.
    let mut orphan = LeaderRecord::new_paxos(g, name("ls_name"), name("orphan"), 2000);
    orphan.owner_id = 3;
    orphan.owner_generation = 1;
    orphan.timestamp = 99;
    f.put_leader(3 * MIB, &orphan);
    let before = f.everything();
    assert!(matches!(
        rx.create(&name("res"), None),
        Err(RindexError::Held { holder: Holder::Owner { owner_id: 3, .. }, .. })
    ));
    f.put_leader(3 * MIB, &LeaderRecord::new_delta(g, name("ls_name"), 10));
    assert!(matches!(rx.create(&name("res"), None), Err(RindexError::InUse { .. })));
    f.put_leader(3 * MIB, &LeaderRecord::new_paxos(g, name("other_ls"), name("x"), 8));
    assert!(matches!(rx.create(&name("res"), None), Err(RindexError::InUse { .. })));
    // Unowned, but another resource's, used or not (sanlock's init may
    // have put it there): kept.
    f.put_leader(3 * MIB, &LeaderRecord { timestamp: 0, ..orphan });
    assert!(matches!(rx.create(&name("res"), None), Err(RindexError::InUse { .. })));
    f.put_leader(
        3 * MIB,
        &LeaderRecord { lver: 4, ..LeaderRecord::new_paxos(g, name("ls_name"), name("res"), 8) },
    );
    assert!(matches!(rx.create(&name("res"), None), Err(RindexError::InUse { .. })), "used");
    assert_eq!(f.everything()[..3 * MIB as usize], before[..3 * MIB as usize]);
    // Left by a create of the same name that crashed before its entry was
    // written (never acquired), or freed by a delete: reused.
    for leftover in ["res", FREED_NAME] {
        let lease = LeaderRecord::new_paxos(g, name("ls_name"), name(leftover), 8);
        f.put_leader(
            3 * MIB,
            &LeaderRecord { lver: u64::from(leftover == FREED_NAME) * 7, ..lease },
        );
        assert_eq!(rx.create(&name("res"), None).unwrap().offset, 3 * MIB, "{leftover}");
        assert_eq!(f.leader_at(3 * MIB).resource_name, name("res"));
        rx.update(&Entry { name: name("res"), offset: 3 * MIB }, UpdateOp::Remove).unwrap();
    }
}

#[test]
fn create_passes_over_slots_it_must_keep_and_takes_the_next() {
    let f = Fixture::new(5 * MIB, 512);
    f.format(None);
    let rx = f.rindex();
    let g = Geometry::default_for(SectorSize::B512);
    let kept =
        LeaderRecord { lver: 3, ..LeaderRecord::new_paxos(g, name("ls_name"), name("vmdisk"), 8) };
    f.put_leader(3 * MIB, &kept);
    assert_eq!(rx.create(&name("res"), None).unwrap().offset, 4 * MIB);
    let first = f.leader_at(3 * MIB);
    assert_eq!((first.resource_name, first.lver), (kept.resource_name, 3), "kept");
    assert!(matches!(rx.create(&name("more"), None), Err(RindexError::InUse { .. })));
}

#[test]
fn corrupt_or_foreign_header_is_reported_and_nothing_is_written() {
    let f = Fixture::new(5 * MIB, 512);
    f.format(None);
    f.rindex().create(&name("res"), None).unwrap();
    let entry = Entry { name: name("new"), offset: 4 * MIB };
    let all_ops = |rx: &Rindex| -> Vec<RindexError> {
        vec![
            rx.lookup(Some(&name("res")), None).unwrap_err(),
            rx.create(&name("new"), None).unwrap_err(),
            rx.delete(&name("res")).unwrap_err(),
            rx.update(&entry, UpdateOp::Add).unwrap_err(),
            rx.rebuild().unwrap_err(),
        ]
    };

    let other = f.rindex_of("other");
    let before = f.everything();
    for err in all_ops(&other) {
        assert!(
            matches!(
                &err,
                RindexError::Corrupt {
                    offset: MIB,
                    problem: RindexProblem::WrongLockspace { .. },
                    ..
                }
            ),
            "{err}"
        );
    }
    assert_eq!(f.everything(), before);

    // Version 2 of the format is not ours to write.
    f.disk.apply(MIB + 4, &0x0002_0000u32.to_le_bytes());
    let before = f.everything();
    for err in all_ops(&f.rindex()) {
        assert!(
            matches!(&err, RindexError::Corrupt { problem: RindexProblem::BadVersion { .. }, .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with("sim:7: offset 1048576: "), "{err}");
    }
    assert_eq!(f.everything(), before);

    // A copy of the index read at another offset is not the index there.
    f.disk.apply(MIB + 4, &0x0001_0002u32.to_le_bytes());
    let header = f.disk.snapshot(MIB, 512);
    let f2 = Fixture::new(5 * MIB, 512);
    f2.disk.apply(0, &header);
    let misplaced = Rindex { offset: 0, ..f2.rindex() };
    assert!(matches!(
        misplaced.lookup(None, None),
        Err(RindexError::Corrupt {
            problem: RindexProblem::WrongOffset { found: MIB, expected: 0 },
            ..
        })
    ));
}

#[test]
fn misplaced_entry_is_reported_at_its_own_offset() {
    let f = Fixture::new(5 * MIB, 512);
    f.format(None);
    let rx = f.rindex();
    rx.create(&name("a"), None).unwrap();
    let wrong = RindexEntry { res_offset: 9 * MIB, flags: 0, name: name("b") };
    f.disk.apply(MIB + 512 + 64, &wrong.encode());
    let before = f.everything();
    let err = rx.create(&name("c"), None).unwrap_err();
    assert!(
        matches!(
            &err,
            RindexError::Corrupt { offset, problem: RindexProblem::MisplacedEntry { index: 1, .. }, .. }
                if *offset == MIB + 512 + 64
        ),
        "{err}"
    );
    assert_eq!(f.everything(), before);
    // rebuild is the repair: slot 1 holds no lease, so its entry goes.
    assert_eq!(rx.rebuild().unwrap(), vec![Entry { name: name("a"), offset: 3 * MIB }]);
    assert_eq!(rx.create(&name("c"), None).unwrap().offset, 4 * MIB);
}

#[test]
fn update_adds_and_removes_one_entry_and_touches_no_lease() {
    let f = Fixture::new(6 * MIB, 512);
    f.format(None);
    let rx = f.rindex();
    let a = Entry { name: name("a"), offset: 4 * MIB };
    let leases = f.disk.snapshot(2 * MIB, 4 * MIB as usize);
    rx.update(&a, UpdateOp::Add).unwrap();
    check_rindex_entry(&f.disk.snapshot(MIB + 512 + 64, 64), b"a", 4 * MIB);
    assert_eq!(rx.lookup(Some(&name("a")), None).unwrap(), Some(a));
    rx.update(&a, UpdateOp::Add).unwrap();
    let b_there = Entry { name: name("b"), offset: 4 * MIB };
    assert!(matches!(rx.update(&b_there, UpdateOp::Add), Err(RindexError::Differs { .. })));
    let a_elsewhere = Entry { name: name("a"), offset: 5 * MIB };
    assert!(matches!(rx.update(&a_elsewhere, UpdateOp::Add), Err(RindexError::Exists { .. })));
    assert!(matches!(rx.update(&b_there, UpdateOp::Remove), Err(RindexError::Differs { .. })));
    let not_slot = Entry { name: name("a"), offset: 4 * MIB + 512 };
    assert!(matches!(rx.update(&not_slot, UpdateOp::Add), Err(RindexError::NotSlot { .. })));
    rx.update(&a, UpdateOp::Remove).unwrap();
    assert!(f.disk.snapshot(MIB + 512, 4096).iter().all(|&b| b == 0));
    assert_eq!(f.disk.snapshot(2 * MIB, 4 * MIB as usize), leases);
}

#[test]
fn rebuild_recovers_entries_from_the_leases() {
    let f = Fixture::new(8 * MIB, 512);
    f.format(None);
    let rx = f.rindex();
    for n in ["a", "b", "c"] {
        rx.create(&name(n), None).unwrap();
    }
    rx.delete(&name("b")).unwrap();
    // Lose the whole entry region.
    f.disk.apply(MIB + 512, &vec![0u8; 512 * RINDEX_ENTRIES_SECTORS]);
    assert_eq!(rx.lookup(Some(&name("a")), None).unwrap(), None);
    let rebuilt = rx.rebuild().unwrap();
    let expected = vec![
        Entry { name: name("a"), offset: 3 * MIB },
        Entry { name: name("c"), offset: 5 * MIB },
    ];
    assert_eq!(rebuilt, expected);
    assert_eq!(rx.lookup(Some(&name("c")), None).unwrap(), Some(expected[1]));
    assert_eq!(rx.lookup(None, None).unwrap().unwrap().offset, 4 * MIB, "b's slot is free");
    assert_eq!(f.u32_at(MIB), RINDEX_MAGIC, "the header is left as it was");
}

#[test]
fn format_refuses_an_existing_index_or_lease_unless_forced() {
    let f = Fixture::new(4 * MIB, 512);
    f.format(None);
    f.rindex().create(&name("res"), None).unwrap();
    let geometry = Geometry::default_for(SectorSize::B512);
    let options = FormatOptions { geometry, max_resources: None, force: false };
    let before = f.everything();
    let err = f.rindex().format(options).unwrap_err();
    assert!(matches!(&err, RindexError::InUse { offset: MIB, .. }), "{err}");
    assert!(err.to_string().contains("resource index of lockspace 'ls_name'"), "{err}");
    assert_eq!(f.everything(), before);
    f.rindex().format(FormatOptions { force: true, ..options }).unwrap();
    assert_eq!(f.rindex().lookup(Some(&name("res")), None).unwrap(), None);

    let fresh = Fixture::new(4 * MIB, 512);
    let lease = LeaderRecord::new_paxos(geometry, name("ls_name"), name("r"), 8);
    fresh.put_leader(2 * MIB, &lease);
    let err = fresh.rindex().format(options).unwrap_err();
    assert!(matches!(&err, RindexError::InUse { offset, .. } if *offset == 2 * MIB), "{err}");
}

#[test]
fn format_checks_its_options() {
    let f = Fixture::new(32 * MIB, 4096);
    let m8 = Geometry::new(SectorSize::B4096, AlignSize::M8).unwrap();
    let options = FormatOptions { geometry: m8, max_resources: None, force: false };
    // 1M is not a multiple of 8M.
    assert!(matches!(f.rindex().format(options), Err(RindexError::Invalid { .. })));
    let small = FormatOptions { geometry: Geometry::default_for(SectorSize::B512), ..options };
    let err = Rindex { offset: 0, ..f.rindex() }.format(small).unwrap_err();
    assert!(err.to_string().contains("smaller than the device"), "{err}");
    let too_many = FormatOptions { max_resources: Some(128_001), ..options };
    assert!(matches!(
        Rindex { offset: 8 * MIB, ..f.rindex() }.format(too_many),
        Err(RindexError::Invalid { .. })
    ));
    let past_end = Rindex { offset: 24 * MIB, ..f.rindex() };
    assert!(matches!(past_end.format(options), Err(RindexError::PastEnd { .. })));
    assert!(f.everything().iter().all(|&b| b == 0), "no refusal wrote");

    // A 4K/8M index works end to end.
    let rx = Rindex { offset: 8 * MIB, ..f.rindex() };
    let header = rx.format(options).unwrap();
    assert_eq!(header.lease_offset(), 16 * MIB);
    let entry = rx.create(&name("big"), None).unwrap();
    assert_eq!(entry.offset, 24 * MIB);
    assert_eq!(f.leader_at(24 * MIB).sector_size, 4096);
    check_rindex_entry(&f.disk.snapshot(8 * MIB + 4096, 64), b"big", 24 * MIB);
}
