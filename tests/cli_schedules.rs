//! `dremioorch schedules list`: the schedules a scheduler recorded in a
//! SQLite and a PostgreSQL backend, as a table and as JSON.

mod cli_support;
mod server_support;

use cli_support::*;
use dremioorch::schedule::{Overlap, Schedule, Scheduler, Spec};
use dremioorch::{BackendRef, Pipeline};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Records two schedules in `backend` through a started scheduler.
fn record_schedules(backend: BackendRef, tag: &str) {
    let s = Scheduler::new(Some(backend.clone()));
    let p = Arc::new(Pipeline::with_backend(format!("{tag}_etl"), backend).unwrap());
    let cron = Spec::cron("30 2 * * *", Some("Europe/Berlin")).unwrap();
    s.add(&format!("{tag}_nightly"), p.clone(), Schedule::new(cron))
        .unwrap();
    let every = Spec::interval(Duration::from_secs(3600)).unwrap();
    s.add(
        &format!("{tag}_hourly"),
        p,
        Schedule::new(every).overlap(Overlap::BufferOne),
    )
    .unwrap();
    s.start().unwrap();
    s.stop(false);
}

fn check(url: &str, tag: &str) {
    let now = dremioorch::now_seconds();
    let out = dorch(url, &["schedules", "list"]).ok().stdout;
    assert!(out.contains(&format!("{tag}_nightly")), "{out}");
    assert!(out.contains("30 2 * * * (Europe/Berlin)"), "{out}");
    assert!(out.contains("every 3600000 ms"), "{out}");
    assert!(out.contains("never"), "{out}");
    assert!(out.contains("in "), "{out}");
    let v = dorch(url, &["schedules", "list", "--json"]).ok().json();
    let all = v.as_array().expect("an array");
    let mine: Vec<&serde_json::Value> = all
        .iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with(tag))
        .collect();
    assert_eq!(mine.len(), 2);
    for r in &mine {
        let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "name",
                "pipeline",
                "spec",
                "timezone",
                "overlap",
                "last_fire",
                "next_fire"
            ])
        );
        assert_eq!(r["pipeline"], format!("{tag}_etl").as_str());
        assert!(r["last_fire"].is_null());
        let next = r["next_fire"].as_f64().unwrap();
        assert!(next > now && next < now + 86_400.0 + 7_200.0, "{next}");
    }
    let hourly = mine
        .iter()
        .find(|r| r["name"] == format!("{tag}_hourly").as_str())
        .unwrap();
    assert_eq!(hourly["overlap"], "buffer_one");
    assert!(hourly["timezone"].is_null());
    assert_eq!(hourly["next_fire"].as_f64().unwrap() % 3600.0, 0.0);
    let nightly = mine
        .iter()
        .find(|r| r["name"] == format!("{tag}_nightly").as_str())
        .unwrap();
    assert_eq!(nightly["timezone"], "Europe/Berlin");
    assert_eq!(nightly["overlap"], "skip");
}

#[test]
fn sqlite_schedules_list() {
    let dir = Dir::new("schedules");
    let path = dir.path().join("h.db");
    let url = format!("sqlite:///{}", path.display());
    let b: BackendRef = Arc::new(dremioorch::SqliteBackend::open(&path).unwrap());
    record_schedules(b, "sq");
    check(&url, "sq");
}

#[test]
fn postgres_schedules_list() {
    let table = server_support::unique_table("cli_sched");
    let url = format!("postgresql://postgres@127.0.0.1:5432/test?table={table}");
    let b = dremioorch::backend::open(&url).unwrap();
    record_schedules(b, "pg");
    check(&url, "pg");
}

#[test]
fn empty_and_bad_usage() {
    let out = dorch("memory:", &["schedules", "list"]).ok().stdout;
    assert_eq!(out, "No schedules.\n");
    let v = dorch("memory:", &["schedules", "list", "--json"])
        .ok()
        .json();
    assert_eq!(v, serde_json::json!([]));
    // Bad usage: clap's message and exit code 2.
    assert_eq!(dorch("memory:", &["schedules", "list", "--bogus"]).code, 2);
    assert_eq!(dorch("memory:", &["schedules"]).code, 2);
}
