//! wdmd's socket: sanlock (or any wdmd client) shares leased's watchdog.
//!
//! A thin front end: each message ([`crate::wdmd::wire`]) becomes a call
//! to the [`WatchdogClients`] service, the same one leased's own socket
//! uses, so the expiry bookkeeping is the multiplexer's and nothing here
//! decides when the device is kept alive.
//!
//! | wdmd message | here |
//! |---|---|
//! | REGISTER(name) | names the connection; its pid comes from SO_PEERCRED |
//! | REFCOUNT_SET / CLEAR | a hold on the service: SIGTERM refuses while one stands |
//! | TEST_LIVE(renewal, expire) | registers (first nonzero expire) or renews a watchdog client; `expire == 0` unregisters it |
//! | STATUS | replies test_interval, F, last_keepalive |
//! | OPEN_WATCHDOG(F') | replies F' if it is leased's F, else 0 (the device's timeout is one for all) |
//! | DUMP_DEBUG | a short text dump, then the connection closes |
//!
//! As in wdmd, a connection that closes with an expiry set stays a client
//! and keeps being tested, so the host is reset when it passes; one with
//! none is dropped with its hold. Times on the wire are `CLOCK_MONOTONIC`
//! seconds, translated by [`crate::wdmd`]. A message that is cut short
//! closes its connection; an unknown command is ignored, as wdmd ignores
//! it. Nothing read from the socket can panic leased.
//!
//! Besides the socket, leased takes wdmd's other marks (see
//! [`Endpoint::take`]): the pid file, locked, and, at wdmd's own path, the
//! shared-memory marker. Connections run on a thread each, at most
//! [`MAX_CONNECTIONS`]. Lock order: the connection list alone; the
//! service's lock is taken by its calls. Covered by `tests/wdmd.rs`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use super::config::{Config, WdmdSocket};
use super::rundir::{PidLock, lock_pid_file};
use super::server::Acceptor;
use super::watchdog_clients::{AtShutdown, HoldId, WatchdogClients};
use super::{Daemon, DaemonError, Peer};
use crate::clock::{Clock, OsClock};
use crate::watchdog::{ClientId, test_interval_for};
use crate::wdmd::wire::{HEADER_SIZE, Header, Request, WireError};
use crate::wdmd::{self, PID_FILE, SHM_MARKER};

/// Most wdmd connections at once: sanlock keeps one per lockspace.
pub const MAX_CONNECTIONS: usize = 64;

/// Why wdmd's place cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{path}: {source}", path = path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is locked by a running wdmd (pid {pid})", path = path.display())]
    Busy { path: PathBuf, pid: String },
    #[error(
        "{marker} exists: a wdmd (or a leased serving its socket) did not stop cleanly in this \
         boot, and its watchdog device may be about to reset this host. Keeping a watchdog \
         alive now could call that reset off. Remove {marker} to start anyway (as for wdmd's \
         \"other wdmd not cleanly stopped\").",
        marker = marker.display()
    )]
    Unclean { marker: PathBuf },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> EndpointError + '_ {
    move |source| EndpointError::Io { path: path.to_owned(), source }
}

/// wdmd's socket, pid file and marker, held by leased.
pub struct Endpoint {
    socket: PathBuf,
    listener: UnixListener,
    pid_file: PathBuf,
    /// Holds the fcntl lock: closing any descriptor of the file would
    /// drop it, so it is the only one opened.
    _pid_lock: File,
    marker: Option<PathBuf>,
}

impl Endpoint {
    /// Takes wdmd's place at `socket`: locks `wdmd.pid` beside it with
    /// fcntl, as wdmd does (so a wdmd started later refuses, and one
    /// already running makes this fail); at wdmd's own path also creates
    /// [`SHM_MARKER`], refusing if it exists; then binds the socket.
    pub fn take(socket: &Path) -> Result<Endpoint, EndpointError> {
        let dir = socket.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let pid_file = dir.join(PID_FILE);
        let mut pid_lock = match lock_pid_file(&pid_file) {
            Ok(file) => file,
            Err(PidLock::Taken { pid }) => return Err(EndpointError::Busy { path: pid_file, pid }),
            Err(PidLock::Io(source)) => return Err(EndpointError::Io { path: pid_file, source }),
        };
        let marker = (socket == Path::new(wdmd::SOCKET)).then(|| PathBuf::from(SHM_MARKER));
        if let Some(marker) = &marker {
            // shm_open(O_CREAT|O_EXCL) is this open on /dev/shm.
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(marker);
            match created {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(EndpointError::Unclean { marker: marker.clone() });
                }
                Err(source) => return Err(EndpointError::Io { path: marker.clone(), source }),
            }
        }
        let endpoint = Endpoint::bind(socket, &mut pid_lock, &pid_file);
        match endpoint {
            Ok(listener) => Ok(Endpoint {
                socket: socket.to_owned(),
                listener,
                pid_file,
                _pid_lock: pid_lock,
                marker,
            }),
            Err(err) => {
                if let Some(marker) = &marker {
                    let _ = std::fs::remove_file(marker);
                }
                Err(err)
            }
        }
    }

    fn bind(
        socket: &Path,
        pid_lock: &mut File,
        pid_file: &Path,
    ) -> Result<UnixListener, EndpointError> {
        pid_lock.set_len(0).map_err(io_error(pid_file))?;
        writeln!(pid_lock, "{}", std::process::id()).map_err(io_error(pid_file))?;
        // A socket left by a wdmd or leased that is gone (its lock is ours).
        let _ = std::fs::remove_file(socket);
        UnixListener::bind(socket).map_err(io_error(socket))
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Removes the socket and the pid file, and the marker only if the
    /// device was `disarmed`: left armed, the host is to be reset, and the
    /// marker tells a wdmd (or leased) started before that not to keep a
    /// watchdog alive.
    pub fn close(self, disarmed: bool) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(&self.pid_file);
        if let Some(marker) = &self.marker {
            if disarmed {
                let _ = std::fs::remove_file(marker);
            } else {
                tracing::error!(
                    marker = %marker.display(),
                    "the watchdog stays armed: the wdmd marker is kept until the reset"
                );
            }
        }
    }
}

/// wdmd's place as `config` says: `None` when off, or when the default
/// cannot take it (not root, a wdmd running). A marker left by an unclean
/// stop refuses the start either way, before the device is opened.
pub(super) fn take(config: &Config) -> Result<Option<Endpoint>, DaemonError> {
    let start_error = |err: EndpointError| DaemonError::Start(format!("wdmd socket: {err}"));
    match config.wdmd_socket()? {
        WdmdSocket::Off => Ok(None),
        WdmdSocket::On(path) => Endpoint::take(&path).map(Some).map_err(start_error),
        WdmdSocket::Auto(path) => match Endpoint::take(&path) {
            Ok(endpoint) => Ok(Some(endpoint)),
            Err(err @ EndpointError::Unclean { .. }) => Err(start_error(err)),
            Err(err) => {
                tracing::warn!(
                    "not serving wdmd's socket, so sanlock cannot use this watchdog: {err}"
                );
                Ok(None)
            }
        },
    }
}

/// The connections open now, to end them at stop.
#[derive(Default)]
struct Connections {
    open: Mutex<BTreeMap<u64, UnixStream>>,
    next: AtomicU64,
}

/// The accept loop on wdmd's socket, and the connections it opened.
pub struct WdmdServer {
    acceptor: Acceptor,
    connections: Arc<Connections>,
}

impl WdmdServer {
    pub fn start(daemon: Arc<Daemon>, endpoint: &Endpoint) -> io::Result<WdmdServer> {
        let listener = endpoint.listener.try_clone()?;
        let connections = Arc::new(Connections::default());
        let open = Arc::clone(&connections);
        let acceptor = Acceptor::start("leased-wdmd-accept", listener, move |stream| {
            admit(&daemon, stream, &open);
        })?;
        tracing::info!(socket = %endpoint.socket.display(), "serving wdmd's protocol");
        Ok(WdmdServer { acceptor, connections })
    }

    /// Stops accepting and ends every connection; the registrations they
    /// made stand.
    pub fn stop(self) {
        self.acceptor.stop();
        for stream in self.connections.open.lock().expect("wdmd connections lock").values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Serves one accepted connection on a thread of its own, kept in `open`
/// (at most [`MAX_CONNECTIONS`]) so that a stop can end it.
fn admit(daemon: &Arc<Daemon>, stream: UnixStream, open: &Arc<Connections>) {
    let Ok(kept) = stream.try_clone() else { return };
    let id = open.next.fetch_add(1, Ordering::SeqCst);
    {
        let mut streams = open.open.lock().expect("wdmd connections lock");
        if streams.len() >= MAX_CONNECTIONS {
            tracing::warn!("wdmd connection refused: {MAX_CONNECTIONS} are open already");
            return;
        }
        streams.insert(id, kept);
    }
    let daemon = Arc::clone(daemon);
    let connections = Arc::clone(open);
    let spawned = std::thread::Builder::new().name("leased-wdmd".to_owned()).spawn(move || {
        serve(&daemon, &stream);
        connections.open.lock().expect("wdmd connections lock").remove(&id);
    });
    if let Err(err) = spawned {
        tracing::error!("cannot start a wdmd connection thread: {err}");
        open.open.lock().expect("wdmd connections lock").remove(&id);
    }
}

/// Why a connection ends.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("reading a wdmd message: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// The next message, or `None` at a clean end of the connection.
fn read_header(stream: &mut &UnixStream) -> Result<Option<Header>, ConnectionError> {
    let mut buf = [0u8; HEADER_SIZE];
    let mut got = 0;
    while got < HEADER_SIZE {
        match stream.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(WireError::Short { got }.into()),
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Some(Header::decode(&buf)?))
}

/// One wdmd connection.
struct Connection<'a> {
    clients: &'a WatchdogClients,
    fire_timeout: Duration,
    pid: u32,
    name: Option<String>,
    client: Option<ClientId>,
    hold: Option<HoldId>,
}

fn serve(daemon: &Daemon, stream: &UnixStream) {
    let Ok(cred) = getsockopt(stream, PeerCredentials) else { return };
    let Some(pid) = u32::try_from(cred.pid()).ok().filter(|&pid| pid > 0) else {
        tracing::warn!("wdmd connection refused: the client is outside leased's pid namespace");
        return;
    };
    let peer = Peer { pid, uid: cred.uid(), gid: cred.gid(), subject: None, client: None };
    if !super::server::permitted(daemon, &peer) {
        tracing::warn!(pid, uid = peer.uid, "wdmd connection refused: not permitted");
        return;
    }
    let mut connection = Connection {
        clients: &daemon.watchdog_clients,
        fire_timeout: daemon.watchdog.fire_timeout(),
        pid,
        name: None,
        client: None,
        hold: None,
    };
    let mut stream = stream;
    loop {
        let header = match read_header(&mut stream) {
            Ok(Some(header)) => header,
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(pid, "wdmd connection closed: {err}");
                break;
            }
        };
        let request = match header.request() {
            Ok(request) => request,
            Err(err) => {
                tracing::warn!(pid, "{err}: ignored, as wdmd ignores it");
                continue;
            }
        };
        match connection.handle(&header, request) {
            Ok(Some(reply)) => {
                if let Err(err) = stream.write_all(&reply) {
                    tracing::warn!(pid, "wdmd connection closed: replying: {err}");
                    break;
                }
            }
            Ok(None) => {}
            Err(Close { dump }) => {
                let _ = stream.write_all(dump.as_bytes());
                break;
            }
        }
    }
    connection.closed();
}

/// The connection ends after sending `dump`.
struct Close {
    dump: String,
}

impl Connection<'_> {
    fn label(&self) -> String {
        format!("wdmd {} (pid {})", self.name.as_deref().unwrap_or("client"), self.pid)
    }

    /// Serves one request: the bytes to reply with, if any.
    fn handle(
        &mut self,
        header: &Header,
        request: Request,
    ) -> Result<Option<[u8; HEADER_SIZE]>, Close> {
        match request {
            Request::Register { name } => {
                tracing::info!(pid = self.pid, name, "wdmd client registered");
                self.name = Some(name);
            }
            Request::RefcountSet => {
                if self.hold.is_none() {
                    self.hold = self.clients.hold(&self.label());
                }
            }
            Request::RefcountClear => {
                if let Some(hold) = self.hold.take() {
                    self.clients.release(hold);
                }
            }
            Request::TestLive { renewal, expire } => self.test_live(renewal, expire)?,
            Request::Status => return Ok(Some(self.status(header).encode())),
            Request::OpenWatchdog { fire_timeout } => {
                let ours = self.fire_timeout_s();
                if fire_timeout != ours {
                    tracing::warn!(
                        pid = self.pid,
                        "a wdmd client asks for a fire timeout of {fire_timeout} s; this \
                         watchdog's is {ours} s, one for all its clients: refused"
                    );
                }
                let granted = if fire_timeout == ours { ours } else { 0 };
                return Ok(Some(header.open_reply(granted).encode()));
            }
            Request::DumpDebug => return Err(Close { dump: self.dump() }),
        }
        Ok(None)
    }

    fn fire_timeout_s(&self) -> u32 {
        u32::try_from(self.fire_timeout.as_secs()).unwrap_or(u32::MAX)
    }

    /// Registers, renews or (at `expire == 0`) unregisters the client.
    fn test_live(&mut self, renewal: u64, expire: u64) -> Result<(), Close> {
        if expire == 0 {
            if let Some(client) = self.client.take() {
                self.clients.unregister(client);
            }
            return Ok(());
        }
        // Read together: the expiry's time left on one is put on the other.
        let monotonic_now = OsClock.monotonic();
        let expiry = wdmd::expiry(expire, monotonic_now, OsClock.now());
        let close = |why: String| {
            tracing::error!(pid = self.pid, "wdmd connection closed: {why}");
            Close { dump: String::new() }
        };
        match self.client {
            Some(client) => match self.clients.renew(client, expiry) {
                Some(_) => Ok(()),
                None => Err(close("its watchdog client was unregistered at shutdown".into())),
            },
            None => {
                let margin = wdmd::margin(renewal, expire, self.fire_timeout);
                let label = self.label();
                let registered = self.clients.register(&label, expiry, margin, AtShutdown::Keep);
                match registered {
                    Ok(client) => {
                        self.client = Some(client);
                        Ok(())
                    }
                    Err(refused) => Err(close(format!("{label} cannot be tested: {refused}"))),
                }
            }
        }
    }

    fn status(&self, header: &Header) -> Header {
        let watchdog = self.clients.watchdog();
        let interval = test_interval_for(self.fire_timeout).as_secs().max(1);
        let monotonic_now = OsClock.monotonic();
        let now = OsClock.now();
        let last_keepalive =
            watchdog.last_keepalive().map_or(0, |at| wdmd::monotonic_secs(at, monotonic_now, now));
        header.status_reply(
            u32::try_from(interval).unwrap_or(u32::MAX),
            self.fire_timeout_s(),
            last_keepalive,
        )
    }

    /// A few lines on the device and its clients, for `wdmd -d`.
    fn dump(&self) -> String {
        let status = self.clients.watchdog().status();
        let mut text = format!(
            "leased {} serving wdmd: device {} fire_timeout {} petting {} last_keepalive_s_ago \
             {}\n",
            env!("CARGO_PKG_VERSION"),
            status.device,
            status.fire_timeout_s,
            status.petting,
            status.last_pet_s.map_or_else(|| "never".to_owned(), |s| format!("{s:.1}"))
        );
        for client in &status.clients {
            let _ =
                writeln!(text, "client {} expires_in_s {:.1}", client.name, client.expires_in_s);
        }
        text
    }

    /// The connection ended: a hold ends with it; a client with an expiry
    /// stays and keeps being tested, as in wdmd.
    fn closed(&mut self) {
        if let Some(hold) = self.hold.take() {
            self.clients.release(hold);
        }
        if let Some(client) = self.client {
            self.clients.disconnected(client);
        }
    }
}
