//! The arithmetic of one Disk Paxos ballot (Gafni and Lamport), pure.
//!
//! A resource's lease version `lver` numbers instances of consensus; the
//! ballot for instance `next_lver = leader.lver + 1` decides the next owner.
//! Each host has one dblock. In each phase a host writes its dblock and then
//! reads everyone's:
//!
//! - blocks of an older `lver` belong to finished instances: ignored;
//! - a block with a higher `lver`, or a higher `mbal` in this instance, means
//!   another host is ahead: abort, back off, retry with a higher ballot;
//! - after phase 1, the value to propose is the `inp` of the block with the
//!   highest `bal` (an accepted value must be carried on), or our own.
//!
//! Ballot numbers are sanlock's so that mixed clusters agree: host `h`'s
//! ballots are `h`, then `≡ h (mod max_hosts)` and above every mbal seen.

use crate::ondisk::dblock::Dblock;

/// Our first ballot number above every mbal seen: `≡ host_id (mod
/// max_hosts)`, as sanlock computes it. `None` if there is none: both
/// numbers come from disk, so `host_id` may exceed `max_hosts` (or it be 0)
/// and the mbal seen may be too close to `u64::MAX` to go above.
pub fn next_mbal(max_mbal_seen: u64, host_id: u64, max_hosts: u64) -> Option<u64> {
    if host_id == 0 || host_id > max_hosts {
        return None;
    }
    if max_mbal_seen == 0 {
        return Some(host_id);
    }
    let mbal =
        (max_mbal_seen - max_mbal_seen % max_hosts).checked_add(max_hosts)?.checked_add(host_id)?;
    debug_assert!(mbal > max_mbal_seen, "ballots only grow");
    debug_assert_eq!(mbal % max_hosts, host_id % max_hosts, "ballots stay in our residue class");
    Some(mbal)
}

/// Why a ballot must be abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    /// Another host started a higher ballot in this instance.
    HigherMbal { host_id: u64, mbal: u64 },
    /// Another host is already in a later instance: our view is stale.
    HigherLver { host_id: u64, lver: u64 },
}

/// Reads the other hosts' blocks after writing `ours` in a phase: the
/// accepted block with the highest `bal` (the value to carry on), or why to
/// abort. `blocks` are the other hosts' valid dblocks; damaged ones are left
/// out by the caller, as sanlock skips them.
pub fn evaluate<'a>(
    ours: &Dblock,
    blocks: impl IntoIterator<Item = (u64, &'a Dblock)>,
) -> Result<Option<Dblock>, Abort> {
    let mut best: Option<Dblock> = None;
    for (host_id, block) in blocks {
        if block.lver < ours.lver {
            continue;
        }
        if block.lver > ours.lver {
            return Err(Abort::HigherLver { host_id, lver: block.lver });
        }
        if block.mbal > ours.mbal {
            return Err(Abort::HigherMbal { host_id, mbal: block.mbal });
        }
        // An input with no ballot is not an accepted value.
        if block.inp != 0 && block.bal != 0 && best.is_none_or(|b| block.bal > b.bal) {
            best = Some(*block);
        }
    }
    Ok(best)
}

/// Our dblock for phase 1 of ballot `mbal` in instance `next_lver`, built on
/// our block as it stands. A value we accepted earlier in the same instance
/// is kept: forgetting it could let a second value be chosen.
pub fn phase1_block(current: &Dblock, next_lver: u64, mbal: u64) -> Dblock {
    assert!(current.lver <= next_lver, "our own block is never ahead of our instance");
    let carried = current.lver == next_lver;
    if carried {
        assert!(mbal > current.mbal, "a new ballot is higher than our last");
    }
    Dblock {
        mbal,
        bal: if carried { current.bal } else { 0 },
        inp: if carried { current.inp } else { 0 },
        inp2: if carried { current.inp2 } else { 0 },
        inp3: if carried { current.inp3 } else { 0 },
        lver: next_lver,
        checksum: 0,
        flags: 0,
    }
}

/// Our dblock for phase 2: the value chosen by phase 1 at our ballot.
pub fn phase2_block(phase1: &Dblock, best_seen: Option<Dblock>, own: (u64, u64, u64)) -> Dblock {
    // Our own earlier acceptance competes with the others' on bal.
    let ours_accepted = (phase1.inp != 0 && phase1.bal != 0).then_some(*phase1);
    let carried = match (best_seen, ours_accepted) {
        (Some(seen), Some(mine)) => Some(if mine.bal > seen.bal { mine } else { seen }),
        (seen, mine) => seen.or(mine),
    };
    let (inp, inp2, inp3) = carried.map_or(own, |b| (b.inp, b.inp2, b.inp3));
    assert_ne!(inp, 0, "a proposal names an owner");
    Dblock { bal: phase1.mbal, inp, inp2, inp3, ..*phase1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballot_numbers_match_sanlock() {
        // (max mbal seen, host_id, max_hosts) → our mbal
        let cases = [
            (0, 1, 2000, 1),
            (0, 7, 2000, 7),
            (5, 3, 2000, 2003),
            (2003, 5, 2000, 4005),
            (14002, 1, 2000, 16001),
            (2000, 2000, 2000, 6000),
            (9, 2, 8, 18),
        ];
        for (seen, host, max_hosts, expected) in cases {
            assert_eq!(
                next_mbal(seen, host, max_hosts),
                Some(expected),
                "{seen} {host} {max_hosts}"
            );
        }
    }

    fn block(mbal: u64, bal: u64, inp: u64, lver: u64) -> Dblock {
        Dblock { mbal, bal, inp, inp2: 1, inp3: 100 + inp, lver, ..Dblock::default() }
    }

    /// The decision table of a phase: other blocks → outcome.
    #[test]
    fn evaluate_table() {
        let ours = block(2003, 0, 0, 5);
        type Case = (Vec<(u64, Dblock)>, Result<Option<u64>, Abort>);
        let cases: Vec<Case> = vec![
            (vec![], Ok(None)),
            (vec![(2, block(2, 2, 2, 4))], Ok(None)),
            (vec![(2, block(2, 2, 2, 5))], Ok(Some(2))),
            (vec![(2, block(4002, 0, 0, 5))], Err(Abort::HigherMbal { host_id: 2, mbal: 4002 })),
            (vec![(4, block(4, 0, 0, 6))], Err(Abort::HigherLver { host_id: 4, lver: 6 })),
            (vec![(2, block(2, 2, 2, 5)), (4, block(4, 4, 4, 5))], Ok(Some(4))),
            (vec![(4, block(4, 0, 4, 5))], Ok(None)),
            (vec![(2, block(2003, 2, 2, 5))], Ok(Some(2))),
        ];
        for (blocks, expected) in cases {
            let got =
                evaluate(&ours, blocks.iter().map(|(h, b)| (*h, b))).map(|b| b.map(|b| b.inp));
            assert_eq!(got, expected, "{blocks:?}");
        }
    }

    #[test]
    fn phase_blocks_carry_accepted_values() {
        let fresh = phase1_block(&block(3, 3, 3, 4), 5, 2003);
        assert_eq!((fresh.mbal, fresh.bal, fresh.inp, fresh.lver), (2003, 0, 0, 5));
        let again = phase1_block(&block(2003, 2003, 9, 5), 5, 4003);
        assert_eq!((again.mbal, again.bal, again.inp), (4003, 2003, 9));

        let own = (3, 7, 500);
        assert_eq!(phase2_block(&fresh, None, own).inp, 3);
        let p2 = phase2_block(&fresh, Some(block(2, 2, 2, 5)), own);
        assert_eq!((p2.bal, p2.inp, p2.inp3), (2003, 2, 102));
        // Our own accepted value wins over a lower one seen elsewhere.
        let p2 = phase2_block(&again, Some(block(2, 2, 2, 5)), own);
        assert_eq!(p2.inp, 9);
        let p2 = phase2_block(&again, Some(block(4002, 4002, 4, 5)), own);
        assert_eq!(p2.inp, 4);
    }
}
