//! Serves the embedded web UI over a small SQLite history, for trying the
//! page and for the browser test.
//!
//! ```text
//! cargo run --example ui_demo [-- [DB_PATH] [--listen 127.0.0.1:0]]
//! ```
//!
//! Creates the history (in a new temporary directory unless `DB_PATH` is
//! given), registers pipeline `demo` (one of its tasks is named
//! `<img src=x onerror=alert(1)>`, to check the page shows it as text), runs
//! it a few times, then prints `listening on http://ADDR` and serves until
//! stdin reaches end of file.

use dremioorch::ui::{Ui, UiOptions};
use dremioorch::{BackendRef, Pipeline, SqliteBackend, Task, TaskError};
use std::io::{Read, Write};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut db = None;
    let mut listen = "127.0.0.1:0".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--listen" {
            listen = args.next().ok_or("--listen needs an address")?;
        } else {
            db = Some(std::path::PathBuf::from(a));
        }
    }
    let db = match db {
        Some(p) => p,
        None => {
            let dir = std::env::temp_dir().join(format!(
                "dremioorch-ui-demo-{}-{}",
                std::process::id(),
                dremioorch::now_seconds() as u64
            ));
            std::fs::create_dir_all(&dir)?;
            dir.join("history.db")
        }
    };
    let backend: BackendRef = Arc::new(SqliteBackend::open(&db)?);
    let pipeline = Arc::new(demo_pipeline(backend.clone())?);
    for _ in 0..3 {
        pipeline.run()?;
    }
    let failing = failing_pipeline(backend.clone())?;
    failing.run()?;

    let ui = Ui::start(
        backend,
        UiOptions {
            listen: Some(listen),
            ..UiOptions::default()
        },
    )?;
    ui.add_pipeline(pipeline);
    ui.add_pipeline(Arc::new(failing));
    let mut out = std::io::stdout();
    writeln!(out, "listening on http://{}", ui.address())?;
    writeln!(out, "history: {}", db.display())?;
    out.flush()?;
    // Serve until stdin closes.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    ui.stop();
    Ok(())
}

/// extract -> (transform, `<img ...>`) -> load, with outputs.
fn demo_pipeline(backend: BackendRef) -> dremioorch::Result<Pipeline> {
    let mut p = Pipeline::with_backend("demo", backend)?;
    p.set_max_workers(2)?;
    p.add_task(Task::new("extract", |ctx| {
        std::thread::sleep(std::time::Duration::from_millis(30));
        ctx.set_output(b"rows: 42\n<script>alert(2)</script>".to_vec());
        Ok(())
    }))?;
    p.add_task(Task::new("transform", |ctx| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        ctx.set_output("x".repeat(5000).into_bytes());
        Ok(())
    }))?;
    p.add_task(Task::new("<img src=x onerror=alert(1)>", |ctx| {
        ctx.set_output(b"<img src=x onerror=alert(3)>".to_vec());
        Ok(())
    }))?;
    p.add_task(Task::new("load", |_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        Ok(())
    }))?;
    p.add_dependency("extract", "transform")?;
    p.add_dependency("extract", "<img src=x onerror=alert(1)>")?;
    p.add_dependency("transform", "load")?;
    p.add_dependency("<img src=x onerror=alert(1)>", "load")?;
    Ok(p)
}

/// A pipeline whose second task fails, so the history holds a FAILED run.
fn failing_pipeline(backend: BackendRef) -> dremioorch::Result<Pipeline> {
    let mut p = Pipeline::with_backend("nightly", backend)?;
    p.add_task(Task::new("fetch", |_| Ok(())))?;
    p.add_task(Task::new("check", |_| {
        Err(TaskError::from("row count 0 is below 1"))
    }))?;
    p.add_dependency("fetch", "check")?;
    Ok(p)
}
