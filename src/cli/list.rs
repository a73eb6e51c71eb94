//! `runs list`.

use super::args::ListArgs;
use super::fail::{warn, Fail};
use super::json;
use super::table::{Cell, Paint, Table};
use super::text;
use super::when;
use crate::run_json::RunJson;
use crate::{Backend, PipelineRun, RunStatus, TaskStatus, UnreadableRun};

/// Widest pipeline name a table cell shows.
const NAME_WIDTH: usize = 40;

pub(crate) fn run(b: &dyn Backend, args: &ListArgs, paint: &Paint) -> Result<String, Fail> {
    let (runs, unreadable) = fetch(b, args.pipeline.as_deref(), args.status, args.limit)
        .map_err(|e| Fail::msg(format!("cannot list runs: {}", e.message())))?;
    if let Some(first) = unreadable.first() {
        warn(&format!(
            "{} stored run(s) could not be read and are not listed (first: run {:?}: {})",
            unreadable.len(),
            first.run_id,
            first.reason
        ));
    }
    if args.json {
        let all: Vec<RunJson<'_>> = runs.iter().map(RunJson::new).collect();
        return Ok(json::to_text(&all));
    }
    if runs.is_empty() {
        return Ok("No runs.\n".into());
    }
    let now = crate::now_seconds();
    let mut t = Table::new(&[
        "RUN ID", "PIPELINE", "STATUS", "STARTED", "DURATION", "TASKS",
    ]);
    for r in &runs {
        let took = r.end_time.unwrap_or(now) - r.start_time;
        t.push(vec![
            text::cell(&r.run_id, 64).into(),
            text::cell(&r.pipeline_name, NAME_WIDTH).into(),
            Cell::status(r.status.as_str()),
            when::ago(r.start_time, now).into(),
            when::duration(took).into(),
            task_summary(r).into(),
        ]);
    }
    Ok(t.render(paint))
}

/// The newest `limit` runs of `pipeline` (or all) with `status` (or any),
/// and the rows among those read that could not be read. The backends filter
/// by pipeline only, so with a status the window read grows until it holds
/// `limit` matches or the whole history.
fn fetch(
    b: &dyn Backend,
    pipeline: Option<&str>,
    status: Option<RunStatus>,
    limit: u32,
) -> crate::Result<(Vec<PipelineRun>, Vec<UnreadableRun>)> {
    let Some(status) = status else {
        let l = b.list_runs_report(pipeline, limit)?;
        return Ok((l.runs, l.unreadable));
    };
    let mut window = limit.max(100);
    loop {
        let l = b.list_runs_report(pipeline, window)?;
        let rows_read = l.runs.len() + l.unreadable.len();
        let mut runs: Vec<PipelineRun> =
            l.runs.into_iter().filter(|r| r.status == status).collect();
        let exhausted = rows_read < window as usize || window == u32::MAX;
        if runs.len() >= limit as usize || exhausted {
            runs.truncate(limit as usize);
            return Ok((runs, l.unreadable));
        }
        window = window.saturating_mul(8);
    }
}

/// `2 ok, 1 failed, 1 skipped`: how many tasks are in each status.
fn task_summary(r: &PipelineRun) -> String {
    if r.tasks.is_empty() {
        return "no tasks".into();
    }
    let count = |s: TaskStatus| r.tasks.values().filter(|v| **v == s).count();
    let parts: Vec<String> = [
        (TaskStatus::Success, "ok"),
        (TaskStatus::Failed, "failed"),
        (TaskStatus::Skipped, "skipped"),
        (TaskStatus::Running, "running"),
        (TaskStatus::Pending, "pending"),
    ]
    .iter()
    .filter_map(|(s, word)| match count(*s) {
        0 => None,
        n => Some(format!("{n} {word}")),
    })
    .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryBackend;

    fn put(b: &MemoryBackend, id: &str, start: f64, status: RunStatus) {
        let mut r = PipelineRun {
            pipeline_name: "p".into(),
            run_id: id.into(),
            start_time: start,
            end_time: Some(start + 1.0),
            status,
            tasks: Default::default(),
        };
        r.tasks.insert("a".into(), TaskStatus::Success);
        r.tasks.insert("b".into(), TaskStatus::Failed);
        r.tasks.insert("c".into(), TaskStatus::Skipped);
        b.save_run(&r).unwrap();
    }

    #[test]
    fn a_status_filter_reads_past_the_first_window() {
        let b = MemoryBackend::new();
        put(&b, "old-failed", 1.0, RunStatus::Failed);
        for i in 0..250 {
            put(&b, &format!("ok-{i}"), 10.0 + i as f64, RunStatus::Success);
        }
        put(&b, "new-failed", 1000.0, RunStatus::Failed);
        let (runs, _) = fetch(&b, None, Some(RunStatus::Failed), 5).unwrap();
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["new-failed", "old-failed"]);
        let (runs, _) = fetch(&b, None, Some(RunStatus::Success), 3).unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(task_summary(&runs[0]), "1 ok, 1 failed, 1 skipped");
    }
}
