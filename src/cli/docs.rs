//! Man pages and shell completions, generated from the argument and
//! configuration definitions so they cannot drift from the programs.
//! `lease generate man DIR` writes them; a test fails when the copies in
//! `man/` and `completions/` are stale.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Subcommand};
use clap_complete::Shell;
use clap_mangen::Man;

use super::Cli;
use super::exit;
use super::output::Failure;
use crate::api::ErrorCode;
use crate::daemon::LeasedArgs;
use crate::daemon::config::KEYS;

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Write the man pages into DIR
    Man { dir: PathBuf },
    /// Write completion scripts for bash, zsh and fish into DIR
    Completions { dir: PathBuf },
}

pub fn run(command: GenerateCommand) -> Result<u8, Failure> {
    let written = match command {
        GenerateCommand::Man { dir } => write_files(&dir, &man_pages()),
        GenerateCommand::Completions { dir } => write_files(&dir, &completions()),
    };
    written.map_err(|err| Failure::new(exit::IO, "io", err.to_string()))?;
    Ok(exit::OK)
}

fn write_files(dir: &Path, files: &[(String, String)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in files {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// Every man page, as (file name, roff text).
pub fn man_pages() -> Vec<(String, String)> {
    vec![
        ("lease.8".to_owned(), lease_man_page()),
        ("leased.8".to_owned(), leased_man_page()),
        ("leased.conf.5".to_owned(), leased_conf_man_page()),
        ("leased-sanlock.8".to_owned(), super::sanlock::man_page()),
    ]
}

/// Every completion script, as (file name, script).
pub fn completions() -> Vec<(String, String)> {
    let programs = [("lease", Cli::command()), ("leased", LeasedArgs::command())];
    let shells = [(Shell::Bash, "{}.bash"), (Shell::Zsh, "_{}"), (Shell::Fish, "{}.fish")];
    let mut files = Vec::new();
    for (name, command) in programs {
        for (shell, pattern) in shells {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command.clone(), name, &mut script);
            let file = pattern.replace("{}", name);
            files.push((file, String::from_utf8(script).expect("completion scripts are UTF-8")));
        }
    }
    files
}

const SPEC_STRINGS: &str = r#".SH "SPEC STRINGS"
Lockspaces and resources are named as sanlock names them:
.TP
.I LOCKSPACE
NAME:HOST_ID:PATH:OFFSET
.TP
.I RESOURCE
LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH]
.PP
Names are at most 48 bytes, paths at most 1024. A colon inside a field is
written \e: and a backslash \e\e. OFFSET is in bytes (a K, M or G suffix
multiplies by 1024, 1024\(ha2 or 1024\(ha3) and must be a multiple of the
area's align size. For
.B direct init
the HOST_ID of a lockspace spec is ignored (0 by convention). A RESOURCE
ending in :SH is shared; one ending in a number is acquired only at that
lease version.
.SH GEOMETRY
An area is exactly one align size long. Valid sector/align pairs and the
host_ids they hold: 512/1M 2000; 4096/1M 250; 4096/2M 500; 4096/4M 1000;
4096/8M 2000. Without
.BR \-\-align ,
512\-byte sectors take 1M and 4096\-byte sectors 8M, as in sanlock.
.SH "NAME INDEX"
Leases can be found by name instead of by offset.
.B lease index format LOCKSPACE
writes a name index right after the lockspace's area (the lockspace is
joined here): the index at one align size after the lockspace's offset,
the lease that guards it at two, and the names' leases from three on, one
area each. Then
.B \-n LOCKSPACE:NAME
in
.BR acquire ,
.B release
and
.B run
names a lease, and an acquire adds a name not there yet. An addition runs
under the index's own lease, so two hosts adding one name at once get one
lease. The layout is sanlock's resource index (rindex):
.B sanlock direct lookup
and
.B sanlock client lookup
read it.
.PP
A name is 1 to 1024 bytes of UTF\-8 without NUL. One of at most 48 bytes
not starting with # is stored as it is. Any other is stored as # and the
first 47 hex digits of the SHA\-256 of its bytes; its full name is kept in
a record in its own lease area, after the lock value block (magic
0x4d414e4c, version, length, crc32c, the name), which every lookup checks,
so that two names never share a lease.
.B lease index delete
removes a name nobody holds: this host holds its lease while the entry
goes, then frees it under the name #unused. An acquire by name is granted
only if, once the lease is held, the index still names it: one that looked
the name up before a delete is refused (retry), never granted beside the
name's new lease. A create writes a lease only into a slot that holds no
lease record, a cleared one, one freed by a delete, or a never\-used one of
the same name; a slot holding anything else (another resource's lease, a
held or damaged one) is passed over, never written.
.PP
With
.B collect_idle_names
set (leased.conf(5)), leased removes, as a delete does, every name whose
lease each of its readings (a quarter of that time apart) has found free
at one lease version for that long, from the indexes of the lockspaces it
has joined: names made per volume or per request do not fill the device.
Groups are kept; the leases of members that left and of leaders that stood
down go. An acquire by name that looked a removed name up is refused
(retry) and looks it up again, adding it anew.
.PP
Capacity: each name takes one align size, so a GiB holds about 1021 names
at 512/1M (less with 4096\-byte sectors and larger aligns: 128 at 4096/8M);
an index holds 4096 names unless formatted with
.BR \-\-max\-names ,
up to 16000 (1M) to 128000 (8M).
.SH GROUPS
Groups of processes, with member capabilities and a leader, are kept in a
lockspace's name index (format it first). Every part of a group is a lease
of the index, under a name no client can take (names starting with
#group:, #member: or #leader: are refused):
.TP
.B the group
#group:GROUP, stored as #g and 46 hex digits of the SHA\-256 of the group
id. A host holds it only while it adds a member or deletes the group: no
member joins a group being deleted, and only a group without members or
leader is deleted.
.TP
.B each member
#member:LEN:GROUP:MEMBER, stored as #m, 23 hex digits of the group id's
SHA\-256 and 23 of the member id's. The member is the process holding this
lease: it leaves when it leaves, when its process exits (the lease is
released), when its host is declared DEAD (the lease's owner is), or, if
it joined with a time to live, when no heartbeat came within it.
.TP
.B the leader
#leader:GROUP, stored as #l and 46 hex digits. The process holding it
leads; it stands down, or exits, to let another lead.
.PP
A member's or leader's lease carries a record of its holder in its own
area, after the full\-name record: magic 0x5052474c, version, the lease
version of the hold that wrote it, length, crc32c, and JSON
({"group","member","capabilities"}), at most 4072 bytes. It is written
while this host holds the lease, before anyone can see the lease held
here; a reader believes it only if the lease is held, by a live owner,
under the lease version it names. Group and member ids are 1 to 256
bytes of UTF\-8 without NUL.
.PP
A host reads a group from the disk: the index, then each member's leader
and record. A watch is pushed the changes: a change made on this host
before the call that made it returns, one made elsewhere within half an
io_timeout (leased reads watched groups that often). The calls are on the
socket (SOCKET PROTOCOL in leased(8)); the Python package's Client and its
tooz driver use them.
.B lease group list LOCKSPACE
and
.B lease group members|create|delete LOCKSPACE:GROUP
show and manage groups from the command line; joining is for programs, as
the member is the process that joined.
.SH "LEASES AND PROCESSES"
A resource lease belongs to a process. leased watches it and releases its
leases when it exits (a persistent lease is kept as an orphan instead,
until released with
.B \-\-orphan
or adopted by
.BR "acquire \-\-adopt" ).
The lease command exits at once, so
.B acquire
names the process with
.BR \-\-pid :
root may name any process, others only their own children.
.B lease run
acquires for the command it runs.
"#;

const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
.B 0
Success.
.TP
.B 1
Refused: the request was valid but not granted (held by another host,
already held on this host, init of an area that holds lease records
without \-\-force, a limit reached).
.TP
.B 2
Usage error: invalid arguments, spec strings, offsets or sizes.
.TP
.B 65
Data error: the disk does not hold the lease area expected, or a record is
damaged (bad magic, version or checksum). The error names path and offset;
nothing is repaired.
.TP
.B 69
leased could not be reached (see LEASED_RUN_DIR).
.TP
.B 70
Internal error.
.TP
.B 74
I/O error: the file or device could not be opened, read or written
(including files on tmpfs, which has no direct I/O).
.TP
.B 75
Temporary failure, such as an I/O timeout, a lockspace still joining, or
an owner about to be declared dead: retrying may succeed.
.TP
.B 77
Permission denied.
.PP
For
.BR "lease run" ,
the status of the command, or 128 plus the signal that ended it.
"#;

const LEASE_TAIL: &str = r#".SH EXAMPLES
Create a 2 MiB lease file, a lockspace at offset 0 and a resource at 1 MiB:
.PP
.nf
.RS
dd if=/dev/zero of=/var/lib/leases.img bs=1M count=2 oflag=direct
lease direct init \-s vms:0:/var/lib/leases.img:0
lease direct init \-r vms:vm1:/var/lib/leases.img:1M
.RE
.fi
.PP
Join as host_id 1, then hold the resource while a command runs:
.PP
.nf
.RS
lease add\-lockspace \-s vms:1:/var/lib/leases.img:0 \-\-wait
lease run \-r vms:vm1:/var/lib/leases.img:1M \-\- qemu\-system\-x86_64 ...
lease hosts vms
.RE
.fi
.SH ENVIRONMENT
.TP
.B LEASED_RUN_DIR
The daemon's run directory (default /run/leased); the socket is
leased.sock in it.
.SH NOTES
All I/O is direct (O_DIRECT) with deadlines, so what one host reads is what
the others wrote, never a cached copy. Areas written by
.B lease
are read by
.BR sanlock (8)
and the other way round.
.SH "SEE ALSO"
.BR leased (8),
.BR leased.conf (5),
.BR sanlock (8)
"#;

const LEASED_TAIL: &str = r#".SH "HOW IT KEEPS LEASES SAFE"
Each joined lockspace has a thread that renews this host's host_id lease
every 2 io_timeouts with timed direct I/O on its own disk handle. If no
renewal succeeds for 8 io_timeouts, or the host_id sector is found
corrupted or taken, the lease is lost: every resource lease of the
lockspace is void, and recovery stops the processes holding them (see
FENCING). Other hosts take this host's leases only after they saw its
host_id lease unchanged for 8 io_timeouts plus the watchdog fire timeout F,
judged by this host's io_timeout and never by comparing clocks. By then the
watchdog has reset this host, unless every holder was stopped first.
.SH WATCHDOG
leased opens the watchdog device at start (refusing to run if it is missing
or does not take the fire timeout F) and holds it until it stops. A thread
of its own, at real\-time priority when permitted, tests every client and
keeps the device alive only while every client's expiry is more than 0.1 s
away, so the last keepalive lands before it. It tests at least every test
interval (10 s for F of 60 s and more, 5 s from 30 s, 2 s from 10 s, 1 s
below, and never more than F/4), and sooner as an expiry nears: halfway to
it, down to 0.1 s apart. When the tests run on time, the last keepalive
comes at most 0.2 s before the expiry, so the reset no sooner than F less
0.2 s after it. The clients are the joined lockspaces, each expiring 8
io_timeouts after its last successful renewal, and any local program
registered over the socket (see
.BR "lease watchdog" ).
When one expiry comes near, the keepalives stop for all, and the device
resets the host at most F after the expiry. They resume if the client
renews in time or recovery ends.
.PP
This covers a hung leased too: a stopped process (SIGSTOP) sends no
keepalive, and hung storage delays the renewals, never the watchdog
thread. A leased that dies leaves the device armed, and the host is reset.
On a clean stop with no client left, the device is disarmed (the magic
close). The multiplexer lives inside leased rather than in a separate
daemon: the renewals that move the expiries are in the same process, and
there is one service less to order and watch.
.PP
Watchdog devices:
.B auto
(the first of /dev/watchdog0, /dev/watchdog1, /dev/watchdog), a device
path,
.B none
(logged as UNSAFE at start: the host is never reset), and
.BI file: PATH ,
a test device that appends "arm NANOS FIRE_MS", "pet NANOS" and "disarm
NANOS" lines (CLOCK_BOOTTIME) to PATH and resets nothing: a test harness
treats a gap longer than F as the reset.
.SH WDMD
leased also serves the protocol of sanlock's watchdog multiplexer, wdmd(8),
so that sanlock run with its watchdog on (\-w 1) shares leased's device in
wdmd's place: each sanlock lockspace is one more watchdog client, tested
like the others. sanlock connects only to /run/wdmd/wdmd.sock; leased serves
it by default when it holds a real watchdog device (see
.B wdmd_socket
in leased.conf(5)), and holds wdmd's pid file there, locked, and the marker
/dev/shm/wdmd, so that
.B wdmd \-\-probe
and packaging scripts see a wdmd running, and a wdmd started meanwhile
refuses. A marker found at start was left by a wdmd or leased that did not
stop cleanly, whose device may be about to reset the host: leased refuses
to start, as wdmd does, until it is removed.
.PP
A client's TEST_LIVE(renewal, expire) sets its expiry (expire == 0 ends
its testing); times on the wire are CLOCK_MONOTONIC seconds, which leased
translates onto its own clock. wdmd counts the last test interval before an
expiry as a failure, because it tests only once per interval; leased tests
sooner as an expiry nears, so a client's keepalives stop its io_timeout
before its expiry (an eighth of expire \- renewal, sanlock's 8
io_timeouts), at most that test interval: the same margin as leased's own
lockspaces, wdmd's window at sanlock's default io_timeout of 10 s. STATUS
reports wdmd's test interval for F, F itself (sanlock 3.8 requires 60) and
the last keepalive; OPEN_WATCHDOG (sanlock 3.9 and later) is granted only
for leased's F, as the device has one timeout for all its clients.
REGISTER names the client (its pid comes from the socket), REFCOUNT_SET
holds SIGTERM off until REFCOUNT_CLEAR, and DUMP_DEBUG (wdmd \-d) gets a
short text dump.
.PP
As in wdmd, a client that disconnects with an expiry set stays and keeps
being tested, so the host is reset when it passes; one without is dropped.
A message cut short closes its connection; an unknown command is ignored.
At most 64 connections are served at once, from root, leased's user and
.BR socket_group .
.SH FENCING
When a lockspace's host_id lease is lost, every process holding a lease in
it is stopped according to
.BR fencing :
.TP
.B terminate
(the default) runs the
.B killpath
(if set) with the holder's pid, sends SIGTERM at half the
.B kill_grace
(at once without a killpath), and SIGKILL at the kill_grace.
.TP
.B kill
sends SIGKILL at once.
.TP
.B reset
signals nothing: the watchdog resets the host.
.PP
Once every holder is gone and no write under the lost host_id is in flight,
the lockspace is stopped: it leaves the watchdog's clients, the keepalives
resume, and the host is not reset. It stays listed as stopped until removed
or added again. A holder that outlives the steps (stuck in the kernel, say)
keeps the keepalives stopped, and the host is reset at most F after the
lockspace's expiry. Every step is logged, and
.B lease status
shows each holder's last step.
.SH COMPATIBILITY
leased stands in for sanlock 3.8 and wdmd on three levels.
.TP
.B Disk format
Lockspace, resource and resource index areas are sanlock's, byte for
byte: hosts running sanlock and hosts running leased share lockspaces and
contend for the same resources (a mixed cluster). They must use the same
io_timeout per lockspace and the same watchdog fire timeout (60 s, as
sanlock's).
.TP
.B Client protocol
With
.B sanlock_protocol
on (the default), leased also serves sanlock's socket,
.IR SANLOCK_RUN_DIR /sanlock.sock
(see leased.conf(5)), so that libvirt's lock driver, lvmlockd, vdsm,
python3-sanlock and the
.B sanlock
command run unchanged. The same services answer both sockets: a lease
taken through one is seen and contended through the other. Registered
connections own their leases as in sanlock (released when the connection
closes, kept as orphans if persistent, adopted with ORPHAN); killpath and
the restrict flags are honoured by fencing. A link named
.B sanlock
to leased runs sanlock's command line (leased-sanlock(8)).
.TP
.B Watchdog
leased serves wdmd's socket (WDMD above), so that a real sanlock can run
beside it on one watchdog device.
.PP
What differs from sanlock 3.8.5:
.IP \(bu 2
Host events (REG_EVENT, END_EVENT, SET_EVENT) are carried on disk as by
sanlock (the sender's write_id, write_generation and write_timestamp, and
the recipient's bit, for 6 io_timeouts), and cross between sanlock and
leased hosts. A listener gets an event once for each renewal of the sender
that shows it, as from sanlock; while any listener is registered, leased
reads the whole lockspace area at every renewal, so that no sender is
missed. Once the 6 io_timeouts are over leased clears the event from its
sector (sanlock leaves it, with no bit set). A listener that does not read
its events is disconnected rather than waited for.
RELEASE with REL_RENAME renames an exclusive lease as its leader is freed
(the leader is written only while this host owns it, as in sanlock); a
shared one answers -EINVAL. RENEWAL answers the last 180 renewals (from
the first after the join). LOG_DUMP answers the last MiB of leased's own
log. SET_CONFIG is accepted
and changes nothing. A resource on more than one disk, and a name that is
not UTF-8, answer -EINVAL.
.IP \(bu 2
write_lockspace and write_resource (and
.BR "sanlock client init" )
refuse (-243) to write over an area a host holds on disk (a host_id with
a timestamp, a resource with an owner or a SHARED holder), over another
kind of area, inside another area, or over an area this host uses;
sanlock overwrites. Free areas are overwritten as by sanlock. The checks
read the area once, so an init racing another host's acquire of the same
area can still wipe it, as with sanlock: init only areas nobody uses. The resource index refuses to create
a name it already holds and to delete a lease someone holds.
.IP \(bu 2
An acquire never waits for a failing owner: it answers -243 (IDLIVE) and
the client retries, as with OWNER_NOWAIT.
.IP \(bu 2
A lease acquired for a registered process is released when that process
exits, even if a child inherited its connection (sanlock keeps it until
the connection closes): fencing knows only the registered process.
.IP \(bu 2
GET_HOSTS answers -EAGAIN for half a second after a join (sanlock does
until its first check of the other hosts); leased reads every host at the
join.
.PP
.B Switching a host from sanlock to leased.
Stop what holds leases (VMs, lvmlockd), then
.BR "sanlock client shutdown \-f 1" ,
and stop sanlock and wdmd. Install the stand-in units, which run leased
under the names other units depend on, and start it:
.RS
.nf
install \-m 644 systemd/sanlock.service systemd/wdmd.service /etc/systemd/system/
systemctl daemon\-reload
systemctl start sanlock wdmd
.fi
.RE
Give leased the host name sanlock used (its
.B \-e
option, or the our_host_name of
.BR "sanlock client status \-D" )
in
.BR host_name ,
keep each lockspace's host_id, and do not run leased.service beside the
stand-in. To switch back, stop the holders and leased, remove the two
files from /etc/systemd/system, run
.BR "systemctl daemon\-reload" ,
and start the package's sanlock and wdmd. A host switched either way
rejoins its lockspaces as a restarted host: at once after a reboot, else
after its host_id's old lease has expired.
.SH SIGNALS
.TP
.BR SIGTERM ", " SIGINT
Release every resource lease and host_id, then exit, disarming the
watchdog. While running processes still hold leases, a lockspace is being
recovered, or a program is registered with the watchdog (or holds a wdmd
refcount), the signal is refused (logged) and leased goes on; a second one
within 60 seconds kills the processes still holding leases (SIGKILL),
releases every lease and unregisters every program on leased's socket. A
holder that does not exit within 5 seconds keeps its lockspace's leases,
and with a recovery still under way keeps the watchdog armed: the host is
reset. A wdmd client still tested (a sanlock lockspace) is kept too, and
keeps the watchdog armed and /dev/shm/wdmd in place: nothing else protects
its leases. Stop the holders first (order services after leased, and
sanlock before it).
.SH "SOCKET PROTOCOL"
Clients connect to leased.sock in the run directory. Root, leased's own
user and members of
.B socket_group
may connect; leased checks each peer's credentials (SO_PEERCRED). A client
acts for its own process, for its children, or, as root, for any process.
.PP
A request that acts for another process (acquire, release, inquire,
convert) names it by
.I pid
only if the client runs in leased's own pid namespace: a number from
another namespace (a container) would name another process here, and is
refused (bad_request). From anywhere, a client may instead set
.B \(dqpidfd\(dq: true
in place of
.I pid
and send a pidfd of the process (pidfd_open(2)) as SCM_RIGHTS ancillary
data with the frame's first bytes; leased binds the lease to that very
process and reports it under its pid in leased's namespace. The client's
own process is known from the socket itself (SO_PEERPIDFD), wherever it
runs. A client whose process leased cannot see (leased inside a container,
the client outside) is refused.
.PP
Each message is a frame: a 4\-byte big\-endian length, then that many bytes
of JSON, at most
.B max_frame
bytes. A request:
.PP
.nf
.RS
{"v":1,"id":7,"op":"acquire","args":{"resources":["vms:vm1:/dev/sdb:1048576"],"pid":4242}}
.RE
.fi
.PP
The reply echoes the id (id 0 answers a frame that could not be read, or a
refused connection, just before leased closes it). Replies may be larger
than requests: a client should accept up to 64 MiB.
.PP
.nf
.RS
{"v":1,"id":7,"ok":true,"result":{"leases":[...]}}
{"v":1,"id":7,"ok":false,"error":{"code":"refused","message":"..."}}
.RE
.fi
.PP
A lease in a result gives its lockspace, resource, path, offset, mode, lver,
pid (null for an orphan), persistent, spec (sanlock's inquire form) and
takeover: how it was taken from another host, if it was:
.BR released ,
.BR owner_left ,
.BR owner_restarted ,
.B owner_dead
or
.BR our_old_incarnation .
.PP
Operations and their arguments (all optional unless said):
.TP
.B version
The daemon's version, protocol version and host name.
.TP
.B add_lockspace
.I lockspace
(required), io_timeout, wait.
.TP
.B rem_lockspace
.I lockspace
(name, required), force.
.TP
.B status
Lockspaces, renewals, leases,
.IR busy :
how many resources are being acquired or released (a process that exits
has its leases released in the background), each failed lockspace's
.IR recovery ,
and the
.IR watchdog :
its device, keepalives and clients.
.TP
.B hosts
.I lockspace
(name, required): every host seen and its state.
.TP
.B acquire
.I resources
(list, required), pid or pidfd, wait_ms, persistent, adopt.
.TP
.B release
resources, pid or pidfd, all, orphan.
.TP
.B inquire
pid or pidfd.
.TP
.B convert
.I resource
and
.I mode
("EX" or "SH") required, pid or pidfd.
.TP
.B request
.I resource
and
.I force
("force", "graceful" or "clear") required, lver.
.TP
.B watchdog_register
.I name
(1 to 64 printable characters) and
.I expiry_ms
(1000 to 86400000) required: makes the connection a client of the
watchdog. The host is reset if it does not renew before each expiry, even
if the connection closes; only
.B watchdog_unregister
ends that. One registration per connection, and at most 64 programs at
once.
.TP
.B watchdog_renew
.I expiry_ms
required: the expiry, from now (an earlier one than the current is
ignored).
.TP
.B watchdog_unregister
Ends the connection's registration.
.TP
.BR index_format ", " index_list ", " index_create ", " index_delete
.I lockspace
required;
.I name
(create, delete) required; max_names (format). See NAME INDEX in lease(8).
.TP
.BR group_create ", " group_delete ", " group_members ", " group_watch
.I lockspace
and
.I group
required. See GROUPS in lease(8).
.B group_watch
answers with the group, then sends on the same connection, under the
request's id, an event at each change:
.B {"event":"joined"|"left","group":G,"member":M},
.B {"event":"leader","group":G,"leader":M|null}
and
.B {"event":"deleted","group":G}
(the last; the connection then ends). Close the connection to stop
watching; at most 256 watches are open on a host.
.TP
.B group_list
.I lockspace
required.
.TP
.BR group_join ", " group_update
.IR lockspace ,
.I group
and
.I member
required; capabilities (any JSON value), ttl_ms (join only, 1 to 86400000).
The caller's process becomes the member.
.TP
.BR group_leave ", " group_elect ", " group_stand_down ", " group_heartbeat
.IR lockspace ,
.I group
(heartbeat: optional, all groups if absent) and
.I member
required.
.PP
Unknown fields are refused. Error codes, what they mean, and the exit
status lease(8) gives for each:
"#;

const LEASED_FILES: &str = r#".SH FILES
.TP
.I /etc/leased/leased.conf
Configuration, see
.BR leased.conf (5).
.TP
.I /run/leased/leased.sock
The socket (mode 0660).
.TP
.I /run/leased/leased.pid
The pid, locked: one leased per run directory.
.TP
.I /var/lib/leased/leased.state
The boot record: the kernel's boot id of the last start, whether that
leased left its watchdog armed, and the host_id and generation each
lockspace was last joined with. It must survive reboots.
.TP
.I /var/lib/leased/host-name
The host name generated at the first start (a random UUID, a dot, the
hostname), when host_name is not set.
.TP
.I /var/lib/leased/leased.lock
The pid, locked: one leased per state directory.
.TP
.I /dev/watchdog0
The watchdog device, by default.
.TP
.I /run/wdmd/wdmd.sock
wdmd's socket, served for sanlock (see WDMD).
.TP
.I /run/wdmd/wdmd.pid
leased's pid, fcntl\-locked as wdmd locks it, while it serves wdmd's socket.
.TP
.I /dev/shm/wdmd
wdmd's marker: there while leased serves /run/wdmd/wdmd.sock, removed at a
clean stop, kept when leased exits with its watchdog armed.
.SH ENVIRONMENT
.TP
.B LEASED_RUN_DIR
Moves the run directory (for tests and unprivileged use).
.TP
.B LEASED_STATE_DIR
Moves the state directory. Without it, a run directory other than
/run/leased gets RUN_DIR/state.
.TP
.B LEASED_BOOT_ID_FILE
For tests only: a file read instead of
/proc/sys/kernel/random/boot_id, so that a restart can pass for one after
a reboot. A wrong boot id lets a restart after a crash take host_ids back
at once.
.TP
.B RUST_LOG
Log level and filters (default info). Logs go to stderr, without
timestamps when
.B JOURNAL_STREAM
says journald collects them.
.TP
.B NOTIFY_SOCKET
Set by systemd for Type=notify: leased reports READY=1 once serving.
.SH "SEE ALSO"
.BR lease (8),
.BR leased.conf (5),
.BR sanlock (8),
.BR wdmd (8)
"#;

/// clap_mangen starts every rendered part with these two lines, which only
/// need to appear once, at the top of the page.
const ROFF_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

type Render = fn(&Man, &mut dyn std::io::Write) -> std::io::Result<()>;

/// One part of a page, without the preamble.
fn roff_part(man: &Man, render: Render) -> String {
    let mut part = Vec::new();
    render(man, &mut part).expect("render to memory");
    let text = String::from_utf8(part).expect("man pages are UTF-8");
    text.strip_prefix(ROFF_PREAMBLE).expect("clap_mangen writes its preamble first").to_owned()
}

/// A page's title, name, synopsis and description, from its command.
fn page_head(man: &Man) -> String {
    let parts = [
        Man::render_title,
        Man::render_name_section,
        Man::render_synopsis_section,
        Man::render_description_section,
    ];
    parts.into_iter().map(|render| roff_part(man, render)).collect()
}

fn lease_man_page() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let man = Man::new(cmd.clone()).title("LEASE").section("8").manual("System Administration");
    let mut page = page_head(&man);
    page.push_str(".SH COMMANDS\n");
    for sub in leaf_commands(&cmd, "lease") {
        render_command(&mut page, &sub);
    }
    for section in [SPEC_STRINGS, EXIT_STATUS, LEASE_TAIL] {
        page.push_str(section);
    }
    page.push_str(&roff_part(&man, Man::render_version_section));
    format!("{ROFF_PREAMBLE}{page}")
}

fn leased_man_page() -> String {
    let mut cmd = LeasedArgs::command();
    cmd.build();
    let man = Man::new(cmd).title("LEASED").section("8").manual("System Administration");
    let mut page = page_head(&man);
    page.push_str(&roff_part(&man, Man::render_options_section));
    page.push_str(LEASED_TAIL);
    page.push_str(".TS\nl l l.\nCODE\tEXIT\tMEANING\n");
    for code in ErrorCode::ALL {
        let _ = writeln!(page, "{}\t{}\t{}", code.as_str(), code.exit_code(), code.meaning());
    }
    page.push_str(".TE\n");
    page.push_str(LEASED_FILES);
    page.push_str(&roff_part(&man, Man::render_version_section));
    // The first line asks man(1) to run tbl(1) for the table of codes.
    format!("'\\\" t\n{ROFF_PREAMBLE}{page}")
}

fn leased_conf_man_page() -> String {
    let mut page = format!(
        ".TH LEASED.CONF 5 \"\" \"lease {}\" \"File Formats\"\n.SH NAME\nleased.conf \\- \
         configuration of leased(8)\n.SH DESCRIPTION\n/etc/leased/leased.conf is a TOML file: one \
         \\fIkey\\fR = \\fIvalue\\fR per line, strings in double quotes, lists in brackets. \
         Every key is optional; unknown keys are an error, and leased checks every value before \
         it touches a disk. Command\\-line options override the file.\n.SH SETTINGS\n",
        env!("CARGO_PKG_VERSION")
    );
    for key in KEYS {
        let _ = writeln!(page, ".TP\n.B {}\n{} [default: {}]", key.name, key.text, key.default);
    }
    page.push_str(
        ".SH EXAMPLE\n.nf\n.RS\nhost_name = \"node\\-a\"\nwatchdog = \"/dev/watchdog0\"\n\
         watchdog_fire_timeout = 60\nkillpath = [\"/usr/libexec/stop\\-vm\"]\n\
         socket_group = \"leased\"\nlockspaces = [\"vms:1:/dev/vg/leases:0\"]\n.RE\n.fi\n\
         .SH \"SEE ALSO\"\n.BR leased (8),\n.BR lease (8)\n",
    );
    page
}

/// Visible commands with no subcommands, each named by its full path.
fn leaf_commands(cmd: &clap::Command, path: &str) -> Vec<clap::Command> {
    let mut leaves = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{path} {}", sub.get_name());
        if sub.has_subcommands() {
            leaves.extend(leaf_commands(sub, &name));
        } else {
            leaves.push(sub.clone().bin_name(name));
        }
    }
    leaves
}

/// One command's subsection: synopsis, description and options.
fn render_command(page: &mut String, cmd: &clap::Command) {
    let name = cmd.get_bin_name().expect("leaf commands carry their full name");
    let _ = writeln!(page, ".SS \"{name}\"");
    let man = Man::new(cmd.clone());
    for render in
        [Man::render_synopsis_section, Man::render_description_section, Man::render_options_section]
    {
        // Each part comes with its own .SH heading; inside a subsection only
        // the body is wanted.
        let part = roff_part(&man, render);
        let body = part.split_once('\n').map_or("", |(_, body)| body);
        page.push_str(body);
        page.push_str(".PP\n");
    }
}
