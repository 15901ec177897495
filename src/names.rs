//! Lease names of any length, mapped onto the 48-byte names that a leader
//! and a resource index entry hold.
//!
//! A name of 1 to 48 bytes that does not start with `#` is stored as it
//! is, so that sanlock's `lookup` finds it. Any other name (longer, or
//! starting with `#`) is stored as `#` followed by the first 47 lowercase
//! hex digits of the SHA-256 of its bytes (188 bits), and its full name is
//! kept in a record in its own lease area
//! ([`crate::ondisk::name_record`]), where a lookup checks it: two names
//! whose hashes agree are told apart, never confused.
//!
//! Names are 1 to 1024 bytes of UTF-8 without NUL.

use sha2::{Digest, Sha256};

use crate::ondisk::name::{NAME_BYTES, Name};
use crate::ondisk::name_record::FULL_NAME_MAX;

/// Why a string cannot be a lease name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FullNameError {
    #[error("a lease name cannot be empty")]
    Empty,
    #[error("lease name is {len} bytes long; the limit is {FULL_NAME_MAX}")]
    TooLong { len: usize },
    #[error("lease name {name:?} contains a NUL byte")]
    Nul { name: String },
}

/// A checked lease name of any length, and the name it is stored under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FullName {
    full: String,
    stored: Name,
}

impl FullName {
    pub fn new(full: &str) -> Result<FullName, FullNameError> {
        if full.is_empty() {
            return Err(FullNameError::Empty);
        }
        if full.len() > FULL_NAME_MAX {
            return Err(FullNameError::TooLong { len: full.len() });
        }
        if full.contains('\0') {
            return Err(FullNameError::Nul { name: full.to_owned() });
        }
        let stored = if full.len() <= NAME_BYTES && !full.starts_with('#') {
            Name::new(full).expect("checked: 1 to 48 bytes, no NUL")
        } else {
            hashed(full.as_bytes())
        };
        Ok(FullName { full: full.to_owned(), stored })
    }

    /// A name of [`crate::groups`], stored under `stored`, which its
    /// full name's own mapping would not give.
    pub(crate) fn grouped(full: String, stored: Name) -> Result<FullName, FullNameError> {
        let checked = FullName::new(&full)?;
        Ok(FullName { stored, ..checked })
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The 48-byte name the index entry and the leader hold.
    pub fn stored(&self) -> Name {
        self.stored
    }

    /// Whether the name is stored hashed, with a record of its full name.
    pub fn is_hashed(&self) -> bool {
        self.stored.as_bytes().first() == Some(&b'#')
    }
}

impl std::fmt::Display for FullName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.full)
    }
}

/// `#` and the first 47 hex digits of the SHA-256 of `full`.
fn hashed(full: &[u8]) -> Name {
    let digest = Sha256::digest(full);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Name::new(&format!("#{}", &hex[..NAME_BYTES - 1])).expect("48 ASCII bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_stored_as_they_are() {
        let name = FullName::new("vm-42").unwrap();
        assert_eq!(name.stored(), Name::new("vm-42").unwrap());
        assert!(!name.is_hashed());
        let exactly = "x".repeat(48);
        assert_eq!(FullName::new(&exactly).unwrap().stored().to_string(), exactly);
    }

    #[test]
    fn long_and_hash_like_names_are_stored_hashed() {
        // Cinder's lock for a volume's deletion: 57 bytes.
        let cinder = "cinder-0b7c2f6e-3d0e-4a53-9d8e-2f1c6a4b5e7d-delete_volume";
        let name = FullName::new(cinder).unwrap();
        assert!(name.is_hashed());
        let stored = name.stored().to_string();
        assert_eq!(stored.len(), 48);
        // sha256 of the name, as `printf %s NAME | sha256sum` gives it.
        let digest = Sha256::digest(cinder.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(stored, format!("#{}", &hex[..47]));
        let other = FullName::new(&format!("{cinder}x")).unwrap();
        assert_ne!(other.stored(), name.stored());
        // A short name starting with '#' cannot pass for a hashed one.
        let sharp = FullName::new(&stored).unwrap();
        assert!(sharp.is_hashed());
        assert_ne!(sharp.stored(), name.stored());
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(FullName::new(""), Err(FullNameError::Empty));
        assert_eq!(FullName::new(&"y".repeat(1025)), Err(FullNameError::TooLong { len: 1025 }));
        assert!(FullName::new(&"y".repeat(1024)).is_ok());
        assert!(matches!(FullName::new("a\0b"), Err(FullNameError::Nul { .. })));
    }
}
