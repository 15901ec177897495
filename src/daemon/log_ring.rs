//! The last lines of leased's log, kept in memory for sanlock's LOG_DUMP
//! (`sanlock client log_dump`), as sanlock keeps its own. Everything logged
//! goes to stderr as before and, whole lines at a time, into a ring of
//! [`RING_BYTES`] that drops its oldest bytes first.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::Mutex;

/// Bytes of log kept: sanlock's dump buffer is of this order.
pub const RING_BYTES: usize = 1 << 20;

static RING: Mutex<VecDeque<u8>> = Mutex::new(VecDeque::new());

/// A writer to stderr that keeps a copy in the ring.
pub struct Tee;

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = io::stderr().write(buf)?;
        keep(buf.get(..written).unwrap_or_default());
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

fn keep(bytes: &[u8]) {
    let Ok(mut ring) = RING.lock() else { return };
    ring.extend(bytes);
    let excess = ring.len().saturating_sub(RING_BYTES);
    ring.drain(..excess);
}

/// What the ring holds now, oldest first.
pub fn dump() -> Vec<u8> {
    RING.lock().map(|ring| ring.iter().copied().collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_bytes_within_its_size() {
        keep(b"first line\n");
        assert!(dump().ends_with(b"first line\n"));
        keep(&vec![b'x'; RING_BYTES]);
        keep(b"last line\n");
        let kept = dump();
        assert_eq!(kept.len(), RING_BYTES);
        assert!(kept.ends_with(b"x\nlast line\n") || kept.ends_with(b"xlast line\n"));
        assert!(!kept.windows(10).any(|w| w == b"first line"));
    }
}
