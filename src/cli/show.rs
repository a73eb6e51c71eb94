//! `runs show`.

use super::args::ShowArgs;
use super::fail::{warn, Fail};
use super::json;
use super::table::{fields, Cell, Paint, Table};
use super::text;
use super::when;
use crate::run_json::RunJson;
use crate::{Backend, ErrorKind, PipelineRun, StoredOutput, TaskDetail};
use std::collections::BTreeMap;

/// Widest error text a task row shows.
const ERROR_WIDTH: usize = 80;
/// Widest output preview.
const OUTPUT_WIDTH: usize = 80;

pub(crate) fn run(b: &dyn Backend, args: &ShowArgs, paint: &Paint) -> Result<String, Fail> {
    let id = &args.run_id;
    let run = b
        .get_run(id)
        .map_err(|e| Fail::msg(format!("cannot read run {id:?}: {}", e.message())))?
        .ok_or_else(|| Fail::msg(format!("no run with id {:?}", text::cell(id, 80))))?;
    let details = details(b, &run)?;
    if args.json {
        return Ok(json::to_text(&RunJson::new(&run).with_details(&details)));
    }
    let outputs = optional(b.get_outputs(id), "stored outputs");
    let resumes = optional(b.resumed_from(id), "the run it resumes").flatten();
    Ok(render(&run, details, outputs, resumes, paint))
}

/// Every task's detail; only the statuses when the backend keeps no detail.
fn details(b: &dyn Backend, run: &PipelineRun) -> Result<Vec<TaskDetail>, Fail> {
    match b.get_task_details(&run.run_id) {
        Ok(d) => Ok(d),
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(run
            .tasks
            .iter()
            .map(|(name, status)| TaskDetail::bare(name.clone(), *status))
            .collect()),
        Err(e) => Err(Fail::msg(format!(
            "cannot read the task details of run {:?}: {}",
            run.run_id,
            e.message()
        ))),
    }
}

/// What a backend may not offer: `None` when it does not, with a warning
/// when it does but failed.
fn optional<T>(r: crate::Result<T>, what: &str) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) if e.kind() == ErrorKind::Unsupported => None,
        Err(e) => {
            warn(&format!("cannot read {what}: {}", e.message()));
            None
        }
    }
}

fn render(
    run: &PipelineRun,
    mut details: Vec<TaskDetail>,
    outputs: Option<BTreeMap<String, StoredOutput>>,
    resumes: Option<String>,
    paint: &Paint,
) -> String {
    let now = crate::now_seconds();
    let mut head = vec![
        ("Run", text::cell(&run.run_id, 80)),
        ("Pipeline", text::cell(&run.pipeline_name, 200)),
        ("Status", paint.status(run.status.as_str())),
        (
            "Started",
            match when::recent_ago(run.start_time, now) {
                Some(ago) => format!("{} ({ago})", when::timestamp(run.start_time)),
                None => when::timestamp(run.start_time),
            },
        ),
    ];
    match run.end_time {
        Some(end) => {
            head.push(("Ended", when::timestamp(end)));
            head.push(("Duration", when::duration(end - run.start_time)));
        }
        None => head.push(("Running for", when::duration(now - run.start_time))),
    }
    if let Some(original) = resumes {
        head.push(("Resumes", text::cell(&original, 80)));
    }
    let mut out = fields(&head);

    // A timeline: tasks in the order they started, those never started last.
    details.sort_by(|a, b| {
        let key = |d: &TaskDetail| (d.start_time.is_none(), d.start_time.unwrap_or(0.0));
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then_with(|| a.name.cmp(&b.name))
    });
    out.push('\n');
    if details.is_empty() {
        out.push_str("No tasks.\n");
    } else {
        let mut t = Table::new(&["TASK", "STATUS", "ATTEMPTS", "STARTED", "DURATION", "ERROR"]);
        for d in &details {
            let started = d.start_time.map_or("-".into(), |s| {
                format!("+{}", when::duration(s - run.start_time))
            });
            let took = match (d.start_time, d.end_time) {
                (Some(s), Some(e)) => when::duration(e - s),
                (Some(s), None) if run.end_time.is_none() => {
                    format!("{} so far", when::duration(now - s))
                }
                _ => "-".into(),
            };
            t.push(vec![
                text::cell(&d.name, 60).into(),
                Cell::status(d.status.as_str()),
                d.attempts.to_string().into(),
                started.into(),
                took.into(),
                d.error
                    .as_deref()
                    .map_or(String::new(), |e| text::cell(e, ERROR_WIDTH))
                    .into(),
            ]);
        }
        out.push_str(&t.render(paint));
    }

    if let Some(outputs) = outputs.filter(|o| !o.is_empty()) {
        out.push('\n');
        let mut t = Table::new(&["OUTPUT OF", "SIZE", "VALUE"]);
        for (task, o) in &outputs {
            let (size, value) = match o {
                StoredOutput::Stored(data) => (
                    text::bytes(data.len() as u64),
                    text::output_preview(data, OUTPUT_WIDTH),
                ),
                StoredOutput::NotStored(n) => {
                    (text::bytes(*n), "(not stored: above the size limit)".into())
                }
            };
            t.push(vec![text::cell(task, 60).into(), size.into(), value.into()]);
        }
        out.push_str(&t.render(paint));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RunStatus, TaskStatus};

    #[test]
    fn a_run_renders_as_a_timeline_with_outputs() {
        let mut run = PipelineRun {
            pipeline_name: "etl".into(),
            run_id: "r1".into(),
            start_time: 1_700_000_000.0,
            end_time: Some(1_700_000_002.5),
            status: RunStatus::Failed,
            tasks: BTreeMap::new(),
        };
        run.tasks.insert("a".into(), TaskStatus::Success);
        run.tasks.insert("b\u{1b}[2J".into(), TaskStatus::Failed);
        run.tasks.insert("c".into(), TaskStatus::Skipped);
        let details = vec![
            TaskDetail {
                name: "b\u{1b}[2J".into(),
                status: TaskStatus::Failed,
                attempts: 2,
                start_time: Some(1_700_000_001.0),
                end_time: Some(1_700_000_002.4),
                error: Some("boom\nline two".into()),
            },
            TaskDetail::bare("c", TaskStatus::Skipped),
            TaskDetail {
                name: "a".into(),
                status: TaskStatus::Success,
                attempts: 1,
                start_time: Some(1_700_000_000.0),
                end_time: Some(1_700_000_000.5),
                error: None,
            },
        ];
        let mut outputs = BTreeMap::new();
        outputs.insert(
            "a".to_string(),
            StoredOutput::Stored(b"42\n\x1b[31m".to_vec()),
        );
        outputs.insert("z".to_string(), StoredOutput::NotStored(3 << 20));
        let text = render(
            &run,
            details,
            Some(outputs),
            Some("r0".into()),
            &Paint::with_color(false),
        );
        assert!(!text.contains('\u{1b}'), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Run       r1");
        assert!(
            lines.contains(&"Ended     2023-11-14 22:13:22 UTC"),
            "{text}"
        );
        assert!(lines.contains(&"Duration  2.5 s"), "{text}");
        assert!(lines.contains(&"Resumes   r0"), "{text}");
        let tasks: Vec<&str> = lines
            .iter()
            .skip_while(|l| !l.starts_with("TASK"))
            .take(4)
            .copied()
            .collect();
        assert_eq!(
            tasks,
            [
                "TASK        STATUS   ATTEMPTS  STARTED  DURATION  ERROR",
                "a           SUCCESS  1         +0 ms    500 ms",
                "b\\u{1b}[2J  FAILED   2         +1.0 s   1.4 s     boom\\nline two",
                "c           SKIPPED  0         -        -",
            ]
        );
        assert!(
            text.contains("a          8 B      42\\n\\u{1b}[31m\n"),
            "{text}"
        );
        assert!(
            text.contains("3.0 MiB  (not stored: above the size limit)"),
            "{text}"
        );
    }
}
