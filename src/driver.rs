//! Runs lease state machines against real disks and the real clock.
//!
//! The machine says what to read or write and until when to wait; this
//! driver does it with [`Disk`] requests (each with the machine's deadline)
//! and sleeps on the OS monotonic clock. It keeps the disk errors it met so
//! that a failure can be reported with its path, offset and cause.

use crate::clock::{Clock, OsClock};
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

/// Where the areas a machine addresses live.
pub struct Driver<'a> {
    lockspace: Target<'a>,
    resource: Option<Target<'a>>,
    clock: OsClock,
    /// The disk errors met so far, in order.
    pub disk_errors: Vec<DiskError>,
}

impl<'a> Driver<'a> {
    /// A driver for machines that touch only the lockspace area.
    pub fn new(lockspace: Target<'a>) -> Driver<'a> {
        Driver { lockspace, resource: None, clock: OsClock, disk_errors: Vec::new() }
    }

    /// A driver for machines that also touch a resource area.
    pub fn with_resource(lockspace: Target<'a>, resource: Target<'a>) -> Driver<'a> {
        Driver { resource: Some(resource), ..Driver::new(lockspace) }
    }

    fn target(&self, area: Area) -> Target<'a> {
        match area {
            Area::Lockspace => self.lockspace,
            Area::Resource => self.resource.expect("a resource machine runs with a resource area"),
        }
    }

    /// Runs `machine` to the end.
    pub fn run<M: Machine>(&mut self, mut machine: M, hosts: &mut HostTable) -> M::Output {
        loop {
            match machine.next(self.clock.now(), hosts) {
                Step::Io(request) => {
                    let target = self.target(request.area());
                    let offset = target.offset + request.offset();
                    let outcome = match &request {
                        IoRequest::Read { len, deadline, .. } => {
                            target.disk.read(offset, *len, *deadline).map(Some)
                        }
                        IoRequest::Write { data, deadline, .. } => {
                            target.disk.write(offset, data, *deadline).map(|()| None)
                        }
                    };
                    let now = self.clock.now();
                    match outcome {
                        Ok(Some(buf)) => machine.complete(now, hosts, IoResult::Read(&buf)),
                        Ok(None) => machine.complete(now, hosts, IoResult::Written),
                        Err(err) => {
                            let failure = match err {
                                DiskError::Timeout { .. } => IoFailure::Timeout,
                                _ => IoFailure::Error,
                            };
                            self.disk_errors.push(err);
                            machine.complete(now, hosts, IoResult::Failed(failure));
                        }
                    }
                }
                Step::Wait(until) => self.clock.sleep_until(until),
                Step::Done(output) => return output,
            }
        }
    }
}
