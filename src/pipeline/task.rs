//! A task: a named callback and the options that govern how it runs.

use super::context::TaskContext;
use crate::model::TriggerRule;
use std::sync::Arc;
use std::time::Duration;

/// What a task callback returns on failure: any error, or a plain message.
pub type TaskError = Box<dyn std::error::Error + Send + Sync>;

/// The callback type. Called once per attempt, possibly on a worker thread.
pub type TaskFn = dyn Fn(&mut TaskContext<'_>) -> Result<(), TaskError> + Send + Sync;

/// A named unit of work with its retry and trigger options.
#[derive(Clone)]
pub struct Task {
    // A boxed `str` (16 bytes) where a `String` is 24: a million tasks
    // keep 8 MB less.
    pub(crate) name: Box<str>,
    pub(crate) func: Arc<TaskFn>,
    /// Retries, their delay and the timeout: most tasks set none, so they
    /// cost one pointer a task instead of 40 bytes.
    extra: Option<Box<Extra>>,
    pub(crate) trigger_rule: TriggerRule,
}

/// The options of a [`Task`] most tasks leave at their defaults.
#[derive(Clone, Debug)]
pub(crate) struct Extra {
    pub(crate) retries: u32,
    pub(crate) retry_delay: Duration,
    pub(crate) timeout: Option<Duration>,
}

/// The defaults, for the tasks that set none.
static DEFAULT_EXTRA: Extra = Extra {
    retries: 0,
    retry_delay: Duration::ZERO,
    timeout: None,
};

impl Task {
    /// A task running `func`. It may call `ctx.set_output(..)` and read
    /// upstream outputs with `ctx.get(..)`; an `Err` or a panic fails the attempt.
    pub fn new<F>(name: impl Into<String>, func: F) -> Self
    where
        F: Fn(&mut TaskContext<'_>) -> Result<(), TaskError> + Send + Sync + 'static,
    {
        Task {
            name: name.into().into_boxed_str(),
            func: Arc::new(func),
            extra: None,
            trigger_rule: TriggerRule::AllSuccess,
        }
    }

    /// Extra attempts after the first failure (default 0).
    pub fn retries(mut self, n: u32) -> Self {
        self.extra_mut().retries = n;
        self
    }

    /// Wait between attempts (default none).
    pub fn retry_delay(mut self, d: Duration) -> Self {
        self.extra_mut().retry_delay = d;
        self
    }

    /// When the task runs, given its upstream statuses (default `all_success`).
    pub fn trigger_rule(mut self, rule: TriggerRule) -> Self {
        self.trigger_rule = rule;
        self
    }

    /// Longest time one attempt may run (default none; zero means none). At
    /// the deadline the task is recorded FAILED ("timed out after N ms"),
    /// its retries are not tried, its children are decided at once, and its
    /// callback sees [`TaskContext::is_cancelled`]; the run still waits for
    /// the callback to return before it ends.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.extra_mut().timeout = (!d.is_zero()).then_some(d);
        self
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its retries, retry delay and timeout.
    pub(crate) fn extra(&self) -> &Extra {
        self.extra.as_deref().unwrap_or(&DEFAULT_EXTRA)
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra
            .get_or_insert_with(|| Box::new(DEFAULT_EXTRA.clone()))
    }
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("name", &self.name)
            .field("retries", &self.extra().retries)
            .field("retry_delay", &self.extra().retry_delay)
            .field("trigger_rule", &self.trigger_rule)
            .field("timeout", &self.extra().timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_task_is_48_bytes() {
        // A pipeline keeps one per task for as long as it lives.
        assert_eq!(std::mem::size_of::<super::Task>(), 48);
    }
}
