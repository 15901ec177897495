//! Groups of a lockspace, kept in its name index (see [`crate::names`]):
//! who is a member, with what capabilities, and who leads.
//!
//! Everything a group has is a lease of the name index:
//! - the group itself, `#group:GROUP`, stored as `#g` and 46 hex digits
//!   of the SHA-256 of the group id: held by a host only while it adds a
//!   member or deletes the group, so that no member joins a group being
//!   deleted;
//! - each member, `#member:LEN:GROUP:MEMBER` (LEN the group id's byte
//!   length, so that the split is unambiguous), stored as `#m`, 23 hex
//!   digits of the group id's SHA-256 and 23 of the member id's: all the
//!   members of one group share a prefix, found in the index without
//!   reading any record. A member is the process that holds this lease:
//!   it leaves when it exits (its lease is released) or when its host is
//!   DEAD (the lease's owner is), by itself;
//! - the leader, `#leader:GROUP`, stored as `#l` and 46 hex digits: the
//!   process holding it leads.
//!
//! A member or leader lease carries a [`Record`] of its holder
//! ([`crate::ondisk::group_record`]), written under the hold it names.
//! User names never look like these: a user name starting with `#` is
//! stored as `#` and hex digits, and `g`, `m` and `l` are not hex digits;
//! leased also refuses user names with these prefixes.
//!
//! Group and member ids are 1 to [`ID_MAX`] bytes of UTF-8 without NUL.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::names::FullName;
use crate::ondisk::name::Name;

/// The longest group or member id.
pub const ID_MAX: usize = 256;
/// Full names starting so belong to groups.
pub const RESERVED_PREFIXES: [&str; 3] = ["#group:", "#member:", "#leader:"];

/// Why a string cannot be a group or member id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a {what} id cannot be empty")]
    Empty { what: &'static str },
    #[error("{what} id is {len} bytes long; the limit is {ID_MAX}")]
    TooLong { what: &'static str, len: usize },
    #[error("{what} id {id:?} contains a NUL byte")]
    Nul { what: &'static str, id: String },
}

fn checked(id: &str, what: &'static str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty { what });
    }
    if id.len() > ID_MAX {
        return Err(IdError::TooLong { what, len: id.len() });
    }
    if id.contains('\0') {
        return Err(IdError::Nul { what, id: id.to_owned() });
    }
    Ok(())
}

/// A checked group id and the names of its leases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    id: String,
    hash: String,
}

impl Group {
    pub fn new(id: &str) -> Result<Group, IdError> {
        checked(id, "group")?;
        Ok(Group { id: id.to_owned(), hash: hex_sha256(id) })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The group's own lease.
    pub fn name(&self) -> FullName {
        grouped(format!("#group:{}", self.id), format!("#g{}", &self.hash[..46]))
    }

    /// The leader's lease.
    pub fn leader(&self) -> FullName {
        grouped(format!("#leader:{}", self.id), format!("#l{}", &self.hash[..46]))
    }

    /// The lease of member `member` (a checked id).
    pub fn member(&self, member: &Member) -> FullName {
        grouped(
            format!("#member:{}:{}:{}", self.id.len(), self.id, member.0),
            format!("{}{}", self.member_prefix(), &hex_sha256(&member.0)[..23]),
        )
    }

    /// The stored names of this group's members start so.
    pub fn member_prefix(&self) -> String {
        format!("#m{}", &self.hash[..23])
    }

    /// The group whose own lease has `full` as its full name, if it is one.
    pub fn of_name(full: &str) -> Option<Group> {
        Group::new(full.strip_prefix("#group:")?).ok()
    }
}

/// A checked member id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member(String);

impl Member {
    pub fn new(id: &str) -> Result<Member, IdError> {
        checked(id, "member")?;
        Ok(Member(id.to_owned()))
    }

    pub fn id(&self) -> &str {
        &self.0
    }
}

/// What a member's or leader's lease records of its holder, as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub group: String,
    pub member: String,
    /// A member's capabilities (none for a leader).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub capabilities: serde_json::Value,
}

/// Whether `stored` is the stored name of a group's lease: `#g`, `#m` or
/// `#l` and 46 hex digits.
pub fn is_group_lease(stored: &str) -> bool {
    let kind = stored.as_bytes().get(1).copied();
    stored.len() == 48
        && stored.starts_with('#')
        && matches!(kind, Some(b'g' | b'm' | b'l'))
        && stored[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `stored` is the stored name of a group's own lease (`#g`),
/// as opposed to a member's or a leader's.
pub fn is_group_own_lease(stored: &str) -> bool {
    stored.starts_with("#g") && is_group_lease(stored)
}

fn grouped(full: String, stored: String) -> FullName {
    let stored = Name::new(&stored).expect("48 ASCII bytes");
    FullName::grouped(full, stored).expect("ids are checked: the full name fits")
}

fn hex_sha256(id: &str) -> String {
    Sha256::digest(id.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_names_are_reserved_and_its_members_share_a_prefix() {
        let group = Group::new("cinder-volumes").unwrap();
        let a = Member::new("host-a").unwrap();
        let b = Member::new(&"b".repeat(ID_MAX)).unwrap();
        for name in [group.name(), group.leader(), group.member(&a), group.member(&b)] {
            assert_eq!(name.stored().to_string().len(), 48, "{name}");
            assert!(is_group_lease(&name.stored().to_string()), "{name}");
            let own = name.as_str().starts_with("#group:");
            assert_eq!(is_group_own_lease(&name.stored().to_string()), own, "{name}");
            assert!(!is_group_lease(&FullName::new(name.as_str()).unwrap().stored().to_string()));
            assert!(name.is_hashed(), "{name}");
            assert!(RESERVED_PREFIXES.iter().any(|p| name.as_str().starts_with(p)), "{name}");
            // No user name is stored so: theirs are '#' and hex digits.
            let user = FullName::new(name.as_str()).unwrap();
            assert_ne!(user.stored(), name.stored(), "{name}");
        }
        let prefix = group.member_prefix();
        assert!(group.member(&a).stored().to_string().starts_with(&prefix));
        assert!(group.member(&b).stored().to_string().starts_with(&prefix));
        assert_ne!(group.member(&a).stored(), group.member(&b).stored());
        let other = Group::new("cinder-volumes2").unwrap();
        assert!(!other.member(&a).stored().to_string().starts_with(&prefix));
        assert_eq!(Group::of_name(group.name().as_str()), Some(group.clone()));
        assert_eq!(Group::of_name("#leader:cinder-volumes"), None);
        // The length keeps "a:b" + "c" apart from "a" + "b:c".
        let split = Group::new("a:b").unwrap().member(&Member::new("c").unwrap());
        let other = Group::new("a").unwrap().member(&Member::new("b:c").unwrap());
        assert_ne!(split.as_str(), other.as_str());
    }

    #[test]
    fn bad_ids_are_refused() {
        assert_eq!(Group::new(""), Err(IdError::Empty { what: "group" }));
        assert!(matches!(Member::new(&"x".repeat(ID_MAX + 1)), Err(IdError::TooLong { .. })));
        assert!(matches!(Group::new("a\0b"), Err(IdError::Nul { .. })));
    }

    #[test]
    fn records_are_json_and_reject_what_they_do_not_know() {
        let record = Record {
            group: "g".into(),
            member: "m".into(),
            capabilities: serde_json::json!({"abilities": ["fight", 1, null]}),
        };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
        let leader = Record { capabilities: serde_json::Value::Null, ..record };
        assert_eq!(serde_json::to_string(&leader).unwrap(), r#"{"group":"g","member":"m"}"#);
        assert!(serde_json::from_str::<Record>(r#"{"group":"g","member":"m","x":1}"#).is_err());
    }
}
