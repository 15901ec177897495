//! Library mode: talk to `leased` from Rust, in-process.
//!
//! Hypervisor hooks and services link this instead of running the `lease`
//! command. Leases belong to a process: the caller's own, or (for a root
//! caller, or the caller's child) another's given by pid, as a hook that
//! starts a VM acquires for the VM's pid and exits. `leased` releases a
//! process's leases when it exits.
//!
//! A pid given here is this process's number for it, in whatever pid
//! namespace (container) it runs: the client opens a pidfd for it and
//! sends that, so leased binds the lease to that very process, never to
//! whatever the number means in leased's namespace.
//!
//! ```no_run
//! use lease::client::{AcquireOptions, Client};
//!
//! # fn main() -> Result<(), lease::client::ClientError> {
//! let mut client = Client::connect_default()?;
//! client.add_lockspace("vms:1:/dev/vg/leases:0", None, true)?;
//! let vm_pid = 4242;
//! let held = client.acquire(
//!     &["vms:vm1:/dev/vg/leases:1048576"],
//!     AcquireOptions { pid: Some(vm_pid), ..AcquireOptions::default() },
//! )?;
//! println!("holding {} at lver {}", held[0].resource, held[0].lver);
//! # Ok(())
//! # }
//! ```
//!
//! Without a daemon, [`crate::direct`] works on the disk itself.

pub mod local_daemon;

use std::io::{self, IoSlice, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use serde::de::DeserializeOwned;

use crate::api::results::{
    HostsReply, IndexCreateReply, IndexEntry, IndexReply, LeaseStatus, LeasesReply, RequestReply,
    StatusReply, VersionReply, WatchdogReply,
};
use crate::api::{
    self, Acquire, AddLockspace, ApiError, Convert, ErrorCode, Force, Hosts, IndexFormat,
    IndexList, IndexName, Inquire, LeaseRequest, MAX_REPLY, PROTOCOL_VERSION, Release,
    RemLockspace, Request, RequestFrame, ResourceArg, ResponseFrame, WatchdogRegister,
    WatchdogRenew,
};
use crate::cli::exit;
use crate::paxos::Mode;

/// The run dir when `LEASED_RUN_DIR` is not set.
pub const DEFAULT_RUN_DIR: &str = "/run/leased";
/// The socket's name in the run dir.
pub const SOCKET_NAME: &str = "leased.sock";

/// The run dir: `$LEASED_RUN_DIR`, else `/run/leased`.
pub fn run_dir() -> PathBuf {
    std::env::var_os("LEASED_RUN_DIR").map_or_else(|| PathBuf::from(DEFAULT_RUN_DIR), PathBuf::from)
}

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach leased at {path}: {source} (is the daemon running? LEASED_RUN_DIR moves it)", path = path.display())]
    Unreachable { path: PathBuf, source: io::Error },
    #[error("permission denied connecting to {path}: {source}", path = path.display())]
    PermissionDenied { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("lost the connection to leased: {0}")]
    Io(#[from] io::Error),
}

impl ClientError {
    /// The `lease` command's exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Unreachable { .. } | ClientError::Io(_) => exit::UNAVAILABLE,
            ClientError::PermissionDenied { .. } => exit::NOPERM,
            ClientError::Api(err) => err.code.exit_code(),
            ClientError::Protocol(_) => exit::SOFTWARE,
        }
    }

    /// The daemon's error code, if the daemon answered.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api(err) => Some(err.code),
            _ => None,
        }
    }
}

/// How to acquire.
#[derive(Clone, Debug, Default)]
pub struct AcquireOptions {
    /// The process the leases belong to [default: the caller].
    pub pid: Option<u32>,
    /// Wait this long for busy resources instead of failing.
    pub wait: Option<Duration>,
    /// Keep the leases after the process exits, until released or adopted.
    pub persistent: bool,
    /// Take over leases an exited process left (persistent orphans).
    pub adopt: bool,
}

/// A connection to `leased`.
pub struct Client {
    stream: UnixStream,
    next_id: u64,
}

impl Client {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| match source.kind() {
            io::ErrorKind::PermissionDenied => {
                ClientError::PermissionDenied { path: path.to_owned(), source }
            }
            _ => ClientError::Unreachable { path: path.to_owned(), source },
        })?;
        Ok(Client { stream, next_id: 1 })
    }

    /// Connects to the socket in [`run_dir`].
    pub fn connect_default() -> Result<Client, ClientError> {
        Client::connect(&run_dir().join(SOCKET_NAME))
    }

    /// Sends one request and waits for its reply.
    pub fn call<T: DeserializeOwned>(&mut self, request: Request) -> Result<T, ClientError> {
        self.call_with(request, None)
    }

    /// Sends one request, with `pidfd` (for a request whose `pidfd` is
    /// set), and waits for its reply.
    fn call_with<T: DeserializeOwned>(
        &mut self,
        request: Request,
        pidfd: Option<OwnedFd>,
    ) -> Result<T, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let frame = RequestFrame { v: PROTOCOL_VERSION, id, request };
        let body = serde_json::to_vec(&frame).map_err(|e| ClientError::Protocol(e.to_string()))?;
        // leased may have refused the connection (permission, client limit)
        // and closed it before the request went out: its reason is then
        // waiting to be read.
        let unsent = match self.send(&body, pidfd.as_ref()) {
            Ok(()) => None,
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Some(err),
            Err(err) => return Err(ClientError::Io(err)),
        };
        let reply = api::read_frame(&mut self.stream, MAX_REPLY).map_err(|err| match err {
            api::FrameError::Closed => {
                ClientError::Io(unsent.unwrap_or_else(|| io::ErrorKind::UnexpectedEof.into()))
            }
            api::FrameError::Io(io) => ClientError::Io(io),
            other => ClientError::Protocol(other.to_string()),
        })?;
        let reply: ResponseFrame =
            serde_json::from_slice(&reply).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if reply.id != id && reply.id != 0 {
            return Err(ClientError::Protocol(format!("reply to {} for request {id}", reply.id)));
        }
        match (reply.ok, reply.result, reply.error) {
            (true, Some(result), _) => {
                serde_json::from_str(result.get()).map_err(|e| ClientError::Protocol(e.to_string()))
            }
            (false, _, Some(error)) => Err(ClientError::Api(error)),
            _ => Err(ClientError::Protocol("a reply with neither result nor error".to_owned())),
        }
    }

    /// Writes one frame; `pidfd` goes with its first bytes (SCM_RIGHTS).
    fn send(&mut self, body: &[u8], pidfd: Option<&OwnedFd>) -> io::Result<()> {
        let Some(pidfd) = pidfd else { return api::write_frame(&mut self.stream, body) };
        let mut frame = Vec::with_capacity(body.len() + 4);
        api::write_frame(&mut frame, body)?;
        let fds = [pidfd.as_raw_fd()];
        let sent = sendmsg::<()>(
            self.stream.as_raw_fd(),
            &[IoSlice::new(&frame)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        self.stream.write_all(frame.get(sent..).unwrap_or_default())
    }

    pub fn version(&mut self) -> Result<VersionReply, ClientError> {
        self.call(Request::Version)
    }

    /// Joins lockspace `spec` (`NAME:HOST_ID:PATH:OFFSET`); with `wait`, only
    /// returns once joined.
    pub fn add_lockspace(
        &mut self,
        spec: &str,
        io_timeout: Option<u8>,
        wait: bool,
    ) -> Result<StatusReply, ClientError> {
        let args = AddLockspace { lockspace: spec.to_owned(), io_timeout, wait };
        self.call(Request::AddLockspace(args))
    }

    /// Leaves lockspace `name`; with `force`, releases its leases even if
    /// their processes still run.
    pub fn rem_lockspace(&mut self, name: &str, force: bool) -> Result<StatusReply, ClientError> {
        self.call(Request::RemLockspace(RemLockspace { lockspace: name.to_owned(), force }))
    }

    pub fn status(&mut self) -> Result<StatusReply, ClientError> {
        self.call(Request::Status)
    }

    pub fn hosts(&mut self, lockspace: &str) -> Result<HostsReply, ClientError> {
        self.call(Request::Hosts(Hosts { lockspace: lockspace.to_owned() }))
    }

    /// Writes `lockspace`'s name index.
    pub fn index_format(
        &mut self,
        lockspace: &str,
        max_names: Option<u32>,
    ) -> Result<IndexReply, ClientError> {
        self.call(Request::IndexFormat(IndexFormat { lockspace: lockspace.to_owned(), max_names }))
    }

    /// Every name in `lockspace`'s name index.
    pub fn index_list(&mut self, lockspace: &str) -> Result<IndexReply, ClientError> {
        self.call(Request::IndexList(IndexList { lockspace: lockspace.to_owned() }))
    }

    /// Finds `name` in `lockspace`'s name index, adding it if absent.
    pub fn index_create(
        &mut self,
        lockspace: &str,
        name: &str,
    ) -> Result<IndexCreateReply, ClientError> {
        let args = IndexName { lockspace: lockspace.to_owned(), name: name.to_owned() };
        self.call(Request::IndexCreate(args))
    }

    /// Removes `name`, which nobody may hold, from `lockspace`'s name index.
    pub fn index_delete(&mut self, lockspace: &str, name: &str) -> Result<IndexEntry, ClientError> {
        let args = IndexName { lockspace: lockspace.to_owned(), name: name.to_owned() };
        self.call(Request::IndexDelete(args))
    }

    /// Acquires every resource in `specs` (`LS:NAME:PATH:OFFSET[:LVER|:SH]`),
    /// or none.
    pub fn acquire<R: Clone + Into<ResourceArg>>(
        &mut self,
        specs: &[R],
        options: AcquireOptions,
    ) -> Result<Vec<LeaseStatus>, ClientError> {
        let (pid, pidfd) = acting_for(options.pid);
        let args = Acquire {
            resources: specs.iter().cloned().map(Into::into).collect(),
            pid,
            pidfd: pidfd.is_some(),
            wait_ms: options.wait.map(|w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX)),
            persistent: options.persistent,
            adopt: options.adopt,
            lvb: false,
        };
        self.call_with::<LeasesReply>(Request::Acquire(args), pidfd).map(|r| r.leases)
    }

    /// Releases resources of process `pid` (the caller if `None`); all of
    /// them if `specs` is empty and `all` is set.
    pub fn release<R: Clone + Into<ResourceArg>>(
        &mut self,
        specs: &[R],
        pid: Option<u32>,
        all: bool,
        orphan: bool,
    ) -> Result<Vec<LeaseStatus>, ClientError> {
        let (pid, pidfd) = acting_for(pid);
        let args = Release {
            resources: specs.iter().cloned().map(Into::into).collect(),
            pid,
            pidfd: pidfd.is_some(),
            all,
            orphan,
        };
        self.call_with::<LeasesReply>(Request::Release(args), pidfd).map(|r| r.leases)
    }

    /// The leases of process `pid` (every lease of this host if `None`).
    pub fn inquire(&mut self, pid: Option<u32>) -> Result<Vec<LeaseStatus>, ClientError> {
        let (pid, pidfd) = acting_for(pid);
        let args = Inquire { pid, pidfd: pidfd.is_some() };
        self.call_with::<LeasesReply>(Request::Inquire(args), pidfd).map(|r| r.leases)
    }

    /// Switches a held resource to `mode`.
    pub fn convert(
        &mut self,
        spec: &str,
        mode: Mode,
        pid: Option<u32>,
    ) -> Result<Vec<LeaseStatus>, ClientError> {
        let (pid, pidfd) = acting_for(pid);
        let args = Convert { resource: spec.to_owned(), mode, pid, pidfd: pidfd.is_some() };
        self.call_with::<LeasesReply>(Request::Convert(args), pidfd).map(|r| r.leases)
    }

    /// Asks the owner of a resource to give it up.
    pub fn request(
        &mut self,
        spec: &str,
        force: Force,
        lver: Option<u64>,
    ) -> Result<RequestReply, ClientError> {
        self.call(Request::Request(LeaseRequest { resource: spec.to_owned(), force, lver }))
    }

    /// Makes this connection a client of the host's watchdog, under `name`:
    /// from now on the host is reset if [`Client::watchdog_renew`] is not
    /// called before each expiry, even if this process hangs or dies. Only
    /// [`Client::watchdog_unregister`] ends that.
    pub fn watchdog_register(
        &mut self,
        name: &str,
        expiry: Duration,
    ) -> Result<WatchdogReply, ClientError> {
        let expiry_ms = u64::try_from(expiry.as_millis()).unwrap_or(u64::MAX);
        self.call(Request::WatchdogRegister(WatchdogRegister { name: name.to_owned(), expiry_ms }))
    }

    /// Moves this connection's watchdog expiry to `expiry` from now.
    pub fn watchdog_renew(&mut self, expiry: Duration) -> Result<WatchdogReply, ClientError> {
        let expiry_ms = u64::try_from(expiry.as_millis()).unwrap_or(u64::MAX);
        self.call(Request::WatchdogRenew(WatchdogRenew { expiry_ms }))
    }

    /// Ends this connection's watchdog registration cleanly.
    pub fn watchdog_unregister(&mut self) -> Result<WatchdogReply, ClientError> {
        self.call(Request::WatchdogUnregister)
    }
}

/// How to name process `pid` (this process's number) to leased: by a pidfd,
/// which means the same process in every pid namespace; or, if none can be
/// opened (the process has exited), by the number, which leased takes only
/// from a client in its own pid namespace.
fn acting_for(pid: Option<u32>) -> (Option<u32>, Option<OwnedFd>) {
    match pid.map(|pid| (pid, crate::pidfd::open(pid))) {
        Some((_, Ok(pidfd))) => (None, Some(pidfd)),
        Some((pid, Err(_))) => (Some(pid), None),
        None => (None, None),
    }
}
