//! Time as a scheduler sees it: the system clock, or a fake one that tests
//! advance by hand.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A wake-up call: the scheduler registers one so a clock that jumps can
/// make it look at the time again.
pub type Waker = Box<dyn Fn() + Send + Sync>;

/// The time source of a scheduler.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// How long to sleep (in real time) to reach `until_ms`; `None`: until
    /// woken by a [`Waker`] (a clock that moves only when told).
    fn sleep_for(&self, until_ms: i64) -> Option<Duration>;

    /// Registers `wake`, called whenever the clock jumps. The system clock
    /// never jumps and drops it.
    fn on_jump(&self, wake: Waker) {
        drop(wake);
    }
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }

    fn sleep_for(&self, until_ms: i64) -> Option<Duration> {
        let target = UNIX_EPOCH + Duration::from_millis(until_ms.max(0) as u64);
        Some(
            target
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }
}

/// A clock that stands still until [`FakeClock::set`] or
/// [`FakeClock::advance`] moves it; schedulers using it wake at once.
#[derive(Clone, Default)]
pub struct FakeClock {
    inner: Arc<Mutex<FakeInner>>,
}

#[derive(Default)]
struct FakeInner {
    now_ms: i64,
    wakers: Vec<Arc<Waker>>,
}

impl FakeClock {
    /// A clock showing `now_ms` (milliseconds since the Unix epoch).
    pub fn new(now_ms: i64) -> Self {
        let c = FakeClock::default();
        c.lock().now_ms = now_ms;
        c
    }

    /// Moves the clock to `now_ms` and wakes its schedulers.
    pub fn set(&self, now_ms: i64) {
        let wakers = {
            let mut g = self.lock();
            g.now_ms = now_ms;
            g.wakers.clone()
        };
        for w in wakers {
            w();
        }
    }

    /// Moves the clock forward by `by` and wakes its schedulers.
    pub fn advance(&self, by: Duration) {
        let now = self.now_ms();
        self.set(now.saturating_add(by.as_millis() as i64));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.lock().now_ms
    }

    fn sleep_for(&self, _until_ms: i64) -> Option<Duration> {
        None
    }

    fn on_jump(&self, wake: Waker) {
        self.lock().wakers.push(Arc::new(wake));
    }
}
