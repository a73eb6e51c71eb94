//! The retry budget of one pipeline run, shared by every thread of the run.
//!
//! Without it, each server call retries for up to
//! [`ServerOptions::retry_budget`](super::ServerOptions::retry_budget) on its
//! own, so a run facing a dead server spends one full budget on the task
//! update that hit the outage and another one on the final `save_run`. With a
//! [`RunBudget`] installed on the calling thread ([`enter`]), the pool's retry
//! loop measures the outage, not the call: from the run's first failed call
//! since its last successful one, whichever thread made them. So all the
//! retries of one outage of a run together take at most `retry_budget` (plus
//! the attempt in flight when it runs out); once it is spent, each further
//! call of that run makes a single attempt. A successful call ends the
//! outage, so a long run survives several short, separate outages.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When the server calls of one run started failing, if they are failing.
pub(crate) struct RunBudget {
    origin: Instant,
    /// Nanoseconds from `origin` to the run's first failure since its last
    /// success, plus one; 0 while calls succeed.
    failing_since: AtomicU64,
    /// A call of this outage gave up: the budget is spent until a success.
    /// Kept apart from the time measured, because a call gives up when its
    /// next backoff would pass the budget, possibly before the budget's end.
    spent: AtomicBool,
}

impl Default for RunBudget {
    fn default() -> Self {
        RunBudget {
            origin: Instant::now(),
            failing_since: AtomicU64::new(0),
            spent: AtomicBool::new(false),
        }
    }
}

impl RunBudget {
    /// Records a call that failed at `now`; returns for how long the run's
    /// calls have been failing (zero for the first failure of an outage).
    pub(crate) fn failed(&self, now: Instant) -> Duration {
        let mark = u64::try_from(now.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX - 1)
            + 1;
        match self
            .failing_since
            .compare_exchange(0, mark, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Duration::ZERO,
            Err(since) => Duration::from_nanos(mark.saturating_sub(since)),
        }
    }

    /// Records that a call gave up on this outage: until a success, every
    /// further call of the run makes a single attempt.
    pub(crate) fn spend(&self) {
        self.spent.store(true, Ordering::Release);
    }

    /// Whether a call gave up on the current outage.
    pub(crate) fn is_spent(&self) -> bool {
        self.spent.load(Ordering::Acquire)
    }

    /// Records a call that succeeded: the outage, if any, is over.
    pub(crate) fn succeeded(&self) {
        // A load first: the common case (no outage) writes nothing.
        if self.failing_since.load(Ordering::Relaxed) != 0 {
            self.failing_since.store(0, Ordering::Release);
        }
        if self.spent.load(Ordering::Relaxed) {
            self.spent.store(false, Ordering::Release);
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<RunBudget>>> = const { RefCell::new(None) };
}

/// Keeps a run budget installed on this thread; restores the previous one
/// (a nested run's caller's) when dropped.
pub(crate) struct BudgetScope {
    previous: Option<Arc<RunBudget>>,
    /// Tied to the thread whose budget it replaced.
    _not_send: PhantomData<*const ()>,
}

impl Drop for BudgetScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

/// Installs `b` as the current thread's run budget until the guard drops
/// (which restores the previous one; scopes nest).
#[must_use = "the budget is uninstalled when the scope is dropped"]
pub(crate) fn enter(b: &Arc<RunBudget>) -> BudgetScope {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(b.clone()));
    BudgetScope {
        previous,
        _not_send: PhantomData,
    }
}

/// Calls `f` with the current thread's run budget, if one is installed.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&RunBudget>) -> R) -> R {
    CURRENT.with(|c| f(c.borrow().as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_restore() {
        let outer = Arc::new(RunBudget::default());
        let inner = Arc::new(RunBudget::default());
        assert!(with_current(|b| b.is_none()));
        {
            let _o = enter(&outer);
            assert!(with_current(|b| std::ptr::eq(b.unwrap(), &*outer)));
            {
                let _i = enter(&inner);
                assert!(with_current(|b| std::ptr::eq(b.unwrap(), &*inner)));
            }
            assert!(with_current(|b| std::ptr::eq(b.unwrap(), &*outer)));
            // Other threads see none unless they enter it themselves.
            std::thread::spawn(|| assert!(with_current(|b| b.is_none())))
                .join()
                .unwrap();
        }
        assert!(with_current(|b| b.is_none()));
    }

    #[test]
    fn an_outage_is_measured_from_its_first_failure_until_a_success() {
        let b = RunBudget::default();
        let t0 = Instant::now();
        assert_eq!(b.failed(t0), Duration::ZERO);
        assert_eq!(
            b.failed(t0 + Duration::from_millis(1500)),
            Duration::from_millis(1500)
        );
        b.succeeded();
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.failed(t1), Duration::ZERO);
        assert_eq!(
            b.failed(t1 + Duration::from_millis(20)),
            Duration::from_millis(20)
        );
    }
}
