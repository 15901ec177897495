//! Acquires that wait on this host for resources held or busy here: one
//! line per resource, first come first served. A waiter whose turn has come
//! on every resource it asks for tries them; the others wait behind it, and
//! an acquire that does not wait is refused while anyone waits, rather
//! than take a resource from under the line.

use std::collections::{BTreeMap, VecDeque};

use super::LeaseKey;

/// A place in the lines of some resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(u64);

/// The lines of every resource someone waits for.
#[derive(Debug, Default)]
pub struct WaitLines {
    next: u64,
    lines: BTreeMap<LeaseKey, VecDeque<Ticket>>,
}

impl WaitLines {
    /// A new place, in no line yet.
    pub fn ticket(&mut self) -> Ticket {
        let ticket = Ticket(self.next);
        self.next += 1;
        ticket
    }

    /// Joins the end of the line of each of `keys` that `ticket` is not in
    /// yet. A waiter stands only in the lines of the resources it cannot
    /// have now: one it could have is not kept from anyone else meanwhile.
    pub fn join<'k>(&mut self, ticket: Ticket, keys: impl IntoIterator<Item = &'k LeaseKey>) {
        for key in keys {
            let line = self.lines.entry(key.clone()).or_default();
            if !line.contains(&ticket) {
                line.push_back(ticket);
            }
        }
    }

    /// Whether `ticket` (or, with none, a newcomer) may try `keys` now:
    /// first in each of their lines, or no line at all.
    pub fn turn(&self, ticket: Option<Ticket>, keys: &[LeaseKey]) -> bool {
        keys.iter().all(|key| match self.lines.get(key).and_then(VecDeque::front) {
            None => true,
            Some(first) => Some(*first) == ticket,
        })
    }

    /// How many others than `ticket` wait for `key`.
    pub fn others(&self, key: &LeaseKey, ticket: Option<Ticket>) -> usize {
        self.lines.get(key).map_or(0, |line| line.iter().filter(|t| Some(**t) != ticket).count())
    }

    /// How many wait for `key`.
    pub fn waiting(&self, key: &LeaseKey) -> usize {
        self.lines.get(key).map_or(0, VecDeque::len)
    }

    /// Leaves every line `ticket` stands in (served, or given up).
    pub fn leave(&mut self, ticket: Ticket, keys: &[LeaseKey]) {
        for key in keys {
            if let Some(line) = self.lines.get_mut(key) {
                line.retain(|t| *t != ticket);
                if line.is_empty() {
                    self.lines.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::name::Name;

    fn key(name: &str) -> LeaseKey {
        LeaseKey { lockspace: Name::new("ls").unwrap(), name: Name::new(name).unwrap() }
    }

    #[test]
    fn waiters_are_served_in_the_order_they_came() {
        let (a, b) = (key("a"), key("b"));
        let (only_a, both) = ([a.clone()], [a.clone(), b.clone()]);
        let mut lines = WaitLines::default();
        assert!(lines.turn(None, &only_a), "nobody waits: a newcomer may try");
        let first = lines.ticket();
        lines.join(first, &only_a);
        let second = lines.ticket();
        lines.join(second, &only_a);
        assert!(!lines.turn(None, &only_a), "a newcomer does not pass the line");
        assert!(lines.turn(Some(first), &only_a));
        assert!(!lines.turn(Some(second), &both), "behind first on a");
        assert!(lines.turn(None, std::slice::from_ref(&b)), "b, free, is kept from nobody");
        lines.join(second, &both);
        lines.join(second, &both);
        assert_eq!(lines.waiting(&b), 1, "a ticket stands once in a line");
        assert_eq!(lines.others(&a, Some(second)), 1);
        lines.leave(first, &only_a);
        assert!(lines.turn(Some(second), &both));
        lines.leave(second, &both);
        assert_eq!((lines.waiting(&a), lines.waiting(&b)), (0, 0));
        assert!(lines.lines.is_empty(), "empty lines are dropped");
    }
}
