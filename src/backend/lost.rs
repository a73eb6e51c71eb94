//! What a recovery writes for a run whose owner is gone, shared by the
//! server backends: which tasks it finishes and with what detail.

use super::rows::{merge_details, Col, StoredDetail};
use crate::model::{PipelineRun, TaskDetail, TaskStatus};
use std::time::Duration;

/// The error text of the tasks a recovery finishes.
pub(crate) const OWNER_LOST: &str = "owner lost";

/// Turns `run`'s RUNNING tasks FAILED and its PENDING ones SKIPPED, and
/// returns their new detail: attempts and start kept from `stored` (the
/// run's stored detail, as `merge_details` takes it), ended `now` with the
/// error "owner lost". The run's own status is left to the caller.
pub(crate) fn finish_lost_tasks(
    run: &mut PipelineRun,
    stored: Vec<StoredDetail>,
    now: f64,
) -> Vec<TaskDetail> {
    let mut changed = Vec::new();
    for d in merge_details(run, stored) {
        let status = match d.status {
            TaskStatus::Running => TaskStatus::Failed,
            TaskStatus::Pending => TaskStatus::Skipped,
            _ => continue,
        };
        run.tasks.insert(d.name.clone(), status);
        changed.push(TaskDetail {
            status,
            end_time: Some(now),
            error: Some(OWNER_LOST.to_string()),
            ..d
        });
    }
    changed
}

/// A lease as stored (last renewal, renewal interval in seconds), if both
/// values are there and readable; else the run counts as having none.
pub(crate) fn stored_lease(renewed: Col<f64>, interval: Col<f64>) -> Option<(f64, Duration)> {
    match (renewed, interval) {
        (Ok(Some(at)), Ok(Some(every))) if at.is_finite() && every.is_finite() && every >= 0.0 => {
            // Clamped: a value no run writes must not panic the conversion.
            Some((at, Duration::from_secs_f64(every.min(1e9))))
        }
        _ => None,
    }
}
