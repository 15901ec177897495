//! The native socket protocol between `leased` and its clients.
//!
//! Each message is a frame: a 4-byte big-endian length, then that many bytes
//! of JSON. A request names the protocol version, an id the reply echoes,
//! an operation and its arguments:
//!
//! ```text
//! {"v":1,"id":7,"op":"acquire","args":{"resources":["vms:vm1:/dev/sdb:1048576"],"pid":4242}}
//! {"v":1,"id":7,"ok":true,"result":{...}}
//! {"v":1,"id":7,"ok":false,"error":{"code":"owner_alive","message":"..."}}
//! ```
//!
//! A request acts for the caller's process, or for another named by `pid`
//! (a child's, or any for root). A pid number is taken only from a caller
//! in leased's own pid namespace: from a container it would name another
//! process here, and is refused. Any caller may instead set `"pidfd": true`
//! and send a pidfd of the process (SCM_RIGHTS) with the frame's first
//! bytes; leased reads the process's pid in its own namespace from that.
//!
//! Error codes are stable strings ([`ErrorCode`]); each maps to one exit
//! status of the `lease` command. The operations and their arguments are
//! [`Request`]; their results are the structs in [`results`]. lease(8)
//! documents the protocol for clients in other languages.

pub mod results;

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::cli::exit;
use crate::paxos::Mode;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The largest request frame accepted by default.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;
/// The largest reply a client accepts: `status` and `inquire` list every
/// lease, about 300 bytes each, and a host may hold tens of thousands.
pub const MAX_REPLY: usize = 64 << 20;

/// One request: an operation and its arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum Request {
    /// The daemon's version and protocol version.
    Version,
    /// Join a lockspace, `NAME:HOST_ID:PATH:OFFSET`.
    AddLockspace(AddLockspace),
    /// Leave a lockspace.
    RemLockspace(RemLockspace),
    /// Every lockspace and lease of this host.
    Status,
    /// The other hosts of a lockspace as this host sees them.
    Hosts(Hosts),
    /// Acquire resources, all or none.
    Acquire(Acquire),
    /// Release resources.
    Release(Release),
    /// The resources a process holds.
    Inquire(Inquire),
    /// Switch a held resource between EX and SH.
    Convert(Convert),
    /// Ask a resource's owner to give it up.
    Request(LeaseRequest),
    /// Make this connection a client of the watchdog: the host is reset if
    /// it does not renew before its expiry.
    WatchdogRegister(WatchdogRegister),
    /// Move this connection's watchdog expiry.
    WatchdogRenew(WatchdogRenew),
    /// Stop being a client of the watchdog.
    WatchdogUnregister,
    /// Write a lockspace's name index, right after its area.
    IndexFormat(IndexFormat),
    /// Every name in a lockspace's name index.
    IndexList(IndexList),
    /// Find a name in the index, adding it (and its lease) if absent.
    IndexCreate(IndexName),
    /// Remove a name nobody holds from the index, and clear its lease.
    IndexDelete(IndexName),
    /// Create a group in a lockspace's name index.
    GroupCreate(GroupArgs),
    /// Delete a group without members.
    GroupDelete(GroupArgs),
    /// Every group of a lockspace.
    GroupList(IndexList),
    /// Join a group as a member held by the calling process.
    GroupJoin(GroupJoin),
    /// Leave a group.
    GroupLeave(GroupArgs),
    /// A group's members, their capabilities and its leader.
    GroupMembers(GroupArgs),
    /// Replace a member's capabilities.
    GroupUpdate(GroupJoin),
    /// Keep the caller's memberships that have a time to live.
    GroupHeartbeat(GroupArgs),
    /// Take a group's leadership if nobody holds it.
    GroupElect(GroupArgs),
    /// Give a group's leadership up.
    GroupStandDown(GroupArgs),
    /// Watch a group: the reply holds its members and leader, and the
    /// connection then carries an event at each change until it is closed.
    GroupWatch(GroupArgs),
}

/// A resource to acquire or release: a spec string
/// `LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH]`, or a name found in the
/// lockspace's name index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceArg {
    Spec(String),
    Named(NamedResource),
}

impl From<&str> for ResourceArg {
    fn from(spec: &str) -> ResourceArg {
        ResourceArg::Spec(spec.to_owned())
    }
}

impl From<&String> for ResourceArg {
    fn from(spec: &String) -> ResourceArg {
        ResourceArg::Spec(spec.clone())
    }
}

/// A lease found by name in a lockspace's name index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamedResource {
    pub lockspace: String,
    /// 1 to 1024 bytes, no NUL; names over 48 bytes are stored hashed.
    pub name: String,
    /// Acquire in SHARED mode.
    pub shared: bool,
    /// Add the name to the index if it is not there (acquire only).
    pub create: bool,
    /// The stored name of a group's lease (see [`crate::groups`]), set by
    /// leased's own group calls: clients cannot set it, and their names
    /// never take a group's.
    #[serde(skip)]
    pub stored: Option<crate::ondisk::name::Name>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexFormat {
    pub lockspace: String,
    /// Names the index holds [default: 4096].
    pub max_names: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexList {
    pub lockspace: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexName {
    pub lockspace: String,
    pub name: String,
}

/// A group of a lockspace, and for the calls that take one, a member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupArgs {
    pub lockspace: String,
    /// 1 to 256 bytes, no NUL.
    pub group: String,
    /// 1 to 256 bytes, no NUL (join, leave, update, heartbeat, elect,
    /// stand down).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub member: String,
}

/// A member joining a group, or replacing its capabilities.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupJoin {
    pub lockspace: String,
    pub group: String,
    pub member: String,
    /// Any JSON value, up to about 4 KiB with the ids.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub capabilities: serde_json::Value,
    /// Leave by itself unless a heartbeat comes within this long (join
    /// only) [default: a member stays while its process lives].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddLockspace {
    pub lockspace: String,
    /// io_timeout to renew with [default: the lockspace's].
    pub io_timeout: Option<u8>,
    /// Reply only once joined (or failed), not as soon as joining starts.
    pub wait: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemLockspace {
    /// The lockspace's name.
    pub lockspace: String,
    /// Kill (SIGKILL) the running processes holding its leases first,
    /// rather than refuse; the lockspace is kept if one does not exit.
    pub force: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hosts {
    pub lockspace: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Acquire {
    /// Spec strings or names (see [`ResourceArg`]).
    pub resources: Vec<ResourceArg>,
    /// The process the leases belong to [default: the caller], by its pid
    /// in leased's pid namespace.
    pub pid: Option<u32>,
    /// The process is the pidfd sent with this frame (see the module
    /// docs); then `pid` is unset.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pidfd: bool,
    /// Wait up to this long for busy resources instead of failing.
    pub wait_ms: Option<u64>,
    /// Keep the leases when the process exits, until released or adopted.
    pub persistent: bool,
    /// Take over leases left by an exited process (persistent orphans).
    pub adopt: bool,
    /// Read each resource's lock value block at acquire; it is written
    /// back at release, as the holder may have set it (EX only). Served
    /// through sanlock's protocol only, which has the calls to set and get
    /// it: not on the JSON socket.
    #[serde(skip)]
    pub lvb: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Release {
    pub resources: Vec<ResourceArg>,
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pidfd: bool,
    /// Every lease of the process.
    pub all: bool,
    /// Release orphans (persistent leases whose process exited) instead.
    pub orphan: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Inquire {
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pidfd: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Convert {
    pub resource: String,
    pub mode: Mode,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pidfd: bool,
}

/// How a resource's owner is asked to give it up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Force {
    /// Kill the holder at once.
    Force,
    /// Ask the holder to stop.
    Graceful,
    /// Withdraw a pending request.
    Clear,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    pub resource: String,
    pub force: Force,
    /// The lease version wanted [default: one above the current].
    #[serde(default)]
    pub lver: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchdogRegister {
    /// Shown in `status` and in logs: 1 to 64 printable characters.
    pub name: String,
    /// Milliseconds from now to the first expiry.
    pub expiry_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchdogRenew {
    /// Milliseconds from now to the new expiry.
    pub expiry_ms: u64,
}

/// A request as framed: version, id, operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFrame {
    pub v: u32,
    pub id: u64,
    #[serde(flatten)]
    pub request: Request,
}

/// Why a request failed, in a form stable across releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON, or not a request.
    BadFrame,
    /// The frame is larger than the daemon accepts.
    FrameTooLarge,
    /// The protocol version is not one this daemon speaks.
    UnsupportedVersion,
    /// The operation is not one this daemon knows.
    UnknownCommand,
    /// The arguments are invalid (specs, names, offsets).
    BadRequest,
    /// The caller may not do this.
    PermissionDenied,
    /// A limit on clients, frames or leases was reached.
    Limit,
    /// No such lockspace or lease here.
    NotFound,
    /// The lockspace is already joined, or the lease already held here.
    Exists,
    /// Held by another host (alive), or shared where exclusive is wanted.
    Refused,
    /// Not now: joining, an owner about to be declared dead, contention, a
    /// timed-out I/O. Retrying may succeed.
    Retry,
    /// The disk does not hold what it should (checksum, magic, names).
    Data,
    /// The device failed.
    Io,
    /// The daemon is shutting down.
    ShuttingDown,
    /// A bug.
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::BadFrame,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::UnknownCommand,
        ErrorCode::BadRequest,
        ErrorCode::PermissionDenied,
        ErrorCode::Limit,
        ErrorCode::NotFound,
        ErrorCode::Exists,
        ErrorCode::Refused,
        ErrorCode::Retry,
        ErrorCode::Data,
        ErrorCode::Io,
        ErrorCode::ShuttingDown,
        ErrorCode::Internal,
    ];

    /// What the code means, in a phrase.
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "the frame is not JSON, or not a request",
            ErrorCode::FrameTooLarge => "the frame exceeds max_frame; the connection is closed",
            ErrorCode::UnsupportedVersion => "the protocol version is not 1",
            ErrorCode::UnknownCommand => "no such operation",
            ErrorCode::BadRequest => "invalid arguments: specs, names, offsets, pids",
            ErrorCode::PermissionDenied => "the caller may not do this",
            ErrorCode::Limit => "a limit on clients, leases or resources was reached",
            ErrorCode::NotFound => "no such lockspace or lease on this host",
            ErrorCode::Exists => "already joined, or already held or busy on this host",
            ErrorCode::Refused => "held by another host, or shared where exclusive is wanted",
            ErrorCode::Retry => {
                "not now (joining, contention, an owner about to be dead, a timeout)"
            }
            ErrorCode::Data => "the disk does not hold what it should",
            ErrorCode::Io => "the device failed",
            ErrorCode::ShuttingDown => "leased is shutting down",
            ErrorCode::Internal => "a bug",
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::Limit => "limit",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Exists => "exists",
            ErrorCode::Refused => "refused",
            ErrorCode::Retry => "retry",
            ErrorCode::Data => "data",
            ErrorCode::Io => "io",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
        }
    }

    /// The `lease` command's exit status for this error.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorCode::BadFrame
            | ErrorCode::FrameTooLarge
            | ErrorCode::UnsupportedVersion
            | ErrorCode::UnknownCommand
            | ErrorCode::BadRequest => exit::USAGE,
            ErrorCode::PermissionDenied => exit::NOPERM,
            ErrorCode::Limit | ErrorCode::NotFound | ErrorCode::Exists | ErrorCode::Refused => {
                exit::REFUSED
            }
            ErrorCode::Retry | ErrorCode::ShuttingDown => exit::TEMPFAIL,
            ErrorCode::Data => exit::DATA,
            ErrorCode::Io => exit::IO,
            ErrorCode::Internal => exit::SOFTWARE,
        }
    }
}

/// An error reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Why, finer than the code, for front ends whose clients tell these
    /// cases apart (sanlock's protocol answers each with its own value).
    /// Not sent on the JSON socket.
    #[serde(skip)]
    pub cause: Option<Cause>,
}

/// Causes of an error that some clients tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Held on this host already (by a process, or as an orphan).
    HeldHere,
    /// Held on this host as an orphan.
    Orphan,
    /// Being acquired or released on this host.
    BusyHere,
    /// Held by a host that is alive.
    OwnerAlive,
    /// Held shared by others where exclusive was wanted.
    SharedHeld,
    /// Another host took it while we tried.
    OtherOwner,
    /// Its lver is not the one asked for.
    Lver,
    /// Its lockspace is not joined here, or failed.
    NoLockspace,
    /// The lease record on disk is not a valid one.
    BadRecord,
    /// The sector size or align asked for is invalid, or not the area's.
    BadGeometry,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), cause: None }
    }

    /// This error, with its finer cause.
    #[must_use]
    pub fn because(mut self, cause: Cause) -> ApiError {
        self.cause = Some(cause);
        self
    }
}

/// A reply as framed. The result is kept as JSON text: a large reply
/// (`status` with every lease) is serialized once, never held as a tree.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResponseFrame {
    pub v: u32,
    pub id: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<serde_json::value::RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

impl ResponseFrame {
    /// A reply to request `id`.
    pub fn reply(
        id: u64,
        outcome: Result<Box<serde_json::value::RawValue>, ApiError>,
    ) -> ResponseFrame {
        match outcome {
            Ok(result) => ResponseFrame {
                v: PROTOCOL_VERSION,
                id,
                ok: true,
                result: Some(result),
                error: None,
            },
            Err(error) => ResponseFrame {
                v: PROTOCOL_VERSION,
                id,
                ok: false,
                result: None,
                error: Some(error),
            },
        }
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads one frame of at most `max` bytes. A frame over the limit is
/// refused before its body is read.
pub fn read_frame(reader: &mut impl Read, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 4];
    match reader.read_exact(&mut header) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(err) => return Err(FrameError::Io(err)),
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// Writes one frame.
pub fn write_frame(writer: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    writer.write_all(&len.to_be_bytes())?;
    writer.write_all(body)?;
    writer.flush()
}

/// Parses a request frame's body, telling apart what is not JSON, what is
/// not a request, an unknown version and an unknown operation.
pub fn parse_request(body: &[u8]) -> Result<RequestFrame, (u64, ApiError)> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| (0, ApiError::new(ErrorCode::BadFrame, format!("not JSON: {err}"))))?;
    let id = value.get("id").and_then(serde_json::Value::as_u64).unwrap_or(0);
    let fail = |code, message: String| (id, ApiError::new(code, message));
    let Some(version) = value.get("v").and_then(serde_json::Value::as_u64) else {
        return Err(fail(ErrorCode::BadFrame, "missing protocol version \"v\"".to_owned()));
    };
    if version != u64::from(PROTOCOL_VERSION) {
        return Err(fail(
            ErrorCode::UnsupportedVersion,
            format!(
                "protocol version {version} is not supported (this daemon speaks {PROTOCOL_VERSION})"
            ),
        ));
    }
    let op = value.get("op").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    if value.get("id").is_none() || op.is_empty() {
        return Err(fail(ErrorCode::BadFrame, "a request needs \"id\" and \"op\"".to_owned()));
    }
    serde_json::from_value::<RequestFrame>(value).map_err(|err| {
        let text = err.to_string();
        // Only the operation's own name: an argument's unknown variant
        // (a mode "XX") is a bad argument of a known operation.
        if text.contains(&format!("unknown variant `{op}`")) {
            fail(ErrorCode::UnknownCommand, format!("unknown operation '{op}'"))
        } else {
            fail(ErrorCode::BadRequest, format!("invalid arguments for '{op}': {text}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_in_their_documented_shape() {
        let frame = RequestFrame {
            v: 1,
            id: 7,
            request: Request::Acquire(Acquire {
                resources: vec!["vms:vm1:/dev/sdb:1048576".into()],
                pid: Some(4242),
                ..Acquire::default()
            }),
        };
        let text = serde_json::to_string(&frame).unwrap();
        assert!(text.starts_with(r#"{"v":1,"id":7,"op":"acquire","args":{"resources":"#), "{text}");
        assert_eq!(parse_request(text.as_bytes()).unwrap(), frame);
        let status = parse_request(br#"{"v":1,"id":3,"op":"status"}"#).unwrap();
        assert_eq!(status.request, Request::Status);
    }

    #[test]
    fn bad_requests_are_told_apart() {
        let code = |body: &[u8]| parse_request(body).unwrap_err().1.code;
        assert_eq!(code(b"\x00\xffgarbage"), ErrorCode::BadFrame);
        assert_eq!(code(br#"{"id":1,"op":"status"}"#), ErrorCode::BadFrame);
        assert_eq!(code(br#"{"v":2,"id":1,"op":"status"}"#), ErrorCode::UnsupportedVersion);
        assert_eq!(code(br#"{"v":1,"id":1,"op":"launch_missiles"}"#), ErrorCode::UnknownCommand);
        let bad_mode =
            br#"{"v":1,"id":1,"op":"convert","args":{"resource":"a:b:/c:0","mode":"XX"}}"#;
        assert_eq!(code(bad_mode), ErrorCode::BadRequest, "a known operation's bad argument");
        assert_eq!(
            code(br#"{"v":1,"id":1,"op":"acquire","args":{"resources":"x"}}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(br#"{"v":1,"id":1,"op":"acquire","args":{"resource":["x"]}}"#),
            ErrorCode::BadRequest,
            "unknown fields are refused, not ignored"
        );
        assert_eq!(parse_request(br#"{"v":1,"id":9,"op":"nope"}"#).unwrap_err().0, 9);
    }

    #[test]
    fn error_codes_read_as_on_the_wire() {
        for code in [ErrorCode::BadFrame, ErrorCode::PermissionDenied, ErrorCode::ShuttingDown] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn frames_have_a_length_limit() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"{}").unwrap();
        assert_eq!(wire, [0, 0, 0, 2, b'{', b'}']);
        assert_eq!(read_frame(&mut wire.as_slice(), 16).unwrap(), b"{}");
        let huge = 1_000_000u32.to_be_bytes();
        assert!(matches!(
            read_frame(&mut huge.as_slice(), 64),
            Err(FrameError::TooLarge { len: 1_000_000, max: 64 })
        ));
        assert!(matches!(read_frame(&mut [0u8; 0].as_slice(), 64), Err(FrameError::Closed)));
    }
}
