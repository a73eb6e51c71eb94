//! Marks the threads that are inside a backend which serializes its callers
//! (a custom backend without `DORCH_BACKEND_THREAD_SAFE`).
//!
//! Such a backend lets one thread in at a time, and that thread may call back
//! into the library, even start a run on the same backend. The run must then
//! not hand work to worker threads of its own: they would wait to enter the
//! backend while the thread that holds it waits for them. The executor asks
//! [`active`] and runs everything on the calling thread instead.

use std::cell::Cell;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// The calling thread is inside a serializing backend until the guard drops.
pub(crate) fn enter() -> Inside {
    let _ = DEPTH.try_with(|d| d.set(d.get() + 1));
    Inside(())
}

/// Whether the calling thread is inside a serializing backend.
pub(crate) fn active() -> bool {
    DEPTH.try_with(|d| d.get() > 0).unwrap_or(false)
}

/// Leaves the serializing backend when dropped.
pub(crate) struct Inside(());

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}
