//! Schedules on the SQLite backend: `dorch_schedules` (one row per schedule,
//! for `dremioorch schedules list`) and `dorch_schedule_claims` (one row per
//! schedule and fire time: the first scheduler to insert it runs the fire).

use super::sqlite::{sql_err, SqliteBackend};
use super::ScheduleRecord;
use crate::error::Result;
use crate::model::now_seconds;
use rusqlite::params;

/// Created beside the run tables when a file is opened.
pub(super) const SCHEDULE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dorch_schedules (
    name TEXT NOT NULL PRIMARY KEY,
    pipeline TEXT NOT NULL,
    spec TEXT NOT NULL,
    timezone TEXT,
    overlap TEXT NOT NULL,
    last_fire REAL,
    next_fire REAL,
    owner TEXT NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dorch_schedule_claims (
    schedule TEXT NOT NULL,
    fire_ms INTEGER NOT NULL,
    owner TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    PRIMARY KEY (schedule, fire_ms)
) WITHOUT ROWID;
";

/// Claims older than this (before the fire being claimed) are deleted.
pub(crate) const CLAIM_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

impl SqliteBackend {
    pub(super) fn claim_fire_impl(
        &self,
        schedule: &str,
        fire_ms: i64,
        owner: &str,
    ) -> Result<bool> {
        let conn = self.lock();
        let inserted = conn
            .prepare_cached(
                "INSERT INTO dorch_schedule_claims (schedule, fire_ms, owner, claimed_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut st| st.execute(params![schedule, fire_ms, owner, now_seconds()]))
            .map_err(sql_err("claim_fire"))?;
        if inserted == 1 {
            conn.prepare_cached(
                "DELETE FROM dorch_schedule_claims WHERE schedule = ?1 AND fire_ms < ?2",
            )
            .and_then(|mut st| st.execute(params![schedule, fire_ms - CLAIM_RETENTION_MS]))
            .map_err(sql_err("claim_fire: pruning old claims"))?;
        }
        Ok(inserted == 1)
    }

    pub(super) fn save_schedule_impl(&self, r: &ScheduleRecord) -> Result<()> {
        let conn = self.lock();
        conn.prepare_cached(
            "INSERT INTO dorch_schedules
                 (name, pipeline, spec, timezone, overlap, last_fire, next_fire, owner, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (name) DO UPDATE SET
                 pipeline = excluded.pipeline, spec = excluded.spec,
                 timezone = excluded.timezone, overlap = excluded.overlap,
                 last_fire = max(coalesce(last_fire, excluded.last_fire),
                                 coalesce(excluded.last_fire, last_fire)),
                 next_fire = excluded.next_fire, owner = excluded.owner,
                 updated_at = excluded.updated_at",
        )
        .and_then(|mut st| {
            st.execute(params![
                r.name,
                r.pipeline,
                r.spec,
                r.timezone,
                r.overlap,
                r.last_fire,
                r.next_fire,
                r.owner,
                r.updated_at
            ])
        })
        .map_err(sql_err("save_schedule"))?;
        Ok(())
    }

    pub(super) fn list_schedules_impl(&self) -> Result<Vec<ScheduleRecord>> {
        let conn = self.lock();
        let mut st = conn
            .prepare_cached(
                "SELECT name, pipeline, spec, timezone, overlap, last_fire, next_fire, owner,
                        updated_at
                 FROM dorch_schedules ORDER BY name",
            )
            .map_err(sql_err("list_schedules"))?;
        let rows = st
            .query_map([], |row| {
                Ok(ScheduleRecord {
                    name: row.get(0)?,
                    pipeline: row.get(1)?,
                    spec: row.get(2)?,
                    timezone: row.get(3)?,
                    overlap: row.get(4)?,
                    last_fire: row.get(5)?,
                    next_fire: row.get(6)?,
                    owner: row.get(7)?,
                    updated_at: row.get(8)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql_err("list_schedules"))?;
        Ok(rows)
    }
}
