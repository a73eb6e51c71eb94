//! Shared by tests/cli.rs and tests/cli_history.rs: running the built
//! `dremioorch` executable, making histories with the library, and the
//! scratch places (SQLite files, server tables) they live in.
#![allow(dead_code)]

use dremioorch::{BackendRef, Pipeline, RunResult, RunStatus, Task, TriggerRule};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_dremioorch");

/// A task name that would recolour and clear a terminal if printed raw.
pub const HOSTILE_TASK: &str = "odd\u{1b}[2Jname";

/// What a command printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit code 0 and nothing on stderr.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert_eq!(self.stderr, "", "stderr of a successful command");
        self
    }

    /// Exit code `code` with exactly one line on stderr, which names
    /// dremioorch and carries no panic or backtrace.
    pub fn fails(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert_one_clean_line(&self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

pub fn assert_one_clean_line(stderr: &str) {
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr:?}");
    assert!(stderr.starts_with("dremioorch: "), "stderr: {stderr:?}");
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(bad), "stderr: {stderr:?}");
    }
}

/// A command line of the executable, run in `dir` with an environment that
/// names no backend and asks for no colour, and no standard input.
pub fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("DORCH_BACKEND_URL")
        .env_remove("NO_COLOR")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null());
    c
}

pub fn output(c: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("the executable runs");
    Run {
        code: status.code().expect("exited, not killed"),
        stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
    }
}

/// `dremioorch ARGS --backend URL`, from a scratch directory.
pub fn dorch(url: &str, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--backend", url]);
    output(&mut cmd(&std::env::temp_dir(), &all))
}

/// A directory removed when dropped.
pub struct Dir(PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Dir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "dorch-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A table name no other test (or process) uses.
pub fn unique_table(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "t_{prefix}_{}_{}_{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos & 0xffff
    )
}

pub fn pg_base_url() -> String {
    std::env::var("DORCH_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/test".into())
}

pub fn mysql_base_url() -> String {
    std::env::var("DORCH_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// A history place for one test: its URL, and what to remove afterwards.
pub enum Place {
    Sqlite(Dir, String),
    Postgres(String, String),
    MySql(String, String),
}

impl Place {
    pub fn sqlite(tag: &str) -> Place {
        let dir = Dir::new(tag);
        let url = format!("sqlite:///{}", dir.path().join("history.db").display());
        Place::Sqlite(dir, url)
    }
    pub fn postgres(tag: &str) -> Place {
        let table = unique_table(tag);
        Place::Postgres(format!("{}?table={table}", pg_base_url()), table)
    }
    pub fn mysql(tag: &str) -> Place {
        let table = unique_table(tag);
        Place::MySql(format!("{}?table={table}", mysql_base_url()), table)
    }
    pub fn url(&self) -> &str {
        match self {
            Place::Sqlite(_, u) | Place::Postgres(u, _) | Place::MySql(u, _) => u,
        }
    }
    pub fn open(&self) -> BackendRef {
        dremioorch::backend::open(self.url())
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.url()))
    }
}

/// Whether `name` is `table` or one of the tables kept beside it.
fn belongs_to(name: &str, table: &str) -> bool {
    name == table || name.starts_with(&format!("{table}_"))
}

impl Drop for Place {
    fn drop(&mut self) {
        match self {
            Place::Sqlite(..) => {}
            Place::Postgres(url, table) => {
                let url = url.split('?').next().unwrap_or_default().to_string();
                let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) else {
                    return;
                };
                let Ok(rows) = c.query(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
                    &[],
                ) else {
                    return;
                };
                let names: Vec<String> = rows
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .filter(|n| belongs_to(n, table))
                    .map(|n| format!("\"{n}\""))
                    .collect();
                if !names.is_empty() {
                    let _ = c.batch_execute(&format!(
                        "DROP TABLE IF EXISTS {} CASCADE",
                        names.join(", ")
                    ));
                }
            }
            Place::MySql(url, table) => {
                use mysql::prelude::Queryable;
                let url = url.split('?').next().unwrap_or_default().to_string();
                let Ok(opts) = mysql::Opts::from_url(&url) else {
                    return;
                };
                let Ok(mut c) = mysql::Conn::new(opts) else {
                    return;
                };
                let names: Vec<String> = c
                    .query::<String, _>(
                        "SELECT table_name FROM information_schema.tables \
                         WHERE table_schema = DATABASE()",
                    )
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| belongs_to(n, table))
                    .map(|n| format!("`{n}`"))
                    .collect();
                if !names.is_empty() {
                    let _ = c.query_drop("SET FOREIGN_KEY_CHECKS = 0");
                    let _ = c.query_drop(format!("DROP TABLE IF EXISTS {}", names.join(", ")));
                }
            }
        }
    }
}

/// The runs a history was made of, oldest first.
pub struct History {
    /// etl: extract (SUCCESS, output), the hostile name (SUCCESS), transform
    /// (FAILED after 2 attempts), load (SKIPPED), report (one_failed: SUCCESS).
    pub etl: RunResult,
    /// Two runs of `nightly`, one task each, both SUCCESS.
    pub nightly: [RunResult; 2],
}

/// The error message of `etl`'s transform task (two lines).
pub const TRANSFORM_ERROR: &str = "bad row 7\nsecond line";

pub fn etl(backend: BackendRef) -> Pipeline {
    let mut p = Pipeline::with_backend("etl", backend).unwrap();
    p.add_task(Task::new("extract", |ctx| {
        ctx.set_output(b"rows\n\x1b[31mred".to_vec());
        Ok(())
    }))
    .unwrap();
    p.add_task(Task::new(HOSTILE_TASK, |_| Ok(()))).unwrap();
    p.add_task(
        Task::new("transform", |_| Err(TRANSFORM_ERROR.into()))
            .retries(1)
            .retry_delay(Duration::from_millis(5)),
    )
    .unwrap();
    p.add_task(Task::new("load", |_| Ok(()))).unwrap();
    p.add_task(Task::new("report", |_| Ok(())).trigger_rule(TriggerRule::OneFailed))
        .unwrap();
    p.add_dependency("extract", "transform").unwrap();
    p.add_dependency("transform", "load").unwrap();
    p.add_dependency("transform", "report").unwrap();
    p
}

pub fn nightly(backend: BackendRef) -> Pipeline {
    let mut p = Pipeline::with_backend("nightly", backend).unwrap();
    p.add_task(Task::new("backup", |_| Ok(()))).unwrap();
    p
}

/// Runs etl once, then nightly twice, a little apart so start times differ.
pub fn make_history(backend: BackendRef) -> History {
    let etl = etl(backend.clone()).run().unwrap();
    assert_eq!(etl.status(), RunStatus::Failed);
    let nightly = nightly(backend);
    let mut runs = Vec::new();
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(20));
        let r = nightly.run().unwrap();
        assert_eq!(r.status(), RunStatus::Success);
        runs.push(r);
    }
    let [a, b]: [RunResult; 2] = runs.try_into().ok().unwrap();
    History {
        etl,
        nightly: [a, b],
    }
}
