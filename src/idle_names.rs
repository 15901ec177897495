//! Which names of a name index have been idle long enough to be removed:
//! a name whose lease has been seen free, at one lease version, by
//! readings at least [`IdleNames::idle`] apart. Pure: the collector
//! (`src/daemon/collector.rs`) reads the disk and removes the names.
//!
//! A name is judged by what readings show, not by any clock of another
//! host: a lease taken and freed again between two readings has a new
//! lease version, and its idle time starts again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::clock::MonoTime;
use crate::ondisk::name::Name;

/// What a reading of a name's lease showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseSeen {
    /// Free, at this lease version.
    Free { lver: u64 },
    /// Held (or being taken) by someone.
    Held,
}

#[derive(Clone, Copy, Debug)]
struct Free {
    name: Name,
    lver: u64,
    since: MonoTime,
}

/// Names seen free, by lockspace and offset.
#[derive(Debug)]
pub struct IdleNames {
    idle: Duration,
    free: BTreeMap<(Name, u64), Free>,
}

impl IdleNames {
    /// Names are idle once free for `idle`.
    pub fn new(idle: Duration) -> IdleNames {
        IdleNames { idle, free: BTreeMap::new() }
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Records a reading at `now` of `name`'s lease at `offset` in
    /// `lockspace`; true if it is idle: free at the same lease version
    /// since a reading at least `idle` ago.
    pub fn observe(
        &mut self,
        lockspace: Name,
        offset: u64,
        name: Name,
        seen: LeaseSeen,
        now: MonoTime,
    ) -> bool {
        let key = (lockspace, offset);
        let LeaseSeen::Free { lver } = seen else {
            self.free.remove(&key);
            return false;
        };
        match self.free.get(&key) {
            Some(free) if free.name.same_as(&name) && free.lver == lver => {
                now.saturating_since(free.since) >= self.idle
            }
            _ => {
                self.free.insert(key, Free { name, lver, since: now });
                false
            }
        }
    }

    /// Forgets the names of `lockspace` not at `offsets` (removed from the
    /// index, or the lockspace is gone when `offsets` is empty).
    pub fn keep_only(&mut self, lockspace: Name, offsets: &BTreeSet<u64>) {
        self.free
            .retain(|(space, offset), _| !space.same_as(&lockspace) || offsets.contains(offset));
    }

    /// Times the name at `offset` of `lockspace` afresh from its next
    /// reading (it could not be removed).
    pub fn restart(&mut self, lockspace: Name, offset: u64) {
        self.free.remove(&(lockspace, offset));
    }

    /// Forgets the names of lockspaces not in `spaces`.
    pub fn keep_lockspaces(&mut self, spaces: &BTreeSet<Name>) {
        self.free.retain(|(space, _), _| spaces.contains(space));
    }

    /// Names being timed.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> MonoTime {
        MonoTime::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn a_name_is_idle_once_free_at_one_lver_for_the_whole_time() {
        let (ls, a) = (Name::new("ls").unwrap(), Name::new("a").unwrap());
        let mut idle = IdleNames::new(Duration::from_secs(10));
        assert!(!idle.observe(ls, 3 << 20, a, LeaseSeen::Free { lver: 4 }, at(0)));
        assert!(!idle.observe(ls, 3 << 20, a, LeaseSeen::Free { lver: 4 }, at(9)));
        assert!(idle.observe(ls, 3 << 20, a, LeaseSeen::Free { lver: 4 }, at(10)));
        // Taken and freed between readings: a new lver starts the time again.
        assert!(!idle.observe(ls, 3 << 20, a, LeaseSeen::Free { lver: 5 }, at(11)));
        assert!(!idle.observe(ls, 3 << 20, a, LeaseSeen::Free { lver: 5 }, at(20)));
        // Seen held: forgotten.
        assert!(!idle.observe(ls, 3 << 20, a, LeaseSeen::Held, at(21)));
        assert!(idle.is_empty());
        assert!(!idle.observe(ls, 3 << 20, a, LeaseSeen::Free { lver: 5 }, at(40)));
        // Another name in the same slot starts afresh.
        let b = Name::new("b").unwrap();
        assert!(!idle.observe(ls, 3 << 20, b, LeaseSeen::Free { lver: 5 }, at(60)));
    }

    #[test]
    fn names_gone_from_the_index_are_forgotten() {
        let (ls, other) = (Name::new("ls").unwrap(), Name::new("other").unwrap());
        let a = Name::new("a").unwrap();
        let mut idle = IdleNames::new(Duration::from_secs(10));
        idle.observe(ls, 3 << 20, a, LeaseSeen::Free { lver: 1 }, at(0));
        idle.observe(ls, 4 << 20, a, LeaseSeen::Free { lver: 1 }, at(0));
        idle.observe(other, 3 << 20, a, LeaseSeen::Free { lver: 1 }, at(0));
        idle.keep_only(ls, &BTreeSet::from([4 << 20]));
        assert_eq!(idle.len(), 2);
        idle.keep_only(ls, &BTreeSet::new());
        assert_eq!(idle.len(), 1);
        idle.restart(other, 3 << 20);
        assert!(idle.is_empty());
        idle.observe(other, 3 << 20, a, LeaseSeen::Free { lver: 1 }, at(0));
        idle.keep_lockspaces(&BTreeSet::from([ls]));
        assert!(idle.is_empty(), "a lockspace left is forgotten");
    }
}
