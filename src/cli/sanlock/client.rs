//! `sanlock client VERB`: one request over sanlock's socket protocol
//! ([`crate::sanlock::wire`]) to `$SANLOCK_RUN_DIR/sanlock.sock`, so it
//! works against leased and against a real sanlock alike.
//!
//! What is printed is Debian's sanlock 3.8.5's: `VERB` then `VERB done RV`
//! for most verbs, `lookup done RV` and `name N offset O`, the status
//! lines (`-D` adds each record's `key=value` pairs, indented). The exit
//! status is 1 for a negative result or no daemon, else 0. Every byte of a
//! reply is untrusted: decoded by the codec, bounded, never indexed.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use super::{FAILED, Options, PROGRAM, UsageError, rindex_entry, status_of, usage_failed};
use crate::daemon::config::{SANLOCK_DEFAULT_RUN_DIR, SANLOCK_RUN_DIR_ENV};
use crate::sanlock::res_to_str;
use crate::sanlock::wire::{
    self, Cmd, Disk, HEADER_BYTES, Header, Host, LOCKSPACE_BYTES, Lockspace,
    Options as AcquireOptions, RENTRY_BYTES, RESOURCE_BYTES, Rentry, Resource, Rindex, STATE_BYTES,
    State, WireError,
};
use crate::spec::{LockspaceSpec, ResourceSpec, RindexSpec};

/// Options the client verbs take with a value.
const VALUED: &str = "srxepfocihgduOzZAnwD";
/// The largest log LOG_DUMP may send: sanlock keeps 1 MiB.
const MAX_LOG_BYTES: u32 = 4 << 20;

/// Runs `sanlock client ARGS`.
pub fn run(args: &[String]) -> u8 {
    let Some((verb, rest)) = args.split_first() else {
        eprintln!("{PROGRAM}: client needs an action");
        return FAILED;
    };
    // `-D` stands alone only for the verbs that print details.
    let bare = if matches!(verb.as_str(), "status" | "host_status" | "read") { "D" } else { "" };
    let valued: String = VALUED.chars().filter(|c| !bare.contains(*c)).collect();
    let options = match Options::parse(rest, &valued, bare, Some('c')) {
        Ok(options) => options,
        Err(err) => return usage_failed(&err),
    };
    verb_of(verb, &options).unwrap_or_else(|err| usage_failed(&err))
}

fn verb_of(verb: &str, o: &Options) -> Result<u8, UsageError> {
    match verb {
        "status" => Ok(status(o.has('D'))),
        "host_status" => Ok(host_status(&lockspace_by_name(o)?, o.has('D'))),
        "gets" => Ok(gets(o.switch('h')?.unwrap_or(false))),
        "renewal" => Ok(renewal(&lockspace_by_name(o)?)),
        "log_dump" => Ok(log_dump()),
        "shutdown" => {
            Ok(shutdown(o.switch('f')?.unwrap_or(false), o.switch('w')?.unwrap_or(false)))
        }
        "init" => init(o),
        "read" => read(o),
        "add_lockspace" => {
            Ok(add_lockspace(&need_lockspace(o)?, o.number('o', "a number of seconds")?))
        }
        "inq_lockspace" => {
            Ok(lockspace_verb("inq_lockspace", Cmd::InqLockspace, &need_lockspace(o)?))
        }
        "rem_lockspace" => {
            Ok(lockspace_verb("rem_lockspace", Cmd::RemLockspace, &need_lockspace(o)?))
        }
        "acquire" | "convert" | "release" => pid_verb(verb, o),
        "inquire" => Ok(inquire(need_pid(o)?)),
        "request" => request(o),
        "examine" => examine(o),
        "set_event" => set_event(o),
        "set_config" => set_config(o),
        "format" | "create" | "delete" | "lookup" | "update" | "rebuild" => rindex_verb(verb, o),
        "command" => command(o),
        other => {
            // sanlock's words, on stdout.
            println!("client action \"{other}\" is unknown");
            Ok(FAILED)
        }
    }
}

fn need_lockspace(o: &Options) -> Result<LockspaceSpec, UsageError> {
    o.lockspace()?.ok_or(UsageError::Missing('s'))
}

/// `-s NAME[:...]`: the verbs that only name a lockspace take its name
/// alone, as sanlock does; the rest of a full spec is ignored.
fn lockspace_by_name(o: &Options) -> Result<Lockspace, UsageError> {
    let text = o.get('s').ok_or(UsageError::Missing('s'))?;
    let fields = crate::spec::split_fields(text).map_err(|_| UsageError::Bad {
        option: 's',
        value: text.to_owned(),
        expected: "a lockspace name",
    })?;
    let name = fields.first().map(String::as_str).unwrap_or_default();
    let name = crate::ondisk::name::Name::new(name).map_err(|_| UsageError::Bad {
        option: 's',
        value: text.to_owned(),
        expected: "a lockspace name of 1 to 48 bytes",
    })?;
    Ok(Lockspace { name, ..Lockspace::default() })
}

fn need_resource(o: &Options) -> Result<ResourceSpec, UsageError> {
    o.resource()?.ok_or(UsageError::Missing('r'))
}

fn need_pid(o: &Options) -> Result<u32, UsageError> {
    o.number::<i32>('p', "a pid")?.map(|pid| pid as u32).ok_or(UsageError::Missing('p'))
}

// ---------------------------------------------------------------------------
// The connection.

/// sanlock's socket: `$SANLOCK_RUN_DIR/sanlock.sock`.
fn socket_path() -> PathBuf {
    let dir = std::env::var_os(SANLOCK_RUN_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SANLOCK_DEFAULT_RUN_DIR));
    dir.join("sanlock.sock")
}

/// Why a request got no usable reply.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{path}: {source}", path = socket_path().display())]
    Io { source: io::Error },
    #[error("bad reply: {0}")]
    Wire(#[from] WireError),
}

impl From<io::Error> for CallError {
    fn from(source: io::Error) -> CallError {
        CallError::Io { source }
    }
}

impl CallError {
    /// The result to print: the errno of a failed call, `-EPROTO` for a
    /// reply that cannot be decoded.
    fn result(&self) -> i32 {
        match self {
            CallError::Io { source } => -source.raw_os_error().unwrap_or(libc::EIO),
            CallError::Wire(_) => -libc::EPROTO,
        }
    }

    /// Reports the failure on stderr and gives its result.
    fn report(&self) -> i32 {
        eprintln!("{PROGRAM}: {self}");
        self.result()
    }
}

/// One connection to the daemon.
struct Conn {
    stream: UnixStream,
}

impl Conn {
    fn connect() -> Result<Conn, CallError> {
        Ok(Conn { stream: UnixStream::connect(socket_path())? })
    }

    /// Sends a request: the header, then `payload`.
    fn send(
        &mut self,
        cmd: Cmd,
        flags: u32,
        data: u32,
        data2: u32,
        payload: &[u8],
    ) -> Result<(), CallError> {
        let header = Header::request(cmd, flags, data, data2, payload.len());
        self.stream.write_all(&header.encode())?;
        self.stream.write_all(payload)?;
        Ok(())
    }

    /// Reads a reply's header.
    fn header(&mut self) -> Result<Header, CallError> {
        let mut bytes = [0u8; HEADER_BYTES];
        self.stream.read_exact(&mut bytes)?;
        let header = Header::decode(&bytes)?;
        if header.magic != wire::MAGIC {
            return Err(WireError::Magic(header.magic).into());
        }
        Ok(header)
    }

    /// Reads exactly `len` more bytes.
    fn bytes(&mut self, len: usize) -> Result<Vec<u8>, CallError> {
        let mut out = vec![0u8; len];
        self.stream.read_exact(&mut out)?;
        Ok(out)
    }

    /// Reads `len` more bytes, or `None` at a clean end of the stream.
    fn next_record(&mut self, len: usize) -> Result<Option<Vec<u8>>, CallError> {
        let mut out = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            let Some(rest) = out.get_mut(filled..) else { break };
            match self.stream.read(rest)? {
                0 if filled == 0 => return Ok(None),
                0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                n => filled += n,
            }
        }
        Ok(Some(out))
    }

    /// Reads one state record of a stream (STATUS, HOST_STATUS, RENEWAL),
    /// or `None` at its end.
    fn state(&mut self) -> Result<Option<State>, CallError> {
        let Some(head) = self.next_record(STATE_BYTES)? else { return Ok(None) };
        let (mut state, str_len) = State::decode_head(&head)?;
        let text = self.bytes(str_len)?;
        // The string's NUL is not part of it.
        state.text = text.split(|&b| b == 0).next().unwrap_or_default().to_vec();
        Ok(Some(state))
    }

    /// Reads a resource and its disks.
    fn resource(&mut self) -> Result<Resource, CallError> {
        let mut bytes = self.bytes(RESOURCE_BYTES)?;
        let head = Resource::decode(&bytes)?;
        let disks = usize::try_from(head.num_disks.min(wire::MAX_DISKS)).unwrap_or(0);
        bytes.extend(self.bytes(disks * wire::DISK_BYTES)?);
        Ok(Resource::decode_with_disks(&bytes)?.0)
    }
}

/// Sends one request and reads the reply's header.
fn call(
    cmd: Cmd,
    flags: u32,
    data: u32,
    data2: u32,
    payload: &[u8],
) -> Result<(Conn, Header), CallError> {
    let mut conn = Conn::connect()?;
    conn.send(cmd, flags, data, data2, payload)?;
    let header = conn.header()?;
    Ok((conn, header))
}

/// A request whose reply is only a result.
fn result_of(cmd: Cmd, flags: u32, data: u32, data2: u32, payload: &[u8]) -> i32 {
    match call(cmd, flags, data, data2, payload) {
        Ok((_, header)) => header.result(),
        Err(err) => err.report(),
    }
}

// ---------------------------------------------------------------------------
// Building the structs from the command line.

fn wire_disk(disk: &crate::spec::DiskLocation) -> Result<Disk, UsageError> {
    Disk::new(disk.path.clone(), disk.offset).map_err(|e| UsageError::Other(e.to_string()))
}

fn wire_lockspace(spec: &LockspaceSpec, flags: u32) -> Result<Lockspace, UsageError> {
    Ok(Lockspace { name: spec.name, host_id: spec.host_id, flags, disk: wire_disk(&spec.disk)? })
}

fn wire_resource(spec: &ResourceSpec, flags: u32) -> Result<Resource, UsageError> {
    let mut flags = flags;
    if spec.shared {
        flags |= wire::res::SHARED;
    }
    if spec.lver.is_some() {
        flags |= wire::res::LVER;
    }
    Ok(Resource {
        lockspace: spec.lockspace,
        name: spec.name,
        lver: spec.lver.unwrap_or(0),
        flags,
        num_disks: 1,
        disks: vec![wire_disk(&spec.disk)?],
        ..Resource::default()
    })
}

fn wire_rindex(spec: &RindexSpec, flags: u32) -> Result<Rindex, UsageError> {
    Ok(Rindex { flags, max_resources: 0, lockspace: spec.lockspace, disk: wire_disk(&spec.disk)? })
}

/// `-Z` and `-A` as the align/sector flags of a lockspace, resource or
/// rindex.
fn geometry_flags(o: &Options) -> Result<u32, UsageError> {
    let mut flags = 0;
    match o.sector_size()? {
        Some(crate::ondisk::SectorSize::B512) => flags |= wire::res::SECTOR512,
        Some(crate::ondisk::SectorSize::B4096) => flags |= wire::res::SECTOR4K,
        None => {}
    }
    if let Some(align) = o.align()? {
        flags |= align.flag();
    }
    Ok(flags)
}

/// Prints `VERB done RV` and gives the exit status.
fn done(verb: &str, rv: i32) -> u8 {
    println!("{verb} done {rv}");
    status_of(rv)
}

// ---------------------------------------------------------------------------
// The verbs.

fn status(details: bool) -> u8 {
    let printed = (|| -> Result<i32, CallError> {
        // data 0 asks for every record.
        let (mut conn, header) = call(Cmd::Status, 0, 0, 0, &[])?;
        if header.result() < 0 {
            return Ok(header.result());
        }
        let mut out = io::stdout().lock();
        while let Some(state) = conn.state()? {
            let line = match state.kind {
                wire::state::DAEMON => format!("daemon {}", state.name),
                wire::state::CLIENT => format!("p {} {}", state.data32 as i32, state.name),
                wire::state::LOCKSPACE => {
                    let ls = Lockspace::decode(&conn.bytes(LOCKSPACE_BYTES)?)?;
                    format!("s {}", lockspace_text(&ls))
                }
                wire::state::RESOURCE => {
                    let mut res = conn.resource()?;
                    // sanlock sends the held lver in the record, not in
                    // the resource.
                    if state.data64 != 0 {
                        res.lver = state.data64;
                    }
                    format!("r {} p {}", res_to_str(&res), state.data32 as i32)
                }
                _ => continue,
            };
            let _ = writeln!(out, "{line}");
            if details {
                let _ = write!(out, "{}", detail_lines(&state.text));
            }
        }
        Ok(0)
    })();
    status_of(printed.unwrap_or_else(|err| err.result()))
}

/// `name:host_id:path:offset`, as sanlock prints a lockspace.
fn lockspace_text(ls: &Lockspace) -> String {
    let spec = LockspaceSpec {
        name: ls.name,
        host_id: ls.host_id,
        disk: crate::spec::DiskLocation { path: ls.disk.path.clone(), offset: ls.disk.offset },
    };
    spec.to_string()
}

/// A record's `key=value` pairs, one per line, indented 4 spaces.
fn detail_lines(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .split(' ')
        .filter(|pair| !pair.is_empty())
        .map(|pair| format!("    {pair}\n"))
        .collect()
}

fn host_status(ls: &Lockspace, details: bool) -> u8 {
    let printed = (|| -> Result<i32, CallError> {
        // The stock client says the header is all there is; the daemon
        // reads the lockspace that follows regardless.
        let mut conn = Conn::connect()?;
        conn.send(Cmd::HostStatus, 0, 0, 0, &[])?;
        conn.stream.write_all(&ls.encode())?;
        let header = conn.header()?;
        if header.result() < 0 {
            return Ok(header.result());
        }
        let mut out = io::stdout().lock();
        while let Some(state) = conn.state()? {
            let _ = writeln!(out, "{} timestamp {}", state.data32, state.data64);
            if details {
                let _ = write!(out, "{}", detail_lines(&state.text));
            }
        }
        Ok(0)
    })();
    status_of(printed.unwrap_or_else(|err| err.report()))
}

fn gets(hosts: bool) -> u8 {
    let listed = (|| -> Result<i32, CallError> {
        let (mut conn, header) = call(Cmd::GetLockspaces, 0, 0, 0, &[])?;
        if header.result() < 0 {
            return Ok(header.result());
        }
        for _ in 0..header.data2.min(MAX_LIST) {
            let ls = Lockspace::decode(&conn.bytes(LOCKSPACE_BYTES)?)?;
            let state = match ls.flags {
                f if f & wire::lsf::ADD != 0 => "ADD",
                f if f & wire::lsf::REM != 0 => "REM",
                _ => "",
            };
            println!("s {} {state}", lockspace_text(&ls));
            if hosts {
                print_hosts(&ls)?;
            }
        }
        Ok(0)
    })();
    status_of(listed.unwrap_or_else(|err| err.report()))
}

/// Most records a listing may announce.
const MAX_LIST: u32 = 100_000;

fn print_hosts(ls: &Lockspace) -> Result<(), CallError> {
    let query = Lockspace { host_id: 0, ..ls.clone() };
    let (mut conn, header) = call(Cmd::GetHosts, 0, 0, 0, &query.encode())?;
    if header.result() == -libc::EAGAIN {
        println!("hosts not ready");
        return Ok(());
    }
    if header.result() < 0 {
        println!("hosts error {}", header.result());
        return Ok(());
    }
    for _ in 0..header.data2.min(MAX_LIST) {
        let host = Host::decode(&conn.bytes(wire::HOST_BYTES)?)?;
        let state = match host.flags & wire::host::MASK {
            wire::host::UNKNOWN => "UNKNOWN",
            wire::host::FREE => "FREE",
            wire::host::LIVE => "LIVE",
            wire::host::FAIL => "FAIL",
            wire::host::DEAD => "DEAD",
            _ => "",
        };
        println!("h {} gen {} timestamp {} {state}", host.host_id, host.generation, host.timestamp);
    }
    Ok(())
}

fn renewal(ls: &Lockspace) -> u8 {
    let printed = (|| -> Result<i32, CallError> {
        let mut conn = Conn::connect()?;
        // As for HOST_STATUS, the header's length leaves the lockspace out.
        conn.send(Cmd::Renewal, 0, 0, 0, &[])?;
        conn.stream.write_all(&ls.encode())?;
        let header = conn.header()?;
        if header.result() < 0 {
            return Ok(header.result());
        }
        while let Some(state) = conn.state()? {
            println!("{}", String::from_utf8_lossy(&state.text));
        }
        Ok(0)
    })();
    status_of(printed.unwrap_or_else(|err| err.report()))
}

fn log_dump() -> u8 {
    let dumped = (|| -> Result<i32, CallError> {
        let (mut conn, header) = call(Cmd::LogDump, 0, 0, 0, &[])?;
        let len = usize::try_from(header.data.min(MAX_LOG_BYTES)).unwrap_or(0);
        let log = conn.bytes(len)?;
        let text = log.split(|&b| b == 0).next().unwrap_or_default();
        let _ = io::stdout().lock().write_all(text);
        Ok(0)
    })();
    status_of(dumped.unwrap_or_else(|err| err.report()))
}

fn shutdown(force: bool, wait: bool) -> u8 {
    println!("shutdown force {} wait {}", u8::from(force), u8::from(wait));
    let rv = if wait {
        result_of(Cmd::ShutdownWait, 0, u32::from(force), 0, &[])
    } else {
        // SHUTDOWN has no reply: sent is done.
        match Conn::connect()
            .and_then(|mut conn| conn.send(Cmd::Shutdown, 0, u32::from(force), 0, &[]))
        {
            Ok(()) => 0,
            Err(err) => err.report(),
        }
    };
    done("shutdown", rv)
}

fn init(o: &Options) -> Result<u8, UsageError> {
    let flags = geometry_flags(o)?;
    println!("init");
    let rv = if let Some(spec) = o.lockspace()? {
        let io_timeout = o.number::<u32>('o', "a number of seconds")?.unwrap_or(0);
        let ls = wire_lockspace(&spec, flags)?;
        result_of(Cmd::WriteLockspace, 0, 0, io_timeout, &ls.encode())
    } else if let Some(spec) = o.resource()? {
        let clear = if o.switch('z')?.unwrap_or(false) { wire::write::CLEAR } else { 0 };
        let num_hosts = o.number::<u32>('n', "a number of hosts")?.unwrap_or(0);
        let res = wire_resource(&spec, flags)?;
        result_of(Cmd::WriteResource, clear, num_hosts, 0, &res.encode())
    } else {
        return Err(UsageError::Other("client init needs -s LOCKSPACE or -r RESOURCE".into()));
    };
    Ok(done("init", rv))
}

/// The sector and align sizes in align/sector flags, as `read -D` prints.
fn geometry_lines(flags: u32) -> String {
    let sector = if flags & wire::res::SECTOR4K != 0 { 4096 } else { 512 };
    let align = match crate::ondisk::geometry::AlignSize::from_flags(flags) {
        Ok(Some(align)) => align.bytes(),
        _ => 1 << 20,
    };
    format!("sector_size {sector}\nalign_size {align}\n")
}

fn read(o: &Options) -> Result<u8, UsageError> {
    let details = o.has('D');
    let rv = if let Some(spec) = o.lockspace()? {
        let ls = wire_lockspace(&spec, 0)?;
        (|| -> Result<i32, CallError> {
            let (mut conn, header) = call(Cmd::ReadLockspace, 0, 0, 0, &ls.encode())?;
            if header.result() < 0 {
                return Ok(header.result());
            }
            let read = Lockspace::decode(&conn.bytes(LOCKSPACE_BYTES)?)?;
            println!("s {}", lockspace_text(&read));
            if details {
                print!("io_timeout {}\n{}", header.data2, geometry_lines(read.flags));
            }
            Ok(0)
        })()
    } else if let Some(spec) = o.resource()? {
        let res = wire_resource(&spec, 0)?;
        (|| -> Result<i32, CallError> {
            let (mut conn, header) = call(Cmd::ReadResource, 0, 0, 0, &res.encode())?;
            if header.result() < 0 {
                return Ok(header.result());
            }
            let head = Resource::decode(&conn.bytes(RESOURCE_BYTES)?)?;
            // The reply is the head alone; the disks are the ones asked for.
            let read = Resource {
                disks: res.disks.clone(),
                flags: head.flags & !wire::res::SHARED,
                ..head
            };
            println!("r {}", res_to_str(&read));
            if details {
                print!("{}", geometry_lines(read.flags));
            }
            Ok(0)
        })()
    } else {
        return Err(UsageError::Other("client read needs -s LOCKSPACE or -r RESOURCE".into()));
    };
    let rv = rv.unwrap_or_else(|err| err.report());
    if rv < 0 {
        println!("read done {rv}");
    }
    Ok(status_of(rv))
}

fn add_lockspace(spec: &LockspaceSpec, io_timeout: Option<u32>) -> u8 {
    let verb = match io_timeout {
        Some(io) => {
            println!("add_lockspace_timeout {io}");
            "add_lockspace_timeout"
        }
        None => {
            println!("add_lockspace");
            "add_lockspace"
        }
    };
    let rv = match wire_lockspace(spec, 0) {
        Ok(ls) => result_of(Cmd::AddLockspace, 0, io_timeout.unwrap_or(0), 0, &ls.encode()),
        Err(err) => return usage_failed(&err),
    };
    done(verb, rv)
}

fn lockspace_verb(verb: &str, cmd: Cmd, spec: &LockspaceSpec) -> u8 {
    println!("{verb}");
    let rv = match wire_lockspace(spec, 0) {
        Ok(ls) => result_of(cmd, 0, 0, 0, &ls.encode()),
        Err(err) => return usage_failed(&err),
    };
    done(verb, rv)
}

fn pid_verb(verb: &str, o: &Options) -> Result<u8, UsageError> {
    let spec = need_resource(o)?;
    let pid = need_pid(o)?;
    let res = wire_resource(&spec, 0)?;
    println!("{verb} pid {}", pid as i32);
    let rv = match verb {
        "acquire" => {
            let mut payload = res.encode();
            payload.extend_from_slice(&AcquireOptions::default().encode());
            result_of(Cmd::Acquire, 0, 1, pid, &payload)
        }
        "convert" => result_of(Cmd::Convert, 0, 0, pid, &res.encode_head()),
        _ => result_of(Cmd::Release, 0, 1, pid, &res.encode_head()),
    };
    Ok(done(verb, rv))
}

fn inquire(pid: u32) -> u8 {
    println!("inquire pid {}", pid as i32);
    let answered = (|| -> Result<(i32, u32, Option<String>), CallError> {
        let (mut conn, header) = call(Cmd::Inquire, 0, 0, pid, &[])?;
        let len = usize::try_from(header.length).unwrap_or(0).saturating_sub(HEADER_BYTES);
        let text = conn.bytes(len.min(wire::STATE_MAX_STR * wire::MAX_RESOURCES))?;
        let text = text.split(|&b| b == 0).next().unwrap_or_default();
        let state = (!text.is_empty()).then(|| String::from_utf8_lossy(text).into_owned());
        Ok((header.result(), header.data2, state))
    })();
    let (rv, count, state) = answered.unwrap_or_else(|err| (err.report(), 0, None));
    println!("inquire done {rv} res_count {count}");
    if rv == 0 {
        println!("\"{}\"", state.as_deref().unwrap_or("(null)"));
    }
    status_of(rv)
}

fn request(o: &Options) -> Result<u8, UsageError> {
    let spec = need_resource(o)?;
    let force_mode = o.number::<u32>('f', "a force mode")?.ok_or(UsageError::Missing('f'))?;
    let res = wire_resource(&spec, 0)?;
    // Without an lver the request is for the next one.
    let flags = if spec.lver.is_none() { wire::request::NEXT_LVER } else { 0 };
    println!("request");
    Ok(done("request", result_of(Cmd::Request, flags, force_mode, 0, &res.encode())))
}

fn examine(o: &Options) -> Result<u8, UsageError> {
    let (cmd, payload) = if let Some(spec) = o.resource()? {
        (Cmd::ExamineResource, wire_resource(&spec, 0)?.encode_head().to_vec())
    } else if let Some(spec) = o.lockspace()? {
        (Cmd::ExamineLockspace, wire_lockspace(&spec, 0)?.encode().to_vec())
    } else {
        return Err(UsageError::Other("client examine needs -r RESOURCE or -s LOCKSPACE".into()));
    };
    println!("examine");
    Ok(done("examine", result_of(cmd, 0, 0, 0, &payload)))
}

fn set_event(o: &Options) -> Result<u8, UsageError> {
    let ls = wire_lockspace(&need_lockspace(o)?, 0)?;
    let event = wire::HostEvent {
        host_id: o.number('i', "a host_id")?.ok_or(UsageError::Missing('i'))?,
        generation: o.number('g', "a generation")?.unwrap_or(0),
        event: o.number('e', "an event number")?.ok_or(UsageError::Missing('e'))?,
        data: o.number('d', "a number")?.ok_or(UsageError::Missing('d'))?,
    };
    println!(
        "set_event {} {} event 0x{:x} data 0x{:x}",
        event.host_id, event.generation, event.event, event.data
    );
    let mut payload = ls.encode().to_vec();
    payload.extend_from_slice(&event.encode());
    Ok(done("set_event", result_of(Cmd::SetEvent, 0, 0, 0, &payload)))
}

fn set_config(o: &Options) -> Result<u8, UsageError> {
    let ls = wire_lockspace(&need_lockspace(o)?, 0)?;
    let used = o.switch('u')?.map(|on| if on { wire::config::USED } else { wire::config::UNUSED });
    let orphans = o
        .switch('O')?
        .map(|on| if on { wire::config::USED_BY_ORPHANS } else { wire::config::UNUSED_BY_ORPHANS });
    let Some(cmd) = used.or(orphans) else {
        return Err(UsageError::Other("client set_config needs -u 0|1 or -O 0|1".into()));
    };
    println!("set_config {} {cmd}", ls.name);
    Ok(done("set_config", result_of(Cmd::SetConfig, 0, cmd, 0, &ls.encode())))
}

fn rindex_verb(verb: &str, o: &Options) -> Result<u8, UsageError> {
    let spec = o.rindex()?;
    let rindex = wire_rindex(&spec, geometry_flags(o)?)?;
    let (name, offset) = rindex_entry(o.get('e'))?;
    let entry = Rentry { name, offset, flags: 0 };
    let mut payload = rindex.encode().to_vec();
    payload.extend_from_slice(&entry.encode());
    let with_entry = |cmd: Cmd, flags: u32| -> Result<(i32, Option<Rentry>), CallError> {
        let (mut conn, header) = call(cmd, flags, 0, 0, &payload)?;
        if header.result() < 0 {
            return Ok((header.result(), None));
        }
        Ok((header.result(), Some(Rentry::decode(&conn.bytes(RENTRY_BYTES)?)?)))
    };
    let code = match verb {
        "format" => done("format", result_of(Cmd::FormatRindex, 0, 0, 0, &rindex.encode())),
        "rebuild" => done("rebuild", result_of(Cmd::RebuildRindex, 0, 0, 0, &rindex.encode())),
        "create" => {
            if name.is_empty() {
                return Err(UsageError::Missing('e'));
            }
            let (rv, entry) =
                with_entry(Cmd::CreateResource, 0).unwrap_or_else(|e| (e.report(), None));
            println!("create_resource done {rv}");
            if let Some(entry) = entry {
                println!("offset {}", entry.offset);
            }
            status_of(rv)
        }
        "delete" => {
            let (rv, _) = with_entry(Cmd::DeleteResource, 0).unwrap_or_else(|e| (e.report(), None));
            done("delete_resource", rv)
        }
        "update" => {
            let flags = if o.switch('z')?.unwrap_or(false) {
                wire::rindex::RXUP_REM
            } else {
                wire::rindex::RXUP_ADD
            };
            let (rv, _) =
                with_entry(Cmd::UpdateRindex, flags).unwrap_or_else(|e| (e.report(), None));
            done("update", rv)
        }
        _ => {
            let (rv, entry) =
                with_entry(Cmd::LookupRindex, 0).unwrap_or_else(|e| (e.report(), None));
            println!("lookup done {rv}");
            if let Some(entry) = entry {
                let name =
                    if entry.name.is_empty() { "-".to_owned() } else { entry.name.to_string() };
                println!("name {name} offset {}", entry.offset);
            }
            status_of(rv)
        }
    };
    Ok(code)
}

/// `command -r RES -c PATH ARGS`: register, acquire, then become the
/// program, which holds the lease through the registered connection until
/// it exits.
fn command(o: &Options) -> Result<u8, UsageError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    let spec = need_resource(o)?;
    let program = o.get('c').ok_or(UsageError::Missing('c'))?;
    let res = wire_resource(&spec, 0)?;
    let acquired = (|| -> Result<(Conn, i32), CallError> {
        let mut conn = Conn::connect()?;
        // REGISTER has no reply; the acquire on the same connection does.
        conn.send(Cmd::Register, 0, 0, 0, &[])?;
        let mut payload = res.encode();
        payload.extend_from_slice(&AcquireOptions::default().encode());
        conn.send(Cmd::Acquire, 0, 1, u32::MAX, &payload)?;
        let header = conn.header()?;
        Ok((conn, header.result()))
    })();
    let conn = match acquired {
        Ok((conn, 0)) => conn,
        Ok((_, rv)) => return Ok(done("acquire", rv)),
        Err(err) => return Ok(done("acquire", err.report())),
    };
    // The program inherits the registered connection: the daemon releases
    // the lease when the last holder of it closes.
    let fd = conn.stream.as_raw_fd();
    if let Err(err) =
        nix::fcntl::fcntl(&conn.stream, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()))
    {
        eprintln!("{PROGRAM}: cannot pass the connection (fd {fd}) on: {err}");
        return Ok(FAILED);
    }
    let err = std::process::Command::new(program).args(&o.words).exec();
    eprintln!("{PROGRAM}: {program}: {err}");
    drop(conn);
    Ok(FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_indented_one_per_line() {
        assert_eq!(detail_lines(b"a=1 b=two"), "    a=1\n    b=two\n");
        assert_eq!(detail_lines(b""), "");
    }

    #[test]
    fn geometry_lines_follow_the_flags() {
        assert_eq!(geometry_lines(0), "sector_size 512\nalign_size 1048576\n");
        assert_eq!(
            geometry_lines(wire::res::SECTOR4K | wire::res::ALIGN8M),
            "sector_size 4096\nalign_size 8388608\n"
        );
    }
}
