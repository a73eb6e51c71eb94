//! Scheduling: pipelines run on cron expressions (in IANA time zones) or
//! fixed intervals, with overlap policies, catch-up after downtime, and
//! each fire run once across processes sharing a claims backend.

mod clock;
mod job;
mod records;
mod scheduler;
mod spec;

pub use crate::backend::ScheduleRecord;
pub use clock::{Clock, FakeClock, SystemClock, Waker};
pub use job::{Overlap, Schedulable, Schedule};
pub use records::records_json;
pub use scheduler::Scheduler;
pub use spec::Spec;
