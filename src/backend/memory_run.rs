//! The task state of one run kept by the memory backend, laid out for cheap
//! writes: a run writes every task two or three times, while its state is
//! read back rarely (the UI, the CLI, a resume), so writes index plain
//! vectors by task number and reads rebuild the public, name-keyed types.

use crate::history::{Numbered, RunDag};
use crate::model::{OutputRef, Stamp, StoredOutput, TaskDetail, TaskStatus, TaskUpdate};
use crate::pipeline::{NameList, TaskIndex};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Task names and their numbers. The runs of an unchanged pipeline share
/// one table, so the names are stored once, not once per run.
///
/// The names sit end to end in one string and are found through a hash
/// table of their numbers: building the table allocates nothing per name,
/// and dropping it frees three buffers instead of one or two per name.
#[derive(Clone, Default)]
pub(crate) struct Names {
    list: NameList,
    index: TaskIndex,
}

impl Names {
    /// The table of a run record's tasks, numbered in name order.
    fn from_names<'a, I>(names: I) -> Self
    where
        I: ExactSizeIterator<Item = &'a String> + Clone,
    {
        let mut table = Names {
            list: NameList::with_capacity(names.len(), names.clone().map(|n| n.len()).sum()),
            index: TaskIndex::with_capacity(names.len()),
        };
        for name in names {
            table.push(name);
        }
        table
    }

    fn name(&self, i: usize) -> &str {
        self.list.name(i)
    }

    fn is(&self, i: usize, name: &str) -> bool {
        self.list.is(i, name)
    }

    fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name, |i| self.list.name(i))
    }

    fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether these are exactly `tasks`' names, in their order: how a
    /// table built from a record meets the next record of the same
    /// pipeline, checked by comparing names rather than hashing them.
    fn in_order(&self, tasks: &BTreeMap<String, TaskStatus>) -> bool {
        self.list.equals(tasks.keys().map(String::as_str))
    }

    /// Adds a name the table does not hold and returns its number.
    fn push(&mut self, name: &str) -> usize {
        let Names { list, index } = self;
        let i = list.push(name);
        index.insert(i, |j| list.name(j));
        i
    }
}

/// A task's detail beyond its status and error, as written (all `None` and
/// 0, the same as a bare detail, when never written).
#[derive(Clone, Copy)]
struct Detail {
    start: Stamp,
    end: Stamp,
    attempts: u32,
}

impl Detail {
    const BARE: Detail = Detail {
        start: Stamp::NONE,
        end: Stamp::NONE,
        attempts: 0,
    };
}

/// The tasks of one stored run: statuses, detail and outputs by task number.
///
/// Memory per task per run: 1 byte of status, plus 24 bytes of detail once
/// the run has written any (every run of the engine does), so 25 bytes;
/// errors and outputs are kept only for the tasks that have one. The names
/// themselves are in the [`Names`] table, shared by the runs of a pipeline.
///
/// Invariant: `statuses` has one entry per name of `names`, and `details`
/// is empty or has one entry per name too.
pub(crate) struct RunTasks {
    names: Arc<Names>,
    /// `None`: not among the run's tasks (a name only an earlier save or
    /// another run sharing the table has).
    statuses: Vec<Option<TaskStatus>>,
    /// Empty until the run writes its first detail.
    details: Vec<Detail>,
    errors: FxHashMap<u32, Box<str>>,
    outputs: FxHashMap<u32, StoredOutput>,
    /// The number last looked up: a worker's update usually names that
    /// task (its status held since the last write) and the next one.
    hint: usize,
}

impl RunTasks {
    /// The tasks of a newly saved run: `tasks`, numbered by `previous`'s
    /// table when it holds exactly these names (the runs of an unchanged
    /// pipeline), else by a table of their own.
    pub(crate) fn new(tasks: &BTreeMap<String, TaskStatus>, previous: Option<&RunTasks>) -> Self {
        if let Some(prev) = previous {
            if prev.names.in_order(tasks) {
                let statuses = tasks.values().map(|s| Some(*s)).collect();
                return RunTasks::with_names(prev.names.clone(), statuses);
            }
            if prev.names.len() == tasks.len() {
                let mut statuses = vec![None; tasks.len()];
                let all_found = tasks.iter().all(|(name, status)| {
                    prev.names
                        .get(name)
                        .map(|i| statuses[i] = Some(*status))
                        .is_some()
                });
                if all_found {
                    return RunTasks::with_names(prev.names.clone(), statuses);
                }
            }
        }
        let names = Names::from_names(tasks.keys());
        let statuses = tasks.values().map(|s| Some(*s)).collect();
        RunTasks::with_names(Arc::new(names), statuses)
    }

    fn with_names(names: Arc<Names>, statuses: Vec<Option<TaskStatus>>) -> Self {
        RunTasks {
            names,
            statuses,
            details: Vec::new(),
            errors: FxHashMap::default(),
            hint: 0,
            outputs: FxHashMap::default(),
        }
    }

    /// The number of task `name`, added to the run's table (copied first
    /// when other runs share it) when it is not there yet.
    fn number(&mut self, name: &str) -> usize {
        // Comparing a name or two is cheaper than hashing it.
        for i in [self.hint, self.hint + 1] {
            if i < self.names.len() && self.names.is(i, name) {
                self.hint = i;
                return i;
            }
        }
        if let Some(i) = self.names.get(name) {
            self.hint = i;
            return i;
        }
        let i = Arc::make_mut(&mut self.names).push(name);
        self.statuses.push(None);
        if !self.details.is_empty() {
            self.details.push(Detail::BARE);
        }
        i
    }

    fn detail_mut(&mut self, i: usize) -> &mut Detail {
        if self.details.is_empty() {
            self.details = vec![Detail::BARE; self.statuses.len()];
        }
        &mut self.details[i]
    }

    /// Makes `tasks` the run's task statuses: the tasks it lacks leave the
    /// run (their detail and output stay stored, unseen unless they return).
    pub(crate) fn replace_statuses(&mut self, tasks: &BTreeMap<String, TaskStatus>) {
        if self.names.in_order(tasks) {
            for (slot, status) in self.statuses.iter_mut().zip(tasks.values()) {
                *slot = Some(*status);
            }
            return;
        }
        self.statuses.fill(None);
        for (name, status) in tasks {
            let i = self.number(name);
            self.statuses[i] = Some(*status);
        }
    }

    /// Sets one task's status, adding the task to the run if needed.
    pub(crate) fn set_status(&mut self, name: &str, status: TaskStatus) {
        let i = self.number(name);
        self.statuses[i] = Some(status);
    }

    /// Writes one task's status with its detail (replacing all of the
    /// earlier detail) and output, if it carries one.
    pub(crate) fn update(&mut self, u: &TaskUpdate<'_>) {
        let i = self.number(u.task);
        self.statuses[i] = Some(u.status);
        *self.detail_mut(i) = Detail {
            start: Stamp::new(u.start_time),
            end: Stamp::new(u.end_time),
            attempts: u.attempts,
        };
        let key = i as u32;
        match u.error {
            Some(e) => {
                self.errors.insert(key, e.into());
            }
            // Most runs never fail a task: skip the lookup then.
            None if !self.errors.is_empty() => {
                self.errors.remove(&key);
            }
            None => {}
        }
        match u.output {
            Some(OutputRef::Stored(b)) => {
                self.outputs.insert(key, StoredOutput::Stored(b.to_vec()));
            }
            Some(OutputRef::NotStored(n)) => {
                self.outputs.insert(key, StoredOutput::NotStored(n));
            }
            None => {}
        }
    }

    /// Finishes the tasks a lost owner left: RUNNING ones become FAILED,
    /// PENDING ones SKIPPED, ended `now` with error `error`, their attempts
    /// and start kept.
    pub(crate) fn finish_lost(&mut self, now: f64, error: &str) {
        for i in 0..self.statuses.len() {
            let new = match self.statuses[i] {
                Some(TaskStatus::Running) => TaskStatus::Failed,
                Some(TaskStatus::Pending) => TaskStatus::Skipped,
                _ => continue,
            };
            self.statuses[i] = Some(new);
            self.detail_mut(i).end = Stamp::at(now);
            self.errors.insert(i as u32, error.into());
        }
    }

    /// The run's task statuses, by name.
    pub(crate) fn statuses(&self) -> BTreeMap<String, TaskStatus> {
        self.present()
            .map(|(i, s)| (self.names.name(i).to_string(), s))
            .collect()
    }

    /// The detail of each of the run's tasks, in name order.
    pub(crate) fn details(&self) -> Vec<TaskDetail> {
        let mut present: Vec<(usize, TaskStatus)> = self.present().collect();
        // Numbers follow name order unless names were added later, so this
        // is usually a check of an already sorted list.
        present.sort_unstable_by(|a, b| self.names.name(a.0).cmp(self.names.name(b.0)));
        present
            .into_iter()
            .map(|(i, status)| {
                let d = self.details.get(i).copied().unwrap_or(Detail::BARE);
                TaskDetail {
                    name: self.names.name(i).to_string(),
                    status,
                    attempts: d.attempts,
                    start_time: d.start.get(),
                    end_time: d.end.get(),
                    error: self.errors.get(&(i as u32)).map(|e| e.to_string()),
                }
            })
            .collect()
    }

    /// Every stored output, by task name (those of tasks that left the run
    /// included).
    pub(crate) fn outputs(&self) -> BTreeMap<String, StoredOutput> {
        self.outputs
            .iter()
            .map(|(&i, o)| (self.names.name(i as usize).to_string(), o.clone()))
            .collect()
    }

    fn present(&self) -> impl Iterator<Item = (usize, TaskStatus)> + '_ {
        self.statuses
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
    }

    /// Whether `self` and `other` number their tasks with one table.
    #[cfg(test)]
    pub(crate) fn shares_names_with(&self, other: &RunTasks) -> bool {
        Arc::ptr_eq(&self.names, &other.names)
    }
}

/// The numbers of `names`: by the run's task table when it holds them all
/// (as when the engine saves a DAG), else by a table of their own.
fn number<'n>(
    names: impl Iterator<Item = &'n str> + Clone,
    run: &RunTasks,
) -> (Arc<Names>, Vec<u32>) {
    let by_run: Option<Vec<u32>> = names
        .clone()
        .map(|n| run.names.get(n).map(|i| i as u32))
        .collect();
    if let Some(numbers) = by_run {
        return (run.names.clone(), numbers);
    }
    let mut own = Names::default();
    let numbers = names
        .map(|n| own.get(n).unwrap_or_else(|| own.push(n)) as u32)
        .collect();
    (Arc::new(own), numbers)
}

/// A run's DAG, its names numbered by the run's task table when they are
/// all in it (as when the engine saves it), else by a table of its own:
/// copying and dropping it costs no allocation per task.
pub(crate) struct StoredDag {
    names: Arc<Names>,
    tasks: Vec<u32>,
    edges: Vec<(u32, u32)>,
}

impl StoredDag {
    /// A DAG of tasks `names` with edges by index in them, stored for the
    /// run whose tasks are `run`.
    pub(crate) fn from_numbered(dag: &Numbered, run: &RunTasks) -> Self {
        let (names, tasks) = number(dag.names(), run);
        let edges = dag
            .edges()
            .iter()
            .map(|&(a, b)| (tasks[a as usize], tasks[b as usize]))
            .collect();
        StoredDag {
            names,
            tasks,
            edges,
        }
    }

    /// `dag`, stored for the run whose tasks are `run`. Its edges may name
    /// tasks its task list lacks: they are numbered with the rest.
    pub(crate) fn new(dag: &RunDag, run: &RunTasks) -> Self {
        let edge_names = dag.edges.iter().flat_map(|(a, b)| [a.as_str(), b.as_str()]);
        let all = dag.tasks.iter().map(String::as_str).chain(edge_names);
        let (names, mut numbers) = number(all, run);
        let ends: Vec<u32> = numbers.split_off(dag.tasks.len());
        let edges = ends.chunks_exact(2).map(|e| (e[0], e[1])).collect();
        StoredDag {
            names,
            tasks: numbers,
            edges,
        }
    }

    fn name(&self, i: u32) -> &str {
        self.names.name(i as usize)
    }

    fn is_name(&self, i: u32, name: &str) -> bool {
        self.names.is(i as usize, name)
    }

    /// Whether this is `dag`.
    pub(crate) fn is(&self, dag: &RunDag) -> bool {
        self.tasks.len() == dag.tasks.len()
            && self.edges.len() == dag.edges.len()
            && self
                .tasks
                .iter()
                .zip(&dag.tasks)
                .all(|(&i, t)| self.is_name(i, t))
            && self
                .edges
                .iter()
                .zip(&dag.edges)
                .all(|(&(a, b), (x, y))| self.is_name(a, x) && self.is_name(b, y))
    }

    /// The DAG, rebuilt.
    pub(crate) fn to_dag(&self) -> RunDag {
        RunDag {
            tasks: self
                .tasks
                .iter()
                .map(|&i| self.name(i).to_string())
                .collect(),
            edges: self
                .edges
                .iter()
                .map(|&(a, b)| (self.name(a).to_string(), self.name(b).to_string()))
                .collect(),
        }
    }

    /// Whether the DAG is numbered by `run`'s task table.
    #[cfg(test)]
    pub(crate) fn numbered_like(&self, run: &RunTasks) -> bool {
        Arc::ptr_eq(&self.names, &run.names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_by_number_and_told_apart() {
        let mut t = Names::default();
        let names = ["a", "bc", "", "d", "ç名"];
        for (i, n) in names.iter().enumerate() {
            assert_eq!(t.push(n), i);
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!((t.get(n), t.name(i)), (Some(i), *n));
        }
        assert_eq!((t.get("x"), t.get("b"), t.get("bcd")), (None, None, None));
        assert_eq!(t.len(), names.len());
    }
}
