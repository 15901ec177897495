//! The connections a lockspace pushes host events to (sanlock's
//! REG_EVENT): at most [`MAX_LISTENERS`] per lockspace, each sent an
//! `event_cb` for every event a renewal found for us.
//!
//! The renewal thread sends, so a send never waits: a listener whose
//! socket cannot take a whole event now is dropped (its connection shut
//! down), since a part of one would leave its stream out of step.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use nix::sys::socket::{MsgFlags, send};

use crate::delta::ReceivedEvent;
use crate::sanlock::wire::{EventCb, HostEvent};

/// Listeners per lockspace, as in sanlock.
pub const MAX_LISTENERS: usize = 32;

/// Why a listener was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenError {
    /// [`MAX_LISTENERS`] listen already.
    Full,
    /// The lockspace is over.
    Closed,
    /// The greeting could not be sent.
    Io,
}

/// One lockspace's listeners.
#[derive(Debug)]
pub struct EventListeners {
    inner: Mutex<Listeners>,
}

#[derive(Debug)]
struct Listeners {
    open: bool,
    next_id: u64,
    list: Vec<(u64, UnixStream)>,
}

impl Default for EventListeners {
    fn default() -> Self {
        EventListeners { inner: Mutex::new(Listeners { open: true, next_id: 0, list: Vec::new() }) }
    }
}

impl EventListeners {
    /// Adds `stream` (a handle on the client's connection) once `reply`
    /// is sent on it, so that no event goes before; the id removes it.
    pub fn add(&self, stream: UnixStream, reply: &[u8]) -> Result<u64, ListenError> {
        let mut inner = self.inner.lock().expect("listeners lock");
        if !inner.open {
            return Err(ListenError::Closed);
        }
        if inner.list.len() >= MAX_LISTENERS {
            return Err(ListenError::Full);
        }
        if !send_whole(&stream, reply) {
            return Err(ListenError::Io);
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.list.push((id, stream));
        Ok(id)
    }

    /// Whether nobody listens.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().expect("listeners lock").list.is_empty()
    }

    pub fn remove(&self, id: u64) {
        self.inner.lock().expect("listeners lock").list.retain(|(listener, _)| *listener != id);
    }

    /// Sends `events`, found by host `host_id` of ours, to every listener.
    pub fn deliver(&self, host_id: u64, events: &[ReceivedEvent]) {
        if events.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().expect("listeners lock");
        inner.list.retain(|(id, stream)| {
            events.iter().all(|received| {
                let callback = EventCb {
                    event: HostEvent {
                        host_id,
                        generation: received.event.generation,
                        event: received.event.event,
                        data: received.event.data,
                    },
                    from_host_id: received.from_host_id,
                    from_generation: received.from_generation,
                };
                if send_whole(stream, &callback.encode()) {
                    return true;
                }
                tracing::warn!(listener = id, "event listener dropped: it does not read");
                let _ = stream.shutdown(std::net::Shutdown::Both);
                false
            })
        });
    }

    /// The lockspace is over: every listener's connection is shut down,
    /// and no more are added.
    pub fn close(&self) {
        let mut inner = self.inner.lock().expect("listeners lock");
        inner.open = false;
        for (_, stream) in inner.list.drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Sends all of `bytes` on `stream` now, or reports that it could not:
/// never waits (the lock of the listeners is held).
pub(super) fn send_whole(stream: &UnixStream, bytes: &[u8]) -> bool {
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
    send(stream.as_raw_fd(), bytes, flags) == Ok(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::Event;
    use std::io::Read;

    fn received(event: u64) -> ReceivedEvent {
        ReceivedEvent {
            from_host_id: 2,
            from_generation: 3,
            event: Event { generation: 1, event, data: 9 },
        }
    }

    #[test]
    fn events_reach_each_listener_as_sanlock_callbacks() {
        let listeners = EventListeners::default();
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        listeners.add(ours, &[]).unwrap();
        listeners.deliver(4, &[received(5), received(6)]);
        let mut bytes = [0u8; 160];
        theirs.read_exact(&mut bytes).unwrap();
        let first = EventCb::decode(&bytes[..80]).unwrap();
        assert_eq!(first.event, HostEvent { host_id: 4, generation: 1, event: 5, data: 9 });
        assert_eq!((first.from_host_id, first.from_generation), (2, 3));
        assert_eq!(EventCb::decode(&bytes[80..]).unwrap().event.event, 6);
    }

    #[test]
    fn a_listener_that_does_not_read_is_dropped_not_waited_for() {
        let listeners = EventListeners::default();
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        listeners.add(ours, &[]).unwrap();
        // Far more than any socket buffer holds: the sends must not block.
        for _ in 0..100_000 {
            listeners.deliver(1, &[received(1)]);
        }
        assert_eq!(listeners.inner.lock().unwrap().list.len(), 0);
        let mut all = Vec::new();
        theirs.read_to_end(&mut all).unwrap();
        assert_eq!(all.len() % 80, 0, "only whole callbacks were sent");
    }

    #[test]
    fn listeners_are_bounded_and_closed_with_their_lockspace() {
        let listeners = EventListeners::default();
        let mut peers = Vec::new();
        for _ in 0..MAX_LISTENERS {
            let (ours, theirs) = UnixStream::pair().unwrap();
            listeners.add(ours, &[]).unwrap();
            peers.push(theirs);
        }
        let (extra, _) = UnixStream::pair().unwrap();
        assert_eq!(listeners.add(extra, &[]), Err(ListenError::Full));
        listeners.remove(0);
        let (another, _kept) = UnixStream::pair().unwrap();
        assert_eq!(listeners.add(another, &[]), Ok(MAX_LISTENERS as u64));
        listeners.close();
        let mut byte = [0u8; 1];
        assert_eq!(peers[1].read(&mut byte).unwrap(), 0, "shut down: the client sees EOF");
        let (late, _) = UnixStream::pair().unwrap();
        assert_eq!(listeners.add(late, &[]), Err(ListenError::Closed));
    }
}
