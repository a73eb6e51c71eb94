//! Runs a validated pipeline: a small scheduler shared by up to
//! `max_workers` threads (the caller's thread is one of them).
//!
//! No lock of ours is held while host code runs (task callbacks, backend
//! calls, the listener): a callback may call back into the library.
//!
//! Status writes and the scheduler: a finished task is *held* by its worker
//! (its final status not yet written, its children not yet released) until
//! the worker's next backend write, which carries the held statuses and the
//! RUNNING of the next task it starts, in one `update_tasks` call. The next
//! task is preferably a child whose only unfinished parent is the task just
//! done (the worker claims it, so a chain runs on one thread without
//! hand-offs), else one from the ready queue. So the backend gets one write
//! per task instead of two (one commit on the SQL backends), sees every
//! parent's final status before any child's first one, and has every status
//! change committed before any further task code runs. A worker writes what
//! it holds before it waits or leaves.
//!
//! Stopping: a cancelled or timed-out run starts no task (checked before
//! each start); tasks that never started are SKIPPED at the end. A task
//! past its own timeout is finalized by the watchdog (see `watchdog.rs`)
//! while its callback may still be running; its worker then drops the
//! callback's result.

use super::cancel::{RunControl, RunOptions};
use super::context::{SharedContext, TaskContext};
use super::resume::ResumePlan;
use super::{Derived, Outputs, Pipeline, RunResult, TaskNames};
use crate::backend::budget::{self, RunBudget};
use crate::backend::serial;
use crate::error::{panic_message, Error, ErrorKind, Result};
use crate::model::{
    now_seconds, OutputRef, PipelineRun, RunStatus, Stamp, TaskDetail, TaskStatus, TaskUpdate,
    TriggerRule,
};
use crossbeam_utils::CachePadded;
use std::collections::{BTreeSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

/// What the scheduler knows of one task: 32 bytes (times as [`Stamp`]s, the
/// rare error behind one thin pointer), as a run keeps one per task until
/// its result is dropped.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub(super) start: Stamp,
    pub(super) end: Stamp,
    // A `Box<String>` is 8 bytes where a `String` or `Box<str>` is 24 or 16:
    // a million tasks without errors pay 8 MB less.
    #[allow(clippy::box_collection)]
    pub(super) error: Option<Box<String>>,
    pub(super) attempts: u32,
    pub(super) status: TaskStatus,
    /// Finalized by the watchdog at its deadline while its callback ran.
    pub(super) timed_out: bool,
}

pub(super) struct Sched {
    /// Upstream tasks of each task not yet released by their worker.
    remaining: Vec<u32>,
    pub(super) slots: Vec<Slot>,
    ready: VecDeque<usize>,
    /// Tasks taken from the queue or claimed, and not yet released.
    in_flight: usize,
    /// The first backend failure; once set, no task starts.
    stop: Option<Error>,
    /// Running attempts of tasks with a timeout, by deadline.
    pub(super) deadlines: BTreeSet<(Instant, usize)>,
    /// Every worker has returned: the watchdog leaves.
    pub(super) done: bool,
}

pub(super) struct Exec<'a> {
    pub(super) p: &'a Pipeline,
    pub(super) shared: SharedContext<'a>,
    /// The lock and the condition variable are on cache lines of their own:
    /// workers write both for each task (a notify writes too), and what
    /// they only read (these fields, the run's output cells and control)
    /// would otherwise share their lines and be fetched again after each
    /// write of the other worker.
    pub(super) sched: CachePadded<Mutex<Sched>>,
    wake: CachePadded<Condvar>,
    /// Wakes the watchdog and the lease thread: a new deadline, or the end
    /// of the run.
    pub(super) watch: Condvar,
    /// How often the lease thread renews the run's lease (`None`: no lease).
    lease: Option<std::time::Duration>,
    /// Outputs up to this size are stored with the run.
    output_limit: usize,
}

/// A task finished by a worker whose status is not yet written or released
/// to the scheduler (see the module doc).
pub(super) struct Held {
    pub(super) task: usize,
    pub(super) slot: Slot,
    /// The child this worker claimed to run next: already counted in
    /// `in_flight`, so not released again.
    claimed: Option<usize>,
    /// The claimed child, until the worker takes it up, with what was
    /// decided for it when it was claimed (under the same lock).
    next: Option<(usize, Verdict)>,
}

/// What a worker does with the task it took up.
#[derive(Clone, Copy)]
enum Verdict {
    Run,
    /// Its trigger rule says no: SKIPPED.
    Skip,
    /// The run is stopping: the task is not started.
    Stop,
}

impl Held {
    pub(super) fn new(task: usize, slot: Slot) -> Self {
        Held {
            task,
            slot,
            claimed: None,
            next: None,
        }
    }
}

/// Calls into the backend during a run. Whatever the backend reports (a
/// custom backend may return any code, or panic) is a backend failure of
/// the run, with the backend's message kept.
fn guarded<T>(what: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(what)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if e.kind() == ErrorKind::Backend => Err(e),
        Ok(Err(e)) => Err(Error::backend(e.message())),
        Err(p) => Err(Error::backend(format!(
            "backend panicked: {}",
            panic_message(&*p)
        ))),
    }
}

fn slot(status: TaskStatus) -> Slot {
    Slot {
        status,
        attempts: 0,
        start: Stamp::NONE,
        end: Stamp::NONE,
        error: None,
        timed_out: false,
    }
}

pub(super) fn execute(
    p: &Pipeline,
    derived: &Arc<Derived>,
    opts: &RunOptions,
    resume: Option<ResumePlan>,
) -> Result<RunResult> {
    let n = p.tasks.len();
    let run_id = uuid::Uuid::new_v4().to_string();
    let done: Vec<bool> = match &resume {
        Some(plan) => plan.done.clone(),
        None => vec![false; n],
    };
    let status_at_start = |i: usize| {
        if done[i] {
            TaskStatus::Success
        } else {
            TaskStatus::Pending
        }
    };
    let mut record = PipelineRun {
        pipeline_name: p.name.clone(),
        run_id: run_id.clone(),
        start_time: now_seconds(),
        end_time: None,
        status: RunStatus::Running,
        tasks: record_tasks(p, derived, status_at_start),
    };
    // One retry budget for the whole run, on every thread that calls the backend.
    let budget = Arc::new(RunBudget::default());
    let _budget = budget::enter(&budget);
    guarded(|| p.backend.save_run(&record)).map_err(|e| {
        e.context(format!(
            "run of pipeline {:?} not started: the backend refused the initial save_run",
            p.name
        ))
    })?;
    // The DAG, for drawing the run later: a backend that cannot store it
    // (or fails to) leaves the run undrawable, nothing more.
    let _ = guarded(|| p.backend.save_shared_dag(&run_id, &p.name, &derived.dag));
    // The lease, written now and renewed by a thread of the run (a backend
    // that keeps none says Unsupported: the run then has no lease).
    let lease_every = opts.lease_every();
    let lease = match guarded_kind(|| p.backend.renew_lease(&run_id, now_seconds(), lease_every)) {
        Ok(()) => Some(lease_every),
        Err(e) if e.kind() == ErrorKind::Unsupported => None,
        Err(e) => return Err(abandon(p, &mut record, e, "write its lease")),
    };
    let outputs = Outputs::new(n);
    if let Some(plan) = resume {
        if let Err(e) = start_resumed(p, &run_id, &plan, &outputs) {
            return Err(abandon(p, &mut record, e, "record what it resumes"));
        }
    }
    let control = RunControl::new(opts);
    let events = super::events::Events::new(p.listener.as_deref(), &run_id);
    events.run(&p.name, RunStatus::Running);

    let remaining: Vec<u32> = p
        .dag
        .upstream
        .iter()
        .map(|ups| ups.iter().filter(|&&u| !done[u as usize]).count() as u32)
        .collect();
    let ready = (0..n).filter(|&i| !done[i] && remaining[i] == 0).collect();
    let exec = Exec {
        p,
        shared: SharedContext {
            run_id: &run_id,
            index: &p.index,
            outputs: &outputs,
            initial: &p.context,
            control: &control,
            upstream: &p.dag.upstream,
            names: TaskNames::Tasks(&p.tasks),
        },
        sched: CachePadded::new(Mutex::new(Sched {
            remaining,
            slots: (0..n).map(|i| slot(status_at_start(i))).collect(),
            ready,
            in_flight: 0,
            stop: None,
            deadlines: BTreeSet::new(),
            done: false,
        })),
        wake: CachePadded::new(Condvar::new()),
        watch: Condvar::new(),
        lease,
        output_limit: opts.output_limit(),
    };
    exec.run_workers(&events, &budget);
    let sched = CachePadded::into_inner(exec.sched)
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let mut slots = sched.slots;
    // A token fired (or a timeout passed) after the last task ended changed
    // nothing: the run is not counted as interrupted.
    let interruption = control.interruption().filter(|why| {
        let error = why.task_error();
        slots
            .iter()
            .any(|s| s.status == TaskStatus::Pending || s.error() == Some(error.as_str()))
    });

    // A stopped run's unstarted tasks become SKIPPED, saying why.
    let mut final_write = Ok(());
    if let (None, Some(why)) = (&sched.stop, &interruption) {
        let now = now_seconds();
        let error = why.task_error();
        let skipped: Vec<usize> = (0..n)
            .filter(|&i| slots[i].status == TaskStatus::Pending)
            .collect();
        for &i in &skipped {
            slots[i].status = TaskStatus::Skipped;
            slots[i].end = Stamp::at(now);
            slots[i].error = Some(Box::new(error.clone()));
        }
        let updates: Vec<TaskUpdate<'_>> = skipped
            .iter()
            .map(|&i| update(&p.tasks[i].name, &slots[i]))
            .collect();
        final_write = guarded(|| p.backend.update_tasks(&run_id, &updates));
        if final_write.is_ok() {
            events.tasks(&updates);
        }
    }

    derived.fill_statuses(&mut record.tasks, |i| slots[i].status);
    let all_ok = slots
        .iter()
        .all(|s| matches!(s.status, TaskStatus::Success | TaskStatus::Skipped));
    record.status = if all_ok && sched.stop.is_none() && interruption.is_none() {
        RunStatus::Success
    } else {
        RunStatus::Failed
    };
    record.end_time = Some(now_seconds());
    let final_save = final_write.and_then(|()| guarded(|| p.backend.save_run(&record)));
    events.run(&p.name, record.status);

    if let Some(stop) = sched.stop {
        let not_started: Vec<&str> = p
            .tasks
            .iter()
            .zip(&slots)
            .filter(|(_, s)| s.status == TaskStatus::Pending)
            .map(|(t, _)| t.name.as_ref())
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

    let outputs = outputs
        .into_set()
        .map(|(i, v)| (String::from(&*p.tasks[i].name), v))
        .collect();
    permute(&mut slots, &derived.by_name);
    Ok(RunResult {
        run: record,
        outputs,
        slots,
        details: OnceLock::new(),
        interruption,
        spare: Arc::downgrade(derived),
    })
}

/// A run record's task map at the start of a run: an earlier run's, left
/// by its dropped result, with its statuses reset, else built from names
/// already in order. Either way it is updated in place at the end.
fn record_tasks(
    p: &Pipeline,
    derived: &Arc<Derived>,
    status_at_start: impl Fn(usize) -> TaskStatus,
) -> super::TaskMap {
    if let Some(mut tasks) = derived.take_spare() {
        derived.fill_statuses(&mut tasks, status_at_start);
        return tasks;
    }
    derived
        .by_name
        .iter()
        .map(|&i| {
            (
                String::from(&*p.tasks[i as usize].name),
                status_at_start(i as usize),
            )
        })
        .collect()
}

fn update<'a>(name: &'a str, s: &'a Slot) -> TaskUpdate<'a> {
    TaskUpdate {
        task: name,
        status: s.status,
        attempts: s.attempts,
        start_time: s.start.get(),
        end_time: s.end.get(),
        error: s.error(),
        output: None,
    }
}

/// `guarded`, keeping the error's kind (to tell `Unsupported` apart).
fn guarded_kind<T>(what: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(what)).unwrap_or_else(|p| {
        Err(Error::backend(format!(
            "backend panicked: {}",
            panic_message(&*p)
        )))
    })
}

/// A run that could not get going after its first save: recorded FAILED
/// (best effort), and the error says what failed.
fn abandon(p: &Pipeline, record: &mut PipelineRun, e: Error, what: &str) -> Error {
    record.status = RunStatus::Failed;
    record.end_time = Some(now_seconds());
    let saved = guarded(|| p.backend.save_run(record));
    let fate = match saved {
        Ok(()) => "it is recorded FAILED".to_string(),
        Err(s) => format!("recording it FAILED failed too ({s})"),
    };
    Error::backend(format!(
        "run {} of pipeline {:?} stopped before any task: the backend could not {what}: {e}; {fate}",
        record.run_id, p.name
    ))
}

/// Marks a resumed run's done tasks: their outputs readable downstream and
/// stored with the new run (so it can be resumed in turn), and the link to
/// the run it resumes.
fn start_resumed(p: &Pipeline, run_id: &str, plan: &ResumePlan, outputs: &Outputs) -> Result<()> {
    for (i, out) in plan.outputs.iter().enumerate() {
        if let Some(o) = out {
            outputs.set(i, o.clone());
        }
    }
    let done_slot = slot(TaskStatus::Success);
    let updates: Vec<TaskUpdate<'_>> = (0..p.tasks.len())
        .filter(|&i| plan.done[i])
        .map(|i| TaskUpdate {
            output: outputs.get(i).map(|o| OutputRef::Stored(o)),
            ..update(&p.tasks[i].name, &done_slot)
        })
        .collect();
    guarded(|| p.backend.update_tasks(run_id, &updates))?;
    match guarded_kind(|| p.backend.link_resume(run_id, &plan.original)) {
        Err(e) if e.kind() != ErrorKind::Unsupported => Err(e),
        _ => Ok(()),
    }
}

/// Reorders `items` in place so that `items[k]` becomes the old
/// `items[order[k]]` (`order` a permutation): no second copy of a run's
/// task states, which are most of its memory.
fn permute<T>(items: &mut [T], order: &[u32]) {
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        if placed[start] {
            continue;
        }
        // Walk the cycle through `start`, pulling each item into place.
        let mut k = start;
        loop {
            placed[k] = true;
            let from = order[k] as usize;
            if from == start {
                break;
            }
            items.swap(k, from);
            k = from;
        }
    }
}

impl Slot {
    pub(super) fn error(&self) -> Option<&str> {
        self.error.as_deref().map(String::as_str)
    }

    pub(super) fn detail(&self, name: &str) -> TaskDetail {
        TaskDetail {
            name: name.to_string(),
            status: self.status,
            attempts: self.attempts,
            start_time: self.start.get(),
            end_time: self.end.get(),
            error: self.error().map(str::to_string),
        }
    }
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
    pub(super) fn lock(&self) -> MutexGuard<'_, Sched> {
        self.sched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the workers (and the watchdog when a task has a timeout), each
    /// thread under the run's retry budget.
    fn run_workers(&self, events: &super::events::Events<'_>, budget: &Arc<RunBudget>) {
        let n = self.p.tasks.len();
        // A thread inside a backend that serializes its callers runs the
        // whole run itself: workers of its own would wait for that backend,
        // which the thread holds until the run ends.
        // Nor may it renew its lease or record timeouts from threads of its
        // own, which would wait for that backend too: the lease written at
        // the start is all such a run has, and a task's timeout is recorded
        // when its callback returns.
        let serial = serial::active();
        let (workers, lease) = if serial {
            (1, None)
        } else {
            (self.p.max_workers.min(n).max(1), self.lease)
        };
        let timeouts = !serial && self.p.tasks.iter().any(|t| t.extra().timeout.is_some());
        if workers == 1 && !timeouts && lease.is_none() {
            self.worker(events);
            return;
        }
        std::thread::scope(|s| {
            // Without a lease thread, the lease written at the start goes
            // stale during a long run (the system refused the thread).
            let mut lease_thread = None;
            if let Some(every) = lease {
                lease_thread = std::thread::Builder::new()
                    .name("dorch-lease".into())
                    .spawn_scoped(s, move || {
                        let _budget = budget::enter(budget);
                        self.renew_lease_until_done(every)
                    })
                    .ok();
            }
            // Without a watchdog, task deadlines are enforced when their
            // callbacks return.
            let mut watchdog = None;
            if timeouts {
                watchdog = std::thread::Builder::new()
                    .name("dorch-watchdog".into())
                    .spawn_scoped(s, || {
                        let _budget = budget::enter(budget);
                        self.watchdog(events)
                    })
                    .ok();
            }
            for k in 1..workers {
                // Runs with the threads that could be made (at least this
                // one) when the system refuses more.
                let spawned = std::thread::Builder::new()
                    .name(format!("dorch-worker-{k}"))
                    .spawn_scoped(s, || {
                        let _budget = budget::enter(budget);
                        self.worker(events)
                    });
                if spawned.is_err() {
                    break;
                }
            }
            self.worker(events);
            self.lock().done = true;
            self.watch.notify_all();
            drop(watchdog);
            drop(lease_thread);
        });
    }

    fn worker(&self, events: &super::events::Events<'_>) {
        let mut held: Vec<Held> = Vec::new();
        while let Some((i, decided)) = self.next_task(&mut held, events) {
            let verdict = decided.unwrap_or_else(|| self.decide(i, &self.lock(), &held));
            match verdict {
                Verdict::Stop => {
                    // The run is stopping: write what is held, start nothing.
                    self.flush(&mut held, None, events);
                    held.push(Held::new(i, slot(TaskStatus::Pending)));
                    self.release(&mut held, None);
                    continue;
                }
                Verdict::Skip => {
                    let mut s = slot(TaskStatus::Skipped);
                    s.end = Stamp::at(now_seconds());
                    held.push(Held::new(i, s));
                }
                Verdict::Run => {
                    let start = now_seconds();
                    if !self.flush(&mut held, Some((i, start)), events) {
                        held.push(Held::new(i, slot(TaskStatus::Pending)));
                        self.release(&mut held, None);
                        continue;
                    }
                    match self.attempts(i, start) {
                        Some(done) => held.push(Held::new(i, done)),
                        // Finalized by the watchdog, which released it.
                        None => continue,
                    }
                }
            }
            self.claim_child(&mut held);
        }
    }

    /// The task this worker runs next: the child it claimed, else one from
    /// the ready queue. Before waiting for one, or when there is nothing left
    /// to run, it writes and releases what it holds. `None`: the run is over.
    ///
    /// With the task, what was decided for it if it was claimed (see
    /// [`Self::decide`]).
    fn next_task(
        &self,
        held: &mut Vec<Held>,
        events: &super::events::Events<'_>,
    ) -> Option<(usize, Option<Verdict>)> {
        if let Some((c, decided)) = held.last_mut().and_then(|h| h.next.take()) {
            return Some((c, Some(decided)));
        }
        let mut g = self.lock();
        loop {
            if g.stop.is_none() {
                if let Some(i) = g.ready.pop_front() {
                    g.in_flight += 1;
                    return Some((i, None));
                }
            }
            if !held.is_empty() {
                drop(g);
                self.flush(held, None, events);
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
    /// that task, to run it next on this thread; what happens to it is
    /// decided under the same lock.
    fn claim_child(&self, held: &mut [Held]) {
        let Some(last) = held.last() else { return };
        let mut g = self.lock();
        if g.stop.is_some() {
            return;
        }
        let child = self.p.dag.downstream[last.task]
            .iter()
            .map(|&c| c as usize)
            .find(|&c| g.remaining[c] == 1);
        if let Some(c) = child {
            g.remaining[c] = 0;
            g.in_flight += 1;
            let decided = self.decide(c, &g, held);
            let last = held.last_mut().expect("checked above");
            last.claimed = Some(c);
            last.next = Some((c, decided));
        }
    }

    /// What happens to task `i` now.
    fn decide(&self, i: usize, g: &Sched, held: &[Held]) -> Verdict {
        if g.stop.is_some() || self.shared.control.interruption().is_some() {
            Verdict::Stop
        } else if self.rule_allows(i, &g.slots, held) {
            Verdict::Run
        } else {
            Verdict::Skip
        }
    }

    /// Writes the held statuses, plus `start`'s RUNNING, in one backend call,
    /// then releases the held tasks. `false` if the write failed (the run then
    /// stops; the statuses are still released, as they are what happened).
    pub(super) fn flush(
        &self,
        held: &mut Vec<Held>,
        start: Option<(usize, f64)>,
        events: &super::events::Events<'_>,
    ) -> bool {
        let running = start.map(|(i, t)| {
            let s = Slot {
                attempts: 1,
                start: Stamp::at(t),
                ..slot(TaskStatus::Running)
            };
            (i, s)
        });
        let result = {
            let run = running
                .as_ref()
                .map(|(i, s)| update(&self.p.tasks[*i].name, s));
            // A worker usually writes one held task and one start: built in
            // place on the stack, not collected.
            let (one, two, many): (
                [TaskUpdate<'_>; 1],
                [TaskUpdate<'_>; 2],
                Vec<TaskUpdate<'_>>,
            );
            let updates: &[TaskUpdate<'_>] = match (held.as_slice(), run) {
                ([], None) => &[],
                ([], Some(r)) => {
                    one = [r];
                    &one
                }
                ([h], None) => {
                    one = [self.held_update(h)];
                    &one
                }
                ([h], Some(r)) => {
                    two = [self.held_update(h), r];
                    &two
                }
                (hs, r) => {
                    many = hs.iter().map(|h| self.held_update(h)).chain(r).collect();
                    &many
                }
            };
            let result = self.record(updates);
            if result.is_ok() {
                events.tasks(updates);
            }
            result
        };
        let ok = result.is_ok();
        self.release(held, result.err());
        ok
    }

    /// The write of held task `h`'s final state.
    fn held_update<'s>(&'s self, h: &'s Held) -> TaskUpdate<'s> {
        TaskUpdate {
            output: self.output_of(h.task, h.slot.status),
            ..update(&self.p.tasks[h.task].name, &h.slot)
        }
    }

    /// What a task that just ended with `status` hands the backend of its
    /// output: stored up to the run's limit, else its size.
    fn output_of(&self, task: usize, status: TaskStatus) -> Option<OutputRef<'_>> {
        if status != TaskStatus::Success {
            return None;
        }
        let out = self.shared.outputs.get(task)?;
        Some(if out.len() <= self.output_limit {
            OutputRef::Stored(out)
        } else {
            OutputRef::NotStored(out.len() as u64)
        })
    }

    /// Hands finished tasks to the scheduler: their statuses become visible
    /// and their children (but a claimed one) lose an unfinished parent.
    pub(super) fn release(&self, done: &mut Vec<Held>, failure: Option<Error>) {
        if done.is_empty() && failure.is_none() {
            return;
        }
        let mut g = self.lock();
        if let Some(e) = failure {
            g.stop.get_or_insert(e);
        }
        let mut pushed = 0;
        for h in done.drain(..) {
            let never_started = h.slot.status == TaskStatus::Pending;
            g.slots[h.task] = h.slot;
            g.in_flight -= 1;
            if never_started {
                continue; // its children stay pending too
            }
            for &c in &self.p.dag.downstream[h.task] {
                let c = c as usize;
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

    fn rule_allows(&self, i: usize, slots: &[Slot], held: &[Held]) -> bool {
        let ups = &self.p.dag.upstream[i];
        if ups.is_empty() {
            return true;
        }
        let of = |u: u32| {
            let u = u as usize;
            held.iter()
                .rev()
                .find(|h| h.task == u)
                .map_or(slots[u].status, |h| h.slot.status)
        };
        let mut st = ups.iter().map(|&u| of(u));
        match self.p.tasks[i].trigger_rule {
            TriggerRule::AllSuccess => st.all(|s| s == TaskStatus::Success),
            TriggerRule::OneFailed => st.any(|s| s == TaskStatus::Failed),
            TriggerRule::AllDone => st.all(TaskStatus::is_final),
        }
    }

    /// Writes task changes, in order, in one backend call.
    fn record(&self, updates: &[TaskUpdate<'_>]) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let backend = &self.p.backend;
        let run_id = self.shared.run_id;
        guarded(|| backend.update_tasks(run_id, updates)).map_err(|e| {
            let what: Vec<String> = updates
                .iter()
                .map(|u| format!("task {:?} as {}", u.task, u.status))
                .collect();
            Error::new(
                ErrorKind::Backend,
                format!("the backend failed to record {}: {e}", what.join(", ")),
            )
        })
    }

    /// Runs task `i`'s attempts, the first started at `start`: its final
    /// state, or `None` when the watchdog finalized it (its timeout passed).
    fn attempts(&self, i: usize, start: f64) -> Option<Slot> {
        let task = &self.p.tasks[i];
        let control = self.shared.control;
        let extra = task.extra();
        let max = extra.retries.saturating_add(1);
        let mut attempt = 0;
        let mut last_error = String::new();
        let mut interrupted = None;
        let mut redelivered = 0;
        while attempt < max {
            if attempt > 0 && !extra.retry_delay.is_zero() {
                let until = Instant::now().checked_add(extra.retry_delay);
                if until.is_some_and(|u| !control.sleep_until(u)) {
                    interrupted = control.interruption();
                }
            }
            if interrupted.is_none() && attempt > 0 {
                interrupted = control.interruption();
            }
            if interrupted.is_some() {
                break;
            }
            attempt += 1;
            let deadline = extra
                .timeout
                .and_then(|t| Instant::now().checked_add(t))
                .inspect(|&d| self.watch_attempt(i, d, attempt, start));
            let mut ctx = TaskContext {
                shared: &self.shared,
                task_name: &task.name,
                attempt,
                deadline,
                output: None,
                error: None,
                redeliveries: 0,
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| (task.func)(&mut ctx)));
            redelivered += ctx.redeliveries;
            if let Some(d) = deadline {
                if self.unwatch_attempt(i, d) {
                    return None;
                }
            }
            // Past its deadline, a success comes too late (the watchdog,
            // when there is one, may just not have recorded it yet).
            let late = deadline.is_some_and(|d| Instant::now() >= d);
            match outcome {
                Ok(Ok(())) if late => {}
                Ok(Ok(())) => {
                    if let Some(out) = ctx.output.take() {
                        self.shared.outputs.set(i, out);
                    }
                    return Some(Slot {
                        attempts: attempt + redelivered,
                        start: Stamp::at(start),
                        end: Stamp::at(now_seconds()),
                        ..slot(TaskStatus::Success)
                    });
                }
                Ok(Err(e)) => last_error = e.to_string(),
                Err(p) => last_error = format!("task panicked: {}", panic_message(&*p)),
            }
            if late {
                // Its own timeout passed as it returned: no retry.
                last_error = timed_out_error(extra.timeout);
                break;
            }
            interrupted = control.interruption();
        }
        let error = match interrupted {
            Some(why) => why.task_error(),
            None if max > 1 && attempt == max => {
                format!("{last_error} (after {attempt} attempts)")
            }
            None => last_error,
        };
        Some(Slot {
            attempts: attempt.max(1) + redelivered,
            start: Stamp::at(start),
            end: Stamp::at(now_seconds()),
            error: Some(Box::new(error)),
            ..slot(TaskStatus::Failed)
        })
    }
}

/// The detail of a task stopped by its own timeout.
pub(super) fn timed_out_error(timeout: Option<std::time::Duration>) -> String {
    format!(
        "timed out after {} ms",
        timeout.map_or(0, |t| t.as_millis())
    )
}

#[cfg(test)]
mod tests {
    use super::{permute, Slot};

    #[test]
    fn a_slot_is_32_bytes() {
        // A run keeps one per task until its result is dropped.
        assert_eq!(std::mem::size_of::<Slot>(), 32);
    }

    #[test]
    fn permute_places_each_item_where_the_order_says() {
        // Several cycles, a fixed point and a 2-cycle.
        let order = [3u32, 0, 2, 5, 1, 4, 7, 6];
        let mut items: Vec<u32> = (0..8).map(|i| i * 10).collect();
        permute(&mut items, &order);
        let want: Vec<u32> = order.iter().map(|&i| i * 10).collect();
        assert_eq!(items, want);
        let mut none: Vec<u32> = Vec::new();
        permute(&mut none, &[]);
        assert!(none.is_empty());
    }
}
