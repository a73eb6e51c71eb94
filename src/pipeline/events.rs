//! Delivers a run's events to its listener, if it has one, with the
//! listener's panics contained.

use super::listener::Listener;
use crate::model::{RunStatus, TaskUpdate};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub(super) struct Events<'a> {
    listener: Option<&'a dyn Listener>,
    run_id: &'a str,
}

impl<'a> Events<'a> {
    pub(super) fn new(listener: Option<&'a dyn Listener>, run_id: &'a str) -> Self {
        Events { listener, run_id }
    }

    pub(super) fn run(&self, pipeline: &str, status: RunStatus) {
        if let Some(l) = self.listener {
            let _ = catch_unwind(AssertUnwindSafe(|| l.on_run(pipeline, self.run_id, status)));
        }
    }

    pub(super) fn tasks(&self, updates: &[TaskUpdate<'_>]) {
        if let Some(l) = self.listener {
            for u in updates {
                let d = u.to_detail();
                let _ = catch_unwind(AssertUnwindSafe(|| l.on_task(self.run_id, &d)));
            }
        }
    }
}
