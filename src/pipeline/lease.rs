//! The run's lease: a thread of the run renews it in the backend while the
//! run goes on, whatever its tasks are doing, so that recovery in any
//! process can tell a live run from one whose process died.

use super::executor::Exec;
use crate::model::now_seconds;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

impl Exec<'_> {
    /// Renews the lease every `every` until every worker has returned. A
    /// failed renewal is tried again at the next tick: the run itself does
    /// not depend on its lease.
    pub(super) fn renew_lease_until_done(&self, every: Duration) {
        let backend = &self.p.backend;
        let run_id = self.shared.run_id;
        let mut next = Instant::now() + every;
        let mut g = self.lock();
        loop {
            if g.done {
                return;
            }
            let now = Instant::now();
            if now >= next {
                drop(g);
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    backend.renew_lease(run_id, now_seconds(), every)
                }));
                next = Instant::now() + every;
                g = self.lock();
                continue;
            }
            g = self
                .watch
                .wait_timeout(g, next - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
