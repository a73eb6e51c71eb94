//! PostgreSQL backend (issue 4). Skeleton: the signature the C API relies on.

use super::Backend;
use crate::error::{Error, Result};
use crate::model::{PipelineRun, TaskStatus};

/// Runs kept in a PostgreSQL table in dremioframe's layout.
pub struct PostgresBackend {
    _private: (),
}

impl PostgresBackend {
    /// Connects with `dsn` (else `DREMIOFRAME_PG_DSN`) and uses `table`
    /// (else `dremioframe_runs`).
    pub fn connect(dsn: Option<&str>, table: Option<&str>) -> Result<Self> {
        let _ = (dsn, table);
        Err(Error::config("postgres backend: not implemented yet"))
    }
}

impl Backend for PostgresBackend {
    fn save_run(&self, _run: &PipelineRun) -> Result<()> {
        unimplemented!()
    }
    fn get_run(&self, _run_id: &str) -> Result<Option<PipelineRun>> {
        unimplemented!()
    }
    fn update_task_status(&self, _run_id: &str, _task: &str, _s: TaskStatus) -> Result<()> {
        unimplemented!()
    }
    fn list_runs(&self, _p: Option<&str>, _limit: u32) -> Result<Vec<PipelineRun>> {
        unimplemented!()
    }
}
