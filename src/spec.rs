//! sanlock's lockspace and resource spec strings.
//!
//! ```text
//! LOCKSPACE = <lockspace_name>:<host_id>:<path>:<offset>
//! RESOURCE  = <lockspace_name>:<resource_name>:<path>:<offset>[:<lver>|:SH]
//! RINDEX    = <lockspace_name>:<path>:<offset>
//! ```
//!
//! A `:` inside a field is written `\:` and a backslash `\\`, as sanlock
//! accepts. Offsets are bytes; a `K`, `M` or `G` suffix (powers of 1024) is
//! also accepted here. Names are at most 48 bytes and paths at most 1024.

use std::fmt;
use std::path::PathBuf;

use crate::ondisk::name::{Name, NameError};

/// Longest path sanlock stores for a disk.
pub const MAX_PATH_BYTES: usize = 1024;

/// A disk location: a path and a byte offset on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DiskLocation {
    pub path: PathBuf,
    pub offset: u64,
}

impl fmt::Display for DiskLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", escape(&self.path.to_string_lossy()), self.offset)
    }
}

/// `LOCKSPACE = name:host_id:path:offset`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LockspaceSpec {
    pub name: Name,
    pub host_id: u64,
    pub disk: DiskLocation,
}

/// `RESOURCE = lockspace:name:path:offset[:lver|:SH]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceSpec {
    pub lockspace: Name,
    pub name: Name,
    pub disk: DiskLocation,
    /// The lease version the holder expects, if given.
    pub lver: Option<u64>,
    /// Shared rather than exclusive mode.
    pub shared: bool,
}

/// Why a spec string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} spec '{spec}': {problem} (expected {expected})")]
pub struct SpecError {
    pub kind: &'static str,
    pub spec: String,
    pub expected: &'static str,
    pub problem: SpecProblem,
}

/// The specific problem with a spec string.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecProblem {
    #[error("missing field <{0}>")]
    Missing(&'static str),
    #[error("unexpected field '{0}' at the end")]
    Extra(String),
    #[error("<{field}> '{value}' is not a number")]
    NotANumber { field: &'static str, value: String },
    #[error("<{field}>: {source}")]
    Name { field: &'static str, source: NameError },
    #[error("<path> is empty")]
    EmptyPath,
    #[error("<path> is {0} bytes long; the limit is {MAX_PATH_BYTES}")]
    PathTooLong(usize),
    #[error("a backslash must be followed by ':' or '\\'")]
    BadEscape,
}

/// `RINDEX = lockspace:path:offset`: where a lockspace's resource index
/// lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RindexSpec {
    pub lockspace: Name,
    pub disk: DiskLocation,
}

impl RindexSpec {
    /// Parses `lockspace:path:offset`.
    pub fn parse(spec: &str) -> Result<RindexSpec, SpecError> {
        let fail = |problem| SpecError {
            kind: "rindex",
            spec: spec.to_owned(),
            expected: RINDEX_FORM,
            problem,
        };
        let mut fields = split_fields(spec).map_err(fail)?.into_iter();
        let lockspace = name_field(fields.next(), "lockspace_name").map_err(fail)?;
        let disk = disk_fields(&mut fields).map_err(fail)?;
        if let Some(extra) = fields.next() {
            return Err(fail(SpecProblem::Extra(extra)));
        }
        Ok(RindexSpec { lockspace, disk })
    }
}

impl fmt::Display for RindexSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", escape(&self.lockspace.to_string()), self.disk)
    }
}

const LOCKSPACE_FORM: &str = "NAME:HOST_ID:PATH:OFFSET";
const RINDEX_FORM: &str = "LOCKSPACE:PATH:OFFSET";
const RESOURCE_FORM: &str = "LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH]";

impl LockspaceSpec {
    /// Parses `name:host_id:path:offset`.
    pub fn parse(spec: &str) -> Result<LockspaceSpec, SpecError> {
        let fail = |problem| SpecError {
            kind: "lockspace",
            spec: spec.to_owned(),
            expected: LOCKSPACE_FORM,
            problem,
        };
        let mut fields = split_fields(spec).map_err(fail)?.into_iter();
        let name = name_field(fields.next(), "lockspace_name").map_err(fail)?;
        let host_id = number_field(fields.next(), "host_id").map_err(fail)?;
        let disk = disk_fields(&mut fields).map_err(fail)?;
        if let Some(extra) = fields.next() {
            return Err(fail(SpecProblem::Extra(extra)));
        }
        Ok(LockspaceSpec { name, host_id, disk })
    }
}

impl fmt::Display for LockspaceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", escape(&self.name.to_string()), self.host_id, self.disk)
    }
}

impl ResourceSpec {
    /// Parses `lockspace:name:path:offset[:lver|:SH]`.
    pub fn parse(spec: &str) -> Result<ResourceSpec, SpecError> {
        let fail = |problem| SpecError {
            kind: "resource",
            spec: spec.to_owned(),
            expected: RESOURCE_FORM,
            problem,
        };
        let mut fields = split_fields(spec).map_err(fail)?.into_iter();
        let lockspace = name_field(fields.next(), "lockspace_name").map_err(fail)?;
        let name = name_field(fields.next(), "resource_name").map_err(fail)?;
        let disk = disk_fields(&mut fields).map_err(fail)?;
        let (lver, shared) = match fields.next() {
            None => (None, false),
            Some(mode) if mode == "SH" => (None, true),
            Some(lver) => (Some(number_field(Some(lver), "lver").map_err(fail)?), false),
        };
        if let Some(extra) = fields.next() {
            return Err(fail(SpecProblem::Extra(extra)));
        }
        Ok(ResourceSpec { lockspace, name, disk, lver, shared })
    }
}

impl fmt::Display for ResourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            escape(&self.lockspace.to_string()),
            escape(&self.name.to_string()),
            self.disk
        )?;
        match (self.shared, self.lver) {
            (true, _) => write!(f, ":SH"),
            (false, Some(lver)) => write!(f, ":{lver}"),
            (false, None) => Ok(()),
        }
    }
}

/// Parses a byte count: digits with an optional `K`, `M` or `G` suffix
/// (powers of 1024), e.g. `1048576` or `1M`.
pub fn parse_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    if digits.is_empty() {
        return None;
    }
    let multiplier: u64 = match unit {
        "" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "m" | "MiB" => 1 << 20,
        "G" | "g" | "GiB" => 1 << 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// Splits `spec` at each `:` that is not escaped, undoing `\:` and `\\`.
pub fn split_fields(spec: &str) -> Result<Vec<String>, SpecProblem> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ (':' | '\\')) => current.push(escaped),
                _ => return Err(SpecProblem::BadEscape),
            },
            ':' => fields.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    fields.push(current);
    if fields.len() == 1 && fields[0].is_empty() {
        fields.clear();
    }
    Ok(fields)
}

fn name_field(field: Option<String>, label: &'static str) -> Result<Name, SpecProblem> {
    let value = field.ok_or(SpecProblem::Missing(label))?;
    Name::new(&value).map_err(|source| SpecProblem::Name { field: label, source })
}

fn number_field(field: Option<String>, label: &'static str) -> Result<u64, SpecProblem> {
    let value = field.ok_or(SpecProblem::Missing(label))?;
    let parsed = if label == "offset" { parse_size(&value) } else { value.parse().ok() };
    parsed.ok_or(SpecProblem::NotANumber { field: label, value })
}

fn disk_fields(fields: &mut impl Iterator<Item = String>) -> Result<DiskLocation, SpecProblem> {
    let path = fields.next().ok_or(SpecProblem::Missing("path"))?;
    if path.is_empty() {
        return Err(SpecProblem::EmptyPath);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(SpecProblem::PathTooLong(path.len()));
    }
    let offset = number_field(fields.next(), "offset")?;
    Ok(DiskLocation { path: PathBuf::from(path), offset })
}

fn escape(field: &str) -> String {
    field.replace('\\', "\\\\").replace(':', "\\:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockspace_spec() {
        let spec = LockspaceSpec::parse("test:1:/dev/vg/leases:0").unwrap();
        assert_eq!(spec.name, Name::new("test").unwrap());
        assert_eq!(spec.host_id, 1);
        assert_eq!(spec.disk.path, PathBuf::from("/dev/vg/leases"));
        assert_eq!(spec.disk.offset, 0);
        assert_eq!(spec.to_string(), "test:1:/dev/vg/leases:0");
    }

    #[test]
    fn resource_spec_with_escapes_lver_and_shared() {
        let spec = ResourceSpec::parse(r"ls:vm\:1:/mnt/a\\b\:c:1M:7").unwrap();
        assert_eq!(spec.name, Name::new("vm:1").unwrap());
        assert_eq!(spec.disk.path, PathBuf::from(r"/mnt/a\b:c"));
        assert_eq!(spec.disk.offset, 1 << 20);
        assert_eq!(spec.lver, Some(7));
        assert!(!spec.shared);
        assert_eq!(ResourceSpec::parse(&spec.to_string()).unwrap(), spec);
        let shared = ResourceSpec::parse("ls:r:/p:2097152:SH").unwrap();
        assert!(shared.shared);
        assert_eq!(shared.lver, None);
    }

    #[test]
    fn errors_name_the_field() {
        let err = LockspaceSpec::parse("test:1:/path").unwrap_err();
        assert_eq!(err.problem, SpecProblem::Missing("offset"));
        assert_eq!(
            err.to_string(),
            "invalid lockspace spec 'test:1:/path': missing field <offset> \
             (expected NAME:HOST_ID:PATH:OFFSET)"
        );
        assert_eq!(
            LockspaceSpec::parse("").unwrap_err().problem,
            SpecProblem::Missing("lockspace_name")
        );
        assert!(matches!(
            LockspaceSpec::parse("t:x:/p:0").unwrap_err().problem,
            SpecProblem::NotANumber { field: "host_id", .. }
        ));
        assert!(matches!(
            LockspaceSpec::parse(&format!("{}:1:/p:0", "n".repeat(49))).unwrap_err().problem,
            SpecProblem::Name {
                field: "lockspace_name",
                source: NameError::TooLong { len: 49, .. }
            }
        ));
        assert_eq!(LockspaceSpec::parse("t:1::0").unwrap_err().problem, SpecProblem::EmptyPath);
        assert!(matches!(
            ResourceSpec::parse("l:r:/p:0:SH:x").unwrap_err().problem,
            SpecProblem::Extra(_)
        ));
        assert_eq!(ResourceSpec::parse(r"l:r\x:/p:0").unwrap_err().problem, SpecProblem::BadEscape);
        assert!(matches!(
            ResourceSpec::parse("l:r:/p:12Q").unwrap_err().problem,
            SpecProblem::NotANumber { field: "offset", .. }
        ));
        let long_path = format!("l:r:/{}:0", "p".repeat(1024));
        assert_eq!(
            ResourceSpec::parse(&long_path).unwrap_err().problem,
            SpecProblem::PathTooLong(1025)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("1T"), None);
        assert_eq!(parse_size("99999999999999999999"), None);
        assert_eq!(parse_size("18446744073709551615G"), None);
    }
}
