//! Test support: runs a lease machine against areas held in memory with
//! instant I/O, recording each step, so tests can assert the exact reads,
//! writes and waits a machine makes. A hook may change the areas before any
//! request, standing for another host's writes landing at that moment.

use crate::clock::MonoTime;
use crate::delta::HostTable;
use crate::step::{Area, IoFailure, IoRequest, IoResult, Machine, Step};

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
