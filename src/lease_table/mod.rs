//! The resource leases one host holds or is working on, and the rules that
//! say when a resource may be used again: one policy, which the daemon's
//! threads and the simulator's hosts both execute.
//!
//! The table is sans-I/O: it never reads a clock or a disk. Its callers run
//! the Paxos machines it asks for ([`LetGo`], [`Conversion`]) and report how
//! they ended; it says what stands in each slot.
//!
//! Invariants:
//! - A resource is in the table while an operation on it runs (busy) or
//!   while it is held. One operation per resource at a time: a second
//!   acquire of a resource this host already holds or is acquiring is
//!   refused here, before any disk I/O.
//! - A slot stays busy until every write of the operation in it has left
//!   the kernel or been overtaken by a later write of ours: a release or an
//!   acquire's withdrawal that has to be retried keeps its slot until it
//!   has succeeded (or the host_id lease it was made under is gone). A new
//!   acquire therefore never races a late write of an older one on the same
//!   sectors, which could set our dblock back and let two hosts win one
//!   lease version.
//! - A resource is known by its lockspace and name, never by the spelling
//!   of its path.
//! - Leaving a lockspace (or shutting down) closes it in the table first:
//!   no new acquire starts there, and one that ends while it is closed is
//!   not handed to its process ([`LeaseTable::admit`]) but let go of. The
//!   holders to stop are listed only once its busy slots are settled, so
//!   none is missed; its leases are released after they are stopped.
//!
//! - [`let_go`]: releases and withdrawals, and when to retry or give up;
//! - [`convert`]: EX↔SH conversions, and what a failed one leaves held;
//! - [`waiting`]: acquires waiting here for a resource, in turn.

pub mod convert;
pub mod let_go;
pub mod waiting;

use std::collections::{BTreeMap, BTreeSet};

pub use convert::Conversion;
pub use let_go::{LetGo, LetGoError, Settle, Settling};
pub use waiting::{Ticket, WaitLines};

use crate::ondisk::name::Name;
use crate::paxos::Withdrawal;

/// A resource: its lockspace and its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseKey {
    pub lockspace: Name,
    pub name: Name,
}

/// What the table needs of a held lease.
pub trait Entry {
    fn key(&self) -> &LeaseKey;
    /// The process holding it, or `None` for an orphan.
    fn pid(&self) -> Option<u32>;
}

/// A deliberately broken table policy, chosen at run time so the simulator
/// can prove its oracle catches such bugs. Production code always runs
/// [`TableMutation::None`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TableMutation {
    #[default]
    None,
    /// A failed acquire's slot is freed at once, while what its ballot left
    /// on disk is still to be withdrawn: another acquire of this host may
    /// run on the resource beside the late withdrawal.
    LateWithdrawal,
    /// A lockspace being left still admits the leases of acquires that end
    /// meanwhile, and its holders are listed without waiting for them.
    LeaveUnsettled,
}

#[derive(Debug)]
enum Slot<L> {
    Busy,
    Held(Box<L>),
    /// Its release or withdrawal failed in ways that leave nothing in
    /// flight, and was given up by a leave of its lockspace: the disk may
    /// still name us at a lease version a new acquire of ours could take
    /// again, so the resource is not acquired again on this host until the
    /// leave is over.
    Abandoned,
}

/// What stands in a resource's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occupant {
    /// An operation on it is running.
    Busy,
    /// Held for a process.
    Process(u32),
    /// Held as an orphan.
    Orphan,
    /// Its release was given up on (see [`Slot::Abandoned`]).
    Abandoned,
}

/// Every resource this host holds or is working on.
#[derive(Debug)]
pub struct LeaseTable<L> {
    slots: BTreeMap<LeaseKey, Slot<L>>,
    /// Lockspaces being left, with how many leaves or shutdowns have each
    /// closed.
    closed: BTreeMap<Name, usize>,
    /// Lockspaces whose leave stopped their holders and goes on to release
    /// the host_id: letting go there may be given up.
    committed: BTreeSet<Name>,
    mutation: TableMutation,
    /// Acquires waiting here for resources, in turn.
    pub waiting: WaitLines,
}

impl<L> Default for LeaseTable<L> {
    fn default() -> Self {
        LeaseTable {
            slots: BTreeMap::new(),
            closed: BTreeMap::new(),
            committed: BTreeSet::new(),
            mutation: TableMutation::None,
            waiting: WaitLines::default(),
        }
    }
}

impl<L: Entry> LeaseTable<L> {
    /// A table running a broken policy, for the simulator's canaries.
    pub fn mutated(mutation: TableMutation) -> Self {
        LeaseTable { mutation, ..LeaseTable::default() }
    }

    /// Closes lockspace `name` to new leases, for a leave or a shutdown.
    pub fn close(&mut self, name: &Name) {
        *self.closed.entry(*name).or_default() += 1;
    }

    /// Takes back one [`LeaseTable::close`] that came to nothing (a
    /// removal refused): leases are admitted again once no one else has it
    /// closed.
    pub fn reopen(&mut self, name: &Name) {
        let count = self.closed.get_mut(name).expect("a reopen follows a close");
        *count -= 1;
        if *count == 0 {
            self.closed.remove(name);
            self.committed.remove(name);
        }
    }

    /// A leave of lockspace `name` (closed) has stopped its holders and
    /// goes on to release the host_id: a release there that keeps failing
    /// may be given up ([`Settling::after`]), as other hosts may take what
    /// the disk still says we hold once the host_id is released. Until
    /// then a leave can still be refused, and the lockspace go on.
    pub fn commit_leave(&mut self, name: &Name) {
        assert!(self.is_closed(name), "a committed leave closed its lockspace");
        self.committed.insert(*name);
    }

    /// Whether letting go in lockspace `name` may be given up (see
    /// [`LeaseTable::commit_leave`]).
    pub fn may_give_up(&self, name: &Name) -> bool {
        self.committed.contains(name)
    }

    /// Whether lockspace `name` is being left.
    pub fn is_closed(&self, name: &Name) -> bool {
        self.closed.contains_key(name)
    }

    /// Whether the holders of lockspace `name`, which is closed, may be
    /// listed: no acquire or conversion there can still add one.
    pub fn settled_in(&self, name: &Name) -> bool {
        self.mutation == TableMutation::LeaveUnsettled || self.busy_in(name) == 0
    }

    /// Puts the leases of an acquire that succeeded in their (busy) slots,
    /// all of them or none: none if a lockspace of theirs is being left, or
    /// if one was acquired under a host_id lease that is gone
    /// (`generation_lives` is false for it). Those are returned, to be let
    /// go of: whoever lists the lockspace's holders to stop them may have
    /// listed them already, without these.
    // Boxed as the slots hold them.
    #[allow(clippy::vec_box)]
    pub fn admit(
        &mut self,
        leases: Vec<Box<L>>,
        generation_lives: impl Fn(&L) -> bool,
    ) -> Result<(), Vec<Box<L>>> {
        let closed = |lease: &L| {
            self.mutation != TableMutation::LeaveUnsettled && self.is_closed(&lease.key().lockspace)
        };
        if leases.iter().any(|lease| closed(lease) || !generation_lives(lease)) {
            return Err(leases);
        }
        for lease in leases {
            self.put(lease);
        }
        Ok(())
    }

    /// Every held lease.
    pub fn held(&self) -> impl Iterator<Item = &L> {
        self.slots.values().filter_map(|slot| match slot {
            Slot::Held(lease) => Some(&**lease),
            Slot::Busy | Slot::Abandoned => None,
        })
    }

    /// Resources with an acquire or release under way.
    pub fn busy(&self) -> usize {
        self.slots.values().filter(|slot| matches!(slot, Slot::Busy)).count()
    }

    /// Slots of lockspace `name` being acquired, converted or released.
    pub fn busy_in(&self, name: &Name) -> usize {
        self.slots
            .iter()
            .filter(|(key, slot)| matches!(slot, Slot::Busy) && key.lockspace.same_as(name))
            .count()
    }

    /// Takes every held lease of lockspace `name` out of its slot, which
    /// stays busy.
    // Boxed as the slots hold them: a lease put back moves no bytes.
    #[allow(clippy::vec_box)]
    pub fn take_in(&mut self, name: &Name) -> Vec<Box<L>> {
        let keys: Vec<LeaseKey> = self.in_lockspace(name).map(|l| l.key().clone()).collect();
        keys.iter().filter_map(|key| self.take(key)).collect()
    }

    /// Held leases in lockspace `name`.
    pub fn in_lockspace<'a>(&'a self, name: &'a Name) -> impl Iterator<Item = &'a L> {
        self.held().filter(move |lease| lease.key().lockspace.same_as(name))
    }

    /// Held leases of process `pid`.
    pub fn owned_by(&self, pid: u32) -> impl Iterator<Item = &L> {
        self.held().filter(move |lease| lease.pid() == Some(pid))
    }

    /// The lease held on `key`, if held (not busy).
    pub fn get(&self, key: &LeaseKey) -> Option<&L> {
        match self.slots.get(key) {
            Some(Slot::Held(lease)) => Some(&**lease),
            _ => None,
        }
    }

    /// What stands in `key`'s slot, if anything.
    pub fn occupant(&self, key: &LeaseKey) -> Option<Occupant> {
        self.slots.get(key).map(|slot| match slot {
            Slot::Busy => Occupant::Busy,
            Slot::Abandoned => Occupant::Abandoned,
            Slot::Held(lease) => lease.pid().map_or(Occupant::Orphan, Occupant::Process),
        })
    }

    /// Marks every key busy, or none if one is already in the table: that
    /// key is returned, with what stands in its slot.
    pub fn reserve(&mut self, keys: &[LeaseKey]) -> Result<(), Box<(LeaseKey, Occupant)>> {
        if let Some((key, occupant)) =
            keys.iter().find_map(|key| self.occupant(key).map(|o| (key, o)))
        {
            return Err(Box::new((key.clone(), occupant)));
        }
        for key in keys {
            self.slots.insert(key.clone(), Slot::Busy);
        }
        Ok(())
    }

    /// Takes a held lease out for an operation: its slot stays busy. The
    /// lease stays boxed: thousands of them go out and back at once when a
    /// big holder exits.
    pub fn take(&mut self, key: &LeaseKey) -> Option<Box<L>> {
        let slot = self.slots.get_mut(key)?;
        if !matches!(slot, Slot::Held(_)) {
            return None;
        }
        match std::mem::replace(slot, Slot::Busy) {
            Slot::Held(lease) => Some(lease),
            Slot::Busy | Slot::Abandoned => None,
        }
    }

    /// Puts a lease in its (busy) slot.
    pub fn put(&mut self, lease: Box<L>) {
        let previous = self.slots.insert(lease.key().clone(), Slot::Held(lease));
        assert!(matches!(previous, Some(Slot::Busy)), "a lease goes into its reserved slot");
    }

    /// Frees a busy slot.
    pub fn free(&mut self, key: &LeaseKey) {
        let previous = self.slots.remove(key);
        assert!(matches!(previous, Some(Slot::Busy)), "only busy slots are freed");
    }

    /// An acquire of `key` (whose slot is busy) failed, leaving `left` on
    /// disk, if anything. Without anything left the slot is free again;
    /// else it stays busy and the withdrawal returned must be settled
    /// ([`Settling`]) before [`LeaseTable::settled`] frees it.
    pub fn acquire_failed(&mut self, key: &LeaseKey, left: Option<Withdrawal>) -> Option<LetGo> {
        let withdraw = left.map(LetGo::Withdraw);
        if withdraw.is_none() || self.mutation == TableMutation::LateWithdrawal {
            self.free(key);
        }
        withdraw
    }

    /// Letting go of what stood in `key`'s slot ended as `settle` says: the
    /// slot is freed, or kept abandoned if the release was given up while
    /// the host_id lease it was made under still lives (`generation_lives`;
    /// once it has ended there is nothing left to guard). False if the
    /// slot is not free. A withdrawal whose slot a mutated policy freed at
    /// once is not settled here: the slot is no longer its own.
    pub fn settled(&mut self, key: &LeaseKey, settle: &Settle, generation_lives: bool) -> bool {
        assert!(matches!(self.slots.get(key), Some(Slot::Busy)), "only busy slots are settled");
        if matches!(settle, Settle::GiveUp(_)) && generation_lives {
            self.slots.insert(key.clone(), Slot::Abandoned);
            return false;
        }
        self.free(key);
        true
    }

    /// Forgets the abandoned slots of lockspace `name`, whose host_id lease
    /// is gone: a new generation's acquires cannot take what the old one
    /// left.
    pub fn forget_abandoned_in(&mut self, name: &Name) {
        self.slots
            .retain(|key, slot| !(matches!(slot, Slot::Abandoned) && key.lockspace.same_as(name)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paxos::PaxosError;
    use crate::step::IoFailure;

    #[derive(Debug)]
    struct Lease(LeaseKey, Option<u32>);

    impl Entry for Lease {
        fn key(&self) -> &LeaseKey {
            &self.0
        }
        fn pid(&self) -> Option<u32> {
            self.1
        }
    }

    fn key(name: &str) -> LeaseKey {
        LeaseKey { lockspace: Name::new("ls").unwrap(), name: Name::new(name).unwrap() }
    }

    #[test]
    fn reservations_are_all_or_nothing() {
        let mut table = LeaseTable::<Lease>::default();
        table.reserve(&[key("a"), key("b")]).unwrap();
        let conflict = table.reserve(&[key("c"), key("b")]).unwrap_err();
        assert_eq!(*conflict, (key("b"), Occupant::Busy));
        assert!(table.take(&key("c")).is_none(), "c was not reserved");
        table.free(&key("a"));
        table.reserve(&[key("a")]).unwrap();
        assert_eq!(table.held().count(), 0, "busy slots are not held leases");
        table.put(Box::new(Lease(key("a"), Some(7))));
        let conflict = table.reserve(&[key("a")]).unwrap_err();
        assert_eq!(*conflict, (key("a"), Occupant::Process(7)));
        assert_eq!(table.owned_by(7).count(), 1);
    }

    #[test]
    fn an_abandoned_resource_is_refused_until_its_lockspace_is_left() {
        let mut table = LeaseTable::<Lease>::default();
        table.reserve(&[key("a")]).unwrap();
        let given_up = Settle::GiveUp(LetGoError::Paxos(PaxosError::Io(IoFailure::Error)));
        assert!(!table.settled(&key("a"), &given_up, true));
        assert_eq!(table.busy(), 0, "nothing waits for it");
        let refused = table.reserve(&[key("a")]).unwrap_err();
        assert_eq!(*refused, (key("a"), Occupant::Abandoned));
        assert!(table.take(&key("a")).is_none());
        table.forget_abandoned_in(&Name::new("other").unwrap());
        assert!(table.reserve(&[key("a")]).is_err(), "another lockspace's leave changes nothing");
        table.forget_abandoned_in(&Name::new("ls").unwrap());
        table.reserve(&[key("a")]).unwrap();
        // A release given up after its generation ended guards nothing.
        assert!(table.settled(&key("a"), &given_up, false));
        table.reserve(&[key("a")]).unwrap();
    }

    #[test]
    fn a_leave_closes_admits_nothing_and_gives_up_only_once_committed() {
        let ls = Name::new("ls").unwrap();
        let mut table = LeaseTable::<Lease>::default();
        table.reserve(&[key("a")]).unwrap();
        table.close(&ls);
        table.close(&ls);
        assert!(!table.settled_in(&ls), "an acquire is under way");
        let refused = table.admit(vec![Box::new(Lease(key("a"), Some(7)))], |_| true);
        let back = refused.expect_err("closed: not handed out");
        assert_eq!(back.len(), 1);
        table.free(&key("a"));
        assert!(table.settled_in(&ls));
        assert!(!table.may_give_up(&ls), "a leave may still be refused");
        table.commit_leave(&ls);
        assert!(table.may_give_up(&ls));
        table.reopen(&ls);
        assert!(table.is_closed(&ls), "another leave still has it closed");
        table.reopen(&ls);
        assert!(!table.is_closed(&ls) && !table.may_give_up(&ls));
        table.reserve(&[key("a")]).unwrap();
        table.admit(vec![Box::new(Lease(key("a"), Some(7)))], |_| true).unwrap();
        assert_eq!(table.occupant(&key("a")), Some(Occupant::Process(7)));
    }

    #[test]
    fn a_failed_acquire_keeps_its_slot_until_its_withdrawal_settles() {
        let mut table = LeaseTable::<Lease>::default();
        table.reserve(&[key("a")]).unwrap();
        assert!(table.acquire_failed(&key("a"), None).is_none());
        assert!(table.occupant(&key("a")).is_none(), "nothing left: free at once");
        table.reserve(&[key("a")]).unwrap();
        let left = let_go::tests::withdrawal();
        let op = table.acquire_failed(&key("a"), Some(left)).expect("a withdrawal to run");
        assert!(matches!(op, LetGo::Withdraw(_)));
        assert_eq!(table.occupant(&key("a")), Some(Occupant::Busy), "busy until withdrawn");
        assert!(table.settled(&key("a"), &Settle::Done, true));
        assert!(table.occupant(&key("a")).is_none());
    }
}
