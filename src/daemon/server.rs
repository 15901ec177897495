//! The socket: connections, their limits and permissions, and dispatch.
//!
//! Each connection runs on its own thread, one request at a time, so a
//! request that waits (an acquire with a wait, a join with `wait`) holds up
//! only its own client. Every malformed, oversized or unauthorised request
//! gets an error reply and changes nothing.
//!
//! Who a request acts for is settled here, before any service sees it: the
//! caller itself, held by a pidfd the kernel gives for the socket's peer;
//! a process whose pidfd came with the frame (SCM_RIGHTS), from any pid
//! namespace; or a pid number, taken only from a caller in leased's own
//! pid namespace ([`resolve`]). Covered by `tests/pid_namespaces.rs`.

use std::io::{self, IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, getsockopt, recvmsg, sockopt::PeerCredentials,
};
use serde_json::value::RawValue;

use super::memory;
use super::process::{Process, groups_of, in_our_pid_namespace};
use super::watchdog_clients::Registration;
use super::{Daemon, Peer};
use crate::api::{
    self, ApiError, ErrorCode, FrameError, Request, ResponseFrame, parse_request, write_frame,
};

/// An accept loop on its own thread, stopped through a pipe: every front
/// end (leased's socket, sanlock's, wdmd's) accepts this way and hands each
/// connection to its own `each`.
pub(super) struct Acceptor {
    stop: OwnedFd,
    thread: std::thread::JoinHandle<()>,
}

impl Acceptor {
    pub(super) fn start(
        name: &str,
        listener: UnixListener,
        mut each: impl FnMut(UnixStream) + Send + 'static,
    ) -> io::Result<Acceptor> {
        let (stop_read, stop) = nix::unistd::pipe().map_err(io::Error::from)?;
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            loop {
                let mut fds = [
                    PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                    PollFd::new(stop_read.as_fd(), PollFlags::POLLIN),
                ];
                if poll(&mut fds, PollTimeout::NONE).is_err() {
                    continue;
                }
                if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                    return;
                }
                if let Ok((stream, _)) = listener.accept() {
                    each(stream);
                }
            }
        })?;
        Ok(Acceptor { stop, thread })
    }

    /// Stops accepting connections.
    pub(super) fn stop(self) {
        let _ = nix::unistd::write(&self.stop, &[1]);
        let _ = self.thread.join();
    }
}

/// Serves `stream` with `serve` on a thread of its own named `name`, counted
/// against `max_clients` with every client of every socket; one over the
/// limit is handed to `refuse` instead.
pub(super) fn serve_counted(
    daemon: &Arc<Daemon>,
    stream: UnixStream,
    name: &str,
    refuse: impl FnOnce(&Daemon, UnixStream),
    serve: impl FnOnce(&Arc<Daemon>, UnixStream) + Send + 'static,
) {
    let count = daemon.clients.fetch_add(1, Ordering::SeqCst) + 1;
    if count > daemon.config.max_clients {
        daemon.clients.fetch_sub(1, Ordering::SeqCst);
        return refuse(daemon, stream);
    }
    let daemon = Arc::clone(daemon);
    let spawned = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        serve(&daemon, stream);
        daemon.clients.fetch_sub(1, Ordering::SeqCst);
    });
    if let Err(err) = spawned {
        tracing::error!("cannot start a client thread: {err}");
    }
}

/// Serves leased's own socket.
pub fn start(daemon: Arc<Daemon>, listener: UnixListener) -> io::Result<Acceptor> {
    Acceptor::start("leased-accept", listener, move |stream| {
        let refuse = |daemon: &Daemon, stream: UnixStream| {
            let error = ApiError::new(
                ErrorCode::Limit,
                format!("too many clients; the limit is {}", daemon.config.max_clients),
            );
            reply(&mut &stream, 0, Err(error));
        };
        serve_counted(&daemon, stream, "leased-client", refuse, serve);
    })
}

/// Who may use the socket: root, the daemon's own user, and members of the
/// socket group.
pub(super) fn permitted(daemon: &Daemon, peer: &Peer) -> bool {
    if peer.uid == 0 || peer.uid == nix::unistd::geteuid().as_raw() {
        return true;
    }
    daemon.socket_gid.is_some_and(|gid| peer.gid == gid || groups_of(peer.pid).contains(&gid))
}

/// A client's connection: who is at the other end.
pub(super) struct Caller {
    /// Its credentials; `subject` unset.
    pub peer: Peer,
    /// Its process, by pidfd.
    pub process: Arc<Process>,
    /// Whether it shares leased's pid namespace, so that pid numbers it
    /// writes mean the same processes here.
    same_namespace: bool,
}

/// The caller at the other end of `stream`, whose credentials the kernel
/// gives with its pid in leased's pid namespace (0 if not visible here).
pub(super) fn caller(stream: &UnixStream) -> Result<Caller, String> {
    let cred = getsockopt(stream, PeerCredentials).map_err(|e| format!("no credentials: {e}"))?;
    let pid = u32::try_from(cred.pid()).ok().filter(|&pid| pid > 0).ok_or_else(|| {
        "the client's process is outside leased's pid namespace, so leased cannot tell when \
         it exits"
            .to_owned()
    })?;
    let process = crate::pidfd::of_socket_peer(stream.as_fd())
        .ok()
        .and_then(|pidfd| Process::from_pidfd(pidfd).ok())
        .map_or_else(|| Process::open(pid), Ok)
        .map_err(|e| format!("pid {pid}: {e}"))?;
    let same_namespace = in_our_pid_namespace(&process);
    let peer =
        Peer { pid: process.pid, uid: cred.uid(), gid: cred.gid(), subject: None, client: None };
    Ok(Caller { peer, process: Arc::new(process), same_namespace })
}

fn serve(daemon: &Arc<Daemon>, stream: UnixStream) {
    let caller = match caller(&stream) {
        Ok(caller) => caller,
        Err(err) => {
            tracing::warn!("connection refused: {err}");
            reply(&mut &stream, 0, Err(ApiError::new(ErrorCode::BadRequest, err)));
            return;
        }
    };
    let peer = &caller.peer;
    if !permitted(daemon, peer) {
        tracing::warn!(pid = peer.pid, uid = peer.uid, "connection refused: not permitted");
        let error = ApiError::new(
            ErrorCode::PermissionDenied,
            format!("uid {} may not use leased (root or the socket group only)", peer.uid),
        );
        reply(&mut &stream, 0, Err(error));
        return;
    }
    let mut registration = Registration::default();
    serve_requests(daemon, &caller, &stream, &mut registration);
    daemon.watchdog_disconnected(&registration);
}

/// Reads a connection's frames, and the descriptors that come with them.
struct FrameReader<'a> {
    stream: &'a UnixStream,
    /// Room for as many descriptors as one message can carry, so that the
    /// kernel never installs some it cannot report.
    control: Vec<u8>,
    /// The first descriptor received since the last frame.
    fd: Option<OwnedFd>,
    /// More than one came.
    extra: bool,
}

/// The most descriptors one message carries (the kernel's SCM_MAX_FD).
const MAX_FDS: usize = 253;

impl<'a> FrameReader<'a> {
    fn new(stream: &'a UnixStream) -> FrameReader<'a> {
        FrameReader { stream, control: nix::cmsg_space!([RawFd; MAX_FDS]), fd: None, extra: false }
    }

    /// The descriptor that came with the frame just read, if any; an error
    /// if several did.
    fn take_fd(&mut self) -> Result<Option<OwnedFd>, ApiError> {
        let fd = self.fd.take();
        if std::mem::take(&mut self.extra) {
            return Err(ApiError::new(ErrorCode::BadRequest, "one request takes one descriptor"));
        }
        Ok(fd)
    }
}

impl Read for FrameReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<()>(
            self.stream.as_raw_fd(),
            &mut iov,
            Some(&mut self.control),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let received: Vec<RawFd> = msg
            .cmsgs()?
            .flat_map(|cmsg| match cmsg {
                ControlMessageOwned::ScmRights(fds) => fds,
                _ => Vec::new(),
            })
            .collect();
        let bytes = msg.bytes;
        for raw in received {
            // SAFETY: the kernel has just installed `raw` in this process
            // for this message; nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            if self.fd.is_none() {
                self.fd = Some(fd);
            } else {
                self.extra = true;
            }
        }
        Ok(bytes)
    }
}

/// Settles who `request` acts for (see the module docs): the process it
/// binds to, if known here, and `pid` set to its number in leased's
/// namespace.
fn resolve(
    caller: &Caller,
    request: &mut Request,
    fd: Option<OwnedFd>,
) -> Result<Option<Arc<Process>>, ApiError> {
    let bad = |message: String| Err(ApiError::new(ErrorCode::BadRequest, message));
    let (pid, pidfd) = match request {
        Request::Acquire(args) => (&mut args.pid, &mut args.pidfd),
        Request::Release(args) => (&mut args.pid, &mut args.pidfd),
        Request::Inquire(args) => (&mut args.pid, &mut args.pidfd),
        Request::Convert(args) => (&mut args.pid, &mut args.pidfd),
        _ if fd.is_some() => return bad("a descriptor came with a request that takes none".into()),
        _ => return Ok(None),
    };
    match (std::mem::take(pidfd), fd, *pid) {
        (true, Some(fd), None) => {
            let process = Process::from_pidfd(fd)
                .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("pidfd: {e}")))?;
            *pid = Some(process.pid);
            Ok(Some(Arc::new(process)))
        }
        (true, None, _) => bad("\"pidfd\": true, but no pidfd came with the request".into()),
        (true, Some(_), Some(_)) => bad("give \"pid\" or \"pidfd\", not both".into()),
        (false, Some(_), _) => bad("a descriptor came without \"pidfd\": true".into()),
        (false, None, Some(number)) if !caller.same_namespace => bad(format!(
            "pid {number} is numbered in the client's pid namespace, not leased's: send a pidfd \
             of the process instead (\"pidfd\": true, SCM_RIGHTS)"
        )),
        (false, None, Some(_)) => Ok(None),
        (false, None, None) => Ok(Some(Arc::clone(&caller.process))),
    }
}

fn serve_requests(
    daemon: &Arc<Daemon>,
    caller: &Caller,
    stream: &UnixStream,
    registration: &mut Registration,
) {
    let mut reader = FrameReader::new(stream);
    loop {
        let body = match api::read_frame(&mut reader, daemon.config.max_frame) {
            Ok(body) => body,
            Err(FrameError::Closed) => return,
            Err(FrameError::TooLarge { len, max }) => {
                // The rest of the frame cannot be skipped safely: answer and
                // hang up.
                let error = ApiError::new(
                    ErrorCode::FrameTooLarge,
                    format!("a frame of {len} bytes exceeds the limit of {max}"),
                );
                reply(&mut { stream }, 0, Err(error));
                return;
            }
            Err(FrameError::Io(_)) => return,
        };
        let fd = reader.take_fd();
        let (id, outcome) = match parse_request(&body) {
            // The connection carries the group's events from now on.
            Ok(frame)
                if matches!(fd, Ok(None)) && matches!(frame.request, Request::GroupWatch(_)) =>
            {
                let Request::GroupWatch(args) = &frame.request else { unreachable!() };
                if daemon.group_watch(frame.id, args, stream) {
                    return;
                }
                continue;
            }
            Ok(mut frame) => {
                let subject = fd.and_then(|fd| resolve(caller, &mut frame.request, fd));
                let outcome = subject.and_then(|subject| {
                    let peer = Peer { subject, ..caller.peer.clone() };
                    dispatch(daemon, &peer, registration, frame.request)
                });
                (frame.id, outcome)
            }
            Err((id, error)) => (id, Err(error)),
        };
        if let Err(error) = &outcome {
            let pid = caller.peer.pid;
            tracing::debug!(pid, code = ?error.code, "request failed: {}", error.message);
        }
        if !reply(&mut { stream }, id, outcome) {
            return;
        }
    }
}

/// Sends a reply; false if the client is gone.
pub(super) fn reply(
    writer: &mut &UnixStream,
    id: u64,
    outcome: Result<Box<RawValue>, ApiError>,
) -> bool {
    let frame = ResponseFrame::reply(id, outcome);
    let body = serde_json::to_vec(&frame).expect("replies serialize");
    let sent = write_frame(writer, &body).is_ok();
    if body.len() >= memory::BULK_BYTES {
        drop((frame, body));
        memory::trim();
    }
    sent
}

fn to_value(result: impl serde::Serialize) -> Result<Box<RawValue>, ApiError> {
    serde_json::value::to_raw_value(&result)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
}

fn dispatch(
    daemon: &Arc<Daemon>,
    peer: &Peer,
    registration: &mut Registration,
    request: Request,
) -> Result<Box<RawValue>, ApiError> {
    match request {
        Request::Version => to_value(daemon.version()),
        Request::AddLockspace(args) => to_value(daemon.add_lockspace(args)?),
        Request::RemLockspace(args) => to_value(daemon.rem_lockspace(args)?),
        Request::Status => to_value(daemon.status()),
        Request::Hosts(args) => to_value(daemon.hosts(&args.lockspace)?),
        Request::Acquire(args) => to_value(daemon.acquire(peer, args)?),
        Request::Release(args) => to_value(daemon.release(peer, args)?),
        Request::Inquire(args) => to_value(daemon.inquire(peer, args)?),
        Request::Convert(args) => to_value(daemon.convert(peer, args)?),
        Request::Request(args) => to_value(daemon.request(args)?),
        Request::WatchdogRegister(args) => {
            to_value(daemon.watchdog_register(peer, registration, args)?)
        }
        Request::WatchdogRenew(args) => to_value(daemon.watchdog_renew(registration, &args)?),
        Request::WatchdogUnregister => to_value(daemon.watchdog_unregister(registration)?),
        Request::IndexFormat(args) => to_value(daemon.index_format(args)?),
        Request::IndexList(args) => to_value(daemon.index_list(&args.lockspace)?),
        Request::IndexCreate(args) => to_value(daemon.index_create(&args)?),
        Request::IndexDelete(args) => to_value(daemon.index_delete(&args)?),
        Request::GroupCreate(args) => to_value(daemon.group_create(&args)?),
        Request::GroupDelete(args) => to_value(daemon.group_delete(&args)?),
        Request::GroupList(args) => to_value(daemon.group_list(&args.lockspace)?),
        Request::GroupJoin(args) => to_value(daemon.group_join(peer, &args)?),
        Request::GroupLeave(args) => to_value(daemon.group_leave(peer, &args)?),
        Request::GroupMembers(args) => to_value(daemon.group_members(&args)?),
        Request::GroupUpdate(args) => to_value(daemon.group_update(peer, &args)?),
        Request::GroupHeartbeat(args) => {
            to_value(serde_json::json!({ "kept": daemon.group_heartbeat(peer, &args)? }))
        }
        Request::GroupElect(args) => to_value(daemon.group_elect(peer, &args)?),
        Request::GroupStandDown(args) => to_value(daemon.group_stand_down(peer, &args)?),
        Request::GroupWatch(_) => unreachable!("served by serve_requests"),
    }
}
