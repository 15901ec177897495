//! The simulated device's behaviour per request: when each request
//! completes, when (and how much of) a write lands, and when each part of a
//! read looks at the disk.

use std::time::Duration;

use crate::disk::{WriteFate, WriteFaults};
use crate::rng::Rng;

/// Fault rates of the simulated device, in parts per million of requests;
/// what befalls a write is the disk's one fault model ([`WriteFaults`]).
#[derive(Clone, Copy, Debug)]
pub struct IoFaults {
    pub read_error_ppm: u32,
    pub writes: WriteFaults,
    /// Requests slower than the io_timeout.
    pub slow_ppm: u32,
}

impl IoFaults {
    pub const NONE: IoFaults =
        IoFaults { read_error_ppm: 0, writes: WriteFaults::NONE, slow_ppm: 0 };

    /// The rates used while faults are on.
    pub const ALL: IoFaults = IoFaults {
        read_error_ppm: 2_000,
        writes: WriteFaults {
            error_ppm: 2_000,
            torn_ppm: 5_000,
            lost_ppm: 2_000,
            late_ppm: 500_000,
        },
        slow_ppm: 5_000,
    };
}

/// The plan for one request, in global nanoseconds.
#[derive(Clone, Debug)]
pub struct Plan {
    /// When the device answers (for lost and late writes: when the kernel
    /// gives the request up or finishes it).
    pub finish_ns: u64,
    /// When a write's bytes land, if they do.
    pub land_ns: Option<u64>,
    pub fate: WriteFate,
    pub failed: bool,
    pub slow: bool,
}

/// Draws the latency of a request submitted at `now_ns`.
fn latency_ns(rng: &mut Rng, faults: &IoFaults, io_timeout: Duration) -> (u64, bool) {
    let timeout_ns = io_timeout.as_nanos() as u64;
    if rng.chance_ppm(faults.slow_ppm) {
        (rng.between(timeout_ns / 2, 2 * timeout_ns), true)
    } else {
        (rng.between(50_000, 3_000_000), false)
    }
}

/// Plans a read.
pub fn plan_read(rng: &mut Rng, faults: &IoFaults, io_timeout: Duration, now_ns: u64) -> Plan {
    let (latency, slow) = latency_ns(rng, faults, io_timeout);
    Plan {
        finish_ns: now_ns + latency,
        land_ns: None,
        fate: WriteFate::Lands,
        failed: rng.chance_ppm(faults.read_error_ppm),
        slow,
    }
}

/// Plans a write of `len` bytes, to a device writing `unit` bytes
/// atomically, due by `deadline_ns`.
pub fn plan_write(
    rng: &mut Rng,
    faults: &IoFaults,
    io_timeout: Duration,
    now_ns: u64,
    deadline_ns: u64,
    len: usize,
    unit: usize,
) -> Plan {
    let (latency, slow) = latency_ns(rng, faults, io_timeout);
    let finish_ns = now_ns + latency;
    let timeout_ns = io_timeout.as_nanos() as u64;
    let fate = faults.writes.draw(rng, len, unit);
    let (finish_ns, land_ns) = match fate {
        WriteFate::Lands => (finish_ns, Some(rng.between(now_ns, finish_ns))),
        WriteFate::Torn { .. } => (finish_ns, Some(rng.between(now_ns, finish_ns))),
        WriteFate::Fails => (finish_ns, None),
        // The kernel gives up some time after the caller did.
        WriteFate::Lost => (deadline_ns.max(now_ns) + rng.between(0, timeout_ns), None),
        WriteFate::Late => return plan_late_write(rng, io_timeout, now_ns, deadline_ns),
    };
    let failed = !matches!(fate, WriteFate::Lands);
    Plan { finish_ns, land_ns, fate, failed, slow }
}

/// Plans a write that times out and lands whole within one io_timeout after
/// its deadline, leaving the kernel as it lands.
pub fn plan_late_write(rng: &mut Rng, io_timeout: Duration, now_ns: u64, deadline_ns: u64) -> Plan {
    let land = deadline_ns.max(now_ns) + rng.between(1, io_timeout.as_nanos() as u64);
    Plan { finish_ns: land, land_ns: Some(land), fate: WriteFate::Late, failed: true, slow: true }
}

/// Splits a read of `sectors` sectors into 1 to 3 parts, each of which looks
/// at the disk at its own moment: returns (first sector, sector count) per
/// part.
pub fn read_parts(rng: &mut Rng, sectors: usize) -> Vec<(usize, usize)> {
    let parts = rng.between(1, 3.min(sectors as u64)) as usize;
    let mut cuts: Vec<usize> =
        (1..parts).map(|_| rng.between(1, sectors as u64 - 1) as usize).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut bounds = vec![0];
    bounds.extend(cuts);
    bounds.push(sectors);
    bounds.windows(2).map(|w| (w[0], w[1] - w[0])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_parts_cover_the_read() {
        let mut rng = Rng::new(5);
        for sectors in [1, 2, 10, 64] {
            for _ in 0..100 {
                let parts = read_parts(&mut rng, sectors);
                assert!(!parts.is_empty() && parts.len() <= 3);
                let mut next = 0;
                for (start, count) in parts {
                    assert_eq!(start, next);
                    assert!(count > 0);
                    next = start + count;
                }
                assert_eq!(next, sectors);
            }
        }
    }

    #[test]
    fn writes_that_report_success_land_before_they_finish() {
        let mut rng = Rng::new(9);
        let io_timeout = Duration::from_secs(1);
        for _ in 0..10_000 {
            let plan =
                plan_write(&mut rng, &IoFaults::ALL, io_timeout, 1_000, 1_000_001_000, 4096, 512);
            match plan.fate {
                WriteFate::Lands => {
                    assert!(!plan.failed);
                    assert!(plan.land_ns.unwrap() <= plan.finish_ns);
                }
                WriteFate::Late => assert!(plan.land_ns.unwrap() > 1_000_001_000),
                WriteFate::Lost | WriteFate::Fails => assert!(plan.land_ns.is_none()),
                WriteFate::Torn { bytes } => {
                    assert!(bytes.is_multiple_of(512) && (1..8).contains(&(bytes / 512)))
                }
            }
        }
    }
}
