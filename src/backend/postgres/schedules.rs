//! Schedules on PostgreSQL: `<table>_schedules` (one row per schedule) and
//! `<table>_sched_claims` (one row per schedule and fire time; the first
//! scheduler whose insert lands runs the fire).

use super::history::Q;
use super::{quote, PostgresBackend};
use crate::backend::ident::{claims_table_name, schedules_table_name};
use crate::backend::sqlite_schedules::CLAIM_RETENTION_MS;
use crate::backend::ScheduleRecord;
use crate::error::{Error, Result};
use crate::model::now_seconds;

/// The schedule tables (run in the schema's transaction).
pub(super) fn schema(table: &str) -> String {
    format!(
        "
        CREATE TABLE IF NOT EXISTS {s} (
            name TEXT PRIMARY KEY,
            pipeline TEXT NOT NULL,
            spec TEXT NOT NULL,
            timezone TEXT,
            overlap TEXT NOT NULL,
            last_fire DOUBLE PRECISION,
            next_fire DOUBLE PRECISION,
            owner TEXT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE IF NOT EXISTS {c} (
            schedule TEXT NOT NULL,
            fire_ms BIGINT NOT NULL,
            owner TEXT NOT NULL,
            claimed_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (schedule, fire_ms)
        );",
        s = quote(&schedules_table_name(table)),
        c = quote(&claims_table_name(table)),
    )
}

/// The statements, by [`Q`].
pub(super) fn statements(table: &str) -> Vec<(Q, String)> {
    let s = quote(&schedules_table_name(table));
    let c = quote(&claims_table_name(table));
    vec![
        (
            Q::ClaimFire,
            format!(
                "INSERT INTO {c} (schedule, fire_ms, owner, claimed_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            ),
        ),
        (
            Q::PruneClaims,
            format!("DELETE FROM {c} WHERE schedule = $1 AND fire_ms < $2"),
        ),
        (
            Q::SaveSchedule,
            format!(
                "INSERT INTO {s} (name, pipeline, spec, timezone, overlap, last_fire, next_fire, \
                 owner, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (name) DO UPDATE SET pipeline = EXCLUDED.pipeline, \
                 spec = EXCLUDED.spec, timezone = EXCLUDED.timezone, \
                 overlap = EXCLUDED.overlap, \
                 last_fire = GREATEST({s}.last_fire, EXCLUDED.last_fire), \
                 next_fire = EXCLUDED.next_fire, owner = EXCLUDED.owner, \
                 updated_at = EXCLUDED.updated_at"
            ),
        ),
        (
            Q::ListSchedules,
            format!(
                "SELECT name, pipeline, spec, timezone, overlap, last_fire, next_fire, owner, \
                 updated_at FROM {s} ORDER BY name"
            ),
        ),
    ]
}

impl PostgresBackend {
    pub(super) fn claim_fire_impl(
        &self,
        schedule: &str,
        fire_ms: i64,
        owner: &str,
    ) -> Result<bool> {
        let n = self.execute(
            Q::ClaimFire,
            &[&schedule, &fire_ms, &owner, &now_seconds()],
            &|| format!("postgres: could not claim fire {fire_ms} of schedule {schedule:?}"),
        )?;
        if n == 1 {
            let before = fire_ms - CLAIM_RETENTION_MS;
            self.execute(Q::PruneClaims, &[&schedule, &before], &|| {
                format!("postgres: could not prune the old claims of schedule {schedule:?}")
            })?;
        }
        Ok(n == 1)
    }

    pub(super) fn save_schedule_impl(&self, r: &ScheduleRecord) -> Result<()> {
        self.execute(
            Q::SaveSchedule,
            &[
                &r.name,
                &r.pipeline,
                &r.spec,
                &r.timezone,
                &r.overlap,
                &r.last_fire,
                &r.next_fire,
                &r.owner,
                &r.updated_at,
            ],
            &|| format!("postgres: could not record schedule {:?}", r.name),
        )?;
        Ok(())
    }

    pub(super) fn list_schedules_impl(&self) -> Result<Vec<ScheduleRecord>> {
        let rows = self.query(Q::ListSchedules, &[], &|| {
            "postgres: could not list the schedules".to_string()
        })?;
        let bad = |e: tokio_postgres::Error| {
            Error::backend(format!("postgres: a schedule row cannot be read: {e}"))
        };
        rows.iter()
            .map(|row| {
                Ok(ScheduleRecord {
                    name: row.try_get(0).map_err(bad)?,
                    pipeline: row.try_get(1).map_err(bad)?,
                    spec: row.try_get(2).map_err(bad)?,
                    timezone: row.try_get(3).map_err(bad)?,
                    overlap: row.try_get(4).map_err(bad)?,
                    last_fire: row.try_get(5).map_err(bad)?,
                    next_fire: row.try_get(6).map_err(bad)?,
                    owner: row.try_get(7).map_err(bad)?,
                    updated_at: row.try_get(8).map_err(bad)?,
                })
            })
            .collect()
    }
}
