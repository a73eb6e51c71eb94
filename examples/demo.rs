//! The README's first command: `cargo run --release --example demo`.
//!
//! Runs an ETL-shaped pipeline on the SQLite default
//! (`dremioframe_orchestration.db` in the current directory, or the file
//! named by the first argument) and prints the history it holds.

use dremioorch::{Backend, Pipeline, SqliteBackend, Task, TriggerRule};
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| dremioorch::backend::DEFAULT_SQLITE_PATH.to_string());
    let backend = Arc::new(SqliteBackend::open(&path)?);

    let mut p = Pipeline::with_backend("demo_etl", backend.clone())?;
    p.set_max_workers(2)?;
    p.set_context("source", b"1,2,3,4,5".to_vec())?;
    p.add_task(Task::new("extract", |ctx| {
        let raw = ctx
            .get("source")
            .ok_or("no source in the context")?
            .to_vec();
        ctx.set_output(raw);
        Ok(())
    }))?;
    p.add_task(Task::new("sum", |ctx| {
        let total: i64 = numbers(ctx.get("extract"))?.iter().sum();
        ctx.set_output(total.to_string());
        Ok(())
    }))?;
    p.add_task(
        Task::new("max", |ctx| {
            // Fails on its first attempt to show a retry in the history.
            if ctx.attempt() == 1 {
                return Err("transient failure, will retry".into());
            }
            let max = numbers(ctx.get("extract"))?.into_iter().max().unwrap_or(0);
            ctx.set_output(max.to_string());
            Ok(())
        })
        .retries(2)
        .retry_delay(Duration::from_millis(50)),
    )?;
    p.add_task(Task::new("load", |ctx| {
        let sum = String::from_utf8_lossy(ctx.get("sum").unwrap_or_default()).to_string();
        let max = String::from_utf8_lossy(ctx.get("max").unwrap_or_default()).to_string();
        ctx.set_output(format!("sum={sum} max={max}"));
        Ok(())
    }))?;
    p.add_task(
        Task::new("alert", |_| {
            eprintln!("alert: a step failed");
            Ok(())
        })
        .trigger_rule(TriggerRule::OneFailed),
    )?;
    p.add_task(Task::new("cleanup", |_| Ok(())).trigger_rule(TriggerRule::AllDone))?;
    for (a, b) in [
        ("extract", "sum"),
        ("extract", "max"),
        ("sum", "load"),
        ("max", "load"),
        ("load", "alert"),
        ("load", "cleanup"),
    ] {
        p.add_dependency(a, b)?;
    }

    println!("{}", p.to_mermaid());
    let result = p.run()?;
    println!(
        "run {} finished {}: load said {:?}",
        result.run_id(),
        result.status(),
        String::from_utf8_lossy(result.output("load").unwrap_or_default())
    );

    println!("\nhistory in {path} (newest first):");
    for run in backend.list_runs(Some("demo_etl"), 5)? {
        let tasks: Vec<String> = run.tasks.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "  {}  {:<7}  {:.3}s  {}",
            run.run_id,
            run.status,
            run.end_time.unwrap_or(run.start_time) - run.start_time,
            tasks.join(" ")
        );
    }
    Ok(())
}

fn numbers(data: Option<&[u8]>) -> Result<Vec<i64>, Box<dyn std::error::Error + Send + Sync>> {
    let text = std::str::from_utf8(data.ok_or("missing upstream output")?)?;
    Ok(text.split(',').map(str::parse).collect::<Result<_, _>>()?)
}
