//! The scheduler: one thread that sleeps until the earliest next fire, and
//! one thread per run (or batch of catch-up runs) it starts.

use super::clock::{Clock, SystemClock};
use super::job::{Job, Overlap, Schedulable, Schedule};
use crate::backend::{BackendRef, ScheduleRecord};
use crate::error::{Error, ErrorKind, Result};
use crate::model::now_seconds;
use crate::pipeline::{CancelToken, RunOptions};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

/// Runs pipelines on schedules. Each fire is a normal run of its pipeline
/// (recorded in the pipeline's backend, told to its listener, cancellable by
/// [`Scheduler::stop`]). With a claims backend, several schedulers (in one
/// process or many) that schedule the same name run each fire time once in
/// all, and the schedules are recorded there for `dremioorch schedules list`.
pub struct Scheduler {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    claims: Option<BackendRef>,
    clock: Arc<dyn Clock>,
    owner: String,
    state: Mutex<State>,
    /// Wakes the scheduler thread (a new schedule, stop, a clock jump).
    wake: Condvar,
    /// Signals that a run thread ended.
    idle: Condvar,
}

struct State {
    jobs: BTreeMap<String, Job>,
    started: bool,
    stopping: bool,
    cancel: CancelToken,
    /// Run threads alive.
    active: usize,
}

impl Scheduler {
    /// A scheduler on the system clock. `claims`: the backend shared with
    /// other schedulers (claims and schedule records), or `None` to
    /// schedule in this process only.
    pub fn new(claims: Option<BackendRef>) -> Self {
        Self::with_clock(claims, Arc::new(SystemClock))
    }

    /// A scheduler on `clock` (a [`super::FakeClock`] in tests).
    pub fn with_clock(claims: Option<BackendRef>, clock: Arc<dyn Clock>) -> Self {
        let shared = Arc::new(Shared {
            claims,
            clock: clock.clone(),
            owner: format!(
                "pid {} ({})",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            state: Mutex::new(State {
                jobs: BTreeMap::new(),
                started: false,
                stopping: false,
                cancel: CancelToken::new(),
                active: 0,
            }),
            wake: Condvar::new(),
            idle: Condvar::new(),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        clock.on_jump(Box::new(move || {
            if let Some(s) = weak.upgrade() {
                let _g = s.lock();
                s.wake.notify_all();
            }
        }));
        Scheduler {
            shared,
            thread: Mutex::new(None),
        }
    }

    /// The name this scheduler records as the owner of its claims.
    pub fn owner(&self) -> &str {
        &self.shared.owner
    }

    /// Adds schedule `name` running `pipeline`. The scheduler keeps its own
    /// reference to the pipeline. An empty name is `InvalidArgument`, a
    /// name already added `Duplicate`. May be called before or after `start`.
    pub fn add(
        &self,
        name: &str,
        pipeline: Arc<dyn Schedulable>,
        schedule: Schedule,
    ) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid("schedule name is empty"));
        }
        let s = &self.shared;
        let now = s.clock.now_ms();
        let record = {
            let mut st = s.lock();
            if st.jobs.contains_key(name) {
                return Err(Error::new(
                    ErrorKind::Duplicate,
                    format!("a schedule named {name:?} was already added"),
                ));
            }
            let job = Job {
                name: name.to_string(),
                pipeline_name: pipeline.pipeline_name(),
                pipeline,
                next_fire: schedule.spec.next_after(now),
                schedule,
                last_fire: None,
                running: 0,
                queued: None,
                skipped: 0,
            };
            let record = st.started.then(|| s.record(&job));
            st.jobs.insert(name.to_string(), job);
            s.wake.notify_all();
            record
        };
        if let Some(r) = record {
            s.save(&r);
        }
        Ok(())
    }

    /// Starts firing, from a thread of its own. Fire times that passed
    /// before the start are not run, except, for a schedule whose last fire
    /// is recorded in the claims backend, up to its `max_catchup` newest
    /// missed ones. Starting a started scheduler is `InvalidArgument`; a
    /// claims backend that keeps no schedules is `Unsupported`.
    pub fn start(&self) -> Result<()> {
        let s = &self.shared;
        let recorded: HashMap<String, ScheduleRecord> = match &s.claims {
            Some(b) => b
                .list_schedules()
                .map_err(|e| e.context("reading the recorded schedules"))?
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect(),
            None => HashMap::new(),
        };
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let records = {
            let mut st = s.lock();
            if st.started {
                return Err(Error::invalid("the scheduler is already started"));
            }
            st.started = true;
            st.stopping = false;
            let now = s.clock.now_ms();
            let mut catchups = Vec::new();
            for job in st.jobs.values_mut() {
                job.next_fire = job.schedule.spec.next_after(now);
                let last = recorded
                    .get(&job.name)
                    .and_then(|r| r.last_fire)
                    .map(|f| (f * 1000.0).round() as i64);
                if let Some(last) = last {
                    job.last_fire = Some(last);
                    let keep = job.schedule.max_catchup as usize;
                    let missed = job.schedule.spec.fires_between(last, now, keep);
                    if !missed.is_empty() {
                        catchups.push((job.name.clone(), missed));
                    }
                }
            }
            for (name, fires) in catchups {
                s.dispatch(&mut st, &name, fires);
            }
            st.jobs.values().map(|j| s.record(j)).collect::<Vec<_>>()
        };
        for r in &records {
            s.save(r);
        }
        let shared = s.clone();
        *thread = Some(
            std::thread::Builder::new()
                .name("dorch-scheduler".into())
                .spawn(move || shared.main_loop())
                .map_err(|e| Error::new(ErrorKind::Panic, format!("spawning a thread: {e}")))?,
        );
        Ok(())
    }

    /// The next fire time of schedule `name`, in seconds since the Unix
    /// epoch; `Ok(None)` when its expression never matches again.
    /// An unknown name is `NotFound`.
    pub fn next_fire(&self, name: &str) -> Result<Option<f64>> {
        let s = &self.shared;
        let st = s.lock();
        let job = st
            .jobs
            .get(name)
            .ok_or_else(|| Error::not_found(format!("no schedule named {name:?}")))?;
        let next = if st.started {
            job.next_fire
        } else {
            job.schedule.spec.next_after(s.clock.now_ms())
        };
        Ok(next.map(|t| t as f64 / 1000.0))
    }

    /// How many fires of `name` its overlap policy dropped. Unknown: `NotFound`.
    pub fn skipped(&self, name: &str) -> Result<u64> {
        let st = self.shared.lock();
        st.jobs
            .get(name)
            .map(|j| j.skipped)
            .ok_or_else(|| Error::not_found(format!("no schedule named {name:?}")))
    }

    /// The schedules of this scheduler, as they would be recorded.
    pub fn records(&self) -> Vec<ScheduleRecord> {
        let st = self.shared.lock();
        st.jobs.values().map(|j| self.shared.record(j)).collect()
    }

    /// Stops firing and returns when every run it started has ended:
    /// `cancel_running` cancels them first (they end FAILED, "cancelled:
    /// scheduler stopped"), otherwise they run to their end. Queued fires are
    /// dropped. A stopped scheduler can be started again. Calling it from a
    /// task of one of its own runs would wait for itself: don't.
    pub fn stop(&self, cancel_running: bool) {
        let s = &self.shared;
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut st = s.lock();
            if !st.started {
                return;
            }
            st.stopping = true;
            if cancel_running {
                st.cancel.cancel(Some("scheduler stopped"));
            }
            s.wake.notify_all();
        }
        if let Some(h) = thread.take() {
            let _ = h.join();
        }
        let mut st = s.lock();
        while st.active > 0 {
            st = s.idle.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.started = false;
        st.stopping = false;
        st.cancel = CancelToken::new();
        for job in st.jobs.values_mut() {
            job.queued = None;
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop(false);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, job: &Job) -> ScheduleRecord {
        ScheduleRecord {
            name: job.name.clone(),
            pipeline: job.pipeline_name.clone(),
            spec: job.schedule.spec.describe(),
            timezone: job.schedule.spec.timezone().map(str::to_string),
            overlap: job.schedule.overlap.as_str().to_string(),
            last_fire: job.last_fire.map(|t| t as f64 / 1000.0),
            next_fire: job.next_fire.map(|t| t as f64 / 1000.0),
            owner: self.owner.clone(),
            updated_at: now_seconds(),
        }
    }

    /// Records a schedule in the claims backend. A failure is not fatal:
    /// the schedule keeps firing and the record is written again next time.
    fn save(&self, record: &ScheduleRecord) {
        if let Some(b) = &self.claims {
            let _ = b.save_schedule(record);
        }
    }

    /// Sleeps until the earliest next fire (or a change), fires what is due.
    fn main_loop(self: Arc<Self>) {
        let mut st = self.lock();
        loop {
            if st.stopping {
                return;
            }
            let now = self.clock.now_ms();
            let mut due = Vec::new();
            let mut earliest: Option<i64> = None;
            for job in st.jobs.values_mut() {
                if let Some(next) = job.next_fire {
                    if next <= now {
                        // The newest due time is this fire; older ones were
                        // missed (the process slept or the clock jumped).
                        let keep = job.schedule.max_catchup as usize + 1;
                        let fires = job.schedule.spec.fires_between(next - 1, now, keep);
                        job.next_fire = job.schedule.spec.next_after(now);
                        due.push((job.name.clone(), fires));
                    }
                }
                if let Some(n) = job.next_fire {
                    earliest = Some(earliest.map_or(n, |e: i64| e.min(n)));
                }
            }
            for (name, fires) in due {
                self.dispatch(&mut st, &name, fires);
            }
            st = match earliest.and_then(|t| self.clock.sleep_for(t)) {
                Some(d) if d.is_zero() => st,
                Some(d) => {
                    self.wake
                        .wait_timeout(st, d)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.wake.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    /// Runs `fires` of schedule `name` (oldest first, one after another)
    /// on a thread of their own, as its overlap policy allows.
    fn dispatch(self: &Arc<Self>, st: &mut State, name: &str, fires: Vec<i64>) {
        if fires.is_empty() {
            return;
        }
        let Some(job) = st.jobs.get_mut(name) else {
            return;
        };
        if job.running > 0 {
            match job.schedule.overlap {
                Overlap::Skip => {
                    job.skipped += fires.len() as u64;
                    return;
                }
                Overlap::BufferOne => {
                    if let Some(old) = job.queued.replace(fires) {
                        job.skipped += old.len() as u64;
                    }
                    return;
                }
                Overlap::Allow => {}
            }
        }
        job.running += 1;
        let pipeline = job.pipeline.clone();
        let name = name.to_string();
        let cancel = st.cancel.clone();
        st.active += 1;
        let shared = self.clone();
        let spawned = std::thread::Builder::new()
            .name("dorch-sched-run".into())
            .spawn({
                let name = name.clone();
                move || shared.run_batches(&name, pipeline, cancel, fires)
            });
        if spawned.is_err() {
            // No thread: the fire is lost; count it as skipped.
            if let Some(job) = st.jobs.get_mut(&name) {
                job.running -= 1;
                job.skipped += 1;
            }
            st.active -= 1;
            self.idle.notify_all();
        }
    }

    /// The body of a run thread: each fire claimed then run, then whatever
    /// was queued meanwhile (BUFFER_ONE).
    fn run_batches(
        &self,
        name: &str,
        pipeline: Arc<dyn Schedulable>,
        cancel: CancelToken,
        mut fires: Vec<i64>,
    ) {
        loop {
            for t in fires {
                if cancel.is_cancelled() {
                    break;
                }
                if let Some(b) = &self.claims {
                    match b.claim_fire(name, t, &self.owner) {
                        Ok(true) => {}
                        // Another scheduler runs it, or the claim could not
                        // be recorded: running it might run it twice.
                        Ok(false) | Err(_) => continue,
                    }
                }
                let opts = RunOptions::new().cancel_token(cancel.clone());
                let _ = pipeline.run_scheduled(&opts);
                let record = {
                    let mut st = self.lock();
                    st.jobs.get_mut(name).map(|job| {
                        job.last_fire = Some(job.last_fire.map_or(t, |l| l.max(t)));
                        self.record(job)
                    })
                };
                if let Some(r) = record {
                    self.save(&r);
                }
            }
            let mut st = self.lock();
            let stopping = st.stopping;
            let next = match st.jobs.get_mut(name) {
                Some(job) if !stopping => job.queued.take(),
                _ => None,
            };
            match next {
                Some(q) => fires = q,
                None => {
                    if let Some(job) = st.jobs.get_mut(name) {
                        job.running -= 1;
                    }
                    st.active -= 1;
                    self.idle.notify_all();
                    return;
                }
            }
        }
    }
}
