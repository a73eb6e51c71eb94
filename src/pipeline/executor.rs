//! Runs a validated pipeline: a small scheduler shared by up to
//! `max_workers` threads (the caller's thread is one of them).
//!
//! No lock of ours is held while host code runs (task callbacks, backend
//! calls): a callback may call back into the library. A task's backend update
//! is made before the scheduler learns the task is done, so the backend sees
//! every parent's final status before any child's first one.
//!
//! With a single worker nothing else can start in between, so a task's final
//! status is held back and written together with the next task's RUNNING
//! (or before the final `save_run`) in one `update_task_statuses` call: one
//! commit per task instead of two on the SQL backends, and still every
//! status change committed before any further task code runs.

use super::context::{SharedContext, TaskContext};
use super::{Pipeline, RunResult};
use crate::error::{panic_message, Error, ErrorKind, Result};
use crate::model::{now_seconds, PipelineRun, RunStatus, TaskStatus, TriggerRule};
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

struct Sched {
    /// Upstream tasks of each task not yet final.
    remaining: Vec<usize>,
    status: Vec<TaskStatus>,
    errors: Vec<Option<String>>,
    ready: VecDeque<usize>,
    in_flight: usize,
    /// The first backend failure; once set, no task starts.
    stop: Option<Error>,
}

struct Exec<'a> {
    p: &'a Pipeline,
    shared: SharedContext<'a>,
    sched: Mutex<Sched>,
    wake: Condvar,
    /// One worker: final statuses wait for the next write (see module doc).
    batch: bool,
}

/// Status changes not yet written: (task index, status), in order.
type Pending = Vec<(usize, TaskStatus)>;

/// Calls into the backend with panics turned into backend errors.
fn guarded<T>(what: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(what)).unwrap_or_else(|p| {
        Err(Error::backend(format!(
            "backend panicked: {}",
            panic_message(&*p)
        )))
    })
}

pub(super) fn execute(p: &Pipeline) -> Result<RunResult> {
    let n = p.tasks.len();
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut record = PipelineRun {
        pipeline_name: p.name.clone(),
        run_id: run_id.clone(),
        start_time: now_seconds(),
        end_time: None,
        status: RunStatus::Running,
        tasks: p
            .tasks
            .iter()
            .map(|t| (t.name.clone(), TaskStatus::Pending))
            .collect(),
    };
    guarded(|| p.backend.save_run(&record)).map_err(|e| {
        e.context(format!(
            "run of pipeline {:?} not started: the backend refused the initial save_run",
            p.name
        ))
    })?;

    let outputs: Vec<OnceLock<Vec<u8>>> = (0..n).map(|_| OnceLock::new()).collect();
    let remaining: Vec<usize> = p.dag.upstream.iter().map(Vec::len).collect();
    let ready = (0..n).filter(|&i| remaining[i] == 0).collect();
    let exec = Exec {
        p,
        shared: SharedContext {
            run_id: &run_id,
            index: &p.index,
            outputs: &outputs,
            initial: &p.context,
        },
        sched: Mutex::new(Sched {
            remaining,
            status: vec![TaskStatus::Pending; n],
            errors: vec![None; n],
            ready,
            in_flight: 0,
            stop: None,
        }),
        wake: Condvar::new(),
        batch: p.max_workers.min(n) <= 1,
    };
    let workers = p.max_workers.min(n).max(1);
    if workers == 1 {
        exec.worker();
    } else {
        std::thread::scope(|s| {
            for _ in 1..workers {
                s.spawn(|| exec.worker());
            }
            exec.worker();
        });
    }
    let sched = exec.sched.into_inner().unwrap_or_else(|e| e.into_inner());

    let mut errors = HashMap::new();
    for (i, t) in p.tasks.iter().enumerate() {
        record.tasks.insert(t.name.clone(), sched.status[i]);
        if let Some(e) = &sched.errors[i] {
            errors.insert(t.name.clone(), e.clone());
        }
    }
    let all_ok = sched
        .status
        .iter()
        .all(|s| matches!(s, TaskStatus::Success | TaskStatus::Skipped));
    record.status = if all_ok && sched.stop.is_none() {
        RunStatus::Success
    } else {
        RunStatus::Failed
    };
    record.end_time = Some(now_seconds());
    let final_save = guarded(|| p.backend.save_run(&record));

    if let Some(stop) = sched.stop {
        let not_started: Vec<&str> = p
            .tasks
            .iter()
            .zip(&sched.status)
            .filter(|(_, s)| **s == TaskStatus::Pending)
            .map(|(t, _)| t.name.as_str())
            .collect();
        let saved = match &final_save {
            Ok(()) => {
                "the final save_run succeeded, so the stored run holds these statuses".to_string()
            }
            Err(e) => {
                format!("the final save_run failed too ({e}), so the stored run is incomplete")
            }
        };
        return Err(Error::backend(format!(
            "run {run_id} of pipeline {:?} stopped: {stop}; {} task(s) never started ({}); {saved}",
            p.name,
            not_started.len(),
            preview(&not_started),
        )));
    }
    final_save.map_err(|e| {
        e.context(format!(
            "run {run_id} of pipeline {:?} finished {} but its final save_run failed; the stored run still shows it RUNNING with the last recorded task statuses",
            p.name, record.status
        ))
    })?;

    let outputs = p
        .tasks
        .iter()
        .zip(outputs)
        .filter_map(|(t, o)| o.into_inner().map(|v| (t.name.clone(), v)))
        .collect();
    Ok(RunResult {
        run: record,
        outputs,
        errors,
    })
}

fn preview(names: &[&str]) -> String {
    const SHOWN: usize = 10;
    let mut s = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(", and {} more", names.len() - SHOWN));
    }
    s
}

impl Exec<'_> {
    fn lock(&self) -> MutexGuard<'_, Sched> {
        self.sched.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn worker(&self) {
        let mut pending = Pending::new();
        let mut g = self.lock();
        loop {
            let next = loop {
                if g.stop.is_none() {
                    if let Some(i) = g.ready.pop_front() {
                        break Some(i);
                    }
                }
                if g.in_flight == 0 {
                    break None;
                }
                g = self.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            };
            let Some(i) = next else {
                drop(g);
                if let Err(e) = self.record(&pending) {
                    self.lock().stop.get_or_insert(e);
                }
                self.wake.notify_all();
                return;
            };
            let runs = self.rule_allows(i, &g.status);
            g.in_flight += 1;
            drop(g);

            let outcome = if runs {
                self.run_task(i, &mut pending)
            } else {
                self.skip_task(i, &mut pending)
            };

            g = self.lock();
            g.in_flight -= 1;
            match outcome {
                Outcome::Done(status, err) => {
                    g.status[i] = status;
                    g.errors[i] = err;
                }
                Outcome::BackendFailed(status, err, backend_err) => {
                    g.status[i] = status;
                    g.errors[i] = err;
                    if g.stop.is_none() {
                        g.stop = Some(backend_err);
                    }
                }
            }
            if g.status[i] == TaskStatus::Pending {
                // Not started: its children stay pending too.
                self.wake.notify_all();
                continue;
            }
            let mut pushed = 0;
            for &d in &self.p.dag.downstream[i] {
                g.remaining[d] -= 1;
                if g.remaining[d] == 0 {
                    g.ready.push_back(d);
                    pushed += 1;
                }
            }
            if g.stop.is_some() || (g.in_flight == 0 && g.ready.is_empty()) || pushed > 1 {
                self.wake.notify_all();
            } else if pushed == 1 {
                self.wake.notify_one();
            }
        }
    }

    fn rule_allows(&self, i: usize, status: &[TaskStatus]) -> bool {
        let ups = &self.p.dag.upstream[i];
        if ups.is_empty() {
            return true;
        }
        let mut st = ups.iter().map(|&u| status[u]);
        match self.p.tasks[i].trigger_rule {
            TriggerRule::AllSuccess => st.all(|s| s == TaskStatus::Success),
            TriggerRule::OneFailed => st.any(|s| s == TaskStatus::Failed),
            TriggerRule::AllDone => st.all(TaskStatus::is_final),
        }
    }

    /// Writes status changes, in order, in one backend call.
    fn record(&self, changes: &[(usize, TaskStatus)]) -> Result<()> {
        let named: Vec<(&str, TaskStatus)> = changes
            .iter()
            .map(|&(i, s)| (self.p.tasks[i].name.as_str(), s))
            .collect();
        let backend = &self.p.backend;
        let run_id = self.shared.run_id;
        guarded(|| match named.as_slice() {
            [] => Ok(()),
            [(task, status)] => backend.update_task_status(run_id, task, *status),
            many => backend.update_task_statuses(run_id, many),
        })
        .map_err(|e| {
            let what: Vec<String> = named
                .iter()
                .map(|(t, s)| format!("task {t:?} as {s}"))
                .collect();
            Error::new(
                ErrorKind::Backend,
                format!("the backend failed to record {}: {e}", what.join(", ")),
            )
        })
    }

    /// Records a task's final status: at once, or with the next write when
    /// this run has a single worker.
    fn finish(&self, i: usize, status: TaskStatus, pending: &mut Pending) -> Result<()> {
        if self.batch {
            pending.push((i, status));
            Ok(())
        } else {
            self.record(&[(i, status)])
        }
    }

    fn skip_task(&self, i: usize, pending: &mut Pending) -> Outcome {
        match self.finish(i, TaskStatus::Skipped, pending) {
            Ok(()) => Outcome::Done(TaskStatus::Skipped, None),
            Err(e) => Outcome::BackendFailed(TaskStatus::Skipped, None, e),
        }
    }

    fn run_task(&self, i: usize, pending: &mut Pending) -> Outcome {
        let mut changes = std::mem::take(pending);
        changes.push((i, TaskStatus::Running));
        if let Err(e) = self.record(&changes) {
            return Outcome::BackendFailed(TaskStatus::Pending, None, e);
        }
        let task = &self.p.tasks[i];
        let attempts = task.retries.saturating_add(1);
        let mut last_error = String::new();
        let mut status = TaskStatus::Failed;
        for attempt in 1..=attempts {
            if attempt > 1 && !task.retry_delay.is_zero() {
                std::thread::sleep(task.retry_delay);
            }
            let mut ctx = TaskContext {
                shared: &self.shared,
                task_name: &task.name,
                attempt,
                output: None,
                error: None,
            };
            match catch_unwind(AssertUnwindSafe(|| (task.func)(&mut ctx))) {
                Ok(Ok(())) => {
                    if let Some(out) = ctx.output.take() {
                        let _ = self.shared.outputs[i].set(out);
                    }
                    status = TaskStatus::Success;
                    break;
                }
                Ok(Err(e)) => last_error = e.to_string(),
                Err(p) => last_error = format!("task panicked: {}", panic_message(&*p)),
            }
        }
        let err = (status == TaskStatus::Failed).then(|| {
            if attempts > 1 {
                format!("{last_error} (after {attempts} attempts)")
            } else {
                last_error
            }
        });
        match self.finish(i, status, pending) {
            Ok(()) => Outcome::Done(status, err),
            Err(e) => Outcome::BackendFailed(status, err, e),
        }
    }
}

enum Outcome {
    Done(TaskStatus, Option<String>),
    BackendFailed(TaskStatus, Option<String>, Error),
}
