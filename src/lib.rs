//! dremioorch: an embeddable pipeline orchestrator.
//!
//! Build a [`Pipeline`] of [`Task`]s, run it, and keep the run history in a
//! [`Backend`] (in memory, SQLite, PostgreSQL, MySQL, or your own). The
//! history uses dremioframe's table layout, so both can read each other's runs.
//!
//! ```
//! use dremioorch::{Pipeline, Task, RunStatus};
//! let mut p = Pipeline::new("etl")?;
//! p.add_task(Task::new("extract", |ctx| { ctx.set_output(b"42".to_vec()); Ok(()) }))?;
//! p.add_task(Task::new("load", |ctx| {
//!     assert_eq!(ctx.get("extract"), Some(&b"42"[..]));
//!     Ok(())
//! }))?;
//! p.add_dependency("extract", "load")?;
//! let result = p.run()?;
//! assert_eq!(result.status(), RunStatus::Success);
//! # Ok::<(), dremioorch::Error>(())
//! ```
//!
//! The repository's `docs/` describe the behaviour (trigger rules, retries,
//! context), the storage layout shared with dremioframe and the C API.

#![deny(missing_docs)]

pub mod backend;
#[cfg(feature = "cli")]
pub mod cli;
mod error;
pub mod ffi;
pub mod history;
mod model;
mod pipeline;
pub mod remote;
#[cfg(any(feature = "cli", feature = "ui"))]
mod run_json;
pub mod schedule;
#[cfg(feature = "ui")]
pub mod ui;

pub use backend::{
    Backend, BackendRef, MemoryBackend, MySqlBackend, PostgresBackend, ScheduleRecord,
    SqliteBackend,
};
pub use error::{Error, ErrorKind, Result};
pub use history::{DagTexts, RunDag, RunQuery, SharedDag};
pub use model::{
    now_seconds, parse_tasks_json, OutputRef, PipelineRun, RunListing, RunStatus, StoredOutput,
    TaskDetail, TaskStatus, TaskUpdate, TriggerRule, UnreadableRun,
};
pub use pipeline::{
    CancelToken, Interruption, Listener, Pipeline, RunOptions, RunResult, Task, TaskContext,
    TaskError, TaskFn,
};
pub use remote::{RedisExecutor, RemoteOptions, Worker};

/// The README's Rust example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
