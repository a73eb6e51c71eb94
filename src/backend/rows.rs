//! Turning a stored row (plus the live per-task rows merged into it) into a
//! [`PipelineRun`], shared by the server backends.

use crate::error::{Error, Result};
use crate::model::{parse_tasks_json, PipelineRun, RunStatus, TaskStatus};

/// A run row as read, before its strings are checked. `live` is the JSON
/// object `{task: status}` aggregated from the live per-task table, or NULL.
pub(crate) struct StoredRun {
    pub run_id: String,
    pub pipeline_name: Option<String>,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub status: Option<String>,
    pub tasks: Option<String>,
    pub live: Option<String>,
}

impl StoredRun {
    pub(crate) fn into_run(self, backend: &str) -> Result<PipelineRun> {
        let run_id = self.run_id;
        let ctx = |e: Error| e.context(format!("{backend}: run {run_id:?}"));
        let status = self
            .status
            .as_deref()
            .ok_or_else(|| Error::backend("status is NULL"))
            .and_then(|s| {
                s.parse::<RunStatus>()
                    .map_err(|e| Error::backend(e.message()))
            })
            .map_err(ctx)?;
        let mut tasks = parse_tasks_json(self.tasks.as_deref()).map_err(ctx)?;
        let live = parse_tasks_json(self.live.as_deref())
            .map_err(|e| ctx(Error::backend(format!("live task state: {}", e.message()))))?;
        tasks.extend(live);
        Ok(PipelineRun {
            pipeline_name: self.pipeline_name.unwrap_or_default(),
            run_id,
            start_time: self.start_time.unwrap_or(0.0),
            end_time: self.end_time,
            status,
            tasks,
        })
    }
}

/// What an update was about, for error messages.
pub(crate) fn describe_updates(run_id: &str, changes: &[(&str, TaskStatus)]) -> String {
    let what: Vec<String> = changes
        .iter()
        .map(|(t, s)| format!("task {t:?} as {s}"))
        .collect();
    format!("could not record {} of run {run_id}", what.join(", "))
}

/// What a save was about, for error messages.
pub(crate) fn describe_save(run: &PipelineRun) -> String {
    format!(
        "could not save run {} of pipeline {:?} (status {}, {} task(s))",
        run.run_id,
        run.pipeline_name,
        run.status,
        run.tasks.len()
    )
}
