//! Host events: a small message (an event number and its data) that one
//! host posts to others through its own delta lease sector, as sanlock's
//! set_event does (fence_sanlock and sanlk-reset use them).
//!
//! The sender writes the event into the fields of its leader that a delta
//! lease leaves unused (write_id: the recipient generation it was meant
//! for, or 0; write_generation: the event; write_timestamp: the data) and
//! sets each recipient's bit in its bitmap, for 6N ([`Outbox`]). A host
//! that finds its bit set in a live sender's sector, with an event or data
//! that is not zero, hands the event to its listeners at every renewal
//! that sees it ([`super::Renewal::events`]): three or so times per event,
//! as sanlock does, so listeners tell repeats apart themselves. The
//! generation is passed on, not checked: the listener judges it.

use crate::clock::MonoTime;
use crate::ondisk::geometry::MAX_HOST_ID;
use crate::ondisk::leader::LeaderRecord;

/// An event as written in the sender's sector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The recipient's generation it is meant for; 0 for any.
    pub generation: u64,
    pub event: u64,
    pub data: u64,
}

impl Event {
    /// No event (event 0, whatever the data): nothing is delivered for it.
    pub fn is_empty(&self) -> bool {
        self.event == 0
    }

    /// The event a sector carries.
    pub fn in_leader(leader: &LeaderRecord) -> Event {
        Event {
            generation: leader.write_id,
            event: leader.write_generation,
            data: leader.write_timestamp,
        }
    }

    /// `leader` carrying this event.
    pub fn written_in(&self, leader: LeaderRecord) -> LeaderRecord {
        LeaderRecord {
            write_id: self.generation,
            write_generation: self.event,
            write_timestamp: self.data,
            ..leader
        }
    }
}

/// An event another host posted to us, as a renewal found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedEvent {
    pub from_host_id: u64,
    pub from_generation: u64,
    pub event: Event,
}

/// What to do with the event we post (sanlock's SETEV flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PostEvent {
    /// The recipient; with `all_hosts`, any valid host_id.
    pub host_id: u64,
    pub event: Event,
    /// With generation 0: the recipient's generation as last seen.
    pub current_generation: bool,
    /// Stop signalling the recipient (its bit is cleared); nothing is posted.
    pub clear_host: bool,
    /// End the event (its fields are cleared); nothing is posted. With
    /// `clear_host` too, only the event is ended, as in sanlock.
    pub clear_event: bool,
    /// Replace another event still posted rather than refuse.
    pub replace: bool,
    /// Signal every host but us.
    pub all_hosts: bool,
}

/// Why an event was not posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("host_id {host_id} is out of range: 1 to {MAX_HOST_ID}")]
    HostId { host_id: u64 },
    #[error("another event is still posted; replace it or wait until it ends")]
    Busy,
}

/// What posting does to the bits of our bitmap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitChange {
    None,
    /// Clear this host's bit.
    Clear(u64),
    /// Set this host's bit until then.
    Set(u64, MonoTime),
    /// Set every host's bit but ours until then.
    SetAll(MonoTime),
}

/// The event this host posts, and the bits that carry it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outbox {
    event: Event,
    /// The event is posted until then; the fields are cleared after.
    until: Option<MonoTime>,
}

impl Outbox {
    /// Applies `post` at `now`; `seen_generation` is the recipient's
    /// generation as last seen. Refuses, as sanlock does, a new event
    /// while another is posted, unless told to replace it; the same event
    /// again (new data, say) or event 0 is taken, and posted anew.
    pub fn apply(
        &mut self,
        post: &PostEvent,
        hold: std::time::Duration,
        now: MonoTime,
        seen_generation: Option<u64>,
    ) -> Result<BitChange, EventError> {
        if !(1..=MAX_HOST_ID).contains(&post.host_id) {
            return Err(EventError::HostId { host_id: post.host_id });
        }
        if post.clear_event {
            *self = Outbox::default();
            return Ok(BitChange::None);
        }
        if post.clear_host {
            return Ok(BitChange::Clear(post.host_id));
        }
        let current = self.current(now);
        let other =
            !current.is_empty() && !post.event.is_empty() && current.event != post.event.event;
        if other && !post.replace {
            return Err(EventError::Busy);
        }
        let mut event = post.event;
        if post.current_generation && !post.all_hosts && event.generation == 0 {
            event.generation = seen_generation.unwrap_or(0);
        }
        let until = now + hold;
        *self = Outbox { event, until: Some(until) };
        Ok(if post.all_hosts {
            BitChange::SetAll(until)
        } else {
            BitChange::Set(post.host_id, until)
        })
    }

    /// The event to write at `now`: none once its time is over, so that a
    /// bit set later for a request carries no stale event.
    pub fn current(&self, now: MonoTime) -> Event {
        match self.until {
            Some(until) if now < until => self.event,
            _ => Event::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::geometry::{Geometry, SectorSize};
    use crate::ondisk::name::Name;
    use std::time::Duration;

    const HOLD: Duration = Duration::from_secs(60);

    fn at(secs: u64) -> MonoTime {
        MonoTime::from_secs(secs)
    }

    fn post(host_id: u64, event: u64, data: u64) -> PostEvent {
        PostEvent { host_id, event: Event { generation: 0, event, data }, ..PostEvent::default() }
    }

    fn apply(
        outbox: &mut Outbox,
        post: &PostEvent,
        now: MonoTime,
    ) -> Result<BitChange, EventError> {
        outbox.apply(post, HOLD, now, Some(post.host_id.wrapping_mul(10)))
    }

    #[test]
    fn an_event_is_posted_for_its_hold_and_another_refused_until_replaced() {
        let mut outbox = Outbox::default();
        assert_eq!(apply(&mut outbox, &post(2, 5, 7), at(100)), Ok(BitChange::Set(2, at(160))));
        assert_eq!(outbox.current(at(159)), Event { generation: 0, event: 5, data: 7 });
        assert_eq!(apply(&mut outbox, &post(3, 6, 8), at(110)), Err(EventError::Busy));
        assert_eq!(outbox.current(at(111)).event, 5, "a refusal changes nothing");
        // The same event again (to another host, with other data) is taken.
        assert_eq!(apply(&mut outbox, &post(3, 5, 9), at(110)), Ok(BitChange::Set(3, at(170))));
        assert_eq!(outbox.current(at(111)).data, 9);
        let replace = PostEvent { replace: true, ..post(3, 6, 8) };
        assert_eq!(apply(&mut outbox, &replace, at(120)), Ok(BitChange::Set(3, at(180))));
        assert_eq!(outbox.current(at(179)).event, 6);
        assert!(outbox.current(at(180)).is_empty(), "over once its hold is");
        assert_eq!(apply(&mut outbox, &post(2, 9, 0), at(180)), Ok(BitChange::Set(2, at(240))));
        // Event 0 is no event: never busy, and it ends the one posted.
        assert_eq!(apply(&mut outbox, &post(2, 0, 4), at(181)), Ok(BitChange::Set(2, at(241))));
        assert!(outbox.current(at(182)).is_empty());
    }

    #[test]
    fn generation_comes_from_the_caller_or_the_host_table() {
        let mut outbox = Outbox::default();
        let current = PostEvent { current_generation: true, ..post(4, 1, 0) };
        apply(&mut outbox, &current, at(0)).unwrap();
        assert_eq!(outbox.current(at(1)).generation, 40);
        let given = PostEvent {
            event: Event { generation: 3, event: 1, data: 0 },
            replace: true,
            ..current
        };
        apply(&mut outbox, &given, at(0)).unwrap();
        assert_eq!(outbox.current(at(1)).generation, 3, "a generation given is kept");
    }

    #[test]
    fn all_hosts_signals_every_host_with_the_generation_given() {
        let mut outbox = Outbox::default();
        let all = PostEvent {
            all_hosts: true,
            current_generation: true,
            event: Event { generation: 9, event: 2, data: 0 },
            ..post(3, 2, 0)
        };
        assert_eq!(apply(&mut outbox, &all, at(0)), Ok(BitChange::SetAll(at(60))));
        assert_eq!(outbox.current(at(1)).generation, 9);
    }

    #[test]
    fn clearing_a_host_or_the_event_posts_nothing() {
        let mut outbox = Outbox::default();
        apply(&mut outbox, &post(2, 5, 7), at(0)).unwrap();
        let clear_host = PostEvent { clear_host: true, ..post(2, 0, 0) };
        assert_eq!(apply(&mut outbox, &clear_host, at(5)), Ok(BitChange::Clear(2)));
        assert_eq!(outbox.current(at(6)).event, 5, "the event stays for other recipients");
        let clear_both = PostEvent { clear_event: true, ..clear_host };
        assert_eq!(apply(&mut outbox, &clear_both, at(7)), Ok(BitChange::None), "event only");
        assert!(outbox.current(at(8)).is_empty());
        assert_eq!(apply(&mut outbox, &post(3, 1, 1), at(8)), Ok(BitChange::Set(3, at(68))));
    }

    #[test]
    fn a_host_id_outside_sanlocks_range_is_refused() {
        let mut outbox = Outbox::default();
        for host_id in [0, 2001, u64::MAX] {
            assert_eq!(
                apply(&mut outbox, &post(host_id, 1, 1), at(0)),
                Err(EventError::HostId { host_id })
            );
        }
        assert_eq!(outbox, Outbox::default());
        assert!(apply(&mut outbox, &post(2000, 1, 1), at(0)).is_ok());
    }

    #[test]
    fn an_event_travels_in_the_unused_fields_of_a_delta_leader() {
        let event = Event { generation: 1, event: 5, data: 7 };
        let g = Geometry::default_for(SectorSize::B512);
        let leader = event.written_in(LeaderRecord::new_delta(g, Name::new("ls").unwrap(), 1));
        assert_eq!((leader.write_id, leader.write_generation, leader.write_timestamp), (1, 5, 7));
        assert_eq!(Event::in_leader(&leader), event);
    }
}
