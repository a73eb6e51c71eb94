//! MySQL / MariaDB backend in dremioframe's layout (docs/storage.md): the run
//! table (`dremioframe_runs` by default) plus tables of our own:
//! `<table>_task_state` holds live per-task state (status and detail) so
//! that a status update costs the same at any run size, and
//! `<table>_task_detail` keeps each task's detail (attempts, times, error)
//! once `save_run` has written the run's statuses into the run table.
//! `<table>_run_meta` and `<table>_task_output` keep the durable history
//! (leases, resume links, task outputs; see the `history` module).
//!
//! Writes are idempotent (upserts), so they can be retried safely after the
//! connection drops; `save_run` is one transaction; reads are one statement,
//! so one consistent InnoDB snapshot.

mod history;
mod schedules;

use super::ident::{
    check_derived_names, detail_table_name, index_name, live_table_name, resolve_table,
    take_table_param, Server, INDEX_SUFFIXES,
};
use super::pool::{with_deadline, Connector, Failure, Pool, ServerOptions};
use super::rows::{
    describe_save, describe_task_updates, describe_updates, listing, merge_details,
    text_not_number, Col, StoredDetail, StoredRun,
};
use super::{last_status_per_task, last_update_per_task, Backend};
use crate::error::{Error, Result};
use crate::model::{PipelineRun, RunListing, StoredOutput, TaskDetail, TaskStatus, TaskUpdate};
use mysql::prelude::Queryable;
use mysql::{AccessMode, Conn, Opts, OptsBuilder, Row, TxOpts, Value};
use std::collections::BTreeMap;
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
    /// Copies the detail of a run's live rows into the detail table.
    keep_detail: String,
    clear: String,
    exists: String,
    /// The stored detail of a run's tasks (the run id twice).
    details: String,
    get: String,
    list_all: String,
    list_pipeline: String,
    history: history::HistorySql,
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

/// A row of the `details` statement.
fn row_to_detail(mut row: Row) -> std::result::Result<StoredDetail, String> {
    let mut col = |i: usize| row.take::<Value, usize>(i).unwrap_or(Value::NULL);
    let name = text_col(col(0))?.ok_or("a NULL task name")?;
    let attempts = match col(1) {
        Value::Int(i) => i,
        Value::UInt(u) => i64::try_from(u).unwrap_or(i64::MAX),
        Value::Bytes(b) => String::from_utf8_lossy(&b)
            .trim()
            .parse()
            .map_err(|_| format!("task {name:?}: attempts is not a number"))?,
        other => return Err(format!("task {name:?}: attempts is {}", other.as_sql(true))),
    };
    let start_time = number_col(col(2)).map_err(|w| format!("task {name:?}: start_time: {w}"))?;
    let end_time = number_col(col(3)).map_err(|w| format!("task {name:?}: end_time: {w}"))?;
    let error = text_col(col(4))?;
    Ok(StoredDetail {
        name,
        attempts,
        start_time,
        end_time,
        error,
    })
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
        let live = format!("`{}`", live_table_name(&table));
        let detail = format!("`{}`", detail_table_name(&table));
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
            keep_detail: format!(
                "INSERT INTO {detail} \
                 (run_id, task_key, task_name, attempts, start_time, end_time, error) \
                 SELECT run_id, task_key, task_name, attempts, start_time, end_time, error \
                 FROM {live} \
                 WHERE run_id = ? AND attempts IS NOT NULL ON DUPLICATE KEY UPDATE \
                 attempts = VALUES(attempts), start_time = VALUES(start_time), \
                 end_time = VALUES(end_time), error = VALUES(error)"
            ),
            clear: format!("DELETE FROM {live} WHERE run_id = ?"),
            exists: format!("SELECT 1 FROM {t} WHERE run_id = ?"),
            // The detail table's rows, then the live rows with detail (newer,
            // so they win).
            details: format!(
                "SELECT task_name, attempts, start_time, end_time, error, 0 AS src \
                 FROM {detail} WHERE run_id = ? \
                 UNION ALL SELECT task_name, attempts, start_time, end_time, error, 1 AS src \
                 FROM {live} WHERE run_id = ? AND attempts IS NOT NULL ORDER BY src"
            ),
            get: format!("{select} WHERE r.run_id = ?"),
            list_all: format!("{select} ORDER BY r.start_time DESC LIMIT ?"),
            list_pipeline: format!(
                "{select} WHERE r.pipeline_name = ? ORDER BY r.start_time DESC LIMIT ?"
            ),
            history: history::HistorySql::new(&table, &select),
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

/// The type of the error text columns: any text, compared byte for byte.
const ERROR_TYPE: &str = "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";

/// The detail columns of the live table, with their types.
fn detail_columns() -> [(&'static str, String); 4] {
    [
        ("attempts", "INT NULL".to_string()),
        ("start_time", "DOUBLE NULL".to_string()),
        ("end_time", "DOUBLE NULL".to_string()),
        ("error", format!("{ERROR_TYPE} NULL")),
    ]
}

/// Adds the detail columns to a live table created by an earlier version,
/// in one `ALTER TABLE`. Earlier versions keep working on it (they name
/// the three columns they write). Another process adding them at the same
/// moment makes ours fail; the columns are then there, which is all we need.
fn add_detail_columns(conn: &mut Conn, live: &str) -> std::result::Result<(), mysql::Error> {
    let missing =
        |conn: &mut Conn| -> std::result::Result<Vec<(&'static str, String)>, mysql::Error> {
            let have: Vec<String> = conn.exec(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND BINARY table_name = ?",
            (live,),
        )?;
            Ok(detail_columns()
                .into_iter()
                .filter(|(name, _)| !have.iter().any(|h| h.eq_ignore_ascii_case(name)))
                .collect())
        };
    let add = missing(conn)?;
    if add.is_empty() {
        return Ok(());
    }
    let clauses: Vec<String> = add
        .iter()
        .map(|(name, ty)| format!("ADD COLUMN {name} {ty}"))
        .collect();
    match conn.query_drop(format!("ALTER TABLE `{live}` {}", clauses.join(", "))) {
        Err(e) if !missing(conn)?.is_empty() => Err(e),
        _ => Ok(()),
    }
}

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
                attempts INT NULL,
                start_time DOUBLE NULL,
                end_time DOUBLE NULL,
                error {ERROR_TYPE} NULL,
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
    add_detail_columns(conn, &live_name)?;
    // The detail table has no foreign key: rows get there only from live
    // rows (which have one), and dropping the run table by hand stays as it
    // was (drop the live table first). Its key is copied from the live
    // row's, so it is a plain column and the primary key: one index to
    // write per row.
    let detail_name = detail_table_name(table);
    if !table_exists(conn, &detail_name)?
        && create_missing(
            conn,
            &format!(
                "CREATE TABLE `{detail_name}` (
                    run_id VARCHAR(255) NOT NULL,
                    task_key BINARY(32) NOT NULL,
                    task_name LONGBLOB NOT NULL,
                    attempts INT NOT NULL,
                    start_time DOUBLE NULL,
                    end_time DOUBLE NULL,
                    error {ERROR_TYPE} NULL,
                    PRIMARY KEY (run_id, task_key)
                ) ENGINE=InnoDB"
            ),
        )?
    {
        created.push(detail_name);
    }
    history::create_tables(conn, table, created)?;
    schedules::create_tables(conn, table, created)?;
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
    /// Upserts live rows, one per entry of `rows` (task name and status,
    /// then, with `detail`, attempts, start and end time and error), in one
    /// statement: one atomic, committed write. The run must exist. With
    /// `outputs` (see `history::output_rows`), those are upserted in the
    /// same transaction.
    fn upsert_live(
        &self,
        run_id: &str,
        detail: bool,
        rows: Vec<Vec<Value>>,
        outputs: &[[Value; 4]],
        what: &dyn Fn() -> String,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let c = self.pool.connector();
        let names: &[&str] = if detail {
            &[
                "task_name",
                "status",
                "attempts",
                "start_time",
                "end_time",
                "error",
            ]
        } else {
            &["task_name", "status"]
        };
        let update = names[1..]
            .iter()
            .map(|n| format!("{n} = VALUES({n})"))
            .collect::<Vec<_>>()
            .join(", ");
        let live = live_table_name(&c.table);
        let mut params: Vec<Value> = Vec::with_capacity(rows.len() * (names.len() + 1) + 1);
        let sql = if c.live_fk {
            let one = format!("(?{})", ", ?".repeat(names.len()));
            for row in rows.iter() {
                params.push(run_id.into());
                params.extend(row.iter().cloned());
            }
            format!(
                "INSERT INTO `{live}` (run_id, {}) VALUES {} ON DUPLICATE KEY UPDATE {update}",
                names.join(", "),
                vec![one; rows.len()].join(", ")
            )
        } else {
            // No foreign key: the rows are joined to the run's row, so an
            // unknown run inserts nothing.
            for row in rows.iter() {
                params.extend(row.iter().cloned());
            }
            params.push(run_id.into());
            let one = names
                .iter()
                .map(|n| format!("? AS {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let selected = names
                .iter()
                .map(|n| format!("c.{n}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "INSERT INTO `{live}` (run_id, {}) SELECT r.run_id, {selected} FROM `{}` r \
                 CROSS JOIN ({}) c WHERE r.run_id = ? ON DUPLICATE KEY UPDATE {update}",
                names.join(", "),
                c.table,
                vec![format!("SELECT {one}"); rows.len()].join(" UNION ALL ")
            )
        };
        let found = self.pool.run(what, |conn| {
            if !outputs.is_empty() {
                return history::write_live_and_outputs(
                    conn,
                    c,
                    &sql,
                    params.clone(),
                    run_id,
                    outputs,
                )
                .map_err(|e| c.classify(e));
            }
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
        })?;
        if !found {
            return Err(Error::not_found(format!(
                "mysql: no run with id {run_id:?}"
            )));
        }
        Ok(())
    }

    /// The run table's name (the live per-task table is `<table>_task_state`,
    /// the task detail table `<table>_task_detail`, the run metadata table
    /// `<table>_run_meta`, the task output table `<table>_task_output`).
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
                    tx.exec_drop(&c.sql.keep_detail, (&run.run_id,))?;
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
        let rows: Vec<Vec<Value>> = changes
            .iter()
            .map(|(task, status)| vec![(*task).into(), status.as_str().into()])
            .collect();
        self.upsert_live(run_id, false, rows, &[], &|| {
            format!("mysql: {}", describe_updates(run_id, &changes))
        })
    }

    /// One statement, as `update_task_statuses`, with each task's detail
    /// in its live row; a task that ended with an output also gets the
    /// output's row, in the same transaction.
    fn update_tasks(&self, run_id: &str, updates: &[TaskUpdate<'_>]) -> Result<()> {
        let updates = last_update_per_task(updates);
        let rows: Vec<Vec<Value>> = updates
            .iter()
            .map(|u| {
                vec![
                    u.task.into(),
                    u.status.as_str().into(),
                    u.attempts.into(),
                    u.start_time.into(),
                    u.end_time.into(),
                    u.error.into(),
                ]
            })
            .collect();
        let outputs = history::output_rows(&updates);
        self.upsert_live(run_id, true, rows, &outputs, &|| {
            let owned: Vec<TaskUpdate<'_>> = updates.iter().map(|u| **u).collect();
            format!("mysql: {}", describe_task_updates(run_id, &owned))
        })
    }

    /// The run and its stored detail, read in one transaction (one snapshot).
    fn get_task_details(&self, run_id: &str) -> Result<Vec<TaskDetail>> {
        let c = self.pool.connector();
        let read = self.pool.run(
            &|| format!("mysql: could not read the task details of run {run_id}"),
            |conn| {
                let r = (|| {
                    let mut tx = conn.start_transaction(
                        TxOpts::default()
                            .set_with_consistent_snapshot(true)
                            .set_access_mode(Some(AccessMode::ReadOnly)),
                    )?;
                    let row: Option<Row> = tx.exec_first(&c.sql.get, (run_id,))?;
                    let details: Vec<Row> = match row {
                        Some(_) => tx.exec(&c.sql.details, (run_id, run_id))?,
                        None => Vec::new(),
                    };
                    tx.commit()?;
                    Ok(row.map(|r| (row_to_run(r), details)))
                })();
                r.map_err(|e| c.classify(e))
            },
        )?;
        let (raw, rows) =
            read.ok_or_else(|| Error::not_found(format!("mysql: no run with id {run_id:?}")))?;
        let run = raw.into_run("mysql")?;
        let stored = rows
            .into_iter()
            .map(row_to_detail)
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(|why| {
                Error::backend(format!(
                    "mysql: the stored task details of run {run_id:?} cannot be read: {why}"
                ))
            })?;
        Ok(merge_details(&run, stored))
    }

    fn renew_lease(&self, run_id: &str, at: f64, interval: Duration) -> Result<()> {
        self.write_lease(run_id, at, interval)
    }

    fn recover(&self, stale_after: Duration) -> Result<u64> {
        self.recover_stale(stale_after)
    }

    fn purge(&self, before: f64, pipeline: Option<&str>, dry_run: bool) -> Result<u64> {
        self.purge_finished(before, pipeline, dry_run)
    }

    fn get_outputs(&self, run_id: &str) -> Result<BTreeMap<String, StoredOutput>> {
        self.read_outputs(run_id)
    }

    fn link_resume(&self, run_id: &str, original: &str) -> Result<()> {
        self.write_resume_link(run_id, original)
    }

    fn resumed_from(&self, run_id: &str) -> Result<Option<String>> {
        self.read_resume_link(run_id)
    }

    fn claim_fire(&self, schedule: &str, fire_ms: i64, owner: &str) -> Result<bool> {
        self.claim_fire_impl(schedule, fire_ms, owner)
    }

    fn save_schedule(&self, record: &super::ScheduleRecord) -> Result<()> {
        self.save_schedule_impl(record)
    }

    fn list_schedules(&self) -> Result<Vec<super::ScheduleRecord>> {
        self.list_schedules_impl()
    }

    fn save_dag(&self, run_id: &str, _pipeline: &str, dag: &crate::history::RunDag) -> Result<()> {
        self.write_dag(run_id, &crate::history::DagTexts::of(dag))
    }

    fn save_shared_dag(
        &self,
        run_id: &str,
        _pipeline: &str,
        dag: &std::sync::Arc<crate::history::SharedDag>,
    ) -> Result<()> {
        self.write_dag(run_id, dag.texts())
    }

    fn get_run_dag(&self, run_id: &str) -> Result<Option<crate::history::RunDag>> {
        self.read_dag(run_id)
    }

    /// One statement with bound parameters, served by the `(start_time)`
    /// or `(pipeline_name, start_time)` index.
    fn query_runs(&self, query: &crate::history::RunQuery) -> Result<Vec<PipelineRun>> {
        self.query_runs_sql(query)
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
