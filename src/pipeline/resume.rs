//! Resuming a run: what an earlier run of the pipeline already did, checked
//! against the pipeline as it is now.

use super::Pipeline;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{RunStatus, StoredOutput, TaskStatus};
use std::collections::BTreeMap;

/// What a resumed run starts from: the tasks done in the original run and
/// their outputs, by task index.
pub(crate) struct ResumePlan {
    pub(crate) original: String,
    pub(crate) done: Vec<bool>,
    pub(crate) outputs: Vec<Option<Vec<u8>>>,
}

/// Checks that run `run_id` can be resumed by `p` and reads what it did.
pub(crate) fn plan(p: &Pipeline, run_id: &str) -> Result<ResumePlan> {
    let original = p
        .backend
        .get_run(run_id)?
        .ok_or_else(|| Error::not_found(format!("no run with id {run_id:?} to resume")))?;
    if original.pipeline_name != p.name {
        return Err(Error::invalid(format!(
            "run {run_id} is a run of pipeline {:?}, not of {:?}",
            original.pipeline_name, p.name
        )));
    }
    if original.status == RunStatus::Running {
        return Err(Error::invalid(format!(
            "run {run_id} is still RUNNING; if its process died, finish it with recover first"
        )));
    }
    let missing: Vec<&str> = original
        .tasks
        .keys()
        .filter(|t| p.task_number(t).is_none())
        .map(String::as_str)
        .collect();
    let added: Vec<&str> = p
        .task_names()
        .filter(|t| !original.tasks.contains_key(*t))
        .collect();
    if !missing.is_empty() || !added.is_empty() {
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("the pipeline no longer has {}", missing.join(", ")));
        }
        if !added.is_empty() {
            why.push(format!("the run did not have {}", added.join(", ")));
        }
        return Err(Error::invalid(format!(
            "run {run_id} cannot be resumed: its tasks no longer match pipeline {:?} ({})",
            p.name,
            why.join("; ")
        )));
    }
    let done: Vec<bool> = p
        .tasks
        .iter()
        .map(|t| original.tasks.get(&*t.name) == Some(&TaskStatus::Success))
        .collect();
    let mut outputs = vec![None; p.tasks.len()];
    if done.iter().any(|d| *d) {
        let mut stored = stored_outputs(p, run_id)?;
        for (i, t) in p.tasks.iter().enumerate() {
            if !done[i] {
                continue;
            }
            match stored.remove(&*t.name) {
                Some(StoredOutput::Stored(bytes)) => outputs[i] = Some(bytes),
                Some(StoredOutput::NotStored(len)) => {
                    let needed_by: Vec<&str> = p.dag.downstream[i]
                        .iter()
                        .map(|&c| c as usize)
                        .filter(|&c| !done[c])
                        .map(|c| p.tasks[c].name.as_ref())
                        .collect();
                    if !needed_by.is_empty() {
                        return Err(Error::invalid(format!(
                            "run {run_id} cannot be resumed: the output of task {:?} ({len} bytes, above the run's limit) was not stored, and {} would read it",
                            t.name,
                            needed_by.join(", ")
                        )));
                    }
                }
                None => {}
            }
        }
    }
    Ok(ResumePlan {
        original: run_id.to_string(),
        done,
        outputs,
    })
}

fn stored_outputs(p: &Pipeline, run_id: &str) -> Result<BTreeMap<String, StoredOutput>> {
    p.backend.get_outputs(run_id).map_err(|e| match e.kind() {
        ErrorKind::Unsupported => Error::unsupported(format!(
            "run {run_id} cannot be resumed: its backend does not store task outputs"
        )),
        _ => e,
    })
}
