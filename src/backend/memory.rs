//! The default backend: runs kept in this process only.

use super::{Backend, ScheduleRecord};
use crate::error::{Error, Result};
use crate::history::RunDag;
use crate::model::{
    now_seconds, OutputRef, PipelineRun, RunStatus, StoredOutput, TaskDetail, TaskStatus,
    TaskUpdate,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// Keeps runs (and their task details) in memory; everything is lost when
/// the process exits. It keeps the newest [`MemoryBackend::DEFAULT_MAX_RUNS`]
/// runs by default (see [`MemoryBackend::with_max_runs`]), so a long-lived
/// process does not grow without limit.
pub struct MemoryBackend {
    state: Mutex<State>,
    max_runs: usize,
}

#[derive(Default)]
struct State {
    runs: HashMap<String, Stored>,
    /// Run ids in the order they were first saved (oldest first).
    order: VecDeque<String>,
    /// Schedules recorded by schedulers, by name.
    schedules: BTreeMap<String, ScheduleRecord>,
    /// Claimed fire times: (schedule, fire time in ms).
    claims: HashSet<(String, i64)>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::with_max_runs(Self::DEFAULT_MAX_RUNS)
    }
}

struct Stored {
    run: PipelineRun,
    details: BTreeMap<String, TaskDetail>,
    outputs: BTreeMap<String, StoredOutput>,
    /// When the owner last renewed its lease, and its renewal interval.
    lease: Option<(f64, Duration)>,
    resumed_from: Option<String>,
    /// The DAG the run ran, shared by the runs of an unchanged pipeline.
    dag: Option<std::sync::Arc<RunDag>>,
}

impl Stored {
    fn new(run: PipelineRun) -> Self {
        Stored {
            run,
            details: BTreeMap::new(),
            outputs: BTreeMap::new(),
            lease: None,
            resumed_from: None,
            dag: None,
        }
    }
}

impl MemoryBackend {
    /// How many runs [`MemoryBackend::new`] keeps.
    pub const DEFAULT_MAX_RUNS: usize = 10_000;

    /// An empty backend keeping the newest [`Self::DEFAULT_MAX_RUNS`] runs.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty backend keeping at most `max_runs` runs (at least 1): when a
    /// new run would pass the bound, the oldest finished run is dropped
    /// (a RUNNING run is never dropped, so a backend with that many runs in
    /// progress holds more). `usize::MAX` keeps every run.
    pub fn with_max_runs(max_runs: usize) -> Self {
        MemoryBackend {
            state: Mutex::new(State::default()),
            max_runs: max_runs.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written record
        // (every mutation is a single insert), so a poisoned map is still sound.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Drops the oldest finished runs while more than `max` are kept.
    fn evict(&mut self, max: usize) {
        let mut i = 0;
        while self.runs.len() > max && i < self.order.len() {
            let running = self
                .runs
                .get(&self.order[i])
                .is_some_and(|s| s.run.status == crate::model::RunStatus::Running);
            if running {
                i += 1;
                continue;
            }
            if let Some(id) = self.order.remove(i) {
                self.runs.remove(&id);
            }
        }
    }
}

fn unknown(run_id: &str) -> Error {
    Error::not_found(format!("no run with id {run_id:?}"))
}

impl Backend for MemoryBackend {
    fn claim_fire(&self, schedule: &str, fire_ms: i64, _owner: &str) -> Result<bool> {
        Ok(self.lock().claims.insert((schedule.to_string(), fire_ms)))
    }

    fn save_schedule(&self, record: &ScheduleRecord) -> Result<()> {
        let mut state = self.lock();
        let mut record = record.clone();
        if let Some(old) = state.schedules.get(&record.name) {
            record.last_fire = match (old.last_fire, record.last_fire) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        state.schedules.insert(record.name.clone(), record);
        Ok(())
    }

    fn list_schedules(&self) -> Result<Vec<ScheduleRecord>> {
        Ok(self.lock().schedules.values().cloned().collect())
    }

    fn save_dag(&self, run_id: &str, _pipeline: &str, dag: &RunDag) -> Result<()> {
        let mut st = self.lock();
        // Runs of an unchanged pipeline share the previous run's DAG.
        let shared = st
            .order
            .back()
            .and_then(|id| st.runs.get(id))
            .and_then(|s| s.dag.clone())
            .filter(|d| **d == *dag)
            .unwrap_or_else(|| std::sync::Arc::new(dag.clone()));
        match st.runs.get_mut(run_id) {
            Some(stored) => {
                stored.dag = Some(shared);
                Ok(())
            }
            None => Err(Error::not_found(format!("run {run_id} not found"))),
        }
    }

    fn get_run_dag(&self, run_id: &str) -> Result<Option<RunDag>> {
        Ok(self
            .lock()
            .runs
            .get(run_id)
            .and_then(|s| s.dag.as_deref().cloned()))
    }

    fn save_run(&self, run: &PipelineRun) -> Result<()> {
        let mut state = self.lock();
        let state = &mut *state;
        let mut new = false;
        let stored = state
            .runs
            .entry(run.run_id.clone())
            .and_modify(|s| s.run = run.clone())
            .or_insert_with(|| {
                new = true;
                Stored::new(run.clone())
            });
        // The record's statuses win over the detail's (as over live updates).
        for (name, status) in &run.tasks {
            if let Some(d) = stored.details.get_mut(name) {
                d.status = *status;
            }
        }
        if new {
            state.order.push_back(run.run_id.clone());
            state.evict(self.max_runs);
        }
        Ok(())
    }

    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        Ok(self.lock().runs.get(run_id).map(|s| s.run.clone()))
    }

    fn update_task_status(&self, run_id: &str, task_name: &str, status: TaskStatus) -> Result<()> {
        let mut state = self.lock();
        let stored = state.runs.get_mut(run_id).ok_or_else(|| unknown(run_id))?;
        stored.run.tasks.insert(task_name.to_string(), status);
        if let Some(d) = stored.details.get_mut(task_name) {
            d.status = status;
        }
        Ok(())
    }

    fn update_tasks(&self, run_id: &str, updates: &[TaskUpdate<'_>]) -> Result<()> {
        let mut state = self.lock();
        let stored = state.runs.get_mut(run_id).ok_or_else(|| unknown(run_id))?;
        for u in updates {
            stored.run.tasks.insert(u.task.to_string(), u.status);
            stored.details.insert(u.task.to_string(), u.to_detail());
            match u.output {
                Some(OutputRef::Stored(b)) => {
                    stored
                        .outputs
                        .insert(u.task.to_string(), StoredOutput::Stored(b.to_vec()));
                }
                Some(OutputRef::NotStored(n)) => {
                    stored
                        .outputs
                        .insert(u.task.to_string(), StoredOutput::NotStored(n));
                }
                None => {}
            }
        }
        Ok(())
    }

    fn renew_lease(&self, run_id: &str, at: f64, interval: Duration) -> Result<()> {
        let mut state = self.lock();
        let stored = state.runs.get_mut(run_id).ok_or_else(|| unknown(run_id))?;
        stored.lease = Some((at, interval));
        Ok(())
    }

    fn recover(&self, stale_after: Duration) -> Result<u64> {
        let now = now_seconds();
        let mut state = self.lock();
        let mut n = 0;
        for stored in state.runs.values_mut() {
            if stored.run.status != RunStatus::Running
                || !super::lease_is_stale(stored.lease, stored.run.start_time, stale_after, now)
            {
                continue;
            }
            for (name, status) in stored.run.tasks.iter_mut() {
                let (new, error) = match status {
                    TaskStatus::Running => (TaskStatus::Failed, "owner lost"),
                    TaskStatus::Pending => (TaskStatus::Skipped, "owner lost"),
                    _ => continue,
                };
                *status = new;
                let d = stored
                    .details
                    .entry(name.clone())
                    .or_insert_with(|| TaskDetail::bare(name.clone(), new));
                d.status = new;
                d.end_time = Some(now);
                d.error = Some(error.to_string());
            }
            stored.run.status = RunStatus::Failed;
            stored.run.end_time = Some(now);
            n += 1;
        }
        Ok(n)
    }

    fn purge(&self, before: f64, pipeline: Option<&str>, dry_run: bool) -> Result<u64> {
        let mut state = self.lock();
        let doomed: Vec<String> = state
            .runs
            .values()
            .filter(|s| {
                s.run.status != RunStatus::Running
                    && s.run.start_time < before
                    && pipeline.is_none_or(|p| s.run.pipeline_name == p)
            })
            .map(|s| s.run.run_id.clone())
            .collect();
        if !dry_run {
            for id in &doomed {
                state.runs.remove(id);
            }
            let State { runs, order, .. } = &mut *state;
            order.retain(|id| runs.contains_key(id));
        }
        Ok(doomed.len() as u64)
    }

    fn get_outputs(&self, run_id: &str) -> Result<BTreeMap<String, StoredOutput>> {
        let state = self.lock();
        let stored = state.runs.get(run_id).ok_or_else(|| unknown(run_id))?;
        Ok(stored.outputs.clone())
    }

    fn link_resume(&self, run_id: &str, original: &str) -> Result<()> {
        let mut state = self.lock();
        let stored = state.runs.get_mut(run_id).ok_or_else(|| unknown(run_id))?;
        stored.resumed_from = Some(original.to_string());
        Ok(())
    }

    fn resumed_from(&self, run_id: &str) -> Result<Option<String>> {
        let state = self.lock();
        let stored = state.runs.get(run_id).ok_or_else(|| unknown(run_id))?;
        Ok(stored.resumed_from.clone())
    }

    fn get_task_details(&self, run_id: &str) -> Result<Vec<TaskDetail>> {
        let state = self.lock();
        let stored = state.runs.get(run_id).ok_or_else(|| unknown(run_id))?;
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
        let state = self.lock();
        let mut out: Vec<&PipelineRun> = state
            .runs
            .values()
            .map(|s| &s.run)
            .filter(|r| pipeline_name.is_none_or(|p| r.pipeline_name == p))
            .collect();
        out.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
        Ok(out.into_iter().take(limit as usize).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunStatus;

    fn run(id: &str, start: f64, status: RunStatus) -> PipelineRun {
        PipelineRun {
            pipeline_name: "p".into(),
            run_id: id.into(),
            start_time: start,
            end_time: None,
            status,
            tasks: BTreeMap::new(),
        }
    }

    #[test]
    fn keeps_the_newest_runs_but_never_drops_a_running_one() {
        let b = MemoryBackend::with_max_runs(3);
        b.save_run(&run("old-running", 1.0, RunStatus::Running))
            .unwrap();
        for i in 2..=6 {
            b.save_run(&run(&format!("r{i}"), i as f64, RunStatus::Success))
                .unwrap();
        }
        let ids: Vec<String> = b
            .list_runs(None, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect();
        assert_eq!(ids, ["r6", "r5", "old-running"]);
        // Saving an existing run again does not count as a new one.
        b.save_run(&run("r5", 5.0, RunStatus::Failed)).unwrap();
        assert_eq!(b.list_runs(None, 100).unwrap().len(), 3);
        // Once finished, the old run goes first.
        b.save_run(&run("old-running", 1.0, RunStatus::Failed))
            .unwrap();
        b.save_run(&run("r7", 7.0, RunStatus::Success)).unwrap();
        assert!(b.get_run("old-running").unwrap().is_none());
        assert_eq!(b.list_runs(None, 100).unwrap().len(), 3);
        assert_eq!(
            MemoryBackend::new().max_runs,
            MemoryBackend::DEFAULT_MAX_RUNS
        );
    }
}
