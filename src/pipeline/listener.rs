//! Observing runs: a listener told of every run start and end and of every
//! task state change, as they are recorded.

use crate::model::{RunStatus, TaskDetail};

/// Receives a run's events, outside every lock of the library, in order
/// for each task (RUNNING before its final status), all before the run call
/// returns: first `on_run(RUNNING)` on the thread that called the run,
/// before any task starts; `on_task` from the run's worker threads; last
/// `on_run` with the final status, on the calling thread. A listener cannot
/// change the run; a panic in it is caught and ignored.
pub trait Listener: Send + Sync {
    /// A run started (status RUNNING) or ended (its final status).
    fn on_run(&self, pipeline: &str, run_id: &str, status: RunStatus) {
        let _ = (pipeline, run_id, status);
    }

    /// A task's state changed, after the change was written to the backend.
    fn on_task(&self, run_id: &str, task: &TaskDetail) {
        let _ = (run_id, task);
    }
}
