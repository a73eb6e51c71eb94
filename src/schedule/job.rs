//! One schedule inside a scheduler: what it runs, when, and what happens
//! when a fire comes while the previous run is still going.

use super::spec::Spec;
use crate::error::Result;
use crate::pipeline::{Pipeline, RunOptions, RunResult};
use std::sync::Arc;

/// What a fire does while an earlier run of the same schedule still runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overlap {
    /// The fire is skipped (as APScheduler's `max_instances=1`). The default.
    #[default]
    Skip,
    /// The fire waits and runs when the current run ends; at most one fire
    /// waits (a newer one replaces it).
    BufferOne,
    /// The fire runs at once, beside the current run.
    Allow,
}

impl Overlap {
    /// `skip`, `buffer_one` or `allow`, as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::BufferOne => "buffer_one",
            Overlap::Allow => "allow",
        }
    }
}

/// A schedule: when it fires, its overlap policy, and how many missed
/// fires it runs after downtime.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub(crate) spec: Spec,
    pub(crate) overlap: Overlap,
    pub(crate) max_catchup: u32,
}

impl Schedule {
    /// Fires at `spec`'s times, overlap [`Overlap::Skip`], no catch-up.
    pub fn new(spec: Spec) -> Self {
        Schedule {
            spec,
            overlap: Overlap::Skip,
            max_catchup: 0,
        }
    }

    /// Sets the overlap policy.
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    /// After downtime (fire times that passed while no scheduler ran the
    /// schedule), runs at most the newest `n` missed fires (default 0).
    pub fn max_catchup(mut self, n: u32) -> Self {
        self.max_catchup = n;
        self
    }

    /// When it fires.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
}

/// Something a scheduler can run: a [`Pipeline`], or a host's handle on one.
pub trait Schedulable: Send + Sync {
    /// The pipeline's name, as recorded with the schedule.
    fn pipeline_name(&self) -> String;
    /// One run with `opts`, as [`Pipeline::run_with`].
    fn run_scheduled(&self, opts: &RunOptions) -> Result<RunResult>;
}

impl Schedulable for Pipeline {
    fn pipeline_name(&self) -> String {
        self.name().to_string()
    }
    fn run_scheduled(&self, opts: &RunOptions) -> Result<RunResult> {
        self.run_with(opts)
    }
}

/// A schedule as the scheduler keeps it.
pub(crate) struct Job {
    pub(crate) name: String,
    pub(crate) pipeline: Arc<dyn Schedulable>,
    pub(crate) pipeline_name: String,
    pub(crate) schedule: Schedule,
    /// The next fire time (ms), `None` when the spec never fires again.
    pub(crate) next_fire: Option<i64>,
    /// The newest fire time run (ms).
    pub(crate) last_fire: Option<i64>,
    /// Runs (or batches of catch-up runs) in progress.
    pub(crate) running: usize,
    /// The fire waiting for the current run (BUFFER_ONE).
    pub(crate) queued: Option<Vec<i64>>,
    /// Fires dropped by the overlap policy.
    pub(crate) skipped: u64,
}
