//! What a scheduler records in a shared backend: one row per schedule
//! (visible to `dremioorch schedules list`) and one claim per fire time.

/// One schedule as recorded in a backend by the schedulers that run it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleRecord {
    /// The schedule's name (unique per backend).
    pub name: String,
    /// The pipeline it runs.
    pub pipeline: String,
    /// The cron expression, or `every N ms` for an interval.
    pub spec: String,
    /// The IANA time zone of a cron expression (`None` for an interval).
    pub timezone: Option<String>,
    /// The overlap policy: `skip`, `buffer_one` or `allow`.
    pub overlap: String,
    /// The newest fire time run so far, in seconds since the Unix epoch.
    pub last_fire: Option<f64>,
    /// The next fire time, in seconds since the Unix epoch.
    pub next_fire: Option<f64>,
    /// The scheduler (process) that wrote the record last.
    pub owner: String,
    /// When the record was written last, in seconds since the Unix epoch.
    pub updated_at: f64,
}
