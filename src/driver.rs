//! Runs lease state machines against real disks and the real clock.
//!
//! The machine says what to read or write and until when to wait; this
//! driver does it with [`Disk`] requests (each with the machine's deadline)
//! and sleeps on the OS monotonic clock. The host table is locked only
//! while the machine takes a step, so a renewal and several acquires of one
//! lockspace can run on different threads. A wait can be cut short by a
//! [`Cancel`]. The driver keeps the disk errors it met so that a failure
//! can be reported with its path, offset and cause.

use std::sync::{Condvar, Mutex};

use crate::clock::{Clock, MonoTime, OsClock};
use crate::delta::HostTable;
use crate::disk::{Disk, DiskError};
use crate::step::{Area, IoFailure, IoRequest, IoResult, Machine, Step};

/// An area on a disk.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub disk: &'a dyn Disk,
    /// Offset of the area's first byte.
    pub offset: u64,
}

/// A flag that ends waits early, for shutdown.
#[derive(Debug, Default)]
pub struct Cancel {
    cancelled: Mutex<bool>,
    woken: Condvar,
}

impl Cancel {
    /// Cancels every wait, now and later.
    pub fn cancel(&self) {
        *self.cancelled.lock().expect("cancel lock") = true;
        self.woken.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.lock().expect("cancel lock")
    }

    /// Sleeps until `deadline` on the OS clock; false if cancelled first.
    pub fn sleep_until(&self, deadline: MonoTime) -> bool {
        let mut cancelled = self.cancelled.lock().expect("cancel lock");
        loop {
            if *cancelled {
                return false;
            }
            let remaining = deadline.saturating_since(OsClock.now());
            if remaining.is_zero() {
                return true;
            }
            cancelled = self.woken.wait_timeout(cancelled, remaining).expect("cancel lock").0;
        }
    }
}

/// The run was cancelled during a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// Where the areas a machine addresses live.
pub struct Driver<'a> {
    lockspace: Option<Target<'a>>,
    resource: Option<Target<'a>>,
    cancel: Option<&'a Cancel>,
    clock: OsClock,
    /// The disk errors met so far, in order.
    pub disk_errors: Vec<DiskError>,
    /// Time spent in reads and in writes so far (for reports, such as a
    /// lockspace's renewal history).
    pub read_time: std::time::Duration,
    pub write_time: std::time::Duration,
}

impl<'a> Driver<'a> {
    /// A driver for machines that touch only the lockspace area.
    pub fn new(lockspace: Target<'a>) -> Driver<'a> {
        Driver {
            lockspace: Some(lockspace),
            resource: None,
            cancel: None,
            clock: OsClock,
            disk_errors: Vec::new(),
            read_time: std::time::Duration::ZERO,
            write_time: std::time::Duration::ZERO,
        }
    }

    /// A driver for machines that touch only a resource area.
    pub fn for_resource(resource: Target<'a>) -> Driver<'a> {
        Driver {
            lockspace: None,
            resource: Some(resource),
            cancel: None,
            clock: OsClock,
            disk_errors: Vec::new(),
            read_time: std::time::Duration::ZERO,
            write_time: std::time::Duration::ZERO,
        }
    }

    /// The disk error that made the machine fail: the first one met. Those
    /// after it are mostly its consequences (a cleanup write refused while
    /// the write that timed out is still in flight).
    pub fn cause(&mut self) -> Option<DiskError> {
        (!self.disk_errors.is_empty()).then(|| self.disk_errors.remove(0))
    }

    /// Lets `cancel` cut waits short.
    pub fn cancelled_by(mut self, cancel: &'a Cancel) -> Driver<'a> {
        self.cancel = Some(cancel);
        self
    }

    fn target(&self, area: Area) -> Target<'a> {
        match area {
            Area::Lockspace => {
                self.lockspace.expect("a lockspace machine runs with a lockspace area")
            }
            Area::Resource => self.resource.expect("a resource machine runs with a resource area"),
        }
    }

    /// Runs `machine` to the end; waits are never cut short unless a
    /// [`Cancel`] was given.
    pub fn run<M: Machine>(
        &mut self,
        mut machine: M,
        hosts: &Mutex<HostTable>,
    ) -> Result<M::Output, Cancelled> {
        loop {
            let step = machine.next(self.clock.now(), &mut hosts.lock().expect("host table lock"));
            match step {
                Step::Io(request) => {
                    let target = self.target(request.area());
                    let offset = target.offset + request.offset();
                    let started = self.clock.now();
                    let outcome = match &request {
                        IoRequest::Read { len, deadline, .. } => {
                            target.disk.read(offset, *len, *deadline).map(Some)
                        }
                        IoRequest::Write { data, deadline, .. } => {
                            target.disk.write(offset, data, *deadline).map(|()| None)
                        }
                    };
                    let now = self.clock.now();
                    let spent = now.saturating_since(started);
                    match &request {
                        IoRequest::Read { .. } => self.read_time += spent,
                        IoRequest::Write { .. } => self.write_time += spent,
                    }
                    let mut table = hosts.lock().expect("host table lock");
                    match outcome {
                        Ok(Some(buf)) => machine.complete(now, &mut table, IoResult::Read(&buf)),
                        Ok(None) => machine.complete(now, &mut table, IoResult::Written),
                        Err(err) => {
                            // A write refused because an earlier one to
                            // the same place is still in the kernel is a
                            // device that has not answered: a timeout.
                            let failure = match err {
                                DiskError::Timeout { .. } | DiskError::WriteInFlight { .. } => {
                                    IoFailure::Timeout
                                }
                                _ => IoFailure::Error,
                            };
                            self.disk_errors.push(err);
                            machine.complete(now, &mut table, IoResult::Failed(failure));
                        }
                    }
                }
                Step::Wait(until) => match self.cancel {
                    Some(cancel) if !cancel.sleep_until(until) => return Err(Cancelled),
                    Some(_) => {}
                    None => self.clock.sleep_until(until),
                },
                Step::Done(output) => return Ok(output),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn cancel_cuts_a_sleep_short() {
        let cancel = Arc::new(Cancel::default());
        assert!(cancel.sleep_until(OsClock.now() + Duration::from_millis(1)));
        let other = Arc::clone(&cancel);
        let sleeper =
            std::thread::spawn(move || other.sleep_until(OsClock.now() + Duration::from_secs(600)));
        cancel.cancel();
        assert!(!sleeper.join().unwrap());
        assert!(cancel.is_cancelled());
    }
}
