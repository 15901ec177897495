//! The socket: connections, their limits and permissions, and dispatch.
//!
//! Each connection runs on its own thread, one request at a time, so a
//! request that waits (an acquire with a wait, a join with `wait`) holds up
//! only its own client. Every malformed, oversized or unauthorised request
//! gets an error reply and changes nothing.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use serde_json::value::RawValue;

use super::memory;
use super::process::groups_of;
use super::watchdog_clients::Registration;
use super::{Daemon, Peer};
use crate::api::{
    self, ApiError, ErrorCode, FrameError, Request, ResponseFrame, parse_request, write_frame,
};

/// The accept loop, on its own thread.
pub struct Server {
    stop: OwnedFd,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    pub fn start(daemon: Arc<Daemon>, listener: UnixListener) -> io::Result<Server> {
        let (stop_read, stop) = nix::unistd::pipe().map_err(io::Error::from)?;
        let thread = std::thread::Builder::new()
            .name("leased-accept".to_owned())
            .spawn(move || accept(&daemon, &listener, &stop_read))?;
        Ok(Server { stop, thread })
    }

    /// Stops accepting connections.
    pub fn stop(self) {
        let _ = nix::unistd::write(&self.stop, &[1]);
        let _ = self.thread.join();
    }
}

fn accept(daemon: &Arc<Daemon>, listener: &UnixListener, stop: &OwnedFd) {
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return;
        }
        let Ok((stream, _)) = listener.accept() else { continue };
        let count = daemon.clients.fetch_add(1, Ordering::SeqCst) + 1;
        if count > daemon.config.max_clients {
            daemon.clients.fetch_sub(1, Ordering::SeqCst);
            let error = ApiError::new(
                ErrorCode::Limit,
                format!("too many clients; the limit is {}", daemon.config.max_clients),
            );
            reply(&mut &stream, 0, Err(error));
            continue;
        }
        let daemon = Arc::clone(daemon);
        let spawned =
            std::thread::Builder::new().name("leased-client".to_owned()).spawn(move || {
                serve(&daemon, stream);
                daemon.clients.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(err) = spawned {
            tracing::error!("cannot start a client thread: {err}");
        }
    }
}

/// Who may use the socket: root, the daemon's own user, and members of the
/// socket group.
fn permitted(daemon: &Daemon, peer: &Peer) -> bool {
    if peer.uid == 0 || peer.uid == nix::unistd::geteuid().as_raw() {
        return true;
    }
    daemon.socket_gid.is_some_and(|gid| peer.gid == gid || groups_of(peer.pid).contains(&gid))
}

fn serve(daemon: &Arc<Daemon>, stream: UnixStream) {
    let peer = match getsockopt(&stream, PeerCredentials) {
        Ok(cred) => {
            Peer { pid: u32::try_from(cred.pid()).unwrap_or(0), uid: cred.uid(), gid: cred.gid() }
        }
        Err(err) => {
            tracing::warn!("a client without credentials: {err}");
            return;
        }
    };
    if !permitted(daemon, &peer) {
        tracing::warn!(pid = peer.pid, uid = peer.uid, "connection refused: not permitted");
        let error = ApiError::new(
            ErrorCode::PermissionDenied,
            format!("uid {} may not use leased (root or the socket group only)", peer.uid),
        );
        reply(&mut &stream, 0, Err(error));
        return;
    }
    let mut registration = Registration::default();
    serve_requests(daemon, &peer, &stream, &mut registration);
    daemon.watchdog_disconnected(&registration);
}

fn serve_requests(
    daemon: &Arc<Daemon>,
    peer: &Peer,
    stream: &UnixStream,
    registration: &mut Registration,
) {
    let mut reader = stream;
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
        let (id, outcome) = match parse_request(&body) {
            Ok(frame) => (frame.id, dispatch(daemon, peer, registration, frame.request)),
            Err((id, error)) => (id, Err(error)),
        };
        if let Err(error) = &outcome {
            tracing::debug!(pid = peer.pid, code = ?error.code, "request failed: {}", error.message);
        }
        if !reply(&mut { stream }, id, outcome) {
            return;
        }
    }
}

/// Sends a reply; false if the client is gone.
fn reply(writer: &mut &UnixStream, id: u64, outcome: Result<Box<RawValue>, ApiError>) -> bool {
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
    }
}
