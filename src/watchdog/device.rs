//! Watchdog devices: the Linux device, a test device that records its
//! keepalives, and none.
//!
//! Opening a device arms it: from then on the host is reset unless the
//! device is kept alive at least once every fire timeout. A device dropped
//! without [`Device::disarm`] stays armed: that is what happens when the
//! process holding it dies, and it is the point.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock::{Clock, MonoTime, OsClock};

/// The devices tried, in order, when none is named (as wdmd does).
pub const AUTO_PATHS: [&str; 3] = ["/dev/watchdog0", "/dev/watchdog1", "/dev/watchdog"];

/// Which device to use, as written in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The first of [`AUTO_PATHS`] that exists.
    Auto,
    /// A Linux watchdog device.
    Linux(PathBuf),
    /// The test device: keepalives are appended to this file.
    File(PathBuf),
    /// No device: the host is never reset. Unsafe.
    None,
}

impl DeviceSpec {
    /// `auto`, `none`, `file:PATH` or an absolute device path.
    pub fn parse(text: &str) -> Result<DeviceSpec, String> {
        match text {
            "auto" => Ok(DeviceSpec::Auto),
            "none" => Ok(DeviceSpec::None),
            _ => {
                if let Some(path) = text.strip_prefix("file:") {
                    if !Path::new(path).is_absolute() {
                        return Err(format!(
                            "watchdog '{text}': the file must be an absolute path"
                        ));
                    }
                    Ok(DeviceSpec::File(PathBuf::from(path)))
                } else if Path::new(text).is_absolute() {
                    Ok(DeviceSpec::Linux(PathBuf::from(text)))
                } else {
                    Err(format!(
                        "watchdog '{text}': expected auto, none, file:PATH or a device path such \
                         as /dev/watchdog0"
                    ))
                }
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Linux(path) => write!(f, "{}", path.display()),
            DeviceSpec::File(path) => write!(f, "file:{}", path.display()),
            DeviceSpec::None => f.write_str("none"),
        }
    }
}

/// Why a device cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    #[error(
        "no watchdog device ({tried} do not exist): load a watchdog driver, name the device \
         with watchdog = PATH, or set watchdog = \"none\", which never resets this host and so \
         cannot keep other hosts safe from it"
    )]
    NoDevice { tried: String },
    #[error("{path}: not a character device, so not a watchdog", path = path.display())]
    NotADevice { path: PathBuf },
    #[error("{path}: {source}", path = path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: {op} failed: {source}", path = path.display())]
    Ioctl { path: PathBuf, op: &'static str, source: nix::Error },
    #[error(
        "{path}: asked for a fire timeout of {wanted} s, the device keeps {got} s; leased \
         will not run with a watchdog that fires at another time than its peers assume",
        path = path.display()
    )]
    Timeout { path: PathBuf, wanted: u64, got: i32 },
}

/// An armed watchdog.
pub trait Device: Send {
    /// Pushes the reset back by one fire timeout.
    fn keepalive(&mut self) -> io::Result<()>;
    /// Disarms and closes the device: the host will not be reset.
    fn disarm(self: Box<Self>) -> io::Result<()>;
    /// What the device is, for status and logs.
    fn describe(&self) -> String;
}

/// Opens and arms the device `spec` names, set to fire `fire_timeout`
/// after the last keepalive.
pub fn open(spec: &DeviceSpec, fire_timeout: Duration) -> Result<Box<dyn Device>, WatchdogError> {
    match spec {
        DeviceSpec::Auto => {
            let found = AUTO_PATHS.iter().map(Path::new).find(|path| path.exists());
            match found {
                Some(path) => Ok(Box::new(LinuxDevice::open(path, fire_timeout)?)),
                None => Err(WatchdogError::NoDevice { tried: AUTO_PATHS.join(", ") }),
            }
        }
        DeviceSpec::Linux(path) => Ok(Box::new(LinuxDevice::open(path, fire_timeout)?)),
        DeviceSpec::File(path) => Ok(Box::new(FileDevice::open(path, fire_timeout)?)),
        DeviceSpec::None => Ok(Box::new(NoDevice)),
    }
}

// linux/watchdog.h: every argument is an int.
nix::ioctl_read!(wdioc_keepalive, b'W', 5, libc::c_int);
nix::ioctl_readwrite!(wdioc_settimeout, b'W', 6, libc::c_int);
nix::ioctl_read!(wdioc_gettimeout, b'W', 7, libc::c_int);

/// A Linux watchdog device (/dev/watchdogN).
pub struct LinuxDevice {
    path: PathBuf,
    file: File,
}

impl LinuxDevice {
    /// Opens the device and sets its timeout, reading it back: a device
    /// that does not take the timeout asked for is refused (and disarmed).
    pub fn open(path: &Path, fire_timeout: Duration) -> Result<LinuxDevice, WatchdogError> {
        let meta = std::fs::metadata(path)
            .map_err(|source| WatchdogError::Open { path: path.to_owned(), source })?;
        // Refused before opening: a regular file would not fail until the
        // first ioctl, and a magic close would then write into it.
        if !meta.file_type().is_char_device() {
            return Err(WatchdogError::NotADevice { path: path.to_owned() });
        }
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|source| WatchdogError::Open { path: path.to_owned(), source })?;
        let device = LinuxDevice { path: path.to_owned(), file };
        match device.set_timeout(fire_timeout.as_secs()) {
            Ok(()) => Ok(device),
            Err(err) => {
                // Armed by the open: disarm before giving up.
                let _ = Box::new(device).disarm();
                Err(err)
            }
        }
    }

    fn set_timeout(&self, wanted: u64) -> Result<(), WatchdogError> {
        let fd = self.file.as_raw_fd();
        let ioctl = |op, source| WatchdogError::Ioctl { path: self.path.clone(), op, source };
        let mut current: libc::c_int = 0;
        // SAFETY: WDIOC_GETTIMEOUT writes one int through the pointer.
        unsafe { wdioc_gettimeout(fd, &raw mut current) }
            .map_err(|e| ioctl("WDIOC_GETTIMEOUT", e))?;
        if u64::try_from(current) == Ok(wanted) {
            return Ok(());
        }
        let mut asked = libc::c_int::try_from(wanted).unwrap_or(libc::c_int::MAX);
        // SAFETY: WDIOC_SETTIMEOUT reads and writes one int through the pointer.
        unsafe { wdioc_settimeout(fd, &raw mut asked) }
            .map_err(|e| ioctl("WDIOC_SETTIMEOUT", e))?;
        // SAFETY: as above.
        unsafe { wdioc_gettimeout(fd, &raw mut current) }
            .map_err(|e| ioctl("WDIOC_GETTIMEOUT", e))?;
        if u64::try_from(current) != Ok(wanted) {
            return Err(WatchdogError::Timeout { path: self.path.clone(), wanted, got: current });
        }
        Ok(())
    }
}

impl Device for LinuxDevice {
    fn keepalive(&mut self) -> io::Result<()> {
        let mut unused: libc::c_int = 0;
        // SAFETY: WDIOC_KEEPALIVE takes an int pointer it does not use.
        unsafe { wdioc_keepalive(self.file.as_raw_fd(), &raw mut unused) }
            .map(drop)
            .map_err(io::Error::from)
    }

    fn disarm(mut self: Box<Self>) -> io::Result<()> {
        // The magic close: 'V' then close. Without it, closing leaves the
        // device armed.
        self.file.write_all(b"V")
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// The test device: each arm, keepalive and disarm is appended to a file
/// as `EVENT NANOS` (`CLOCK_BOOTTIME`, the clock leased reads), the arm line with the fire timeout
/// in milliseconds. A harness reads it with [`PetLog`] and treats a gap
/// longer than the fire timeout as the reset a real device would do.
pub struct FileDevice {
    path: PathBuf,
    file: File,
}

impl FileDevice {
    pub fn open(path: &Path, fire_timeout: Duration) -> Result<FileDevice, WatchdogError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| WatchdogError::Open { path: path.to_owned(), source })?;
        let mut device = FileDevice { path: path.to_owned(), file };
        let fire_ms = fire_timeout.as_millis();
        device
            .record(&format!("arm {} {fire_ms}", OsClock.now().as_nanos()))
            .map_err(|source| WatchdogError::Open { path: path.to_owned(), source })?;
        Ok(device)
    }

    fn record(&mut self, line: &str) -> io::Result<()> {
        self.file.write_all(format!("{line}\n").as_bytes())
    }
}

impl Device for FileDevice {
    fn keepalive(&mut self) -> io::Result<()> {
        self.record(&format!("pet {}", OsClock.now().as_nanos()))
    }

    fn disarm(mut self: Box<Self>) -> io::Result<()> {
        self.record(&format!("disarm {}", OsClock.now().as_nanos()))
    }

    fn describe(&self) -> String {
        format!("file:{} (test device)", self.path.display())
    }
}

/// No device. Lease holders are still stopped when a lockspace fails, but
/// a host that hangs is never reset, so other hosts may take its leases
/// while it still writes.
pub struct NoDevice;

impl Device for NoDevice {
    fn keepalive(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn disarm(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "none (UNSAFE: this host is never reset)".to_owned()
    }
}

/// What a [`FileDevice`] recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PetLog {
    pub fire_timeout: Duration,
    pub armed: MonoTime,
    pub pets: Vec<MonoTime>,
    pub disarmed: Option<MonoTime>,
}

impl PetLog {
    /// Reads the last arming recorded in `path` and what followed it.
    pub fn read(path: &Path) -> io::Result<PetLog> {
        let text = std::fs::read_to_string(path)?;
        let bad = |line: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: bad line '{line}'", path.display()),
            )
        };
        let mut log: Option<PetLog> = None;
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let number = |i: usize| -> io::Result<u64> {
                fields.get(i).and_then(|f| f.parse().ok()).ok_or_else(|| bad(line))
            };
            let at = MonoTime::from_nanos(number(1)?);
            match (fields[0], log.as_mut()) {
                ("arm", _) => {
                    let fire_timeout = Duration::from_millis(number(2)?);
                    log =
                        Some(PetLog { fire_timeout, armed: at, pets: Vec::new(), disarmed: None });
                }
                ("pet", Some(log)) => log.pets.push(at),
                ("disarm", Some(log)) => log.disarmed = Some(at),
                _ => return Err(bad(line)),
            }
        }
        log.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: never armed", path.display()))
        })
    }

    /// The last keepalive, or the arming if there was none.
    pub fn last_pet(&self) -> MonoTime {
        self.pets.last().copied().unwrap_or(self.armed)
    }

    /// When a real device would have reset the host, judged at `now`: the
    /// first keepalive gap longer than the fire timeout.
    pub fn reset_at(&self, now: MonoTime) -> Option<MonoTime> {
        let mut previous = self.armed;
        for &pet in &self.pets {
            if pet.saturating_since(previous) > self.fire_timeout {
                return Some(previous + self.fire_timeout);
            }
            previous = pet;
        }
        let end = self.disarmed.unwrap_or(now);
        (end.saturating_since(previous) > self.fire_timeout).then(|| previous + self.fire_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for text in ["auto", "none", "file:/run/x/pets", "/dev/watchdog1"] {
            assert_eq!(DeviceSpec::parse(text).unwrap().to_string(), text);
        }
        assert!(DeviceSpec::parse("watchdog0").unwrap_err().contains("expected auto"));
        assert!(DeviceSpec::parse("file:pets").unwrap_err().contains("absolute"));
    }

    #[test]
    fn a_regular_file_is_not_taken_for_a_watchdog_and_is_left_alone() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("not-a-watchdog");
        std::fs::write(&path, b"data").unwrap();
        let err = open(&DeviceSpec::Linux(path.clone()), Duration::from_secs(60)).err().unwrap();
        assert!(matches!(err, WatchdogError::NotADevice { .. }), "{err}");
        assert!(err.to_string().contains("not-a-watchdog"));
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let missing = dir.path().join("missing");
        let err = open(&DeviceSpec::Linux(missing), Duration::from_secs(60)).err().unwrap();
        assert!(matches!(err, WatchdogError::Open { .. }), "{err}");
    }

    #[test]
    fn the_test_device_records_and_a_late_pet_reads_as_a_reset() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("pets");
        let mut device = open(&DeviceSpec::File(path.clone()), Duration::from_secs(3)).unwrap();
        device.keepalive().unwrap();
        device.keepalive().unwrap();
        let log = PetLog::read(&path).unwrap();
        assert_eq!(log.fire_timeout, Duration::from_secs(3));
        assert_eq!(log.pets.len(), 2);
        assert!(log.armed <= log.pets[0] && log.pets[0] <= log.pets[1]);
        let last = log.last_pet();
        assert_eq!(log.reset_at(last + Duration::from_secs(3)), None, "not late yet");
        let late = last + Duration::from_secs(4);
        assert_eq!(log.reset_at(late), Some(last + Duration::from_secs(3)));
        device.disarm().unwrap();
        let log = PetLog::read(&path).unwrap();
        assert!(log.disarmed.is_some());
        assert_eq!(log.reset_at(late), None, "disarmed in time: no reset");

        // A gap in the middle counts even if keepalives came later.
        let gap = "arm 1000000000 2000\npet 2000000000\npet 5000000000\npet 5500000000\n";
        std::fs::write(&path, gap).unwrap();
        let log = PetLog::read(&path).unwrap();
        assert_eq!(log.reset_at(MonoTime::from_secs(6)), Some(MonoTime::from_secs(4)));
        std::fs::write(&path, "pet 1\n").unwrap();
        assert!(PetLog::read(&path).is_err(), "a keepalive before any arming");
    }
}
