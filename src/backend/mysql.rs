//! MySQL / MariaDB backend in dremioframe's layout (docs/storage.md): the run
//! table (`dremioframe_runs` by default) plus a table of our own,
//! `<table>_task_state`, holding live per-task state so that a status update
//! costs the same at any run size.
//!
//! Writes are idempotent (upserts), so they can be retried safely after the
//! connection drops; `save_run` is one transaction; reads are one statement,
//! so one consistent InnoDB snapshot.

use super::ident::{
    check_derived_names, index_name, live_table_name, resolve_table, take_table_param, Server,
    INDEX_SUFFIXES,
};
use super::pool::{with_deadline, Connector, Failure, Pool, ServerOptions};
use super::rows::{describe_save, describe_updates, listing, text_not_number, Col, StoredRun};
use super::{last_status_per_task, Backend};
use crate::error::{Error, Result};
use crate::model::{PipelineRun, RunListing, TaskStatus};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Row, TxOpts, Value};
use std::time::Duration;

/// Environment variables read when no URL is given, as in dremioframe: the user.
pub const MYSQL_ENV_USER: &str = "DREMIOFRAME_MYSQL_USER";
/// The password (default: none).
pub const MYSQL_ENV_PASSWORD: &str = "DREMIOFRAME_MYSQL_PASSWORD";
/// The host, default `localhost`.
pub const MYSQL_ENV_HOST: &str = "DREMIOFRAME_MYSQL_HOST";
/// The database.
pub const MYSQL_ENV_DB: &str = "DREMIOFRAME_MYSQL_DB";
/// The port, default 3306.
pub const MYSQL_ENV_PORT: &str = "DREMIOFRAME_MYSQL_PORT";

/// Runs kept in a MySQL or MariaDB table in dremioframe's layout.
///
/// Connections are pooled (see [`ServerOptions`]); the backend may be called
/// from any number of threads at once. A write that fails because the
/// connection dropped (server restart, `KILL`, network), or that the server
/// left unanswered for [`ServerOptions::io_timeout`], is retried on a new
/// connection with backoff within [`ServerOptions::retry_budget`].
pub struct MySqlBackend {
    pool: Pool<MyConnector>,
}

struct Sql {
    upsert: String,
    clear: String,
    /// Upsert of live rows for several tasks: head, then one `SELECT ?, ?` per task
    /// joined by UNION ALL, then tail.
    update_many: (String, String),
    exists: String,
    get: String,
    list_all: String,
    list_pipeline: String,
}

struct MyConnector {
    opts: Opts,
    /// `user@host:port/db`, for error messages.
    target: String,
    table: String,
    connect_timeout: Duration,
    /// `ServerOptions::io_timeout`: the socket read and write timeout.
    io_timeout: Duration,
    sql: Sql,
    /// The live table has a foreign key to the run table, so a plain
    /// multi-row upsert refuses an unknown run by itself (error 1452);
    /// without it (a run table that cannot be referenced) the upsert joins
    /// the run table instead, which costs a temporary table per write.
    live_fk: bool,
}

/// The socket timed out (the read or write timeout, `io_timeout`).
fn is_socket_timeout(e: &mysql::Error) -> bool {
    let io = match e {
        mysql::Error::IoError(io) => Some(io),
        mysql::Error::CodecError(c) => {
            std::error::Error::source(c).and_then(|s| s.downcast_ref::<std::io::Error>())
        }
        _ => None,
    };
    io.is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    })
}

impl MyConnector {
    fn classify(&self, e: mysql::Error) -> Failure {
        use mysql::{DriverError as D, Error as E};
        if is_socket_timeout(&e) {
            return Failure::Transient(format!(
                "mysql at {}: timed out: no answer within {:.1} s (io_timeout): {e}",
                self.target,
                self.io_timeout.as_secs_f64()
            ));
        }
        let transient = match &e {
            E::IoError(_) | E::CodecError(_) => true,
            E::DriverError(d) => matches!(
                d,
                D::ConnectTimeout
                    | D::CouldNotConnect(_)
                    | D::PacketOutOfSync
                    | D::UnexpectedPacket
                    | D::Timeout
                    | D::SetupError
            ),
            E::MySqlError(m) => matches!(
                m.code,
                1040 // too many connections
                | 1053 // server shutdown in progress
                | 1152
                    ..=1161 // aborted connection, net read/write errors
                | 1205 // lock wait timeout
                | 1213 // deadlock
                | 1317 // query interrupted
                | 1927 // MariaDB: connection was killed
                | 2006 // server has gone away
                | 2013 // lost connection during query
                | 4031 // MySQL 8: disconnected by the server
            ),
            _ => false,
        };
        if transient {
            Failure::Transient(format!("mysql at {}: {e}", self.target))
        } else {
            Failure::Fatal(Error::backend(format!("mysql at {}: {e}", self.target)))
        }
    }
}

impl Connector for MyConnector {
    type Conn = Conn;
    fn connect(&self) -> std::result::Result<Conn, Failure> {
        let opts = self.opts.clone();
        let deadline = self.connect_timeout + Duration::from_millis(500);
        match with_deadline(deadline, move || Conn::new(opts)).map_err(Failure::Transient)? {
            Some(Ok(conn)) => Ok(conn),
            Some(Err(e)) => {
                let text = e.to_string();
                Err(match self.classify(e) {
                    Failure::Transient(_) => Failure::Transient(format!(
                        "cannot connect to mysql at {}: {text}",
                        self.target
                    )),
                    Failure::Fatal(_) => Failure::Fatal(Error::backend(format!(
                        "cannot connect to mysql at {}: {text}",
                        self.target
                    ))),
                })
            }
            None => Err(Failure::Transient(format!(
                "cannot connect to mysql at {}: timed out: no answer within {:.1} s \
                 (connect_timeout)",
                self.target,
                self.connect_timeout.as_secs_f64()
            ))),
        }
    }
}

/// Reads a row column by column, whatever each value's type, so a value
/// written by another tool spoils its own row only.
fn row_to_run(mut row: Row) -> StoredRun {
    let mut col = |i: usize| row.take::<Value, usize>(i).unwrap_or(Value::NULL);
    StoredRun {
        run_id: text_col(col(0)),
        pipeline_name: text_col(col(1)),
        start_time: number_col(col(2)),
        end_time: number_col(col(3)),
        status: text_col(col(4)),
        tasks: text_col(col(5)),
        live: text_col(col(6)),
    }
}

fn text_col(v: Value) -> Col<String> {
    match v {
        Value::NULL => Ok(None),
        Value::Bytes(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Value::Int(i) => Ok(Some(i.to_string())),
        Value::UInt(u) => Ok(Some(u.to_string())),
        Value::Float(f) => Ok(Some(f.to_string())),
        Value::Double(f) => Ok(Some(f.to_string())),
        other => Err(format!("{} where text was expected", other.as_sql(true))),
    }
}

/// A DOUBLE column holds numbers only; a run table made by another tool may
/// hold text (read as a number if it is one) or dates.
fn number_col(v: Value) -> Col<f64> {
    match v {
        Value::NULL => Ok(None),
        Value::Double(f) => Ok(Some(f)),
        Value::Float(f) => Ok(Some(f64::from(f))),
        Value::Int(i) => Ok(Some(i as f64)),
        Value::UInt(u) => Ok(Some(u as f64)),
        Value::Bytes(b) => {
            let text = String::from_utf8_lossy(&b);
            match text.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Some(f)),
                _ => Err(text_not_number(&text)),
            }
        }
        other => Err(format!(
            "{} where a number was expected",
            other.as_sql(true)
        )),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn opts_from_env() -> Result<OptsBuilder> {
    let user = env(MYSQL_ENV_USER).ok_or_else(|| {
        Error::config(format!(
            "mysql backend: no URL given and {MYSQL_ENV_USER} is not set"
        ))
    })?;
    let db = env(MYSQL_ENV_DB).ok_or_else(|| {
        Error::config(format!(
            "mysql backend: no URL given and {MYSQL_ENV_DB} is not set"
        ))
    })?;
    let host = env(MYSQL_ENV_HOST).unwrap_or_else(|| "localhost".into());
    let port = match env(MYSQL_ENV_PORT) {
        None => 3306,
        Some(p) => p.trim().parse::<u16>().map_err(|_| {
            Error::config(format!(
                "mysql backend: {MYSQL_ENV_PORT}={p:?} is not a port number"
            ))
        })?,
    };
    Ok(OptsBuilder::new()
        .user(Some(user))
        .pass(env(MYSQL_ENV_PASSWORD))
        .ip_or_hostname(Some(host))
        .tcp_port(port)
        .db_name(Some(db)))
}

impl MySqlBackend {
    /// Connects with a `mysql://user:pass@host:port/db` URL (else the
    /// `DREMIOFRAME_MYSQL_*` variables) and uses `table` (else a `?table=`
    /// URL parameter, else `dremioframe_runs`), with the default
    /// [`ServerOptions`]. The tables and indexes are created if missing; an
    /// existing dremioframe table is used as it is.
    pub fn connect(url: Option<&str>, table: Option<&str>) -> Result<Self> {
        Self::connect_with(url, table, &ServerOptions::default())
    }

    /// As [`connect`](Self::connect), with explicit timeouts, retry budget
    /// and pool size.
    pub fn connect_with(
        url: Option<&str>,
        table: Option<&str>,
        options: &ServerOptions,
    ) -> Result<Self> {
        options.check()?;
        let (builder, url_table, own) = match url {
            Some(u) => {
                let (u, t) = take_table_param(u);
                let opts = Opts::from_url(&u)
                    .map_err(|e| Error::config(format!("mysql backend: invalid URL: {e}")))?;
                let own = |k: &str| u.split_once('?').is_some_and(|(_, q)| q.contains(k));
                let own = (own("tcp_connect_timeout_ms"), own("prefer_socket"));
                (OptsBuilder::from_opts(opts), t, own)
            }
            None => (opts_from_env()?, None, (false, false)),
        };
        let table = resolve_table(table, url_table.as_deref())?;
        check_derived_names(Server::MySql, &table).map_err(|e| e.context("mysql backend"))?;
        let mut builder = builder
            .read_timeout(Some(options.io_timeout))
            .write_timeout(Some(options.io_timeout))
            .tcp_nodelay(true)
            .stmt_cache_size(16)
            .init(vec!["SET NAMES utf8mb4"]);
        if !own.0 {
            builder = builder.tcp_connect_timeout(Some(options.connect_timeout));
        }
        if !own.1 {
            // Keep the TCP connection the caller asked for instead of
            // switching to the server's Unix socket.
            builder = builder.prefer_socket(false);
        }
        let opts: Opts = builder.into();
        if opts.get_user().is_none_or(str::is_empty) {
            return Err(Error::config("mysql backend: the URL names no user"));
        }
        let db = match opts.get_db_name() {
            Some(d) if !d.is_empty() => d.to_string(),
            _ => return Err(Error::config("mysql backend: the URL names no database")),
        };
        let target = format!(
            "{}@{}:{}/{}",
            opts.get_user().unwrap_or(""),
            opts.get_ip_or_hostname(),
            opts.get_tcp_port(),
            db
        );
        let t = format!("`{table}`");
        let live = format!("`{table}_task_state`");
        let select = format!(
            "SELECT r.run_id, r.pipeline_name, r.start_time, r.end_time, r.status, r.tasks, \
             (SELECT JSON_OBJECTAGG(CONVERT(l.task_name USING utf8mb4), l.status) \
             FROM {live} l WHERE l.run_id = r.run_id) FROM {t} r"
        );
        let sql = Sql {
            upsert: format!(
                "INSERT INTO {t} (run_id, pipeline_name, start_time, end_time, status, tasks) \
                 VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                 pipeline_name = VALUES(pipeline_name), start_time = VALUES(start_time), \
                 end_time = VALUES(end_time), status = VALUES(status), tasks = VALUES(tasks)"
            ),
            clear: format!("DELETE FROM {live} WHERE run_id = ?"),
            update_many: (
                format!(
                    "INSERT INTO {live} (run_id, task_name, status) \
                     SELECT r.run_id, c.task_name, c.status FROM {t} r CROSS JOIN ("
                ),
                ") c WHERE r.run_id = ? ON DUPLICATE KEY UPDATE status = VALUES(status)".into(),
            ),
            exists: format!("SELECT 1 FROM {t} WHERE run_id = ?"),
            get: format!("{select} WHERE r.run_id = ?"),
            list_all: format!("{select} ORDER BY r.start_time DESC LIMIT ?"),
            list_pipeline: format!(
                "{select} WHERE r.pipeline_name = ? ORDER BY r.start_time DESC LIMIT ?"
            ),
        };
        let connect_timeout = opts
            .get_tcp_connect_timeout()
            .unwrap_or(options.connect_timeout);
        let mut connector = MyConnector {
            live_fk: false,
            opts,
            target,
            connect_timeout,
            io_timeout: options.io_timeout,
            table: table.clone(),
            sql,
        };
        let opening = |f: Failure| match f {
            Failure::Transient(m) => Error::backend(format!("mysql backend: {m}")),
            Failure::Fatal(e) => e.context("mysql backend"),
        };
        let mut conn = connector.connect().map_err(opening)?;
        connector.live_fk = create_schema(&mut conn, &table)
            .map_err(|e| opening(connector.classify(e)))
            .map_err(|e| e.context(format!("cannot create table {table:?}")))?;
        let pool = Pool::new(connector, options.clone());
        pool.seed(conn);
        Ok(MySqlBackend { pool })
    }

    /// `user@host:port/db` of the server this backend talks to.
    pub fn target(&self) -> &str {
        &self.pool.connector().target
    }
}

/// ER_NO_REFERENCED_ROW_2: a child row whose parent does not exist.
const NO_PARENT_ROW: u16 = 1452;

/// ER_TABLE_EXISTS_ERROR: `CREATE TABLE` of a table that exists.
const TABLE_EXISTS: u16 = 1050;

/// Creates what is missing; `true` when the live table has its foreign key
/// to the run table. MySQL cannot undo DDL, so a table this call created is
/// dropped again when a later step fails: a failed open leaves the database
/// as it found it, never half a schema.
fn create_schema(conn: &mut Conn, table: &str) -> std::result::Result<bool, mysql::Error> {
    let mut created = Vec::new();
    let r = create_schema_steps(conn, table, &mut created);
    if r.is_err() {
        for name in created.iter().rev() {
            let _ = conn.query_drop(format!("DROP TABLE IF EXISTS `{name}`"));
        }
    }
    r
}

fn table_exists(conn: &mut Conn, name: &str) -> std::result::Result<bool, mysql::Error> {
    let one: Option<i64> = conn.exec_first(
        "SELECT 1 FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND BINARY table_name = ?",
        (name,),
    )?;
    Ok(one.is_some())
}

/// Runs `CREATE TABLE` for a table found missing: `true` if this call
/// created it, `false` if another process did in the meantime.
fn create_missing(conn: &mut Conn, ddl: &str) -> std::result::Result<bool, mysql::Error> {
    match conn.query_drop(ddl) {
        Ok(()) => Ok(true),
        Err(mysql::Error::MySqlError(e)) if e.code == TABLE_EXISTS => Ok(false),
        Err(e) => Err(e),
    }
}

/// The live table's key column: the SHA-256 of the task name, computed by the server.
const TASK_KEY_COLUMN: &str = "task_key BINARY(32) AS (UNHEX(SHA2(task_name, 256))) STORED";

/// Upgrades a live table created by an earlier version, keyed on
/// `(run_id, task_name VARBINARY(1024))`, to the key on `task_key`, in one
/// `ALTER TABLE`. Earlier versions keep working on the upgraded table (they
/// write the same three columns). Another process upgrading it at the same
/// moment makes ours fail; the column is then there, which is all we need.
fn migrate_live_table(conn: &mut Conn, live: &str) -> std::result::Result<(), mysql::Error> {
    let has_key = |conn: &mut Conn| -> std::result::Result<bool, mysql::Error> {
        let one: Option<i64> = conn.exec_first(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND BINARY table_name = ? AND column_name = 'task_key'",
            (live,),
        )?;
        Ok(one.is_some())
    };
    if has_key(conn)? {
        return Ok(());
    }
    let r = conn.query_drop(format!(
        "ALTER TABLE `{live}` DROP PRIMARY KEY, MODIFY task_name LONGBLOB NOT NULL, \
         ADD COLUMN {TASK_KEY_COLUMN} AFTER task_name, \
         ADD UNIQUE KEY run_task (run_id, task_key)"
    ));
    match r {
        Err(e) if !has_key(conn)? => Err(e),
        _ => Ok(()),
    }
}

fn create_schema_steps(
    conn: &mut Conn,
    table: &str,
    created: &mut Vec<String>,
) -> std::result::Result<bool, mysql::Error> {
    let t = format!("`{table}`");
    if !table_exists(conn, table)?
        && create_missing(
            conn,
            &format!(
                "CREATE TABLE {t} (
                    run_id VARCHAR(255) PRIMARY KEY,
                    pipeline_name VARCHAR(255),
                    start_time DOUBLE,
                    end_time DOUBLE,
                    status VARCHAR(50),
                    tasks JSON
                )"
            ),
        )?
    {
        created.push(table.to_string());
    }
    // Live rows are keyed on the SHA-256 of the task name's bytes, a column
    // the server computes, so a name of any length fits the index and a
    // writer only ever gives (run_id, task_name, status). Task names are
    // compared byte for byte (a case-insensitive collation would merge "A"
    // and "a"); run ids use the run table's collation. MariaDB allows no
    // primary key on a generated column: the key is a unique one.
    let live_name = live_table_name(table);
    let live = |fk: &str| {
        format!(
            "CREATE TABLE `{live_name}` (
                run_id VARCHAR(255) NOT NULL,
                task_name LONGBLOB NOT NULL,
                {TASK_KEY_COLUMN},
                status VARCHAR(50) NOT NULL,
                UNIQUE KEY run_task (run_id, task_key){fk}
            ) ENGINE=InnoDB"
        )
    };
    if !table_exists(conn, &live_name)? {
        // The foreign key needs a run table it can reference (InnoDB, the
        // same column type and collation); a run table made otherwise gets
        // a live table without one.
        let fk = format!(",\n FOREIGN KEY (run_id) REFERENCES {t} (run_id) ON DELETE CASCADE");
        let made = match create_missing(conn, &live(&fk)) {
            Err(mysql::Error::MySqlError(_)) => create_missing(conn, &live(""))?,
            r => r?,
        };
        if made {
            created.push(live_name.clone());
        }
    }
    migrate_live_table(conn, &live_name)?;
    let has_fk: Option<i64> = conn.exec_first(
        "SELECT 1 FROM information_schema.referential_constraints \
         WHERE constraint_schema = DATABASE() AND table_name = ? AND referenced_table_name = ?",
        (&live_name, table),
    )?;
    // MySQL has no CREATE INDEX IF NOT EXISTS (MariaDB has): look first,
    // and accept losing a race to another process (1061, duplicate key name).
    let existing: Vec<String> = conn.exec(
        "SELECT DISTINCT index_name FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ?",
        (table,),
    )?;
    for (suffix, cols) in INDEX_SUFFIXES.into_iter().zip([
        "(pipeline_name)",
        "(start_time DESC)",
        "(pipeline_name, start_time DESC)",
    ]) {
        let name = index_name(table, suffix);
        if existing.iter().any(|e| e.eq_ignore_ascii_case(&name)) {
            continue;
        }
        match conn.query_drop(format!("CREATE INDEX `{name}` ON {t} {cols}")) {
            Ok(()) => {}
            Err(mysql::Error::MySqlError(e)) if e.code == 1061 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(has_fk.is_some())
}

impl MySqlBackend {
    /// The run table's name (the live per-task table is `<table>_task_state`).
    pub fn table(&self) -> &str {
        &self.pool.connector().table
    }
}

impl std::fmt::Debug for MySqlBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlBackend")
            .field("target", &self.target())
            .field("table", &self.table())
            .finish()
    }
}

impl Backend for MySqlBackend {
    fn save_run(&self, run: &PipelineRun) -> Result<()> {
        let tasks = run.tasks_json();
        let c = self.pool.connector();
        self.pool
            .run(&|| format!("mysql: {}", describe_save(run)), |conn| {
                let r = (|| {
                    let mut tx = conn.start_transaction(TxOpts::default())?;
                    tx.exec_drop(
                        &c.sql.upsert,
                        (
                            &run.run_id,
                            &run.pipeline_name,
                            run.start_time,
                            run.end_time,
                            run.status.as_str(),
                            &tasks,
                        ),
                    )?;
                    tx.exec_drop(&c.sql.clear, (&run.run_id,))?;
                    tx.commit()
                })();
                r.map_err(|e| c.classify(e))
            })
    }

    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        let c = self.pool.connector();
        let raw = self
            .pool
            .run(&|| format!("mysql: could not read run {run_id}"), |conn| {
                let row: Option<Row> = conn
                    .exec_first(&c.sql.get, (run_id,))
                    .map_err(|e| c.classify(e))?;
                Ok(row.map(row_to_run))
            })?;
        raw.map(|r| r.into_run("mysql")).transpose()
    }

    fn update_task_status(&self, run_id: &str, task_name: &str, status: TaskStatus) -> Result<()> {
        self.update_task_statuses(run_id, &[(task_name, status)])
    }

    fn update_task_statuses(&self, run_id: &str, changes: &[(&str, TaskStatus)]) -> Result<()> {
        let changes = last_status_per_task(changes);
        if changes.is_empty() {
            return Ok(());
        }
        let c = self.pool.connector();
        let mut params: Vec<mysql::Value> = Vec::with_capacity(changes.len() * 3 + 1);
        let sql = if c.live_fk {
            for (task, status) in &changes {
                params.extend([run_id.into(), (*task).into(), status.as_str().into()]);
            }
            let rows = vec!["(?, ?, ?)"; changes.len()];
            format!(
                "INSERT INTO `{}_task_state` (run_id, task_name, status) VALUES {} \
                 ON DUPLICATE KEY UPDATE status = VALUES(status)",
                c.table,
                rows.join(", ")
            )
        } else {
            for (task, status) in &changes {
                params.extend([(*task).into(), status.as_str().into()]);
            }
            params.push(run_id.into());
            let (head, tail) = &c.sql.update_many;
            let rows = vec!["SELECT ? AS task_name, ? AS status"; changes.len()];
            format!("{head}{}{tail}", rows.join(" UNION ALL "))
        };
        let found = self.pool.run(
            &|| format!("mysql: {}", describe_updates(run_id, &changes)),
            |conn| {
                let r = (|| {
                    // One statement: one atomic, committed write.
                    match conn.exec_drop(&sql, params.clone()) {
                        // The foreign key refused it: no such run.
                        Err(mysql::Error::MySqlError(e)) if e.code == NO_PARENT_ROW => {
                            return Ok(false)
                        }
                        r => r?,
                    }
                    if c.live_fk || conn.affected_rows() > 0 {
                        return Ok(true);
                    }
                    let one: Option<i64> = conn.exec_first(&c.sql.exists, (run_id,))?;
                    Ok(one.is_some())
                })();
                r.map_err(|e| c.classify(e))
            },
        )?;
        if !found {
            return Err(Error::not_found(format!(
                "mysql: no run with id {run_id:?}"
            )));
        }
        Ok(())
    }

    fn list_runs(&self, pipeline_name: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>> {
        Ok(self.list_runs_report(pipeline_name, limit)?.runs)
    }

    /// `start_time` is a DOUBLE, so it holds no text in a table created by
    /// this library or by dremioframe; in a table created otherwise with a
    /// text column, rows come in the server's text order and those whose
    /// value is not a number are unreadable. NULL sorts below every number.
    fn list_runs_report(&self, pipeline_name: Option<&str>, limit: u32) -> Result<RunListing> {
        let c = self.pool.connector();
        let raws = self
            .pool
            .run(&|| "mysql: could not list runs".to_string(), |conn| {
                let rows: Vec<Row> = match pipeline_name {
                    Some(p) => conn.exec(&c.sql.list_pipeline, (p, limit)),
                    None => conn.exec(&c.sql.list_all, (limit,)),
                }
                .map_err(|e| c.classify(e))?;
                Ok(rows.into_iter().map(row_to_run).collect::<Vec<_>>())
            })?;
        Ok(listing(raws))
    }
}
