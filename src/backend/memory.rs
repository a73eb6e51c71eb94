//! The default backend: runs kept in this process only.

use super::Backend;
use crate::error::{Error, Result};
use crate::model::{PipelineRun, TaskDetail, TaskStatus, TaskUpdate};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Keeps runs (and their task details) in a map in memory; everything is
/// lost when the process exits.
#[derive(Default)]
pub struct MemoryBackend {
    runs: Mutex<HashMap<String, Stored>>,
}

struct Stored {
    run: PipelineRun,
    details: BTreeMap<String, TaskDetail>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stored>> {
        // A panic while holding the lock cannot leave a half-written record
        // (every mutation is a single insert), so a poisoned map is still sound.
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn unknown(run_id: &str) -> Error {
    Error::not_found(format!("no run with id {run_id:?}"))
}

impl Backend for MemoryBackend {
    fn save_run(&self, run: &PipelineRun) -> Result<()> {
        let mut runs = self.lock();
        let stored = runs
            .entry(run.run_id.clone())
            .and_modify(|s| s.run = run.clone())
            .or_insert_with(|| Stored {
                run: run.clone(),
                details: BTreeMap::new(),
            });
        // The record's statuses win over the detail's (as over live updates).
        for (name, status) in &run.tasks {
            if let Some(d) = stored.details.get_mut(name) {
                d.status = *status;
            }
        }
        Ok(())
    }

    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        Ok(self.lock().get(run_id).map(|s| s.run.clone()))
    }

    fn update_task_status(&self, run_id: &str, task_name: &str, status: TaskStatus) -> Result<()> {
        let mut runs = self.lock();
        let stored = runs.get_mut(run_id).ok_or_else(|| unknown(run_id))?;
        stored.run.tasks.insert(task_name.to_string(), status);
        if let Some(d) = stored.details.get_mut(task_name) {
            d.status = status;
        }
        Ok(())
    }

    fn update_tasks(&self, run_id: &str, updates: &[TaskUpdate<'_>]) -> Result<()> {
        let mut runs = self.lock();
        let stored = runs.get_mut(run_id).ok_or_else(|| unknown(run_id))?;
        for u in updates {
            stored.run.tasks.insert(u.task.to_string(), u.status);
            stored.details.insert(u.task.to_string(), u.to_detail());
        }
        Ok(())
    }

    fn get_task_details(&self, run_id: &str) -> Result<Vec<TaskDetail>> {
        let runs = self.lock();
        let stored = runs.get(run_id).ok_or_else(|| unknown(run_id))?;
        Ok(stored
            .run
            .tasks
            .iter()
            .map(|(name, status)| match stored.details.get(name) {
                Some(d) => TaskDetail {
                    status: *status,
                    ..d.clone()
                },
                None => TaskDetail::bare(name.clone(), *status),
            })
            .collect())
    }

    fn list_runs(&self, pipeline_name: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>> {
        let runs = self.lock();
        let mut out: Vec<&PipelineRun> = runs
            .values()
            .map(|s| &s.run)
            .filter(|r| pipeline_name.is_none_or(|p| r.pipeline_name == p))
            .collect();
        out.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
        Ok(out.into_iter().take(limit as usize).cloned().collect())
    }
}
