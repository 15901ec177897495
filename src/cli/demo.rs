//! `lease demo`: lease areas on a scratch file, narrated.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use super::output::{Failure, print};
use crate::clock::OsClock;
use crate::direct::{self, InitOptions};
use crate::disk::direct::on_memory_filesystem;
use crate::disk::{Access, DirectFile};
use crate::ondisk::name::Name;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the scratch lease file [default: $TMPDIR, or /var/tmp if that is tmpfs]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the scratch directory instead of removing it
    #[arg(long)]
    keep: bool,
}

const AREA: u64 = 1 << 20;

pub fn run(args: &DemoArgs) -> Result<u8, Failure> {
    let base = args.dir.clone().unwrap_or_else(scratch_base);
    let scratch =
        tempfile::Builder::new().prefix("lease-demo-").tempdir_in(&base).map_err(|err| {
            io_failure(format!("cannot create a directory in {}: {err}", base.display()))
        })?;
    let path = scratch.path().join("leases.img");
    let result = narrate(&path);
    if args.keep {
        let kept = scratch.keep();
        print(&format!("kept {}\n", kept.display()))?;
    }
    result
}

fn narrate(path: &Path) -> Result<u8, Failure> {
    say(&format!(
        "lease file: {} (2 MiB of zeros: a lockspace area and a resource area)",
        path.display()
    ))?;
    std::fs::write(path, vec![0u8; 2 * AREA as usize])
        .map_err(|err| io_failure(format!("cannot create {}: {err}", path.display())))?;
    let disk =
        DirectFile::open(path, Access::ReadWrite).map_err(|err| Failure::direct(&err.into()))?;
    let demo = Name::new("demo").expect("a valid name");
    let vm1 = Name::new("vm1").expect("a valid name");

    let geometry = direct::init_lockspace(&disk, &OsClock, 0, demo, 10, InitOptions::default())
        .map_err(|err| Failure::direct(&err))?;
    say(&format!(
        "initialised lockspace 'demo' at offset 0: {} host_ids, {geometry} sectors/area, io_timeout 10 s",
        geometry.max_hosts()
    ))?;
    direct::init_resource(&disk, &OsClock, AREA, demo, vm1, None, InitOptions::default())
        .map_err(|err| Failure::direct(&err))?;
    say("initialised resource 'vm1' of lockspace 'demo' at offset 1048576, unowned")?;

    match direct::init_lockspace(&disk, &OsClock, 0, demo, 10, InitOptions::default()) {
        Err(err) => say(&format!("a second init of the lockspace is refused: {err}"))?,
        Ok(_) => return Err(Failure::new(exit::SOFTWARE, "internal", "re-init was not refused")),
    }

    let leader = direct::read_resource_leader(&disk, &OsClock, AREA, &demo, &vm1)
        .map_err(|err| Failure::direct(&err))?
        .leader;
    say(&format!(
        "resource 'vm1' leader: owner_id {} lver {} num_hosts {} checksum 0x{:08x}",
        leader.owner_id, leader.lver, leader.num_hosts, leader.checksum
    ))?;
    say(&format!(
        "the same file, as `lease direct dump {}` lists it (--all shows every host_id):",
        path.display()
    ))?;
    let report =
        direct::dump(&disk, &OsClock, 0, None, false).map_err(|err| Failure::direct(&err))?;
    print(&super::direct::dump_table(&report))?;
    say(
        "sanlock reads this file too: `sanlock direct dump <file>` and `sanlock direct read_leader`",
    )?;
    Ok(exit::OK)
}

fn say(line: &str) -> Result<(), Failure> {
    print(&format!("demo: {line}\n"))
}

fn io_failure(message: String) -> Failure {
    Failure::new(exit::IO, "io", message)
}

/// A directory on a filesystem with direct I/O: $TMPDIR (or /tmp) unless it
/// is tmpfs, else /var/tmp.
fn scratch_base() -> PathBuf {
    let tmp = std::env::temp_dir();
    if on_memory_filesystem(&tmp).unwrap_or(false) { PathBuf::from("/var/tmp") } else { tmp }
}
