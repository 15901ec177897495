//! Which host sectors a renewal reads.
//!
//! sanlock reads the whole lockspace area at every renewal: 2,000 sectors
//! (1 MiB) for a cluster that uses a handful. A renewal only needs the
//! sectors of hosts this host may have to judge: those in use, and owners
//! of resources it is waiting for. [`Watch`] reads up to the highest
//! host_id in use (rounded up to a chunk), the whole area every so many
//! renewals to find hosts that joined beyond it, and never narrows.
//!
//! **Safety.** A host's liveness is judged from the changes of its sector
//! seen over time. A sector that is not read at every renewal would look
//! unchanged, or free, while its host renews: so the host table keeps only
//! the hosts inside the range ([`Watch::settle`]). A host outside is absent
//! from the table, and an absent owner is judged alive (never dead or
//! gone); [`Watch::cover`] brings it into the range, after which it is
//! judged like any other from its first observation on.

use super::HostTable;

/// The sectors the renewals of one lockspace read.
#[derive(Clone, Debug)]
pub struct Watch {
    max_hosts: u64,
    /// Host_ids up to this one are read at every renewal.
    upto: u64,
    chunk: u64,
    full_every: u64,
    renewals: u64,
}

impl Watch {
    /// Host_ids are watched in chunks of this many (32 KiB of 512-byte
    /// sectors)...
    pub const CHUNK: u64 = 64;
    /// ...and the whole area is read at every this many renewals.
    pub const FULL_EVERY: u64 = 32;

    /// The watch of host `host_id` in an area of `max_hosts`.
    pub fn new(max_hosts: u64, host_id: u64, chunk: u64, full_every: u64) -> Watch {
        assert!(host_id >= 1 && host_id <= max_hosts, "host_id {host_id} of {max_hosts}");
        assert!(chunk >= 1 && full_every >= 1);
        let mut watch = Watch { max_hosts, upto: 0, chunk, full_every, renewals: 0 };
        watch.cover(host_id);
        watch
    }

    /// Host_ids read at every renewal: 1 to this.
    pub fn upto(&self) -> u64 {
        self.upto
    }

    /// The sectors the next renewal reads: all of them at the first
    /// renewal and every `full_every` renewals, else those watched.
    pub fn next_read(&mut self) -> u64 {
        let full = self.renewals.is_multiple_of(self.full_every);
        self.renewals += 1;
        if full { self.max_hosts } else { self.upto }
    }

    /// Watches `host_id` from now on (an owner we wait for, say).
    pub fn cover(&mut self, host_id: u64) {
        let host_id = host_id.min(self.max_hosts);
        let rounded = host_id.div_ceil(self.chunk) * self.chunk;
        self.upto = self.upto.max(rounded).min(self.max_hosts);
    }

    /// After a renewal's read: every host in use seen is watched from now
    /// on, and the table forgets the hosts outside the range, which later
    /// renewals will not keep up to date.
    pub fn settle(&mut self, table: &mut HostTable) {
        let in_use = table
            .entries()
            .filter(|(_, entry)| entry.timestamp != 0 || entry.generation > 0)
            .map(|(host_id, _)| host_id)
            .max();
        if let Some(host_id) = in_use {
            self.cover(host_id);
        }
        table.forget_beyond(self.upto);
        debug_assert!(table.entries().all(|(host_id, _)| host_id <= self.upto));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MonoTime;
    use crate::ondisk::geometry::{Geometry, SectorSize};
    use crate::ondisk::leader::LeaderRecord;
    use crate::ondisk::name::Name;
    use crate::timeouts::Timeouts;
    use std::time::Duration;

    fn seen(table: &mut HostTable, host_id: u64, timestamp: u64) {
        let g = Geometry::default_for(SectorSize::B512);
        let leader = LeaderRecord {
            owner_id: host_id,
            owner_generation: u64::from(timestamp != 0),
            timestamp,
            ..LeaderRecord::new_delta(g, Name::new("ls").unwrap(), 1)
        };
        table.observe(host_id, &leader, MonoTime::from_secs(1), MonoTime::from_secs(1));
    }

    #[test]
    fn reads_the_hosts_in_use_and_the_whole_area_now_and_then() {
        let mut watch = Watch::new(2000, 3, 64, 4);
        assert_eq!(watch.upto(), 64);
        let reads: Vec<u64> = (0..9).map(|_| watch.next_read()).collect();
        assert_eq!(reads, [2000, 64, 64, 64, 2000, 64, 64, 64, 2000]);

        let mut table = HostTable::new(Timeouts::new(1, Duration::from_secs(3)));
        seen(&mut table, 2, 100);
        seen(&mut table, 700, 0); // free, far away: not worth watching
        seen(&mut table, 130, 55); // in use beyond the range
        watch.settle(&mut table);
        assert_eq!(watch.upto(), 192, "widened to the host in use, by whole chunks");
        let kept: Vec<u64> = table.entries().map(|(id, _)| id).collect();
        assert_eq!(kept, [2, 130], "a sector no longer read is forgotten");

        watch.cover(1999);
        assert_eq!(watch.upto(), 2000, "never past the area");
        watch.cover(5);
        assert_eq!(watch.upto(), 2000, "never narrowed");
    }
}
