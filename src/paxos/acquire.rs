//! Acquiring a resource lease, exclusive or shared.
//!
//! ```text
//! read leader + dblocks ─ leader/lver/name checks
//!   │ owner: free, ours, released, left, restarted, dead → ballot
//!   │        alive → OWNER ALIVE;  short hold → SHORT HOLD (retry)
//!   │        failing → wait until it may be dead, or OWNER FAILING
//!   │ EX and a live SH holder → SHARED HELD
//!   ▼
//! phase 1: write our dblock (new mbal) ─ read all ─ higher mbal/lver → back off, retry
//! phase 2: write our dblock (bal, inp)  ─ read all ─ higher mbal/lver → back off, retry
//!          EX and a live SH holder → mark our dblock RELEASED → SHARED HELD
//! commit:  write the leader (lver + 1, owner = the chosen inp)
//!          chosen inp is another host → OTHER OWNER
//! SH:      write our sector: dblock RELEASED + mode SHARED; free the leader
//! ```
//!
//! I/O of a free lease: 3 reads (leader + request + num_hosts dblocks) and 3
//! one-sector writes; 5 writes for SH. After a failure past the commit, the
//! machine makes a best effort to leave nothing that names it: its dblock is
//! marked RELEASED and a leader it wrote is freed.

use std::time::Duration;

use super::ballot::{Abort, evaluate, next_mbal, phase1_block, phase2_block};
use super::owner::{OwnerVerdict, judge_owner, shared_holder_may_hold};
use super::{Held, Mode, PaxosError, ResourceRef, dblock_sector, freed_leader};
use crate::clock::MonoTime;
use crate::delta::HostTable;
use crate::ondisk::RecordProblem;
use crate::ondisk::dblock::{DBLOCK_FLAG_RELEASED, Dblock, MODE_FLAG_SHARED, ModeBlock};
use crate::ondisk::leader::{LEADER_FLAG_SHORT_HOLD, LeaderKind, LeaderRecord};
use crate::rng::Rng;
use crate::step::{Area, IoRequest, IoResult, Machine, Step};
use crate::timeouts::Timeouts;

/// Ballots lost in a row before an acquire gives up.
pub const MAX_BALLOTS: u32 = 20;

/// A deliberately broken variant of the algorithm, chosen at run time so the
/// simulator can prove its oracle catches such bugs. Production code always
/// runs [`Mutation::None`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mutation {
    #[default]
    None,
    /// Take a lease over without waiting for its owner to be dead.
    NoDeadWait,
    /// Commit right after phase 1, skipping phase 2.
    SkipPhase2,
    /// Commit the new owner under the lease version found, not the next:
    /// the fencing token is handed out twice.
    ReuseLver,
    /// A shared lease converted to exclusive drops its SHARED mode block
    /// with the ballot's first write: a conversion that fails leaves the
    /// disk saying we hold nothing while we still hold it shared.
    ConvertDropsShared,
}

/// What to acquire, and how.
#[derive(Clone, Copy, Debug)]
pub struct AcquireOptions {
    pub mode: Mode,
    /// Fail unless the lease version is this one.
    pub expected_lver: Option<u64>,
    /// When the owner stopped renewing, wait until it is dead instead of
    /// failing at once.
    pub wait_for_dead_owner: bool,
    /// Read the lock value block once acquired.
    pub read_lvb: bool,
    /// Seeds the random back-off between lost ballots.
    pub seed: u64,
    pub mutation: Mutation,
}

impl AcquireOptions {
    /// An exclusive acquire that fails at once on a live or failing owner.
    pub fn exclusive(seed: u64) -> AcquireOptions {
        AcquireOptions {
            mode: Mode::Exclusive,
            expected_lver: None,
            wait_for_dead_owner: false,
            read_lvb: false,
            seed,
            mutation: Mutation::None,
        }
    }
}

/// Acquires one resource for host `host_id` in generation `generation`.
#[derive(Debug)]
pub struct PaxosAcquire {
    resource: ResourceRef,
    host_id: u64,
    generation: u64,
    timeouts: Timeouts,
    options: AcquireOptions,
    rng: Rng,
    ballots: u32,
    /// Our dblock as last written by this machine.
    own: Option<Dblock>,
    /// The mode block every write of our sector carries: our SHARED one
    /// while converting a shared lease to exclusive, so that no failure of
    /// the conversion drops the shared lease from the disk.
    keep: ModeBlock,
    /// The highest lver of an instance this host won and let go of, as
    /// our dblock showed it (RELEASED, naming us) before any write of ours.
    released: Option<u64>,
    /// The lowest lver a ballot may run for.
    floor_lver: u64,
    /// False once a write was issued that a failure may leave behind.
    clean: bool,
    /// A leader write of ours failed and no later write of ours to the
    /// leader sector landed: it may still be in flight, so retracting our
    /// dblock alone does not leave the area clean.
    leader_unsettled: bool,
    /// Why the current ballot may take the lease from another host.
    takeover: Option<OwnerVerdict>,
    state: State,
}

/// One ballot in progress.
#[derive(Clone, Debug)]
struct Ballot {
    /// The leader as read before the ballot.
    leader: LeaderRecord,
    block: Dblock,
    mode: ModeBlock,
}

#[derive(Debug)]
enum State {
    Read,
    Reading,
    Pause {
        until: MonoTime,
    },
    Phase1 {
        ballot: Ballot,
    },
    Phase1Writing {
        ballot: Ballot,
    },
    Phase1Read {
        ballot: Ballot,
    },
    Phase1Reading {
        ballot: Ballot,
    },
    Phase2 {
        ballot: Ballot,
        best: Option<Dblock>,
    },
    Phase2Writing {
        ballot: Ballot,
    },
    Phase2Read {
        ballot: Ballot,
    },
    Phase2Reading {
        ballot: Ballot,
    },
    Commit {
        ballot: Ballot,
    },
    Committing {
        ballot: Ballot,
        leader: LeaderRecord,
    },
    ShareMark {
        ballot: Ballot,
        leader: LeaderRecord,
    },
    ShareMarking {
        ballot: Ballot,
        leader: LeaderRecord,
        block: Dblock,
    },
    ShareFree {
        leader: LeaderRecord,
        block: Dblock,
    },
    ShareFreeing {
        leader: LeaderRecord,
        block: Dblock,
    },
    ReadLvb {
        held: Held,
    },
    ReadingLvb {
        held: Held,
    },
    /// Best-effort cleanup before failing: our dblock, then the leader if
    /// it names us and we wrote it.
    Retract {
        block: Dblock,
        leader: Option<LeaderRecord>,
        error: PaxosError,
    },
    Retracting {
        leader: Option<LeaderRecord>,
        error: PaxosError,
    },
    FreeLeader {
        leader: LeaderRecord,
        error: PaxosError,
    },
    FreeingLeader {
        error: PaxosError,
    },
    Finished(Result<Held, PaxosError>),
    Done,
}

/// What a phase's read shows when the ballot may go on.
struct PhaseView {
    /// The accepted value to carry on, if any.
    best: Option<Dblock>,
    /// Hosts whose mode block says SHARED.
    modes: Vec<(u64, ModeBlock)>,
}

/// What the ballot reads show.
enum Reading {
    /// The area as it is: go on.
    Area {
        leader: LeaderRecord,
        blocks: Vec<(u64, Dblock)>,
        modes: Vec<(u64, ModeBlock)>,
    },
    Failed(PaxosError),
}

impl PaxosAcquire {
    pub fn new(
        resource: ResourceRef,
        host_id: u64,
        generation: u64,
        timeouts: Timeouts,
        options: AcquireOptions,
    ) -> PaxosAcquire {
        assert!(host_id >= 1 && generation >= 1, "acquires are made by a joined host");
        PaxosAcquire {
            resource,
            host_id,
            generation,
            timeouts,
            options,
            rng: Rng::new(options.seed),
            ballots: 0,
            own: None,
            keep: ModeBlock::default(),
            released: None,
            floor_lver: 0,
            clean: true,
            leader_unsettled: false,
            takeover: None,
            state: State::Read,
        }
    }

    fn deadline(&self, now: MonoTime) -> MonoTime {
        now + self.timeouts.io_timeout()
    }

    fn read_area(&self, now: MonoTime) -> IoRequest {
        IoRequest::Read {
            area: Area::Resource,
            offset: 0,
            len: self.resource.ballot_len(),
            deadline: self.deadline(now),
        }
    }

    fn write_own(&self, now: MonoTime, block: &Dblock, mode: &ModeBlock) -> IoRequest {
        IoRequest::Write {
            area: Area::Resource,
            offset: self.resource.dblock_offset(self.host_id),
            data: dblock_sector(block, mode, self.resource.sector_len()),
            deadline: self.deadline(now),
        }
    }

    fn write_leader(&self, now: MonoTime, leader: &LeaderRecord) -> IoRequest {
        let mut data = vec![0u8; self.resource.sector_len()];
        leader.encode_into(&mut data);
        IoRequest::Write { area: Area::Resource, offset: 0, data, deadline: self.deadline(now) }
    }

    /// Decodes and checks the leader and every dblock of a ballot read.
    fn parse(&self, area: &[u8]) -> Reading {
        let sector = self.resource.sector_len();
        let leader = LeaderRecord::decode_prefix(area);
        let corrupt = |offset, problem| Reading::Failed(PaxosError::Corrupt { offset, problem });
        let geometry = match leader.verify_in(LeaderKind::Paxos, &self.resource.lockspace) {
            Ok(geometry) => geometry,
            Err(problem) => return corrupt(0, problem),
        };
        if !leader.resource_name.same_as(&self.resource.name) {
            let problem = RecordProblem::WrongResource {
                found: leader.resource_name.to_string(),
                expected: self.resource.name.to_string(),
            };
            return corrupt(0, problem);
        }
        if geometry != self.resource.geometry || leader.num_hosts != self.resource.num_hosts {
            return Reading::Failed(PaxosError::NumHostsChanged {
                found: leader.num_hosts,
                expected: self.resource.num_hosts,
            });
        }
        let mut blocks = Vec::new();
        let mut modes = Vec::new();
        for host_id in 1..=self.resource.num_hosts {
            let at = (2 + host_id as usize - 1) * sector;
            let raw = &area[at..at + sector];
            let block = Dblock::decode_prefix(raw);
            if block.verify().is_err() {
                if host_id == self.host_id {
                    let problem = block.verify().expect_err("checked just above");
                    return corrupt(self.resource.dblock_offset(host_id), problem);
                }
                // Another host's damaged dblock is skipped, as sanlock does.
                cov_mark::hit!(damaged_dblock_skipped);
                continue;
            }
            blocks.push((host_id, block));
            let mode = ModeBlock::decode_from_sector(raw);
            if mode.shared() {
                modes.push((host_id, mode));
            }
        }
        Reading::Area { leader, blocks, modes }
    }

    /// The first live shared holder other than us, if any.
    fn live_shared_holder(
        &self,
        modes: &[(u64, ModeBlock)],
        hosts: &HostTable,
        now: MonoTime,
    ) -> Option<u64> {
        modes.iter().find_map(|(holder, mode)| {
            let ours = *holder == self.host_id;
            (!ours && shared_holder_may_hold(*holder, mode.generation, hosts, now))
                .then_some(*holder)
        })
    }

    /// Decides what to do after the first read of the area.
    fn start(
        &mut self,
        leader: LeaderRecord,
        blocks: Vec<(u64, Dblock)>,
        modes: Vec<(u64, ModeBlock)>,
        now: MonoTime,
        hosts: &HostTable,
    ) -> State {
        if self.host_id > self.resource.num_hosts {
            return State::Finished(Err(PaxosError::HostIdAboveNumHosts {
                host_id: self.host_id,
                num_hosts: self.resource.num_hosts,
            }));
        }
        if let Some(expected) = self.options.expected_lver
            && leader.lver != expected
        {
            return State::Finished(Err(PaxosError::LverMismatch { expected, found: leader.lver }));
        }
        let own_mode = modes.iter().find(|(h, _)| *h == self.host_id).map(|(_, m)| *m);
        let own_shared = own_mode.is_some_and(|m| m.generation == self.generation);
        if self.options.mode == Mode::Shared && own_shared {
            let block = self.disk_block(&blocks);
            return State::Finished(Ok(self.held(leader.lver, block)));
        }
        let owner_block = blocks.iter().find(|(h, _)| *h == leader.owner_id).map(|(_, b)| b);
        let verdict =
            judge_owner(&leader, owner_block, (self.host_id, self.generation), hosts, now);
        let verdict = match verdict {
            v if v.may_ballot() => v,
            _ if self.options.mutation == Mutation::NoDeadWait => OwnerVerdict::OwnerDead,
            v => v,
        };
        match verdict {
            OwnerVerdict::OwnerAlive { owner_id, generation } => {
                return State::Finished(Err(PaxosError::OwnerAlive { owner_id, generation }));
            }
            OwnerVerdict::ShortHold { owner_id } => {
                return State::Finished(Err(PaxosError::ShortHold { owner_id }));
            }
            OwnerVerdict::OwnerFailing { owner_id, generation, dead_at } => {
                if !self.options.wait_for_dead_owner {
                    return State::Finished(Err(PaxosError::OwnerFailing {
                        owner_id,
                        generation,
                        dead_at,
                    }));
                }
                // Look again when it may be dead; if the table still lacks
                // a read proving the silence, again one io_timeout later.
                return State::Pause { until: dead_at.max(now + self.timeouts.io_timeout()) };
            }
            OwnerVerdict::OwnerDead => cov_mark::hit!(owner_dead_takeover),
            OwnerVerdict::Released => cov_mark::hit!(owner_released_dblock),
            _ => {}
        }
        self.takeover = matches!(
            verdict,
            OwnerVerdict::Released
                | OwnerVerdict::OwnerLeft
                | OwnerVerdict::OwnerRestarted
                | OwnerVerdict::OwnerDead
        )
        .then_some(verdict);
        if self.options.mode == Mode::Exclusive
            && let Some(holder_id) = self.live_shared_holder(&modes, hosts, now)
        {
            return State::Finished(Err(PaxosError::SharedHeld { holder_id }));
        }
        let seen = blocks.iter().map(|(_, b)| b).chain(self.own.as_ref());
        let (max_mbal, max_lver) =
            seen.fold((0, 0), |(mbal, lver), b| (mbal.max(b.mbal), lver.max(b.lver)));
        // Both come from disk: a checksum-valid area may hold numbers that
        // cannot advance, refused rather than wrapped.
        let Some(mbal) = next_mbal(max_mbal, self.host_id, leader.max_hosts) else {
            let problem = RecordProblem::Exhausted { field: "mbal", value: max_mbal };
            return State::Finished(Err(PaxosError::Corrupt { offset: 0, problem }));
        };
        // Normally the next instance; further on if dblocks show a later
        // instance under way, which happens only when a late write put an
        // older leader back. Running that instance's ballot re-decides it
        // consistently, whatever the stale leader says.
        let next_lver = match RecordProblem::next("lver", leader.lver) {
            Ok(lver) => lver.max(max_lver).max(self.floor_lver),
            Err(problem) => {
                return State::Finished(Err(PaxosError::Corrupt { offset: 0, problem }));
            }
        };
        let on_disk = self.disk_block(&blocks);
        if on_disk.released() && (on_disk.inp, on_disk.inp2) == (self.host_id, self.generation) {
            self.released = self.released.max(Some(on_disk.lver));
        }
        let current = self.own.unwrap_or_else(|| self.disk_block(&blocks));
        let block = phase1_block(&current, next_lver, mbal);
        let keep_shared = own_shared && self.options.mutation != Mutation::ConvertDropsShared;
        let mode = if keep_shared { own_mode.expect("checked") } else { ModeBlock::default() };
        self.keep = mode;
        State::Phase1 { ballot: Ballot { leader, block, mode } }
    }

    /// Our dblock as found on disk (zero if never written).
    fn disk_block(&self, blocks: &[(u64, Dblock)]) -> Dblock {
        blocks.iter().find(|(h, _)| *h == self.host_id).map(|(_, b)| *b).unwrap_or_default()
    }

    fn held(&self, lver: u64, block: Dblock) -> Held {
        Held {
            resource: self.resource,
            mode: self.options.mode,
            lver,
            host_id: self.host_id,
            generation: self.generation,
            block,
            lvb: None,
            rename: None,
            takeover: self.takeover,
        }
    }

    /// After a lost ballot: back off for a random time that grows with
    /// each loss, then start over from a fresh read.
    fn back_off(&mut self, now: MonoTime) -> State {
        self.ballots += 1;
        if self.ballots >= MAX_BALLOTS {
            return State::Finished(Err(PaxosError::Contended { attempts: self.ballots }));
        }
        let cap = self.timeouts.ballot_backoff_max(self.ballots);
        let cap_us = u64::try_from(cap.as_micros()).expect("a backoff fits in u64 µs");
        let pause = Duration::from_micros(self.rng.between(1, cap_us));
        State::Pause { until: now + pause }
    }

    /// Examines a phase's read: the accepted value to carry on and the
    /// shared holders' mode blocks, or (`Err`) what to do instead.
    fn phase_read(
        &mut self,
        area: &[u8],
        ballot: &Ballot,
        now: MonoTime,
    ) -> Result<PhaseView, Box<State>> {
        let (leader, blocks, modes) = match self.parse(area) {
            Reading::Area { leader, blocks, modes } => (leader, blocks, modes),
            Reading::Failed(error) => {
                return Err(Box::new(self.retract(&ballot.block, None, error)));
            }
        };
        if leader.lver >= ballot.block.lver {
            // Someone committed this instance already.
            let ours =
                leader.owner_id == self.host_id && leader.owner_generation == self.generation;
            if ours && leader.lver == ballot.block.lver {
                return Err(Box::new(self.won(ballot.clone(), leader)));
            }
            return Err(Box::new(State::Finished(Err(PaxosError::OtherOwner {
                owner_id: leader.owner_id,
                generation: leader.owner_generation,
            }))));
        }
        let others = blocks.iter().filter(|(h, _)| *h != self.host_id).map(|(h, b)| (*h, b));
        match evaluate(&ballot.block, others) {
            Ok(best) => Ok(PhaseView { best, modes }),
            Err(Abort::HigherMbal { .. }) => {
                cov_mark::hit!(ballot_lost_to_higher_mbal);
                Err(Box::new(self.back_off(now)))
            }
            Err(Abort::HigherLver { .. }) => Err(Box::new(self.back_off(now))),
        }
    }

    /// Cleanup before failing with `error`: mark our dblock RELEASED so no
    /// one takes a value we proposed for an owner that gave up.
    fn retract(&self, block: &Dblock, leader: Option<LeaderRecord>, error: PaxosError) -> State {
        let block = Dblock { flags: DBLOCK_FLAG_RELEASED, ..*block };
        State::Retract { block, leader, error }
    }

    /// Whether `block` decides an instance for us that we had already won
    /// and let go of: a late write put an older leader back, so the ballot
    /// ran that instance again and chose its value again. Taking it would
    /// hand out one lease version twice, and lver is the holders' fencing
    /// token; the instance is over, and the next one is due.
    fn ours_and_over(&self, block: &Dblock) -> bool {
        (block.inp, block.inp2) == (self.host_id, self.generation)
            && self.released.is_some_and(|lver| block.lver <= lver)
    }

    /// Starts over from a fresh read, for an instance after `block`'s.
    fn move_past(&mut self, block: &Dblock) -> State {
        cov_mark::hit!(released_instance_not_taken_again);
        match RecordProblem::next("lver", block.lver) {
            Ok(lver) => {
                self.floor_lver = lver;
                State::Read
            }
            Err(problem) => {
                let offset = self.resource.dblock_offset(self.host_id);
                State::Finished(Err(PaxosError::Corrupt { offset, problem }))
            }
        }
    }

    /// The leader names us at the ballot's instance.
    fn won(&mut self, ballot: Ballot, leader: LeaderRecord) -> State {
        if self.ours_and_over(&ballot.block) {
            return self.move_past(&ballot.block);
        }
        self.after_commit(ballot, leader)
    }

    /// We are the committed owner: what follows depends on the mode.
    fn after_commit(&self, ballot: Ballot, leader: LeaderRecord) -> State {
        match self.options.mode {
            Mode::Exclusive => self.finish_held(self.held(leader.lver, ballot.block)),
            Mode::Shared => State::ShareMark { ballot, leader },
        }
    }

    fn finish_held(&self, held: Held) -> State {
        if self.options.read_lvb { State::ReadLvb { held } } else { State::Finished(Ok(held)) }
    }

    /// The leader naming the ballot's chosen owner for the new lver.
    fn commit_leader(&self, ballot: &Ballot, now: MonoTime) -> LeaderRecord {
        let block = &ballot.block;
        let short_hold = self.options.mode == Mode::Shared && block.inp == self.host_id;
        let flags = ballot.leader.flags & !LEADER_FLAG_SHORT_HOLD;
        let lver = match self.options.mutation {
            Mutation::ReuseLver => ballot.leader.lver.max(1),
            _ => block.lver,
        };
        LeaderRecord {
            lver,
            owner_id: block.inp,
            owner_generation: block.inp2,
            timestamp: block.inp3,
            flags: if short_hold { flags | LEADER_FLAG_SHORT_HOLD } else { flags },
            write_id: self.host_id,
            write_generation: self.generation,
            write_timestamp: now.as_secs().max(1),
            ..ballot.leader
        }
    }

    /// The leader freed by us, its last writer.
    /// After a failure: what the disk may still show of ours (a proposal, a
    /// leader naming us, a SHARED mode block) that was not withdrawn. The
    /// caller must withdraw it ([`PaxosRelease::withdraw`]), retrying until
    /// that succeeds, before anything else of ours touches the resource:
    /// the withdrawal writes our last dblock again marked RELEASED, and the
    /// disk layer refuses it while a write of ours to that sector is still
    /// in flight, so a proposal that lands late is withdrawn all the same.
    pub fn withdrawal(&self) -> Option<Withdrawal> {
        if self.clean {
            return None;
        }
        let block = self.own?;
        let held = Held {
            resource: self.resource,
            mode: Mode::Exclusive,
            lver: block.lver,
            host_id: self.host_id,
            generation: self.generation,
            block,
            lvb: None,
            rename: None,
            takeover: None,
        };
        Some(Withdrawal { held, keep: self.keep })
    }

    /// Our dblock as this machine last wrote it, if it wrote it: a lease
    /// kept through a failed conversion is released from this one, so our
    /// dblock's ballot numbers never go back.
    pub fn last_written(&self) -> Option<Dblock> {
        self.own
    }
}

/// What a failed acquire left on disk to take back: its last dblock, and
/// the mode block to keep beside it.
#[derive(Clone, Debug)]
pub struct Withdrawal {
    pub held: Held,
    pub keep: ModeBlock,
}

impl Machine for PaxosAcquire {
    type Output = Result<Held, PaxosError>;

    fn next(&mut self, now: MonoTime, _hosts: &mut HostTable) -> Step<Self::Output> {
        let state = std::mem::replace(&mut self.state, State::Done);
        if !matches!(
            state,
            State::Read
                | State::Pause { .. }
                | State::Phase1Read { .. }
                | State::Phase2Read { .. }
                | State::ReadLvb { .. }
                | State::Finished(_)
        ) {
            self.clean = false;
        }
        let (state, step) = match state {
            State::Read => (State::Reading, Step::Io(self.read_area(now))),
            State::Pause { until } if now < until => (State::Pause { until }, Step::Wait(until)),
            State::Pause { .. } => (State::Reading, Step::Io(self.read_area(now))),
            State::Phase1 { ballot } => {
                let request = self.write_own(now, &ballot.block, &ballot.mode);
                self.own = Some(ballot.block);
                (State::Phase1Writing { ballot }, Step::Io(request))
            }
            State::Phase1Read { ballot } => {
                (State::Phase1Reading { ballot }, Step::Io(self.read_area(now)))
            }
            State::Phase2 { ballot, best } => {
                let own = (self.host_id, self.generation, now.as_secs().max(1));
                let block = phase2_block(&ballot.block, best, own);
                let ballot = Ballot { block, ..ballot };
                if self.options.mutation == Mutation::SkipPhase2 {
                    let leader = self.commit_leader(&ballot, now);
                    let request = self.write_leader(now, &leader);
                    self.state = State::Committing { ballot, leader };
                    return Step::Io(request);
                }
                let request = self.write_own(now, &ballot.block, &ballot.mode);
                self.own = Some(ballot.block);
                (State::Phase2Writing { ballot }, Step::Io(request))
            }
            State::Phase2Read { ballot } => {
                (State::Phase2Reading { ballot }, Step::Io(self.read_area(now)))
            }
            State::Commit { ballot } => {
                let leader = self.commit_leader(&ballot, now);
                let request = self.write_leader(now, &leader);
                (State::Committing { ballot, leader }, Step::Io(request))
            }
            State::ShareMark { ballot, leader } => {
                let block = Dblock { flags: DBLOCK_FLAG_RELEASED, ..ballot.block };
                let mode = ModeBlock { flags: MODE_FLAG_SHARED, generation: self.generation };
                let request = self.write_own(now, &block, &mode);
                self.own = Some(block);
                (State::ShareMarking { ballot, leader, block }, Step::Io(request))
            }
            State::ShareFree { leader, block } => {
                let freed = freed_leader(&leader, self.host_id, self.generation, now);
                let request = self.write_leader(now, &freed);
                (State::ShareFreeing { leader, block }, Step::Io(request))
            }
            State::ReadLvb { held } => {
                let request = IoRequest::Read {
                    area: Area::Resource,
                    offset: self.resource.geometry.lvb_offset(),
                    len: self.resource.sector_len(),
                    deadline: self.deadline(now),
                };
                (State::ReadingLvb { held }, Step::Io(request))
            }
            State::Retract { block, leader, error } => {
                let request = self.write_own(now, &block, &self.keep);
                self.own = Some(block);
                (State::Retracting { leader, error }, Step::Io(request))
            }
            State::FreeLeader { leader, error } => {
                let freed = freed_leader(&leader, self.host_id, self.generation, now);
                (State::FreeingLeader { error }, Step::Io(self.write_leader(now, &freed)))
            }
            State::Finished(result) => (State::Done, Step::Done(result)),
            other => unreachable!("next() while waiting for I/O: {other:?}"),
        };
        self.state = state;
        step
    }

    fn complete(&mut self, now: MonoTime, hosts: &mut HostTable, result: IoResult<'_>) {
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match (state, result) {
            (State::Reading, IoResult::Read(area)) => match self.parse(area) {
                Reading::Area { leader, blocks, modes } => {
                    self.start(leader, blocks, modes, now, hosts)
                }
                Reading::Failed(error) => State::Finished(Err(error)),
            },
            (State::Reading, IoResult::Failed(f)) => State::Finished(Err(PaxosError::Io(f))),
            (State::Phase1Writing { ballot }, IoResult::Written) => State::Phase1Read { ballot },
            (State::Phase2Writing { ballot }, IoResult::Written) => State::Phase2Read { ballot },
            (
                State::Phase1Writing { ballot }
                | State::Phase2Writing { ballot }
                | State::Phase1Reading { ballot }
                | State::Phase2Reading { ballot },
                IoResult::Failed(f),
            ) => {
                // Our proposal may have landed: withdraw it before failing.
                self.retract(&ballot.block, None, PaxosError::Io(f))
            }
            (State::Phase1Reading { ballot }, IoResult::Read(area)) => {
                match self.phase_read(area, &ballot, now) {
                    Ok(view) => State::Phase2 { ballot, best: view.best },
                    Err(state) => *state,
                }
            }
            (State::Phase2Reading { ballot }, IoResult::Read(area)) => {
                match self.phase_read(area, &ballot, now) {
                    Ok(view) => {
                        let exclusive = self.options.mode == Mode::Exclusive;
                        match self.live_shared_holder(&view.modes, hosts, now).filter(|_| exclusive)
                        {
                            Some(holder_id) => {
                                let error = PaxosError::SharedHeld { holder_id };
                                self.retract(&ballot.block, None, error)
                            }
                            None if self.ours_and_over(&ballot.block) => {
                                self.move_past(&ballot.block)
                            }
                            None => State::Commit { ballot },
                        }
                    }
                    Err(state) => *state,
                }
            }
            (State::Committing { ballot, leader }, IoResult::Written) => {
                if leader.owner_id == self.host_id && leader.owner_generation == self.generation {
                    self.after_commit(ballot, leader)
                } else {
                    cov_mark::hit!(ballot_chose_another_owner);
                    State::Finished(Err(PaxosError::OtherOwner {
                        owner_id: leader.owner_id,
                        generation: leader.owner_generation,
                    }))
                }
            }
            (State::Committing { ballot, leader }, IoResult::Failed(f)) => {
                self.leader_unsettled = true;
                let ours = leader.owner_id == self.host_id;
                self.retract(&ballot.block, ours.then_some(leader), PaxosError::Io(f))
            }
            (State::ShareMarking { leader, block, .. }, IoResult::Written) => {
                State::ShareFree { leader, block }
            }
            (State::ShareMarking { ballot, leader, .. }, IoResult::Failed(f)) => {
                self.retract(&ballot.block, Some(leader), PaxosError::Io(f))
            }
            (State::ShareFreeing { leader, block }, IoResult::Written) => {
                self.finish_held(self.held(leader.lver, block))
            }
            (State::ShareFreeing { leader, block }, IoResult::Failed(f)) => {
                self.leader_unsettled = true;
                // Our mode block says SHARED but the leader still names us
                // with SHORT_HOLD: withdraw both.
                self.retract(&block, Some(leader), PaxosError::Io(f))
            }
            (State::ReadingLvb { mut held }, IoResult::Read(sector)) => {
                held.lvb = Some(sector.to_vec());
                State::Finished(Ok(held))
            }
            (State::ReadingLvb { held }, IoResult::Failed(f)) => {
                // Hand the lease back rather than hold it without its LVB.
                self.retract(&held.block, None, PaxosError::Io(f))
            }
            (State::Retracting { leader: Some(leader), error }, IoResult::Written) => {
                State::FreeLeader { leader, error }
            }
            (State::Retracting { leader: None, error }, IoResult::Written) => {
                // Our dblock's writes are ordered by the disk layer: this
                // one landing means none before it is still in flight. A
                // failed leader write is another sector, and is not.
                self.clean = !self.leader_unsettled;
                State::Finished(Err(error))
            }
            (State::FreeingLeader { error }, IoResult::Written) => {
                self.clean = true;
                State::Finished(Err(error))
            }
            (State::Retracting { error, .. } | State::FreeingLeader { error }, _) => {
                State::Finished(Err(error))
            }
            (state, result) => unreachable!("{result:?} does not answer {state:?}"),
        };
    }
}
