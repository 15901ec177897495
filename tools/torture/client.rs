//! One torture client process (`lease-torture client ...`, started by the
//! parent): loops over the resources until its end time, taking one at a
//! time exclusively without waiting (a busy answer means try the next),
//! writing its identity into that resource's witness block with
//! O_DIRECT|O_DSYNC, holding it 0–20 ms (one hold in `--convert-one-in`
//! converts EX→SH→EX and writes again), re-reading the block to check it is still its own, and
//! releasing. Every step is appended to its log before it is taken.
//!
//! A client whose daemon is gone (the socket fails) exits at once: its
//! host is dead and it must not touch the witness again. So does a client
//! whose host's test watchdog log shows that a real watchdog would have
//! reset the host (checked before each write and re-read of the witness):
//! the parent kills such clients too, but may be a tick late.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use lease::api::ErrorCode;
use lease::client::{AcquireOptions, Client, ClientError};
use lease::clock::{Clock, MonoTime, OsClock};
use lease::disk::AlignedBuf;
use lease::paxos::Mode;
use lease::rng::Rng;
use lease::watchdog::PetLog;

use super::record::{Event, WITNESS_BLOCK, block_text, identity};

/// Longest hold, in milliseconds.
const HOLD_MS: u64 = 20;
/// Pause after a failed request (not a busy answer), so that a host that
/// is leaving or rejoining its lockspace is not flooded.
const BACKOFF: Duration = Duration::from_millis(5);

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The daemon's socket
    #[arg(long)]
    socket: PathBuf,
    /// This client's host (index, for the records)
    #[arg(long)]
    host: usize,
    /// The resource specs, in resource order
    #[arg(long, num_args = 1..)]
    resources: Vec<String>,
    #[arg(long)]
    witness: PathBuf,
    #[arg(long)]
    log: PathBuf,
    #[arg(long)]
    seed: u64,
    /// Stop (after the current hold) at this CLOCK_BOOTTIME time, in ns
    #[arg(long)]
    until: u64,
    /// The host's test watchdog log: once it shows the host reset, the
    /// client is dead too
    #[arg(long)]
    pet_log: PathBuf,
    /// Convert one hold in this many EX→SH→EX (0: never)
    #[arg(long)]
    convert_one_in: u64,
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The client's loop; returns when its time is up or its daemon is gone.
pub fn run(args: &ClientArgs) -> Result<()> {
    let mut client = Client::connect(&args.socket)?;
    let witness = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
        .open(&args.witness)?;
    let log = OpenOptions::new().create(true).append(true).open(&args.log)?;
    let mut me = Holder {
        args,
        witness,
        log,
        rng: Rng::new(args.seed),
        pid: std::process::id(),
        seq: 0,
        last_lver: 0,
    };
    let until = MonoTime::from_nanos(args.until);
    let mut next = me.rng.below(args.resources.len() as u64) as usize;
    while OsClock.now() < until {
        // After a hold, anywhere; after a refusal, the next one.
        match me.take(&mut client, next) {
            Ok(true) => next = me.rng.below(args.resources.len() as u64) as usize,
            Ok(false) => next = (next + 1) % args.resources.len(),
            Err(Stop::DaemonGone) => return Ok(()),
            Err(Stop::Harness(err)) => return Err(err),
        }
    }
    Ok(())
}

/// Why a client stops.
enum Stop {
    /// Its daemon is unreachable, or its host would have been reset.
    DaemonGone,
    /// The client itself failed (log or witness I/O).
    Harness(Box<dyn std::error::Error + Send + Sync>),
}

impl From<std::io::Error> for Stop {
    fn from(err: std::io::Error) -> Stop {
        Stop::Harness(err.into())
    }
}

struct Holder<'a> {
    args: &'a ClientArgs,
    witness: File,
    log: File,
    rng: Rng,
    pid: u32,
    /// The sequence number and lver of the last identity record written.
    seq: u64,
    last_lver: u64,
}

impl Holder<'_> {
    /// One attempt at `res`: a whole hold if granted (true), else one busy
    /// or failed answer.
    fn take(&mut self, client: &mut Client, res: usize) -> std::result::Result<bool, Stop> {
        let spec = self.args.resources[res].as_str();
        let lver = match client.acquire(&[spec], AcquireOptions::default()) {
            Ok(leases) => leases.first().map_or(0, |lease| lease.lver),
            // Held by another host, or by another process of this one.
            Err(err) if matches!(err.code(), Some(ErrorCode::Refused | ErrorCode::Exists)) => {
                return self.log(&Event::Busy { res, t: now() }).map(|()| false);
            }
            Err(err) => return self.failed("acquire", &err).map(|()| false),
        };
        self.log(&Event::Acquired { res, lver, t: now() })?;
        self.write(res, lver)?;
        self.hold()?;
        let one_in = self.args.convert_one_in;
        if one_in > 0 && self.rng.below(one_in) == 0 {
            self.convert(client, res)?;
        }
        let ours = identity(self.args.host, self.pid, res, self.last_lver, self.seq);
        let found = self.read(res)?;
        if found != ours {
            self.log(&Event::Overwritten { res, found, t: now() })?;
        }
        self.log(&Event::Releasing { res, t: now() })?;
        if let Err(err) = client.release(&[spec], None, false, false) {
            self.failed("release", &err)?;
        }
        Ok(true)
    }

    /// EX→SH, a short hold, SH→EX, and a new identity record under the
    /// lver the convert back returned.
    fn convert(&mut self, client: &mut Client, res: usize) -> std::result::Result<(), Stop> {
        let spec = self.args.resources[res].as_str();
        for mode in [Mode::Shared, Mode::Exclusive] {
            let lver = match client.convert(spec, mode, None) {
                Ok(leases) => leases.first().map_or(0, |lease| lease.lver),
                Err(err) => return self.failed("convert", &err),
            };
            self.log(&Event::Converted { res, mode: mode.to_string(), lver, t: now() })?;
            if mode == Mode::Exclusive {
                self.write(res, lver)?;
            }
            self.hold()?;
        }
        Ok(())
    }

    fn hold(&mut self) -> std::result::Result<(), Stop> {
        let ms = self.rng.between(0, HOLD_MS);
        OsClock.sleep_until(OsClock.now() + Duration::from_millis(ms));
        Ok(())
    }

    fn write(&mut self, res: usize, lver: u64) -> std::result::Result<(), Stop> {
        self.check_alive()?;
        self.seq += 1;
        self.last_lver = lver;
        let text = identity(self.args.host, self.pid, res, lver, self.seq);
        let mut block = vec![0u8; WITNESS_BLOCK];
        block
            .get_mut(..text.len())
            .ok_or_else(|| Stop::Harness("record too long".into()))?
            .copy_from_slice(text.as_bytes());
        self.log(&Event::Writing { res, t: now() })?;
        let buf = AlignedBuf::copy_of(&block);
        self.witness.write_all_at(&buf, offset(res))?;
        Ok(())
    }

    fn read(&mut self, res: usize) -> std::result::Result<String, Stop> {
        self.check_alive()?;
        let mut buf = AlignedBuf::zeroed(WITNESS_BLOCK);
        self.witness.read_exact_at(&mut buf, offset(res))?;
        Ok(block_text(&buf))
    }

    /// Stops the client if its host would have been reset by now.
    fn check_alive(&self) -> std::result::Result<(), Stop> {
        let log = PetLog::read(&self.args.pet_log)?;
        match log.reset_at(OsClock.now()) {
            Some(_) => Err(Stop::DaemonGone),
            None => Ok(()),
        }
    }

    /// Logs a failed request; a daemon that is gone ends the client.
    fn failed(&mut self, op: &str, err: &ClientError) -> std::result::Result<(), Stop> {
        let kind = match err.code() {
            Some(code) => format!("{op}:{code:?}"),
            None => return Err(Stop::DaemonGone),
        };
        self.log(&Event::Failed { kind, msg: err.to_string(), t: now() })?;
        if err.code() == Some(ErrorCode::ShuttingDown) {
            return Err(Stop::DaemonGone);
        }
        OsClock.sleep_until(OsClock.now() + BACKOFF);
        Ok(())
    }

    fn log(&mut self, event: &Event) -> std::result::Result<(), Stop> {
        let mut line = serde_json::to_vec(event).map_err(|err| Stop::Harness(err.into()))?;
        line.push(b'\n');
        // One write per line: a line is whole in the log or absent.
        self.log.write_all(&line)?;
        Ok(())
    }
}

fn offset(res: usize) -> u64 {
    (res * WITNESS_BLOCK) as u64
}

fn now() -> u64 {
    OsClock.now().as_nanos()
}
