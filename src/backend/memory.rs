//! The default backend: runs kept in this process only.

use super::memory_run::{RunTasks, StoredDag};
use super::{Backend, ScheduleRecord};
use crate::error::{Error, Result};
use crate::history::{RunDag, SharedDag};
use crate::model::{
    now_seconds, PipelineRun, RunStatus, StoredOutput, TaskDetail, TaskStatus, TaskUpdate,
};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, Weak};
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
    /// Hashed with Fx, not SipHash: every task update looks its run up.
    runs: FxHashMap<String, Stored>,
    /// Run ids in the order they were first saved (oldest first).
    order: VecDeque<String>,
    /// Schedules recorded by schedulers, by name.
    schedules: BTreeMap<String, ScheduleRecord>,
    /// Claimed fire times: (schedule, fire time in ms).
    claims: HashSet<(String, i64)>,
    /// The last DAG given by `save_shared_dag` and what it was stored as:
    /// the runs of an unchanged pipeline hand over the same one, found by
    /// address (the weak reference keeps the address from being reused).
    last_shared_dag: Option<(Weak<SharedDag>, Arc<StoredDag>)>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::with_max_runs(Self::DEFAULT_MAX_RUNS)
    }
}

/// A run record without its tasks, which [`RunTasks`] keeps.
struct Header {
    pipeline_name: String,
    run_id: String,
    start_time: f64,
    end_time: Option<f64>,
    status: RunStatus,
}

impl Header {
    fn new(run: &PipelineRun) -> Self {
        Header {
            pipeline_name: run.pipeline_name.clone(),
            run_id: run.run_id.clone(),
            start_time: run.start_time,
            end_time: run.end_time,
            status: run.status,
        }
    }

    /// Takes `run`'s fields; `clone_from` reuses the name's buffer, so
    /// saving a run again allocates nothing.
    fn assign(&mut self, run: &PipelineRun) {
        self.pipeline_name.clone_from(&run.pipeline_name);
        self.run_id.clone_from(&run.run_id);
        self.start_time = run.start_time;
        self.end_time = run.end_time;
        self.status = run.status;
    }
}

struct Stored {
    header: Header,
    tasks: RunTasks,
    /// When the owner last renewed its lease, and its renewal interval.
    lease: Option<(f64, Duration)>,
    resumed_from: Option<String>,
    /// The DAG the run ran, shared by the runs of an unchanged pipeline.
    dag: Option<Arc<StoredDag>>,
}

impl Stored {
    fn new(run: &PipelineRun, previous: Option<&Stored>) -> Self {
        Stored {
            header: Header::new(run),
            tasks: RunTasks::new(&run.tasks, previous.map(|p| &p.tasks)),
            lease: None,
            resumed_from: None,
            dag: None,
        }
    }

    /// The run record, rebuilt.
    fn run(&self) -> PipelineRun {
        let h = &self.header;
        PipelineRun {
            pipeline_name: h.pipeline_name.clone(),
            run_id: h.run_id.clone(),
            start_time: h.start_time,
            end_time: h.end_time,
            status: h.status,
            tasks: self.tasks.statuses(),
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
        // that breaks the store's invariants (a task update either added its
        // name with a status slot or did not), so a poisoned map is still sound.
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
                .is_some_and(|s| s.header.status == RunStatus::Running);
            if running {
                i += 1;
                continue;
            }
            if let Some(id) = self.order.remove(i) {
                self.runs.remove(&id);
            }
        }
    }

    /// Gives run `run_id` the DAG `make` returns for its tasks; returns it.
    fn attach_dag(
        &mut self,
        run_id: &str,
        make: impl FnOnce(&RunTasks) -> Arc<StoredDag>,
    ) -> Result<Arc<StoredDag>> {
        let stored = self
            .runs
            .get_mut(run_id)
            .ok_or_else(|| Error::not_found(format!("run {run_id} not found")))?;
        Ok(stored.dag.insert(make(&stored.tasks)).clone())
    }

    /// The newest run, whose task names the next run likely shares.
    fn newest(&self) -> Option<&Stored> {
        self.order.back().and_then(|id| self.runs.get(id))
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

    fn save_shared_dag(&self, run_id: &str, pipeline: &str, dag: &Arc<SharedDag>) -> Result<()> {
        let mut st = self.lock();
        let known = st
            .last_shared_dag
            .as_ref()
            .filter(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(dag)))
            .map(|(_, stored)| stored.clone());
        if let Some(stored_dag) = known {
            return st.attach_dag(run_id, |_| stored_dag).map(drop);
        }
        let Some(numbered) = dag.as_numbered() else {
            drop(st);
            return self.save_dag(run_id, pipeline, dag.dag());
        };
        let stored_dag = st.attach_dag(run_id, |tasks| {
            Arc::new(StoredDag::from_numbered(numbered, tasks))
        })?;
        st.last_shared_dag = Some((Arc::downgrade(dag), stored_dag));
        Ok(())
    }

    fn save_dag(&self, run_id: &str, _pipeline: &str, dag: &RunDag) -> Result<()> {
        let mut st = self.lock();
        // Runs of an unchanged pipeline share the previous run's DAG. The
        // run itself is usually the newest (saved just before its DAG), so
        // the previous one is the newest other run.
        let shared = st
            .order
            .iter()
            .rev()
            .find(|id| *id != run_id)
            .and_then(|id| st.runs.get(id))
            .and_then(|s| s.dag.clone())
            .filter(|d| d.is(dag));
        st.attach_dag(run_id, |tasks| {
            shared.unwrap_or_else(|| Arc::new(StoredDag::new(dag, tasks)))
        })
        .map(drop)
    }

    fn get_run_dag(&self, run_id: &str) -> Result<Option<RunDag>> {
        Ok(self
            .lock()
            .runs
            .get(run_id)
            .and_then(|s| s.dag.as_deref().map(StoredDag::to_dag)))
    }

    fn save_run(&self, run: &PipelineRun) -> Result<()> {
        let mut state = self.lock();
        let state = &mut *state;
        if let Some(stored) = state.runs.get_mut(&run.run_id) {
            stored.header.assign(run);
            stored.tasks.replace_statuses(&run.tasks);
            return Ok(());
        }
        let stored = Stored::new(run, state.newest());
        state.runs.insert(run.run_id.clone(), stored);
        state.order.push_back(run.run_id.clone());
        state.evict(self.max_runs);
        Ok(())
    }

    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        Ok(self.lock().runs.get(run_id).map(Stored::run))
    }

    fn update_task_status(&self, run_id: &str, task_name: &str, status: TaskStatus) -> Result<()> {
        let mut state = self.lock();
        let stored = state.runs.get_mut(run_id).ok_or_else(|| unknown(run_id))?;
        stored.tasks.set_status(task_name, status);
        Ok(())
    }

    fn update_tasks(&self, run_id: &str, updates: &[TaskUpdate<'_>]) -> Result<()> {
        let mut state = self.lock();
        let stored = state.runs.get_mut(run_id).ok_or_else(|| unknown(run_id))?;
        for u in updates {
            stored.tasks.update(u);
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
            let h = &mut stored.header;
            if h.status != RunStatus::Running
                || !super::lease_is_stale(stored.lease, h.start_time, stale_after, now)
            {
                continue;
            }
            stored.tasks.finish_lost(now, super::lost::OWNER_LOST);
            h.status = RunStatus::Failed;
            h.end_time = Some(now);
            n += 1;
        }
        Ok(n)
    }

    fn purge(&self, before: f64, pipeline: Option<&str>, dry_run: bool) -> Result<u64> {
        let mut state = self.lock();
        let doomed: Vec<String> = state
            .runs
            .values()
            .map(|s| &s.header)
            .filter(|h| {
                h.status != RunStatus::Running
                    && h.start_time < before
                    && pipeline.is_none_or(|p| h.pipeline_name == p)
            })
            .map(|h| h.run_id.clone())
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
        Ok(stored.tasks.outputs())
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
        Ok(stored.tasks.details())
    }

    fn list_runs(&self, pipeline_name: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>> {
        let state = self.lock();
        let mut out: Vec<&Stored> = state
            .runs
            .values()
            .filter(|s| pipeline_name.is_none_or(|p| s.header.pipeline_name == p))
            .collect();
        out.sort_by(|a, b| b.header.start_time.total_cmp(&a.header.start_time));
        Ok(out
            .into_iter()
            .take(limit as usize)
            .map(Stored::run)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OutputRef;
    use crate::model::TaskStatus::{Failed, Pending, Running, Skipped, Success};

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

    fn with_tasks(id: &str, tasks: &[(&str, TaskStatus)]) -> PipelineRun {
        PipelineRun {
            tasks: tasks.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
            ..run(id, 1.0, RunStatus::Running)
        }
    }

    fn upd(task: &str, status: TaskStatus) -> TaskUpdate<'_> {
        TaskUpdate {
            task,
            status,
            attempts: 1,
            start_time: Some(10.0),
            end_time: None,
            error: None,
            output: None,
        }
    }

    fn statuses(b: &MemoryBackend, id: &str) -> Vec<(String, TaskStatus)> {
        b.get_run(id).unwrap().unwrap().tasks.into_iter().collect()
    }

    #[test]
    fn a_task_not_in_the_record_is_added_by_an_update() {
        let b = MemoryBackend::new();
        b.save_run(&with_tasks("r", &[("b", Pending)])).unwrap();
        b.update_tasks("r", &[upd("a", Running), upd("c", Running)])
            .unwrap();
        b.update_task_status("r", "d", Success).unwrap();
        assert_eq!(
            statuses(&b, "r"),
            [
                ("a".to_string(), Running),
                ("b".to_string(), Pending),
                ("c".to_string(), Running),
                ("d".to_string(), Success),
            ]
        );
        let details = b.get_task_details("r").unwrap();
        let names: Vec<&str> = details.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(details[0].attempts, 1);
        assert_eq!(details[0].start_time, Some(10.0));
        assert_eq!(details[1], TaskDetail::bare("b", Pending));
        assert_eq!(details[3], TaskDetail::bare("d", Success));
    }

    #[test]
    fn updates_apply_in_order_and_replace_the_detail() {
        let b = MemoryBackend::new();
        b.save_run(&with_tasks("r", &[("a", Pending)])).unwrap();
        let failed = TaskUpdate {
            error: Some("boom"),
            end_time: Some(11.0),
            attempts: 2,
            ..upd("a", Failed)
        };
        b.update_tasks("r", &[upd("a", Running), failed]).unwrap();
        let d = &b.get_task_details("r").unwrap()[0];
        assert_eq!(
            *d,
            TaskDetail {
                name: "a".into(),
                status: Failed,
                attempts: 2,
                start_time: Some(10.0),
                end_time: Some(11.0),
                error: Some("boom".into()),
            }
        );
        // A later update without an error clears it.
        b.update_tasks("r", &[upd("a", Running)]).unwrap();
        let d = &b.get_task_details("r").unwrap()[0];
        assert_eq!(d.error, None);
        assert_eq!(d.end_time, None);
        assert!(b.update_tasks("nope", &[]).is_err());
        assert!(b.update_task_status("nope", "a", Running).is_err());
        assert!(b.get_task_details("nope").is_err());
    }

    #[test]
    fn save_run_replaces_the_statuses_and_the_record_status_wins() {
        let b = MemoryBackend::new();
        b.save_run(&with_tasks("r", &[("a", Pending), ("b", Pending)]))
            .unwrap();
        b.update_tasks("r", &[upd("a", Running), upd("b", Running)])
            .unwrap();
        // The record drops "b" and says "a" succeeded.
        b.save_run(&with_tasks("r", &[("a", Success)])).unwrap();
        assert_eq!(statuses(&b, "r"), [("a".to_string(), Success)]);
        let details = b.get_task_details("r").unwrap();
        assert_eq!(details.len(), 1);
        assert_eq!(details[0].status, Success);
        assert_eq!(details[0].attempts, 1);
        // "b" comes back with its stored detail and the record's status.
        b.save_run(&with_tasks("r", &[("a", Success), ("b", Skipped)]))
            .unwrap();
        let details = b.get_task_details("r").unwrap();
        assert_eq!(details[1].name, "b");
        assert_eq!(details[1].status, Skipped);
        assert_eq!(details[1].attempts, 1);
        // A name the run never had is added by a save too.
        b.save_run(&with_tasks("r", &[("z", Pending)])).unwrap();
        assert_eq!(statuses(&b, "r"), [("z".to_string(), Pending)]);
    }

    #[test]
    fn runs_share_a_name_table_until_one_adds_a_task() {
        let b = MemoryBackend::new();
        let tasks = [("a", Pending), ("b", Pending)];
        b.save_run(&with_tasks("r1", &tasks)).unwrap();
        b.save_run(&with_tasks("r2", &[("b", Running), ("a", Success)]))
            .unwrap();
        b.save_run(&with_tasks("r3", &[("a", Pending)])).unwrap();
        {
            let st = b.lock();
            let [r1, r2, r3] = ["r1", "r2", "r3"].map(|id| &st.runs[id].tasks);
            assert!(r1.shares_names_with(r2));
            assert!(!r3.shares_names_with(r2));
        }
        assert_eq!(
            statuses(&b, "r2"),
            [("a".to_string(), Success), ("b".to_string(), Running)]
        );
        b.update_tasks("r2", &[upd("c", Running)]).unwrap();
        b.update_task_status("r1", "d", Failed).unwrap();
        {
            let st = b.lock();
            assert!(!st.runs["r1"].tasks.shares_names_with(&st.runs["r2"].tasks));
        }
        assert_eq!(
            statuses(&b, "r1"),
            [
                ("a".to_string(), Pending),
                ("b".to_string(), Pending),
                ("d".to_string(), Failed)
            ]
        );
        assert_eq!(
            statuses(&b, "r2"),
            [
                ("a".to_string(), Success),
                ("b".to_string(), Running),
                ("c".to_string(), Running)
            ]
        );
        let names: Vec<String> = b
            .get_task_details("r2")
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn outputs_are_kept_stored_or_not() {
        let b = MemoryBackend::new();
        b.save_run(&with_tasks("r", &[("a", Pending), ("b", Pending)]))
            .unwrap();
        assert!(b.get_outputs("r").unwrap().is_empty());
        b.update_tasks(
            "r",
            &[
                TaskUpdate {
                    output: Some(OutputRef::Stored(b"hi")),
                    ..upd("b", Success)
                },
                TaskUpdate {
                    output: Some(OutputRef::NotStored(1 << 20)),
                    ..upd("a", Success)
                },
            ],
        )
        .unwrap();
        let want = BTreeMap::from([
            ("a".to_string(), StoredOutput::NotStored(1 << 20)),
            ("b".to_string(), StoredOutput::Stored(b"hi".to_vec())),
        ]);
        assert_eq!(b.get_outputs("r").unwrap(), want);
        // An output outlives its task's removal from the record.
        b.save_run(&with_tasks("r", &[("a", Success)])).unwrap();
        assert_eq!(b.get_outputs("r").unwrap(), want);
        assert!(b.get_outputs("nope").is_err());
    }

    #[test]
    fn recover_finishes_the_tasks_of_a_lost_owner() {
        let b = MemoryBackend::new();
        let tasks = [
            ("a", Success),
            ("b", Running),
            ("c", Pending),
            ("d", Pending),
        ];
        b.save_run(&with_tasks("r", &tasks)).unwrap();
        b.update_tasks("r", &[upd("b", Running)]).unwrap();
        // A run just started, with a fresh lease, is left alone.
        b.save_run(&PipelineRun {
            start_time: now_seconds(),
            ..with_tasks("live", &tasks)
        })
        .unwrap();
        b.renew_lease("live", now_seconds(), Duration::from_secs(60))
            .unwrap();
        assert_eq!(b.recover(Duration::from_secs(60)).unwrap(), 1);
        let r = b.get_run("r").unwrap().unwrap();
        assert_eq!(r.status, RunStatus::Failed);
        assert!(r.end_time.is_some());
        let d = b.get_task_details("r").unwrap();
        assert_eq!(d[0], TaskDetail::bare("a", Success));
        assert_eq!(d[1].status, Failed);
        assert_eq!(d[1].attempts, 1);
        assert_eq!(d[1].start_time, Some(10.0));
        assert_eq!(d[1].end_time, r.end_time);
        assert_eq!(d[1].error.as_deref(), Some("owner lost"));
        for d in &d[2..] {
            assert_eq!(d.status, Skipped);
            assert_eq!(d.attempts, 0);
            assert_eq!(d.end_time, r.end_time);
            assert_eq!(d.error.as_deref(), Some("owner lost"));
        }
        assert_eq!(
            b.get_run("live").unwrap().unwrap().status,
            RunStatus::Running
        );
        // Recovered once only.
        assert_eq!(b.recover(Duration::from_secs(60)).unwrap(), 0);
    }

    #[test]
    fn evicted_runs_are_gone_with_their_tasks() {
        let b = MemoryBackend::with_max_runs(2);
        for i in 1..=3 {
            let id = format!("r{i}");
            b.save_run(&PipelineRun {
                status: RunStatus::Success,
                ..with_tasks(&id, &[("a", Success)])
            })
            .unwrap();
            b.update_tasks(&id, &[upd("a", Success)]).unwrap();
        }
        assert!(b.get_run("r1").unwrap().is_none());
        assert!(b.get_task_details("r1").is_err());
        assert_eq!(b.lock().order, ["r2", "r3"]);
        assert_eq!(statuses(&b, "r3"), [("a".to_string(), Success)]);
        assert_eq!(b.get_task_details("r2").unwrap()[0].attempts, 1);
    }

    #[test]
    fn purge_drops_old_finished_runs() {
        let b = MemoryBackend::new();
        b.save_run(&run("old", 1.0, RunStatus::Success)).unwrap();
        b.save_run(&run("running", 1.0, RunStatus::Running))
            .unwrap();
        b.save_run(&run("new", 5.0, RunStatus::Failed)).unwrap();
        assert_eq!(b.purge(3.0, None, true).unwrap(), 1);
        assert_eq!(b.purge(3.0, Some("other"), false).unwrap(), 0);
        assert_eq!(b.purge(3.0, Some("p"), false).unwrap(), 1);
        assert!(b.get_run("old").unwrap().is_none());
        assert_eq!(b.lock().order, ["running", "new"]);
    }

    #[test]
    fn dags_round_trip_and_are_shared_by_runs_of_one_pipeline() {
        let b = MemoryBackend::new();
        let tasks = [("a", Pending), ("b", Pending)];
        let dag = RunDag {
            tasks: vec!["b".into(), "a".into()],
            edges: vec![("a".into(), "b".into())],
        };
        for id in ["r1", "r2"] {
            b.save_run(&with_tasks(id, &tasks)).unwrap();
            assert_eq!(b.get_run_dag(id).unwrap(), None);
            b.save_dag(id, "p", &dag).unwrap();
            assert_eq!(b.get_run_dag(id).unwrap(), Some(dag.clone()));
        }
        // A DAG naming tasks the run lacks, or one twice, reads back as is.
        let odd = RunDag {
            tasks: vec!["a".into(), "x".into(), "a".into()],
            edges: vec![("y".into(), "a".into()), ("a".into(), "y".into())],
        };
        b.save_run(&with_tasks("r3", &tasks)).unwrap();
        b.save_dag("r3", "p", &odd).unwrap();
        assert_eq!(b.get_run_dag("r3").unwrap(), Some(odd));
        {
            let st = b.lock();
            let [r1, r2, r3] = ["r1", "r2", "r3"].map(|id| &st.runs[id]);
            let [d1, d2, d3] = [r1, r2, r3].map(|r| r.dag.as_ref().unwrap());
            assert!(Arc::ptr_eq(d1, d2));
            assert!(d1.numbered_like(&r1.tasks));
            assert!(!d3.numbered_like(&r3.tasks));
        }
        assert!(b.save_dag("nope", "p", &dag).is_err());
        assert_eq!(b.get_run_dag("nope").unwrap(), None);
    }

    #[test]
    fn a_shared_dag_is_stored_once_and_a_new_one_replaces_it() {
        let b = MemoryBackend::new();
        let tasks = [("a", Pending), ("b", Pending)];
        // A pipeline's (numbered) and one wrapping a RunDag.
        let first = Arc::new(SharedDag::numbered(crate::history::Numbered::new(
            ["a", "b"].into_iter(),
            vec![(0, 1)],
        )));
        let second = Arc::new(SharedDag::new(RunDag {
            tasks: vec!["a".into(), "b".into()],
            edges: vec![("b".into(), "a".into())],
        }));
        for (id, dag) in [("r1", &first), ("r2", &first), ("r3", &second)] {
            b.save_run(&with_tasks(id, &tasks)).unwrap();
            b.save_shared_dag(id, "p", dag).unwrap();
            assert_eq!(b.get_run_dag(id).unwrap().as_ref(), Some(dag.dag()));
        }
        let st = b.lock();
        let [d1, d2, d3] = ["r1", "r2", "r3"].map(|id| st.runs[id].dag.as_ref().unwrap());
        assert!(Arc::ptr_eq(d1, d2));
        assert!(!Arc::ptr_eq(d2, d3));
        drop(st);
        assert!(b.save_shared_dag("nope", "p", &first).is_err());
    }
}
