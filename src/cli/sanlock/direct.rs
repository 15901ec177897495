//! `sanlock direct VERB`: lease areas on disk with no daemon, on
//! [`crate::direct`]. What is printed follows Debian's sanlock 3.8.5:
//! `init done RV`, `read_leader done RV` and the leader's fields, and
//! `dump`'s fixed columns (vdsm parses them). A failure's detail goes to
//! stderr, which sanlock leaves empty; the result number is sanlock's.
//!
//! `direct init` overwrites whatever the area holds, as sanlock's does
//! (leased's own `lease direct init` refuses without `--force`).

use std::path::Path;

use super::{FAILED, OK, Options, PROGRAM, UsageError, status_of, usage_failed};
use crate::clock::OsClock;
use crate::direct::{self, DirectError, DumpArea, DumpReport, InitOptions, LeaderReport};
use crate::disk::{Access, DirectFile, Disk, DiskError};
use crate::ondisk::SectorSize;
use crate::ondisk::geometry::Geometry;
use crate::ondisk::leader::LeaderKind;
use crate::spec::{parse_size, split_fields};

/// sanlock's io_timeout when `-o` is not given.
const DEFAULT_IO_TIMEOUT_S: u8 = 10;

/// Runs `sanlock direct ARGS`.
pub fn run(args: &[String]) -> u8 {
    let Some((verb, rest)) = args.split_first() else {
        eprintln!("{PROGRAM}: direct needs an action");
        return FAILED;
    };
    // -a (use aio) is accepted and ignored: leased's I/O has one path.
    let options = match Options::parse(rest, "srnoZAa", "D", None) {
        Ok(options) => options,
        Err(err) => return usage_failed(&err),
    };
    let result = match verb.as_str() {
        "init" => init(&options),
        "read_leader" => read_leader(&options),
        "dump" => dump(&options),
        other => Err(UsageError::Other(format!("direct action \"{other}\" is unknown"))),
    };
    result.unwrap_or_else(|err| usage_failed(&err))
}

fn init(options: &Options) -> Result<u8, UsageError> {
    let io_timeout_s = options
        .number::<u8>('o', "an io timeout in seconds (1 to 255)")?
        .unwrap_or(DEFAULT_IO_TIMEOUT_S);
    let num_hosts = options.number::<u64>('n', "a number of hosts")?;
    let mut init =
        InitOptions { sector_size: options.sector_size()?, align: options.align()?, force: true };
    let rv = if let Some(ls) = options.lockspace()? {
        with_disk(&ls.disk.path, Access::ReadWrite, |disk| {
            direct::init_lockspace(disk, &OsClock, ls.disk.offset, ls.name, io_timeout_s, init)
                .map(drop)
        })
    } else if let Some(res) = options.resource()? {
        with_disk(&res.disk.path, Access::ReadWrite, |disk| {
            // sanlock gives a resource every ballot block its area holds
            // unless told otherwise; leased's own default is smaller.
            let num_hosts = match num_hosts {
                Some(n) => n,
                None => geometry_for(disk, &mut init)?.max_hosts(),
            };
            direct::init_resource(
                disk,
                &OsClock,
                res.disk.offset,
                res.lockspace,
                res.name,
                Some(num_hosts),
                init,
            )
            .map(drop)
        })
    } else {
        return Err(UsageError::Other("direct init needs -s LOCKSPACE or -r RESOURCE".into()));
    };
    println!("init done {rv}");
    Ok(status_of(rv))
}

/// The geometry `init` will use: the options', else the device's sector
/// size and its usual align size.
fn geometry_for(disk: &dyn Disk, init: &mut InitOptions) -> Result<Geometry, DirectError> {
    let sector_size = match init.sector_size {
        Some(size) => size,
        None => SectorSize::from_bytes(u64::from(disk.sector_size())).ok_or_else(|| {
            DirectError::Invalid(format!(
                "{}: device sector size {} is neither 512 nor 4096",
                disk.path().display(),
                disk.sector_size()
            ))
        })?,
    };
    let geometry = match init.align {
        Some(align) => Geometry::new(sector_size, align)
            .map_err(|err| DirectError::Invalid(err.to_string()))?,
        None => Geometry::default_for(sector_size),
    };
    init.sector_size = Some(sector_size);
    init.align = Some(geometry.align());
    Ok(geometry)
}

fn read_leader(options: &Options) -> Result<u8, UsageError> {
    let report = if let Some(ls) = options.lockspace()? {
        read_report(&ls.disk.path, |disk| {
            direct::read_lockspace_leader(disk, &OsClock, ls.disk.offset, &ls.name, ls.host_id)
        })
    } else if let Some(res) = options.resource()? {
        read_report(&res.disk.path, |disk| {
            direct::read_resource_leader(disk, &OsClock, res.disk.offset, &res.lockspace, &res.name)
        })
    } else {
        return Err(UsageError::Other(
            "direct read_leader needs -s LOCKSPACE or -r RESOURCE".into(),
        ));
    };
    match report {
        Ok(report) => {
            print!("read_leader done 0\n{}", leader_lines(&report));
            Ok(OK)
        }
        Err(rv) => {
            println!("read_leader done {rv}");
            Ok(FAILED)
        }
    }
}

/// A leader's fields as `sanlock direct read_leader` prints them; the last
/// three are named `extra1..3` for a delta lease, as sanlock names them.
fn leader_lines(report: &LeaderReport) -> String {
    let r = &report.leader;
    let tail = match report.kind {
        LeaderKind::Delta => ["extra1", "extra2", "extra3"],
        LeaderKind::Paxos => ["write_id", "write_generation", "write_timestamp"],
    };
    format!(
        "magic 0x{:x}\nversion 0x{:x}\nflags 0x{:x}\nsector_size {}\nnum_hosts {}\n\
         max_hosts {}\nowner_id {}\nowner_generation {}\nlver {}\nspace_name {}\n\
         resource_name {}\ntimestamp {}\nchecksum 0x{:x}\nio_timeout {}\n\
         {} {}\n{} {}\n{} {}\n",
        r.magic,
        r.version,
        r.flags,
        r.sector_size,
        r.num_hosts,
        r.max_hosts,
        r.owner_id,
        r.owner_generation,
        r.lver,
        r.space_name,
        r.resource_name,
        r.timestamp,
        r.checksum,
        r.io_timeout,
        tail[0],
        r.write_id,
        tail[1],
        r.write_generation,
        tail[2],
        r.write_timestamp,
    )
}

/// `PATH[:OFFSET[:SIZE]]` with `\:` for a colon inside the path.
#[derive(Debug, PartialEq, Eq)]
struct DumpLocation {
    path: String,
    offset: u64,
    size: Option<u64>,
}

fn parse_dump_location(text: &str) -> Result<DumpLocation, UsageError> {
    let bad = || UsageError::Other(format!("dump location '{text}' is not PATH[:OFFSET[:SIZE]]"));
    let fields = split_fields(text).map_err(|_| bad())?;
    let number = |field: Option<&String>| field.map(|f| parse_size(f).ok_or_else(bad)).transpose();
    match fields.as_slice() {
        [path, rest @ ..] if !path.is_empty() && rest.len() <= 2 => Ok(DumpLocation {
            path: path.clone(),
            offset: number(rest.first())?.unwrap_or(0),
            size: number(rest.get(1))?,
        }),
        _ => Err(bad()),
    }
}

fn dump(options: &Options) -> Result<u8, UsageError> {
    // -Z and -A are accepted for sanlock's sake; each area's own leader
    // gives its geometry.
    options.sector_size()?;
    options.align()?;
    let [location] = options.words.as_slice() else {
        return Err(UsageError::Other("direct dump needs one <path>[:<offset>[:<size>]]".into()));
    };
    let location = parse_dump_location(location)?;
    let path = Path::new(&location.path);
    let disk = match DirectFile::open(path, Access::ReadOnly) {
        Ok(disk) => disk,
        Err(err) => {
            // sanlock's words, on stdout, for a path it cannot open.
            println!("Device {} not found.", location.path);
            eprintln!("{PROGRAM}: {err}");
            return Ok(FAILED);
        }
    };
    let mut out = String::from(DUMP_HEADER);
    // sanlock reads what there is of the range: one past the end of the
    // device is cut there, not refused.
    let room = disk.size_bytes().saturating_sub(location.offset);
    let size = location.size.map(|size| size.min(room));
    match direct::dump(&disk, &OsClock, location.offset, size, false) {
        Ok(report) => {
            out.push_str(&dump_rows(&report));
            for problem in &report.problems {
                eprintln!("{PROGRAM}: {problem}");
            }
        }
        // An empty range is an empty listing to sanlock.
        Err(DirectError::NotLeaseArea { .. }) => {}
        Err(err) => {
            print!("{out}");
            eprintln!("{PROGRAM}: {err}");
            return Ok(FAILED);
        }
    }
    print!("{out}");
    Ok(OK)
}

/// The column heads of `sanlock direct dump`.
const DUMP_HEADER: &str = "  offset                            lockspace                                         resource  timestamp  own  gen lver\n";

/// One row per used host sector and per resource, in sanlock's columns:
/// offset (8 digits), lockspace (36 wide), resource or host name (48
/// wide), timestamp (10 digits), owner and generation (4 digits), and for
/// a resource its lver.
fn dump_rows(report: &DumpReport) -> String {
    let mut out = String::new();
    for area in &report.areas {
        match area {
            DumpArea::Lockspace { lockspace, hosts, .. } => {
                for host in hosts {
                    out.push_str(&format!(
                        "{:08} {:>36} {:>48} {:010} {:04} {:04}\n",
                        host.offset,
                        lockspace,
                        host.owner_name,
                        host.timestamp,
                        host.owner_id,
                        host.owner_generation
                    ));
                }
            }
            // A cleared resource is no lease; sanlock lists none.
            DumpArea::Resource { cleared: true, .. } => {}
            DumpArea::Resource {
                offset,
                lockspace,
                resource,
                timestamp,
                owner_id,
                owner_generation,
                lver,
                ..
            } => out.push_str(&format!(
                "{offset:08} {lockspace:>36} {resource:>48} {timestamp:010} {owner_id:04} \
                 {owner_generation:04} {lver}\n"
            )),
        }
    }
    out
}

/// Opens `path` and runs `work` on it; the result is sanlock's number.
fn with_disk(
    path: &Path,
    access: Access,
    work: impl FnOnce(&DirectFile) -> Result<(), DirectError>,
) -> i32 {
    let outcome =
        DirectFile::open(path, access).map_err(DirectError::from).and_then(|disk| work(&disk));
    match outcome {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("{PROGRAM}: {err}");
            result_of(&err)
        }
    }
}

fn read_report(
    path: &Path,
    work: impl FnOnce(&DirectFile) -> Result<LeaderReport, DirectError>,
) -> Result<LeaderReport, i32> {
    let outcome = DirectFile::open(path, Access::ReadOnly)
        .map_err(DirectError::from)
        .and_then(|disk| work(&disk));
    outcome.map_err(|err| {
        eprintln!("{PROGRAM}: {err}");
        result_of(&err)
    })
}

/// The number sanlock would print for `err`: the errno of a failed open or
/// I/O, `SANLK_AIO_TIMEOUT` for a timeout, `SANLK_LEADER_MAGIC` for an area
/// that holds no lease of the kind named, `-EMSGSIZE` past the device's end
/// and `-EINVAL` for the rest.
fn result_of(err: &DirectError) -> i32 {
    use crate::sanlock::wire::sanlk;
    let errno = |source: &std::io::Error| -source.raw_os_error().unwrap_or(libc::EIO);
    match err {
        DirectError::Disk(DiskError::Open { source, .. } | DiskError::Io { source, .. }) => {
            errno(source)
        }
        DirectError::Disk(DiskError::Timeout { .. }) => sanlk::AIO_TIMEOUT,
        DirectError::Disk(DiskError::OutOfRange { .. }) | DirectError::AreaPastEnd { .. } => {
            -libc::EMSGSIZE
        }
        DirectError::Corrupt { .. } | DirectError::NotLeaseArea { .. } => sanlk::LEADER_MAGIC,
        _ => -libc::EINVAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_locations_with_escaped_colons() {
        let at = |text| parse_dump_location(text).unwrap();
        assert_eq!(at("/p"), DumpLocation { path: "/p".into(), offset: 0, size: None });
        assert_eq!(
            at("/p:2M:8M"),
            DumpLocation { path: "/p".into(), offset: 2 << 20, size: Some(8 << 20) }
        );
        assert_eq!(
            at(r"/with\:colon/f:0:8M"),
            DumpLocation { path: "/with:colon/f".into(), offset: 0, size: Some(8 << 20) }
        );
        assert!(parse_dump_location("/p:x").is_err());
        assert!(parse_dump_location("/p:0:1M:2").is_err());
        assert!(parse_dump_location(":0").is_err());
    }

    #[test]
    fn errors_become_sanlock_numbers() {
        let missing = DirectError::Disk(DiskError::Open {
            path: "/nonexistent".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        });
        assert_eq!(result_of(&missing), -2);
        assert_eq!(result_of(&DirectError::Invalid("x".into())), -22);
    }
}
