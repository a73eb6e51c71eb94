//! PostgreSQL backend in dremioframe's layout (docs/storage.md): the run table
//! (`dremioframe_runs` by default) plus a table of our own,
//! `<table>_task_state`, holding live per-task state so that a status update
//! costs the same at any run size.
//!
//! Every write is one statement (so one atomic, committed transaction) and
//! idempotent, so it can be retried safely after the connection drops; every
//! read is one statement, so one consistent snapshot.

use super::ident::{resolve_table, take_table_param};
use super::pool::{with_deadline, Connector, Failure, Pool, ServerOptions};
use super::rows::{describe_save, describe_updates, StoredRun};
use super::{last_status_per_task, Backend};
use crate::error::{Error, Result};
use crate::model::{PipelineRun, TaskStatus};
use postgres::{Client, NoTls, Row, Statement};
use std::time::Duration;

/// The environment variable read when no DSN is given, as in dremioframe.
pub const PG_DSN_ENV: &str = "DREMIOFRAME_PG_DSN";

/// Runs kept in a PostgreSQL table in dremioframe's layout.
///
/// Connections are pooled (see [`ServerOptions`]); the backend may be called
/// from any number of threads at once. A write that fails because the
/// connection dropped (server restart, `pg_terminate_backend`, network) is
/// retried on a new connection with backoff for up to
/// [`ServerOptions::retry_budget`].
pub struct PostgresBackend {
    pool: Pool<PgConnector>,
}

struct Sql {
    save: String,
    update_many: String,
    get: String,
    list_all: String,
    list_pipeline: String,
}

struct PgConnector {
    config: postgres::Config,
    /// `host:port` list, for error messages.
    target: String,
    table: String,
    connect_timeout: Duration,
    sql: Sql,
}

struct PgConn {
    client: Client,
    save: Statement,
    update_many: Statement,
    get: Statement,
    list_all: Statement,
    list_pipeline: Statement,
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
fn describe(e: &postgres::Error) -> String {
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

impl PgConnector {
    fn classify(&self, e: postgres::Error) -> Failure {
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

    /// Opens a connection, the whole handshake bounded by `connect_timeout`
    /// (the driver's own timeout covers only the TCP connect).
    fn open_client(&self) -> std::result::Result<Client, Failure> {
        let config = self.config.clone();
        let deadline = self.connect_timeout + Duration::from_millis(500);
        let r =
            with_deadline(deadline, move || config.connect(NoTls)).map_err(Failure::Transient)?;
        match r {
            Some(Ok(client)) => Ok(client),
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
                "cannot connect to postgres at {}: no answer within {:.1} s",
                self.target,
                self.connect_timeout.as_secs_f64()
            ))),
        }
    }

    fn prepare(&self, mut client: Client) -> std::result::Result<PgConn, Failure> {
        let mut p = |sql: &str| client.prepare(sql).map_err(|e| self.classify(e));
        let save = p(&self.sql.save)?;
        let update_many = p(&self.sql.update_many)?;
        let get = p(&self.sql.get)?;
        let list_all = p(&self.sql.list_all)?;
        let list_pipeline = p(&self.sql.list_pipeline)?;
        Ok(PgConn {
            client,
            save,
            update_many,
            get,
            list_all,
            list_pipeline,
        })
    }
}

impl Connector for PgConnector {
    type Conn = PgConn;
    fn connect(&self) -> std::result::Result<PgConn, Failure> {
        let client = self.open_client()?;
        self.prepare(client)
    }
    fn is_usable(&self, conn: &mut PgConn) -> bool {
        !conn.client.is_closed()
    }
}

fn row_to_run(row: &Row) -> std::result::Result<StoredRun, postgres::Error> {
    Ok(StoredRun {
        run_id: row.try_get(0)?,
        pipeline_name: row.try_get(1)?,
        start_time: row.try_get(2)?,
        end_time: row.try_get(3)?,
        status: row.try_get(4)?,
        tasks: row.try_get(5)?,
        live: row.try_get(6)?,
    })
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
        let mut config: postgres::Config = dsn
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
        // The driver has no read timeout: bound a silent peer with TCP
        // (keepalives, and a cap on unacknowledged data) and a statement
        // that hangs in the server with statement_timeout.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
        config.tcp_user_timeout(options.io_timeout);
        if config.get_options().is_none() {
            config.options(&format!(
                "-c statement_timeout={}",
                options.io_timeout.as_millis()
            ));
        }
        let target = describe_target(&config);

        let t = quote(&table);
        let live = quote(&format!("{table}_task_state"));
        let select = format!(
            "SELECT r.run_id, r.pipeline_name, r.start_time, r.end_time, r.status, \
             r.tasks::text, (SELECT json_object_agg(l.task_name, l.status)::text \
             FROM {live} l WHERE l.run_id = r.run_id) FROM {t} r"
        );
        let sql = Sql {
            save: format!(
                "WITH cleared AS (DELETE FROM {live} WHERE run_id = $1) \
                 INSERT INTO {t} (run_id, pipeline_name, start_time, end_time, status, tasks) \
                 VALUES ($1, $2, $3, $4, $5, $6::text::jsonb) \
                 ON CONFLICT (run_id) DO UPDATE SET pipeline_name = EXCLUDED.pipeline_name, \
                 start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, \
                 status = EXCLUDED.status, tasks = EXCLUDED.tasks"
            ),
            // Upserts live rows for the tasks of two arrays, in one statement
            // (so one atomic, committed transaction), only if the run exists.
            // Without durable_task_updates it sets synchronous_commit for its
            // own transaction only (set_config with is_local = true).
            update_many: format!(
                "{async_cte}INSERT INTO {live} (run_id, task_name, status) \
                 SELECT $1::text, c.task, c.status \
                 FROM {async_from}unnest($2::text[], $3::text[]) AS c(task, status) \
                 WHERE EXISTS (SELECT 1 FROM {t} WHERE run_id = $1::text) \
                 ON CONFLICT (run_id, task_name) DO UPDATE SET status = EXCLUDED.status",
                async_cte = if options.durable_task_updates {
                    ""
                } else {
                    "WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) "
                },
                async_from = if options.durable_task_updates {
                    ""
                } else {
                    "async, "
                },
            ),
            get: format!("{select} WHERE r.run_id = $1"),
            list_all: format!("{select} ORDER BY r.start_time DESC LIMIT $1"),
            list_pipeline: format!(
                "{select} WHERE r.pipeline_name = $1 ORDER BY r.start_time DESC LIMIT $2"
            ),
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
                task_name TEXT NOT NULL,
                status TEXT NOT NULL,
                PRIMARY KEY (run_id, task_name)
            );",
            ip = quote(&format!("idx_{table}_pipeline")),
            is = quote(&format!("idx_{table}_start_time")),
            ips = quote(&format!("idx_{table}_pipeline_start")),
        );
        let connector = PgConnector {
            config,
            target,
            table: table.clone(),
            connect_timeout,
            sql,
        };
        let opening = |f: Failure| match f {
            Failure::Transient(m) => Error::backend(format!("postgres backend: {m}")),
            Failure::Fatal(e) => e,
        };
        let mut client = connector.open_client().map_err(opening)?;
        // Several processes may create the tables at once; the loser of such
        // a race gets a unique violation on the catalog and tries again.
        let mut attempt = 0;
        loop {
            match client.batch_execute(&schema) {
                Ok(()) => break,
                Err(e)
                    if attempt < 5
                        && e.code().is_some_and(|c| {
                            matches!(c.code(), "23505" | "42P07" | "42710" | "40P01")
                        }) =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(opening(connector.classify(e)).context(format!(
                        "postgres backend: cannot create table {table:?} at {}",
                        connector.target
                    )))
                }
            }
        }
        let conn = connector.prepare(client).map_err(opening)?;
        let pool = Pool::new(connector, options.clone());
        pool.seed(conn);
        Ok(PostgresBackend { pool })
    }

    /// The `host:port` this backend talks to.
    pub fn target(&self) -> &str {
        &self.pool.connector().target
    }
}

fn describe_target(config: &postgres::Config) -> String {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                postgres::config::Host::Unix(path) => {
                    format!("{}/.s.PGSQL.{port}", path.display())
                }
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl PostgresBackend {
    /// The run table's name (the live per-task table is `<table>_task_state`).
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
                conn.client
                    .execute(
                        &conn.save,
                        &[
                            &run.run_id,
                            &run.pipeline_name,
                            &run.start_time,
                            &run.end_time,
                            &run.status.as_str(),
                            &tasks,
                        ],
                    )
                    .map(drop)
                    .map_err(|e| c.classify(e))
            })
    }

    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        let c = self.pool.connector();
        let raw = self.pool.run(
            &|| format!("postgres: could not read run {run_id}"),
            |conn| {
                let row = conn
                    .client
                    .query_opt(&conn.get, &[&run_id])
                    .map_err(|e| c.classify(e))?;
                row.as_ref()
                    .map(row_to_run)
                    .transpose()
                    .map_err(|e| c.classify(e))
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
                conn.client
                    .execute(&conn.update_many, &[&run_id, &tasks, &statuses])
                    .map_err(|e| c.classify(e))
            },
        )?;
        if n == 0 && !changes.is_empty() {
            return Err(Error::not_found(format!(
                "postgres: no run with id {run_id:?}"
            )));
        }
        Ok(())
    }

    fn list_runs(&self, pipeline_name: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>> {
        let c = self.pool.connector();
        let limit = i64::from(limit);
        let raws = self
            .pool
            .run(&|| "postgres: could not list runs".to_string(), |conn| {
                let rows = match pipeline_name {
                    Some(p) => conn.client.query(&conn.list_pipeline, &[&p, &limit]),
                    None => conn.client.query(&conn.list_all, &[&limit]),
                }
                .map_err(|e| c.classify(e))?;
                rows.iter()
                    .map(row_to_run)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| c.classify(e))
            })?;
        raws.into_iter().map(|r| r.into_run("postgres")).collect()
    }
}
