//! Pipelines: building the DAG of tasks and running it.

mod cancel;
mod context;
mod dag;
mod events;
mod executor;
mod lease;
mod listener;
mod names;
mod outputs;
mod result;
mod resume;
mod task;
mod watchdog;

pub use cancel::{CancelToken, Interruption, RunOptions};
pub use context::TaskContext;
pub use listener::Listener;
pub use result::RunResult;
pub use task::{Task, TaskError, TaskFn};
// What remote workers build a task context from.
pub(crate) use cancel::RunControl;
pub(crate) use context::{SharedContext, TaskNames};
pub(crate) use names::{NameList, TaskIndex};
pub(crate) use outputs::Outputs;

use crate::backend::{BackendRef, MemoryBackend};
use crate::error::{Error, ErrorKind, Result};
use crate::model::TaskStatus;
use dag::Dag;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// A run record's tasks: status by task name.
type TaskMap = BTreeMap<String, TaskStatus>;

/// A named DAG of tasks, the backend its runs are recorded in, and the
/// initial context every run starts with.
pub struct Pipeline {
    name: String,
    tasks: Vec<Task>,
    index: TaskIndex,
    dag: Dag,
    /// What runs derive from the tasks and edges, built by the first run
    /// after a change and shared by the runs that follow.
    derived: OnceLock<Arc<Derived>>,
    max_workers: usize,
    backend: BackendRef,
    context: HashMap<String, Vec<u8>>,
    listener: Option<Arc<dyn Listener>>,
}

impl Pipeline {
    /// A pipeline recording its runs in a fresh [`MemoryBackend`].
    pub fn new(name: impl Into<String>) -> Result<Self> {
        Self::with_backend(name, Arc::new(MemoryBackend::new()))
    }

    /// A pipeline recording its runs in `backend`.
    pub fn with_backend(name: impl Into<String>, backend: BackendRef) -> Result<Self> {
        let name = name.into();
        if name.is_empty() {
            return Err(Error::invalid("pipeline name is empty"));
        }
        Ok(Pipeline {
            name,
            tasks: Vec::new(),
            index: TaskIndex::default(),
            dag: Dag::default(),
            derived: OnceLock::new(),
            max_workers: 1,
            backend,
            context: HashMap::new(),
            listener: None,
        })
    }

    /// The pipeline's tasks and dependency edges, as stored with each run
    /// for drawing it (see [`Backend::save_dag`](crate::Backend::save_dag)).
    pub fn run_dag(&self) -> crate::history::RunDag {
        self.numbered_dag().to_run_dag()
    }

    /// The tasks' names and the edges by task number.
    fn numbered_dag(&self) -> crate::history::Numbered {
        let downstream = &self.dag.downstream;
        let mut edges = Vec::with_capacity(downstream.iter().map(|d| d.len()).sum());
        edges.extend(
            downstream
                .iter()
                .enumerate()
                .flat_map(|(up, downs)| downs.iter().map(move |&d| (up as u32, d))),
        );
        crate::history::Numbered::new(self.tasks.iter().map(|t| t.name.as_ref()), edges)
    }

    /// The pipeline's name, as stored with each of its runs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The backend its runs are recorded in.
    pub fn backend(&self) -> &BackendRef {
        &self.backend
    }

    /// How many tasks may run at once (default 1).
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// Task names, in the order they were added.
    pub fn task_names(&self) -> impl Iterator<Item = &str> {
        self.tasks.iter().map(|t| t.name.as_ref())
    }

    /// Runs at most `n` tasks at once (default 1). Zero is an error.
    pub fn set_max_workers(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::invalid("max_workers must be at least 1"));
        }
        self.max_workers = n;
        Ok(())
    }

    /// Adds a task. An empty or already-used name is an error.
    pub fn add_task(&mut self, task: Task) -> Result<()> {
        if task.name.is_empty() {
            return Err(Error::invalid("task name is empty"));
        }
        if self.task_number(&task.name).is_some() {
            return Err(Error::new(
                ErrorKind::Duplicate,
                format!(
                    "pipeline {:?} already has a task named {:?}",
                    self.name, task.name
                ),
            ));
        }
        if u32::try_from(self.tasks.len()).is_err() {
            return Err(Error::invalid(format!(
                "pipeline {:?} has the most tasks a pipeline can hold ({})",
                self.name,
                u32::MAX
            )));
        }
        self.tasks.push(task);
        let tasks = &self.tasks;
        self.index
            .insert(tasks.len() - 1, |i| tasks[i].name.as_ref());
        self.dag.add_node();
        self.derived.take();
        Ok(())
    }

    /// Makes `downstream` wait for `upstream`. Both must be tasks of this
    /// pipeline. Cycles are reported when the pipeline is validated or run.
    pub fn add_dependency(&mut self, upstream: &str, downstream: &str) -> Result<()> {
        let up = self.task_index(upstream)?;
        let down = self.task_index(downstream)?;
        self.dag.add_edge(up, down);
        self.derived.take();
        Ok(())
    }

    /// Sets an initial context entry that every run's tasks can read.
    pub fn set_context(&mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Result<()> {
        let key = key.into();
        if key.is_empty() {
            return Err(Error::invalid("context key is empty"));
        }
        self.context.insert(key, value.into());
        Ok(())
    }

    /// Sets (or with `None` removes) the listener told of every run's events.
    pub fn set_listener(&mut self, listener: Option<Arc<dyn Listener>>) {
        self.listener = listener;
    }

    /// Checks the graph: a cycle is an error naming the tasks on it.
    pub fn validate(&self) -> Result<()> {
        let names: Vec<&str> = self.task_names().collect();
        self.dag.check_acyclic(&names)
    }

    /// Runs every task to its end and records the run in the backend.
    ///
    /// `Ok` holds the result whether the run ended SUCCESS or FAILED; `Err`
    /// means the run could not start (a cycle, the backend refused the first
    /// save) or the backend failed during the run, which then stops starting
    /// tasks and says in the error what the history lacks.
    pub fn run(&self) -> Result<RunResult> {
        self.run_with(&RunOptions::default())
    }

    /// [`Pipeline::run`] with a cancel token and a timeout for the whole run.
    /// A cancelled or timed-out run starts no more tasks, records its
    /// unstarted tasks SKIPPED, ends FAILED, and is still `Ok`:
    /// [`RunResult::interruption`] says why it stopped.
    pub fn run_with(&self, opts: &RunOptions) -> Result<RunResult> {
        executor::execute(self, self.derived()?, opts, None)
    }

    /// A new run that takes the tasks that ended SUCCESS in run `run_id` (a
    /// finished run of this pipeline, in its backend) as done, their stored
    /// outputs readable downstream, and runs the others by the usual rules.
    /// The new run has its own id and is linked to `run_id` in the backend.
    /// Errors: an unknown run (`NotFound`); a run of another pipeline, one
    /// still RUNNING, one whose tasks no longer match the pipeline's (named),
    /// an output needed downstream that was not stored (`InvalidArgument`);
    /// a backend that stores no outputs (`Unsupported`).
    pub fn resume(&self, run_id: &str, opts: &RunOptions) -> Result<RunResult> {
        let derived = self.derived()?;
        let plan = resume::plan(self, run_id)?;
        executor::execute(self, derived, opts, Some(plan))
    }

    /// A Mermaid `graph TD` of the pipeline. Node ids are generated, and
    /// names are quoted labels with Mermaid's entity escapes, so any name is safe.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("graph TD\n");
        for (i, t) in self.tasks.iter().enumerate() {
            out.push_str(&format!("    t{i}[\"{}\"]\n", mermaid_label(&t.name)));
        }
        for (i, downs) in self.dag.downstream.iter().enumerate() {
            for d in downs.iter() {
                out.push_str(&format!("    t{i} --> t{d}\n"));
            }
        }
        out
    }

    /// What runs derive from the tasks and edges, once the graph is
    /// checked acyclic: built once per change of the pipeline.
    fn derived(&self) -> Result<&Arc<Derived>> {
        if let Some(d) = self.derived.get() {
            return Ok(d);
        }
        self.validate()?;
        Ok(self.derived.get_or_init(|| Arc::new(Derived::of(self))))
    }

    /// The number of the task named `name`.
    pub(crate) fn task_number(&self, name: &str) -> Option<usize> {
        self.index.get(name, |i| self.tasks[i].name.as_ref())
    }

    fn task_index(&self, name: &str) -> Result<usize> {
        self.task_number(name).ok_or_else(|| {
            Error::not_found(format!(
                "pipeline {:?} has no task named {name:?}",
                self.name
            ))
        })
    }
}

/// What every run of an unchanged pipeline shares.
pub(crate) struct Derived {
    /// The DAG stored with each run.
    pub(crate) dag: Arc<crate::history::SharedDag>,
    /// Task numbers in task-name order: the order of a run record's tasks.
    pub(crate) by_name: Vec<u32>,
    /// The task map of a finished run whose result was dropped, for the
    /// next run's record: the same names, so reusing it saves an
    /// allocation a task (see `RunResult`'s `Drop`).
    spare: Mutex<Option<TaskMap>>,
}

impl Derived {
    /// Sets each status of `tasks` (a run's task map, in name order) to
    /// `status` of its task number.
    pub(crate) fn fill_statuses(&self, tasks: &mut TaskMap, status: impl Fn(usize) -> TaskStatus) {
        for (s, &i) in tasks.values_mut().zip(&self.by_name) {
            *s = status(i as usize);
        }
    }

    /// A task map left by an earlier run, if there is one.
    pub(crate) fn take_spare(&self) -> Option<TaskMap> {
        self.spare.try_lock().ok()?.take()
    }

    /// Keeps `tasks` (a run's task map, with this pipeline's names) for the
    /// next run, unless one is already kept.
    pub(crate) fn put_spare(&self, tasks: TaskMap) {
        if let Ok(mut spare) = self.spare.try_lock() {
            if spare.is_none() && tasks.len() == self.by_name.len() {
                *spare = Some(tasks);
            }
        }
    }

    fn of(p: &Pipeline) -> Self {
        let mut by_name: Vec<u32> = (0..p.tasks.len() as u32).collect();
        by_name.sort_unstable_by(|&a, &b| p.tasks[a as usize].name.cmp(&p.tasks[b as usize].name));
        Derived {
            spare: Mutex::new(None),
            dag: Arc::new(crate::history::SharedDag::numbered(p.numbered_dag())),
            by_name,
        }
    }
}

fn mermaid_label(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' => s.push_str("#quot;"),
            '#' => s.push_str("#35;"),
            '<' => s.push_str("#lt;"),
            '>' => s.push_str("#gt;"),
            '\n' | '\r' | '\t' => s.push(' '),
            c => s.push(c),
        }
    }
    s
}
