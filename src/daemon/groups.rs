//! Groups of a lockspace (see [`crate::groups`]): their calls, and what
//! two threads of their own serve: members' times to live (the keeper),
//! and watches (the poller).
//!
//! A member is the process holding its member lease, so it leaves its
//! groups when it exits or its host is DEAD with no call of its own; a
//! member that joined with a time to live is also let go of here when no
//! heartbeat came in time. Reading a group reads the name index, then
//! each member lease's leader and record: a member counts while its lease
//! is held by a live owner under the hold its record names.
//!
//! A watch is a connection that sent `group_watch`: it is sent the group
//! as read, then an event at each change. Changes made here are sent
//! before the call that made them returns; others within one
//! [`Timeouts::group_poll`](crate::timeouts::Timeouts::group_poll).
//!
//! Lock order: `state`, then the lease table's lock (only for a look).
//! Neither is held while a lease is acquired or released, or during I/O:
//! readings of a group are numbered as they start, and a watch is never
//! sent an older reading after a newer one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use super::host_events::send_whole;
use super::leases::{Lease, LeaseKey, LeaseTable, Occupant};
use super::lockspace::{Lockspace, Membership, direct_error};
use super::names::{Place, described, lockspace_name, retried};
use super::resources::lost_error;
use super::server::reply;
use super::{Daemon, Peer};
use crate::api::results::{
    ElectReply, GroupEvent, GroupMember, GroupReply, GroupsReply, LeasesReply, MemberReply,
};
use crate::api::{
    Acquire, ApiError, Cause, ErrorCode, GroupArgs, GroupJoin, NamedResource, Release, ResourceArg,
    ResponseFrame, write_frame,
};
use crate::clock::{Clock, MonoTime, OsClock};
use crate::delta::HostState;
use crate::direct::{DirectError, probe_area};
use crate::disk::Disk;
use crate::groups::{Group, Member, Record, is_group_own_lease};
use crate::names::FullName;
use crate::ondisk::group_record::{self, GROUP_DATA_MAX, group_record_span};
use crate::ondisk::leader::{LeaderKind, LeaderRecord};
use crate::ondisk::name::Name;
use crate::rindex::Entry;
use crate::spec::{DiskLocation, ResourceSpec};

/// Watches on this host, all groups together.
pub const MAX_WATCHES: usize = 256;
/// How long the first reply of a watch may take to be taken in.
const WATCH_REPLY_WAIT: Duration = Duration::from_secs(2);
/// How long a join waits for a member's lease busy here without a member.
const BUSY_PATIENCE: Duration = Duration::from_secs(2);
/// Readings again of a record that is not intact before it is called
/// damaged.
const TORN_READS: u32 = 3;
/// The longest time to live a member may ask for.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// The groups' state of this daemon.
#[derive(Default)]
pub(super) struct Groups {
    state: Mutex<State>,
    /// Wakes the keeper: a time to live was added.
    keeper_wake: Condvar,
    /// Wakes the poller: a watch was added, or a member's time passed.
    poller_wake: Condvar,
}

#[derive(Default)]
struct State {
    watches: Vec<Watch>,
    /// Members with a time to live, by their lease.
    ttls: BTreeMap<LeaseKey, Ttl>,
    next_id: u64,
    /// Readings of groups taken so far: each is numbered as it starts,
    /// and a watch takes none older than the one it reflects.
    readings: u64,
    /// A time to live was added since the keeper looked.
    ttls_added: bool,
    /// Watched groups are to be read now.
    poll_now: bool,
    /// Watches whose first reply is being written: they count against
    /// the limit.
    starting: usize,
}

struct Watch {
    id: u64,
    /// The `group_watch` request's id, which every event carries.
    request: u64,
    lockspace: Name,
    group: String,
    stream: UnixStream,
    seen: Seen,
    /// The number of the reading `seen` comes from.
    reading: u64,
}

/// What a watch was last sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Seen {
    members: BTreeSet<String>,
    leader: Option<String>,
}

impl Seen {
    fn of(reply: &GroupReply) -> Seen {
        Seen {
            members: reply.members.iter().map(|m| m.member.clone()).collect(),
            leader: reply.leader.clone(),
        }
    }

    /// The events that lead from `self` to `now`.
    fn events_to(&self, group: &str, now: &Seen) -> Vec<GroupEvent> {
        let member = |member: &String| member.clone();
        let group = group.to_owned();
        let mut events: Vec<GroupEvent> = self
            .members
            .difference(&now.members)
            .map(|m| GroupEvent::Left { group: group.clone(), member: member(m) })
            .collect();
        events.extend(
            now.members
                .difference(&self.members)
                .map(|m| GroupEvent::Joined { group: group.clone(), member: member(m) }),
        );
        if self.leader != now.leader {
            events.push(GroupEvent::Leader { group, leader: now.leader.clone() });
        }
        events
    }
}

struct Ttl {
    pid: u32,
    group: String,
    member: String,
    ttl: Duration,
    expires: MonoTime,
}

/// A group call's lockspace and group, checked.
fn group_of(lockspace: &str, group: &str) -> Result<(Name, Group), ApiError> {
    let group =
        Group::new(group).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    Ok((lockspace_name(lockspace)?, group))
}

fn member_of(member: &str) -> Result<Member, ApiError> {
    Member::new(member).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}

fn no_group(lockspace: &Name, group: &Group) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("group '{}' does not exist in lockspace '{lockspace}'", group.id()),
    )
}

fn not_member(group: &Group, member: &Member) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("'{}' is not a member of group '{}'", member.id(), group.id()),
    )
}

fn member_reply(lockspace: &Name, group: &Group, member: &Member) -> MemberReply {
    MemberReply {
        lockspace: lockspace.to_string(),
        group: group.id().to_owned(),
        member: member.id().to_owned(),
    }
}

/// A named resource for a group's lease, as the group calls acquire and
/// release it.
fn group_resource(lockspace: &str, name: &FullName) -> ResourceArg {
    ResourceArg::Named(NamedResource {
        lockspace: lockspace.to_owned(),
        name: name.as_str().to_owned(),
        shared: false,
        create: true,
        stored: Some(name.stored()),
    })
}

/// The JSON of `member`'s record in `group`, refused if it does not fit.
fn record_of(
    group: &Group,
    member: &Member,
    capabilities: serde_json::Value,
) -> Result<Vec<u8>, ApiError> {
    let record =
        Record { group: group.id().to_owned(), member: member.id().to_owned(), capabilities };
    let data = serde_json::to_vec(&record)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    if data.len() > GROUP_DATA_MAX {
        return Err(ApiError::new(
            ErrorCode::Limit,
            format!(
                "the group, member and capabilities take {} bytes of JSON; the limit is \
                 {GROUP_DATA_MAX}",
                data.len()
            ),
        ));
    }
    Ok(data)
}

/// An event (or the first reply) of watch `request` as a frame.
fn frame_of(request: u64, result: impl serde::Serialize) -> Vec<u8> {
    let value = serde_json::value::to_raw_value(&result).expect("replies serialize");
    let body = serde_json::to_vec(&ResponseFrame::reply(request, Ok(value))).expect("serializes");
    let mut frame = Vec::with_capacity(body.len() + 4);
    write_frame(&mut frame, &body).expect("a frame of a reply fits");
    frame
}

impl Daemon {
    /// `group_create`.
    pub(super) fn group_create(self: &Arc<Self>, args: &GroupArgs) -> Result<GroupReply, ApiError> {
        let (lockspace, group) = group_of(&args.lockspace, &args.group)?;
        if !self.create_name(&lockspace, &group.name())?.created {
            return Err(ApiError::new(
                ErrorCode::Exists,
                format!("group '{}' exists already in lockspace '{lockspace}'", group.id()),
            ));
        }
        Ok(GroupReply {
            lockspace: lockspace.to_string(),
            group: group.id().to_owned(),
            members: Vec::new(),
            leader: None,
        })
    }

    /// `group_delete`: only a group without members or leader, checked while its
    /// lease is held, so that nobody joins meanwhile. Member and leader
    /// leases it leaves behind are removed from the index after it.
    pub(super) fn group_delete(self: &Arc<Self>, args: &GroupArgs) -> Result<GroupReply, ApiError> {
        let (lockspace, group) = group_of(&args.lockspace, &args.group)?;
        let place = self.name_index(&lockspace)?;
        self.find_name(&place, &group.name())?.ok_or_else(|| no_group(&lockspace, &group))?;
        let mut last = None;
        let deleted = self.delete_name(&lockspace, &group.name(), None, || {
            let now = self.group_state(&lockspace, &group)?;
            if now.members.is_empty() && now.leader.is_none() {
                last = Some(now);
                return Ok(());
            }
            Err(ApiError::new(
                ErrorCode::Refused,
                format!(
                    "group '{}' has {} members and {} leader",
                    group.id(),
                    now.members.len(),
                    if now.leader.is_some() { "a" } else { "no" }
                ),
            ))
        });
        deleted?;
        let last = last.expect("a delete that succeeds has passed its check");
        for entry in self.group_entries(&lockspace, &group)? {
            let full = Name::new(&entry.stored)
                .ok()
                .and_then(|stored| FullName::grouped(entry.name.clone(), stored).ok());
            let Some(full) = full else { continue };
            if let Err(err) = self.delete_name(&lockspace, &full, None, || Ok(())) {
                tracing::info!(name = %entry.name, "left in the name index: {err}");
            }
        }
        let reading = self.groups.reading();
        self.group_deleted(&lockspace, &group, reading);
        Ok(last)
    }

    /// `group_list`: every group of a lockspace.
    pub(super) fn group_list(&self, lockspace: &str) -> Result<GroupsReply, ApiError> {
        let name = lockspace_name(lockspace)?;
        let place = self.name_index(&name)?;
        let groups = self.read_index(&place, |index| {
            let entries = index.list().map_err(|e| super::areas::index_error(&e))?;
            let mut groups = Vec::new();
            let groups_only = |e: &Entry| is_group_own_lease(&e.name.to_string());
            for entry in entries.into_iter().filter(groups_only) {
                let described = described(&place, index, entry)?;
                groups.extend(Group::of_name(&described.name).map(|g| g.id().to_owned()));
            }
            Ok(groups)
        })?;
        Ok(GroupsReply { lockspace: lockspace.to_owned(), groups })
    }

    /// `group_join`: the caller's process becomes a member, holding the
    /// member's lease; its record is written before anyone can see the
    /// lease held. Runs under the group's lease.
    pub(super) fn group_join(
        self: &Arc<Self>,
        peer: &Peer,
        args: &GroupJoin,
    ) -> Result<MemberReply, ApiError> {
        let (lockspace, group) = group_of(&args.lockspace, &args.group)?;
        let member = member_of(&args.member)?;
        let ttl = args.ttl_ms.map(Duration::from_millis);
        if ttl.is_some_and(|ttl| ttl.is_zero() || ttl > MAX_TTL) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("ttl_ms is 1 to {}", MAX_TTL.as_millis()),
            ));
        }
        let data = record_of(&group, &member, args.capabilities.clone())?;
        let name = group.member(&member);
        let leader_key = LeaseKey { lockspace, name: group.leader().stored() };
        self.under_group(&lockspace, &group, || {
            // Under the group's lease, as elect checks the other way: a
            // member id that leads from another process is that process's.
            let leader = self.group_read(&lockspace, &group, false)?.leader;
            let leads_here = self.held_by_process(&leader_key, peer.pid);
            if leader.as_deref() == Some(member.id()) && !leads_here {
                return Err(ApiError::new(
                    ErrorCode::Exists,
                    format!(
                        "'{}' leads group '{}' from another process: the id is that process's",
                        member.id(),
                        group.id()
                    ),
                ));
            }
            // The lease may be busy here a moment without a member (being
            // released, or its name removed): that is waited out a little.
            let patience = OsClock.now() + BUSY_PATIENCE;
            loop {
                match self.take_group_lease(peer, &args.lockspace, &name, &data) {
                    Err(err) if err.cause == Some(Cause::BusyHere) && OsClock.now() < patience => {
                        OsClock.sleep_until(OsClock.now() + Duration::from_millis(20));
                    }
                    Err(err) if err.cause == Some(Cause::BusyHere) => {
                        return Err(ApiError::new(ErrorCode::Retry, err.message));
                    }
                    Err(err) if matches!(err.code, ErrorCode::Exists | ErrorCode::Refused) => {
                        return Err(ApiError::new(
                            ErrorCode::Exists,
                            format!(
                                "'{}' is a member of group '{}' already: {err}",
                                member.id(),
                                group.id()
                            ),
                        ));
                    }
                    done => return done,
                }
            }
        })??;
        // A join replaces whatever time to live an earlier holder of the
        // member's lease had.
        let key = LeaseKey { lockspace, name: name.stored() };
        let mut state = self.groups.state.lock().expect("groups lock");
        match ttl {
            Some(ttl) => {
                let expires = OsClock.now() + ttl;
                let ttl = Ttl {
                    pid: peer.pid,
                    group: group.id().to_owned(),
                    member: member.id().to_owned(),
                    ttl,
                    expires,
                };
                state.ttls.insert(key, ttl);
                state.ttls_added = true;
                self.groups.keeper_wake.notify_all();
            }
            None => {
                state.ttls.remove(&key);
            }
        }
        drop(state);
        self.group_changed(&lockspace, &group);
        Ok(member_reply(&lockspace, &group, &member))
    }

    /// `group_leave`: only the process holding the member may, as a
    /// lease is let go of only by its holder.
    pub(super) fn group_leave(
        self: &Arc<Self>,
        peer: &Peer,
        args: &GroupArgs,
    ) -> Result<MemberReply, ApiError> {
        let (lockspace, group) = group_of(&args.lockspace, &args.group)?;
        let member = member_of(&args.member)?;
        let name = group.member(&member);
        self.held_by_caller(peer, &lockspace, &group, &member, &name)?;
        let release = Release {
            resources: vec![group_resource(&args.lockspace, &name)],
            ..Release::default()
        };
        self.release(peer, release)?;
        let key = LeaseKey { lockspace, name: name.stored() };
        self.groups.state.lock().expect("groups lock").ttls.remove(&key);
        // The lease is free: its name goes too, unless someone took it
        // again meanwhile.
        if let Err(err) = self.delete_name(&lockspace, &name, None, || Ok(())) {
            tracing::debug!(name = %name, "left in the name index: {err}");
        }
        self.group_changed(&lockspace, &group);
        Ok(member_reply(&lockspace, &group, &member))
    }

    /// `group_members`.
    pub(super) fn group_members(&self, args: &GroupArgs) -> Result<GroupReply, ApiError> {
        let (lockspace, group) = group_of(&args.lockspace, &args.group)?;
        self.group_state(&lockspace, &group)
    }

    /// `group_update`: a member's new capabilities, written while its
    /// lease is out of the table (so that no release runs meanwhile).
    pub(super) fn group_update(
        self: &Arc<Self>,
        peer: &Peer,
        args: &GroupJoin,
    ) -> Result<MemberReply, ApiError> {
        let (lockspace, group) = group_of(&args.lockspace, &args.group)?;
        let member = member_of(&args.member)?;
        let data = record_of(&group, &member, args.capabilities.clone())?;
        let name = group.member(&member);
        self.held_by_caller(peer, &lockspace, &group, &member, &name)?;
        let key = LeaseKey { lockspace, name: name.stored() };
        let check = |table: &LeaseTable| match table.occupant(&key) {
            Some(Occupant::Process(pid)) if pid == peer.pid => Ok(()),
            _ => Err(not_member(&group, &member)),
        };
        let written = self.with_lease_out(&key, check, |lease| {
            self.write_record(std::slice::from_ref(&*lease), &data)
        });
        written?;
        Ok(member_reply(&lockspace, &group, &member))
    }

    /// `group_heartbeat`: the caller's memberships as `member` (in one
    /// group, or all if none is named) that have a time to live get it
    /// afresh. The number kept is returned.
    pub(super) fn group_heartbeat(&self, peer: &Peer, args: &GroupArgs) -> Result<usize, ApiError> {
        let lockspace = lockspace_name(&args.lockspace)?;
        let member = member_of(&args.member)?;
        let now = OsClock.now();
        let mut state = self.groups.state.lock().expect("groups lock");
        let mut kept = 0;
        for (key, ttl) in &mut state.ttls {
            let ours = ttl.pid == peer.pid && ttl.member == member.id();
            if ours
                && key.lockspace.same_as(&lockspace)
                && (args.group.is_empty() || ttl.group == args.group)
            {
                ttl.expires = now + ttl.ttl;
                kept += 1;
            }
        }
        Ok(kept)
    }

    /// `group_elect`: the caller leads if the leader's lease is free; its
    /// record names the member.
    pub(super) fn group_elect(
        self: &Arc<Self>,
        peer: &Peer,
        args: &GroupArgs,
    ) -> Result<ElectReply, ApiError> {
        let (lockspace, group) = group_of(&args.lockspace, &args.group)?;
        let member = member_of(&args.member)?;
        let data = record_of(&group, &member, serde_json::Value::Null)?;
        // A member id held by another process, here or elsewhere, is not
        // the caller's to lead as.
        let member_name = group.member(&member);
        let member_key = LeaseKey { lockspace, name: member_name.stored() };
        let here = self.leases.lock().expect("leases lock").occupant(&member_key);
        let elsewhere = match here {
            Some(Occupant::Process(pid)) if pid == peer.pid => false,
            Some(_) => true,
            None => {
                let place = self.name_index(&lockspace)?;
                match self.find_name(&place, &member_name)? {
                    Some(entry) => {
                        let entry = Entry { name: member_key.name, offset: entry.offset };
                        let held = self.read_index(&place, |index| {
                            self.holder_at(&place, index.disk, &entry)
                        })?;
                        held.is_some()
                    }
                    None => false,
                }
            }
        };
        if elsewhere {
            return Err(ApiError::new(
                ErrorCode::Refused,
                format!(
                    "member '{}' of group '{}' belongs to another process: only it may lead as it",
                    member.id(),
                    group.id()
                ),
            ));
        }
        let name = group.leader();
        // Under the group's lease, as a join: no leader lease is taken
        // for a group being deleted.
        let elected = self.under_group(&lockspace, &group, || {
            self.take_group_lease(peer, &args.lockspace, &name, &data)
        })?;
        match elected {
            Ok(_) => {
                self.group_changed(&lockspace, &group);
                Ok(ElectReply { elected: true, leader: Some(member.id().to_owned()) })
            }
            Err(err)
                if matches!(
                    err.code,
                    ErrorCode::Exists | ErrorCode::Refused | ErrorCode::Retry
                ) =>
            {
                let leader = self.group_read(&lockspace, &group, false)?.leader;
                let key = LeaseKey { lockspace, name: name.stored() };
                let ours = self.held_by_process(&key, peer.pid);
                let elected = ours && leader.as_deref() == Some(member.id());
                Ok(ElectReply { elected, leader })
            }
            Err(err) => Err(err),
        }
    }

    /// `group_stand_down`: the caller gives up leading as `member`.
    pub(super) fn group_stand_down(
        self: &Arc<Self>,
        peer: &Peer,
        args: &GroupArgs,
    ) -> Result<MemberReply, ApiError> {
        let (lockspace, group) = group_of(&args.lockspace, &args.group)?;
        let member = member_of(&args.member)?;
        let name = group.leader();
        let key = LeaseKey { lockspace, name: name.stored() };
        let ours = self.held_by_process(&key, peer.pid);
        let leader = self.group_read(&lockspace, &group, false)?.leader;
        if !ours || leader.as_deref() != Some(member.id()) {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("'{}' does not lead group '{}' from this process", member.id(), group.id()),
            ));
        }
        let release = Release {
            resources: vec![group_resource(&args.lockspace, &name)],
            ..Release::default()
        };
        self.release(peer, release)?;
        self.group_changed(&lockspace, &group);
        Ok(member_reply(&lockspace, &group, &member))
    }

    /// Serves `group_watch` on `stream`: the group as read, then its
    /// changes, until the client closes the connection. False if no watch
    /// began (the error was sent; the connection serves requests again).
    pub(super) fn group_watch(
        self: &Arc<Self>,
        request: u64,
        args: &GroupArgs,
        stream: &UnixStream,
    ) -> bool {
        let refused = |error: ApiError| {
            reply(&mut { stream }, request, Err(error));
            false
        };
        let (lockspace, group) = match group_of(&args.lockspace, &args.group) {
            Ok(parsed) => parsed,
            Err(err) => return refused(err),
        };
        let handle = match stream.try_clone() {
            Ok(handle) => handle,
            Err(err) => return refused(ApiError::new(ErrorCode::Internal, err.to_string())),
        };
        let id = {
            let reading = self.groups.reading();
            let reply = match self.group_state(&lockspace, &group) {
                Ok(reply) => reply,
                Err(err) => return refused(err),
            };
            {
                let mut state = self.groups.state.lock().expect("groups lock");
                if state.watches.len() + state.starting >= MAX_WATCHES {
                    drop(state);
                    return refused(ApiError::new(
                        ErrorCode::Limit,
                        format!(
                            "{MAX_WATCHES} watches are open on this host; the limit is reached"
                        ),
                    ));
                }
                state.starting += 1;
            }
            // The group may be large: its first reply is written whole,
            // waiting for a slow reader a little (with no lock held), not
            // sent at once or not at all as the events are. Changes made
            // meanwhile are read at once once the watch is in (poll_now).
            let first = frame_of(request, &reply);
            let written = handle
                .set_write_timeout(Some(WATCH_REPLY_WAIT))
                .and_then(|()| (&handle).write_all(&first));
            let mut state = self.groups.state.lock().expect("groups lock");
            state.starting -= 1;
            if written.is_err() {
                drop(state);
                let _ = handle.shutdown(std::net::Shutdown::Both);
                return true;
            }
            let id = state.next_id;
            state.next_id += 1;
            let seen = Seen::of(&reply);
            let group = group.id().to_owned();
            let watch = Watch { id, request, lockspace, group, stream: handle, seen, reading };
            state.watches.push(watch);
            // The poller's next wait is the new watch's lockspace's poll.
            state.poll_now = true;
            id
        };
        self.groups.poller_wake.notify_all();
        // The connection carries events from now on: whatever the client
        // sends is read and dropped, until it closes.
        let mut sink = [0u8; 512];
        while matches!((&mut { stream }).read(&mut sink), Ok(n) if n > 0) {}
        self.groups.state.lock().expect("groups lock").watches.retain(|w| w.id != id);
        true
    }

    /// Starts the groups' threads, which run until the daemon is gone:
    /// the keeper lets members whose time to live passed go; the poller
    /// reads watched groups again. Apart, so that a device that hangs a
    /// reading delays no expiry.
    pub(super) fn start_group_threads(self: &Arc<Self>) -> std::io::Result<()> {
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("leased-group-ttl".to_owned())
            .spawn(move || while run_round(&weak, Daemon::keeper_round) {})?;
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("leased-group-poll".to_owned())
            .spawn(move || while run_round(&weak, Daemon::poller_round) {})?;
        Ok(())
    }

    /// One round of the keeper: lets go of the members whose time to
    /// live passed, then waits for the next expiry (or a new one).
    fn keeper_round(self: &Arc<Self>) {
        let now = OsClock.now();
        let expired: Vec<(LeaseKey, u32)> = {
            let state = self.groups.state.lock().expect("groups lock");
            let due = state.ttls.iter().filter(|(_, ttl)| ttl.expires <= now);
            due.map(|(key, ttl)| (key.clone(), ttl.pid)).collect()
        };
        for (key, pid) in &expired {
            // Looked at again under the lock: the member may have left and
            // joined again (with a new time to live) since the list was made.
            let lease = {
                let mut state = self.groups.state.lock().expect("groups lock");
                let still =
                    state.ttls.get(key).is_some_and(|ttl| ttl.pid == *pid && ttl.expires <= now);
                if !still {
                    continue;
                }
                let mut table = self.leases.lock().expect("leases lock");
                let lease = match table.occupant(key) {
                    // An update under way: tried again next round.
                    Some(Occupant::Busy) => continue,
                    Some(Occupant::Process(holder)) if holder == *pid => table.take(key),
                    _ => None,
                };
                state.ttls.remove(key);
                lease
            };
            if let Some(lease) = lease {
                tracing::info!(member = %key.name, pid, "a group member's time to live passed");
                self.release_and_free(vec![lease]);
            }
        }
        let mut state = self.groups.state.lock().expect("groups lock");
        if !expired.is_empty() {
            state.poll_now = true;
            self.groups.poller_wake.notify_all();
        }
        // A busy one is looked at again soon.
        let soon = OsClock.now() + Duration::from_millis(100);
        let next = state.ttls.values().map(|ttl| ttl.expires.max(soon)).min();
        let wait = next.map_or(Duration::from_secs(60), |at| at.saturating_since(OsClock.now()));
        let wake = &self.groups.keeper_wake;
        let (mut state, _) =
            wake.wait_timeout_while(state, wait, |state| !state.ttls_added).expect("groups lock");
        state.ttls_added = false;
    }

    /// One round of the poller: reads every watched group, then waits for
    /// the next poll (or a new watch, or an expiry).
    fn poller_round(self: &Arc<Self>) {
        let watched: Vec<(Name, String)> = {
            let mut state = self.groups.state.lock().expect("groups lock");
            state.poll_now = false;
            let mut watched: Vec<(Name, String)> =
                state.watches.iter().map(|w| (w.lockspace, w.group.clone())).collect();
            watched.sort();
            watched.dedup();
            watched
        };
        for (lockspace, group) in watched {
            if let Ok(group) = Group::new(&group) {
                self.group_changed(&lockspace, &group);
            }
        }
        let state = self.groups.state.lock().expect("groups lock");
        let wait = self.poll_interval(&state).unwrap_or(Duration::from_secs(60));
        let wake = &self.groups.poller_wake;
        let _ = wake.wait_timeout_while(state, wait, |state| !state.poll_now).expect("groups lock");
    }

    /// How often watched groups are read: the shortest poll of their
    /// lockspaces; none without watches.
    fn poll_interval(&self, state: &State) -> Option<Duration> {
        let spaces: BTreeSet<Name> = state.watches.iter().map(|w| w.lockspace).collect();
        spaces
            .iter()
            .filter_map(|name| self.lockspace(name).ok())
            .map(|ls| ls.timeouts.group_poll().max(Duration::from_millis(100)))
            .min()
            .or_else(|| (!spaces.is_empty()).then_some(Duration::from_secs(1)))
    }

    /// Reads `group` and sends its changes to its watches, if it has any.
    fn group_changed(&self, lockspace: &Name, group: &Group) {
        let watching = |w: &Watch| w.lockspace.same_as(lockspace) && w.group == group.id();
        let reading = {
            let mut state = self.groups.state.lock().expect("groups lock");
            if !state.watches.iter().any(watching) {
                return;
            }
            state.readings += 1;
            state.readings
        };
        let reply = self.group_state(lockspace, group);
        let mut state = self.groups.state.lock().expect("groups lock");
        // A watch that took a newer reading meanwhile keeps it.
        let newer = |w: &Watch| watching(w) && w.reading < reading;
        match &reply {
            Ok(reply) => {
                let now = Seen::of(reply);
                state.watches.retain_mut(|watch| {
                    if !newer(watch) {
                        return true;
                    }
                    watch.reading = reading;
                    if watch.seen == now {
                        return true;
                    }
                    let events = watch.seen.events_to(group.id(), &now);
                    watch.seen = now.clone();
                    let sent = events
                        .iter()
                        .all(|event| send_whole(&watch.stream, &frame_of(watch.request, event)));
                    if !sent {
                        let _ = watch.stream.shutdown(std::net::Shutdown::Both);
                    }
                    sent
                });
            }
            Err(err) if err.code == ErrorCode::NotFound => {
                drop(state);
                self.group_deleted(lockspace, group, reading);
            }
            Err(_) => {}
        }
    }

    /// `group` is gone, as reading number `reading` (or a later one)
    /// found: its watches are told, and closed.
    fn group_deleted(&self, lockspace: &Name, group: &Group, reading: u64) {
        let mut state = self.groups.state.lock().expect("groups lock");
        state.watches.retain(|watch| {
            let watching = watch.lockspace.same_as(lockspace) && watch.group == group.id();
            if !watching || watch.reading >= reading {
                return true;
            }
            let left = watch.seen.events_to(group.id(), &Seen::default());
            let deleted = GroupEvent::Deleted { group: group.id().to_owned() };
            for event in left.iter().chain(std::iter::once(&deleted)) {
                if !send_whole(&watch.stream, &frame_of(watch.request, event)) {
                    break;
                }
            }
            let _ = watch.stream.shutdown(std::net::Shutdown::Both);
            false
        });
    }

    /// Runs `work` while this host holds `group`'s own lease, the group
    /// still in the index at the lease's offset; retries while another
    /// host holds it, for up to host_dead.
    fn under_group<T>(
        self: &Arc<Self>,
        lockspace: &Name,
        group: &Group,
        work: impl Fn() -> T,
    ) -> Result<T, ApiError> {
        let place = self.name_index(lockspace)?;
        let name = group.name();
        let deadline = OsClock.now() + place.lockspace.timeouts.host_dead();
        loop {
            let entry = self.find_name(&place, &name)?.ok_or_else(|| no_group(lockspace, group))?;
            let spec = ResourceSpec {
                lockspace: *lockspace,
                name: name.stored(),
                disk: DiskLocation { path: place.path.clone(), offset: entry.offset },
                lver: None,
                shared: false,
            };
            let outcome = self.under_lease(spec, |_| {
                let now = self.find_name(&place, &name)?;
                if now.is_none_or(|now| now.offset != entry.offset) {
                    return Err(ApiError::new(ErrorCode::Retry, "the group moved"));
                }
                Ok(work())
            });
            match outcome.and_then(|done| done) {
                Ok(done) => return Ok(done),
                Err(err)
                    if (retried(&err) || err.code == ErrorCode::Data)
                        && OsClock.now() < deadline =>
                {
                    // A group deleted meanwhile renamed its lease: found
                    // missing next time.
                    let pause = Duration::from_millis(5 + OsClock.now().as_nanos() % 20);
                    OsClock.sleep_until(OsClock.now() + pause);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Takes group lease `name` for the caller's process, writing `data` as
    /// its record before anyone can see it held.
    fn take_group_lease(
        self: &Arc<Self>,
        peer: &Peer,
        lockspace: &str,
        name: &FullName,
        data: &[u8],
    ) -> Result<LeasesReply, ApiError> {
        let acquire =
            Acquire { resources: vec![group_resource(lockspace, name)], ..Acquire::default() };
        self.acquire_with(peer, acquire, &|leases| self.write_record(leases, data))
    }

    /// Whether process `pid` holds `key` here.
    fn held_by_process(&self, key: &LeaseKey, pid: u32) -> bool {
        self.leases.lock().expect("leases lock").occupant(key) == Some(Occupant::Process(pid))
    }

    /// Refuses unless `member` of `group` is held here by the caller's
    /// process, saying who holds it otherwise.
    fn held_by_caller(
        &self,
        peer: &Peer,
        lockspace: &Name,
        group: &Group,
        member: &Member,
        name: &FullName,
    ) -> Result<(), ApiError> {
        let key = LeaseKey { lockspace: *lockspace, name: name.stored() };
        let occupant = self.leases.lock().expect("leases lock").occupant(&key);
        match occupant {
            Some(Occupant::Process(pid)) if pid == peer.pid => Ok(()),
            Some(Occupant::Process(pid)) => Err(ApiError::new(
                ErrorCode::Refused,
                format!(
                    "member '{}' of group '{}' belongs to process {pid}",
                    member.id(),
                    group.id()
                ),
            )),
            Some(Occupant::Busy) => Err(ApiError::new(
                ErrorCode::Retry,
                format!("member '{}' of group '{}' is joining or leaving", member.id(), group.id()),
            )),
            Some(Occupant::Orphan | Occupant::Abandoned) | None => {
                let state = self.group_state(lockspace, group)?;
                match state.members.iter().find(|m| m.member == member.id()) {
                    Some(held) => Err(ApiError::new(
                        ErrorCode::Refused,
                        format!(
                            "member '{}' of group '{}' belongs to host {}: only a process there \
                             can make it leave",
                            member.id(),
                            group.id(),
                            held.host_id
                        ),
                    )),
                    None => Err(not_member(group, member)),
                }
            }
        }
    }

    /// Writes `data` as the record of the one lease in `leases`, under
    /// the hold it names, while our host_id lease lives.
    fn write_record(&self, leases: &[Lease], data: &[u8]) -> Result<(), ApiError> {
        let [lease] = leases else { unreachable!("the group calls acquire one lease") };
        let lockspace = self.lockspace(&lease.key.lockspace)?;
        let Some(_writer) = lockspace.writer(Some(lease.held.generation)) else {
            return Err(lost_error(&lease.key));
        };
        let disk = self.resource_disk(&lease.place)?;
        let (at, len) = group_record_span(lease.held.resource.geometry);
        let bytes = group_record::encode(lease.held.lver, data, len);
        let deadline = OsClock.now() + lockspace.timeouts.io_timeout();
        // A write that fails may still land: the lease's release waits
        // for it to leave the kernel (see `attempt` in resources.rs), so
        // that it never lands over the record of the lease's next holder.
        disk.write(lease.place.offset + at, &bytes, deadline)
            .map_err(|err| direct_error(&DirectError::Disk(err)))
    }

    /// The index entries of `group`'s members and leader, with their full
    /// names.
    fn group_entries(
        &self,
        lockspace: &Name,
        group: &Group,
    ) -> Result<Vec<crate::api::results::IndexEntry>, ApiError> {
        let place = self.name_index(lockspace)?;
        let prefix = group.member_prefix();
        let leader = group.leader().stored();
        self.read_index(&place, |index| {
            let entries = index.list().map_err(|e| super::areas::index_error(&e))?;
            entries
                .into_iter()
                .filter(|e| e.name.to_string().starts_with(&prefix) || e.name.same_as(&leader))
                .map(|e| described(&place, index, e))
                .collect()
        })
    }

    /// `group` as the disk shows it now: its live members, and its leader.
    pub(super) fn group_state(
        &self,
        lockspace: &Name,
        group: &Group,
    ) -> Result<GroupReply, ApiError> {
        self.group_read(lockspace, group, true)
    }

    /// `group` as the disk shows it now: its leader, and its live members
    /// if `with_members` (else none are read).
    fn group_read(
        &self,
        lockspace: &Name,
        group: &Group,
        with_members: bool,
    ) -> Result<GroupReply, ApiError> {
        let place = self.name_index(lockspace)?;
        let name = group.name();
        let prefix = group.member_prefix();
        let leader_name = group.leader().stored();
        let (members, leader) = self.read_index(&place, |index| {
            let entries = index.list().map_err(|e| super::areas::index_error(&e))?;
            let own = entries.iter().find(|e| e.name.same_as(&name.stored()));
            let Some(own) = own else { return Err(no_group(lockspace, group)) };
            if described(&place, index, *own)?.name != name.as_str() {
                return Err(no_group(lockspace, group));
            }
            let mut members = Vec::new();
            let mut leader = None;
            for entry in &entries {
                let is_member = with_members && entry.name.to_string().starts_with(&prefix);
                if !is_member && !entry.name.same_as(&leader_name) {
                    continue;
                }
                let Some((record, host_id)) = self.holder_at(&place, index.disk, entry)? else {
                    continue;
                };
                if record.group != group.id() {
                    continue;
                }
                if is_member {
                    members.push(GroupMember {
                        member: record.member,
                        capabilities: record.capabilities,
                        host_id,
                    });
                } else {
                    leader = Some(record.member);
                }
            }
            Ok((members, leader))
        })?;
        let mut members = members;
        members.sort_by(|a, b| a.member.cmp(&b.member));
        Ok(GroupReply {
            lockspace: lockspace.to_string(),
            group: group.id().to_owned(),
            members,
            leader,
        })
    }

    /// The record of the lease at `entry` and its owner's host_id, if it
    /// is held by a live owner under the hold the record names. A record
    /// that does not read intact is read again a few times first: its
    /// holder may be writing it (an update, sector by sector).
    fn holder_at(
        &self,
        place: &Place,
        disk: &dyn Disk,
        entry: &Entry,
    ) -> Result<Option<(Record, u64)>, ApiError> {
        let mut tries = 0;
        loop {
            match self.read_holder(place, disk, entry) {
                Err(err) if err.code == ErrorCode::Data && tries < TORN_READS => {
                    tries += 1;
                    OsClock.sleep_until(OsClock.now() + Duration::from_millis(10));
                }
                read => return read,
            }
        }
    }

    /// One reading for [`Daemon::holder_at`].
    fn read_holder(
        &self,
        place: &Place,
        disk: &dyn Disk,
        entry: &Entry,
    ) -> Result<Option<(Record, u64)>, ApiError> {
        let lockspace = &place.lockspace;
        let (geometry, leader) =
            probe_area(disk, &OsClock, entry.offset, LeaderKind::Paxos, Some(&lockspace.spec.name))
                .map_err(|err| direct_error(&err))?;
        // Freed (its leader renamed), free, or held by the dead.
        if !leader.resource_name.same_as(&entry.name) || leader.timestamp == 0 {
            return Ok(None);
        }
        let key = LeaseKey { lockspace: lockspace.spec.name, name: entry.name };
        if !self.owner_lives(lockspace, &key, &leader) {
            return Ok(None);
        }
        let (at, len) = group_record_span(geometry);
        let deadline = OsClock.now() + lockspace.timeouts.io_timeout();
        let bytes = disk
            .read(entry.offset + at, len, deadline)
            .map_err(|err| direct_error(&DirectError::Disk(err)))?;
        let damaged = |detail: String| {
            ApiError::new(
                ErrorCode::Data,
                format!(
                    "{}: offset {}: group record: {detail}",
                    place.path.display(),
                    entry.offset + at
                ),
            )
        };
        match group_record::decode(&bytes) {
            // Written under this hold; else its holder is still joining.
            Ok(Some((lver, data))) if lver == leader.lver => {
                let record: Record =
                    serde_json::from_slice(&data).map_err(|e| damaged(e.to_string()))?;
                Ok(Some((record, leader.owner_id)))
            }
            Ok(_) => Ok(None),
            Err(problem) => Err(damaged(problem.to_string())),
        }
    }

    /// Whether the owner of a held lease `leader` is alive: this host
    /// under its present host_id lease, while the lease is in its table;
    /// another host unless a later generation of it shows, or it is DEAD.
    fn owner_lives(&self, lockspace: &Lockspace, key: &LeaseKey, leader: &LeaderRecord) -> bool {
        if leader.owner_id == lockspace.spec.host_id {
            let ours = matches!(
                lockspace.membership(),
                Membership::Joined { generation, .. } if generation == leader.owner_generation
            );
            // A busy slot (a record being updated, a release under way)
            // still stands for the lease until the disk shows it free.
            return ours && self.leases.lock().expect("leases lock").occupant(key).is_some();
        }
        let hosts = lockspace.hosts.lock().expect("host table lock");
        match hosts.get(leader.owner_id) {
            Some(seen) if seen.generation > leader.owner_generation => false,
            Some(_) => hosts.state(leader.owner_id, OsClock.now()) != HostState::Dead,
            None => true,
        }
    }
}

impl Groups {
    /// The number of a reading about to start.
    fn reading(&self) -> u64 {
        let mut state = self.state.lock().expect("groups lock");
        state.readings += 1;
        state.readings
    }
}

/// One `round` of a groups' thread, if the daemon still runs.
fn run_round(daemon: &Weak<Daemon>, round: fn(&Arc<Daemon>)) -> bool {
    let Some(daemon) = daemon.upgrade() else { return false };
    if daemon.shutting_down.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    round(&daemon);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(members: &[&str], leader: Option<&str>) -> Seen {
        Seen {
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            leader: leader.map(str::to_owned),
        }
    }

    #[test]
    fn changes_become_leaves_then_joins_then_the_leader() {
        let before = seen(&["a", "b"], Some("a"));
        let after = seen(&["b", "c"], None);
        let events = before.events_to("g", &after);
        let left = GroupEvent::Left { group: "g".into(), member: "a".into() };
        let joined = GroupEvent::Joined { group: "g".into(), member: "c".into() };
        let leader = GroupEvent::Leader { group: "g".into(), leader: None };
        assert_eq!(events, vec![left, joined, leader]);
        assert!(after.events_to("g", &after).is_empty());
    }

    #[test]
    fn events_are_frames_of_the_watch_request() {
        let event = GroupEvent::Joined { group: "g".into(), member: "m".into() };
        let frame = frame_of(7, &event);
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        let reply: serde_json::Value = serde_json::from_slice(&frame[4..]).unwrap();
        assert_eq!(reply["id"], 7);
        assert_eq!(reply["result"]["event"], "joined");
        assert_eq!(reply["result"]["member"], "m");
    }
}
