//! The verdict on a torture run, from the clients' logs alone (pure: no
//! I/O, tested below).
//!
//! A *hold* is one acquisition by one client process: from the acquire
//! reply (`start`) to the moment it asked for the release (`end`). Every
//! acquisition is exclusive; a convert EX→SH→EX happens inside a hold and
//! no client ever asks for SH, so the hold stays exclusive throughout. A
//! client killed while holding ends its hold at its last logged step (its
//! last write started no earlier than that): the interval is always a part
//! of the time the lease was really held, so a reported overlap is real.
//! Its `gone` time (for takeover latency) is when the parent saw it dead.
//!
//! - OVERLAP: two holds of one resource by different processes whose
//!   intervals intersect (during a hold's SH phase, another's EX grant is
//!   the EX/SH conflict the invariant forbids), or a witness record found
//!   overwritten at the end of a hold (another holder wrote while this one
//!   held).
//! - LVER REGRESSION: for a resource, holds ordered by acquisition time;
//!   a hold A regresses if some hold B that ended before A started has
//!   `B.top_lver >= A.lver`, where `top_lver` is the highest lver B was
//!   granted (at acquire or by a convert back to EX). lver is the fencing
//!   token: every exclusive grant after a release must carry a higher one.
//! - Takeover latency: for consecutive holds of a resource on different
//!   hosts, the time from the first one's release (or death) to the
//!   second's acquisition.

use std::collections::BTreeMap;

use super::record::Event;

/// One acquisition by one client process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub res: usize,
    pub host: usize,
    pub client: usize,
    pub lver: u64,
    pub top_lver: u64,
    pub start: u64,
    pub end: u64,
    pub gone: u64,
}

/// What one client process logged.
pub struct ClientRun {
    pub host: usize,
    pub client: usize,
    pub events: Vec<Event>,
    /// When the parent saw the process dead (CLOCK_BOOTTIME ns).
    pub died: u64,
}

/// Counts over every client.
#[derive(Debug, Default)]
pub struct Tally {
    pub acquisitions: u64,
    pub busy: u64,
    pub converts: u64,
    /// Failed requests by `OP:CODE`, with one message of each.
    pub errors: BTreeMap<String, (u64, String)>,
    /// Witness records found overwritten: what was found instead.
    pub overwritten: Vec<String>,
}

/// Folds a client's events into its holds, counting as it goes.
pub fn holds(run: &ClientRun, tally: &mut Tally) -> Vec<Hold> {
    let mut done = Vec::new();
    let mut open: Option<Hold> = None;
    for event in &run.events {
        match event {
            Event::Acquired { res, lver, t } => {
                tally.acquisitions += 1;
                done.extend(open.take());
                let (res, lver, t) = (*res, *lver, *t);
                let (host, client) = (run.host, run.client);
                open = Some(Hold {
                    res,
                    host,
                    client,
                    lver,
                    top_lver: lver,
                    start: t,
                    end: t,
                    gone: t,
                });
            }
            Event::Converted { lver, t, .. } => {
                tally.converts += 1;
                if let Some(hold) = open.as_mut() {
                    hold.top_lver = hold.top_lver.max(*lver);
                    hold.end = *t;
                }
            }
            Event::Writing { t, .. } => {
                if let Some(hold) = open.as_mut() {
                    hold.end = *t;
                }
            }
            Event::Overwritten { res, found, t } => {
                tally.overwritten.push(format!(
                    "host {} client {} res {res} found '{found}' at {t}",
                    run.host, run.client
                ));
            }
            Event::Releasing { t, .. } => {
                if let Some(mut hold) = open.take() {
                    (hold.end, hold.gone) = (*t, *t);
                    done.push(hold);
                }
            }
            Event::Busy { .. } => tally.busy += 1,
            Event::Failed { kind, msg, .. } => {
                // A failure on an earlier write of our own host to the
                // resource is counted apart: under contention none may
                // happen (the lease table keeps a slot until its writes
                // have left the kernel).
                let kind = if msg.contains("has not left the kernel") {
                    format!("{kind}:own_write_in_flight")
                } else {
                    kind.clone()
                };
                let entry = tally.errors.entry(kind).or_insert((0, msg.clone()));
                entry.0 += 1;
            }
        }
    }
    if let Some(mut hold) = open {
        hold.gone = run.died.max(hold.end);
        done.push(hold);
    }
    done
}

/// The holds of each resource, by acquisition time.
fn by_resource(holds: &[Hold]) -> BTreeMap<usize, Vec<&Hold>> {
    let mut map: BTreeMap<usize, Vec<&Hold>> = BTreeMap::new();
    for hold in holds {
        map.entry(hold.res).or_default().push(hold);
    }
    for list in map.values_mut() {
        list.sort_by_key(|hold| (hold.start, hold.end));
    }
    map
}

/// Pairs of holds of one resource by different processes that overlap.
pub fn overlaps(holds: &[Hold]) -> Vec<(Hold, Hold)> {
    let mut found = Vec::new();
    for list in by_resource(holds).values() {
        for (i, a) in list.iter().enumerate() {
            for b in list.iter().skip(i + 1).take_while(|b| b.start < a.end) {
                if b.client != a.client {
                    found.push(((*a).clone(), (*b).clone()));
                }
            }
        }
    }
    found
}

/// Holds whose lver is not above that of a hold that ended before they
/// started, each with the earlier hold of highest lver.
pub fn lver_regressions(holds: &[Hold]) -> Vec<(Hold, Hold)> {
    let mut found = Vec::new();
    for list in by_resource(holds).values() {
        let mut ended: Vec<&Hold> = list.clone();
        ended.sort_by_key(|hold| hold.end);
        let mut ended = ended.into_iter().peekable();
        let mut top: Option<&Hold> = None;
        for a in list {
            while let Some(b) = ended.next_if(|b| b.end < a.start) {
                if top.is_none_or(|t| b.top_lver > t.top_lver) {
                    top = Some(b);
                }
            }
            if let Some(b) = top.filter(|b| b.top_lver >= a.lver) {
                found.push((b.clone(), (*a).clone()));
            }
        }
    }
    found
}

/// Takeover latencies in milliseconds (see the module header).
pub fn takeovers_ms(holds: &[Hold]) -> Vec<f64> {
    let mut found = Vec::new();
    for list in by_resource(holds).values() {
        for pair in list.windows(2) {
            let [before, after] = pair else { continue };
            if before.host != after.host && after.start >= before.gone {
                found.push((after.start - before.gone) as f64 / 1e6);
            }
        }
    }
    found
}

/// The `pct` percentile of `values` (nearest rank), 0 if empty.
pub fn percentile(values: &mut [f64], pct: usize) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = (values.len() * pct).div_ceil(100).saturating_sub(1);
    values.get(rank).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(res: usize, client: usize, lver: u64, start: u64, end: u64) -> Hold {
        Hold { res, host: client, client, lver, top_lver: lver, start, end, gone: end }
    }

    #[test]
    fn folds_events_into_holds_and_counts() {
        let events = vec![
            Event::Busy { res: 0, t: 1 },
            Event::Acquired { res: 1, lver: 5, t: 10 },
            Event::Writing { res: 1, t: 11 },
            Event::Converted { res: 1, mode: "EX".to_owned(), lver: 6, t: 12 },
            Event::Releasing { res: 1, t: 20 },
            Event::Failed { kind: "release:Io".to_owned(), msg: "m".to_owned(), t: 21 },
            Event::Acquired { res: 0, lver: 9, t: 30 },
            Event::Writing { res: 0, t: 31 },
        ];
        let run = ClientRun { host: 2, client: 7, events, died: 50 };
        let mut tally = Tally::default();
        let got = holds(&run, &mut tally);
        let first =
            Hold { res: 1, host: 2, client: 7, lver: 5, top_lver: 6, start: 10, end: 20, gone: 20 };
        let killed =
            Hold { res: 0, host: 2, client: 7, lver: 9, top_lver: 9, start: 30, end: 31, gone: 50 };
        assert_eq!(got, vec![first, killed]);
        assert_eq!((tally.acquisitions, tally.busy, tally.converts), (2, 1, 1));
        assert_eq!(tally.errors["release:Io"].0, 1);
    }

    #[test]
    fn finds_overlapping_holds_of_one_resource_only() {
        let holds = [hold(0, 1, 1, 0, 10), hold(0, 2, 2, 10, 20), hold(1, 3, 1, 5, 15)];
        assert!(overlaps(&holds).is_empty(), "touching and other-resource holds are fine");
        let holds = [hold(0, 1, 1, 0, 10), hold(0, 2, 1, 9, 20)];
        assert_eq!(overlaps(&holds).len(), 1);
    }

    #[test]
    fn an_lver_not_above_an_earlier_released_one_regresses() {
        let fine = [hold(0, 1, 1, 0, 10), hold(0, 2, 2, 11, 20), hold(0, 1, 3, 21, 30)];
        assert!(lver_regressions(&fine).is_empty());
        let repeated = [hold(0, 1, 4, 0, 10), hold(0, 2, 4, 11, 20)];
        assert_eq!(lver_regressions(&repeated).len(), 1);
        let backwards = [hold(0, 1, 7, 0, 10), hold(0, 2, 8, 11, 20), hold(0, 3, 6, 21, 30)];
        let found = lver_regressions(&backwards);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0.lver, found[0].1.lver), (8, 6));
        // Overlapping holds are not "released before": that is an overlap.
        assert!(lver_regressions(&[hold(0, 1, 4, 0, 10), hold(0, 2, 4, 5, 20)]).is_empty());
    }

    #[test]
    fn takeover_is_measured_between_hosts_only() {
        let holds = [hold(0, 1, 1, 0, 10), hold(0, 1, 2, 12, 20), hold(0, 2, 3, 25_000_020, 30)];
        assert_eq!(takeovers_ms(&holds), vec![25.0]);
        let mut values = vec![3.0, 1.0, 2.0, 100.0];
        assert_eq!(percentile(&mut values, 50), 2.0);
        assert_eq!(percentile(&mut values, 99), 100.0);
    }
}
