//! Turning a stored row (plus the live per-task rows merged into it) into a
//! [`PipelineRun`], shared by the SQL backends.

use crate::error::{Error, Result};
use crate::model::{
    parse_tasks, truncate, PipelineRun, RunListing, RunStatus, TaskDetail, TaskStatus, TaskUpdate,
    UnreadableRun,
};

/// One column of a stored row as read: its value (`None` for NULL), or why
/// it cannot be read as the type the layout has there.
pub(crate) type Col<T> = std::result::Result<Option<T>, String>;

/// A run row as read, before its strings are checked. `live` is the JSON
/// object `{task: status}` aggregated from the live per-task table, or NULL.
/// Each column is read on its own, so one unreadable value spoils its row
/// only, never a whole listing.
pub(crate) struct StoredRun {
    pub run_id: Col<String>,
    pub pipeline_name: Col<String>,
    pub start_time: Col<f64>,
    pub end_time: Col<f64>,
    pub status: Col<String>,
    pub tasks: Col<String>,
    pub live: Col<String>,
}

/// The reason a text value stands where a number was expected.
pub(crate) fn text_not_number(text: &str) -> String {
    format!("text {:?} where a number was expected", truncate(text, 80))
}

impl StoredRun {
    /// The run, or its run id (as far as readable) and what is wrong.
    fn decode(self) -> std::result::Result<PipelineRun, UnreadableRun> {
        let run_id = match self.run_id {
            Ok(Some(id)) => id,
            Ok(None) => return Err(unreadable("", "column run_id is NULL")),
            Err(why) => return Err(unreadable("", format!("column run_id: {why}"))),
        };
        let col = |name: &str, why: String| unreadable(&run_id, format!("column {name}: {why}"));
        let pipeline_name = self.pipeline_name.map_err(|w| col("pipeline_name", w))?;
        let time = |name: &str, v: Col<f64>| match v.map_err(|w| col(name, w))? {
            Some(t) if !t.is_finite() => Err(col(name, format!("{t} is not a time"))),
            t => Ok(t),
        };
        let start_time = time("start_time", self.start_time)?;
        let end_time = time("end_time", self.end_time)?;
        let status = match self.status.map_err(|w| col("status", w))? {
            None => return Err(col("status", "NULL".into())),
            Some(s) => s
                .parse::<RunStatus>()
                .map_err(|e| col("status", e.message().to_string()))?,
        };
        let tasks = self.tasks.map_err(|w| col("tasks", w))?;
        let mut tasks = parse_tasks(tasks.as_deref()).map_err(|w| col("tasks", w))?;
        let live = self
            .live
            .and_then(|l| parse_tasks(l.as_deref()))
            .map_err(|w| unreadable(&run_id, format!("live task state: {w}")))?;
        tasks.extend(live);
        Ok(PipelineRun {
            pipeline_name: pipeline_name.unwrap_or_default(),
            run_id,
            start_time: start_time.unwrap_or(0.0),
            end_time,
            status,
            tasks,
        })
    }

    /// The run, or a `Backend` error naming the run and the bad column.
    pub(crate) fn into_run(self, backend: &str) -> Result<PipelineRun> {
        self.decode().map_err(|u| {
            Error::backend(format!(
                "{backend}: run {:?} cannot be read: {}",
                u.run_id, u.reason
            ))
        })
    }
}

fn unreadable(run_id: &str, reason: impl Into<String>) -> UnreadableRun {
    UnreadableRun {
        run_id: run_id.to_string(),
        reason: reason.into(),
    }
}

/// Rows as listed, in their order, split into readable runs and the others.
pub(crate) fn listing(rows: Vec<StoredRun>) -> RunListing {
    let mut out = RunListing::default();
    for row in rows {
        match row.decode() {
            Ok(run) => out.runs.push(run),
            Err(u) => out.unreadable.push(u),
        }
    }
    out
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

/// One task's stored detail as read from a backend's own tables (the live
/// table while the run goes on, the detail table after its `save_run`).
pub(crate) struct StoredDetail {
    pub name: String,
    pub attempts: i64,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub error: Option<String>,
}

/// One [`TaskDetail`] per task of `run` (its statuses as `get_run` merges
/// them), in task-name order, with the stored detail of the task where there
/// is one (a later entry of `stored` wins over an earlier one of the same
/// task), else bare. Detail of a task the run no longer has is left out.
pub(crate) fn merge_details(
    run: &PipelineRun,
    stored: impl IntoIterator<Item = StoredDetail>,
) -> Vec<TaskDetail> {
    let mut by_name: std::collections::HashMap<String, StoredDetail> =
        std::collections::HashMap::new();
    for d in stored {
        by_name.insert(d.name.clone(), d);
    }
    run.tasks
        .iter()
        .map(|(name, status)| match by_name.remove(name) {
            Some(d) => TaskDetail {
                name: name.clone(),
                status: *status,
                // A value no run writes (negative, huge) reads as what fits.
                attempts: u32::try_from(d.attempts.max(0)).unwrap_or(u32::MAX),
                start_time: d.start_time.filter(|t| t.is_finite()),
                end_time: d.end_time.filter(|t| t.is_finite()),
                error: d.error,
            },
            None => TaskDetail::bare(name.clone(), *status),
        })
        .collect()
}

/// What a detailed update was about, for error messages.
pub(crate) fn describe_task_updates(run_id: &str, updates: &[TaskUpdate<'_>]) -> String {
    let changes: Vec<(&str, TaskStatus)> = updates.iter().map(|u| (u.task, u.status)).collect();
    describe_updates(run_id, &changes)
}
