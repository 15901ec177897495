//! Whether a resource's current owner stands in the way of an acquire, and
//! whether a shared holder does. Pure: decided from the leader, the owner's
//! dblock and the host liveness table.

use crate::clock::MonoTime;
use crate::delta::{HostState, HostTable};
use crate::ondisk::dblock::Dblock;
use crate::ondisk::leader::{LEADER_FLAG_SHORT_HOLD, LeaderRecord};

/// What the leader's owner means for an acquire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerVerdict {
    /// Nobody owns it (timestamp 0).
    Free,
    /// We own it already, in this generation.
    Ours,
    /// An earlier incarnation of this host owned it.
    OurOldIncarnation,
    /// The owner released it: its dblock for this lver says so.
    Released,
    /// The owner's host_id has since been released.
    OwnerLeft,
    /// The owner's host_id now has a newer generation: the owner restarted.
    OwnerRestarted,
    /// The owner's host is dead: its watchdog has reset it.
    OwnerDead,
    /// The owner is renewing (or was seen too recently to know otherwise).
    OwnerAlive { owner_id: u64, generation: u64 },
    /// The owner holds it only for a moment while taking it shared.
    ShortHold { owner_id: u64 },
    /// The owner stopped renewing; it may be taken from `dead_at`.
    OwnerFailing { owner_id: u64, generation: u64, dead_at: MonoTime },
}

impl OwnerVerdict {
    /// The verdict's stable name, as reports and the socket API give it.
    pub fn as_str(&self) -> &'static str {
        match self {
            OwnerVerdict::Free => "free",
            OwnerVerdict::Ours => "ours",
            OwnerVerdict::OurOldIncarnation => "our_old_incarnation",
            OwnerVerdict::Released => "released",
            OwnerVerdict::OwnerLeft => "owner_left",
            OwnerVerdict::OwnerRestarted => "owner_restarted",
            OwnerVerdict::OwnerDead => "owner_dead",
            OwnerVerdict::OwnerAlive { .. } => "owner_alive",
            OwnerVerdict::ShortHold { .. } => "short_hold",
            OwnerVerdict::OwnerFailing { .. } => "owner_failing",
        }
    }

    /// Whether a ballot may be run now.
    pub fn may_ballot(&self) -> bool {
        matches!(
            self,
            OwnerVerdict::Free
                | OwnerVerdict::Ours
                | OwnerVerdict::OurOldIncarnation
                | OwnerVerdict::Released
                | OwnerVerdict::OwnerLeft
                | OwnerVerdict::OwnerRestarted
                | OwnerVerdict::OwnerDead
        )
    }
}

/// Judges the owner named by `leader`. `owner_dblock` is the owner's dblock
/// if it was read and valid; `(host_id, generation)` is us.
pub fn judge_owner(
    leader: &LeaderRecord,
    owner_dblock: Option<&Dblock>,
    us: (u64, u64),
    hosts: &HostTable,
    now: MonoTime,
) -> OwnerVerdict {
    let (host_id, generation) = us;
    if leader.timestamp == 0 {
        return OwnerVerdict::Free;
    }
    let owner_id = leader.owner_id;
    let owner_generation = leader.owner_generation;
    if owner_id == host_id {
        if owner_generation == generation {
            return OwnerVerdict::Ours;
        }
        if owner_generation < generation {
            return OwnerVerdict::OurOldIncarnation;
        }
    }
    // The owner marks its dblock RELEASED when it lets go; the leader may
    // still name it if someone else wrote that leader. A RELEASED dblock
    // of a later lver counts too: a host writes its dblock for a later
    // instance only when trying to acquire, which it never does while
    // holding, and RELEASED says that attempt was withdrawn. As in
    // sanlock, only when another host wrote the leader: an owner that
    // wrote it frees it itself when it lets go, and its RELEASED dblock
    // may be an earlier attempt at the same instance, withdrawn before it
    // won (a read that samples the dblock before the winning ballot's
    // writes and the leader after them sees exactly that).
    let written_by_another = leader.write_id != owner_id;
    if written_by_another && owner_dblock.is_some_and(|d| d.released() && d.lver >= leader.lver) {
        return OwnerVerdict::Released;
    }
    let alive = OwnerVerdict::OwnerAlive { owner_id, generation: owner_generation };
    let Some(entry) = hosts.get(owner_id) else { return alive };
    if entry.generation < owner_generation {
        // Our table is behind the disk: the owner joined again since we
        // last read its sector (released, it may have said, by the
        // incarnation before), and we know nothing of this one yet.
        cov_mark::hit!(owner_newer_than_our_table);
        return alive;
    }
    if entry.timestamp == 0 {
        return OwnerVerdict::OwnerLeft;
    }
    if entry.generation > owner_generation {
        return OwnerVerdict::OwnerRestarted;
    }
    match hosts.state(owner_id, now) {
        HostState::Dead => OwnerVerdict::OwnerDead,
        HostState::Fail => OwnerVerdict::OwnerFailing {
            owner_id,
            generation: owner_generation,
            dead_at: hosts.dead_at(owner_id).expect("a failing host is not free"),
        },
        HostState::Free => OwnerVerdict::OwnerLeft,
        HostState::Live | HostState::Unknown if leader.flags & LEADER_FLAG_SHORT_HOLD != 0 => {
            OwnerVerdict::ShortHold { owner_id }
        }
        HostState::Live | HostState::Unknown => alive,
    }
}

/// Whether host `holder_id`, whose mode block says it holds the resource
/// shared in generation `generation`, may still hold it. A holder that has
/// since left, restarted or died holds nothing.
pub fn shared_holder_may_hold(
    holder_id: u64,
    generation: u64,
    hosts: &HostTable,
    now: MonoTime,
) -> bool {
    let Some(entry) = hosts.get(holder_id) else { return true };
    if entry.generation < generation {
        // Joined again since we last read its sector: not known to be gone.
        return true;
    }
    if entry.timestamp == 0 || entry.generation > generation {
        return false;
    }
    let dead = entry.generation == generation && hosts.state(holder_id, now) == HostState::Dead;
    if dead {
        cov_mark::hit!(dead_shared_holder_disregarded);
    }
    !dead
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::dblock::DBLOCK_FLAG_RELEASED;
    use crate::ondisk::geometry::{Geometry, SectorSize};
    use crate::ondisk::name::Name;
    use crate::timeouts::Timeouts;
    use std::time::Duration;

    fn secs(s: u64) -> MonoTime {
        MonoTime::from_secs(s)
    }

    fn leader(owner_id: u64, generation: u64, timestamp: u64) -> LeaderRecord {
        let g = Geometry::default_for(SectorSize::B512);
        let ls = Name::new("ls").unwrap();
        LeaderRecord {
            owner_id,
            owner_generation: generation,
            timestamp,
            lver: 4,
            // Written by a host that is neither the owner nor us.
            write_id: 7,
            ..LeaderRecord::new_paxos(g, ls, Name::new("r").unwrap(), 8)
        }
    }

    fn delta(owner_id: u64, generation: u64, timestamp: u64) -> LeaderRecord {
        let g = Geometry::default_for(SectorSize::B512);
        LeaderRecord {
            owner_id,
            owner_generation: generation,
            timestamp,
            ..LeaderRecord::new_delta(g, Name::new("ls").unwrap(), 1)
        }
    }

    fn table() -> HostTable {
        // N = 1, F = 10: 8N = 8, host_dead = 18.
        let mut t = HostTable::new(Timeouts::new(1, Duration::from_secs(10)));
        t.observe(2, &delta(2, 3, 40), secs(100), secs(100));
        t.observe(2, &delta(2, 3, 42), secs(102), secs(102));
        t
    }

    #[test]
    fn verdicts() {
        let t = table();
        let us = (1, 5);
        let judge = |l: &LeaderRecord, d: Option<&Dblock>, now| judge_owner(l, d, us, &t, now);
        assert_eq!(judge(&leader(2, 3, 0), None, secs(103)), OwnerVerdict::Free);
        assert_eq!(judge(&leader(1, 5, 9), None, secs(103)), OwnerVerdict::Ours);
        assert_eq!(judge(&leader(1, 4, 9), None, secs(103)), OwnerVerdict::OurOldIncarnation);
        assert_eq!(
            judge(&leader(2, 3, 9), None, secs(103)),
            OwnerVerdict::OwnerAlive { owner_id: 2, generation: 3 }
        );
        let released = Dblock { lver: 4, flags: DBLOCK_FLAG_RELEASED, ..Dblock::default() };
        assert_eq!(judge(&leader(2, 3, 9), Some(&released), secs(103)), OwnerVerdict::Released);
        let older = Dblock { lver: 3, ..released };
        assert!(!judge(&leader(2, 3, 9), Some(&older), secs(103)).may_ballot());
        let withdrawn_later = Dblock { lver: 5, ..released };
        assert_eq!(
            judge(&leader(2, 3, 9), Some(&withdrawn_later), secs(103)),
            OwnerVerdict::Released
        );
        assert_eq!(judge(&leader(2, 2, 9), None, secs(103)), OwnerVerdict::OwnerRestarted);
        assert!(matches!(
            judge(&leader(2, 3, 9), None, secs(115)),
            OwnerVerdict::OwnerFailing { dead_at, .. } if dead_at == secs(120)
        ));
        assert_eq!(
            judge(&leader(3, 1, 9), None, secs(103)),
            OwnerVerdict::OwnerAlive { owner_id: 3, generation: 1 },
            "never seen: not known to be dead"
        );
        let mut short = leader(2, 3, 9);
        short.flags |= LEADER_FLAG_SHORT_HOLD;
        assert_eq!(judge(&short, None, secs(103)), OwnerVerdict::ShortHold { owner_id: 2 });
    }

    #[test]
    fn dead_owner_and_shared_holders() {
        let mut t = table();
        t.observe(2, &delta(2, 3, 42), secs(111), secs(111));
        let us = (1, 5);
        assert_eq!(judge_owner(&leader(2, 3, 9), None, us, &t, secs(121)), OwnerVerdict::OwnerDead);
        assert!(!shared_holder_may_hold(2, 3, &t, secs(121)), "dead");
        assert!(shared_holder_may_hold(2, 3, &t, secs(115)), "failing, not yet dead");
        assert!(!shared_holder_may_hold(2, 2, &t, secs(105)), "an older generation");
        assert!(shared_holder_may_hold(3, 1, &t, secs(105)), "never seen");
        t.observe(2, &delta(2, 3, 0), secs(122), secs(122));
        assert!(!shared_holder_may_hold(2, 3, &t, secs(123)), "left the lockspace");
        assert_eq!(judge_owner(&leader(2, 3, 9), None, us, &t, secs(123)), OwnerVerdict::OwnerLeft);
    }

    #[test]
    fn a_released_dblock_frees_only_a_leader_another_host_wrote() {
        let t = table();
        let us = (1, 5);
        let released = Dblock { lver: 4, flags: DBLOCK_FLAG_RELEASED, ..Dblock::default() };
        // The owner wrote the leader itself: its RELEASED dblock at the same
        // lver may be an attempt it withdrew before it won the instance.
        let own = LeaderRecord { write_id: 2, ..leader(2, 3, 9) };
        assert_eq!(
            judge_owner(&own, Some(&released), us, &t, secs(103)),
            OwnerVerdict::OwnerAlive { owner_id: 2, generation: 3 }
        );
        assert_eq!(
            judge_owner(&leader(2, 3, 9), Some(&released), us, &t, secs(103)),
            OwnerVerdict::Released
        );
    }

    #[test]
    fn an_owner_that_left_and_joined_again_since_our_last_read_is_not_gone() {
        cov_mark::check!(owner_newer_than_our_table);
        // Our last read of host 2's sector showed generation 3 released;
        // it has joined again since (generation 4) and taken the resource.
        let mut t = table();
        t.observe(2, &delta(2, 3, 0), secs(122), secs(122));
        let us = (1, 5);
        assert_eq!(
            judge_owner(&leader(2, 4, 130), None, us, &t, secs(123)),
            OwnerVerdict::OwnerAlive { owner_id: 2, generation: 4 }
        );
        assert!(shared_holder_may_hold(2, 4, &t, secs(123)), "shared under generation 4");
    }
}
