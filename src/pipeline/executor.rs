//! Runs a validated pipeline: a small scheduler shared by up to
//! `max_workers` threads (the caller's thread is one of them).
//!
//! No lock of ours is held while host code runs (task callbacks, backend
//! calls): a callback may call back into the library.
//!
//! Status writes and the scheduler: a finished task is *held* by its worker
//! (its final status not yet written, its children not yet released) until
//! the worker's next backend write, which carries the held statuses and the
//! RUNNING of the next task it starts, in one `update_task_statuses` call.
//! The next task is preferably a child whose only unfinished parent is the
//! task just done (the worker claims it, so a chain runs on one thread
//! without hand-offs), else one from the ready queue. So the backend gets one
//! write per task instead of two (one commit on the SQL backends), sees
//! every parent's final status before any child's first one, and has every
//! status change committed before any further task code runs. A worker
//! writes what it holds before it waits or leaves.

use super::context::{SharedContext, TaskContext};
use super::{Pipeline, RunResult};
use crate::error::{panic_message, Error, ErrorKind, Result};
use crate::model::{now_seconds, PipelineRun, RunStatus, TaskStatus, TriggerRule};
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

struct Sched {
    /// Upstream tasks of each task not yet released by their worker.
    remaining: Vec<usize>,
    status: Vec<TaskStatus>,
    errors: Vec<Option<String>>,
    ready: VecDeque<usize>,
    /// Tasks taken from the queue or claimed, and not yet released.
    in_flight: usize,
    /// The first backend failure; once set, no task starts.
    stop: Option<Error>,
}

struct Exec<'a> {
    p: &'a Pipeline,
    shared: SharedContext<'a>,
    sched: Mutex<Sched>,
    wake: Condvar,
}

/// A task finished by a worker whose status is not yet written or released
/// to the scheduler (see the module doc).
struct Held {
    task: usize,
    status: TaskStatus,
    error: Option<String>,
    /// The child this worker claimed to run next: already counted in
    /// `in_flight`, so not released again.
    claimed: Option<usize>,
}

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
    // One retry budget for the whole run, on every thread that calls the backend.
    let budget = std::sync::Arc::new(crate::backend::budget::RunBudget::default());
    let _budget = crate::backend::budget::enter(&budget);
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
    };
    let workers = p.max_workers.min(n).max(1);
    if workers == 1 {
        exec.worker();
    } else {
        std::thread::scope(|s| {
            for _ in 1..workers {
                s.spawn(|| {
                    let _budget = crate::backend::budget::enter(&budget);
                    exec.worker()
                });
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
        let mut held: Vec<Held> = Vec::new();
        while let Some(i) = self.next_task(&mut held) {
            let runs = {
                let g = self.lock();
                g.stop
                    .is_none()
                    .then(|| self.rule_allows(i, &g.status, &held))
            };
            let (status, error) = match runs {
                None => {
                    // The run is stopping: write what is held, start nothing.
                    self.flush(&mut held, None);
                    self.release(vec![not_started(i)], None);
                    continue;
                }
                Some(false) => (TaskStatus::Skipped, None),
                Some(true) => {
                    if !self.flush(&mut held, Some(i)) {
                        self.release(vec![not_started(i)], None);
                        continue;
                    }
                    self.attempts(i)
                }
            };
            held.push(Held {
                task: i,
                status,
                error,
                claimed: None,
            });
            self.claim_child(&mut held);
        }
    }

    /// The task this worker runs next: the child it claimed, else one from
    /// the ready queue. Before waiting for one, or when there is nothing left
    /// to run, it writes and releases what it holds. `None`: the run is over.
    fn next_task(&self, held: &mut Vec<Held>) -> Option<usize> {
        if let Some(c) = held.last().and_then(|h| h.claimed) {
            return Some(c);
        }
        let mut g = self.lock();
        loop {
            if g.stop.is_none() {
                if let Some(i) = g.ready.pop_front() {
                    g.in_flight += 1;
                    return Some(i);
                }
            }
            if !held.is_empty() {
                drop(g);
                self.flush(held, None);
                g = self.lock();
                continue;
            }
            if g.in_flight == 0 {
                drop(g);
                self.wake.notify_all();
                return None;
            }
            g = self.wake.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Claims a child of the task just done whose only unreleased parent is
    /// that task, to run it next on this thread.
    fn claim_child(&self, held: &mut [Held]) {
        let Some(last) = held.last_mut() else { return };
        let mut g = self.lock();
        if g.stop.is_some() {
            return;
        }
        let child = self.p.dag.downstream[last.task]
            .iter()
            .copied()
            .find(|&c| g.remaining[c] == 1);
        if let Some(c) = child {
            g.remaining[c] = 0;
            g.in_flight += 1;
            last.claimed = Some(c);
        }
    }

    /// Writes the held statuses, plus `start`'s RUNNING, in one backend call,
    /// then releases the held tasks. `false` if the write failed (the run then
    /// stops; the statuses are still released, as they are what happened).
    fn flush(&self, held: &mut Vec<Held>, start: Option<usize>) -> bool {
        let mut changes: Vec<(usize, TaskStatus)> =
            held.iter().map(|h| (h.task, h.status)).collect();
        changes.extend(start.map(|i| (i, TaskStatus::Running)));
        let result = self.record(&changes);
        let ok = result.is_ok();
        self.release(std::mem::take(held), result.err());
        ok
    }

    /// Hands finished tasks to the scheduler: their statuses become visible
    /// and their children (but a claimed one) lose an unfinished parent.
    fn release(&self, done: Vec<Held>, failure: Option<Error>) {
        if done.is_empty() && failure.is_none() {
            return;
        }
        let mut g = self.lock();
        if let Some(e) = failure {
            g.stop.get_or_insert(e);
        }
        let mut pushed = 0;
        for h in done {
            g.status[h.task] = h.status;
            g.errors[h.task] = h.error;
            g.in_flight -= 1;
            if h.status == TaskStatus::Pending {
                continue; // never started: its children stay pending too
            }
            for &c in &self.p.dag.downstream[h.task] {
                if Some(c) == h.claimed {
                    continue;
                }
                g.remaining[c] -= 1;
                if g.remaining[c] == 0 {
                    g.ready.push_back(c);
                    pushed += 1;
                }
            }
        }
        if g.stop.is_some() || (g.in_flight == 0 && g.ready.is_empty()) || pushed > 1 {
            self.wake.notify_all();
        } else if pushed == 1 {
            self.wake.notify_one();
        }
    }

    fn rule_allows(&self, i: usize, status: &[TaskStatus], held: &[Held]) -> bool {
        let ups = &self.p.dag.upstream[i];
        if ups.is_empty() {
            return true;
        }
        let of = |u: usize| {
            held.iter()
                .rev()
                .find(|h| h.task == u)
                .map_or(status[u], |h| h.status)
        };
        let mut st = ups.iter().map(|&u| of(u));
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

    /// Runs task `i`'s attempts: its final status and, if it failed, why.
    fn attempts(&self, i: usize) -> (TaskStatus, Option<String>) {
        let task = &self.p.tasks[i];
        let attempts = task.retries.saturating_add(1);
        let mut last_error = String::new();
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
                    return (TaskStatus::Success, None);
                }
                Ok(Err(e)) => last_error = e.to_string(),
                Err(p) => last_error = format!("task panicked: {}", panic_message(&*p)),
            }
        }
        if attempts > 1 {
            last_error = format!("{last_error} (after {attempts} attempts)");
        }
        (TaskStatus::Failed, Some(last_error))
    }
}

fn not_started(task: usize) -> Held {
    Held {
        task,
        status: TaskStatus::Pending,
        error: None,
        claimed: None,
    }
}
