//! Task timeouts: a thread of the run that finalizes a task at its deadline
//! while its callback may still be running.
//!
//! At the deadline the task is recorded FAILED ("timed out after N ms") and
//! released, so its children are decided by their trigger rules at once;
//! its callback, asked to stop through `TaskContext::is_cancelled`, keeps
//! its worker until it returns, and its result is then dropped.

use super::events::Events;
use super::executor::{timed_out_error, Exec, Held, Slot};
use crate::model::{now_seconds, Stamp, TaskStatus};
use std::time::Instant;

impl Exec<'_> {
    /// Registers the deadline of task `i`'s attempt number `attempt`.
    pub(super) fn watch_attempt(&self, i: usize, deadline: Instant, attempt: u32, start: f64) {
        let mut g = self.lock();
        g.slots[i].attempts = attempt;
        g.slots[i].start = Stamp::at(start);
        let earliest = g.deadlines.first().is_none_or(|&(d, _)| deadline < d);
        g.deadlines.insert((deadline, i));
        drop(g);
        if earliest {
            self.watch.notify_all();
        }
    }

    /// Ends the watch of an attempt whose callback returned: `true` if the
    /// watchdog finalized the task first (its result is then dropped).
    pub(super) fn unwatch_attempt(&self, i: usize, deadline: Instant) -> bool {
        let mut g = self.lock();
        if g.slots[i].timed_out {
            return true;
        }
        g.deadlines.remove(&(deadline, i));
        false
    }

    /// The watchdog's loop: sleeps until the earliest deadline, finalizes
    /// the tasks past theirs, and leaves when every worker has returned.
    pub(super) fn watchdog(&self, events: &Events<'_>) {
        let mut g = self.lock();
        loop {
            if g.done {
                return;
            }
            let now = Instant::now();
            let mut expired = Vec::new();
            while let Some(&(d, i)) = g.deadlines.first() {
                if d > now {
                    break;
                }
                g.deadlines.pop_first();
                g.slots[i].timed_out = true;
                expired.push(Held::new(
                    i,
                    Slot {
                        status: TaskStatus::Failed,
                        attempts: g.slots[i].attempts,
                        start: g.slots[i].start,
                        end: Stamp::at(now_seconds()),
                        error: Some(Box::new(timed_out_error(self.p.tasks[i].extra().timeout))),
                        timed_out: true,
                    },
                ));
            }
            if !expired.is_empty() {
                drop(g);
                self.flush(&mut expired, None, events);
                g = self.lock();
                continue;
            }
            g = match g.deadlines.first() {
                Some(&(d, _)) => {
                    self.watch
                        .wait_timeout(g, d.saturating_duration_since(now))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.watch.wait(g).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}
