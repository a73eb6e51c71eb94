//! Schedule records as JSON, the shape `dremioorch schedules list --json`
//! prints and the web UI serves.

use super::ScheduleRecord;
use serde_json::{json, Value};

/// A JSON array with one object per record: `name`, `pipeline`, `spec`,
/// `timezone` (null for an interval), `overlap`, `last_fire` and
/// `next_fire` (seconds since the Unix epoch, or null).
pub fn records_json(records: &[ScheduleRecord]) -> Value {
    Value::Array(
        records
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "pipeline": r.pipeline,
                    "spec": r.spec,
                    "timezone": r.timezone,
                    "overlap": r.overlap,
                    "last_fire": r.last_fire,
                    "next_fire": r.next_fire,
                })
            })
            .collect(),
    )
}
