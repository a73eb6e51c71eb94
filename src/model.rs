//! The run record shared with dremioframe and the status enums, with their
//! stored string forms.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The string stored in the history tables.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(Error::invalid(format!(
                        concat!("unknown ", $what, " {:?} (expected one of: {})"),
                        other,
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }
    };
}

string_enum!(
    /// Status of a whole run.
    RunStatus, "run status" {
        /// Started and not finished.
        Running = "RUNNING",
        /// Every task ended SUCCESS or SKIPPED.
        Success = "SUCCESS",
        /// A task ended FAILED, or the backend failed during the run.
        Failed = "FAILED",
    }
);

string_enum!(
    /// Status of one task within a run.
    TaskStatus, "task status" {
        /// Not started yet.
        Pending = "PENDING",
        /// An attempt is running.
        Running = "RUNNING",
        /// An attempt succeeded.
        Success = "SUCCESS",
        /// Every attempt failed.
        Failed = "FAILED",
        /// Not run: its trigger rule was not met.
        Skipped = "SKIPPED",
    }
);

string_enum!(
    /// When a task with upstream tasks runs, decided once all of them are done.
    TriggerRule, "trigger rule" {
        /// Run if every upstream task succeeded (the default).
        AllSuccess = "all_success",
        /// Run if at least one upstream task failed.
        OneFailed = "one_failed",
        /// Run whatever the upstream statuses.
        AllDone = "all_done",
    }
);

#[allow(clippy::derivable_impls)] // the enum is macro-generated
impl Default for TriggerRule {
    fn default() -> Self {
        TriggerRule::AllSuccess
    }
}

impl TaskStatus {
    /// SUCCESS, FAILED or SKIPPED: the task will not change again in this run.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Success | TaskStatus::Failed | TaskStatus::Skipped
        )
    }
}

/// One run of a pipeline, as every backend stores it (dremioframe's `PipelineRun`).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRun {
    /// The pipeline's name.
    pub pipeline_name: String,
    /// A UUID v4, unique per run.
    pub run_id: String,
    /// Seconds since the Unix epoch.
    pub start_time: f64,
    /// Seconds since the Unix epoch; `None` while the run is going on.
    pub end_time: Option<f64>,
    /// `RUNNING` until the run ends, then `SUCCESS` or `FAILED`.
    pub status: RunStatus,
    /// Task name -> status.
    pub tasks: BTreeMap<String, TaskStatus>,
}

impl PipelineRun {
    /// The `tasks` column's JSON text: `{"name": "STATUS", ...}`.
    pub fn tasks_json(&self) -> String {
        // Written straight from the map, not through a serde_json::Map of
        // copied names: the same text (serde_json escapes each string as the
        // Map's text does, in the same key order), saved twice a run.
        let mut out = Vec::with_capacity(2 + self.tasks.len() * 24);
        out.push(b'{');
        for (i, (name, status)) in self.tasks.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Writing strings into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, name.as_str());
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, status.as_str());
        }
        out.push(b'}');
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

/// What `list_runs_report` read: up to `limit` stored rows, newest
/// `start_time` first, split into the runs it could read and the rows it
/// could not (written by another tool or by hand, say).
///
/// Each unreadable row takes the place in the order (and counts toward the
/// limit) that the database gives its stored `start_time`; both lists keep
/// that order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunListing {
    /// The rows read as runs.
    pub runs: Vec<PipelineRun>,
    /// The rows that could not be read, with why.
    pub unreadable: Vec<UnreadableRun>,
}

/// A stored run row that cannot be read as a [`PipelineRun`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRun {
    /// The row's run id; empty when the run id itself is NULL.
    pub run_id: String,
    /// Which column is wrong and how, e.g. `column start_time: text
    /// "yesterday" where a number was expected`.
    pub reason: String,
}

/// Parses a stored `tasks` column. NULL or empty text is an empty map, as
/// dremioframe writes `"{}"` or nothing for a run without tasks.
pub fn parse_tasks_json(text: Option<&str>) -> Result<BTreeMap<String, TaskStatus>> {
    parse_tasks(text).map_err(|m| Error::backend(format!("stored tasks column: {m}")))
}

/// [`parse_tasks_json`], its error saying what is wrong without naming the column.
pub(crate) fn parse_tasks(
    text: Option<&str>,
) -> std::result::Result<BTreeMap<String, TaskStatus>, String> {
    let text = match text.map(str::trim) {
        None | Some("") | Some("null") => return Ok(BTreeMap::new()),
        Some(t) => t,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| format!("not a JSON object: {}", truncate(text, 80)))?;
    let mut out = BTreeMap::new();
    for (name, status) in obj {
        let s = status.as_str().ok_or_else(|| {
            format!(
                "the status of task {:?} is not a string: {}",
                truncate(name, 80),
                truncate(&status.to_string(), 80)
            )
        })?;
        let st = s
            .parse::<TaskStatus>()
            .map_err(|e| format!("task {:?}: {e}", truncate(name, 80)))?;
        out.insert(name.clone(), st);
    }
    Ok(out)
}

/// The first `n` characters of `s`.
pub(crate) fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// What is known about one task of a run beyond its status: how often it
/// was tried, when, and why it failed or did not run.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDetail {
    /// The task's name.
    pub name: String,
    /// Its status, in dremioframe's vocabulary.
    pub status: TaskStatus,
    /// Attempts started; 0 when it never started.
    pub attempts: u32,
    /// When its first attempt started (seconds since the Unix epoch).
    pub start_time: Option<f64>,
    /// When it reached its final status.
    pub end_time: Option<f64>,
    /// Why it failed or did not run: its own message, "timed out after N ms",
    /// `"cancelled: <reason>"`, "run timed out after N ms", "owner lost".
    pub error: Option<String>,
}

impl TaskDetail {
    /// A task with only a status known (nothing recorded beyond it).
    pub fn bare(name: impl Into<String>, status: TaskStatus) -> Self {
        TaskDetail {
            name: name.into(),
            status,
            attempts: 0,
            start_time: None,
            end_time: None,
            error: None,
        }
    }

    /// The borrowed form backends are written with.
    pub fn as_update(&self) -> TaskUpdate<'_> {
        TaskUpdate {
            task: &self.name,
            status: self.status,
            attempts: self.attempts,
            start_time: self.start_time,
            end_time: self.end_time,
            error: self.error.as_deref(),
            output: None,
        }
    }
}

/// A task's output as a run hands it to a backend with its final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputRef<'a> {
    /// The output, to store with the run.
    Stored(&'a [u8]),
    /// An output of this many bytes, above the run's limit: kept in memory
    /// for the run only; record that it was not stored.
    NotStored(u64),
}

/// A task's output as a backend kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredOutput {
    /// The output's bytes.
    Stored(Vec<u8>),
    /// The task produced an output of this many bytes, which was not stored
    /// (above the run's limit).
    NotStored(u64),
}

/// One task's state change with its detail, as a run writes it to a backend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskUpdate<'a> {
    /// The task's name.
    pub task: &'a str,
    /// Its new status.
    pub status: TaskStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// When its first attempt started.
    pub start_time: Option<f64>,
    /// When it reached a final status (None while PENDING or RUNNING).
    pub end_time: Option<f64>,
    /// Why it failed or did not run.
    pub error: Option<&'a str>,
    /// The output of a task that just ended SUCCESS with one (else `None`).
    pub output: Option<OutputRef<'a>>,
}

impl TaskUpdate<'_> {
    /// The owned form.
    pub fn to_detail(&self) -> TaskDetail {
        TaskDetail {
            name: self.task.to_string(),
            status: self.status,
            attempts: self.attempts,
            start_time: self.start_time,
            end_time: self.end_time,
            error: self.error.map(str::to_string),
        }
    }
}

/// An optional time (seconds since the Unix epoch) in 8 bytes, where
/// `Option<f64>` takes 16: state kept per task of a large run.
///
/// `None` is a NaN with a payload no clock or arithmetic produces, so every
/// other `Some(t)`, an ordinary NaN included, reads back as itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp(f64);

impl Stamp {
    /// No time.
    pub(crate) const NONE: Stamp = Stamp(f64::from_bits(0x7ff8_d0e5_0000_0001));

    pub(crate) fn new(t: Option<f64>) -> Self {
        t.map_or(Self::NONE, Stamp)
    }

    pub(crate) fn at(t: f64) -> Self {
        Stamp(t)
    }

    pub(crate) fn get(self) -> Option<f64> {
        (self.0.to_bits() != Self::NONE.0.to_bits()).then_some(self.0)
    }
}

/// Seconds since the Unix epoch, as dremioframe's `time.time()`.
pub fn now_seconds() -> f64 {
    // A run reads the clock twice a task: read it directly (a third of the
    // instructions of SystemTime's checked subtraction), with the same
    // arithmetic as `Duration::as_secs_f64`.
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } == 0 && ts.tv_sec >= 0 {
            return ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
        }
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_back_as_written() {
        for t in [
            None,
            Some(0.0),
            Some(-1.5),
            Some(1.7e9),
            Some(f64::INFINITY),
        ] {
            assert_eq!(Stamp::new(t).get(), t);
        }
        assert!(Stamp::new(Some(f64::NAN)).get().is_some_and(f64::is_nan));
        assert_eq!(std::mem::size_of::<Stamp>(), 8);
    }

    #[test]
    fn now_seconds_reads_the_same_clock_as_system_time() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let now = now_seconds();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(before <= now && now <= after, "{before} {now} {after}");
    }

    #[test]
    fn statuses_round_trip_through_their_strings() {
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>().unwrap(), *s);
        }
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), *s);
        }
        for r in TriggerRule::ALL {
            assert_eq!(r.as_str().parse::<TriggerRule>().unwrap(), *r);
        }
    }

    #[test]
    fn unknown_strings_are_errors_naming_the_value() {
        let e = "DONE".parse::<TaskStatus>().unwrap_err();
        assert!(e.message().contains("\"DONE\""), "{e}");
        let e = "success".parse::<RunStatus>().unwrap_err();
        assert!(e.message().contains("\"success\""), "{e}");
        let e = parse_tasks_json(Some(r#"{"a": "WEIRD"}"#)).unwrap_err();
        assert!(
            e.message().contains("WEIRD") && e.message().contains("\"a\""),
            "{e}"
        );
        assert!(parse_tasks_json(Some("[1]")).is_err());
        assert!(parse_tasks_json(Some("{")).is_err());
    }

    fn running_run() -> PipelineRun {
        PipelineRun {
            pipeline_name: "p".into(),
            run_id: "r".into(),
            start_time: 1.0,
            end_time: None,
            status: RunStatus::Running,
            tasks: BTreeMap::new(),
        }
    }

    #[test]
    fn tasks_json_is_the_json_maps_text() {
        let mut run = running_run();
        let via_map = |run: &PipelineRun| {
            let map: serde_json::Map<String, serde_json::Value> = run
                .tasks
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
                .collect();
            serde_json::Value::Object(map).to_string()
        };
        assert_eq!(run.tasks_json(), via_map(&run));
        let names = [
            "b",
            "a \"quoted\" \\ name",
            "tab\there\nnewline\u{1}\u{1f}\u{7f}",
            "é/ü 名前 🙂",
            "",
        ];
        let statuses = [
            TaskStatus::Pending,
            TaskStatus::Running,
            TaskStatus::Success,
            TaskStatus::Failed,
            TaskStatus::Skipped,
        ];
        for (name, status) in names.iter().zip(statuses) {
            run.tasks.insert(name.to_string(), status);
        }
        assert_eq!(run.tasks_json(), via_map(&run));
    }

    #[test]
    fn tasks_json_round_trips() {
        let mut run = running_run();
        run.tasks.insert("a \"quoted\"".into(), TaskStatus::Pending);
        run.tasks.insert("b".into(), TaskStatus::Skipped);
        assert_eq!(
            parse_tasks_json(Some(&run.tasks_json())).unwrap(),
            run.tasks
        );
        assert!(parse_tasks_json(None).unwrap().is_empty());
        assert!(parse_tasks_json(Some("{}")).unwrap().is_empty());
    }
}
