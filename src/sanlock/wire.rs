//! The header and payload structs of sanlock 3.8's client protocol, their
//! command numbers, flags and result values. Pure: bytes in, values out.
//!
//! Layouts (offsets in bytes, native byte order; `name` fields are 48 bytes
//! with no NUL required, `path` fields 1024 bytes that must hold a NUL):
//!
//! ```text
//! sm_header        32  0 magic  4 version  8 cmd  12 cmd_flags  16 length  20 seq  24 data  28 data2
//! sanlk_disk     1040  0 path[1024]  1024 offset u64  1032 pad1  1036 pad2
//! sanlk_resource  128  0 lockspace_name  48 name  96 lver u64  104 data64 u64  112 data32
//!                      116 unused  120 flags  124 num_disks  (then num_disks × sanlk_disk)
//! sanlk_lockspace 1104 0 name  48 host_id u64  56 flags  60 pad  64 host_id_disk
//! sanlk_options    56  0 owner_name  48 flags  52 len
//! sanlk_host       32  0 host_id  8 generation  16 timestamp  24 io_timeout  28 flags
//! sanlk_host_event 32  0 host_id  8 generation  16 event  24 data   (u64 each)
//! sanlk_rindex   1104  0 flags  4 max_resources  8 unused u64  16 lockspace_name  64 disk
//! sanlk_rentry     64  0 name  48 offset u64  56 flags  60 unused
//! sanlk_state      80  0 type  4 flags  8 data32  12 pad  16 data64  24 name  72 str_len
//!                      76 pad  (then str_len bytes, NUL included)
//! event_cb         80  0 sm_header  32 sanlk_host_event  64 from_host_id  72 from_generation
//! killpath        256  0 path[128]  128 args[128]
//! ```
//!
//! Invariants: every `decode` reads a fixed-size prefix of its input and
//! fails with [`WireError::Short`] when the input is shorter; none panics on
//! any input (`proptest` below, `fuzz/fuzz_targets/sanlock_wire.rs`). Every
//! `encode` writes each byte of its struct, pads included (as zero), and
//! `decode(encode(x)) == x` for every value that fits its fields.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::ondisk::name::{NAME_BYTES, Name};

/// `SM_MAGIC`, the first field of every header.
pub const MAGIC: u32 = 0x0428_2010;
/// `SM_PROTO`, the header version of requests and replies.
pub const PROTO: u32 = 1;
/// `SM_CB_PROTO`, the header version of an [`EventCb`].
pub const CB_PROTO: u32 = 1;
/// `SM_CB_GET_EVENT`, the header cmd of an [`EventCb`].
pub const CB_GET_EVENT: u32 = 1;
/// What VERSION answers in `data2`: sanlock 3.8.5 as
/// `major << 24 | minor << 16 | patch << 8`.
pub const VERSION_HEX: u32 = 0x0308_0500;

/// `sizeof(struct sm_header)`.
pub const HEADER_BYTES: usize = 32;
/// `sizeof(struct sanlk_disk)`.
pub const DISK_BYTES: usize = 1040;
/// `sizeof(struct sanlk_resource)`, without its disks.
pub const RESOURCE_BYTES: usize = 128;
/// `sizeof(struct sanlk_lockspace)`.
pub const LOCKSPACE_BYTES: usize = 1104;
/// `sizeof(struct sanlk_options)`.
pub const OPTIONS_BYTES: usize = 56;
/// `sizeof(struct sanlk_host)`.
pub const HOST_BYTES: usize = 32;
/// `sizeof(struct sanlk_host_event)`.
pub const HOST_EVENT_BYTES: usize = 32;
/// `sizeof(struct sanlk_rindex)`.
pub const RINDEX_BYTES: usize = 1104;
/// `sizeof(struct sanlk_rentry)`.
pub const RENTRY_BYTES: usize = 64;
/// `sizeof(struct sanlk_state)`, without its string.
pub const STATE_BYTES: usize = 80;
/// `sizeof(struct event_cb)`.
pub const EVENT_CB_BYTES: usize = 80;
/// KILLPATH's payload: `path[SANLK_HELPER_PATH_LEN]` then `args[SANLK_HELPER_ARGS_LEN]`.
pub const KILLPATH_BYTES: usize = KILLPATH_PATH_BYTES + KILLPATH_ARGS_BYTES;
/// `SANLK_HELPER_PATH_LEN`.
pub const KILLPATH_PATH_BYTES: usize = 128;
/// `SANLK_HELPER_ARGS_LEN`.
pub const KILLPATH_ARGS_BYTES: usize = 128;
/// `SANLK_PATH_LEN`: a disk path's field, NUL included.
pub const PATH_BYTES: usize = 1024;
/// `SANLK_MAX_RESOURCES`: resources in one ACQUIRE or RELEASE.
pub const MAX_RESOURCES: usize = 8;
/// `SANLK_MAX_DISKS`: disks per resource.
pub const MAX_DISKS: u32 = 4;
/// The largest LVB SET_LVB and GET_LVB move.
pub const MAX_LVB: usize = 4096;
/// `SANLK_STATE_MAXSTR`: the largest `sanlk_state` string, NUL included.
pub const STATE_MAX_STR: usize = 4096;

/// Why bytes from a sanlock client (or a reply to one) cannot be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than the struct's fixed size.
    #[error("{what}: need {need} bytes, got {got}")]
    Short { what: &'static str, need: usize, got: usize },
    /// A string field that must be NUL-terminated has no NUL.
    #[error("{what}: no NUL within its field")]
    NoNul { what: &'static str },
    /// A resource's `num_disks` is outside `1..=MAX_DISKS`.
    #[error("num_disks {0} is not in 1..={MAX_DISKS}")]
    NumDisks(u32),
    /// A header's magic is not [`MAGIC`].
    #[error("bad magic 0x{0:08x} (expected 0x{MAGIC:08x})")]
    Magic(u32),
    /// A `sanlk_state`'s `str_len` is above [`STATE_MAX_STR`].
    #[error("state string length {0} is above {STATE_MAX_STR}")]
    StrLen(u32),
    /// SET_LVB's `length` leaves no room for the resource, or an LVB above
    /// [`MAX_LVB`].
    #[error("header length {0} gives no LVB of 0..={MAX_LVB} bytes")]
    LvbLen(u32),
    /// A path too long for a 1024-byte field with its NUL.
    #[error("disk path of {len} bytes does not fit in {PATH_BYTES} with its NUL")]
    PathTooLong { len: usize },
    /// A path with a NUL byte inside it.
    #[error("disk path contains a NUL byte")]
    PathNul,
}

impl WireError {
    /// The result sanlock's daemon answers for this problem: `-ENOTCONN`
    /// for a short payload, `-ERANGE` for `num_disks`, `-E2BIG` for an LVB,
    /// `-EINVAL` otherwise.
    pub fn result(&self) -> i32 {
        match self {
            WireError::Short { .. } => -libc::ENOTCONN,
            WireError::NumDisks(_) => -libc::ERANGE,
            WireError::LvbLen(_) => -libc::E2BIG,
            _ => -libc::EINVAL,
        }
    }
}

/// `SM_CMD_*`: the command in a request header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Cmd {
    Register = 1,
    AddLockspace,
    RemLockspace,
    Shutdown,
    Status,
    LogDump,
    Acquire,
    Release,
    Inquire,
    Restrict,
    Request,
    Align,
    ExamineLockspace,
    ExamineResource,
    HostStatus,
    InqLockspace,
    Killpath,
    WriteLockspace,
    WriteResource,
    ReadLockspace,
    ReadResource,
    GetLockspaces,
    GetHosts,
    ReadResourceOwners,
    SetLvb,
    GetLvb,
    Convert,
    Version,
    ShutdownWait,
    RegEvent,
    EndEvent,
    SetEvent,
    SetConfig,
    Renewal,
    FormatRindex,
    UpdateRindex,
    LookupRindex,
    CreateResource,
    DeleteResource,
    RebuildRindex,
}

impl Cmd {
    /// Every command, in number order (1..=40).
    pub const ALL: [Cmd; 40] = [
        Cmd::Register,
        Cmd::AddLockspace,
        Cmd::RemLockspace,
        Cmd::Shutdown,
        Cmd::Status,
        Cmd::LogDump,
        Cmd::Acquire,
        Cmd::Release,
        Cmd::Inquire,
        Cmd::Restrict,
        Cmd::Request,
        Cmd::Align,
        Cmd::ExamineLockspace,
        Cmd::ExamineResource,
        Cmd::HostStatus,
        Cmd::InqLockspace,
        Cmd::Killpath,
        Cmd::WriteLockspace,
        Cmd::WriteResource,
        Cmd::ReadLockspace,
        Cmd::ReadResource,
        Cmd::GetLockspaces,
        Cmd::GetHosts,
        Cmd::ReadResourceOwners,
        Cmd::SetLvb,
        Cmd::GetLvb,
        Cmd::Convert,
        Cmd::Version,
        Cmd::ShutdownWait,
        Cmd::RegEvent,
        Cmd::EndEvent,
        Cmd::SetEvent,
        Cmd::SetConfig,
        Cmd::Renewal,
        Cmd::FormatRindex,
        Cmd::UpdateRindex,
        Cmd::LookupRindex,
        Cmd::CreateResource,
        Cmd::DeleteResource,
        Cmd::RebuildRindex,
    ];

    /// The command numbered `n`, or `None` for a number sanlock 3.8 does not
    /// know (its daemon then sends nothing).
    pub fn from_u32(n: u32) -> Option<Cmd> {
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        Cmd::ALL.get(index).copied()
    }
}

// ---------------------------------------------------------------------------
// Byte helpers. Decoders first take a fixed-size prefix (`prefix`), so the
// constant offsets below index arrays whose size the type system checks.

fn prefix<'a, const N: usize>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<&'a [u8; N], WireError> {
    bytes.first_chunk::<N>().ok_or(WireError::Short { what, need: N, got: bytes.len() })
}

fn array_at<const N: usize, const K: usize>(bytes: &[u8; N], offset: usize) -> [u8; K] {
    let mut out = [0u8; K];
    out.copy_from_slice(&bytes[offset..offset + K]);
    out
}

fn u32_at<const N: usize>(bytes: &[u8; N], offset: usize) -> u32 {
    u32::from_ne_bytes(array_at(bytes, offset))
}

fn u64_at<const N: usize>(bytes: &[u8; N], offset: usize) -> u64 {
    u64::from_ne_bytes(array_at(bytes, offset))
}

fn name_at<const N: usize>(bytes: &[u8; N], offset: usize) -> Name {
    Name::from_disk(array_at::<N, NAME_BYTES>(bytes, offset))
}

fn put(out: &mut [u8], offset: usize, bytes: &[u8]) {
    out[offset..offset + bytes.len()].copy_from_slice(bytes);
}

/// The bytes of a C string field before its NUL.
fn until_nul<'a>(field: &'a [u8], what: &'static str) -> Result<&'a [u8], WireError> {
    let len = field.iter().position(|&b| b == 0).ok_or(WireError::NoNul { what })?;
    Ok(field.get(..len).unwrap_or_default())
}

/// At most `field - 1` bytes of `text`, so a NUL always follows.
fn c_string(text: &[u8], field: usize) -> &[u8] {
    text.get(..field - 1).unwrap_or(text)
}

// ---------------------------------------------------------------------------

/// `struct sm_header`: every request and reply starts with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: u32,
    /// [`PROTO`]; a larger major (`version & 0xFFFF_0000`) is refused.
    pub version: u32,
    /// A [`Cmd`] number.
    pub cmd: u32,
    /// The command's flags (see the flag modules).
    pub cmd_flags: u32,
    /// 32 + payload bytes, as the sender claims: not trusted.
    pub length: u32,
    /// 0 from libsanlock; echoed.
    pub seq: u32,
    /// Per command in a request; the result (an `i32`) in a reply.
    pub data: u32,
    /// Per command; for registered commands the target pid, or `u32::MAX`
    /// (−1) for "this connection".
    pub data2: u32,
}

impl Header {
    /// The first 32 bytes of `bytes`, unchecked: magic, version and cmd are
    /// for the caller to judge (sanlock answers nothing to a bad one).
    pub fn decode(bytes: &[u8]) -> Result<Header, WireError> {
        let b = prefix::<HEADER_BYTES>(bytes, "sm_header")?;
        Ok(Header {
            magic: u32_at(b, 0),
            version: u32_at(b, 4),
            cmd: u32_at(b, 8),
            cmd_flags: u32_at(b, 12),
            length: u32_at(b, 16),
            seq: u32_at(b, 20),
            data: u32_at(b, 24),
            data2: u32_at(b, 28),
        })
    }

    /// The 32 bytes on the wire.
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        let fields = [
            self.magic,
            self.version,
            self.cmd,
            self.cmd_flags,
            self.length,
            self.seq,
            self.data,
            self.data2,
        ];
        for (index, field) in fields.iter().enumerate() {
            put(&mut out, index * 4, &field.to_ne_bytes());
        }
        out
    }

    /// A client's request header, as libsanlock's `send_header` builds it.
    pub fn request(cmd: Cmd, flags: u32, data: u32, data2: u32, payload_len: usize) -> Header {
        Header {
            magic: MAGIC,
            version: PROTO,
            cmd: cmd as u32,
            cmd_flags: flags,
            length: total_length(payload_len),
            seq: 0,
            data,
            data2,
        }
    }

    /// sanlock's `send_result`: this (request) header with version
    /// [`PROTO`], length 32 + `payload_len`, data = `result`, and `data2`.
    pub fn reply(&self, result: i32, data2: u32, payload_len: usize) -> Header {
        Header {
            version: PROTO,
            length: total_length(payload_len),
            data: result as u32,
            data2,
            ..*self
        }
    }

    /// A reply's result: `data` as sanlock's signed int.
    pub fn result(&self) -> i32 {
        self.data as i32
    }

    /// The command, if the number is one sanlock 3.8 knows.
    pub fn command(&self) -> Option<Cmd> {
        Cmd::from_u32(self.cmd)
    }
}

/// 32 + `payload_len`, saturating (a `length` is only informative).
fn total_length(payload_len: usize) -> u32 {
    u32::try_from(payload_len.saturating_add(HEADER_BYTES)).unwrap_or(u32::MAX)
}

/// SET_LVB's LVB size: `length` − 32 − 128, at most [`MAX_LVB`]. The one
/// place sanlock reads `length`.
pub fn set_lvb_len(length: u32) -> Result<usize, WireError> {
    usize::try_from(length)
        .ok()
        .and_then(|total| total.checked_sub(HEADER_BYTES + RESOURCE_BYTES))
        .filter(|&len| len <= MAX_LVB)
        .ok_or(WireError::LvbLen(length))
}

/// `struct sanlk_disk`: a path and an offset in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Disk {
    /// The bytes before the field's NUL (not escaped).
    pub path: PathBuf,
    /// Byte offset of the lease area on `path`.
    pub offset: u64,
    /// Unused by clients (sanlock's daemon keeps its sector size here).
    pub pad1: u32,
    /// Unused by clients (sanlock's daemon keeps an fd here).
    pub pad2: u32,
}

impl Disk {
    /// A disk whose path fits the 1024-byte field: at most 1023 bytes, no NUL.
    pub fn new(path: impl Into<PathBuf>, offset: u64) -> Result<Disk, WireError> {
        let path = path.into();
        Disk::check_path(&path)?;
        Ok(Disk { path, offset, pad1: 0, pad2: 0 })
    }

    /// Whether `path` fits a `sanlk_disk` unchanged.
    pub fn check_path(path: &Path) -> Result<(), WireError> {
        let raw = path.as_os_str().as_bytes();
        if raw.contains(&0) {
            return Err(WireError::PathNul);
        }
        if raw.len() >= PATH_BYTES {
            return Err(WireError::PathTooLong { len: raw.len() });
        }
        Ok(())
    }

    /// The first 1040 bytes of `bytes`; the path must end with a NUL inside
    /// its field.
    pub fn decode(bytes: &[u8]) -> Result<Disk, WireError> {
        let b = prefix::<DISK_BYTES>(bytes, "sanlk_disk")?;
        let field = array_at::<DISK_BYTES, PATH_BYTES>(b, 0);
        let path = until_nul(&field, "sanlk_disk path")?;
        Ok(Disk {
            path: PathBuf::from(OsStr::from_bytes(path)),
            offset: u64_at(b, 1024),
            pad1: u32_at(b, 1032),
            pad2: u32_at(b, 1036),
        })
    }

    /// The 1040 bytes on the wire. A path that does not fit (see
    /// [`Disk::check_path`]) is cut at 1023 bytes, as sanlock's `strncpy`
    /// cuts it; callers that take paths from elsewhere check them first.
    pub fn encode(&self) -> [u8; DISK_BYTES] {
        let mut out = [0u8; DISK_BYTES];
        put(&mut out, 0, c_string(self.path.as_os_str().as_bytes(), PATH_BYTES));
        put(&mut out, 1024, &self.offset.to_ne_bytes());
        put(&mut out, 1032, &self.pad1.to_ne_bytes());
        put(&mut out, 1036, &self.pad2.to_ne_bytes());
        out
    }
}

/// `struct sanlk_resource`: 128 bytes, then `num_disks` [`Disk`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub lockspace: Name,
    pub name: Name,
    /// The lease version the client expects (with [`res::LVER`]).
    pub lver: u64,
    pub data64: u64,
    /// num_hosts with [`res::NUM_HOSTS`].
    pub data32: u32,
    /// [`res`] flags.
    pub flags: u32,
    /// As sent; [`Resource::decode_with_disks`] checks it is in `1..=4`.
    pub num_disks: u32,
    /// The disks that followed the head (empty after [`Resource::decode`]).
    pub disks: Vec<Disk>,
}

impl Default for Resource {
    fn default() -> Resource {
        Resource {
            lockspace: Name::EMPTY,
            name: Name::EMPTY,
            lver: 0,
            data64: 0,
            data32: 0,
            flags: 0,
            num_disks: 0,
            disks: Vec::new(),
        }
    }
}

impl Resource {
    /// The 128-byte head only, `num_disks` unchecked and `disks` empty: what
    /// RELEASE, CONVERT, EXAMINE_RESOURCE, SET_LVB and GET_LVB carry.
    pub fn decode(bytes: &[u8]) -> Result<Resource, WireError> {
        let b = prefix::<RESOURCE_BYTES>(bytes, "sanlk_resource")?;
        Ok(Resource {
            lockspace: name_at(b, 0),
            name: name_at(b, 48),
            lver: u64_at(b, 96),
            data64: u64_at(b, 104),
            data32: u32_at(b, 112),
            flags: u32_at(b, 120),
            num_disks: u32_at(b, 124),
            disks: Vec::new(),
        })
    }

    /// The head and its `num_disks` disks, which must be in `1..=4`
    /// ([`WireError::NumDisks`] otherwise, which sanlock answers with
    /// `-ERANGE`). Returns the resource and the bytes consumed.
    pub fn decode_with_disks(bytes: &[u8]) -> Result<(Resource, usize), WireError> {
        let mut resource = Resource::decode(bytes)?;
        if !(1..=MAX_DISKS).contains(&resource.num_disks) {
            return Err(WireError::NumDisks(resource.num_disks));
        }
        let mut consumed = RESOURCE_BYTES;
        for _ in 0..resource.num_disks {
            let rest = bytes.get(consumed..).unwrap_or_default();
            resource.disks.push(Disk::decode(rest)?);
            consumed += DISK_BYTES;
        }
        Ok((resource, consumed))
    }

    /// The 128-byte head, with `num_disks` as stored.
    pub fn encode_head(&self) -> [u8; RESOURCE_BYTES] {
        let mut out = [0u8; RESOURCE_BYTES];
        put(&mut out, 0, &self.lockspace.to_disk());
        put(&mut out, 48, &self.name.to_disk());
        put(&mut out, 96, &self.lver.to_ne_bytes());
        put(&mut out, 104, &self.data64.to_ne_bytes());
        put(&mut out, 112, &self.data32.to_ne_bytes());
        put(&mut out, 120, &self.flags.to_ne_bytes());
        put(&mut out, 124, &self.num_disks.to_ne_bytes());
        out
    }

    /// The head (with `num_disks` as stored, not recomputed) followed by
    /// every disk in `disks`. For RELEASE, leave `disks` empty.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RESOURCE_BYTES + self.disks.len() * DISK_BYTES);
        out.extend_from_slice(&self.encode_head());
        for disk in &self.disks {
            out.extend_from_slice(&disk.encode());
        }
        out
    }

    /// Whether [`res::SHARED`] is set.
    pub fn shared(&self) -> bool {
        self.flags & res::SHARED != 0
    }
}

/// `struct sanlk_lockspace`: name, host_id and the delta lease area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lockspace {
    pub name: Name,
    pub host_id: u64,
    /// [`lsf`] flags.
    pub flags: u32,
    pub disk: Disk,
}

impl Default for Lockspace {
    fn default() -> Lockspace {
        Lockspace { name: Name::EMPTY, host_id: 0, flags: 0, disk: Disk::default() }
    }
}

impl Lockspace {
    /// The first 1104 bytes; the disk's path must hold a NUL.
    pub fn decode(bytes: &[u8]) -> Result<Lockspace, WireError> {
        let b = prefix::<LOCKSPACE_BYTES>(bytes, "sanlk_lockspace")?;
        Ok(Lockspace {
            name: name_at(b, 0),
            host_id: u64_at(b, 48),
            flags: u32_at(b, 56),
            disk: Disk::decode(b.get(64..).unwrap_or_default())?,
        })
    }

    /// The 1104 bytes on the wire (pad at 60 zero).
    pub fn encode(&self) -> [u8; LOCKSPACE_BYTES] {
        let mut out = [0u8; LOCKSPACE_BYTES];
        put(&mut out, 0, &self.name.to_disk());
        put(&mut out, 48, &self.host_id.to_ne_bytes());
        put(&mut out, 56, &self.flags.to_ne_bytes());
        put(&mut out, 64, &self.disk.encode());
        out
    }
}

/// `struct sanlk_options`: after ACQUIRE's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub owner_name: Name,
    pub flags: u32,
    /// Ignored by sanlock 3.8 (no trailing data follows).
    pub len: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options { owner_name: Name::EMPTY, flags: 0, len: 0 }
    }
}

impl Options {
    pub fn decode(bytes: &[u8]) -> Result<Options, WireError> {
        let b = prefix::<OPTIONS_BYTES>(bytes, "sanlk_options")?;
        Ok(Options { owner_name: name_at(b, 0), flags: u32_at(b, 48), len: u32_at(b, 52) })
    }

    pub fn encode(&self) -> [u8; OPTIONS_BYTES] {
        let mut out = [0u8; OPTIONS_BYTES];
        put(&mut out, 0, &self.owner_name.to_disk());
        put(&mut out, 48, &self.flags.to_ne_bytes());
        put(&mut out, 52, &self.len.to_ne_bytes());
        out
    }
}

/// `struct sanlk_host`: what GET_HOSTS and READ_RESOURCE_OWNERS answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Host {
    pub host_id: u64,
    pub generation: u64,
    /// The host's delta lease timestamp (its monotonic seconds).
    pub timestamp: u64,
    pub io_timeout: u32,
    /// The [`host`] state in `flags & 0xF`.
    pub flags: u32,
}

impl Host {
    pub fn decode(bytes: &[u8]) -> Result<Host, WireError> {
        let b = prefix::<HOST_BYTES>(bytes, "sanlk_host")?;
        Ok(Host {
            host_id: u64_at(b, 0),
            generation: u64_at(b, 8),
            timestamp: u64_at(b, 16),
            io_timeout: u32_at(b, 24),
            flags: u32_at(b, 28),
        })
    }

    pub fn encode(&self) -> [u8; HOST_BYTES] {
        let mut out = [0u8; HOST_BYTES];
        put(&mut out, 0, &self.host_id.to_ne_bytes());
        put(&mut out, 8, &self.generation.to_ne_bytes());
        put(&mut out, 16, &self.timestamp.to_ne_bytes());
        put(&mut out, 24, &self.io_timeout.to_ne_bytes());
        put(&mut out, 28, &self.flags.to_ne_bytes());
        out
    }
}

/// `struct sanlk_host_event`: REG_EVENT, SET_EVENT and inside [`EventCb`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HostEvent {
    pub host_id: u64,
    pub generation: u64,
    pub event: u64,
    pub data: u64,
}

impl HostEvent {
    pub fn decode(bytes: &[u8]) -> Result<HostEvent, WireError> {
        let b = prefix::<HOST_EVENT_BYTES>(bytes, "sanlk_host_event")?;
        Ok(HostEvent {
            host_id: u64_at(b, 0),
            generation: u64_at(b, 8),
            event: u64_at(b, 16),
            data: u64_at(b, 24),
        })
    }

    pub fn encode(&self) -> [u8; HOST_EVENT_BYTES] {
        let mut out = [0u8; HOST_EVENT_BYTES];
        put(&mut out, 0, &self.host_id.to_ne_bytes());
        put(&mut out, 8, &self.generation.to_ne_bytes());
        put(&mut out, 16, &self.event.to_ne_bytes());
        put(&mut out, 24, &self.data.to_ne_bytes());
        out
    }
}

/// `struct sanlk_rindex`: a resource index area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rindex {
    /// RIF align/sector flags (the [`res`] values).
    pub flags: u32,
    pub max_resources: u32,
    pub lockspace: Name,
    pub disk: Disk,
}

impl Default for Rindex {
    fn default() -> Rindex {
        Rindex { flags: 0, max_resources: 0, lockspace: Name::EMPTY, disk: Disk::default() }
    }
}

impl Rindex {
    /// The first 1104 bytes; the disk's path must hold a NUL.
    pub fn decode(bytes: &[u8]) -> Result<Rindex, WireError> {
        let b = prefix::<RINDEX_BYTES>(bytes, "sanlk_rindex")?;
        Ok(Rindex {
            flags: u32_at(b, 0),
            max_resources: u32_at(b, 4),
            lockspace: name_at(b, 16),
            disk: Disk::decode(b.get(64..).unwrap_or_default())?,
        })
    }

    pub fn encode(&self) -> [u8; RINDEX_BYTES] {
        let mut out = [0u8; RINDEX_BYTES];
        put(&mut out, 0, &self.flags.to_ne_bytes());
        put(&mut out, 4, &self.max_resources.to_ne_bytes());
        put(&mut out, 16, &self.lockspace.to_disk());
        put(&mut out, 64, &self.disk.encode());
        out
    }
}

/// `struct sanlk_rentry`: one resource index entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rentry {
    pub name: Name,
    pub offset: u64,
    pub flags: u32,
}

impl Default for Rentry {
    fn default() -> Rentry {
        Rentry { name: Name::EMPTY, offset: 0, flags: 0 }
    }
}

impl Rentry {
    pub fn decode(bytes: &[u8]) -> Result<Rentry, WireError> {
        let b = prefix::<RENTRY_BYTES>(bytes, "sanlk_rentry")?;
        Ok(Rentry { name: name_at(b, 0), offset: u64_at(b, 48), flags: u32_at(b, 56) })
    }

    pub fn encode(&self) -> [u8; RENTRY_BYTES] {
        let mut out = [0u8; RENTRY_BYTES];
        put(&mut out, 0, &self.name.to_disk());
        put(&mut out, 48, &self.offset.to_ne_bytes());
        put(&mut out, 56, &self.flags.to_ne_bytes());
        out
    }
}

/// `struct sanlk_state` and its string: one record of the STATUS,
/// HOST_STATUS and RENEWAL streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// [`state`] type.
    pub kind: u32,
    pub flags: u32,
    /// A pid (CLIENT) or host_id (HOST).
    pub data32: u32,
    pub data64: u64,
    pub name: Name,
    /// The string without its NUL, usually `key=value` pairs (see
    /// [`super::strings::state_text`]).
    pub text: Vec<u8>,
}

impl Default for State {
    fn default() -> State {
        State { kind: 0, flags: 0, data32: 0, data64: 0, name: Name::EMPTY, text: Vec::new() }
    }
}

impl State {
    /// The 80-byte head with `text` empty, and `str_len`: how many string
    /// bytes follow it (at most [`STATE_MAX_STR`], else [`WireError::StrLen`]).
    /// For a stream reader that must know how much more to read.
    pub fn decode_head(bytes: &[u8]) -> Result<(State, usize), WireError> {
        let b = prefix::<STATE_BYTES>(bytes, "sanlk_state")?;
        let str_len = u32_at(b, 72);
        let text_len = usize::try_from(str_len)
            .ok()
            .filter(|&len| len <= STATE_MAX_STR)
            .ok_or(WireError::StrLen(str_len))?;
        let head = State {
            kind: u32_at(b, 0),
            flags: u32_at(b, 4),
            data32: u32_at(b, 8),
            data64: u64_at(b, 16),
            name: name_at(b, 24),
            text: Vec::new(),
        };
        Ok((head, text_len))
    }

    /// The head and its `str_len` string bytes; `text` is the string up to
    /// its first NUL (or all of it). Returns the bytes consumed.
    pub fn decode_with_text(bytes: &[u8]) -> Result<(State, usize), WireError> {
        let (mut state, text_len) = State::decode_head(bytes)?;
        let need = STATE_BYTES + text_len;
        let raw = bytes.get(STATE_BYTES..need).ok_or(WireError::Short {
            what: "sanlk_state string",
            need,
            got: bytes.len(),
        })?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        state.text = raw.get(..end).unwrap_or_default().to_vec();
        Ok((state, need))
    }

    /// The head and its string, as [`State::decode_with_text`] reads them.
    pub fn decode(bytes: &[u8]) -> Result<State, WireError> {
        State::decode_with_text(bytes).map(|(state, _)| state)
    }

    /// The head, `text` and a NUL; `str_len` counts the NUL, as sanlock's
    /// daemon sends it. A text longer than 4095 bytes is cut there (sanlock
    /// formats into a 4096-byte buffer); `text` should hold no NUL.
    pub fn encode(&self) -> Vec<u8> {
        let text = c_string(&self.text, STATE_MAX_STR);
        let str_len = u32::try_from(text.len() + 1).unwrap_or(u32::MAX);
        let mut head = [0u8; STATE_BYTES];
        put(&mut head, 0, &self.kind.to_ne_bytes());
        put(&mut head, 4, &self.flags.to_ne_bytes());
        put(&mut head, 8, &self.data32.to_ne_bytes());
        put(&mut head, 16, &self.data64.to_ne_bytes());
        put(&mut head, 24, &self.name.to_disk());
        put(&mut head, 72, &str_len.to_ne_bytes());
        let mut out = Vec::with_capacity(STATE_BYTES + text.len() + 1);
        out.extend_from_slice(&head);
        out.extend_from_slice(text);
        out.push(0);
        out
    }
}

/// `struct event_cb`: what the daemon pushes on a REG_EVENT connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EventCb {
    pub event: HostEvent,
    pub from_host_id: u64,
    pub from_generation: u64,
}

impl EventCb {
    /// The first 80 bytes; the header's magic must be [`MAGIC`] (its other
    /// fields are not checked).
    pub fn decode(bytes: &[u8]) -> Result<EventCb, WireError> {
        let b = prefix::<EVENT_CB_BYTES>(bytes, "event_cb")?;
        let header = Header::decode(b)?;
        if header.magic != MAGIC {
            return Err(WireError::Magic(header.magic));
        }
        Ok(EventCb {
            event: HostEvent::decode(b.get(HEADER_BYTES..).unwrap_or_default())?,
            from_host_id: u64_at(b, 64),
            from_generation: u64_at(b, 72),
        })
    }

    /// The 80 bytes, with their header: magic, [`CB_PROTO`],
    /// [`CB_GET_EVENT`], length 80.
    pub fn encode(&self) -> [u8; EVENT_CB_BYTES] {
        let header = Header {
            magic: MAGIC,
            version: CB_PROTO,
            cmd: CB_GET_EVENT,
            length: EVENT_CB_BYTES as u32,
            ..Header::default()
        };
        let mut out = [0u8; EVENT_CB_BYTES];
        put(&mut out, 0, &header.encode());
        put(&mut out, HEADER_BYTES, &self.event.encode());
        put(&mut out, 64, &self.from_host_id.to_ne_bytes());
        put(&mut out, 72, &self.from_generation.to_ne_bytes());
        out
    }
}

/// KILLPATH's payload: the program's path and its arguments, each the bytes
/// before the NUL of its 128-byte field. A field without a NUL is refused
/// ([`WireError::NoNul`]) rather than cut: a cut path could name another
/// program.
pub fn decode_killpath(bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>), WireError> {
    let b = prefix::<KILLPATH_BYTES>(bytes, "killpath")?;
    let path = array_at::<KILLPATH_BYTES, KILLPATH_PATH_BYTES>(b, 0);
    let args = array_at::<KILLPATH_BYTES, KILLPATH_ARGS_BYTES>(b, KILLPATH_PATH_BYTES);
    Ok((until_nul(&path, "killpath path")?.to_vec(), until_nul(&args, "killpath args")?.to_vec()))
}

/// KILLPATH's 256 bytes; `path` and `args` are cut at 127 bytes each (the
/// client refuses longer ones before sending).
pub fn encode_killpath(path: &[u8], args: &[u8]) -> [u8; KILLPATH_BYTES] {
    let mut out = [0u8; KILLPATH_BYTES];
    put(&mut out, 0, c_string(path, KILLPATH_PATH_BYTES));
    put(&mut out, KILLPATH_PATH_BYTES, c_string(args, KILLPATH_ARGS_BYTES));
    out
}

// ---------------------------------------------------------------------------
// Flags and values (`sanlock.h`, `sanlock_resource.h`, `sanlock_admin.h`).

/// `SANLK_RES_*`: [`Resource::flags`].
pub mod res {
    pub const LVER: u32 = 0x1;
    pub const NUM_HOSTS: u32 = 0x2;
    pub const SHARED: u32 = 0x4;
    pub const PERSISTENT: u32 = 0x8;
    pub const ALIGN1M: u32 = 0x10;
    pub const ALIGN2M: u32 = 0x20;
    pub const ALIGN4M: u32 = 0x40;
    pub const ALIGN8M: u32 = 0x80;
    pub const SECTOR512: u32 = 0x100;
    pub const SECTOR4K: u32 = 0x200;
}

/// `SANLK_LSF_*`: [`Lockspace::flags`] (align and sector as in [`res`]).
pub mod lsf {
    pub const ADD: u32 = 0x1;
    pub const REM: u32 = 0x2;
    pub const ALIGN1M: u32 = super::res::ALIGN1M;
    pub const ALIGN2M: u32 = super::res::ALIGN2M;
    pub const ALIGN4M: u32 = super::res::ALIGN4M;
    pub const ALIGN8M: u32 = super::res::ALIGN8M;
    pub const SECTOR512: u32 = super::res::SECTOR512;
    pub const SECTOR4K: u32 = super::res::SECTOR4K;
}

/// `SANLK_ACQUIRE_*`: ACQUIRE's cmd_flags.
pub mod acquire {
    pub const LVB: u32 = 0x1;
    pub const ORPHAN: u32 = 0x2;
    pub const ORPHAN_ONLY: u32 = 0x4;
    pub const OWNER_NOWAIT: u32 = 0x8;
}

/// `SANLK_REL_*`: RELEASE's cmd_flags.
pub mod release {
    pub const ALL: u32 = 0x1;
    pub const RENAME: u32 = 0x2;
    pub const ORPHAN: u32 = 0x4;
}

/// `SANLK_RESTRICT_*`: RESTRICT's cmd_flags.
pub mod restrict {
    pub const ALL: u32 = 0x1;
    pub const SIGKILL: u32 = 0x2;
    pub const SIGTERM: u32 = 0x4;
}

/// `SANLK_ADD_*`: ADD_LOCKSPACE's cmd_flags.
pub mod add {
    pub const ASYNC: u32 = 0x1;
}

/// `SANLK_REM_*`: REM_LOCKSPACE's cmd_flags.
pub mod rem {
    pub const ASYNC: u32 = 0x1;
    pub const UNUSED: u32 = 0x2;
}

/// `SANLK_INQ_*`: INQ_LOCKSPACE's cmd_flags.
pub mod inq {
    pub const WAIT: u32 = 0x1;
}

/// REQUEST: `SANLK_REQUEST_*` cmd_flags and `SANLK_REQ_*` force modes (data).
pub mod request {
    pub const NEXT_LVER: u32 = 0x1;
    /// Force mode: kill the holder.
    pub const FORCE: u32 = 1;
    /// Force mode: ask the holder to release.
    pub const GRACEFUL: u32 = 2;
}

/// `SANLK_WRITE_*`: WRITE_RESOURCE's cmd_flags.
pub mod write {
    pub const CLEAR: u32 = 0x1;
}

/// `SANLK_CONVERT_*`: CONVERT's cmd_flags.
pub mod convert {
    pub const OWNER_NOWAIT: u32 = 0x8;
}

/// `SANLK_KILLPATH_*`: KILLPATH's cmd_flags.
pub mod killpath {
    pub const PID: u32 = 0x1;
}

/// `SANLK_SETEV_*`: SET_EVENT's cmd_flags.
pub mod setev {
    pub const CUR_GENERATION: u32 = 0x1;
    pub const CLEAR_HOSTID: u32 = 0x2;
    pub const CLEAR_EVENT: u32 = 0x4;
    pub const REPLACE_EVENT: u32 = 0x8;
    pub const ALL_HOSTS: u32 = 0x10;
}

/// `SANLK_CONFIG_*`: SET_CONFIG's data.
pub mod config {
    pub const USED: u32 = 0x1;
    pub const UNUSED: u32 = 0x2;
    pub const USED_BY_ORPHANS: u32 = 0x4;
    pub const UNUSED_BY_ORPHANS: u32 = 0x8;
}

/// Rindex command flags: `SANLK_RXUP_*` (UPDATE_RINDEX) and
/// `SANLK_RX_NO_LOCKSPACE` (LOOKUP_RINDEX).
pub mod rindex {
    pub const RXUP_ADD: u32 = 0x10000;
    pub const RXUP_REM: u32 = 0x20000;
    pub const RX_NO_LOCKSPACE: u32 = 0x1;
}

/// `SANLK_STATE_*`: [`State::kind`].
pub mod state {
    pub const DAEMON: u32 = 1;
    pub const CLIENT: u32 = 2;
    pub const LOCKSPACE: u32 = 3;
    pub const RESOURCE: u32 = 4;
    pub const HOST: u32 = 5;
    pub const RENEWAL: u32 = 6;
}

/// `SANLK_HOST_*`: the state in [`Host::flags`]` & MASK`.
pub mod host {
    pub const MASK: u32 = 0xF;
    pub const UNKNOWN: u32 = 1;
    pub const FREE: u32 = 2;
    pub const LIVE: u32 = 3;
    pub const FAIL: u32 = 4;
    pub const DEAD: u32 = 5;
}

/// `SANLK_*` result values (`sanlock_rv.h`), as replies carry them in
/// `data`. Negative errnos are used beside them.
pub mod sanlk {
    pub const OK: i32 = 1;
    pub const NONE: i32 = 0;
    pub const ERROR: i32 = -201;
    pub const AIO_TIMEOUT: i32 = -202;
    pub const WD_ERROR: i32 = -203;

    pub const DBLOCK_READ: i32 = -210;
    pub const DBLOCK_WRITE: i32 = -211;
    pub const DBLOCK_LVER: i32 = -212;
    pub const DBLOCK_MBAL: i32 = -213;
    pub const DBLOCK_CHECKSUM: i32 = -214;

    pub const LEADER_READ: i32 = -220;
    pub const LEADER_WRITE: i32 = -221;
    pub const LEADER_DIFF: i32 = -222;
    pub const LEADER_MAGIC: i32 = -223;
    pub const LEADER_VERSION: i32 = -224;
    pub const LEADER_SECTORSIZE: i32 = -225;
    pub const LEADER_LOCKSPACE: i32 = -226;
    pub const LEADER_RESOURCE: i32 = -227;
    pub const LEADER_NUMHOSTS: i32 = -228;
    pub const LEADER_CHECKSUM: i32 = -229;

    pub const ADDLS_SIZES: i32 = -230;
    pub const ADDLS_INVALID_HOSTID: i32 = -231;

    pub const ACQUIRE_LVER: i32 = -240;
    pub const ACQUIRE_LOCKSPACE: i32 = -241;
    pub const ACQUIRE_IDDISK: i32 = -242;
    pub const ACQUIRE_IDLIVE: i32 = -243;
    pub const ACQUIRE_OWNED: i32 = -244;
    pub const ACQUIRE_OTHER: i32 = -245;
    pub const ACQUIRE_SHRETRY: i32 = -246;
    pub const ACQUIRE_OWNED_RETRY: i32 = -247;

    pub const RELEASE_LVER: i32 = -250;
    pub const RELEASE_OWNER: i32 = -251;

    pub const RENEW_OWNER: i32 = -260;
    pub const RENEW_DIFF: i32 = -261;
    pub const HOSTID_BUSY: i32 = -262;

    pub const REQUEST_MAGIC: i32 = -270;
    pub const REQUEST_VERSION: i32 = -271;
    pub const REQUEST_OLD: i32 = -272;
    pub const REQUEST_LVER: i32 = -273;

    pub const RINDEX_MAGIC: i32 = -274;
    pub const RINDEX_VERSION: i32 = -275;
    pub const RINDEX_LOCKSPACE: i32 = -276;
    pub const RINDEX_OFFSET: i32 = -277;
    pub const RINDEX_DIFF: i32 = -278;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn name(text: &str) -> Name {
        Name::new(text).unwrap()
    }

    fn disk(path: &str, offset: u64) -> Disk {
        Disk::new(path, offset).unwrap()
    }

    /// A zeroed buffer of `len` bytes with `fields` written at their offsets.
    fn by_hand(len: usize, fields: &[(usize, &[u8])]) -> Vec<u8> {
        let mut out = vec![0u8; len];
        for (offset, bytes) in fields {
            out[*offset..*offset + bytes.len()].copy_from_slice(bytes);
        }
        out
    }

    fn sample_resource() -> Resource {
        Resource {
            lockspace: name("ls"),
            name: name("res"),
            lver: 7,
            data64: 0x1122_3344_5566_7788,
            data32: 3,
            flags: res::LVER | res::SHARED,
            num_disks: 2,
            disks: vec![disk("/dev/a", 1 << 20), disk("/dev/b", 0)],
        }
    }

    #[test]
    fn sizes_match_the_constants() {
        assert_eq!(Header::default().encode().len(), HEADER_BYTES);
        assert_eq!(Disk::default().encode().len(), DISK_BYTES);
        assert_eq!(Resource::default().encode().len(), RESOURCE_BYTES);
        assert_eq!(sample_resource().encode().len(), RESOURCE_BYTES + 2 * DISK_BYTES);
        assert_eq!(Lockspace::default().encode().len(), LOCKSPACE_BYTES);
        assert_eq!(Options::default().encode().len(), OPTIONS_BYTES);
        assert_eq!(Host::default().encode().len(), HOST_BYTES);
        assert_eq!(HostEvent::default().encode().len(), HOST_EVENT_BYTES);
        assert_eq!(Rindex::default().encode().len(), RINDEX_BYTES);
        assert_eq!(Rentry::default().encode().len(), RENTRY_BYTES);
        assert_eq!(State::default().encode().len(), STATE_BYTES + 1);
        assert_eq!(EventCb::default().encode().len(), EVENT_CB_BYTES);
        assert_eq!(encode_killpath(b"", b"").len(), KILLPATH_BYTES);
        assert_eq!(KILLPATH_BYTES, 256);
    }

    #[test]
    fn every_struct_round_trips() {
        let header = Header::request(Cmd::Acquire, acquire::LVB, 1, u32::MAX, 1224);
        assert_eq!(Header::decode(&header.encode()), Ok(header));
        let resource = sample_resource();
        let bytes = resource.encode();
        assert_eq!(Resource::decode_with_disks(&bytes), Ok((resource.clone(), bytes.len())));
        let head = Resource { disks: vec![], ..resource.clone() };
        assert_eq!(Resource::decode(&bytes), Ok(head));
        let lockspace =
            Lockspace { name: name("ls"), host_id: 9, flags: lsf::ADD, disk: disk("/d", 4096) };
        assert_eq!(Lockspace::decode(&lockspace.encode()), Ok(lockspace));
        let options = Options { owner_name: name("vm1"), flags: 2, len: 0 };
        assert_eq!(Options::decode(&options.encode()), Ok(options));
        let host = Host { host_id: 1, generation: 2, timestamp: 3, io_timeout: 10, flags: 3 };
        assert_eq!(Host::decode(&host.encode()), Ok(host));
        let event = HostEvent { host_id: 4, generation: 5, event: 6, data: 7 };
        assert_eq!(HostEvent::decode(&event.encode()), Ok(event));
        let rindex = Rindex {
            flags: res::ALIGN1M,
            max_resources: 9,
            lockspace: name("ls"),
            disk: disk("/r", 0),
        };
        assert_eq!(Rindex::decode(&rindex.encode()), Ok(rindex));
        let rentry = Rentry { name: name("r"), offset: 3 << 20, flags: 1 };
        assert_eq!(Rentry::decode(&rentry.encode()), Ok(rentry));
        let state = State {
            kind: state::HOST,
            flags: 1,
            data32: 2,
            data64: 3,
            name: name("ls"),
            text: b"last_check=1 last_live=1".to_vec(),
        };
        let bytes = state.encode();
        assert_eq!(State::decode_with_text(&bytes), Ok((state.clone(), bytes.len())));
        let callback = EventCb { event, from_host_id: 8, from_generation: 9 };
        assert_eq!(EventCb::decode(&callback.encode()), Ok(callback));
        let killpath = encode_killpath(b"/usr/bin/helper", b"--kill vg0");
        assert_eq!(
            decode_killpath(&killpath),
            Ok((b"/usr/bin/helper".to_vec(), b"--kill vg0".to_vec()))
        );
    }

    #[test]
    fn known_bytes_decode_to_known_values() {
        let header = by_hand(
            HEADER_BYTES,
            &[
                (0, &MAGIC.to_ne_bytes()),
                (4, &PROTO.to_ne_bytes()),
                (8, &7u32.to_ne_bytes()),
                (12, &8u32.to_ne_bytes()),
                (16, &1256u32.to_ne_bytes()),
                (24, &1u32.to_ne_bytes()),
                (28, &u32::MAX.to_ne_bytes()),
            ],
        );
        let decoded = Header::decode(&header).unwrap();
        assert_eq!(decoded.command(), Some(Cmd::Acquire));
        assert_eq!((decoded.cmd_flags, decoded.length), (acquire::OWNER_NOWAIT, 1256));
        assert_eq!((decoded.data, decoded.data2 as i32), (1, -1));

        let resource = by_hand(
            RESOURCE_BYTES + DISK_BYTES,
            &[
                (0, b"lockspace"),
                (48, b"resource"),
                (96, &5u64.to_ne_bytes()),
                (104, &6u64.to_ne_bytes()),
                (112, &2u32.to_ne_bytes()),
                (116, &0xdead_beefu32.to_ne_bytes()),
                (120, &res::SHARED.to_ne_bytes()),
                (124, &1u32.to_ne_bytes()),
                (128, b"/var/lib/leases"),
                (128 + 1024, &(1u64 << 20).to_ne_bytes()),
                (128 + 1032, &512u32.to_ne_bytes()),
            ],
        );
        let (decoded, consumed) = Resource::decode_with_disks(&resource).unwrap();
        assert_eq!(consumed, RESOURCE_BYTES + DISK_BYTES);
        assert_eq!((decoded.lockspace, decoded.name), (name("lockspace"), name("resource")));
        assert_eq!((decoded.lver, decoded.data64, decoded.data32), (5, 6, 2));
        assert!(decoded.shared());
        assert_eq!(decoded.disks[0].path, Path::new("/var/lib/leases"));
        assert_eq!((decoded.disks[0].offset, decoded.disks[0].pad1), (1 << 20, 512));

        let lockspace = by_hand(
            LOCKSPACE_BYTES,
            &[
                (0, b"ls"),
                (48, &3u64.to_ne_bytes()),
                (56, &lsf::REM.to_ne_bytes()),
                (60, &[0xff; 4]),
                (64, b"/dev/sdb"),
                (64 + 1024, &4096u64.to_ne_bytes()),
            ],
        );
        let decoded = Lockspace::decode(&lockspace).unwrap();
        assert_eq!((decoded.name, decoded.host_id, decoded.flags), (name("ls"), 3, lsf::REM));
        assert_eq!(decoded.disk, disk("/dev/sdb", 4096));

        let rindex = by_hand(
            RINDEX_BYTES,
            &[(0, &1u32.to_ne_bytes()), (4, &100u32.to_ne_bytes()), (16, b"ls"), (64, b"/r")],
        );
        let decoded = Rindex::decode(&rindex).unwrap();
        assert_eq!((decoded.flags, decoded.max_resources, decoded.lockspace), (1, 100, name("ls")));
        assert_eq!(decoded.disk.path, Path::new("/r"));

        let rentry = by_hand(
            RENTRY_BYTES,
            &[(0, b"e"), (48, &9u64.to_ne_bytes()), (56, &2u32.to_ne_bytes())],
        );
        assert_eq!(Rentry::decode(&rentry), Ok(Rentry { name: name("e"), offset: 9, flags: 2 }));

        let options = by_hand(
            OPTIONS_BYTES,
            &[(0, b"vm"), (48, &1u32.to_ne_bytes()), (52, &4u32.to_ne_bytes())],
        );
        assert_eq!(
            Options::decode(&options),
            Ok(Options { owner_name: name("vm"), flags: 1, len: 4 })
        );

        let state = by_hand(
            STATE_BYTES + 4,
            &[
                (0, &state::CLIENT.to_ne_bytes()),
                (8, &1234u32.to_ne_bytes()),
                (16, &99u64.to_ne_bytes()),
                (24, b"qemu"),
                (72, &4u32.to_ne_bytes()),
                (80, b"a=1\0"),
            ],
        );
        let (decoded, consumed) = State::decode_with_text(&state).unwrap();
        assert_eq!((decoded.kind, decoded.data32, decoded.data64), (state::CLIENT, 1234, 99));
        assert_eq!((decoded.name, decoded.text, consumed), (name("qemu"), b"a=1".to_vec(), 84));
    }

    #[test]
    fn event_cb_carries_its_header() {
        let bytes = EventCb {
            event: HostEvent { host_id: 1, ..HostEvent::default() },
            ..EventCb::default()
        }
        .encode();
        let header = Header::decode(&bytes).unwrap();
        assert_eq!(
            (header.magic, header.version, header.cmd, header.length),
            (MAGIC, CB_PROTO, 1, 80)
        );
        assert_eq!(HostEvent::decode(&bytes[32..]).unwrap().host_id, 1);
        let mut bad = bytes;
        bad[0] ^= 1;
        assert_eq!(EventCb::decode(&bad), Err(WireError::Magic(MAGIC ^ 1)));
    }

    #[test]
    fn short_input_is_an_error() {
        assert_eq!(
            Header::decode(&[0u8; 31]),
            Err(WireError::Short { what: "sm_header", need: 32, got: 31 })
        );
        assert!(matches!(
            Lockspace::decode(&[0u8; 1103]),
            Err(WireError::Short { need: 1104, .. })
        ));
        let mut resource = sample_resource().encode();
        resource.truncate(RESOURCE_BYTES + DISK_BYTES + 10);
        assert_eq!(
            Resource::decode_with_disks(&resource),
            Err(WireError::Short { what: "sanlk_disk", need: DISK_BYTES, got: 10 })
        );
        let short = WireError::Short { what: "sanlk_options", need: 56, got: 0 };
        assert_eq!(short.result(), -libc::ENOTCONN);
    }

    #[test]
    fn path_without_nul_is_refused() {
        let mut bytes = disk("/d", 0).encode();
        bytes[..PATH_BYTES].fill(b'x');
        assert_eq!(Disk::decode(&bytes), Err(WireError::NoNul { what: "sanlk_disk path" }));
        let mut lockspace = Lockspace::default().encode();
        lockspace[64..64 + PATH_BYTES].fill(b'/');
        assert_eq!(
            Lockspace::decode(&lockspace),
            Err(WireError::NoNul { what: "sanlk_disk path" })
        );
        bytes[PATH_BYTES - 1] = 0;
        assert_eq!(Disk::decode(&bytes).unwrap().path.as_os_str().len(), PATH_BYTES - 1);
    }

    #[test]
    fn num_disks_must_be_one_to_four() {
        for bad in [0, 5, u32::MAX] {
            let resource = Resource { num_disks: bad, ..sample_resource() };
            let error = Resource::decode_with_disks(&resource.encode()).unwrap_err();
            assert_eq!(error, WireError::NumDisks(bad));
            assert_eq!(error.result(), -libc::ERANGE);
        }
        let four = Resource { num_disks: 4, disks: vec![disk("/d", 0); 4], ..sample_resource() };
        assert_eq!(Resource::decode_with_disks(&four.encode()).unwrap().1, 128 + 4 * 1040);
    }

    #[test]
    fn disk_paths_must_fit() {
        assert_eq!(Disk::new("/a\0b", 0), Err(WireError::PathNul));
        let long = format!("/{}", "p".repeat(1022));
        assert!(Disk::new(long.as_str(), 0).is_ok());
        let longer = format!("/{}", "p".repeat(1023));
        assert_eq!(Disk::new(longer.as_str(), 0), Err(WireError::PathTooLong { len: 1024 }));
        let cut = Disk { path: longer.into(), ..Disk::default() };
        assert_eq!(Disk::decode(&cut.encode()).unwrap().path, Path::new(&long));
    }

    #[test]
    fn commands_are_numbered_like_sanlock() {
        assert_eq!(Cmd::from_u32(0), None);
        assert_eq!(Cmd::from_u32(41), None);
        assert_eq!(Cmd::from_u32(u32::MAX), None);
        for n in 1..=40 {
            assert_eq!(Cmd::from_u32(n).map(|cmd| cmd as u32), Some(n));
        }
        assert_eq!(Cmd::Inquire as u32, 9);
        assert_eq!(Cmd::HostStatus as u32, 15);
        assert_eq!(Cmd::Version as u32, 28);
        assert_eq!(Cmd::Renewal as u32, 34);
        assert_eq!(Cmd::RebuildRindex as u32, 40);
    }

    #[test]
    fn reply_copies_the_request() {
        let request = Header {
            seq: 5,
            version: 0x0001_0002,
            ..Header::request(Cmd::GetHosts, 1, 0, 0, 1104)
        };
        let reply = request.reply(-libc::ENOENT, 0, 0);
        assert_eq!((reply.magic, reply.cmd, reply.cmd_flags, reply.seq), (MAGIC, 23, 1, 5));
        assert_eq!((reply.version, reply.length, reply.data2), (PROTO, 32, 0));
        assert_eq!(reply.result(), -libc::ENOENT);
        let version = Header::request(Cmd::Version, 0, 0, 0, 0).reply(0, VERSION_HEX, 0);
        assert_eq!((version.result(), version.data2), (0, 0x0308_0500));
        assert_eq!(Header::request(Cmd::Status, 0, 0, 0, usize::MAX).length, u32::MAX);
    }

    #[test]
    fn killpath_fields_need_a_nul() {
        let mut bytes = encode_killpath(b"/bin/helper", b"a b");
        assert_eq!(decode_killpath(&bytes[..255]).unwrap_err().result(), -libc::ENOTCONN);
        bytes[128..].fill(b'x');
        assert_eq!(decode_killpath(&bytes), Err(WireError::NoNul { what: "killpath args" }));
        bytes[..128].fill(b'x');
        assert_eq!(decode_killpath(&bytes), Err(WireError::NoNul { what: "killpath path" }));
        let long = encode_killpath(&[b'p'; 200], b"");
        assert_eq!(decode_killpath(&long).unwrap().0.len(), 127);
    }

    #[test]
    fn state_lengths_are_bounded() {
        let mut bytes = State::default().encode();
        bytes[72..76].copy_from_slice(&4097u32.to_ne_bytes());
        assert_eq!(State::decode_head(&bytes), Err(WireError::StrLen(4097)));
        bytes[72..76].copy_from_slice(&10u32.to_ne_bytes());
        assert_eq!(State::decode_head(&bytes).unwrap().1, 10);
        assert!(matches!(State::decode(&bytes), Err(WireError::Short { need: 90, got: 81, .. })));
        let long = State { text: vec![b'k'; 5000], ..State::default() };
        let bytes = long.encode();
        assert_eq!(bytes.len(), STATE_BYTES + STATE_MAX_STR);
        assert_eq!(State::decode(&bytes).unwrap().text.len(), STATE_MAX_STR - 1);
    }

    #[test]
    fn lvb_length_comes_from_the_header() {
        assert_eq!(set_lvb_len(160), Ok(0));
        assert_eq!(set_lvb_len(160 + 512), Ok(512));
        assert_eq!(set_lvb_len(160 + 4096), Ok(4096));
        assert_eq!(set_lvb_len(160 + 4097), Err(WireError::LvbLen(4257)));
        assert_eq!(set_lvb_len(159), Err(WireError::LvbLen(159)));
    }

    fn any_name() -> impl Strategy<Value = Name> {
        prop::array::uniform32(any::<u8>())
            .prop_flat_map(|a| (Just(a), prop::array::uniform16(any::<u8>())))
            .prop_map(|(a, b)| {
                let mut raw = [0u8; NAME_BYTES];
                raw[..32].copy_from_slice(&a);
                raw[32..].copy_from_slice(&b);
                Name::from_disk(raw)
            })
    }

    fn any_disk() -> impl Strategy<Value = Disk> {
        (prop::collection::vec(1u8..=255, 0..1024), any::<u64>(), any::<u32>(), any::<u32>())
            .prop_map(|(path, offset, pad1, pad2)| Disk {
                path: PathBuf::from(OsStr::from_bytes(&path)),
                offset,
                pad1,
                pad2,
            })
    }

    fn any_resource() -> impl Strategy<Value = Resource> {
        (
            any_name(),
            any_name(),
            any::<[u64; 2]>(),
            any::<[u32; 2]>(),
            prop::collection::vec(any_disk(), 1..=4),
        )
            .prop_map(|(lockspace, name, [lver, data64], [data32, flags], disks)| {
                Resource {
                    lockspace,
                    name,
                    lver,
                    data64,
                    data32,
                    flags,
                    num_disks: disks.len() as u32,
                    disks,
                }
            })
    }

    /// Every decoder on the same bytes, and the stream decoders on every tail.
    fn decode_all(bytes: &[u8]) {
        let _ = Header::decode(bytes).map(|h| (h.command(), h.result()));
        let _ = Disk::decode(bytes);
        let _ = Resource::decode(bytes);
        if let Ok((resource, consumed)) = Resource::decode_with_disks(bytes) {
            assert!(consumed <= bytes.len());
            assert_eq!(resource.disks.len() as u32, resource.num_disks);
            let _ = super::super::strings::res_to_bytes(&resource);
        }
        let _ = Lockspace::decode(bytes);
        let _ = Options::decode(bytes);
        let _ = Host::decode(bytes);
        let _ = HostEvent::decode(bytes);
        let _ = Rindex::decode(bytes);
        let _ = Rentry::decode(bytes);
        if let Ok((_, consumed)) = State::decode_with_text(bytes) {
            assert!(consumed <= bytes.len());
        }
        let _ = EventCb::decode(bytes);
        let _ = decode_killpath(bytes);
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            bytes in prop::collection::vec(any::<u8>(), 0..6000),
        ) {
            decode_all(&bytes);
        }

        #[test]
        fn decoding_mostly_zero_bytes_never_panics(
            len in 0usize..6000,
            patches in prop::collection::vec((0usize..6000, any::<u8>()), 0..16),
        ) {
            // Zeros give NULs in every path, so the decoders get past the
            // paths and reach the later fields.
            let mut bytes = vec![0u8; len];
            for (index, value) in patches {
                if let Some(byte) = bytes.get_mut(index) {
                    *byte = value;
                }
            }
            decode_all(&bytes);
        }

        #[test]
        fn resources_round_trip(resource in any_resource()) {
            let bytes = resource.encode();
            prop_assert_eq!(Resource::decode_with_disks(&bytes), Ok((resource, bytes.len())));
        }

        #[test]
        fn fixed_structs_round_trip(
            name in any_name(),
            disk in any_disk(),
            words in any::<[u32; 8]>(),
            longs in any::<[u64; 6]>(),
            text in prop::collection::vec(1u8..=255, 0..4096),
        ) {
            let header = Header {
                magic: words[0], version: words[1], cmd: words[2], cmd_flags: words[3],
                length: words[4], seq: words[5], data: words[6], data2: words[7],
            };
            prop_assert_eq!(Header::decode(&header.encode()), Ok(header));
            prop_assert_eq!(Disk::decode(&disk.encode()), Ok(disk.clone()));
            let lockspace = Lockspace { name, host_id: longs[0], flags: words[0], disk: disk.clone() };
            prop_assert_eq!(Lockspace::decode(&lockspace.encode()), Ok(lockspace));
            let options = Options { owner_name: name, flags: words[1], len: words[2] };
            prop_assert_eq!(Options::decode(&options.encode()), Ok(options));
            let host = Host {
                host_id: longs[0], generation: longs[1], timestamp: longs[2],
                io_timeout: words[3], flags: words[4],
            };
            prop_assert_eq!(Host::decode(&host.encode()), Ok(host));
            let event = HostEvent { host_id: longs[2], generation: longs[3], event: longs[4], data: longs[5] };
            prop_assert_eq!(HostEvent::decode(&event.encode()), Ok(event));
            let rindex = Rindex { flags: words[5], max_resources: words[6], lockspace: name, disk };
            prop_assert_eq!(Rindex::decode(&rindex.encode()), Ok(rindex));
            let rentry = Rentry { name, offset: longs[1], flags: words[7] };
            prop_assert_eq!(Rentry::decode(&rentry.encode()), Ok(rentry));
            let state = State {
                kind: words[0], flags: words[1], data32: words[2], data64: longs[0], name, text,
            };
            let bytes = state.encode();
            prop_assert_eq!(State::decode_with_text(&bytes), Ok((state, bytes.len())));
            let callback = EventCb { event, from_host_id: longs[0], from_generation: longs[1] };
            prop_assert_eq!(EventCb::decode(&callback.encode()), Ok(callback));
        }
    }
}
