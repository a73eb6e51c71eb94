//! What a running task sees: its identity, its attempt, and the context.

use super::cancel::RunControl;
use crate::error::{Error, ErrorKind};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Read-only state a run shares with all of its tasks.
pub(crate) struct SharedContext<'a> {
    pub(crate) run_id: &'a str,
    /// Task numbers by name (of `names`).
    pub(crate) index: &'a super::TaskIndex,
    /// Each task's output, set once when the task succeeds with one.
    pub(crate) outputs: &'a super::outputs::Outputs,
    pub(crate) initial: &'a HashMap<String, Vec<u8>>,
    pub(crate) control: &'a RunControl,
    /// Per task, the indexes of its upstream tasks, and every task's name
    /// by index (empty where no pipeline runs: a remote worker).
    pub(crate) upstream: &'a [super::dag::Adjacent],
    pub(crate) names: TaskNames<'a>,
}

/// The names the index of a [`SharedContext`] refers to.
#[derive(Clone, Copy)]
pub(crate) enum TaskNames<'a> {
    /// A pipeline's tasks.
    Tasks(&'a [super::task::Task]),
    /// The upstream outputs a remote worker received, by name.
    Inputs(&'a [(String, Vec<u8>)]),
}

impl<'a> TaskNames<'a> {
    fn get(self, i: usize) -> &'a str {
        match self {
            TaskNames::Tasks(t) => &t[i].name,
            TaskNames::Inputs(v) => &v[i].0,
        }
    }
}

impl SharedContext<'_> {
    fn number(&self, name: &str) -> Option<usize> {
        let names = self.names;
        self.index.get(name, |i| names.get(i))
    }
}

/// Handed to a task callback for one attempt.
pub struct TaskContext<'a> {
    pub(crate) shared: &'a SharedContext<'a>,
    pub(crate) task_name: &'a str,
    pub(crate) attempt: u32,
    /// This attempt's deadline (the task's timeout), if it has one.
    pub(crate) deadline: Option<Instant>,
    pub(crate) output: Option<Vec<u8>>,
    pub(crate) error: Option<String>,
    /// Deliveries of this attempt beyond the first (a remote task re-sent
    /// to another worker), added to the task's recorded attempts.
    pub(crate) redeliveries: u32,
}

impl<'a> TaskContext<'a> {
    /// The run's id (a UUID).
    pub fn run_id(&self) -> &str {
        self.shared.run_id
    }

    /// This task's name.
    pub fn task_name(&self) -> &str {
        self.task_name
    }

    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The output of the finished task named `key`, else the initial context
    /// entry `key`. A task's output shadows an initial entry of the same name,
    /// as in dremioframe, where results are written into the context dict.
    /// Only tasks upstream of this one are certain to have finished.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.shared
            .number(key)
            .and_then(|i| self.shared.outputs.get(i))
            .or_else(|| self.shared.initial.get(key))
            .map(Vec::as_slice)
    }

    /// Sets this attempt's output; kept only if the attempt succeeds.
    pub fn set_output(&mut self, data: impl Into<Vec<u8>>) {
        self.output = Some(data.into());
    }

    /// Records why this attempt failed, for callers (such as C callbacks)
    /// that report failure through a return code rather than an error value.
    pub fn set_error(&mut self, message: impl Into<String>) {
        self.error = Some(message.into());
    }

    /// Whether this task should stop: its run was cancelled or timed out,
    /// or this attempt passed the task's own timeout. The library cannot
    /// stop a callback; a long task checks this (or sleeps with
    /// [`TaskContext::sleep`]) and returns early.
    pub fn is_cancelled(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
            || self.shared.control.interruption().is_some()
    }

    /// Sleeps for `d`, or less when the task should stop (see
    /// [`TaskContext::is_cancelled`]), which is then an error of kind
    /// `Cancelled` (the run was cancelled) or `Timeout` (a timeout passed).
    pub fn sleep(&self, d: Duration) -> Result<(), Error> {
        let until = Instant::now().checked_add(d);
        let end = match (until, self.deadline) {
            (Some(u), Some(dl)) => u.min(dl),
            (Some(u), None) => u,
            (None, Some(dl)) => dl,
            (None, None) => Instant::now() + Duration::from_secs(365 * 24 * 3600),
        };
        let full = self.shared.control.sleep_until(end);
        if full && Some(end) == until {
            return Ok(());
        }
        Err(self.stop_reason())
    }

    fn stop_reason(&self) -> Error {
        use super::cancel::Interruption;
        match self.shared.control.interruption() {
            Some(Interruption::Cancelled(r)) => {
                Error::new(ErrorKind::Cancelled, format!("cancelled: {r}"))
            }
            Some(Interruption::TimedOut(t)) => Error::new(
                ErrorKind::Timeout,
                format!("run timed out after {} ms", t.as_millis()),
            ),
            None => Error::new(ErrorKind::Timeout, "the task's timeout passed"),
        }
    }

    /// The message given to [`TaskContext::set_error`], if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The outputs of this task's upstream tasks that have one, by name:
    /// what a remote task ships to its worker.
    pub(crate) fn upstream_outputs(&self) -> Vec<(&str, &[u8])> {
        let Some(i) = self.shared.number(self.task_name) else {
            return Vec::new();
        };
        let ups = self.shared.upstream.get(i).map_or(&[][..], |u| &u[..]);
        ups.iter()
            .filter_map(|&u| {
                let out = self.shared.outputs.get(u as usize)?;
                Some((self.shared.names.get(u as usize), out.as_slice()))
            })
            .collect()
    }

    /// The run's initial context entries.
    pub(crate) fn initial_entries(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.shared
            .initial
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// This attempt's deadline (its task's timeout), if it has one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Why this task should stop, when it should (see [`TaskContext::is_cancelled`]).
    pub(crate) fn stop_message(&self) -> Option<String> {
        self.is_cancelled()
            .then(|| self.stop_reason().message().to_string())
    }
}
