//! Recovery: a lockspace's host_id lease is lost, so every lease in it is
//! void and the processes holding them must stop before other hosts may
//! take the leases.
//!
//! ```text
//!  lost ──▶ killpath ──▶ SIGTERM ──▶ SIGKILL          (fencing "terminate")
//!   │        t = 0        grace/2     grace
//!   │
//!   └─ every holder gone, no write in flight ──▶ stopped: the watchdog
//!      client is removed and the host lives on
//!      a holder still running when the watchdog fires ──▶ the host is reset
//! ```
//!
//! The watchdog does not wait for recovery: it stops being kept alive one
//! test interval before the lockspace's expiry whatever recovery does, so
//! recovery only decides whether the host survives, never whether other
//! hosts are safe.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Daemon;
use super::leases::Owner;
use super::lockspace::{Lockspace, Membership};
use super::process::Process;
use super::registered::{Killpath, Restrict};
use super::resources::background;
use crate::api::results::HolderRecovery;
use crate::clock::{Clock, OsClock};

/// How the holders of a failed lockspace's leases are stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Fencing {
    /// Killpath, then SIGTERM, then SIGKILL at the kill grace.
    Terminate,
    /// SIGKILL at once.
    Kill,
    /// Signal nothing: the watchdog resets the host.
    Reset,
}

impl Fencing {
    pub fn as_str(self) -> &'static str {
        match self {
            Fencing::Terminate => "terminate",
            Fencing::Kill => "kill",
            Fencing::Reset => "reset",
        }
    }
}

/// One thing done to a holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Killpath,
    Term,
    Kill,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Killpath => "killpath",
            Step::Term => "sigterm",
            Step::Kill => "sigkill",
        }
    }
}

/// The steps taken against every holder, each with its time from the
/// start of recovery, in order.
pub fn plan(fencing: Fencing, killpath: bool, grace: Duration) -> Vec<(Duration, Step)> {
    match fencing {
        Fencing::Terminate if killpath => {
            vec![(Duration::ZERO, Step::Killpath), (grace / 2, Step::Term), (grace, Step::Kill)]
        }
        Fencing::Terminate => vec![(Duration::ZERO, Step::Term), (grace, Step::Kill)],
        Fencing::Kill => vec![(Duration::ZERO, Step::Kill)],
        Fencing::Reset => Vec::new(),
    }
}

/// Where recovery stands, for `status`.
#[derive(Clone, Debug, Default)]
pub struct RecoveryProgress {
    pub fencing: &'static str,
    pub holders: Vec<HolderRecovery>,
    pub writes_pending: usize,
}

/// A holder being stopped.
struct Holder {
    process: Arc<Process>,
    /// The steps to take against it, with their times.
    plan: Vec<(Duration, Step)>,
    /// The next step of the plan.
    next: usize,
    last: Option<(Step, Duration)>,
    killpath: Option<Killpath>,
    /// Signals it asked not to be sent.
    restrict: Restrict,
    /// Its killpath, while that runs.
    running: Option<Child>,
    exit_logged: bool,
}

/// How often recovery looks at its holders and writes.
const POLL: Duration = Duration::from_millis(50);

impl Daemon {
    /// The host_id lease of `lockspace` is lost: its leases are void, their
    /// holders are stopped, and the lockspace is stopped once they are all
    /// gone. Runs on a thread of its own.
    pub(super) fn lockspace_failed(self: &Arc<Self>, lockspace: &Arc<Lockspace>) {
        let daemon = Arc::clone(self);
        let lockspace = Arc::clone(lockspace);
        background("leased-recover", move || daemon.recover(&lockspace));
    }

    /// Takes the leases of `lockspace` out of the table, void, and returns
    /// their holders and how many of its slots are still busy: an acquire
    /// or a convert under way may yet put a lease back, which a later call
    /// takes in turn.
    fn take_void_leases(&self, lockspace: &Lockspace) -> (usize, Vec<Arc<Process>>, usize) {
        let name = &lockspace.spec.name;
        let mut table = self.leases.lock().expect("leases lock");
        let leases = table.take_in(name);
        let mut holders = Vec::new();
        for lease in &leases {
            table.free(&lease.key);
            if let Owner::Process(process) = &lease.owner {
                holders.push(Arc::clone(process));
            }
        }
        table.forget_abandoned_in(name);
        let busy = table.busy_in(name);
        drop(table);
        self.slot_freed.notify_all();
        (leases.len(), holders, busy)
    }

    fn recover(&self, lockspace: &Lockspace) {
        let name = lockspace.spec.name;
        let start = OsClock.now();
        let grace = Duration::from_secs(self.config.kill_grace);
        let mut holders: Vec<Holder> = Vec::new();
        let mut reset_logged = false;
        let mut first = true;
        loop {
            let (void, taken, busy) = self.take_void_leases(lockspace);
            for process in taken {
                if !holders.iter().any(|h| Arc::ptr_eq(&h.process, &process)) {
                    // A registered holder's own killpath comes before the
                    // configured one.
                    let registered = self.registration_of(&process);
                    let killpath = registered.as_ref().and_then(|r| r.killpath()).or_else(|| {
                        self.config.killpath.split_first().map(|(program, args)| Killpath {
                            program: program.into(),
                            args: args.iter().map(Into::into).collect(),
                            append_pid: true,
                        })
                    });
                    let restrict = registered.map(|r| r.restrict()).unwrap_or_default();
                    let plan = plan(self.config.fencing, killpath.is_some(), grace);
                    holders.push(Holder::new(process, plan, killpath, restrict));
                }
            }
            if first || void > 0 {
                tracing::error!(
                    lockspace = %name, leases = void, holders = holders.len(),
                    fencing = self.config.fencing.as_str(),
                    "lockspace failed: its leases are void; stopping their holders"
                );
                if self.config.fencing == Fencing::Reset && !holders.is_empty() {
                    tracing::error!(
                        lockspace = %name,
                        "fencing is reset: the holders are not signalled, and the watchdog will \
                         reset this host unless they exit by themselves"
                    );
                }
                first = false;
            }
            let elapsed = OsClock.now().saturating_since(start);
            for holder in &mut holders {
                self.advance(lockspace, holder, elapsed);
            }
            let alive: Vec<u32> =
                holders.iter().filter(|h| h.process.alive()).map(|h| h.process.pid).collect();
            let writes = lockspace.writes_pending() + self.resource_writes_in_flight() + busy;
            *lockspace.recovery.lock().expect("recovery lock") = Some(RecoveryProgress {
                fencing: self.config.fencing.as_str(),
                holders: holders.iter().map(Holder::status).collect(),
                writes_pending: writes,
            });
            if alive.is_empty() && writes == 0 {
                break;
            }
            let plan_done = holders.iter().all(|h| h.next == h.plan.len());
            let last_step = holders
                .iter()
                .filter_map(|h| h.plan.last().map(|&(at, _)| at))
                .max()
                .unwrap_or(Duration::ZERO);
            if !reset_logged && plan_done && elapsed >= last_step + Duration::from_secs(1) {
                tracing::error!(
                    lockspace = %name, holders = ?alive, writes_pending = writes,
                    "recovery cannot finish: the watchdog will reset this host"
                );
                reset_logged = true;
            }
            OsClock.sleep_until(OsClock.now() + POLL);
        }
        for holder in &mut holders {
            if let Some(mut child) = holder.running.take() {
                // The holder is gone: a killpath still running is moot.
                let _ = child.kill();
                let _ = child.wait();
            }
            // One that died right after its last signal was not seen
            // exiting by a step.
            if !holder.exit_logged {
                let pid = holder.process.pid;
                tracing::warn!(lockspace = %name, pid, "holder of void leases exited");
                holder.exit_logged = true;
            }
        }
        lockspace.stopped();
        tracing::warn!(
            lockspace = %name, seconds = OsClock.now().saturating_since(start).as_secs_f64(),
            "lockspace stopped: every holder is gone and no write is in flight; this host will \
             not be reset for it"
        );
    }

    /// Takes the steps of `plan` now due against one holder.
    fn advance(&self, lockspace: &Lockspace, holder: &mut Holder, elapsed: Duration) {
        let pid = holder.process.pid;
        let name = lockspace.spec.name;
        if let Some(child) = &mut holder.running
            && let Ok(Some(status)) = child.try_wait()
        {
            tracing::info!(lockspace = %name, pid, %status, "killpath finished");
            holder.running = None;
        }
        if !holder.process.alive() {
            if !holder.exit_logged {
                tracing::warn!(lockspace = %name, pid, "holder of void leases exited");
                holder.exit_logged = true;
            }
            return;
        }
        while let Some(&(at, step)) = holder.plan.get(holder.next)
            && at <= elapsed
        {
            holder.next += 1;
            holder.last = Some((step, elapsed));
            match (step, &holder.killpath) {
                (Step::Killpath, Some(killpath)) => {
                    holder.running = run_killpath(killpath, &name.to_string(), pid);
                }
                (Step::Killpath, None) => {}
                (Step::Term | Step::Kill, _) => {
                    let wanted = if step == Step::Term { libc::SIGTERM } else { libc::SIGKILL };
                    let signal = holder.restrict.signal(wanted);
                    tracing::warn!(lockspace = %name, pid, "{} to a holder of void leases", step.as_str());
                    if let Err(err) = holder.process.signal(signal) {
                        tracing::warn!(lockspace = %name, pid, "{}: {err}", step.as_str());
                    }
                }
            }
        }
    }

    /// Writes to resource disks still in the kernel, timed out or not.
    pub(super) fn resource_writes_in_flight(&self) -> usize {
        self.disks.lock().expect("disks lock").values().map(|d| d.writes_in_flight()).sum()
    }

    /// The lockspaces still being recovered.
    pub(super) fn recovering(&self) -> Vec<String> {
        self.lockspaces
            .lock()
            .expect("lockspaces lock")
            .values()
            .filter(|ls| matches!(ls.membership(), Membership::Lost { .. }))
            .map(|ls| ls.spec.name.to_string())
            .collect()
    }
}

/// Starts `killpath` against `pid`.
fn run_killpath(killpath: &Killpath, lockspace: &str, pid: u32) -> Option<Child> {
    tracing::warn!(lockspace, pid, ?killpath, "running the killpath");
    let mut command = Command::new(&killpath.program);
    command.args(&killpath.args);
    if killpath.append_pid {
        command.arg(pid.to_string());
    }
    let spawned = command
        .env("LEASE_LOCKSPACE", lockspace)
        .env("LEASE_PID", pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn();
    match spawned {
        Ok(child) => Some(child),
        Err(err) => {
            let program = killpath.program.to_string_lossy();
            tracing::error!(lockspace, pid, "cannot run the killpath {program}: {err}");
            None
        }
    }
}

impl Holder {
    fn new(
        process: Arc<Process>,
        plan: Vec<(Duration, Step)>,
        killpath: Option<Killpath>,
        restrict: Restrict,
    ) -> Holder {
        Holder {
            process,
            plan,
            next: 0,
            last: None,
            killpath,
            restrict,
            running: None,
            exit_logged: false,
        }
    }

    fn status(&self) -> HolderRecovery {
        HolderRecovery {
            pid: self.process.pid,
            alive: self.process.alive(),
            step: self.last.map(|(step, _)| step.as_str().to_owned()),
            step_at_s: self.last.map(|(_, at)| at.as_secs_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_escalates_within_the_grace() {
        let grace = Duration::from_secs(40);
        let steps = |fencing, killpath| -> Vec<(u64, Step)> {
            plan(fencing, killpath, grace).into_iter().map(|(at, s)| (at.as_secs(), s)).collect()
        };
        assert_eq!(
            steps(Fencing::Terminate, true),
            [(0, Step::Killpath), (20, Step::Term), (40, Step::Kill)]
        );
        assert_eq!(steps(Fencing::Terminate, false), [(0, Step::Term), (40, Step::Kill)]);
        assert_eq!(steps(Fencing::Kill, true), [(0, Step::Kill)]);
        assert_eq!(steps(Fencing::Reset, true), []);
        for fencing in [Fencing::Terminate, Fencing::Kill] {
            let plan = plan(fencing, true, grace);
            assert!(plan.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
            assert_eq!(plan.last().map(|&(_, s)| s), Some(Step::Kill), "ends with SIGKILL");
        }
    }
}
