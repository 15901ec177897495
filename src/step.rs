//! What a lease state machine asks of its driver, and what it is told back.
//!
//! Lease logic never does I/O and never reads a clock. Each operation (join,
//! renew, acquire, release) is a [`Machine`]: the driver calls
//! [`Machine::next`] with the current time and gets a [`Step`]: a read or a
//! write to perform (with its deadline), a time to wait until, or the result.
//! After an I/O the driver reports its outcome with [`Machine::complete`].
//!
//! ```text
//!            +-----------+   next(now)    +--------+
//!            |           | -------------> |        |
//!            |  driver   |  Step::Io(req) | machine|
//!            | (real or  | <------------- |        |
//!            | simulated)|  complete(res) |        |
//!            |           | -------------> |        |
//!            +-----------+                +--------+
//! ```
//!
//! One driver runs machines against O_DIRECT disks and the real clock
//! ([`crate::driver`]); the simulator runs many hosts' machines against one
//! simulated disk and virtual time, completing their I/O in any order.
//!
//! Offsets in requests are relative to the start of the area they address,
//! so machines know nothing of paths or absolute offsets.

use crate::clock::MonoTime;
use crate::delta::HostTable;

/// Which area an I/O addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Area {
    /// The lockspace area (delta leases).
    Lockspace,
    /// The resource area the operation is about.
    Resource,
}

/// One I/O a machine needs done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IoRequest {
    Read { area: Area, offset: u64, len: usize, deadline: MonoTime },
    Write { area: Area, offset: u64, data: Vec<u8>, deadline: MonoTime },
}

impl IoRequest {
    /// The area addressed.
    pub fn area(&self) -> Area {
        match self {
            IoRequest::Read { area, .. } | IoRequest::Write { area, .. } => *area,
        }
    }

    /// The offset within the area.
    pub fn offset(&self) -> u64 {
        match self {
            IoRequest::Read { offset, .. } | IoRequest::Write { offset, .. } => *offset,
        }
    }

    /// Bytes moved.
    pub fn len(&self) -> usize {
        match self {
            IoRequest::Read { len, .. } => *len,
            IoRequest::Write { data, .. } => data.len(),
        }
    }

    /// Whether no byte is moved (never true of a valid request).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The time by which the request must complete.
    pub fn deadline(&self) -> MonoTime {
        match self {
            IoRequest::Read { deadline, .. } | IoRequest::Write { deadline, .. } => *deadline,
        }
    }
}

/// What the machine wants next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<T> {
    /// Perform this I/O, then call `complete` with its outcome.
    Io(IoRequest),
    /// Call `next` again at this time (or later).
    Wait(MonoTime),
    /// The operation is over.
    Done(T),
}

/// Why an I/O failed. Details (errno, path) are for the driver's logs; the
/// protocol only needs to know that the request did not complete, and
/// whether it may still land.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoFailure {
    /// No answer by the deadline: a write may still land.
    Timeout,
    /// The device reported an error: a write may have landed in part.
    Error,
}

impl std::fmt::Display for IoFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IoFailure::Timeout => "I/O timed out",
            IoFailure::Error => "I/O error",
        })
    }
}

/// The outcome of the machine's last I/O request.
#[derive(Debug)]
pub enum IoResult<'a> {
    /// A read completed with these bytes (exactly the length asked for).
    Read(&'a [u8]),
    /// A write completed: it has landed.
    Written,
    /// The request failed.
    Failed(IoFailure),
}

/// A sans-I/O lease operation.
///
/// Each machine sees the host's liveness table of the other hosts in the
/// lockspace: renewals feed it, acquires consult it.
pub trait Machine {
    type Output;

    /// The next step, at time `now`. After `Step::Done` the machine must not
    /// be called again.
    fn next(&mut self, now: MonoTime, hosts: &mut HostTable) -> Step<Self::Output>;

    /// The outcome of the `Step::Io` just returned, completed at `now`.
    fn complete(&mut self, now: MonoTime, hosts: &mut HostTable, result: IoResult<'_>);
}

/// A machine borrowed for a run, so its caller can still ask it things
/// afterwards (what a failed acquire left behind, say).
impl<M: Machine> Machine for &mut M {
    type Output = M::Output;

    fn next(&mut self, now: MonoTime, hosts: &mut HostTable) -> Step<Self::Output> {
        (**self).next(now, hosts)
    }

    fn complete(&mut self, now: MonoTime, hosts: &mut HostTable, result: IoResult<'_>) {
        (**self).complete(now, hosts, result)
    }
}
