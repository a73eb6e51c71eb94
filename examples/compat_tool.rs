//! Reads and writes runs on any backend URL and prints them as JSON; used by
//! tests/compat/run.sh to check that dremioframe and dremioorch read each
//! other's history.
//!
//! ```text
//! compat_tool <url> write <pipeline>         run a small pipeline (SUCCESS, FAILED,
//!                                            SKIPPED tasks) and save a hand-made run;
//!                                            prints the two records as a JSON list
//! compat_tool <url> get <run_id>             the run as JSON, or null
//! compat_tool <url> list <pipeline|-> <n>    list_runs as a JSON list
//! compat_tool <url> update <run_id> <task> <STATUS>
//! compat_tool <url> long <pipeline> <lease_ms>   run A -> B -> C where B waits up to
//!                                            10 min; prints {"run_id": ...} as soon as
//!                                            B has started (for crash tests: kill -9 it)
//! compat_tool <url> recover <stale_after_ms> the number of runs recovered, as JSON
//! compat_tool <url> details <run_id>         the run's task details as a JSON list
//! ```
//! Server URLs take `?table=name`.

use dremioorch::backend::open;
use dremioorch::{Pipeline, PipelineRun, RunOptions, RunStatus, Task, TaskStatus, TriggerRule};
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

fn to_json(r: &PipelineRun) -> Value {
    json!({
        "pipeline_name": r.pipeline_name,
        "run_id": r.run_id,
        "start_time": r.start_time,
        "end_time": r.end_time,
        "status": r.status.as_str(),
        "tasks": r.tasks.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect::<serde_json::Map<_, _>>(),
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compat_tool: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<Value, Box<dyn std::error::Error>> {
    let usage =
        "usage: compat_tool <url> (write <pipeline> | get <run_id> | list <pipeline|-> <n> \
                 | update <run_id> <task> <STATUS> | long <pipeline> <lease_ms> \
                 | recover <stale_after_ms> | details <run_id>)";
    let (url, cmd) = match args {
        [url, cmd, ..] => (url, cmd.as_str()),
        _ => return Err(usage.into()),
    };
    let backend = open(url)?;
    match (cmd, &args[2..]) {
        ("write", [pipeline]) => {
            let mut p = Pipeline::with_backend(pipeline.as_str(), backend.clone())?;
            p.set_max_workers(2)?;
            p.add_task(Task::new("extract", |ctx| {
                ctx.set_output(b"rows".to_vec());
                Ok(())
            }))?;
            p.add_task(Task::new("transform", |_| Ok(())))?;
            p.add_task(Task::new("broken \"quoted\" ☃", |_| Err("planned".into())))?;
            p.add_task(Task::new("after_broken", |_| Ok(())))?;
            p.add_task(Task::new("cleanup", |_| Ok(())).trigger_rule(TriggerRule::AllDone))?;
            p.add_dependency("extract", "transform")?;
            p.add_dependency("extract", "broken \"quoted\" ☃")?;
            p.add_dependency("broken \"quoted\" ☃", "after_broken")?;
            p.add_dependency("after_broken", "cleanup")?;
            p.add_dependency("transform", "cleanup")?;
            let result = p.run()?;
            // A finished run saved directly, with a start time before the
            // pipeline's, so list order is checked too.
            let manual = PipelineRun {
                pipeline_name: pipeline.clone(),
                run_id: uuid::Uuid::new_v4().to_string(),
                start_time: result.start_time() - 100.125,
                end_time: Some(result.start_time() - 50.5),
                status: RunStatus::Success,
                tasks: [("only".to_string(), TaskStatus::Success)].into(),
            };
            backend.save_run(&manual)?;
            Ok(Value::Array(vec![
                to_json(result.as_run()),
                to_json(&manual),
            ]))
        }
        ("get", [id]) => Ok(backend.get_run(id)?.as_ref().map_or(Value::Null, to_json)),
        ("list", [pipeline, n]) => {
            let p = (pipeline != "-").then_some(pipeline.as_str());
            let runs = backend.list_runs(p, n.parse()?)?;
            Ok(Value::Array(runs.iter().map(to_json).collect()))
        }
        ("update", [id, task, status]) => {
            backend.update_task_status(id, task, status.parse()?)?;
            Ok(Value::Null)
        }
        ("long", [pipeline, lease_ms]) => {
            let mut p = Pipeline::with_backend(pipeline.as_str(), backend.clone())?;
            p.add_task(Task::new("A", |ctx| {
                ctx.set_output(b"a".to_vec());
                Ok(())
            }))?;
            p.add_task(Task::new("B", |ctx| {
                // The parent reads this line, then kills the process.
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", json!({ "run_id": ctx.run_id() }))?;
                out.flush()?;
                drop(out);
                ctx.sleep(Duration::from_secs(600))?;
                Ok(())
            }))?;
            p.add_task(Task::new("C", |_| Ok(())))?;
            p.add_dependency("A", "B")?;
            p.add_dependency("B", "C")?;
            let opts = RunOptions::new().lease_interval(Duration::from_millis(lease_ms.parse()?));
            let result = p.run_with(&opts)?;
            Ok(to_json(result.as_run()))
        }
        ("recover", [stale_ms]) => {
            let n = backend.recover(Duration::from_millis(stale_ms.parse()?))?;
            Ok(Value::from(n))
        }
        ("details", [id]) => {
            let details = backend.get_task_details(id)?;
            Ok(Value::Array(
                details
                    .iter()
                    .map(|d| {
                        json!({
                            "name": d.name,
                            "status": d.status.as_str(),
                            "attempts": d.attempts,
                            "start_time": d.start_time,
                            "end_time": d.end_time,
                            "error": d.error,
                        })
                    })
                    .collect(),
            ))
        }
        _ => Err(usage.into()),
    }
}
