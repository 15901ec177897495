//! Test support: runs a lease machine against areas held in memory with
//! instant I/O, recording each step, so tests can assert the exact reads,
//! writes and waits a machine makes. A hook may change the areas before any
//! request, standing for another host's writes landing at that moment.

use crate::clock::MonoTime;
use crate::delta::{DeltaAcquire, HostLease, HostTable, JoinOptions, LockspaceRef, Reacquire};
use crate::ondisk::area::fill_lockspace;
use crate::ondisk::geometry::{Geometry, SectorSize};
use crate::ondisk::name::Name;
use crate::step::{Area, IoFailure, IoRequest, IoResult, Machine, Step};
use crate::timeouts::Timeouts;

/// A lockspace area and a resource area in memory.
#[derive(Clone, Debug, Default)]
pub struct Areas {
    pub lockspace: Vec<u8>,
    pub resource: Vec<u8>,
}

impl Areas {
    pub fn area_mut(&mut self, area: Area) -> &mut Vec<u8> {
        match area {
            Area::Lockspace => &mut self.lockspace,
            Area::Resource => &mut self.resource,
        }
    }
}

/// What the hook decides about a request.
pub enum Fate {
    Complete,
    Fail(IoFailure),
}

/// Runs `machine` from `start`, answering I/O instantly and jumping to the
/// end of each wait. Returns one line per step and the result.
pub fn run<M: Machine>(
    mut machine: M,
    areas: &mut Areas,
    hosts: &mut HostTable,
    start: MonoTime,
    mut hook: impl FnMut(usize, &IoRequest, &mut Areas) -> Fate,
) -> (Vec<String>, M::Output) {
    let mut now = start;
    let mut trace = Vec::new();
    loop {
        match machine.next(now, hosts) {
            Step::Io(request) => {
                let index = trace.len();
                let fate = hook(index, &request, areas);
                let area = match request.area() {
                    Area::Lockspace => "ls",
                    Area::Resource => "res",
                };
                let offset = request.offset() as usize;
                match (&request, fate) {
                    (IoRequest::Read { len, .. }, Fate::Complete) => {
                        trace.push(format!("read {area} {offset}+{len}"));
                        let data = areas.area_mut(request.area())[offset..offset + len].to_vec();
                        machine.complete(now, hosts, IoResult::Read(&data));
                    }
                    (IoRequest::Write { data, .. }, Fate::Complete) => {
                        trace.push(format!("write {area} {offset}+{}", data.len()));
                        let target = areas.area_mut(request.area());
                        target[offset..offset + data.len()].copy_from_slice(data);
                        machine.complete(now, hosts, IoResult::Written);
                    }
                    (_, Fate::Fail(failure)) => {
                        let op = if matches!(request, IoRequest::Read { .. }) {
                            "read"
                        } else {
                            "write"
                        };
                        trace.push(format!("{op} {area} {offset}+{} failed", request.len()));
                        machine.complete(now, hosts, IoResult::Failed(failure));
                    }
                }
            }
            Step::Wait(until) => {
                assert!(until >= now, "waits go forward");
                trace.push(format!("wait {:?}", until.saturating_since(now)));
                now = until;
            }
            Step::Done(output) => return (trace, output),
        }
    }
}

/// A hook that lets every request complete untouched.
pub fn untouched(_: usize, _: &IoRequest, _: &mut Areas) -> Fate {
    Fate::Complete
}

/// Lockspace "ls" on 512-byte sectors as `lease direct init` leaves it,
/// every host_id free, recording `io_timeout_s`.
pub fn fresh_lockspace(io_timeout_s: u8) -> (LockspaceRef, Vec<u8>) {
    let geometry = Geometry::default_for(SectorSize::B512);
    let name = Name::new("ls").expect("a valid name");
    let mut area = vec![0u8; geometry.area_bytes() as usize];
    let committed = fill_lockspace(&mut area, geometry, name, io_timeout_s);
    area[..committed.len()].copy_from_slice(&committed);
    (LockspaceRef { name, geometry }, area)
}

/// Joins `lockspace` as `host_id` named "us" at `at`, with instant I/O.
pub fn join_as(
    lockspace: LockspaceRef,
    host_id: u64,
    timeouts: Timeouts,
    areas: &mut Areas,
    hosts: &mut HostTable,
    at: MonoTime,
) -> HostLease {
    let name = Name::new("us").expect("a valid name");
    let join = DeltaAcquire::new(
        lockspace,
        host_id,
        name,
        timeouts,
        JoinOptions { reacquire: Reacquire::Wait },
    );
    run(join, areas, hosts, at, untouched).1.expect("the host_id is free")
}
