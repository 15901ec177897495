//! An in-memory disk with a written fault model, for tests and the simulator.
//!
//! Fault model (every fault is drawn from the disk's seeded generator, so a
//! run replays exactly from its seed):
//!
//! - **latency**: each request takes a time drawn from `[latency_min,
//!   latency_max]`; one that would end past its deadline times out.
//! - **I/O errors**: a read or write fails with EIO; a failed write does not
//!   land.
//! - **torn writes**: a multi-sector write fails after only its first
//!   sectors landed. Each sector is written atomically, as on every real
//!   device and as Disk Paxos assumes; a single-sector write never tears.
//! - **lost writes**: the write times out and never lands.
//! - **late writes**: a write that timed out lands anyway, whole, after the
//!   caller gave up on it (`late_write_ppm` of timed-out writes).
//!
//! A write that reports success always landed whole: storage never lies about
//! a completed write, which every lease algorithm relies on. A write that
//! reports failure may have landed in part or whole, or not at all.
//!
//! The simulator uses the parts separately: [`SimDisk::draw_write_fate`]
//! decides what happens to a write, and [`SimDisk::apply`] and
//! [`SimDisk::snapshot`] move bytes at the moment it chooses, so several
//! hosts' requests can be interleaved in any order. The [`Disk`] impl runs
//! all three at once, advancing the shared [`SimClock`] by the latency.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::{AlignedBuf, Disk, DiskError, IoOp, check_request};
use crate::clock::{Clock, MonoTime, SimClock};
use crate::rng::Rng;

/// How often each fault happens, in parts per million of requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimFaults {
    pub latency_min: Duration,
    pub latency_max: Duration,
    pub read_error_ppm: u32,
    pub write_error_ppm: u32,
    pub torn_write_ppm: u32,
    pub lost_write_ppm: u32,
    /// Of the writes that time out, how many still land later.
    pub late_write_ppm: u32,
}

impl SimFaults {
    /// No faults and no latency.
    pub const NONE: SimFaults = SimFaults {
        latency_min: Duration::ZERO,
        latency_max: Duration::ZERO,
        read_error_ppm: 0,
        write_error_ppm: 0,
        torn_write_ppm: 0,
        lost_write_ppm: 0,
        late_write_ppm: 0,
    };
}

/// What happens to one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFate {
    /// Lands whole and reports success.
    Lands,
    /// Fails with EIO and does not land.
    Fails,
    /// Fails with EIO after its first `bytes` bytes (whole sectors) landed.
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
        let sector = self.sector_size as usize;
        let mut inner = self.lock();
        let faults = inner.faults;
        let rng = &mut inner.rng;
        if rng.chance_ppm(faults.write_error_ppm) {
            WriteFate::Fails
        } else if len > sector && rng.chance_ppm(faults.torn_write_ppm) {
            let sectors = (len / sector) as u64;
            let cut = rng.between(1, sectors - 1) as usize * sector;
            WriteFate::Torn { bytes: cut }
        } else if rng.chance_ppm(faults.lost_write_ppm) {
            if rng.chance_ppm(faults.late_write_ppm) { WriteFate::Late } else { WriteFate::Lost }
        } else {
            WriteFate::Lands
        }
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
            write_error_ppm: 100_000,
            torn_write_ppm: 100_000,
            lost_write_ppm: 100_000,
            late_write_ppm: 500_000,
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
        disk.set_faults(SimFaults { torn_write_ppm: 1_000_000, ..SimFaults::NONE });
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
}
