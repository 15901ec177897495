//! The idle-name collector (`collect_idle_names`): removes names whose
//! leases have stood free for that long from the name indexes of the
//! lockspaces joined here, so that a set of names made per volume does not
//! fill the device. Off unless configured.
//!
//! A name is removed as `lease index delete` removes it: under its own
//! lease, so that nobody holds it meanwhile, and an acquire that looked it
//! up before is refused (retry) and looks it up again, adding it anew.
//! Groups themselves are never removed (an empty group is still a group);
//! the leases of members that left and of leaders that stood down are.

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Daemon;
use super::lockspace::{Lockspace, Membership};
use super::names::described;
use crate::clock::{Clock, OsClock};
use crate::direct::probe_area;
use crate::groups::{is_group_lease, is_group_own_lease};
use crate::idle_names::{IdleNames, LeaseSeen};
use crate::names::FullName;
use crate::ondisk::leader::LeaderKind;
use crate::ondisk::name::Name;
use crate::rindex::Entry;

/// How often a collector reads the indexes: a quarter of the idle time,
/// within these bounds.
const SCAN_MIN: Duration = Duration::from_secs(1);
const SCAN_MAX: Duration = Duration::from_secs(60);

impl Daemon {
    /// Starts the collector if `collect_idle_names` is set.
    pub(super) fn start_collector(self: &Arc<Self>) -> std::io::Result<()> {
        if self.config.collect_idle_names == 0 {
            return Ok(());
        }
        let idle = Duration::from_secs(self.config.collect_idle_names);
        let weak = Arc::downgrade(self);
        std::thread::Builder::new().name("leased-collector".to_owned()).spawn(move || {
            let mut names = IdleNames::new(idle);
            let scan = (idle / 4).clamp(SCAN_MIN, SCAN_MAX);
            while collect_round(&weak, &mut names) {
                OsClock.sleep_until(OsClock.now() + scan);
            }
        })?;
        Ok(())
    }

    /// Reads the index of `lockspace` and removes its idle names.
    fn collect_idle(self: &Arc<Self>, lockspace: &Arc<Lockspace>, names: &mut IdleNames) {
        let space = lockspace.spec.name;
        let Ok(place) = self.name_index(&space) else { return };
        let idle = self.read_index(&place, |index| {
            // A lockspace without a name index has nothing to collect.
            let entries = index.list().unwrap_or_default();
            let offsets: BTreeSet<u64> = entries.iter().map(|e| e.offset).collect();
            names.keep_only(space, &offsets);
            let mut idle = Vec::new();
            for entry in entries {
                // Groups stay; everything else may go once idle.
                if is_group_own_lease(&entry.name.to_string()) {
                    continue;
                }
                let probed =
                    probe_area(index.disk, &OsClock, entry.offset, LeaderKind::Paxos, Some(&space));
                let seen = match probed {
                    Ok((_, leader))
                        if leader.resource_name.same_as(&entry.name) && leader.timestamp == 0 =>
                    {
                        LeaseSeen::Free { lver: leader.lver }
                    }
                    _ => LeaseSeen::Held,
                };
                let LeaseSeen::Free { lver } = seen else {
                    names.observe(space, entry.offset, entry.name, seen, OsClock.now());
                    continue;
                };
                if names.observe(space, entry.offset, entry.name, seen, OsClock.now())
                    && let Ok(described) = described(&place, index, entry)
                {
                    idle.push((entry, described.name, lver));
                }
            }
            Ok(idle)
        });
        for (entry, full, lver) in idle.unwrap_or_default() {
            let Some(name) = full_name_of(&entry, full) else { continue };
            // Only at the lease version every reading saw: a name taken
            // and let go since is not idle.
            match self.delete_name(&space, &name, Some(lver), || Ok(())) {
                Ok(_) => tracing::info!(lockspace = %space, name = %name, "removed an idle name"),
                Err(err) => {
                    // Timed afresh: a lease held shared looks free, and is
                    // tried once per idle time, not at every reading.
                    names.restart(space, entry.offset);
                    tracing::debug!(lockspace = %space, name = %name, "idle name kept: {err}");
                }
            }
        }
    }
}

/// The full name of index entry `entry`, whose record reads `full`: a
/// group's lease keeps its stored name; anyone else's must map to it.
fn full_name_of(entry: &Entry, full: String) -> Option<FullName> {
    let stored = entry.name.to_string();
    let name = if is_group_lease(&stored) {
        FullName::grouped(full, entry.name).ok()?
    } else {
        FullName::new(&full).ok()?
    };
    name.stored().same_as(&entry.name).then_some(name)
}

/// One round over the joined lockspaces, if the daemon still runs.
fn collect_round(daemon: &Weak<Daemon>, names: &mut IdleNames) -> bool {
    let Some(daemon) = daemon.upgrade() else { return false };
    if daemon.shutting_down.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    let joined: Vec<Arc<Lockspace>> = daemon
        .lockspace_list()
        .into_iter()
        .filter(|ls| matches!(ls.membership(), Membership::Joined { .. }))
        .collect();
    let spaces: BTreeSet<Name> = joined.iter().map(|ls| ls.spec.name).collect();
    for lockspace in &joined {
        daemon.collect_idle(lockspace, names);
    }
    // Lockspaces left: what was timed in them is forgotten.
    names.keep_lockspaces(&spaces);
    true
}
