//! O_DIRECT I/O on a regular file or block device, with deadlines.
//!
//! Direct I/O bypasses the page cache, so each read sees what other hosts
//! wrote to the shared device, and `O_DSYNC` makes each write durable before
//! it completes. tmpfs has no direct I/O and is refused.
//!
//! `pread`/`pwrite` have no timeout and can hang in the kernel for minutes on
//! a failed path. So each request runs on a worker thread that owns the
//! request's buffer; the caller waits for the reply only until its deadline
//! and then returns [`DiskError::Timeout`]. The worker keeps the buffer (and
//! the file descriptor) until the syscall returns, so memory the kernel may
//! still write into is never freed or reused. A pool keeps idle workers for
//! reuse and starts another whenever none is free, up to
//! [`MAX_IO_THREADS`]; beyond that, requests queue and time out by their
//! deadlines.
//!
//! Test hook: when the environment variable [`TEST_FAULTS_ENV`] is set (only
//! `lease-torture` sets it, for the daemons it starts), every disk opened
//! here stalls some writes on their worker thread before the syscall, as a
//! slow device would: the caller's deadline passes while the write is still
//! "in the kernel", and the write lands late. Unset, nothing changes.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{AlignedBuf, Disk, DiskError, IoOp, check_request};
use crate::clock::{Clock, MonoTime, OsClock};
use crate::rng::Rng;

/// Most worker threads one open disk may have, hung ones included.
pub const MAX_IO_THREADS: usize = 32;

nix::ioctl_read!(blk_get_size64, 0x12, 114, u64);

/// Whether a disk is opened for reading only or for reading and writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// A test hook run on the worker thread before each syscall. It may block to
/// stand for a request that hangs in the kernel, or return an error to be
/// reported instead of doing the I/O.
pub trait IoFaultHook: Send + Sync {
    fn before_io(&self, op: IoOp, offset: u64, len: usize) -> Option<io::Error>;

    /// Runs on the worker thread after the request completed, either way.
    fn after_io(&self, _op: IoOp, _offset: u64, _len: usize) {}
}

/// The test hook's switch: `write_stall_permille=N,stall_ms=M` stalls each
/// write with probability N/1000 for M milliseconds before it is issued;
/// `,write_len=L` stalls only writes of L bytes.
pub const TEST_FAULTS_ENV: &str = "LEASED_TEST_FAULTS";

/// The hook [`TEST_FAULTS_ENV`] asks for.
struct StallWrites {
    permille: u64,
    stall: Duration,
    /// Only writes of this many bytes, if set.
    len: Option<usize>,
    rng: Mutex<Rng>,
}

impl StallWrites {
    /// The hook the environment asks for, if any; a malformed value is an
    /// error rather than silently no faults.
    fn from_env() -> Result<Option<StallWrites>, String> {
        let Some(text) = std::env::var_os(TEST_FAULTS_ENV) else { return Ok(None) };
        // Each process stalls a different sequence of writes.
        let seed = u64::from(std::process::id()) ^ OsClock.now().as_nanos();
        StallWrites::parse(&text.to_string_lossy(), seed).map(Some)
    }

    /// `write_stall_permille=N,stall_ms=M[,write_len=L]`.
    fn parse(text: &str, seed: u64) -> Result<StallWrites, String> {
        let bad = || {
            format!(
                "{TEST_FAULTS_ENV}='{text}': expected write_stall_permille=N,stall_ms=M[,write_len=L]"
            )
        };
        let (mut permille, mut stall_ms, mut len) = (None, None, None);
        for field in text.split(',') {
            let (key, value) = field.split_once('=').ok_or_else(bad)?;
            let value: u64 = value.parse().map_err(|_| bad())?;
            match key {
                "write_stall_permille" => permille = Some(value.min(1000)),
                "stall_ms" => stall_ms = Some(value),
                "write_len" => len = Some(usize::try_from(value).map_err(|_| bad())?),
                _ => return Err(bad()),
            }
        }
        let (Some(permille), Some(stall_ms)) = (permille, stall_ms) else { return Err(bad()) };
        Ok(StallWrites {
            permille,
            stall: Duration::from_millis(stall_ms),
            len,
            rng: Mutex::new(Rng::new(seed)),
        })
    }
}

impl IoFaultHook for StallWrites {
    fn before_io(&self, op: IoOp, offset: u64, len: usize) -> Option<io::Error> {
        let stall = op == IoOp::Write
            && self.len.is_none_or(|only| only == len)
            && self.rng.lock().is_ok_and(|mut rng| rng.below(1000) < self.permille);
        if stall {
            tracing::warn!(offset, stall_ms = self.stall.as_millis(), "test fault: write stalled");
            OsClock.sleep_until(OsClock.now() + self.stall);
        }
        None
    }
}

/// A regular file or block device opened with O_DIRECT.
pub struct DirectFile {
    path: PathBuf,
    file: Arc<File>,
    access: Access,
    sector_size: u32,
    size_bytes: u64,
    pool: Pool,
    clock: OsClock,
    hook: Option<Arc<dyn IoFaultHook>>,
    /// Byte ranges of writes still in the kernel, timed out or not.
    writes_in_flight: Arc<InFlightRanges>,
}

/// The byte ranges of writes still in the kernel, and a signal each time
/// one leaves it.
#[derive(Default)]
struct InFlightRanges {
    ranges: Mutex<Vec<(u64, u64)>>,
    left: Condvar,
}

impl DirectFile {
    /// Opens `path` for direct I/O, learning its sector size and length.
    pub fn open(path: &Path, access: Access) -> Result<DirectFile, DiskError> {
        let meta = std::fs::metadata(path)
            .map_err(|source| DiskError::Open { path: path.to_owned(), source })?;
        let file_type = meta.file_type();
        let is_block = file_type.is_block_device();
        if !is_block && !file_type.is_file() {
            return Err(DiskError::Unsupported {
                path: path.to_owned(),
                reason: "not a regular file or block device".to_owned(),
            });
        }
        if !is_block {
            refuse_memory_filesystems(path)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).write(access == Access::ReadWrite);
        let mut flags = libc::O_DIRECT;
        if access == Access::ReadWrite {
            flags |= libc::O_DSYNC;
        }
        options.custom_flags(flags);
        let file = options.open(path).map_err(|source| {
            if source.raw_os_error() == Some(libc::EINVAL) {
                DiskError::Unsupported {
                    path: path.to_owned(),
                    reason: "the filesystem does not support direct I/O (O_DIRECT)".to_owned(),
                }
            } else {
                DiskError::Open { path: path.to_owned(), source }
            }
        })?;
        let (sector_size, size_bytes) = if is_block {
            block_device_geometry(path, &file)?
        } else {
            (file_dio_alignment(path)?, meta.len())
        };
        let hook = StallWrites::from_env()
            .map_err(|reason| DiskError::Unsupported { path: path.to_owned(), reason })?
            .map(|hook| Arc::new(hook) as Arc<dyn IoFaultHook>);
        Ok(DirectFile {
            path: path.to_owned(),
            file: Arc::new(file),
            access,
            sector_size,
            size_bytes,
            pool: Pool::new(),
            clock: OsClock,
            hook,
            writes_in_flight: Arc::default(),
        })
    }

    /// Installs a fault hook run before every syscall (for tests).
    pub fn with_fault_hook(mut self, hook: Arc<dyn IoFaultHook>) -> DirectFile {
        self.hook = Some(hook);
        self
    }

    /// Writes still in the kernel, those whose caller gave up on them
    /// included: until they complete, they may still land.
    pub fn writes_in_flight(&self) -> usize {
        self.writes_in_flight.ranges.lock().expect("in-flight lock").len()
    }

    /// Waits until no write is in the kernel any more, or until `deadline`;
    /// returns whether none is.
    pub fn wait_writes_left(&self, deadline: MonoTime) -> bool {
        self.wait_writes_left_within(0, u64::MAX, deadline)
    }

    /// Waits until no write to a byte of `offset..offset + len` is in the
    /// kernel any more, or until `deadline`; returns whether none is.
    pub fn wait_writes_left_within(&self, offset: u64, len: u64, deadline: MonoTime) -> bool {
        let end = offset.saturating_add(len);
        let within = |ranges: &Vec<(u64, u64)>| {
            ranges.iter().any(|&(start, stop)| start < end && offset < stop)
        };
        let mut ranges = self.writes_in_flight.ranges.lock().expect("in-flight lock");
        loop {
            let remaining = deadline.saturating_since(self.clock.now());
            if !within(&ranges) || remaining.is_zero() {
                return !within(&ranges);
            }
            let left = &self.writes_in_flight.left;
            ranges = left.wait_timeout(ranges, remaining).expect("in-flight lock").0;
        }
    }

    /// Whether a write to a byte of `offset..offset + len` is still in the
    /// kernel.
    pub fn writes_in_flight_within(&self, offset: u64, len: u64) -> bool {
        let end = offset.saturating_add(len);
        let ranges = self.writes_in_flight.ranges.lock().expect("in-flight lock");
        ranges.iter().any(|&(start, stop)| start < end && offset < stop)
    }

    /// Worker threads this disk has started, hung ones included.
    pub fn io_threads(&self) -> usize {
        self.pool.threads()
    }

    fn submit(
        &self,
        op: IoOp,
        offset: u64,
        buf: AlignedBuf,
        deadline: MonoTime,
    ) -> Result<AlignedBuf, DiskError> {
        let len = buf.len();
        let remaining = deadline.saturating_since(self.clock.now());
        if remaining.is_zero() {
            return Err(self.timeout(op, offset, len));
        }
        let in_flight = match op {
            IoOp::Write => Some(self.claim_range(offset, len)?),
            IoOp::Read => None,
        };
        let (reply, done) = mpsc::sync_channel(1);
        self.pool.submit(Job {
            file: Arc::clone(&self.file),
            hook: self.hook.clone(),
            op,
            offset,
            buf,
            reply,
            in_flight,
        });
        match done.recv_timeout(remaining) {
            Ok(Completion { result: Ok(()), buf }) => Ok(buf),
            Ok(Completion { result: Err(source), .. }) => {
                Err(DiskError::Io { path: self.path.clone(), op, offset, len, source })
            }
            Err(RecvTimeoutError::Timeout) => Err(self.timeout(op, offset, len)),
            Err(RecvTimeoutError::Disconnected) => {
                unreachable!("an I/O worker always replies before dropping its job")
            }
        }
    }

    /// Registers a write of `[offset, offset + len)`. A second write to
    /// bytes that an earlier one (perhaps timed out) may still change is
    /// refused: were both in the kernel at once they could land in either
    /// order, and an older record could overwrite a newer one.
    fn claim_range(&self, offset: u64, len: usize) -> Result<InFlight, DiskError> {
        let end = offset + len as u64;
        let mut ranges = self.writes_in_flight.ranges.lock().expect("in-flight lock");
        if ranges.iter().any(|&(start, stop)| start < end && offset < stop) {
            return Err(DiskError::WriteInFlight { path: self.path.clone(), offset });
        }
        ranges.push((offset, end));
        Ok(InFlight { ranges: Arc::clone(&self.writes_in_flight), range: (offset, end) })
    }

    fn timeout(&self, op: IoOp, offset: u64, len: usize) -> DiskError {
        DiskError::Timeout { path: self.path.clone(), op, offset, len }
    }
}

impl Disk for DirectFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn sector_size(&self) -> u32 {
        self.sector_size
    }

    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn read(&self, offset: u64, len: usize, deadline: MonoTime) -> Result<AlignedBuf, DiskError> {
        check_request(self, IoOp::Read, offset, len)?;
        self.submit(IoOp::Read, offset, AlignedBuf::zeroed(len), deadline)
    }

    fn write(&self, offset: u64, data: &[u8], deadline: MonoTime) -> Result<(), DiskError> {
        check_request(self, IoOp::Write, offset, data.len())?;
        if self.access == Access::ReadOnly {
            return Err(DiskError::ReadOnly { path: self.path.clone(), offset });
        }
        self.submit(IoOp::Write, offset, AlignedBuf::copy_of(data), deadline).map(drop)
    }
}

/// Whether `path` is on tmpfs or ramfs, which keep files in memory and have
/// no direct I/O.
pub fn on_memory_filesystem(path: &Path) -> io::Result<bool> {
    use nix::sys::statfs::{FsType, TMPFS_MAGIC, statfs};
    // nix names no constant for ramfs; this is RAMFS_MAGIC from linux/magic.h.
    const RAMFS_MAGIC: FsType = FsType(0x8584_58f6);
    let fs_type = statfs(path).map_err(io::Error::from)?.filesystem_type();
    Ok(fs_type == TMPFS_MAGIC || fs_type == RAMFS_MAGIC)
}

fn refuse_memory_filesystems(path: &Path) -> Result<(), DiskError> {
    let in_memory = on_memory_filesystem(path)
        .map_err(|source| DiskError::Open { path: path.to_owned(), source })?;
    if in_memory {
        return Err(DiskError::Unsupported {
            path: path.to_owned(),
            reason: "is on tmpfs, which has no direct I/O; keep lease areas on a disk-backed \
                     filesystem or block device"
                .to_owned(),
        });
    }
    Ok(())
}

fn block_device_geometry(path: &Path, file: &File) -> Result<(u32, u64), DiskError> {
    let ioctl_error = |errno: nix::errno::Errno| DiskError::Open {
        path: path.to_owned(),
        source: io::Error::from(errno),
    };
    let mut logical: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer we pass.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::BLKSSZGET, &mut logical) };
    if rc != 0 {
        return Err(ioctl_error(nix::errno::Errno::last()));
    }
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer we pass.
    unsafe { blk_get_size64(file.as_raw_fd(), &mut size) }.map_err(ioctl_error)?;
    let sector_size = u32::try_from(logical).map_err(|_| DiskError::Unsupported {
        path: path.to_owned(),
        reason: format!("reports a logical sector size of {logical}"),
    })?;
    Ok((sector_size, size))
}

/// The offset alignment direct I/O needs on a regular file, from
/// `statx(STATX_DIOALIGN)`; 512 where the kernel does not say.
fn file_dio_alignment(path: &Path) -> Result<u32, DiskError> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| DiskError::Unsupported {
        path: path.to_owned(),
        reason: "path contains a NUL byte".to_owned(),
    })?;
    // SAFETY: statx is plain old data; all-zero is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is NUL-terminated and stx is a valid out-pointer.
    let rc =
        unsafe { libc::statx(libc::AT_FDCWD, c_path.as_ptr(), 0, libc::STATX_DIOALIGN, &mut stx) };
    if rc != 0 || stx.stx_mask & libc::STATX_DIOALIGN == 0 {
        return Ok(512);
    }
    if stx.stx_dio_offset_align == 0 {
        return Err(DiskError::Unsupported {
            path: path.to_owned(),
            reason: "the filesystem does not support direct I/O on this file".to_owned(),
        });
    }
    Ok(stx.stx_dio_offset_align.max(512))
}

struct Job {
    file: Arc<File>,
    hook: Option<Arc<dyn IoFaultHook>>,
    op: IoOp,
    offset: u64,
    buf: AlignedBuf,
    reply: mpsc::SyncSender<Completion>,
    in_flight: Option<InFlight>,
}

struct Completion {
    result: io::Result<()>,
    buf: AlignedBuf,
}

/// A write's claim on its byte range, released when the write has left the
/// kernel.
struct InFlight {
    ranges: Arc<InFlightRanges>,
    range: (u64, u64),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut ranges = self.ranges.ranges.lock().expect("in-flight lock");
        let index = ranges.iter().position(|r| *r == self.range).expect("claimed range");
        ranges.swap_remove(index);
        self.ranges.left.notify_all();
    }
}

impl Job {
    fn run(mut self) {
        let (op, offset, len) = (self.op, self.offset, self.buf.len());
        let result = match self.hook.as_ref().and_then(|hook| hook.before_io(op, offset, len)) {
            Some(injected) => Err(injected),
            None => match op {
                IoOp::Read => self.file.read_exact_at(&mut self.buf, offset),
                IoOp::Write => self.file.write_all_at(&self.buf, offset),
            },
        };
        drop(self.in_flight.take());
        if let Some(hook) = &self.hook {
            hook.after_io(op, offset, len);
        }
        // The caller may have given up; then the buffer is simply dropped
        // here, after the kernel is done with it.
        let _ = self.reply.send(Completion { result, buf: self.buf });
    }
}

/// Worker threads for one disk.
struct Pool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    state: Mutex<PoolState>,
    wake: Condvar,
}

struct PoolState {
    queue: VecDeque<Job>,
    idle: usize,
    threads: usize,
    closed: bool,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            shared: Arc::new(PoolShared {
                state: Mutex::new(PoolState {
                    queue: VecDeque::new(),
                    idle: 0,
                    threads: 0,
                    closed: false,
                }),
                wake: Condvar::new(),
            }),
        }
    }

    fn threads(&self) -> usize {
        self.shared.state.lock().expect("pool lock").threads
    }

    fn submit(&self, job: Job) {
        let mut state = self.shared.state.lock().expect("pool lock");
        state.queue.push_back(job);
        if state.queue.len() > state.idle && state.threads < MAX_IO_THREADS {
            state.threads += 1;
            let shared = Arc::clone(&self.shared);
            std::thread::Builder::new()
                .name("lease-io".to_owned())
                .spawn(move || worker(&shared))
                .expect("spawn an I/O worker thread");
        }
        self.shared.wake.notify_one();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock().expect("pool lock");
        state.closed = true;
        self.shared.wake.notify_all();
    }
}

fn worker(shared: &PoolShared) {
    loop {
        let job = {
            let mut state = shared.state.lock().expect("pool lock");
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                if state.closed {
                    state.threads -= 1;
                    return;
                }
                state.idle += 1;
                state = shared.wake.wait(state).expect("pool lock");
                state.idle -= 1;
            }
        };
        job.run();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn test_file(len: usize) -> (tempfile::TempDir, PathBuf) {
        // The crate directory is on a disk-backed filesystem; /tmp may not be.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("disk.img");
        std::fs::write(&path, vec![0u8; len]).unwrap();
        (dir, path)
    }

    fn soon() -> MonoTime {
        OsClock.now() + Duration::from_secs(10)
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let (_dir, path) = test_file(1 << 20);
        let disk = DirectFile::open(&path, Access::ReadWrite).unwrap();
        assert_eq!(disk.size_bytes(), 1 << 20);
        assert!(disk.sector_size() == 512 || disk.sector_size() == 4096);
        let data: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
        disk.write(4096, &data, soon()).unwrap();
        let back = disk.read(4096, 8192, soon()).unwrap();
        assert_eq!(&back[..], &data[..]);
        assert_eq!(std::fs::read(&path).unwrap()[4096..4096 + 8192], data[..]);
    }

    #[test]
    fn rejects_unaligned_and_out_of_range_requests() {
        let (_dir, path) = test_file(1 << 20);
        let disk = DirectFile::open(&path, Access::ReadWrite).unwrap();
        let s = disk.sector_size() as usize;
        assert!(matches!(disk.read(100, s, soon()), Err(DiskError::Unaligned { offset: 100, .. })));
        assert!(matches!(disk.read(0, s + 1, soon()), Err(DiskError::Unaligned { .. })));
        assert!(matches!(disk.read(1 << 20, s, soon()), Err(DiskError::OutOfRange { .. })));
        assert!(matches!(
            disk.write(u64::MAX - 511, &vec![0; s], soon()),
            Err(DiskError::Unaligned { .. } | DiskError::OutOfRange { .. })
        ));
    }

    #[test]
    fn read_only_refuses_writes() {
        let (_dir, path) = test_file(1 << 20);
        let disk = DirectFile::open(&path, Access::ReadOnly).unwrap();
        assert!(matches!(disk.write(0, &[0; 4096], soon()), Err(DiskError::ReadOnly { .. })));
        assert!(disk.read(0, 4096, soon()).is_ok());
    }

    #[test]
    fn refuses_tmpfs_and_non_files() {
        let shm = Path::new("/dev/shm");
        if !on_memory_filesystem(shm).unwrap_or(false) {
            eprintln!("skipped: /dev/shm is not tmpfs on this machine");
            return;
        }
        let dir = tempfile::tempdir_in(shm).unwrap();
        let path = dir.path().join("lease.img");
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        let err = DirectFile::open(&path, Access::ReadOnly).err().expect("tmpfs is refused");
        assert!(err.to_string().contains("tmpfs"), "{err}");
        let err = DirectFile::open(dir.path(), Access::ReadOnly).err().expect("dirs are refused");
        assert!(matches!(err, DiskError::Unsupported { .. }), "{err}");
    }

    /// Holds the first request on its worker thread until released, as a
    /// request hung in the kernel would be, and reports when it completes.
    struct HangFirst {
        armed: AtomicBool,
        entered: mpsc::SyncSender<()>,
        release: Mutex<mpsc::Receiver<()>>,
        completed: mpsc::SyncSender<IoOp>,
    }

    impl IoFaultHook for HangFirst {
        fn before_io(&self, _op: IoOp, _offset: u64, _len: usize) -> Option<io::Error> {
            if self.armed.swap(false, Ordering::SeqCst) {
                self.entered.send(()).unwrap();
                self.release.lock().unwrap().recv().unwrap();
            }
            None
        }

        fn after_io(&self, op: IoOp, _offset: u64, _len: usize) {
            self.completed.send(op).unwrap();
        }
    }

    #[test]
    fn hung_write_returns_at_deadline_and_still_lands_intact() {
        let (_dir, path) = test_file(1 << 20);
        let (release_tx, release_rx) = mpsc::channel();
        let (entered_tx, entered_rx) = mpsc::sync_channel(1);
        let (completed_tx, completed_rx) = mpsc::sync_channel(4);
        let hook = Arc::new(HangFirst {
            armed: AtomicBool::new(true),
            entered: entered_tx,
            release: Mutex::new(release_rx),
            completed: completed_tx,
        });
        let disk = DirectFile::open(&path, Access::ReadWrite).unwrap().with_fault_hook(hook);

        let data = vec![0x5Au8; 4096];
        let deadline = OsClock.now() + Duration::from_millis(50);
        let err = disk.write(8192, &data, deadline).unwrap_err();
        assert!(OsClock.now() >= deadline, "returned before the deadline");
        assert!(matches!(err, DiskError::Timeout { op: IoOp::Write, offset: 8192, .. }), "{err}");
        entered_rx.recv().unwrap();

        // A second write to the same sector is refused while the first may
        // still land.
        let again = disk.write(8192, &[1u8; 4096], soon()).unwrap_err();
        assert!(matches!(again, DiskError::WriteInFlight { offset: 8192, .. }), "{again}");
        disk.write(12288, &[1u8; 4096], soon()).unwrap();
        assert_eq!(completed_rx.recv().unwrap(), IoOp::Write);

        // The hung request does not block others: a read runs on another
        // worker and sees that the write has not landed.
        let before = disk.read(8192, 4096, soon()).unwrap();
        assert_eq!(completed_rx.recv().unwrap(), IoOp::Read);
        assert!(before.iter().all(|&b| b == 0));
        // One worker is hung; the read ran on the one that wrote 12288, or
        // on a third if that one had not yet gone back to wait for work.
        assert!((2..=3).contains(&disk.io_threads()), "{} I/O threads", disk.io_threads());

        // The caller's data is gone; the worker still owns the request's
        // buffer and, once the kernel returns, completes the write from it.
        drop(data);
        let shortly = OsClock.now() + Duration::from_millis(20);
        assert!(!disk.wait_writes_left(shortly), "the hung write is still in the kernel");
        assert!(!disk.wait_writes_left_within(8192 + 4000, 512, shortly), "it overlaps");
        assert!(disk.wait_writes_left_within(12288, 4096, shortly), "nothing in flight there");
        release_tx.send(()).unwrap();
        let later = OsClock.now() + Duration::from_secs(30);
        assert!(disk.wait_writes_left(later), "woken once the write left the kernel");
        assert_eq!(disk.writes_in_flight(), 0);
        assert_eq!(completed_rx.recv().unwrap(), IoOp::Write);
        let after = disk.read(8192, 4096, soon()).unwrap();
        assert!(after.iter().all(|&b| b == 0x5A));
    }

    #[test]
    fn test_faults_parse_strictly() {
        let hook = StallWrites::parse("write_stall_permille=5,stall_ms=1500", 1).unwrap();
        assert_eq!((hook.permille, hook.stall, hook.len), (5, Duration::from_millis(1500), None));
        let sized = StallWrites::parse("write_stall_permille=1000,stall_ms=1,write_len=4096", 1);
        assert_eq!(sized.unwrap().len, Some(4096));
        for bad in ["", "stall_ms=10", "write_stall_permille=x,stall_ms=1", "stall=1,stall_ms=1"] {
            assert!(StallWrites::parse(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_stalled_write_times_out_and_lands_late() {
        let (_dir, path) = test_file(1 << 20);
        let hook = StallWrites::parse("write_stall_permille=1000,stall_ms=1000", 1).unwrap();
        let disk =
            DirectFile::open(&path, Access::ReadWrite).unwrap().with_fault_hook(Arc::new(hook));
        let deadline = OsClock.now() + Duration::from_millis(20);
        let err = disk.write(4096, &[0x77u8; 4096], deadline).unwrap_err();
        assert!(matches!(err, DiskError::Timeout { op: IoOp::Write, .. }), "{err}");
        assert!(disk.read(4096, 4096, soon()).unwrap().iter().all(|&b| b == 0), "not landed yet");
        assert_eq!(disk.writes_in_flight(), 1, "the stalled write is still in the kernel");
        let landed = |disk: &DirectFile| disk.read(4096, 4096, soon()).unwrap()[0] == 0x77;
        let limit = OsClock.now() + Duration::from_secs(10);
        while !landed(&disk) && OsClock.now() < limit {
            OsClock.sleep_until(OsClock.now() + Duration::from_millis(20));
        }
        assert!(landed(&disk), "the stalled write never landed");
    }
}
