//! `lease watchdog`: a program shares the host's watchdog through leased.
//! It registers, renews until SIGTERM or SIGINT, then unregisters. If it
//! stops renewing (paused, hung, killed), the host is reset.

use std::os::fd::AsFd;
use std::time::Duration;

use clap::Args;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::exit;
use super::output::{Failure, print};
use crate::client::Client;
use crate::clock::{Clock, OsClock};

#[derive(Debug, Args)]
pub struct WatchdogArgs {
    /// Name shown in `lease status` and in leased's log
    name: String,
    /// Seconds from each renewal to the expiry: if the next renewal has not
    /// come by then, leased stops keeping the watchdog alive and the host is
    /// reset at most the fire timeout later
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    expiry: u64,
    /// Seconds between renewals [default: a quarter of the expiry]
    #[arg(long, value_name = "SECONDS", value_parser = parse_renew)]
    renew: Option<f64>,
}

fn parse_renew(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.01)
        .ok_or_else(|| format!("--renew takes seconds (at least 0.01), not '{text}'"))
}

pub fn run(args: &WatchdogArgs) -> Result<u8, Failure> {
    let expiry = Duration::from_secs(args.expiry);
    let renew = args.renew.map_or(expiry / 4, Duration::from_secs_f64);
    if renew >= expiry {
        return Err(Failure::new(exit::USAGE, "usage", "--renew must be shorter than --expiry"));
    }
    // Signals arrive on a pipe, so that waiting for the next renewal and
    // for a signal is one poll.
    let (stop_read, stop_write) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| Failure::new(exit::SOFTWARE, "internal", format!("socketpair: {e}")))?;
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let write = stop_write
            .try_clone()
            .map_err(|e| Failure::new(exit::SOFTWARE, "internal", format!("socketpair: {e}")))?;
        signal_hook::low_level::pipe::register(signal, write)
            .map_err(|e| Failure::new(exit::SOFTWARE, "internal", format!("signals: {e}")))?;
    }
    let mut client = Client::connect_default().map_err(|e| Failure::client(&e))?;
    let reply = client.watchdog_register(&args.name, expiry).map_err(|e| Failure::client(&e))?;
    print(&format!(
        "{} registered with the watchdog: renewing every {:.1} s; if a renewal is {} s late \
         this host is reset within {} s; SIGTERM or Ctrl-C unregisters\n",
        reply.name,
        renew.as_secs_f64(),
        args.expiry,
        reply.fire_timeout_s
    ))?;
    let mut next = OsClock.now() + renew;
    loop {
        let mut fds = [PollFd::new(stop_read.as_fd(), PollFlags::POLLIN)];
        let left = next.saturating_since(OsClock.now()).as_millis();
        let wait = PollTimeout::try_from(i32::try_from(left).unwrap_or(i32::MAX))
            .unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, wait) {
            Ok(n) if n > 0 => break,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Failure::new(exit::SOFTWARE, "internal", format!("poll: {e}"))),
        }
        if OsClock.now() < next {
            continue; // woken early: wait out the rest
        }
        next = OsClock.now() + renew;
        client.watchdog_renew(expiry).map_err(|e| {
            let mut failure = Failure::client(&e);
            failure.message = format!(
                "renewing failed ({}): the registration stands, and this host will be reset \
                 when it expires",
                failure.message
            );
            failure
        })?;
    }
    let reply = client.watchdog_unregister().map_err(|e| Failure::client(&e))?;
    print(&format!("{} unregistered from the watchdog\n", reply.name))?;
    Ok(exit::OK)
}
