//! The request record: sector 1 of a resource area, through which another
//! host asks the owner to give the lease up.
//!
//! ```text
//!  off  size  field
//!    0     4  magic       0x08292011
//!    4     4  version     0x00010001
//!    8     8  lver        the lease version the request is against
//!   16     4  force_mode  0 none, 1 FORCE, 2 GRACEFUL
//! ```
//!
//! The record has no checksum. `init` writes it with lver 0 and no mode.

use super::{RecordProblem, get_u32, get_u64, put_u32, put_u64};

/// Bytes of a request record.
pub const REQUEST_BYTES: usize = 24;
/// Magic of the request record.
pub const REQUEST_MAGIC: u32 = 0x0829_2011;
/// Version written in request records; readers check the major half.
pub const REQUEST_VERSION: u32 = 0x0001_0001;

/// How the owner is asked to give the lease up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForceMode {
    /// No request.
    None,
    /// Kill the holder at once (SIGKILL).
    Force,
    /// Ask the holder to stop (killpath, else SIGTERM).
    Graceful,
}

impl ForceMode {
    /// The on-disk value.
    pub const fn to_disk(self) -> u32 {
        match self {
            ForceMode::None => 0,
            ForceMode::Force => 1,
            ForceMode::Graceful => 2,
        }
    }

    /// The mode for an on-disk value.
    pub const fn from_disk(value: u32) -> Option<ForceMode> {
        match value {
            0 => Some(ForceMode::None),
            1 => Some(ForceMode::Force),
            2 => Some(ForceMode::Graceful),
            _ => None,
        }
    }
}

/// A decoded request record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub magic: u32,
    pub version: u32,
    pub lver: u64,
    pub force_mode: u32,
}

impl RequestRecord {
    /// The record `init` writes: no request.
    pub const fn empty() -> RequestRecord {
        RequestRecord { magic: REQUEST_MAGIC, version: REQUEST_VERSION, lver: 0, force_mode: 0 }
    }

    /// Decodes the record at the start of a sector.
    pub fn decode_prefix(sector: &[u8]) -> RequestRecord {
        RequestRecord {
            magic: get_u32(sector, 0),
            version: get_u32(sector, 4),
            lver: get_u64(sector, 8),
            force_mode: get_u32(sector, 16),
        }
    }

    /// Encodes the record; the four bytes after `force_mode` are zero.
    pub fn encode(&self) -> [u8; REQUEST_BYTES] {
        let mut raw = [0u8; REQUEST_BYTES];
        put_u32(&mut raw, 0, self.magic);
        put_u32(&mut raw, 4, self.version);
        put_u64(&mut raw, 8, self.lver);
        put_u32(&mut raw, 16, self.force_mode);
        raw
    }

    /// Checks magic, major version and mode.
    pub fn verify(&self) -> Result<ForceMode, RecordProblem> {
        if self.magic != REQUEST_MAGIC {
            return Err(RecordProblem::BadMagic { found: self.magic, expected: REQUEST_MAGIC });
        }
        if self.version >> 16 != REQUEST_VERSION >> 16 {
            return Err(RecordProblem::BadVersion {
                found: self.version,
                expected: REQUEST_VERSION,
            });
        }
        ForceMode::from_disk(self.force_mode)
            .ok_or(RecordProblem::BadForceMode { found: self.force_mode })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_request_as_sanlock_writes_it() {
        let raw = RequestRecord::empty().encode();
        assert_eq!(&raw[..8], &[0x11, 0x20, 0x29, 0x08, 0x01, 0x00, 0x01, 0x00]);
        assert!(raw[8..].iter().all(|&b| b == 0));
        assert_eq!(RequestRecord::decode_prefix(&raw).verify(), Ok(ForceMode::None));
    }

    #[test]
    fn bad_mode_is_reported() {
        let record = RequestRecord { force_mode: 7, ..RequestRecord::empty() };
        assert_eq!(record.verify(), Err(RecordProblem::BadForceMode { found: 7 }));
        let graceful = RequestRecord { lver: 4, force_mode: 2, ..RequestRecord::empty() };
        assert_eq!(
            RequestRecord::decode_prefix(&graceful.encode()).verify(),
            Ok(ForceMode::Graceful)
        );
    }
}
