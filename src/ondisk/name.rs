//! Lockspace, resource and host names: 48 bytes on disk, no NUL required.

use std::fmt;

/// Bytes in an on-disk name field.
pub const NAME_BYTES: usize = 48;

/// A name as stored on disk: up to 48 bytes, NUL-padded. A name that fills
/// all 48 bytes has no terminating NUL, as in sanlock.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name {
    bytes: [u8; NAME_BYTES],
}

/// Why a string cannot be a name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name '{name}' is {len} bytes long; the limit is {NAME_BYTES}")]
    TooLong { name: String, len: usize },
    #[error("name {name:?} contains a NUL byte")]
    Nul { name: String },
}

impl Name {
    /// The empty name (all zero bytes): a free host sector's owner name.
    pub const EMPTY: Name = Name { bytes: [0; NAME_BYTES] };

    /// A name from an operator- or client-supplied string.
    pub fn new(name: &str) -> Result<Name, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        Name::new_or_empty(name)
    }

    /// Like [`Name::new`], but the empty string gives [`Name::EMPTY`].
    pub fn new_or_empty(name: &str) -> Result<Name, NameError> {
        let raw = name.as_bytes();
        if raw.len() > NAME_BYTES {
            return Err(NameError::TooLong { name: name.to_owned(), len: raw.len() });
        }
        if raw.contains(&0) {
            return Err(NameError::Nul { name: name.to_owned() });
        }
        let mut bytes = [0u8; NAME_BYTES];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Name { bytes })
    }

    /// The name field exactly as found on disk.
    pub const fn from_disk(bytes: [u8; NAME_BYTES]) -> Name {
        Name { bytes }
    }

    /// The 48 bytes to write to disk.
    pub const fn to_disk(&self) -> [u8; NAME_BYTES] {
        self.bytes
    }

    /// The significant bytes: up to the first NUL, or all 48. Two names are
    /// the same name when these are equal, as with sanlock's `strncmp`.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.bytes.iter().position(|&b| b == 0).unwrap_or(NAME_BYTES);
        &self.bytes[..len]
    }

    /// The name with every byte after its first NUL zeroed: one spelling
    /// per name, so that names compared as wholes (keys) compare as
    /// sanlock compares them.
    pub fn canonical(&self) -> Name {
        let mut bytes = [0u8; NAME_BYTES];
        let significant = self.as_bytes();
        bytes[..significant.len()].copy_from_slice(significant);
        Name { bytes }
    }

    /// Whether no significant byte is set.
    pub fn is_empty(&self) -> bool {
        self.bytes[0] == 0
    }

    /// Whether this is the same name as `other`, ignoring anything stored
    /// after a terminating NUL.
    pub fn same_as(&self, other: &Name) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// Names appear in JSON as strings (bytes that are not UTF-8 replaced).
impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_up_to_48_bytes() {
        let full = "x".repeat(48);
        let name = Name::new(&full).unwrap();
        assert_eq!(name.as_bytes(), full.as_bytes());
        assert_eq!(name.to_disk(), [b'x'; 48]);
        assert_eq!(
            Name::new(&"y".repeat(49)),
            Err(NameError::TooLong { name: "y".repeat(49), len: 49 })
        );
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert_eq!(Name::new_or_empty(""), Ok(Name::EMPTY));
        assert!(matches!(Name::new("a\0b"), Err(NameError::Nul { .. })));
    }

    #[test]
    fn comparison_stops_at_nul() {
        let mut raw = [0u8; NAME_BYTES];
        raw[..4].copy_from_slice(b"test");
        raw[10] = b'z';
        let on_disk = Name::from_disk(raw);
        assert!(on_disk.same_as(&Name::new("test").unwrap()));
        assert_ne!(on_disk, Name::new("test").unwrap());
        assert_eq!(on_disk.to_string(), "test");
    }
}
