//! PostgreSQL backend in dremioframe's layout (docs/storage.md): the run table
//! (`dremioframe_runs` by default) plus tables of our own:
//! `<table>_task_state` holds live per-task state (status and detail) so
//! that a status update costs the same at any run size, and
//! `<table>_task_detail` keeps each task's detail (attempts, times, error)
//! once `save_run` has written the run's statuses into the run table.
//! `<table>_run_meta` and `<table>_task_output` keep the durable history
//! (leases, resume links, task outputs; see the `history` module).
//!
//! Every write is one statement (so one atomic, committed transaction) and
//! idempotent, so it can be retried safely after the connection drops; every
//! read is one statement, so one consistent snapshot.
//!
//! Each connection is a `tokio-postgres` client on a current-thread tokio
//! runtime of its own (what the synchronous `postgres` crate does too), so
//! that every call can be given a client-side deadline: a server that keeps
//! TCP up but answers nothing (stuck, or behind a proxy whose server died)
//! fails the call after it instead of blocking the run forever.

mod history;
mod schedules;

use super::ident::{
    check_derived_names, detail_table_name, index_name, live_table_name, resolve_table,
    take_table_param, Server, DETAIL_INDEX_SUFFIX,
};
use super::pool::{Connector, Failure, Pool, ServerOptions};
use super::rows::{
    describe_save, describe_task_updates, describe_updates, listing, merge_details,
    text_not_number, Col, StoredDetail, StoredRun,
};
use super::{last_status_per_task, last_update_per_task, Backend};
use crate::error::{Error, Result};
use crate::model::{PipelineRun, RunListing, StoredOutput, TaskDetail, TaskStatus, TaskUpdate};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

/// How long after `io_timeout` the client gives up on a call: the server's
/// own `statement_timeout` (set to `io_timeout`) cancels a statement that
/// is merely slow, which keeps the connection; only a silent server reaches
/// the client's deadline.
const CALL_GRACE: Duration = Duration::from_secs(1);

/// The environment variable read when no DSN is given, as in dremioframe.
pub const PG_DSN_ENV: &str = "DREMIOFRAME_PG_DSN";

/// Runs kept in a PostgreSQL table in dremioframe's layout.
///
/// Connections are pooled (see [`ServerOptions`]); the backend may be called
/// from any number of threads at once. A write that fails because the
/// connection dropped (server restart, `pg_terminate_backend`, network), or
/// that the server did not answer within [`ServerOptions::io_timeout`] + 1 s,
/// is retried on a new connection with backoff within
/// [`ServerOptions::retry_budget`].
pub struct PostgresBackend {
    pool: Pool<PgConnector>,
}

struct Sql {
    save: String,
    update_many: String,
    update_detail: String,
    update_detail_pair: String,
    get: String,
    details: String,
    list_all: String,
    list_pipeline: String,
    history: history::HistorySql,
}

struct PgConnector {
    config: tokio_postgres::Config,
    /// `host:port` list, for error messages.
    target: String,
    table: String,
    connect_timeout: Duration,
    /// `ServerOptions::io_timeout`.
    io_timeout: Duration,
    sql: Sql,
}

/// One connection: the client and the runtime its connection task is
/// spawned on (a current-thread runtime, so the task makes progress while a
/// call waits in `block_on`). Dropping it closes the socket.
struct PgConn {
    client: Client,
    rt: Runtime,
    save: Statement,
    update_many: Statement,
    update_detail: Statement,
    update_detail_pair: Statement,
    get: Statement,
    details: Statement,
    list_all: Statement,
    list_pipeline: Statement,
    /// The durable history's statements, prepared on first use.
    history: history::Prepared,
}

fn is_transient_code(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || matches!(
            code,
            "57P01" // admin_shutdown (pg_terminate_backend, fast shutdown)
            | "57P02" // crash_shutdown
            | "57P03" // cannot_connect_now (starting up / shutting down)
            | "57P05" // idle_session_timeout
            | "25P03" // idle_in_transaction_session_timeout
            | "40001" // serialization_failure
            | "40P01" // deadlock_detected
            | "53300" // too_many_connections
        )
}

/// The error with its causes ("error connecting to server: Connection refused").
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
    }
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.ends_with(&text) {
            s = format!("{s}: {text}");
        }
        cause = c.source();
    }
    s
}

/// Runs `f` on `rt` for at most `limit`; `None` if it did not finish.
fn block_on_within<T>(rt: &Runtime, limit: Duration, f: impl Future<Output = T>) -> Option<T> {
    // The timer is made inside the runtime, which owns the time driver.
    rt.block_on(async { tokio::time::timeout(limit, f).await.ok() })
}

impl PgConnector {
    fn classify(&self, e: tokio_postgres::Error) -> Failure {
        let text = describe(&e);
        let transient = match e.as_db_error() {
            Some(db) => is_transient_code(db.code().code()),
            None => {
                e.is_closed()
                    || std::error::Error::source(&e)
                        .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
                    || text.starts_with("timeout")
                    || text.starts_with("unexpected message")
                    || text.starts_with("error communicating")
                    || text.starts_with("error connecting")
            }
        };
        if transient {
            Failure::Transient(format!("postgres at {}: {text}", self.target))
        } else {
            Failure::Fatal(Error::backend(format!("postgres: {text}")))
        }
    }

    /// The client's deadline for one call.
    fn call_timeout(&self) -> Duration {
        self.io_timeout + CALL_GRACE
    }

    /// Waits for `call`, made on `rt`'s connection, at most the call
    /// deadline. On timeout the failure is transient, so the pool drops the
    /// connection (dropping its runtime closes the socket) and retries.
    fn wait<T>(
        &self,
        rt: &Runtime,
        call: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> std::result::Result<T, Failure> {
        match block_on_within(rt, self.call_timeout(), call) {
            Some(r) => r.map_err(|e| self.classify(e)),
            None => Err(Failure::Transient(format!(
                "postgres at {}: timed out: no answer within {:.1} s (io_timeout {:.1} s + {} s)",
                self.target,
                self.call_timeout().as_secs_f64(),
                self.io_timeout.as_secs_f64(),
                CALL_GRACE.as_secs()
            ))),
        }
    }

    /// Opens a connection, the whole handshake bounded by `connect_timeout`
    /// (the driver's own timeout covers only the TCP connect).
    fn open_client(&self) -> std::result::Result<(Client, Runtime), Failure> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Failure::Transient(format!(
                    "cannot start a runtime for a postgres connection: {e}"
                ))
            })?;
        let deadline = self.connect_timeout + Duration::from_millis(500);
        match block_on_within(&rt, deadline, self.config.connect(NoTls)) {
            Some(Ok((client, connection))) => {
                // Polled whenever a call waits on `rt`; ends when the client
                // is dropped or the socket closes.
                rt.spawn(connection);
                Ok((client, rt))
            }
            Some(Err(e)) => {
                let text = describe(&e);
                Err(match self.classify(e) {
                    Failure::Transient(_) => Failure::Transient(format!(
                        "cannot connect to postgres at {}: {text}",
                        self.target
                    )),
                    Failure::Fatal(_) => Failure::Fatal(Error::backend(format!(
                        "cannot connect to postgres at {}: {text}",
                        self.target
                    ))),
                })
            }
            None => Err(Failure::Transient(format!(
                "cannot connect to postgres at {}: timed out: no answer within {:.1} s \
                 (connect_timeout)",
                self.target,
                self.connect_timeout.as_secs_f64()
            ))),
        }
    }

    fn prepare(&self, client: Client, rt: Runtime) -> std::result::Result<PgConn, Failure> {
        let sql = &self.sql;
        let (save, update_many, update_detail, update_detail_pair, get, details) =
            self.wait(&rt, async {
                Ok((
                    client.prepare(&sql.save).await?,
                    client.prepare(&sql.update_many).await?,
                    client.prepare(&sql.update_detail).await?,
                    client.prepare(&sql.update_detail_pair).await?,
                    client.prepare(&sql.get).await?,
                    client.prepare(&sql.details).await?,
                ))
            })?;
        let (list_all, list_pipeline) = self.wait(&rt, async {
            Ok((
                client.prepare(&sql.list_all).await?,
                client.prepare(&sql.list_pipeline).await?,
            ))
        })?;
        Ok(PgConn {
            client,
            rt,
            save,
            update_many,
            update_detail,
            update_detail_pair,
            get,
            details,
            list_all,
            list_pipeline,
            history: history::Prepared::default(),
        })
    }
}

impl Connector for PgConnector {
    type Conn = PgConn;
    fn connect(&self) -> std::result::Result<PgConn, Failure> {
        let (client, rt) = self.open_client()?;
        self.prepare(client, rt)
    }
    fn is_usable(&self, conn: &mut PgConn) -> bool {
        !conn.client.is_closed()
    }
}

/// Reads a row column by column, so a value of an unexpected type (a run
/// table created by another tool) spoils its own row only.
fn row_to_run(row: &Row) -> StoredRun {
    StoredRun {
        run_id: text_col(row, 0),
        pipeline_name: text_col(row, 1),
        start_time: number_col(row, 2),
        end_time: number_col(row, 3),
        status: text_col(row, 4),
        tasks: text_col(row, 5),
        live: text_col(row, 6),
    }
}

/// A row of the `details` statement: the run, and the stored detail of its
/// tasks (the detail table's rows, then the live rows).
fn decode_details(row: &Row, run_id: &str) -> Result<(PipelineRun, Vec<StoredDetail>)> {
    let run = row_to_run(row).into_run("postgres")?;
    let bad = |e: tokio_postgres::Error| {
        Error::backend(format!(
            "postgres: the stored task details of run {run_id:?} cannot be read: {e}"
        ))
    };
    let names: Option<Vec<String>> = row.try_get(7).map_err(bad)?;
    let attempts: Option<Vec<i32>> = row.try_get(8).map_err(bad)?;
    let starts: Option<Vec<Option<f64>>> = row.try_get(9).map_err(bad)?;
    let ends: Option<Vec<Option<f64>>> = row.try_get(10).map_err(bad)?;
    let errors: Option<Vec<Option<String>>> = row.try_get(11).map_err(bad)?;
    let stored = names
        .unwrap_or_default()
        .into_iter()
        .zip(attempts.unwrap_or_default())
        .zip(starts.unwrap_or_default())
        .zip(ends.unwrap_or_default())
        .zip(errors.unwrap_or_default())
        .map(
            |((((name, attempts), start_time), end_time), error)| StoredDetail {
                name,
                attempts: i64::from(attempts),
                start_time,
                end_time,
                error,
            },
        );
    Ok((run, stored.collect()))
}

fn wrong_type(row: &Row, i: usize, want: &str) -> String {
    format!(
        "a value of type {} where {want} was expected",
        row.columns()[i].type_()
    )
}

fn text_col(row: &Row, i: usize) -> Col<String> {
    row.try_get(i).map_err(|_| wrong_type(row, i, "text"))
}

/// `double precision` in a table created by this library or dremioframe;
/// `real`, or text holding a number, in one created otherwise.
fn number_col(row: &Row, i: usize) -> Col<f64> {
    if let Ok(v) = row.try_get::<_, Option<f64>>(i) {
        return Ok(v);
    }
    if let Ok(v) = row.try_get::<_, Option<f32>>(i) {
        return Ok(v.map(f64::from));
    }
    match row.try_get::<_, Option<String>>(i) {
        Ok(None) => Ok(None),
        Ok(Some(t)) => match t.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(text_not_number(&t)),
        },
        Err(_) => Err(wrong_type(row, i, "a number")),
    }
}

fn quote(ident: &str) -> String {
    // Only ever called with validated identifiers (letters, digits, _).
    format!("\"{ident}\"")
}

impl PostgresBackend {
    /// Connects with `dsn` (else `DREMIOFRAME_PG_DSN`) and uses `table`
    /// (else a `?table=` parameter of a URL DSN, else `dremioframe_runs`),
    /// with the default [`ServerOptions`].
    ///
    /// The DSN is a libpq key/value string (`host=... user=... dbname=...`)
    /// or a `postgresql://` URL. The table and its indexes are created if
    /// missing; an existing dremioframe table is used as it is.
    pub fn connect(dsn: Option<&str>, table: Option<&str>) -> Result<Self> {
        Self::connect_with(dsn, table, &ServerOptions::default())
    }

    /// As [`connect`](Self::connect), with explicit timeouts, retry budget
    /// and pool size.
    pub fn connect_with(
        dsn: Option<&str>,
        table: Option<&str>,
        options: &ServerOptions,
    ) -> Result<Self> {
        options.check()?;
        let dsn = match dsn {
            Some(d) => d.to_string(),
            None => match std::env::var(PG_DSN_ENV) {
                Ok(d) if !d.trim().is_empty() => d,
                _ => {
                    return Err(Error::config(format!(
                        "postgres backend: no DSN given and {PG_DSN_ENV} is not set"
                    )))
                }
            },
        };
        let (dsn, url_table) = if dsn.contains("://") {
            take_table_param(&dsn)
        } else {
            (dsn, None)
        };
        // PostgreSQL folds unquoted names to lower case, as dremioframe
        // writes them; we quote the folded name.
        let table = resolve_table(table, url_table.as_deref())?.to_ascii_lowercase();
        check_derived_names(Server::Postgres, &table).map_err(|e| e.context("postgres backend"))?;
        let mut config: tokio_postgres::Config = dsn
            .parse()
            .map_err(|e| Error::config(format!("postgres backend: invalid DSN: {e}")))?;
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none() {
            let user = std::env::var("USER").unwrap_or_else(|_| "postgres".into());
            config.user(&user);
        }
        if config.get_application_name().is_none() {
            config.application_name("dremioorch");
        }
        let connect_timeout = match config.get_connect_timeout() {
            Some(t) => *t,
            None => {
                config.connect_timeout(options.connect_timeout);
                options.connect_timeout
            }
        };
        // Every call has a client-side deadline (io_timeout + CALL_GRACE);
        // within it, a statement that hangs in the server is cancelled by
        // statement_timeout (the connection stays usable), and a dead peer
        // is noticed by TCP (keepalives, a cap on unacknowledged data).
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
        config.tcp_user_timeout(options.io_timeout);
        if config.get_options().is_none() {
            config.options(format!(
                "-c statement_timeout={}",
                options.io_timeout.as_millis()
            ));
        }
        let target = describe_target(&config);

        let t = quote(&table);
        let live = quote(&live_table_name(&table));
        let detail = quote(&detail_table_name(&table));
        let columns = format!(
            "r.run_id, r.pipeline_name, r.start_time, r.end_time, r.status, \
             r.tasks::text, (SELECT json_object_agg(l.task_name, l.status)::text \
             FROM {live} l WHERE l.run_id = r.run_id)"
        );
        let select = format!("SELECT {columns} FROM {t} r");
        // Without durable_task_updates, a live-row upsert sets
        // synchronous_commit for its own transaction only (set_config with
        // is_local = true).
        let (async_cte, async_from) = if options.durable_task_updates {
            ("", "")
        } else {
            (
                "WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) ",
                "async, ",
            )
        };
        // Every array aggregate is ordered by the same unique key, so the
        // arrays line up: the detail table's rows, then the live rows with
        // detail (newer, so they win).
        let agg = |col: &str| format!("array_agg(x.{col} ORDER BY x.src, x.task_key, x.row)");
        let sql = Sql {
            // The live rows go (their detail moves to the detail table:
            // tasks with detail there already get theirs replaced, the others
            // get a row) and the record is written, in one statement: one
            // transaction. Two saves of one run cannot both move a task: the
            // second waits for the first's delete of the live row.
            save: format!(
                "WITH moved AS (DELETE FROM {live} WHERE run_id = $1 \
                 RETURNING task_key, task_name, attempts, start_time, end_time, error), \
                 replaced AS (UPDATE {detail} d SET task_name = m.task_name, \
                 attempts = m.attempts, start_time = m.start_time, end_time = m.end_time, \
                 error = m.error FROM moved m \
                 WHERE d.run_id = $1 AND d.task_key = m.task_key AND m.attempts IS NOT NULL), \
                 added AS (INSERT INTO {detail} \
                 (run_id, task_key, task_name, attempts, start_time, end_time, error) \
                 SELECT $1, m.task_key, m.task_name, m.attempts, m.start_time, m.end_time, \
                 m.error FROM moved m WHERE m.attempts IS NOT NULL AND NOT EXISTS \
                 (SELECT 1 FROM {detail} d WHERE d.run_id = $1 AND d.task_key = m.task_key)) \
                 INSERT INTO {t} (run_id, pipeline_name, start_time, end_time, status, tasks) \
                 VALUES ($1, $2, $3, $4, $5, $6::text::jsonb) \
                 ON CONFLICT (run_id) DO UPDATE SET pipeline_name = EXCLUDED.pipeline_name, \
                 start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, \
                 status = EXCLUDED.status, tasks = EXCLUDED.tasks"
            ),
            // Upserts live rows for the tasks of two arrays, in one statement
            // (so one atomic, committed transaction), only if the run exists.
            // Live rows are keyed on the SHA-256 of the task name, so a name
            // of any length fits the btree (whose rows are limited to ~2.7 kB).
            // Their detail, if any, is kept.
            update_many: format!(
                "{async_cte}INSERT INTO {live} (run_id, task_key, task_name, status) \
                 SELECT $1::text, {TASK_KEY_OF_C}, c.task, c.status \
                 FROM {async_from}unnest($2::text[], $3::text[]) AS c(task, status) \
                 WHERE EXISTS (SELECT 1 FROM {t} WHERE run_id = $1::text) \
                 ON CONFLICT (run_id, task_key) DO UPDATE SET status = EXCLUDED.status"
            ),
            // The same with each task's detail, from four more arrays.
            update_detail: format!(
                "{async_cte}INSERT INTO {live} ({DETAIL_COLUMNS}) \
                 SELECT $1::text, {TASK_KEY_OF_C}, c.task, c.status, c.attempts, c.start_time, \
                 c.end_time, c.error \
                 FROM {async_from}unnest($2::text[], $3::text[], $4::int4[], $5::float8[], \
                 $6::float8[], $7::text[]) AS c(task, status, attempts, start_time, end_time, error) \
                 WHERE EXISTS (SELECT 1 FROM {t} WHERE run_id = $1::text) {DETAIL_UPSERT}"
            ),
            // Two tasks' changes with their detail, from plain parameters:
            // what a run writes on most task changes (a finished task's final
            // status and the next task's RUNNING), cheaper than arrays.
            update_detail_pair: format!(
                "{async_cte}INSERT INTO {live} ({DETAIL_COLUMNS}) \
                 SELECT $1::text, {TASK_KEY_OF_C}, c.task, c.status, c.attempts, c.start_time, \
                 c.end_time, c.error \
                 FROM {async_from}(VALUES ($2::text, $3::text, $4::int4, $5::float8, $6::float8, \
                 $7::text), ($8, $9, $10, $11, $12, $13)) \
                 AS c(task, status, attempts, start_time, end_time, error) \
                 WHERE EXISTS (SELECT 1 FROM {t} WHERE run_id = $1::text) {DETAIL_UPSERT}"
            ),
            get: format!("{select} WHERE r.run_id = $1"),
            // The run as `get` reads it, and its stored detail as arrays
            // (binary doubles: times come back exactly as written).
            details: format!(
                "SELECT {columns}, d.names, d.attempts, d.starts, d.ends, d.errors \
                 FROM {t} r LEFT JOIN LATERAL (SELECT {names} AS names, {attempts} AS attempts, \
                 {starts} AS starts, {ends} AS ends, {errors} AS errors FROM ( \
                 SELECT 0 AS src, task_key, ctid AS row, task_name, attempts, start_time, \
                 end_time, error FROM {detail} WHERE run_id = r.run_id \
                 UNION ALL SELECT 1, task_key, ctid, task_name, attempts, start_time, end_time, \
                 error FROM {live} WHERE run_id = r.run_id AND attempts IS NOT NULL) x) d ON true \
                 WHERE r.run_id = $1",
                names = agg("task_name"),
                attempts = agg("attempts"),
                starts = agg("start_time"),
                ends = agg("end_time"),
                errors = agg("error"),
            ),
            list_all: format!("{select} ORDER BY r.start_time DESC LIMIT $1"),
            list_pipeline: format!(
                "{select} WHERE r.pipeline_name = $1 ORDER BY r.start_time DESC LIMIT $2"
            ),
            history: history::HistorySql::new(&table, options.durable_task_updates, &select),
        };
        let schema = format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                run_id TEXT PRIMARY KEY,
                pipeline_name TEXT,
                start_time DOUBLE PRECISION,
                end_time DOUBLE PRECISION,
                status TEXT,
                tasks JSONB
            );
            CREATE INDEX IF NOT EXISTS {ip} ON {t} (pipeline_name);
            CREATE INDEX IF NOT EXISTS {is} ON {t} (start_time DESC);
            CREATE INDEX IF NOT EXISTS {ips} ON {t} (pipeline_name, start_time DESC);
            CREATE TABLE IF NOT EXISTS {live} (
                run_id TEXT NOT NULL,
                task_key BYTEA NOT NULL,
                task_name TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER,
                start_time DOUBLE PRECISION,
                end_time DOUBLE PRECISION,
                error TEXT,
                PRIMARY KEY (run_id, task_key)
            );
            {migrate}
            {migrate_detail}
            CREATE TABLE IF NOT EXISTS {detail} (
                run_id TEXT NOT NULL,
                task_key BYTEA NOT NULL,
                task_name TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                start_time DOUBLE PRECISION,
                end_time DOUBLE PRECISION,
                error TEXT
            );
            DO $index$
            BEGIN
                -- Looked up first, so that an open takes no lock on the
                -- detail table, which runs' save_run statements lock.
                IF to_regclass('{idt}') IS NULL THEN
                    CREATE INDEX IF NOT EXISTS {idt} ON {detail} (run_id);
                END IF;
            END
            $index$;
            {history}",
            history = history::schema(&table),
            idt = quote(&index_name(&table, DETAIL_INDEX_SUFFIX)),
            ip = quote(&format!("idx_{table}_pipeline")),
            is = quote(&format!("idx_{table}_start_time")),
            ips = quote(&format!("idx_{table}_pipeline_start")),
            migrate = migrate_live_table(&live),
            migrate_detail = add_detail_columns(&live),
        );
        let connector = PgConnector {
            config,
            target,
            table: table.clone(),
            connect_timeout,
            io_timeout: options.io_timeout,
            sql,
        };
        let opening = |f: Failure| match f {
            Failure::Transient(m) => Error::backend(format!("postgres backend: {m}")),
            Failure::Fatal(e) => e,
        };
        let (client, rt) = connector.open_client().map_err(opening)?;
        // Several processes may create the tables at once; the loser of such
        // a race gets a unique violation on the catalog and tries again.
        let mut attempt = 0;
        loop {
            let created =
                block_on_within(&rt, connector.call_timeout(), client.batch_execute(&schema));
            let failure = match created {
                Some(Ok(())) => break,
                Some(Err(e))
                    if attempt < 5
                        && e.code().is_some_and(|c| {
                            matches!(c.code(), "23505" | "42P07" | "42710" | "40P01")
                        }) =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                Some(Err(e)) => connector.classify(e),
                None => Failure::Transient(format!(
                    "timed out: no answer within {:.1} s",
                    connector.call_timeout().as_secs_f64()
                )),
            };
            return Err(opening(failure).context(format!(
                "postgres backend: cannot create table {table:?} at {}",
                connector.target
            )));
        }
        // Preparing locks the tables the statements name, so it can be the
        // victim of a deadlock with another process upgrading them as it
        // opens: try again then, on a new connection.
        let mut conn = connector.prepare(client, rt);
        for _ in 0..5 {
            match &conn {
                Err(Failure::Transient(m)) if m.contains("40P01") => {
                    std::thread::sleep(Duration::from_millis(20));
                    conn = connector.connect();
                }
                _ => break,
            }
        }
        let conn = conn.map_err(opening)?;
        let pool = Pool::new(connector, options.clone());
        pool.seed(conn);
        Ok(PostgresBackend { pool })
    }

    /// The `host:port` this backend talks to.
    pub fn target(&self) -> &str {
        &self.pool.connector().target
    }
}

/// The columns a live-row upsert with detail writes.
const DETAIL_COLUMNS: &str =
    "run_id, task_key, task_name, status, attempts, start_time, end_time, error";

/// What a live-row upsert with detail sets on a task's existing row.
const DETAIL_UPSERT: &str = "ON CONFLICT (run_id, task_key) DO UPDATE SET \
     status = EXCLUDED.status, attempts = EXCLUDED.attempts, \
     start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, error = EXCLUDED.error";

/// The live rows' key for task name `c.task`: its SHA-256 (of its UTF-8 bytes).
const TASK_KEY_OF_C: &str = "sha256(convert_to(c.task, 'UTF8'))";

/// Upgrades a live table created by an earlier version, keyed on
/// `(run_id, task_name)`, to the key `(run_id, task_key)` (a plpgsql block,
/// run in the schema's transaction). The table is locked and checked again
/// first, so processes opening it at once upgrade it once.
fn migrate_live_table(live: &str) -> String {
    let has_key = format!(
        "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{live}'::regclass \
         AND attname = 'task_key' AND NOT attisdropped)"
    );
    format!(
        "DO $migrate$
        DECLARE pk name;
        BEGIN
            IF NOT {has_key} THEN
                LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE;
                IF NOT {has_key} THEN
                    ALTER TABLE {live} ADD COLUMN task_key BYTEA;
                    UPDATE {live} SET task_key = sha256(convert_to(task_name, 'UTF8'));
                    ALTER TABLE {live} ALTER COLUMN task_key SET NOT NULL;
                    SELECT conname INTO pk FROM pg_constraint
                        WHERE conrelid = '{live}'::regclass AND contype = 'p';
                    IF pk IS NOT NULL THEN
                        EXECUTE format('ALTER TABLE {live} DROP CONSTRAINT %I', pk);
                    END IF;
                    ALTER TABLE {live} ADD PRIMARY KEY (run_id, task_key);
                END IF;
            END IF;
        END
        $migrate$;"
    )
}

/// Adds the detail columns to a live table created by an earlier version
/// (whose status upserts name their columns, so they are not disturbed). The
/// table is locked only when a column is missing, and the columns are added
/// with IF NOT EXISTS under the lock, so processes opening it at once add
/// them once.
fn add_detail_columns(live: &str) -> String {
    format!(
        "DO $detail$
        BEGIN
            IF (SELECT count(*) FROM pg_attribute WHERE attrelid = '{live}'::regclass
                AND attname IN ('attempts', 'start_time', 'end_time', 'error')
                AND NOT attisdropped) < 4 THEN
                LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE;
                ALTER TABLE {live} ADD COLUMN IF NOT EXISTS attempts INTEGER,
                    ADD COLUMN IF NOT EXISTS start_time DOUBLE PRECISION,
                    ADD COLUMN IF NOT EXISTS end_time DOUBLE PRECISION,
                    ADD COLUMN IF NOT EXISTS error TEXT;
            END IF;
        END
        $detail$;"
    )
}

fn describe_target(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => {
                    format!("{}/.s.PGSQL.{port}", path.display())
                }
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl PostgresBackend {
    /// The run table's name (the live per-task table is `<table>_task_state`,
    /// the task detail table `<table>_task_detail`, the run metadata table
    /// `<table>_run_meta`, the task output table `<table>_task_output`).
    pub fn table(&self) -> &str {
        &self.pool.connector().table
    }
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("target", &self.target())
            .field("table", &self.table())
            .finish()
    }
}

impl Backend for PostgresBackend {
    fn save_run(&self, run: &PipelineRun) -> Result<()> {
        let tasks = run.tasks_json();
        let c = self.pool.connector();
        self.pool
            .run(&|| format!("postgres: {}", describe_save(run)), |conn| {
                c.wait(
                    &conn.rt,
                    conn.client.execute(
                        &conn.save,
                        &[
                            &run.run_id,
                            &run.pipeline_name,
                            &run.start_time,
                            &run.end_time,
                            &run.status.as_str(),
                            &tasks,
                        ],
                    ),
                )
                .map(drop)
            })
    }

    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        let c = self.pool.connector();
        let raw = self.pool.run(
            &|| format!("postgres: could not read run {run_id}"),
            |conn| {
                let row = c.wait(&conn.rt, conn.client.query_opt(&conn.get, &[&run_id]))?;
                Ok(row.as_ref().map(row_to_run))
            },
        )?;
        raw.map(|r| r.into_run("postgres")).transpose()
    }

    fn update_task_status(&self, run_id: &str, task_name: &str, status: TaskStatus) -> Result<()> {
        self.update_task_statuses(run_id, &[(task_name, status)])
    }

    fn update_task_statuses(&self, run_id: &str, changes: &[(&str, TaskStatus)]) -> Result<()> {
        let changes = last_status_per_task(changes);
        let tasks: Vec<&str> = changes.iter().map(|(t, _)| *t).collect();
        let statuses: Vec<&str> = changes.iter().map(|(_, s)| s.as_str()).collect();
        let c = self.pool.connector();
        let n = self.pool.run(
            &|| format!("postgres: {}", describe_updates(run_id, &changes)),
            |conn| {
                c.wait(
                    &conn.rt,
                    conn.client
                        .execute(&conn.update_many, &[&run_id, &tasks, &statuses]),
                )
            },
        )?;
        if n == 0 && !changes.is_empty() {
            return Err(Error::not_found(format!(
                "postgres: no run with id {run_id:?}"
            )));
        }
        Ok(())
    }

    /// One statement, as `update_task_statuses`, with each task's detail
    /// in its live row (and, for a task that ended with an output, the
    /// output's row, in the same statement).
    fn update_tasks(&self, run_id: &str, updates: &[TaskUpdate<'_>]) -> Result<()> {
        let updates = last_update_per_task(updates);
        if updates.is_empty() {
            return Ok(());
        }
        if updates.iter().any(|u| u.output.is_some()) {
            return self.update_tasks_with_outputs(run_id, &updates);
        }
        let attempts =
            |u: &TaskUpdate<'_>| -> i32 { i32::try_from(u.attempts).unwrap_or(i32::MAX) };
        let tasks: Vec<&str> = updates.iter().map(|u| u.task).collect();
        let statuses: Vec<&str> = updates.iter().map(|u| u.status.as_str()).collect();
        let tries: Vec<i32> = updates.iter().map(|u| attempts(u)).collect();
        let starts: Vec<Option<f64>> = updates.iter().map(|u| u.start_time).collect();
        let ends: Vec<Option<f64>> = updates.iter().map(|u| u.end_time).collect();
        let errors: Vec<Option<&str>> = updates.iter().map(|u| u.error).collect();
        let pair = updates.len() == 2;
        let params: Vec<&(dyn ToSql + Sync)> = if pair {
            vec![
                &run_id,
                &tasks[0],
                &statuses[0],
                &tries[0],
                &starts[0],
                &ends[0],
                &errors[0],
                &tasks[1],
                &statuses[1],
                &tries[1],
                &starts[1],
                &ends[1],
                &errors[1],
            ]
        } else {
            vec![&run_id, &tasks, &statuses, &tries, &starts, &ends, &errors]
        };
        let c = self.pool.connector();
        let n = self.pool.run(
            &|| {
                let owned: Vec<TaskUpdate<'_>> = updates.iter().map(|u| **u).collect();
                format!("postgres: {}", describe_task_updates(run_id, &owned))
            },
            |conn| {
                let statement = if pair {
                    &conn.update_detail_pair
                } else {
                    &conn.update_detail
                };
                let call = conn.client.execute(statement, &params);
                c.wait(&conn.rt, call)
            },
        )?;
        if n == 0 {
            return Err(Error::not_found(format!(
                "postgres: no run with id {run_id:?}"
            )));
        }
        Ok(())
    }

    /// The run and its stored detail in one statement (one snapshot).
    fn get_task_details(&self, run_id: &str) -> Result<Vec<TaskDetail>> {
        let c = self.pool.connector();
        let row = self.pool.run(
            &|| format!("postgres: could not read the task details of run {run_id}"),
            |conn| c.wait(&conn.rt, conn.client.query_opt(&conn.details, &[&run_id])),
        )?;
        let row =
            row.ok_or_else(|| Error::not_found(format!("postgres: no run with id {run_id:?}")))?;
        let (run, stored) = decode_details(&row, run_id)?;
        Ok(merge_details(&run, stored))
    }

    fn renew_lease(&self, run_id: &str, at: f64, interval: Duration) -> Result<()> {
        self.write_lease(run_id, at, interval)
    }

    fn recover(&self, stale_after: Duration) -> Result<u64> {
        self.recover_stale(stale_after)
    }

    fn purge(&self, before: f64, pipeline: Option<&str>, dry_run: bool) -> Result<u64> {
        self.purge_finished(before, pipeline, dry_run, &mut |_| {})
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

    /// One prepared statement; with no filter it is served by the
    /// `(start_time)` index.
    fn query_runs(&self, query: &crate::history::RunQuery) -> Result<Vec<PipelineRun>> {
        self.query_runs_sql(query)
    }

    fn list_runs(&self, pipeline_name: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>> {
        Ok(self.list_runs_report(pipeline_name, limit)?.runs)
    }

    /// `start_time` is `double precision`, so it holds no text in a table
    /// created by this library or by dremioframe; in a table created
    /// otherwise with a text column, rows come in the server's text order
    /// and those whose value is not a number are unreadable. PostgreSQL
    /// sorts NULL (and NaN, which is unreadable) above every number, so
    /// such rows come first.
    fn list_runs_report(&self, pipeline_name: Option<&str>, limit: u32) -> Result<RunListing> {
        let c = self.pool.connector();
        let limit = i64::from(limit);
        let raws = self
            .pool
            .run(&|| "postgres: could not list runs".to_string(), |conn| {
                let rows = match pipeline_name {
                    Some(p) => c.wait(
                        &conn.rt,
                        conn.client.query(&conn.list_pipeline, &[&p, &limit]),
                    ),
                    None => c.wait(&conn.rt, conn.client.query(&conn.list_all, &[&limit])),
                }?;
                Ok(rows.iter().map(row_to_run).collect::<Vec<_>>())
            })?;
        Ok(listing(raws))
    }
}
