//! The strings sanlock's protocol carries: resource strings (INQUIRE's reply,
//! `sanlock_res_to_str`) and the `key=value` state strings of STATUS,
//! HOST_STATUS and RENEWAL records.
//!
//! A resource string is `lockspace:name:path:offset[:path:offset…]:lver`, or
//! `…:SH` in place of the lver for a shared resource; INQUIRE joins several
//! with spaces. Inside paths, `:` and space are escaped with a backslash, as
//! sanlock 3.8.5's `sanlock_path_export` does (verified against its
//! libsanlock: `rawls:rawres:/tmp/PATH:0:1`, `ls:res:/a\:b\ c:512:5`).
//!
//! Two deliberate differences, both only for bytes sanlock cannot round-trip
//! itself: a backslash is escaped too (sanlock writes it bare, and its own
//! `sanlock_str_to_res` then drops it), and names are escaped like paths
//! (sanlock writes a `:` in a name bare, which splits the string in the wrong
//! place when parsed back). Every escape here is one `sanlock_str_to_res`
//! undoes.

use super::wire::Resource;

/// Bytes a resource string escapes with a backslash.
fn needs_escape(byte: u8) -> bool {
    matches!(byte, b':' | b' ' | b'\\')
}

fn push_escaped(out: &mut Vec<u8>, field: &[u8]) {
    for &byte in field {
        if needs_escape(byte) {
            out.push(b'\\');
        }
        out.push(byte);
    }
}

/// `res` in `sanlock_res_to_str`'s form, byte for byte: names up to their
/// NUL (or all 48 bytes), every disk in `res.disks`, then `:SH` when
/// [`super::wire::res::SHARED`] is set, else `:lver`.
pub fn res_to_bytes(res: &Resource) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;

    let mut out = Vec::new();
    push_escaped(&mut out, res.lockspace.as_bytes());
    out.push(b':');
    push_escaped(&mut out, res.name.as_bytes());
    for disk in &res.disks {
        out.push(b':');
        push_escaped(&mut out, disk.path.as_os_str().as_bytes());
        out.extend_from_slice(format!(":{}", disk.offset).as_bytes());
    }
    if res.shared() {
        out.extend_from_slice(b":SH");
    } else {
        out.extend_from_slice(format!(":{}", res.lver).as_bytes());
    }
    out
}

/// [`res_to_bytes`] as a string; bytes that are not UTF-8 become U+FFFD, so
/// use [`res_to_bytes`] for what goes on the wire.
pub fn res_to_str(res: &Resource) -> String {
    String::from_utf8_lossy(&res_to_bytes(res)).into_owned()
}

/// A state record's string: `key=value` pairs joined by single spaces, as
/// sanlock's `send_state_*` format them (`sanlock client status -D` prints
/// one per line).
pub fn state_text(pairs: &[(&str, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::name::Name;
    use crate::sanlock::wire::{Disk, res};

    fn resource(lockspace: &str, name: &str, disks: &[(&str, u64)], lver: u64) -> Resource {
        Resource {
            lockspace: Name::new(lockspace).unwrap(),
            name: Name::new(name).unwrap(),
            lver,
            num_disks: disks.len() as u32,
            disks: disks.iter().map(|&(path, offset)| Disk::new(path, offset).unwrap()).collect(),
            ..Resource::default()
        }
    }

    #[test]
    fn res_to_str_matches_sanlock() {
        let plain = resource("rawls", "rawres", &[("/tmp/PATH", 0)], 1);
        assert_eq!(res_to_str(&plain), "rawls:rawres:/tmp/PATH:0:1");
        let two = resource("ls", "res", &[("/a:b c", 512), ("/x", 1048576)], 5);
        assert_eq!(res_to_str(&two), r"ls:res:/a\:b\ c:512:/x:1048576:5");
        let mut shared = resource("ls", "res", &[("/a", 0)], 5);
        shared.flags = res::SHARED;
        assert_eq!(res_to_str(&shared), "ls:res:/a:0:SH");
    }

    #[test]
    fn res_to_str_escapes_names_and_backslashes() {
        let odd = resource("l:s", "r s", &[(r"/a\b", 0)], 0);
        assert_eq!(res_to_str(&odd), r"l\:s:r\ s:/a\\b:0:0");
    }

    #[test]
    fn res_to_str_full_length_names() {
        let full = resource(&"x".repeat(48), &"y".repeat(48), &[("/a", 0)], 0);
        assert_eq!(res_to_str(&full), format!("{}:{}:/a:0:0", "x".repeat(48), "y".repeat(48)));
    }

    #[test]
    fn state_text_joins_pairs() {
        let text = state_text(&[("io_timeout", "10".into()), ("our_host_name", "h".into())]);
        assert_eq!(text, b"io_timeout=10 our_host_name=h");
        assert_eq!(state_text(&[]), b"");
    }
}
