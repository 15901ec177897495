//! The resource index against Debian's sanlock 3.8: each tool formats an
//! index the other reads, and sanlock's `lookup`, `update` and `acquire`
//! work on what our `create` and `delete` leave, and a lease sanlock holds
//! is never deleted.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{have, prerequisite, run, scratch, zero_file};
use lease::clock::OsClock;
use lease::disk::{Access, DirectFile};
use lease::ondisk::geometry::{Geometry, SectorSize};
use lease::ondisk::name::Name;
use lease::rindex::{Entry, FormatOptions, Holder, Rindex, RindexError};

const MIB: u64 = 1 << 20;

fn sanlock_present() -> bool {
    prerequisite(have("sanlock"), "sanlock is not installed (apt-get install -y sanlock)")
}

/// `sanlock direct ARGS`: its exit code and stdout.
fn sanlock(args: &[&str]) -> (i32, String) {
    let mut full = vec!["direct"];
    full.extend_from_slice(args);
    let out = run("sanlock", &full);
    (out.code, out.stdout)
}

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

/// Our index of lockspace "ls_name" at 1M on `disk`.
fn rindex<'a>(disk: &'a DirectFile) -> Rindex<'a> {
    Rindex {
        disk,
        clock: &OsClock,
        lockspace: name("ls_name"),
        offset: MIB,
        io_timeout: Duration::from_secs(10),
    }
}

fn open(path: &Path) -> DirectFile {
    DirectFile::open(path, Access::ReadWrite).unwrap()
}

#[test]
fn sanlock_formats_we_create_and_sanlock_looks_up() {
    if !sanlock_present() {
        return;
    }
    let dir = scratch();
    let img = zero_file(dir.path(), "theirs.img", 5 * MIB as usize);
    let path = img.to_str().unwrap();
    let spec = format!("ls_name:{path}:1M");
    assert_eq!(sanlock(&["format", "-x", &spec]), (0, "format done 0\n".to_owned()));

    let disk = open(&img);
    let rx = rindex(&disk);
    let header = rx.read_header().unwrap();
    assert_eq!(header.geometry, Geometry::default_for(SectorSize::B512));
    assert_eq!(header.entries(), 4096);
    assert_eq!(header.lease_offset(), 2 * MIB);
    assert_eq!(rx.lookup(None, None).unwrap().map(|e| e.offset), Some(3 * MIB));

    assert_eq!(rx.create(&name("res"), None).unwrap().offset, 3 * MIB);
    // daemon_test.py's test_lookup expects exactly this output.
    let found = sanlock(&["lookup", "-x", &spec, "-e", "res"]);
    assert_eq!(found, (0, "lookup done 0\nname res offset 3145728\n".to_owned()));
    let by_offset = sanlock(&["lookup", "-x", &spec, "-e", ":3145728"]);
    assert_eq!(by_offset, (0, "lookup done 0\nname res offset 3145728\n".to_owned()));
    let free = sanlock(&["lookup", "-x", &spec]);
    assert_eq!(free, (0, "lookup done 0\nname - offset 4194304\n".to_owned()));

    // sanlock adds an entry by hand; we find it, and refuse to create it
    // again where sanlock would.
    let added = sanlock(&["update", "-x", &spec, "-e", "theirs:4194304"]);
    assert_eq!(added, (0, "update done 0\n".to_owned()));
    let theirs = Entry { name: name("theirs"), offset: 4 * MIB };
    assert_eq!(rx.lookup(Some(&name("theirs")), None).unwrap(), Some(theirs));
    assert!(matches!(rx.create(&name("theirs"), None), Err(RindexError::Exists { .. })));

    rx.delete(&name("res")).unwrap();
    let gone = sanlock(&["lookup", "-x", &spec, "-e", "res"]);
    assert_eq!(gone, (1, "lookup done -2\n".to_owned()));
}

#[test]
fn we_format_and_sanlock_reads_dumps_and_acquires() {
    if !sanlock_present() {
        return;
    }
    let dir = scratch();
    let img = zero_file(dir.path(), "ours.img", 4 * MIB as usize);
    let path = img.to_str().unwrap();
    let disk = open(&img);
    let rx = rindex(&disk);
    let geometry = Geometry::default_for(SectorSize::B512);
    rx.format(FormatOptions { geometry, max_resources: None, force: false }).unwrap();

    let (code, dump) = sanlock(&["dump", &format!("{path}:{MIB}")]);
    assert_eq!(code, 0, "{dump}");
    let rows: Vec<Vec<&str>> =
        dump.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["01048576", "ls_name", "rindex_header", "0x1", "512", "4096", "1048576"]);
    assert_eq!(rows[1][..3], ["02097152", "ls_name", "rindex_lease"]);

    let entry = rx.create(&name("vm1"), None).unwrap();
    let spec = format!("ls_name:{path}:1M");
    let found = sanlock(&["lookup", "-x", &spec, "-e", "vm1"]);
    assert_eq!(found, (0, format!("lookup done 0\nname vm1 offset {}\n", entry.offset)));

    // sanlock takes host_id 2 in a lockspace at 0 and acquires our lease
    // (its direct verbs run the real algorithms; about 2 s at io_timeout 1).
    let ls = format!("ls_name:2:{path}:0");
    assert_eq!(sanlock(&["init", "-s", &format!("ls_name:0:{path}:0"), "-o", "1"]).0, 0);
    assert_eq!(sanlock(&["acquire_id", "-s", &ls, "-e", "sanlock-host"]).0, 0);
    let res = format!("ls_name:vm1:{path}:{}", entry.offset);
    let (code, out) = sanlock(&["acquire", "-i", "2", "-g", "1", "-r", &res]);
    assert_eq!(code, 0, "{out}");

    let before = std::fs::read(&img).unwrap();
    let err = rx.delete(&name("vm1")).unwrap_err();
    assert!(
        matches!(err, RindexError::Held { holder: Holder::Owner { owner_id: 2, .. }, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&img).unwrap(), before, "a held lease is left alone");

    // From the disk alone the lease stays held until its owner frees the
    // leader (sanlock's direct release leaves it as it is): whether a
    // holder is gone is for the daemon, which watches the lockspace.
    let found = sanlock(&["lookup", "-x", &spec, "-e", "vm1"]);
    assert_eq!(found.0, 0, "the entry is still there");
}

#[test]
fn format_writes_the_same_bytes_as_sanlock() {
    if !sanlock_present() {
        return;
    }
    let dir = scratch();
    let ours = zero_file(dir.path(), "ours.img", 3 * MIB as usize);
    let theirs = zero_file(dir.path(), "theirs.img", 3 * MIB as usize);
    let spec = format!("ls_name:{}:1M", theirs.to_str().unwrap());
    assert_eq!(sanlock(&["format", "-x", &spec]).0, 0);
    let disk = open(&ours);
    let geometry = Geometry::default_for(SectorSize::B512);
    rindex(&disk).format(FormatOptions { geometry, max_resources: None, force: false }).unwrap();

    let (a, b) = (std::fs::read(&ours).unwrap(), std::fs::read(&theirs).unwrap());
    // sanlock writes its request record's 4 padding bytes from an
    // uninitialised struct; ours are zero.
    let padding = (2 * MIB + 512 + 20) as usize..(2 * MIB + 512 + 24) as usize;
    let differences: Vec<usize> =
        (0..a.len()).filter(|i| a[*i] != b[*i] && !padding.contains(i)).collect();
    assert_eq!(differences, Vec::<usize>::new(), "format output differs from sanlock's");
    assert!(a[padding].iter().all(|&byte| byte == 0));
}
