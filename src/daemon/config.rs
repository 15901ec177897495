//! `leased` configuration: /etc/leased/leased.conf (TOML), overridden by the
//! command line. Everything is validated before the daemon touches a disk.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde::{Deserialize, Serialize};

use super::recovery::Fencing;
use crate::api::DEFAULT_MAX_FRAME;
use crate::ondisk::name::Name;
use crate::spec::LockspaceSpec;
use crate::watchdog::DeviceSpec;

/// The configuration file read when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/leased/leased.conf";

/// The effective configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory of the socket and the pid lock.
    pub run_dir: PathBuf,
    /// Directory of what must survive a reboot: the boot record and the
    /// generated host name [default: see [`crate::host::default_state_dir`]].
    pub state_dir: Option<PathBuf>,
    /// This host's name in every lockspace [default: generated once and
    /// kept in the state directory].
    pub host_name: Option<String>,
    /// Seconds the watchdog takes to fire after its last keepalive (F).
    /// Other hosts wait 8 io_timeouts plus F before taking this host's
    /// leases: it must be the same on every host.
    pub watchdog_fire_timeout: u64,
    /// The watchdog device: auto, none, file:PATH or a device path.
    pub watchdog: String,
    /// How holders of leases in a failed lockspace are stopped.
    pub fencing: Fencing,
    /// Program (and arguments) run first to stop a holder; its pid is
    /// appended.
    pub killpath: Vec<String>,
    /// Seconds lease holders get before SIGKILL when their lockspace fails.
    pub kill_grace: u64,
    /// Group whose members may use the socket, besides root.
    pub socket_group: Option<String>,
    /// Most client connections at once.
    pub max_clients: usize,
    /// Largest request frame, in bytes.
    pub max_frame: usize,
    /// Most leases one process may hold.
    pub max_leases_per_client: usize,
    /// Most resources in one acquire or release.
    pub max_resources_per_request: usize,
    /// Seconds a name's lease must stand free before the name is removed
    /// from its index; 0 for never.
    pub collect_idle_names: u64,
    /// Lockspaces to join at start, as NAME:HOST_ID:PATH:OFFSET.
    pub lockspaces: Vec<String>,
    /// Serve sanlock's client protocol too.
    pub sanlock_protocol: bool,
    /// Directory of sanlock's socket and pid file [default: see
    /// [`Config::sanlock_run_dir`]].
    pub sanlock_run_dir: Option<PathBuf>,
    /// What sanlock's status reports as max_worker_threads (its `-t`):
    /// leased's workers are not sized by it.
    pub max_worker_threads: Option<u32>,
    /// wdmd's socket, served for sanlock: unset for the default (see
    /// [`WdmdSocket`]), empty for none, or a path.
    pub wdmd_socket: Option<String>,
}

/// Whether and where leased serves wdmd's protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WdmdSocket {
    /// Not served.
    Off,
    /// The default: served at [`crate::wdmd::SOCKET`] when leased holds a
    /// real watchdog device and can take wdmd's place; otherwise not, with
    /// a warning.
    Auto(PathBuf),
    /// Served at this path; leased does not start if it cannot.
    On(PathBuf),
}

impl Default for Config {
    fn default() -> Config {
        Config {
            run_dir: crate::client::run_dir(),
            state_dir: None,
            host_name: None,
            watchdog_fire_timeout: 60,
            watchdog: "auto".to_owned(),
            fencing: Fencing::Terminate,
            killpath: Vec::new(),
            kill_grace: 40,
            socket_group: None,
            max_clients: 1000,
            max_frame: DEFAULT_MAX_FRAME,
            max_leases_per_client: 4096,
            max_resources_per_request: 64,
            collect_idle_names: 0,
            lockspaces: Vec::new(),
            sanlock_protocol: true,
            sanlock_run_dir: None,
            max_worker_threads: None,
            wdmd_socket: None,
        }
    }
}

/// The environment variable sanlock and its clients take their run
/// directory from.
pub const SANLOCK_RUN_DIR_ENV: &str = "SANLOCK_RUN_DIR";
/// sanlock's run directory when that variable is unset.
pub const SANLOCK_DEFAULT_RUN_DIR: &str = "/run/sanlock";

/// One documented setting of leased.conf: name, default, meaning. The
/// leased.conf(5) man page is written from this table, and a test keeps it
/// in step with [`Config`].
pub struct ConfigKey {
    pub name: &'static str,
    pub default: &'static str,
    pub text: &'static str,
}

/// Every setting, in the order leased.conf(5) lists them.
pub const KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "run_dir",
        default: "\"/run/leased\" ($LEASED_RUN_DIR if set)",
        text: "Directory of the socket (leased.sock) and the pid lock (leased.pid). One leased \
               runs per run directory.",
    },
    ConfigKey {
        name: "state_dir",
        default: "\"/var/lib/leased\" ($LEASED_STATE_DIR if set; RUN_DIR/state for a run_dir \
                  other than /run/leased)",
        text: "Directory of what must survive a reboot: the boot record (leased.state: the \
               kernel's boot id of the last start, whether that daemon left its watchdog \
               armed, and the host_id and generation each lockspace was last joined with) and \
               the generated host name (host-name). It must not be emptied at boot (never \
               under /run): only the boot record tells a restart after a reboot, whose \
               host_ids may be taken back at once (when their sector still shows the \
               generation recorded), from one after a crash, which must wait. One leased \
               runs per state directory.",
    },
    ConfigKey {
        name: "host_name",
        default: "generated once and kept in STATE_DIR/host-name",
        text: "This host's name in every lockspace, up to 48 bytes. It must be unique among the \
               hosts sharing a lockspace and the same at every start of this host: after a \
               reboot, a host_id last held under this name is taken back at once if its \
               sector shows the generation this host last joined with. Unset, \
               leased generates a random UUID followed by a dot and the hostname (cut to 48 \
               bytes) at its first start and keeps it in the state directory; /etc/machine-id \
               is not used, as clones of one image share it. Copying the state directory to \
               another host copies the name: remove host-name from a copy.",
    },
    ConfigKey {
        name: "watchdog_fire_timeout",
        default: "60",
        text: "Seconds the watchdog takes to fire after its last keepalive (F). Other hosts wait \
               8 io_timeouts plus F after a host's last renewal before taking its leases, so F \
               must be the same on every host of a lockspace.",
    },
    ConfigKey {
        name: "watchdog",
        default: "\"auto\"",
        text: "The watchdog device leased keeps alive while every lockspace renews in time: \
               \"auto\" (the first of /dev/watchdog0, /dev/watchdog1, /dev/watchdog), a device \
               path, \"file:PATH\" (a test device that appends each keepalive to PATH and \
               never resets anything), or \"none\". leased refuses to start if the device \
               is missing or does not take watchdog_fire_timeout. With \"none\" or a test \
               device a host that hangs, or whose lease holders cannot be stopped, is never \
               reset, so other hosts may take its leases while it still writes: for testing \
               only.",
    },
    ConfigKey {
        name: "fencing",
        default: "\"terminate\"",
        text: "What happens to the processes holding leases in a lockspace whose host_id \
               lease failed (no renewal for 8 io_timeouts, or its sector corrupted or taken). \
               \"terminate\": run the killpath (if set), SIGTERM at half the kill_grace (at \
               once without a killpath), SIGKILL at the kill_grace; risk: a holder gets up to \
               kill_grace seconds to finish, and if it has not exited when the watchdog \
               fires, the host is reset. \"kill\": SIGKILL at once; risk: holders lose what \
               they had not written. \"reset\": signal nothing and let the watchdog reset \
               the host; risk: everything on the host stops, including work that held no \
               lease. Under every policy the lockspace is stopped without a reset once all \
               its holders are gone and none of its writes is still in flight.",
    },
    ConfigKey {
        name: "killpath",
        default: "[]",
        text: "A program and its arguments, run once for each holder when fencing is \
               \"terminate\", with the holder's pid appended and LEASE_LOCKSPACE and LEASE_PID \
               in its environment: for holders that must be stopped some other way than by a \
               signal (a VM paused through its manager, say). It must be an absolute path.",
    },
    ConfigKey {
        name: "kill_grace",
        default: "40",
        text: "Seconds from the failure of a lockspace until its lease holders still running \
               are sent SIGKILL (fencing \"terminate\"). Keep it below watchdog_fire_timeout \
               (the watchdog resets the host from F less the lockspace's io_timeout, at most \
               wdmd's test interval of 10 s, after a lockspace's expiry), \
               or the watchdog resets the host before SIGKILL is sent.",
    },
    ConfigKey {
        name: "socket_group",
        default: "none",
        text: "A group whose members may use the socket besides root. The socket is made \
               0660 and owned by this group; leased also checks each client's credentials.",
    },
    ConfigKey {
        name: "max_clients",
        default: "1000",
        text: "Most client connections at once; one more is answered with a limit error and \
               closed.",
    },
    ConfigKey {
        name: "max_frame",
        default: "65536",
        text: "Largest request frame in bytes; a larger one is answered with an error and its \
               connection closed.",
    },
    ConfigKey {
        name: "max_leases_per_client",
        default: "4096",
        text: "Most leases one process may hold.",
    },
    ConfigKey {
        name: "max_resources_per_request",
        default: "64",
        text: "Most resources in one acquire or release.",
    },
    ConfigKey {
        name: "collect_idle_names",
        default: "0",
        text: "Seconds a name's lease must stand free, as every reading of it shows, before \
               the name is removed from its lockspace's name index (as lease index delete \
               removes it); 0 never removes any. Groups are kept; the leases of members that \
               left and of leaders that stood down go. For sets of names made per volume or \
               per request, which would otherwise fill the device.",
    },
    ConfigKey {
        name: "lockspaces",
        default: "[]",
        text: "Lockspaces to join at start, each as \"NAME:HOST_ID:PATH:OFFSET\".",
    },
    ConfigKey {
        name: "sanlock_protocol",
        default: "true",
        text: "Also serve sanlock 3.8's client protocol on SANLOCK_RUN_DIR/sanlock.sock, so \
               that programs written for sanlock (libvirt, lvmlockd, vdsm, python3-sanlock, \
               the sanlock command) use leased unchanged, and hold sanlock.pid there under \
               an fcntl lock as sanlock does. If another daemon (a real sanlock) holds that \
               lock, leased logs it and serves only its own socket.",
    },
    ConfigKey {
        name: "sanlock_run_dir",
        default: "$SANLOCK_RUN_DIR if set; else \"/run/sanlock\" when run_dir is /run/leased, \
                  and run_dir itself otherwise",
        text: "Directory of sanlock's socket (sanlock.sock) and pid file (sanlock.pid). A \
               leased with a run directory of its own (a test, or several hosts on one \
               machine) serves sanlock's protocol there, beside leased.sock.",
    },
    ConfigKey {
        name: "max_worker_threads",
        default: "none (reported as 8)",
        text: "What sanlock's status reports as max_worker_threads, for tools that check it \
               (vdsm); sanlock's -t sets it. leased's own threads are not sized by it.",
    },
    ConfigKey {
        name: "wdmd_socket",
        default: "\"/run/wdmd/wdmd.sock\" with a watchdog device, none with \"none\" or \
                  \"file:PATH\"",
        text: "Where leased serves the protocol of sanlock's watchdog multiplexer (wdmd), so \
               that sanlock (run with its watchdog on, -w 1) shares leased's watchdog device \
               in wdmd's place: each sanlock lockspace becomes one more watchdog client (see \
               WDMD in leased(8)). sanlock connects only to /run/wdmd/wdmd.sock. Unset, \
               leased serves that path when it holds a real watchdog device, and goes on \
               without it (with a warning) if the directory is not writable or a wdmd runs. \
               A path is served whatever the device, and leased does not start if it cannot \
               take it; \"\" turns the socket off. leased also holds wdmd.pid beside the \
               socket (locked, as wdmd does) and, at /run/wdmd/wdmd.sock, the marker \
               /dev/shm/wdmd, so that \"wdmd --probe\" and packaging scripts see a wdmd \
               running.",
    },
];

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}", path = path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}", path = path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// `leased`: the lease daemon.
#[derive(Debug, Parser)]
#[command(
    name = "leased",
    version,
    about = "The lease daemon: holds host_ids and resource leases on shared storage",
    long_about = "leased joins lockspaces on shared storage, renews this host's host_id lease \
                  in each, and acquires and releases resource leases for local processes over \
                  a Unix socket (the lease command and the client library speak to it). A \
                  lease belongs to a process and is released when it exits. leased runs in the \
                  foreground, logs to stderr, and tells systemd when it is ready.\n\n\
                  On SIGTERM it releases every lease and host_id and exits, unless a lease is \
                  still held by a running process: then it refuses and keeps running, and a \
                  second SIGTERM within 60 seconds kills (SIGKILL) those processes and releases \
                  everything."
)]
pub struct LeasedArgs {
    /// Configuration file (TOML)
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Run directory: socket, pid lock [default: $LEASED_RUN_DIR or /run/leased]
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// State directory, kept across reboots: boot record, host name [default:
    /// $LEASED_STATE_DIR, or /var/lib/leased]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// This host's name in lockspaces [default: generated once, kept in the state directory]
    #[arg(long, value_name = "NAME")]
    pub host_name: Option<String>,
    /// Seconds the watchdog takes to fire (F); the same on every host [default: 60]
    #[arg(long, value_name = "SECONDS")]
    pub watchdog_fire_timeout: Option<u64>,
    /// Watchdog device: auto, none, file:PATH or a device path [default: auto]
    #[arg(long, value_name = "DEVICE")]
    pub watchdog: Option<String>,
    /// How holders of a failed lockspace's leases are stopped [default: terminate]
    #[arg(long, value_enum, value_name = "POLICY")]
    pub fencing: Option<Fencing>,
    /// Seconds until holders of a failed lockspace's leases get SIGKILL [default: 40]
    #[arg(long, value_name = "SECONDS")]
    pub kill_grace: Option<u64>,
    /// Group allowed to use the socket besides root
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// Most client connections at once [default: 1000]
    #[arg(long, value_name = "N")]
    pub max_clients: Option<usize>,
    /// Remove names whose leases stood free this long from name indexes (0: never)
    /// [default: 0]
    #[arg(long, value_name = "SECONDS")]
    pub collect_idle_names: Option<u64>,
    /// wdmd's socket, served for sanlock ("" for none) [default: /run/wdmd/wdmd.sock with a
    /// watchdog device]
    #[arg(long, value_name = "PATH")]
    pub wdmd_socket: Option<String>,
    /// Lockspace to join at start, as NAME:HOST_ID:PATH:OFFSET (repeatable)
    #[arg(long = "lockspace", value_name = "LOCKSPACE")]
    pub lockspaces: Vec<String>,
    /// Print the effective configuration and exit
    #[arg(long)]
    pub print_config: bool,
}

impl Config {
    /// Where sanlock's socket and pid file go, if its protocol is served.
    pub fn sanlock_run_dir(&self) -> Option<PathBuf> {
        if !self.sanlock_protocol {
            return None;
        }
        if let Some(dir) = &self.sanlock_run_dir {
            return Some(dir.clone());
        }
        if let Some(dir) = std::env::var_os(SANLOCK_RUN_DIR_ENV).filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        if self.run_dir == Path::new(crate::client::DEFAULT_RUN_DIR) {
            Some(PathBuf::from(SANLOCK_DEFAULT_RUN_DIR))
        } else {
            Some(self.run_dir.clone())
        }
    }

    /// The file's settings (defaults if the default file is absent), then
    /// the command line's.
    pub fn load(args: &LeasedArgs) -> Result<Config, ConfigError> {
        let mut config = match std::fs::read_to_string(&args.config) {
            Ok(text) => toml::from_str::<Config>(&text).map_err(|err| ConfigError::Parse {
                path: args.config.clone(),
                message: err.to_string(),
            })?,
            Err(err)
                if err.kind() == std::io::ErrorKind::NotFound
                    && args.config == Path::new(DEFAULT_CONFIG) =>
            {
                Config::default()
            }
            Err(source) => return Err(ConfigError::Read { path: args.config.clone(), source }),
        };
        if let Some(dir) = &args.run_dir {
            config.run_dir = dir.clone();
        }
        if args.state_dir.is_some() {
            config.state_dir = args.state_dir.clone();
        }
        if args.host_name.is_some() {
            config.host_name = args.host_name.clone();
        }
        if let Some(fire) = args.watchdog_fire_timeout {
            config.watchdog_fire_timeout = fire;
        }
        if let Some(watchdog) = &args.watchdog {
            config.watchdog.clone_from(watchdog);
        }
        if let Some(fencing) = args.fencing {
            config.fencing = fencing;
        }
        if let Some(grace) = args.kill_grace {
            config.kill_grace = grace;
        }
        if args.socket_group.is_some() {
            config.socket_group = args.socket_group.clone();
        }
        if let Some(max) = args.max_clients {
            config.max_clients = max;
        }
        if let Some(idle) = args.collect_idle_names {
            config.collect_idle_names = idle;
        }
        if args.wdmd_socket.is_some() {
            config.wdmd_socket = args.wdmd_socket.clone();
        }
        config.lockspaces.extend(args.lockspaces.iter().cloned());
        config.validate()?;
        Ok(config)
    }

    /// Checks every value that can be checked without touching a disk.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if let Some(name) = &self.host_name {
            Name::new(name).map_err(|e| ConfigError::Invalid(format!("host_name: {e}")))?;
        }
        if !(1..=3600).contains(&self.watchdog_fire_timeout) {
            return invalid(format!(
                "watchdog_fire_timeout {} is out of range (1 to 3600 seconds)",
                self.watchdog_fire_timeout
            ));
        }
        if self.kill_grace > 3600 {
            return invalid(format!("kill_grace {} is over 3600 seconds", self.kill_grace));
        }
        self.watchdog_device()?;
        if let Some(program) = self.killpath.first()
            && !Path::new(program).is_absolute()
        {
            return invalid(format!("killpath: '{program}' is not an absolute path"));
        }
        if self.max_clients == 0 || self.max_frame < 1024 || self.max_leases_per_client == 0 {
            return invalid(
                "max_clients and max_leases_per_client must be positive, max_frame at least 1024"
                    .into(),
            );
        }
        if self.max_resources_per_request == 0 {
            return invalid("max_resources_per_request must be positive".into());
        }
        for spec in &self.lockspaces {
            LockspaceSpec::parse(spec)
                .map_err(|e| ConfigError::Invalid(format!("lockspaces: {e}")))?;
        }
        if let Some(group) = &self.socket_group {
            group_id(group)?;
        }
        self.wdmd_socket()?;
        Ok(())
    }
}

impl Config {
    /// The state directory: `state_dir`, else the default for `run_dir`.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(|| crate::host::default_state_dir(&self.run_dir))
    }

    /// Whether and where to serve wdmd's protocol.
    pub fn wdmd_socket(&self) -> Result<WdmdSocket, ConfigError> {
        let Some(path) = &self.wdmd_socket else {
            let device = self.watchdog_device()?;
            let real = matches!(device, DeviceSpec::Auto | DeviceSpec::Linux(_));
            return Ok(if real {
                WdmdSocket::Auto(PathBuf::from(crate::wdmd::SOCKET))
            } else {
                WdmdSocket::Off
            });
        };
        if path.is_empty() {
            return Ok(WdmdSocket::Off);
        }
        // sockaddr_un's sun_path holds 108 bytes with the NUL.
        if !Path::new(path).is_absolute() || path.len() > 107 {
            return Err(ConfigError::Invalid(format!(
                "wdmd_socket '{path}': an absolute path of at most 107 bytes, or \"\" for none"
            )));
        }
        Ok(WdmdSocket::On(PathBuf::from(path)))
    }

    /// The watchdog device named by `watchdog`.
    pub fn watchdog_device(&self) -> Result<DeviceSpec, ConfigError> {
        DeviceSpec::parse(&self.watchdog).map_err(ConfigError::Invalid)
    }
}

/// The gid of `group`.
pub fn group_id(group: &str) -> Result<u32, ConfigError> {
    match nix::unistd::Group::from_name(group) {
        Ok(Some(entry)) => Ok(entry.gid.as_raw()),
        Ok(None) => Err(ConfigError::Invalid(format!("socket_group: no group named '{group}'"))),
        Err(err) => Err(ConfigError::Invalid(format!("socket_group '{group}': {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> LeasedArgs {
        let mut argv = vec!["leased"];
        argv.extend_from_slice(extra);
        LeasedArgs::parse_from(argv)
    }

    #[test]
    fn file_then_command_line() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let file = dir.path().join("leased.conf");
        std::fs::write(
            &file,
            "host_name = \"node-a\"\nkill_grace = 5\nlockspaces = [\"a:1:/x:0\"]\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let config = Config::load(&args(&[
            "--config",
            path,
            "--kill-grace",
            "7",
            "--lockspace",
            "b:2:/y:0",
        ]))
        .unwrap();
        assert_eq!(config.host_name.as_deref(), Some("node-a"));
        assert_eq!(config.kill_grace, 7);
        assert_eq!(config.lockspaces, ["a:1:/x:0", "b:2:/y:0"]);
        assert_eq!(config.watchdog_fire_timeout, 60);
    }

    #[test]
    fn the_wdmd_socket_is_served_by_default_only_with_a_real_device() {
        let auto = WdmdSocket::Auto(PathBuf::from(crate::wdmd::SOCKET));
        let with = |watchdog: &str, socket: Option<&str>| {
            let config = Config {
                watchdog: watchdog.to_owned(),
                wdmd_socket: socket.map(str::to_owned),
                ..Config::default()
            };
            config.wdmd_socket().unwrap()
        };
        assert_eq!(with("auto", None), auto);
        assert_eq!(with("/dev/watchdog1", None), auto);
        assert_eq!(with("file:/x/pets", None), WdmdSocket::Off);
        assert_eq!(with("none", None), WdmdSocket::Off);
        assert_eq!(with("auto", Some("")), WdmdSocket::Off);
        let path = "/run/t/wdmd.sock";
        assert_eq!(with("file:/x/pets", Some(path)), WdmdSocket::On(PathBuf::from(path)));
    }

    #[test]
    fn every_setting_is_documented_and_every_documented_one_exists() {
        let value = serde_json::to_value(Config::default()).unwrap();
        let mut fields: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let mut documented: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        fields.sort_unstable();
        documented.sort_unstable();
        assert_eq!(fields, documented);
        // A default written as a TOML value is the real one; these are
        // described in words instead.
        let in_words = [
            "run_dir",
            "state_dir",
            "host_name",
            "socket_group",
            "sanlock_run_dir",
            "max_worker_threads",
            "wdmd_socket",
        ];
        for key in KEYS {
            match toml::from_str::<toml::Table>(&format!("v = {}", key.default)) {
                Ok(table) => {
                    let documented = serde_json::to_value(&table["v"]).unwrap();
                    assert_eq!(
                        documented, value[key.name],
                        "the documented default of {}",
                        key.name
                    );
                    assert!(!in_words.contains(&key.name), "{} has a TOML default", key.name);
                }
                Err(_) => assert!(in_words.contains(&key.name), "{}: {}", key.name, key.default),
            }
        }
    }

    #[test]
    fn bad_settings_are_refused_with_their_name() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let file = dir.path().join("leased.conf");
        let load = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Config::load(&args(&["--config", file.to_str().unwrap()])).unwrap_err().to_string()
        };
        assert!(load("kill_grce = 5\n").contains("unknown field"));
        assert!(load("watchdog_fire_timeout = 0\n").contains("watchdog_fire_timeout 0"));
        assert!(load("lockspaces = [\"a:1:/x\"]\n").contains("missing field <offset>"));
        assert!(load(&format!("host_name = \"{}\"\n", "h".repeat(49))).contains("host_name"));
        assert!(load("socket_group = \"no-such-group-here\"\n").contains("no group named"));
        assert!(load("watchdog = \"watchdog0\"\n").contains("expected auto, none"));
        assert!(load("fencing = \"gentle\"\n").contains("unknown variant"));
        assert!(load("killpath = [\"stop-vm\"]\n").contains("not an absolute path"));
        assert!(load("wdmd_socket = \"wdmd.sock\"\n").contains("wdmd_socket 'wdmd.sock'"));
        let missing = Config::load(&args(&["--config", "/nonexistent/leased.conf"])).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/leased.conf"));
    }
}
