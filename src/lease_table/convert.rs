//! Converting a held lease between EX and SH, and what a conversion that
//! failed leaves held.
//!
//! EX to SH adds our SHARED mode block before it lets the exclusive lease
//! go ([`PaxosShare`]); SH to EX runs a ballot whose every write keeps our
//! SHARED mode block. Either way a conversion that fails leaves the lease
//! on disk as it was, or stricter, never less: the holder keeps what it
//! had.

use super::LetGo;
use crate::clock::MonoTime;
use crate::delta::HostTable;
use crate::paxos::{AcquireOptions, Held, Mode, Mutation, PaxosAcquire, PaxosError, PaxosShare};
use crate::step::{IoResult, Machine, Step};
use crate::timeouts::Timeouts;

/// A conversion under way.
#[derive(Debug)]
pub enum Conversion {
    Share(Box<PaxosShare>),
    Exclusive(Box<PaxosAcquire>),
}

impl Conversion {
    /// The conversion of `held` to `to`, or `None` if it is held so.
    pub fn new(
        held: &Held,
        to: Mode,
        timeouts: Timeouts,
        seed: u64,
        mutation: Mutation,
    ) -> Option<Conversion> {
        match (held.mode, to) {
            (from, to) if from == to => None,
            (Mode::Exclusive, _) => {
                Some(Conversion::Share(Box::new(PaxosShare::new(held.clone(), timeouts))))
            }
            (Mode::Shared, _) => {
                let options = AcquireOptions {
                    mode: Mode::Exclusive,
                    expected_lver: None,
                    wait_for_dead_owner: false,
                    read_lvb: false,
                    seed,
                    mutation,
                };
                let machine = PaxosAcquire::new(
                    held.resource,
                    held.host_id,
                    held.generation,
                    timeouts,
                    options,
                );
                Some(Conversion::Exclusive(Box::new(machine)))
            }
        }
    }

    /// After the conversion failed: `held` is brought to what the disk
    /// shows of it (our dblock as last written, so that its ballot numbers
    /// never go back), and what must be withdrawn before the lease is
    /// handed back to its holder is returned. The withdrawal keeps the
    /// SHARED mode block: the lease stays held shared.
    pub fn failed(&self, held: &mut Held) -> Option<LetGo> {
        let Conversion::Exclusive(machine) = self else {
            // A failed share leaves the exclusive lease intact.
            return None;
        };
        if let Some(block) = machine.last_written() {
            held.block = block;
        }
        machine.withdrawal().map(LetGo::Withdraw)
    }
}

impl Machine for Conversion {
    type Output = Result<Held, PaxosError>;

    fn next(&mut self, now: MonoTime, hosts: &mut HostTable) -> Step<Self::Output> {
        match self {
            Conversion::Share(machine) => machine.next(now, hosts),
            Conversion::Exclusive(machine) => machine.next(now, hosts),
        }
    }

    fn complete(&mut self, now: MonoTime, hosts: &mut HostTable, result: IoResult<'_>) {
        match self {
            Conversion::Share(machine) => machine.complete(now, hosts, result),
            Conversion::Exclusive(machine) => machine.complete(now, hosts, result),
        }
    }
}
