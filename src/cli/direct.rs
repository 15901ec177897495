//! `lease direct ...`: lease areas on the disk itself, with no daemon.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::exit;
use super::output::{Failure, print, print_json, table};
use crate::clock::OsClock;
use crate::direct::{self, DumpArea, DumpReport, HostSpec, InitOptions, LeaderReport};
use crate::disk::{Access, DirectFile};
use crate::host::{default_host_name, default_state_dir};
use crate::ondisk::geometry::{AlignSize, SectorSize};
use crate::ondisk::name::Name;
use crate::paxos::Mode;
use crate::spec::{LockspaceSpec, ResourceSpec, parse_size};

#[derive(Debug, Subcommand)]
pub enum DirectCommand {
    /// Write a new lockspace area (-s) or resource area (-r)
    #[command(
        long_about = "Write a new lockspace area (-s) or resource area (-r) at the spec's path \
                      and offset. A lockspace area gives every host_id a free delta lease; a \
                      resource area holds one unowned Disk Paxos lease. The file or device must \
                      already be long enough for the area (create a file with, for example, \
                      `dd if=/dev/zero of=PATH bs=1M count=N`). init refuses to overwrite an \
                      area that holds valid lease records unless --force is given."
    )]
    Init(InitArgs),
    /// List every lease record found on a disk
    #[command(
        long_about = "List every lease record found in PATH from OFFSET (default 0) for SIZE \
                      bytes (default: to the end): each lockspace with the host_ids that have \
                      been used, each resource with its owner, lease version and the ballot \
                      blocks hosts have written. Damaged records are listed with what could be \
                      decoded and reported on stderr; the exit status is then 65."
    )]
    Dump(DumpArgs),
    /// Print one leader record: a host_id's delta lease (-s) or a resource's leader (-r)
    #[command(
        long_about = "Print the leader record of host_id HOST_ID in a lockspace (-s), or of a \
                      resource (-r), after checking its magic, version, checksum and names \
                      against the spec."
    )]
    ReadLeader(ReadLeaderArgs),
    /// Take a host_id in a lockspace (one step, no renewals afterwards)
    #[command(
        long_about = "Take host_id HOST_ID in the lockspace, as a joining host does: at once if \
                      it is free, at once if it carries our host name and --fast-reacquire is \
                      given, otherwise only after its holder is dead (8 io_timeouts plus the \
                      watchdog fire timeout of silence). It then waits 2 io_timeouts and checks \
                      that nobody else took the host_id meanwhile. Nothing renews the host_id \
                      afterwards: run renew-id within 8 io_timeouts to keep it."
    )]
    AcquireId(HostIdArgs),
    /// Renew a host_id we hold, once
    RenewId(HostIdArgs),
    /// Release a host_id we hold: other hosts see it free at once
    ReleaseId(HostIdArgs),
    /// Acquire a resource for a host_id we hold (one ballot, no daemon)
    #[command(long_about = "Acquire the resource for the host_id we hold in the lockspace (-s): \
                      exclusive, or shared with RESOURCE:...:SH, or only at a given lease \
                      version with RESOURCE:...:LVER. A resource held by a host that is not \
                      provably gone (free, restarted, or released) is refused: direct mode \
                      watches nobody over time.")]
    Acquire(ResourceArgs),
    /// Release a resource held by a host_id we hold
    Release(ResourceArgs),
}

#[derive(Debug, Args)]
pub struct HostIdArgs {
    /// Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET
    #[arg(short = 's', long = "lockspace", value_name = "LOCKSPACE", value_parser = LockspaceSpec::parse)]
    lockspace: LockspaceSpec,
    #[command(flatten)]
    host: HostArgs,
    /// io_timeout to hold the host_id with [default: the lockspace's]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u8).range(1..))]
    io_timeout: Option<u8>,
    /// Take the host_id at once if its sector carries our host name (only safe if nothing of
    /// our previous use of it can still hold leases)
    #[arg(long)]
    fast_reacquire: bool,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct HostArgs {
    /// Our host name in the lockspace [default: leased's, from its state directory]
    #[arg(long, value_name = "NAME")]
    host_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResourceArgs {
    /// Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET
    #[arg(short = 's', long = "lockspace", value_name = "LOCKSPACE", value_parser = LockspaceSpec::parse)]
    lockspace: LockspaceSpec,
    /// Resource, as LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH]
    #[arg(short = 'r', long = "resource", value_name = "RESOURCE", value_parser = ResourceSpec::parse)]
    resource: ResourceSpec,
    #[command(flatten)]
    host: HostArgs,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

/// The area a command works on: exactly one of -s and -r.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct AreaSpec {
    /// Lockspace area, as NAME:HOST_ID:PATH:OFFSET
    #[arg(short = 's', long = "lockspace", value_name = "LOCKSPACE", value_parser = LockspaceSpec::parse)]
    lockspace: Option<LockspaceSpec>,
    /// Resource area, as LOCKSPACE:NAME:PATH:OFFSET
    #[arg(short = 'r', long = "resource", value_name = "RESOURCE", value_parser = ResourceSpec::parse)]
    resource: Option<ResourceSpec>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    area: AreaSpec,
    /// Sector size of the area [default: the device's logical sector size]
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    sector_size: Option<SectorSize>,
    /// Area size: 1M, 2M, 4M or 8M; 512-byte sectors allow only 1M [default: 1M for 512-byte sectors, 8M for 4096]
    #[arg(long, value_name = "SIZE", value_parser = parse_align)]
    align: Option<AlignSize>,
    /// I/O timeout in seconds recorded in a lockspace; every delay of its delta leases derives from it
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..))]
    io_timeout: u8,
    /// Ballot blocks a resource uses: the highest host_id that may acquire it; each acquire reads them all three times [default: 128, or all that fit if fewer; sanlock's is all that fit]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=2000))]
    num_hosts: Option<u64>,
    /// Overwrite an area that already holds valid lease records
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Where to look, as PATH[:OFFSET[:SIZE]]; OFFSET and SIZE in bytes, or with a K, M or G suffix
    #[arg(value_name = "PATH[:OFFSET[:SIZE]]", value_parser = parse_dump_location)]
    location: DumpLocation,
    /// Also list host_ids never used and empty ballot blocks
    #[arg(long)]
    all: bool,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ReadLeaderArgs {
    #[command(flatten)]
    area: AreaSpec,
    /// Print one JSON object instead of "field value" lines
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Debug)]
pub struct DumpLocation {
    path: PathBuf,
    offset: u64,
    size: Option<u64>,
}

fn parse_sector_size(text: &str) -> Result<SectorSize, String> {
    parse_size(text)
        .and_then(SectorSize::from_bytes)
        .ok_or_else(|| format!("sector size must be 512 or 4096, not '{text}'"))
}

fn parse_align(text: &str) -> Result<AlignSize, String> {
    parse_size(text)
        .and_then(AlignSize::from_bytes)
        .ok_or_else(|| format!("align size must be 1M, 2M, 4M or 8M, not '{text}'"))
}

fn parse_dump_location(text: &str) -> Result<DumpLocation, String> {
    // The path may itself contain ':'; offset and size are the trailing
    // fields that parse as sizes.
    let mut path = text;
    let mut numbers = Vec::new();
    while numbers.len() < 2 {
        match path.rsplit_once(':') {
            Some((head, tail)) if parse_size(tail).is_some() => {
                numbers.extend(parse_size(tail));
                path = head;
            }
            _ => break,
        }
    }
    numbers.reverse();
    if path.is_empty() {
        return Err("PATH is empty".to_owned());
    }
    Ok(DumpLocation {
        path: PathBuf::from(path),
        offset: numbers.first().copied().unwrap_or(0),
        size: numbers.get(1).copied(),
    })
}

pub fn run(command: DirectCommand) -> Result<u8, Failure> {
    match command {
        DirectCommand::Init(args) => init(&args),
        DirectCommand::Dump(args) => dump(&args),
        DirectCommand::ReadLeader(args) => read_leader(&args),
        DirectCommand::AcquireId(args) => host_id_verb(&args, Verb::Acquire),
        DirectCommand::RenewId(args) => host_id_verb(&args, Verb::Renew),
        DirectCommand::ReleaseId(args) => host_id_verb(&args, Verb::Release),
        DirectCommand::Acquire(args) => resource_verb(&args, Verb::Acquire),
        DirectCommand::Release(args) => resource_verb(&args, Verb::Release),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Acquire,
    Renew,
    Release,
}

fn host_name(args: &HostArgs) -> Result<Name, Failure> {
    match &args.host_name {
        Some(name) => Name::new(name)
            .map_err(|err| Failure::new(exit::USAGE, "usage", format!("--host-name: {err}"))),
        None => default_host_name(&default_state_dir(&crate::client::run_dir()))
            .map_err(|err| Failure::new(exit::SOFTWARE, "internal", err)),
    }
}

fn host_spec<'a>(
    ls: &LockspaceSpec,
    disk: &'a DirectFile,
    host: &HostArgs,
) -> Result<HostSpec<'a>, Failure> {
    Ok(HostSpec {
        disk,
        offset: ls.disk.offset,
        lockspace: ls.name,
        host_id: ls.host_id,
        host_name: host_name(host)?,
    })
}

fn host_id_verb(args: &HostIdArgs, verb: Verb) -> Result<u8, Failure> {
    let json = args.json;
    let disk = open(&args.lockspace.disk.path, Access::ReadWrite).map_err(|f| f.json(json))?;
    let host = host_spec(&args.lockspace, &disk, &args.host).map_err(|f| f.json(json))?;
    let report = match verb {
        Verb::Acquire => direct::acquire_id(&host, args.io_timeout, args.fast_reacquire),
        Verb::Renew => direct::renew_id(&host),
        Verb::Release => direct::release_id(&host),
    }
    .map_err(|err| Failure::direct(&err).json(json))?;
    if json {
        print_json(&report)?;
    } else {
        let done = match verb {
            Verb::Acquire => "acquired",
            Verb::Renew => "renewed",
            Verb::Release => "released",
        };
        print(&format!(
            "{done} host_id {} of lockspace '{}' as '{}': generation {} timestamp {}\n",
            report.host_id,
            report.lockspace,
            report.owner_name,
            report.generation,
            report.timestamp
        ))?;
    }
    Ok(exit::OK)
}

fn resource_verb(args: &ResourceArgs, verb: Verb) -> Result<u8, Failure> {
    let json = args.json;
    let (ls, res) = (&args.lockspace, &args.resource);
    if !res.lockspace.same_as(&ls.name) {
        let message = format!(
            "resource '{}' belongs to lockspace '{}', not '{}'",
            res.name, res.lockspace, ls.name
        );
        return Err(Failure::new(exit::USAGE, "usage", message).json(json));
    }
    let ls_disk = open(&ls.disk.path, Access::ReadWrite).map_err(|f| f.json(json))?;
    let res_disk = open(&res.disk.path, Access::ReadWrite).map_err(|f| f.json(json))?;
    let host = host_spec(ls, &ls_disk, &args.host).map_err(|f| f.json(json))?;
    let resource = direct::ResourceSpec {
        disk: &res_disk,
        offset: res.disk.offset,
        name: res.name,
        mode: if res.shared { Mode::Shared } else { Mode::Exclusive },
        expected_lver: res.lver,
    };
    let report = match verb {
        Verb::Release => direct::release(&host, &resource),
        _ => direct::acquire(&host, &resource),
    }
    .map_err(|err| Failure::direct(&err).json(json))?;
    if json {
        print_json(&report)?;
    } else {
        let done = if verb == Verb::Release { "released" } else { "acquired" };
        print(&format!(
            "{done} resource '{}' of lockspace '{}' {} as host_id {} generation {} at lver {}\n",
            report.resource,
            report.lockspace,
            report.mode,
            report.host_id,
            report.generation,
            report.lver
        ))?;
    }
    Ok(exit::OK)
}

fn open(path: &Path, access: Access) -> Result<DirectFile, Failure> {
    DirectFile::open(path, access).map_err(|err| Failure::direct(&err.into()))
}

fn init(args: &InitArgs) -> Result<u8, Failure> {
    let options =
        InitOptions { sector_size: args.sector_size, align: args.align, force: args.force };
    let (kind, geometry, target) = match (&args.area.lockspace, &args.area.resource) {
        (Some(ls), _) => {
            let disk = open(&ls.disk.path, Access::ReadWrite)?;
            let geometry = direct::init_lockspace(
                &disk,
                &OsClock,
                ls.disk.offset,
                ls.name,
                args.io_timeout,
                options,
            )
            .map_err(|err| Failure::direct(&err))?;
            ("lockspace", geometry, format!("'{}' at {}", ls.name, ls.disk))
        }
        (None, Some(res)) => {
            let disk = open(&res.disk.path, Access::ReadWrite)?;
            let geometry = direct::init_resource(
                &disk,
                &OsClock,
                res.disk.offset,
                res.lockspace,
                res.name,
                args.num_hosts,
                options,
            )
            .map_err(|err| Failure::direct(&err))?;
            (
                "resource",
                geometry,
                format!("'{}' of lockspace '{}' at {}", res.name, res.lockspace, res.disk),
            )
        }
        (None, None) => unreachable!("clap requires -s or -r"),
    };
    print(&format!(
        "initialised {kind} {target}: {} bytes, {geometry} (sector/align), {} hosts\n",
        geometry.area_bytes(),
        geometry.max_hosts()
    ))?;
    Ok(exit::OK)
}

fn dump(args: &DumpArgs) -> Result<u8, Failure> {
    let location = &args.location;
    let disk = open(&location.path, Access::ReadOnly).map_err(|f| f.json(args.json))?;
    let report = direct::dump(&disk, &OsClock, location.offset, location.size, args.all)
        .map_err(|err| Failure::direct(&err).json(args.json))?;
    if args.json {
        print_json(&report)?;
    } else {
        print(&dump_table(&report))?;
    }
    if report.problems.is_empty() {
        return Ok(exit::OK);
    }
    for problem in &report.problems {
        eprintln!("lease: {problem}");
    }
    Ok(exit::DATA)
}

pub(super) fn dump_table(report: &DumpReport) -> String {
    let mut rows = Vec::new();
    let ok = |good: bool| if good { "ok" } else { "BAD" }.to_owned();
    for area in &report.areas {
        match area {
            DumpArea::Lockspace {
                offset,
                lockspace,
                sector_size,
                align,
                max_hosts,
                io_timeout,
                hosts,
            } => {
                rows.push(vec![
                    offset.to_string(),
                    "lockspace".to_owned(),
                    lockspace.clone(),
                    "-".to_owned(),
                    "-".to_owned(),
                    "-".to_owned(),
                    "-".to_owned(),
                    "-".to_owned(),
                    "-".to_owned(),
                    format!("{sector_size}/{align} max_hosts {max_hosts} io_timeout {io_timeout}"),
                ]);
                for host in hosts {
                    rows.push(vec![
                        host.offset.to_string(),
                        format!("host {}", host.host_id),
                        lockspace.clone(),
                        host.owner_name.clone(),
                        host.owner_id.to_string(),
                        host.owner_generation.to_string(),
                        "-".to_owned(),
                        host.timestamp.to_string(),
                        ok(host.checksum_ok),
                        format!("io_timeout {}", host.io_timeout),
                    ]);
                }
            }
            DumpArea::Resource {
                offset,
                lockspace,
                resource,
                sector_size,
                align,
                num_hosts,
                owner_id,
                owner_generation,
                lver,
                timestamp,
                checksum_ok,
                cleared,
                request,
                dblocks,
                ..
            } => {
                let mut detail = format!("{sector_size}/{align} num_hosts {num_hosts}");
                if *cleared {
                    detail.push_str(" CLEARED");
                }
                if request.force_mode != 0 || request.lver != 0 {
                    detail.push_str(&format!(
                        " request lver {} mode {}",
                        request.lver, request.force_mode
                    ));
                }
                rows.push(vec![
                    offset.to_string(),
                    "resource".to_owned(),
                    lockspace.clone(),
                    resource.clone(),
                    owner_id.to_string(),
                    owner_generation.to_string(),
                    lver.to_string(),
                    timestamp.to_string(),
                    ok(*checksum_ok),
                    detail,
                ]);
                for d in dblocks {
                    let mut detail = format!(
                        "mbal {} bal {} inp {}:{}:{}",
                        d.mbal, d.bal, d.inp, d.inp2, d.inp3
                    );
                    if d.released {
                        detail.push_str(" released");
                    }
                    if d.shared {
                        detail.push_str(&format!(" shared generation {}", d.shared_generation));
                    }
                    rows.push(vec![
                        d.offset.to_string(),
                        format!("dblock {}", d.host_id),
                        lockspace.clone(),
                        resource.clone(),
                        "-".to_owned(),
                        "-".to_owned(),
                        d.lver.to_string(),
                        "-".to_owned(),
                        ok(d.checksum_ok),
                        detail,
                    ]);
                }
            }
        }
    }
    table(
        &[
            "OFFSET",
            "KIND",
            "LOCKSPACE",
            "NAME",
            "OWNER",
            "GEN",
            "LVER",
            "TIMESTAMP",
            "CHECKSUM",
            "DETAIL",
        ],
        &rows,
    )
}

fn read_leader(args: &ReadLeaderArgs) -> Result<u8, Failure> {
    let report = match (&args.area.lockspace, &args.area.resource) {
        (Some(ls), _) => {
            let disk = open(&ls.disk.path, Access::ReadOnly).map_err(|f| f.json(args.json))?;
            direct::read_lockspace_leader(&disk, &OsClock, ls.disk.offset, &ls.name, ls.host_id)
        }
        (None, Some(res)) => {
            let disk = open(&res.disk.path, Access::ReadOnly).map_err(|f| f.json(args.json))?;
            direct::read_resource_leader(
                &disk,
                &OsClock,
                res.disk.offset,
                &res.lockspace,
                &res.name,
            )
        }
        (None, None) => unreachable!("clap requires -s or -r"),
    }
    .map_err(|err| Failure::direct(&err).json(args.json))?;
    if args.json {
        print_json(&report)?;
    } else {
        print(&leader_lines(&report))?;
    }
    Ok(exit::OK)
}

fn leader_lines(report: &LeaderReport) -> String {
    let r = &report.leader;
    [
        format!("path {}", report.path),
        format!("offset {}", report.offset),
        format!("magic 0x{:08x}", r.magic),
        format!("version 0x{:x}", r.version),
        format!("flags 0x{:x}", r.flags),
        format!("sector_size {}", r.sector_size),
        format!("num_hosts {}", r.num_hosts),
        format!("max_hosts {}", r.max_hosts),
        format!("owner_id {}", r.owner_id),
        format!("owner_generation {}", r.owner_generation),
        format!("lver {}", r.lver),
        format!("space_name {}", r.space_name),
        format!("resource_name {}", r.resource_name),
        format!("timestamp {}", r.timestamp),
        format!("checksum 0x{:08x}", r.checksum),
        format!("io_timeout {}", r.io_timeout),
        format!("write_id {}", r.write_id),
        format!("write_generation {}", r.write_generation),
        format!("write_timestamp {}", r.write_timestamp),
    ]
    .iter()
    .map(|line| format!("{line}\n"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_locations() {
        let at = |text: &str| {
            let l = parse_dump_location(text).unwrap();
            (l.path.to_string_lossy().into_owned(), l.offset, l.size)
        };
        assert_eq!(at("/dev/sdb"), ("/dev/sdb".to_owned(), 0, None));
        assert_eq!(at("/dev/sdb:1M"), ("/dev/sdb".to_owned(), 1 << 20, None));
        assert_eq!(at("/a:b/c:1048576:2M"), ("/a:b/c".to_owned(), 1 << 20, Some(2 << 20)));
        assert_eq!(at("/a:b/c"), ("/a:b/c".to_owned(), 0, None));
        assert!(parse_dump_location(":5").is_err());
    }
}
