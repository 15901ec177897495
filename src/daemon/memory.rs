//! Keeping leased's resident memory near what its leases need.
//!
//! glibc gives each thread that allocates an arena of its own, up to 8 per
//! core, and keeps memory once freed: after a holder of thousands of leases
//! exits, or after a reply listing every lease, RSS would stay at that
//! peak. leased's threads (one per client, lockspace and release, and the
//! I/O workers) allocate little at a time, so two arenas serve them as
//! fast, and freed pages are handed back after such bulk work.
//!
//! With `lease-bench` holding 10,000 leases over three rounds of releasing
//! and retaking them all: 13-14 MiB holding them and 9.5-11 MiB after their
//! release, where with glibc's defaults RSS settled at 21-29 MiB.

/// Allocations at least this large are worth trimming after.
pub const BULK_BYTES: usize = 1 << 20;
/// Releasing at least this many leases at once is worth trimming after.
pub const BULK_LEASES: usize = 64;

/// Caps the malloc arenas at two. Call before any thread starts.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // the daemon starts any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Hands the allocator's free pages back to the kernel after bulk work.
pub fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free memory to the kernel; it is
    // thread-safe and leaves live allocations alone.
    unsafe {
        libc::malloc_trim(0);
    }
}
