//! sanlock's own clients against leased's sanlock socket: raw requests
//! (bad input included), python3-sanlock, Debian's `sanlock client`, and a
//! C program linked against Debian's libsanlock replaying libvirt's and
//! lvmlockd's calls. Each test starts a real `leased` (`--watchdog none`,
//! its own run and state directories) on scratch lease files, io_timeout 1,
//! and checks what a sanlock client sees, what leased's JSON socket says and
//! what is on disk.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::sanlock::PYTHON;
use common::{Run, have, lease, lease_file, prerequisite, scratch, wait_for, zero_file};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

const MIB: u64 = 1 << 20;
/// How long a silent daemon is listened to before silence is concluded.
const SILENCE: Duration = Duration::from_millis(300);
/// The longest any single answer or line from a client may take.
const ANSWER: Duration = Duration::from_secs(20);

/// sanlock 3.8's wire constants (`sanlock_sock.h`, `sanlock.h`), written
/// out here rather than taken from leased's codec, so the codec is tested.
mod sm {
    pub const MAGIC: u32 = 0x0428_2010;
    pub const PROTO: u32 = 1;
    pub const REGISTER: u32 = 1;
    pub const ACQUIRE: u32 = 7;
    pub const INQUIRE: u32 = 9;
    pub const RESTRICT: u32 = 10;
    pub const VERSION: u32 = 28;
    pub const REG_EVENT: u32 = 30;
    pub const END_EVENT: u32 = 31;
    pub const SET_EVENT: u32 = 32;
    pub const SETEV_REPLACE_EVENT: u32 = 0x8;
    pub const LOCKSPACE_BYTES: usize = 1104;
    pub const RESTRICT_ALL: u32 = 1;
    /// data2 of a registered command acting for its own connection.
    pub const THIS_CONNECTION: u32 = u32::MAX;
    pub const HEADER_BYTES: usize = 32;
    pub const RESOURCE_BYTES: usize = 128;
    pub const DISK_BYTES: usize = 1040;
    pub const PATH_BYTES: usize = 1024;
    pub const OPTIONS_BYTES: usize = 56;
    /// VERSION's data2 from Debian's sanlock 3.8.5.
    pub const VERSION_HEX: u32 = 0x0308_0500;
}

// ---------------------------------------------------------------------------
// A leased under test.

/// A `leased` with its own run and state directories in a scratch
/// directory; killed when dropped.
struct Host {
    child: Child,
    run_dir: PathBuf,
    log: PathBuf,
    /// The scratch directory; the last field, so removed after the kill.
    dir: tempfile::TempDir,
}

impl Host {
    /// Starts leased and waits until its sanlock socket answers VERSION.
    fn start() -> Host {
        let dir = scratch();
        let run_dir = dir.path().join("run");
        let log = dir.path().join("leased.log");
        let config = dir.path().join("leased.conf");
        std::fs::write(&config, "").expect("write an empty configuration");
        let child = Command::new(env!("CARGO_BIN_EXE_leased"))
            .arg("--config")
            .arg(&config)
            .args(["--host-name", "leased-host"])
            .arg("--run-dir")
            .arg(&run_dir)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(["--watchdog", "none"])
            .env_remove("SANLOCK_RUN_DIR")
            .env_remove("LEASED_RUN_DIR")
            .env_remove("JOURNAL_STREAM")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the log"))
            .spawn()
            .expect("start leased");
        let mut host = Host { child, run_dir, log, dir };
        wait_for(Duration::from_secs(10), "leased answers VERSION on sanlock.sock", || {
            if let Some(status) = host.child.try_wait().expect("poll leased") {
                panic!("leased exited at start ({status}): {}", host.log_text());
            }
            let mut stream = UnixStream::connect(host.socket()).ok()?;
            stream.set_read_timeout(Some(ANSWER)).ok()?;
            stream.write_all(&header(sm::VERSION, 0, 32, 0, 0)).ok()?;
            read_reply(&mut stream).ok()
        });
        host
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn socket(&self) -> PathBuf {
        self.run_dir.join("sanlock.sock")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `lease` against this daemon's JSON socket.
    fn lease(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_lease"))
            .args(args)
            .env("LEASED_RUN_DIR", &self.run_dir)
            .output()
            .expect("run lease");
        run_of(output)
    }

    /// Joins lockspace "ls" of `image` as host_id 1 through the JSON socket.
    fn join(&self, image: &str) {
        self.lease(&["add-lockspace", "-s", &format!("ls:1:{image}:0"), "--wait"]).ok();
    }

    /// The leases of `lease status --json`.
    fn leases(&self) -> Vec<serde_json::Value> {
        let status = self.lease(&["status", "--json"]).ok().json();
        status["leases"].as_array().expect("a leases array").clone()
    }

    /// A command with SANLOCK_RUN_DIR pointing at this daemon.
    fn sanlock_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env("SANLOCK_RUN_DIR", &self.run_dir);
        command
    }

    /// Runs a python3-sanlock script with `args` to its end.
    fn python(&self, script: &str, args: &[&str]) -> Run {
        let output = self
            .sanlock_command(PYTHON)
            .args(["-c", script])
            .args(args)
            .output()
            .expect("run python3");
        run_of(output)
    }

    /// `sanlock client ARGS` against this daemon.
    fn sanlock_client(&self, args: &[&str]) -> Run {
        let output = self
            .sanlock_command("sanlock")
            .arg("client")
            .args(args)
            .output()
            .expect("run sanlock client");
        run_of(output)
    }

    /// A new connection to the sanlock socket.
    fn connect(&self) -> UnixStream {
        let stream = UnixStream::connect(self.socket()).expect("connect to sanlock.sock");
        stream.set_read_timeout(Some(ANSWER)).expect("set a read timeout");
        stream
    }

    /// A connection that has sent REGISTER (which gets no answer).
    fn register(&self) -> UnixStream {
        let mut stream = self.connect();
        stream.write_all(&header(sm::REGISTER, 0, 32, 0, 0)).expect("send REGISTER");
        assert_silent(&stream, "REGISTER");
        stream
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- leased's log:\n{}", self.log_text());
        }
    }
}

fn run_of(output: std::process::Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The leader of resource `rN` at N MiB of `image`, as `lease direct
/// read-leader` reads it from the disk.
fn leader(image: &str, resource: u64) -> serde_json::Value {
    let spec = format!("ls:r{resource}:{image}:{resource}M");
    lease(&["direct", "read-leader", "-r", &spec, "--json"]).ok().json()
}

/// A child process that prints lines and reads lines; killed when dropped.
struct Proc {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(mut command: Command) -> Proc {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a client process");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Proc { child, stdin, lines }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line printed, within [`ANSWER`].
    fn line(&mut self) -> String {
        match self.lines.recv_timeout(ANSWER) {
            Ok(line) => line,
            Err(err) => {
                let status = self.child.try_wait().ok().flatten();
                panic!("no line from pid {} ({err}; exit status {status:?})", self.pid())
            }
        }
    }

    /// The next line, which must start with `step`; its words after it.
    fn step(&mut self, step: &str) -> Vec<String> {
        let line = self.line();
        let mut words = line.split(' ').map(str::to_owned);
        assert_eq!(words.next().as_deref(), Some(step), "line {line:?}");
        words.collect()
    }

    /// The result of step `step` ("step rv ...").
    fn result(&mut self, step: &str) -> i32 {
        self.step(step)[0].parse().expect("a result")
    }

    fn send_line(&mut self) {
        writeln!(self.stdin).expect("write to the client");
    }

    /// Waits for the process to exit by itself.
    fn wait(&mut self) -> std::process::ExitStatus {
        wait_for(ANSWER, "the client exits", || self.child.try_wait().expect("poll the client"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The raw protocol.

fn header(cmd: u32, flags: u32, length: u32, data: u32, data2: u32) -> Vec<u8> {
    header_with_magic(sm::MAGIC, cmd, flags, length, data, data2)
}

fn header_with_magic(
    magic: u32,
    cmd: u32,
    flags: u32,
    length: u32,
    data: u32,
    data2: u32,
) -> Vec<u8> {
    [magic, sm::PROTO, cmd, flags, length, 0, data, data2]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect()
}

/// A reply: its header's fields and its payload.
#[derive(Debug)]
struct Reply {
    version: u32,
    cmd: u32,
    result: i32,
    data2: u32,
    payload: Vec<u8>,
}

fn read_reply(stream: &mut UnixStream) -> std::io::Result<Reply> {
    let mut raw = [0u8; sm::HEADER_BYTES];
    stream.read_exact(&mut raw)?;
    let field = |i: usize| u32::from_ne_bytes(raw[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    assert_eq!(field(0), sm::MAGIC, "a reply echoes the magic");
    let length = usize::try_from(field(4)).expect("u32 fits");
    let mut payload = vec![0u8; length.saturating_sub(sm::HEADER_BYTES)];
    stream.read_exact(&mut payload)?;
    Ok(Reply {
        version: field(1),
        cmd: field(2),
        result: i32::from_ne_bytes(field(6).to_ne_bytes()),
        data2: field(7),
        payload,
    })
}

/// Sends `request` and reads the reply.
fn call(stream: &mut UnixStream, request: &[u8]) -> Reply {
    stream.write_all(request).expect("send a request");
    read_reply(stream).expect("a reply")
}

/// Asserts nothing comes on `stream` for [`SILENCE`], and that it stays
/// open (EOF would make it readable).
fn assert_silent(stream: &UnixStream, what: &str) {
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(SILENCE).expect("a short timeout");
    let ready = poll(&mut fds, timeout).expect("poll the connection");
    assert_eq!(ready, 0, "{what}: expected silence, got {:?}", fds[0].revents());
}

/// A `sanlk_resource` of lockspace "ls" with `num_disks` disks, each a
/// copy of `disk_path` (padded with NULs, or exactly 1024 bytes).
fn resource(name: &str, num_disks: u32, disk_path: &[u8], offset: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(sm::RESOURCE_BYTES);
    out.extend_from_slice(&padded(b"ls", 48));
    out.extend_from_slice(&padded(name.as_bytes(), 48));
    out.extend_from_slice(&[0u8; 24]); // lver, data64, data32, unused
    out.extend_from_slice(&0u32.to_ne_bytes()); // flags
    out.extend_from_slice(&num_disks.to_ne_bytes());
    assert_eq!(out.len(), sm::RESOURCE_BYTES);
    for _ in 0..num_disks.min(4) {
        out.extend_from_slice(&padded(disk_path, sm::PATH_BYTES));
        out.extend_from_slice(&offset.to_ne_bytes());
        out.extend_from_slice(&[0u8; 8]);
    }
    assert_eq!(out.len(), sm::RESOURCE_BYTES + num_disks.min(4) as usize * sm::DISK_BYTES);
    out
}

fn padded(bytes: &[u8], len: usize) -> Vec<u8> {
    assert!(bytes.len() <= len);
    let mut out = bytes.to_vec();
    out.resize(len, 0);
    out
}

/// An ACQUIRE of `resources` (already encoded) acting for `data2`.
fn acquire_request(count: u32, resources: &[u8], data2: u32) -> Vec<u8> {
    let length = u32::try_from(sm::HEADER_BYTES + resources.len() + sm::OPTIONS_BYTES).unwrap();
    let mut out = header(sm::ACQUIRE, 0, length, count, data2);
    out.extend_from_slice(resources);
    out.extend_from_slice(&[0u8; sm::OPTIONS_BYTES]);
    out
}

/// INQUIRE for pid `pid`, on a new connection: (result, count, string).
fn inquire_pid(host: &Host, pid: u32) -> (i32, u32, String) {
    let reply = call(&mut host.connect(), &header(sm::INQUIRE, 0, 32, 0, pid));
    let text = reply.payload.split(|&b| b == 0).next().unwrap_or_default();
    (reply.result, reply.data2, String::from_utf8_lossy(text).into_owned())
}

/// VERSION on a new connection answers sanlock 3.8.5's version.
fn assert_version(host: &Host) {
    let reply = call(&mut host.connect(), &header(sm::VERSION, 0, 32, 0, 0));
    assert_eq!((reply.version, reply.cmd, reply.result), (sm::PROTO, sm::VERSION, 0));
    assert_eq!(reply.data2, sm::VERSION_HEX);
}

// ---------------------------------------------------------------------------
// Prerequisites.

fn have_python_sanlock() -> bool {
    let module = Command::new(PYTHON)
        .args(["-c", "import sanlock"])
        .output()
        .is_ok_and(|o| o.status.success());
    prerequisite(module, "python3-sanlock is not installed for /usr/bin/python3")
}

/// Compiles tests/c/sanlock_client.c against Debian's libsanlock into
/// `dir`; None (skipped) without gcc or libsanlock-dev.
fn sanlock_client_program(dir: &Path) -> Option<PathBuf> {
    let met = have("gcc") && Path::new("/usr/include/sanlock_resource.h").exists();
    if !prerequisite(
        met,
        "gcc and libsanlock-dev are not installed (apt-get install -y libsanlock-dev)",
    ) {
        return None;
    }
    let program = dir.join("sanlock_client");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/sanlock_client.c");
    let out = common::run(
        "gcc",
        &["-Wall", "-Wextra", "-Werror", "-o", program.to_str()?, source, "-lsanlock_client"],
    );
    assert_eq!(out.code, 0, "gcc failed:\n{}", out.stderr);
    Some(program)
}

/// A python3-sanlock process that registers, acquires resource `rN` and
/// prints "acquired" (or "error ERRNO"); on a line from stdin it releases
/// and prints "released", and exits on the next line.
const PY_HOLDER: &str = "\
import sanlock, sys
path, res, offset = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
fd = sanlock.register()
try:
    sanlock.acquire(b'ls', res, [(path, offset)], slkfd=fd)
except sanlock.SanlockException as e:
    print('error', e.errno, flush=True)
    sys.stdin.readline()
    sys.exit(0)
print('acquired', flush=True)
sys.stdin.readline()
sanlock.release(b'ls', res, [(path, offset)], slkfd=fd)
print('released', flush=True)
sys.stdin.readline()
";

fn py_holder(host: &Host, image: &str, resource: u64) -> Proc {
    let mut command = host.sanlock_command(PYTHON);
    command.args(["-c", PY_HOLDER, image, &format!("r{resource}"), &(resource * MIB).to_string()]);
    Proc::spawn(command)
}

// ---------------------------------------------------------------------------
// 1. Bad input on the raw socket.

#[test]
fn bad_input_gets_sanlocks_answers_and_changes_nothing() {
    if !have_python_sanlock() {
        return;
    }
    let host = Host::start();
    let image = lease_file(host.path(), 2, 1);
    host.join(&image);
    let mut holder = py_holder(&host, &image, 1);
    assert_eq!(holder.line(), "acquired");
    let (result, count, held) = inquire_pid(&host, holder.pid());
    assert_eq!((result, count), (0, 1));
    assert_eq!(held, format!("ls:r1:{image}:{MIB}:1"));
    let leader_before = leader(&image, 1);
    assert_eq!(leader_before["owner_id"], 1);
    assert_ne!(leader_before["timestamp"], 0, "held on disk");
    let unchanged = |case: &str| {
        assert_version(&host);
        assert_eq!(inquire_pid(&host, holder.pid()), (0, 1, held.clone()), "after {case}");
        assert_eq!(leader(&image, 1), leader_before, "after {case}");
        let leases = host.leases();
        assert_eq!(leases.len(), 1, "after {case}: {leases:?}");
        assert_eq!(leases[0]["pid"], holder.pid());
    };
    let r2 = resource("r2", 1, image.as_bytes(), 2 * MIB);

    // A short header, then the connection closes.
    let mut stream = host.connect();
    stream.write_all(&header(sm::VERSION, 0, 32, 0, 0)[..10]).unwrap();
    drop(stream);
    unchanged("a short header");

    // A bad magic and an unknown command: no answer, connection left open.
    let mut stream = host.connect();
    stream.write_all(&header_with_magic(0xdead_beef, sm::VERSION, 0, 32, 0, 0)).unwrap();
    assert_silent(&stream, "bad magic");
    unchanged("a bad magic");
    let mut stream = host.connect();
    stream.write_all(&header(99, 0, 32, 0, 0)).unwrap();
    assert_silent(&stream, "command 99");
    unchanged("command 99");

    // `length` is not trusted: VERSION with a huge one is answered.
    let reply = call(&mut host.connect(), &header(sm::VERSION, 0, u32::MAX, 0, 0));
    assert_eq!((reply.result, reply.data2), (0, sm::VERSION_HEX));
    unchanged("a huge length");

    // ACQUIRE for this connection, which never registered: sanlock finds
    // no pid on it and answers -EBUSY; for a pid with no registration,
    // -ESRCH.
    let reply = call(&mut host.connect(), &acquire_request(1, &r2, sm::THIS_CONNECTION));
    assert_eq!(reply.result, -libc::EBUSY, "unregistered connection");
    unchanged("ACQUIRE on an unregistered connection");
    let reply = call(&mut host.connect(), &acquire_request(9, &[], sm::THIS_CONNECTION));
    assert_eq!(reply.result, -libc::EBUSY, "unregistered connection, count 9");
    let reply = call(&mut host.connect(), &acquire_request(1, &r2, 1));
    assert_eq!(reply.result, -libc::ESRCH, "pid 1 never registered");
    unchanged("ACQUIRE for an unregistered pid");

    // Registered: count 9, num_disks 0 and 5, a path with no NUL.
    let reply = call(&mut host.register(), &header(sm::ACQUIRE, 0, 32, 9, sm::THIS_CONNECTION));
    assert_eq!(reply.result, -libc::E2BIG, "count 9");
    unchanged("count 9");
    for num_disks in [0, 5] {
        let bad = resource("r2", num_disks, image.as_bytes(), 2 * MIB);
        let reply = call(&mut host.register(), &acquire_request(1, &bad, sm::THIS_CONNECTION));
        assert_eq!(reply.result, -libc::ERANGE, "num_disks {num_disks}");
        unchanged(&format!("num_disks {num_disks}"));
    }
    let no_nul = resource("r2", 1, &[b'a'; sm::PATH_BYTES], 2 * MIB);
    let reply = call(&mut host.register(), &acquire_request(1, &no_nul, sm::THIS_CONNECTION));
    assert_eq!(reply.result, -libc::ENAMETOOLONG, "a path with no NUL");
    unchanged("a path with no NUL");

    // RESTRICT_ALL: answered, then nothing more is.
    let mut stream = host.connect();
    let reply =
        call(&mut stream, &header(sm::RESTRICT, sm::RESTRICT_ALL, 32, 0, sm::THIS_CONNECTION));
    assert_eq!(reply.result, 0);
    stream.write_all(&header(sm::INQUIRE, 0, 32, 0, sm::THIS_CONNECTION)).unwrap();
    assert_silent(&stream, "INQUIRE after RESTRICT_ALL");
    unchanged("RESTRICT_ALL");

    // A registered connection that closes with nothing held changes
    // nothing either.
    drop(host.register());
    unchanged("REGISTER");

    holder.send_line();
    assert_eq!(holder.line(), "released");
    assert!(host.leases().is_empty());
    assert_eq!(leader(&image, 1)["timestamp"], 0, "released on disk");
}

// ---------------------------------------------------------------------------
// 2. python3-sanlock.

#[test]
fn python_sanlock_writes_joins_and_locks_through_leased() {
    if !have_python_sanlock() {
        return;
    }
    let host = Host::start();
    let image = zero_file(host.path(), "leases.img", 2 << 20);
    let script = "\
import sanlock, sys, time
path = sys.argv[1]
disks = [(path, 1048576)]
sanlock.write_lockspace(b'ls', path, offset=0, iotimeout=1)
sanlock.add_lockspace(b'ls', 1, path, offset=0, iotimeout=1)
print('lockspaces', [(l['lockspace'].decode(), l['host_id']) for l in sanlock.get_lockspaces()])
deadline = time.monotonic() + 5
while True:
    try:
        hosts = sanlock.get_hosts(b'ls')
        break
    except sanlock.SanlockException as e:
        if e.errno != 11 or time.monotonic() > deadline:
            raise
        time.sleep(0.1)
print('hosts', [(h['host_id'], h['flags']) for h in hosts])
sanlock.write_resource(b'ls', b'r1', disks)
fd = sanlock.register()
sanlock.acquire(b'ls', b'r1', disks, slkfd=fd)
held = sanlock.inquire(slkfd=fd)
print('inquire', [(r['lockspace'].decode(), r['resource'].decode(), r['version'], r['disks']) for r in held])
sanlock.release(b'ls', b'r1', disks, slkfd=fd)
print('released', len(sanlock.inquire(slkfd=fd)))
sanlock.rem_lockspace(b'ls', 1, path, offset=0)
print('removed', len(sanlock.get_lockspaces()))
";
    let image = image.to_str().unwrap();
    let out = host.python(script, &[image]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "lockspaces [('ls', 1)]");
    assert_eq!(lines[1], "hosts [(1, 3)]", "this host LIVE");
    assert_eq!(lines[2], format!("inquire [('ls', 'r1', 1, [('{image}', {MIB})])]"));
    assert_eq!(lines[3], "released 0");
    assert_eq!(lines[4], "removed 0");
    assert_eq!(leader(image, 1)["timestamp"], 0, "released on disk");
    let status = host.lease(&["status", "--json"]).ok().json();
    assert_eq!(status["lockspaces"].as_array().unwrap().len(), 0, "{status}");
}

#[test]
fn registered_connections_and_the_json_socket_contend_for_one_lease() {
    if !have_python_sanlock() {
        return;
    }
    let host = Host::start();
    let image = lease_file(host.path(), 1, 1);
    host.join(&image);
    let r1 = format!("ls:r1:{image}:1M");

    // Two registered connections: the second is refused -EEXIST.
    let mut first = py_holder(&host, &image, 1);
    assert_eq!(first.line(), "acquired");
    let mut second = py_holder(&host, &image, 1);
    assert_eq!(second.line(), format!("error {}", libc::EEXIST));
    drop(second);

    // The JSON socket sees the lease, and refuses it to its own client.
    let leases = host.leases();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0]["resource"], "r1");
    assert_eq!(leases[0]["pid"], first.pid());
    assert_eq!(leases[0]["persistent"], false);
    let inquired = host.lease(&["inquire", "--pid", &first.pid().to_string(), "--json"]).ok();
    assert!(inquired.stdout.contains(&format!("ls:r1:{image}:{MIB}:1")), "{}", inquired.stdout);
    let sleeper = common::Holder::start();
    let refused = host.lease(&["acquire", "-r", &r1, "--pid", &sleeper.pid()]);
    assert_ne!(refused.code, 0, "acquired twice on one host: {}", refused.stdout);

    // The registered process exits: its lease is released.
    drop(first);
    wait_for(ANSWER, "the lease of the exited process is released", || {
        host.leases().is_empty().then_some(())
    });
    assert_eq!(leader(&image, 1)["timestamp"], 0, "released on disk");

    // Taken through the JSON socket: refused to a registered connection.
    host.lease(&["acquire", "-r", &r1, "--pid", &sleeper.pid()]).ok();
    let mut third = py_holder(&host, &image, 1);
    assert_eq!(third.line(), format!("error {}", libc::EEXIST));
}

/// The C client in `mode` for resource `rN` of `image`.
fn c_client(host: &Host, program: &Path, mode: &str, image: &str, resource: u64) -> Proc {
    let mut command = host.sanlock_command(program);
    command.args([mode, "ls", &format!("r{resource}"), image, &(resource * MIB).to_string()]);
    Proc::spawn(command)
}

#[test]
fn a_persistent_lease_outlives_its_process_and_is_adopted_by_another() {
    // python3-sanlock's acquire has no PERSISTENT or ORPHAN flag: the C
    // client makes these calls.
    let host = Host::start();
    let Some(program) = sanlock_client_program(host.path()) else { return };
    let image = lease_file(host.path(), 1, 1);
    host.join(&image);

    let mut owner = c_client(&host, &program, "persist", &image, 1);
    assert_eq!(owner.result("register"), 0);
    assert_eq!(owner.result("acquire"), 0);
    assert!(owner.wait().success());
    let orphan = wait_for(ANSWER, "the lease becomes an orphan", || {
        let leases = host.leases();
        (leases.len() == 1 && leases[0]["pid"].is_null()).then(|| leases[0].clone())
    });
    assert_eq!(orphan["persistent"], true);
    assert_ne!(leader(&image, 1)["timestamp"], 0, "still held on disk");

    // Without ORPHAN it is refused, through either socket.
    let sleeper = common::Holder::start();
    let refused =
        host.lease(&["acquire", "-r", &format!("ls:r1:{image}:1M"), "--pid", &sleeper.pid()]);
    assert_ne!(refused.code, 0, "an orphan taken without adopting: {}", refused.stdout);
    if have_python_sanlock() {
        let mut plain = py_holder(&host, &image, 1);
        assert_eq!(plain.line(), format!("error {}", libc::EUCLEAN));
    }

    let mut heir = c_client(&host, &program, "adopt", &image, 1);
    assert_eq!(heir.result("register"), 0);
    assert_eq!(heir.result("adopt"), 0);
    let inquired = heir.step("inquire-adopted");
    assert_eq!(inquired[..2], ["0", "1"]);
    assert!(inquired[2].starts_with(&format!("ls:r1:{image}:{MIB}:")), "{inquired:?}");
    heir.step("wait");
    let leases = host.leases();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0]["pid"], heir.pid());
    heir.send_line();
    assert_eq!(heir.result("release"), 0);
    assert!(heir.wait().success());
    assert!(host.leases().is_empty());
    assert_eq!(leader(&image, 1)["timestamp"], 0, "released on disk");
}

// ---------------------------------------------------------------------------
// 3. Debian's `sanlock client`.

#[test]
fn sanlock_client_command_manages_lockspaces_of_leased() {
    if !prerequisite(have("sanlock"), "sanlock is not installed (apt-get install -y sanlock)") {
        return;
    }
    let host = Host::start();
    let image = lease_file(host.path(), 1, 1);
    let ls = format!("ls:1:{image}:0");
    let client = |args: &[&str]| -> String {
        let out = host.sanlock_client(args);
        assert_eq!(out.code, 0, "sanlock client {args:?}:\n{}{}", out.stdout, out.stderr);
        out.stdout + &out.stderr
    };

    let status = client(&["status"]);
    assert!(status.starts_with("daemon "), "{status}");
    assert!(!status.contains("\ns "), "no lockspace yet: {status}");

    let added = client(&["add_lockspace", "-s", &ls]);
    assert!(added.contains("add_lockspace done 0"), "{added}");
    let inq = client(&["inq_lockspace", "-s", &ls]);
    assert!(inq.contains("inq_lockspace done 0"), "{inq}");
    let hosts = client(&["host_status", "-s", "ls"]);
    assert!(hosts.lines().any(|l| l.starts_with("1 timestamp ")), "{hosts}");
    let gets = client(&["gets"]);
    assert!(gets.contains(&format!("s {ls}")), "{gets}");
    let status = client(&["status"]);
    assert!(status.contains(&format!("s {ls}")), "{status}");
    // The renewal history, as sanlock prints its own, once a renewal ran
    // (every 2 io_timeouts).
    let renewed = wait_for(Duration::from_secs(10), "a renewal in the history", || {
        let history = host.sanlock_client(&["renewal", "-s", "ls"]).stdout;
        history.lines().any(|l| l.starts_with("timestamp=")).then_some(history)
    });
    let first = renewed.lines().find(|l| l.starts_with("timestamp=")).unwrap_or_default();
    let keys: Vec<&str> =
        first.split(' ').filter_map(|pair| pair.split_once('=').map(|(k, _)| k)).collect();
    assert_eq!(keys, ["timestamp", "read_ms", "write_ms", "next_timeouts", "next_errors"]);

    let removed = client(&["rem_lockspace", "-s", &ls]);
    assert!(removed.contains("rem_lockspace done 0"), "{removed}");
    let gets = client(&["gets"]);
    assert!(!gets.contains("s ls:"), "{gets}");
    // Gone: sanlock client reports -ENOENT and exits 1.
    let inq = host.sanlock_client(&["inq_lockspace", "-s", &ls]);
    assert_eq!(inq.code, 1, "{}{}", inq.stdout, inq.stderr);
    let done = format!("inq_lockspace done {}", -libc::ENOENT);
    assert!(inq.stdout.contains(&done), "{}", inq.stdout);
    // The daemon's log, as sanlock's log_dump prints its own (Debian's
    // client exits 1 whatever the result).
    let dump = host.sanlock_client(&["log_dump"]);
    assert!(dump.stdout.contains("serving sanlock's protocol"), "{}", dump.stdout);
    assert!(dump.stdout.contains("left lockspace=ls"), "{}", dump.stdout);
}

// ---------------------------------------------------------------------------
// 4. libvirt's and lvmlockd's calls through Debian's libsanlock.

#[test]
fn libvirts_sequence_through_libsanlock() {
    let host = Host::start();
    let Some(program) = sanlock_client_program(host.path()) else { return };
    let image = lease_file(host.path(), 1, 1);
    host.join(&image);
    let held = format!("ls:r1:{image}:{MIB}:");

    let mut libvirtd = c_client(&host, &program, "libvirt", &image, 1);
    let child: u32 = libvirtd.step("child")[0].parse().expect("a pid");
    let inquired = libvirtd.step("inquire");
    assert_eq!(inquired[..2], ["0", "1"], "{inquired:?}");
    assert!(inquired[2].starts_with(&held), "{inquired:?}");
    let unregistered = libvirtd.step("inquire-unregistered");
    assert_eq!(unregistered[0], (-libc::ESRCH).to_string(), "{unregistered:?}");
    assert_eq!(libvirtd.result("release"), 0);
    // No leases: sanlock sends no string, and libsanlock gives NULL.
    assert_eq!(libvirtd.step("inquire-released"), ["0", "0", "-"]);
    libvirtd.step("wait");
    assert!(host.leases().is_empty());
    assert_eq!(leader(&image, 1)["timestamp"], 0, "released on disk");

    // Acquired for the child again; the child is killed: released.
    libvirtd.send_line();
    assert_eq!(libvirtd.result("reacquire"), 0);
    libvirtd.step("wait");
    let leases = host.leases();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0]["pid"], child);
    assert_ne!(leader(&image, 1)["timestamp"], 0, "held on disk");
    libvirtd.send_line();
    assert_eq!(libvirtd.result("killed"), 0);
    wait_for(ANSWER, "the killed child's lease is released", || {
        host.leases().is_empty().then_some(())
    });
    wait_for(ANSWER, "the leader shows it released", || {
        (leader(&image, 1)["timestamp"] == 0).then_some(())
    });
    assert_eq!(inquire_pid(&host, child).0, -libc::ESRCH, "the registration is gone");
}

#[test]
fn lvmlockds_sequence_through_libsanlock() {
    let host = Host::start();
    let Some(program) = sanlock_client_program(host.path()) else { return };
    let image = lease_file(host.path(), 1, 1);
    host.join(&image);
    let held = format!("ls:r1:{image}:{MIB}:");

    let mut lvmlockd = c_client(&host, &program, "lvm", &image, 1);
    for step in ["register", "killpath", "restrict", "acquire", "closed"] {
        assert_eq!(lvmlockd.result(step), 0, "{step}");
    }
    lvmlockd.step("wait");
    let orphan = wait_for(ANSWER, "the closed connection's lease becomes an orphan", || {
        let leases = host.leases();
        (leases.len() == 1 && leases[0]["pid"].is_null()).then(|| leases[0].clone())
    });
    assert_eq!(orphan["persistent"], true);
    lvmlockd.send_line();

    assert_eq!(lvmlockd.result("register-again"), 0);
    assert_eq!(lvmlockd.result("adopt"), 0);
    let adopted = lvmlockd.step("inquire-adopted");
    assert_eq!(adopted[..2], ["0", "1"], "{adopted:?}");
    assert!(adopted[2].starts_with(&held), "{adopted:?}");

    assert_eq!(lvmlockd.result("convert-sh"), 0);
    assert_eq!(lvmlockd.step("inquire-sh"), ["0", "1", &format!("{held}SH")[..]]);
    assert_eq!(lvmlockd.result("convert-ex"), 0);
    let exclusive = lvmlockd.step("inquire-ex");
    assert_eq!(exclusive[..2], ["0", "1"], "{exclusive:?}");
    assert!(exclusive[2].starts_with(&held) && !exclusive[2].ends_with("SH"), "{exclusive:?}");

    // lvmlockd renames an LV's lease "#unused" as it releases it.
    assert_eq!(lvmlockd.result("release-rename"), 0);
    assert_eq!(lvmlockd.step("inquire-after-rename"), ["0", "0", "-"]);
    assert!(lvmlockd.result("release") < 0, "nothing left to release");
    assert_eq!(lvmlockd.step("inquire-released"), ["0", "0", "-"]);
    assert!(host.leases().is_empty());
    let spec = format!("ls:#unused:{image}:1M");
    let renamed = lease(&["direct", "read-leader", "-r", &spec, "--json"]).ok().json();
    assert_eq!(renamed["timestamp"], 0, "released on disk, under its new name: {renamed}");

    assert_eq!(lvmlockd.result("set-config"), 0);
    assert_eq!(lvmlockd.step("get-hosts"), ["0", "1", "1:3"], "this host alone, LIVE");
    assert!(lvmlockd.wait().success());
}

/// sanlock's write_lockspace and write_resource are inits: sanlock writes
/// them over whatever lies there. leased refuses where another host holds
/// something on disk (a host_id, a resource EX or SH) or where another kind
/// of area lies, and the disk is left as it was.
#[test]
fn writes_of_lease_areas_never_wipe_what_another_host_holds() {
    if !have_python_sanlock() {
        return;
    }
    let host = Host::start();
    let image = zero_file(host.path(), "leases.img", 24 << 20);
    let image = image.to_str().unwrap();
    let setup = "\
import sanlock, sys
path = sys.argv[1]
sanlock.write_lockspace(b'ls', path, offset=0, iotimeout=1)
sanlock.write_resource(b'ls', b'r1', [(path, 1048576)])
sanlock.write_resource(b'ls', b'r2', [(path, 2097152)])
sanlock.write_resource(b'ls', b'r8', [(path, 8388608)], align=8388608, sector=4096)
";
    host.python(setup, &[image]).ok();
    // Another host: host_id 2, holding r1 EX and r2 SH, with no daemon.
    let other = |args: &[&str]| {
        let mut all = vec!["direct"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--host-name", "other-host"]);
        host.lease(&all).ok();
    };
    let ls2 = format!("ls:2:{image}:0");
    other(&["acquire-id", "-s", &ls2]);
    other(&["acquire", "-s", &ls2, "-r", &format!("ls:r1:{image}:1M")]);
    other(&["acquire", "-s", &ls2, "-r", &format!("ls:r2:{image}:2M:SH")]);
    other(&["acquire", "-s", &ls2, "-r", &format!("ls:r8:{image}:8M")]);
    let before = std::fs::read(image).expect("read the image");
    let attempts = "\
import sanlock, sys
path = sys.argv[1]
def attempt(what, call):
    try:
        call()
        print(what, 'written')
    except sanlock.SanlockException as e:
        print(what, 'refused', e.errno)
attempt('r1 held EX', lambda: sanlock.write_resource(b'ls', b'r1', [(path, 1048576)]))
attempt('r1 cleared', lambda: sanlock.write_resource(b'ls', b'r1', [(path, 1048576)], clear=True))
attempt('r2 held SH', lambda: sanlock.write_resource(b'ls', b'r2', [(path, 2097152)]))
attempt('lockspace as resource', lambda: sanlock.write_resource(b'ls', b'x', [(path, 0)]))
attempt('lockspace with a host', lambda: sanlock.write_lockspace(b'ls', path, offset=0, iotimeout=1))
attempt('r1 as lockspace', lambda: sanlock.write_lockspace(b'ls', path, offset=1048576, iotimeout=1))
attempt('r8 held, as a smaller area', lambda: sanlock.write_resource(b'ls', b'x', [(path, 8388608)]))
attempt('inside r8', lambda: sanlock.write_resource(b'ls', b'y', [(path, 9437184)]))
attempt('lockspace inside r8', lambda: sanlock.write_lockspace(b'ls2', path, offset=10485760, iotimeout=1))
attempt('free area', lambda: sanlock.write_resource(b'ls', b'r3', [(path, 3145728)]))
";
    let out = host.python(attempts, &[image]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    for refused in &lines[..9] {
        assert!(refused.contains("refused"), "{}", out.stdout);
    }
    assert_eq!(lines[9], "free area written", "{}", out.stdout);
    let after = std::fs::read(image).expect("read the image");
    assert!(before[..3 << 20] == after[..3 << 20], "the held areas are as they were");
    assert!(before[8 << 20..] == after[8 << 20..], "r8's area is as it was");
    assert_eq!(leader(image, 1)["owner_id"], 2, "r1 is still host 2's");
}

/// A registration that closes while an ACQUIRE for its process runs on
/// another connection: sanlock ties the lease to the registration, whose
/// close has been handled already when the lease is admitted. The lease
/// must go as the close would have taken it, not stay held by a process
/// no registration speaks for. Each round races the close against the
/// acquire (a 2000-host lease reads 3 MiB, so the race is often hit);
/// every round must end with nothing held.
#[test]
fn a_registration_closed_during_an_acquire_for_it_takes_the_lease_with_it() {
    let host = Host::start();
    let image = zero_file(host.path(), "leases.img", 2 << 20);
    let image = image.to_str().unwrap();
    lease(&["direct", "init", "-s", &format!("ls:0:{image}:0"), "--io-timeout", "1"]).ok();
    let r1 = format!("ls:r1:{image}:1M");
    lease(&["direct", "init", "-r", &r1, "--num-hosts", "2000"]).ok();
    host.join(image);
    let pid = std::process::id();
    let mut acquired = 0;
    for round in 0..30 {
        // The last round's registration is gone: the ACQUIRE below can
        // only be for this round's.
        wait_for(Duration::from_secs(5), "no registration is left", || {
            (inquire_pid(&host, pid).0 == -libc::ESRCH).then_some(())
        });
        let mut registered = host.connect();
        registered.write_all(&header(sm::REGISTER, 0, 32, 0, 0)).expect("send REGISTER");
        // REGISTER has no answer: an INQUIRE for our pid on its own
        // connection tells when it has been handled.
        wait_for(Duration::from_secs(5), "the registration is handled", || {
            (inquire_pid(&host, pid).0 == 0).then_some(())
        });
        let request = acquire_request(1, &resource("r1", 1, image.as_bytes(), MIB), pid);
        let mut other = host.connect();
        other.write_all(&request).expect("send ACQUIRE");
        drop(registered);
        let reply = read_reply(&mut other).expect("ACQUIRE is answered");
        assert!(
            [0, -libc::ESRCH].contains(&reply.result),
            "round {round}: ACQUIRE answered {}",
            reply.result
        );
        acquired += usize::from(reply.result == 0);
        // Let go of, and its release done: no slot left busy for the next
        // round's acquire to find (-EBUSY).
        wait_for(Duration::from_secs(5), "the lease is let go", || {
            let status = host.lease(&["status", "--json"]).ok().json();
            let idle = status["leases"] == serde_json::json!([]) && status["busy"] == 0;
            idle.then_some(())
        });
    }
    assert!(acquired > 0, "no round acquired: the race was never run");
}

// ---------------------------------------------------------------------------
// Host events.

/// A `sanlk_lockspace` naming `name` (no disk: the event commands use the
/// name alone).
fn lockspace_named(name: &str) -> Vec<u8> {
    padded(&padded(name.as_bytes(), 48), sm::LOCKSPACE_BYTES)
}

/// REG_EVENT, END_EVENT or SET_EVENT for lockspace `name`; END_EVENT has
/// no `sanlk_host_event`.
fn event_request(cmd: u32, flags: u32, name: &str, host_event: [u64; 4]) -> Vec<u8> {
    let mut payload = lockspace_named(name);
    if cmd != sm::END_EVENT {
        payload.extend(host_event.iter().flat_map(|v| v.to_ne_bytes()));
    }
    let length = u32::try_from(sm::HEADER_BYTES + payload.len()).unwrap();
    let mut request = header(cmd, flags, length, 0, 0);
    request.extend(payload);
    request
}

/// Event listeners and set_event as sanlock answers them: unknown
/// lockspaces, bad host_ids, a second event while one is posted, 32
/// listeners at most; a listener that ends frees its place, and leaving
/// the lockspace ends the others (their connections see EOF).
#[test]
fn event_listeners_and_set_event_follow_sanlocks_rules() {
    let host = Host::start();
    let image = lease_file(host.path(), 0, 1);
    host.join(&image);
    let reg = |name: &str| {
        let mut stream = host.connect();
        let reply = call(&mut stream, &event_request(sm::REG_EVENT, 0, name, [0; 4]));
        (stream, reply.result)
    };
    assert_eq!(reg("nope").1, -libc::ENOENT, "REG_EVENT of a lockspace not joined");
    let mut listeners: Vec<UnixStream> = (0..32)
        .map(|n| {
            let (stream, result) = reg("ls");
            assert_eq!(result, 0, "listener {n}");
            stream
        })
        .collect();
    assert_eq!(reg("ls").1, -libc::ENOCSI, "a 33rd listener, as sanlock refuses it");

    let set = |flags: u32, host_event: [u64; 4]| {
        call(&mut host.connect(), &event_request(sm::SET_EVENT, flags, "ls", host_event)).result
    };
    assert_eq!(set(0, [0, 0, 1, 1]), -libc::EINVAL, "host_id 0");
    assert_eq!(set(0, [2001, 0, 1, 1]), -libc::EINVAL, "host_id past the area");
    assert_eq!(set(0, [2, 0, 1, 1]), 0, "an event to host 2");
    assert_eq!(set(0, [3, 0, 1, 5]), 0, "the same event again, as sanlock takes it");
    assert_eq!(set(0, [3, 0, 2, 2]), -libc::EBUSY, "another while it is posted");
    assert_eq!(set(sm::SETEV_REPLACE_EVENT, [3, 0, 2, 2]), 0, "replaced");
    let set_nope = event_request(sm::SET_EVENT, 0, "nope", [2, 0, 1, 1]);
    assert_eq!(call(&mut host.connect(), &set_nope).result, -libc::ENOENT);

    // sanlock_end_event: four bytes on the listener, which is closed, then
    // END_EVENT on a connection of its own.
    let mut ended = listeners.pop().unwrap();
    ended.write_all(&[0u8; 4]).unwrap();
    drop(ended);
    let end = |name: &str| {
        call(&mut host.connect(), &event_request(sm::END_EVENT, 0, name, [0; 4])).result
    };
    assert_eq!(end("ls"), 0);
    assert_eq!(end("nope"), -libc::ENOENT);
    let replacement = wait_for(Duration::from_secs(10), "the ended listener's place", || {
        let (stream, result) = reg("ls");
        (result == 0).then_some(stream)
    });
    listeners.push(replacement);

    host.lease(&["rem-lockspace", "ls"]).ok();
    for (n, listener) in listeners.iter_mut().enumerate() {
        let mut rest = Vec::new();
        listener.read_to_end(&mut rest).unwrap_or_else(|e| panic!("listener {n}: {e}"));
        assert!(rest.is_empty(), "listener {n}: no event was meant for this host");
    }
    assert_eq!(reg("ls").1, -libc::ENOENT, "the lockspace is gone");
}
