//! Process file descriptors (pidfds): a pidfd names one process for good,
//! whatever pid namespace it is opened, sent or read in. Clients open one
//! for the process a request acts for and pass it over the socket
//! (SCM_RIGHTS); leased reads the process's pid in its own namespace from
//! the descriptor, never from a number a client wrote. Covered by
//! `daemon::process` tests and `tests/pid_namespaces.rs`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Opens a pidfd for `pid` as this process's pid namespace numbers it.
pub fn open(pid: u32) -> io::Result<OwnedFd> {
    let raw_pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw_pid, 0) };
    owned(fd)
}

/// Takes ownership of a descriptor a system call returned (or its error).
fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("descriptor out of range"))?;
    // SAFETY: fd was just returned by the kernel and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `signal` to the process of `pidfd` (0 checks that it runs and
/// that `pidfd` is a pidfd at all: anything else gives EBADF).
pub fn send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with a descriptor, a signal number, no
    // siginfo and no flags; the kernel checks the descriptor's kind.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// SO_PEERPIDFD (Linux 6.5), where its number is the generic one.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
const SO_PEERPIDFD: libc::c_int = 77;

/// A pidfd of the process that connected `socket` (a Unix socket), taken
/// by the kernel at connect: not even a reused pid can stand in for it.
/// Unsupported on older kernels.
pub fn of_socket_peer(socket: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
    {
        let mut fd: libc::c_int = -1;
        let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
            .map_err(|_| io::Error::other("socklen"))?;
        // SAFETY: getsockopt writes at most `len` bytes into `fd`, which is
        // a c_int of that size, and updates `len`.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_PEERPIDFD,
                (&raw mut fd).cast(),
                &raw mut len,
            )
        };
        owned(if rc < 0 { -1 } else { libc::c_long::from(fd) })
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64")))]
    {
        let _ = socket;
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Why a descriptor does not name a process this process can see.
#[derive(Debug, thiserror::Error)]
pub enum PidfdError {
    #[error("not a pidfd: {0}")]
    NotPidfd(io::Error),
    #[error("the process has exited")]
    Exited,
    #[error("the process is outside this pid namespace")]
    Invisible,
    #[error("cannot read the pidfd's process: {0}")]
    Io(io::Error),
}

/// The pid of `pidfd`'s process in this process's pid namespace, from
/// /proc/self/fdinfo (the kernel translates it; 0 means not visible here).
pub fn pid_of(pidfd: BorrowedFd<'_>) -> Result<u32, PidfdError> {
    match send_signal(pidfd, 0) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::ESRCH) => return Err(PidfdError::Exited),
        // A pidfd of a process we may not signal is still a pidfd.
        Err(err) if err.raw_os_error() == Some(libc::EPERM) => {}
        Err(err) => return Err(PidfdError::NotPidfd(err)),
    }
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()))
        .map_err(PidfdError::Io)?;
    let pid = info
        .lines()
        .find_map(|line| line.strip_prefix("Pid:"))
        .and_then(|pid| pid.trim().parse::<i64>().ok())
        .ok_or_else(|| PidfdError::Io(io::Error::other("no Pid line in its fdinfo")))?;
    match pid {
        0 => Err(PidfdError::Invisible),
        pid => u32::try_from(pid).map_err(|_| PidfdError::Exited),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_pidfd_names_its_process_and_nothing_else_passes_for_one() {
        let mut child = std::process::Command::new("sleep").arg("600").spawn().unwrap();
        let pidfd = open(child.id()).unwrap();
        assert_eq!(pid_of(pidfd.as_fd()).unwrap(), child.id());
        send_signal(pidfd.as_fd(), libc::SIGKILL).unwrap();
        child.wait().unwrap();
        assert!(matches!(pid_of(pidfd.as_fd()), Err(PidfdError::Exited)));
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(matches!(pid_of(file.as_fd()), Err(PidfdError::NotPidfd(_))));
        assert!(open(u32::MAX).is_err());
    }
}
