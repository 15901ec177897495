//! sanlock's client protocol on `SANLOCK_RUN_DIR/sanlock.sock`: a thin
//! front end that decodes sanlock 3.8's requests ([`crate::sanlock::wire`]),
//! calls the daemon's services — the same ones the JSON socket calls — and
//! encodes their answers as sanlock would, so that a lease taken through
//! one socket is seen and contended through the other.
//!
//! The connection model is sanlock's: one request per connection, except a
//! REGISTERed connection, which stays open for its process's life and owns
//! the leases acquired for it (released when it closes, or kept as orphans
//! if persistent). A command for a registration is refused (-EBUSY) while
//! another runs. Requests with a bad header, an unknown command, or after
//! RESTRICT_ALL get no answer, as from sanlock; nothing else is changed.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::areas::IndexOp;
use super::host_events::ListenError;
use super::lockspace::{Membership, PostError};
use super::registered::{Killpath, Registered, Restrict};
use super::rundir::{PidLock, lock_pid_file};
use super::server::{Acceptor, Caller, caller, permitted, serve_counted};
use super::{Daemon, Peer};
use crate::api::results::LeaseStatus;
use crate::api::{
    Acquire, AddLockspace, ApiError, Cause, Convert, ErrorCode, Force, Inquire, LeaseRequest,
    Release, RemLockspace, ResourceArg,
};
use crate::clock::{Clock, OsClock};
use crate::delta::{Event, EventError, HostState, PostEvent};
use crate::ondisk::name::Name;
use crate::paxos::Mode;
use crate::rindex::{Entry, UpdateOp};
use crate::sanlock::strings::{res_to_str, state_text};
use crate::sanlock::wire::{
    self, Cmd, Disk, HEADER_BYTES, Header, Host, HostEvent, LOCKSPACE_BYTES, Lockspace,
    OPTIONS_BYTES, Options, RESOURCE_BYTES, Resource, State, WireError, sanlk,
};
use crate::spec::{DiskLocation, LockspaceSpec, ResourceSpec};

/// The largest request payload drained after a request that could not be
/// decoded: eight resources of four disks and their options.
const MAX_PAYLOAD: usize =
    wire::MAX_RESOURCES * (RESOURCE_BYTES + 4 * wire::DISK_BYTES) + OPTIONS_BYTES;

/// How long after a join GET_HOSTS answers -EAGAIN. sanlock answers so
/// until its first check of the other hosts; leased reads every host at the
/// join, and keeps the answer for clients (vdsm, sanlock's tests) that
/// expect to see it once.
const FIRST_CHECK: Duration = Duration::from_millis(500);

/// Serves sanlock's socket.
pub fn start(daemon: Arc<Daemon>, listener: UnixListener) -> io::Result<Acceptor> {
    Acceptor::start("leased-sanlock", listener, move |stream| {
        // sanlock's client table full: it closes the connection.
        let refuse = |_: &Daemon, _| tracing::warn!("sanlock socket: too many clients");
        serve_counted(&daemon, stream, "leased-sanlock-client", refuse, |daemon, stream| {
            serve(daemon, &stream);
        });
    })
}

/// One connection's state.
struct Connection<'a> {
    daemon: &'a Arc<Daemon>,
    caller: Caller,
    stream: &'a UnixStream,
    /// Its registration, once REGISTER came.
    registered: Option<Arc<Registered>>,
    /// RESTRICT_ALL came: nothing more is answered.
    restricted: bool,
    /// Payload bytes read for the request at hand.
    consumed: std::cell::Cell<usize>,
}

fn serve(daemon: &Arc<Daemon>, stream: &UnixStream) {
    let caller = match caller(stream) {
        Ok(caller) => caller,
        Err(err) => {
            tracing::warn!("sanlock socket: connection refused: {err}");
            return;
        }
    };
    if !permitted(daemon, &caller.peer) {
        tracing::warn!(
            pid = caller.peer.pid,
            uid = caller.peer.uid,
            "sanlock socket: not permitted"
        );
        return;
    }
    let mut connection = Connection {
        daemon,
        caller,
        stream,
        registered: None,
        restricted: false,
        consumed: std::cell::Cell::new(0),
    };
    loop {
        let mut raw = [0u8; HEADER_BYTES];
        if read_all(stream, &mut raw).is_err() {
            break;
        }
        let Ok(header) = Header::decode(&raw) else { break };
        if !connection.handle(&header) {
            break;
        }
    }
    if let Some(registered) = connection.registered.take() {
        daemon.unregister(registered.token);
    }
}

/// Reads exactly `buf.len()` bytes; an error at EOF.
fn read_all(mut stream: &UnixStream, buf: &mut [u8]) -> io::Result<()> {
    stream.read_exact(buf)
}

/// What a command answers.
enum Answer {
    /// Nothing (REGISTER, SHUTDOWN, a rejected request).
    Silent,
    /// The header alone, with a result and data2.
    Result(i32, u32),
    /// The header, then a payload.
    Payload(i32, u32, Vec<u8>),
    /// The header, then records; then the connection is closed.
    Stream(i32, u32, Vec<u8>),
    /// The reply was sent as the connection became an event listener
    /// (REG_EVENT): it carries events until the client ends it.
    Listening(Arc<super::lockspace::Lockspace>, u64),
}

impl Connection<'_> {
    /// Handles one request; false once the connection is to be closed.
    fn handle(&mut self, header: &Header) -> bool {
        let major_newer = header.version & 0xFFFF_0000 > wire::PROTO & 0xFFFF_0000;
        let cmd = header.command();
        if header.magic != wire::MAGIC
            || self.restricted
            || cmd.is_none()
            || (major_newer && cmd != Some(Cmd::Version))
        {
            // sanlock's daemon logs these and answers nothing.
            tracing::debug!(
                pid = self.caller.peer.pid,
                cmd = header.cmd,
                magic = header.magic,
                restricted = self.restricted,
                "sanlock socket: request ignored"
            );
            return true;
        }
        let Some(cmd) = cmd else { return true };
        self.consumed.set(0);
        let answer = match self.answer(cmd, header) {
            Ok(answer) => answer,
            Err(Refusal::Wire(err)) => {
                tracing::debug!(pid = self.caller.peer.pid, ?cmd, "sanlock socket: {err}");
                self.drain(header);
                Answer::Result(wire_result(&err), 0)
            }
            Err(Refusal::Result(result)) => Answer::Result(result, 0),
            Err(Refusal::Api(err)) => {
                tracing::debug!(pid = self.caller.peer.pid, ?cmd, "sanlock socket: {err}");
                Answer::Result(result_of(cmd, &err), 0)
            }
            Err(Refusal::Closed) => return false,
        };
        let (result, data2, payload, close) = match answer {
            Answer::Silent => return cmd != Cmd::Shutdown,
            Answer::Result(result, data2) => (result, data2, Vec::new(), false),
            Answer::Payload(result, data2, payload) => (result, data2, payload, false),
            Answer::Stream(result, data2, payload) => (result, data2, payload, true),
            Answer::Listening(lockspace, id) => {
                // The client ends it by writing on the connection or
                // closing it; the lockspace, by shutting it down.
                let _ = (&*self.stream).read(&mut [0u8; 4]);
                lockspace.listeners.remove(id);
                return false;
            }
        };
        // A stream's header says 32 bytes: its records follow until EOF.
        let length = if close { 0 } else { payload.len() };
        let mut out = header.reply(result, data2, length).encode().to_vec();
        out.extend_from_slice(&payload);
        if (&*self.stream).write_all(&out).is_err() {
            return false;
        }
        !close
    }

    fn answer(&mut self, cmd: Cmd, header: &Header) -> Result<Answer, Refusal> {
        let daemon = self.daemon;
        match cmd {
            Cmd::Version => Ok(Answer::Result(0, wire::VERSION_HEX)),
            Cmd::Register => {
                let registered = daemon.register(Arc::clone(&self.caller.process))?;
                self.registered = Some(registered);
                Ok(Answer::Silent)
            }
            Cmd::Restrict => {
                if header.cmd_flags & wire::restrict::ALL != 0 {
                    self.restricted = true;
                }
                if let Some(registered) = &self.registered {
                    registered.set_restrict(Restrict {
                        no_sigkill: header.cmd_flags & wire::restrict::SIGKILL != 0,
                        no_sigterm: header.cmd_flags & wire::restrict::SIGTERM != 0,
                    });
                }
                Ok(Answer::Result(0, 0))
            }
            Cmd::Killpath => self.killpath(header),
            Cmd::Acquire => self.acquire(header),
            Cmd::Release => self.release(header),
            Cmd::Inquire => self.inquire(header),
            Cmd::Convert => self.convert(header),
            Cmd::Request => self.request(header),
            Cmd::AddLockspace => self.add_lockspace(header),
            Cmd::RemLockspace => self.rem_lockspace(header),
            Cmd::InqLockspace => self.inq_lockspace(header),
            Cmd::GetLockspaces => Ok(self.get_lockspaces()),
            Cmd::GetHosts => self.get_hosts(),
            Cmd::HostStatus => self.host_status(),
            Cmd::Status => Ok(self.status()),
            Cmd::LogDump => {
                // The result is the dump's length; its bytes follow.
                let mut log = super::log_ring::dump();
                log.push(0);
                let len = i32::try_from(log.len()).unwrap_or(i32::MAX);
                Ok(Answer::Payload(len, 0, log))
            }
            Cmd::Renewal => {
                let lockspace = self.lockspace_payload()?;
                let ls = daemon.lockspace(&lockspace.name)?;
                let io = u32::try_from(ls.timeouts.io_timeout().as_secs()).unwrap_or(0);
                let mut records = Vec::new();
                for renewal in ls.renewal_history() {
                    let text = state_text(&[
                        ("timestamp", renewal.timestamp.to_string()),
                        ("read_ms", renewal.read_ms.to_string()),
                        ("write_ms", renewal.write_ms.to_string()),
                        ("next_timeouts", renewal.next_timeouts.to_string()),
                        ("next_errors", renewal.next_errors.to_string()),
                    ]);
                    let state = State { kind: wire::state::RENEWAL, text, ..State::default() };
                    records.extend_from_slice(&state.encode());
                }
                Ok(Answer::Stream(0, io, records))
            }
            Cmd::WriteLockspace => self.write_lockspace(header),
            Cmd::ReadLockspace => self.read_lockspace(),
            Cmd::WriteResource => self.write_resource(header),
            Cmd::ReadResource => self.read_resource(),
            Cmd::ReadResourceOwners => self.read_resource_owners(),
            Cmd::Align => self.align(),
            Cmd::ExamineLockspace => {
                let lockspace = self.lockspace_payload()?;
                daemon.examine(&lockspace.name)?;
                Ok(Answer::Result(0, 0))
            }
            Cmd::ExamineResource => {
                let resource = self.resource_head()?;
                daemon.examine(&resource.lockspace)?;
                Ok(Answer::Result(0, 0))
            }
            Cmd::SetConfig => {
                let lockspace = self.lockspace_payload()?;
                daemon.lockspace(&lockspace.name)?;
                Ok(Answer::Result(0, 0))
            }
            Cmd::Shutdown | Cmd::ShutdownWait => self.shutdown(cmd, header),
            Cmd::SetLvb | Cmd::GetLvb => self.lvb(cmd, header),
            Cmd::RegEvent => self.reg_event(header),
            Cmd::EndEvent => {
                // The listener's own connection ends it: the client wrote
                // on it and closed it before asking.
                let lockspace = self.lockspace_payload()?;
                daemon.lockspace(&lockspace.name)?;
                Ok(Answer::Result(0, 0))
            }
            Cmd::SetEvent => self.set_event(header),
            Cmd::FormatRindex
            | Cmd::UpdateRindex
            | Cmd::LookupRindex
            | Cmd::CreateResource
            | Cmd::DeleteResource
            | Cmd::RebuildRindex => self.rindex(cmd, header),
        }
    }

    /// Reads `len` payload bytes.
    fn payload(&self, len: usize) -> Result<Vec<u8>, Refusal> {
        let mut buf = vec![0u8; len];
        read_all(self.stream, &mut buf).map_err(|_| Refusal::Closed)?;
        self.consumed.set(self.consumed.get() + len);
        Ok(buf)
    }

    /// Skips what is left of a request that could not be decoded, as far
    /// as its `length` says (at most [`MAX_PAYLOAD`], and only what
    /// arrives at once), so that a registered connection's next request
    /// is read from its start.
    fn drain(&self, header: &Header) {
        let length = usize::try_from(header.length).unwrap_or(usize::MAX);
        let mut left = length.saturating_sub(HEADER_BYTES + self.consumed.get()).min(MAX_PAYLOAD);
        let mut buf = [0u8; 4096];
        while left > 0 {
            let mut fds = [PollFd::new(self.stream.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut fds, PollTimeout::from(100u8)), Ok(n) if n > 0) {
                return;
            }
            match (&*self.stream).read(&mut buf[..left.min(4096)]) {
                Ok(0) | Err(_) => return,
                Ok(n) => left -= n,
            }
        }
    }

    /// A resource's 128-byte head, its names in their one spelling (see
    /// [`Name::canonical`]): names from the wire become table keys.
    fn resource_head(&self) -> Result<Resource, Refusal> {
        let mut resource = Resource::decode(&self.payload(RESOURCE_BYTES)?)?;
        resource.lockspace = resource.lockspace.canonical();
        resource.name = resource.name.canonical();
        Ok(resource)
    }

    fn lockspace_payload(&self) -> Result<Lockspace, Refusal> {
        let mut lockspace = Lockspace::decode(&self.payload(LOCKSPACE_BYTES)?)?;
        lockspace.name = lockspace.name.canonical();
        Ok(lockspace)
    }

    /// Reads a resource and its disks.
    fn resource_payload(&self) -> Result<Resource, Refusal> {
        let head = self.payload(RESOURCE_BYTES)?;
        let resource = Resource::decode(&head)?;
        if !(1..=wire::MAX_DISKS).contains(&resource.num_disks) {
            return Err(Refusal::Wire(WireError::NumDisks(resource.num_disks)));
        }
        let disks = usize::try_from(resource.num_disks).unwrap_or(0) * wire::DISK_BYTES;
        let mut bytes = head;
        bytes.extend_from_slice(&self.payload(disks)?);
        let mut resource = Resource::decode_with_disks(&bytes)?.0;
        resource.lockspace = resource.lockspace.canonical();
        resource.name = resource.name.canonical();
        Ok(resource)
    }

    /// A lockspace and a host event: REG_EVENT's and SET_EVENT's payload.
    fn event_payload(&self) -> Result<(Lockspace, HostEvent), Refusal> {
        let lockspace = self.lockspace_payload()?;
        let event = HostEvent::decode(&self.payload(wire::HOST_EVENT_BYTES)?)?;
        Ok((lockspace, event))
    }

    /// REG_EVENT: the connection becomes a listener of the lockspace's
    /// events. The reply is sent as it is added, before any event can be.
    fn reg_event(&self, header: &Header) -> Result<Answer, Refusal> {
        let (lockspace, _) = self.event_payload()?;
        let ls = self.daemon.lockspace(&lockspace.name)?;
        let handle = self.stream.try_clone().map_err(|_| Refusal::Closed)?;
        let reply = header.reply(0, 0, 0).encode();
        let added = ls.listeners.add(handle, &reply);
        match added {
            Ok(id) => Ok(Answer::Listening(ls, id)),
            Err(ListenError::Full) => Err(Refusal::Result(-libc::ENOCSI)),
            Err(ListenError::Closed) => Err(Refusal::Result(-libc::ENOENT)),
            Err(ListenError::Io) => Err(Refusal::Closed),
        }
    }

    fn set_event(&self, header: &Header) -> Result<Answer, Refusal> {
        let (lockspace, event) = self.event_payload()?;
        let flag = |bit: u32| header.cmd_flags & bit != 0;
        let post = PostEvent {
            host_id: event.host_id,
            event: Event { generation: event.generation, event: event.event, data: event.data },
            current_generation: flag(wire::setev::CUR_GENERATION),
            clear_host: flag(wire::setev::CLEAR_HOSTID),
            clear_event: flag(wire::setev::CLEAR_EVENT),
            replace: flag(wire::setev::REPLACE_EVENT),
            all_hosts: flag(wire::setev::ALL_HOSTS),
        };
        let ls = self.daemon.lockspace(&lockspace.name)?;
        match ls.post_event(&post) {
            Ok(()) => Ok(Answer::Result(0, 0)),
            Err(PostError::NotJoined) => Err(Refusal::Result(-libc::ENOENT)),
            Err(PostError::Refused(EventError::HostId { .. })) => {
                Err(Refusal::Result(-libc::EINVAL))
            }
            Err(PostError::Refused(EventError::Busy)) => Err(Refusal::Result(-libc::EBUSY)),
        }
    }

    /// The registration a registered command acts for: this connection's
    /// (data2 -1), or the first of the pid named in data2. sanlock answers
    /// -EBUSY for a connection that never registered (it has no pid), and
    /// -ESRCH for a pid with no registration.
    fn target(&self, header: &Header) -> Result<Arc<Registered>, Refusal> {
        if header.data2 == u32::MAX {
            return self.registered.clone().ok_or(Refusal::Result(-libc::EBUSY));
        }
        self.daemon.registered(header.data2).ok_or(Refusal::Result(-libc::ESRCH))
    }

    /// The peer a registered command acts as: the caller, for the target
    /// registration's process.
    fn peer_for(&self, target: &Registered) -> Peer {
        Peer {
            subject: Some(Arc::clone(&target.process)),
            client: Some(target.token),
            ..self.caller.peer.clone()
        }
    }

    fn killpath(&self, header: &Header) -> Result<Answer, Refusal> {
        let payload = self.payload(wire::KILLPATH_BYTES)?;
        let target = self.target(header)?;
        let (path, args) = wire::decode_killpath(&payload)?;
        if path.is_empty() {
            return Err(Refusal::Result(-libc::EINVAL));
        }
        let args = args
            .split(|&b| b == b' ')
            .filter(|arg| !arg.is_empty())
            .map(|arg| OsString::from_vec(arg.to_vec()))
            .collect();
        target.set_killpath(Killpath {
            program: OsString::from_vec(path),
            args,
            append_pid: header.cmd_flags & wire::killpath::PID != 0,
        });
        Ok(Answer::Result(0, 0))
    }

    fn acquire(&self, header: &Header) -> Result<Answer, Refusal> {
        // sanlock finds the target before it looks at the payload: a
        // missing target is the answer whatever the payload holds.
        let target = self.target(header);
        let count = usize::try_from(header.data).unwrap_or(usize::MAX);
        let payload = if count > wire::MAX_RESOURCES {
            Err(Refusal::Result(-libc::E2BIG))
        } else {
            self.acquire_payload(count)
        };
        let target = target?;
        let (resources, options) = payload?;
        let _ = options.owner_name;
        let Some(_command) = target.begin() else {
            return Err(Refusal::Result(-libc::EBUSY));
        };
        if count == 0 {
            return Err(Refusal::Result(-libc::EINVAL));
        }
        let flags = header.cmd_flags;
        let specs = resources.iter().map(spec_of).collect::<Result<Vec<_>, _>>()?;
        let persistent = resources.iter().any(|r| r.flags & wire::res::PERSISTENT != 0);
        let adopt = flags & (wire::acquire::ORPHAN | wire::acquire::ORPHAN_ONLY) != 0;
        let peer = self.peer_for(&target);
        // The registration may have closed while an acquire ran, after its
        // close let go of what it found: what was just tied to it goes the
        // same way.
        let acquire = |adopt: bool| {
            let args = Acquire {
                resources: specs.iter().map(|spec| ResourceArg::Spec(spec.clone())).collect(),
                pid: Some(target.process.pid),
                pidfd: false,
                wait_ms: None,
                persistent,
                adopt,
                lvb: flags & wire::acquire::LVB != 0,
            };
            let acquired = self.daemon.acquire(&peer, args);
            self.daemon.recheck_registration(target.token);
            acquired
        };
        match acquire(adopt) {
            Ok(_) => Ok(Answer::Result(0, 0)),
            // Adopting with ORPHAN (not ORPHAN_ONLY) takes the resource
            // fresh when no orphan holds it.
            Err(err)
                if adopt
                    && flags & wire::acquire::ORPHAN_ONLY == 0
                    && err.code == ErrorCode::NotFound =>
            {
                acquire(false)?;
                Ok(Answer::Result(0, 0))
            }
            Err(err) if adopt && err.code == ErrorCode::NotFound => {
                Err(Refusal::Result(-libc::ENOENT))
            }
            Err(err) if err.cause == Some(Cause::Orphan) => Err(Refusal::Result(-libc::EUCLEAN)),
            Err(err) => Err(err.into()),
        }
    }

    /// ACQUIRE's payload: `count` resources with their disks, then options.
    fn acquire_payload(&self, count: usize) -> Result<(Vec<Resource>, Options), Refusal> {
        let mut resources = Vec::with_capacity(count);
        for _ in 0..count {
            resources.push(self.resource_payload()?);
        }
        let options = Options::decode(&self.payload(OPTIONS_BYTES)?)?;
        Ok((resources, options))
    }

    fn release(&self, header: &Header) -> Result<Answer, Refusal> {
        let flags = header.cmd_flags;
        let count = usize::try_from(header.data).unwrap_or(usize::MAX);
        if count > wire::MAX_RESOURCES {
            return Err(Refusal::Result(-libc::E2BIG));
        }
        let all = flags & wire::release::ALL != 0;
        let mut resources = Vec::new();
        if !all {
            for _ in 0..count {
                resources.push(self.resource_head()?);
            }
        }
        // RENAME: the second struct names what the first's leader is
        // called once freed.
        let rename = if flags & wire::release::RENAME != 0 {
            match resources.as_slice() {
                [_, to] if !to.name.is_empty() => Some(to.name),
                _ => return Err(Refusal::Result(-libc::EINVAL)),
            }
        } else {
            None
        };
        resources.truncate(if rename.is_some() { 1 } else { resources.len() });
        let orphan = flags & wire::release::ORPHAN != 0;
        let target = if orphan { None } else { Some(self.target(header)?) };
        // A release for a registration with a command under way waits for
        // nothing: it is refused, as by sanlock.
        let _command = match &target {
            Some(target) => Some(target.begin().ok_or(Refusal::Result(-libc::EBUSY))?),
            None => None,
        };
        let (peer, pid) = match &target {
            Some(target) => (self.peer_for(target), Some(target.process.pid)),
            None => (self.caller.peer.clone(), None),
        };
        let specs = resources
            .iter()
            .filter(|r| !orphan || !r.name.is_empty())
            .map(|r| {
                let spec = self.daemon.held_spec(&r.lockspace, &r.name).ok_or_else(|| not_here(r));
                spec.map(ResourceArg::Spec)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let (Some(to), Some(pid), [resource]) = (rename, pid, resources.as_slice()) {
            self.daemon.rename_on_release(&peer, pid, &resource.lockspace, &resource.name, to)?;
        }
        let args = Release { resources: specs, pid, pidfd: false, all: all && !orphan, orphan };
        self.daemon.release(&peer, args)?;
        Ok(Answer::Result(0, 0))
    }

    fn inquire(&self, header: &Header) -> Result<Answer, Refusal> {
        let target = self.target(header)?;
        let peer = self.peer_for(&target);
        let held =
            self.daemon.inquire(&peer, Inquire { pid: Some(target.process.pid), pidfd: false })?;
        let leases: Vec<&LeaseStatus> =
            held.leases.iter().filter(|l| l.client.is_none_or(|c| c == target.token)).collect();
        if leases.is_empty() {
            // sanlock sends no string when nothing is held, and libsanlock
            // then hands back a NULL state.
            return Ok(Answer::Result(0, 0));
        }
        let text = leases.iter().map(|l| res_to_str(&resource_of(l))).collect::<Vec<_>>().join(" ");
        let mut payload = text.into_bytes();
        payload.push(0);
        let count = u32::try_from(leases.len()).unwrap_or(u32::MAX);
        Ok(Answer::Payload(0, count, payload))
    }

    fn convert(&self, header: &Header) -> Result<Answer, Refusal> {
        let resource = self.resource_head()?;
        let target = self.target(header)?;
        let Some(_command) = target.begin() else {
            return Err(Refusal::Result(-libc::EBUSY));
        };
        let spec = self
            .daemon
            .held_spec(&resource.lockspace, &resource.name)
            .ok_or_else(|| not_here(&resource))?;
        let mode = if resource.shared() { Mode::Shared } else { Mode::Exclusive };
        let args = Convert { resource: spec, mode, pid: Some(target.process.pid), pidfd: false };
        let converted = self.daemon.convert(&self.peer_for(&target), args);
        self.daemon.recheck_registration(target.token);
        converted?;
        Ok(Answer::Result(0, 0))
    }

    fn request(&self, header: &Header) -> Result<Answer, Refusal> {
        let resource = self.resource_payload()?;
        let force = match header.data {
            wire::request::FORCE => Force::Force,
            wire::request::GRACEFUL => Force::Graceful,
            _ => Force::Clear,
        };
        let lver = (header.cmd_flags & wire::request::NEXT_LVER == 0
            && resource.flags & wire::res::LVER != 0)
            .then_some(resource.lver);
        let args = LeaseRequest { resource: spec_of(&resource)?, force, lver };
        self.daemon.request(args)?;
        Ok(Answer::Result(0, 0))
    }

    fn add_lockspace(&self, header: &Header) -> Result<Answer, Refusal> {
        let lockspace = self.lockspace_payload()?;
        if let Ok(existing) = self.daemon.lockspace(&lockspace.name) {
            return Err(Refusal::Result(match existing.membership() {
                Membership::Joining { .. } | Membership::Leaving => -libc::EINPROGRESS,
                _ => -libc::EEXIST,
            }));
        }
        let io_timeout = u8::try_from(header.data).ok().filter(|&io| io > 0);
        let args = AddLockspace {
            lockspace: lockspace_spec(&lockspace)?,
            io_timeout,
            wait: header.cmd_flags & wire::add::ASYNC == 0,
        };
        self.daemon.add_lockspace(args)?;
        Ok(Answer::Result(0, 0))
    }

    fn rem_lockspace(&self, header: &Header) -> Result<Answer, Refusal> {
        let lockspace = self.lockspace_payload()?;
        let ls = self.daemon.lockspace(&lockspace.name)?;
        if matches!(ls.membership(), Membership::Joining { .. } | Membership::Leaving) {
            return Err(Refusal::Result(-libc::EINPROGRESS));
        }
        // sanlock stops the lockspace's users unless asked to remove it
        // only when unused.
        let args = RemLockspace {
            lockspace: lockspace.name.to_string(),
            force: header.cmd_flags & wire::rem::UNUSED == 0,
        };
        if header.cmd_flags & wire::rem::ASYNC != 0 {
            let daemon = Arc::clone(self.daemon);
            super::resources::background("leased-rem-lockspace", move || {
                if let Err(err) = daemon.rem_lockspace(args) {
                    tracing::warn!("rem_lockspace: {err}");
                }
            });
            return Ok(Answer::Result(0, 0));
        }
        self.daemon.rem_lockspace(args)?;
        Ok(Answer::Result(0, 0))
    }

    fn inq_lockspace(&self, header: &Header) -> Result<Answer, Refusal> {
        let lockspace = self.lockspace_payload()?;
        let wait = header.cmd_flags & wire::inq::WAIT != 0;
        let Ok(ls) = self.daemon.lockspace(&lockspace.name) else {
            return Err(Refusal::Result(-libc::ENOENT));
        };
        let membership = if wait { ls.wait_settled() } else { ls.membership() };
        match membership {
            Membership::Joined { .. } if ls.spec.host_id == lockspace.host_id => {
                Ok(Answer::Result(0, 0))
            }
            Membership::Joining { .. } | Membership::Leaving => {
                Err(Refusal::Result(-libc::EINPROGRESS))
            }
            _ => Err(Refusal::Result(-libc::ENOENT)),
        }
    }

    fn get_lockspaces(&self) -> Answer {
        let lockspaces = self.daemon.lockspace_list();
        let mut payload = Vec::new();
        let mut count = 0u32;
        for ls in &lockspaces {
            let flags = match ls.membership() {
                Membership::Joining { .. } => wire::lsf::ADD,
                Membership::Leaving => wire::lsf::REM,
                Membership::Left => continue,
                _ => 0,
            };
            let record = Lockspace {
                name: ls.spec.name,
                host_id: ls.spec.host_id,
                flags,
                disk: Disk {
                    path: ls.spec.disk.path.clone(),
                    offset: ls.spec.disk.offset,
                    pad1: 0,
                    pad2: 0,
                },
            };
            payload.extend_from_slice(&record.encode());
            count += 1;
        }
        Answer::Payload(0, count, payload)
    }

    fn get_hosts(&self) -> Result<Answer, Refusal> {
        let lockspace = self.lockspace_payload()?;
        let ls = self.daemon.lockspace(&lockspace.name)?;
        let checked =
            ls.joined_at().is_some_and(|at| OsClock.now().saturating_since(at) >= FIRST_CHECK);
        if !checked {
            return Err(Refusal::Result(-libc::EAGAIN));
        }
        let mut payload = Vec::new();
        let mut count = 0u32;
        for host in ls.hosts() {
            if lockspace.host_id != 0 && host.host_id != lockspace.host_id {
                continue;
            }
            let record = Host {
                host_id: host.host_id,
                generation: host.generation,
                timestamp: host.timestamp,
                io_timeout: u32::from(host.io_timeout),
                flags: host_flags(host.state),
            };
            payload.extend_from_slice(&record.encode());
            count += 1;
        }
        Ok(Answer::Payload(0, count, payload))
    }

    fn host_status(&self) -> Result<Answer, Refusal> {
        let lockspace = self.lockspace_payload()?;
        let Ok(ls) = self.daemon.lockspace(&lockspace.name) else {
            return Err(Refusal::Result(-libc::ENOSPC));
        };
        let mut records = Vec::new();
        for host in ls.hosts() {
            let text = state_text(&[
                ("timestamp", host.timestamp.to_string()),
                ("last_check", OsClock.now().as_secs().to_string()),
                ("last_live", host.timestamp.to_string()),
                ("owner_id", host.host_id.to_string()),
                ("owner_generation", host.generation.to_string()),
                ("io_timeout", host.io_timeout.to_string()),
                ("owner_name", host.name.clone()),
            ]);
            let state = State {
                kind: wire::state::HOST,
                flags: host_flags(host.state),
                data32: u32::try_from(host.host_id).unwrap_or(u32::MAX),
                data64: host.timestamp,
                name: Name::EMPTY,
                text,
            };
            records.extend_from_slice(&state.encode());
        }
        Ok(Answer::Stream(0, 0, records))
    }

    fn status(&self) -> Answer {
        let daemon = self.daemon;
        let status = daemon.status();
        let config = &daemon.config;
        let mut records = Vec::new();
        let version = env!("CARGO_PKG_VERSION");
        let daemon_text = state_text(&[
            ("our_host_name", status.host_name.clone()),
            ("use_watchdog", u8::from(config.watchdog != "none").to_string()),
            ("io_timeout", "10".to_owned()),
            ("watchdog_fire_timeout", config.watchdog_fire_timeout.to_string()),
            ("max_worker_threads", config.max_worker_threads.unwrap_or(8).to_string()),
            ("version_str", "3.8.5".to_owned()),
            ("leased_version", version.to_owned()),
            ("version_hex", format!("{:08x}", wire::VERSION_HEX)),
            ("smproto_hex", format!("{:08x}", wire::PROTO)),
            ("monotime", OsClock.now().as_secs().to_string()),
            ("registered", daemon.registered_count().to_string()),
        ]);
        let record = State {
            kind: wire::state::DAEMON,
            name: daemon.host_name,
            text: daemon_text,
            ..State::default()
        };
        records.extend_from_slice(&record.encode());
        for ls in daemon.lockspace_list() {
            let text = state_text(&[
                ("io_timeout", ls.timeouts.io_timeout().as_secs().to_string()),
                ("host_id", ls.spec.host_id.to_string()),
            ]);
            let state = State {
                kind: wire::state::LOCKSPACE,
                data32: u32::try_from(ls.spec.host_id).unwrap_or(u32::MAX),
                name: ls.spec.name,
                text,
                ..State::default()
            };
            records.extend_from_slice(&state.encode());
            let record = Lockspace {
                name: ls.spec.name,
                host_id: ls.spec.host_id,
                flags: 0,
                disk: Disk {
                    path: ls.spec.disk.path.clone(),
                    offset: ls.spec.disk.offset,
                    pad1: 0,
                    pad2: 0,
                },
            };
            records.extend_from_slice(&record.encode());
        }
        for lease in &status.leases {
            let resource = resource_of(lease);
            let text = state_text(&[("lver", lease.lver.to_string())]);
            let state = State {
                kind: wire::state::RESOURCE,
                data32: lease.pid.unwrap_or(0),
                name: resource.name,
                text,
                ..State::default()
            };
            records.extend_from_slice(&state.encode());
            records.extend_from_slice(&resource.encode());
        }
        Answer::Stream(0, 0, records)
    }

    fn write_lockspace(&self, header: &Header) -> Result<Answer, Refusal> {
        let lockspace = self.lockspace_payload()?;
        let io_timeout = u8::try_from(header.data2).ok().filter(|&io| io > 0).unwrap_or(10);
        self.daemon.write_lockspace(
            &lockspace.name,
            &lockspace.disk.path,
            lockspace.disk.offset,
            io_timeout,
            lockspace.flags,
        )?;
        Ok(Answer::Result(0, 0))
    }

    fn read_lockspace(&self) -> Result<Answer, Refusal> {
        let mut lockspace = self.lockspace_payload()?;
        let read = self.daemon.read_lockspace(
            &lockspace.disk.path,
            lockspace.disk.offset,
            lockspace.host_id,
            lockspace.flags,
        );
        // libsanlock reads the struct whatever the result: it is always
        // sent, as by sanlock.
        let (leader, io_timeout) = match read {
            Ok(read) => read,
            Err(err) => return Ok(failed_with(Cmd::ReadLockspace, &err, &lockspace.encode())),
        };
        lockspace.name = leader.space_name;
        lockspace.flags = leader.flags & geometry_flags();
        Ok(Answer::Payload(0, u32::from(io_timeout), lockspace.encode().to_vec()))
    }

    fn write_resource(&self, header: &Header) -> Result<Answer, Refusal> {
        let resource = self.resource_payload()?;
        let disk = single_disk(&resource)?;
        let clear = header.cmd_flags & wire::write::CLEAR != 0;
        // sanlock 3.8 takes num_hosts from data, where libsanlock 3.8.5
        // puts max_hosts (0 from python3-sanlock; num_hosts goes in data2):
        // in effect every host that fits, whatever num_hosts asks. Read the
        // same way, so that an area written through either daemon is the
        // same area.
        let num_hosts = u64::from(header.data);
        self.daemon.write_resource(
            &resource.lockspace,
            &resource.name,
            &disk.path,
            disk.offset,
            num_hosts,
            resource.flags,
            clear,
        )?;
        Ok(Answer::Result(0, 0))
    }

    fn read_resource(&self) -> Result<Answer, Refusal> {
        let mut resource = self.resource_payload()?;
        let disk = single_disk(&resource)?.clone();
        let leader = match self.daemon.read_resource(&disk.path, disk.offset, resource.flags) {
            Ok(leader) => leader,
            Err(err) => {
                return Ok(failed_with(Cmd::ReadResource, &err, &resource.encode_head()));
            }
        };
        resource.lockspace = leader.space_name;
        resource.name = leader.resource_name;
        resource.lver = leader.lver;
        resource.flags = leader.flags & geometry_flags();
        resource.disks.clear();
        Ok(Answer::Payload(0, 0, resource.encode_head().to_vec()))
    }

    fn read_resource_owners(&self) -> Result<Answer, Refusal> {
        let mut resource = self.resource_payload()?;
        let disk = single_disk(&resource)?.clone();
        let read = self.daemon.read_resource_owners(&disk.path, disk.offset, resource.flags);
        let (leader, owners) = match read {
            Ok(read) => read,
            Err(err) => {
                return Ok(failed_with(Cmd::ReadResourceOwners, &err, &resource.encode_head()));
            }
        };
        resource.lver = leader.lver;
        resource.flags = leader.flags & geometry_flags();
        resource.disks.clear();
        let mut payload = resource.encode_head().to_vec();
        for owner in &owners {
            payload.extend_from_slice(&owner.encode());
        }
        let count = u32::try_from(owners.len()).unwrap_or(u32::MAX);
        Ok(Answer::Payload(0, count, payload))
    }

    fn align(&self) -> Result<Answer, Refusal> {
        let disk = Disk::decode(&self.payload(wire::DISK_BYTES)?)?;
        let align = self.daemon.align_of(&disk.path)?;
        Ok(Answer::Result(i32::try_from(align).unwrap_or(i32::MAX), 0))
    }

    fn shutdown(&self, cmd: Cmd, header: &Header) -> Result<Answer, Refusal> {
        let force = header.data != 0;
        if !force && !self.daemon.lockspace_list().is_empty() {
            return match cmd {
                Cmd::ShutdownWait => Err(Refusal::Result(-libc::EBUSY)),
                _ => Ok(Answer::Silent),
            };
        }
        self.daemon.shut_down_and_exit(force);
        match cmd {
            Cmd::ShutdownWait => Ok(Answer::Result(0, 0)),
            _ => Ok(Answer::Silent),
        }
    }

    /// The lock value block of a lease held here, acquired with
    /// ACQUIRE_LVB.
    fn lvb(&self, cmd: Cmd, header: &Header) -> Result<Answer, Refusal> {
        let resource = self.resource_head()?;
        if cmd == Cmd::SetLvb {
            let lvb = self.payload(wire::set_lvb_len(header.length)?)?;
            self.daemon.set_lvb(&resource.lockspace, &resource.name, lvb)?;
            return Ok(Answer::Result(0, 0));
        }
        let mut lvb = self.daemon.get_lvb(&resource.lockspace, &resource.name)?;
        // data2 is how much the client reads; 0 means one sector.
        let want = usize::try_from(header.data2).unwrap_or(0);
        if want > 0 {
            lvb.resize(want.min(wire::MAX_LVB), 0);
        }
        Ok(Answer::Payload(0, 0, lvb))
    }

    /// The resource index commands: the index, and for most an entry.
    fn rindex(&self, cmd: Cmd, header: &Header) -> Result<Answer, Refusal> {
        let mut index = wire::Rindex::decode(&self.payload(wire::RINDEX_BYTES)?)?;
        index.lockspace = index.lockspace.canonical();
        let entry = match cmd {
            Cmd::FormatRindex | Cmd::RebuildRindex => None,
            _ => {
                let mut entry = wire::Rentry::decode(&self.payload(wire::RENTRY_BYTES)?)?;
                entry.name = entry.name.canonical();
                Some(entry)
            }
        };
        let name = entry.as_ref().map(|e| e.name).filter(|n| !n.is_empty());
        let offset = entry.as_ref().map(|e| e.offset).filter(|&o| o != 0);
        let op = match cmd {
            Cmd::FormatRindex => {
                let (sector, align) = super::areas::requested(index.flags)?;
                IndexOp::Format {
                    sector,
                    align,
                    max_resources: (index.max_resources > 0).then_some(index.max_resources),
                }
            }
            Cmd::LookupRindex => IndexOp::Lookup { name, offset },
            Cmd::CreateResource => {
                let name = name.ok_or(Refusal::Result(-libc::EINVAL))?;
                IndexOp::Create { name, full_name: None }
            }
            Cmd::DeleteResource => {
                IndexOp::Delete { name: name.ok_or(Refusal::Result(-libc::EINVAL))? }
            }
            Cmd::UpdateRindex => {
                let (Some(name), Some(offset)) = (name, offset) else {
                    return Err(Refusal::Result(-libc::EINVAL));
                };
                let op = if header.cmd_flags & wire::rindex::RXUP_REM != 0 {
                    UpdateOp::Remove
                } else {
                    UpdateOp::Add
                };
                IndexOp::Update { entry: Entry { name, offset }, op }
            }
            _ => IndexOp::Rebuild,
        };
        let anywhere = header.cmd_flags & wire::rindex::RX_NO_LOCKSPACE != 0;
        let found = self.daemon.resource_index(
            &index.lockspace,
            &index.disk.path,
            index.disk.offset,
            op,
            anywhere,
        )?;
        match (cmd, found) {
            (Cmd::FormatRindex | Cmd::RebuildRindex, _) => Ok(Answer::Result(0, 0)),
            (Cmd::LookupRindex, None) => Err(Refusal::Result(-libc::ENOENT)),
            (_, found) => {
                let found =
                    found.or_else(|| entry.map(|e| Entry { name: e.name, offset: e.offset }));
                let reply = found.map_or_else(wire::Rentry::default, |e| wire::Rentry {
                    name: e.name,
                    offset: e.offset,
                    flags: 0,
                });
                Ok(Answer::Payload(0, 0, reply.encode().to_vec()))
            }
        }
    }
}

/// Why a request is answered with an error, or not at all.
enum Refusal {
    /// The payload could not be decoded.
    Wire(WireError),
    /// A result decided by the front end.
    Result(i32),
    /// A service refused.
    Api(ApiError),
    /// The connection broke while its payload was read.
    Closed,
}

impl From<WireError> for Refusal {
    fn from(err: WireError) -> Refusal {
        Refusal::Wire(err)
    }
}

impl From<ApiError> for Refusal {
    fn from(err: ApiError) -> Refusal {
        Refusal::Api(err)
    }
}

/// The value sanlock answers for a payload that could not be decoded: a
/// disk path that fills its field with no NUL is too long for sanlock.
fn wire_result(err: &WireError) -> i32 {
    match err {
        WireError::NoNul { what: "sanlk_disk path" } => -libc::ENAMETOOLONG,
        other => other.result(),
    }
}

/// The value sanlock answers where a service gave `err`.
fn result_of(cmd: Cmd, err: &ApiError) -> i32 {
    if let Some(cause) = err.cause {
        return match cause {
            Cause::HeldHere => -libc::EEXIST,
            Cause::Orphan => -libc::EUCLEAN,
            Cause::BusyHere => -libc::EBUSY,
            Cause::OwnerAlive => sanlk::ACQUIRE_IDLIVE,
            Cause::SharedHeld => sanlk::ACQUIRE_SHRETRY,
            Cause::OtherOwner => sanlk::ACQUIRE_OTHER,
            Cause::Lver => sanlk::ACQUIRE_LVER,
            Cause::NoLockspace => match cmd {
                Cmd::Acquire | Cmd::Request | Cmd::Convert => -libc::ENOSPC,
                _ => -libc::ENOENT,
            },
            Cause::BadRecord => sanlk::LEADER_MAGIC,
            Cause::BadGeometry => -libc::EINVAL,
        };
    }
    match err.code {
        ErrorCode::BadFrame
        | ErrorCode::FrameTooLarge
        | ErrorCode::UnsupportedVersion
        | ErrorCode::UnknownCommand
        | ErrorCode::BadRequest => -libc::EINVAL,
        ErrorCode::PermissionDenied => -libc::EPERM,
        ErrorCode::Limit => -libc::E2BIG,
        ErrorCode::NotFound => -libc::ENOENT,
        ErrorCode::Exists => -libc::EEXIST,
        ErrorCode::Refused | ErrorCode::Retry => -libc::EAGAIN,
        ErrorCode::Data => sanlk::LEADER_MAGIC,
        ErrorCode::Io => sanlk::AIO_TIMEOUT,
        ErrorCode::ShuttingDown => -libc::ESHUTDOWN,
        ErrorCode::Internal => sanlk::ERROR,
    }
}

/// A failure answered with the request's struct after the header: the
/// reads whose reply libsanlock reads in full whatever its result.
fn failed_with(cmd: Cmd, err: &ApiError, echo: &[u8]) -> Answer {
    tracing::debug!(?cmd, "sanlock socket: {err}");
    Answer::Payload(result_of(cmd, err), 0, echo.to_vec())
}

fn not_here(resource: &Resource) -> Refusal {
    tracing::debug!(
        lockspace = %resource.lockspace, resource = %resource.name,
        "sanlock socket: not held on this host"
    );
    Refusal::Result(-libc::ENOENT)
}

/// The one disk of a resource: leased serves single-disk leases.
fn single_disk(resource: &Resource) -> Result<&Disk, Refusal> {
    match resource.disks.as_slice() {
        [disk] => Ok(disk),
        _ => Err(Refusal::Result(-libc::EINVAL)),
    }
}

/// A name as the services' specs spell it; names that are not UTF-8 are
/// refused rather than changed.
fn name_text(name: &Name) -> Result<&str, Refusal> {
    std::str::from_utf8(name.as_bytes()).map_err(|_| Refusal::Result(-libc::EINVAL))
}

/// The services' spec of a decoded resource.
fn spec_of(resource: &Resource) -> Result<String, Refusal> {
    let disk = single_disk(resource)?;
    name_text(&resource.lockspace)?;
    name_text(&resource.name)?;
    if resource.name.is_empty() || resource.lockspace.is_empty() {
        return Err(Refusal::Result(-libc::EINVAL));
    }
    let spec = ResourceSpec {
        lockspace: resource.lockspace,
        name: resource.name,
        disk: DiskLocation { path: disk.path.clone(), offset: disk.offset },
        lver: (resource.flags & wire::res::LVER != 0).then_some(resource.lver),
        shared: resource.shared(),
    };
    Ok(spec.to_string())
}

fn lockspace_spec(lockspace: &Lockspace) -> Result<String, Refusal> {
    name_text(&lockspace.name)?;
    if lockspace.name.is_empty() || lockspace.host_id == 0 {
        return Err(Refusal::Result(-libc::EINVAL));
    }
    let spec = LockspaceSpec {
        name: lockspace.name,
        host_id: lockspace.host_id,
        disk: DiskLocation { path: lockspace.disk.path.clone(), offset: lockspace.disk.offset },
    };
    Ok(spec.to_string())
}

/// A held lease as sanlock's resource struct, with its disk.
fn resource_of(lease: &LeaseStatus) -> Resource {
    let shared = lease.mode == Mode::Shared;
    Resource {
        lockspace: Name::new_or_empty(&lease.lockspace).unwrap_or(Name::EMPTY),
        name: Name::new_or_empty(&lease.resource).unwrap_or(Name::EMPTY),
        lver: lease.lver,
        data64: 0,
        data32: 0,
        flags: if shared { wire::res::SHARED } else { wire::res::LVER },
        num_disks: 1,
        disks: vec![Disk {
            path: std::path::PathBuf::from(std::ffi::OsStr::from_bytes(lease.path.as_bytes())),
            offset: lease.offset,
            pad1: 0,
            pad2: 0,
        }],
    }
}

/// sanlock's host state flags.
fn host_flags(state: HostState) -> u32 {
    match state {
        HostState::Unknown => wire::host::UNKNOWN,
        HostState::Free => wire::host::FREE,
        HostState::Live => wire::host::LIVE,
        HostState::Fail => wire::host::FAIL,
        HostState::Dead => wire::host::DEAD,
    }
}

/// The align and sector bits of leader and struct flags.
fn geometry_flags() -> u32 {
    wire::res::ALIGN1M
        | wire::res::ALIGN2M
        | wire::res::ALIGN4M
        | wire::res::ALIGN8M
        | wire::res::SECTOR512
        | wire::res::SECTOR4K
}

/// sanlock's pid file, held under an fcntl lock as sanlock holds it, so
/// that one daemon (sanlock or leased) serves a sanlock run directory.
pub struct SanlockRunDir {
    /// Open for the daemon's life: closing any descriptor of the file would
    /// drop the lock.
    _pid_file: std::fs::File,
    pub socket: std::path::PathBuf,
}

/// Why sanlock's run directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SanlockDirError {
    #[error("{path}: {source}", path = path.display())]
    Io { path: std::path::PathBuf, source: io::Error },
    #[error("{path} is locked by pid {pid}: another sanlock daemon serves that directory", path = path.display())]
    Taken { path: std::path::PathBuf, pid: String },
}

impl SanlockRunDir {
    /// Locks `dir/sanlock.pid`, writes our pid into it, and binds
    /// `dir/sanlock.sock` (a stale socket is replaced: the lock says no
    /// daemon serves it).
    pub fn take(dir: &std::path::Path) -> Result<(SanlockRunDir, UnixListener), SanlockDirError> {
        fn io_error(path: &std::path::Path) -> impl FnOnce(io::Error) -> SanlockDirError + '_ {
            move |source| SanlockDirError::Io { path: path.to_owned(), source }
        }
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let path = dir.join("sanlock.pid");
        let mut file = match lock_pid_file(&path) {
            Ok(file) => file,
            Err(PidLock::Taken { pid }) => return Err(SanlockDirError::Taken { path, pid }),
            Err(PidLock::Io(source)) => return Err(SanlockDirError::Io { path, source }),
        };
        file.set_len(0).map_err(io_error(&path))?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(io_error(&path))?;
        let socket = dir.join("sanlock.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).map_err(io_error(&socket))?;
        Ok((SanlockRunDir { _pid_file: file, socket }, listener))
    }
}
