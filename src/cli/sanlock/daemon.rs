//! `sanlock daemon [options]`: leased, configured from sanlock's options.
//!
//! | sanlock option | leased |
//! |---|---|
//! | run dir `$SANLOCK_RUN_DIR` or `/run/sanlock` | `run_dir` and `sanlock_run_dir`; `state_dir` too when the variable is set (a test's directory), else `/var/lib/leased` (`$LEASED_STATE_DIR`) so that the boot record outlives a reboot |
//! | `-w 0` / `-w 1` | `watchdog = "none"` / `"auto"` |
//! | `-e NAME` | `host_name` |
//! | `-G GROUP` | `socket_group` |
//! | `-g SECONDS` | `kill_grace` |
//! | `-t N` | `max_worker_threads`, reported by status only |
//! | `-o SECONDS` | leased's default io_timeout is 10; another value is logged and ignored (clients give theirs to add_lockspace) |
//! | `-l -h -U -Q -R -H -b -L -S` | accepted, logged as ignored |
//!
//! Without `-D` the daemon forks into the background as sanlock does: the
//! parent exits 0 once the daemon is ready (it reports readiness the
//! systemd way, on a socket the parent listens on) or 1 if the daemon
//! exits first. Every failure to start exits 1, as sanlock's does (its
//! test suite checks this for a second instance).

use std::path::PathBuf;

use super::{FAILED, OK, Options, PROGRAM, UsageError, usage_failed};
use crate::daemon::Config;
use crate::daemon::config::{SANLOCK_DEFAULT_RUN_DIR, SANLOCK_RUN_DIR_ENV};

/// sanlock's io_timeout, which leased uses unless a client gives another.
const DEFAULT_IO_TIMEOUT_S: u32 = 10;

/// Options sanlock's daemon takes with a value.
const VALUED: &str = "wlhUGeotQRHgbLSs";

/// What `sanlock daemon ARGS` asks for.
#[derive(Debug)]
struct DaemonRequest {
    config: Config,
    foreground: bool,
    /// Options leased has no use for, as `-x VALUE`, for the log.
    ignored: Vec<String>,
}

/// Runs `sanlock daemon ARGS`.
pub fn run(args: &[String]) -> u8 {
    let request = match Options::parse(args, VALUED, "D", None)
        .and_then(|options| request(&options, std::env::var_os(SANLOCK_RUN_DIR_ENV)))
    {
        Ok(request) => request,
        Err(err) => return usage_failed(&err),
    };
    if let Err(err) = request.config.validate() {
        eprintln!("{PROGRAM}: {err}");
        return FAILED;
    }
    if !request.foreground {
        match background::fork() {
            Ok(background::Side::Daemon) => {}
            Ok(background::Side::Parent(code)) => return code,
            Err(err) => {
                eprintln!("{PROGRAM}: cannot start in the background: {err}");
                return FAILED;
            }
        }
    }
    crate::daemon::prepare_process();
    if !request.ignored.is_empty() {
        tracing::debug!(options = ?request.ignored, "sanlock options leased has no use for: ignored");
    }
    match crate::daemon::run(request.config) {
        Ok(()) => OK,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("{PROGRAM}: {err}");
            FAILED
        }
    }
}

/// Builds the configuration from the options and `$SANLOCK_RUN_DIR`.
fn request(
    options: &Options,
    run_dir_env: Option<std::ffi::OsString>,
) -> Result<DaemonRequest, UsageError> {
    let run_dir_env = run_dir_env.filter(|dir| !dir.is_empty()).map(PathBuf::from);
    let run_dir = run_dir_env.clone().unwrap_or_else(|| PathBuf::from(SANLOCK_DEFAULT_RUN_DIR));
    let mut config = Config {
        // /run/sanlock is emptied at boot; the state directory must not be.
        state_dir: Some(run_dir_env.unwrap_or_else(|| {
            crate::host::default_state_dir(std::path::Path::new(crate::client::DEFAULT_RUN_DIR))
        })),
        sanlock_run_dir: Some(run_dir.clone()),
        run_dir,
        sanlock_protocol: true,
        ..Config::default()
    };
    if let Some(watchdog) = options.switch('w')? {
        config.watchdog = if watchdog { "auto" } else { "none" }.to_owned();
    }
    if let Some(name) = options.get('e') {
        config.host_name = Some(name.to_owned());
    }
    if let Some(group) = options.get('G') {
        config.socket_group = Some(group.to_owned());
    }
    if let Some(grace) = options.number('g', "a number of seconds")? {
        config.kill_grace = grace;
    }
    config.max_worker_threads = options.number('t', "a number of threads")?;
    let mut ignored = Vec::new();
    if let Some(io_timeout) = options.number::<u32>('o', "a number of seconds")?
        && io_timeout != DEFAULT_IO_TIMEOUT_S
    {
        ignored.push(format!("-o {io_timeout}"));
    }
    for (letter, value) in &options.pairs {
        if "lhUQRHbLSs".contains(*letter) {
            ignored.push(format!("-{letter} {value}"));
        }
    }
    Ok(DaemonRequest { config, foreground: options.has('D'), ignored })
}

/// Forking into the background and waiting for the daemon to be ready.
mod background {
    use std::io;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixDatagram;

    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::unistd::{ForkResult, setsid};

    use super::{FAILED, OK};

    /// Which process returned from [`fork`].
    pub enum Side {
        /// The daemon: go on and run it.
        Daemon,
        /// The parent, with the status to exit with.
        Parent(u8),
    }

    /// Forks; the child becomes a session leader with its stdio on
    /// /dev/null (stderr too, so that a caller reading our output is not
    /// held open by the daemon: run with `-D` to see the log), and tells
    /// the parent when it is ready through `NOTIFY_SOCKET`, where leased
    /// reports readiness as for systemd.
    pub fn fork() -> io::Result<Side> {
        // A socket in a private directory: the notify protocol of
        // sd-notify takes a path.
        let dir = tempfile::Builder::new().prefix("leased-sanlock-").tempdir()?;
        let path = dir.path().join("ready");
        let ready = UnixDatagram::bind(&path)?;
        // SAFETY: called before this process starts any thread, so the
        // child is a full copy with nothing half-held.
        match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
            ForkResult::Child => {
                // The parent removes the directory once it has its answer.
                std::mem::forget(dir);
                drop(ready);
                setsid().map_err(io::Error::from)?;
                // SAFETY: still single-threaded: nothing reads the
                // environment concurrently.
                unsafe { std::env::set_var("NOTIFY_SOCKET", &path) };
                detach_stdio()?;
                Ok(Side::Daemon)
            }
            ForkResult::Parent { child } => {
                let code = wait_ready(&ready, child);
                drop(dir);
                Ok(Side::Parent(code))
            }
        }
    }

    fn detach_stdio() -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
        // Under systemd stderr is the journal: keep it.
        let keep_stderr = std::env::var_os("JOURNAL_STREAM").is_some();
        for fd in [0, 1, 2] {
            if fd == 2 && keep_stderr {
                continue;
            }
            // SAFETY: dup2 onto the standard descriptors, which this
            // process owns.
            if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Waits until the daemon says READY=1 (exit 0) or exits (exit 1).
    fn wait_ready(ready: &UnixDatagram, child: nix::unistd::Pid) -> u8 {
        let Ok(raw_pid) = u32::try_from(child.as_raw()) else { return FAILED };
        let pidfd = match crate::pidfd::open(raw_pid) {
            Ok(fd) => fd,
            Err(err) => {
                eprintln!("sanlock: cannot watch the daemon: {err}");
                return FAILED;
            }
        };
        let mut buf = [0u8; 512];
        loop {
            let mut fds = [
                PollFd::new(ready.as_fd(), PollFlags::POLLIN),
                PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return FAILED,
            }
            let readable = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            if readable(&fds[0]) {
                let len = ready.recv(&mut buf).unwrap_or(0);
                let message = buf.get(..len).unwrap_or_default();
                if message.split(|&b| b == b'\n').any(|line| line == b"READY=1") {
                    return OK;
                }
            } else if readable(&fds[1]) {
                return FAILED;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: Option<&str>) -> DaemonRequest {
        let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
        let options = Options::parse(&args, VALUED, "D", None).unwrap();
        request(&options, env.map(Into::into)).unwrap()
    }

    #[test]
    fn the_test_suites_options() {
        let r = parse(
            &["-D", "-w", "0", "-l", "0", "-h", "0", "-U", "me", "-G", "root"],
            Some("/tmp/sanlock"),
        );
        assert!(r.foreground);
        assert_eq!(r.config.watchdog, "none");
        assert_eq!(r.config.run_dir, PathBuf::from("/tmp/sanlock"));
        assert_eq!(r.config.state_dir, Some(PathBuf::from("/tmp/sanlock")));
        assert_eq!(r.config.sanlock_run_dir, Some(PathBuf::from("/tmp/sanlock")));
        assert!(r.config.sanlock_protocol);
        assert_eq!(r.config.socket_group.as_deref(), Some("root"));
        assert_eq!(r.ignored, ["-l 0", "-h 0", "-U me"]);
    }

    #[test]
    fn defaults_and_settings() {
        let r = parse(&["-w", "1", "-e", "node-a", "-t", "50", "-g", "20", "-o", "10"], None);
        assert!(!r.foreground);
        assert_eq!(r.config.watchdog, "auto");
        assert_eq!(r.config.run_dir, PathBuf::from("/run/sanlock"));
        assert_ne!(r.config.state_dir, Some(PathBuf::from("/run/sanlock")));
        assert_eq!(r.config.host_name.as_deref(), Some("node-a"));
        assert_eq!(r.config.max_worker_threads, Some(50));
        assert_eq!(r.config.kill_grace, 20);
        assert!(r.ignored.is_empty(), "-o 10 is leased's own default");
        assert_eq!(parse(&["-o", "1"], None).ignored, ["-o 1"]);
    }

    #[test]
    fn bad_values_are_refused() {
        let options = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
            Options::parse(&args, VALUED, "D", None).and_then(|o| request(&o, None))
        };
        assert!(matches!(options(&["-w", "2"]), Err(UsageError::Bad { option: 'w', .. })));
        assert!(matches!(options(&["-t", "many"]), Err(UsageError::Bad { option: 't', .. })));
        assert!(matches!(options(&["-x", "1"]), Err(UsageError::Unknown('x'))));
    }
}
