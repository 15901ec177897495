//! wdmd's wire format, byte for byte (pure: no socket, no clock).
//!
//! Every message in both directions is one 176-byte `struct wdmd_header`
//! (sanlock's `wdmd/wdmd_sock.h`) in the host's byte order, as wdmd and its
//! clients run on the same host:
//!
//! ```text
//!  off  size  field            used by
//!    0     4  magic            nobody (sanlock sends 0; wdmd never checks)
//!    4     4  cmd              every message: REGISTER 1 .. OPEN_WATCHDOG 7
//!    8     4  len              unused (0)
//!   12     4  flags            unused
//!   16     4  test_interval    STATUS reply
//!   20     4  fire_timeout     OPEN_WATCHDOG request and reply, STATUS reply
//!   24     8  last_keepalive   STATUS reply (CLOCK_MONOTONIC seconds)
//!   32     8  renewal_time     TEST_LIVE (CLOCK_MONOTONIC seconds)
//!   40     8  expire_time      TEST_LIVE (CLOCK_MONOTONIC seconds; 0: untested)
//!   48   128  name             REGISTER (NUL-padded)
//! ```
//!
//! Everything decoded here came from another process: [`Header::decode`]
//! and [`Header::request`] return typed errors for a short message or an
//! unknown command and never panic. The magic is not checked, as wdmd does
//! not check it and sanlock sends 0. Covered by the tests below and
//! `tests/wdmd.rs`.

/// The size of every message.
pub const HEADER_SIZE: usize = 176;
/// The size of the name field.
pub const NAME_SIZE: usize = 128;

const NAME_OFFSET: usize = 48;
const _: () = assert!(NAME_OFFSET + NAME_SIZE == HEADER_SIZE);

/// One message, field by field (see the module header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub magic: u32,
    pub cmd: u32,
    pub len: u32,
    pub flags: u32,
    pub test_interval: u32,
    pub fire_timeout: u32,
    pub last_keepalive: u64,
    pub renewal_time: u64,
    pub expire_time: u64,
    pub name: [u8; NAME_SIZE],
}

/// What a client asks, from a decoded [`Header`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Names the connection (sanlock: `sanlock_<lockspace>:<host_id>`).
    Register { name: String },
    /// The host must not be left unwatched while this connection lives.
    RefcountSet,
    /// The connection no longer holds the multiplexer running.
    RefcountClear,
    /// The client renewed at `renewal` and must be tested until `expire`
    /// (CLOCK_MONOTONIC seconds); `expire == 0` ends the testing.
    TestLive { renewal: u64, expire: u64 },
    /// Asks for test_interval, fire_timeout and last_keepalive.
    Status,
    /// Asks for a text dump; the connection closes after it.
    DumpDebug,
    /// Asks for the device to fire after `fire_timeout` seconds (sanlock
    /// 3.9 and later).
    OpenWatchdog { fire_timeout: u32 },
}

/// Command numbers.
pub mod cmd {
    pub const REGISTER: u32 = 1;
    pub const REFCOUNT_SET: u32 = 2;
    pub const REFCOUNT_CLEAR: u32 = 3;
    pub const TEST_LIVE: u32 = 4;
    pub const STATUS: u32 = 5;
    pub const DUMP_DEBUG: u32 = 6;
    pub const OPEN_WATCHDOG: u32 = 7;
}

/// Why a message cannot be served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("a wdmd message is {HEADER_SIZE} bytes; {got} came")]
    Short { got: usize },
    #[error("unknown wdmd command {cmd}")]
    UnknownCommand { cmd: u32 },
}

/// Reads the `N` bytes at `offset`; `buf` is known to be a whole header.
fn field<const N: usize>(buf: &[u8; HEADER_SIZE], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[offset..offset + N]);
    out
}

impl Header {
    /// A message with every field zero but `cmd`.
    pub fn new(cmd: u32) -> Header {
        Header {
            magic: 0,
            cmd,
            len: 0,
            flags: 0,
            test_interval: 0,
            fire_timeout: 0,
            last_keepalive: 0,
            renewal_time: 0,
            expire_time: 0,
            name: [0; NAME_SIZE],
        }
    }

    /// Decodes one message; `buf` must hold exactly one.
    pub fn decode(buf: &[u8]) -> Result<Header, WireError> {
        let buf: &[u8; HEADER_SIZE] =
            buf.try_into().map_err(|_| WireError::Short { got: buf.len() })?;
        let u32_at = |offset| u32::from_ne_bytes(field(buf, offset));
        let u64_at = |offset| u64::from_ne_bytes(field(buf, offset));
        Ok(Header {
            magic: u32_at(0),
            cmd: u32_at(4),
            len: u32_at(8),
            flags: u32_at(12),
            test_interval: u32_at(16),
            fire_timeout: u32_at(20),
            last_keepalive: u64_at(24),
            renewal_time: u64_at(32),
            expire_time: u64_at(40),
            name: field(buf, NAME_OFFSET),
        })
    }

    /// Encodes the message, every byte set.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        let fields: [(usize, &[u8]); 10] = [
            (0, &self.magic.to_ne_bytes()),
            (4, &self.cmd.to_ne_bytes()),
            (8, &self.len.to_ne_bytes()),
            (12, &self.flags.to_ne_bytes()),
            (16, &self.test_interval.to_ne_bytes()),
            (20, &self.fire_timeout.to_ne_bytes()),
            (24, &self.last_keepalive.to_ne_bytes()),
            (32, &self.renewal_time.to_ne_bytes()),
            (40, &self.expire_time.to_ne_bytes()),
            (NAME_OFFSET, &self.name),
        ];
        for (offset, bytes) in fields {
            out[offset..offset + bytes.len()].copy_from_slice(bytes);
        }
        out
    }

    /// The name up to its first NUL, with anything but printable ASCII
    /// replaced, so that it is safe to log and show.
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_SIZE);
        self.name[..end]
            .iter()
            .map(|&b| if b.is_ascii_graphic() || b == b' ' { char::from(b) } else { '?' })
            .collect()
    }

    /// Sets the name, cut to leave room for a terminating NUL.
    pub fn with_name(mut self, name: &str) -> Header {
        self.name = [0; NAME_SIZE];
        let bytes = &name.as_bytes()[..name.len().min(NAME_SIZE - 1)];
        self.name[..bytes.len()].copy_from_slice(bytes);
        self
    }

    /// What the message asks.
    pub fn request(&self) -> Result<Request, WireError> {
        Ok(match self.cmd {
            cmd::REGISTER => Request::Register { name: self.name() },
            cmd::REFCOUNT_SET => Request::RefcountSet,
            cmd::REFCOUNT_CLEAR => Request::RefcountClear,
            cmd::TEST_LIVE => {
                Request::TestLive { renewal: self.renewal_time, expire: self.expire_time }
            }
            cmd::STATUS => Request::Status,
            cmd::DUMP_DEBUG => Request::DumpDebug,
            cmd::OPEN_WATCHDOG => Request::OpenWatchdog { fire_timeout: self.fire_timeout },
            cmd => return Err(WireError::UnknownCommand { cmd }),
        })
    }

    /// wdmd's STATUS reply: the request with the three values filled in.
    pub fn status_reply(
        &self,
        test_interval: u32,
        fire_timeout: u32,
        last_keepalive: u64,
    ) -> Header {
        Header { test_interval, fire_timeout, last_keepalive, ..self.clone() }
    }

    /// wdmd's OPEN_WATCHDOG reply: the request with the fire timeout the
    /// device has, or 0 for a failure (the client checks for equality).
    pub fn open_reply(&self, fire_timeout: u32) -> Header {
        Header { fire_timeout, ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever arrives decodes to a header or an error, and a header
        /// encodes back to the same bytes.
        #[test]
        fn any_input_decodes_or_errs_and_headers_round_trip(
            bytes in proptest::collection::vec(any::<u8>(), 0..400)
        ) {
            if let Ok(header) = Header::decode(&bytes) {
                prop_assert_eq!(&header.encode()[..], &bytes[..]);
                let _ = header.request();
                prop_assert!(header.name().len() <= NAME_SIZE);
            }
        }
    }

    /// sanlock's TEST_LIVE as its client library builds it (all zero but
    /// cmd and the two times), byte for byte.
    #[test]
    fn a_test_live_decodes_from_sanlocks_bytes() {
        let mut bytes = [0u8; HEADER_SIZE];
        bytes[4..8].copy_from_slice(&4u32.to_ne_bytes());
        bytes[32..40].copy_from_slice(&605u64.to_ne_bytes());
        bytes[40..48].copy_from_slice(&613u64.to_ne_bytes());
        let header = Header::decode(&bytes).unwrap();
        assert_eq!(header.request(), Ok(Request::TestLive { renewal: 605, expire: 613 }));
        assert_eq!(header.encode(), bytes);
    }

    #[test]
    fn every_field_round_trips_at_its_offset() {
        let header = Header {
            magic: 0x0102_0304,
            cmd: cmd::STATUS,
            len: 7,
            flags: 9,
            test_interval: 10,
            fire_timeout: 60,
            last_keepalive: 0x1111_2222_3333_4444,
            renewal_time: 5,
            expire_time: 6,
            name: [0; NAME_SIZE],
        }
        .with_name("sanlock_ls:1");
        let bytes = header.encode();
        assert_eq!(bytes[20..24], 60u32.to_ne_bytes());
        assert_eq!(bytes[24..32], 0x1111_2222_3333_4444u64.to_ne_bytes());
        assert_eq!(&bytes[48..60], b"sanlock_ls:1");
        assert!(bytes[60..].iter().all(|&b| b == 0));
        assert_eq!(Header::decode(&bytes), Ok(header.clone()));
        let reply = header.status_reply(10, 60, 123);
        assert_eq!((reply.cmd, reply.test_interval, reply.fire_timeout), (cmd::STATUS, 10, 60));
        assert_eq!(reply.last_keepalive, 123);
        assert_eq!(header.open_reply(0).fire_timeout, 0);
    }

    #[test]
    fn every_command_is_known_and_others_are_refused() {
        let requests = [
            (cmd::REGISTER, Request::Register { name: String::new() }),
            (cmd::REFCOUNT_SET, Request::RefcountSet),
            (cmd::REFCOUNT_CLEAR, Request::RefcountClear),
            (cmd::TEST_LIVE, Request::TestLive { renewal: 0, expire: 0 }),
            (cmd::STATUS, Request::Status),
            (cmd::DUMP_DEBUG, Request::DumpDebug),
            (cmd::OPEN_WATCHDOG, Request::OpenWatchdog { fire_timeout: 0 }),
        ];
        for (number, request) in requests {
            assert_eq!(Header::new(number).request(), Ok(request));
        }
        for number in [0, 8, u32::MAX] {
            let refused = Header::new(number).request();
            assert_eq!(refused, Err(WireError::UnknownCommand { cmd: number }));
        }
    }

    #[test]
    fn short_long_and_odd_input_is_an_error_never_a_panic() {
        for len in [0, 1, HEADER_SIZE - 1, HEADER_SIZE + 1] {
            let got = Header::decode(&vec![0xff; len]);
            assert_eq!(got, Err(WireError::Short { got: len }));
        }
        // A name with no NUL and bytes that are not text.
        let mut bytes = [0xffu8; HEADER_SIZE];
        bytes[4..8].copy_from_slice(&cmd::REGISTER.to_ne_bytes());
        bytes[48] = b'\n';
        let header = Header::decode(&bytes).unwrap();
        let Ok(Request::Register { name }) = header.request() else { panic!("a register") };
        assert_eq!(name.len(), NAME_SIZE);
        assert!(name.chars().all(|c| c == '?'));
        let long = "n".repeat(300);
        assert_eq!(Header::new(1).with_name(&long).name(), "n".repeat(NAME_SIZE - 1));
    }
}
