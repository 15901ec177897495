//! A fixed set of threads for the daemon's background disk work: releases
//! after a holder exits, and retries of releases and withdrawals.
//!
//! Tasks wait in one queue ordered by when each is due. A task runs one
//! step (one attempt at a release, say) and either ends or says when it is
//! due again: no worker sleeps between attempts, and the thread count
//! stays fixed however many leases are being let go of. An attempt still
//! waits for its I/O (up to its io_timeout per request), so a device that
//! hangs slows the workers while it is tried. The queue holds one task per
//! busy slot of the lease table being let go of in the background (a
//! table bounded by the limits on leases) and one request pass per
//! lockspace.

use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};

use crate::clock::{Clock, MonoTime, OsClock};

/// One step of background work: `Some(at)` to run again at `at`.
pub type Task = Box<dyn FnMut() -> Option<MonoTime> + Send>;

/// The threads that run [`Task`]s.
pub struct Workers {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// A task was queued.
    queued: Condvar,
}

#[derive(Default)]
struct Queue {
    due: BinaryHeap<Due>,
    /// Breaks ties, so that tasks due at once run in the order queued.
    next: u64,
}

struct Due {
    at: MonoTime,
    seq: u64,
    task: Task,
}

// Ordered for a max-heap whose top is the earliest task.
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Due {}

impl Workers {
    /// Starts `count` threads named `name`.
    pub fn start(name: &str, count: usize) -> std::io::Result<Workers> {
        let shared = Arc::new(Shared { queue: Mutex::default(), queued: Condvar::new() });
        for _ in 0..count {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name(name.to_owned()).spawn(move || shared.work())?;
        }
        Ok(Workers { shared })
    }

    /// Runs `task` now, and again whenever it asks.
    pub fn run(&self, task: Task) {
        self.shared.queue(OsClock.now(), task);
    }

    /// Runs `task` at `at`, and again whenever it asks.
    pub fn run_at(&self, at: MonoTime, task: Task) {
        self.shared.queue(at, task);
    }
}

impl Shared {
    fn queue(&self, at: MonoTime, task: Task) {
        let mut queue = self.queue.lock().expect("work queue lock");
        let seq = queue.next;
        queue.next += 1;
        queue.due.push(Due { at, seq, task });
        drop(queue);
        self.queued.notify_one();
    }

    /// A worker's life: takes the earliest task once due, runs one step.
    fn work(&self) {
        let mut queue = self.queue.lock().expect("work queue lock");
        loop {
            let now = OsClock.now();
            match queue.due.peek().map(|first| first.at) {
                // Woken by the next task queued.
                None => {
                    queue = self.queued.wait(queue).expect("work queue lock");
                    continue;
                }
                Some(at) if at > now => {
                    let wait = at.saturating_since(now);
                    queue = self.queued.wait_timeout(queue, wait).expect("work queue lock").0;
                    continue;
                }
                Some(_) => {}
            }
            let Some(mut due) = queue.due.pop() else { continue };
            drop(queue);
            // Another task may be due as well: another worker takes it.
            self.queued.notify_one();
            let again = (due.task)();
            if let Some(at) = again {
                self.queue(at, due.task);
            }
            queue = self.queue.lock().expect("work queue lock");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_task_runs_until_it_ends_and_a_waiting_one_holds_up_nothing() {
        let workers = Workers::start("test-worker", 1).unwrap();
        let (done, finished) = mpsc::channel();
        // A task that asks to run again far in the future: the single
        // worker is free meanwhile.
        let mut steps = 0;
        let later = done.clone();
        workers.run(Box::new(move || {
            steps += 1;
            later.send(("slow", steps)).unwrap();
            (steps < 2).then(|| OsClock.now() + Duration::from_secs(3600))
        }));
        assert_eq!(finished.recv().unwrap(), ("slow", 1));
        let mut left = 3;
        workers.run(Box::new(move || {
            left -= 1;
            done.send(("retried", left)).unwrap();
            (left > 0).then(|| OsClock.now())
        }));
        let got: Vec<_> = (0..3).map(|_| finished.recv().unwrap()).collect();
        assert_eq!(got, [("retried", 2), ("retried", 1), ("retried", 0)]);
    }

    #[test]
    fn tasks_run_in_order_of_when_they_are_due() {
        let workers = Workers::start("test-worker", 1).unwrap();
        let (done, finished) = mpsc::channel();
        // Far enough ahead that all three are queued before the first.
        let start = OsClock.now() + Duration::from_millis(500);
        for (name, offset) in [("second", 20), ("first", 10), ("third", 30)] {
            let done = done.clone();
            let at = start + Duration::from_millis(offset);
            workers.run_at(
                at,
                Box::new(move || {
                    done.send(name).unwrap();
                    None
                }),
            );
        }
        let got: Vec<_> = (0..3).map(|_| finished.recv().unwrap()).collect();
        assert_eq!(got, ["first", "second", "third"]);
    }
}
