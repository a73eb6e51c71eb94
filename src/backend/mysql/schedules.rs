//! Schedules on MySQL / MariaDB: `<table>_schedules` (one row per schedule)
//! and `<table>_sched_claims` (one row per schedule and fire time; the
//! scheduler whose `INSERT IGNORE` inserts the row runs the fire).

use super::{MySqlBackend, TABLE_EXISTS};
use crate::backend::ident::{claims_table_name, schedules_table_name};
use crate::backend::sqlite_schedules::CLAIM_RETENTION_MS;
use crate::backend::ScheduleRecord;
use crate::error::{Error, Result};
use crate::model::now_seconds;
use mysql::prelude::Queryable;
use mysql::{Conn, Value};

/// Creates the schedule tables that do not exist yet, naming them in `created`.
pub(super) fn create_tables(
    conn: &mut Conn,
    table: &str,
    created: &mut Vec<String>,
) -> std::result::Result<(), mysql::Error> {
    for (name, columns) in [
        (
            schedules_table_name(table),
            "name VARCHAR(255) NOT NULL PRIMARY KEY,
             pipeline VARCHAR(255) NOT NULL,
             spec VARCHAR(255) NOT NULL,
             timezone VARCHAR(64) NULL,
             overlap VARCHAR(16) NOT NULL,
             last_fire DOUBLE NULL,
             next_fire DOUBLE NULL,
             owner VARCHAR(255) NOT NULL,
             updated_at DOUBLE NOT NULL",
        ),
        (
            claims_table_name(table),
            "schedule VARCHAR(255) NOT NULL,
             fire_ms BIGINT NOT NULL,
             owner VARCHAR(255) NOT NULL,
             claimed_at DOUBLE NOT NULL,
             PRIMARY KEY (schedule, fire_ms)",
        ),
    ] {
        if super::table_exists(conn, &name)? {
            continue;
        }
        match conn.query_drop(format!("CREATE TABLE `{name}` ({columns}) ENGINE=InnoDB")) {
            Ok(()) => created.push(name),
            Err(mysql::Error::MySqlError(e)) if e.code == TABLE_EXISTS => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl MySqlBackend {
    fn sched_tables(&self) -> (String, String) {
        let table = &self.pool.connector().table;
        (schedules_table_name(table), claims_table_name(table))
    }

    pub(super) fn claim_fire_impl(
        &self,
        schedule: &str,
        fire_ms: i64,
        owner: &str,
    ) -> Result<bool> {
        let (_, claims) = self.sched_tables();
        let c = self.pool.connector();
        let insert = format!(
            "INSERT IGNORE INTO `{claims}` (schedule, fire_ms, owner, claimed_at) VALUES (?, ?, ?, ?)"
        );
        let prune = format!("DELETE FROM `{claims}` WHERE schedule = ? AND fire_ms < ?");
        let params: Vec<Value> = vec![
            schedule.into(),
            fire_ms.into(),
            owner.into(),
            now_seconds().into(),
        ];
        let what = || format!("mysql: could not claim fire {fire_ms} of schedule {schedule:?}");
        let won = self.pool.run(&what, |conn| {
            conn.exec_drop(&insert, params.clone())
                .map_err(|e| c.classify(e))?;
            Ok(conn.affected_rows() == 1)
        })?;
        if won {
            let before = fire_ms - CLAIM_RETENTION_MS;
            self.pool.run(&what, |conn| {
                conn.exec_drop(&prune, (schedule, before))
                    .map_err(|e| c.classify(e))
            })?;
        }
        Ok(won)
    }

    pub(super) fn save_schedule_impl(&self, r: &ScheduleRecord) -> Result<()> {
        let (schedules, _) = self.sched_tables();
        let c = self.pool.connector();
        let sql = format!(
            "INSERT INTO `{schedules}` (name, pipeline, spec, timezone, overlap, last_fire, \
             next_fire, owner, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE pipeline = VALUES(pipeline), spec = VALUES(spec), \
             timezone = VALUES(timezone), overlap = VALUES(overlap), \
             last_fire = GREATEST(COALESCE(last_fire, VALUES(last_fire)), \
                                  COALESCE(VALUES(last_fire), last_fire)), \
             next_fire = VALUES(next_fire), owner = VALUES(owner), \
             updated_at = VALUES(updated_at)"
        );
        let params: Vec<Value> = vec![
            r.name.as_str().into(),
            r.pipeline.as_str().into(),
            r.spec.as_str().into(),
            r.timezone.as_deref().into(),
            r.overlap.as_str().into(),
            r.last_fire.into(),
            r.next_fire.into(),
            r.owner.as_str().into(),
            r.updated_at.into(),
        ];
        self.pool.run(
            &|| format!("mysql: could not record schedule {:?}", r.name),
            |conn| {
                conn.exec_drop(&sql, params.clone())
                    .map_err(|e| c.classify(e))
            },
        )
    }

    pub(super) fn list_schedules_impl(&self) -> Result<Vec<ScheduleRecord>> {
        let (schedules, _) = self.sched_tables();
        let c = self.pool.connector();
        let sql = format!(
            "SELECT name, pipeline, spec, timezone, overlap, last_fire, next_fire, owner, \
             updated_at FROM `{schedules}` ORDER BY name"
        );
        type RowT = (
            String,
            String,
            String,
            Option<String>,
            String,
            Option<f64>,
            Option<f64>,
            String,
            f64,
        );
        let rows: Vec<mysql::Row> = self.pool.run(
            &|| "mysql: could not list the schedules".to_string(),
            |conn| conn.query(&sql).map_err(|e| c.classify(e)),
        )?;
        rows.into_iter()
            .map(|row| {
                let t: RowT = mysql::from_row_opt(row).map_err(|e| {
                    Error::backend(format!("mysql: a schedule row cannot be read: {e}"))
                })?;
                Ok(ScheduleRecord {
                    name: t.0,
                    pipeline: t.1,
                    spec: t.2,
                    timezone: t.3,
                    overlap: t.4,
                    last_fire: t.5,
                    next_fire: t.6,
                    owner: t.7,
                    updated_at: t.8,
                })
            })
            .collect()
    }
}
