//! A host_id this host holds, and how its sector is written.

use std::collections::BTreeMap;

use crate::clock::MonoTime;
use crate::ondisk::RecordProblem;
use crate::ondisk::bitmap::{HOST_BITMAP_BYTES, HOST_BITMAP_OFFSET, set_host_bit};
use crate::ondisk::geometry::Geometry;
use crate::ondisk::leader::{LeaderKind, LeaderRecord};
use crate::ondisk::name::Name;
use crate::timeouts::Timeouts;

use super::{BitChange, DeltaError, Event};

/// The largest timestamp a [`MonoTime`] in seconds can be: the most a
/// renewal ever builds on.
const MAX_TIMESTAMP: u64 = MonoTime::from_nanos(u64::MAX).as_secs();

/// Which lockspace: its name and the geometry its first sector declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockspaceRef {
    pub name: Name,
    pub geometry: Geometry,
}

impl LockspaceRef {
    /// Bytes in one sector of the area.
    pub fn sector_len(&self) -> usize {
        usize::try_from(self.geometry.sector_bytes()).expect("a sector fits in memory")
    }

    /// Offset, within the area, of `host_id`'s sector.
    pub fn host_offset(&self, host_id: u64) -> u64 {
        self.geometry.host_sector_offset(host_id)
    }

    /// Checks that `leader` is an intact delta lease of this lockspace, in
    /// its geometry: a sector declaring another would give offsets and
    /// lengths that do not fit this area.
    pub fn verify(&self, leader: &LeaderRecord) -> Result<(), RecordProblem> {
        let found = leader.verify_in(LeaderKind::Delta, &self.name)?;
        if found != self.geometry {
            return Err(RecordProblem::WrongGeometry { found, expected: self.geometry });
        }
        Ok(())
    }
}

/// A held host_id: what was last written to its sector and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLease {
    pub lockspace: LockspaceRef,
    pub host_id: u64,
    pub generation: u64,
    /// Our host name, written in the sector's resource_name field.
    pub name: Name,
    pub timeouts: Timeouts,
    /// Issue time of the last write that completed: the lease runs from here.
    pub last_success: MonoTime,
    /// The sector as last written successfully.
    written: Vec<u8>,
    /// Every write since the last success that failed, and so may or may
    /// not have landed (a timed-out one may land long after). A few at most:
    /// the renewal schedule retries only some times before the lease
    /// expires, and never while one of them is still in the kernel.
    attempted: Vec<Vec<u8>>,
    /// Host bits to set in our bitmap, each until a local time.
    bits: BTreeMap<u64, MonoTime>,
    /// The host event to write (see [`super::Outbox`]).
    event: Event,
}

impl HostLease {
    pub(crate) fn new(
        lockspace: LockspaceRef,
        host_id: u64,
        timeouts: Timeouts,
        written: Vec<u8>,
        issued: MonoTime,
    ) -> HostLease {
        let leader = LeaderRecord::decode_prefix(&written);
        assert_eq!(lockspace.verify(&leader), Ok(()), "we wrote or checked this sector");
        assert_eq!(leader.owner_id, host_id);
        assert_ne!(leader.timestamp, 0, "a held host_id has a timestamp");
        HostLease {
            lockspace,
            host_id,
            generation: leader.owner_generation,
            name: leader.resource_name,
            timeouts,
            last_success: issued,
            written,
            attempted: Vec::new(),
            bits: BTreeMap::new(),
            event: Event::default(),
        }
    }

    /// Takes up a lease found on disk: `sector`, read at `now`, must show
    /// `host_id` held under host name `name`. Tools that keep no state
    /// between commands use this; the lease is treated as renewed at `now`.
    pub fn resume(
        lockspace: LockspaceRef,
        host_id: u64,
        name: &Name,
        timeouts: Timeouts,
        sector: Vec<u8>,
        now: MonoTime,
    ) -> Result<HostLease, DeltaError> {
        let leader = LeaderRecord::decode_prefix(&sector);
        let offset = lockspace.host_offset(host_id);
        lockspace.verify(&leader).map_err(|problem| DeltaError::Corrupt { offset, problem })?;
        if leader.timestamp > MAX_TIMESTAMP {
            // Renewals write timestamps above this one; no monotonic clock
            // reaches this far, so the record is not one of ours.
            let problem = RecordProblem::Exhausted { field: "timestamp", value: leader.timestamp };
            return Err(DeltaError::Corrupt { offset, problem });
        }
        let held = leader.owner_id == host_id
            && leader.timestamp != 0
            && leader.resource_name.same_as(name);
        if !held {
            return Err(DeltaError::NotHeld {
                owner_id: leader.owner_id,
                generation: leader.owner_generation,
                owner_name: leader.resource_name,
                timestamp: leader.timestamp,
            });
        }
        Ok(HostLease::new(lockspace, host_id, timeouts, sector, now))
    }

    /// The lease ends here unless renewed: 8N after the last success.
    pub fn expiry(&self) -> MonoTime {
        self.last_success + self.timeouts.renewal_fail()
    }

    /// The timestamp last written successfully.
    pub fn timestamp(&self) -> u64 {
        LeaderRecord::decode_prefix(&self.written).timestamp
    }

    /// Offset of our sector within the area.
    pub fn offset(&self) -> u64 {
        self.lockspace.host_offset(self.host_id)
    }

    /// Whether `sector`, read from disk, is one we wrote: the last success,
    /// or any later failed write that landed after all. The whole sector is
    /// compared, so a record another host wrote never passes for ours.
    pub fn is_ours(&self, sector: &[u8]) -> bool {
        sector == self.written.as_slice() || self.attempted.iter().any(|a| a == sector)
    }

    /// Asks `host_id` to look at our requests: sets its bit in our bitmap
    /// until `until`. The id may come from a record on disk (a resource's
    /// owner): one no host of this lockspace can have is ignored, as no
    /// host could read the bit.
    /// A bit set already keeps the later of its two ends.
    pub fn set_bit(&mut self, host_id: u64, until: MonoTime) {
        if (1..=self.lockspace.geometry.max_hosts()).contains(&host_id) {
            let end = self.bits.entry(host_id).or_insert(until);
            *end = (*end).max(until);
        }
    }

    /// Clears `host_id`'s bit from the next renewal on.
    pub fn clear_bit(&mut self, host_id: u64) {
        self.bits.remove(&host_id);
    }

    /// The host event our next renewals write.
    pub fn set_event(&mut self, event: Event) {
        self.event = event;
    }

    /// Our sector with a new timestamp, for the renewal issued at `now`.
    /// The timestamp always grows, even within one second, so every write
    /// is distinguishable from the one before.
    pub(crate) fn renewed_sector(&mut self, now: MonoTime) -> Vec<u8> {
        self.bits.retain(|_, until| *until > now);
        let previous = LeaderRecord::decode_prefix(&self.written);
        let last = self
            .attempted
            .iter()
            .map(|attempt| LeaderRecord::decode_prefix(attempt).timestamp)
            .fold(previous.timestamp, u64::max);
        let leader = self
            .event
            .written_in(LeaderRecord { timestamp: now.as_secs().max(last + 1), ..previous });
        let mut sector = self.written.clone();
        leader.encode_into(&mut sector);
        sector[HOST_BITMAP_OFFSET..HOST_BITMAP_OFFSET + HOST_BITMAP_BYTES].fill(0);
        for &host_id in self.bits.keys() {
            set_host_bit(&mut sector, host_id, true);
        }
        sector
    }

    /// Our sector marked free (timestamp 0), for leaving the lockspace.
    pub(crate) fn released_sector(&self) -> Vec<u8> {
        let leader = LeaderRecord { timestamp: 0, ..LeaderRecord::decode_prefix(&self.written) };
        let mut sector = self.written.clone();
        leader.encode_into(&mut sector);
        sector
    }

    /// Records the outcome of writing `sector`, issued at `issued`.
    pub(crate) fn wrote(&mut self, sector: Vec<u8>, issued: MonoTime, landed: bool) {
        if landed {
            self.written = sector;
            // No earlier write can land any more: the disk layer issues no
            // write to our sector while another is still in the kernel.
            self.attempted.clear();
            self.last_success = issued;
        } else {
            self.attempted.push(sector);
        }
    }
}

/// Bit changes asked for between two renewals, merged as they come: at
/// most one per host, whatever the callers ask.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingBits {
    set: BTreeMap<u64, MonoTime>,
    clear: std::collections::BTreeSet<u64>,
}

impl PendingBits {
    /// Sets `host_id`'s bit until `until` (the later end if set already).
    pub fn set(&mut self, host_id: u64, until: MonoTime) {
        self.clear.remove(&host_id);
        let end = self.set.entry(host_id).or_insert(until);
        *end = (*end).max(until);
    }

    /// What posting an event changes, for host `ours` of an area of
    /// `max_hosts`.
    pub fn change(&mut self, change: BitChange, ours: u64, max_hosts: u64) {
        match change {
            BitChange::None => {}
            BitChange::Clear(host_id) => {
                self.set.remove(&host_id);
                self.clear.insert(host_id);
            }
            BitChange::Set(host_id, until) => self.set(host_id, until),
            BitChange::SetAll(until) => {
                for host_id in (1..=max_hosts).filter(|&host_id| host_id != ours) {
                    self.set(host_id, until);
                }
            }
        }
    }

    /// Applies the changes to `lease`: clears first, then sets.
    pub fn apply_to(self, lease: &mut HostLease) {
        for host_id in self.clear {
            lease.clear_bit(host_id);
        }
        for (host_id, until) in self.set {
            lease.set_bit(host_id, until);
        }
    }
}
