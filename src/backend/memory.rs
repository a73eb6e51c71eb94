//! The default backend: runs kept in this process only.

use super::Backend;
use crate::error::{Error, Result};
use crate::model::{PipelineRun, TaskStatus};
use std::collections::HashMap;
use std::sync::Mutex;

/// Keeps runs in a map in memory; everything is lost when the process exits.
#[derive(Default)]
pub struct MemoryBackend {
    runs: Mutex<HashMap<String, PipelineRun>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PipelineRun>> {
        // A panic while holding the lock cannot leave a half-written record
        // (every mutation is a single insert), so a poisoned map is still sound.
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for MemoryBackend {
    fn save_run(&self, run: &PipelineRun) -> Result<()> {
        self.lock().insert(run.run_id.clone(), run.clone());
        Ok(())
    }

    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        Ok(self.lock().get(run_id).cloned())
    }

    fn update_task_status(&self, run_id: &str, task_name: &str, status: TaskStatus) -> Result<()> {
        let mut runs = self.lock();
        let run = runs
            .get_mut(run_id)
            .ok_or_else(|| Error::not_found(format!("no run with id {run_id:?}")))?;
        match run.tasks.get_mut(task_name) {
            Some(s) => *s = status,
            None => {
                run.tasks.insert(task_name.to_string(), status);
            }
        }
        Ok(())
    }

    fn list_runs(&self, pipeline_name: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>> {
        let runs = self.lock();
        let mut out: Vec<&PipelineRun> = runs
            .values()
            .filter(|r| pipeline_name.is_none_or(|p| r.pipeline_name == p))
            .collect();
        out.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
        Ok(out.into_iter().take(limit as usize).cloned().collect())
    }
}
