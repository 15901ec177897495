//! An in-memory disk with a written fault model, for tests and the simulator.
//!
//! This file holds the one fault model of simulated storage: [`SimDisk`]
//! applies it request by request as a [`Disk`], and the simulator
//! (`crate::sim`) draws from the same [`WriteFaults`] and [`Atomicity`] while
//! it interleaves many hosts' requests in virtual time.
//!
//! Fault model (every fault is drawn from a seeded generator, so a run
//! replays exactly from its seed):
//!
//! - **latency**: each request takes a time drawn from `[latency_min,
//!   latency_max]`; one that would end past its deadline times out.
//! - **I/O errors**: a read or write fails with EIO; a failed write does not
//!   land.
//! - **torn writes** (EIO): a write of several atomic units fails after only
//!   its first units landed. A record's bytes lie in its sector's first
//!   unit, so this never damages a record; it leaves a record whole, old or
//!   new.
//! - **lost writes**: the write times out and never lands.
//! - **late writes**: a write that timed out lands anyway, whole, after the
//!   caller gave up on it (`late_ppm` of lost writes).
//! - **writes torn by a crash** (simulator): a host reset while its write is
//!   in the device leaves that write landed whole, not at all, or cut at a
//!   point the device's [`Atomicity`] allows. A device whose atomic unit is
//!   512 bytes cuts a 4096-byte sector between units; a device that promises
//!   nothing cuts at any byte, so the sector is part old, part new and the
//!   record in it usually fails its checksum.
//!
//! A write that reports success always landed whole: storage never lies about
//! a completed write, which every lease algorithm relies on. A write that
//! reports failure may have landed in part or whole, or not at all.
//!
//! Why recovery must still work: a record damaged by a crash is never taken
//! as valid (its checksum fails, and the machines report `Corrupt` naming its
//! offset, never repairing it). Another host's damaged dblock or delta sector
//! is skipped as saying nothing, which is safe because its writer was reset
//! mid-write and so holds nothing; a damaged record a host needs (its own
//! delta sector or dblock, a resource's leader) stops that host or resource
//! with the error until an operator re-initialises it, and everything else
//! goes on. Every other fault is one Disk Paxos and delta leases tolerate by
//! design: a failed, lost, late or (between units) torn write is a write that
//! may or may not have happened, and a write that reported success happened.
//!
//! The simulator uses the parts separately: [`WriteFaults::draw`] decides
//! what happens to a write, and [`SimDisk::apply`] and [`SimDisk::snapshot`]
//! move bytes at the moment it chooses, so several hosts' requests can be
//! interleaved in any order. The [`Disk`] impl runs all three at once,
//! advancing the shared [`SimClock`] by the latency. Covered by the tests
//! below and by `tests/sim.rs`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::{AlignedBuf, Disk, DiskError, IoOp, check_request};
use crate::clock::{Clock, MonoTime, SimClock};
use crate::rng::Rng;

/// How often each write fault happens, in parts per million of writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteFaults {
    pub error_ppm: u32,
    /// Of writes of several atomic units: EIO after only some landed.
    pub torn_ppm: u32,
    pub lost_ppm: u32,
    /// Of the lost writes, how many land whole after their deadline.
    pub late_ppm: u32,
}

impl WriteFaults {
    pub const NONE: WriteFaults =
        WriteFaults { error_ppm: 0, torn_ppm: 0, lost_ppm: 0, late_ppm: 0 };

    /// Draws the fate of a write of `len` bytes to a device that writes
    /// `unit` bytes atomically.
    pub fn draw(&self, rng: &mut Rng, len: usize, unit: usize) -> WriteFate {
        if rng.chance_ppm(self.error_ppm) {
            WriteFate::Fails
        } else if len > unit && rng.chance_ppm(self.torn_ppm) {
            WriteFate::Torn { bytes: Atomicity::Units(unit).cut(rng, len) }
        } else if rng.chance_ppm(self.lost_ppm) {
            if rng.chance_ppm(self.late_ppm) { WriteFate::Late } else { WriteFate::Lost }
        } else {
            WriteFate::Lands
        }
    }
}

/// How often each fault happens, in parts per million of requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimFaults {
    pub latency_min: Duration,
    pub latency_max: Duration,
    pub read_error_ppm: u32,
    pub writes: WriteFaults,
}

impl SimFaults {
    /// No faults and no latency.
    pub const NONE: SimFaults = SimFaults {
        latency_min: Duration::ZERO,
        latency_max: Duration::ZERO,
        read_error_ppm: 0,
        writes: WriteFaults::NONE,
    };
}

/// What the device promises about a write cut short by a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Atomicity {
    /// Each `usize`-byte unit lands whole or not at all.
    Units(usize),
    /// Nothing: a write may stop at any byte.
    Nothing,
}

impl Atomicity {
    /// How many leading bytes of a `len`-byte write a cut leaves landed:
    /// strictly between 0 and `len` where the promise allows a cut, else 0
    /// (the write does not land).
    pub fn cut(self, rng: &mut Rng, len: usize) -> usize {
        let unit = match self {
            Atomicity::Units(unit) => unit,
            Atomicity::Nothing => 1,
        };
        let units = (len / unit) as u64;
        if units < 2 { 0 } else { rng.between(1, units - 1) as usize * unit }
    }
}

/// What happens to one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFate {
    /// Lands whole and reports success.
    Lands,
    /// Fails with EIO and does not land.
    Fails,
    /// Fails with EIO after its first `bytes` bytes landed.
    Torn { bytes: usize },
    /// Times out and never lands.
    Lost,
    /// Times out, and lands whole some time later.
    Late,
}

/// What happens to one read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFate {
    Completes,
    Fails,
}

/// Counts of what the disk did, for test assertions and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    pub reads: u64,
    pub writes: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    pub torn_writes: u64,
    pub lost_writes: u64,
    pub timeouts: u64,
}

/// A disk in memory.
pub struct SimDisk {
    path: PathBuf,
    sector_size: u32,
    clock: SimClock,
    inner: Mutex<Inner>,
}

struct Inner {
    bytes: Vec<u8>,
    faults: SimFaults,
    rng: Rng,
    stats: SimStats,
}

impl SimDisk {
    /// A zeroed disk of `size_bytes` with `sector_size` alignment, whose
    /// faults are drawn from `seed` and whose latency moves `clock`.
    pub fn new(size_bytes: u64, sector_size: u32, seed: u64, clock: SimClock) -> SimDisk {
        assert!(sector_size == 512 || sector_size == 4096, "sector size {sector_size}");
        assert_eq!(size_bytes % u64::from(sector_size), 0, "size is whole sectors");
        let len = usize::try_from(size_bytes).expect("simulated disks fit in memory");
        SimDisk {
            path: PathBuf::from(format!("sim:{seed:x}")),
            sector_size,
            clock,
            inner: Mutex::new(Inner {
                bytes: vec![0; len],
                faults: SimFaults::NONE,
                rng: Rng::new(seed),
                stats: SimStats::default(),
            }),
        }
    }

    /// Replaces the fault rates; [`SimFaults::NONE`] turns faults off.
    pub fn set_faults(&self, faults: SimFaults) {
        assert!(faults.latency_min <= faults.latency_max, "latency range");
        self.lock().faults = faults;
    }

    /// What the disk has done so far.
    pub fn stats(&self) -> SimStats {
        self.lock().stats
    }

    /// A copy of `len` bytes at `offset`, as they are now.
    pub fn snapshot(&self, offset: u64, len: usize) -> Vec<u8> {
        let inner = self.lock();
        let start = usize::try_from(offset).expect("offset inside the disk");
        inner.bytes[start..start + len].to_vec()
    }

    /// Puts `data` at `offset` now, bypassing the fault model.
    pub fn apply(&self, offset: u64, data: &[u8]) {
        let mut inner = self.lock();
        let start = usize::try_from(offset).expect("offset inside the disk");
        inner.bytes[start..start + data.len()].copy_from_slice(data);
    }

    /// Draws the latency of the next request.
    pub fn draw_latency(&self) -> Duration {
        let mut inner = self.lock();
        let (min, max) = (inner.faults.latency_min, inner.faults.latency_max);
        let nanos = inner.rng.between(duration_nanos(min), duration_nanos(max));
        Duration::from_nanos(nanos)
    }

    /// Draws the fate of the next read.
    pub fn draw_read_fate(&self) -> ReadFate {
        let mut inner = self.lock();
        let ppm = inner.faults.read_error_ppm;
        if inner.rng.chance_ppm(ppm) { ReadFate::Fails } else { ReadFate::Completes }
    }

    /// Draws the fate of the next write of `len` bytes.
    pub fn draw_write_fate(&self, len: usize) -> WriteFate {
        let mut inner = self.lock();
        let writes = inner.faults.writes;
        writes.draw(&mut inner.rng, len, self.sector_size as usize)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("sim disk lock")
    }

    fn record(&self, update: impl FnOnce(&mut SimStats)) {
        update(&mut self.lock().stats);
    }

    /// Advances the clock by `latency`, or to `deadline` if that comes first;
    /// true if the request beat its deadline.
    fn wait_latency(&self, latency: Duration, deadline: MonoTime) -> bool {
        let now = self.clock.now();
        let on_time = now + latency <= deadline;
        self.clock.advance_to(if on_time { now + latency } else { deadline.max(now) });
        on_time
    }

    fn error(&self, op: IoOp, offset: u64, len: usize) -> DiskError {
        let source = io::Error::from_raw_os_error(libc::EIO);
        DiskError::Io { path: self.path.clone(), op, offset, len, source }
    }

    fn timeout(&self, op: IoOp, offset: u64, len: usize) -> DiskError {
        self.record(|s| s.timeouts += 1);
        DiskError::Timeout { path: self.path.clone(), op, offset, len }
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).expect("simulated latencies fit in u64 ns")
}

impl Disk for SimDisk {
    fn path(&self) -> &Path {
        &self.path
    }

    fn sector_size(&self) -> u32 {
        self.sector_size
    }

    fn size_bytes(&self) -> u64 {
        self.lock().bytes.len() as u64
    }

    fn read(&self, offset: u64, len: usize, deadline: MonoTime) -> Result<AlignedBuf, DiskError> {
        check_request(self, IoOp::Read, offset, len)?;
        let latency = self.draw_latency();
        if !self.wait_latency(latency, deadline) {
            return Err(self.timeout(IoOp::Read, offset, len));
        }
        if self.draw_read_fate() == ReadFate::Fails {
            self.record(|s| s.read_errors += 1);
            return Err(self.error(IoOp::Read, offset, len));
        }
        self.record(|s| {
            s.reads += 1;
            s.bytes_read += len as u64;
        });
        Ok(AlignedBuf::copy_of(&self.snapshot(offset, len)))
    }

    fn write(&self, offset: u64, data: &[u8], deadline: MonoTime) -> Result<(), DiskError> {
        let len = data.len();
        check_request(self, IoOp::Write, offset, len)?;
        let latency = self.draw_latency();
        let fate = self.draw_write_fate(len);
        let on_time = self.wait_latency(latency, deadline);
        match fate {
            WriteFate::Lands if on_time => {
                self.apply(offset, data);
                self.record(|s| {
                    s.writes += 1;
                    s.bytes_written += len as u64;
                });
                Ok(())
            }
            // A slow write that would have landed still lands: the caller
            // gave up, the device did not.
            WriteFate::Lands | WriteFate::Late => {
                self.apply(offset, data);
                Err(self.timeout(IoOp::Write, offset, len))
            }
            WriteFate::Fails => {
                self.record(|s| s.write_errors += 1);
                Err(self.error(IoOp::Write, offset, len))
            }
            WriteFate::Torn { bytes } => {
                self.apply(offset, &data[..bytes]);
                self.record(|s| s.torn_writes += 1);
                Err(self.error(IoOp::Write, offset, len))
            }
            WriteFate::Lost => {
                self.record(|s| s.lost_writes += 1);
                Err(self.timeout(IoOp::Write, offset, len))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(seed: u64) -> (SimDisk, SimClock) {
        let clock = SimClock::starting_at(MonoTime::from_secs(1000));
        (SimDisk::new(1 << 20, 512, seed, clock.clone()), clock)
    }

    #[test]
    fn without_faults_it_is_a_plain_disk() {
        let (disk, clock) = disk(1);
        let deadline = clock.now() + Duration::from_secs(1);
        disk.write(512, &[7u8; 1024], deadline).unwrap();
        assert_eq!(&disk.read(512, 1024, deadline).unwrap()[..], &[7u8; 1024][..]);
        assert!(matches!(disk.read(100, 512, deadline), Err(DiskError::Unaligned { .. })));
        assert_eq!(disk.stats().writes, 1);
        assert_eq!(clock.now(), MonoTime::from_secs(1000), "no latency configured");
    }

    #[test]
    fn latency_past_the_deadline_times_out_at_the_deadline() {
        let (disk, clock) = disk(2);
        disk.set_faults(SimFaults {
            latency_min: Duration::from_secs(5),
            latency_max: Duration::from_secs(5),
            ..SimFaults::NONE
        });
        let start = clock.now();
        let deadline = start + Duration::from_secs(2);
        assert!(matches!(disk.read(0, 512, deadline), Err(DiskError::Timeout { .. })));
        assert_eq!(clock.now(), deadline);
        // A slow write that times out still lands: the caller cannot tell.
        let err = disk.write(0, &[1u8; 512], clock.now() + Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, DiskError::Timeout { op: IoOp::Write, .. }));
        assert_eq!(disk.snapshot(0, 512), vec![1u8; 512]);
    }

    #[test]
    fn every_fault_kind_happens_and_replays_from_the_seed() {
        let faults = SimFaults {
            read_error_ppm: 100_000,
            writes: WriteFaults {
                error_ppm: 100_000,
                torn_ppm: 100_000,
                lost_ppm: 100_000,
                late_ppm: 500_000,
            },
            ..SimFaults::NONE
        };
        let run = |seed| {
            let (disk, clock) = disk(seed);
            disk.set_faults(faults);
            let mut outcomes = Vec::new();
            for i in 0..2000u64 {
                let deadline = clock.now() + Duration::from_secs(1);
                let offset = (i % 64) * 1024;
                let data = vec![(i % 255) as u8 + 1; 1024];
                let wrote = disk.write(offset, &data, deadline);
                let landed = disk.snapshot(offset, 1024);
                if wrote.is_ok() {
                    assert_eq!(landed, data, "a write that succeeded landed whole");
                }
                outcomes.push((wrote.is_ok(), disk.read(offset, 1024, deadline).is_ok()));
            }
            (outcomes, disk.stats())
        };
        let (first, stats) = run(7);
        assert!(stats.read_errors > 0);
        assert!(stats.write_errors > 0);
        assert!(stats.torn_writes > 0);
        assert!(stats.lost_writes > 0);
        assert!(stats.timeouts > 0);
        assert_eq!(run(7), (first.clone(), stats), "same seed, same run");
        assert_ne!(run(8).0, first, "another seed, another run");
    }

    #[test]
    fn torn_writes_tear_between_sectors_never_inside_one() {
        let (disk, clock) = disk(3);
        disk.apply(0, &[0xAA; 4096]);
        let writes = WriteFaults { torn_ppm: 1_000_000, ..WriteFaults::NONE };
        disk.set_faults(SimFaults { writes, ..SimFaults::NONE });
        let deadline = clock.now() + Duration::from_secs(1);
        let err = disk.write(0, &[0xBB; 4096], deadline).unwrap_err();
        assert!(matches!(err, DiskError::Io { .. }));
        let area = disk.snapshot(0, 4096);
        let cut = area.iter().position(|&b| b == 0xAA).expect("some old sectors remain");
        assert!(cut > 0 && cut % 512 == 0, "torn at a sector boundary: {cut}");
        assert!(area[..cut].iter().all(|&b| b == 0xBB));
        assert!(area[cut..].iter().all(|&b| b == 0xAA));
        // A one-sector write is atomic: it lands or fails whole.
        disk.write(8192, &[0xCC; 512], deadline).unwrap();
        assert_eq!(disk.snapshot(8192, 512), vec![0xCC; 512]);
    }

    #[test]
    fn crash_cuts_respect_the_promise_and_can_split_a_sector() {
        let mut rng = Rng::new(4);
        let mut mid_sector = false;
        for _ in 0..1000 {
            let cut = Atomicity::Units(512).cut(&mut rng, 4096);
            assert!(cut > 0 && cut < 4096 && cut.is_multiple_of(512), "between units: {cut}");
            assert_eq!(Atomicity::Units(512).cut(&mut rng, 512), 0, "one unit never splits");
            let cut = Atomicity::Nothing.cut(&mut rng, 512);
            assert!(cut > 0 && cut < 512);
            mid_sector |= !cut.is_multiple_of(8);
        }
        assert!(mid_sector, "a device that promises nothing cuts at odd bytes");
    }
}
