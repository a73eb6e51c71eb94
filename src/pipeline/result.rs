//! What a run returns to its caller.

use super::cancel::Interruption;
use super::executor::Slot;
use super::Derived;
use crate::model::{PipelineRun, RunStatus, TaskDetail, TaskStatus};
use std::collections::{BTreeMap, HashMap};
use std::sync::{OnceLock, Weak};

/// The outcome of one run: statuses, outputs and error messages by task.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub(crate) run: PipelineRun,
    pub(crate) outputs: HashMap<String, Vec<u8>>,
    /// Each task's final state, in task-name order (that of `run.tasks`).
    pub(crate) slots: Vec<Slot>,
    /// The details by name, built from `slots` on first use: most callers
    /// read statuses only.
    pub(crate) details: OnceLock<HashMap<String, TaskDetail>>,
    pub(crate) interruption: Option<Interruption>,
    /// Where the task map goes when the result is dropped: the next run of
    /// the unchanged pipeline reuses it (gone when the pipeline changed).
    pub(crate) spare: Weak<Derived>,
}

impl Drop for RunResult {
    fn drop(&mut self) {
        if let Some(derived) = self.spare.upgrade() {
            derived.put_spare(std::mem::take(&mut self.run.tasks));
        }
    }
}

impl RunResult {
    /// The run's id (a UUID).
    pub fn run_id(&self) -> &str {
        &self.run.run_id
    }
    /// The pipeline that ran.
    pub fn pipeline_name(&self) -> &str {
        &self.run.pipeline_name
    }
    /// `SUCCESS` or `FAILED`.
    pub fn status(&self) -> RunStatus {
        self.run.status
    }
    /// When the run started, in seconds since the Unix epoch.
    pub fn start_time(&self) -> f64 {
        self.run.start_time
    }
    /// When the run ended, in seconds since the Unix epoch.
    pub fn end_time(&self) -> Option<f64> {
        self.run.end_time
    }
    /// Status of the task named `task`, `None` if the pipeline has no such task.
    pub fn task_status(&self, task: &str) -> Option<TaskStatus> {
        self.run.tasks.get(task).copied()
    }
    /// Every task's final status, by name.
    pub fn tasks(&self) -> &BTreeMap<String, TaskStatus> {
        &self.run.tasks
    }
    /// The output a successful task produced, if it produced one.
    pub fn output(&self, task: &str) -> Option<&[u8]> {
        self.outputs.get(task).map(Vec::as_slice)
    }
    /// Why a FAILED task failed (its last attempt's error or panic message,
    /// a timeout, a cancellation).
    pub fn error(&self, task: &str) -> Option<&str> {
        self.details()
            .get(task)
            .filter(|d| d.status == TaskStatus::Failed)
            .and_then(|d| d.error.as_deref())
    }
    /// A task's detail: attempts, start and end times, error.
    pub fn detail(&self, task: &str) -> Option<&TaskDetail> {
        self.details().get(task)
    }

    /// The FAILED tasks with their errors, by name, without building the
    /// details of every task.
    pub(crate) fn failures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.named_slots()
            .filter(|(_, s)| s.status == TaskStatus::Failed)
            .filter_map(|(name, s)| Some((name.as_str(), s.error()?)))
    }

    fn details(&self) -> &HashMap<String, TaskDetail> {
        self.details.get_or_init(|| {
            self.named_slots()
                .map(|(name, s)| (name.clone(), s.detail(name)))
                .collect()
        })
    }

    /// Each task's name with its final state (both in name order).
    fn named_slots(&self) -> impl Iterator<Item = (&String, &Slot)> {
        self.run.tasks.keys().zip(&self.slots)
    }
    /// Why the run stopped before its end: cancelled or timed out.
    pub fn interruption(&self) -> Option<&Interruption> {
        self.interruption.as_ref()
    }
    /// The record the backend was given at the end of the run.
    pub fn as_run(&self) -> &PipelineRun {
        &self.run
    }
}

#[cfg(test)]
mod tests {
    use crate::{Pipeline, Task};

    #[test]
    fn failures_are_the_errors_of_the_failed_tasks() {
        let mut p = Pipeline::new("failures").unwrap();
        p.add_task(Task::new("ok", |_| Ok(()))).unwrap();
        p.add_task(Task::new("bad", |_| Err("boom".into())))
            .unwrap();
        p.add_task(Task::new("after", |_| Ok(()))).unwrap();
        p.add_dependency("bad", "after").unwrap();
        let r = p.run().unwrap();
        let failures: Vec<(&str, &str)> = r.failures().collect();
        assert_eq!(failures, [("bad", "boom")]);
        for t in ["ok", "bad", "after"] {
            let listed = failures.iter().find(|(n, _)| *n == t).map(|(_, e)| *e);
            assert_eq!(r.error(t), listed, "{t}");
        }
    }

    #[test]
    fn a_reused_task_map_starts_each_run_pending() {
        use crate::{Backend, MemoryBackend, RunStatus, TaskStatus};
        use std::sync::Arc;
        let backend = Arc::new(MemoryBackend::new());
        let mut p = Pipeline::with_backend("reuse", backend.clone()).unwrap();
        let seen = backend.clone();
        p.add_task(Task::new("a", |_| Ok(()))).unwrap();
        // "b" sees the stored run as it stands while it runs: "c" not begun.
        p.add_task(Task::new("b", move |ctx| {
            let run = seen.get_run(ctx.run_id())?.ok_or("no run")?;
            match run.tasks.get("c") {
                Some(TaskStatus::Pending) => Ok(()),
                other => Err(format!("c is {other:?}").into()),
            }
        }))
        .unwrap();
        p.add_task(Task::new("c", |_| Ok(()))).unwrap();
        p.add_dependency("a", "b").unwrap();
        p.add_dependency("b", "c").unwrap();
        let spare_kept = |p: &Pipeline| {
            let derived = p.derived.get().expect("the pipeline has run");
            derived.spare.lock().unwrap().is_some()
        };
        for round in 0..3 {
            // Each result dropped here leaves its map to the next run.
            let r = p.run().unwrap();
            assert_eq!(r.status(), RunStatus::Success, "{:?}", r.error("b"));
            assert!(r.tasks().values().all(|s| *s == TaskStatus::Success));
            // From the second run on, the run took the map the last left.
            assert!(round == 0 || !spare_kept(&p), "round {round}");
            drop(r);
            assert!(spare_kept(&p), "round {round}");
        }
        // A changed pipeline does not get the old map.
        p.add_task(Task::new("d", |_| Ok(()))).unwrap();
        let r = p.run().unwrap();
        assert_eq!(r.tasks().len(), 4);
        assert_eq!(r.task_status("d"), Some(TaskStatus::Success));
    }
}
